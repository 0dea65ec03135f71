"""Spawn modes: every interaction starts with the gripper at the object, never far from it.

- `drop`:   the object is held in the closed gripper, 10-25 cm above the table.
- `strike`: the object rests on the table; the closed gripper is 2-5 cm from its side.
- `push`:   the object rests on the table; the closed gripper touches its side.

`spawn(pg, mode, rng)` resets the playground, lets the scene settle for a few control steps and
returns the horizontal unit vector from the hand to the object (the natural strike/push line).
"""

from __future__ import annotations

import numpy as np

from nsca.envs.playground import FINGER_OPEN_M, FINGER_TRAVEL_M, HAND_Z_MIN_M, PAD_HALF_M, Playground

SPAWN_MODES = ("drop", "strike", "push")
SETTLE_STEPS = 6
APPROACH_STEPS = 12
_CLOSED_HALF_M = (PAD_HALF_M[0], 2 * PAD_HALF_M[1])  # the closed fingers' half-size in (x, y)


def _yaw_quat(yaw: float) -> np.ndarray:
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


def support_m(half: tuple[float, float], yaw: float, direction: np.ndarray) -> float:
    """Extent of a (hx, hy) box rotated by `yaw` along the horizontal unit `direction`."""
    c, s = np.cos(yaw), np.sin(yaw)
    local = np.array([c * direction[0] + s * direction[1], -s * direction[0] + c * direction[1]])
    return float(abs(local[0]) * half[0] + abs(local[1]) * half[1])


def spawn(pg: Playground, mode: str, rng: np.random.Generator, i: int = 0) -> np.ndarray:
    if mode not in SPAWN_MODES:
        raise ValueError(f"unknown spawn mode {mode!r}; choose from {', '.join(SPAWN_MODES)}")
    hx, hy, hz = pg.objects[i].bbox_half_m()
    centre = rng.uniform(-0.06, 0.06, size=2)
    if mode == "drop":
        height = rng.uniform(0.10, 0.25)
        hand = np.array([centre[0], centre[1], height])
        # Fingers start just short of the object and close on it during the settle steps.
        finger_q = np.clip(FINGER_OPEN_M - PAD_HALF_M[1] - hy - 0.002, 0.0, FINGER_TRAVEL_M)
        pg.reset(hand, gripper_open=1.0 - finger_q / FINGER_TRAVEL_M, object_poses=[(hand, (1, 0, 0, 0))])
        for _ in range(SETTLE_STEPS):
            pg.step((0.0, 0.0, 0.0, 1.0))
        return np.array([1.0, 0.0])
    yaw = rng.uniform(-np.pi, np.pi)
    angle = rng.uniform(-np.pi, np.pi)
    direction = np.array([np.cos(angle), np.sin(angle)])  # from hand towards object
    gap = rng.uniform(0.02, 0.05) if mode == "strike" else 0.0
    reach = support_m((hx, hy), yaw, direction) + support_m(_CLOSED_HALF_M, 0.0, direction) + gap
    obj = np.array([centre[0], centre[1], hz + 0.0005])
    hand = np.array([*(centre - reach * direction), max(hz, HAND_Z_MIN_M)])
    pg.reset(hand, gripper_open=0.0, object_poses=[(obj, _yaw_quat(yaw))])
    for _ in range(SETTLE_STEPS):
        pg.step((0.0, 0.0, 0.0, 1.0))
    if mode == "push":
        # Bounding extents overestimate the distance off the box axes: close the gap slowly
        # (2 mm per step) until the fingers touch.
        for _ in range(APPROACH_STEPS):
            if pg.touch_n().sum() > 0:
                break
            pg.step((0.2 * direction[0], 0.2 * direction[1], 0.0, 1.0))
    return direction
