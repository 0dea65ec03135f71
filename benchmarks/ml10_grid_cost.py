"""What the default `nsca eval metaworld-ml10` grid costs, projected from a finished run folder.

    python benchmarks/ml10_grid_cost.py runs/eval/metaworld-ml10 [--workers 2]

Reads every cell's metrics.json: fine-tuning and evaluation seconds of the few-shot cells (per
condition and k; evaluation seconds per episode, since runs may use fewer episodes than the
default 30), and env steps/s of the SB3 cells. Projects the default grid (5 tasks x
k in {1, 5, 10, 25} x 5 few-shot conditions x 3 seeds x 30 episodes; sac_demos at SAC's
budget x 5 tasks x 4 k x 3 seeds; SAC and PPO at their default budgets x 5 tasks x 3 seeds) on
`--workers` equally loaded workers; sac_demos runs at `sac`'s measured rate if the run has none. A projection from
cells measured under whatever load the run had: quote the load with it.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from nsca.evaluation.metaworld_ml10 import FEWSHOT, ML10_TEST, ML10EvalConfig


def costs(root: Path) -> dict:
    fewshot: dict[tuple[str, int], list[dict]] = defaultdict(list)
    online: dict[str, list[dict]] = defaultdict(list)
    for f in sorted(root.rglob("metrics.json")):
        m = json.loads(f.read_text())["metrics"]
        if m["condition"] in FEWSHOT:
            fewshot[(m["condition"], m["demos"])].append(m)
        else:
            online[m["condition"]].append(m)
    out: dict = {"fewshot": {}, "online": {}}
    for (cond, k), ms in sorted(fewshot.items()):
        out["fewshot"][f"{cond}@{k}"] = {
            "cells": len(ms),
            "fit_s": round(sum(m["fit_s"] for m in ms) / len(ms), 1),
            "eval_s_per_episode": round(sum(m["eval_s"] / m["episodes"] for m in ms) / len(ms), 2),
            "success": round(sum(m["success_rate"] for m in ms) / len(ms), 3),
        }
    for cond, ms in sorted(online.items()):
        out["online"][cond] = {"cells": len(ms), "steps_per_s": round(sum(m["steps_per_s"] for m in ms) / len(ms), 1)}
    return out


def project(c: dict, workers: int) -> dict:
    d = ML10EvalConfig()
    per_cond: dict[str, list[float]] = defaultdict(list)
    for key, v in c["fewshot"].items():
        per_cond[key.split("@")[0]].append(v["fit_s"] + v["eval_s_per_episode"] * d.eval_episodes)
    fewshot_s = sum(sum(v) / len(v) for v in per_cond.values()) * len(d.demos_list) * len(ML10_TEST) * d.n_seeds
    fewshot_s *= len(FEWSHOT) / max(len(per_cond), 1)  # conditions not in the run cost their measured mean
    online_s = 0.0
    for algo, steps in (("sac", d.sac_steps), ("ppo", d.ppo_steps)):
        if algo in c["online"]:
            online_s += steps / c["online"][algo]["steps_per_s"] * len(ML10_TEST) * d.n_seeds
    rate = (c["online"].get("sac_demos") or c["online"].get("sac") or {}).get("steps_per_s")
    if rate:  # one SAC run per (task, k, seed)
        online_s += d.sac_steps / rate * len(ML10_TEST) * len(d.demos_list) * d.n_seeds
    return {"fewshot_cell_s": round(fewshot_s), "online_cell_s": round(online_s),
            "wall_h_on_workers": round((fewshot_s + online_s) / workers / 3600, 2), "workers": workers}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    c = costs(a.run)
    print(json.dumps({**c, "default_grid": project(c, a.workers)}, indent=1))


if __name__ == "__main__":
    main()
