"""MPPI around BC: batched planning is the per-episode plan, and uninformative scores return BC."""

import numpy as np
import pytest
import torch

from nsca.envs.metaworld import MetaWorldTask, eval_layout_seeds, load_or_collect_demos, rollout, rollout_batch
from nsca.envs.metaworld_batch import MetaWorldBatch
from nsca.learning.agents import AgentConfig, make_agent
from nsca.learning.agents.base import FEATURE_DIM, features
from nsca.learning.bc import BCPolicy
from nsca.learning.planner import PlannerConfig, mppi_action, mppi_actions
from nsca.priors.state import STATE_DIM


def _parts(seed=0):
    torch.manual_seed(seed)
    bc = BCPolicy(FEATURE_DIM, hidden=32)
    with torch.no_grad():
        bc.net[-1].weight[3].zero_()
        bc.net[-1].bias[3] = 1.1  # a saturated gripper command
    dyn = torch.nn.Linear(STATE_DIM + 4, STATE_DIM)
    head = torch.nn.Linear(FEATURE_DIM, 1)

    def policy(s, g):
        return bc(features(s, g)), None

    def model_step(s, a, h, latent):
        return s + 0.01 * torch.tanh(dyn(torch.cat([s, a], -1))), None

    def value(s, a, g, sim_reward):
        return torch.sigmoid(head(features(s, g))).squeeze(-1)

    return policy, model_step, value


def test_batched_plans_are_bit_identical_to_planning_each_episode_alone():
    policy, model_step, value = _parts()
    states, goals = torch.randn(5, STATE_DIM), torch.randn(5, 3)
    for cfg in (PlannerConfig(), PlannerConfig(iterations=3, relative_temperature=True, temperature=0.5),
                PlannerConfig(baseline=False, average_then_clip=False)):
        alone = torch.stack([mppi_action(model_step, policy, value, states[i:i + 1], goals[i:i + 1], cfg,
                                         torch.Generator().manual_seed(100 + i)) for i in range(5)])
        batched = mppi_actions(model_step, policy, value, states, goals, cfg,
                               [torch.Generator().manual_seed(100 + i) for i in range(5)])
        assert torch.equal(alone, batched)


def test_uninformative_scores_return_bc_only_with_the_baseline_and_clip_after_averaging():
    policy, model_step, _ = _parts()
    flat = lambda s, a, g, r: torch.zeros(s.shape[0])  # noqa: E731  (every future scores the same)
    s, g = torch.randn(1, STATE_DIM), torch.randn(1, 3)
    bc = policy(s, g)[0][0]
    plan = lambda cfg: mppi_action(model_step, policy, flat, s, g, cfg, torch.Generator().manual_seed(0))  # noqa: E731
    assert torch.allclose(plan(PlannerConfig()), bc, atol=1e-6)  # BC exactly (clipped by the caller)
    no_baseline = plan(PlannerConfig(baseline=False))
    assert (no_baseline - bc).abs().max() > 1e-3  # BC plus the average of the noise
    clipped_mean = plan(PlannerConfig(baseline=False, average_then_clip=False))
    assert clipped_mean[3] < 0.97  # the +1.1 gripper command, clipped per candidate, averages below 1


def test_informative_scores_still_move_the_plan():
    policy, model_step, _ = _parts()
    s, g = torch.randn(1, STATE_DIM), torch.randn(1, 3)
    bc = policy(s, g)[0][0]
    up = lambda s_, a, g_, r: a[:, 0]  # noqa: E731  (prefers a larger first action component)
    plan = mppi_action(model_step, policy, up, s, g, PlannerConfig(temperature=0.01), torch.Generator().manual_seed(0))
    assert plan[0] > bc[0] + 0.1


def test_pool_rollouts_equal_one_episode_at_a_time():
    """Episodes stepped together on a batch of environments are the episodes run alone."""
    task = "pick-place-v3"
    env = MetaWorldTask(task)
    demos = load_or_collect_demos(task, 0, 2, env=env)
    agent = make_agent(AgentConfig(prior=0.9, bc_steps=40, world_model_steps=40, gate=False,
                                   planner=PlannerConfig(horizon=2, samples=8)), seed=0)
    agent.fit(demos)
    layouts = eval_layout_seeds(3)
    agent.start_evaluation()
    alone = []
    for i, layout in enumerate(layouts):
        act = lambda obs, i=i: agent.act_batch([i], obs[None], env.state(obs)[None])[0]  # noqa: E731
        alone.append(rollout(env, layout, act, max_steps=15))
    batch = MetaWorldBatch(task, 2)  # 2 slots for 3 episodes: a slot takes the next layout
    agent.start_evaluation()
    pooled = rollout_batch(batch, layouts, agent.act_batch, max_steps=15)
    for a, b in zip(alone, pooled):
        assert a.layout_seed == b.layout_seed
        assert np.array_equal(a.actions, b.actions) and np.array_equal(a.states, b.states)


def test_the_gate_is_the_models_validated_score_error_on_babbling():
    from nsca.priors.calibrate import self_observe

    env = MetaWorldTask("pick-place-v3")
    demos = load_or_collect_demos("pick-place-v3", 0, 3, env=env)
    babble = self_observe(env, 60, seed=1)
    budget = dict(bc_steps=30, world_model_steps=60, planner=PlannerConfig(horizon=3, discount=0.9))
    infos = {}
    for prior in (0.9, None):
        agent = make_agent(AgentConfig(prior=prior, **budget), seed=0)
        infos[prior] = info = agent.fit(demos, babble=babble)
        assert info["model_score_rmse"] > 0 and agent.planner_cfg.min_advantage == info["model_score_rmse"]
        assert agent.planner_cfg.temperature == budget["planner"].temperature  # relative to the candidates' spread
    # The prior's model predicts the hand under arbitrary actions better than a residual fitted to 3 demos.
    assert infos[0.9]["model_score_rmse"] < infos[None]["model_score_rmse"]
    validated = make_agent(AgentConfig(prior=0.9, validated_temperature=True, **budget), seed=0)
    error = validated.fit(demos, babble=babble)["model_score_rmse"]
    assert validated.planner_cfg.temperature == error == infos[0.9]["model_score_rmse"]
    assert not validated.planner_cfg.relative_temperature
    with pytest.raises(ValueError, match="self-observed transitions"):
        make_agent(AgentConfig(prior=None, **budget), seed=0).fit(demos)
    # Off: the fixed temperature and no gate.
    plain = make_agent(AgentConfig(prior=None, gate=False, **budget), seed=0)
    plain.fit(demos)
    assert plain.planner_cfg == budget["planner"]


def test_min_advantage_keeps_bc_unless_the_plan_beats_it_by_the_margin():
    policy, model_step, _ = _parts()
    s, g = torch.randn(1, STATE_DIM), torch.randn(1, 3)
    bc = policy(s, g)[0][0]
    up = lambda s_, a, g_, r: a[:, 0]  # noqa: E731  (candidates differ by up to ~1 in score)
    for margin, departs in ((10.0, False), (0.01, True), (None, True)):
        stats = {}
        plan = mppi_action(model_step, policy, up, s, g, PlannerConfig(temperature=0.01, min_advantage=margin),
                           torch.Generator().manual_seed(0), stats)
        assert stats == {"plans": 1, "departed": int(departs)}
        assert torch.allclose(plan, bc, atol=1e-6) != departs
    # A margin of 0 (the simulator: no model error) still asks for a positive gain.
    flat = lambda s_, a, g_, r: torch.zeros(s_.shape[0])  # noqa: E731
    stats = {}
    plan = mppi_action(model_step, policy, flat, s, g, PlannerConfig(min_advantage=0.0), torch.Generator().manual_seed(0), stats)
    assert stats == {"plans": 1, "departed": 0} and torch.allclose(plan, bc, atol=1e-6)
