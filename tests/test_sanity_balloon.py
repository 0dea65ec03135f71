"""`nsca sanity balloon` end to end at a tiny budget, and determinism of a cell."""

import json

from nsca.cli import main
from nsca.experiments.balloon import BalloonConfig, run_cell


def test_balloon_cli_end_to_end(tmp_path, capsys):
    out = tmp_path / "balloon"
    rc = main(["sanity", "balloon", "--seeds", "1", "--steps", "60", "--episodes", "4", "--episode-steps", "10",
               "--hidden", "32", "--out", str(out)])
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert rc == (0 if results["verdict"] == "PASS" else 1)
    assert "balloon" in printed and (out / "plot.png").stat().st_size > 1000
    f = results["figures"]
    # Even 60 steps pull the balloon weight down more than the control's.
    assert f["balloon"]["prior_weight_final"]["mean"] < f["control"]["prior_weight_final"]["mean"] < 0.95
    assert f["max_weight_change"] > 0.01
    assert (out / "balloon" / "0" / "metrics.jsonl").read_text().count("prior_weight") == 6


def test_same_seed_same_numbers(tmp_path):
    cfg = {**BalloonConfig(steps=20, episodes=2, episode_steps=8, hidden=16).__dict__, "seed": 4, "condition": "balloon"}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = run_cell(cfg, tmp_path / "a"), run_cell(cfg, tmp_path / "b")
    assert a == b
    assert a["mean_obj_dvz_mps"] > 0  # the balls rise
