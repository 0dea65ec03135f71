"""Phase 0, the lethality test: does an innate physics prior make few-demo learning work?

Grids (`--grid`):
- `default`: prior 0.9 / 0.5 / 0.1 / none (+ plain BC, the floor) x seeds, planner with the
  learned model and learned reward: the seed's question;
- `decomposition`: the 2x2 {learned model, simulator} x {learned reward, Meta-World's reward}
  per prior, plus the policy-side `corrective` agent and BC (see nsca.learning.agent);
- `curves`: demos x tasks x (`--curve-agents`) x seeds: data-efficiency curves.
A cell collects `demos` expert demos on its seed's demo layouts, calibrates the innate laws by
self-observation (motor babbling, no demos, no reward), fits the agent and evaluates it on the
shared evaluation layouts. Conditions share BC, layouts and planner noise per seed, so the
statistics are paired. The verdict follows the seed's table with an explicit rule (VERDICT_RULE).
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
from typing import Literal

import numpy as np

from nsca.config import field, from_dict
from nsca.errors import UsageError
from nsca.experiments.protocol import Experiment, RunConfig, out_field, seed_bars, seeds_field
from nsca.learning.agent import AgentConfig
from nsca.priors.innate import LAWS
from nsca.runner import Cell
from nsca.stats import paired_compare, summarize
from nsca.utils.io import atomic_write_text

VERDICT_RULE = (
    "VALIDATED if mean success(0.9) exceeds mean success(0.5) by more than 20% (relative) and the "
    "95% paired bootstrap CI of the per-seed differences excludes 0; HURTING if mean(0.1) > mean(0.9) "
    "and the 95% paired bootstrap CI of (0.1 - 0.9) excludes 0 (checked first); otherwise TOO WEAK."
)
GRIDS = ("default", "decomposition", "curves")
VERDICTS = {
    "validated": "core hypothesis validated — proceed",
    "too_weak": "prior mechanism too weak — debug AdaptivePhysicsPrior",
    "hurting": "priors are hurting — redesign",
}
# Fields that only choose which cells exist: a rerun that changes them extends (or narrows) the
# grid and reuses every finished cell whose own config is unchanged (the runner checks each cell).
# The run fields (n_seeds, workers, out, backend, address) may change too (nsca.experiments.protocol).
# Parallel evaluation episodes of a batchable agent (its numbers do not depend on this: tested).
EVAL_BATCH = 16
_GRID_FIELDS = ("n_seeds", "priors", "bc_floor", "tasks", "demos_list", "curve_agents")


@dataclass(frozen=True)
class LethalityConfig(RunConfig):
    n_seeds: int = seeds_field(5)
    workers: int = field(2, "parallel worker processes")
    out: str = out_field("runs/lethality")
    task: str = field("pick-place-v2", "Meta-World task (v2 names map to the installed v3)")
    demos: int = field(5, "expert demonstrations per seed")
    priors: list[str] = field(["0.9", "0.5", "0.1", "none"], "prior weights to compare; 'none' = random-init baseline")
    bc_floor: bool = field(True, "also run plain MLP BC on the same demos (the floor the baseline must not fall below)")
    eval_episodes: int = field(50, "evaluation episodes per cell, on layouts disjoint from the demos")
    episode_steps: int = field(300, "step cap per evaluation episode (the expert needs ~55; Meta-World's cap is 500)")
    calibration_steps: int = field(800, "self-observation steps that calibrate the innate laws (motor babbling)")
    grid: Literal["default", "decomposition", "curves"] = field("default", "which grid to run (see docs/lethality.md)")
    tasks: list[str] = field(["pick-place", "push", "drawer-open", "reach", "button-press-topdown"], "curves grid: tasks")
    demos_list: list[int] = field([5, 10, 25, 100], "curves grid: demo counts")
    curve_agents: list[str] = field(["bc", "none", "corrective_0.9"], "curves grid: conditions (names as in the decomposition)")
    sim_eval_episodes: int = field(10, "evaluation episodes for oracle cells (simulator model or true reward: ~100x slower per step)")
    agent: AgentConfig = dataclasses.field(default_factory=AgentConfig, metadata={
        "help": "the agent (prior, kind, model and reward are set by each condition)"})

    def validate(self) -> None:
        super().validate()
        for name in ("demos", "eval_episodes", "episode_steps", "sim_eval_episodes", "calibration_steps"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if any(d < 1 for d in self.demos_list):
            raise UsageError(f"--demos-list needs counts of at least 1, got {self.demos_list}")
        fewest = min(self.demos_list) if self.grid == "curves" else self.demos
        if self.agent.validated_temperature and fewest < 2:
            raise UsageError(f"--agent.validated-temperature holds one demo out, so it needs at least 2 demos "
                             f"(got {fewest}); add --no-agent.validated-temperature to plan with a fixed temperature")
        if self.grid == "curves":
            if not self.tasks or not self.curve_agents:
                raise UsageError("--grid curves needs --tasks and --curve-agents")
            for name in self.curve_agents:
                parse_condition(name)
        if not self.priors:
            raise UsageError("--priors needs at least one value")
        seen = set()
        for p in self.priors:
            parse_prior(p)
            if p in seen:
                raise UsageError(f"--priors lists {p} twice")
            seen.add(p)


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
    return "none" if prior.lower() == "none" else f"prior_{float(prior):g}"


def parse_condition(name: str) -> dict:
    """A condition name -> agent settings. Names: `bc`; `none` / `prior_0.9` (planner, learned
    model and reward); `<prior>+true` (Meta-World's reward on the predicted state); `sim+learned`,
    `sim+true` (the simulator as the model); `corrective_<prior>` (policy-side agent)."""
    base, _, reward = name.partition("+")
    if reward not in ("", "learned", "true"):
        raise UsageError(f"unknown reward kind '{reward}' in condition '{name}'; use learned or true")
    reward = reward or "learned"
    if base == "bc":
        if reward != "learned":
            raise UsageError(f"condition '{name}': plain BC has no reward to choose")
        return {"kind": "bc", "prior": None, "model": "learned", "reward": "learned"}
    if base == "sim":
        return {"kind": "planner", "prior": None, "model": "sim", "reward": reward}
    kind = "planner"
    if base.startswith("corrective_"):
        kind, base = "corrective", base[len("corrective_"):]
        if reward != "learned":
            raise UsageError(f"condition '{name}': the corrective agent does not plan, so it has no reward")
    if base.startswith("prior_"):
        base = base[len("prior_"):]
    if base != "none":
        try:
            parse_prior(base)
        except UsageError:
            raise UsageError(f"unknown agent or condition '{name}'; see docs/lethality.md for the names") from None
    return {"kind": kind, "prior": parse_prior(base), "model": "learned", "reward": reward}


# Agent fields each kind of agent never reads: left out of its cell config, so that changing a
# planner setting does not invalidate the finished BC and corrective cells, and vice versa.
_UNUSED_BY_KIND = {
    "bc": ("model", "reward", "world_model_steps", "prior_lr", "corrections", "correction_noise_m",
           "reward_steps", "objective", "reward_ensemble", "pessimism", "validated_temperature", "heldout_ensemble",
           "safe_improvement", "laws",
           "planner", "architecture", "policy"),
    "corrective": ("model", "reward", "reward_steps", "objective", "reward_ensemble", "pessimism",
                   "validated_temperature", "heldout_ensemble", "safe_improvement", "planner"),
    "planner": ("corrections", "correction_noise_m"),
}
# ... the NSCA model's size, which a planner with the simulator as its model never builds into
# anything it uses (its policy is BC, its value the reward model) ...
_UNUSED_BY_SIM_MODEL = ("architecture",)
# ... and those only a learned value reads (added after the recorded oracle cells; the older
# learned-reward fields stay in their configs so that those records remain valid).
_UNUSED_BY_TRUE_REWARD = ("validated_temperature", "heldout_ensemble", "safe_improvement")
# Agent fields added after cells were recorded, with the value that reproduces the behaviour
# before they existed: written into a cell's config only when set otherwise, so older records
# (results/phase0) stay valid and reusable.
_ADDED_LATER = {"validated_temperature": False, "heldout_ensemble": False, "safe_improvement": False,
                "planner.min_advantage": 0.0, "laws": list(LAWS), "planner.average_then_clip": False,
                "planner.baseline": False, "batch_size": 256, "policy": "bc"}


def agent_cell_fields(agent: AgentConfig) -> dict:
    """The agent fields a cell of this kind depends on (the rest stay at their defaults)."""
    unused = (_UNUSED_BY_KIND[agent.kind] + (_UNUSED_BY_TRUE_REWARD if agent.reward == "true" else ())
              + (_UNUSED_BY_SIM_MODEL if agent.kind == "planner" and agent.model == "sim" and agent.policy == "bc" else ()))
    fields = {k: v for k, v in dataclasses.asdict(agent).items() if k not in unused}
    for path, old in _ADDED_LATER.items():
        *parents, key = path.split(".")
        block = fields
        for p in parents:
            block = block.get(p, {})
        if key in block and block[key] == old:
            del block[key]
    return fields


def cell_config(cfg: LethalityConfig, condition: str, seed: int, task: str | None = None, demos: int | None = None) -> dict:
    """Everything a cell's numbers depend on (and nothing else: workers, paths, fields its kind of
    agent never reads are excluded): the nested agent config with the condition's fields filled
    in, plus task, seed and budget."""
    agent = dataclasses.replace(cfg.agent, **parse_condition(condition))
    oracle = agent.kind == "planner" and (agent.model == "sim" or agent.reward == "true")
    return {
        "task": task or cfg.task, "seed": seed, "demos": demos or cfg.demos,
        "eval_episodes": cfg.sim_eval_episodes if oracle else cfg.eval_episodes, "episode_steps": cfg.episode_steps,
        "calibration_steps": cfg.calibration_steps, "agent": agent_cell_fields(agent),
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


def run_cell(c: dict, cell_dir: Path) -> dict:
    """One (condition, seed): demos -> calibrate -> fit agent -> evaluate. Pure given its config."""
    from nsca.envs.metaworld import MetaWorldTask, eval_layout_seeds, load_or_collect_demos, rollout, rollout_batch
    from nsca.envs.metaworld_batch import MetaWorldBatch
    from nsca.learning.agent import Oracle, Phase0Agent
    from nsca.utils.seeding import seed_everything

    seed_everything(c["seed"])
    env = MetaWorldTask(c["task"])
    t0 = time.time()
    demos = load_or_collect_demos(c["task"], c["seed"], c["demos"], env=env)
    constants = calibrated_constants(c["task"], c["calibration_steps"])
    agent_cfg = from_dict(AgentConfig, c["agent"])  # omitted fields: their defaults, which this kind never reads
    needs_oracle = agent_cfg.kind == "planner" and (agent_cfg.model == "sim" or agent_cfg.reward == "true")
    agent = Phase0Agent(agent_cfg, seed=c["seed"], constants=constants, oracle=Oracle(env) if needs_oracle else None)
    init_weight = agent.prior_weight
    validated = agent_cfg.kind == "planner" and agent_cfg.reward == "learned" and agent_cfg.validated_temperature
    train = agent.fit(demos, babble=validation_babble(c["task"]) if validated and agent_cfg.model == "learned" else None)
    t_train = time.time() - t0
    layouts = eval_layout_seeds(c["eval_episodes"])
    if agent.batchable:  # episodes stepped together, the planner's networks called once per step for all
        batch = MetaWorldBatch(c["task"], min(EVAL_BATCH, len(layouts)))
        eps = rollout_batch(batch, layouts, agent.pool_actor(), max_steps=c["episode_steps"])
        batch.close()
    else:
        eps = []
        for i, layout in enumerate(layouts):
            agent.reset(i)
            eps.append(rollout(env, layout, lambda obs: agent.act_obs(env, obs), max_steps=c["episode_steps"]))
    episodes = [{"layout_seed": ep.layout_seed, "success": ep.success, "steps": ep.length,
                 "return": float(ep.rewards.sum())} for ep in eps]
    env.close()
    atomic_write_text(cell_dir / "episodes.jsonl", "".join(json.dumps(e) + "\n" for e in episodes))
    return {
        "success_rate": float(np.mean([e["success"] for e in episodes])),
        "mean_episode_steps": float(np.mean([e["steps"] for e in episodes])),
        "mean_return": float(np.mean([e["return"] for e in episodes])),
        "planner_departure_rate": (agent.plan_stats["departed"] / agent.plan_stats["plans"]
                                   if agent.plan_stats.get("plans") else None),
        "prior_weight_init": init_weight,
        "prior_weight_final": train["prior_weight"],
        "train": train,
        "timing_s": {"train": round(t_train, 2), "eval": round(time.time() - t0 - t_train, 2)},
    }


def conditions(cfg: LethalityConfig) -> list[str]:
    if cfg.grid == "decomposition":
        conds = []
        for p in cfg.priors:
            conds += [condition_name(p), condition_name(p) + "+true"]
        conds += ["sim+learned", "sim+true"]
        conds += ["corrective_" + ("none" if parse_prior(p) is None else f"{float(p):g}") for p in cfg.priors]
        return conds + (["bc"] if cfg.bc_floor else [])
    return [condition_name(p) for p in cfg.priors] + (["bc"] if cfg.bc_floor else [])


def grid_cells(cfg: LethalityConfig) -> list[Cell]:
    from nsca.envs.metaworld import resolve_task

    if cfg.grid == "curves":
        cells = []
        for task in cfg.tasks:
            t = resolve_task(task)
            for demos in cfg.demos_list:
                for name in cfg.curve_agents:
                    for seed in range(cfg.n_seeds):
                        cells.append(Cell(f"{t}/d{demos}/{name}", seed, cell_config(cfg, name, seed, t, demos)))
        return cells
    return [Cell(name, seed, cell_config(cfg, name, seed)) for name in conditions(cfg) for seed in range(cfg.n_seeds)]


def build_report(cfg: LethalityConfig, records: list[dict]) -> dict:
    by_cond: dict[str, list[dict]] = {}
    for r in records:
        by_cond.setdefault(r["condition"], []).append(r)
    table = {}
    for name, rs in by_cond.items():
        rates = [r["metrics"]["success_rate"] for r in rs]
        table[name] = {
            **summarize(rates),
            "per_seed": rates,
            "prior_weight_final": float(np.mean([r["metrics"]["prior_weight_final"] for r in rs])),
            "eval_episodes": rs[0]["config"]["eval_episodes"],
        }
    rates = {k: v["per_seed"] for k, v in table.items()}
    comparisons = {}
    for a, b in comparison_pairs(list(rates)):
        if table[a]["eval_episodes"] == table[b]["eval_episodes"]:
            comparisons[f"{a} vs {b}"] = paired_compare(rates[a], rates[b])
        else:  # e.g. an oracle cell (10 layouts) vs BC (30): compare on the layouts both saw
            ra, rb, shared = shared_layout_rates(Path(cfg.out), by_cond[a], by_cond[b])
            comparisons[f"{a} vs {b}"] = {**paired_compare(ra, rb), "shared_layouts": shared}
    report = {
        "grid": cfg.grid, "task": cfg.task, "demos": cfg.demos, "n_seeds": cfg.n_seeds, "eval_episodes": cfg.eval_episodes,
        "table": table, "comparisons": comparisons, **verdict(comparisons),
    }
    if cfg.grid == "curves":
        from nsca.experiments.lethality_curves import answer

        report["curves"] = answer(report)
    return report


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


def comparison_pairs(names: list[str]) -> list[tuple[str, str]]:
    """The paired comparisons a grid's conditions support (within one task/demos group)."""
    groups: dict[str, list[str]] = {}
    for n in names:
        prefix, _, cond = n.rpartition("/")
        groups.setdefault(prefix, []).append(cond)
    pairs = []
    for prefix, conds in groups.items():
        full = (lambda c, p=prefix: f"{p}/{c}") if prefix else (lambda c: c)  # noqa: E731
        wanted = [("prior_0.9", "prior_0.5"), ("prior_0.1", "prior_0.9"), ("none", "bc"),
                  ("sim+true", "bc"), ("sim+learned", "bc"), ("sim+true", "sim+learned"), ("none+true", "bc")]
        for c in conds:
            if c.startswith("prior_") and "+" not in c:
                wanted += [(c, "none"), (c + "+true", "none+true"), (c, "bc")]
            if c.startswith("prior_") and c.endswith("+true"):  # e.g. a grid of the +true planners only
                wanted.append((c, "none+true"))
            if c.startswith("corrective_"):
                wanted += [(c, "bc")]
                if c != "corrective_none":
                    wanted.append((c, "corrective_none"))
                    wanted.append((c, "none"))
        seen = set()
        for a, b in wanted:
            if a in conds and b in conds and (a, b) not in seen:
                seen.add((a, b))
                pairs.append((full(a), full(b)))
    return pairs


def verdict(comparisons: dict) -> dict:
    hi_lo = comparisons.get("prior_0.9 vs prior_0.5")
    low_hi = comparisons.get("prior_0.1 vs prior_0.9")
    if hi_lo is None or low_hi is None:
        return {"verdict": "not_applicable", "verdict_text": "verdict needs priors 0.9, 0.5 and 0.1", "verdict_rule": VERDICT_RULE}
    if low_hi["diff_abs"] > 0 and low_hi["diff_ci95"][0] > 0:
        key = "hurting"
    elif (hi_lo["diff_rel"] or 0) > 0.2 and hi_lo["diff_ci95"][0] > 0:
        key = "validated"
    else:
        key = "too_weak"
    return {"verdict": key, "verdict_text": VERDICTS[key], "verdict_rule": VERDICT_RULE}


def format_report(report: dict) -> str:
    lines = [f"Lethality test ({report.get('grid', 'default')} grid): {report['task']}, {report['demos']} demos, {report['n_seeds']} seeds, "
             f"{report['eval_episodes']} eval episodes per cell", "",
             f"{'condition':<24} {'success':>8} {'std':>6} {'95% CI':>15} {'IQM':>6} {'prior_w':>8}  per seed"]
    for name, row in report["table"].items():
        ci = f"[{row['ci95_low']:.2f}, {row['ci95_high']:.2f}]"
        seeds = " ".join(f"{x:.2f}" for x in row["per_seed"])
        lines.append(f"{name:<24} {row['mean']:>8.3f} {row['std']:>6.3f} {ci:>15} {row['iqm']:>6.3f} {row['prior_weight_final']:>8.3f}  {seeds}")
    lines.append("")
    lines.append("Paired comparisons (same seed = same demos, BC, layouts and planner noise):")
    for name, c in report["comparisons"].items():
        fmt = lambda x, f: "n/a" if x is None else format(x, f)  # noqa: E731
        lines.append(f"{name}: paired diff {c['diff_abs']:+.3f} (rel {fmt(c['diff_rel'], '+.1%')}), 95% paired CI "
                     f"[{c['diff_ci95'][0]:+.3f}, {c['diff_ci95'][1]:+.3f}], paired t p={fmt(c['p_paired_t'], '.3g')}, "
                     f"Wilcoxon p={fmt(c['p_wilcoxon'], '.3g')}, d_z={fmt(c['effect_dz'], '.2f')}, "
                     f"wins/losses {c['wins']}/{c['losses']}"
                     + (f" (on the {c['shared_layouts']} layouts both ran)" if "shared_layouts" in c else ""))
    if "curves" in report:
        from nsca.experiments.lethality_curves import answer_lines

        lines += ["", *answer_lines(report)]
    lines += ["", f"Verdict: {report['verdict_text']}", f"Rule: {report['verdict_rule']}"]
    if "wall_time_s" in report:
        lines.append(f"Wall time: {report['wall_time_s']:.0f} s")
    return "\n".join(lines)


def results_csv(report: dict) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["condition", "n", "mean", "std", "ci95_low", "ci95_high", "iqm", "prior_weight_final", "per_seed"])
    for name, row in report["table"].items():
        w.writerow([name, row["n"], row["mean"], row["std"], row["ci95_low"], row["ci95_high"], row["iqm"],
                    row["prior_weight_final"], " ".join(f"{x:.4f}" for x in row["per_seed"])])
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
