"""`nsca ablate` end to end at the tiny preset (real Meta-World, real training), the plan's entry
point, the statistics' wiring, and bad input."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nsca.cli import main
from nsca.experiments.ablation import AblationConfig, ablation_cells, build_results, lethality_condition, report_lines
from nsca.priors.innate import LAWS

ROOT = Path(__file__).resolve().parents[1]


def test_conditions_map_to_lethality_cells_with_one_law_off():
    assert lethality_condition("no_gravity", "corrective") == ("corrective_0.9", [law for law in LAWS if law != "gravity"])
    assert lethality_condition("none", "corrective") == ("corrective_none", list(LAWS))
    assert lethality_condition("prior_0.5", "planner") == ("prior_0.5", list(LAWS))
    assert lethality_condition("bc", "planner")[0] == "bc"
    cfg = AblationConfig(preset="tiny", n_seeds=1, tasks=["reach"], demos_list=[3],
                         conditions=["prior_0.9", "no_attachment", "no_ewc", "bc"])
    cells = ablation_cells(cfg)
    assert [c.condition for c in cells] == ["reach-v3/d3/prior_0.9", "reach-v3/d3/no_attachment", "reach-v3/d3/bc"]
    assert "attachment" not in cells[1].config["agent"]["laws"]
    assert cells[0].config["agent"]["laws"] == list(LAWS)


def _records(rates: dict) -> list[dict]:
    return [{"condition": f"{t}/d5/{c}", "seed": s, "metrics": {"success_rate": v}}
            for (t, c), per_seed in rates.items() for s, v in enumerate(per_seed)]


def test_results_pair_by_seed_aggregate_across_tasks_and_holm_correct():
    cfg = AblationConfig(n_seeds=6, tasks=["reach", "push"], demos_list=[5], bootstrap_reps=200,
                         conditions=["prior_0.9", "none", "no_gravity", "no_curiosity"])
    ref = [0.6, 0.5, 0.7, 0.4, 0.6, 0.5]
    rates = {("reach-v3", "prior_0.9"): ref, ("push-v3", "prior_0.9"): ref,
             # none: 0.3 lower on every seed and task (a clear, paired effect)
             ("reach-v3", "none"): [r - 0.3 for r in ref], ("push-v3", "none"): [r - 0.3 for r in ref],
             # no_gravity: the same as the reference up to noise that changes sign
             ("reach-v3", "no_gravity"): [r + d for r, d in zip(ref, [0.1, -0.1, 0.0, 0.1, -0.1, 0.0])],
             ("push-v3", "no_gravity"): ref}
    res = build_results(cfg, _records(rates))
    rows = res["by_demos"]["5"]["conditions"]
    assert set(rows) == {"prior_0.9", "none", "no_gravity"} and "no_curiosity" in res["not_applicable"]
    assert rows["none"]["vs_reference"]["diff_abs"] == pytest.approx(0.3)
    assert rows["none"]["vs_reference"]["differs"] and not rows["no_gravity"]["vs_reference"]["differs"]
    assert rows["none"]["vs_reference"]["p_holm"] >= rows["none"]["vs_reference"]["p_paired_t"]
    assert rows["none"]["vs_reference"]["p_improve"] > 0.7 and res["family_size"] == 2
    lo, hi = rows["prior_0.9"]["iqm_ci95"]
    assert lo <= rows["prior_0.9"]["iqm"] <= hi
    assert res["verdict"] == "prior_0.9 beats none@5 (Holm p < 0.05)"
    assert build_results(cfg, _records(rates)) == res  # seeded bootstrap: same numbers every time
    json.dumps(res, allow_nan=False)


def test_the_first_line_says_when_no_prior_agent_reaches_bc():
    cfg = AblationConfig(n_seeds=3, tasks=["reach"], demos_list=[5], bootstrap_reps=50, conditions=["prior_0.9", "none", "bc"])
    rates = {("reach-v3", "prior_0.9"): [0.2, 0.3, 0.25], ("reach-v3", "none"): [0.5, 0.5, 0.5],
             ("reach-v3", "bc"): [0.4, 0.4, 0.45]}
    first = report_lines(build_results(cfg, _records(rates)))[0]
    assert first.startswith("No prior agent reaches plain BC") and "prior_0.9, 0.250 vs BC 0.417" in first
    rates[("reach-v3", "prior_0.9")] = [0.5, 0.5, 0.5]  # at the floor: nothing to say first
    assert report_lines(build_results(cfg, _records(rates)))[0].startswith("Ablation:")


def test_tiny_preset_end_to_end_and_resumes(tmp_path, capsys):
    out = tmp_path / "abl"
    assert main(["ablate", "--preset", "tiny", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "no_pretraining: not applicable" in text and "Verdict:" in text
    results = json.loads((out / "results.json").read_text())
    assert set(results["by_demos"]["2"]["conditions"]) == {"prior_0.9", "none", "no_efference", "no_gravity", "bc"}
    assert (out / "ablation.png").read_bytes()[:4] == b"\x89PNG" and (out / "results.csv").exists()
    first = {p: p.stat().st_mtime_ns for p in out.glob("*/*/*/*/metrics.json")}
    assert len(first) == 5 * 2
    assert main(["ablate", "--preset", "tiny", "--out", str(out)]) == 0  # resumes: nothing recomputed
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/*/*/*/metrics.json")} == first
    again = json.loads((out / "results.json").read_text())
    assert again["by_demos"] == results["by_demos"]


@pytest.mark.parametrize("extra, message", [
    (["--conditions", "prior_0.9", "telekinesis"], "unknown ablation condition"),
    (["--conditions", "none", "bc"], "must include the reference prior_0.9"),
    (["--demos-list", "0"], "--demos-list"),
    (["--tasks", "pick-plaice"], "unknown Meta-World task"),
    (["--preset", "weekend"], "unknown ablation preset"),
])
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, capsys, extra, message):
    out = tmp_path / "o"
    assert main(["ablate", "--preset", "tiny", *extra, "--out", str(out)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0]
    assert not out.exists()


def test_seed_entry_point_imports_from_the_repository_root():
    code = "from src.evaluation import run_ablation_study; import nsca.evaluation as e; " \
           "assert run_ablation_study is e.run_ablation_study; print('ok')"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_python_api_runs_the_study_with_overrides(tmp_path):
    from nsca.evaluation import run_ablation_study

    res = run_ablation_study(preset="tiny", n_seeds=1, conditions=["prior_0.9", "bc"], out=str(tmp_path / "a"))
    assert set(res["by_demos"]["2"]["conditions"]) == {"prior_0.9", "bc"}
    assert np.isfinite(res["by_demos"]["2"]["conditions"]["bc"]["iqm"])
