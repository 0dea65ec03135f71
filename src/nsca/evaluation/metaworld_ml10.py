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
- bc:            the phase-0 plain BC MLP on the same demos (`nsca.learning.agents.bc`);
- sac_demos:     Stable-Baselines3 SAC given the same k demos, RLPD-style (`nsca.learning.demo_replay`:
                 the demo transitions kept in their own buffer, half of every batch), `--sac-steps`.
Online RL baselines (Stable-Baselines3, dense reward, `--sac-steps` / `--ppo-steps` env steps
per task and seed, no demos): sac, ppo. Published references are printed beside them.

Statistics (`summarize_ml10`): a cell's 95% CI is Student-t over seeds, cut to [0, 1] (n = seeds
x episodes printed beside it); a paired comparison pairs two conditions by seed on the mean over the task
set at one k (same seed = same demos and evaluation layouts), with its paired t CI and p, the
Holm-adjusted p over every paired comparison reported, and the minimum detectable effect at 80%
power. Fewer than 5 seeds: marked preliminary.
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
SB3_DEMOS = ("sac_demos",)      # SB3 learners given the k demos: a cell per (task, k, seed)
ONLINE = ("sac", "ppo")          # SB3 learners without demos: a cell per (task, seed)
WITH_DEMOS = FEWSHOT + SB3_DEMOS
CONDITIONS = WITH_DEMOS + ONLINE
PRELIMINARY_SEEDS = 5            # fewer seeds than this: a result is marked preliminary
# Published figures, each with its protocol (not re-measured here).
REFERENCES = {
    "ml10_meta_test_success_percent": {
        "source": "Yu et al. 2019, Meta-World, Table 1 (ML10 meta-test, v1 tasks, after meta-training on the 10 train tasks)",
        "RL2": 35.8, "MAML": 31.6, "PEARL": 13.0},
    "pick_place_online_success": {
        "source": "TD-MPC2 repository results CSVs (Meta-World pick-place, single task, online, dense reward)",
        "TD-MPC2": {"100k": 0.10, "500k": 0.77}, "SAC": {"500k": 0.00, "2M": 0.47}},
}
# The plan's success table (not measured here): "after training" = the babbling-pretrained model with the prior.
SEED_TABLE = {"5": {"after_training": 0.65, "after_training_pm": 0.08, "random_init": 0.22},
              "100": {"after_training": 0.95, "random_init": 0.93}}


@dataclass(frozen=True)
class ML10EvalConfig(RunConfig):
    """The suite's fields plus the run fields of every experiment."""

    n_seeds: int = seeds_field(3)
    out: str = out_field("runs/eval/metaworld-ml10")
    tasks: tuple[str, ...] = field(ML10_TEST, "test tasks (default: ML10's five held-out tasks)")
    demos_list: tuple[int, ...] = field((1, 5, 10, 25), "demo counts k (each >= 1; the plan's rows are k = 5 and 100)")
    conditions: tuple[str, ...] = field(CONDITIONS, f"conditions: {', '.join(CONDITIONS)}")
    checkpoint: str | None = field(None, "`nsca train` run (with the prior) for nsca_prior")
    checkpoint_noprior: str | None = field(None, "`nsca train --prior none` run for nsca_noprior")
    eval_episodes: int = field(30, "evaluation episodes per cell (the shared evaluation layouts)")
    episode_steps: int = field(500, "step cap of an episode (success at any step counts)")
    fewshot: FewShotConfig = field(FewShotConfig(), "fine-tuning of the NSCA conditions")
    bc_steps: int = field(2000, "gradient steps of the plain BC baseline (phase 0's)")
    sac_steps: int = field(30_000, "SAC env steps per (task, seed), and per (task, k, seed) for sac_demos")
    ppo_steps: int = field(200_000, "PPO env steps per (task, seed)")
    threads: int = field(1, "torch threads per cell")

    def validate(self) -> None:
        super().validate()
        bad = [c for c in self.conditions if c not in CONDITIONS]
        if bad:
            raise UsageError(f"unknown condition {bad[0]!r}; choose from {', '.join(CONDITIONS)}")
        if not self.demos_list or min(self.demos_list) < 1:
            raise UsageError(f"--demos-list: every k must be at least 1 (got {list(self.demos_list)}); "
                             "the online baselines sac and ppo use no demos")
        from nsca.envs.metaworld import DEMO_SEED_STRIDE

        if max(self.demos_list) > DEMO_SEED_STRIDE:
            raise UsageError(f"--demos-list: k = {max(self.demos_list)} exceeds the {DEMO_SEED_STRIDE} demo layouts "
                             "of a run seed")
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


def sb3_model(algo: str, env, seed: int, steps: int, demos=None):
    """The SB3 learner of `algo`; `demos` (Episodes) go into SAC's replay buffer before learning."""
    from stable_baselines3 import PPO, SAC

    if algo == "ppo":  # SB3's defaults (2048 steps per rollout, 10 epochs, batch 64, gae 0.95, gamma 0.99)
        return PPO("MlpPolicy", env, seed=seed, device="cpu", verbose=0, n_steps=min(2048, steps))
    extra: dict[str, Any] = {}
    if demos is not None:
        from nsca.learning.demo_replay import DemoReplayBuffer, demo_transitions

        extra = {"replay_buffer_class": DemoReplayBuffer, "replay_buffer_kwargs": {"demos": demo_transitions(demos)}}
    # SB3's defaults (256x256, lr 3e-4, batch 256, tau 0.005, gamma 0.99), 1k random steps first (with demos too:
    # sac_demos differs from sac by the demos alone)
    return SAC("MlpPolicy", env, seed=seed, device="cpu", verbose=0, learning_starts=min(1000, steps // 2), **extra)


def run_sb3(config: dict, cell_dir: Path) -> dict:
    import time

    import torch

    from nsca.envs.metaworld import load_or_collect_demos
    from nsca.envs.metaworld_gym import MetaWorldVecEnv, evaluate_sb3
    from nsca.utils.seeding import seed_everything

    task, algo, seed = config["task"], config["condition"], config["seed"]
    k = config["demos"] if algo in SB3_DEMOS else 0
    torch.set_num_threads(config["threads"])
    seed_everything(seed)
    demos = load_or_collect_demos(task, seed, k) if k else None  # the few-shot agents' demos of this seed
    env = MetaWorldVecEnv(task, seed, config["episode_steps"])
    steps = config["steps"]
    model = sb3_model("ppo" if algo == "ppo" else "sac", env, seed, steps, demos)
    t0 = time.time()
    model.learn(total_timesteps=steps)
    train_s = time.time() - t0
    ev = evaluate_sb3(model, task, config["eval_episodes"], config["episode_steps"])
    env.close()
    (cell_dir / "episodes.jsonl").write_text("".join(json.dumps({"success": bool(s), "return": float(r)}) + "\n"
                                                     for s, r in zip(ev["success"], ev["return"])))
    out = {"task": task, "demos": k, "condition": algo, "seed": seed, "env_steps": steps,
           "success_rate": float(np.mean(ev["success"])), "successes": int(sum(ev["success"])),
           "episodes": len(ev["success"]), "mean_return": float(np.mean(ev["return"])),
           "train_s": round(train_s, 1), "steps_per_s": round(steps / train_s, 1)}
    if demos is not None:
        out["demo_transitions"] = int(model.replay_buffer.demo.size())
    return out


def run_cell(config: dict, cell_dir: Path) -> dict:
    return (run_sb3 if config["condition"] in SB3_DEMOS + ONLINE else run_fewshot)(config, cell_dir)


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
                    elif c in SB3_DEMOS:
                        out += [Cell(f"{task}/{k}/{c}", s, {**shared, "steps": base["sac_steps"], "task": task,
                                                           "demos": k, "condition": c, "seed": s}) for k in cfg.demos_list]
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

# Paired comparisons (a - b), per k, paired by seed on the mean over the task set: what each one isolates.
COMPARISONS = (
    ("nsca_prior", "random_init", "pretraining + prior vs neither (the plan's 65% vs 22%)"),
    ("nsca_prior", "nsca_noprior", "the prior, given pretraining"),
    ("scratch_prior", "random_init", "the prior, without pretraining"),
    ("nsca_prior", "scratch_prior", "pretraining, given the prior"),
    ("nsca_prior", "bc", "NSCA vs plain BC on the same demos"),
    ("nsca_prior", "sac_demos", "NSCA vs SAC given the same demos (RLPD-style)"),
)


def seed_summary(rates: list[float], episodes: list[int]) -> dict:
    """A block over seeds: mean, 95% Student-t CI over seeds (None with one seed: no spread to
    estimate), n = seeds and the episodes behind each seed's number. The CI is cut to [0, 1]: a
    success rate lies there, so the cut loses no coverage."""
    from nsca.stats import summarize

    b = summarize(rates, ci="t")
    if b["ci95_low"] is not None:
        b["ci95_low"], b["ci95_high"] = max(b["ci95_low"], 0.0), min(b["ci95_high"], 1.0)
    per = sorted(set(episodes))
    return {**b, "ci": "t", "episodes_per_seed": per[0] if len(per) == 1 else None,
            "preliminary": len(rates) < PRELIMINARY_SEEDS}


def summarize_ml10(cfg: ML10EvalConfig, metrics: list[dict]) -> dict:
    """Cells and means over tasks with t CIs over seeds; every paired comparison (two conditions,
    one k, paired by seed on the mean over the task set) with its paired t CI and p, the Holm p
    over the whole family reported and the minimum detectable effect at 80% power."""
    from nsca.envs.metaworld import resolve_task
    from nsca.stats import holm, minimum_detectable_effect, paired_compare

    tasks = [resolve_task(t) for t in cfg.tasks]
    skip = not_run(cfg)
    with_demos = [c for c in cfg.conditions if c in WITH_DEMOS and c not in skip]
    online = [c for c in cfg.conditions if c in ONLINE]
    by: dict[tuple, dict[int, tuple[float, int]]] = {}
    for m in metrics:
        by.setdefault((m["task"], m["demos"], m["condition"]), {})[m["seed"]] = (m["success_rate"], m["episodes"])
    keys = [(str(k), k, c) for k in cfg.demos_list for c in with_demos] + [("online", 0, c) for c in online]
    table: dict = {}
    for t in tasks:
        for key, k, c in keys:
            cell = by.get((t, k, c), {})
            seeds = sorted(cell)
            table.setdefault(t, {}).setdefault(key, {})[c] = (
                seed_summary([cell[s][0] for s in seeds], [cell[s][1] for s in seeds]) if seeds else None)
    # Mean over tasks per (k, condition), per seed: the suite-level number and the unit of its paired tests.
    over_tasks: dict = {}
    per_seed: dict = {}
    for key, k, c in keys:
        seeds = [s for s in range(cfg.n_seeds) if all(s in by.get((t, k, c), {}) for t in tasks)]
        per_seed[(key, c)] = {s: float(np.mean([by[(t, k, c)][s][0] for t in tasks])) for s in seeds}
        episodes = [by[(t, k, c)][s][1] for t in tasks for s in seeds]
        over_tasks.setdefault(key, {})[c] = ({**seed_summary(list(per_seed[(key, c)].values()), episodes),
                                              "tasks": len(tasks)} if seeds else None)
    comparisons: dict = {}
    for a, b, what in COMPARISONS:
        if a not in with_demos or b not in with_demos:
            continue
        for k in map(str, cfg.demos_list):
            pa, pb = per_seed[(k, a)], per_seed[(k, b)]
            seeds = sorted(set(pa) & set(pb))
            if not seeds:
                continue
            comp = paired_compare([pa[s] for s in seeds], [pb[s] for s in seeds], seed=0)
            if not comp["sd_diff"]:  # one seed, or differences that do not vary: no t-test, no MDE (not p = 0, not 0)
                comp["p_paired_t"] = None
            comp.update(seeds=seeds, ties=comp["n"] - comp["wins"] - comp["losses"],
                        mde=minimum_detectable_effect(comp["per_seed_diff"]) if comp["sd_diff"] else None,
                        preliminary=len(seeds) < PRELIMINARY_SEEDS)
            comparisons.setdefault(f"{a} - {b}", {"what": what})[k] = comp
    # Holm over every comparison reported; one without a p enters as p = 1 (never rejected, still counted).
    family = [c for comp in comparisons.values() for k, c in comp.items() if k != "what"]
    family_size = len(family)
    for c, p in zip(family, holm([1.0 if c["p_paired_t"] is None else c["p_paired_t"] for c in family])):
        defined = c["p_paired_t"] is not None
        c["p_holm"] = p if defined else None
        c["mde_family"] = minimum_detectable_effect(c["per_seed_diff"], family=family_size) if defined else None
    blocks = [b for by_c in over_tasks.values() for b in by_c.values() if b]
    return {"tasks": tasks, "demos_list": list(cfg.demos_list), "conditions": with_demos, "online": online,
            "not_run": skip, "table": table, "mean_over_tasks": over_tasks, "comparisons": comparisons,
            "family_size": family_size, "plan_rows": plan_rows(cfg, with_demos, over_tasks, comparisons),
            "preliminary": cfg.n_seeds < PRELIMINARY_SEEDS or any(b["preliminary"] for b in blocks),
            "references": REFERENCES,
            "budget": {"sac_steps": cfg.sac_steps, "ppo_steps": cfg.ppo_steps, "eval_episodes": cfg.eval_episodes,
                       "episode_steps": cfg.episode_steps, "seeds": cfg.n_seeds}}


def plan_rows(cfg: ML10EvalConfig, with_demos: list[str], over_tasks: dict, comparisons: dict) -> dict:
    """The plan's two success-table rows (k = 5 and 100: the model after babbling pretraining,
    with the prior, vs random init) as measured here (means over tasks, paired by seed), with the
    plan's numbers beside them; a row that could not be measured says why."""
    rows = {}
    for k, plan in SEED_TABLE.items():
        row: dict = {"plan": plan, "nsca_prior": None, "random_init": None, "paired": None, "not_measured": None}
        if int(k) not in cfg.demos_list:
            row["not_measured"] = f"k = {k} is not in --demos-list"
        elif not {"nsca_prior", "random_init"} <= set(with_demos):
            row["not_measured"] = "it needs nsca_prior (--checkpoint) and random_init"
        else:
            row.update(nsca_prior=over_tasks[k]["nsca_prior"], random_init=over_tasks[k]["random_init"],
                       paired=comparisons.get("nsca_prior - random_init", {}).get(k))
        rows[k] = row
    return rows


def _num(v: float | None, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def _fmt(b: dict | None) -> str:
    if not b or b.get("mean") is None:
        return "-"
    ci = f" [{b['ci95_low']:.2f}, {b['ci95_high']:.2f}]" if b.get("ci95_low") is not None else ""
    eps = b.get("episodes_per_seed")
    n = f"n={b['n']}" + (f"x{b['tasks']}" if "tasks" in b else "") + (f"x{eps}" if eps is not None else " seeds")
    return f"{b['mean']:.2f}{ci} {n}"


def _mark(blocks) -> str:
    return f"  preliminary (n < {PRELIMINARY_SEEDS} seeds)" if any(b and b.get("preliminary") for b in blocks) else ""


def _paired(v: dict) -> str:
    lo, hi = v["diff_ci95_t"]
    ci = f" [{lo:+.3f}, {hi:+.3f}]" if lo is not None else ""
    p = _num(v["p_paired_t"]) if v["p_paired_t"] is not None or v["n"] < 2 else "- (SD 0)"
    return (f"{v['diff_abs']:+.3f}{ci}, paired t p {p}, Holm p {_num(v['p_holm'])}, "
            f"MDE {_num(v['mde'], '.2f')} ({_num(v['mde_family'], '.2f')}), SD {_num(v['sd_diff'])}, n={v['n']} seeds")


def format_report(r: dict) -> str:
    b = r["budget"]
    lines = [f"Meta-World ML10 held-out tasks: success within {b['episode_steps']} steps; a cell is the mean over seeds "
             "[95% Student-t CI over seeds] n=seeds x episodes per seed (x tasks for a mean over tasks)"]
    if r["preliminary"]:
        lines.append(f"PRELIMINARY (n < {PRELIMINARY_SEEDS} seeds): {b['seeds']} seeds per cell; "
                     "a difference here is not a finding")
    conds = r["conditions"]
    for t in r["tasks"]:
        lines.append(f"{t}:")
        for k in r["demos_list"]:
            row = r["table"][t][str(k)]
            lines.append(f"  k={k:>3}: " + "  ".join(f"{c} {_fmt(row.get(c))}" for c in conds) + _mark(row.values()))
        if r["online"]:
            row = r["table"][t]["online"]
            lines.append("  online: " + "  ".join(f"{c} {_fmt(row.get(c))}" for c in r["online"]) + _mark(row.values()))
    lines.append("mean over tasks:")
    for k in r["demos_list"]:
        row = r["mean_over_tasks"][str(k)]
        lines.append(f"  k={k:>3}: " + "  ".join(f"{c} {_fmt(row.get(c))}" for c in conds) + _mark(row.values()))
    if r["online"]:
        row = r["mean_over_tasks"]["online"]
        lines.append(f"  online (sac {b['sac_steps']:,} / ppo {b['ppo_steps']:,} env steps): " + "  ".join(
            f"{c} {_fmt(row.get(c))}" for c in r["online"]) + _mark(row.values()))
    lines.append("the plan's success table, measured (mean over tasks; after training = nsca_prior):")
    for k, row in r["plan_rows"].items():
        p = row["plan"]
        plan = (f"the plan's: {p['after_training']:.0%}" + (f" ± {p['after_training_pm']:.0%}" if "after_training_pm" in p
                                                            else "") + f" vs {p['random_init']:.0%} random init")
        if row["not_measured"]:
            lines.append(f"  k={k}: not measured ({row['not_measured']})  | {plan}")
            continue
        paired = f"; paired {_paired(row['paired'])}" if row["paired"] else ""
        lines.append(f"  k={k}: measured nsca_prior {_fmt(row['nsca_prior'])} vs random_init {_fmt(row['random_init'])}"
                     f"{paired}{_mark([row['nsca_prior'], row['random_init']])}  | {plan}")
    lines.append(f"paired differences a - b, paired by seed on the mean over the {len(r['tasks'])} task(s) (same demos, "
                 f"same evaluation layouts): mean [95% paired t CI], paired t p, Holm p over the family of "
                 f"{r['family_size']} (a comparison without a p counted as p = 1), MDE = minimum detectable effect "
                 "at 80% power, two-sided alpha 0.05 "
                 f"(in brackets: at alpha 0.05/{r['family_size']}, Holm's strictest step), SD of the differences:")
    for name, comp in r["comparisons"].items():
        for k, v in comp.items():
            if k != "what":
                lines.append(f"  {name} @ k={k}: {_paired(v)}, {v['wins']}W {v['losses']}L {v['ties']}T  "
                             f"({comp['what']}){_mark([v])}")
    ref = r["references"]["ml10_meta_test_success_percent"]
    lines.append(f"references: ML10 meta-test (Yu et al. Table 1): RL2 {ref['RL2']}%, MAML {ref['MAML']}%, "
                 f"PEARL {ref['PEARL']}%; TD-MPC2 CSVs, pick-place online: TD-MPC2 0.10 @100k, 0.77 @500k; "
                 "SAC 0.00 @500k, 0.47 @2M")
    for c, why in r["not_run"].items():
        lines.append(f"not run: {c} ({why})")
    return "\n".join(lines)


def results_csv(r: dict) -> str:
    """One row per (task, k, condition) cell; empty CI bounds where one seed leaves them undefined."""
    rows = ["task,demos,condition,mean,ci95_low,ci95_high,ci,n_seeds,episodes_per_seed"]
    for t, by_k in r["table"].items():
        for k, by_c in by_k.items():
            for c, b in by_c.items():
                if b:
                    lo, hi = ("" if v is None else f"{v:.4f}" for v in (b["ci95_low"], b["ci95_high"]))
                    eps = "" if b["episodes_per_seed"] is None else b["episodes_per_seed"]
                    rows.append(f"{t},{0 if k == 'online' else k},{c},{b['mean']:.4f},{lo},{hi},{b['ci']},{b['n']},{eps}")
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
