"""`nsca sanity noisy-tv` end to end at a tiny budget, its figures, its controls, and determinism."""

import json

import numpy as np

from nsca.cli import main
from nsca.experiments.noisy_tv import NoisyTVConfig, off_step, run_episode


def test_noisy_tv_cli_end_to_end_passes_and_both_controls_fail(tmp_path, capsys):
    out = tmp_path / "ntv"
    rc = main(["sanity", "noisy-tv", "--seeds", "2", "--steps", "150", "--out", str(out)])
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    # 150 steps is enough: the robust agent is off the TV ~10 steps after its first visits.
    assert results["verdict"] == "PASS" and rc == 0 and "noisy-tv: PASS" in printed
    assert (out / "plot.png").stat().st_size > 1000
    f = results["figures"]
    assert f["robust"]["seeds_passing_rule"] == 2
    assert f["naive"]["seeds_leaving_tv"] == 0 and f["naive"]["seeds_passing_rule"] == 0
    # The wall-starer gets off the TV like the robust agent; only the learnable-share clause fails it.
    assert f["wall"]["seeds_leaving_tv"] == 2 and f["wall"]["seeds_attending_learnable"] == 0
    assert f["wall"]["seeds_passing_rule"] == 0
    assert len(results["per_seed"]) == 6 and (out / "wall" / "1" / "metrics.json").exists()


def test_a_rule_that_only_asks_to_leave_the_tv_would_pass_the_wall_starer(tmp_path, capsys):
    # Loosen the learnable-share clause to (almost) nothing: the wall control then passes and
    # so the verdict must turn FAIL, which is what the clause is there to prevent.
    out = tmp_path / "loose"
    rc = main(["sanity", "noisy-tv", "--seeds", "1", "--steps", "150", "--min-learnable-share", "0.001",
               "--out", str(out)])
    results = json.loads((out / "results.json").read_text())
    assert rc == 1 and results["verdict"] == "FAIL"
    assert results["figures"]["wall"]["seeds_passing_rule"] == 1


def test_same_seed_same_numbers_and_the_controls_fail_for_their_own_reason():
    cfg = NoisyTVConfig(steps=150)
    a, b = run_episode(cfg, 3, "naive"), run_episode(cfg, 3, "naive")
    assert a["choices"] == b["choices"] and a["errors"] == b["errors"]
    assert a["tv_share_after_first_visits"] > 0.5 and not a["leaves_tv"] and not a["passes_rule"]
    w = run_episode(cfg, 3, "wall")
    assert w["leaves_tv"] and w["learnable_share_after_first_visits"] < 0.2 and not w["passes_rule"]
    r = run_episode(cfg, 3, "robust")
    assert r["tv_share_after_first_visits"] < 0.1 and r["learnable_share_after_first_visits"] > 0.9
    assert r["passes_rule"]


def test_off_step():
    on = np.zeros(100, bool)
    on[[0, 5, 10, 30]] = True
    # Stretches of 10 steps with >= 10% TV start up to step 30; the first clean one starts at 31.
    assert off_step(on, 10, 0.1) == 31
    assert off_step(np.ones(50, bool), 10, 0.1) is None
    assert off_step(np.zeros(50, bool), 10, 0.1) == 0


def test_bad_flags_are_one_line_errors(tmp_path, capsys):
    assert main(["sanity", "noisy-tv", "--steps", "10", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "steps=10 is too few" in err and len(err.strip().splitlines()) == 1
