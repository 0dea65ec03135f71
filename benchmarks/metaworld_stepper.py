"""Control steps/s of Meta-World's `env.step`, raw `mj_step`, and the batched stepper, side by side.

    python benchmarks/metaworld_stepper.py [--tasks pick-place-v3 drawer-open-v3 shelf-place-v3]
        [--sizes 1 16 64] [--steps 3000] [--repeats 3] [--threads 1] [--bc-episodes 50]

One process, one thread (per-core figures). For each task: Meta-World's own `env.step` (one env,
random actions), raw `mujoco.mj_step` x frame_skip on the same model (the simulator's limit), and
`MetaWorldBatch.step` at each N (N environments, random actions, no rewards; `--rewards` adds
Meta-World's reward). Each figure is the median of `--repeats` interleaved runs, so load changes
hit all alike. Then a full BC evaluation episode batch: plain BC fitted on 5 demos of pick-place,
`--bc-episodes` episodes of 150 steps, one at a time through Meta-World's `env.step` (the harness
before the stepper) vs 16 at a time through the stepper, the network called once per control step
for the batch; the script checks both give the same successes. Prints one JSON document; figures
go to docs/speed.md with the load (`uptime`) at the time.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

import mujoco
import numpy as np


def rate(fn, steps: int) -> float:
    t = time.perf_counter()
    fn()
    return steps / (time.perf_counter() - t)


def bench_task(task: str, sizes: list[int], steps: int, repeats: int, threads: int, rewards: bool) -> dict:
    from nsca.envs.metaworld_batch import MetaWorldBatch, make_env

    env = make_env(task)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (steps, 4)).astype(np.float32)
    batches = {n: MetaWorldBatch(task, n, threads=threads) for n in sizes}

    def run_env_step():
        env.seed(0)
        env.reset()
        for i, a in enumerate(actions):
            if i % 500 == 499:
                env.reset()
            env.step(a)

    def run_raw():
        env.seed(0)
        env.reset()
        m, d = env.model, env.data
        for i, a in enumerate(actions):
            if i % 500 == 499:
                env.reset()
            d.ctrl[:] = (a[3], -a[3])
            mujoco.mj_step(m, d, nstep=env.frame_skip)

    def run_batch(n: int):
        b = batches[n]
        per = max(1, steps // n)
        acts = rng.uniform(-1, 1, (per, n, 4)).astype(np.float32)
        for k in range(n):
            b.reset(k, k)
        t = time.perf_counter()
        for i, a in enumerate(acts):
            if i % 500 == 499:
                for k in range(n):
                    b.reset(k, k)
            b.step(a, rewards=rewards)
        return per * n / (time.perf_counter() - t)

    out: dict[str, list[float]] = {"env_step": [], "raw_mj_step": [], **{f"batch_{n}": [] for n in sizes}}
    for _ in range(repeats):
        out["env_step"].append(rate(run_env_step, steps))
        out["raw_mj_step"].append(rate(run_raw, steps))
        for n in sizes:
            out[f"batch_{n}"].append(run_batch(n))
    med = {k: float(np.median(v)) for k, v in out.items()}
    for b in batches.values():
        b.close()
    env.close()
    res = {k: round(v) for k, v in med.items()}
    for n in sizes:
        res[f"batch_{n}_over_env_step"] = round(med[f"batch_{n}"] / med["env_step"], 2)
        res[f"batch_{n}_over_raw"] = round(med[f"batch_{n}"] / med["raw_mj_step"], 3)
    return res


def bench_bc_episodes(episodes: int, batch_size: int = 16) -> dict:
    """Plain BC's evaluation episodes: one at a time through `env.step` vs a batch through the stepper."""
    import torch

    from nsca.envs.metaworld import eval_layout_seeds, goal, load_or_collect_demos, rollout_batch
    from nsca.envs.metaworld_batch import MetaWorldBatch
    from nsca.learning.bc import BCPolicy, train_regressor

    task = "pick-place-v3"
    demos = load_or_collect_demos(task, 0, 5)
    x = torch.as_tensor(np.concatenate([np.concatenate([ep.states[:-1], goal(ep.obs[:-1])], 1) for ep in demos]))
    a = torch.as_tensor(np.concatenate([ep.actions for ep in demos]))
    torch.manual_seed(0)
    policy = BCPolicy(x.shape[1])
    policy.norm.fit(x)
    train_regressor(policy, x, a, 300, generator=torch.Generator().manual_seed(0))

    @torch.no_grad()
    def act(idx, obs, states):
        inp = torch.as_tensor(np.concatenate([states, goal(obs)], 1))
        return policy(inp).clamp(-1, 1).numpy()

    layouts = eval_layout_seeds(episodes)
    reference = MetaWorldBatch(task, 1, reference=True)  # Meta-World's own env.step: the harness before the stepper

    def one_at_a_time():
        return rollout_batch(reference, layouts, act, max_steps=150)

    batch = MetaWorldBatch(task, batch_size)
    t = time.perf_counter()
    seq = one_at_a_time()
    seq_s = time.perf_counter() - t
    t = time.perf_counter()
    together = rollout_batch(batch, layouts, act, max_steps=150)
    batch_s = time.perf_counter() - t
    steps = sum(ep.length for ep in seq)
    return {"task": task, "episodes": episodes, "control_steps": steps, "batch": batch_size,
            "same_successes": [ep.success for ep in seq] == [ep.success for ep in together],
            "success": float(np.mean([ep.success for ep in together])),
            "one_at_a_time_env_step_s": round(seq_s, 2), "batched_stepper_s": round(batch_s, 2),
            "speedup": round(seq_s / batch_s, 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", default=["pick-place-v3", "drawer-open-v3", "shelf-place-v3"])
    p.add_argument("--sizes", nargs="+", type=int, default=[1, 16, 64])
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rewards", action="store_true", help="the stepper also computes Meta-World's reward")
    p.add_argument("--bc-episodes", type=int, default=50, help="0 skips the BC evaluation batch")
    args = p.parse_args()
    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(1)
    out = {"load_avg_at_start": os.getloadavg(), "threads": args.threads, "rewards": args.rewards,
           "tasks": {t: bench_task(t, args.sizes, args.steps, args.repeats, args.threads, args.rewards) for t in args.tasks}}
    if args.bc_episodes:
        out["bc_evaluation"] = bench_bc_episodes(args.bc_episodes)
    out["load_avg_at_end"] = os.getloadavg()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
