"""RobustCuriosityReward: noise loses its reward, learnable sources keep it; naive curiosity does not."""

import math

import numpy as np
import pytest

from nsca.envs.noisy_tv import TV, NoisyTVWorld, RLSForwardModel
from nsca.learning.curiosity import NaiveCuriosityReward, RobustCuriosityReward


def _feed(source: int, visits: int, seed: int = 0):
    world = NoisyTVWorld(np.random.default_rng(seed))
    model = RLSForwardModel(world.obs_dim, world.action_dim)
    robust = RobustCuriosityReward(world.n_sources, window=5)
    naive = NaiveCuriosityReward(world.n_sources, window=5)
    errors = []
    for _ in range(visits):
        err = model.update(*world.step(source))
        robust.record(source, err)
        naive.record(source, err)
        errors.append(err)
    return robust, naive, np.asarray(errors)


def test_learning_progress_is_about_zero_on_pure_noise():
    robust, naive, errors = _feed(TV, 100)
    # The TV's error stays at the static's variance (1/3 per pixel) or above: nothing is learned.
    assert errors[-50:].mean() > 0.25
    lp, rewards, naive_rewards = [], [], []
    for err in errors[-60:]:  # slide the windows over more pure noise
        robust.record(TV, float(err))
        naive.record(TV, float(err))
        lp.append(robust.learning_progress(TV))
        rewards.append(robust.reward(TV))
        naive_rewards.append(naive.reward(TV))
    assert abs(np.mean(lp)) < 0.1 * errors.mean()
    assert np.mean(np.asarray(rewards) > 0) < 0.1  # learnability is 0 nearly always
    assert np.mean(rewards) < 0.02 * np.mean(naive_rewards)
    assert min(naive_rewards) > 0.1  # the control keeps paying for noise


def test_learnable_object_keeps_its_reward_until_mastered():
    robust, _, errors = _feed(3, 60)
    assert errors[:5].mean() > 20 * errors[-10:].mean()  # the forward model really learns it
    assert robust.learnability(3) > 0.9
    assert robust.reward(3) > 0.0


def test_unmeasured_sources_are_tried_first_and_bad_input_is_rejected():
    r = RobustCuriosityReward(3, window=4)
    for _ in range(7):
        r.record(0, 1.0)
    assert r.reward(0) == math.inf and not r.measured(0)
    r.record(0, 1.0)
    assert r.measured(0) and r.reward(0) == 0.0  # constant error: no progress, no reward
    with pytest.raises(ValueError):
        r.record(1, float("nan"))
    with pytest.raises(ValueError):
        RobustCuriosityReward(2, window=1)
