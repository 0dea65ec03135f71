"""Physion (Bear et al., NeurIPS 2021 Datasets & Benchmarks) for Object Contact Prediction (OCP).

OCP: from a video of a scene, predict whether the red "agent" object touches the yellow
"patient" object/zone. Two official layouts are read:

- mp4 (PhysionTest-Core, `Physion.zip`): `<scenario>/mp4s-redyellow/<stimulus>_img.mp4` (the
  red/yellow renders given to models; `mp4s/` holds the human-study colours), labels from the
  readout label CSV (`readout_labels.csv`: first column the stimulus name, column
  `ground truth outcome` True/False). A clip without a label row is an error naming it; label rows
  without a clip are fine (a partial download).
- hdf5 (PhysionTrain-Readout / test HDF5s, one file per trial): `frames/<NNNN>/images/_img`
  (encoded PNG/JPEG bytes), `frames/<NNNN>/labels/target_contacting_zone` (bool per frame); the
  trial's OCP label is whether any frame has contact. `static/stimulus_name` names the trial.

`observed_frames` keeps only the first N frames before sampling T of them: OCP readouts are
meant to see the start of a trial, not the outcome.
"""

from __future__ import annotations

import csv
import hashlib
import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from nsca.data.video import ClipDecodeError, _to_square, decode_clip, sample_indices, serve_item, to_model_frames
from nsca.errors import UsageError

SCENARIOS = ("collide", "contain", "dominoes", "drape", "drop", "link", "roll", "support")
LABEL_NAMES = ["no_contact", "contact"]
OUTCOME_COLUMN = "ground truth outcome"


def read_readout_labels(path: Path) -> dict[str, bool]:
    """Stimulus name -> contact outcome from Physion's readout label CSV."""
    if not path.is_file():
        raise UsageError(f"Physion label file not found: {path}")
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header or OUTCOME_COLUMN not in header:
            raise UsageError(f"{path}: expected a column '{OUTCOME_COLUMN}' in the header, got {header}")
        col = header.index(OUTCOME_COLUMN)
        labels = {}
        for lineno, row in enumerate(reader, start=2):
            if not row:
                continue
            value = row[col].strip().lower() if col < len(row) else ""
            if value not in ("true", "false", "1", "0"):
                raise UsageError(f"{path}:{lineno}: outcome {value!r} is not True/False")
            labels[row[0].strip()] = value in ("true", "1")
    return labels


def _stimulus_of(mp4: Path) -> str:
    stem = mp4.stem
    return stem[: -len("_img")] if stem.endswith("_img") else stem


class PhysionOCP:
    """Physion trials -> {"frames" (T,3,64,64), "label" (1 = contact), "label_name", "scenario", "stimulus"}."""

    def __init__(
        self,
        path: str | Path,
        layout: str = "mp4",
        labels_csv: str | Path | None = None,
        scenarios: tuple[str, ...] | list[str] | None = None,
        num_frames: int = 16,
        size: int = 64,
        observed_frames: int | None = None,
        video_dir: str = "mp4s-redyellow",
        on_error: str = "raise",
    ) -> None:
        if layout not in ("mp4", "hdf5"):
            raise UsageError(f"layout={layout!r} is not allowed; choose from mp4, hdf5")
        if on_error not in ("raise", "skip"):
            raise UsageError(f"on_error={on_error!r} is not allowed; choose from raise, skip")
        self.path = Path(path)
        if not self.path.is_dir():
            raise UsageError(f"no Physion data at {self.path}; run `nsca data download --datasets physion`")
        self.layout, self.num_frames, self.size = layout, num_frames, size
        self.observed_frames, self.on_error = observed_frames, on_error
        self.label_names = list(LABEL_NAMES)
        self.skipped: dict[int | str, str] = {}  # item index (bad clip) or file path (bad trial at load time)
        wanted = {s.lower() for s in scenarios} if scenarios else None
        if wanted and not wanted <= set(SCENARIOS):
            bad = sorted(wanted - set(SCENARIOS))[0]
            raise UsageError(f"unknown Physion scenario {bad!r}; choose from {', '.join(SCENARIOS)}")
        self.files: list[Path] = []
        self.scenarios: list[str] = []
        self.stimuli: list[str] = []
        labels: list[int] = []
        if layout == "mp4":
            csv_path = Path(labels_csv) if labels_csv else self._find_labels_csv()
            outcome = read_readout_labels(csv_path)
            for mp4 in sorted(self.path.glob(f"*/{video_dir}/*.mp4")):
                scenario = mp4.parent.parent.name.lower()
                if wanted and scenario not in wanted:
                    continue
                stim = _stimulus_of(mp4)
                if stim not in outcome:
                    raise UsageError(f"{mp4}: no row for stimulus '{stim}' in {csv_path}; the label file does not match the clips")
                self.files.append(mp4)
                self.scenarios.append(scenario)
                self.stimuli.append(stim)
                labels.append(int(outcome[stim]))
            if not self.files:
                raise UsageError(f"{self.path} holds no <scenario>/{video_dir}/*.mp4 clips; the download is empty or partial")
        else:
            for h5 in sorted(self.path.rglob("*.hdf5")):
                scenario = next((p.lower() for p in h5.relative_to(self.path).parts[:-1] if p.lower() in SCENARIOS), "unknown")
                if wanted and scenario not in wanted:
                    continue
                try:
                    stim, label = self._hdf5_meta(h5)
                except UsageError as exc:
                    if on_error == "raise":
                        raise
                    self.skipped[str(h5)] = str(exc)
                    warnings.warn(f"skipped trial {exc}", stacklevel=2)
                    continue
                self.files.append(h5)
                self.scenarios.append(scenario)
                self.stimuli.append(stim)
                labels.append(int(label))
            if not self.files:
                raise UsageError(f"{self.path} holds no readable *.hdf5 trials; the download is empty or partial")
        self.labels = np.asarray(labels, dtype=np.int64)

    def _find_labels_csv(self) -> Path:
        for candidate in (self.path / "readout_labels.csv", self.path / "labels.csv"):
            if candidate.is_file():
                return candidate
        raise UsageError(f"Physion label file not found: {self.path / 'readout_labels.csv'}")

    @staticmethod
    def _hdf5_meta(h5: Path) -> tuple[str, bool]:
        import h5py

        try:
            with h5py.File(h5, "r") as f:
                if "frames" not in f or not len(f["frames"]):
                    raise UsageError(f"{h5}: no 'frames' group; not a Physion trial file")
                contact = False
                for key in f["frames"]:
                    labels = f["frames"][key].get("labels")
                    if labels is None or "target_contacting_zone" not in labels:
                        raise UsageError(f"{h5}: frame {key} has no labels/target_contacting_zone")
                    contact = contact or bool(np.any(labels["target_contacting_zone"][()]))
                stim = h5.stem
                if "static" in f and "stimulus_name" in f["static"]:
                    raw = f["static"]["stimulus_name"][()]
                    stim = raw.decode() if isinstance(raw, bytes) else str(raw)
        except OSError as exc:
            raise UsageError(f"{h5}: unreadable HDF5 ({exc})") from None
        return stim, contact

    def __len__(self) -> int:
        return len(self.files)

    def decode(self, index: int) -> np.ndarray:
        path = self.files[index]
        if self.layout == "mp4":
            return decode_clip(path, self.num_frames, self.size, first_frames=self.observed_frames)
        return self._decode_hdf5(path)

    def _decode_hdf5(self, path: Path) -> np.ndarray:
        import h5py
        from PIL import Image, UnidentifiedImageError

        try:
            with h5py.File(path, "r") as f:
                keys = sorted(f["frames"])
                if self.observed_frames is not None:
                    keys = keys[: self.observed_frames]
                chosen = [keys[j] for j in sample_indices(len(keys), self.num_frames)]
                frames = []
                for key in chosen:
                    raw = f["frames"][key]["images"]["_img"][()]
                    img = Image.open(io.BytesIO(np.asarray(raw).tobytes())).convert("RGB")
                    frames.append(_to_square(_PilFrame(img), self.size))
        except (OSError, KeyError, UnidentifiedImageError, ValueError) as exc:
            raise ClipDecodeError(f"{path}: cannot read trial frames ({type(exc).__name__}: {exc})") from None
        return np.stack(frames)

    def item_from_clip(self, index: int, clip: np.ndarray) -> dict:
        label = int(self.labels[index])
        return {
            "frames": to_model_frames(clip),
            "label": label,
            "label_name": self.label_names[label],
            "scenario": self.scenarios[index],
            "stimulus": self.stimuli[index],
            "index": index,
        }

    def fingerprint(self) -> str:
        parts = [self.layout, str(self.num_frames), str(self.size), str(self.observed_frames)]
        parts += [f"{p}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in self.files]
        return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:12]

    def __getitem__(self, index: int) -> dict:
        return serve_item(self, index)


class _PilFrame:
    """Adapts a PIL image to the `.width/.height/.reformat().to_ndarray()` used by _to_square."""

    def __init__(self, img: Any) -> None:
        self.img, self.width, self.height = img, img.width, img.height

    def reformat(self, width: int, height: int, format: str) -> _PilFrame:
        return _PilFrame(self.img.resize((width, height), resample=3))

    def to_ndarray(self) -> np.ndarray:
        return np.asarray(self.img, dtype=np.uint8)
