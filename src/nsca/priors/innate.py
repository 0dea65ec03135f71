"""Innate physics laws as batched, differentiable torch functions on object-centric state.

Each law maps (state, action) -> a change of state over one control step of `dt_s`. Discrete
(not instantaneous) forms are used because the state's velocities are finite differences
over the last step, as robots measure them. Conditions such as "unsupported" or "held" are
soft sigmoid gates so gradients flow through them (for planning and for the prior weight).

Laws:
- efference: the hand moves as commanded (a first-order lag towards action * action_scale);
  the innate body model, which every animal has before it learns anything else.
- inertia: velocity persists (lightly damped) and integrates into position.
- gravity: an object that is neither supported nor held accelerates down at g.
- support: nothing sinks through the table; a resting object's downward velocity is removed.
- attachment: an object held in a closed gripper moves with the hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nsca.priors.state import GRIPPER, HAND_POS, HAND_VEL, OBJ_POS, OBJ_VEL

LAWS = ("efference", "inertia", "gravity", "support", "attachment")


@dataclass(frozen=True)
class PhysicsConstants:
    """Scene constants; defaults measured in Meta-World v3 (see tests/test_innate.py)."""

    dt_s: float = 0.0125            # control step (frame_skip 5 x 2.5 ms)
    gravity_mps2: float = 9.81
    rest_z_m: float = 0.019         # object centre height when resting on the table (puck: 0.0193)
    support_band_m: float = 0.004   # within this of rest_z the object counts as supported
    action_scale_m: float = 0.01    # hand displacement per step for a unit action
    hand_lag: float = 0.35          # share of the gap to the commanded velocity closed per step
    damping: float = 0.0            # fraction of free velocity lost per step
    grasp_radius_m: float = 0.05    # hand-object distance within which a closed gripper holds
    closed_below: float = 0.8       # gripper opening below which the gripper counts as closed
    gate_softness: float = 0.1      # sigmoid width as a fraction of each threshold


def _gate_below(x: torch.Tensor, threshold: float, softness: float) -> torch.Tensor:
    """~1 where x < threshold, ~0 above; smooth so it has a gradient."""
    width = max(abs(threshold) * softness, 1e-4)
    return torch.sigmoid((threshold - x) / width)


def held(state: torch.Tensor, c: PhysicsConstants) -> torch.Tensor:
    """Soft indicator (B, 1) that the object is in the closed gripper."""
    dist = torch.linalg.vector_norm(state[..., OBJ_POS] - state[..., HAND_POS], dim=-1, keepdim=True)
    near = _gate_below(dist, c.grasp_radius_m, c.gate_softness)
    closed = _gate_below(state[..., GRIPPER], c.closed_below, c.gate_softness)
    return near * closed


def supported(state: torch.Tensor, c: PhysicsConstants) -> torch.Tensor:
    """Soft indicator (B, 1) that the object rests on the table."""
    height = state[..., OBJ_POS][..., 2:3] - c.rest_z_m
    return _gate_below(height, c.support_band_m, 0.5)


def efference(state: torch.Tensor, action: torch.Tensor, c: PhysicsConstants) -> torch.Tensor:
    delta = torch.zeros_like(state)
    v = state[..., HAND_VEL]
    commanded_v = action[..., :3].clamp(-1, 1) * (c.action_scale_m / c.dt_s)
    dv = c.hand_lag * (commanded_v - v)
    delta[..., HAND_VEL] = dv
    delta[..., HAND_POS] = (v + dv) * c.dt_s
    return delta


def inertia(state: torch.Tensor, c: PhysicsConstants) -> torch.Tensor:
    delta = torch.zeros_like(state)
    v = state[..., OBJ_VEL]
    dv = -c.damping * v
    delta[..., OBJ_VEL] = dv
    delta[..., OBJ_POS] = (v + dv) * c.dt_s
    return delta


def gravity(state: torch.Tensor, c: PhysicsConstants) -> torch.Tensor:
    delta = torch.zeros_like(state)
    free = (1 - supported(state, c)) * (1 - held(state, c))
    dvz = -c.gravity_mps2 * c.dt_s * free
    delta[..., OBJ_VEL.start + 2 : OBJ_VEL.start + 3] = dvz
    delta[..., OBJ_POS.start + 2 : OBJ_POS.start + 3] = dvz * c.dt_s
    return delta


def support(state: torch.Tensor, proposed: torch.Tensor, c: PhysicsConstants) -> torch.Tensor:
    """Correction to a proposed next state: lift it back onto the table. The velocity change is
    the same correction divided by dt, keeping velocity the finite difference of position."""
    delta = torch.zeros_like(state)
    z_next = proposed[..., OBJ_POS.start + 2 : OBJ_POS.start + 3]
    penetration = torch.relu(c.rest_z_m - z_next)
    delta[..., OBJ_POS.start + 2 : OBJ_POS.start + 3] = penetration
    delta[..., OBJ_VEL.start + 2 : OBJ_VEL.start + 3] = penetration / c.dt_s
    return delta


def attachment(state: torch.Tensor, proposed: torch.Tensor, c: PhysicsConstants) -> torch.Tensor:
    """Correction pulling a held object's motion onto the hand's proposed motion."""
    delta = torch.zeros_like(state)
    h = held(state, c)
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
    if "efference" in laws:
        delta = delta + efference(state, action, c)
    if "inertia" in laws:
        delta = delta + inertia(state, c)
    if "gravity" in laws:
        delta = delta + gravity(state, c)
    if "attachment" in laws:
        delta = delta + attachment(state, state + delta, c)
    if "support" in laws:
        delta = delta + support(state, state + delta, c)
    return delta
