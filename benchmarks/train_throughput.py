"""Training throughput and peak memory of the NSCA model on CPU (or GPU).

Each (preset, modalities, batch size) runs in a fresh process so its peak RSS is its own.
Batches are pre-built synthetic ones: this measures the model's optimiser step (forward,
backward, AdamW), not data loading. Prints one JSON line per configuration.

    nice -n 10 python benchmarks/train_throughput.py --threads 2 --batch-sizes 16 32 64
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def measure(preset: str, modalities: list[str], batch_size: int, steps: int, warmup: int, threads: int, device: str) -> dict:
    import torch

    from nsca.model import NSCAModel
    from nsca.model import preset as make_preset
    from nsca.training.data import collate
    from nsca.training.synthetic import SyntheticInteractions

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = NSCAModel(make_preset(preset, modalities=tuple(modalities))).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ds = SyntheticInteractions(batch_size, seed=0)
    batch = {k: v.to(device) for k, v in collate([ds[i] for i in range(batch_size)]).items()}
    times = []
    for i in range(warmup + steps):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss = model.losses(batch)["total"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2]
    peak_mb = (torch.cuda.max_memory_allocated() / 2**20 if device == "cuda"
               else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {
        "preset": preset, "modalities": modalities, "batch_size": batch_size, "threads": threads, "device": device,
        "params": model.param_counts()["total"], "step_s_median": median, "samples_per_s": batch_size / median,
        "samples_per_s_mean": batch_size * len(times) / sum(times), "peak_memory_mb": peak_mb,
        "load_avg_1min": os.getloadavg()[0],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", nargs="+", default=["default"])
    p.add_argument("--modalities", nargs="+", default=["vision", "audio", "proprio", "state"])
    p.add_argument("--batch-sizes", nargs="+", type=int, default=[16, 32, 64])
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # child mode
    a = p.parse_args()
    if a.one:
        print(json.dumps(measure(a.presets[0], a.modalities, a.batch_sizes[0], a.steps, a.warmup, a.threads, a.device)))
        return
    for preset in a.presets:
        for bs in a.batch_sizes:
            cmd = [sys.executable, __file__, "--one", "--presets", preset, "--modalities", *a.modalities,
                   "--batch-sizes", str(bs), "--steps", str(a.steps), "--warmup", str(a.warmup),
                   "--threads", str(a.threads), "--device", a.device]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            print(out, flush=True)


if __name__ == "__main__":
    main()
