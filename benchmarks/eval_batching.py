"""Batched evaluation: one lethality planner cell's evaluation, one episode at a time vs stepped
together on a pool of environments, and the share of the time spent inside MuJoCo's `mj_step`.

    python benchmarks/eval_batching.py [--task pick-place-v3] [--prior 0.9] [--episodes 16] [--steps 150]

The agent is fitted once (5 demos, the lethality defaults); both ways then evaluate the same
episodes, and the script checks that they are identical (same actions, same success) before it
reports times. Run it on an otherwise idle machine; results go to docs/lethality.md (Speed).
"""

from __future__ import annotations

import argparse
import json
import time

import mujoco
import numpy as np
import torch


class StepTimer:
    """Wraps `mujoco.mj_step` (Gymnasium's MujocoEnv calls it through the module) to sum its time."""

    def __init__(self) -> None:
        self.seconds, self._orig = 0.0, mujoco.mj_step

    def __enter__(self) -> StepTimer:
        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return self._orig(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t

        mujoco.mj_step = timed
        return self

    def __exit__(self, *exc) -> None:
        mujoco.mj_step = self._orig


def main() -> None:
    from nsca.envs.metaworld import MetaWorldTask, eval_layout_seeds, load_or_collect_demos, rollout, rollout_batch
    from nsca.envs.metaworld_batch import MetaWorldBatch
    from nsca.experiments.lethality import EVAL_BATCH, calibrated_constants, validation_babble
    from nsca.learning.agents import AgentConfig, make_agent

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="pick-place-v3")
    ap.add_argument("--prior", default="0.9", help="prior weight or 'none'")
    ap.add_argument("--episodes", type=int, default=16)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--batch", type=int, default=EVAL_BATCH)
    args = ap.parse_args()
    torch.set_num_threads(1)  # as in a grid worker

    env = MetaWorldTask(args.task)
    demos = load_or_collect_demos(args.task, 0, 5, env=env)
    prior = None if args.prior == "none" else float(args.prior)
    agent = make_agent(AgentConfig(prior=prior), seed=0, constants=calibrated_constants(args.task, 800))
    t = time.perf_counter()
    agent.fit(demos, babble=validation_babble(args.task))
    fit_s = time.perf_counter() - t
    layouts = eval_layout_seeds(args.episodes)

    with StepTimer() as seq_timer:
        t = time.perf_counter()
        seq = []
        agent.start_evaluation()
        for i, layout in enumerate(layouts):
            act = lambda obs, i=i: agent.act_batch([i], obs[None], env.state(obs)[None])[0]  # noqa: E731
            seq.append(rollout(env, layout, act, max_steps=args.steps))
        seq_s = time.perf_counter() - t

    batch = MetaWorldBatch(args.task, min(args.batch, len(layouts)))
    with StepTimer() as pool_timer:
        t = time.perf_counter()
        agent.start_evaluation()
        pooled = rollout_batch(batch, layouts, agent.act_batch, max_steps=args.steps)
        pool_s = time.perf_counter() - t

    same = all(np.array_equal(a.actions, b.actions) and a.success == b.success for a, b in zip(seq, pooled))
    steps = sum(ep.length for ep in seq)
    print(json.dumps({
        "task": args.task, "prior": args.prior, "episodes": args.episodes, "control_steps": steps, "batch": batch.n,
        "identical_episodes": same, "fit_s": round(fit_s, 1),
        "one_at_a_time": {"eval_s": round(seq_s, 2), "ms_per_step": round(1000 * seq_s / steps, 2),
                          "mj_step_share": round(seq_timer.seconds / seq_s, 3)},
        "pooled": {"eval_s": round(pool_s, 2), "ms_per_step": round(1000 * pool_s / steps, 2),
                   "mj_step_share": round(pool_timer.seconds / pool_s, 3)},
        "speedup": round(seq_s / pool_s, 2),
        "success": float(np.mean([ep.success for ep in seq])),
    }, indent=2))
    if not same:
        raise SystemExit("pooled episodes differ from one-at-a-time episodes")


if __name__ == "__main__":
    main()
