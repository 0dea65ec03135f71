"""Learning-progress explorer and coverage: learnable cells are preferred, noisy and mastered ones fade."""

from __future__ import annotations

import numpy as np

from nsca.babbling.coverage import MEANINGFUL, OUTCOMES, CoverageTracker, label_outcome
from nsca.babbling.explorer import LearningProgressExplorer
from nsca.babbling.primitives import PRIMITIVES


def feed(explorer, object_id, scores, primitive="lift"):
    for c in scores:
        explorer.update(object_id, primitive, (0.5, 0.5, 0.5), float(c))


def test_sampler_prefers_a_learnable_cell_over_a_noisy_and_a_mastered_one():
    ex = LearningProgressExplorer(n_objects=3, total=10_000, seed=0, random_fraction=0.0,
                                  window=8, uniform_share=0.2, primitives=("lift",))
    rng = np.random.default_rng(1)
    feed(ex, 0, np.r_[np.zeros(8), np.linspace(0.3, 1.0, 8)])   # learnable: competence rising
    feed(ex, 1, rng.integers(0, 2, 16))                           # noisy: a coin flip, no trend
    feed(ex, 2, np.ones(16))                                      # mastered
    lp = ex.learning_progress()[:, 0]
    assert lp[0] > 0.3 and lp[1] < 0.1 and lp[2] == 0.0
    specs = [s for start in range(0, 600, 20) for s in ex.propose(start, 20)]  # batches, as a run does
    picks = np.bincount([s.object_id for s in specs], minlength=3)
    assert picks[0] > 0.75 * 600                 # the learnable cell gets most of the budget
    assert picks[1] < 0.15 * 600 and picks[2] < 0.15 * 600  # the others only the uniform share
    # in one big batch a cell gets at most 2 x window LP picks: its LP must be re-measured first
    one_batch = np.bincount([s.object_id for s in ex.propose(0, 600)], minlength=3)
    assert one_batch[0] < 16 + 600 / 3 + 40     # after its 16, draws fall back to uniform


def test_a_mastered_cell_fades_once_learning_stops():
    ex = LearningProgressExplorer(n_objects=2, total=1000, seed=0, random_fraction=0.0, primitives=("push",))
    feed(ex, 0, np.r_[np.zeros(8), np.ones(8)], "push")
    feed(ex, 1, np.zeros(16), "push")
    assert ex.learning_progress()[0, 0] > ex.learning_progress()[1, 0]
    feed(ex, 0, np.ones(16), "push")              # now always succeeds: nothing left to learn
    assert ex.learning_progress()[0, 0] == 0.0


def test_untried_cells_are_optimistic_and_random_phase_is_uniform():
    ex = LearningProgressExplorer(n_objects=10, total=2000, seed=3, random_fraction=0.5)
    specs = ex.propose(0, 1000)
    assert all(s.phase == 0 for s in specs)
    cells = {(s.object_id, s.primitive) for s in specs}
    assert len(cells) == 10 * len(PRIMITIVES)   # 1000 uniform draws over 70 cells hit them all
    later = ex.propose(1000, 1000)
    assert all(s.phase == 1 for s in later)
    assert len({(s.object_id, s.primitive) for s in later}) > 60   # all optimistic: still spread


def test_parameters_adapt_towards_successes():
    ex = LearningProgressExplorer(n_objects=1, total=1000, seed=0, random_fraction=0.0,
                                  uniform_share=0.0, primitives=("push",))
    ex.update(0, "push", (0.9, 0.1, 0.9), 1.0)
    params = np.array([s.params for s in ex.propose(0, 300)])
    near = np.linalg.norm(params - [0.9, 0.1, 0.9], axis=1) < 0.35
    assert near.mean() > 0.6   # ~70% resampled around the elite, the rest uniform


def test_proposals_are_deterministic():
    a = LearningProgressExplorer(5, 500, seed=7).propose(100, 50)
    b = LearningProgressExplorer(5, 500, seed=7).propose(100, 50)
    c = LearningProgressExplorer(5, 500, seed=8).propose(100, 50)
    assert a == b and a != c


def test_coverage_counts_only_meaningful_outcomes():
    cov = CoverageTracker(n_objects=2, n_primitives=2)
    cov.update(0, 0, OUTCOMES.index("missed"))
    cov.update(0, 1, OUTCOMES.index("touched"), competence=0.0)
    assert cov.coverage() == 0.0
    cov.update(0, 0, OUTCOMES.index("slid"))
    cov.update(1, 1, OUTCOMES.index("lifted"))
    assert cov.coverage() == 0.5
    cov.update(1, 0, OUTCOMES.index("touched"), competence=1.0)  # a reach that did its job
    assert cov.coverage() == 0.75
    assert cov.histogram()["slid"] == 1 and sum(cov.histogram().values()) == 5
    np.testing.assert_allclose(cov.coverage_by_primitive(), [1.0, 0.5])
    assert "touched" not in MEANINGFUL and "missed" not in MEANINGFUL


def _traj(z, x=None, held=None, touched=None, quat_end=(1, 0, 0, 0)):
    z = np.asarray(z, dtype=float)
    n = len(z)
    x = np.zeros(n) if x is None else np.asarray(x, dtype=float)
    pos = np.stack([x, np.zeros(n), z], 1)
    vel = np.vstack([np.zeros(3), np.diff(pos, axis=0) / 0.01])
    quat = np.tile([1.0, 0, 0, 0], (n, 1))
    quat[-1] = quat_end
    return dict(obj_pos=pos, obj_quat=quat, obj_vel=vel,
                held=np.zeros(n, bool) if held is None else np.asarray(held),
                touched=np.zeros(n, bool) if touched is None else np.asarray(touched),
                dv=np.linalg.norm(np.diff(vel, axis=0), axis=1))


def test_outcome_labels_follow_the_trajectory():
    flat = np.full(20, 0.03)
    assert label_outcome(_traj(flat)) == "missed"
    assert label_outcome(_traj(flat, touched=np.ones(20, bool))) == "touched"
    assert label_outcome(_traj(np.linspace(0.03, 0.10, 20), held=np.ones(20, bool))) == "lifted"
    assert label_outcome(_traj(flat, held=np.ones(20, bool))) == "held"
    assert label_outcome(_traj(flat, x=np.linspace(0, 0.05, 20))) == "slid"
    assert label_outcome(_traj(flat, x=np.linspace(0, 0.05, 20), quat_end=(0.0, 0, 0, 1))) == "rolled"
    assert label_outcome(_traj(flat, quat_end=(0.7071, 0.7071, 0, 0))) == "toppled"
    fall = np.r_[np.linspace(0.15, 0.03, 10), np.full(10, 0.03)]
    assert label_outcome(_traj(fall)) == "fell"
    bounce = np.r_[np.linspace(0.15, 0.03, 10), [0.035, 0.04, 0.035], np.full(7, 0.03)]
    assert label_outcome(_traj(bounce)) == "bounced"
