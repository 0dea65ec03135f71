"""One interface from any data source to the trainer: `get_source(name, root, split, **kw)`.

Every source is a `torch.utils.data.Dataset` whose items are dicts with (where the source has it):

- "frames": float32 tensor (T, 3, 64, 64), RGB in [0, 1], T frames sampled uniformly over the clip
- "audio": float32 tensor (N,), 16 kHz mono
- "label": int (int64 once collated): the source's class id
- "label_name": str, the class name
- "index": int, the item's position in the underlying source
plus source-specific extras ("scenario"/"stimulus" for Physion, "action"/"time_s" for Greatest Hits).

Sources and what they carry:

| name          | frames | audio | label                          | files read (under <root>/<name>/) |
|---------------|--------|-------|--------------------------------|-----------------------------------|
| babbling      | yes*   | yes*  | none: material, hardness, ... | <root>/babbling (nsca.data.store)  |
| ssv2          | yes    | -     | 174 template classes           | <split>/ HF dataset (save_to_disk) |
| kinetics400   | yes    | -     | 400 action classes             | <split>/ HF dataset (save_to_disk) |
| greatest-hits | opt.   | yes   | material (17 + "None")         | vis-data/*_times.txt + wavs (+ mp4s with frames=True) |
| physion       | yes    | -     | OCP: 1 = agent contacts patient | test: <scenario>/mp4s-redyellow + readout_labels.csv; |
|               |        |       |                                | train: readout_training/**/*.hdf5 |

*babbling items are the store's transitions (state, action, next_state, frames (frame_stack, 3,
64, 64) when rendered, audio when synthesised, and the interaction labels: material,
hardness_class, primitive, outcome, ...); see nsca.data.store.

`cache=True` (video sources) decodes every clip once into `<root>/cache/<name>/<split>/` and
serves later epochs from memory-mapped uint8 arrays. The root is the argument, else
$NSCA_DATA_ROOT, else ./data. The offline default for training is "babbling".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch.utils.data

from nsca.data.download import data_root
from nsca.errors import UsageError

SOURCES = ("babbling", "ssv2", "kinetics400", "greatest-hits", "physion")
_HF_SPLITS = {"train": "train", "val": "validation", "validation": "validation", "test": "test"}


class SourceDataset(torch.utils.data.Dataset):
    """A loader (VideoClipDataset, CachedClips, GreatestHitsDataset, PhysionOCP) as a torch Dataset.

    Attributes of the loader (label_names, skipped, ...) are reachable through it.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, index: int) -> dict:
        return self.inner[index]

    def __getattr__(self, name: str) -> Any:
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


def get_source(name: str, root: str | Path | None = None, split: str = "train", cache: bool = False,
               cache_workers: int = 0, cache_log: Any = None, **kw: Any) -> Any:
    """The torch Dataset for source `name` (see the module docstring for item keys).

    Keyword arguments go to the source's loader (num_frames, size, on_error, window_s, layout, ...).
    """
    if name not in SOURCES:
        raise UsageError(f"unknown data source {name!r}; choose from {', '.join(SOURCES)}")
    base = data_root(root)
    if name == "babbling":
        return _babbling(base, split, **kw)
    if name in ("ssv2", "kinetics400"):
        from nsca.data.video import VideoClipDataset

        if split not in _HF_SPLITS:
            raise UsageError(f"split={split!r} is not allowed; choose from {', '.join(_HF_SPLITS)}")
        folder = base / name / _HF_SPLITS[split]
        if not folder.exists() and (base / name / split).exists():
            folder = base / name / split
        dataset: Any = VideoClipDataset(folder, **kw)
    elif name == "greatest-hits":
        from nsca.data.audio import GreatestHitsDataset

        if cache:
            raise UsageError("cache=True applies to video sources; Greatest Hits reads only short audio windows")
        folder = base / name / "vis-data" if (base / name / "vis-data").is_dir() else base / name
        return SourceDataset(GreatestHitsDataset(folder, split=split, **kw))
    else:
        from nsca.data.physion import PhysionOCP

        dataset = PhysionOCP(*_physion_folder(base / name, split, kw), **kw)
    if cache:
        from nsca.data.video import CachedClips

        dataset = CachedClips(dataset, base / "cache" / name / split, workers=cache_workers, log=cache_log)
    return SourceDataset(dataset)


def _physion_folder(folder: Path, split: str, kw: dict) -> tuple[Path]:
    """Physion's own split: the readout is trained on PhysionTrain-Readout (HDF5 trials) and
    tested on PhysionTest-Core (mp4s + readout_labels.csv). Training on the test clips is refused."""
    if split not in ("train", "test"):
        raise UsageError(f"physion split={split!r} is not allowed; choose from train (readout HDF5s), test (PhysionTest-Core)")
    layout = kw.setdefault("layout", "hdf5" if split == "train" else "mp4")
    if split == "train":
        if layout != "hdf5":
            raise UsageError("physion split='train' reads the PhysionTrain-Readout HDF5s (layout='hdf5'); "
                             "the mp4s of PhysionTest-Core are the test set")
        return (folder / "readout_training" if (folder / "readout_training").is_dir() else folder / "train",)
    if layout == "hdf5":
        return (folder / "testing" if (folder / "testing").is_dir() else folder / "test",)
    # Physion.zip may unpack into a top folder; the label CSV sits beside it.
    if (folder / "readout_labels.csv").is_file():
        kw.setdefault("labels_csv", folder / "readout_labels.csv")
    if not any(folder.glob("*/mp4s*")):
        folder = next((d for d in sorted(folder.glob("*/")) if any(d.glob("*/mp4s*"))), folder)
    return (folder,)


def _babbling(base: Path, split: str, **kw: Any) -> Any:
    from nsca.data import store

    folder = base / "babbling"
    if not folder.exists():
        raise UsageError(f"no babbling dataset found at {folder}; run `nsca babble` first")
    return store.open_dataset(folder, split=split, **kw)
