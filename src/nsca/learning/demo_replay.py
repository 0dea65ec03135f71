"""SAC with demos, RLPD-style (Ball et al. 2023, "Efficient Online RL with Offline Data"): the k
expert demos' transitions sit in a buffer of their own, kept for the whole run, and every
gradient batch is half demo transitions, half online ones (RLPD's symmetric sampling). RLPD's
other parts (LayerNorm critics, a critic ensemble, a high update-to-data ratio) are not taken:
the learner is Stable-Baselines3's SAC unchanged, so `sac_demos` differs from `sac` by the demos
alone.

A demo transition is (obs, action, Meta-World's dense reward, next obs, not done): the reward is
the one the environment returned for that step when the expert ran it (`Episode.rewards`, the
same `MetaWorldBatch.step` reward the SB3 `VecEnv` gives online), and a demo that stops at its
success is cut, not terminated (success does not end a Meta-World episode, truncation does).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.type_aliases import ReplayBufferSamples


def demo_transitions(episodes) -> dict[str, np.ndarray]:
    """The transitions of `nsca.envs.metaworld.Episode`s as the SB3 `VecEnv` shows them
    (observations float32 -> float64)."""
    if not episodes:
        raise ValueError("demo_transitions needs at least one demo")
    obs = np.concatenate([ep.obs[:-1] for ep in episodes]).astype(np.float32).astype(np.float64)
    next_obs = np.concatenate([ep.obs[1:] for ep in episodes]).astype(np.float32).astype(np.float64)
    actions = np.concatenate([ep.actions for ep in episodes]).astype(np.float32)
    rewards = np.concatenate([ep.rewards for ep in episodes]).astype(np.float32)
    return {"obs": obs, "next_obs": next_obs, "actions": actions, "rewards": rewards,
            "dones": np.zeros(len(rewards), np.float32)}


class DemoReplayBuffer(ReplayBuffer):
    """SB3's replay buffer (the online transitions) plus `demo`, a full ReplayBuffer of the demo
    transitions that nothing overwrites; `sample` draws half of a batch from each."""

    def __init__(self, buffer_size: int, observation_space, action_space, device: Any = "auto", n_envs: int = 1,
                 optimize_memory_usage: bool = False, handle_timeout_termination: bool = True,
                 demos: dict[str, np.ndarray] | None = None) -> None:
        super().__init__(buffer_size, observation_space, action_space, device, n_envs, optimize_memory_usage,
                         handle_timeout_termination)
        if not demos or len(demos["rewards"]) == 0:
            raise ValueError("DemoReplayBuffer needs demo transitions (replay_buffer_kwargs={'demos': ...})")
        n = len(demos["rewards"])
        self.demo = ReplayBuffer(n, observation_space, action_space, device, n_envs=1, handle_timeout_termination=False)
        for i in range(n):
            self.demo.add(demos["obs"][i:i + 1], demos["next_obs"][i:i + 1], demos["actions"][i:i + 1],
                          demos["rewards"][i:i + 1], demos["dones"][i:i + 1], [{}])

    def sample(self, batch_size: int, env=None) -> ReplayBufferSamples:
        n_demo = batch_size // 2
        demo = self.demo.sample(n_demo, env)
        online = super().sample(batch_size - n_demo, env)
        return ReplayBufferSamples(*(torch.cat([a, b]) for a, b in zip(demo[:5], online[:5])))
