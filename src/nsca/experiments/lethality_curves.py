"""Data-efficiency curves from a `--grid curves` report: the seed's "match at high data,
outperform at low data", answered per task with paired statistics, and the plot.

A curves report names its conditions `<task>/d<demos>/<agent>`. For each task the prior agent
(any agent other than `bc` and `none`) is compared with `none` (the same agent family without
the prior) and with plain BC at every demo count, and `none` is checked against the BC floor.
A paired difference is "better" when its 95% paired bootstrap CI is above 0, "worse" when below,
otherwise "no detectable difference". The prior agent *helps* at a demo count only when it is
better than both `none` and BC: beating a baseline that is itself below the BC floor is not help.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

_NAME = re.compile(r"^(?P<task>[^/]+)/d(?P<demos>\d+)/(?P<agent>[^/]+)$")
COLORS = {"bc": "#7f7f7f", "none": "#1f77b4"}


def parse_curves(report: dict) -> dict:
    """{task: {agent: {demos: table row}}} from a curves report's table."""
    out: dict = {}
    for name, row in report["table"].items():
        m = _NAME.match(name)
        if m is None:
            continue
        out.setdefault(m["task"], {}).setdefault(m["agent"], {})[int(m["demos"])] = row
    return out


def classify(comparison: dict | None) -> str:
    if comparison is None:
        return "n/a"
    lo, hi = comparison["diff_ci95"]
    if lo > 0:
        return "better"
    if hi < 0:
        return "worse"
    return "no detectable difference"


def answer(report: dict) -> dict:
    """Per task: the prior agent vs none and vs BC at each demo count, none vs the BC floor, and
    the seed's sentence ("outperforms at low data" / "matches at high data") with its evidence."""
    curves = parse_curves(report)
    comps = report["comparisons"]
    result = {}
    for task, agents in curves.items():
        priors = [a for a in agents if a not in ("bc", "none")]
        demos = sorted({d for rows in agents.values() for d in rows})
        rows = []
        for d in demos:
            row = {"demos": d, "none_vs_bc": classify(comps.get(f"{task}/d{d}/none vs {task}/d{d}/bc"))}
            none_bc = comps.get(f"{task}/d{d}/none vs {task}/d{d}/bc")
            row["none_floor_ok"] = None if none_bc is None else bool(none_bc["diff_ci95"][1] >= 0)
            for p in priors:
                row[f"{p}_vs_none"] = classify(comps.get(f"{task}/d{d}/{p} vs {task}/d{d}/none"))
                row[f"{p}_vs_bc"] = classify(comps.get(f"{task}/d{d}/{p} vs {task}/d{d}/bc"))
                # Help = better than both baselines: beating a `none` that is below the BC floor is not help.
                row[f"{p}_helps"] = row[f"{p}_vs_none"] == "better" and row[f"{p}_vs_bc"] in ("better", "n/a")
            rows.append(row)
        sentences = []
        for p in priors:
            low, high = rows[0], rows[-1]
            sentences.append(
                f"{p} vs none: {low[f'{p}_vs_none']} at {low['demos']} demos, {high[f'{p}_vs_none']} at {high['demos']} demos; "
                f"vs BC: {low[f'{p}_vs_bc']} at {low['demos']}, {high[f'{p}_vs_bc']} at {high['demos']}")
        result[task] = {"rows": rows, "prior_agents": priors, "summary": sentences,
                        "none_floor_ok": all(r["none_floor_ok"] is not False for r in rows)}
    return result


def answer_lines(report: dict) -> list[str]:
    lines = ["Data efficiency (paired 95% CI of the per-seed difference; 'better' = CI above 0):"]
    for task, a in answer(report).items():
        lines.append(f"  {task}: " + "; ".join(a["summary"])
                     + ("" if a["none_floor_ok"] else "; none is BELOW the BC floor somewhere"))
    return lines


def plot_curves(path: str | Path, report: dict) -> None:
    from nsca.experiments.protocol import save_figure

    save_figure(curves_figure(report), Path(path))


def curves_figure(report: dict):
    """One panel per task: success vs demos (log x) per agent, 95% bootstrap CIs as bands."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = parse_curves(report)
    tasks = list(curves)
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.2 * len(tasks) + 0.6, 3.2), squeeze=False, sharey=True)
    palette = iter(["#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"])
    colors = dict(COLORS)
    for ax, task in zip(axes[0], tasks):
        for agent, rows in curves[task].items():
            if agent not in colors:
                colors[agent] = next(palette, "#000000")
            ds = sorted(rows)
            mean = np.array([rows[d]["mean"] for d in ds])
            lo = np.array([rows[d]["ci95_low"] for d in ds])
            hi = np.array([rows[d]["ci95_high"] for d in ds])
            ax.plot(ds, mean, "o-", color=colors[agent], label=agent, lw=1.6, ms=4)
            ax.fill_between(ds, lo, hi, color=colors[agent], alpha=0.15, lw=0)
        ax.set_xscale("log")
        ds_all = sorted({d for rows in curves[task].values() for d in rows})
        ax.set_xticks(ds_all)
        ax.set_xticklabels([str(d) for d in ds_all])
        ax.set_title(task.replace("-v3", ""), fontsize=9)
        ax.set_xlabel("demos")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("success (95% bootstrap CI)")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig
