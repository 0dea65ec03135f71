"""Video clip loading: PyAV decode -> T frames at 64x64, over Hugging Face datasets on local disk.

SSv2 and Kinetics-400 arrive as Hugging Face datasets (one row per clip: a video column holding
mp4 bytes or a path, and a label column). `nsca data download` writes them under
`<data root>/<name>/<split>/` with `Dataset.save_to_disk`, one shard folder per block of clips
(`shard-00000/`, ...), so a killed download keeps every finished shard. A single
`save_to_disk` folder (a researcher's own copy) is read the same way.

Frames are sampled uniformly over the whole clip (deterministic, so decoded clips can be cached),
resized so the short side is `size`, then centre-cropped to `size x size`.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from nsca.errors import UsageError
from nsca.utils.io import atomic_write_bytes, atomic_write_json, read_json

VIDEO_COLUMNS = ("video", "mp4", "video_path", "path", "file")
LABEL_COLUMNS = ("label", "labels", "label_id")


class ClipDecodeError(UsageError):
    """A clip that PyAV cannot decode (corrupt, truncated, no video stream). Names the clip.

    A UsageError: bad input data, so the CLI reports it in one line."""


def sample_indices(num_available: int, num_frames: int) -> np.ndarray:
    """`num_frames` indices spread uniformly over `num_available` frames (repeats if too few)."""
    if num_available <= 0:
        raise ValueError("no frames to sample from")
    edges = np.linspace(0, num_available, num_frames + 1)
    return np.minimum(((edges[:-1] + edges[1:]) / 2).astype(np.int64), num_available - 1)


def _to_square(frame: Any, size: int) -> np.ndarray:
    """Short side -> size (swscale), then centre crop: no aspect distortion."""
    w, h = frame.width, frame.height
    if w >= h:
        new_w, new_h = max(size, round(w * size / h)), size
    else:
        new_w, new_h = size, max(size, round(h * size / w))
    rgb = frame.reformat(width=new_w, height=new_h, format="rgb24").to_ndarray()
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return rgb[top : top + size, left : left + size]


def _decode_pass(
    source: str | bytes, num_frames: int, size: int, trust_header: bool, first_frames: int | None
) -> np.ndarray | None:
    """One pass over the stream. With a trusted header frame count only the sampled frames are
    converted; returns None when the header turned out wrong (the caller then redoes it blind)."""
    import av

    handle = io.BytesIO(source) if isinstance(source, bytes) else source
    with av.open(handle, mode="r") as container:
        if not container.streams.video:
            raise ClipDecodeError("no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        header = stream.frames or 0
        if first_frames is not None and header > 0:
            header = min(header, first_frames)
        wanted = sample_indices(header, num_frames) if trust_header and header > 0 else None
        wanted_set = set(wanted.tolist()) if wanted is not None else None
        kept: dict[int, np.ndarray] = {}
        raw = []  # without a frame count (webm, a wrong header): keep decoded frames, convert the sampled ones
        count = 0
        for i, frame in enumerate(container.decode(stream)):
            count = i + 1
            if wanted_set is None:
                raw.append(frame)
            elif i in wanted_set:
                kept[i] = _to_square(frame, size)
            if first_frames is not None and count >= first_frames:
                break
    if count == 0:
        raise ClipDecodeError("no decodable video frames")
    if wanted is not None:
        if count != header:
            return None
        return np.stack([kept[j] for j in wanted])
    return np.stack([_to_square(raw[j], size) for j in sample_indices(count, num_frames)])


def decode_clip(
    source: str | Path | bytes, num_frames: int = 16, size: int = 64, name: str | None = None, first_frames: int | None = None
) -> np.ndarray:
    """Decode a video file (path or bytes) to uint8 (num_frames, size, size, 3) RGB.

    first_frames limits sampling to the clip's first N frames. Only the sampled frames are
    converted when the header gives the frame count; if the header is wrong (variable frame rate,
    truncated file) a second pass samples from what really decodes.
    Raises ClipDecodeError naming the clip if the file is unreadable or holds no video frames.
    """
    import av

    label = name or (str(source) if not isinstance(source, bytes) else "<bytes>")
    src = source if isinstance(source, bytes) else str(source)
    try:
        clip = _decode_pass(src, num_frames, size, True, first_frames)
        if clip is None:
            clip = _decode_pass(src, num_frames, size, False, first_frames)
    except ClipDecodeError as exc:
        raise ClipDecodeError(f"{label}: {exc}") from None
    except (av.FFmpegError, OSError, ValueError, EOFError) as exc:
        raise ClipDecodeError(f"{label}: cannot decode video ({type(exc).__name__}: {exc})") from None
    assert clip is not None
    return clip


def decode_window(
    source: str | Path, start_s: float, end_s: float, num_frames: int = 8, size: int = 64, name: str | None = None
) -> np.ndarray:
    """uint8 (num_frames, size, size, 3): frames whose time lies in [start_s, end_s), sampled uniformly.

    Seeks to the keyframe before start_s, so a window deep into a long recording is cheap."""
    import av

    label = name or str(source)
    frames = []
    try:
        with av.open(str(source), mode="r") as container:
            if not container.streams.video:
                raise ClipDecodeError(f"{label}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if start_s > 0 and stream.time_base:
                container.seek(int(start_s / stream.time_base) + (stream.start_time or 0), stream=stream, backward=True)
            for frame in container.decode(stream):
                t = frame.time
                if t is None or t < start_s - 1e-6:
                    continue
                if t >= end_s:
                    break
                frames.append(frame)
    except (av.FFmpegError, OSError, ValueError, EOFError) as exc:
        raise ClipDecodeError(f"{label}: cannot decode video ({type(exc).__name__}: {exc})") from None
    if not frames:
        raise ClipDecodeError(f"{label}: no video frames between {start_s:.3f} s and {end_s:.3f} s")
    return np.stack([_to_square(frames[j], size) for j in sample_indices(len(frames), num_frames)])


def to_model_frames(clip_uint8: np.ndarray) -> Any:
    """uint8 (T,H,W,3) -> float32 torch tensor (T,3,H,W) in [0,1]."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(clip_uint8)).permute(0, 3, 1, 2).float().div_(255.0)


def _shard_dirs(path: Path) -> list[Path]:
    if (path / "state.json").is_file() or (path / "dataset_info.json").is_file():
        return [path]
    return sorted(p for p in path.glob("shard-*") if p.is_dir() and (p / "state.json").is_file())


def load_hf_clips(path: str | Path) -> Any:
    """A `datasets.Dataset` from a save_to_disk folder or a folder of shard-* save_to_disk folders."""
    import datasets

    path = Path(path)
    if not path.exists():
        raise UsageError(f"no dataset at {path}; run `nsca data download` or point NSCA_DATA_ROOT at your copy")
    shards = _shard_dirs(path)
    if not shards:
        raise UsageError(f"{path} holds no Hugging Face dataset (no state.json, no shard-*/); the download is empty or partial")
    parts = []
    for shard in shards:
        try:
            parts.append(datasets.load_from_disk(str(shard)))
        except (FileNotFoundError, ValueError, OSError) as exc:
            raise UsageError(f"{shard}: unreadable Hugging Face dataset ({type(exc).__name__}: {exc})") from None
    if any(isinstance(p, datasets.DatasetDict) for p in parts):
        raise UsageError(f"{path} is a DatasetDict; point at one split's folder (e.g. {path}/train)")
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)


def _pick_column(names: list[str], candidates: tuple[str, ...], given: str | None, what: str, path: Path) -> str:
    if given is not None:
        if given not in names:
            raise UsageError(f"{path}: no column '{given}' for {what}; columns are {', '.join(names)}")
        return given
    for c in candidates:
        if c in names:
            return c
    raise UsageError(f"{path}: no {what} column (looked for {', '.join(candidates)}); columns are {', '.join(names)}")


class VideoClipDataset:
    """Clips of a Hugging Face video dataset on disk -> {"frames", "label", "label_name", "index"}.

    on_error="raise" stops at the first undecodable clip with a one-line error naming it;
    on_error="skip" serves the next good clip instead and counts the bad one in `skipped`.
    """

    def __init__(
        self,
        path: str | Path,
        num_frames: int = 16,
        size: int = 64,
        video_column: str | None = None,
        label_column: str | None = None,
        on_error: str = "raise",
    ) -> None:
        import datasets

        if on_error not in ("raise", "skip"):
            raise UsageError(f"on_error={on_error!r} is not allowed; choose from raise, skip")
        self.path = Path(path)
        self.num_frames, self.size, self.on_error = num_frames, size, on_error
        ds = load_hf_clips(self.path)
        self.video_column = _pick_column(ds.column_names, VIDEO_COLUMNS, video_column, "video", self.path)
        self.label_column = _pick_column(ds.column_names, LABEL_COLUMNS, label_column, "label", self.path)
        feature = ds.features[self.video_column]
        if isinstance(feature, datasets.Video):
            # Raw bytes/path, decoded by PyAV below (datasets' own decoder needs torchcodec).
            ds = ds.cast_column(self.video_column, datasets.Video(decode=False))
        self.dataset = ds
        self.label_names, self.labels = self._read_labels(ds)
        self.skipped: dict[int, str] = {}

    def _read_labels(self, ds: Any) -> tuple[list[str], np.ndarray]:
        import datasets

        feature = ds.features[self.label_column]
        raw = ds[self.label_column]
        if isinstance(feature, datasets.ClassLabel):
            names = list(feature.names)
            labels = np.asarray(raw, dtype=np.int64)
        elif all(isinstance(v, str) for v in raw):
            names = self._label_vocabulary(sorted(set(raw)))
            lookup = {n: i for i, n in enumerate(names)}
            missing = sorted(set(raw) - set(lookup))
            if missing:
                raise UsageError(f"{self.path}: label '{missing[0]}' is not in {self.path.parent / 'labels.json'}")
            labels = np.asarray([lookup[v] for v in raw], dtype=np.int64)
        elif all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in raw):
            labels = np.asarray(raw, dtype=np.int64)
            names = self._label_vocabulary([str(i) for i in range(int(labels.max(initial=-1)) + 1)])
        else:
            raise UsageError(f"{self.path}: label column '{self.label_column}' must hold class ids or names")
        if len(labels) and (labels.min() < 0 or labels.max() >= len(names)):
            bad = int(labels[(labels < 0) | (labels >= len(names))][0])
            raise UsageError(f"{self.path}: label id {bad} is outside the {len(names)} known classes")
        return names, labels

    def _label_vocabulary(self, fallback: list[str]) -> list[str]:
        """labels.json beside the split folders fixes class ids across splits; else the split's own."""
        vocab_file = self.path.parent / "labels.json"
        if vocab_file.is_file():
            try:
                names = json.loads(vocab_file.read_text())
            except ValueError:
                raise UsageError(f"{vocab_file}: not valid JSON") from None
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise UsageError(f"{vocab_file}: must be a JSON list of class names")
            return names
        return fallback

    def __len__(self) -> int:
        return len(self.dataset)

    def _source(self, index: int) -> tuple[str | bytes, str]:
        """(mp4 bytes or file path, a name for messages) of clip `index`, reading its row once."""
        cell = self.dataset[index][self.video_column]
        name = f"{self.path}[{index}]"
        if isinstance(cell, dict):
            if cell.get("path"):
                name += f" ({cell['path']})"
            if cell.get("bytes"):
                return cell["bytes"], name
            cell = cell.get("path")
        if isinstance(cell, bytes) and cell:
            return cell, name
        if isinstance(cell, str) and cell:
            p = Path(cell)
            return str(p if p.is_absolute() else self.path / p), f"{name} ({cell})"
        raise ClipDecodeError(f"{name}: empty video cell")

    def decode(self, index: int) -> np.ndarray:
        """uint8 (T, size, size, 3) for clip `index`; ClipDecodeError if it cannot be decoded."""
        source, name = self._source(index)
        return decode_clip(source, self.num_frames, self.size, name=name)

    def item_from_clip(self, index: int, clip: np.ndarray) -> dict:
        label = int(self.labels[index])
        return {"frames": to_model_frames(clip), "label": label, "label_name": self.label_names[label], "index": index}

    def fingerprint(self) -> str:
        """Changes when the clips on disk change: the cache key."""
        parts = [str(self.path.resolve()), str(self.num_frames), str(self.size)]
        for shard in _shard_dirs(self.path):
            parts.append((shard / "state.json").read_text())
        return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:12]

    def __getitem__(self, index: int) -> dict:
        return serve_item(self, index)


def note_skipped(dataset, i: int, exc: Exception, what: str) -> None:
    """Under on_error="raise" re-raise; otherwise record item `i` as skipped (once) and warn."""
    if dataset.on_error == "raise":
        raise exc
    if i not in dataset.skipped:
        dataset.skipped[i] = str(exc)
        warnings.warn(f"skipped {what} {i}: {exc} ({len(dataset.skipped)} skipped so far)", stacklevel=3)


def serve_item(dataset: Any, index: int) -> dict:
    """Decode clip `index`; with on_error="skip" fall through to the next good clip and count."""
    n = len(dataset)
    if not 0 <= index < n:
        raise IndexError(index)
    for attempt in range(n):
        i = (index + attempt) % n
        try:
            clip = dataset.decode(i)
        except ClipDecodeError as exc:
            note_skipped(dataset, i, exc, "bad clip")
            continue
        return dataset.item_from_clip(i, clip)
    raise ClipDecodeError(f"{getattr(dataset, 'path', 'dataset')}: every clip failed to decode")


class CachedClips:
    """Decode every clip of a clip dataset once into uint8 .npy shards; later epochs memory-map them.

    The cache lives in `cache_dir/<fingerprint>/` (fingerprint = clips on disk + T + size), is
    written shard by shard (a killed build resumes at the first unfinished shard), and records the
    clips it skipped (on_error="skip") in manifest.json so the count is never lost. `workers`
    decode in parallel processes during the build.
    """

    def __init__(self, dataset: Any, cache_dir: str | Path, shard_size: int = 256, workers: int = 0,
                 log: Any = None) -> None:
        self.dataset = dataset
        self.dir = Path(cache_dir) / dataset.fingerprint()
        self.shard_size, self.workers, self.log = shard_size, workers, log
        self.manifest_path = self.dir / "manifest.json"
        self.build()
        manifest = read_json(self.manifest_path) or {}
        self.skipped: dict[int, str] = {int(k): v for k, v in manifest.get("skipped", {}).items()}
        self._frames = [self._load(f"frames-{k:05d}.npy", mmap=True) for k in range(self._num_shards())]
        self._source_index = np.concatenate(
            [self._load(f"index-{k:05d}.npy") for k in range(self._num_shards())] or [np.zeros(0, np.int64)]
        )
        self._offsets = np.cumsum([0] + [len(f) for f in self._frames])

    def _num_shards(self) -> int:
        return (len(self.dataset) + self.shard_size - 1) // self.shard_size

    def _load(self, name: str, mmap: bool = False) -> np.ndarray:
        try:
            return np.load(self.dir / name, mmap_mode="r" if mmap else None)
        except (OSError, ValueError) as exc:
            raise UsageError(f"decode cache file {self.dir / name} is corrupt ({exc}); delete {self.dir} and rerun") from None

    def _decoded(self, indices: range) -> Any:
        """(index, clip or None, error) for each index, decoded here or in worker processes."""
        if self.workers <= 0:
            return (_try_decode(self.dataset, i) for i in indices)
        import torch.utils.data

        jobs = _DecodeJobs(self.dataset, indices)
        loader = torch.utils.data.DataLoader(jobs, batch_size=None, num_workers=self.workers, collate_fn=_identity)
        return iter(loader)

    def build(self) -> None:
        manifest = read_json(self.manifest_path) or {}
        done = set(manifest.get("done_shards", []))
        skipped = dict(manifest.get("skipped", {}))
        for k in range(self._num_shards()):
            if k in done and (self.dir / f"frames-{k:05d}.npy").is_file():
                continue
            clips, kept = [], []
            for i, clip, error in self._decoded(range(k * self.shard_size, min(len(self.dataset), (k + 1) * self.shard_size))):
                if clip is not None:
                    clips.append(clip)
                    kept.append(i)
                    continue
                if self.dataset.on_error == "raise":
                    raise ClipDecodeError(error)
                skipped[str(i)] = error
                warnings.warn(f"skipped bad clip {error}", stacklevel=2)
            t, size = self.dataset.num_frames, self.dataset.size
            frames = np.stack(clips) if clips else np.zeros((0, t, size, size, 3), np.uint8)
            _atomic_save_npy(self.dir / f"frames-{k:05d}.npy", frames)
            _atomic_save_npy(self.dir / f"index-{k:05d}.npy", np.asarray(kept, dtype=np.int64))
            done.add(k)
            atomic_write_json(self.manifest_path, {
                "source": str(getattr(self.dataset, "path", "")),
                "num_frames": t, "size": size, "num_clips": len(self.dataset),
                "shard_size": self.shard_size, "done_shards": sorted(done), "skipped": skipped,
            })
            if self.log:
                self.log(f"cache shard {k + 1}/{self._num_shards()} written ({len(kept)} clips, {len(skipped)} skipped so far)")

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(index)
        k = int(np.searchsorted(self._offsets, index, side="right") - 1)
        clip = np.array(self._frames[k][index - self._offsets[k]])  # copy out of the read-only memmap
        return self.dataset.item_from_clip(int(self._source_index[index]), clip)


def _atomic_save_npy(path: Path, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, array)
    atomic_write_bytes(path, buf.getvalue())


def _try_decode(dataset: Any, index: int) -> tuple[int, np.ndarray | None, str]:
    try:
        return index, dataset.decode(index), ""
    except ClipDecodeError as exc:
        return index, None, str(exc)


def _identity(x: Any) -> Any:
    return x


class _DecodeJobs:
    """Map-style view for a DataLoader: item j = _try_decode(dataset, indices[j])."""

    def __init__(self, dataset: Any, indices: range) -> None:
        self.dataset, self.indices = dataset, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, j: int) -> tuple[int, np.ndarray | None, str]:
        return _try_decode(self.dataset, self.indices[j])
