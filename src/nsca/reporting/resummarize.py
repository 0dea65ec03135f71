"""Re-summarizing a finished run: its summary, report and plot rebuilt from its stored cells.

When the statistics code changes, a record's results.json was written by the old code while its
cells (each a pure function of its config) are still valid; this rebuilds the summary without
rerunning a cell. It lives above the experiments and evaluations because it finds any of them
by the name its results.json records.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from nsca.config import from_dict
from nsca.errors import UsageError
from nsca.experiments.protocol import Experiment, finish_run, saved_config
from nsca.utils.io import read_json
from nsca.utils.provenance import provenance

# Every experiment's module, by the name its results.json records (`Experiment.name`).
EXPERIMENT_MODULES = {
    "lethality": "nsca.experiments.lethality", "ablate": "nsca.experiments.ablation",
    "noisy-tv": "nsca.experiments.noisy_tv", "forgetting": "nsca.experiments.forgetting",
    "balloon": "nsca.experiments.balloon", "metaworld-ml10": "nsca.evaluation.metaworld_ml10",
    "procgen": "nsca.evaluation.procgen", "physion": "nsca.evaluation.physion_ocp",
    "grounding": "nsca.evaluation.grounding",
}


def experiment_named(name: str) -> Experiment:
    import importlib

    if name not in EXPERIMENT_MODULES:
        raise UsageError(f"unknown experiment '{name}'; known: {', '.join(EXPERIMENT_MODULES)}")
    return importlib.import_module(EXPERIMENT_MODULES[name]).EXPERIMENT


def resummarize(out: str | Path) -> dict:
    """Rebuild a finished run's results.json, report and plot from the cells stored in it, with
    the statistics code of this commit (no cell is rerun: a cell's numbers are its metrics.json).

    For records whose summary was written by older statistics code. The run's config is read
    back through its config class (fields added since get their defaults); the records are the
    `metrics.json` of the cells its grid names (their own configs are kept as recorded). The results keep the run's own wall time and say when and
    by which commit they were re-summarized (`resummarized`)."""
    out = Path(out)
    old = read_json(out / "results.json")
    saved = saved_config(out)
    if not isinstance(old, dict) or saved is None:
        raise UsageError(f"{out} is not a finished run folder (needs its config.json and results.json)")
    exp = experiment_named(str(old.get("experiment", "")))
    cfg = from_dict(exp.config, {**saved, "out": str(out)})
    records = []
    for cell in exp.cells(cfg):  # the run's grid only: a folder may hold cells of a larger grid (an extension)
        path = cell.dir(out) / "metrics.json"
        record = read_json(path)
        if not isinstance(record, dict) or "metrics" not in record:
            raise UsageError(f"{path}: missing or not a cell record; rerun the run's command to finish that cell")
        records.append(record)
    results = {**exp.summarize(cfg, records), **{k: old[k] for k in exp.prepared_keys if k in old}}
    results.update(experiment=exp.name, config=dataclasses.asdict(cfg),
                   provenance=old.get("provenance"), start_time=old.get("start_time"), end_time=old.get("end_time"),
                   wall_time_s=old.get("wall_time_s"),
                   resummarized={"provenance": provenance(), "cells": len(records)})
    finish_run(exp, cfg, out, records, results)
    return results
