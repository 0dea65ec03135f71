"""Self-calibration of the innate laws' constants from motor babbling.

Like an infant moving its limbs before it does anything useful, the robot issues a few hundred
random smooth commands (no demos, no task reward) and watches its own body and whatever objects
are in view. The laws' form stays fixed (`nsca.priors.innate`); least squares on these
transitions sets their constants:

- the set-point's step per unit action and its workspace (where the commanded set-point stops),
- the body response `v' = A v + A2 v_prev + B (setpoint' - p) + B2 (setpoint - p) + c`
  (3x3 matrices), fitted where the set-point is within `BODY_FIT_RANGE_M` of the hand (further,
  the weld saturates and the linear form no longer holds),
- the hand's floor (lowest hand height reached while pressing down),
- the gripper's response `g' = g + k0 + k1 g + k2 u` and its closed/open range,
- the table height (free objects seen at rest: their height minus their half-height),
- object damping (free objects seen moving while the hand is far away), when there are any.

Any env with `reset_state(seed) -> state` and `step_state(action) -> state` in the
`nsca.priors.state` layout works: Meta-World tasks (`nsca.envs.metaworld.MetaWorldTask`), the
playground (`PlaygroundBody`) and the balloon world.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from nsca.priors.innate import PhysicsConstants
from nsca.priors.state import GRIPPER, HAND_POS, HAND_VEL, HAND_VEL_PREV, OBJ_FREE, OBJ_HALF, OBJ_POS, OBJ_VEL, TARGET

DEFAULT_STEPS = 800
BODY_FIT_RANGE_M = 0.05


def babble_actions(rng: np.random.Generator, steps: int) -> np.ndarray:
    """Smooth random commands, with bursts that push each axis to its limit (the body finds
    where its workspace ends, and its floor) and gripper open/close cycles."""
    actions = np.zeros((steps, 4), np.float32)
    a = np.zeros(4)
    burst_left, burst = 0, np.zeros(4)
    for t in range(steps):
        if burst_left == 0 and rng.random() < 0.02:
            axis, sign = rng.integers(0, 3), rng.choice([-1.0, 1.0])
            burst = np.zeros(4)
            burst[axis] = sign
            burst[3] = rng.choice([-1.0, 1.0])
            burst_left = int(rng.integers(20, 40))
        if burst_left > 0:
            a = burst.copy()
            burst_left -= 1
        else:
            a = np.clip(0.8 * a + 0.4 * rng.uniform(-1, 1, 4), -1, 1)
        actions[t] = a
    return actions


def self_observe(env, steps: int = DEFAULT_STEPS, episodes: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """(state, action, next_state) from `steps` babbling commands spread over `episodes` resets."""
    rng = np.random.default_rng(seed)
    per = max(1, steps // episodes)
    states, actions, nexts = [], [], []
    for ep in range(episodes):
        s = env.reset_state(seed * 7_919 + ep)
        for a in babble_actions(rng, per):
            s2 = env.step_state(a)
            states.append(s)
            actions.append(a)
            nexts.append(s2)
            s = s2
    return {"state": np.array(states, np.float64), "action": np.array(actions, np.float64),
            "next_state": np.array(nexts, np.float64)}


def _lstsq(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    return coef


def calibrate(data: dict[str, np.ndarray], dt_s: float, base: PhysicsConstants = PhysicsConstants()) -> PhysicsConstants:
    """Fit the laws' constants to self-observed transitions; what the data cannot say stays `base`."""
    s, a, s2 = data["state"], data["action"], data["next_state"]
    p, v, p2 = s[:, HAND_POS], s[:, HAND_VEL], s2[:, HAND_POS]
    set0, set1 = p + s[:, TARGET], p2 + s2[:, TARGET]
    step = set1 - set0
    # The workspace edge on each side of each axis: where a firm outward command left the
    # set-point (nearly) where it was. Never seen stuck: no edge there (the body never found one).
    low, high = np.full(3, -10.0), np.full(3, 10.0)
    for ax in range(3):
        for sign, bound in ((-1, low), (1, high)):
            stuck = (sign * a[:, ax] > 0.5) & (np.abs(step[:, ax]) < 0.1 * np.abs(a[:, ax]) * base.action_scale_m)
            if stuck.sum() >= 3:
                bound[ax] = float(np.median(set1[stuck, ax]))
    inside = np.all((set1 > low + 1e-4) & (set1 < high - 1e-4), axis=1)
    cmd, moved = a[inside, :3].ravel(), step[inside].ravel()
    scale = float(cmd @ moved / max(cmd @ cmd, 1e-9)) if inside.any() else base.action_scale_m
    # Body: all three axes jointly (they couple through the arm).
    v2 = (p2 - p) / dt_s
    x = np.concatenate([v, s[:, HAND_VEL_PREV], set1 - p, s[:, TARGET], np.ones((len(s), 1))], 1)
    normal = np.linalg.norm(set1 - p, axis=1) < BODY_FIT_RANGE_M
    coef = _lstsq(x[normal], v2[normal])         # (13, 3)
    body_a, body_a2, body_b, body_b2, body_c = coef[0:3].T, coef[3:6].T, coef[6:9].T, coef[9:12].T, coef[12]
    floor = float(np.quantile(p2[:, 2], 0.001))
    # Gripper: g' - g = k0 + k1 g + k2 u.
    g, g2, u = s[:, GRIPPER.start], s2[:, GRIPPER.start], a[:, 3]
    k = _lstsq(np.stack([np.ones_like(g), g, u], 1), g2 - g)
    # Table: free objects at rest, away from the hand.
    free = s[:, OBJ_FREE.start] > 0.5
    far = np.linalg.norm(s[:, OBJ_POS] - p, axis=1) > 0.08
    speed = np.linalg.norm(s[:, OBJ_VEL], axis=1)
    resting = free & far & (speed < 0.01)
    table = float(np.median(s[resting, OBJ_POS.start + 2] - s[resting, OBJ_HALF.start])) if resting.sum() >= 10 else base.table_z
    # Damping: free objects moving on their own (hand far away, clearly moving horizontally).
    moving = free & far & (np.linalg.norm(s[:, OBJ_VEL][:, :2], axis=1) > 0.02)
    damping = base.damping
    if moving.sum() >= 20:
        vh, vh2 = s[moving][:, OBJ_VEL][:, :2].ravel(), s2[moving][:, OBJ_VEL][:, :2].ravel()
        damping = float(np.clip(1 - (vh @ vh2) / (vh @ vh), 0.0, 1.0))
    return dataclasses.replace(
        base, dt_s=dt_s, action_scale_m=scale,
        body_a=tuple(float(x) for x in body_a.ravel()), body_a2=tuple(float(x) for x in body_a2.ravel()),
        body_b=tuple(float(x) for x in body_b.ravel()), body_b2=tuple(float(x) for x in body_b2.ravel()),
        body_c=tuple(float(x) for x in body_c),
        target_low=tuple(float(x) for x in low), target_high=tuple(float(x) for x in high),
        hand_floor_z=floor, grip_k=tuple(float(x) for x in k),
        grip_min=float(g2.min()), grip_max=float(g2.max()), table_z=table, damping=damping,
    )


def calibrate_env(env, dt_s: float, steps: int = DEFAULT_STEPS, seed: int = 0, base: PhysicsConstants = PhysicsConstants()) -> PhysicsConstants:
    return calibrate(self_observe(env, steps, seed=seed), dt_s, base)
