"""`nsca babble`: generate the babbling dataset with parallel MuJoCo workers, shard by shard.

One step of `--steps` is one interaction (spawn + one primitive, `n_steps` control steps of
10 ms, recorded every `record_every` control steps). The first `random_fraction` of the
interactions are uniform random, the rest competence-driven (nsca.babbling.explorer).
Workers (nsca.babbling.workers) run interactions in parallel processes; the explorer proposes
one shard of episodes at a time and is updated in episode order, so the data does not depend on
the number of workers. Each finished shard is written atomically (nsca.babbling.shards); a rerun
of the same command reads finished shards back instead of running them, through the same update
of the explorer, so it carries on from the state it stopped in.

`--scene metaworld` runs the same loop in Meta-World's scenes (nsca.babbling.scenes): the
explorer's "objects" are then the tasks' main objects, one per task of `--tasks`.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from nsca.babbling.metaworld_scenes import ML10_TRAIN_TASKS
from nsca.babbling.scenes import SCENES
from nsca.config import field
from nsca.errors import UsageError

PLOT_NAME = "learning_progress.png"  # in the store folder (nsca report reads it)


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
            from nsca.babbling.metaworld_scenes import ML10_TEST_TASKS, resolve_tasks

            self.tasks = resolve_tasks(self.tasks)  # v3 names; an unknown task is a one-line error
            held_out = [t for t in self.tasks if t in ML10_TEST_TASKS]
            if held_out:  # the fairness rule of the ML10 evaluation: pretraining never sees its test tasks
                raise UsageError(f"--tasks {held_out[0]} is an ML10 held-out test task; babbling (pretraining data) "
                                 f"must not see {', '.join(ML10_TEST_TASKS)}")
        elif list(self.tasks) != list(ML10_TRAIN_TASKS):
            raise UsageError("--tasks applies to --scene metaworld")

    def data_config(self) -> dict:
        """The settings the data depends on: an --out written with other values is refused (a
        playground store's also name the catalogue's material split and jitter)."""
        from nsca.envs.objects import catalogue_config

        config = {k: getattr(self, k) for k in SCENES[self.scene].data_keys}
        return {**config, "catalogue": catalogue_config()} if self.scene == "playground" else config


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


def run_babble(cfg: BabbleConfig) -> dict:
    from nsca.data.store import compute_stats, default_babbling_dir
    from nsca.utils.io import atomic_write_json, ensure_writable_dir

    out = ensure_writable_dir(Path(cfg.out) if cfg.out else default_babbling_dir(cfg.scene))  # before any work
    if cfg.render:
        check_egl()  # sets MUJOCO_GL=egl unless chosen otherwise, before mujoco is imported
    from tqdm import tqdm

    from nsca.babbling.coverage import OUTCOMES, CoverageTracker
    from nsca.babbling.explorer import LearningProgressExplorer
    from nsca.babbling.metaworld_scenes import CellTable, moved_from_states
    from nsca.babbling.primitives import PRIMITIVES
    from nsca.babbling.shards import Episode, InteractionWriter
    from nsca.babbling.workers import Executor
    from nsca.utils.metrics import MetricsLogger
    from nsca.utils.provenance import provenance

    scene = SCENES[cfg.scene](cfg)
    frames_per_episode = cfg.n_steps // cfg.record_every + 1
    writer = InteractionWriter(out, cfg.data_config(), frames_per_episode, cfg.record_every, scene.name,
                               scene.control_dt_s, scene.labels())
    workers = cfg.workers or os.cpu_count() or 1
    settings = {k: getattr(cfg, k) for k in ("seed", "n_objects", "probe_objects", "n_steps", "record_every", "render", "audio",
                                             "scene", "tasks")}
    executor = Executor(workers, settings)
    logger = MetricsLogger(out / "logs", tensorboard=False)
    try:
        catalogue = scene.catalogue(executor)
        writer.save_catalogue(catalogue)
        n_shards = math.ceil(cfg.steps / cfg.shard_size)
        episodes = {k: min(cfg.shard_size, cfg.steps - k * cfg.shard_size) for k in range(n_shards)}
        done = writer.finished(episodes)
        explorer = LearningProgressExplorer(len(catalogue), cfg.steps, cfg.seed, cfg.random_fraction,
                                            cfg.window, cfg.uniform_share)
        coverage = CoverageTracker(len(catalogue), len(PRIMITIVES))
        cells = CellTable(len(catalogue), len(PRIMITIVES))

        def learn(batch: list[Episode]) -> None:
            """The one update, of a live batch or of a finished shard read back."""
            for e in batch:
                explorer.update(e.object_id, PRIMITIVES[e.primitive], e.params, e.competence)
                coverage.update(e.object_id, e.primitive, e.outcome, e.competence)
                cells.update(e.object_id, e.primitive, moved_from_states(e.states))

        started = time.time()
        prov = {"generator": "nsca babble", **provenance(), "seed": cfg.seed, "config": asdict(cfg),
                "start_time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))}
        atomic_write_json(out / "provenance.json", prov)
        ctrl_steps, lp_history = 0, []
        bar = tqdm(total=cfg.steps, initial=sum(episodes[k] for k in done), unit="int", disable=not cfg.progress,
                   desc="babbling", dynamic_ncols=True)
        t0 = time.perf_counter()
        for k in range(n_shards):
            first, end = k * cfg.shard_size, k * cfg.shard_size + episodes[k]
            if k in done:  # the same explorer state as when it was written
                learn(writer.episodes(k))
            else:
                results = []
                for start in range(first, end, cfg.refresh):
                    # Propose a small batch from the current learning progress, run it, learn from it.
                    batch = []
                    for r in executor.map([(scene.worker, s) for s in explorer.propose(start, min(cfg.refresh, end - start))]):
                        batch.append(r)
                        ctrl_steps += r["ctrl_steps"]
                        bar.update(1)
                    learn([Episode.of(r) for r in batch])
                    bar.set_postfix_str(f"{ctrl_steps / (time.perf_counter() - t0):,.0f} ctrl steps/s, "
                                        f"coverage {coverage.coverage():.1%}")
                    results.extend(batch)
                writer.write(k, results)
            table = explorer.table()
            lp_history.append({"episodes": end, "coverage": coverage.coverage(), **table})
            if k not in done:
                logger.log(end, coverage=coverage.coverage(), ctrl_steps_per_s=ctrl_steps / (time.perf_counter() - t0),
                           goal_coverage=coverage.goal_coverage(), learning_cells_share=table["learning_cells_share"],
                           **{f"lp/{p}": v for p, v in table["lp_by_primitive"].items() if v is not None})
                atomic_write_json(out / "learning_progress.json", lp_history)
        gen_time = time.perf_counter() - t0
        bar.close()
        probe = scene.probe(executor, catalogue)
        # The physical limit of the same scenes (in-process: the scenes already built).
        raw = scene.raw_step_rate(float(np.clip(gen_time / 30, 0.2, 2.0)))
    finally:
        executor.close()
        logger.close()

    stats = compute_stats(out, ["state", "action", "params", "competence", "mass_kg", "peak_impulse_ns"])
    atomic_write_json(out / "stats.json", stats)
    summary = {
        "scene": cfg.scene,
        **scene.summary(),
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
            "raw_ctrl_steps_per_s_one_core": raw / scene.substeps,
            "substeps_per_ctrl_step": scene.substeps,
            "control_dt_s": scene.control_dt_s,
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
    """PLOT_NAME: LP and competence per primitive over the run, coverage, outcomes."""
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
    fig.savefig(out / PLOT_NAME, dpi=80)
    plt.close(fig)
