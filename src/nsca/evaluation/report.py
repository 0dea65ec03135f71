"""`nsca report`: one self-contained HTML page (and a Markdown twin) from the run folders of every phase.

The report only reads what the phases wrote (results.json, summary.json, their PNGs). A phase
whose folder is missing is listed as "not run"; one whose grid has cells but no results.json
as "unfinished"; one whose file is corrupt or of another layout says so in one line. Nothing is
estimated or filled in. The seed's "What success looks like" table gets the measured numbers
beside the seed's expectations, and the seed's §10 paragraph is chosen by FINDING_RULE.
"""

from __future__ import annotations

import base64
import html
import importlib
import io
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nsca.errors import UsageError
from nsca.utils.io import atomic_write_bytes, atomic_write_text, ensure_writable_dir

# The seed's §9 table, as the seed states it.
SEED_SUCCESS = (
    ("Meta-World (5 demos)", "65% ± 8%", "22% (random init)"),
    ("Meta-World (100 demos)", "95% ± 2%", "93%"),
    ("Physion", "75-85%", "Human: 89%"),
    ("Babbling coverage", ">80% affordances", "-"),
)
SEED_KEY_RESULT = "NSCA should match random init at high data, but significantly outperform at low data (5-10 demos)."
NEGATIVE_TITLE = "Do Biologically-Inspired Priors Improve Sample Efficiency? A Negative Result on Meta-World"

FINDING_RULE = (
    "Ordered; the first that applies is the finding. Curves = a data-efficiency grid (`--grid curves`) "
    "with a prior agent and `none` at two or more demo counts; the prior agent 'helps' at a demo count when "
    "its 95% paired bootstrap CI is above 0 both against `none` and against plain BC (beating a baseline "
    "below the BC floor is not help); 'worse' = CI below 0 against `none`. "
    "(1) Curves: helps at the lowest demo count on every task and not worse at the highest on any -> "
    "POSITIVE, the seed's key result holds. "
    "(2) Curves: helps at the lowest count on some task but not at the next count there -> negative "
    "finding 1, 'priors help at few demos but not more' (narrow usefulness). "
    "(3) Curves: helps at some count on some tasks and at none on others -> negative finding 2, "
    "'task-specific'. "
    "(4) Otherwise the phase-0 verdict (default grid): 'hurting' -> negative result, the priors hurt "
    "(0.1 beats 0.9); 'too weak' -> negative result, no detectable benefit (0.9 vs 0.5); 'validated' "
    "-> positive at the phase-0 budget only (the data-efficiency claim needs the curves). "
    "(5) No phase-0 results -> undecided. Negative finding 3 ('priors hurt when physics differs from "
    "Earth') needs a task-success experiment in altered physics, which no phase here runs (the balloon "
    "check tests that the prior weight is unlearned, not success), so it is never chosen."
)

@dataclass
class Paths:
    """Where each phase's run folder is (defaults under --runs; babbling under $NSCA_DATA_ROOT)."""

    lethality: Path
    decomposition: Path
    curves: Path
    sanity: Path
    babbling: Path
    train: Path
    physion: Path
    procgen: Path
    ml10: Path
    grounding: Path
    ablation: Path

    @classmethod
    def under(cls, runs: str | Path, **overrides: str | Path | None) -> Paths:
        from nsca.data.store import default_babbling_dir

        runs = Path(runs)
        defaults = {
            "lethality": runs / "lethality", "decomposition": runs / "decomposition", "curves": runs / "curves",
            "sanity": runs / "sanity", "babbling": default_babbling_dir(), "train": runs / "train",
            "physion": runs / "eval" / "physion", "procgen": runs / "eval" / "procgen",
            "ml10": runs / "eval" / "metaworld-ml10", "grounding": runs / "eval" / "grounding", "ablation": runs / "ablation",
        }
        return cls(**{k: Path(overrides[k]) if overrides.get(k) else v for k, v in defaults.items()})


# ---- sections ------------------------------------------------------------------------------


@dataclass
class Figure:
    name: str       # file name under <out>/figures/
    png: bytes
    caption: str


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    id: str
    title: str
    source: str
    status: str = "done"            # done | not run | unfinished | unreadable
    note: str = ""                  # the one line for a section that is not done
    blocks: list = field(default_factory=list)   # str (a paragraph), Table, Figure, or ("pre", text)
    data: dict | None = None        # the results it was built from (for the summary table and §10)


class NotRun(Exception):
    pass


class Unfinished(Exception):
    pass


class Unreadable(Exception):
    pass


def load_json(folder: Path, name: str = "results.json") -> dict:
    """A run folder's results object, or NotRun / Unfinished / Unreadable with one line."""
    path = folder / name
    if not path.is_file():
        if not folder.is_dir():
            raise NotRun(f"not run (no folder {folder})")
        cells = sum(1 for _ in folder.rglob("metrics.json"))
        if cells or (folder / "config.json").is_file():  # a started grid
            raise Unfinished(f"unfinished: {cells} cell(s) done in {folder}, no {name} yet "
                             "(it is written when the grid completes; rerun the same command to resume)")
        raise NotRun(f"not run (no {name} in {folder})")
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise Unreadable(f"{path} is corrupt: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise Unreadable(f"{path} is not a results object (top level is {type(data).__name__})")
    return data


def build_section(id: str, title: str, folder: Path, build: Callable[[Section, dict, Path], None],
                  name: str = "results.json") -> Section:
    """Load `folder/name` and let `build` fill the section; any failure is the section's one line."""
    sec = Section(id, title, str(folder / name))
    try:
        data = load_json(folder, name)
        build(sec, data, folder)
        sec.data = data
    except NotRun as exc:
        sec.status, sec.note = "not run", str(exc)
    except Unfinished as exc:
        sec.status, sec.note = "unfinished", str(exc)
    except Unreadable as exc:
        sec.status, sec.note = "unreadable", str(exc)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        sec.status = "unreadable"
        sec.note = f"{folder / name} is not the layout this report reads ({type(exc).__name__}: {exc})"
    if sec.status != "done":
        sec.blocks, sec.data = [], None
    return sec


def png_file(path: Path, caption: str, name: str) -> Figure | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return Figure(name, data, caption) if data.startswith(b"\x89PNG") else None


def png_of(fig: Any, name: str, caption: str) -> Figure:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return Figure(name, buf.getvalue(), caption)


def fmt(x: Any, spec: str = ".3f") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return format(x, spec)


def ci(lo: Any, hi: Any, spec: str = ".2f") -> str:
    return f"[{fmt(lo, spec)}, {fmt(hi, spec)}]"


def markdown_blocks(text: str) -> list:
    """A suite's own Markdown report (tables and lines) as report blocks."""
    blocks: list = []
    table: list[list[str]] = []

    def flush() -> None:
        if table:
            rows = [r for r in table[1:] if not all(re.fullmatch(r":?-+:?", c) for c in r)]
            blocks.append(Table(table[0], rows))
            table.clear()

    for line in text.splitlines():
        if line.startswith("|"):
            table.append([c.strip() for c in line.strip().strip("|").split("|")])
            continue
        flush()
        if line.strip():
            blocks.append(line.strip())
    flush()
    return blocks


# ---- phase 0: lethality ----------------------------------------------------------------------


def _lethality_builder(grid: str) -> Callable[[Section, dict, Path], None]:
    def build(sec: Section, r: dict, folder: Path) -> None:
        if "table" not in r or "comparisons" not in r:
            raise Unreadable(f"{sec.source} is not a lethality results file (keys: {', '.join(sorted(r)[:8])})")
        if r.get("grid", "default") != grid:
            raise Unreadable(f"{sec.source} holds a '{r.get('grid')}' grid, not '{grid}'")
        commit = str(r.get("provenance", {}).get("git_commit", "unknown"))[:12]
        wall = f"; wall time {r['wall_time_s'] / 60:.1f} min" if isinstance(r.get("wall_time_s"), (int, float)) else ""
        if grid == "curves":
            from nsca.experiments.lethality_curves import parse_curves

            what = f"tasks {', '.join(parse_curves(r))}"
        else:
            what = f"{r['task']}, {r['demos']} demos"
        sec.blocks.append(f"{what}, {r['n_seeds']} seeds{wall}; commit {commit}.")
        rows = []
        for name, row in r["table"].items():
            rows.append([name, str(row["n"]), str(row.get("eval_episodes", "?")), fmt(row["mean"]), fmt(row["std"]),
                         ci(row["ci95_low"], row["ci95_high"]), fmt(row["iqm"]), fmt(row.get("prior_weight_final")),
                         " ".join(f"{x:.2f}" for x in row["per_seed"])])
        sec.blocks.append(Table(["condition", "seeds", "episodes per cell", "success", "std", "95% CI", "IQM", "prior w (final)", "per seed"], rows))
        comps = []
        for name, c in r["comparisons"].items():
            comps.append([name, fmt(c["diff_abs"], "+.3f"), fmt(c["diff_rel"], "+.1%"), ci(*c["diff_ci95"], "+.3f"),
                          fmt(c.get("p_paired_t"), ".3g"), fmt(c.get("p_wilcoxon"), ".3g"), fmt(c.get("effect_dz"), ".2f"),
                          f"{c['wins']}/{c['losses']}"])
        if comps:
            sec.blocks.append("Paired comparisons (same seed = same demos, BC, layouts and planner noise):")
            sec.blocks.append(Table(["comparison", "paired diff", "rel", "95% paired CI", "paired t p", "Wilcoxon p",
                                     "d_z", "wins/losses"], comps))
        if grid == "curves":
            _curves_blocks(sec, r)
        else:
            sec.blocks.append(f"Verdict: {r['verdict_text']}. Rule: {r['verdict_rule']}")
            fig = png_file(folder / "success.png", f"{grid} grid: success per condition (from the run folder)",
                           f"{sec.id}.png")
            sec.blocks.append(fig if fig else f"(no success.png in {folder})")
    return build


def _curves_blocks(sec: Section, r: dict) -> None:
    from nsca.experiments.lethality_curves import answer, plot_curves

    ans = answer(r)
    for task, a in ans.items():
        header = ["demos", "none vs bc", *[f"{p} vs none" for p in a["prior_agents"]],
                  *[f"{p} vs bc" for p in a["prior_agents"]]]
        rows = [[str(row["demos"]), row["none_vs_bc"], *[row[f"{p}_vs_none"] for p in a["prior_agents"]],
                 *[row[f"{p}_vs_bc"] for p in a["prior_agents"]]] for row in a["rows"]]
        sec.blocks.append(f"{task}: " + "; ".join(a["summary"])
                          + ("" if a["none_floor_ok"] else "; none is below the BC floor somewhere"))
        sec.blocks.append(Table(header, rows))
    with _tempdir() as tmp:
        plot_curves(tmp / "curves.png", r)
        fig = png_file(tmp / "curves.png", "success vs demos per task and agent (95% bootstrap CI bands)", f"{sec.id}.png")
    if fig:
        sec.blocks.append(fig)


class _tempdir:
    def __enter__(self) -> Path:
        import tempfile

        self._t = tempfile.TemporaryDirectory(prefix="nsca-report-")
        return Path(self._t.name)

    def __exit__(self, *exc: Any) -> None:
        self._t.cleanup()


# ---- sanity checks ---------------------------------------------------------------------------


def _sanity_builder(check: str, module: str) -> Callable[[Section, dict, Path], None]:
    def build(sec: Section, r: dict, folder: Path) -> None:
        found = r.get("check", r.get("experiment"))
        if found != check or r.get("verdict") not in ("PASS", "FAIL"):
            raise Unreadable(f"{sec.source} is not a {check} results file (check: {found!r}, verdict: {r.get('verdict')!r})")
        exp = importlib.import_module(module).EXPERIMENT
        seeds = r.get("config", {}).get("n_seeds", len({s.get("seed") for s in r.get("per_seed", [])}))
        sec.blocks.append(f"Verdict: {r['verdict']} ({seeds} seeds). Rule: {r['rule']}")
        sec.blocks.append(("pre", "\n".join(exp.report_lines(r))))
        fig = png_file(folder / getattr(exp, "plot_name", "plot.png"), f"{check} (from the run folder)", f"sanity-{check}.png")
        if fig:
            sec.blocks.append(fig)
    return build


def other_sanity_runs(folder: Path, known: dict[str, str]) -> Section:
    """Further run folders beside the three defaults (variants run with other settings)."""
    sec = Section("sanity-other", "Other sanity-check run folders", str(folder))
    rows = []
    if folder.is_dir():
        for sub in sorted(p for p in folder.iterdir() if p.is_dir() and p.name not in known):
            try:
                r = load_json(sub)
                rows.append([sub.name, str(r.get("check", r.get("experiment", "?"))), str(r.get("verdict", "?")),
                             str(r.get("rule", ""))[:160]])
            except (NotRun, Unfinished, Unreadable) as exc:
                rows.append([sub.name, "-", "-", str(exc)])
    if rows:
        sec.blocks.append(Table(["folder", "check", "verdict", "rule"], rows))
    else:
        sec.status, sec.note = "not run", f"no other folders in {folder}"
    return sec


# ---- babbling, training, evaluations, ablation -----------------------------------------------


def _babbling(sec: Section, s: dict, folder: Path) -> None:
    cov = s["affordance_coverage"]
    gate = s.get("coverage_gate", 0.8)
    probe = s.get("grounding_probe") or {}
    speed = s.get("speed", {})
    rows = [["interactions", f"{s['steps']:,}"],
            ["affordance coverage", f"{cov:.1%} of {s['cells']} (object, primitive) cells (gate > {gate:.0%}: "
                                    f"{'PASS' if cov > gate else 'FAIL'})"],
            ["goal coverage", f"{s['goal_coverage']:.1%}"]]
    if probe:
        rows += [["grounding probe: hardness from audio",
                  f"{probe['hardness_from_audio']['accuracy']:.2f} ({probe['n_heldout_objects']} held-out objects, "
                  f"chance {probe['chance']:.2f})"],
                 ["grounding probe: mass from lift/shake", f"{probe['mass_from_lift_shake']['accuracy']:.2f}"]]
    if speed.get("ctrl_steps_per_s"):
        rows.append(["control steps/s", f"{speed['ctrl_steps_per_s']:,.0f} on {speed['workers']} workers"])
    if isinstance(s.get("wall_s"), (int, float)):
        rows.append(["wall time", f"{s['wall_s'] / 60:.1f} min"])
    sec.blocks.append(Table(["", "value"], rows))
    hist = s.get("outcome_histogram") or {}
    if hist:
        sec.blocks.append(Table(["outcome", "interactions"], [[k, str(v)] for k, v in hist.items()]))
    fig = png_file(folder / "learning_progress.png", "learning progress and competence per primitive", "babbling.png")
    if fig:
        sec.blocks.append(fig)


def training_section(folder: Path, max_figures: int = 4) -> Section:
    sec = Section("training", "Phase 4: world-model training runs", str(folder))
    runs = sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime,
                  reverse=True) if folder.is_dir() else []
    runs = [p for p in runs if (p / "summary.json").is_file() or (p / "metrics.jsonl").is_file()]
    if not runs:
        sec.status, sec.note = "not run", f"not run (no training run folders in {folder})"
        return sec
    rows, figures = [], []
    for run in runs:
        try:
            s = load_json(run, "summary.json")
        except (NotRun, Unfinished):
            logged = sum(1 for _ in (run / "metrics.jsonl").open())
            rows.append([run.name, f"unfinished: no summary.json ({logged} metric rows logged)", *[""] * 6])
            continue
        except Unreadable as exc:
            rows.append([run.name, str(exc), *[""] * 6])
            continue
        try:
            rows.append([run.name, str(s["steps"]), fmt(s.get("epochs"), ".2f"), fmt(s.get("prior_weight")),
                         fmt(s.get("val/total"), ".4g"), f"{s['params'] / 1e6:.2f}M", fmt(s.get("samples_per_s"), ".0f"),
                         str(s.get("device", ""))])
        except (KeyError, TypeError, ValueError) as exc:
            rows.append([run.name, f"summary.json is not the layout this report reads ({exc})", *[""] * 6])
            continue
        if len(figures) < max_figures:
            fig = png_file(run / "loss_curve.png", f"{run.name}: losses and prior weight", f"train-{run.name}.png")
            if fig:
                figures.append(fig)
    sec.blocks.append(Table(["run", "steps", "epochs", "prior w", "val total", "params", "samples/s", "device"], rows))
    sec.blocks += figures
    return sec


def _suite_builder(module: str, figure: str, caption: str, key: str = "results") -> Callable[[Section, dict, Path], None]:
    """A phase-7 suite's section: its own report text (`format_report`) and its figure; `key` is
    the results field that marks a finished run of that suite."""
    def build(sec: Section, r: dict, folder: Path) -> None:
        if key not in r or "config" not in r:
            raise Unreadable(f"{sec.source} is not a {sec.id} evaluation results file")
        text = importlib.import_module(module).format_report(r)
        sec.blocks += markdown_blocks(text)
        fig = png_file(folder / figure, caption, f"{sec.id}.png")
        if fig:
            sec.blocks.append(fig)
    return build


def _ablation(sec: Section, r: dict, folder: Path) -> None:
    if r.get("experiment") != "ablate" or "by_demos" not in r:
        raise Unreadable(f"{sec.source} is not an nsca ablate results file (keys: {', '.join(sorted(r)[:8])})")
    commit = str(r.get("provenance", {}).get("git_commit", "unknown"))[:12]
    wall = f"; wall time {r['wall_time_s'] / 60:.1f} min" if isinstance(r.get("wall_time_s"), (int, float)) else ""
    sec.blocks.append(f"{r['agent_kind']} agent; tasks {', '.join(r['tasks'])}; {r['n_seeds']} seeds{wall}; "
                      f"commit {commit}. Reference: {r['reference']}.")
    for demos, block in r["by_demos"].items():
        rows = []
        for name in r.get("conditions", list(block["conditions"])):
            row = block["conditions"][name]
            v = row.get("vs_reference") or {}
            rows.append([name, fmt(row["iqm"]), ci(*row["iqm_ci95"]), fmt(row["mean"]),
                         fmt(v.get("diff_abs"), "+.3f") if v else "(reference)",
                         ci(*v["diff_ci95"], "+.3f") if v else "-", fmt(v.get("p_paired_t"), ".3g") if v else "-",
                         fmt(v.get("p_holm"), ".3g") if v else "-", fmt(v.get("effect_dz"), ".2f") if v else "-",
                         fmt(v.get("p_improve"), ".2f") if v else "-"])
        sec.blocks.append(f"{demos} demos (IQM / mean across seeds x tasks, 95% stratified bootstrap CIs by rliable; "
                          f"differences are {r['reference']} minus the condition, paired over seeds):")
        sec.blocks.append(Table(["condition", "IQM", "IQM 95% CI", "mean", "diff", "95% paired CI", "paired t p",
                                 "Holm p", "d_z", "P(ref > cond)"], rows))
    for name, why in r.get("not_applicable", {}).items():
        sec.blocks.append(f"{name}: not applicable: {why}.")
    sec.blocks.append(f"Verdict: {r['verdict']}. Rule: {r['rule']} (family of {r['family_size']}).")
    fig = png_file(folder / "ablation.png", "IQM per condition and performance profiles (from the run folder)",
                   f"{sec.id}.png")
    sec.blocks.append(fig if fig else f"(no ablation.png in {folder})")


# ---- the seed's success table and §10 --------------------------------------------------------


def _mean_sd(xs: list[float]) -> tuple[float, float]:
    import numpy as np

    a = np.asarray(xs, dtype=float)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def _pct(m: float, sd: float, n: int, what: str) -> str:
    return f"{m:.0%} ± {sd:.0%} ({what}, n={n} seeds)"


def task_averaged(curves: dict, agent: str, demos: int) -> list[float] | None:
    """Per-seed success of `agent` at `demos`, averaged over the tasks that have it (seed i is paired across tasks)."""
    from nsca.experiments.lethality_curves import parse_curves

    per_task = [rows[demos]["per_seed"] for agents in parse_curves(curves).values()
                for a, rows in agents.items() if a == agent and demos in rows]
    if not per_task or len({len(p) for p in per_task}) != 1:
        return None
    return [sum(vals) / len(vals) for vals in zip(*per_task)]


def _curve_tasks(curves: dict, demos: int) -> list[str]:
    from nsca.experiments.lethality_curves import parse_curves

    return [t for t, agents in parse_curves(curves).items() if any(demos in rows for rows in agents.values())]


def _prior_agent(curves: dict) -> str | None:
    from nsca.experiments.lethality_curves import parse_curves

    agents = sorted({a for agents in parse_curves(curves).values() for a in agents if a not in ("bc", "none")})
    return agents[0] if agents else None


def success_table(lethality: dict | None, curves: dict | None, physion: dict | None, babbling: dict | None) -> Table:
    rows = []
    # Meta-World, 5 demos: the phase-0 default grid (prior 0.9 vs none), else the curves at 5 demos.
    expected, baseline = SEED_SUCCESS[0][1:]
    if lethality and lethality.get("demos") == 5 and {"prior_0.9", "none"} <= set(lethality["table"]):
        t = lethality["table"]
        m, sd = _mean_sd(t["prior_0.9"]["per_seed"])
        b, bsd = _mean_sd(t["none"]["per_seed"])
        c = lethality["comparisons"].get("prior_0.9 vs none")
        diff = f"; paired diff {c['diff_abs']:+.2f} {ci(*c['diff_ci95'], '+.2f')}" if c else ""
        rows.append([SEED_SUCCESS[0][0], expected, baseline, _pct(m, sd, len(t["prior_0.9"]["per_seed"]), "prior 0.9"),
                     _pct(b, bsd, len(t["none"]["per_seed"]), "none"), f"phase-0 default grid, {lethality['task']}{diff}"])
    else:
        row = _curves_row(SEED_SUCCESS[0], curves, 5)
        if lethality and row[3] == "not run":
            row[5] = f"the default grid has no prior_0.9 and none at 5 demos ({lethality.get('demos')} demos); " + row[5]
        rows.append(row)
    rows.append(_curves_row(SEED_SUCCESS[1], curves, 100))
    # Physion: NSCA's readout accuracy, 'all' protocol (train on all scenarios, test per scenario).
    name, expected, baseline = SEED_SUCCESS[2]
    if physion is None:
        rows.append([name, expected, baseline, "not run", "-", "no Physion evaluation run"])
    else:
        res = physion["results"]
        ref = physion.get("references", {}).get("human_mean")
        refs = f"human {ref:.3f} (Physion repository, quoted, not measured)" if ref is not None else "-"
        rollout = res.get("physics_rollout", {}).get("all", {}).get("mean") if "physics_rollout" in res else None
        extra = f"; physics rollout on true states {rollout['accuracy']:.0%}" if rollout else ""
        src = f"{physion['source']['kind']} scenes, 'all' protocol{extra}"
        if "nsca" in res:
            m = res["nsca"]["all"]["mean"]
            rows.append([name, expected, baseline, f"{m['accuracy']:.0%} {ci(m['ci95_low'], m['ci95_high'])} (NSCA)", refs, src])
        else:
            why = physion.get("not_run", {}).get("nsca", "no NSCA model in the run")
            rows.append([name, expected, baseline, f"not run ({why})", refs, src])
    name, expected, baseline = SEED_SUCCESS[3]
    if babbling is None:
        rows.append([name, expected, baseline, "not run", "-", "no babbling summary.json"])
    else:
        rows.append([name, expected, baseline, f"{babbling['affordance_coverage']:.1%} of {babbling['cells']} cells", "-",
                     f"nsca babble, {babbling['steps']:,} interactions"])
    return Table(["metric", "seed: expected", "seed: baseline", "measured", "measured baseline", "source"], rows)


def _curves_row(seed_row: tuple[str, str, str], curves: dict | None, demos: int) -> list[str]:
    name, expected, baseline = seed_row
    agent = _prior_agent(curves) if curves else None
    mine = task_averaged(curves, agent, demos) if agent else None
    base = task_averaged(curves, "none", demos) if curves else None
    if mine is None or base is None:
        return [name, expected, baseline, "not run", "-", f"no curves grid with {demos} demos"]
    tasks = _curve_tasks(curves, demos)
    m, sd = _mean_sd(mine)
    b, bsd = _mean_sd(base)
    return [name, expected, baseline, _pct(m, sd, len(mine), agent), _pct(b, bsd, len(base), "none"),
            f"curves grid, mean over {len(tasks)} task(s): {', '.join(t.replace('-v3', '') for t in tasks)}"]


def _stat(comps: dict, task: str, demos: int, agent: str) -> str:
    c = comps.get(f"{task}/d{demos}/{agent} vs {task}/d{demos}/none")
    if c is None:
        return f"{task} at {demos} demos: no comparison"
    b = comps.get(f"{task}/d{demos}/{agent} vs {task}/d{demos}/bc")
    vs_bc = "" if b is None else f"; {agent} - BC = {b['diff_abs']:+.2f}, 95% paired CI {ci(*b['diff_ci95'], '+.2f')}"
    return (f"{task.replace('-v3', '')} at {demos} demos: {agent} - none = {c['diff_abs']:+.2f}, "
            f"95% paired CI {ci(*c['diff_ci95'], '+.2f')}, Wilcoxon p = {fmt(c.get('p_wilcoxon'), '.2g')}, n = {c['n']}"
            + vs_bc)


def choose_finding(lethality: dict | None, curves: dict | None) -> dict:
    """The seed §10 paragraph by FINDING_RULE: {"rule_applied", "kind", "title", "text"}."""
    if curves is not None:
        from nsca.experiments.lethality_curves import answer

        ans = answer(curves)
        comps = curves["comparisons"]
        pairs = [(t, p, a["rows"]) for t, a in ans.items() for p in a["prior_agents"] if len(a["rows"]) >= 2]
        if pairs:
            low_better = [(t, p) for t, p, rows in pairs if rows[0][f"{p}_helps"]]
            high_worse = [(t, p) for t, p, rows in pairs if rows[-1][f"{p}_vs_none"] == "worse"]
            tasks = sorted({t for t, _, _ in pairs})
            if {t for t, _ in low_better} == set(tasks) and not high_worse:
                stats = [_stat(comps, t, rows[0]["demos"], p) for t, p, rows in pairs]
                return {"rule_applied": 1, "kind": "positive", "title": "The seed's key result holds",
                        "text": "The prior agent outperforms random init and plain BC at the lowest demo count on every task and is "
                                "not worse at the highest: " + "; ".join(stats) + "."}
            narrow = [(t, p, rows) for t, p, rows in pairs if (t, p) in low_better and not rows[1][f"{p}_helps"]]
            if narrow:
                t, p, rows = narrow[0]
                d1, d2 = rows[0]["demos"], rows[1]["demos"]
                return {"rule_applied": 2, "kind": "negative", "title": f"Priors help at {d1} demos but not {d2}",
                        "text": f"Negative finding 1 (narrow usefulness), for '{NEGATIVE_TITLE}': "
                                f"{_stat(comps, t, d1, p)}; {_stat(comps, t, d2, p)}."}
            helped = sorted({t for t, p, rows in pairs if any(r[f"{p}_helps"] for r in rows)})
            if helped:
                others = [t for t in tasks if t not in helped]
                best = [_stat(comps, t, r["demos"], p) for t, p, rows in pairs if t in helped
                        for r in rows if r[f"{p}_helps"]][:3]
                return {"rule_applied": 3, "kind": "negative",
                        "title": f"Priors help on {', '.join(helped)} but not on {', '.join(others)}",
                        "text": f"Negative finding 2 (task-specific), for '{NEGATIVE_TITLE}': " + "; ".join(best)
                                + f"; no detectable benefit at any demo count on {', '.join(others)}."}
    curves_note = (" The data-efficiency curves show no detectable benefit of the prior at any demo count."
                   if curves is not None else " The data-efficiency curves have not run.")
    if lethality is not None and lethality.get("verdict") in ("hurting", "too_weak", "validated"):
        comps = lethality["comparisons"]
        key = lethality["verdict"]
        c = comps["prior_0.1 vs prior_0.9"] if key == "hurting" else comps["prior_0.9 vs prior_0.5"]
        name = "prior 0.1 - prior 0.9" if key == "hurting" else "prior 0.9 - prior 0.5"
        stat = (f"{name} = {c['diff_abs']:+.2f} (rel {fmt(c['diff_rel'], '+.0%')}), 95% paired CI "
                f"{ci(*c['diff_ci95'], '+.2f')}, Wilcoxon p = {fmt(c.get('p_wilcoxon'), '.2g')}, n = {c['n']} seeds "
                f"({lethality['task']}, {lethality['demos']} demos)")
        if key == "validated":
            return {"rule_applied": 4, "kind": "positive", "title": "Phase-0 gate passed",
                    "text": f"The prior helps at the phase-0 budget: {stat}." + curves_note}
        title = "The priors hurt" if key == "hurting" else "No detectable benefit of the priors"
        return {"rule_applied": 4, "kind": "negative", "title": f"{NEGATIVE_TITLE}: {title.lower()}",
                "text": f"Phase-0 verdict '{lethality['verdict_text']}': {stat}." + curves_note}
    if lethality is not None:
        text = (f"The phase-0 default grid has no verdict ({lethality.get('verdict_text', 'none')}) and the curves "
                "decide nothing; no finding is stated.")
    elif curves is not None:
        text = "The curves grid has no prior agent beside 'none' at two demo counts, and the phase-0 default grid has not run."
    else:
        text = "Neither the phase-0 default grid nor the curves grid has a results.json; no finding is stated."
    return {"rule_applied": 5, "kind": "undecided", "title": "Undecided: phase 0 has not produced a verdict", "text": text}


# ---- building and writing --------------------------------------------------------------------


@dataclass
class Report:
    sections: list[Section]
    success: Table
    finding: dict
    generated: str
    runs: str

    def figures(self) -> list[Figure]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Figure)]


def build_report(paths: Paths, sanity_checks: dict[str, str], runs: str = "runs") -> Report:
    """Read every phase's run folder; `sanity_checks` maps check name -> the module of its experiment."""
    from nsca.utils.provenance import git_commit

    secs = [
        build_section("lethality", "Phase 0: lethality test (default grid)", paths.lethality, _lethality_builder("default")),
        build_section("decomposition", "Phase 0: 2x2 decomposition", paths.decomposition, _lethality_builder("decomposition")),
        build_section("curves", "Phase 0: data-efficiency curves", paths.curves, _lethality_builder("curves")),
    ]
    for check, module in sanity_checks.items():
        secs.append(build_section(f"sanity-{check}", f"Sanity check: {check}", paths.sanity / check,
                                  _sanity_builder(check, module)))
    secs.append(other_sanity_runs(paths.sanity, sanity_checks))
    secs.append(build_section("babbling", "Phases 1/3: babbling", paths.babbling, _babbling, name="summary.json"))
    secs.append(training_section(paths.train))
    secs.append(build_section("physion", "Phase 7: Physion object-contact prediction", paths.physion,
                              _suite_builder("nsca.evaluation.physion_ocp", "accuracy.png", "OCP accuracy per scenario")))
    secs.append(build_section("procgen", "Phase 7: Procgen", paths.procgen,
                              _suite_builder("nsca.evaluation.procgen", "curves.png", "PPO training curves")))
    secs.append(build_section("ml10", "Phase 7: Meta-World ML10 few-shot", paths.ml10,
                              _suite_builder("nsca.evaluation.metaworld_ml10", "success_by_k.png",
                                             "success by k demos", key="table")))
    secs.append(build_section("grounding", "Grounding learned from babbling", paths.grounding,
                              _suite_builder("nsca.evaluation.grounding", "accuracy.png", "probe accuracy")))
    secs.append(build_section("ablation", "Phase 5: ablation study", paths.ablation, _ablation))
    by = {s.id: s.data for s in secs}
    success = success_table(by["lethality"], by["curves"], by["physion"], by["babbling"])
    finding = choose_finding(by["lethality"], by["curves"])
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return Report(secs, success, finding, f"{stamp}, code commit {git_commit()[:12]}", str(runs))


def write_report(report: Report, out: str | Path) -> dict[str, Path]:
    """report.html (figures inline), report.md and figures/*.png under `out`."""
    out = ensure_writable_dir(out)
    try:
        for fig in report.figures():
            atomic_write_bytes(out / "figures" / fig.name, fig.png)
        atomic_write_text(out / "report.html", render_html(report))
        atomic_write_text(out / "report.md", render_markdown(report))
    except OSError as exc:
        raise UsageError(f"cannot write the report to {out}: {exc.strerror or exc}") from None
    return {"html": out / "report.html", "markdown": out / "report.md"}


# ---- rendering -------------------------------------------------------------------------------

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1150px;margin:24px auto;padding:0 16px;color:#222}
h1{margin-bottom:4px}h2{border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:36px}
table{border-collapse:collapse;margin:10px 0;font-size:13px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f2f4f7}pre{background:#f7f7f7;padding:10px;font-size:12px;white-space:pre-wrap}
img{max-width:min(100%,900px);border:1px solid #ddd;margin:8px 0}figure{margin:0}figcaption{font-size:12px;color:#555}
.status{font-size:12px;padding:2px 8px;border-radius:10px;margin-left:8px;vertical-align:middle;font-weight:normal}
.done{background:#d9f2dd}.not-run{background:#eee}.unfinished{background:#fff1c2}.unreadable{background:#f9d0d0}
.finding{border-left:4px solid #2c5d8f;padding:6px 12px;background:#f3f7fb}.meta{color:#666;font-size:13px}
"""


def _status_class(status: str) -> str:
    return status.replace(" ", "-")


def _html_table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in t.header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in t.rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_block(b: Any) -> str:
    if isinstance(b, Table):
        return _html_table(b)
    if isinstance(b, Figure):
        data = base64.b64encode(b.png).decode()
        return (f'<figure><img alt="{html.escape(b.caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{html.escape(b.caption)}</figcaption></figure>")
    if isinstance(b, tuple) and b[0] == "pre":
        return f"<pre>{html.escape(b[1])}</pre>"
    return f"<p>{html.escape(str(b))}</p>"


def render_html(r: Report) -> str:
    e = html.escape
    parts = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">', "<title>NSCA report</title>",
             f"<style>{_CSS}</style></head><body>", "<h1>NSCA report</h1>",
             f'<p class="meta">Built by <code>nsca report</code> from <code>{e(r.runs)}</code> on {e(r.generated)}. '
             "Every number is read from a run folder; a phase without one is listed as not run.</p>",
             '<h2 id="status">Phases</h2>',
             _html_table(Table(["phase", "status", "source"], [[s.title, s.note or s.status, s.source] for s in r.sections])),
             '<h2 id="success">What success looks like (seed §9), measured</h2>', _html_table(r.success),
             f"<p>Seed's key result: {e(SEED_KEY_RESULT)}</p>",
             '<h2 id="finding">The finding (seed §10)</h2>',
             f'<div class="finding"><p><b>{e(r.finding["title"])}</b> ({e(r.finding["kind"])}, rule {r.finding["rule_applied"]})</p>'
             f"<p>{e(r.finding['text'])}</p></div>", f"<p class=\"meta\">Rule: {e(FINDING_RULE)}</p>"]
    for s in r.sections:
        parts.append(f'<h2 id="{e(s.id)}">{e(s.title)}<span class="status {_status_class(s.status)}">{e(s.status)}</span></h2>')
        parts.append(f'<p class="meta">source: <code>{e(s.source)}</code></p>')
        if s.note:
            parts.append(f"<p>{e(s.note)}</p>")
        parts += [_html_block(b) for b in s.blocks]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _md_table(t: Table) -> str:
    def cell(c: str) -> str:
        return c.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in t.header) + " |", "|" + "---|" * len(t.header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in t.rows]
    return "\n".join(lines)


def render_markdown(r: Report) -> str:
    parts = ["# NSCA report", "",
             f"Built by `nsca report` from `{r.runs}` on {r.generated}. Every number is read from a run folder; "
             "a phase without one is listed as not run. Figures are in `figures/` (report.html has them inline).", "",
             "## Phases", "", _md_table(Table(["phase", "status", "source"],
                                              [[s.title, s.note or s.status, s.source] for s in r.sections])), "",
             "## What success looks like (seed §9), measured", "", _md_table(r.success), "",
             f"Seed's key result: {SEED_KEY_RESULT}", "",
             "## The finding (seed §10)", "",
             f"**{r.finding['title']}** ({r.finding['kind']}, rule {r.finding['rule_applied']})", "",
             r.finding["text"], "", f"Rule: {FINDING_RULE}", ""]
    for s in r.sections:
        parts += [f"## {s.title} ({s.status})", "", f"source: `{s.source}`", ""]
        if s.note:
            parts += [s.note, ""]
        for b in s.blocks:
            if isinstance(b, Table):
                parts += [_md_table(b), ""]
            elif isinstance(b, Figure):
                parts += [f"![{b.caption}](figures/{b.name})", ""]
            elif isinstance(b, tuple):
                parts += ["```", b[1], "```", ""]
            else:
                parts += [str(b), ""]
    return "\n".join(parts)
