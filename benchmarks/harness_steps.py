"""Env-steps/s of the NSCA Meta-World harness vs raw Meta-World stepping (same task, same actions).

    python benchmarks/harness_steps.py [--task pick-place-v3] [--steps 5000]

Target (issue 2): the harness within 10% of raw stepping. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--task", default="pick-place-v3")
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    warnings.filterwarnings("ignore")
    from nsca.envs.metaworld import MetaWorldTask, object_state

    harness = MetaWorldTask(args.task)
    raw = harness.env  # the underlying Meta-World env object
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (args.steps, 4)).astype(np.float32)

    def run_raw() -> float:
        raw.seed(0)
        raw.reset()
        t = time.perf_counter()
        for i, a in enumerate(actions):
            if i % 500 == 499:
                raw.reset()
            raw.step(a)
        return args.steps / (time.perf_counter() - t)

    def run_harness() -> float:
        harness.reset(0)
        t = time.perf_counter()
        for i, a in enumerate(actions):
            if i % 500 == 499:
                harness.reset(0)
            obs, _, _ = harness.step(a)
            object_state(obs)  # what the agent does with every observation
        return args.steps / (time.perf_counter() - t)

    raw_rates, harness_rates = [], []
    for _ in range(args.repeats):  # interleaved, so load changes hit both alike
        raw_rates.append(run_raw())
        harness_rates.append(run_harness())
    r, h = float(np.median(raw_rates)), float(np.median(harness_rates))
    print(json.dumps({"task": args.task, "raw_steps_per_s": round(r), "harness_steps_per_s": round(h),
                      "harness_over_raw": round(h / r, 3)}))


if __name__ == "__main__":
    main()
