"""Phase 0, the lethality test: does an innate physics prior make few-demo learning work?

Grids (`--grid`):
- `default`: the planner (MPPI around BC through the NSCA world model, scored by the analytic
  goal cost) with its prior weight held at 0.9 / 0.5 / 0.1, or no prior (`none`), plus plain BC,
  the floor: the seed's question. Its verdict is the pre-registered rule (VERDICT_RULE) on three
  paired contrasts; `--preset confirm` runs the pre-registered confirmation (fresh seeds and
  layouts, >= 15 seeds), `--preset screen` the screening seeds and layouts;
- `decomposition`: {learned model, simulator} x {goal cost, Meta-World's reward} per prior, plus
  the policy-side corrective agent, BC and augmented BC (its floor; see nsca.learning.agents);
- `curves`: demos x tasks x (`--curve-agents`) x seeds: data-efficiency curves.
A cell collects `demos` expert demos on its seed's demo layouts, calibrates the innate laws by
self-observation (motor babbling, no demos, no reward), fits the agent and evaluates it on the
shared evaluation layouts. Conditions share BC, layouts and planner noise per seed, so the
statistics are paired.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from nsca.config import field, from_dict
from nsca.errors import ConfigError, UsageError
from nsca.experiments.protocol import Experiment, RunConfig, out_field, seed_bars, seeds_field
from nsca.learning.agents import AgentConfig
from nsca.runner import Cell
from nsca.stats import minimum_detectable_effect, paired_compare, summarize
from nsca.utils.io import atomic_write_text

VERDICT_RULE = (
    "Pre-registered (docs/lethality.md, \"The pre-registered confirmation\"): per-seed success differences "
    "C1 = prior_0.9 - prior_0.5, C2 = prior_0.9 - none, C3 = prior_0.9 - bc, each with its 95% paired bootstrap CI "
    "and paired t p, Holm-adjusted over the three; a contrast is established when its Holm p < 0.05 and its CI "
    "excludes 0. UNINFORMATIVE if the prior_0.9 planner executed no plan (departure rate 0; checked first); "
    "HURTING if C1 or C2 is established below 0; VALIDATED if C1 is established above 0 with a relative gain of "
    "more than 20%; otherwise TOO WEAK."
)
VERDICTS = {
    "validated": "core hypothesis validated — proceed",
    "too_weak": "prior mechanism too weak — debug AdaptivePhysicsPrior",
    "hurting": "priors are hurting — redesign",
    "uninformative": "uninformative: the agent never used the model",
}
CONTRASTS = (("prior_0.9", "prior_0.5"), ("prior_0.9", "none"), ("prior_0.9", "bc"))
GATE_GAIN = 0.2  # the plan's gate: prior 0.9 beats 0.5 by more than 20% (relative)
PLANNED_EFFECT = 0.074  # the success gain the confirmation's 15 seeds detect with 80% power (docs/lethality.md, Power)
# Fields that only choose which cells exist: a rerun that changes them extends (or narrows) the
# grid and reuses every finished cell whose own config is unchanged (the runner checks each cell).
# The run fields (n_seeds, workers, out, backend, address) may change too (nsca.experiments.protocol).
_GRID_FIELDS = ("n_seeds", "priors", "bc_floor", "tasks", "demos_list", "curve_agents")
# Parallel evaluation episodes of an agent that acts on a batch (its numbers do not depend on this: tested).
EVAL_BATCH = 50  # one batch for a 50-episode cell: the per-step agent call is shared by all (was 16)
MAX_SEED = 10_000  # demo layouts (seed * 1000 + i) stay below the evaluation layouts (>= 10_000_000)


@dataclass(frozen=True)
class LethalityConfig(RunConfig):
    PRESETS: ClassVar[str] = "lethality"

    preset: str = field("default", "named block of presets.yaml's lethality section: default, screen (the planner's "
                                   "screening: seeds and layouts never evaluated), confirm (the pre-registered run), "
                                   "untuned (the same design on four other tasks)")
    n_seeds: int = seeds_field(5)
    workers: int = field(2, "parallel worker processes")
    out: str = out_field("runs/lethality")
    task: str = field("pick-place-v2", "Meta-World task (v2 names map to the installed v3)")
    demos: int = field(5, "expert demonstrations per seed")
    first_seed: int = field(0, "seeds first_seed .. first_seed + n_seeds - 1 (each seed's demo layouts: seed * 1000 + i)")
    layout_base: int = field(10_000_000, "evaluation layouts layout_base + i, shared by every condition and seed")
    priors: list[str] = field(["0.9", "0.5", "0.1", "none"],
                              "prior weights, w held fixed; 'none' = no prior term; 'learned_w_0.9' = w learned from 0.9")
    bc_floor: bool = field(True, "also run plain MLP BC on the same demos (the floor the baseline must not fall below)")
    eval_episodes: int = field(50, "evaluation episodes per cell, on layouts disjoint from the demos")
    episode_steps: int = field(150, "step cap per evaluation episode (the expert needs ~55; Meta-World's cap is 500)")
    calibration_steps: int = field(800, "self-observation steps that calibrate the innate laws (motor babbling)")
    grid: Literal["default", "decomposition", "curves"] = field("default", "which grid to run (see docs/lethality.md)")
    tasks: list[str] = field(["pick-place", "push", "drawer-open", "reach", "button-press-topdown"], "curves grid: tasks")
    demos_list: list[int] = field([5, 10, 25, 100], "curves grid: demo counts")
    curve_agents: list[str] = field(["bc", "none", "prior_0.9"], "curves grid: conditions (names as in the decomposition)")
    sim_eval_episodes: int = field(10, "evaluation episodes for oracle cells (simulator model or true reward: ~100x slower per step)")
    agent: AgentConfig = dataclasses.field(default_factory=AgentConfig, metadata={
        "help": "the agent (kind, prior, learn_prior, model, score and augment are set by each condition)"})

    def validate(self) -> None:
        super().validate()
        for name in ("demos", "eval_episodes", "episode_steps", "sim_eval_episodes", "calibration_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"must be at least 1, got {getattr(self, name)}")
        if any(d < 1 for d in self.demos_list):
            raise ConfigError("demos_list", f"needs counts of at least 1, got {self.demos_list}")
        if not 0 <= self.first_seed or self.first_seed + self.n_seeds > MAX_SEED:
            raise ConfigError("first_seed", f"must keep every seed in [0, {MAX_SEED}), got {self.first_seed}")
        if not 10_000_000 <= self.layout_base <= 2**31 - 1 - self.eval_episodes:
            raise ConfigError("layout_base", f"must be in [10000000, 2**31 - eval_episodes): below it lie the demo "
                                             f"layouts, above it babbling's; got {self.layout_base}")
        if self.preset == "confirm" and (self.n_seeds < CONFIRM_SEEDS or self.eval_episodes < CONFIRM_EPISODES):
            raise ConfigError("n_seeds", f"of the pre-registered confirmation must be >= {CONFIRM_SEEDS} with "
                                         f">= {CONFIRM_EPISODES} eval episodes, got {self.n_seeds} x {self.eval_episodes}")
        if self.grid == "curves":
            if not self.tasks or not self.curve_agents:
                raise ConfigError("tasks", "and curve_agents must not be empty in the curves grid")
            for name in self.curve_agents:
                parse_condition(name)
        if not self.priors:
            raise ConfigError("priors", "needs at least one value")
        seen = set()
        for p in self.priors:
            name = condition_name(p)
            if name in seen:
                raise ConfigError("priors", f"lists {p} twice")
            seen.add(name)

    @property
    def seeds(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.n_seeds))


CONFIRM_SEEDS, CONFIRM_EPISODES = 15, 50  # the pre-registered design's minimum (docs/lethality.md)


def parse_prior(text: str) -> float | None:
    if str(text).lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"prior '{text}' is not a number or 'none'") from None
    if not np.isfinite(value) or value <= 0:
        raise UsageError(f"prior must be a positive number (softplus weight) or 'none', got {text}")
    return value


def condition_name(prior: str) -> str:
    """A `--priors` entry -> its planner condition: `0.9` -> prior_0.9, `none`, `learned_w_0.9`."""
    text = str(prior)
    if text.startswith("learned_w_"):
        weight = parse_prior(text[len("learned_w_"):])
        if weight is None:
            raise UsageError(f"'{text}': without a prior there is no weight to learn")
        return f"learned_w_{weight:g}"
    return "none" if text.lower() == "none" else f"prior_{parse_prior(text):g}"


def parse_condition(name: str) -> dict:
    """A condition name -> the agent fields it sets. Names: `bc`, `bc_augmented` (BC on the
    corrective agent's displaced states, demo labels); `none` / `prior_0.9` (planner, the learned
    model with w fixed, the goal cost) / `learned_w_0.9` (w learned from 0.9); `<that>+true`
    (Meta-World's reward as the score: an oracle); `sim+cost`, `sim+true` (the simulator as the
    model); `corrective_<prior>` / `corrective_none` / `corrective_learned_w_<prior>`."""
    base, _, score = name.partition("+")
    if score not in ("", "cost", "true"):
        raise UsageError(f"unknown score '{score}' in condition '{name}'; use cost or true")
    fields = {"kind": "planner", "prior": None, "learn_prior": False, "model": "learned", "score": score or "cost",
              "augment": False}
    if base in ("bc", "bc_augmented"):
        if score:
            raise UsageError(f"condition '{name}': plain BC has no score to choose")
        return {**fields, "kind": "bc", "augment": base == "bc_augmented"}
    if base == "sim":
        return {**fields, "model": "sim"}
    if base.startswith("corrective_"):
        if score:
            raise UsageError(f"condition '{name}': the corrective agent does not plan, so it has no score")
        fields["kind"], base = "corrective", base[len("corrective_"):]
    if base.startswith("learned_w_"):
        fields["learn_prior"], base = True, base[len("learned_w_"):]
    elif base.startswith("prior_"):
        base = base[len("prior_"):]
    try:
        fields["prior"] = parse_prior(base)
    except UsageError:
        raise UsageError(f"unknown agent or condition '{name}'; see docs/lethality.md for the names") from None
    if fields["learn_prior"] and fields["prior"] is None:
        raise UsageError(f"condition '{name}': without a prior there is no weight to learn")
    return fields


def cell_config(cfg: LethalityConfig, condition: str, seed: int, task: str | None = None, demos: int | None = None) -> dict:
    """Everything a cell's numbers depend on (and nothing else: workers, paths, fields its kind of
    agent never reads are excluded): the agent config with the condition's fields filled in (only
    the fields that agent reads), plus task, seed, layouts and budget."""
    from nsca.learning.agents import agent_fields

    agent = dataclasses.replace(cfg.agent, **parse_condition(condition))
    return {
        "task": task or cfg.task, "seed": seed, "demos": demos or cfg.demos, "layout_base": cfg.layout_base,
        "eval_episodes": cfg.sim_eval_episodes if agent.is_oracle else cfg.eval_episodes,
        "episode_steps": cfg.episode_steps, "calibration_steps": cfg.calibration_steps, "agent": agent_fields(agent),
    }


@functools.lru_cache(maxsize=8)
def calibrated_constants(task: str, steps: int):
    """The innate laws' constants from self-observation on this task (seed 0: shared by all cells)."""
    from nsca.envs.metaworld import MetaWorldTask
    from nsca.priors.calibrate import calibrate_env

    env = MetaWorldTask(task)
    try:
        return calibrate_env(env, env.dt_s, steps=steps, seed=0)
    finally:
        env.close()


VALIDATION_STEPS = 400  # self-observed transitions on which a planner's model error is measured


@functools.lru_cache(maxsize=8)
def validation_babble(task: str, steps: int = VALIDATION_STEPS) -> dict:
    """Motor babbling on the task (seed 1: not the calibration's seed 0; no demos, no reward):
    where the planner's trust in its model is validated under arbitrary actions."""
    from nsca.envs.metaworld import MetaWorldTask
    from nsca.priors.calibrate import self_observe

    env = MetaWorldTask(task)
    try:
        return self_observe(env, steps, seed=1)
    finally:
        env.close()


def evaluate(agent, env, task: str, layouts: list[int], max_steps: int) -> list:
    """The agent's episodes on `layouts`: stepped together on a batch of EVAL_BATCH environments,
    the agent called once per control step for all, or one at a time for an oracle agent (it
    holds the one environment's simulator)."""
    from nsca.envs.metaworld import rollout, rollout_batch
    from nsca.envs.metaworld_batch import MetaWorldBatch

    agent.start_evaluation()
    if agent.oracle is None:
        batch = MetaWorldBatch(task, min(EVAL_BATCH, len(layouts)))
        try:
            return rollout_batch(batch, layouts, agent.act_batch, max_steps=max_steps)
        finally:
            batch.close()
    eps = []
    for i, layout in enumerate(layouts):
        act = lambda obs, i=i: agent.act_batch([i], obs[None], env.state(obs)[None])[0]  # noqa: E731
        eps.append(rollout(env, layout, act, max_steps=max_steps))
    return eps


def run_cell(c: dict, cell_dir: Path) -> dict:
    """One (condition, seed): demos -> calibrate -> fit agent -> evaluate. Pure given its config."""
    from nsca.envs.metaworld import MetaWorldTask, load_or_collect_demos
    from nsca.learning.agents import make_agent
    from nsca.learning.agents.planner import Oracle
    from nsca.utils.seeding import seed_everything

    seed_everything(c["seed"])
    env = MetaWorldTask(c["task"])
    t0 = time.time()
    demos = load_or_collect_demos(c["task"], c["seed"], c["demos"], env=env)
    constants = calibrated_constants(c["task"], c["calibration_steps"])
    agent_cfg = from_dict(AgentConfig, c["agent"])  # omitted fields: defaults this kind never reads
    agent = make_agent(agent_cfg, c["seed"], constants, Oracle(env) if agent_cfg.is_oracle else None)
    init_weight = (agent_cfg.prior or 0.0) if agent_cfg.uses_world_model else 0.0
    gated = agent_cfg.kind == "planner" and agent_cfg.model == "learned" and agent_cfg.score == "cost" and agent_cfg.gate
    train = agent.fit(demos, babble=validation_babble(c["task"]) if gated else None)
    t_train = time.time() - t0
    layouts = [c["layout_base"] + i for i in range(c["eval_episodes"])]
    eps = evaluate(agent, env, c["task"], layouts, c["episode_steps"])
    env.close()
    episodes = [{"layout_seed": ep.layout_seed, "success": ep.success, "steps": ep.length,
                 "return": float(ep.rewards.sum())} for ep in eps]
    atomic_write_text(cell_dir / "episodes.jsonl", "".join(json.dumps(e) + "\n" for e in episodes))
    stats = agent.plan_stats
    return {
        "success_rate": float(np.mean([e["success"] for e in episodes])),
        "mean_episode_steps": float(np.mean([e["steps"] for e in episodes])),
        "mean_return": float(np.mean([e["return"] for e in episodes])),
        "planner_departure_rate": stats["departed"] / stats["plans"] if stats.get("plans") else None,
        "plans": stats.get("plans", 0),
        "prior_weight_init": init_weight,
        "prior_weight_final": agent.prior_weight,
        "train": train,
        "timing_s": {"train": round(t_train, 2), "eval": round(time.time() - t0 - t_train, 2)},
    }


def conditions(cfg: LethalityConfig) -> list[str]:
    planners = [condition_name(p) for p in cfg.priors]
    if cfg.grid == "decomposition":
        conds = [c for p in planners for c in (p, p + "+true")] + ["sim+cost", "sim+true"]
        conds += ["corrective_" + p.removeprefix("prior_") for p in planners]
        return conds + (["bc", "bc_augmented"] if cfg.bc_floor else [])
    return planners + (["bc"] if cfg.bc_floor else [])


def grid_cells(cfg: LethalityConfig) -> list[Cell]:
    """Seed-major: a worker's consecutive cells are mostly the same seed's conditions, which share
    one BC fit (`fit_bc` keeps it) -- the order changes no number, only the time."""
    from nsca.envs.metaworld import resolve_task

    if cfg.grid == "curves":
        cells = []
        for task in cfg.tasks:
            t = resolve_task(task)
            for demos in cfg.demos_list:
                for seed in cfg.seeds:
                    for name in cfg.curve_agents:
                        cells.append(Cell(f"{t}/d{demos}/{name}", seed, cell_config(cfg, name, seed, t, demos)))
        return cells
    return [Cell(name, seed, cell_config(cfg, name, seed)) for seed in cfg.seeds for name in conditions(cfg)]


def build_report(cfg: LethalityConfig, records: list[dict]) -> dict:
    by_cond: dict[str, list[dict]] = {}
    for r in sorted(records, key=lambda r: r["seed"]):
        by_cond.setdefault(r["condition"], []).append(r)
    table = {}
    for name, rs in by_cond.items():
        rates = [r["metrics"]["success_rate"] for r in rs]
        departures = [r["metrics"].get("planner_departure_rate") for r in rs]
        plans = sum(r["metrics"].get("plans", 0) for r in rs)
        table[name] = {
            **summarize(rates),
            "per_seed": rates,
            "seeds": [r["seed"] for r in rs],
            "prior_weight_final": float(np.mean([r["metrics"]["prior_weight_final"] for r in rs])),
            "eval_episodes": rs[0]["config"]["eval_episodes"],
            # plans that left BC / plans made, over all the condition's cells (None: not a planner)
            "departure_rate": (sum((d or 0) * r["metrics"].get("plans", 0) for d, r in zip(departures, rs)) / plans
                               if plans else None),
        }
    rates = {k: v["per_seed"] for k, v in table.items()}
    comparisons = {}
    for a, b in comparison_pairs(list(rates)):
        if table[a]["eval_episodes"] == table[b]["eval_episodes"]:
            comparisons[f"{a} vs {b}"] = paired_compare(rates[a], rates[b])
        else:  # e.g. an oracle cell (10 layouts) vs BC (50): compare on the layouts both saw
            ra, rb, shared = shared_layout_rates(Path(cfg.out), by_cond[a], by_cond[b])
            comparisons[f"{a} vs {b}"] = {**paired_compare(ra, rb), "shared_layouts": shared}
    report = {
        "grid": cfg.grid, "preset": cfg.preset, "task": cfg.task, "demos": cfg.demos, "n_seeds": cfg.n_seeds,
        "seeds": cfg.seeds, "layout_base": cfg.layout_base, "eval_episodes": cfg.eval_episodes,
        "table": table, "comparisons": comparisons,
    }
    if cfg.grid == "curves":
        from nsca.experiments.lethality_curves import answer

        report["curves"] = answer(report)
        report["per_group"] = group_verdicts(rates, table)
        report.update(verdict_text="see the per-task answer", verdict="not_applicable", verdict_rule=VERDICT_RULE)
    else:
        report["preregistered"] = preregistered(rates)
        report.update(verdict(report["preregistered"], table))
    return report


def preregistered(rates: dict[str, list[float]]) -> dict:
    """The three planned contrasts (CONTRASTS), each paired by seed, Holm-adjusted over the three;
    the gate's relative gain with its paired bootstrap CI; the minimum detectable effect."""
    from nsca.stats import holm

    out = {}
    for a, b in CONTRASTS:
        if a in rates and b in rates:
            out[f"{a} vs {b}"] = paired_compare(rates[a], rates[b])
    for c, p in zip(out.values(), holm([c["p_paired_t"] for c in out.values()])):
        c["p_holm"] = p
        lo, hi = c["diff_ci95"]
        c["established"] = bool(p is not None and p < 0.05 and lo is not None and (lo > 0 or hi < 0))
        c["mde"] = minimum_detectable_effect(c["per_seed_diff"], family=len(out))
    gate = out.get("prior_0.9 vs prior_0.5")
    if gate is not None:
        gate["diff_rel_ci95"] = relative_gain_ci(rates["prior_0.9"], rates["prior_0.5"])
    return out


SCREENED_TASK = "pick-place-v3"  # the task the planner's settings were chosen on (docs/lethality.md, "Screening")


def group_verdicts(rates: dict[str, list[float]], table: dict) -> dict:
    """The default grid's design applied unchanged to every `<task>/d<demos>` group of a curves
    grid that has its conditions: its three contrasts (Holm over the three, within the group) and
    its verdict, marked untuned on every task but the one the settings were chosen on."""
    out = {}
    for prefix, conds in task_groups(list(rates)).items():
        if "prior_0.9" not in conds or "prior_0.5" not in conds:
            continue
        sub_rates = {c: rates[f"{prefix}/{c}"] for c in conds}
        sub_table = {c: table[f"{prefix}/{c}"] for c in conds}
        contrasts = preregistered(sub_rates)
        out[prefix] = {"task": prefix.split("/")[0], "untuned": prefix.split("/")[0] != SCREENED_TASK,
                       "contrasts": contrasts, **verdict(contrasts, sub_table), **headroom(sub_rates)}
    return out


def headroom(rates: dict[str, list[float]]) -> dict:
    """BC's success and what it leaves to gain (1 - BC). Below PLANNED_EFFECT, the gain the
    confirmation was powered for, the design cannot show that gain on this task: a "too weak"
    there says the task is at BC's ceiling, not that the prior failed (the verdict itself stays
    the pre-registered rule's)."""
    if "bc" not in rates:
        return {}
    bc = float(np.mean(rates["bc"]))
    return {"bc_mean": bc, "headroom": 1.0 - bc, "at_ceiling": bool(1.0 - bc < PLANNED_EFFECT)}


def _grid_scope(report: dict) -> str:
    """'task, N demos' for a one-task grid; the tasks and demo counts of a curves grid."""
    if report.get("grid") != "curves":
        return f"{report['task']}, {report['demos']} demos"
    prefixes = [p for p in task_groups(list(report["table"])) if p]
    tasks = list(dict.fromkeys(p.split("/")[0] for p in prefixes))
    demos = list(dict.fromkeys(p.split("/")[1].removeprefix("d") for p in prefixes if "/" in p))
    return f"{', '.join(tasks)} at {' and '.join(demos)} demos"


def relative_gain_ci(a: list[float], b: list[float], n_boot: int = 10_000, seed: int = 0) -> list[float | None]:
    """Paired percentile bootstrap CI of mean(a - b) / mean(b), seeds resampled together."""
    a_, b_ = np.asarray(a, float), np.asarray(b, float)
    if a_.size < 2:
        return [None, None]
    idx = np.random.default_rng(seed).integers(0, a_.size, size=(n_boot, a_.size))
    base = b_[idx].mean(1)
    ok = base > 0
    if not ok.any():
        return [None, None]
    rel = (a_[idx].mean(1)[ok] - base[ok]) / base[ok]
    lo, hi = np.quantile(rel, [0.025, 0.975])
    return [float(lo), float(hi)]


def shared_layout_rates(root: Path, a: list[dict], b: list[dict]) -> tuple[list[float], list[float], int]:
    """Per-seed success rates of two conditions on the evaluation layouts both ran (from each
    cell's episodes.jsonl), so cells with different episode budgets are compared like for like."""
    def episodes(r: dict) -> dict[int, bool]:
        path = root / r["condition"] / str(r["seed"]) / "episodes.jsonl"
        try:
            return {e["layout_seed"]: bool(e["success"]) for e in map(json.loads, path.read_text().splitlines())}
        except (OSError, ValueError, KeyError) as exc:
            raise UsageError(f"{path}: cannot read the cell's episodes ({exc}); rerun the cell") from None

    rb = {r["seed"]: r for r in b}
    ra_out, rb_out, shared = [], [], None
    for r in sorted(a, key=lambda r: r["seed"]):
        if r["seed"] not in rb:
            continue
        ea, eb = episodes(r), episodes(rb[r["seed"]])
        common = sorted(set(ea) & set(eb))
        if not common:
            raise UsageError(f"{r['condition']} and {rb[r['seed']]['condition']} share no evaluation layout (seed {r['seed']})")
        shared = len(common) if shared is None else min(shared, len(common))
        ra_out.append(float(np.mean([ea[k] for k in common])))
        rb_out.append(float(np.mean([eb[k] for k in common])))
    return ra_out, rb_out, shared or 0


def task_groups(names: list[str]) -> dict[str, list[str]]:
    """Condition names grouped by their `<task>/d<demos>` prefix ('' in the default grid)."""
    groups: dict[str, list[str]] = {}
    for n in names:
        prefix, _, cond = n.rpartition("/")
        groups.setdefault(prefix, []).append(cond)
    return groups


def comparison_pairs(names: list[str]) -> list[tuple[str, str]]:
    """The paired comparisons a grid's conditions support (within one task/demos group)."""
    pairs = []
    for prefix, conds in task_groups(names).items():
        full = (lambda c, p=prefix: f"{p}/{c}") if prefix else (lambda c: c)  # noqa: E731
        wanted = [*CONTRASTS, ("prior_0.1", "prior_0.9"), ("none", "bc"), ("sim+cost", "bc"), ("sim+true", "bc"),
                  ("sim+true", "sim+cost"), ("none+true", "bc"), ("bc_augmented", "bc")]
        for c in conds:
            planner = c.startswith(("prior_", "learned_w_"))
            if planner and "+" not in c:
                wanted += [(c, "none"), (c + "+true", "none+true"), (c, "bc")]
            if planner and c.endswith("+true"):  # e.g. a grid of the +true planners only
                wanted.append((c, "none+true"))
            if c.startswith("learned_w_") and "+" not in c:
                wanted.append((c, "prior_" + c.removeprefix("learned_w_")))
            if c.startswith("corrective_"):
                wanted += [(c, "bc_augmented"), (c, "bc")]
                if c != "corrective_none":
                    wanted += [(c, "corrective_none"), (c, "none")]
        seen = set()
        for a, b in wanted:
            if a in conds and b in conds and (a, b) not in seen:
                seen.add((a, b))
                pairs.append((full(a), full(b)))
    return pairs


def verdict(contrasts: dict, table: dict) -> dict:
    """The pre-registered rule (VERDICT_RULE) on the three contrasts; the departure rates of the
    planners it reads are part of every verdict."""
    rates = {c: table[c]["departure_rate"] for c in ("prior_0.9", "prior_0.5", "none") if c in table}
    said = "departure rate " + ", ".join(f"{c} {_pct(r)}" for c, r in rates.items())
    gate, vs_none = contrasts.get("prior_0.9 vs prior_0.5"), contrasts.get("prior_0.9 vs none")
    if gate is None:
        return {"verdict": "not_applicable", "verdict_text": f"verdict needs priors 0.9 and 0.5; {said}",
                "verdict_rule": VERDICT_RULE, "departure_rates": rates}
    if not rates.get("prior_0.9"):  # 0 or None: no plan left BC
        key = "uninformative"
    elif any(c is not None and c["established"] and c["diff_abs"] < 0 for c in (gate, vs_none)):
        key = "hurting"
    elif gate["established"] and gate["diff_abs"] > 0 and (gate["diff_rel"] or 0) > GATE_GAIN:
        key = "validated"
    else:
        key = "too_weak"
    mde = gate.get("mde")
    detail = f"{said}; 0.9 vs 0.5 {gate['diff_abs']:+.3f} (rel {_pct(gate['diff_rel'])}), paired CI " \
             f"[{gate['diff_ci95'][0]:+.3f}, {gate['diff_ci95'][1]:+.3f}], Holm p {_num(gate['p_holm'])}, " \
             f"n {gate['n']}, MDE {_num(mde)}"
    return {"verdict": key, "verdict_text": f"{VERDICTS[key]} ({detail})", "verdict_rule": VERDICT_RULE,
            "departure_rates": rates}


def _pct(x) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def _num(x, f: str = ".3g") -> str:
    return "n/a" if x is None else format(x, f)


def format_report(report: dict) -> str:
    seeds = report.get("seeds") or []
    where = f"seeds {seeds[0]}-{seeds[-1]}, layouts from {report['layout_base']}" if seeds else ""
    lines = [f"Lethality test ({report.get('grid', 'default')} grid, preset {report.get('preset', 'default')}): "
             f"{_grid_scope(report)}, {report['n_seeds']} seeds x {report['eval_episodes']} "
             f"eval episodes per cell ({where})", "",
             f"{'condition':<24} {'success':>8} {'std':>6} {'95% CI':>15} {'IQM':>6} {'prior_w':>8} {'plans':>7}  per seed"]
    for name, row in report["table"].items():
        ci = f"[{row['ci95_low']:.2f}, {row['ci95_high']:.2f}]"
        per = " ".join(f"{x:.2f}" for x in row["per_seed"])
        lines.append(f"{name:<24} {row['mean']:>8.3f} {row['std']:>6.3f} {ci:>15} {row['iqm']:>6.3f} "
                     f"{row['prior_weight_final']:>8.3f} {_pct(row.get('departure_rate')):>7}  {per}")
    lines += ["(plans: the share of planning steps whose plan was executed instead of BC's action)", "",
              "Paired comparisons (same seed = same demos, BC, layouts and planner noise):"]
    for name, c in report["comparisons"].items():
        lines.append(f"{name}: paired diff {c['diff_abs']:+.3f} (rel {_pct(c['diff_rel'])}), 95% paired CI "
                     f"[{c['diff_ci95'][0]:+.3f}, {c['diff_ci95'][1]:+.3f}], paired t p={_num(c['p_paired_t'])}, "
                     f"Wilcoxon p={_num(c['p_wilcoxon'])}, d_z={_num(c['effect_dz'], '.2f')}, "
                     f"wins/losses {c['wins']}/{c['losses']}"
                     + (f" (on the {c['shared_layouts']} layouts both ran)" if "shared_layouts" in c else ""))
    if report.get("preregistered"):
        lines += ["", "Pre-registered contrasts (Holm over the three; MDE: the smallest true difference these seeds "
                      "detect with 80% power at alpha 0.05/3):"]
        for name, c in report["preregistered"].items():
            rel_ci = c.get("diff_rel_ci95")
            lines.append(f"  {name}: {c['diff_abs']:+.3f} [{c['diff_ci95'][0]:+.3f}, {c['diff_ci95'][1]:+.3f}]"
                         + (f", rel {_pct(c['diff_rel'])} [{_pct(rel_ci[0])}, {_pct(rel_ci[1])}]" if rel_ci else "")
                         + f", Holm p {_num(c['p_holm'])}, MDE {_num(c['mde'])}, "
                         + ("established" if c["established"] else "not established"))
    if "curves" in report:
        from nsca.experiments.lethality_curves import answer_lines

        lines += ["", *answer_lines(report)]
    if report.get("per_group"):
        lines += ["", f"The pre-registered design per task and demo count (Holm over its three contrasts within each "
                      f"group; untuned = settings chosen on {SCREENED_TASK} only, applied unchanged):"]
        for prefix, g in report["per_group"].items():
            room = ""
            if "bc_mean" in g:
                room = f" [BC {g['bc_mean']:.3f}: headroom {g['headroom']:.3f}" + (
                    f", below the {PLANNED_EFFECT} the design is powered for: at BC's ceiling]"
                    if g["at_ceiling"] else "]")
            lines.append(f"  {prefix}{' (untuned)' if g['untuned'] else ''}{room}: {g['verdict_text']}")
            for name, c in g["contrasts"].items():
                lines.append(f"      {name}: {c['diff_abs']:+.3f} [{c['diff_ci95'][0]:+.3f}, {c['diff_ci95'][1]:+.3f}], "
                             f"Holm p {_num(c['p_holm'])}, MDE {_num(c['mde'])}, "
                             + ("established" if c["established"] else "not established"))
    lines += ["", f"Verdict: {report['verdict_text']}", f"Rule: {report['verdict_rule']}"]
    if "wall_time_s" in report:
        lines.append(f"Wall time: {report['wall_time_s']:.0f} s")
    return "\n".join(lines)


def results_csv(report: dict) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["condition", "n", "mean", "std", "ci95_low", "ci95_high", "iqm", "prior_weight_final", "departure_rate",
                "per_seed"])
    for name, row in report["table"].items():
        w.writerow([name, row["n"], row["mean"], row["std"], row["ci95_low"], row["ci95_high"], row["iqm"],
                    row["prior_weight_final"], row.get("departure_rate"), " ".join(f"{x:.4f}" for x in row["per_seed"])])
    return buf.getvalue()


def plot_report(report: dict):
    """Success rate per condition: mean with its 95% bootstrap CI, each seed a dot."""
    import matplotlib.pyplot as plt

    names = list(report["table"])
    rows = [report["table"][n] for n in names]
    fig, ax = plt.subplots(figsize=(1.4 * len(names) + 2, 3.6))
    err = np.array([[r["mean"] - r["ci95_low"] for r in rows], [r["ci95_high"] - r["mean"] for r in rows]])
    seed_bars(ax, np.arange(len(names)), np.array([r["per_seed"] for r in rows]).T, 0.8, "#8fb3d9",
              yerr=err, edgecolor="#2c5d8f")
    ax.set_xticks(np.arange(len(names)), names)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("success rate (95% bootstrap CI)")
    ax.set_title(f"{report['task']}, {report['demos']} demos: {report['verdict_text']}", fontsize=9)
    return fig


class Lethality(Experiment):
    name = "lethality"
    help = "phase 0: does the physics prior beat weaker priors and random init at few demos?"
    config = LethalityConfig
    grid_fields = _GRID_FIELDS
    plot_name = "success.png"

    def check(self, cfg: LethalityConfig) -> None:
        from nsca.envs.metaworld import resolve_task

        resolve_task(cfg.task)

    def cells(self, cfg: LethalityConfig) -> list[Cell]:
        return grid_cells(cfg)

    def is_record(self, cfg: LethalityConfig) -> bool:
        # the pre-registered run and the untuned tasks' run: their commit must be the code that made them
        return cfg.preset in ("confirm", "untuned")

    def summarize(self, cfg: LethalityConfig, records: list[dict]) -> dict:
        return build_report(cfg, records)

    def report_lines(self, results: dict) -> list[str]:
        return format_report(results).splitlines()

    def plot(self, cfg: LethalityConfig, records: list[dict], results: dict):
        if results.get("grid") == "curves":
            from nsca.experiments.lethality_curves import curves_figure

            return curves_figure(results)
        return plot_report(results)

    def extra_files(self, results: dict) -> dict[str, str]:
        return {"results.csv": results_csv(results)}


EXPERIMENT = Lethality()
