"""Phase 5, the ablation study: which part of the prior carries its effect, and how sure we are.

The seed's "Ablation study (N=20 seeds) -- statistical significance". Conditions (`--conditions`):
- `prior_0.9` (the reference), `prior_0.5`, `prior_0.1`, `none` (no prior term: random init);
- `no_<law>`: prior 0.9 with one innate law switched off (efference, inertia, gravity, support,
  attachment; `nsca.priors.innate.LAWS`);
- `bc`: plain BC on the same demos, the floor;
- `no_pretraining`, `no_curiosity`, `no_ewc`: listed in the results as not applicable, with the
  reason -- the phase-0 agents use none of these, so there is nothing to switch off.
The agent (`--agent-kind`) is the planner (the strongest phase-0 agent, docs/lethality.md) or the
corrective agent (the prior in the policy), as in the lethality test; every cell is a lethality
cell (`nsca.experiments.lethality.run_cell`), so the same seed means the same demos, BC policy,
layouts and planner noise in every condition. When no prior condition reaches plain BC, the
report's first line says so.

Statistics: across tasks, IQM and mean with 95% stratified bootstrap CIs, and the probability of
improvement of the reference over each condition (rliable); the pairing by seed is kept in the
paired comparisons (each seed's success averaged over tasks: paired t, Wilcoxon, paired bootstrap
CI, effect size d_z), whose p-values are Holm-corrected over the whole family (every condition
against the reference at every demo count). Performance profiles per demo count are plotted.
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from nsca.config import field, presets
from nsca.errors import ConfigError, UsageError
from nsca.experiments.lethality import LethalityConfig, cell_config
from nsca.experiments.lethality import run_cell as run_cell  # the runner's workers import it from here
from nsca.experiments.protocol import Experiment, RunConfig, out_field, seeds_field
from nsca.learning.agents import AgentConfig
from nsca.priors.innate import LAWS
from nsca.runner import Cell
from nsca.stats import holm, interval_estimates, paired_compare, performance_profile, probability_of_improvement

REFERENCE = "prior_0.9"
KNOCKOUTS = tuple(f"no_{law}" for law in LAWS)
NOT_APPLICABLE = {
    "no_pretraining": "the phase-0 agents have no babbling pretraining: their world model learns from the demos "
                      "alone (the innate laws' constants come from 800 steps of self-calibration by motor babbling, "
                      "the same in every prior condition)",
    "no_curiosity": "no phase-0 agent uses curiosity (it drives babbling data collection: nsca babble)",
    "no_ewc": "no phase-0 agent uses EWC (it guards sequential training: nsca sanity forgetting)",
}
CONDITIONS = ("prior_0.9", "prior_0.5", "prior_0.1", "none", *KNOCKOUTS, *NOT_APPLICABLE, "bc")
RULE = ("a condition differs from prior_0.9 when the Holm-adjusted p of the paired t test (seeds paired, "
        "each seed's success averaged over tasks) is below 0.05; the family is every condition against "
        "prior_0.9 at every demo count")


@dataclass(frozen=True)
class AblationConfig(RunConfig):
    PRESETS: ClassVar[str] = "ablation"

    preset: str = field("full", f"named block of presets.yaml's ablation section ({', '.join(presets('ablation'))}); "
                                "full = the N=20 study, hour = under an hour on 2 cores, tiny = tests")
    n_seeds: int = seeds_field(20)
    workers: int = field(2, "parallel worker processes")
    out: str = out_field("runs/ablation")
    agent_kind: Literal["corrective", "planner"] = field(
        "planner", "which agent carries the prior: planner (the strongest phase-0 agent: MPPI around BC through the "
                   "world model, goal cost) or corrective (the prior in the policy)")
    conditions: list[str] = field(list(CONDITIONS), f"conditions ({', '.join(CONDITIONS)})")
    tasks: list[str] = field(["pick-place", "push", "drawer-open", "reach", "button-press-topdown"], "Meta-World tasks")
    demos_list: list[int] = field([5, 10, 25, 100], "demo counts")
    eval_episodes: int = field(30, "evaluation episodes per cell")
    episode_steps: int = field(150, "step cap per evaluation episode")
    calibration_steps: int = field(800, "self-observation steps that calibrate the innate laws")
    bootstrap_reps: int = field(2000, "stratified bootstrap resamples for the across-task CIs")
    agent: AgentConfig = dataclasses.field(default_factory=AgentConfig, metadata={
        "help": "the agent (prior, kind and laws are set by each condition)"})

    def validate(self) -> None:
        super().validate()
        for name in ("eval_episodes", "episode_steps", "calibration_steps", "bootstrap_reps"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        unknown = [c for c in self.conditions if c not in CONDITIONS]
        if unknown:
            raise UsageError(f"unknown ablation condition '{unknown[0]}'; choose from {', '.join(CONDITIONS)}")
        if len(set(self.conditions)) != len(self.conditions):
            raise UsageError("--conditions lists a condition twice")
        if REFERENCE not in self.conditions:
            raise UsageError(f"--conditions must include the reference {REFERENCE} (every comparison is against it)")
        if not self.tasks:
            raise UsageError("--tasks needs at least one task")
        if not self.demos_list or any(d < 1 for d in self.demos_list):
            raise UsageError(f"--demos-list needs counts of at least 1, got {self.demos_list}")
        try:
            self.agent.validate()
        except ConfigError as exc:
            raise exc.within("agent") from None

    def lethality(self) -> LethalityConfig:
        """The lethality config whose cells these are (task and demos are set per cell)."""
        return LethalityConfig(eval_episodes=self.eval_episodes, episode_steps=self.episode_steps,
                               calibration_steps=self.calibration_steps, agent=self.agent)


def lethality_condition(condition: str, kind: str) -> tuple[str, list[str]]:
    """An ablation condition -> (the lethality condition name, the innate laws it keeps)."""
    laws = list(LAWS)
    if condition.startswith("no_") and condition in KNOCKOUTS:
        laws.remove(condition[3:])
        condition = REFERENCE
    if condition == "bc":
        return "bc", laws
    if kind == "corrective":
        return "corrective_" + ("none" if condition == "none" else condition.removeprefix("prior_")), laws
    return condition, laws


def ablation_cells(cfg: AblationConfig) -> list[Cell]:
    from nsca.envs.metaworld import resolve_task

    cells, leth = [], cfg.lethality()
    for task in cfg.tasks:
        t = resolve_task(task)
        for demos in cfg.demos_list:
            for condition in cfg.conditions:
                if condition in NOT_APPLICABLE:
                    continue
                name, laws = lethality_condition(condition, cfg.agent_kind)
                base = dataclasses.replace(leth, agent=dataclasses.replace(cfg.agent, laws=laws))
                for seed in range(cfg.n_seeds):
                    cells.append(Cell(f"{t}/d{demos}/{condition}", seed, cell_config(base, name, seed, t, demos)))
    return cells


def build_results(cfg: AblationConfig, records: list[dict]) -> dict:
    """Per demo count: per-task means, across-task aggregates (rliable), paired comparisons
    against the reference with Holm-adjusted p-values, and performance profiles."""
    rates: dict[tuple[str, int, str], dict[int, float]] = {}
    for r in records:
        task, d, condition = r["condition"].split("/")
        rates.setdefault((task, int(d[1:]), condition), {})[r["seed"]] = r["metrics"]["success_rate"]
    from nsca.envs.metaworld import resolve_task

    tasks = [resolve_task(t) for t in cfg.tasks]
    run = [c for c in cfg.conditions if c not in NOT_APPLICABLE]
    seeds = list(range(cfg.n_seeds))
    by_demos, family = {}, []
    for demos in cfg.demos_list:
        # (seeds x tasks) score matrix per condition: the unit rliable aggregates over.
        scores = {c: np.array([[rates[(t, demos, c)][s] for t in tasks] for s in seeds]) for c in run}
        aggregate = interval_estimates(scores, reps=cfg.bootstrap_reps)
        rows = {}
        for c in run:
            row = {"per_task": {t: float(scores[c][:, i].mean()) for i, t in enumerate(tasks)}, **aggregate[c],
                   "per_seed": scores[c].mean(1).tolist()}
            if c != REFERENCE:
                row["vs_reference"] = {**paired_compare(scores[REFERENCE].mean(1), scores[c].mean(1)),
                                       **probability_of_improvement(scores[REFERENCE], scores[c], reps=cfg.bootstrap_reps)}
                family.append(row["vs_reference"])
            rows[c] = row
        taus = np.linspace(0, 1, 21)
        by_demos[str(demos)] = {"conditions": rows, "profile_taus": taus.tolist(),
                                "profiles": performance_profile(scores, taus)}
    for cmp, p in zip(family, holm([c["p_paired_t"] for c in family])):
        cmp["p_holm"] = p
        cmp["differs"] = p is not None and p < 0.05
    return {"reference": REFERENCE, "agent_kind": cfg.agent_kind, "conditions": run, "tasks": tasks, "n_seeds": cfg.n_seeds,
            "demos_list": list(cfg.demos_list), "by_demos": by_demos, "rule": RULE, "family_size": len(family),
            "not_applicable": {c: NOT_APPLICABLE[c] for c in cfg.conditions if c in NOT_APPLICABLE},
            "verdict": _verdict(by_demos), "floor": floor_note(by_demos)}


def floor_note(by_demos: dict) -> str | None:
    """A sentence when no prior condition reaches plain BC's mean at some demo count: then every
    comparison with the reference is between agents below the floor, and the report says so first."""
    notes = []
    for demos, block in by_demos.items():
        rows = block["conditions"]
        priors = {c: r["mean"] for c, r in rows.items() if c not in ("bc", "none")}
        if "bc" not in rows or not priors:
            continue
        best = max(priors, key=priors.get)
        if priors[best] < rows["bc"]["mean"]:
            notes.append(f"{demos} demos: the best, {best}, {priors[best]:.3f} vs BC {rows['bc']['mean']:.3f}")
    if not notes:
        return None
    return ("No prior agent reaches plain BC (" + "; ".join(notes) + "): every comparison below is between agents "
            "under the floor.")


def _verdict(by_demos: dict) -> str:
    beats, beaten = [], []
    for demos, block in by_demos.items():
        for c, row in block["conditions"].items():
            cmp = row.get("vs_reference")
            if cmp and cmp["differs"]:
                (beats if cmp["diff_abs"] > 0 else beaten).append(f"{c}@{demos}")
    if not beats and not beaten:
        return "no condition differs from prior_0.9 after Holm correction"
    parts = ([f"prior_0.9 beats {', '.join(beats)}"] if beats else []) + \
            ([f"prior_0.9 is beaten by {', '.join(beaten)}"] if beaten else [])
    return "; ".join(parts) + " (Holm p < 0.05)"


def report_lines(results: dict) -> list[str]:
    lines = [results["floor"]] if results.get("floor") else []
    lines += [f"Ablation: {results['agent_kind']} agent, tasks {', '.join(results['tasks'])}, "
             f"{results['n_seeds']} seeds; reference {results['reference']}", ""]
    for demos, block in results["by_demos"].items():
        lines.append(f"{demos} demos: IQM / mean over (seeds x tasks) with 95% stratified bootstrap CIs (rliable); "
                     f"{results['reference']} minus condition, paired over seeds")
        lines.append(f"{'condition':<16} {'IQM':>6} {'IQM CI':>15} {'mean':>6} {'diff':>7} {'paired CI':>17} "
                     f"{'p_t':>7} {'p_Holm':>7} {'d_z':>6} {'P(ref>c)':>8}")
        for c in results["conditions"]:
            row = block["conditions"][c]
            v = row.get("vs_reference")
            head = f"{c:<16} {row['iqm']:>6.3f} [{row['iqm_ci95'][0]:.2f}, {row['iqm_ci95'][1]:.2f}] {row['mean']:>6.3f}"
            if v is None:
                lines.append(head + "  (reference)")
                continue
            fmt = lambda x, f: f"{'n/a':>{f[0]}}" if x is None else format(x, f)  # noqa: E731
            lines.append(f"{head} {v['diff_abs']:>+7.3f} [{v['diff_ci95'][0]:+.3f}, {v['diff_ci95'][1]:+.3f}] "
                         f"{fmt(v['p_paired_t'], '7.3g')} {fmt(v['p_holm'], '7.3g')} {fmt(v['effect_dz'], '6.2f')} "
                         f"{v['p_improve']:>8.2f}" + ("  *" if v["differs"] else ""))
        lines.append("")
    for c, why in results["not_applicable"].items():
        lines.append(f"{c}: not applicable: {why}")
    lines += [f"Rule: {results['rule']} (family of {results['family_size']}).", f"Verdict: {results['verdict']}"]
    return lines


def results_csv(results: dict) -> str:
    import csv

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["demos", "condition", "task", "mean_success"])
    for demos, block in results["by_demos"].items():
        for c in results["conditions"]:
            for task, m in block["conditions"][c]["per_task"].items():
                w.writerow([demos, c, task, m])
    return buf.getvalue()


def plot(results: dict):
    """Top: IQM with its CI per condition; bottom: performance profiles; one column per demo count."""
    import matplotlib.pyplot as plt

    blocks = results["by_demos"]
    fig, axes = plt.subplots(2, len(blocks), figsize=(4.8 * len(blocks), 7), squeeze=False)
    for j, (demos, block) in enumerate(blocks.items()):
        names = results["conditions"]
        rows = [block["conditions"][n] for n in names]
        y = np.arange(len(names))
        iqm = np.array([r["iqm"] for r in rows])
        err = np.array([[r["iqm"] - r["iqm_ci95"][0] for r in rows], [r["iqm_ci95"][1] - r["iqm"] for r in rows]])
        colors = ["#2c5d8f" if n == results["reference"] else "#c0504d" if r.get("vs_reference", {}).get("differs")
                  else "#9bb7d4" for n, r in zip(names, rows)]
        ax = axes[0, j]
        ax.barh(y, iqm, xerr=err, color=colors, capsize=3)
        ax.set_yticks(y, names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("IQM success (95% stratified bootstrap CI)")
        ax.set_title(f"{demos} demos (red: differs from {results['reference']}, Holm)", fontsize=9)
        ax = axes[1, j]
        for n in names:
            ax.plot(block["profile_taus"], block["profiles"][n], lw=2.2 if n == results["reference"] else 1,
                    label=n)
        ax.set_xlabel("success threshold tau")
        ax.set_ylabel("fraction of runs > tau")
        ax.legend(fontsize=6, ncol=2)
    fig.suptitle(f"Ablation ({results['agent_kind']} agent, {len(results['tasks'])} tasks, {results['n_seeds']} seeds)",
                 fontsize=10)
    return fig


class Ablation(Experiment):
    name = "ablate"
    help = "phase 5: the ablation study (N=20 seeds): prior weights, each innate law off, BC; rliable + Holm"
    config = AblationConfig
    grid_fields = ("n_seeds", "conditions", "tasks", "demos_list")
    plot_name = "ablation.png"

    def check(self, cfg: AblationConfig) -> None:
        from nsca.envs.metaworld import resolve_task

        for t in cfg.tasks:
            resolve_task(t)

    def cells(self, cfg: AblationConfig) -> list[Cell]:
        return ablation_cells(cfg)

    def summarize(self, cfg: AblationConfig, records: list[dict]) -> dict:
        return build_results(cfg, records)

    def report_lines(self, results: dict) -> list[str]:
        return report_lines(results)

    def plot(self, cfg: AblationConfig, records: list[dict], results: dict):
        return plot(results)

    def extra_files(self, results: dict) -> dict[str, str]:
        return {"results.csv": results_csv(results)}


EXPERIMENT = Ablation()
