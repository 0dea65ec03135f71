"""`nsca babble`: generate the babbling dataset with parallel MuJoCo workers, shard by shard.

One step of `--steps` is one interaction (spawn + one primitive, `n_steps` control steps of
10 ms, recorded every `record_every` control steps). The first `random_fraction` of the
interactions are uniform random, the rest competence-driven (nsca.babbling.explorer).
Workers run interactions in parallel processes; the explorer proposes one shard of episodes at
a time and is updated in episode order, so the data does not depend on the number of workers.
Each finished shard is written atomically; a rerun of the same command skips finished shards
(the explorer is rebuilt by replaying them) and carries on.

`--scene metaworld` runs the same machinery in Meta-World's scenes (nsca.babbling.metaworld_scenes):
the explorer's "objects" are then the tasks' main objects, one per task of `--tasks`.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from nsca.babbling.metaworld_scenes import ML10_TRAIN_TASKS
from nsca.config import field
from nsca.errors import UsageError

HELD_OUT_SEED_OFFSET = 1_000_003
_DATA_KEYS = ("seed", "steps", "n_objects", "random_fraction", "uniform_share", "window", "shard_size",
              "refresh", "n_steps", "record_every", "render", "audio")
# The Meta-World scenes: the catalogue size gives way to the task list (stores written before the
# scene option existed are playground stores and keep their config.json unchanged).
_METAWORLD_DATA_KEYS = tuple(k for k in _DATA_KEYS if k != "n_objects") + ("scene", "tasks")
CONTROL_DT_S = {"playground": 0.01, "metaworld": 0.0125}   # one control step
SUBSTEPS = {"playground": 4, "metaworld": 5}                 # MuJoCo steps per control step


@dataclass
class BabbleConfig:
    PRESETS: ClassVar[str] = "babble"

    preset: str = field("default", "named block of presets.yaml's babble section (debug: 200 interactions on "
                                   "12 objects, seconds); it fills the keys not given")
    steps: int = field(100_000, "interactions to run (one = spawn + one primitive of n_steps control steps)")
    workers: int = field(0, "worker processes (0 = one per CPU core)")
    render: bool = field(False, "store 64x64 RGB frames (needs EGL: MUJOCO_GL=egl)")
    audio: bool = field(False, "store synthesised impact audio (16 kHz mono)")
    out: str | None = field(None, "output folder (default: $NSCA_DATA_ROOT/babbling, NSCA_DATA_ROOT defaults to ./data)")
    seed: int = field(0, "seed of the catalogue, the explorer and every interaction")
    scene: Literal["playground", "metaworld"] = field(
        "playground", "where to babble: NSCA's MuJoCo playground, or Meta-World's Sawyer arm in the scenes of --tasks "
                      "(default --out then $NSCA_DATA_ROOT/babbling-metaworld)")
    tasks: list[str] = field(list(ML10_TRAIN_TASKS), "Meta-World tasks whose scenes --scene metaworld babbles in "
                                                     "(default: the 10 ML10 train tasks)")
    n_objects: int = field(120, "objects in the training catalogue")
    random_fraction: float = field(0.1, "share of interactions chosen uniformly at random before competence-driven ones")
    uniform_share: float = field(0.2, "share of uniform choices kept in the competence-driven phase")
    window: int = field(8, "learning-progress window (competence scores per half)")
    shard_size: int = field(1000, "interactions per shard (a killed run loses at most one shard)")
    refresh: int = field(100, "interactions between explorer updates (learning progress is recomputed)")
    n_steps: int = field(96, "control steps (10 ms each) per interaction")
    record_every: int = field(6, "record a frame every this many control steps")
    probe: bool = field(True, "run the grounding probe at the end")
    probe_objects: int = field(100, "held-out objects for the grounding probe")
    progress: bool = field(True, "show a progress bar")

    def validate(self) -> None:
        if self.steps <= 0:
            raise UsageError(f"steps must be a positive number of interactions, got {self.steps}")
        if self.workers < 0:
            raise UsageError(f"workers must be >= 0 (0 = one per CPU core), got {self.workers}")
        if self.n_objects < 1 or self.probe_objects < 1:
            raise UsageError("n_objects and probe_objects must be >= 1")
        if not 0.0 <= self.random_fraction <= 1.0 or not 0.0 <= self.uniform_share <= 1.0:
            raise UsageError("random_fraction and uniform_share must be in [0, 1]")
        if self.window < 2 or self.shard_size < 1 or self.refresh < 1:
            raise UsageError("window must be >= 2, shard_size and refresh >= 1")
        if self.record_every < 1 or self.n_steps < self.record_every or self.n_steps % self.record_every:
            raise UsageError(f"n_steps ({self.n_steps}) must be a positive multiple of record_every ({self.record_every})")
        if self.scene == "metaworld":
            from nsca.babbling.metaworld_scenes import resolve_tasks

            self.tasks = resolve_tasks(self.tasks)  # v3 names; an unknown task is a one-line error
        elif list(self.tasks) != list(ML10_TRAIN_TASKS):
            raise UsageError("--tasks applies to --scene metaworld")

    def data_config(self) -> dict:
        """The settings the data depends on: an --out written with other values is refused."""
        keys = _METAWORLD_DATA_KEYS if self.scene == "metaworld" else _DATA_KEYS
        return {k: getattr(self, k) for k in keys}




# ---- worker processes --------------------------------------------------------------------
_WORKERS: dict = {}
_SETTINGS: dict = {}


def _init_worker(settings: dict) -> None:
    if settings == _SETTINGS:
        return  # in-process: keep the workers built so far for these settings (e.g. the Meta-World scenes)
    _SETTINGS.clear()
    _SETTINGS.update(settings)
    _WORKERS.clear()


def _worker(kind: str):
    """A Worker for the training catalogue ("train"), the probe ("probe-train"/"probe-heldout") or
    the Meta-World scenes ("metaworld")."""
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
            catalogue = make_catalogue(s["probe_objects"], s["seed"] + HELD_OUT_SEED_OFFSET)
        else:
            catalogue = make_catalogue(s["n_objects"], s["seed"])
        probe = kind.startswith("probe")
        w = _WORKERS[kind] = Worker(catalogue, n_steps=s["n_steps"], record_every=s["record_every"],
                                    render=s["render"] and not probe, audio=s["audio"] or probe)
    return w


def _run_task(task: tuple) -> dict:
    kind, spec = task
    return _worker(kind).run(spec)


class _Executor:
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


# ---- shards ------------------------------------------------------------------------------
def episode_columns(results: list[dict], catalogue, frames_per_episode: int, record_every: int,
                    control_dt_s: float = 0.01) -> dict:
    """The shard's columns (see nsca.data.store) from a batch of interaction results. A result
    may name its `scene` (default "playground") and the `spawn` mode it actually used."""
    from nsca.babbling.coverage import is_meaningful
    from nsca.babbling.primitives import PRIMITIVES
    from nsca.babbling.spawn import SPAWN_MODES
    from nsca.envs.objects import MATERIALS

    F, E = frames_per_episode, len(results)
    materials = list(MATERIALS)

    def per_episode(values, dtype) -> np.ndarray:
        return np.repeat(np.asarray(values, dtype=dtype), F, axis=0)

    specs = [r["spec"] for r in results]
    objs = [catalogue[s.object_id] for s in specs]
    episode = per_episode([s.episode_index for s in specs], np.int64)
    frame = np.tile(np.arange(F, dtype=np.int32), E)
    cols = {
        "index": episode * F + frame,
        "episode_index": episode,
        "frame_index": frame,
        "is_last": frame == F - 1,
        "timestamp_s": (frame * record_every * control_dt_s).astype(np.float32),
        "state": np.concatenate([r["states"] for r in results]),
        "action": np.concatenate([r["actions"] for r in results]),
        "obj_quat": np.concatenate([r["quats"] for r in results]),
        "object_id": per_episode([s.object_id for s in specs], np.int32),
        "primitive": per_episode([PRIMITIVES.index(s.primitive) for s in specs], np.int8),
        "spawn": per_episode([SPAWN_MODES.index(r.get("spawn", r["spec"].spawn)) for r in results], np.int8),
        "params": per_episode([s.params for s in specs], np.float32),
        "phase": per_episode([s.phase for s in specs], np.int8),
        "seed": per_episode([s.seed for s in specs], np.int64),
        "outcome": per_episode([r["outcome"] for r in results], np.int8),
        "meaningful": per_episode([is_meaningful(r["outcome"], r["competence"]) for r in results], bool),
        "competence": per_episode([r["competence"] for r in results], np.float32),
        "material": per_episode([materials.index(o.material) for o in objs], np.int8),
        "hardness_class": per_episode([o.hardness_class for o in objs], np.int8),
        "mass_kg": per_episode([o.mass_kg for o in objs], np.float32),
        "mass_class": per_episode([o.mass_class for o in objs], np.int8),
        "peak_impulse_ns": per_episode([r["peak_impulse_ns"] for r in results], np.float32),
        "scene": per_episode([r.get("scene", "playground") for r in results], object),
    }
    if "frames" in results[0]:
        cols["frame"] = np.concatenate([r["frames"] for r in results]).reshape(E * F, -1)
    if "audio" in results[0]:
        cols["audio"] = np.concatenate([r["audio"] for r in results])
    return cols


DESCRIPTIONS = {
    "index": "global row index", "episode_index": "interaction index", "frame_index": "frame within the interaction",
    "is_last": "last frame of the interaction (its action is zeros)", "timestamp_s": "time since the primitive started",
    "state": "object-centric state, nsca.priors.state layout (hand pos, hand vel, gripper opening, object pos, object vel)",
    "action": "mean control action (dx, dy, dz, grip) in [-1, 1] from this frame to the next; 1 = 1 cm per 10 ms step",
    "obj_quat": "object orientation quaternion (w, x, y, z)", "object_id": "catalogue object id (objects.json)",
    "primitive": "affordance primitive id (labels.primitive)", "spawn": "spawn mode id (labels.spawn)",
    "params": "primitive parameters in [0, 1] (nsca.babbling.primitives.decode)",
    "phase": "0 random exploration, 1 competence-driven", "seed": "the interaction's seed",
    "outcome": "outcome label id (labels.outcome)", "meaningful": "the object responded or the primitive reached its goal (counts for coverage)",
    "competence": "how well the primitive achieved its goal, in [0, 1]", "material": "material id (labels.material)",
    "hardness_class": "0 soft, 1 medium, 2 hard", "mass_kg": "object mass", "mass_class": "0 light (<0.1 kg), 1 medium, 2 heavy (>=0.4 kg)",
    "peak_impulse_ns": "largest impulse on the object in one control step, N*s",
    "frame": "64x64 RGB uint8 image, HWC, flattened", "audio": "16 kHz mono float32 from the previous frame to this one (frame 0: silence)",
    "scene": "where the interaction ran: playground, or metaworld:<task> (object_id is then the task's index)",
}


def write_schema(root: Path, cols: dict, cfg: BabbleConfig, frames_per_episode: int) -> None:
    """schema.json: columns, label names, timing. Meta-World stores add their task list (labels.tasks)."""
    from nsca.babbling.coverage import MEANINGFUL, OUTCOMES
    from nsca.babbling.primitives import PRIMITIVES
    from nsca.babbling.spawn import SPAWN_MODES
    from nsca.data.store import FORMAT, columns_schema
    from nsca.envs.objects import HARDNESS_CLASSES, MASS_CLASSES, MATERIALS
    from nsca.priors.state import FIELD_NAMES
    from nsca.utils.io import atomic_write_json

    features = columns_schema(cols, DESCRIPTIONS)
    features["state"]["names"] = list(FIELD_NAMES)
    features["action"]["names"] = ["dx", "dy", "dz", "grip"]
    atomic_write_json(root / "schema.json", {
        "format": FORMAT,
        "features": features,
        "frames_per_episode": frames_per_episode,
        "control_dt_s": CONTROL_DT_S[cfg.scene],
        "scene": cfg.scene,
        "record_every_control_steps": cfg.record_every,
        "audio_sample_rate": 16_000,
        "image_shape": [64, 64, 3] if cfg.render else None,
        "shards": "shards/shard-NNNNN.parquet",
        "labels": {
            "primitive": list(PRIMITIVES), "spawn": list(SPAWN_MODES), "outcome": list(OUTCOMES),
            "meaningful_outcomes": sorted(MEANINGFUL), "material": list(MATERIALS),
            "hardness_class": list(HARDNESS_CLASSES), "mass_class": list(MASS_CLASSES),
            **({"tasks": list(cfg.tasks)} if cfg.scene == "metaworld" else {}),
        },
    })


# ---- the run -----------------------------------------------------------------------------
def check_egl(what: str = "--render") -> None:
    """Fail before any work when rendering cannot work (mujoco picks its GL at import); `what`
    names the thing that renders, for the one-line error."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    try:
        from nsca.envs.objects import make_catalogue
        from nsca.envs.playground import Playground

        pg = Playground(make_catalogue(1, 0))
        pg.render(64)
        pg.close()
    except Exception as exc:  # any GL failure: missing libEGL, no device, wrong MUJOCO_GL
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"{what} needs EGL rendering (MUJOCO_GL=egl) and it failed: {reason}") from None


def raw_step_rate(seconds: float = 1.0, seed: int = 0) -> float:
    """MuJoCo substeps per second of the same scene (the physical limit), one core, no Python
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


def run_babble(cfg: BabbleConfig) -> dict:
    if cfg.render:
        check_egl()  # sets MUJOCO_GL=egl unless chosen otherwise, before mujoco is imported
    from tqdm import tqdm

    from nsca.babbling.coverage import OUTCOMES, CoverageTracker
    from nsca.babbling.explorer import LearningProgressExplorer
    from nsca.babbling.metaworld_scenes import CellTable, moved_from_states
    from nsca.babbling.primitives import PRIMITIVES
    from nsca.data.store import ShardWriter, column_to_numpy, compute_stats, default_babbling_dir, read_shard
    from nsca.envs.objects import make_catalogue
    from nsca.utils.io import atomic_write_json, ensure_writable_dir
    from nsca.utils.metrics import MetricsLogger
    from nsca.utils.provenance import provenance

    mw = cfg.scene == "metaworld"
    out = Path(cfg.out) if cfg.out else default_babbling_dir(cfg.scene)
    ensure_writable_dir(out)
    writer = ShardWriter(out, cfg.data_config())
    workers = cfg.workers or os.cpu_count() or 1
    settings = {k: getattr(cfg, k) for k in ("seed", "n_objects", "probe_objects", "n_steps", "record_every", "render", "audio",
                                             "scene", "tasks")}
    if mw:  # one "object" per task: its main object, described by the scenes the workers will use
        from nsca.babbling.metaworld_scenes import metaworld_catalogue

        if workers == 1:
            _init_worker(settings)
            catalogue = _worker("metaworld").describe_all()
        else:
            catalogue = metaworld_catalogue(cfg.tasks)
    else:
        catalogue = make_catalogue(cfg.n_objects, cfg.seed)
    n_objects = len(catalogue)
    atomic_write_json(out / "objects.json", [o.to_dict() for o in catalogue])
    frames_per_episode = cfg.n_steps // cfg.record_every + 1
    n_shards = math.ceil(cfg.steps / cfg.shard_size)
    episodes = {k: min(cfg.shard_size, cfg.steps - k * cfg.shard_size) for k in range(n_shards)}
    done = writer.finished({k: e * frames_per_episode for k, e in episodes.items()})

    explorer = LearningProgressExplorer(n_objects, cfg.steps, cfg.seed, cfg.random_fraction,
                                        cfg.window, cfg.uniform_share)
    coverage = CoverageTracker(n_objects, len(PRIMITIVES))
    cells = CellTable(n_objects, len(PRIMITIVES))
    lp_history: list[dict] = []
    for k in done:  # replay finished shards: same explorer state as when they were written
        t = read_shard(writer.shard_path(k), ["frame_index", "object_id", "primitive", "params", "competence", "outcome",
                                              "state"])
        first = column_to_numpy(t.column("frame_index")) == 0
        cols = {c: column_to_numpy(t.column(c))[first] for c in ("object_id", "primitive", "params", "competence", "outcome")}
        states = column_to_numpy(t.column("state")).reshape(len(cols["outcome"]), frames_per_episode, -1)
        for o, p, prm, c, oc, st in zip(cols["object_id"], cols["primitive"], cols["params"], cols["competence"],
                                        cols["outcome"], states):
            explorer.update(int(o), PRIMITIVES[int(p)], tuple(float(x) for x in prm), float(c))
            coverage.update(int(o), int(p), int(oc), float(c))
            cells.update(int(o), int(p), moved_from_states(st))
        lp_history.append({"episodes": k * cfg.shard_size + episodes[k], "coverage": coverage.coverage(), **explorer.table()})

    kind = "metaworld" if mw else "train"
    started = time.time()
    prov = {"generator": "nsca babble", **provenance(), "seed": cfg.seed, "config": asdict(cfg),
            "start_time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))}
    atomic_write_json(out / "provenance.json", prov)
    executor = _Executor(workers, settings)
    ctrl_steps, gen_time = 0, 0.0
    logger = MetricsLogger(out / "logs", tensorboard=False)
    try:
        todo = [k for k in range(n_shards) if k not in done]
        bar = tqdm(total=cfg.steps, initial=sum(episodes[k] for k in done), unit="int", disable=not cfg.progress,
                   desc="babbling", dynamic_ncols=True)
        t0 = time.perf_counter()
        for k in todo:
            results = []
            first, end = k * cfg.shard_size, k * cfg.shard_size + episodes[k]
            for start in range(first, end, cfg.refresh):
                # Propose a small batch from the current learning progress, run it, learn from it.
                specs = explorer.propose(start, min(cfg.refresh, end - start))
                batch = []
                for r in executor.map([(kind, s) for s in specs]):
                    batch.append(r)
                    ctrl_steps += r["ctrl_steps"]
                    prim = PRIMITIVES.index(r["spec"].primitive)
                    coverage.update(r["spec"].object_id, prim, r["outcome"], r["competence"])
                    cells.update(r["spec"].object_id, prim, moved_from_states(r["states"]))
                    bar.update(1)
                rate = ctrl_steps / (time.perf_counter() - t0)
                bar.set_postfix_str(f"{rate:,.0f} ctrl steps/s, coverage {coverage.coverage():.1%}")
                for r in batch:
                    s = r["spec"]
                    explorer.update(s.object_id, s.primitive, s.params, r["competence"])
                results.extend(batch)
            cols = episode_columns(results, catalogue, frames_per_episode, cfg.record_every, CONTROL_DT_S[cfg.scene])
            if not (out / "schema.json").exists():
                write_schema(out, cols, cfg, frames_per_episode)
            writer.write(k, cols)
            table = explorer.table()
            lp_history.append({"episodes": k * cfg.shard_size + episodes[k], "coverage": coverage.coverage(), **table})
            logger.log(k * cfg.shard_size + episodes[k], coverage=coverage.coverage(),
                       ctrl_steps_per_s=ctrl_steps / (time.perf_counter() - t0),
                       goal_coverage=coverage.goal_coverage(), learning_cells_share=table["learning_cells_share"],
                       **{f"lp/{p}": v for p, v in table["lp_by_primitive"].items() if v is not None})
            atomic_write_json(out / "learning_progress.json", lp_history)
        gen_time = time.perf_counter() - t0
        bar.close()
        probe = None
        if cfg.probe and not mw:  # the probe's held-out catalogue is the playground's
            from nsca.babbling.probe import evaluate, probe_specs

            heldout = make_catalogue(cfg.probe_objects, cfg.seed + HELD_OUT_SEED_OFFSET)
            tr_specs, te_specs = probe_specs(catalogue, cfg.seed), probe_specs(heldout, cfg.seed + 1)
            tr = list(executor.map([("probe-train", s) for s in tr_specs]))
            te = list(executor.map([("probe-heldout", s) for s in te_specs]))
            probe = evaluate(catalogue, tr, heldout, te)
        if mw:  # the physical limit of the same scenes (in-process: the scenes already built)
            from nsca.babbling.metaworld_scenes import raw_step_rate as mw_raw_step_rate

            raw = mw_raw_step_rate(cfg.tasks, float(np.clip(gen_time / 30, 0.2, 2.0)), _WORKERS.get("metaworld"))
    finally:
        executor.close()
        logger.close()

    stats = compute_stats(out, ["state", "action", "params", "competence", "mass_kg", "peak_impulse_ns"])
    atomic_write_json(out / "stats.json", stats)
    if not mw:
        raw = raw_step_rate(seconds=float(np.clip(gen_time / 30, 0.2, 2.0)), seed=cfg.seed)
    substeps = SUBSTEPS[cfg.scene]
    summary = {
        "scene": cfg.scene,
        **({"tasks": list(cfg.tasks)} if mw else {}),
        "steps": cfg.steps,
        "affordance_coverage": coverage.coverage(),
        "coverage_gate": 0.8,
        "goal_coverage": coverage.goal_coverage(),
        "goal_coverage_by_primitive": dict(zip(PRIMITIVES, map(float, (coverage.goal > 0).mean(0)))),
        "coverage_by_primitive": dict(zip(PRIMITIVES, map(float, coverage.coverage_by_primitive()))),
        "outcome_histogram": coverage.histogram(),
        "cells": int(coverage.experienced().size),
        # Per (object, primitive) cell (for Meta-World: per (task, primitive)): interactions, and the
        # share where the object got >= 1 cm from its start at some recorded frame.
        "cell_table": cells.summary([o.name for o in catalogue], PRIMITIVES),
        "grounding_probe": probe,
        "speed": {
            "workers": workers,
            "interactions_this_session": sum(episodes[k] for k in range(n_shards) if k not in done),
            "ctrl_steps_this_session": ctrl_steps,
            "generation_wall_s": gen_time,
            "ctrl_steps_per_s": ctrl_steps / gen_time if gen_time > 0 else None,
            "raw_mj_step_per_s_one_core": raw,
            "raw_ctrl_steps_per_s_one_core": raw / substeps,
            "substeps_per_ctrl_step": substeps,
            "control_dt_s": CONTROL_DT_S[cfg.scene],
        },
        "wall_s": time.time() - started,
        "outcomes": list(OUTCOMES),
    }
    atomic_write_json(out / "summary.json", summary)
    prov["end_time_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    atomic_write_json(out / "provenance.json", prov)
    plot_summary(out, lp_history, summary)
    return summary


def plot_summary(out: Path, lp_history: list[dict], summary: dict) -> None:
    """learning_progress.png: LP and competence per primitive over the run, coverage, outcomes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(20, 4))
    if lp_history:
        x = [h["episodes"] for h in lp_history]
        nan = float("nan")
        for p in lp_history[-1]["lp_by_primitive"]:
            axes[0].plot(x, [h["lp_by_primitive"][p] if h["lp_by_primitive"][p] is not None else nan for h in lp_history], label=p)
            axes[1].plot(x, [h["competence_by_primitive"][p] if h["competence_by_primitive"][p] is not None else nan
                             for h in lp_history], label=p)
        axes[2].plot(x, [h["coverage"] for h in lp_history], color="k")
    axes[2].axhline(0.8, ls="--", color="r", label="gate 80%")
    axes[0].set(title="mean learning progress per primitive (measured cells)", xlabel="interactions")
    axes[1].set(title="mean recent competence per primitive", xlabel="interactions")
    axes[2].set(title="affordance coverage", xlabel="interactions", ylim=(0, 1.02))
    hist = summary["outcome_histogram"]
    axes[3].bar(list(hist), list(hist.values()))
    axes[3].set(title="outcomes")
    axes[3].tick_params(axis="x", rotation=60)
    axes[0].legend(fontsize=7)
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "learning_progress.png", dpi=80)
    plt.close(fig)
