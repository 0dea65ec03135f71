"""`nsca sanity noisy-tv` end to end at a tiny budget, its figures, and determinism."""

import json

import numpy as np

from nsca.cli import main
from nsca.experiments.noisy_tv import off_step, run_episode, NoisyTVConfig


def test_noisy_tv_cli_end_to_end(tmp_path, capsys):
    out = tmp_path / "ntv"
    rc = main(["sanity", "noisy-tv", "--seeds", "2", "--steps", "150", "--out", str(out)])
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert rc == (0 if results["verdict"] == "PASS" else 1)
    assert (out / "plot.png").stat().st_size > 1000
    assert "noisy-tv: PASS" in printed or "noisy-tv: FAIL" in printed
    assert results["figures"]["robust"]["tv_share"]["mean"] < results["figures"]["naive"]["tv_share"]["mean"]
    assert len(results["per_seed"]) == 4 and (out / "naive" / "1" / "metrics.json").exists()


def test_same_seed_same_numbers_and_the_control_is_captured():
    cfg = {k: v for k, v in NoisyTVConfig(steps=150).__dict__.items()}
    a, b = run_episode(cfg, 3, "naive"), run_episode(cfg, 3, "naive")
    assert a["choices"] == b["choices"] and a["errors"] == b["errors"]
    assert a["tv_share_after_first_visits"] > 0.5 and not a["passes_rule"]
    r = run_episode(cfg, 3, "robust")
    assert r["tv_share_after_first_visits"] < 0.1 and r["passes_rule"]


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
