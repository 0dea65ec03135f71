"""Each affordance primitive does what its name says, in MuJoCo; outcome labels follow the physics."""

from __future__ import annotations

import numpy as np
import pytest

from nsca.babbling.coverage import OUTCOMES
from nsca.babbling.interaction import InteractionSpec, Worker
from nsca.babbling.primitives import COMPATIBLE_SPAWNS, PRIMITIVES, decode
from nsca.envs.objects import ObjectSpec
from nsca.priors import state as S


def spec_of(primitive, spawn, params=(0.5, 0.5, 0.5), seed=0, object_id=0):
    return InteractionSpec(0, object_id, spawn, primitive, tuple(params), seed, 0)


@pytest.fixture(scope="module")
def worker():
    # 0: a light wooden box (the cooperative case), 1: a heavy metal box (too heavy to lift),
    # 2: a rubber ball (bounces), 3: a tall light cylinder (topples).
    objs = [
        ObjectSpec(0, "box", "box", (0.022, 0.022, 0.022), 0.05, "wood", (0.6, 0.4, 0.2, 1)),
        ObjectSpec(1, "heavy", "box", (0.025, 0.025, 0.025), 1.4, "metal", (0.7, 0.7, 0.7, 1)),
        ObjectSpec(2, "ball", "sphere", (0.025, 0.025, 0.025), 0.05, "rubber", (0.1, 0.1, 0.1, 1)),
        ObjectSpec(3, "post", "cylinder", (0.016, 0.016, 0.045), 0.04, "plastic", (0.2, 0.5, 0.9, 1)),
    ]
    return Worker(objs, audio=True)


def obj_pos(r):
    return r["states"][:, S.OBJ_POS]


def hand_pos(r):
    return r["states"][:, S.HAND_POS]


def test_reach_ends_touching_the_object_without_knocking_it(worker):
    r = worker.run(spec_of("reach", "strike", params=(0.3, 0.5, 0.6)))
    gap_start = np.linalg.norm(hand_pos(r)[0, :2] - obj_pos(r)[0, :2])
    gap_end = np.linalg.norm(hand_pos(r)[-1, :2] - obj_pos(r)[-1, :2])
    assert gap_end < gap_start - 0.015
    assert np.linalg.norm(obj_pos(r)[-1] - obj_pos(r)[0]) < 0.02
    assert r["competence"] == 1.0


def test_grasp_closes_the_gripper_on_the_object(worker):
    r = worker.run(spec_of("grasp", "strike"))
    assert OUTCOMES[r["outcome"]] == "held"
    assert r["states"][-1, S.GRIPPER][0] < 0.7       # fingers closed on it, not shut empty
    assert r["states"][-1, S.GRIPPER][0] > 0.2
    assert np.linalg.norm(hand_pos(r)[-1, :2] - obj_pos(r)[-1, :2]) < 0.01
    assert r["competence"] == 1.0


def test_lift_raises_a_light_object_but_not_a_heavy_one(worker):
    light = worker.run(spec_of("lift", "strike", params=(1.0, 0.5, 1.0)))
    assert OUTCOMES[light["outcome"]] == "lifted"
    assert obj_pos(light)[-1, 2] - obj_pos(light)[0, 2] > 0.08
    heavy = worker.run(spec_of("lift", "strike", params=(1.0, 0.5, 1.0), object_id=1))
    assert obj_pos(heavy)[-1, 2] - obj_pos(heavy)[0, 2] < 0.03   # slips out of the 3 N grip
    assert heavy["competence"] < 0.5 < light["competence"]


def test_shake_oscillates_the_hand_with_the_object_in_it(worker):
    r = worker.run(spec_of("shake", "drop", params=(1.0, 0.5, 0.0)))
    vx = r["states"][:, S.HAND_VEL][:, 0]
    assert (np.diff(np.sign(vx[np.abs(vx) > 0.02])) != 0).sum() >= 3  # back and forth
    assert OUTCOMES[r["outcome"]] in ("held", "lifted")
    assert np.ptp(obj_pos(r)[:, 0]) > 0.02                              # the object goes along


def test_drop_releases_the_object_which_falls_to_the_table(worker):
    r = worker.run(spec_of("drop", "drop", params=(0.8, 0.0, 1.0)))
    z = obj_pos(r)[:, 2]
    assert z.max() - z[-1] > 0.05
    assert z[-1] < 0.04                                 # back on the table
    assert r["states"][-1, S.GRIPPER][0] > 0.9         # the hand opened
    assert OUTCOMES[r["outcome"]] in ("fell", "bounced")
    assert np.abs(r["audio"]).max() > 0.01              # the landing is heard


def test_a_rubber_ball_bounces(worker):
    r = worker.run(spec_of("drop", "drop", params=(1.0, 0.0, 1.0), object_id=2))
    assert OUTCOMES[r["outcome"]] == "bounced"


def test_strike_hits_fast_and_moves_the_object(worker):
    slow = worker.run(spec_of("strike", "strike", params=(0.0, 0.5, 0.5)))
    fast = worker.run(spec_of("strike", "strike", params=(1.0, 0.5, 0.5)))
    for r in (slow, fast):
        assert np.linalg.norm(obj_pos(r)[-1, :2] - obj_pos(r)[0, :2]) > 0.02
    assert fast["peak_impulse_ns"] > slow["peak_impulse_ns"]
    assert np.abs(fast["states"][:, S.HAND_VEL]).max() > 0.7


def test_strike_topples_a_tall_post_hit_high(worker):
    r = worker.run(spec_of("strike", "strike", params=(0.3, 0.95, 0.5), object_id=3))
    w, x, y, _ = r["quats"][-1]
    up_z = 1 - 2 * (x * x + y * y)               # z component of the post's axis at the end
    assert up_z < 0.5                             # tilted by more than 60 degrees
    assert OUTCOMES[r["outcome"]] in ("toppled", "rolled", "fell", "bounced")


def test_push_moves_the_object_along_the_push_direction(worker):
    q = decode("push", np.array([1.0, 0.5, 0.5]))
    r = worker.run(spec_of("push", "push", params=(1.0, 0.5, 0.5)))
    moved = obj_pos(r)[-1, :2] - obj_pos(r)[0, :2]
    line = obj_pos(r)[0, :2] - hand_pos(r)[0, :2]
    line /= np.linalg.norm(line)
    assert np.dot(moved, line) > 0.6 * q["distance_m"]
    assert OUTCOMES[r["outcome"]] in ("slid", "rolled", "toppled")
    assert r["competence"] > 0.9


@pytest.mark.parametrize("primitive", PRIMITIVES)
def test_every_primitive_is_bounded_and_recorded(worker, primitive):
    for spawn in COMPATIBLE_SPAWNS[primitive]:
        r = worker.run(spec_of(primitive, spawn, seed=5))
        assert r["states"].shape == (worker.n_frames, S.STATE_DIM)
        assert r["actions"].shape == (worker.n_frames, 4)
        assert np.all(np.abs(r["actions"]) <= 1.0)
        assert r["audio"].shape == (worker.n_frames, worker.samples_per_frame)
        # A frame's sound ends at its own time step (no future sound in an input): frame 0 is silent.
        assert not r["audio"][0].any()
        assert r["ctrl_steps"] <= worker.n_steps + 20
        assert np.isfinite(r["states"]).all()


def test_same_spec_gives_the_same_interaction(worker):
    a = worker.run(spec_of("strike", "strike", seed=11))
    worker.run(spec_of("lift", "drop", seed=3))  # something else in between
    b = worker.run(spec_of("strike", "strike", seed=11))
    np.testing.assert_array_equal(a["states"], b["states"])
    np.testing.assert_array_equal(a["audio"], b["audio"])
