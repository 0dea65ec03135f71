"""The project's Mish (`nsca.utils.activations`) against torch's CPU kernel, on the shapes the
phase-0 agent uses: forward without a graph (the planner's candidate rollouts), and forward +
backward (fitting), one thread, median of repeats.

    python benchmarks/mish_kernel.py [--repeats 200] [--threads 1]

Also prints the largest error of each against float64 Mish, so a faster number cannot hide a
different function. Run it on an idle machine (the load average is printed); results go to
docs/speed.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F

from nsca.utils.activations import mish

SHAPES = [(256, 256), (1600, 256), (2048, 512)]  # a fit batch; 50 episodes x 32 candidates; a large batch


def _median_ms(fn, repeats: int) -> float:
    for _ in range(5):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def bench(shape: tuple[int, int], repeats: int) -> dict:
    x = torch.randn(*shape)
    out = {"shape": list(shape)}
    for name, act in (("torch", F.mish), ("nsca", mish)):
        with torch.no_grad():
            fwd = _median_ms(lambda act=act: act(x), repeats)
        leaf = x.clone().requires_grad_()
        both = _median_ms(lambda act=act, leaf=leaf: act(leaf).sum().backward(), max(repeats // 2, 10))
        out[name] = {"forward_ms": round(fwd, 4), "forward_backward_ms": round(both, 4)}
    out["speedup_forward"] = round(out["torch"]["forward_ms"] / out["nsca"]["forward_ms"], 2)
    out["speedup_forward_backward"] = round(out["torch"]["forward_backward_ms"] / out["nsca"]["forward_backward_ms"], 2)
    return out


def errors() -> dict:
    x = torch.linspace(-30, 30, 100_001, dtype=torch.float64)
    ref = F.mish(x)
    xf = x.float()
    return {name: float(((act(xf).double() - ref).abs() / (1 + x.abs())).max())
            for name, act in (("torch", F.mish), ("nsca", mish))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    report = {"load_average_start": os.getloadavg(), "threads": args.threads, "torch": torch.__version__,
              "max_relative_error_float32": errors(), "shapes": [bench(s, args.repeats) for s in SHAPES],
              "load_average_end": os.getloadavg()}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
