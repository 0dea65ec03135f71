"""MPPI over the world model, seeded by the BC policy (TD-MPC style, without a latent space).

Each of `samples` candidate futures follows the BC policy through the world model with
Gaussian action noise; futures are scored by the progress model and the first actions averaged
with softmax weights at an absolute temperature. Sample 0 is the noise-free BC rollout, so planning can only move away
from BC when the world model predicts a better future. The world model's prior weight is thus
in the causal path to every action taken.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PlannerConfig:
    horizon: int = 3
    samples: int = 32
    noise_std: float = 0.3
    temperature: float = 0.02  # in progress units (a demo gains ~0.02 progress per step)
    discount: float = 0.9


@torch.no_grad()
def mppi_action(
    world_model,
    policy,
    progress,
    state: torch.Tensor,
    goal: torch.Tensor,
    cfg: PlannerConfig,
    features,
    generator: torch.Generator,
) -> torch.Tensor:
    n = cfg.samples
    s = state.expand(n, -1)
    g = goal.expand(n, -1)
    noise = torch.randn((n, cfg.horizon, policy_action_dim(policy)), generator=generator) * cfg.noise_std
    noise[0] = 0.0
    score = torch.zeros(n)
    first = None
    for h in range(cfg.horizon):
        a = (policy(features(s, g)) + noise[:, h]).clamp(-1, 1)
        if first is None:
            first = a
        s = world_model(s, a)
        score += (cfg.discount**h) * progress(features(s, g)).squeeze(-1)
    # An absolute temperature: when the models see no real difference between futures the
    # weights are near uniform and the zero-mean noise averages out, leaving the BC action.
    weights = torch.softmax((score - score.max()) / cfg.temperature, 0)
    return (weights[:, None] * first).sum(0)


def policy_action_dim(policy) -> int:
    return policy.net[-1].out_features
