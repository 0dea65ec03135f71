"""Greatest Hits (Owens et al., CVPR 2016): one item per annotated hit, a 16 kHz mono audio window.

Layout read (the dataset's own, `vis-data/` after unpacking): per recording `<stem>_times.txt`
(one hit per line: `time_s material action reaction`), the recording's audio `<stem>_denoised.wav`
(else `<stem>_mic.wav`, else `<stem>.wav`), and its video `<stem>_denoised.mp4` (else
`<stem>.mp4`; read only with frames=True). Audio is read with soundfile (only the window around
each hit), mixed to mono and resampled to 16 kHz; frames come from the same time window.
Splits are by recording (stable hash of the stem), so hits of one recording never land in both
train and test.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nsca.data.video import decode_window, note_skipped, to_model_frames
from nsca.errors import UsageError

SAMPLE_RATE_HZ = 16_000
# The annotation vocabulary of Greatest Hits; "None" marks hits whose material was not visible.
MATERIALS = (
    "None", "rock", "leaf", "water", "wood", "plastic-bag", "ceramic", "metal", "dirt",
    "cloth", "plastic", "tile", "gravel", "paper", "drywall", "glass", "grass", "carpet",
)
ACTIONS = ("None", "hit", "scratch")
AUDIO_SUFFIXES = ("_denoised.wav", "_mic.wav", ".wav")
VIDEO_SUFFIXES = ("_denoised.mp4", ".mp4")
SPLIT_SHARES = {"train": (0.0, 0.8), "val": (0.8, 0.9), "test": (0.9, 1.0), "all": (0.0, 1.0)}


@dataclass(frozen=True)
class Hit:
    recording: str
    audio_path: Path
    video_path: Path | None
    time_s: float
    material: str
    action: str
    reaction: str


def parse_times_file(path: Path) -> list[tuple[float, str, str, str]]:
    """Rows of a `_times.txt` file; a malformed line is a one-line error naming file and line."""
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2:
            raise UsageError(f"{path}:{lineno}: expected 'time material action reaction', got {line.strip()!r}")
        try:
            t = float(fields[0])
        except ValueError:
            raise UsageError(f"{path}:{lineno}: hit time {fields[0]!r} is not a number") from None
        if not math.isfinite(t) or t < 0:
            raise UsageError(f"{path}:{lineno}: hit time {t} must be finite and >= 0")
        material = fields[1]
        action = fields[2] if len(fields) > 2 else "None"
        reaction = fields[3] if len(fields) > 3 else "None"
        if material not in MATERIALS:
            raise UsageError(f"{path}:{lineno}: unknown material {material!r}; known: {', '.join(MATERIALS)}")
        rows.append((t, material, action, reaction))
    return rows


def _split_of(stem: str) -> float:
    return int(hashlib.sha1(stem.encode()).hexdigest()[:8], 16) / 0x1_0000_0000


def _beside(times_file: Path, suffixes: tuple[str, ...]) -> Path | None:
    stem = times_file.name[: -len("_times.txt")]
    for suffix in suffixes:
        candidate = times_file.with_name(stem + suffix)
        if candidate.is_file():
            return candidate
    return None


class GreatestHitsDataset:
    """Hits -> {"audio" (N,) float32 16 kHz, "label" (material id), "label_name", "action", "time_s"}
    (+ "frames" (num_frames, 3, size, size) from the same window when frames=True).

    window_s is centred `pre_s` before the hit. skip_unlabelled drops hits whose material is
    "None". A wav that soundfile cannot read, or a hit past the end of its wav (labels that do not
    match the audio), is a one-line error naming the file; with on_error="skip" the hit is skipped
    and counted in `skipped` instead.
    """

    def __init__(
        self,
        path: str | Path,
        split: str = "train",
        window_s: float = 0.5,
        pre_s: float = 0.1,
        skip_unlabelled: bool = True,
        on_error: str = "raise",
        frames: bool = False,
        num_frames: int = 8,
        size: int = 64,
    ) -> None:
        if split not in SPLIT_SHARES:
            raise UsageError(f"split={split!r} is not allowed; choose from {', '.join(SPLIT_SHARES)}")
        if on_error not in ("raise", "skip"):
            raise UsageError(f"on_error={on_error!r} is not allowed; choose from raise, skip")
        self.path = Path(path)
        if not self.path.is_dir():
            raise UsageError(f"no Greatest Hits data at {self.path}; run `nsca data download --datasets greatest-hits`")
        self.window_s, self.pre_s, self.on_error = window_s, pre_s, on_error
        self.frames, self.num_frames, self.size = frames, num_frames, size
        self.label_names = list(MATERIALS)
        self.skipped: dict[int, str] = {}
        self._info: dict[Path, object] = {}  # soundfile header per wav, read once
        times_files = sorted(self.path.rglob("*_times.txt"))
        if not times_files:
            raise UsageError(f"{self.path} holds no *_times.txt annotation files; the download is empty or partial")
        lo, hi = SPLIT_SHARES[split]
        self.hits: list[Hit] = []
        self.missing_audio: list[Path] = []
        for tf in times_files:
            stem = tf.name[: -len("_times.txt")]
            if not lo <= _split_of(stem) < hi:
                continue
            audio = _beside(tf, AUDIO_SUFFIXES)
            video = _beside(tf, VIDEO_SUFFIXES) if frames else None
            if frames and video is None:
                raise UsageError(f"{tf}: no video beside it (looked for {', '.join(stem + s for s in VIDEO_SUFFIXES)}); "
                                 "use frames=False for audio only")
            if audio is None:
                if on_error == "raise":
                    raise UsageError(f"{tf}: no audio beside it (looked for {', '.join(stem + s for s in AUDIO_SUFFIXES)})")
                self.missing_audio.append(tf)
                continue
            for t, material, action, reaction in parse_times_file(tf):
                if skip_unlabelled and material == "None":
                    continue
                self.hits.append(Hit(stem, audio, video, t, material, action, reaction))
        if self.missing_audio:
            warnings.warn(f"{len(self.missing_audio)} recordings without audio skipped, first: {self.missing_audio[0]}",
                          stacklevel=2)
        self.labels = np.asarray([MATERIALS.index(h.material) for h in self.hits], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.hits)

    def read_window(self, index: int) -> np.ndarray:
        """float32 (window_s * 16 kHz,) mono around hit `index`."""
        import soundfile as sf
        from scipy.signal import resample_poly

        hit = self.hits[index]
        try:
            info = self._info.get(hit.audio_path) or self._info.setdefault(hit.audio_path, sf.info(str(hit.audio_path)))
            start_s = hit.time_s - self.pre_s
            if hit.time_s > info.duration:
                raise UsageError(
                    f"{hit.audio_path}: hit at {hit.time_s:.3f} s is past the end of the audio "
                    f"({info.duration:.3f} s); its _times.txt does not match this wav"
                )
            start = max(0, int(round(start_s * info.samplerate)))
            stop = start + int(round(self.window_s * info.samplerate))
            data, sr = sf.read(str(hit.audio_path), start=start, stop=min(stop, info.frames), dtype="float32", always_2d=True)
        except sf.LibsndfileError as exc:
            raise UsageError(f"{hit.audio_path}: unreadable audio ({exc})") from None
        mono = data.mean(axis=1)
        lead = max(0, -int(round(start_s * sr)))  # hit near t=0: pad before, keep the hit at pre_s
        mono = np.concatenate([np.zeros(lead, np.float32), mono])
        if sr != SAMPLE_RATE_HZ:
            g = math.gcd(int(sr), SAMPLE_RATE_HZ)
            mono = resample_poly(mono, SAMPLE_RATE_HZ // g, int(sr) // g).astype(np.float32)
        n = int(round(self.window_s * SAMPLE_RATE_HZ))
        out = np.zeros(n, np.float32)
        out[: min(n, len(mono))] = mono[:n]
        return out

    def __getitem__(self, index: int) -> dict:
        import torch

        if not 0 <= index < len(self):
            raise IndexError(index)
        for attempt in range(len(self)):
            i = (index + attempt) % len(self)
            try:
                audio = self.read_window(i)
            except UsageError as exc:
                note_skipped(self, i, exc, "hit")
                continue
            hit = self.hits[i]
            item = {
                "audio": torch.from_numpy(audio),
                "label": int(self.labels[i]),
                "label_name": hit.material,
                "action": hit.action,
                "time_s": hit.time_s,
                "index": i,
            }
            if self.frames:
                try:
                    start = max(0.0, hit.time_s - self.pre_s)
                    clip = decode_window(hit.video_path, start, start + self.window_s, self.num_frames, self.size)
                except UsageError as exc:  # ClipDecodeError included
                    note_skipped(self, i, exc, "hit")
                    continue
                item["frames"] = to_model_frames(clip)
            return item
        raise UsageError(f"{self.path}: every hit in this split failed to load")
