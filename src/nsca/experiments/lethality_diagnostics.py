"""Why does a condition of the lethality test win or lose? Off-demo model accuracy and planner behaviour.

    python -m nsca.experiments.lethality_diagnostics --seed 1 [--priors 0.9 none] [--episodes 5]

For each prior, the planner is trained exactly as in a lethality cell (same seed => same BC
policy). States are then collected by running BC with action noise on the
evaluation layouts (states the planner actually reaches for, off the demos), and we measure:
- the world model's one-step error there (hand and object position, mm), against MuJoCo;
- how far the planner moves from the BC action (mean |a_mppi - a_bc|).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from nsca.envs.metaworld import MetaWorldTask, eval_layout_seeds, goal, load_or_collect_demos
from nsca.experiments.lethality import calibrated_constants, validation_babble
from nsca.learning.agents import AgentConfig, make_agent
from nsca.learning.agents.planner import PlannerAgent
from nsca.priors.state import HAND_POS, HAND_VEL, OBJ_POS


def off_demo_transitions(env: MetaWorldTask, agent: PlannerAgent, episodes: int, steps: int, noise: float, seed: int):
    rng = np.random.default_rng(seed)
    rows = []
    for layout in eval_layout_seeds(episodes):
        obs = env.reset(layout)
        state = env.state(obs)
        for _ in range(steps):
            a = agent.bc_action(torch.as_tensor(state)[None], torch.as_tensor(goal(obs))[None])[0].numpy()
            a = np.clip(a + rng.normal(0, noise, 4), -1, 1).astype(np.float32)
            nxt, _, _ = env.step(a)
            nxt_state = env.state(nxt)
            rows.append((obs, a, nxt, state, nxt_state))
            obs, state = nxt, nxt_state
    return rows


def diagnose(task: str, seed: int, demos: int, priors: list[str], episodes: int, steps: int,
             train_steps: int | None = None) -> dict:
    """`train_steps` overrides every network's gradient steps (tests); None = the lethality defaults."""
    torch.manual_seed(seed)
    env = MetaWorldTask(task)
    eps = load_or_collect_demos(task, seed, demos, env=env)
    out = {}
    rows = None
    for p in priors:
        prior = None if p == "none" else float(p)
        budget = {} if train_steps is None else {k: train_steps for k in ("bc_steps", "world_model_steps")}
        agent = make_agent(AgentConfig(prior=prior, **budget), seed, calibrated_constants(task, 800))
        agent.fit(eps, babble=validation_babble(task))
        if rows is None:  # the same off-demo states for every condition (BC is shared)
            rows = off_demo_transitions(env, agent, episodes, steps, 0.3, seed)
        obs = np.stack([r[0] for r in rows])
        act = torch.as_tensor(np.stack([r[1] for r in rows]))
        s = torch.as_tensor(np.stack([r[3] for r in rows]))
        s_next = torch.as_tensor(np.stack([r[4] for r in rows]))
        g = torch.as_tensor(goal(obs))
        pred = agent.predict(s, act, g)
        bc = agent.bc_action(s, g)
        agent.start_evaluation()
        planned = torch.as_tensor(agent.act_batch(list(range(0, len(rows), 4)), obs[::4], s[::4].numpy()))
        out[p] = {
            "hand_err_mm": float((pred[:, HAND_POS] - s_next[:, HAND_POS]).norm(dim=-1).mean() * 1000),
            "obj_err_mm": float((pred[:, OBJ_POS] - s_next[:, OBJ_POS]).norm(dim=-1).mean() * 1000),
            "planner_minus_bc": float((planned - bc[::4]).abs().mean()),
            "prior_weight": agent.prior_weight,
        }
    # Reference: "constant velocity" on the same transitions, the trivial predictor a prior must beat.
    dt = calibrated_constants(task, 800).dt_s
    const_vel = s[:, HAND_POS] + s[:, HAND_VEL] * dt
    cv_err = float((const_vel - s_next[:, HAND_POS]).norm(dim=-1).mean() * 1000) if rows else None
    return {"task": task, "seed": seed, "demos": demos, "off_demo_transitions": len(rows or []),
            "const_velocity_hand_err_mm": cv_err, "conditions": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="pick-place-v3")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--demos", type=int, default=5)
    ap.add_argument("--priors", nargs="+", default=["0.9", "0.5", "0.1", "none"])
    ap.add_argument("--episodes", type=int, default=5)
    ap.add_argument("--steps", type=int, default=60)
    a = ap.parse_args()
    torch.set_num_threads(1)
    print(json.dumps(diagnose(a.task, a.seed, a.demos, a.priors, a.episodes, a.steps), indent=2))


if __name__ == "__main__":
    main()
