"""Loss curves of a run folder (metrics.jsonl) as a PNG."""

from __future__ import annotations

import json
from pathlib import Path

PLOT_NAME = "loss_curve.png"  # in the run folder (nsca report reads it)


def read_metrics(run: str | Path) -> list[dict]:
    path = Path(run) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_run(run: str | Path, out: str | Path | None = None, smooth: int = 20) -> Path:
    """Training terms (smoothed), validation total and prior_weight against step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = read_metrics(run)
    out = Path(out) if out else Path(run) / PLOT_NAME
    fig, (ax, axw) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [2.2, 1]})
    keys = sorted({k for r in rows for k in r if k.startswith("train/")})
    for k in keys:
        pts = [(r["step"], r[k]) for r in rows if k in r]
        steps, vals = np.array(pts).T
        if len(vals) >= smooth:
            vals = np.convolve(vals, np.ones(smooth) / smooth, mode="valid")
            steps = steps[smooth - 1:]
        ax.plot(steps, vals, label=k.removeprefix("train/"), lw=2.2 if k == "train/total" else 1.0)
    val = [(r["step"], r["val/total"]) for r in rows if "val/total" in r]
    if val:
        ax.plot(*np.array(val).T, "ko--", ms=3, label="val total")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(f"loss (train: {smooth}-step mean)")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    pw = [(r["step"], r["prior_weight"]) for r in rows if "prior_weight" in r]
    if pw:
        axw.plot(*np.array(pw).T)
    axw.set_xlabel("step")
    axw.set_ylabel("prior_weight w = softplus(rho)")
    axw.grid(alpha=0.3)
    fig.suptitle(Path(run).name)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
