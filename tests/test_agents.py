"""The phase-0 agents: one interface, one BC shared by every kind, w held fixed, errors that name fields."""

import dataclasses

import numpy as np
import pytest
import torch

from nsca.config import flag_name
from nsca.envs.metaworld import load_or_collect_demos
from nsca.errors import ConfigError
from nsca.experiments.lethality import LethalityConfig, cell_config
from nsca.learning.agents import AgentConfig, agent_fields, make_agent
from nsca.learning.agents.base import demo_arrays, displaced_states
from nsca.learning.planner import PlannerConfig

BUDGET = dict(bc_steps=30, world_model_steps=30, planner=PlannerConfig(horizon=3, samples=8))


@pytest.fixture(scope="module")
def demos():
    return load_or_collect_demos("pick-place-v3", 0, 2)


def test_every_kind_fits_and_acts_on_a_batch_with_the_same_bc(demos):
    obs = np.stack([demos[0].obs[0], demos[1].obs[3], demos[0].obs[9]])
    states = np.stack([demos[0].states[0], demos[1].states[3], demos[0].states[9]])
    agents = {}
    for kind in ("bc", "planner", "corrective"):
        agent = make_agent(AgentConfig(kind=kind, gate=False, **BUDGET), seed=3)
        info = agent.fit(demos)
        assert info["bc_loss"] > 0 and info["demo_transitions"] == sum(ep.length for ep in demos)
        agent.start_evaluation()
        actions = agent.act_batch([0, 1, 2], obs, states)
        assert actions.shape == (3, 4) and np.all(np.abs(actions) <= 1)
        agents[kind] = agent
    # Same seed: the planner plans around exactly the BC agent's policy.
    for a, b in zip(agents["bc"].bc.parameters(), agents["planner"].bc.parameters()):
        assert torch.equal(a, b)
    # The corrective agent's BC is trained on other data, so it differs.
    assert any(not torch.equal(a, b) for a, b in zip(agents["bc"].bc.parameters(), agents["corrective"].bc.parameters()))


def test_the_prior_weight_is_held_fixed_unless_it_is_learned(demos):
    held = make_agent(AgentConfig(prior=0.5, gate=False, **BUDGET), seed=0)
    assert held.fit(demos)["prior_weight"] == pytest.approx(0.5, abs=1e-6)
    learned = make_agent(AgentConfig(prior=0.5, learn_prior=True, gate=False, **BUDGET), seed=0)
    info = learned.fit(demos)
    assert info["prior_learned"] and abs(info["prior_weight"] - 0.5) > 1e-3


def test_augmented_bc_sees_the_corrective_agents_states_with_demo_labels(demos):
    """The corrective agent's floor: the same displaced states; only the labels differ."""
    cfg = AgentConfig(kind="bc", augment=True, **BUDGET)
    d = demo_arrays(demos)
    moved = displaced_states(d, cfg, seed=1)
    again = displaced_states(d, dataclasses.replace(cfg, kind="corrective"), seed=1)
    assert torch.equal(moved["state"], again["state"]) and moved["state"].shape[0] == 4 * d["state"].shape[0]
    shift = (moved["state"] - d["state"].repeat(4, 1))
    assert shift[:, 3:].abs().max() == 0 and 0 < shift[:, :3].std() < 0.01  # the hand (and its set-point) only
    info = make_agent(cfg, seed=1).fit(demos)
    assert info["training_transitions"] == 5 * d["state"].shape[0]
    corrective = make_agent(dataclasses.replace(cfg, kind="corrective"), seed=1).fit(demos)
    assert corrective["corrections"] == 4 * d["state"].shape[0] and corrective["correction_residual_mm"] > 0


def test_oracle_is_a_property_and_cells_hold_only_what_their_agent_reads():
    assert AgentConfig(model="sim").is_oracle and AgentConfig(score="true").is_oracle
    assert not AgentConfig().is_oracle and not AgentConfig(kind="bc", model="sim").is_oracle
    with pytest.raises(ValueError, match="oracle"):
        make_agent(AgentConfig(model="sim"), seed=0)
    bc = agent_fields(AgentConfig(kind="bc", prior=None))
    assert set(bc) == {"kind", "prior", "hidden", "lr", "batch_size", "bc_steps", "bc_input_noise"}
    assert "corrections" in agent_fields(AgentConfig(kind="bc", augment=True))
    planner = agent_fields(AgentConfig())
    assert {"planner", "cost", "gate", "world_model_steps"} <= set(planner) and "corrections" not in planner
    assert "learn_prior" not in planner and "learn_prior" in agent_fields(AgentConfig(learn_prior=True))
    sim = agent_fields(AgentConfig(model="sim", score="true"))
    assert not {"world_model_steps", "architecture", "cost", "gate"} & set(sim)
    # A cell of the default grid: the BC floor does not depend on a planner setting.
    changed = LethalityConfig(agent=AgentConfig(planner=PlannerConfig(horizon=7)))
    assert cell_config(changed, "bc", 0) == cell_config(LethalityConfig(), "bc", 0)
    assert cell_config(changed, "prior_0.9", 0) != cell_config(LethalityConfig(), "prior_0.9", 0)


def test_config_errors_name_fields_and_the_cli_names_flags():
    with pytest.raises(ConfigError) as err:
        AgentConfig(planner=PlannerConfig(horizon=0)).validate()
    assert str(err.value) == "planner.horizon must be at least 1, got 0" and "--" not in str(err.value)
    with pytest.raises(ConfigError, match="^cost.grasp must be >= 0"):
        AgentConfig(cost=dataclasses.replace(AgentConfig().cost, grasp=-1)).validate()
    assert flag_name(LethalityConfig, "agent.planner.horizon") == "--agent.planner.horizon"
    assert flag_name(LethalityConfig, "agent.bc_input_noise") == "--agent.bc-input-noise"
    assert flag_name(LethalityConfig, "n_seeds") == "--n-seeds"
    assert flag_name(LethalityConfig, "agent.no_such_field") == "agent.no_such_field"


def test_a_kept_bc_fit_is_the_refit_to_the_bit_and_only_for_the_same_inputs(demos, monkeypatch):
    """Conditions of a seed share one BC fit per worker process (`fit_bc` keeps it): a kept fit
    must equal a fresh fit exactly, and other data, fields or seeds must not hit it."""
    from nsca.learning.agents import base

    cfg = AgentConfig(**BUDGET)
    d = demo_arrays(demos)
    x = base.features(d["state"], d["goal"])
    base._BC_FITS.clear()
    fresh, loss = base.fit_bc(x, d["action"], cfg, seed=5)
    fits = []
    monkeypatch.setattr(base, "train_regressor", lambda *a, **k: fits.append(1) or [0.0])
    kept, kept_loss = base.fit_bc(x, d["action"], cfg, seed=5)
    assert not fits and kept_loss == loss and kept is not fresh
    for (name, a), b in zip(fresh.state_dict().items(), kept.state_dict().values()):
        assert torch.equal(a, b), name
    base.fit_bc(x, d["action"], cfg, seed=6)
    base.fit_bc(x[1:], d["action"][1:], cfg, seed=5)
    base.fit_bc(x, d["action"], dataclasses.replace(cfg, bc_input_noise=0.0), seed=5)
    assert len(fits) == 3
    with torch.no_grad():  # a kept fit handed out is a copy: changing it changes no later fit
        next(kept.parameters()).add_(1.0)
    again, _ = base.fit_bc(x, d["action"], cfg, seed=5)
    assert torch.equal(next(again.parameters()), next(fresh.parameters()))
