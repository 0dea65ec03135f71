"""MPPI over a model, seeded by the BC policy (TD-MPC style, without a latent space).

Each of `samples` candidate futures follows the BC policy through the model with Gaussian
action noise; futures are scored by the value (discounted sum over the horizon) and the first
actions averaged with softmax weights. Sample 0 is the noise-free BC rollout, so planning can
only move away from BC when the model and value predict a better future.

The temperature is relative (`temperature` x the spread of the candidates' scores), so the
planner's departure from BC does not depend on how different the model *says* futures are
(an absolute temperature lets a model that exaggerates differences drag the plan further);
`iterations` > 1 refits the noise mean to the weighted first actions (CEM-style refinement).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nsca.config import field
from nsca.errors import UsageError


@dataclass(frozen=True)
class PlannerConfig:
    horizon: int = field(3, "planning horizon (steps)")
    samples: int = field(32, "candidate futures per step (sample 0 is the noise-free BC rollout)")
    noise_std: float = field(0.3, "action noise std around the BC policy")
    temperature: float = field(0.02, "softmax temperature: reward units, or x the candidates' score std if relative")
    relative_temperature: bool = field(False, "temperature relative to the spread of the candidates' scores")
    discount: float = field(0.9, "discount over the planning horizon")
    iterations: int = field(1, "refits of the noise mean per step (>1: CEM-style refinement)")

    def validate(self) -> None:
        for name in ("horizon", "samples", "iterations"):
            if getattr(self, name) < 1:
                raise UsageError(f"--agent.planner.{name} must be at least 1, got {getattr(self, name)}")
        if self.noise_std < 0:
            raise UsageError("--agent.planner.noise-std must be >= 0")
        if self.temperature <= 0:
            raise UsageError("--agent.planner.temperature must be > 0")
        if not 0 < self.discount <= 1:
            raise UsageError("--agent.planner.discount must be in (0, 1]")


@torch.no_grad()
def mppi_action(model_step, policy, value, state: torch.Tensor, goal: torch.Tensor, cfg: PlannerConfig,
                features, generator: torch.Generator) -> torch.Tensor:
    """`model_step(s, a, h) -> (s', sim_reward or None)`; `value(s', a, g, sim_reward) -> (n,)`."""
    n = cfg.samples
    g = goal.expand(n, -1)
    shift = torch.zeros(cfg.horizon, policy_action_dim(policy))
    first = None
    for _ in range(max(1, cfg.iterations)):
        s = state.expand(n, -1)
        noise = torch.randn((n, cfg.horizon, policy_action_dim(policy)), generator=generator) * cfg.noise_std + shift
        noise[0] = shift
        score = torch.zeros(n)
        first = None
        for h in range(cfg.horizon):
            a = (policy(features(s, g)) + noise[:, h]).clamp(-1, 1)
            if first is None:
                first = a
            s, sim_reward = model_step(s, a, h)
            score += (cfg.discount**h) * value(s, a, g, sim_reward)
        temp = cfg.temperature * (float(score.std()) + 1e-6 if cfg.relative_temperature else 1.0)
        weights = torch.softmax((score - score.max()) / temp, 0)
        shift = (weights[:, None, None] * noise).sum(0)
    return (weights[:, None] * first).sum(0)


def policy_action_dim(policy) -> int:
    return policy.net[-1].out_features
