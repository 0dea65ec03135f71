"""Plain BC (the floor): an MLP from the object-centric state and goal to the action.

With `augment` it also trains on the corrective agent's displaced demo states, each labelled
with the demo's own action at that step: the same data the corrective agent sees, without the
world model's labels, so "corrective vs augmented BC" measures what the model's labels add.
"""

from __future__ import annotations

import numpy as np
import torch

from nsca.envs.metaworld import Episode
from nsca.learning.agents.base import COMMON_FIELDS, Agent, bc_actions, demo_arrays, displaced_states, features, fit_bc
from nsca.learning.agents.config import AgentConfig


class BCAgent(Agent):
    kind = "bc"

    @classmethod
    def reads(cls, cfg: AgentConfig) -> tuple[str, ...]:
        return COMMON_FIELDS + (("augment", "corrections", "correction_noise_m") if cfg.augment else ())

    def fit(self, demos: list[Episode], babble: dict[str, np.ndarray] | None = None) -> dict:
        d = demo_arrays(demos)
        x, a = features(d["state"], d["goal"]), d["action"]
        if self.cfg.augment:
            moved = displaced_states(d, self.cfg, self.seed)
            x = torch.cat([x, features(moved["state"], moved["goal"])])
            a = torch.cat([a, moved["action"]])
        self.bc, loss = fit_bc(x, a, self.cfg, self.seed)
        return {"bc_loss": loss, "prior_weight": 0.0, "demo_transitions": int(d["state"].shape[0]),
                "training_transitions": int(x.shape[0])}

    def policy(self, state: torch.Tensor, goal_pos: torch.Tensor) -> tuple[torch.Tensor, None]:
        """(action before clipping, no latent): the behaviour-policy signature the planner uses."""
        return self.bc(features(state, goal_pos)), None

    def act_batch(self, episodes: list[int], obs: np.ndarray, states: np.ndarray) -> np.ndarray:
        return bc_actions(self.bc, obs, states)
