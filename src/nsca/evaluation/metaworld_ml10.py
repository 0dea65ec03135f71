"""`nsca eval metaworld-ml10`: few-shot manipulation on ML10's held-out tasks, against SAC and PPO.

The plan's central claim ("Meta-World, 5 demos: 65% after training vs 22% random init") is about
the babbling-trained model. Each (test task, k demos, condition, seed) cell fine-tunes one agent
on k expert demos (the run seed's demo layouts) and evaluates it on the evaluation layouts all
conditions share; success = Meta-World's flag at any step within `episode_steps` (500).

Conditions (the model is `nsca.learning.model_agent`: one NSCAModel stack):
- nsca_prior:    the `--checkpoint` (`nsca train` with the prior) fine-tuned;
- nsca_noprior:  the `--checkpoint-noprior` (`nsca train --prior none`) fine-tuned;
- scratch_prior: the same architecture, no pretraining, prior term on;
- random_init:   no pretraining, no prior term;
- bc:            the phase-0 plain BC MLP on the same demos (`nsca.learning.agents.bc`).
Online RL baselines (Stable-Baselines3, dense reward, `--sac-steps` / `--ppo-steps` env steps
per task and seed, no demos): sac, ppo. Published references are printed beside them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nsca.config import field, from_dict
from nsca.errors import UsageError
from nsca.experiments.protocol import Experiment, RunConfig, experiment_fields, out_field, seeds_field
from nsca.learning.model_agent import FewShotConfig
from nsca.runner import Cell

ML10_TRAIN = ("reach", "push", "pick-place", "door-open", "drawer-close", "button-press-topdown", "peg-insert-side",
              "window-open", "sweep", "basketball")
ML10_TEST = ("drawer-open", "door-close", "shelf-place", "sweep-into", "lever-pull")
FEWSHOT = ("nsca_prior", "nsca_noprior", "scratch_prior", "random_init", "bc")
ONLINE = ("sac", "ppo")
CONDITIONS = FEWSHOT + ONLINE
# Published figures, each with its protocol (not re-measured here).
REFERENCES = {
    "ml10_meta_test_success_percent": {
        "source": "Yu et al. 2019, Meta-World, Table 1 (ML10 meta-test, v1 tasks, after meta-training on the 10 train tasks)",
        "RL2": 35.8, "MAML": 31.6, "PEARL": 13.0},
    "pick_place_online_success": {
        "source": "TD-MPC2 repository results CSVs (Meta-World pick-place, single task, online, dense reward)",
        "TD-MPC2": {"100k": 0.10, "500k": 0.77}, "SAC": {"500k": 0.00, "2M": 0.47}},
}
SEED_TABLE = {"5": {"after_training": 0.65, "random_init": 0.22}, "100": {"after_training": 0.95, "random_init": 0.93}}


@dataclass(frozen=True)
class ML10EvalConfig(RunConfig):
    """The suite's fields plus the run fields of every experiment."""

    n_seeds: int = seeds_field(3)
    out: str = out_field("runs/eval/metaworld-ml10")
    tasks: tuple[str, ...] = field(ML10_TEST, "test tasks (default: ML10's five held-out tasks)")
    demos_list: tuple[int, ...] = field((1, 5, 10, 25), "demo counts k (each >= 1)")
    conditions: tuple[str, ...] = field(CONDITIONS, f"conditions: {', '.join(CONDITIONS)}")
    checkpoint: str | None = field(None, "`nsca train` run (with the prior) for nsca_prior")
    checkpoint_noprior: str | None = field(None, "`nsca train --prior none` run for nsca_noprior")
    eval_episodes: int = field(30, "evaluation episodes per cell (the shared evaluation layouts)")
    episode_steps: int = field(500, "step cap of an episode (success at any step counts)")
    fewshot: FewShotConfig = field(FewShotConfig(), "fine-tuning of the NSCA conditions")
    bc_steps: int = field(2000, "gradient steps of the plain BC baseline (phase 0's)")
    sac_steps: int = field(30_000, "SAC env steps per (task, seed)")
    ppo_steps: int = field(200_000, "PPO env steps per (task, seed)")
    threads: int = field(1, "torch threads per cell")

    def validate(self) -> None:
        super().validate()
        bad = [c for c in self.conditions if c not in CONDITIONS]
        if bad:
            raise UsageError(f"unknown condition {bad[0]!r}; choose from {', '.join(CONDITIONS)}")
        if not self.demos_list or min(self.demos_list) < 1:
            raise UsageError(f"--demos-list: every k must be at least 1 (got {list(self.demos_list)}); "
                             "the online baselines (sac, ppo) use no demos")
        for name in ("eval_episodes", "episode_steps", "bc_steps", "sac_steps", "ppo_steps", "threads"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        self.fewshot.validate()


def not_run(cfg: ML10EvalConfig) -> dict[str, str]:
    """Conditions asked for that cannot run with this config, and why."""
    need = {"nsca_prior": ("checkpoint", "--checkpoint"), "nsca_noprior": ("checkpoint_noprior", "--checkpoint-noprior")}
    return {c: f"no {flag} given (a `nsca train` run)" for c, (key, flag) in need.items()
            if c in cfg.conditions and not getattr(cfg, key)}


# ---- cells -----------------------------------------------------------------------------------
def _fewshot_agent(condition: str, cfg: ML10EvalConfig, seed: int):
    from nsca.learning.model_agent import NSCAFewShotAgent, build_model

    checkpoint = {"nsca_prior": cfg.checkpoint, "nsca_noprior": cfg.checkpoint_noprior}.get(condition)
    prior = cfg.fewshot.prior if condition in ("nsca_prior", "scratch_prior") else None
    architecture = None
    if checkpoint is None and cfg.checkpoint:  # the from-scratch conditions take the pretrained model's architecture
        from nsca.learning.model_agent import checkpoint_config

        architecture = checkpoint_config(cfg.checkpoint)
    model, loaded = build_model(checkpoint, prior, cfg.fewshot, architecture)
    if condition == "nsca_noprior" and model.world_model.physics.rho is not None:
        raise UsageError(f"--checkpoint-noprior {checkpoint} was trained with a prior; pass a `--prior none` run")
    if condition == "nsca_prior" and model.world_model.physics.rho is None:
        raise UsageError(f"--checkpoint {checkpoint} was trained without a prior; pass a run trained with one")
    return NSCAFewShotAgent(model, cfg.fewshot, seed), loaded


def _bc_actor(cfg: ML10EvalConfig, seed: int):
    import torch

    from nsca.learning.agents import AgentConfig, make_agent

    agent = make_agent(AgentConfig(kind="bc", prior=None, bc_steps=cfg.bc_steps), seed)
    return agent, lambda s, g: agent.policy(torch.as_tensor(s), torch.as_tensor(g))[0].clamp(-1, 1).numpy()


def run_fewshot(config: dict, cell_dir: Path) -> dict:
    import time

    import torch

    from nsca.envs.metaworld import eval_layout_seeds, goal, load_or_collect_demos, rollout_batch
    from nsca.envs.metaworld_batch import MetaWorldBatch
    from nsca.learning.agents.base import demo_arrays
    from nsca.utils.seeding import seed_everything

    cfg = from_dict(ML10EvalConfig, {k: v for k, v in config.items() if k not in ("task", "demos", "condition", "seed")})
    task, k, condition, seed = config["task"], config["demos"], config["condition"], config["seed"]
    torch.set_num_threads(cfg.threads)
    seed_everything(seed)  # the fresh parts of a model (all of it without a checkpoint) start from the seed
    t0 = time.time()
    batch = MetaWorldBatch(task, min(16, cfg.eval_episodes))
    demos = load_or_collect_demos(task, seed, k)
    info: dict[str, Any] = {}
    if condition == "bc":
        agent, act = _bc_actor(cfg, seed)
        info.update(agent.fit(demos))

        def act_batch(episodes, obs, states):
            with torch.no_grad():
                return act(states, goal(obs))
    else:
        fs, loaded = _fewshot_agent(condition, cfg, seed)
        info.update(fs.fit(demo_arrays(demos)), checkpoint_tensors_loaded=loaded,
                    parameters=int(sum(p.numel() for p in fs.model.parameters())))
        act_batch = fs.pool_actor()
    t_fit = time.time() - t0
    episodes = rollout_batch(batch, eval_layout_seeds(cfg.eval_episodes), act_batch, max_steps=cfg.episode_steps)
    batch.close()
    success = [bool(ep.success) for ep in episodes]
    (cell_dir / "episodes.jsonl").write_text("".join(
        json.dumps({"layout_seed": ep.layout_seed, "success": bool(ep.success), "steps": ep.length}) + "\n"
        for ep in episodes))
    return {"task": task, "demos": k, "condition": condition, "seed": seed, "success_rate": float(np.mean(success)),
            "successes": int(sum(success)), "episodes": len(success), "fit_s": round(t_fit, 2),
            "eval_s": round(time.time() - t0 - t_fit, 2), **{k2: v for k2, v in info.items() if _scalar(v)}}


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


def run_online(config: dict, cell_dir: Path) -> dict:
    import time

    import torch
    from stable_baselines3 import PPO, SAC

    from nsca.envs.metaworld_gym import MetaWorldVecEnv, evaluate_sb3
    from nsca.utils.seeding import seed_everything

    task, algo, seed = config["task"], config["condition"], config["seed"]
    torch.set_num_threads(config["threads"])
    seed_everything(seed)
    env = MetaWorldVecEnv(task, seed, config["episode_steps"])
    steps = config["steps"]
    if algo == "sac":  # SB3's defaults (256x256, lr 3e-4, batch 256, tau 0.005, gamma 0.99), 1k random steps first
        model = SAC("MlpPolicy", env, seed=seed, device="cpu", verbose=0, learning_starts=min(1000, steps // 2))
    else:  # SB3's defaults (2048 steps per rollout, 10 epochs, batch 64, gae 0.95, gamma 0.99)
        model = PPO("MlpPolicy", env, seed=seed, device="cpu", verbose=0, n_steps=min(2048, steps))
    t0 = time.time()
    model.learn(total_timesteps=steps)
    train_s = time.time() - t0
    ev = evaluate_sb3(model, task, config["eval_episodes"], config["episode_steps"])
    env.close()
    (cell_dir / "episodes.jsonl").write_text("".join(json.dumps({"success": bool(s), "return": float(r)}) + "\n"
                                                     for s, r in zip(ev["success"], ev["return"])))
    return {"task": task, "demos": 0, "condition": algo, "seed": seed, "env_steps": steps,
            "success_rate": float(np.mean(ev["success"])), "successes": int(sum(ev["success"])),
            "episodes": len(ev["success"]), "mean_return": float(np.mean(ev["return"])),
            "train_s": round(train_s, 1), "steps_per_s": round(steps / train_s, 1)}


def run_cell(config: dict, cell_dir: Path) -> dict:
    return (run_online if config["condition"] in ONLINE else run_fewshot)(config, cell_dir)


# ---- the suite -------------------------------------------------------------------------------
class MetaWorldML10(Experiment):
    name = "metaworld-ml10"
    help = "Meta-World ML10 held-out tasks: few-shot NSCA (pretrained / not, prior / not) vs BC, SAC, PPO"
    config = ML10EvalConfig
    grid_fields = ("tasks", "demos_list", "conditions")
    plot_name = "success_by_k.png"

    def check(self, cfg: ML10EvalConfig) -> None:
        from nsca.envs.metaworld import expert_policy, resolve_task
        from nsca.learning.model_agent import build_model

        cfg.validate()
        for t in cfg.tasks:
            resolve_task(t)
            expert_policy(t)
        for path in (cfg.checkpoint, cfg.checkpoint_noprior):
            if path:  # unreadable, foreign, another size or state layout: one line now, before anything is written
                build_model(path, None, cfg.fewshot)
        if not [c for c in cfg.conditions if c not in not_run(cfg)]:
            raise UsageError("no condition can run: " + "; ".join(f"{c}: {why}" for c, why in not_run(cfg).items()))

    def cells(self, cfg: ML10EvalConfig) -> list[Cell]:
        from nsca.envs.metaworld import resolve_task

        base = json.loads(json.dumps(experiment_fields(cfg)))
        for key in self.grid_fields:
            base.pop(key)
        shared = {k: base[k] for k in ("eval_episodes", "episode_steps", "threads")}
        fewshot = {k: v for k, v in base.items() if k not in ("sac_steps", "ppo_steps")}
        skip = not_run(cfg)
        out = []
        for t in cfg.tasks:
            task = resolve_task(t)
            for c in cfg.conditions:
                if c in skip:
                    continue
                for s in range(cfg.n_seeds):
                    if c in ONLINE:
                        out.append(Cell(f"{task}/{c}", s, {**shared, "steps": base[f"{c}_steps"], "task": task,
                                                           "condition": c, "seed": s}))
                    else:
                        out += [Cell(f"{task}/{k}/{c}", s, {**fewshot, "task": task, "demos": k, "condition": c,
                                                           "seed": s}) for k in cfg.demos_list]
        return out

    def threads_per_worker(self, cfg: ML10EvalConfig) -> int:
        return cfg.threads

    def summarize(self, cfg: ML10EvalConfig, records: list[dict]) -> dict:
        return summarize_ml10(cfg, [r["metrics"] for r in records])

    def report_lines(self, results: dict) -> list[str]:
        return format_report(results).splitlines()

    def plot(self, cfg: ML10EvalConfig, records: list[dict], results: dict):
        return success_figure(results)

    def extra_files(self, results: dict) -> dict[str, str]:
        return {"results.csv": results_csv(results)}


EXPERIMENT = MetaWorldML10()

# Paired comparisons (a - b), per (task, k), over seeds: what each one isolates.
COMPARISONS = (
    ("nsca_prior", "random_init", "pretraining + prior vs neither (the plan's 65% vs 22%)"),
    ("nsca_prior", "nsca_noprior", "the prior, given pretraining"),
    ("scratch_prior", "random_init", "the prior, without pretraining"),
    ("nsca_prior", "scratch_prior", "pretraining, given the prior"),
    ("nsca_prior", "bc", "NSCA vs plain BC on the same demos"),
)


def summarize_ml10(cfg: ML10EvalConfig, metrics: list[dict]) -> dict:
    from nsca.envs.metaworld import resolve_task
    from nsca.stats import paired_compare, summarize

    tasks = [resolve_task(t) for t in cfg.tasks]
    skip = not_run(cfg)
    fewshot = [c for c in cfg.conditions if c in FEWSHOT and c not in skip]
    online = [c for c in cfg.conditions if c in ONLINE]
    by: dict[tuple, dict[int, float]] = {}
    for m in metrics:
        by.setdefault((m["task"], m["demos"], m["condition"]), {})[m["seed"]] = m["success_rate"]
    table: dict = {}
    for t in tasks:
        for k in cfg.demos_list:
            for c in fewshot:
                rates = [by[(t, k, c)][s] for s in sorted(by.get((t, k, c), {}))]
                table.setdefault(t, {}).setdefault(str(k), {})[c] = summarize(rates, seed=0) if rates else None
        for c in online:
            rates = [by[(t, 0, c)][s] for s in sorted(by.get((t, 0, c), {}))]
            table.setdefault(t, {}).setdefault("online", {})[c] = summarize(rates, seed=0) if rates else None
    # Mean over tasks per (k, condition), per seed: the suite-level number and its paired tests.
    over_tasks: dict = {}
    per_seed: dict = {}
    for k in cfg.demos_list:
        for c in fewshot:
            seeds = [s for s in range(cfg.n_seeds) if all(s in by.get((t, k, c), {}) for t in tasks)]
            per_seed[(k, c)] = {s: float(np.mean([by[(t, k, c)][s] for t in tasks])) for s in seeds}
            vals = list(per_seed[(k, c)].values())
            over_tasks.setdefault(str(k), {})[c] = summarize(vals, seed=0) if vals else None
    for c in online:
        seeds = [s for s in range(cfg.n_seeds) if all(s in by.get((t, 0, c), {}) for t in tasks)]
        vals = [float(np.mean([by[(t, 0, c)][s] for t in tasks])) for s in seeds]
        over_tasks.setdefault("online", {})[c] = summarize(vals, seed=0) if vals else None
    comparisons: dict = {}
    for a, b, what in COMPARISONS:
        if a not in fewshot or b not in fewshot:
            continue
        for k in cfg.demos_list:
            # Paired units: (task, seed), which share the demos and the evaluation layouts.
            units = [(t, s) for t in tasks for s in range(cfg.n_seeds)
                     if s in by.get((t, k, a), {}) and s in by.get((t, k, b), {})]
            if not units:
                continue
            comp = paired_compare([by[(t, k, a)][s] for t, s in units], [by[(t, k, b)][s] for t, s in units], seed=0)
            comp["ties"] = comp["n"] - comp["wins"] - comp["losses"]
            comparisons.setdefault(f"{a} - {b}", {"what": what})[str(k)] = comp
    return {"tasks": tasks, "demos_list": list(cfg.demos_list), "conditions": fewshot, "online": online,
            "not_run": skip, "table": table, "mean_over_tasks": over_tasks, "comparisons": comparisons,
            "references": REFERENCES, "seed_claims": SEED_TABLE,
            "budget": {"sac_steps": cfg.sac_steps, "ppo_steps": cfg.ppo_steps, "eval_episodes": cfg.eval_episodes,
                       "episode_steps": cfg.episode_steps, "seeds": cfg.n_seeds}}


def _fmt(b: dict | None) -> str:
    if not b or b.get("mean") is None:
        return "-"
    return f"{b['mean']:.2f}" + (f" [{b['ci95_low']:.2f}, {b['ci95_high']:.2f}]" if b.get("n", 1) > 1 else "")


def format_report(r: dict) -> str:
    lines = [f"Meta-World ML10 held-out tasks: success within {r['budget']['episode_steps']} steps, "
             f"{r['budget']['eval_episodes']} episodes x {r['budget']['seeds']} seeds per cell (mean [95% CI over seeds])"]
    conds = r["conditions"]
    for t in r["tasks"]:
        lines.append(f"{t}:")
        for k in r["demos_list"]:
            row = r["table"][t][str(k)]
            lines.append(f"  k={k:>3}: " + "  ".join(f"{c} {_fmt(row.get(c))}" for c in conds))
        if r["online"]:
            row = r["table"][t]["online"]
            lines.append("  online: " + "  ".join(f"{c} {_fmt(row.get(c))}" for c in r["online"]))
    lines.append("mean over tasks:")
    for k in r["demos_list"]:
        lines.append(f"  k={k:>3}: " + "  ".join(f"{c} {_fmt(r['mean_over_tasks'][str(k)].get(c))}" for c in conds))
    if r["online"]:
        b = r["budget"]
        lines.append(f"  online (sac {b['sac_steps']:,} / ppo {b['ppo_steps']:,} env steps): " + "  ".join(
            f"{c} {_fmt(r['mean_over_tasks']['online'].get(c))}" for c in r["online"]))
    lines.append("paired differences over (task, seed) units (same demos, same evaluation layouts):")
    for name, comp in r["comparisons"].items():
        for k, v in comp.items():
            if k == "what":
                continue
            lo, hi = v["diff_ci95"]
            p = "-" if v["p_wilcoxon"] is None else f"{v['p_wilcoxon']:.3f}"
            lines.append(f"  {name} @ k={k}: {v['diff_abs']:+.3f} [{lo:+.3f}, {hi:+.3f}], "
                         f"{v['wins']}W {v['losses']}L {v['ties']}T, Wilcoxon p {p}  ({comp['what']})")
    ref = r["references"]["ml10_meta_test_success_percent"]
    lines.append(f"references: ML10 meta-test (Yu et al. Table 1): RL2 {ref['RL2']}%, MAML {ref['MAML']}%, "
                 f"PEARL {ref['PEARL']}%; TD-MPC2 CSVs, pick-place online: TD-MPC2 0.10 @100k, 0.77 @500k; "
                 "SAC 0.00 @500k, 0.47 @2M")
    for c, why in r["not_run"].items():
        lines.append(f"not run: {c} ({why})")
    return "\n".join(lines)


def results_csv(r: dict) -> str:
    rows = ["task,demos,condition,mean,ci95_low,ci95_high,n_seeds"]
    for t, by_k in r["table"].items():
        for k, by_c in by_k.items():
            for c, b in by_c.items():
                if b:
                    rows.append(f"{t},{0 if k == 'online' else k},{c},{b['mean']:.4f},{b['ci95_low']:.4f},"
                                f"{b['ci95_high']:.4f},{b['n']}")
    return "\n".join(rows) + "\n"


def success_figure(r: dict):
    import matplotlib.pyplot as plt

    ks = r["demos_list"]
    fig, axes = plt.subplots(1, len(ks), figsize=(4.5 * len(ks), 4.2), squeeze=False, sharey=True)
    colors = dict(zip(CONDITIONS, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    x = np.arange(len(r["tasks"]))
    n = len(r["conditions"]) + len(r["online"])
    width = 0.8 / max(n, 1)
    for ax, k in zip(axes[0], ks):
        for j, c in enumerate(r["conditions"] + r["online"]):
            key = "online" if c in ONLINE else str(k)
            vals = [(r["table"][t][key].get(c) or {}).get("mean") for t in r["tasks"]]
            ax.bar(x + (j - n / 2 + 0.5) * width, [v if v is not None else 0 for v in vals], width,
                   color=colors[c], label=c)
        ax.set_xticks(x, [t.removesuffix("-v3") for t in r["tasks"]], rotation=30, ha="right")
        ax.set_title(f"k = {k} demos")
        ax.set_ylim(0, 1)
    axes[0][0].set_ylabel("success rate")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=8, bbox_to_anchor=(0.5, 1.0))
    fig.subplots_adjust(top=0.8)
    return fig


def run_ml10_eval(cfg: ML10EvalConfig) -> dict:
    from nsca.experiments.protocol import run_experiment

    return run_experiment(EXPERIMENT, cfg)
