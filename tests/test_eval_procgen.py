"""`nsca eval procgen`: the gym3 wrapper, IMPALA-CNN, PPO taking real steps, determinism,
normalised scores, resumable cells and one-line bad input."""

import json

import numpy as np
import pytest
import torch

from nsca.cli import main
from nsca.evaluation import procgen as G

procgen = pytest.importorskip("procgen", reason="procgen-mirror is an optional extra (docs/procgen.md)")

PPO_TINY = G.PPOConfig(num_envs=2, num_steps=16, epochs=1, minibatches=2)


def test_normalised_score_uses_train_procgen_constants():
    assert G.normalized_score("coinrun", 5.0) == 0.0 and G.normalized_score("coinrun", 10.0) == 1.0
    assert G.normalized_score("starpilot", 33.25) == pytest.approx(0.5)
    assert G.NORMALIZATION_EASY["caveflyer"] == (3.5, 12.0)


def test_wrapper_framestack_and_networks():
    env = G.ProcgenVec("coinrun", 2, 200, 0, seed=1)
    obs = env.reset()
    assert obs.shape == (2, 64, 64, 3) and obs.dtype == np.uint8
    stack = G.FrameStack(3, obs)
    nxt, rew, done = env.step(np.zeros(2, np.int64))
    frames = stack.push(nxt, np.array([False, True]))
    assert frames.shape == (2, 3, 64, 64, 3)
    assert np.array_equal(frames[0, -1], nxt[0]) and np.array_equal(frames[0, 0], obs[0])
    assert all(np.array_equal(frames[1, k], nxt[1]) for k in range(3))  # a new episode: k copies
    agent = G.build_agent("impala", None, "debug")
    dist, value = agent(torch.from_numpy(obs[:, None]))
    assert dist.logits.shape == (2, G.N_ACTIONS) and value.shape == (2,)
    nsca = G.build_agent("nsca_random", None, "debug")
    assert nsca.frame_stack == 4
    dist, value = nsca(torch.from_numpy(np.repeat(obs[:, None], 4, 1)))
    assert dist.logits.shape == (2, G.N_ACTIONS)


def _train(seed: int):
    torch.manual_seed(seed)
    agent = G.build_agent("impala", None, "debug")
    before = [p.detach().clone() for p in agent.parameters()]
    out = G.train_ppo(agent, G.ProcgenVec("coinrun", 2, 200, 0, seed), 64, PPO_TINY, torch.device("cpu"), seed)
    changed = any(not torch.equal(a, b) for a, b in zip(before, agent.parameters()))
    return out, changed


def test_ppo_takes_real_steps_and_is_deterministic():
    torch.set_num_threads(1)
    a, changed = _train(0)
    b, _ = _train(0)
    assert a["env_steps"] == 64 and len(a["curve"]) == 2 and changed
    strip = [{k: v for k, v in r.items() if k != "steps_per_s"} for r in a["curve"]]
    assert strip == [{k: v for k, v in r.items() if k != "steps_per_s"} for r in b["curve"]]
    assert all(np.isfinite(r["policy_loss"]) and r["entropy"] > 0 for r in a["curve"])


def test_eval_procgen_end_to_end_and_resume(tmp_path):
    args = ["eval", "procgen", "--games", "coinrun", "--encoders", "impala", "nsca_random", "nsca",
            "--steps", "32", "--ppo.num-envs", "2", "--ppo.num-steps", "16", "--ppo.minibatches", "2",
            "--ppo.epochs", "1", "--eval-episodes", "2", "--eval-max-steps", "40", "--preset", "debug",
            "--out", str(tmp_path / "out")]
    assert main(args) == 0
    rep = json.loads((tmp_path / "out" / "results.json").read_text(), parse_constant=lambda c: 1 / 0)
    assert set(rep["results"]["coinrun"]) == {"impala", "nsca_random"} and "nsca" in rep["not_run"]
    cell = json.loads((tmp_path / "out" / "cells" / "coinrun" / "impala" / "0" / "metrics.json").read_text())
    m = cell["metrics"]
    assert m["env_steps"] == 32 and m["eval_episodes"]["train"] <= 2
    if m["test_return"] is not None:
        assert m["test_normalized"] == pytest.approx(G.normalized_score("coinrun", m["test_return"]))
    assert rep["reference"]["mean_normalized_test_easy_200_levels_25M_steps"] == 0.356
    stamp = (tmp_path / "out" / "cells" / "coinrun" / "impala" / "0" / "metrics.json").stat().st_mtime_ns
    assert main(args) == 0  # finished cells are skipped
    assert (tmp_path / "out" / "cells" / "coinrun" / "impala" / "0" / "metrics.json").stat().st_mtime_ns == stamp


@pytest.mark.parametrize("bad, message", [
    (["--games", "pong"], "unknown Procgen game 'pong'"),
    (["--encoders", "resnet"], "unknown encoder 'resnet'"),
    (["--steps", "10"], "less than one rollout"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, bad, message):
    assert main(["eval", "procgen", *bad, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
