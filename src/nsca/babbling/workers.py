"""The worker processes of `nsca babble`: each builds its scenes once and runs interactions.

A task is `(kind, InteractionSpec)`; `kind` names the worker that runs it: the training
catalogue ("train"), the grounding probe's catalogues ("probe-train", "probe-heldout") or the
Meta-World scenes ("metaworld"). `Executor.map` keeps the order of the tasks, so the data does
not depend on the number of workers.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator

HELD_OUT_SEED_OFFSET = 1_000_003  # the probe's held-out catalogue seed = the run's seed + this

_WORKERS: dict = {}
_SETTINGS: dict = {}


def _init_worker(settings: dict) -> None:
    if settings == _SETTINGS:
        return  # in-process: keep the workers built so far for these settings (e.g. the Meta-World scenes)
    _SETTINGS.clear()
    _SETTINGS.update(settings)
    _WORKERS.clear()


def worker(kind: str):
    """This process's worker of `kind` (built on first use from the executor's settings)."""
    from nsca.babbling.interaction import Worker
    from nsca.envs.objects import make_catalogue

    w = _WORKERS.get(kind)
    if w is None:
        s = _SETTINGS
        if kind == "metaworld":
            from nsca.babbling.metaworld_scenes import MetaWorldWorker

            w = _WORKERS[kind] = MetaWorldWorker(s["tasks"], n_steps=s["n_steps"], record_every=s["record_every"],
                                                 render=s["render"], audio=s["audio"])
            return w
        if kind == "probe-heldout":
            catalogue = make_catalogue(s["probe_objects"], s["seed"] + HELD_OUT_SEED_OFFSET, split="heldout")
        else:
            catalogue = make_catalogue(s["n_objects"], s["seed"])
        probe = kind.startswith("probe")
        w = _WORKERS[kind] = Worker(catalogue, n_steps=s["n_steps"], record_every=s["record_every"],
                                    render=s["render"] and not probe, audio=s["audio"] or probe)
    return w


def in_process(kind: str):
    """The worker of `kind` this process has built, or None (with one worker the tasks run here)."""
    return _WORKERS.get(kind)


def _run_task(task: tuple) -> dict:
    kind, spec = task
    return worker(kind).run(spec)


class Executor:
    """Ordered map over worker processes (or in-process with one worker)."""

    def __init__(self, workers: int, settings: dict) -> None:
        self.pool = None
        if workers > 1:
            self.pool = mp.get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(settings,))
        else:
            _init_worker(settings)

    def map(self, tasks: list[tuple]) -> Iterator[dict]:
        if self.pool is None:
            return map(_run_task, tasks)
        return self.pool.imap(_run_task, tasks, chunksize=4)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
        for w in _WORKERS.values():
            w.close()
        _WORKERS.clear()
