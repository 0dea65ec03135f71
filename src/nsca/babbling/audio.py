"""Impact sounds by modal synthesis (16 kHz mono), so hardness can be learned without AudioSet.

An impact excites the struck object's vibration modes: a sum of exponentially damped sines
whose frequencies come from the material (stiff materials ring high), the object's size
(smaller objects ring higher) and its shape family (ratios of bars, plates or spheres), and
whose decay comes from the material (rubber and foam thud, metal and glass ring). The
amplitude scales with the contact impulse. A short noise burst marks the contact itself and
the table adds a faint knock.

Impacts are read off the object's trajectory: a control step whose velocity change (beyond
gravity) is a local peak above `MIN_IMPULSE_NS` N*s is one impact event.
"""

from __future__ import annotations

import numpy as np

from nsca.envs.objects import ObjectSpec

SAMPLE_RATE = 16_000
MIN_IMPULSE_NS = 2e-3
GAIN = 8.0  # maps N*s to sample amplitude; a 0.1 kg object dropped 10 cm peaks near 1
_RATIOS = {
    "bar": np.array([1.0, 2.76, 5.40, 8.93]),
    "plate": np.array([1.0, 1.59, 2.14, 2.65]),
    "shell": np.array([1.0, 1.42, 1.87, 2.29]),
}
_FAMILY = {"box": "plate", "ell": "plate", "sphere": "shell", "ellipsoid": "shell",
           "cylinder": "bar", "capsule": "bar", "dumbbell": "bar", "mushroom": "bar"}
_TABLE_MODES = (np.array([180.0, 410.0]), np.array([40.0, 60.0]), np.array([1.0, 0.5]))


def modal_parameters(spec: ObjectSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frequencies Hz, decay rates 1/s, relative amplitudes) of the object's first modes."""
    m = spec.mat
    jitter = 1.0 + 0.06 * np.sin(12.9898 * (spec.object_id + 1))  # fixed per object, not random
    f = m.mode_hz * (0.05 / spec.size_m) * jitter * _RATIOS[_FAMILY[spec.shape]]
    keep = f < 0.45 * SAMPLE_RATE
    f = f[keep] if keep.any() else np.array([0.45 * SAMPLE_RATE])
    decay = m.damping_per_s * (1.0 + 0.5 * np.arange(f.size)) * np.sqrt(f / f[0])
    amp = 1.0 / (1.0 + np.arange(f.size))
    return f, decay, amp / amp.sum()


def impact_events(dv: np.ndarray, mass_kg: float) -> tuple[np.ndarray, np.ndarray]:
    """(step indices, impulses N*s) of impacts: local peaks of mass * velocity change."""
    impulse = mass_kg * np.asarray(dv, dtype=float)
    if impulse.size == 0:
        return np.zeros(0, dtype=int), np.zeros(0)
    left = np.concatenate([[0.0], impulse[:-1]])
    right = np.concatenate([impulse[1:], [0.0]])
    idx = np.flatnonzero((impulse > MIN_IMPULSE_NS) & (impulse >= left) & (impulse > right))
    return idx, impulse[idx]


def synthesize(spec: ObjectSpec, dv: np.ndarray, ctrl_dt_s: float, n_samples: int,
               rng: np.random.Generator) -> np.ndarray:
    """The interaction's sound track, float32 in [-1, 1]; step k of `dv` ends at (k+1)*ctrl_dt_s."""
    wave = np.zeros(n_samples, dtype=np.float64)
    f, decay, amp = modal_parameters(spec)
    steps, impulses = impact_events(dv, spec.mass_kg)
    for k, j in zip(steps, impulses):
        start = int(round((k + 1) * ctrl_dt_s * SAMPLE_RATE))
        if start >= n_samples:
            continue
        n = min(n_samples - start, int(SAMPLE_RATE * min(1.0, 6.0 / decay.min())) + 1)
        t = np.arange(n) / SAMPLE_RATE
        phase = rng.uniform(0, 2 * np.pi, size=f.size)
        ring = (amp[:, None] * np.exp(-decay[:, None] * t) * np.sin(2 * np.pi * f[:, None] * t + phase[:, None])).sum(0)
        tf, td, ta = _TABLE_MODES
        knock = 0.15 * (ta[:, None] * np.exp(-td[:, None] * t) * np.sin(2 * np.pi * tf[:, None] * t)).sum(0)
        burst = np.zeros(n)
        nb = min(n, 24)  # 1.5 ms contact noise
        burst[:nb] = 0.3 * rng.normal(size=nb) * np.linspace(1, 0, nb)
        wave[start:start + n] += GAIN * j * (ring + knock + burst)
    wave += 1e-4 * rng.normal(size=n_samples)  # microphone floor
    return np.clip(wave, -1.0, 1.0).astype(np.float32)


def audio_features(wave: np.ndarray, n_bands: int = 12) -> np.ndarray:
    """Loudness-free features of the strongest impact: log band energies (shares), spectral
    centroid and decay. Returns zeros-with-a-flag when the clip is silent."""
    wave = np.asarray(wave, dtype=np.float64)
    onset = int(np.argmax(np.abs(wave)))
    seg = wave[onset:onset + SAMPLE_RATE // 4]
    energy = float((seg ** 2).sum())
    if seg.size < 256 or np.abs(seg).max() < 1e-3:
        return np.concatenate([np.zeros(n_bands + 2), [1.0]])
    spec = np.abs(np.fft.rfft(seg * np.hanning(seg.size))) ** 2
    freqs = np.fft.rfftfreq(seg.size, 1.0 / SAMPLE_RATE)
    edges = np.geomspace(80.0, SAMPLE_RATE / 2, n_bands + 1)
    bands = np.array([spec[(freqs >= lo) & (freqs < hi)].sum() for lo, hi in zip(edges[:-1], edges[1:])])
    shares = np.log(bands / (bands.sum() + 1e-12) + 1e-6)
    centroid = np.log((freqs * spec).sum() / (spec.sum() + 1e-12) + 1.0)
    early = float((seg[: SAMPLE_RATE // 50] ** 2).sum())  # first 20 ms
    decay = np.log(early / energy + 1e-9)
    return np.concatenate([shares, [centroid, decay, 0.0]])
