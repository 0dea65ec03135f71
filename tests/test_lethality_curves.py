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
