"""Where a lethality grid's time goes: per-condition cell cost from a finished run folder.

    python benchmarks/lethality_grid_costs.py runs/decomposition [--workers 2]

Reads every cell's metrics.json (train and eval seconds as the cell measured them, and its
evaluation steps) and prints, per condition, the mean train and eval seconds, the eval
milliseconds per control step, and the grid's total cell-seconds with the wall time that total
implies on `--workers` equally loaded workers (a projection, not a measurement: cells measured
under load are slower than on an idle machine, so say the load when quoting it).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path


def costs(root: Path) -> dict:
    rows: dict[str, list[dict]] = defaultdict(list)
    for f in sorted(root.rglob("metrics.json")):
        r = json.loads(f.read_text())
        m = r["metrics"]
        steps = 0
        episodes = f.parent / "episodes.jsonl"
        if episodes.exists():
            steps = sum(json.loads(line)["steps"] for line in episodes.read_text().splitlines() if line.strip())
        cond = r["condition"].rsplit("/", 1)[-1]
        rows[cond].append({"train": m["timing_s"]["train"], "eval": m["timing_s"]["eval"], "steps": steps})
    out = {}
    for cond, rs in rows.items():
        steps = sum(r["steps"] for r in rs)
        out[cond] = {
            "cells": len(rs),
            "train_s": round(sum(r["train"] for r in rs) / len(rs), 1),
            "eval_s": round(sum(r["eval"] for r in rs) / len(rs), 1),
            "eval_ms_per_step": round(1000 * sum(r["eval"] for r in rs) / steps, 1) if steps else None,
            "total_s": round(sum(r["train"] + r["eval"] for r in rs), 1),
        }
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    table = costs(args.run)
    total = sum(c["total_s"] for c in table.values())
    print(f"{'condition':<20} {'cells':>5} {'train s':>8} {'eval s':>8} {'ms/step':>8}")
    for cond, c in sorted(table.items(), key=lambda kv: -kv[1]["total_s"]):
        print(f"{cond:<20} {c['cells']:>5} {c['train_s']:>8} {c['eval_s']:>8} {c['eval_ms_per_step'] or '-':>8}")
    print(json.dumps({"run": str(args.run), "cell_seconds": round(total, 1),
                      "projected_wall_min": round(total / args.workers / 60, 1), "workers": args.workers}))


if __name__ == "__main__":
    main()
