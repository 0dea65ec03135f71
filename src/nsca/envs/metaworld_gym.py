"""Meta-World tasks as a Stable-Baselines3 `VecEnv` on the batched stepper (the SAC / PPO baselines).

Observation: Meta-World's own 39 floats (the harness's float32 observation, as float64); reward:
its dense shaped reward; an episode ends at the task's `max_path_length` (500) by truncation
(success does not end it, as in Meta-World's own training set-up). Each reset draws a training
layout from a seed range disjoint from the demo and evaluation layouts (`nsca.envs.metaworld`),
so an RL baseline is never trained on a layout it is evaluated on. The `n` environments are the
slots of one `MetaWorldBatch`, stepped with one call per control step; with n = 1 this is exactly
what SB3's `DummyVecEnv` over a single env gives (same observations, rewards, infos).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv

from nsca.envs.metaworld import eval_layout_seeds, rollout_batch
from nsca.envs.metaworld_batch import MetaWorldBatch

RL_TRAIN_SEED_BASE = 20_000_000   # training layout j of run seed s: 20_000_000 + s * 1_000_000 + j


def train_layouts(seed: int):
    """The training layouts of run seed `seed`, in the order episodes draw them."""
    return iter(range(RL_TRAIN_SEED_BASE + seed * 1_000_000, RL_TRAIN_SEED_BASE + (seed + 1) * 1_000_000))


class MetaWorldVecEnv(VecEnv):
    """`n` environments of one task; episode j (over all slots, in reset order) gets training layout j."""

    def __init__(self, task: str, seed: int, max_steps: int | None = None, n: int = 1) -> None:
        self.batch = MetaWorldBatch(task, n)
        self.max_steps = max_steps or self.batch.max_episode_steps
        super().__init__(n, gym.spaces.Box(-np.inf, np.inf, (39,), np.float64), gym.spaces.Box(-1.0, 1.0, (4,), np.float32))
        self._layouts = train_layouts(seed)
        self._t = np.zeros(n, int)
        self._actions: np.ndarray | None = None

    def _reset_slot(self, k: int) -> np.ndarray:
        self._t[k] = 0
        return self.batch.reset(k, next(self._layouts)).astype(np.float32).astype(np.float64)

    def reset(self) -> np.ndarray:
        return np.stack([self._reset_slot(k) for k in range(self.num_envs)])

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.clip(np.asarray(actions, np.float32), -1.0, 1.0)

    def step_wait(self):
        obs, success, rewards = self.batch.step(self._actions, rewards=True)
        obs = obs.astype(np.float32).astype(np.float64)
        self._t += 1
        dones = self._t >= self.max_steps
        infos: list[dict] = []
        for k in range(self.num_envs):
            info = {"success": bool(success[k]), "TimeLimit.truncated": bool(dones[k])}
            if dones[k]:
                info["terminal_observation"] = obs[k].copy()
                obs[k] = self._reset_slot(k)
            infos.append(info)
        return obs, rewards.astype(np.float32), dones, infos

    def close(self) -> None:
        self.batch.close()

    # SB3's VecEnv interface for wrappers that query sub-environments; these envs have no wrappers.
    def get_attr(self, attr_name, indices=None):
        return [getattr(self.batch.envs[i], attr_name) for i in self._get_indices(indices)]

    def set_attr(self, attr_name, value, indices=None) -> None:
        for i in self._get_indices(indices):
            setattr(self.batch.envs[i], attr_name, value)

    def env_method(self, method_name, *method_args, indices=None, **method_kwargs):
        return [getattr(self.batch.envs[i], method_name)(*method_args, **method_kwargs) for i in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]


def evaluate_sb3(model, task: str, episodes: int, max_steps: int, batch_size: int = 16) -> dict:
    """Success (Meta-World's flag at any step) of a trained SB3 policy, deterministic actions, on
    the evaluation layouts every condition of the suite shares; the policy is called once per
    control step for all running episodes."""
    batch = MetaWorldBatch(task, min(batch_size, episodes))
    try:
        eps = rollout_batch(batch, eval_layout_seeds(episodes),
                            lambda idx, obs, states: model.predict(obs.astype(np.float64), deterministic=True)[0],
                            max_steps=max_steps)
    finally:
        batch.close()
    return {"success": [bool(ep.success) for ep in eps], "return": [float(ep.rewards.astype(np.float64).sum()) for ep in eps]}
