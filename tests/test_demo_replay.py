"""`sac_demos`: SB3's SAC with the k demos in its replay buffer, RLPD-style, on real Meta-World at a
tiny budget (300 env steps): the demos' rewards are Meta-World's, the buffer holds the demo
transitions when learning starts and keeps them, batches are half demo, the cell runs end to end
and the same config + seed gives the same numbers."""

import numpy as np
import pytest
from stable_baselines3.common.callbacks import BaseCallback

from nsca.envs.metaworld import load_or_collect_demos
from nsca.evaluation import metaworld_ml10 as M
from nsca.learning.demo_replay import DemoReplayBuffer, demo_transitions

TASK = "drawer-open-v3"
STEPS = 300


@pytest.fixture(scope="module")
def demos():
    return load_or_collect_demos(TASK, 0, 2)


def test_demo_rewards_are_metaworlds_own(demos):
    from nsca.envs.metaworld_batch import MetaWorldBatch

    ep = demos[0]
    batch = MetaWorldBatch(TASK, 1, reference=True)  # Meta-World's own env.step, not the batched stepper
    try:
        batch.reset(0, ep.layout_seed)
        rewards = [batch.step(a[None], rewards=True)[2][0] for a in ep.actions]
    finally:
        batch.close()
    np.testing.assert_allclose(ep.rewards, rewards, rtol=1e-5, atol=1e-5)
    d = demo_transitions(demos)
    n = sum(e.length for e in demos)
    assert d["obs"].shape == d["next_obs"].shape == (n, 39) and d["actions"].shape == (n, 4)
    np.testing.assert_array_equal(d["next_obs"][: ep.length - 1], d["obs"][1: ep.length])
    assert not d["dones"].any()  # a demo cut at its success is truncated, not terminated


class _Probe(BaseCallback):
    """Copies what the replay buffer holds when learning starts."""

    def _on_training_start(self) -> None:
        rb = self.model.replay_buffer
        self.at_start = {"demo_size": rb.demo.size(), "online_size": rb.size(),
                         "demo_obs": rb.demo.observations[:, 0].copy(), "demo_rewards": rb.demo.rewards[:, 0].copy()}

    def _on_step(self) -> bool:
        return True


def test_the_buffer_holds_the_demos_from_the_start_and_batches_are_half_demo(demos):
    from nsca.envs.metaworld_gym import MetaWorldVecEnv

    d = demo_transitions(demos)
    env = MetaWorldVecEnv(TASK, 0, 50)
    model = M.sb3_model("sac", env, 0, STEPS, demos)
    probe = _Probe()
    model.learn(total_timesteps=STEPS, callback=probe)
    env.close()
    rb = model.replay_buffer
    assert isinstance(rb, DemoReplayBuffer)
    assert probe.at_start["demo_size"] == len(d["rewards"]) and probe.at_start["online_size"] == 0
    np.testing.assert_array_equal(probe.at_start["demo_obs"], d["obs"])
    np.testing.assert_array_equal(probe.at_start["demo_rewards"], d["rewards"])
    # Learning added online transitions and left the demos where they were.
    assert rb.size() == STEPS and rb.demo.size() == len(d["rewards"])
    np.testing.assert_array_equal(rb.demo.observations[:, 0], d["obs"])
    batch = rb.sample(256)
    demo_rows = {r.tobytes() for r in d["obs"]}
    obs = batch.observations.numpy()
    assert all(r.tobytes() in demo_rows for r in obs[:128])
    online = {r.tobytes() for r in rb.observations[:STEPS, 0]}
    assert all(r.tobytes() in online for r in obs[128:]) and batch.rewards.shape == (256, 1)


def test_a_sac_demos_cell_runs_end_to_end_and_repeats_exactly(tmp_path):
    config = {"task": TASK, "demos": 1, "condition": "sac_demos", "seed": 0, "steps": STEPS, "eval_episodes": 2,
              "episode_steps": 50, "threads": 1}
    runs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        runs.append(M.run_cell(config, tmp_path / name))
    first, again = ({k: v for k, v in r.items() if k not in ("train_s", "steps_per_s")} for r in runs)
    [demo] = load_or_collect_demos(TASK, 0, 1)
    assert first["demo_transitions"] == demo.length and first["env_steps"] == STEPS and first["episodes"] == 2
    assert first == again
    assert (tmp_path / "a" / "episodes.jsonl").read_text() == (tmp_path / "b" / "episodes.jsonl").read_text()
