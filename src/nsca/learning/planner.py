"""MPPI over a model, seeded by the BC policy (TD-MPC style, without a latent space).

Each of `samples` candidate futures follows the BC policy through the model with Gaussian
action noise; futures are scored by the value (discounted sum over the horizon) and the first
actions averaged with softmax weights. Sample 0 is the noise-free BC rollout, so planning can
only move away from BC when the model and value predict a better future.

The weighted average is taken over the candidates' *unclipped* first actions and clipped after
(`average_then_clip`): averaging clipped actions pulls a saturated command toward zero (a BC
gripper command of +1.2 with noise 0.3 averages to ~0.9 after clipping: a weaker grasp), so
even uniform weights would not return BC's own action.

With `baseline`, the plan is candidate 0 plus the weighted perturbations minus their unweighted
mean (the mean baseline of evolution strategies): with uniform weights -- scores the value cannot
tell apart -- the plan is BC's own action, not BC plus the average of the noise.

With `min_advantage` set the plan is kept only when its expected score (under the softmax
weights) beats candidate 0's by more than that margin; otherwise candidate 0 -- BC -- is
executed (safe policy improvement: leave the behaviour policy only for an estimated gain larger
than the estimate's error; the agent sets the margin to its validated score error).

With `relative_temperature` (the default) the temperature is `temperature` x the spread of the
candidates' scores, so how sharply the plan prefers the best futures does not depend on the
score's scale; how far it may trust them is the gate's business (`min_advantage`).
`iterations` > 1 refits the noise mean to the weighted first actions (CEM-style refinement).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nsca.config import field
from nsca.errors import ConfigError
from nsca.priors.state import ACTION_DIM


@dataclass(frozen=True)
class PlannerConfig:
    horizon: int = field(15, "planning horizon (steps)")
    samples: int = field(32, "candidate futures per step (sample 0 is the noise-free BC rollout)")
    noise_std: float = field(0.3, "action noise std around the BC policy")
    temperature: float = field(0.2, "softmax temperature: x the candidates' score std if relative, else score units")
    relative_temperature: bool = field(True, "temperature relative to the spread of the candidates' scores")
    discount: float = field(0.9, "discount over the planning horizon")
    iterations: int = field(1, "refits of the noise mean per step (>1: CEM-style refinement)")
    baseline: bool = field(
        True, "subtract the candidates' mean perturbation: uninformative scores (uniform weights) return BC's action")
    min_advantage: float | None = field(
        None, "keep candidate 0 (BC) unless the plan's expected score beats it by more than this (score units); "
              "none: no gate")
    average_then_clip: bool = field(
        True, "average the candidates' unclipped first actions, then clip (False: average clipped actions)")

    def validate(self) -> None:
        for name in ("horizon", "samples", "iterations"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"must be at least 1, got {getattr(self, name)}")
        if self.noise_std < 0:
            raise ConfigError("noise_std", f"must be >= 0, got {self.noise_std}")
        if self.min_advantage is not None and self.min_advantage < 0:
            raise ConfigError("min_advantage", f"must be >= 0 or none, got {self.min_advantage}")
        if self.temperature <= 0:
            raise ConfigError("temperature", f"must be > 0, got {self.temperature}")
        if not 0 < self.discount <= 1:
            raise ConfigError("discount", f"must be in (0, 1], got {self.discount}")


@torch.no_grad()
def mppi_action(model_step, policy, value, state: torch.Tensor, goal: torch.Tensor, cfg: PlannerConfig,
                generator: torch.Generator, stats: dict | None = None) -> torch.Tensor:
    """One state (1, D) -> its action (A,); see `mppi_actions`."""
    return mppi_actions(model_step, policy, value, state, goal, cfg, [generator], stats)[0]


@torch.no_grad()
def mppi_actions(model_step, policy, value, states: torch.Tensor, goals: torch.Tensor, cfg: PlannerConfig,
                 generators: list[torch.Generator], stats: dict | None = None) -> torch.Tensor:
    """Plan for B states at once (B parallel episodes, each with its own noise generator): the
    networks run once per step on all B x `samples` candidates, so evaluation is bound by the
    simulator rather than by per-call overhead. Every episode's action is bit-identical to
    planning for it alone (per-episode noise draws, per-episode reductions; tested).

    `policy(s, g) -> (action, latent or None)`, `model_step(s, a, h, latent) -> (s', sim_reward
    or None)` and `value(s', a, g, sim_reward) -> (B*n,)` take the B x n candidates flattened
    episode-major; `latent` is what the policy encoded of s (the NSCA model's fused z, which
    conditions its physics head), handed to the model so that each state is encoded once. `stats`, if given, counts the plans
    (`plans`) and those kept by the `min_advantage` gate (`departed`)."""
    n, b, adim = cfg.samples, states.shape[0], ACTION_DIM
    g = goals.repeat_interleave(n, 0)
    shift = torch.zeros(b, cfg.horizon, adim)
    weights = first = None
    for _ in range(max(1, cfg.iterations)):
        s = states.repeat_interleave(n, 0)
        noise = torch.stack([torch.randn((n, cfg.horizon, adim), generator=gen) for gen in generators])
        noise = noise * cfg.noise_std + shift[:, None]
        noise[:, 0] = shift
        flat_noise = noise.reshape(b * n, cfg.horizon, adim)
        score = torch.zeros(b * n)
        first = None
        for h in range(cfg.horizon):
            bc, latent = policy(s, g)
            raw = bc + flat_noise[:, h]
            a = raw.clamp(-1, 1)
            if first is None:
                first = (raw if cfg.average_then_clip else a).reshape(b, n, adim)
            s, sim_reward = model_step(s, a, h, latent)
            score += (cfg.discount**h) * value(s, a, g, sim_reward)
        score = score.reshape(b, n)
        weights = []
        for i in range(b):  # per episode, exactly as for one state (1-D reductions)
            temp = cfg.temperature * (float(score[i].std()) + 1e-6 if cfg.relative_temperature else 1.0)
            weights.append(torch.softmax((score[i] - score[i].max()) / temp, 0))
        shift = torch.stack([(w[:, None, None] * noise[i]).sum(0) for i, w in enumerate(weights)])
    plans = []
    for i, w in enumerate(weights):
        gated = cfg.min_advantage is not None and float((w * score[i]).sum() - score[i, 0]) <= cfg.min_advantage
        if stats is not None:
            stats["plans"] = stats.get("plans", 0) + 1
            stats["departed"] = stats.get("departed", 0) + (not gated)
        if gated:
            plans.append(first[i, 0])  # not a validated improvement: keep candidate 0
        elif cfg.baseline:  # the departure from candidate 0 (BC + shift) is the weights' excess over uniform
            plans.append(first[i, 0] + ((w - 1.0 / n)[:, None] * (first[i] - first[i, 0])).sum(0))
        else:
            plans.append((w[:, None] * first[i]).sum(0))
    return torch.stack(plans)
