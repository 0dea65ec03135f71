"""The curves answer and plot from a curves report (numbers built with the real paired statistics)."""

from nsca.experiments.lethality_curves import answer, answer_lines, plot_curves
from nsca.stats import paired_compare, summarize


def _report(rates: dict) -> dict:
    table = {name: {**summarize(r), "per_seed": r} for name, r in rates.items()}
    comps = {}
    for d in (5, 100):
        t = f"push-v3/d{d}"
        for a, b in (("none", "bc"), ("corrective_0.9", "none"), ("corrective_0.9", "bc")):
            comps[f"{t}/{a} vs {t}/{b}"] = paired_compare(rates[f"{t}/{a}"], rates[f"{t}/{b}"])
    return {"table": table, "comparisons": comps}


def test_answer_classifies_paired_differences_and_flags_the_floor(tmp_path):
    rates = {
        "push-v3/d5/bc": [0.30, 0.40, 0.50], "push-v3/d5/none": [0.31, 0.41, 0.52],
        "push-v3/d5/corrective_0.9": [0.60, 0.70, 0.75],                # clearly better at low data
        "push-v3/d100/bc": [0.90, 0.92, 0.95], "push-v3/d100/none": [0.70, 0.72, 0.74],  # none below BC
        "push-v3/d100/corrective_0.9": [0.71, 0.73, 0.73],
    }
    a = answer(_report(rates))["push-v3"]
    low, high = a["rows"]
    assert low["corrective_0.9_vs_none"] == "better" and low["none_floor_ok"] is True
    assert high["corrective_0.9_vs_none"] == "no detectable difference"
    assert high["none_vs_bc"] == "worse" and a["none_floor_ok"] is False
    assert "BELOW the BC floor" in answer_lines(_report(rates))[1]
    assert low["corrective_0.9_helps"] is True and high["corrective_0.9_helps"] is False
    # Beating a `none` that is below the BC floor is not help.
    rates["push-v3/d100/none"] = [0.50, 0.52, 0.55]
    high = answer(_report(rates))["push-v3"]["rows"][1]
    assert high["corrective_0.9_vs_none"] == "better" and high["corrective_0.9_vs_bc"] == "worse"
    assert high["corrective_0.9_helps"] is False
    plot_curves(tmp_path / "curves.png", _report(rates))
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_every_task_group_gets_the_preregistered_design_and_is_marked_untuned_off_pick_place():
    from nsca.config import from_dict
    from nsca.experiments.lethality import EXPERIMENT, LethalityConfig, group_verdicts

    rates = {}
    for task, gain in (("pick-place-v3", 0.3), ("push-v3", 0.0)):
        base = [0.2, 0.3, 0.4, 0.3, 0.2, 0.35]
        rates[f"{task}/d5/prior_0.9"] = [b + gain + 0.01 * i for i, b in enumerate(base)]
        for c in ("prior_0.5", "none", "bc"):
            rates[f"{task}/d5/{c}"] = base
    table = {k: {"departure_rate": 0.3 if k.endswith("prior_0.9") else 0.0} for k in rates}
    groups = group_verdicts(rates, table)
    assert set(groups) == {"pick-place-v3/d5", "push-v3/d5"}
    assert not groups["pick-place-v3/d5"]["untuned"] and groups["push-v3/d5"]["untuned"]
    assert groups["pick-place-v3/d5"]["verdict"] == "validated" and groups["push-v3/d5"]["verdict"] == "too_weak"
    assert list(groups["push-v3/d5"]["contrasts"]) == ["prior_0.9 vs prior_0.5", "prior_0.9 vs none", "prior_0.9 vs bc"]
    assert groups["push-v3/d5"]["headroom"] == 1 - sum(base) / len(base) and not groups["push-v3/d5"]["at_ceiling"]
    # BC near 1: no room for the gain the design is powered for, and the report says so.
    ceiling = {f"button-press-topdown-v3/d25/{c}": [0.98, 1.0, 0.96, 1.0] for c in ("prior_0.9", "prior_0.5", "none", "bc")}
    g = group_verdicts(ceiling, {k: {"departure_rate": 0.01} for k in ceiling})["button-press-topdown-v3/d25"]
    assert g["verdict"] == "too_weak" and g["at_ceiling"] and abs(g["headroom"] - 0.015) < 1e-12
    # A group without prior 0.5 has no verdict to give.
    assert group_verdicts({"reach-v3/d5/prior_0.9": [0.1, 0.2], "reach-v3/d5/bc": [0.1, 0.2]},
                          {"reach-v3/d5/prior_0.9": {"departure_rate": 0.1}, "reach-v3/d5/bc": {}}) == {}
    cfg = from_dict(LethalityConfig, {"preset": "untuned"})
    assert cfg.grid == "curves" and cfg.n_seeds >= 10 and cfg.demos_list == [5, 25] and EXPERIMENT.is_record(cfg)
    assert {"prior_0.9", "prior_0.5", "none", "bc"} <= set(cfg.curve_agents)


def test_the_curves_report_names_its_tasks_and_demo_counts_and_each_groups_headroom():
    from nsca.experiments.lethality import format_report, group_verdicts

    rates = {}
    for task, bc in (("push-v3", [0.5, 0.6, 0.4]), ("drawer-open-v3", [1.0, 0.96, 1.0])):
        for d in (5, 25):
            for c in ("prior_0.9", "prior_0.5", "none", "bc"):
                rates[f"{task}/d{d}/{c}"] = bc
    table = {k: {"mean": sum(v) / 3, "std": 0.0, "ci95_low": 0.0, "ci95_high": 1.0, "iqm": 0.0, "prior_weight_final": 0.0,
                 "departure_rate": 0.1, "per_seed": v} for k, v in rates.items()}
    report = {"grid": "curves", "preset": "untuned", "task": "pick-place-v2", "demos": 5, "n_seeds": 3, "seeds": [0, 1, 2],
              "layout_base": 13_000_000, "eval_episodes": 50, "table": table, "comparisons": {},
              "per_group": group_verdicts(rates, table), "verdict_text": "see the per-task answer", "verdict_rule": "r"}
    text = format_report(report)
    first = text.splitlines()[0]
    assert "push-v3, drawer-open-v3 at 5 and 25 demos" in first and "pick-place" not in first
    line = next(ln for ln in text.splitlines() if ln.startswith("  drawer-open-v3/d5"))
    assert "[BC 0.987: headroom 0.013, below the 0.074 the design is powered for: at BC's ceiling]" in line
    assert "[BC 0.500: headroom 0.500]" in next(ln for ln in text.splitlines() if ln.startswith("  push-v3/d25"))
