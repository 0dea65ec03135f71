"""One experiment protocol: what an experiment provides, and the one driver that runs it.

An experiment is a subclass of `Experiment` in its own module, with a frozen config dataclass
that extends `RunConfig` (so every experiment has the same run flags: `--seeds` (alias
`--n-seeds`), `--out`, `--workers`, `--backend`, `--address`) and a module-level
`run_cell(config, cell_dir) -> metrics`, a pure function of its cell's config. The experiment
says which cells exist, how their records become a results dict, its report lines and its
plot; the driver (`run_experiment`) does everything else, the same way for all:

1. start-run: the experiment's fail-fast checks, the cells, a writable `--out`, a refusal (one
   line, exit 2) if `--out` holds a run of another config (fields that only pick cells or only
   say where and how to run may change: a rerun then extends the grid) or a config.json of any
   other layout, then `config.json`
   (`{"config": ..., "provenance": ...}`) and `config.yaml`;
2. the experiment's `prepare` (work all cells share, e.g. a data set), then the grid:
   `nsca.runner.run_grid` (finished cells whose config is unchanged are reused);
3. finish-run: `results.json` (the experiment's summary plus config, provenance and times;
   strict JSON), `report.txt`, the plot and any extra files.

Sanity checks (PASS/FAIL, exit 0/1) subclass `SanityCheck`, which adds the conditions x seeds
grid and the verdict layout. Commands build their flags with `add_arguments` and run with
`run_command`.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
import yaml

from nsca.config import field, from_dict
from nsca.errors import UsageError
from nsca.runner import Cell, run_grid
from nsca.utils.io import atomic_write_bytes, atomic_write_json, atomic_write_text, ensure_writable_dir
from nsca.utils.provenance import check_recordable, provenance, read_run_config, write_run_config

# Say where and how cells run, never what they compute: a rerun may change them freely.
RUNTIME_FIELDS = ("workers", "out", "backend", "address", "allow_dirty")
# All the run fields; none of them is part of a cell's config.
RUN_FIELDS = ("n_seeds", *RUNTIME_FIELDS)
C = TypeVar("C")


def seeds_field(default: int) -> Any:
    return field(default, "seeds per condition (seeds 0..N-1)", flags=("--seeds", "--n-seeds"))


def out_field(default: str) -> Any:
    return field(default, "output folder; a rerun with the same config resumes it")


@dataclass(frozen=True)
class RunConfig:
    """The run fields every experiment config extends (redeclare one to change its default)."""

    n_seeds: int = seeds_field(3)
    workers: int = field(1, "parallel worker processes for the (condition, seed) cells")
    backend: Literal["local", "ray"] = field("local", "where cells run: local processes or a Ray cluster")
    address: str | None = field(None, "Ray cluster address (backend=ray)")
    out: str = out_field("runs/experiment")
    allow_dirty: bool = field(False, "record a run from a git tree with uncommitted changes (refused otherwise "
                                     "for a record: a run into results/ or a pre-registered one); recorded in config.json")

    def validate(self) -> None:
        if self.n_seeds < 1:
            raise UsageError(f"--n-seeds must be at least 1, got {self.n_seeds} (--seeds is the same flag)")
        if self.workers < 1:
            raise UsageError(f"--workers must be at least 1, got {self.workers}")


def experiment_fields(cfg: RunConfig) -> dict:
    """The config without its run fields: what a cell's numbers may depend on."""
    return {k: v for k, v in dataclasses.asdict(cfg).items() if k not in RUN_FIELDS}


class Experiment(ABC):
    """What an experiment provides. The driver calls `check` and `cells`, runs the grid, then
    `summarize`, `extra_files`, `plot` and `report_lines`; the command prints `report_lines` and
    `status` and returns `exit_code`."""

    name: ClassVar[str]                      # the command's name, e.g. "lethality", "noisy-tv"
    help: ClassVar[str] = ""                 # one line for --help
    config: ClassVar[type[RunConfig]]        # the frozen config dataclass
    grid_fields: ClassVar[tuple[str, ...]] = ()  # config fields that only choose which cells exist
    plot_name: ClassVar[str] = "plot.png"

    @property
    def cell_fn(self) -> str:
        """`module:function` of the pure cell function the runner's workers import."""
        return f"{type(self).__module__}:run_cell"

    def check(self, cfg: Any) -> None:
        """Fail fast (UsageError) on input that only running would find bad; nothing is written yet.
        Optional: the default accepts everything the config's own validate() accepted."""
        return None

    @abstractmethod
    def cells(self, cfg: Any) -> list[Cell]:
        """The grid: one `Cell(condition, seed, config)` per unit of work."""

    # The results keys `prepare` returns (kept as they are when a run is re-summarized).
    prepared_keys: ClassVar[tuple[str, ...]] = ()

    def prepare(self, cfg: Any, out: Path) -> dict:
        """Work every cell shares, done once after start-run and before the grid (e.g. generating
        the data set the cells read); what it returns (keys: `prepared_keys`) is added to the results."""
        return {}

    def threads_per_worker(self, cfg: Any) -> int:
        """Torch / BLAS threads of each worker process."""
        return 1

    @abstractmethod
    def summarize(self, cfg: Any, records: list[dict]) -> dict:
        """The results dict from the grid's records (the runner's `{condition, seed, config, metrics}`)."""

    @abstractmethod
    def report_lines(self, results: dict) -> list[str]:
        """What the command prints (and report.txt holds)."""

    def plot(self, cfg: Any, records: list[dict], results: dict) -> Any:
        """A matplotlib Figure (the driver saves it as `plot_name`), or None for no plot."""
        return None

    def extra_files(self, results: dict) -> dict[str, str]:
        """Further text files for the run folder, name -> content (e.g. a CSV table)."""
        return {}

    def is_record(self, cfg: Any) -> bool:
        """Whether this run is a record wherever it is written (then a dirty git tree is refused
        unless --allow-dirty); runs into results/ always are."""
        return False

    def status(self, results: dict) -> str:
        return str(results.get("verdict", "done"))

    def exit_code(self, results: dict) -> int:
        return 0


# ---- the driver ----------------------------------------------------------------------------


def saved_config(out: Path) -> dict | None:
    """The config a run folder was started with; None where it has no config.json (a fresh run).

    Any other config.json is refused with one line: the folder is not a run of this layout, and
    taking it for a fresh run would overwrite the file."""
    path = out / "config.json"
    if not path.exists():
        return None
    saved = read_run_config(out)
    if saved is None:
        raise UsageError(f"{path} is unreadable or not the config.json of a run folder of this layout "
                         "({config, provenance}); choose another --out")
    return saved["config"]


def check_config_change(exp: Experiment, cfg: Any, out: Path) -> None:
    saved = saved_config(out)
    if saved is None:
        return
    skip = set(RUN_FIELDS) | set(exp.grid_fields)
    try:  # a field added since the run started is missing from its saved config: its default fills it
        saved = json.loads(json.dumps(dataclasses.asdict(from_dict(type(cfg), saved))))
    except (UsageError, TypeError):
        pass  # compare as saved; the differing keys are reported below
    mine = {k: v for k, v in json.loads(json.dumps(dataclasses.asdict(cfg))).items() if k not in skip}  # as saved
    theirs = {k: v for k, v in saved.items() if k not in skip}
    diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
    if diff:
        raise UsageError(f"{out} holds a {exp.name} run with a different config (differs in: {', '.join(diff)}); "
                         "choose another --out or rerun with the same settings to resume")


def start_run(exp: Experiment, cfg: Any) -> Path:
    """Check the folder (writable: checked first, by `run`; no run of another config in it) and record the config."""
    check_recordable(cfg.out, cfg.allow_dirty, exp.is_record(cfg))
    out = Path(cfg.out)
    check_config_change(exp, cfg, out)
    out.mkdir(parents=True, exist_ok=True)
    config = json.loads(json.dumps(dataclasses.asdict(cfg)))  # plain lists, so YAML can hold it
    write_run_config(out, config)
    atomic_write_text(out / "config.yaml", yaml.safe_dump(config, sort_keys=False))
    return out


def finish_run(exp: Experiment, cfg: Any, out: Path, records: list[dict], results: dict) -> None:
    """Write results.json (listing the files written), report.txt, any extra files and the plot."""
    import matplotlib

    matplotlib.use("Agg")
    extra = exp.extra_files(results)
    fig = exp.plot(cfg, records, results)
    results["files"] = ["results.json", "report.txt", *extra, *([exp.plot_name] if fig is not None else [])]
    atomic_write_json(out / "results.json", results)
    atomic_write_text(out / "report.txt", "\n".join(exp.report_lines(results)) + "\n")
    for name, text in extra.items():
        atomic_write_text(out / name, text)
    if fig is not None:
        save_figure(fig, out / exp.plot_name)


def run_experiment(exp: Experiment, cfg: Any) -> dict:
    """start-run, the grid, finish-run. Returns the results dict (as written to results.json)."""
    if not isinstance(cfg, exp.config):
        raise TypeError(f"{exp.name} needs a {exp.config.__name__}, got {type(cfg).__name__}")
    ensure_writable_dir(cfg.out)  # first: an unwritable --out is one line before any other work
    exp.check(cfg)
    cells = exp.cells(cfg)  # building them checks condition and task names before anything is written
    out = start_run(exp, cfg)
    t0 = time.time()
    prepared = exp.prepare(cfg, out)
    records = run_grid(exp.cell_fn, cells, out, workers=cfg.workers, backend=cfg.backend, address=cfg.address,
                       desc=f"{exp.name} cells", threads_per_worker=exp.threads_per_worker(cfg))
    results = {**exp.summarize(cfg, records), **prepared}
    t1 = time.time()
    results.update(experiment=exp.name, config=dataclasses.asdict(cfg), provenance=provenance(),
                   start_time=t0, end_time=t1, wall_time_s=round(t1 - t0, 1))
    finish_run(exp, cfg, out, records, results)
    return results


# ---- the command side ----------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser, exp: Experiment) -> None:
    """The same flags for every experiment: --config, then one per config field (run fields included)."""
    from nsca.config import add_dataclass_arguments

    parser.add_argument("--config", default=None, help=f"YAML file with {exp.config.__name__} keys (flags override it)")
    add_dataclass_arguments(parser, exp.config)


def run_command(exp: Experiment, args: argparse.Namespace) -> int:
    from nsca.config import resolve

    cfg = resolve(exp.config, args, args.config)
    results = run_experiment(exp, cfg)
    print("\n".join(exp.report_lines(results)))
    print(f"{exp.name}: {exp.status(results)}  ({', '.join(results['files'])} in {cfg.out})")
    return exp.exit_code(results)


# ---- sanity checks: conditions x seeds, PASS / FAIL ----------------------------------------


@dataclass(frozen=True)
class Verdict:
    passed: bool
    rule: str
    figures: dict
    per_seed: list[dict]


class SanityCheck(Experiment):
    """A check with controls and a PASS/FAIL rule: every condition x seeds 0..N-1; exit 0 / 1."""

    conditions: ClassVar[tuple[str, ...]]

    def cells(self, cfg: Any) -> list[Cell]:
        fields = experiment_fields(cfg)
        return [Cell(c, s, {**fields, "seed": s, "condition": c}) for c in self.conditions for s in range(cfg.n_seeds)]

    @staticmethod
    def cell_parts(config_cls: type[C], config: dict) -> tuple[C, int, str]:
        """A cell's config as `cells` builds it, back as (the config dataclass, seed, condition);
        the run fields, which no cell reads, are at their defaults."""
        fields = dict(config)
        seed, condition = fields.pop("seed"), fields.pop("condition")
        return config_cls(**fields), seed, condition

    @abstractmethod
    def judge(self, cfg: Any, by: dict[str, list[dict]], records: list[dict]) -> Verdict:
        """The verdict from the metrics per condition (`by`, in seed order) and the raw records."""

    def by_condition(self, records: list[dict]) -> dict[str, list[dict]]:
        """Each condition's metrics, in seed order."""
        return {c: [r["metrics"] for r in records if r["condition"] == c] for c in self.conditions}

    def summarize(self, cfg: Any, records: list[dict]) -> dict:
        v = self.judge(cfg, self.by_condition(records), records)
        return {"check": self.name, "verdict": "PASS" if v.passed else "FAIL", "rule": v.rule,
                "figures": v.figures, "per_seed": v.per_seed}

    def exit_code(self, results: dict) -> int:
        return 0 if results["verdict"] == "PASS" else 1


# ---- plotting shared by the experiments ----------------------------------------------------


def save_figure(fig: Any, path: Path, dpi: int = 120) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def seed_curves(ax: Any, x: Sequence[float], curves: np.ndarray, color: str, label: str) -> None:
    """One thin line per seed and their mean in bold (labelled with the number of seeds)."""
    curves = np.asarray(curves, dtype=float)
    for c in curves:
        ax.plot(x, c, color=color, alpha=0.3, lw=0.8)
    ax.plot(x, curves.mean(0), color=color, lw=2, label=f"{label}, mean of {len(curves)} seeds")


def seed_bars(ax: Any, x: Sequence[float], per_seed: np.ndarray, width: float, color: str, label: str | None = None,
              yerr: np.ndarray | None = None, edgecolor: str | None = None) -> None:
    """Bars of the per-seed mean (optionally with error bars) and each seed as a dot on its bar."""
    per_seed = np.asarray(per_seed, dtype=float)  # seeds x bars
    x = np.asarray(x, dtype=float)
    ax.bar(x, per_seed.mean(0), width, yerr=yerr, capsize=5 if yerr is not None else 0, color=color, alpha=0.8,
           edgecolor=edgecolor, label=label)
    jitter = np.linspace(-0.3, 0.3, len(per_seed)) * width if len(per_seed) > 1 else np.zeros(1)
    for j, row in zip(jitter, per_seed):
        ax.scatter(x + j, row, color="k", s=10, zorder=3)

