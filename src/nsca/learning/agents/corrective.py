"""The prior in the policy: BC on demos plus corrections labelled by the world model.

DART with model labels: the demo states displaced the way a drifting policy drifts
(`base.displaced_states`: hand and commanded set-point together), each labelled with the action
that, by the world model, puts the next set-point back onto the demo's next set-point (gradient
descent on the action through the model), and a fresh BC policy (the seed's own initial
weights) trained on demos + corrections. It acts like BC: no planning, nothing else learned.
Its fair floor is augmented BC (`BCAgent` with `augment`): the same displaced states labelled
with the demo's own action.

The set-point, not the hand, is the target: the arm is a second-order lag, so no single action
returns a displaced hand in one step (a hand target saturates every label), while the set-point
answers the action at once and the body then follows it.
"""

from __future__ import annotations

import numpy as np
import torch

from nsca.envs.metaworld import Episode
from nsca.learning.agents.base import COMMON_FIELDS, Agent, bc_actions, demo_arrays, displaced_states, features, fit_bc
from nsca.learning.agents.config import AgentConfig
from nsca.learning.agents.world_model import fit_world_model, new_world_model, predict, world_model_fields
from nsca.learning.model_agent import observation
from nsca.priors.state import HAND_POS, TARGET

LABEL_STEPS = 50  # gradient steps on each correction's action


class CorrectiveAgent(Agent):
    kind = "corrective"

    @classmethod
    def reads(cls, cfg: AgentConfig) -> tuple[str, ...]:
        return COMMON_FIELDS + world_model_fields(cfg) + ("corrections", "correction_noise_m")

    def fit(self, demos: list[Episode], babble: dict[str, np.ndarray] | None = None) -> dict:
        d = demo_arrays(demos)
        self.model = new_world_model(self.cfg, self.constants, self.seed)
        info = fit_world_model(self.model, d, self.cfg, self.seed)
        moved = displaced_states(d, self.cfg, self.seed)
        labels, residual_m = self._labels(moved)
        x = torch.cat([features(d["state"], d["goal"]), features(moved["state"], moved["goal"])])
        self.bc, bc_loss = fit_bc(x, torch.cat([d["action"], labels]), self.cfg, self.seed)
        return {**info, "bc_loss": bc_loss, "demo_transitions": int(d["state"].shape[0]),
                "corrections": int(labels.shape[0]), "correction_residual_mm": residual_m * 1000}

    def _labels(self, moved: dict[str, torch.Tensor]) -> tuple[torch.Tensor, float]:
        """The displacement actions the model says return the set-point to the demo's next one
        (the gripper command is the demo's), and the RMS distance still left (m)."""
        s, a_demo, g = moved["state"], moved["action"], moved["goal"]
        want = moved["next_state"][:, HAND_POS] + moved["next_state"][:, TARGET]  # the demo's next set-point
        act = a_demo[:, :3].clone().requires_grad_(True)
        opt = torch.optim.Adam([act], lr=0.05)
        with torch.no_grad():
            z = self.model.encode(observation(s, g))
        for _ in range(LABEL_STEPS):
            pred = predict(self.model, s, torch.cat([act.clamp(-1, 1), a_demo[:, 3:]], 1), g, z)
            loss = (pred[:, HAND_POS] + pred[:, TARGET] - want).pow(2).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return torch.cat([act.detach().clamp(-1, 1), a_demo[:, 3:]], 1), float(loss.detach().sqrt())

    def act_batch(self, episodes: list[int], obs: np.ndarray, states: np.ndarray) -> np.ndarray:
        return bc_actions(self.bc, obs, states)

    @property
    def prior_weight(self) -> float:
        return float(self.model.prior_weight)
