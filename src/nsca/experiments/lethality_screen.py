"""Choosing the planner's goal cost and horizon, on pick-place seeds and layouts never evaluated.

    python -m nsca.experiments.lethality_screen --priors 0.9 none [--horizons 10 15 20] [--grasp 0 0.05]

The seeds, layouts and budget are the lethality `screen` preset's (presets.yaml: seeds 900-902,
evaluation layouts 12_000_000 + i, 30 episodes, 150-step cap), disjoint from every grid that is
evaluated (`default`: seeds 0-4, layouts 10_000_000 + i; `confirm`: seeds 100-114, layouts
11_000_000 + i). Per (seed, prior) the BC policy and the world model are trained once, exactly as
in a lethality cell, and each (horizon, grasp weight) variant plans with them after its own gate
calibration, so a variant's figures are those of `nsca lethality --preset screen` with its flags
(tested). Prints one JSON object: per variant and prior the success and departure rate per seed,
the mean episode return and the gate's validated score error; plain BC per seed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np


def screen(task: str, priors: list[str], horizons: list[int], grasps: list[float], temperatures: list[str],
           base: dict | None = None, overrides: dict | None = None, log=None) -> dict:
    """`temperatures`: "validated" (the gate's error) or a number (x the candidates' score spread);
    `base`: the lethality preset block (default: `screen`); `overrides`: AgentConfig fields;
    `log(line)`: progress."""
    from nsca.config import from_dict, preset_block
    from nsca.envs.metaworld import MetaWorldTask, load_or_collect_demos, resolve_task
    from nsca.experiments.lethality import (
        LethalityConfig,
        calibrated_constants,
        evaluate,
        parse_prior,
        validation_babble,
    )
    from nsca.learning.agents import make_agent
    from nsca.learning.agents.base import demo_arrays
    from nsca.learning.agents.planner import PlannerAgent
    from nsca.utils.seeding import seed_everything

    task = resolve_task(task)
    cfg = from_dict(LethalityConfig, {**(base or preset_block("lethality", "screen")), "task": task})
    agent0 = dataclasses.replace(cfg.agent, **(overrides or {}))
    layouts = [cfg.layout_base + i for i in range(cfg.eval_episodes)]
    constants = calibrated_constants(task, cfg.calibration_steps)
    babble = validation_babble(task)
    env = MetaWorldTask(task)
    out: dict = {"task": task, "seeds": cfg.seeds, "layout_base": cfg.layout_base, "eval_episodes": cfg.eval_episodes,
                 "episode_steps": cfg.episode_steps, "bc": [], "variants": {}}
    for seed in cfg.seeds:
        demos = load_or_collect_demos(task, seed, cfg.demos, env=env)
        goals = demo_arrays(demos)["goal"]
        bc = make_agent(dataclasses.replace(agent0, kind="bc", prior=None), seed, constants)
        bc.fit(demos)
        out["bc"].append(float(np.mean([e.success for e in evaluate(bc, env, task, layouts, cfg.episode_steps)])))
        for p in priors:
            seed_everything(seed)  # as run_cell does
            fitted = make_agent(dataclasses.replace(agent0, kind="planner", prior=parse_prior(p)), seed, constants)
            fitted.fit(demos, babble=babble)
            for h, g, t in [(h, g, t) for h in horizons for g in grasps for t in temperatures]:
                validated = t == "validated"
                planner = dataclasses.replace(fitted.cfg.planner, horizon=h, **({} if validated else {
                    "temperature": float(t), "relative_temperature": True}))
                c = dataclasses.replace(fitted.cfg, planner=planner, validated_temperature=validated,
                                        cost=dataclasses.replace(fitted.cfg.cost, grasp=g))
                agent = PlannerAgent(c, seed, constants)
                agent.bc, agent.model = fitted.bc, fitted.model
                gate = agent.calibrate(babble, goals)
                eps = evaluate(agent, env, task, layouts, cfg.episode_steps)
                name = f"horizon {h}, grasp {g:g}, temperature {t}"
                row = out["variants"].setdefault(name, {}).setdefault(p, {
                    "success": [], "return": [], "departure_rate": [], "model_score_rmse": []})
                row["success"].append(float(np.mean([e.success for e in eps])))
                row["return"].append(float(np.mean([e.rewards.sum() for e in eps])))
                row["departure_rate"].append(agent.plan_stats["departed"] / agent.plan_stats["plans"])
                row["model_score_rmse"].append(gate.get("model_score_rmse"))
                if log:
                    log(f"seed {seed} prior {p} {name}: success {row['success'][-1]:.3f}, "
                        f"departure {row['departure_rate'][-1]:.3f}")
    env.close()
    for rows in out["variants"].values():
        for row in rows.values():
            row["mean_success"] = float(np.mean(row["success"]))
    out["bc_mean"] = float(np.mean(out["bc"]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="pick-place-v3")
    ap.add_argument("--priors", nargs="+", default=["0.9", "none"])
    ap.add_argument("--horizons", nargs="+", type=int, default=[10, 15, 20])
    ap.add_argument("--grasp", nargs="+", type=float, default=[0.0])
    ap.add_argument("--temperatures", nargs="+", default=["validated"],
                    help="'validated' (the gate's error) or numbers (x the candidates' score spread)")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    import sys

    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    print(json.dumps(screen(a.task, a.priors, a.horizons, a.grasp, a.temperatures, log=log), indent=1))


if __name__ == "__main__":
    main()
