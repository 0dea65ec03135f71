"""Meta-World tasks as Gymnasium environments for Stable-Baselines3 (the SAC / PPO baselines).

Observation: Meta-World's own 39 floats; reward: its dense shaped reward; an episode ends at
the task's `max_path_length` (500) by truncation (success does not end it, as in Meta-World's
own training set-up). Each reset draws a training layout from a seed range disjoint from the
demo and evaluation layouts (`nsca.envs.metaworld`), so an RL baseline is never trained on a
layout it is evaluated on.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from nsca.envs.metaworld import MetaWorldTask, eval_layout_seeds

RL_TRAIN_SEED_BASE = 20_000_000   # training layout j of run seed s: 20_000_000 + s * 1_000_000 + j


class MetaWorldGym(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, task: str, seed: int, max_steps: int | None = None) -> None:
        self.task = MetaWorldTask(task)
        self.max_steps = max_steps or self.task.max_episode_steps
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (39,), np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
        self._layouts = iter(range(RL_TRAIN_SEED_BASE + seed * 1_000_000, RL_TRAIN_SEED_BASE + (seed + 1) * 1_000_000))
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._t = 0
        return self.task.reset(next(self._layouts)).astype(np.float64), {}

    def step(self, action):
        obs, reward, success = self.task.step(np.asarray(action, np.float32))
        self._t += 1
        return obs.astype(np.float64), reward, False, self._t >= self.max_steps, {"success": success}

    def close(self) -> None:
        self.task.close()


def evaluate_sb3(model, task: str, episodes: int, max_steps: int) -> dict:
    """Success (Meta-World's flag at any step) of a trained SB3 policy, deterministic actions, on
    the evaluation layouts every condition of the suite shares."""
    env = MetaWorldTask(task)
    successes, returns = [], []
    for layout in eval_layout_seeds(episodes):
        obs, ok, total = env.reset(layout), False, 0.0
        for _ in range(max_steps):
            action, _ = model.predict(obs.astype(np.float64), deterministic=True)
            obs, r, success = env.step(np.asarray(action, np.float32))
            total += r
            if success:
                ok = True
                break
        successes.append(ok)
        returns.append(total)
    env.close()
    return {"success": successes, "return": returns}
