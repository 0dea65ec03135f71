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
from nsca.envs.metaworld import MetaWorldTask, load_or_collect_demos
from nsca.experiments.lethality import preregistered, validation_babble, verdict
from nsca.learning.agents import AgentConfig, make_agent

TINY = ["--task", "pick-place-v2", "--demos", "2", "--eval-episodes", "2", "--episode-steps", "12",
        "--agent.bc-steps", "30", "--agent.world-model-steps", "30",
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
    args = [*TINY, "--n-seeds", "1", "--priors", "0.9", "none", "learned_w_0.9"]
    assert main(["lethality", *args, "--out", str(tmp_path / "a")]) == 0
    printed = capsys.readouterr().out
    assert "Verdict:" in printed and "prior_0.9" in printed and "bc" in printed and "departure rate" in printed
    for name in ("results.json", "results.csv", "success.png", "config.yaml", "report.txt"):
        assert (tmp_path / "a" / name).stat().st_size > 0
    report = json.loads((tmp_path / "a" / "results.json").read_text())
    assert set(report["table"]) == {"prior_0.9", "none", "learned_w_0.9", "bc"}
    assert report["table"]["prior_0.9"]["prior_weight_final"] == pytest.approx(0.9, abs=1e-6)  # held fixed
    assert report["table"]["learned_w_0.9"]["prior_weight_final"] != pytest.approx(0.9, abs=1e-6)  # it trained
    assert report["table"]["none"]["prior_weight_final"] == 0.0
    assert report["table"]["bc"]["departure_rate"] is None and report["table"]["none"]["departure_rate"] is not None
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
        (["--agent.planner.temperature", "-1"], "--agent.planner.temperature must be > 0"),
        (["--agent.cost.grasp", "-1"], "--agent.cost.grasp must be >= 0"),
        (["--agent.score", "vibes"], "invalid choice"),
        (["--agent.architecture", "huge"], "--agent.architecture must be one of"),
        (["--demos-list", "5", "0"], "--demos-list needs counts of at least 1"),
        (["--layout-base", "5"], "--layout-base must be in"),
        (["--preset", "confirm", "--n-seeds", "3"], "--n-seeds of the pre-registered confirmation must be >= 15"),
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


def test_changing_the_prior_changes_the_actions_taken():
    """The causal path with the default planner (gate, horizon, samples, cost): only the training
    budgets are tiny. The barely-trained 0.9 model is mostly the calibrated laws, so its validated
    error is small and plans pass the gate; without the prior the model is far off."""
    from nsca.experiments.lethality import calibrated_constants
    from nsca.model.nsca import NSCAModel
    from nsca.priors.adaptive import AdaptivePhysicsPrior

    env = MetaWorldTask("pick-place-v3")
    demos = load_or_collect_demos("pick-place-v3", 0, 2, env=env)
    babble = validation_babble("pick-place-v3")
    constants = calibrated_constants("pick-place-v3", 800)
    agents = {}
    for prior in (0.9, 0.1, None):
        agent = make_agent(AgentConfig(prior=prior, bc_steps=100, world_model_steps=100), seed=0, constants=constants)
        agent.fit(demos, babble=babble)
        agents[prior] = agent
    assert agents[0.9].cfg.gate and agents[0.9].planner_cfg.min_advantage > 0  # the default: gated
    # One model stack: the world model is the NSCA model's AdaptivePhysicsPrior head.
    assert isinstance(agents[0.9].model, NSCAModel)
    assert isinstance(agents[0.9].model.world_model.physics, AdaptivePhysicsPrior)
    # Same seed: the behaviour policy is identical, only the world model differs.
    for a, b in zip(agents[0.9].bc.parameters(), agents[0.1].bc.parameters()):
        assert torch.equal(a, b)
    physics = lambda a: list(a.model.world_model.physics.residual.parameters())  # noqa: E731
    assert any(not torch.equal(a, b) for a, b in zip(physics(agents[0.9]), physics(agents[0.1])))
    obs, states = demos[1].obs[:-1:4], demos[1].states[:-1:4]
    actions = {}
    for prior, agent in agents.items():
        agent.start_evaluation()
        actions[prior] = agent.act_batch(list(range(len(obs))), obs, states)
    assert agents[0.9].plan_stats["departed"] > 0
    assert np.abs(actions[0.9] - actions[0.1]).max() > 1e-3
    assert np.abs(actions[0.9] - actions[None]).max() > 1e-3


def _cmp(diff, rel, lo, p):
    return {"diff_abs": diff, "diff_rel": rel, "diff_ci95": [lo, lo + 0.2], "p_paired_t": p, "n": 15,
            "per_seed_diff": [diff + 0.01 * (i % 3 - 1) for i in range(15)]}


def test_verdict_rule():
    from nsca.stats import holm

    def judged(gate, vs_none, vs_bc, departure=(0.1, 0.1, 0.02)):
        contrasts = {"prior_0.9 vs prior_0.5": gate, "prior_0.9 vs none": vs_none, "prior_0.9 vs bc": vs_bc}
        for c, p in zip(contrasts.values(), holm([c["p_paired_t"] for c in contrasts.values()])):
            lo, hi = c["diff_ci95"]
            c.update(p_holm=p, established=p < 0.05 and (lo > 0 or hi < 0), mde=0.07)
        table = {c: {"departure_rate": d} for c, d in zip(("prior_0.9", "prior_0.5", "none"), departure)}
        return verdict(contrasts, table)

    flat = _cmp(0.0, 0.0, -0.1, 0.9)
    win = judged(_cmp(0.1, 0.3, 0.05, 0.001), _cmp(0.1, 0.3, 0.05, 0.001), flat)
    assert win["verdict"] == "validated" and "departure rate prior_0.9 10.0%" in win["verdict_text"]
    assert judged(_cmp(0.05, 0.1, 0.01, 0.001), flat, flat)["verdict"] == "too_weak"  # established, but < 20%
    assert judged(_cmp(0.1, 0.3, 0.05, 0.04), flat, flat)["verdict"] == "too_weak"  # Holm: 0.04 x 3 > 0.05
    assert judged(_cmp(-0.1, -0.3, -0.25, 0.001), flat, flat)["verdict"] == "hurting"
    assert judged(flat, _cmp(-0.1, -0.3, -0.25, 0.001), flat)["verdict"] == "hurting"
    # Departure rate 0: nothing was planned, so nothing is said about the prior, whatever the numbers.
    never = judged(_cmp(0.1, 0.3, 0.05, 0.001), flat, flat, departure=(0.0, 0.0, 0.0))
    assert never["verdict"] == "uninformative" and "too weak" not in never["verdict_text"]
    assert never["verdict_text"].startswith("uninformative: the agent never used the model (departure rate prior_0.9 0.0%")
    for v in (win, never):
        assert "MDE" in v["verdict_text"] and "Holm p" in v["verdict_text"]


def test_preregistered_contrasts_are_holm_adjusted_with_their_paired_cis():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.5, 15)
    rates = {"prior_0.9": (base + 0.12 + rng.normal(0, 0.05, 15)).tolist(), "prior_0.5": base.tolist(),
             "none": (base + 0.11 + rng.normal(0, 0.05, 15)).tolist(), "bc": (base + rng.normal(0, 0.3, 15)).tolist()}
    out = preregistered(rates)
    assert list(out) == ["prior_0.9 vs prior_0.5", "prior_0.9 vs none", "prior_0.9 vs bc"]
    gate = out["prior_0.9 vs prior_0.5"]
    assert gate["established"] and gate["p_holm"] >= gate["p_paired_t"] and 0 < gate["mde"] < gate["diff_abs"]
    lo, hi = gate["diff_rel_ci95"]
    assert 0 < lo < gate["diff_rel"] < hi
    assert not out["prior_0.9 vs none"]["established"]  # +0.01 with SD 0.07: within the noise
    assert out["prior_0.9 vs bc"]["mde"] > gate["mde"]  # noisier differences: a larger effect is needed
    json.dumps(out, allow_nan=False)


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


def test_decomposition_grid_runs_every_cell_of_the_2x2_and_pairs_them(tmp_path):
    """The 2x2 + corrective + BC at a tiny budget through the real code path (simulator model,
    Meta-World's reward on predicted states); strict JSON; paired comparisons present."""
    import json

    args = ["--task", "reach-v2", "--demos", "2", "--eval-episodes", "1", "--sim-eval-episodes", "1",
            "--episode-steps", "3", "--agent.bc-steps", "5", "--agent.world-model-steps", "5",
            "--agent.planner.horizon", "2", "--agent.planner.samples", "4",
            "--workers", "1", "--calibration-steps", "40",
            "--grid", "decomposition", "--priors", "0.9", "none", "--n-seeds", "2", "--out", str(tmp_path / "d")]
    assert main(["lethality", *args]) == 0
    text = (tmp_path / "d" / "results.json").read_text()
    report = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert set(report["table"]) == {"prior_0.9", "prior_0.9+true", "none", "none+true", "sim+cost", "sim+true",
                                    "corrective_0.9", "corrective_none", "bc", "bc_augmented"}
    for pair in ("prior_0.9+true vs none+true", "corrective_0.9 vs bc_augmented", "sim+cost vs bc"):
        c = report["comparisons"][pair]
        assert c["n"] == 2 and len(c["per_seed_diff"]) == 2 and "p_wilcoxon" in c


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--grid", "curves", "--curve-agents", "bc", "telepathy"], "unknown agent or condition"),
        (["--grid", "curves", "--demos-list", "5", "0"], "--demos-list"),
        (["--grid", "curves", "--curve-agents", "none+oracle"], "unknown score"),
        (["--priors", "0.9", "learned_w_none"], "no weight to learn"),
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
            "--agent.bc-steps", "5", "--agent.world-model-steps", "5",
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

    # A grid of the +true planners alone still compares prior with no prior.
    assert comparison_pairs(["t/d5/prior_0.9+true", "t/d5/none+true"]) == [("t/d5/prior_0.9+true", "t/d5/none+true")]
    pairs = comparison_pairs(["prior_0.9", "none", "prior_0.9+true", "none+true", "corrective_0.9", "corrective_none",
                              "bc", "bc_augmented", "learned_w_0.9"])
    for want in (("prior_0.9", "none"), ("prior_0.9+true", "none+true"), ("corrective_0.9", "corrective_none"),
                 ("corrective_0.9", "bc_augmented"), ("corrective_0.9", "bc"), ("none", "bc"),
                 ("learned_w_0.9", "prior_0.9"), ("prior_0.9", "bc")):
        assert want in pairs
    assert len(pairs) == len(set(pairs))


def test_screening_variants_are_the_lethality_cells_with_their_flags(tmp_path):
    """The screen trains once per (seed, prior) and re-gates per variant: each variant's episodes
    are those of a lethality cell run with that variant's flags."""
    import dataclasses

    from nsca.experiments.lethality import LethalityConfig, cell_config, run_cell
    from nsca.experiments.lethality_screen import screen

    base = {"first_seed": 900, "n_seeds": 1, "layout_base": 12_000_000, "eval_episodes": 2, "episode_steps": 12,
            "demos": 2}
    budget = {"bc_steps": 30, "world_model_steps": 30}
    out = screen("pick-place-v3", ["0.9"], [15], [0.0], ["0.2", "validated"], base=base, overrides=budget)
    rows = {t: out["variants"][f"horizon 15, grasp 0, temperature {t}"]["0.9"] for t in ("0.2", "validated")}
    for temperature, row in rows.items():
        agent = dataclasses.replace(AgentConfig(**budget), validated_temperature=temperature == "validated")
        cell = cell_config(LethalityConfig(task="pick-place-v3", **base, agent=agent), "prior_0.9", 900)
        metrics = run_cell(cell, tmp_path)
        assert metrics["success_rate"] == row["success"][0] and metrics["mean_return"] == pytest.approx(row["return"][0])
        assert metrics["planner_departure_rate"] == row["departure_rate"][0]
    assert rows["0.2"]["departure_rate"][0] > 0 and rows["0.2"]["return"] != rows["validated"]["return"]
