"""The lethality test end to end at a tiny budget: real Meta-World, real training, real planning."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from nsca.cli import main
from nsca.envs.metaworld import MetaWorldTask, goal, load_or_collect_demos
from nsca.experiments.lethality import verdict
from nsca.learning.agent import AgentConfig, Phase0Agent
from nsca.learning.planner import PlannerConfig

TINY = ["--task", "pick-place-v2", "--demos", "2", "--eval-episodes", "2", "--episode-steps", "12",
        "--agent.bc-steps", "30", "--agent.world-model-steps", "30", "--agent.reward-steps", "30",
        "--agent.planner.horizon", "2", "--agent.planner.samples", "8", "--workers", "1"]


def _metrics(out: Path) -> dict:
    rows = {}
    for f in sorted(out.glob("*/*/metrics.json")):
        r = json.loads(f.read_text())
        m = dict(r["metrics"])
        m.pop("timing_s")
        rows[(r["condition"], r["seed"])] = m
    return rows


def test_tiny_grid_end_to_end_and_deterministic(tmp_path, capsys):
    args = [*TINY, "--n-seeds", "1", "--priors", "0.9", "none"]
    assert main(["lethality", *args, "--out", str(tmp_path / "a")]) == 0
    printed = capsys.readouterr().out
    assert "Verdict:" in printed and "prior_0.9" in printed and "bc" in printed
    for name in ("results.json", "results.csv", "success.png", "config.yaml", "report.txt"):
        assert (tmp_path / "a" / name).stat().st_size > 0
    report = json.loads((tmp_path / "a" / "results.json").read_text())
    assert set(report["table"]) == {"prior_0.9", "none", "bc"}
    assert report["table"]["prior_0.9"]["prior_weight_final"] != pytest.approx(0.9, abs=1e-6)  # it trained
    assert report["table"]["none"]["prior_weight_final"] == 0.0
    assert main(["lethality", *args, "--out", str(tmp_path / "b")]) == 0
    assert _metrics(tmp_path / "a") == _metrics(tmp_path / "b")


@pytest.mark.parametrize(
    "bad, message",
    [
        (["--task", "pick-plaice-v2"], "did you mean pick-place-v3"),
        (["--demos", "0"], "--demos must be at least 1"),
        (["--n-seeds", "0"], "--n-seeds must be at least 1"),
        (["--priors", "0.9", "-0.5"], "positive"),
        (["--priors", "0.9", "heavy"], "not a number"),
        (["--eval-episodes", "ten"], "integer"),
        (["--agent.planner.horizon", "0"], "--agent.planner.horizon must be at least 1"),
        (["--agent.planner.temperature", "-1"], "temperature must be > 0"),
        (["--agent.objective", "vibes"], "invalid choice"),
        (["--agent.policy", "mlp"], "invalid choice"),
        (["--agent.architecture", "huge"], "--agent.architecture must be one of"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, bad, message):
    out = tmp_path / "run"
    try:
        code = main(["lethality", *TINY, *bad, "--out", str(out)])
    except SystemExit as exc:  # argparse-level errors
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_unwritable_out_is_refused(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["lethality", *TINY, "--out", str(blocker / "run")]) == 2
    assert "not writable" in capsys.readouterr().err


def test_changed_config_in_same_out_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    args = [*TINY, "--n-seeds", "1", "--priors", "none", "--no-bc-floor", "--out", str(out)]
    assert main(["lethality", *args]) == 0
    assert main(["lethality", *args, "--demos", "3"]) == 2
    assert "different config (differs in: demos)" in capsys.readouterr().err
    # Adding a seed only extends the grid: the finished cell is reused, not redone.
    stamp = (out / "none" / "0" / "metrics.json").stat().st_mtime_ns
    assert main(["lethality", *args, "--n-seeds", "2"]) == 0
    assert (out / "none" / "1" / "metrics.json").exists()
    assert (out / "none" / "0" / "metrics.json").stat().st_mtime_ns == stamp


def test_killed_run_resumes_without_redoing_finished_cells(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "nsca.cli", "lethality", *TINY, "--n-seeds", "3", "--priors", "none",
           "--no-bc-floor", "--out", str(out)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = out / "none" / "0" / "metrics.json"
    deadline = time.time() + 240
    while not first.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    assert first.exists(), "the first cell should have finished before the kill"
    finished_before = sorted(out.glob("none/*/metrics.json"))
    assert len(finished_before) < 3, "killed before the grid completed"
    stamp = first.stat().st_mtime_ns
    assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
    assert len(list(out.glob("none/*/metrics.json"))) == 3
    assert first.stat().st_mtime_ns == stamp  # finished cells were not redone


@pytest.mark.parametrize("policy", ["bc", "nsca"])
def test_changing_the_prior_changes_the_actions_taken(policy):
    from nsca.model.nsca import NSCAModel
    from nsca.priors.adaptive import AdaptivePhysicsPrior

    env = MetaWorldTask("pick-place-v3")
    demos = load_or_collect_demos("pick-place-v3", 0, 2, env=env)
    planner = PlannerConfig(horizon=3, samples=16)
    agents = {}
    for prior in (0.9, 0.1, None):
        agent = Phase0Agent(AgentConfig(prior=prior, bc_steps=100, world_model_steps=100, reward_steps=100, policy=policy,
                                        validated_temperature=False, planner=planner), seed=0)
        agent.fit(demos)
        agents[prior] = agent
    # One model stack: the world model is the NSCA model's AdaptivePhysicsPrior head.
    assert isinstance(agents[0.9].model, NSCAModel)
    assert isinstance(agents[0.9].model.world_model.physics, AdaptivePhysicsPrior)
    # Same seed: the behaviour policy is identical, only the world model differs.
    if policy == "bc":
        shared = lambda a: list(a.plain_bc.parameters())  # noqa: E731
    else:  # the NSCA policy path: encoders, fusion, policy head
        shared = lambda a: [p for n, p in a.model.named_parameters() if not n.startswith("world_model.")]  # noqa: E731
    assert len(shared(agents[0.9])) >= 6
    for a, b in zip(shared(agents[0.9]), shared(agents[0.1])):
        assert torch.equal(a, b)
    physics = lambda a: list(a.model.world_model.physics.residual.parameters())  # noqa: E731
    assert any(not torch.equal(a, b) for a, b in zip(physics(agents[0.9]), physics(agents[0.1])))
    obs, states = demos[1].obs[::5], demos[1].states[::5]
    actions = {}
    for prior, agent in agents.items():
        agent.reset(0)
        actions[prior] = np.stack([agent.act(st, goal(o)) for st, o in zip(states, obs)])
    assert np.abs(actions[0.9] - actions[0.1]).max() > 1e-3
    assert np.abs(actions[0.9] - actions[None]).max() > 1e-3


def test_verdict_rule():
    def cmp(diff, rel, lo):
        return {"diff_abs": diff, "diff_rel": rel, "diff_ci95": [lo, lo + 0.2]}

    assert verdict({"prior_0.9 vs prior_0.5": cmp(0.3, 1.0, 0.1), "prior_0.1 vs prior_0.9": cmp(-0.3, -0.5, -0.5)})["verdict"] == "validated"
    assert verdict({"prior_0.9 vs prior_0.5": cmp(0.3, 1.0, -0.1), "prior_0.1 vs prior_0.9": cmp(-0.3, -0.5, -0.5)})["verdict"] == "too_weak"
    assert verdict({"prior_0.9 vs prior_0.5": cmp(0.05, 0.1, 0.01), "prior_0.1 vs prior_0.9": cmp(0.0, 0.0, -0.1)})["verdict"] == "too_weak"
    assert verdict({"prior_0.9 vs prior_0.5": cmp(0.0, 0.0, -0.1), "prior_0.1 vs prior_0.9": cmp(0.3, 1.0, 0.1)})["verdict"] == "hurting"


def test_own_prior_learning_rate_lets_the_weight_move_further():
    demos = load_or_collect_demos("pick-place-v3", 0, 2)
    moved = {}
    for prior_lr in (1e-3, 1e-2):  # the shared lr vs rho's own (the one recipe's default)
        agent = Phase0Agent(AgentConfig(prior=0.9, bc_steps=0, reward_steps=0, world_model_steps=100,
                                        prior_lr=prior_lr, validated_temperature=False), seed=0)
        moved[prior_lr] = abs(agent.fit(demos)["prior_weight"] - 0.9)
    assert moved[1e-2] > 3 * moved[1e-3] > 0


def test_diagnostics_measure_off_demo_model_error_and_planner_departure():
    from nsca.experiments.lethality_diagnostics import diagnose

    d = diagnose("pick-place-v3", 0, 2, ["0.9", "none"], episodes=1, steps=8, train_steps=30)
    assert d["off_demo_transitions"] == 8
    c = d["conditions"]
    assert all(c[p]["hand_err_mm"] > 0 and c[p]["planner_minus_bc"] >= 0 for p in c)
    # Barely trained, the 0.9 model is mostly the calibrated innate laws: off the demos they must
    # beat the trivial "constant velocity" predictor on the hand (an untrained residual does not).
    assert c["0.9"]["hand_err_mm"] * 2 < d["const_velocity_hand_err_mm"]
    assert c["none"]["hand_err_mm"] > d["const_velocity_hand_err_mm"]


def test_pessimistic_score_penalises_disagreement():
    from nsca.learning.agent import PessimisticScore

    class Const(torch.nn.Module):
        def __init__(self, v):
            super().__init__()
            self.v = v

        def forward(self, x):
            return torch.full((x.shape[0], 1), self.v)

    x = torch.zeros(2, 3)
    agree = PessimisticScore([Const(0.5), Const(0.5)], pessimism=1.0)(x)
    disagree = PessimisticScore([Const(0.2), Const(0.8)], pessimism=1.0)(x)
    assert torch.allclose(agree, torch.full((2, 1), 0.5))
    assert (disagree < agree - 0.3).all()  # same mean, penalised by the spread


def test_reward_ensemble_changes_the_plan_but_not_the_shared_networks():
    demos = load_or_collect_demos("pick-place-v3", 0, 2)
    budget = dict(prior=0.9, bc_steps=50, world_model_steps=50, reward_steps=50, validated_temperature=False,
                  planner=PlannerConfig(horizon=2, samples=8))
    single = Phase0Agent(AgentConfig(**budget), seed=0)
    single.fit(demos)
    ensemble = Phase0Agent(AgentConfig(**budget, reward_ensemble=3), seed=0)
    ensemble.fit(demos)
    for a, b in zip(single.model.parameters(), ensemble.model.parameters()):
        assert torch.equal(a, b)
    obs, states = demos[0].obs[::6], demos[0].states[::6]
    single.reset(0)
    ensemble.reset(0)
    plans = [np.stack([agent.act(st, goal(o)) for st, o in zip(states, obs)]) for agent in (single, ensemble)]
    assert np.abs(plans[0] - plans[1]).max() > 1e-4


def test_decomposition_grid_runs_every_cell_of_the_2x2_and_pairs_them(tmp_path):
    """The 2x2 + corrective + BC at a tiny budget through the real code path (simulator model,
    Meta-World's reward on predicted states); strict JSON; paired comparisons present."""
    import json

    args = ["--task", "reach-v2", "--demos", "2", "--eval-episodes", "1", "--sim-eval-episodes", "1",
            "--episode-steps", "3", "--agent.bc-steps", "5", "--agent.world-model-steps", "5",
            "--agent.reward-steps", "5", "--agent.planner.horizon", "2", "--agent.planner.samples", "4",
            "--workers", "1", "--calibration-steps", "40",
            "--grid", "decomposition", "--priors", "0.9", "none", "--n-seeds", "2", "--out", str(tmp_path / "d")]
    assert main(["lethality", *args]) == 0
    text = (tmp_path / "d" / "results.json").read_text()
    report = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert set(report["table"]) == {"prior_0.9", "prior_0.9+true", "none", "none+true", "sim+learned", "sim+true",
                                    "corrective_0.9", "corrective_none", "bc"}
    c = report["comparisons"]["prior_0.9+true vs none+true"]
    assert c["n"] == 2 and len(c["per_seed_diff"]) == 2 and "p_wilcoxon" in c


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--grid", "curves", "--curve-agents", "bc", "telepathy"], "unknown agent or condition"),
        (["--grid", "curves", "--demos-list", "5", "0"], "--demos-list"),
        (["--demos", "1"], "needs at least 2 demos"),
        (["--grid", "curves", "--demos-list", "1", "5"], "needs at least 2 demos"),
        (["--grid", "curves", "--curve-agents", "none+oracle"], "unknown reward kind"),
        (["--grid", "curves", "--tasks", "pick-plaice"], "unknown Meta-World task"),
    ],
)
def test_bad_grid_input_is_one_line_exit_2_nothing_written(tmp_path, capsys, extra, message):
    out = tmp_path / "o"
    assert main(["lethality", *TINY, *extra, "--out", str(out)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0]
    assert not out.exists()


def test_simulator_model_is_exact_and_true_reward_matches_the_env():
    from nsca.envs.metaworld import expert_policy
    from nsca.envs.oracle import SimulatorModel, TrueReward

    env = MetaWorldTask("pick-place-v3")
    expert = expert_policy("pick-place-v3")
    sim, reward = SimulatorModel(env), TrueReward(env)
    obs = env.reset(7)
    for t in range(40):
        a = np.clip(expert.get_action(obs), -1, 1).astype(np.float32)
        sim.begin(2)
        s_sim, r_sim = sim.step(np.stack([a, a]))
        reward.begin()
        obs, r, _ = env.step(a)
        s = env.state(obs)
        assert np.allclose(s_sim[0], s, atol=1e-6) and abs(r_sim[0] - r) < 1e-5
        assert abs(reward(s[None], a[None])[0] - r) < 1e-3, t


def test_curves_grid_end_to_end_answers_per_task_and_plots(tmp_path, capsys):
    """The curves grid at a tiny budget: every (task, demos, agent, seed) cell, the per-task
    answer from paired CIs, and the data-efficiency plot."""
    args = ["--grid", "curves", "--tasks", "reach", "--demos-list", "2", "3", "--curve-agents", "bc", "none",
            "corrective_0.9", "--n-seeds", "2", "--eval-episodes", "1", "--episode-steps", "3",
            "--agent.bc-steps", "5", "--agent.world-model-steps", "5", "--agent.reward-steps", "5",
            "--agent.planner.horizon", "2", "--agent.planner.samples", "4", "--workers", "1",
            "--calibration-steps", "40", "--out", str(tmp_path / "c")]
    assert main(["lethality", *args]) == 0
    assert "Data efficiency" in capsys.readouterr().out
    report = json.loads((tmp_path / "c" / "results.json").read_text())
    assert len(report["table"]) == 6 and report["table"]["reach-v3/d3/corrective_0.9"]["n"] == 2
    rows = report["curves"]["reach-v3"]["rows"]
    assert [r["demos"] for r in rows] == [2, 3] and "corrective_0.9_vs_none" in rows[0]
    assert (tmp_path / "c" / "success.png").read_bytes()[:4] == b"\x89PNG"


def test_comparison_pairs_pair_each_prior_with_its_no_prior_counterpart():
    from nsca.experiments.lethality import comparison_pairs

    # A grid of the +true planners alone (the confirmatory run) still compares prior with no prior.
    assert comparison_pairs(["t/d5/prior_0.9+true", "t/d5/none+true"]) == [("t/d5/prior_0.9+true", "t/d5/none+true")]
    pairs = comparison_pairs(["prior_0.9", "none", "prior_0.9+true", "none+true", "corrective_0.9", "corrective_none", "bc"])
    for want in (("prior_0.9", "none"), ("prior_0.9+true", "none+true"), ("corrective_0.9", "corrective_none"),
                 ("corrective_0.9", "bc"), ("none", "bc")):
        assert want in pairs
    assert len(pairs) == len(set(pairs))
