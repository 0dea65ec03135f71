"""Interactions in and out of a babbling store (the layout of nsca.data.store): a shard's columns
from interaction results, schema.json, and the episodes of a finished shard read back.

`InteractionWriter` is how anything writes babbling data: `nsca babble` and the grounding
probe's held-out interactions (`nsca eval grounding`) both go through it.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

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
# The episode-level columns an `Episode` is read back from.
_LEARNED = ("object_id", "primitive", "params", "competence", "outcome")


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


class Episode(NamedTuple):
    """What the explorer, the coverage and the cell table learn from one interaction."""

    object_id: int
    primitive: int          # index into PRIMITIVES
    params: tuple
    competence: float
    outcome: int
    states: np.ndarray      # the recorded states (frames x STATE_DIM)

    @classmethod
    def of(cls, r: dict) -> Episode:
        """A live interaction result's episode."""
        from nsca.babbling.primitives import PRIMITIVES

        s = r["spec"]
        return cls(s.object_id, PRIMITIVES.index(s.primitive), s.params, r["competence"], r["outcome"], r["states"])


class InteractionWriter:
    """A babbling store's writer: refuses a folder holding another config (nsca.data.store.ShardWriter),
    lists finished shards, writes a shard of interaction results (and schema.json with the first)."""

    def __init__(self, root: str | Path, data_config: dict, frames_per_episode: int, record_every: int,
                 scene: str = "playground", control_dt_s: float = 0.01, labels: dict | None = None) -> None:
        from nsca.data.store import ShardWriter

        self.root = Path(root)
        self.store = ShardWriter(self.root, data_config)
        self.frames_per_episode, self.record_every = frames_per_episode, record_every
        self.scene, self.control_dt_s, self.labels = scene, control_dt_s, labels or {}
        self.catalogue: list = []

    def save_catalogue(self, catalogue: list) -> None:
        """objects.json: the objects the shards' `object_id` indexes."""
        from nsca.utils.io import atomic_write_json

        self.catalogue = list(catalogue)
        atomic_write_json(self.root / "objects.json", [o.to_dict() for o in self.catalogue])

    def finished(self, episodes: dict[int, int]) -> list[int]:
        """The finished shards among `episodes` (shard -> interactions in it), in order."""
        return self.store.finished({k: e * self.frames_per_episode for k, e in episodes.items()})

    def write(self, k: int, results: list[dict]) -> None:
        cols = episode_columns(results, self.catalogue, self.frames_per_episode, self.record_every, self.control_dt_s)
        if not (self.root / "schema.json").exists():
            self._write_schema(cols)
        self.store.write(k, cols)

    def episodes(self, k: int) -> list[Episode]:
        """A finished shard's episodes, as its columns hold them (params and competence float32)."""
        from nsca.data.store import column_to_numpy, read_shard

        t = read_shard(self.store.shard_path(k), ["frame_index", *_LEARNED, "state"])
        first = column_to_numpy(t.column("frame_index")) == 0
        cols = {c: column_to_numpy(t.column(c))[first] for c in _LEARNED}
        states = column_to_numpy(t.column("state")).reshape(len(cols["outcome"]), self.frames_per_episode, -1)
        return [Episode(int(o), int(p), tuple(float(x) for x in prm), float(c), int(oc), st)
                for o, p, prm, c, oc, st in zip(*(cols[c] for c in _LEARNED), states)]

    def _write_schema(self, cols: dict) -> None:
        """schema.json: columns, label names, timing (Meta-World stores add their task list as labels.tasks)."""
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
        atomic_write_json(self.root / "schema.json", {
            "format": FORMAT,
            "features": features,
            "frames_per_episode": self.frames_per_episode,
            "control_dt_s": self.control_dt_s,
            "scene": self.scene,
            "record_every_control_steps": self.record_every,
            "audio_sample_rate": 16_000,
            "image_shape": [64, 64, 3] if "frame" in cols else None,
            "shards": "shards/shard-NNNNN.parquet",
            "labels": {
                "primitive": list(PRIMITIVES), "spawn": list(SPAWN_MODES), "outcome": list(OUTCOMES),
                "meaningful_outcomes": sorted(MEANINGFUL), "material": list(MATERIALS),
                "hardness_class": list(HARDNESS_CLASSES), "mass_class": list(MASS_CLASSES),
                **self.labels,
            },
        })
