"""The planner's analytic goal cost: how far a state is from done, from what BC already sees.

`cost = reach x |object - hand| + |goal - object| + grasp x open x [|object - hand| < radius]`:
the hand must come to the object, the object to the goal, and a hand at the object should hold
it (1 = gripper fully open). Nothing in it is learned, so in the planner the world model is the
only learned piece that differs between conditions: the cost reads the futures the model
predicts, and only the model decides which futures those are. The weights were chosen on
pick-place with seeds and layouts never evaluated (docs/lethality.md, "Screening").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nsca.config import field
from nsca.errors import ConfigError
from nsca.priors.state import GRIPPER, HAND_POS, OBJ_POS


@dataclass(frozen=True)
class GoalCost:
    reach: float = field(1.0, "weight of the hand-object distance (m)")
    grasp: float = field(0.0, "cost of an open gripper while the hand is within grasp_radius_m of the object")
    grasp_radius_m: float = field(0.02, "hand-object distance within which the gripper should be closed (m)")

    def validate(self) -> None:
        for name in ("reach", "grasp", "grasp_radius_m"):
            if getattr(self, name) < 0:
                raise ConfigError(name, f"must be >= 0, got {getattr(self, name)}")

    def __call__(self, state: torch.Tensor, goal_pos: torch.Tensor) -> torch.Tensor:
        """(..., STATE_DIM), (..., 3) -> (...) cost in metres (lower is better)."""
        reach = (state[..., OBJ_POS] - state[..., HAND_POS]).norm(dim=-1)
        place = (goal_pos - state[..., OBJ_POS]).norm(dim=-1)
        cost = self.reach * reach + place
        if self.grasp > 0:
            near = (reach < self.grasp_radius_m).to(state.dtype)
            cost = cost + self.grasp * state[..., GRIPPER].squeeze(-1).clamp(0, 1) * near
        return cost
