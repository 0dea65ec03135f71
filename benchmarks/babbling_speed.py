"""Babbling throughput: control steps/s (state-only) and rendered 64x64 frames/s against the raw
mj_step rate of the same scene.

    MUJOCO_GL=egl python benchmarks/babbling_speed.py --workers 1 2 --interactions 1500

What it measures, each with the same worker processes `nsca babble` uses:
- raw: MuJoCo substeps/s of the babbling scene on one core with no Python between steps
  (`nsca.babbling.scenes.raw_step_rate`); one control step = 4 substeps, so raw/4 is the ceiling
  in control steps/s per core;
- state-only: interactions as in the random phase of a run (spawn + primitive + recording +
  labels), after a warm-up; control steps/s include the spawn's settle steps;
- rendered: the same with --render (a 64x64 frame every 6 control steps, shadows and
  reflections off), in recorded frames/s; plus a render-only loop with fast flags and with
  MuJoCo's default flags (shadows + reflections on), one core.
The machine's load average is printed too: on a shared machine the figures are lower bounds.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("MUJOCO_GL", "egl")


def interactions_per_s(workers: int, n: int, render: bool, seed: int = 0) -> dict:
    from nsca.babbling.explorer import LearningProgressExplorer
    from nsca.babbling.workers import Executor

    settings = dict(seed=seed, n_objects=120, probe_objects=1, n_steps=96, record_every=6, render=render, audio=False)
    ex = LearningProgressExplorer(120, 10**6, seed)  # these episodes are in its random phase
    warm = ex.propose(0, 8 * workers)
    specs = ex.propose(10_000, n)
    executor = Executor(workers, settings)
    try:
        list(executor.map([("train", s) for s in warm]))
        t0 = time.perf_counter()
        results = list(executor.map([("train", s) for s in specs]))
        dt = time.perf_counter() - t0
    finally:
        executor.close()
    steps = sum(r["ctrl_steps"] for r in results)
    out = {"workers": workers, "interactions": n, "seconds": dt, "interactions_per_s": n / dt, "ctrl_steps_per_s": steps / dt,
           "ctrl_steps_per_interaction": steps / n}
    if render:
        out["frames_per_s"] = sum(len(r["frames"]) for r in results) / dt
    return out


def render_only_fps(fast: bool, n: int = 400) -> float:
    import mujoco
    import numpy as np

    from nsca.babbling.spawn import spawn
    from nsca.envs.objects import make_catalogue
    from nsca.envs.playground import Playground

    pg = Playground(make_catalogue(1, 0))
    spawn(pg, "strike", np.random.default_rng(0))
    pg.render(64)
    flags = pg._renderer.scene.flags
    flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0 if fast else 1
    flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0 if fast else 1
    t0 = time.perf_counter()
    for _ in range(n):
        pg.step((0.2, 0.0, 0.0, 1.0))
        pg.render(64)
    dt = time.perf_counter() - t0
    pg.close()
    return n / dt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--interactions", type=int, default=1500, help="state-only interactions per measurement")
    parser.add_argument("--render-interactions", type=int, default=300, help="rendered interactions per measurement")
    parser.add_argument("--out", default=None, help="also write the results here as JSON")
    args = parser.parse_args()

    from nsca.babbling.scenes import raw_step_rate

    report: dict = {"load_average_start": os.getloadavg(), "cpu_count": os.cpu_count()}
    raw = raw_step_rate(seconds=3.0)
    report["raw_mj_step_per_s_one_core"] = raw
    report["raw_ctrl_steps_per_s_one_core"] = raw / 4
    print(f"raw mj_step: {raw:,.0f} substeps/s on one core = {raw / 4:,.0f} control steps/s (4 substeps each)")
    report["state_only"], report["rendered"] = [], []
    for w in args.workers:
        r = interactions_per_s(w, args.interactions, render=False)
        r["share_of_raw_ceiling"] = r["ctrl_steps_per_s"] / (w * raw / 4)
        r["projected_100k_interactions_min"] = 100_000 * r["ctrl_steps_per_interaction"] / r["ctrl_steps_per_s"] / 60
        report["state_only"].append(r)
        print(f"state-only, {w} worker(s): {r['ctrl_steps_per_s']:,.0f} control steps/s, {r['interactions_per_s']:.0f} "
              f"interactions/s ({r['share_of_raw_ceiling']:.0%} of {w} x raw ceiling); 100k interactions in "
              f"{r['projected_100k_interactions_min']:.1f} min")
    for w in args.workers:
        r = interactions_per_s(w, args.render_interactions, render=True)
        report["rendered"].append(r)
        print(f"rendered 64x64, {w} worker(s): {r['frames_per_s']:,.0f} recorded frames/s with physics, "
              f"{r['ctrl_steps_per_s']:,.0f} control steps/s")
    report["render_only_fps_fast_flags_one_core"] = render_only_fps(fast=True)
    report["render_only_fps_default_flags_one_core"] = render_only_fps(fast=False)
    print(f"render only, one core: {report['render_only_fps_fast_flags_one_core']:,.0f} fps without shadows/reflections, "
          f"{report['render_only_fps_default_flags_one_core']:,.0f} fps with MuJoCo's defaults")
    report["load_average_end"] = os.getloadavg()
    print(f"load average (1/5/15 min) at start {report['load_average_start']}, at end {report['load_average_end']} "
          f"on {report['cpu_count']} cores")
    if args.out:
        from nsca.utils.io import atomic_write_json

        atomic_write_json(args.out, report)


if __name__ == "__main__":
    main()
