"""Runs a grid of (condition, seed) cells, each a pure function writing its metrics atomically.

A finished cell has `<out>/<condition>/<seed>/metrics.json`; a rerun skips it, so a killed run
resumes and loses nothing. Cells run in local worker processes by default, or on a Ray cluster
(`backend="ray"`; Ray is the distributed engine, nothing home-made). On Ray a worker process
that dies mid-cell has its cell retried (`max_retries`): a cell is idempotent, because nothing
counts as done until its metrics.json is renamed into place, and a retry finding that file
returns it instead of recomputing. The driver also writes each record it receives, so resume
works on the driver's disk even when the workers' output folder is not shared with it.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
    max_retries: int = 3,
    connect_timeout_s: float = 10.0,
) -> list[dict]:
    """Run every unfinished cell; return all records in the order of `cells`.

    Ray only: `max_retries` is how often a cell whose worker process died is rerun (exceptions
    raised by the cell itself are not retried: they are bugs or bad input, and rerunning a pure
    function gives the same error); `connect_timeout_s` bounds the wait for `address`.
    """
    root = Path(root)
    results: dict[Cell, dict] = {}
    todo = []
    for cell in cells:
        done = load_finished(cell, root)
        if done is None:
            todo.append(cell)
        else:
            results[cell] = done
    if backend not in ("local", "ray"):
        raise UsageError(f"unknown backend '{backend}'; choose local or ray")
    ray_owned = _connect_ray(address, connect_timeout_s) if backend == "ray" and todo else False
    bar = tqdm(total=len(cells), initial=len(results), desc=desc, unit="cell", dynamic_ncols=True)
    try:
        if backend == "ray":
            if todo:
                _run_ray(fn_path, todo, root, results, bar, threads_per_worker, max_retries)
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
        if ray_owned:
            import ray

            ray.shutdown()
    return [results[c] for c in cells]


def _check_reachable(address: str, timeout_s: float) -> None:
    """Fail in `timeout_s` with one line when nothing answers gRPC (Ray's GCS and its client
    server both speak it) at `address`; ray.init itself can wait minutes on a wrong address."""
    import grpc

    url = urlsplit(address if "://" in address else f"//{address}")
    try:
        host, port = url.hostname, url.port
    except ValueError:
        host = port = None
    if not host or not port:
        raise UsageError(f"Ray address '{address}' is not host:port or ray://host:port")
    hint = "check the address and that the head node is running"
    try:  # a closed port or an unknown host fails here at once
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        raise UsageError(f"no Ray cluster answers at {address} ({exc.strerror or exc}); {hint}") from None
    channel = grpc.insecure_channel(f"{host}:{port}")
    try:  # something listens: is it a gRPC server?
        grpc.channel_ready_future(channel).result(timeout=timeout_s)
    except grpc.FutureTimeoutError:
        raise UsageError(f"no Ray cluster answers at {address} (no gRPC reply in {timeout_s:g} s); {hint}") from None
    finally:
        channel.close()


def _ray_cell(fn_path: str, cell: Cell, root: str, threads: int) -> dict:
    """A Ray task: a retry after a worker died returns the cell's record if it was already written."""
    done = load_finished(cell, Path(root))
    if done is not None:
        return done
    _worker_init(threads)
    return execute_cell(fn_path, cell, root)


def _connect_ray(address: str | None, timeout_s: float) -> bool:
    """Connect this process to Ray (a new local instance when `address` is None); True when
    this call made the connection, so the grid disconnects at the end."""
    try:
        import ray
    except ImportError:
        raise UsageError("backend 'ray' needs Ray: pip install 'nsca[distributed]'") from None
    if ray.is_initialized():  # the caller connected already
        return False
    # No address: $RAY_ADDRESS, else a new Ray instance on this machine; never a cluster that
    # someone else happens to run here (ray.init's own default). "auto" asks for that one.
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    if address not in ("auto", "local"):
        _check_reachable(address, timeout_s)
    try:
        ray.init(address=address, log_to_driver=False)
    except ConnectionError as exc:
        raise UsageError(f"cannot connect to the Ray cluster at {address}: {str(exc).splitlines()[0]}") from None
    return True


def _run_ray(fn_path: str, todo: list[Cell], root: Path, results: dict, bar: Any, threads: int, max_retries: int) -> None:
    import ray

    remote = ray.remote(num_cpus=max(1, threads), max_retries=max_retries, retry_exceptions=False)(_ray_cell)
    # Absolute: a worker on another node does not share the driver's working directory.
    refs = {remote.remote(fn_path, c, str(root.resolve()), threads): c for c in todo}
    while refs:
        ready, _ = ray.wait(list(refs), num_returns=1)
        for ref in ready:
            cell = refs.pop(ref)
            record = ray.get(ref)
            if load_finished(cell, root) is None:  # a worker on another machine wrote it there
                atomic_write_json(cell.dir(root) / "metrics.json", record)
            results[cell] = record
            bar.update(1)
