"""Affordance primitives: parameterised scripted controllers, not raw torques.

Each primitive is a generator that reads the live playground and yields actions
(dx, dy, dz, grip) in [-1, 1]; the interaction runner drives it for a bounded number of
control steps and holds still once it is done. Every primitive takes three parameters in
[0, 1] (what the explorer samples and adapts), mapped to physical quantities by `decode`:

| primitive | p0 | p1 | p2 |
|---|---|---|---|
| reach  | approach speed 0.1-0.5 m/s | height on the object | press depth after touching, -5..+10 mm |
| grasp  | grasp height on the object | approach speed 0.2-0.6 m/s | squeeze 0.4-1 |
| lift   | lift height 4-14 cm | speed 0.1-0.4 m/s | squeeze 0.4-1 |
| shake  | amplitude 1-4 cm | frequency 1.5-5 Hz | axis angle in the x-z plane |
| drop   | release height 5-15 cm | lateral toss 0-0.3 m/s | opening effort 0.2-1 |
| strike | speed 0.3-1 m/s | height on the object | direction offset +-30 deg |
| push   | distance 3-12 cm | speed 0.05-0.25 m/s | direction offset +-20 deg |

Primitives that need the object in hand (lift, shake, drop) grasp it first when it is not
held. `competence(...)` scores in [0, 1] whether the primitive did what its name says; the
explorer's learning progress is computed from it.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from nsca.babbling.labels import PRIMITIVES
from nsca.envs.playground import HAND_Z_MIN_M, PAD_HALF_M, Playground

N_PARAMS = 3
# Spawn modes each primitive can start from (a strike needs the object on the table, ...).
COMPATIBLE_SPAWNS = {
    "reach": ("strike",),
    "grasp": ("strike", "push"),
    "lift": ("strike", "push", "drop"),
    "shake": ("drop", "strike"),
    "drop": ("drop", "strike"),
    "strike": ("strike",),
    "push": ("push", "strike"),
}
APPROACH_SPEED = 0.6   # m/s for repositioning moves that are not the primitive's own motion
HELD_TOUCH_N = 0.05    # both pads pressing harder than this = the object is held
IMPACT_DV = 0.15       # a velocity change (m/s) in one control step beyond gravity = an impact
Action = tuple[float, float, float, float]


def decode(name: str, p: np.ndarray) -> dict:
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    if name == "reach":
        return dict(speed=0.1 + 0.4 * p[0], height_frac=0.2 + 0.6 * p[1], press_m=-0.005 + 0.015 * p[2])
    if name == "grasp":
        return dict(height_frac=0.25 + 0.5 * p[0], speed=0.2 + 0.4 * p[1], squeeze=0.4 + 0.6 * p[2])
    if name == "lift":
        return dict(height_m=0.04 + 0.10 * p[0], speed=0.1 + 0.3 * p[1], squeeze=0.4 + 0.6 * p[2])
    if name == "shake":
        return dict(amplitude_m=0.01 + 0.03 * p[0], freq_hz=1.5 + 3.5 * p[1], axis_angle=np.pi * p[2])
    if name == "drop":
        return dict(height_m=0.05 + 0.10 * p[0], toss_speed=0.3 * p[1], open_effort=0.2 + 0.8 * p[2])
    if name == "strike":
        return dict(speed=0.3 + 0.7 * p[0], height_frac=0.2 + 0.7 * p[1], offset_rad=np.deg2rad(60) * (p[2] - 0.5))
    if name == "push":
        return dict(distance_m=0.03 + 0.09 * p[0], speed=0.05 + 0.2 * p[1], offset_rad=np.deg2rad(40) * (p[2] - 0.5))
    raise ValueError(f"unknown primitive {name!r}; choose from {', '.join(PRIMITIVES)}")


def is_held(pg: Playground) -> bool:
    t = pg.touch_n()
    return bool(t[0] > HELD_TOUCH_N and t[1] > HELD_TOUCH_N)


def _move(pg: Playground, target, speed: float, grip: float, max_steps: int = 400) -> Iterator[Action]:
    """Move the hand target in a straight line at `speed` m/s, holding the grip effort."""
    target = pg.clamp_target(np.asarray(target, dtype=float))
    per_step = speed * pg.ctrl_dt_s
    for _ in range(max_steps):
        d = target - pg.hand_target
        dist = float(np.linalg.norm(d))
        if dist < 1e-5:
            return
        v = d * (min(dist, per_step) / dist / pg.action_scale_m)
        yield (v[0], v[1], v[2], grip)


def _hold(n: int, grip: float) -> Iterator[Action]:
    for _ in range(n):
        yield (0.0, 0.0, 0.0, grip)


def _height_on_object(pg: Playground, frac: float) -> float:
    z, hz = pg.object_pos()[2], pg.objects[0].bbox_half_m()[2]
    return max(z - hz + 2 * hz * frac, HAND_Z_MIN_M)


def _grasp(pg: Playground, height_frac: float, speed: float, squeeze: float) -> Iterator[Action]:
    obj = pg.object_pos()
    safe_z = obj[2] + pg.objects[0].bbox_half_m()[2] + PAD_HALF_M[2] + 0.012
    hand = pg.hand_target
    yield from _move(pg, (hand[0], hand[1], safe_z), APPROACH_SPEED, -1.0)
    obj = pg.object_pos()
    yield from _move(pg, (obj[0], obj[1], safe_z), APPROACH_SPEED, -1.0)
    yield from _move(pg, (obj[0], obj[1], _height_on_object(pg, height_frac)), speed, -1.0)
    yield from _hold(10, squeeze)


def _ensure_held(pg: Playground, squeeze: float) -> Iterator[Action]:
    if not is_held(pg):
        yield from _grasp(pg, 0.5, APPROACH_SPEED, squeeze)


def controller(name: str, pg: Playground, params: np.ndarray, direction: np.ndarray) -> Iterator[Action]:
    """The action stream of primitive `name`; `direction` is the hand-to-object line from spawn."""
    q = decode(name, params)
    if name == "reach":
        obj, hand = pg.object_pos(), pg.hand_target
        d = np.append(obj[:2] - hand[:2], 0.0)
        dist = float(np.linalg.norm(d))
        d /= dist + 1e-9
        z = _height_on_object(pg, q["height_frac"])
        yield from _move(pg, (hand[0], hand[1], z), APPROACH_SPEED, 1.0)
        # At `speed` to just outside the object's bounding circle, let the hand settle on its
        # target, then creep (5 cm/s) until the fingers touch and press in (or stop short).
        hx, hy, _ = pg.objects[0].bbox_half_m()
        safe = float(np.hypot(hx, hy)) + PAD_HALF_M[0] + 0.01
        if dist > safe:
            yield from _move(pg, (*(obj[:2] - d[:2] * safe), z), q["speed"], 1.0)
        yield from _hold(3, 1.0)
        creep = d * 0.05 * pg.ctrl_dt_s / pg.action_scale_m
        for _ in range(60):
            if pg.touch_n().sum() > 0:
                break
            yield (creep[0], creep[1], 0.0, 1.0)
        yield from _move(pg, pg.hand_target + d * q["press_m"], 0.05, 1.0)
    elif name == "grasp":
        yield from _grasp(pg, q["height_frac"], q["speed"], q["squeeze"])
    elif name == "lift":
        yield from _ensure_held(pg, q["squeeze"])
        hand = pg.hand_target
        yield from _move(pg, hand + (0, 0, q["height_m"]), q["speed"], q["squeeze"])
    elif name == "shake":
        yield from _ensure_held(pg, 1.0)
        if pg.object_pos()[2] < 0.08:
            yield from _move(pg, pg.hand_target + (0, 0, 0.05), APPROACH_SPEED, 1.0)
        axis = np.array([np.cos(q["axis_angle"]), 0.0, np.sin(q["axis_angle"])])
        w = 2 * np.pi * q["freq_hz"]
        dt = pg.ctrl_dt_s
        for k in range(200):
            dx = q["amplitude_m"] * (np.sin(w * (k + 1) * dt) - np.sin(w * k * dt))
            v = axis * dx / pg.action_scale_m
            yield (v[0], v[1], v[2], 1.0)
    elif name == "drop":
        yield from _ensure_held(pg, 1.0)
        bottom = pg.object_pos()[2] - pg.objects[0].bbox_half_m()[2]
        yield from _move(pg, pg.hand_target + (0, 0, q["height_m"] - bottom), APPROACH_SPEED, 1.0)
        toss = q["toss_speed"] * pg.ctrl_dt_s / pg.action_scale_m
        for _ in range(6):
            yield (toss, 0.0, 0.0, -q["open_effort"])
        yield from _hold(400, -q["open_effort"])
    elif name == "strike":
        obj, hand = pg.object_pos(), pg.hand_target
        z = _height_on_object(pg, q["height_frac"])
        d = obj[:2] - hand[:2]
        dist = float(np.linalg.norm(d))
        c, s = np.cos(q["offset_rad"]), np.sin(q["offset_rad"])
        d = d / (dist + 1e-9)
        d = np.array([c * d[0] - s * d[1], s * d[0] + c * d[1]])
        yield from _move(pg, (hand[0], hand[1], z), APPROACH_SPEED, 1.0)
        yield from _move(pg, (*(hand[:2] + d * (dist + 0.03)), z), q["speed"], 1.0)
    elif name == "push":
        hand = pg.hand_target
        c, s = np.cos(q["offset_rad"]), np.sin(q["offset_rad"])
        d = np.array([c * direction[0] - s * direction[1], s * direction[0] + c * direction[1]])
        gap = max(float(np.linalg.norm(pg.object_pos()[:2] - hand[:2])) - 0.01 - max(pg.objects[0].bbox_half_m()[:2]), 0.0)
        yield from _move(pg, (*(hand[:2] + d * (gap + q["distance_m"])), hand[2]), q["speed"], 1.0)
    else:
        raise ValueError(f"unknown primitive {name!r}; choose from {', '.join(PRIMITIVES)}")


def competence(name: str, params: np.ndarray, traj: dict) -> float:
    """How well the interaction achieved the primitive's goal, in [0, 1].

    `traj` holds per-control-step arrays from the interaction runner: obj_pos (T+1, 3),
    held (T+1,), touched (T+1,), dv (T,) (sudden velocity change, m/s) and direction (2,)."""
    q = decode(name, params)
    pos, held, touched = traj["obj_pos"], traj["held"], traj["touched"]
    disp = float(np.linalg.norm(pos[-1, :2] - pos[0, :2]))
    tail = max(1, len(touched) // 10)
    if name == "reach":  # in contact at the end (1) or on the way (0.5), without knocking it away
        if disp >= 0.02 or not touched.any():
            return 0.0
        return 1.0 if touched[-max(1, len(touched) // 4):].any() else 0.5
    if name == "grasp":
        return float(held[-tail:].all())
    if name == "lift":
        gain = float(pos[-1, 2] - pos[0, 2]) if held[-1] else 0.0
        return float(np.clip(gain / (0.8 * q["height_m"]), 0.0, 1.0))
    if name == "shake":
        return float(held[-1] and pos[:, 2].max() > pos[0, 2] - 0.01)
    if name == "drop":
        release = int(np.argmax(held)) if held.any() else 0
        last_held = len(held) - 1 - int(np.argmax(held[::-1])) if held.any() else 0
        fall = float(pos[last_held, 2] - pos[-1, 2])
        return float(not held[-1] and release <= last_held and fall > 0.03)
    if name == "strike":
        hit = traj["dv"].max(initial=0.0) > IMPACT_DV
        return float(hit) * (1.0 if disp > 0.02 else 0.5)
    if name == "push":
        along = float(np.dot(pos[-1, :2] - pos[0, :2], traj["direction"]))
        return float(np.clip(along / (0.6 * q["distance_m"]), 0.0, 1.0))
    raise ValueError(name)
