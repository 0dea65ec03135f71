"""`nsca sanity balloon` end to end at a tiny budget, and determinism of a cell."""

import json

from nsca.cli import main
from nsca.experiments.balloon import BalloonConfig, run_cell


def test_balloon_cli_end_to_end_passes_with_the_one_recipe(tmp_path, capsys):
    # The default recipe (parameter_groups + RHO_LR, no prior-fit term) at a small budget: a
    # little data and a narrow residual, which absorbs the wrong gravity more slowly than the
    # default's, so 200 steps are enough for w to fall below 0.5 (measured 0.35; control 1.00).
    out = tmp_path / "balloon"
    rc = main(["sanity", "balloon", "--seeds", "1", "--steps", "200", "--episodes", "8", "--episode-steps", "40",
               "--hidden", "64", "--out", str(out)])
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert results["verdict"] == "PASS" and rc == 0 and "balloon: PASS" in printed
    assert results["config"]["prior_fit"] is False and results["config"]["rho_lr"] is None
    assert (out / "plot.png").stat().st_size > 1000
    f = results["figures"]
    assert f["balloon"]["per_seed_final"][0] < 0.5 < 0.8 < f["control"]["per_seed_final"][0]
    assert (out / "balloon" / "0" / "metrics.jsonl").read_text().count("prior_weight") == 20


def test_rho_at_the_residuals_step_size_cannot_pass(tmp_path, capsys):
    # The control for the recipe: with one Adam step size for everything (the plain recipe) rho
    # moves by at most ~lr per step, so the same budget must FAIL.
    out = tmp_path / "plain"
    rc = main(["sanity", "balloon", "--seeds", "1", "--steps", "200", "--episodes", "8", "--episode-steps", "40",
               "--hidden", "64", "--rho-lr", "0.001", "--out", str(out)])
    results = json.loads((out / "results.json").read_text())
    assert rc == 1 and results["verdict"] == "FAIL"
    assert results["figures"]["balloon"]["per_seed_final"][0] > 0.7


def test_same_seed_same_numbers(tmp_path):
    cfg = {**BalloonConfig(steps=20, episodes=2, episode_steps=8, hidden=16).__dict__, "seed": 4, "condition": "balloon"}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = run_cell(cfg, tmp_path / "a"), run_cell(cfg, tmp_path / "b")
    assert a == b
    assert a["mean_obj_dvz_mps"] > 0  # the balls rise
