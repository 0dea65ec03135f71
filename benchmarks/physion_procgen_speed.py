"""Phase-7 speed: Physion scene generation, readout feature extraction, PPO env steps.

    MUJOCO_GL=egl taskset -c 1 python benchmarks/physion_procgen_speed.py --threads 1
    python benchmarks/physion_procgen_speed.py --device cuda --ppo-steps 65536   # on a GPU machine

- scene generation: clips/s of `simulate` (physics + contact labels, and with 64x64 rendering)
  and of `write_trial_hdf5` (PNG + HDF5), per scenario and overall;
- feature extraction: observed clips/s through the NSCA vision path (debug and default presets);
- PPO: env steps/s of `train_ppo` (rollout + update) with the IMPALA-CNN and NSCA's encoder.

Prints one JSON object; docs/physion.md and docs/procgen.md record runs and their conditions.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np
import torch


def scene_speed(trials: int) -> dict:
    from nsca.envs import physion_scenes as PS

    out: dict = {}
    total_sim = total_render = total_write = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for scenario in PS.SCENARIOS:
            t0 = time.perf_counter()
            for seed in range(trials):
                PS.simulate(scenario, seed, render=False)
            sim = time.perf_counter() - t0
            t0 = time.perf_counter()
            rendered = [PS.simulate(scenario, seed, render=True) for seed in range(trials)]
            render = time.perf_counter() - t0
            t0 = time.perf_counter()
            for trial in rendered:
                PS.write_trial_hdf5(trial, Path(tmp) / scenario / f"{trial.seed:07d}.hdf5")
            write = time.perf_counter() - t0
            out[scenario] = {"sim_clips_per_s": trials / sim, "sim_render_clips_per_s": trials / render,
                             "write_clips_per_s": trials / write}
            total_sim, total_render, total_write = total_sim + sim, total_render + render, total_write + write
    n = trials * len(PS.SCENARIOS)
    out["all"] = {"sim_clips_per_s": n / total_sim, "sim_render_clips_per_s": n / total_render,
                  "write_clips_per_s": n / total_write}
    return out


def feature_speed(clips: int, device: str) -> dict:
    from nsca.envs.physion_scenes import FPS, OBSERVE_S
    from nsca.evaluation.physion_ocp import nsca_features
    from nsca.model.config import preset
    from nsca.model.nsca import NSCAModel

    frames = np.random.default_rng(0).integers(0, 255, (clips, int(OBSERVE_S * FPS), 64, 64, 3), dtype=np.uint8)
    out = {}
    for name in ("debug", "default"):
        model = NSCAModel(preset(name)).to(device)
        nsca_features(model, frames[:4])  # warm-up
        t0 = time.perf_counter()
        nsca_features(model, frames)
        out[name] = {"clips_per_s": clips / (time.perf_counter() - t0)}
    return out


def ppo_speed(steps: int, device: str) -> dict:
    from nsca.evaluation import procgen as G

    cfg = G.PPOConfig()
    steps = max(steps, cfg.num_envs * cfg.num_steps)
    out = {}
    for encoder, preset_name in (("impala", "debug"), ("nsca_random", "debug"), ("nsca_random", "default")):
        agent = G.build_agent(encoder, None, preset_name).to(device)
        env = G.ProcgenVec("coinrun", cfg.num_envs, 200, 0, seed=0)
        res = G.train_ppo(agent, env, steps, cfg, torch.device(device), seed=0)
        out[f"{encoder}-{preset_name}" if encoder != "impala" else encoder] = {
            "env_steps_per_s": res["env_steps"] / res["train_wall_s"], "env_steps": res["env_steps"]}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=5, help="trials per scenario for scene speed")
    p.add_argument("--clips", type=int, default=128, help="clips for feature-extraction speed")
    p.add_argument("--ppo-steps", type=int, default=4096, help="env steps per PPO measurement")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--skip", nargs="*", default=[], choices=["scenes", "features", "ppo"])
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    result: dict = {"threads": args.threads, "device": args.device, "cpu_count": os.cpu_count(),
                    "load_avg_start": os.getloadavg()}
    if "scenes" not in args.skip:
        result["scenes"] = scene_speed(args.trials)
    if "features" not in args.skip:
        result["features"] = feature_speed(args.clips, args.device)
    if "ppo" not in args.skip:
        result["ppo"] = ppo_speed(args.ppo_steps, args.device)
    result["load_avg_end"] = os.getloadavg()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
