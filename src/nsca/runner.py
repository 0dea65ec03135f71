"""Runs a grid of (condition, seed) cells, each a pure function writing its metrics atomically.

A finished cell has `<out>/<condition>/<seed>/metrics.json`; a rerun skips it, so a killed run
resumes and loses nothing. Cells run in local worker processes by default, or on a Ray cluster
(`backend="ray"`; Ray is the distributed engine, nothing home-made).
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from nsca.errors import UsageError
from nsca.utils.io import atomic_write_json, read_json
from nsca.utils.provenance import provenance


@dataclass(frozen=True)
class Cell:
    condition: str
    seed: int
    config: dict = field(default_factory=dict, hash=False, compare=False)

    def dir(self, root: Path) -> Path:
        return Path(root) / self.condition / str(self.seed)


def _resolve(fn_path: str) -> Callable[[dict, Path], dict]:
    module, name = fn_path.split(":")
    return getattr(importlib.import_module(module), name)


def _worker_init(threads: int) -> None:
    # Many small networks in parallel processes: one BLAS thread each avoids oversubscription.
    import torch

    torch.set_num_threads(threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))


def execute_cell(fn_path: str, cell: Cell, root: str) -> dict:
    """Run one cell and write its metrics.json atomically (the write is the commit point)."""
    cell_dir = cell.dir(Path(root))
    cell_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    metrics = _resolve(fn_path)(dict(cell.config), cell_dir)
    record = {
        "condition": cell.condition,
        "seed": cell.seed,
        "config": cell.config,
        "metrics": metrics,
        "wall_time_s": time.time() - t0,
        "provenance": provenance(),
    }
    atomic_write_json(cell_dir / "metrics.json", record)
    return record


def load_finished(cell: Cell, root: Path) -> dict | None:
    record = read_json(cell.dir(root) / "metrics.json")
    if record is None or "metrics" not in record:
        return None
    if record.get("config") != cell.config:
        return None  # same folder, different config: redo instead of trusting stale numbers
    return record


def run_grid(
    fn_path: str,
    cells: list[Cell],
    root: str | Path,
    workers: int = 1,
    backend: str = "local",
    address: str | None = None,
    desc: str = "cells",
    threads_per_worker: int = 1,
) -> list[dict]:
    """Run every unfinished cell; return all records in the order of `cells`."""
    root = Path(root)
    results: dict[Cell, dict] = {}
    todo = []
    for cell in cells:
        done = load_finished(cell, root)
        if done is None:
            todo.append(cell)
        else:
            results[cell] = done
    bar = tqdm(total=len(cells), initial=len(results), desc=desc, unit="cell", dynamic_ncols=True)
    try:
        if backend == "ray":
            _run_ray(fn_path, todo, root, address, results, bar)
        elif backend != "local":
            raise UsageError(f"unknown backend '{backend}'; choose local or ray")
        elif workers <= 1 or len(todo) <= 1:
            _worker_init(max(1, threads_per_worker))
            for cell in todo:
                results[cell] = execute_cell(fn_path, cell, str(root))
                bar.update(1)
        else:
            ctx = mp.get_context("spawn")
            with ProcessPoolExecutor(
                max_workers=min(workers, len(todo)), mp_context=ctx,
                initializer=_worker_init, initargs=(threads_per_worker,),
            ) as pool:
                pending = {pool.submit(execute_cell, fn_path, c, str(root)): c for c in todo}
                while pending:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        cell = pending.pop(fut)
                        results[cell] = fut.result()
                        bar.update(1)
    finally:
        bar.close()
    return [results[c] for c in cells]


def _run_ray(fn_path: str, todo: list[Cell], root: Path, address: str | None, results: dict, bar: Any) -> None:
    try:
        import ray
    except ImportError:
        raise UsageError("backend 'ray' needs Ray: pip install 'nsca[distributed]'") from None
    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    remote = ray.remote(num_cpus=1)(execute_cell)
    refs = {remote.remote(fn_path, c, str(root)): c for c in todo}
    while refs:
        ready, _ = ray.wait(list(refs), num_returns=1)
        for ref in ready:
            results[refs.pop(ref)] = ray.get(ref)
            bar.update(1)
