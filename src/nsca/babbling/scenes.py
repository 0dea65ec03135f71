"""Where `nsca babble` runs: NSCA's playground or Meta-World's scenes, behind one interface, so
the run loop (nsca.babbling.run) is the same for both.

A scene says which settings its data depends on, its timing, which worker runs its
interactions, its catalogue of objects (for Meta-World: one main object per task), what its
store and summary add, the grounding probe (the playground's held-out catalogue; none for
Meta-World) and the physical limit of its stepping (raw `mj_step` on one core).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from nsca.babbling.workers import HELD_OUT_SEED_OFFSET, Executor, in_process, worker

# The settings a playground store depends on (stores written before the scene option existed are
# playground stores and keep their config.json unchanged, so "scene" is not among them).
PLAYGROUND_DATA_KEYS = ("seed", "steps", "n_objects", "random_fraction", "uniform_share", "window", "shard_size",
                        "refresh", "n_steps", "record_every", "render", "audio")
# The Meta-World scenes: the catalogue size gives way to the task list.
METAWORLD_DATA_KEYS = tuple(k for k in PLAYGROUND_DATA_KEYS if k != "n_objects") + ("scene", "tasks")


class Scene(ABC):
    """The interface: a scene provides its catalogue and raw step rate; the defaults of the rest add
    nothing to the store or the summary."""

    name: ClassVar[str]
    data_keys: ClassVar[tuple[str, ...]]  # the BabbleConfig fields its data depends on
    control_dt_s: ClassVar[float]         # one control step
    substeps: ClassVar[int]               # MuJoCo steps per control step
    worker: ClassVar[str]                 # the worker kind that runs its interactions (nsca.babbling.workers)

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg

    @abstractmethod
    def catalogue(self, executor: Executor) -> list:
        """The objects (playground) or tasks (Meta-World) interactions are drawn from."""

    def labels(self) -> dict:
        """What the store's schema.json adds under "labels"."""
        return {}

    def summary(self) -> dict:
        """What summary.json adds."""
        return {}

    def probe(self, executor: Executor, catalogue: list) -> dict | None:
        """The grounding probe's result, or None."""
        return None

    @abstractmethod
    def raw_step_rate(self, seconds: float) -> float:
        """MuJoCo steps/s of this scene alone (the speed figure in summary.json)."""


class PlaygroundScene(Scene):
    """NSCA's MuJoCo playground (nsca.envs.playground) with the training catalogue (the train
    materials of nsca.envs.objects; the probe's held-out objects have the held-out materials)."""

    name, worker, data_keys = "playground", "train", PLAYGROUND_DATA_KEYS
    control_dt_s, substeps = 0.01, 4

    def catalogue(self, executor: Executor) -> list:
        from nsca.envs.objects import make_catalogue

        return make_catalogue(self.cfg.n_objects, self.cfg.seed)

    def probe(self, executor: Executor, catalogue: list) -> dict | None:
        """The grounding probe (nsca.babbling.probe) on held-out objects, when asked for."""
        if not self.cfg.probe:
            return None
        from nsca.babbling.probe import evaluate, probe_specs
        from nsca.envs.objects import make_catalogue

        cfg = self.cfg
        heldout = make_catalogue(cfg.probe_objects, cfg.seed + HELD_OUT_SEED_OFFSET, split="heldout")
        tr_specs, te_specs = probe_specs(catalogue, cfg.seed), probe_specs(heldout, cfg.seed + 1)
        tr = list(executor.map([("probe-train", s) for s in tr_specs]))
        te = list(executor.map([("probe-heldout", s) for s in te_specs]))
        return evaluate(catalogue, tr, heldout, te)

    def raw_step_rate(self, seconds: float) -> float:
        return raw_step_rate(seconds, self.cfg.seed)


class MetaWorldScenes(Scene):
    """The scenes of `cfg.tasks` (nsca.babbling.metaworld_scenes): object i is task i's main object."""

    name, worker, data_keys = "metaworld", "metaworld", METAWORLD_DATA_KEYS
    control_dt_s, substeps = 0.0125, 5

    def catalogue(self, executor: Executor) -> list:
        from nsca.babbling.metaworld_scenes import metaworld_catalogue

        # In-process, the scenes that describe the objects are the ones the interactions then run in.
        return worker(self.worker).describe_all() if executor.pool is None else metaworld_catalogue(self.cfg.tasks)

    def labels(self) -> dict:
        return {"tasks": list(self.cfg.tasks)}

    def summary(self) -> dict:
        return {"tasks": list(self.cfg.tasks)}  # no probe: its held-out catalogue is the playground's

    def raw_step_rate(self, seconds: float) -> float:
        from nsca.babbling.metaworld_scenes import raw_step_rate as metaworld_rate

        return metaworld_rate(self.cfg.tasks, seconds, in_process(self.worker))


SCENES = {s.name: s for s in (PlaygroundScene, MetaWorldScenes)}


def raw_step_rate(seconds: float = 1.0, seed: int = 0) -> float:
    """MuJoCo substeps per second of the playground (the physical limit), one core, no Python
    work between steps: objects of the catalogue resting in / under the closed gripper."""
    import mujoco

    from nsca.babbling.spawn import spawn
    from nsca.envs.objects import make_catalogue
    from nsca.envs.playground import Playground

    catalogue = make_catalogue(12, seed)
    rng = np.random.default_rng(seed)
    n, elapsed = 0, 0.0
    while elapsed < seconds:
        for i, obj in enumerate(catalogue):
            pg = Playground([obj])
            spawn(pg, ("drop", "push", "strike")[i % 3], rng)
            t0 = time.perf_counter()
            mujoco.mj_step(pg.model, pg.data, nstep=500)
            elapsed += time.perf_counter() - t0
            n += 500
    return n / elapsed
