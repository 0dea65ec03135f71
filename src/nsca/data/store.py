"""The babbling dataset store: self-describing parquet shards, readable without NSCA classes.

Layout of a dataset folder (default `$NSCA_DATA_ROOT/babbling`, NSCA_DATA_ROOT defaults to ./data):

    config.json        the settings that determine the data (a rerun must match them)
    schema.json        every column: dtype, shape, meaning, label names
    provenance.json    generator, seed, git commit, package versions (mujoco, ...), times
    stats.json         per float column: mean, std, min, max (for normalisation)
    summary.json       the run's coverage, outcome histogram, grounding probe, speed
    shards/shard-00000.parquet, ...   one shard per block of episodes, written atomically

One row per recorded frame. Columns: `index` (global row), `episode_index`, `frame_index`
(0..F-1), `is_last`; `state` (STATE_DIM float32, nsca.priors.state layout), `action` (4 float32: the
mean control action from this frame to the next; zeros on the last frame), `obj_quat`;
episode-level labels repeated on every row (`object_id`, `primitive`, `spawn`, `params`,
`phase`, `outcome`, `meaningful`, `competence`, `material`, `hardness_class`, `mass_kg`,
`mass_class`, `peak_impulse_ns`, `scene`: "playground" or "metaworld:<task>"); optional `frame`
(64*64*3 uint8, HWC) and `audio` (float32 samples at 16 kHz from the previous frame to this one: no
future sound). Read a shard with plain pyarrow: `pq.read_table(path).to_pandas()`; fixed-size list
columns hold the vectors. Stores written before the `scene` column existed load as "playground".

Shards are written to a temporary file and renamed, so a killed run leaves only whole shards
and resumes after the last one. A shard that cannot be read raises `CorruptShardError`
naming it.

Torch access: `BabblingDataset(root)` (or `open_dataset(root)`) is a map-style Dataset of
transitions (frame t -> t+1). Each item is a dict of tensors:

    state, next_state   float32 (STATE_DIM,)
    action              float32 (4,)
    primitive, outcome, spawn, object_id, material, hardness_class, mass_class   int64 ()
    hardness            float32 () hardness class / 2: 0 soft, 0.5 medium, 1 hard
    mass_kg, competence float32 ()
    episode_index, frame_index   int64 ()
    frames, next_frames float32 (frame_stack, 3, 64, 64) in [0, 1], ending at t / t+1
                        (only when the store has frames; earlier frames repeat frame 0)
    audio               float32 (audio_samples,) 16 kHz, the window ending at frame t (frame k's
                        audio is the sound from k-1 to k, frame 0's is silent): nothing
                        after t (only when the store has audio; zero-padded at the episode start)

    scene               str, "playground" or "metaworld:<task>"

`unit="episode"` gives one item per interaction instead: state (F, STATE_DIM), action (F, 4),
frames (F, 3, 64, 64) and audio (all samples) with the same labels.

Several stores read together (e.g. one per scene): a folder without schema.json whose
sub-folders (or symlinks) are stores, e.g. `<root>/babbling/playground` and
`<root>/babbling/metaworld`. `open_dataset(folder)` then gives a `MultiStoreDataset`: the
members' items one after the other (members in name order), frames/audio only if every member
has them. Episodes never straddle members.
"""

from __future__ import annotations

import json
import os
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.utils.data

from nsca.errors import UsageError
from nsca.utils.io import atomic_write_json, read_json

DATA_ROOT_ENV = "NSCA_DATA_ROOT"
FORMAT = "nsca-babbling/1"
SHARD_RE = re.compile(r"^shard-(\d{5})\.parquet$")


class CorruptShardError(UsageError):
    """A shard file that pyarrow cannot read or that holds the wrong number of rows."""


def data_root() -> Path:
    """$NSCA_DATA_ROOT, else ./data."""
    return Path(os.environ.get(DATA_ROOT_ENV, "data")).expanduser()


def default_babbling_dir(scene: str = "playground") -> Path:
    """Where `nsca babble` writes by default: <root>/babbling (the folder training reads), or
    <root>/babbling-<scene> for another scene (see the module docstring to train on it)."""
    return data_root() / ("babbling" if scene == "playground" else f"babbling-{scene}")


def is_store(root: str | Path) -> bool:
    return (Path(root) / "schema.json").is_file()


def member_stores(root: str | Path) -> list[Path]:
    """The stores in a folder of stores (sub-folders or symlinks holding schema.json), by name;
    [] when `root` is itself a store or holds none."""
    root = Path(root)
    if is_store(root) or not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and is_store(p))


# ---- writing -----------------------------------------------------------------------------
def _to_arrow(values: np.ndarray):
    import pyarrow as pa

    values = np.ascontiguousarray(values)
    if values.ndim == 1:
        return pa.array(values)
    width = int(np.prod(values.shape[1:]))
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), width)


def columns_schema(columns: dict[str, np.ndarray], descriptions: dict[str, str]) -> dict:
    """schema.json's "features" entry for a dict of column arrays (first axis = rows)."""
    return {
        name: {"dtype": "string" if v.dtype.kind in "OUS" else str(v.dtype), "shape": list(v.shape[1:]),
               "description": descriptions.get(name, "")}
        for name, v in columns.items()
    }


class ShardWriter:
    """Owns a dataset folder: checks its config, lists finished shards, writes new ones."""

    def __init__(self, root: str | Path, config: dict, rows_per_shard: dict[int, int] | None = None) -> None:
        self.root = Path(root)
        self.shard_dir = self.root / "shards"
        self.config = json.loads(json.dumps(config))  # what config.json will compare equal to
        existing = read_json(self.root / "config.json")
        if existing is None and self.root.exists() and any(self.shard_dir.glob("shard-*.parquet")):
            raise UsageError(f"{self.root} holds shards but no readable config.json; choose another --out")
        if existing is not None and existing != self.config:
            diff = sorted(k for k in set(existing) | set(self.config) if existing.get(k) != self.config.get(k))
            raise UsageError(
                f"{self.root} holds another run's data (different {', '.join(diff)}); "
                "choose another --out or delete that folder"
            )
        self.shard_dir.mkdir(parents=True, exist_ok=True)
        if existing is None:
            atomic_write_json(self.root / "config.json", self.config)
        for tmp in self.shard_dir.glob(".shard-*.tmp"):
            tmp.unlink()  # half-written by a killed run

    def shard_path(self, k: int) -> Path:
        return self.shard_dir / f"shard-{k:05d}.parquet"

    def finished(self, expected_rows: dict[int, int]) -> list[int]:
        """Indices of finished shards (checked: readable footer, right row count), in order.
        Stops at the first gap: later shards are rewritten."""
        done = []
        for k in sorted(expected_rows):
            path = self.shard_path(k)
            if not path.exists():
                break
            rows = shard_rows(path)
            if rows != expected_rows[k]:
                raise CorruptShardError(f"shard {path} has {rows} rows, expected {expected_rows[k]}; delete it and rerun")
            done.append(k)
        return done

    def write(self, k: int, columns: dict[str, np.ndarray], row_group_rows: int = 1024) -> Path:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({name: _to_arrow(v) for name, v in columns.items()})
        path = self.shard_path(k)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            pq.write_table(table, tmp, compression="zstd", row_group_size=row_group_rows)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        return path


# ---- reading -----------------------------------------------------------------------------
def shard_paths(root: str | Path) -> list[Path]:
    shard_dir = Path(root) / "shards"
    return sorted(p for p in shard_dir.glob("shard-*.parquet") if SHARD_RE.match(p.name))


def shard_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).metadata.num_rows
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise CorruptShardError(f"shard {path} is corrupt ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
                                "delete it and rerun `nsca babble` to regenerate it") from None


def read_shard(path: Path, columns: list[str] | None = None):
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, columns=columns)
    except Exception as exc:
        raise CorruptShardError(f"shard {path} is corrupt ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
                                "delete it and rerun `nsca babble` to regenerate it") from None


def column_to_numpy(col) -> np.ndarray:
    """A (chunked) arrow column as numpy; fixed-size list columns become (rows, width)."""
    import pyarrow as pa

    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_fixed_size_list(col.type):
        width = col.type.list_size
        return col.flatten().to_numpy(zero_copy_only=False).reshape(-1, width)
    return col.to_numpy(zero_copy_only=False)


def load_columns(root: str | Path, columns: list[str]) -> dict[str, np.ndarray]:
    parts: dict[str, list[np.ndarray]] = {c: [] for c in columns}
    for path in shard_paths(root):
        table = read_shard(path, columns)
        for c in columns:
            parts[c].append(column_to_numpy(table.column(c)))
    return {c: (np.concatenate(v) if v else np.zeros(0)) for c, v in parts.items()}


def compute_stats(root: str | Path, columns: list[str]) -> dict:
    data = load_columns(root, columns)
    stats = {}
    for name, v in data.items():
        v = v.astype(np.float64).reshape(len(v), -1)
        stats[name] = {"mean": v.mean(0).tolist(), "std": v.std(0).tolist(),
                       "min": v.min(0).tolist(), "max": v.max(0).tolist(), "count": int(len(v))}
    return stats


# ---- torch access ------------------------------------------------------------------------
_LABELS = ("primitive", "outcome", "spawn", "object_id", "material", "hardness_class", "mass_class")


class BabblingDataset(torch.utils.data.Dataset):
    """Map-style torch Dataset over a babbling store (see the module docstring for items).

    Numeric columns are loaded into memory; frames and audio are read lazily per parquet row
    group (a few recent row groups are cached), so iterate shard by shard for speed."""

    def __init__(self, root: str | Path, unit: str = "transition", frame_stack: int = 4,
                 audio_samples: int = 4000, frames: bool | None = None, audio: bool | None = None) -> None:
        import pyarrow.parquet as pq

        self.root = Path(root)
        self.schema = read_json(self.root / "schema.json")
        if self.schema is None or self.schema.get("format") != FORMAT:
            raise UsageError(f"no babbling dataset at {self.root} (schema.json missing or not {FORMAT}); run `nsca babble` first")
        if unit not in ("transition", "episode"):
            raise UsageError(f"unit={unit!r} is not allowed; choose from transition, episode")
        self.unit, self.frame_stack, self.audio_samples = unit, frame_stack, audio_samples
        features = self.schema["features"]
        self.has_frames_available, self.has_audio_available = "frame" in features, "audio" in features
        self.has_frames = "frame" in features if frames is None else bool(frames)
        self.has_audio = "audio" in features if audio is None else bool(audio)
        for flag, name in ((self.has_frames, "frame"), (self.has_audio, "audio")):
            if flag and name not in features:
                raise UsageError(f"{self.root} has no {name} column; rerun `nsca babble` with --{'render' if name == 'frame' else 'audio'}")
        self.paths = shard_paths(self.root)
        if not self.paths:
            raise UsageError(f"no shards in {self.root}/shards; run `nsca babble` first")
        self.n_frames = int(self.schema["frames_per_episode"])
        cols = ["episode_index", "frame_index", "state", "action", "competence", "mass_kg", *_LABELS]
        self.columns = load_columns(self.root, cols)
        # Row -> (shard, row group, offset) for lazily read media.
        self._locator = []
        for s, path in enumerate(self.paths):
            meta = pq.ParquetFile(path).metadata
            for g in range(meta.num_row_groups):
                self._locator.append((s, g, meta.row_group(g).num_rows))
        starts = np.cumsum([0] + [n for *_, n in self._locator])
        self._group_start = starts
        self._cache: OrderedDict = OrderedDict()
        n_rows = len(self.columns["state"])
        if n_rows % self.n_frames:
            raise CorruptShardError(f"{self.root}: {n_rows} rows is not a whole number of {self.n_frames}-frame episodes")
        self.n_episodes = n_rows // self.n_frames
        self.scene_names, self.scene_codes = _scene_column(self.paths)

    @property
    def scenes(self) -> np.ndarray:
        """The scene of every row ("playground" where the store predates the column)."""
        return np.asarray(self.scene_names, dtype=object)[self.scene_codes]

    def episode_groups(self) -> list[int]:
        """For each item, its interaction (the unit of the train/val split)."""
        if self.unit == "episode":
            return list(range(len(self)))
        return [i // (self.n_frames - 1) for i in range(len(self))]

    def __len__(self) -> int:
        return self.n_episodes * (self.n_frames - 1) if self.unit == "transition" else self.n_episodes

    def _media(self, name: str, rows: np.ndarray) -> np.ndarray:
        import pyarrow.parquet as pq

        out = []
        for r in rows:
            g = int(np.searchsorted(self._group_start, r, side="right") - 1)
            key = (g, name)
            if key not in self._cache:
                s, group, _ = self._locator[g]
                try:
                    table = pq.ParquetFile(self.paths[s]).read_row_group(group, columns=[name])
                except Exception as exc:
                    raise CorruptShardError(f"shard {self.paths[s]} is corrupt ({type(exc).__name__}); delete it and rerun") from None
                self._cache[key] = column_to_numpy(table.column(name))
                if len(self._cache) > 8:
                    self._cache.popitem(last=False)
            self._cache.move_to_end(key)
            out.append(self._cache[key][r - self._group_start[g]])
        return np.stack(out)

    def _frames(self, rows: np.ndarray):
        f = self._media("frame", rows).reshape(len(rows), 64, 64, 3)
        return torch.from_numpy(f).permute(0, 3, 1, 2).float().div_(255.0)

    def _labels(self, row: int) -> dict:
        c = self.columns
        item = {k: torch.tensor(int(c[k][row])) for k in _LABELS}
        item["scene"] = self.scene_names[self.scene_codes[row]]
        item["hardness"] = torch.tensor(float(c["hardness_class"][row]) / 2.0)
        item["mass_kg"] = torch.tensor(float(c["mass_kg"][row]))
        item["competence"] = torch.tensor(float(c["competence"][row]))
        item["episode_index"] = torch.tensor(int(c["episode_index"][row]))
        return item

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(index)
        F, c = self.n_frames, self.columns
        if self.unit == "episode":
            rows = np.arange(index * F, (index + 1) * F)
            item = self._labels(rows[0])
            item["state"] = torch.from_numpy(c["state"][rows].astype(np.float32))
            item["action"] = torch.from_numpy(c["action"][rows].astype(np.float32))
            if self.has_frames:
                item["frames"] = self._frames(rows)
            if self.has_audio:
                item["audio"] = torch.from_numpy(self._media("audio", rows[:-1]).reshape(-1).astype(np.float32))
            return item
        episode, t = divmod(index, F - 1)
        row = episode * F + t
        item = self._labels(row)
        item["frame_index"] = torch.tensor(t)
        item["state"] = torch.from_numpy(c["state"][row].astype(np.float32))
        item["next_state"] = torch.from_numpy(c["state"][row + 1].astype(np.float32))
        item["action"] = torch.from_numpy(c["action"][row].astype(np.float32))
        if self.has_frames:
            first = episode * F
            stack = np.maximum(np.arange(row - self.frame_stack + 1, row + 2), first)
            frames = self._frames(stack)
            item["frames"], item["next_frames"] = frames[:-1], frames[1:]
        if self.has_audio:
            first = episode * F
            wave = self._media("audio", np.arange(first, row + 1)).reshape(-1)
            wave = wave[-self.audio_samples:]
            item["audio"] = torch.from_numpy(np.pad(wave, (self.audio_samples - len(wave), 0)).astype(np.float32))
        return item


def _scene_column(paths: list[Path]) -> tuple[list[str], np.ndarray]:
    """(scene names, per-row codes into them) over the shards; a shard without the column is
    from before it existed: all "playground"."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names: list[str] = []
    codes = []
    for path in paths:
        try:
            has = "scene" in pq.read_schema(path).names
        except Exception as exc:
            raise CorruptShardError(f"shard {path} is corrupt ({type(exc).__name__}); delete it and rerun") from None
        if not has:
            local, index = ["playground"], np.zeros(shard_rows(path), dtype=np.int64)
        else:
            col = read_shard(path, ["scene"]).column("scene")
            col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
            enc = col.dictionary_encode()
            local = [str(x) for x in enc.dictionary.to_pylist()]
            index = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        remap = []
        for name in local:
            if name not in names:
                names.append(name)
            remap.append(names.index(name))
        codes.append(np.asarray(remap, dtype=np.int16)[index] if len(index) else np.zeros(0, np.int16))
    return (names or ["playground"]), (np.concatenate(codes) if codes else np.zeros(0, np.int16))


class MultiStoreDataset(torch.utils.data.Dataset):
    """Several babbling stores read as one (see the module docstring): the members' items in
    order. `schema` is the member with the most items' (its timing sets the physics prior's
    constants in training); the label vocabularies of all members must agree."""

    def __init__(self, roots: list[str | Path], unit: str = "transition", frames: bool | None = None,
                 audio: bool | None = None, **kw: Any) -> None:
        if not roots:
            raise UsageError("no babbling stores to read together")
        self.members = [BabblingDataset(r, unit=unit, frames=False, audio=False, **kw) for r in roots]
        has_frames = all(m.has_frames_available for m in self.members) if frames is None else bool(frames)
        has_audio = all(m.has_audio_available for m in self.members) if audio is None else bool(audio)
        for m in self.members:
            for flag, available, name in ((has_frames, m.has_frames_available, "frame"),
                                          (has_audio, m.has_audio_available, "audio")):
                if flag and not available:
                    raise UsageError(f"{m.root} has no {name} column; rerun `nsca babble` with "
                                     f"--{'render' if name == 'frame' else 'audio'}")
            m.has_frames, m.has_audio = has_frames, has_audio
        self.roots = [Path(r) for r in roots]
        self.unit, self.has_frames, self.has_audio = unit, has_frames, has_audio
        ref = self.members[0].schema.get("labels", {})
        for m in self.members[1:]:
            labels = m.schema.get("labels", {})
            for key in ("primitive", "outcome", "material"):
                if key in ref and key in labels and ref[key] != labels[key]:
                    raise UsageError(f"{m.root} and {self.members[0].root} name their {key} labels differently; "
                                     "they cannot be trained on together")
        self.member_schemas = [m.schema for m in self.members]
        self.schema = max(self.members, key=len).schema
        self._starts = np.cumsum([0] + [len(m) for m in self.members])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def locate(self, index: int) -> tuple[int, int]:
        """(member, index within it) of item `index`."""
        if not 0 <= index < len(self):
            raise IndexError(index)
        k = int(np.searchsorted(self._starts, index, side="right") - 1)
        return k, index - int(self._starts[k])

    def __getitem__(self, index: int) -> dict:
        k, i = self.locate(index)
        return self.members[k][i]

    @property
    def scenes(self) -> np.ndarray:
        return np.concatenate([m.scenes for m in self.members])

    def episode_groups(self) -> list[int]:
        out, offset = [], 0
        for m in self.members:
            g = m.episode_groups()
            out += [offset + x for x in g]
            offset += (max(g) + 1) if g else 0
        return out


def open_dataset(root: str | Path | None = None, split: str = "train", **kw: Any):
    """The torch Dataset over a babbling store, or over a folder of stores read together
    (`MultiStoreDataset`). The store has no split of its own (training draws its seeded
    train/val split from the whole set), so `split` must be train or all."""
    if split not in ("train", "all"):
        raise UsageError(f"split={split!r}: the babbling store has one split; use train (or all) and split by index")
    root = default_babbling_dir() if root is None else Path(root)
    members = member_stores(root)
    if members:
        return MultiStoreDataset(members, **kw)
    return BabblingDataset(root, **kw)
