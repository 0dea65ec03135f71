"""The phase-0 agent: BC policy + reward model + AdaptivePhysicsPrior world model + MPPI.

All three networks are learned from the same few demos. Conditions differ only in the world
model's prior (`0.9`, `0.5`, `0.1`, or `None` = random-init baseline with no prior term), and
with the same seed they share the BC policy, reward model and planner noise bit for bit, so
any difference in success is caused by the world model. `use_planner=False` is plain BC.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from nsca.envs.metaworld import Episode, goal, object_state
from nsca.learning.bc import BCPolicy, Normalizer, train_regressor
from nsca.learning.planner import PlannerConfig, mppi_action
from nsca.priors.adaptive import AdaptivePhysicsPrior, mlp
from nsca.priors.innate import PhysicsConstants
from nsca.priors.state import HAND_POS, OBJ_POS, STATE_DIM


@dataclass(frozen=True)
class AgentConfig:
    prior: float | None = 0.9
    use_planner: bool = True
    hidden: int = 256
    lr: float = 1e-3
    bc_steps: int = 2000
    bc_input_noise: float = 0.05
    world_model_steps: int = 2000
    progress_steps: int = 1000
    prior_lr: float | None = None   # own learning rate for rho (None: the shared lr); see docs/sanity.md
    objective: str = "reward"   # what the planner maximises: "reward" (demo rewards) or "progress" (t/T)
    reward_ensemble: int = 1    # >1: that many reward models; the planner scores mean - pessimism * std
    pessimism: float = 1.0
    planner: PlannerConfig = field(default_factory=PlannerConfig)


class ProgressModel(torch.nn.Module):
    """Scores a state in [0, 1] for the planner: the demo's reward / 10 (Meta-World's dense
    reward is in [0, 10]) or how far along its demonstration the state is (t / T)."""

    def __init__(self, obs_dim: int, hidden: int) -> None:
        super().__init__()
        self.norm = Normalizer(obs_dim)
        self.net = mlp(obs_dim, 1, hidden, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(self.norm(x)))


class PessimisticScore(torch.nn.Module):
    """Mean minus `pessimism` x std over an ensemble: futures where the reward models disagree
    (away from the demos) score lower, so the planner cannot exploit one model's errors."""

    def __init__(self, members: list[torch.nn.Module], pessimism: float) -> None:
        super().__init__()
        self.members = torch.nn.ModuleList(members)
        self.pessimism = pessimism

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = torch.stack([m(x) for m in self.members])
        return scores.mean(0) - self.pessimism * scores.std(0)


def features(state: torch.Tensor, goal_pos: torch.Tensor) -> torch.Tensor:
    """Policy / reward-model input: the state, the goal, and the object-centric relations between
    them (object relative to hand, goal relative to object), which transfer across layouts."""
    rel_obj = state[..., OBJ_POS] - state[..., HAND_POS]
    rel_goal = goal_pos - state[..., OBJ_POS]
    return torch.cat([state, goal_pos, rel_obj, rel_goal], -1)


FEATURE_DIM = STATE_DIM + 9


def demo_arrays(demos: list[Episode], dt_s: float) -> dict[str, torch.Tensor]:
    states, nexts, actions, goals, progress, rewards = [], [], [], [], [], []
    for ep in demos:
        s = object_state(ep.obs, dt_s)
        states.append(s[:-1])
        nexts.append(s[1:])
        actions.append(ep.actions)
        goals.append(goal(ep.obs[:-1]))
        progress.append(np.arange(1, ep.length + 1, dtype=np.float32) / ep.length)
        rewards.append(np.clip(ep.rewards / 10.0, 0.0, 1.0))
    cat = lambda xs: torch.as_tensor(np.concatenate(xs), dtype=torch.float32)  # noqa: E731
    return {"state": cat(states), "next_state": cat(nexts), "action": cat(actions), "goal": cat(goals), "progress": cat(progress), "reward": cat(rewards)}


class Phase0Agent:
    def __init__(self, cfg: AgentConfig, seed: int, dt_s: float = 0.0125) -> None:
        self.cfg = cfg
        self.seed = seed
        self.dt_s = dt_s
        torch.manual_seed(seed)
        obs_dim = FEATURE_DIM
        self.policy = BCPolicy(obs_dim, hidden=cfg.hidden)
        self.progress = ProgressModel(obs_dim, cfg.hidden)
        self.world_model = AdaptivePhysicsPrior(cfg.prior, hidden=cfg.hidden, constants=PhysicsConstants(dt_s=dt_s))
        # Created last so that the default (one reward model) draws the same initial weights.
        self.extra_reward_models = [ProgressModel(obs_dim, cfg.hidden) for _ in range(cfg.reward_ensemble - 1)]
        self.value: torch.nn.Module = self.progress
        self._noise = torch.Generator().manual_seed(seed)

    def fit(self, demos: list[Episode]) -> dict:
        d = demo_arrays(demos, self.dt_s)
        x = features(d["state"], d["goal"])
        gen = torch.Generator().manual_seed(self.seed)
        self.policy.norm.fit(x)
        self.progress.norm.fit(x)
        self.world_model.set_normalization(d["state"], d["next_state"])
        bc = train_regressor(self.policy, x, d["action"], self.cfg.bc_steps, self.cfg.lr,
                             input_noise=self.cfg.bc_input_noise, generator=gen)
        if self.cfg.objective not in ("reward", "progress"):
            raise ValueError(f"objective must be reward or progress, got {self.cfg.objective!r}")
        pr = train_regressor(self.progress, x, d[self.cfg.objective][:, None], self.cfg.progress_steps,
                             self.cfg.lr, input_noise=self.cfg.bc_input_noise, generator=gen)
        wm = self._fit_world_model(d, gen)
        for k, member in enumerate(self.extra_reward_models):
            member.norm.fit(x)
            train_regressor(member, x, d[self.cfg.objective][:, None], self.cfg.progress_steps, self.cfg.lr,
                            input_noise=self.cfg.bc_input_noise,
                            generator=torch.Generator().manual_seed(self.seed * 7919 + k + 1))
        if self.extra_reward_models:
            self.value = PessimisticScore([self.progress, *self.extra_reward_models], self.cfg.pessimism)
        for m in (self.policy, self.value, self.world_model):
            m.eval()
        return {
            "bc_loss": float(np.mean(bc[-50:])),
            "progress_loss": float(np.mean(pr[-50:])),
            "world_model_loss": float(np.mean(wm[-50:])),
            "prior_weight": self.world_model.prior_weight.item(),
            "demo_transitions": int(x.shape[0]),
        }

    def _fit_world_model(self, d: dict, gen: torch.Generator) -> list[float]:
        wm = self.world_model
        groups: list[dict] = [{"params": list(wm.parameters())}]
        if wm.rho is not None and self.cfg.prior_lr is not None:
            # Adam moves every parameter ~lr per step, so with one lr the residual absorbs a wrong
            # prior before rho can move; rho (one scalar) gets its own step size and no decay.
            groups = [{"params": [p for n, p in wm.named_parameters() if n != "rho"]},
                      {"params": [wm.rho], "lr": self.cfg.prior_lr, "weight_decay": 0.0}]
        opt = torch.optim.AdamW(groups, lr=self.cfg.lr, weight_decay=1e-4)
        n = d["state"].shape[0]
        losses = []
        for _ in range(self.cfg.world_model_steps):
            idx = torch.randint(0, n, (min(256, n),), generator=gen)
            loss = wm.loss(d["state"][idx], d["action"][idx], d["next_state"][idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses

    def reset(self, episode_seed: int) -> None:
        """Planner noise depends only on (agent seed, episode), identical across conditions."""
        self._noise.manual_seed(self.seed * 1_000_003 + episode_seed)

    def act(self, obs: np.ndarray) -> np.ndarray:
        s = torch.as_tensor(object_state(obs, self.dt_s))
        g = torch.as_tensor(goal(obs))
        with torch.no_grad():
            if not self.cfg.use_planner:
                a = self.policy(features(s, g)[None])[0]
            else:
                a = mppi_action(self.world_model, self.policy, self.value, s[None], g[None], self.cfg.planner, features, self._noise)
        return a.clamp(-1, 1).numpy()
