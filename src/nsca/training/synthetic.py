"""A small generated data set with every key the trainer reads (tests, smoke runs, benchmarks).

Each item is a deterministic function of (seed, index), so nothing is held in memory and
two processes see the same data. Dynamics are the innate laws plus a material-dependent
effect (harder objects gain upward velocity), so the prior explains most of the motion and
audio/vision carry the rest; frames are blobs at the hand and object, audio is a two-mode
impact whose frequencies and decay depend on the material.
"""

from __future__ import annotations

import numpy as np
import torch

from nsca.babbling.labels import OUTCOMES, PRIMITIVES
from nsca.priors.innate import PhysicsConstants, prior_delta
from nsca.priors.state import DYNAMIC, HAND_POS, HAND_VEL, OBJ_POS, OBJ_VEL, STATE_DIM

N_MATERIALS = 8  # synthetic materials (its own, not the playground catalogue)
N_OUTCOMES = len(OUTCOMES)
N_PRIMITIVES = len(PRIMITIVES)
AUDIO_SAMPLES = 4000  # 0.25 s at 16 kHz
_MATERIAL_HZ = np.linspace(300.0, 3800.0, N_MATERIALS)
_MATERIAL_RGB = np.random.default_rng(1234).uniform(0.3, 1.0, size=(N_MATERIALS, 3))


def _blob(img: np.ndarray, x: float, y: float, rgb: np.ndarray, radius: float) -> None:
    yy, xx = np.mgrid[0:64, 0:64]
    mask = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * radius**2))
    img += mask[None] * rgb[:, None, None]


def _to_pixels(pos: np.ndarray) -> tuple[float, float]:
    """Top-down-ish camera: x in [-0.3, 0.3] -> columns, z in [0, 0.4] -> rows."""
    return (pos[0] + 0.3) / 0.6 * 63, 63 - pos[2] / 0.4 * 63


class SyntheticInteractions(torch.utils.data.Dataset):
    def __init__(self, size: int = 512, seed: int = 0, frame_stack: int = 4, with_media: bool = True) -> None:
        self.size, self.seed, self.frame_stack, self.with_media = size, seed, frame_stack, with_media
        self.constants = PhysicsConstants()

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.size:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, index])
        hand = rng.uniform([-0.2, 0.5, 0.03], [0.2, 0.8, 0.3])
        hand_vel = rng.normal(0, 0.05, 3)
        gripper = rng.uniform(0, 1, 1)
        obj = hand + rng.normal(0, 0.03, 3)
        obj[2] = max(obj[2], 0.02)
        obj_vel = rng.normal(0, 0.05, 3)
        target = rng.normal(0, 0.01, 3)
        hand_vel_prev = hand_vel + rng.normal(0, 0.01, 3)
        state = np.concatenate([hand, hand_vel, gripper, obj, obj_vel, target, hand_vel_prev, [0.02], [1.0]]).astype(np.float32)
        assert state.shape == (STATE_DIM,)
        action = rng.uniform(-1, 1, 4).astype(np.float32)
        primitive = int(rng.integers(N_PRIMITIVES))
        material = int(rng.integers(N_MATERIALS))
        hardness = np.float32(material / (N_MATERIALS - 1) + rng.normal(0, 0.02))
        st = torch.from_numpy(state)[None]
        delta = prior_delta(st, torch.from_numpy(action)[None], self.constants)[0].numpy()
        nxt = state + delta
        nxt[12] += 0.02 * (hardness - 0.5)
        nxt[DYNAMIC] += rng.normal(0, 1e-4, DYNAMIC.stop).astype(np.float32)
        outcome = (2 * primitive + int(obj[2] > 0.06)) % N_OUTCOMES
        item = {
            "state": torch.from_numpy(state),
            "next_state": torch.from_numpy(nxt.astype(np.float32)),
            "action": torch.from_numpy(action),
            "primitive": torch.tensor(primitive),
            "outcome": torch.tensor(outcome),
            "material": torch.tensor(material),
            "hardness": torch.tensor(hardness),
        }
        if self.with_media:
            item["frames"] = self._frames(state, material)
            item["audio"] = self._audio(rng, material, hardness)
        return item

    def _frames(self, state: np.ndarray, material: int) -> torch.Tensor:
        frames = np.zeros((self.frame_stack, 3, 64, 64), dtype=np.float32)
        dt = 0.05
        for t in range(self.frame_stack):
            back = (self.frame_stack - 1 - t) * dt
            _blob(frames[t], *_to_pixels(state[HAND_POS] - back * state[HAND_VEL]), np.array([0.5, 0.5, 0.5]), 3.0)
            _blob(frames[t], *_to_pixels(state[OBJ_POS] - back * state[OBJ_VEL]), _MATERIAL_RGB[material], 2.5)
        return torch.from_numpy(np.clip(frames, 0.0, 1.0))

    def _audio(self, rng: np.random.Generator, material: int, hardness: float) -> torch.Tensor:
        t = np.arange(AUDIO_SAMPLES) / 16_000
        f0 = _MATERIAL_HZ[material]
        decay = 10.0 + 60.0 * (1.0 - hardness)
        wave = np.sin(2 * np.pi * f0 * t) + 0.5 * np.sin(2 * np.pi * 2.76 * f0 * t)
        wave = rng.uniform(0.2, 1.0) * np.exp(-decay * t) * wave + rng.normal(0, 0.01, t.size)
        return torch.from_numpy(wave.astype(np.float32))
