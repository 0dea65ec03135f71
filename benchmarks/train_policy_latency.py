"""Forward latency of the policy path (encode -> fuse -> policy head) at batch 1.

This path runs inside control loops, so its latency bounds the control rate.

    nice -n 10 python benchmarks/train_policy_latency.py --threads 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="default")
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--calls", type=int, default=200)
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    import torch

    from nsca.model import NSCAModel, preset
    from nsca.training.data import collate
    from nsca.training.synthetic import SyntheticInteractions

    item = collate([SyntheticInteractions(1, seed=0)[0]])
    setups = {
        "all (vision+audio+proprio+state)": ("vision", "audio", "proprio", "state"),
        "vision+proprio+state": ("vision", "proprio", "state"),
        "proprio+state": ("proprio", "state"),
    }
    for threads in a.threads:
        torch.set_num_threads(threads)
        for name, mods in setups.items():
            torch.manual_seed(0)
            model = NSCAModel(preset(a.preset, modalities=mods)).to(a.device).eval()
            obs = {k: v.to(a.device) for k, v in item.items() if k in ("state", "frames", "audio")}
            times = []
            with torch.inference_mode():
                for i in range(a.calls + 10):
                    t0 = time.perf_counter()
                    model.act(obs)
                    if a.device == "cuda":
                        torch.cuda.synchronize()
                    if i >= 10:
                        times.append(time.perf_counter() - t0)
            times.sort()
            print(json.dumps({
                "preset": a.preset, "modalities": name, "threads": threads, "device": a.device,
                "median_ms": 1e3 * times[len(times) // 2], "p90_ms": 1e3 * times[int(len(times) * 0.9)],
                "load_avg_1min": os.getloadavg()[0],
            }), flush=True)


if __name__ == "__main__":
    main()
