"""The sections of `nsca report`: each phase's run folder read into tables, paragraphs and figures.

The report only reads what the phases wrote (results.json, summary.json, their PNGs). A phase
whose folder is missing is "not run"; one whose grid has cells but no results.json is
"unfinished"; one whose file is corrupt or of another layout says so in one line
("unreadable"). Nothing is estimated or filled in. Each reader takes its phase (its registry
entry, nsca.reporting.phases), the section to fill, the results and the folder; figures are the
PNGs the phase wrote under the name its experiment declares (`plot_name`).
"""

from __future__ import annotations

import importlib
import json
import math
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nsca.reporting.phases import Phase

Reader = Callable[["Phase", "Section", dict, Path], None]


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


def build_section(phase: Phase, folder: Path, read: Reader, name: str = "results.json", id: str | None = None,
                  title: str | None = None) -> Section:
    """Load `folder/name` and let `read` fill the section; any failure is the section's one line."""
    sec = Section(id or phase.name, title or phase.title, str(folder / name))
    try:
        data = load_json(folder, name)
        read(phase, sec, data, folder)
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


def plot_name(module: str) -> str:
    """The PNG a phase's module writes: its experiment's `plot_name`, or the module's PLOT_NAME
    (babbling and training, which are not experiments of the protocol)."""
    mod = importlib.import_module(module)
    return mod.EXPERIMENT.plot_name if hasattr(mod, "EXPERIMENT") else mod.PLOT_NAME


def png_file(path: Path, caption: str, name: str) -> Figure | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return Figure(name, data, caption) if data.startswith(b"\x89PNG") else None


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


def lethality(grid: str) -> Reader:
    """A phase-0 grid's section (`grid`: default, decomposition or curves)."""
    def read(phase: Phase, sec: Section, r: dict, folder: Path) -> None:
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
            png = plot_name(phase.experiment)
            fig = png_file(folder / png, f"{grid} grid: {phase.caption} (from the run folder)", f"{sec.id}.png")
            sec.blocks.append(fig if fig else f"(no {png} in {folder})")
    return read


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
    with tempfile.TemporaryDirectory(prefix="nsca-report-") as tmp:
        plot_curves(Path(tmp) / "curves.png", r)
        fig = png_file(Path(tmp) / "curves.png", "success vs demos per task and agent (95% bootstrap CI bands)",
                       f"{sec.id}.png")
    if fig:
        sec.blocks.append(fig)


# ---- sanity checks ---------------------------------------------------------------------------


def sanity(phase: Phase, folder: Path) -> list[Section]:
    """One section per registered check (nsca.experiments.SANITY_CHECKS) in `folder/<check>`,
    and one listing the other run folders there."""
    from nsca.experiments import SANITY_CHECKS

    secs = [build_section(phase, folder / check, _sanity_check(check, module), id=f"sanity-{check}",
                          title=f"Sanity check: {check}") for check, module in SANITY_CHECKS.items()]
    return [*secs, other_sanity_runs(folder, SANITY_CHECKS)]


def _sanity_check(check: str, module: str) -> Reader:
    def read(phase: Phase, sec: Section, r: dict, folder: Path) -> None:
        found = r.get("check", r.get("experiment"))
        if found != check or r.get("verdict") not in ("PASS", "FAIL"):
            raise Unreadable(f"{sec.source} is not a {check} results file (check: {found!r}, verdict: {r.get('verdict')!r})")
        exp = importlib.import_module(module).EXPERIMENT
        seeds = r.get("config", {}).get("n_seeds", len({s.get("seed") for s in r.get("per_seed", [])}))
        sec.blocks.append(f"Verdict: {r['verdict']} ({seeds} seeds). Rule: {r['rule']}")
        sec.blocks.append(("pre", "\n".join(exp.report_lines(r))))
        fig = png_file(folder / plot_name(module), f"{check} (from the run folder)", f"sanity-{check}.png")
        if fig:
            sec.blocks.append(fig)
    return read


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


def babbling(phase: Phase, sec: Section, s: dict, folder: Path) -> None:
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
    fig = png_file(folder / plot_name(phase.experiment), phase.caption, f"{sec.id}.png")
    if fig:
        sec.blocks.append(fig)


def training(phase: Phase, folder: Path, max_figures: int = 4) -> list[Section]:
    """A folder of `nsca train` run folders: one table row per run, the newest runs' loss curves."""
    sec = Section(phase.name, phase.title, str(folder))
    runs = sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime,
                  reverse=True) if folder.is_dir() else []
    runs = [p for p in runs if (p / "summary.json").is_file() or (p / "metrics.jsonl").is_file()]
    if not runs:
        sec.status, sec.note = "not run", f"not run (no training run folders in {folder})"
        return [sec]
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
            fig = png_file(run / plot_name(phase.experiment), f"{run.name}: {phase.caption}", f"train-{run.name}.png")
            if fig:
                figures.append(fig)
    sec.blocks.append(Table(["run", "steps", "epochs", "prior w", "val total", "params", "samples/s", "device"], rows))
    sec.blocks += figures
    return [sec]


def suite(key: str = "results") -> Reader:
    """A phase-7 suite's section: its own report text (`format_report`) and its figure; `key` is
    the results field that marks a finished run of that suite."""
    def read(phase: Phase, sec: Section, r: dict, folder: Path) -> None:
        if key not in r or "config" not in r:
            raise Unreadable(f"{sec.source} is not a {sec.id} evaluation results file")
        sec.blocks += markdown_blocks(importlib.import_module(phase.experiment).format_report(r))
        fig = png_file(folder / plot_name(phase.experiment), phase.caption, f"{sec.id}.png")
        if fig:
            sec.blocks.append(fig)
    return read


def ablation(phase: Phase, sec: Section, r: dict, folder: Path) -> None:
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
    png = plot_name(phase.experiment)
    fig = png_file(folder / png, f"{phase.caption} (from the run folder)", f"{sec.id}.png")
    sec.blocks.append(fig if fig else f"(no {png} in {folder})")
