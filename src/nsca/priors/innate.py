"""Innate physics laws as batched, differentiable torch functions on object-centric state.

The laws' *form* is innate; their *constants* (how the hand responds to a command, its limits,
where the table is, how the gripper closes) come from a short self-observation
(`nsca.priors.calibrate`: motor babbling, no demos, no reward), as an infant calibrates its
body. `PhysicsConstants()` holds the values that calibration finds in Meta-World v3, so code
that never calibrates still runs on sensible numbers.

Laws (each maps (state, action) to a change of state over one control step of `dt_s`):
- efference: the commanded set-point moves by the action (clipped to the workspace the body
  has found), and the hand follows it as a second-order linear system
  `v' = A v + A2 v_prev + B (setpoint' - p) + B2 (setpoint - p) + c` (mocap weld pulling an
  arm with inertia: a linear system of higher order), never below its floor;
  the gripper opening follows its effort `g' = g + k0 + k1 g + k2 u`.
- inertia: an object's velocity persists (damped by friction while it touches a support) and
  integrates into position.
- gravity: a free object that is not held accelerates down at g (mounted objects never fall).
- support: a free object does not sink below its resting height `table_z + half_height`; a
  resting object therefore stays at rest exactly (support is a projection, not a soft gate).
- attachment: an object between the closed fingers (inside the grasp zone, gripper stopped by
  it rather than closed on nothing) moves with the hand.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import torch

from nsca.priors.state import GRIPPER, HAND_POS, HAND_VEL, HAND_VEL_PREV, OBJ_FREE, OBJ_HALF, OBJ_POS, OBJ_VEL, TARGET

LAWS = ("efference", "inertia", "gravity", "support", "attachment")
META_WORLD_DT_S = 0.0125  # Meta-World v3 control step: frame_skip 5 x 2.5 ms


@dataclass(frozen=True)
class PhysicsConstants:
    """The laws' constants. Defaults: `calibrate()` on Meta-World v3 pick-place (seed 0)."""

    dt_s: float = META_WORLD_DT_S
    gravity_mps2: float = 9.81
    action_scale_m: float = 0.01        # set-point displacement per step for a unit action
    # Body: v' = A v + A2 v_prev + B (setpoint' - p) + B2 (setpoint - p) + c, row-major 3x3.
    body_a: tuple[float, ...] = (0.6, 0.0, 0.0, 0.0, 0.63, 0.0, 0.0, 0.0, 0.52)
    body_a2: tuple[float, ...] = (0.0,) * 9
    body_b: tuple[float, ...] = (7.9, 0.0, 0.0, 0.0, 5.5, 0.0, 0.0, 0.0, 8.2)
    body_b2: tuple[float, ...] = (0.0,) * 9
    body_c: tuple[float, ...] = (0.0, -0.0055, -0.027)
    target_low: tuple[float, ...] = (-0.5, 0.4, 0.05)    # workspace of the set-point
    target_high: tuple[float, ...] = (0.5, 1.0, 0.5)
    hand_floor_z: float = 0.046          # the hand never goes below this
    grip_k: tuple[float, ...] = (0.0, 0.0, -0.06)  # g' = g + k0 + k1 g + k2 u
    grip_min: float = 0.27               # opening when closed on nothing
    grip_max: float = 1.0
    table_z: float = 0.0                 # support surface under free objects
    damping: float = 0.5                 # share of an object's free velocity lost per step
    grasp_radius_m: float = 0.02         # horizontal reach of the pads around the hand point
    grasp_margin_m: float = 0.01         # vertical slack of the grasp zone
    gate_width: float = 0.15             # soft-gate width, as a fraction of each threshold

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> PhysicsConstants:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names})

    @property
    def finger_reach_m(self) -> float:
        """How far below the hand point the fingers reach: the hand's floor above the table."""
        return max(self.hand_floor_z - self.table_z, 0.0)


@functools.lru_cache(maxsize=64)
def _body(c: PhysicsConstants, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, ...]:
    """The efference law's constant tensors, built once per (constants, dtype, device): the planner
    calls the law thousands of times per episode and building them each time was a measurable
    share of it. Never written to, so sharing them is safe."""
    def t(values):
        return torch.as_tensor(values, dtype=dtype, device=device)
    mats = tuple(t(m).reshape(3, 3).T for m in (c.body_a, c.body_a2, c.body_b, c.body_b2))
    return (*mats, t(c.body_c), t(c.target_low), t(c.target_high))


def _gate_below(x: torch.Tensor, threshold: float, width: float) -> torch.Tensor:
    """~1 where x < threshold, ~0 above; smooth so it has a gradient."""
    return torch.sigmoid((threshold - x) / max(width, 1e-5))


def held(state: torch.Tensor, c: PhysicsConstants) -> torch.Tensor:
    """Soft indicator (..., 1) that a free object is held between the closed fingers."""
    rel = state[..., OBJ_POS] - state[..., HAND_POS]
    dxy = torch.linalg.vector_norm(rel[..., :2], dim=-1, keepdim=True)
    dz = rel[..., 2:3]
    r, w = c.grasp_radius_m, c.gate_width
    near_xy = _gate_below(dxy, r, r * w)
    # Grasp zone: from the finger tips (reach below the hand) to the hand point, plus slack.
    low = -(c.finger_reach_m + c.grasp_margin_m)
    near_z = _gate_below(dz, c.grasp_margin_m, c.grasp_margin_m * w) * _gate_below(-dz, -low, c.grasp_margin_m * w)
    g = state[..., GRIPPER]
    span = max(c.grip_max - c.grip_min, 1e-3)
    closing = _gate_below(g, c.grip_min + 0.8 * span, span * w * 0.3)     # fingers not open
    stopped = _gate_below(-g, -(c.grip_min + 0.1 * span), span * w * 0.3)  # not closed on nothing
    return near_xy * near_z * closing * stopped * state[..., OBJ_FREE]


def efference(state: torch.Tensor, action: torch.Tensor, c: PhysicsConstants) -> torch.Tensor:
    delta = torch.zeros_like(state)
    p, v, off = state[..., HAND_POS], state[..., HAND_VEL], state[..., TARGET]
    a, a2, b, b2, body_c, low, high = _body(c, p.dtype, p.device)
    setpoint = torch.maximum(torch.minimum(p + off + action[..., :3].clamp(-1, 1) * c.action_scale_m, high), low)
    v_new = v @ a + state[..., HAND_VEL_PREV] @ a2 + (setpoint - p) @ b + off @ b2 + body_c
    p_new = p + v_new * c.dt_s
    # The hand's floor: a projection, with the velocity kept the finite difference of position.
    floor = torch.relu(c.hand_floor_z - p_new[..., 2:3])
    p_new = torch.cat([p_new[..., :2], p_new[..., 2:3] + floor], -1)
    v_new = (p_new - p) / c.dt_s
    g = state[..., GRIPPER]
    k0, k1, k2 = c.grip_k
    g_new = (g + k0 + k1 * g + k2 * action[..., 3:4].clamp(-1, 1)).clamp(c.grip_min, c.grip_max)
    delta[..., HAND_POS] = p_new - p
    delta[..., HAND_VEL] = v_new - v
    delta[..., HAND_VEL_PREV] = v - state[..., HAND_VEL_PREV]
    delta[..., TARGET] = (setpoint - p_new) - off
    delta[..., GRIPPER] = g_new - g
    return delta


def inertia(state: torch.Tensor, c: PhysicsConstants) -> torch.Tensor:
    """Velocity persists; friction damps it where the object touches something (a free object
    resting on its support, or any mounted object), never in free flight."""
    delta = torch.zeros_like(state)
    v = state[..., OBJ_VEL]
    free = state[..., OBJ_FREE]
    height = state[..., OBJ_POS][..., 2:3] - (c.table_z + state[..., OBJ_HALF])
    touching = free * _gate_below(height, 0.005, 0.001) + (1 - free)
    dv = -c.damping * touching * v
    delta[..., OBJ_VEL] = dv
    delta[..., OBJ_POS] = (v + dv) * c.dt_s
    return delta


def gravity(state: torch.Tensor, c: PhysicsConstants, h: torch.Tensor | None = None) -> torch.Tensor:
    """`h`: `held(state, c)` when the caller has it already."""
    delta = torch.zeros_like(state)
    falls = state[..., OBJ_FREE] * (1 - (held(state, c) if h is None else h))
    dvz = -c.gravity_mps2 * c.dt_s * falls
    delta[..., OBJ_VEL.start + 2 : OBJ_VEL.start + 3] = dvz
    delta[..., OBJ_POS.start + 2 : OBJ_POS.start + 3] = dvz * c.dt_s
    return delta


def support(state: torch.Tensor, proposed: torch.Tensor, c: PhysicsConstants) -> torch.Tensor:
    """Correction to a proposed next state: lift a free object back to its resting height. The
    velocity change is the same correction divided by dt (velocity = finite difference)."""
    delta = torch.zeros_like(state)
    rest = c.table_z + state[..., OBJ_HALF]
    z_next = proposed[..., OBJ_POS.start + 2 : OBJ_POS.start + 3]
    penetration = torch.relu(rest - z_next) * state[..., OBJ_FREE]
    delta[..., OBJ_POS.start + 2 : OBJ_POS.start + 3] = penetration
    delta[..., OBJ_VEL.start + 2 : OBJ_VEL.start + 3] = penetration / c.dt_s
    return delta


def attachment(state: torch.Tensor, proposed: torch.Tensor, c: PhysicsConstants,
               h: torch.Tensor | None = None) -> torch.Tensor:
    """Correction moving a held object rigidly with the hand's proposed motion."""
    delta = torch.zeros_like(state)
    h = held(state, c) if h is None else h
    hand_step = proposed[..., HAND_POS] - state[..., HAND_POS]
    obj_step = proposed[..., OBJ_POS] - state[..., OBJ_POS]
    delta[..., OBJ_POS] = h * (hand_step - obj_step)
    delta[..., OBJ_VEL] = h * (proposed[..., HAND_VEL] - proposed[..., OBJ_VEL])
    return delta


def prior_delta(
    state: torch.Tensor,
    action: torch.Tensor,
    c: PhysicsConstants = PhysicsConstants(),
    laws: tuple[str, ...] = LAWS,
) -> torch.Tensor:
    """The innate prediction of next_state - state, composing the enabled laws in order."""
    unknown = set(laws) - set(LAWS)
    if unknown:
        raise ValueError(f"unknown physics law(s) {sorted(unknown)}; known: {', '.join(LAWS)}")
    delta = torch.zeros_like(state)
    h = held(state, c) if "gravity" in laws or "attachment" in laws else None  # both laws read it
    if "efference" in laws:
        delta = delta + efference(state, action, c)
    if "inertia" in laws:
        delta = delta + inertia(state, c)
    if "gravity" in laws:
        delta = delta + gravity(state, c, h)
    if "attachment" in laws:
        delta = delta + attachment(state, state + delta, c, h)
    if "support" in laws:
        delta = delta + support(state, state + delta, c)
    return delta


def rollout(state: torch.Tensor, actions: torch.Tensor, c: PhysicsConstants, laws: tuple[str, ...] = LAWS) -> torch.Tensor:
    """Open-loop prediction: states (..., H+1, D) from state (..., D) and actions (..., H, 4)."""
    out = [state]
    for h in range(actions.shape[-2]):
        out.append(out[-1] + prior_delta(out[-1], actions[..., h, :], c, laws))
    return torch.stack(out, -2)
