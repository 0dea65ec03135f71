"""`nsca eval procgen`: the gym3 wrapper, IMPALA-CNN, PPO taking real steps, determinism,
normalised scores, resumable cells and one-line bad input. Procgen is an optional extra: the tests
that step its games skip without it; the config, the cells and bad input are tested either way."""

import json

import numpy as np
import pytest
import torch

from nsca.cli import main
from nsca.config import from_dict
from nsca.evaluation import procgen as G

try:
    import procgen  # noqa: F401
    HAVE_PROCGEN = True
except ImportError:
    HAVE_PROCGEN = False
needs_procgen = pytest.mark.skipif(not HAVE_PROCGEN, reason="procgen-mirror is an optional extra (docs/procgen.md)")

PPO_TINY = G.PPOConfig(num_envs=2, num_steps=16, epochs=1, minibatches=2)


def test_normalised_score_uses_train_procgen_constants():
    assert G.normalized_score("coinrun", 5.0) == 0.0 and G.normalized_score("coinrun", 10.0) == 1.0
    assert G.normalized_score("starpilot", 33.25) == pytest.approx(0.5)
    assert G.NORMALIZATION_EASY["caveflyer"] == (3.5, 12.0)


@needs_procgen
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


@needs_procgen
def test_ppo_takes_real_steps_and_is_deterministic():
    torch.set_num_threads(1)
    a, changed = _train(0)
    b, _ = _train(0)
    assert a["env_steps"] == 64 and len(a["curve"]) == 2 and changed
    strip = [{k: v for k, v in r.items() if k != "steps_per_s"} for r in a["curve"]]
    assert strip == [{k: v for k, v in r.items() if k != "steps_per_s"} for r in b["curve"]]
    assert all(np.isfinite(r["policy_loss"]) and r["entropy"] > 0 for r in a["curve"])


@needs_procgen
def test_eval_procgen_end_to_end_and_resume(tmp_path):
    args = ["eval", "procgen", "--games", "coinrun", "--encoders", "impala", "nsca_random", "nsca",
            "--steps", "32", "--ppo.num-envs", "2", "--ppo.num-steps", "16", "--ppo.minibatches", "2",
            "--ppo.epochs", "1", "--eval-episodes", "2", "--eval-max-steps", "40", "--preset", "debug",
            "--out", str(tmp_path / "out")]
    assert main(args) == 0
    rep = json.loads((tmp_path / "out" / "results.json").read_text(), parse_constant=lambda c: 1 / 0)
    assert set(rep["results"]["coinrun"]) == {"impala", "nsca_random"} and "nsca" in rep["not_run"]
    cell = json.loads((tmp_path / "out" / "coinrun" / "impala" / "0" / "metrics.json").read_text())
    m = cell["metrics"]
    assert m["env_steps"] == 32 and m["eval_episodes"]["train"] <= 2
    if m["test_return"] is not None:
        assert m["test_normalized"] == pytest.approx(G.normalized_score("coinrun", m["test_return"]))
    assert rep["reference"]["mean_normalized_test_easy_200_levels_25M_steps"] == 0.356
    assert rep["experiment"] == "procgen" and rep["config"]["n_seeds"] == 1
    assert set(json.loads((tmp_path / "out" / "config.json").read_text())) >= {"config", "provenance"}
    assert all((tmp_path / "out" / f).stat().st_size > 0 for f in ("report.txt", "curves.png"))
    stamp = (tmp_path / "out" / "coinrun" / "impala" / "0" / "metrics.json").stat().st_mtime_ns
    assert main(args) == 0  # finished cells are skipped
    assert (tmp_path / "out" / "coinrun" / "impala" / "0" / "metrics.json").stat().st_mtime_ns == stamp


def test_config_takes_the_shared_run_flags_and_cells_are_game_x_encoder_x_seed(tmp_path):
    import argparse

    from nsca.config import resolve
    from nsca.experiments import protocol

    parser = argparse.ArgumentParser()
    protocol.add_arguments(parser, G.EXPERIMENT)
    args = parser.parse_args(["--seeds", "2", "--workers", "2", "--games", "coinrun", "starpilot",
                              "--encoders", "impala", "nsca", "nsca_random", "--out", str(tmp_path / "o")])
    cfg = resolve(G.ProcgenEvalConfig, args, None)
    assert (cfg.n_seeds, cfg.workers, cfg.backend) == (2, 2, "local")
    assert G.ProcgenEvalConfig().n_seeds == 1 and G.ProcgenEvalConfig().out == "runs/eval/procgen"
    cells = G.EXPERIMENT.cells(cfg)
    assert [(c.condition, c.seed) for c in cells] == [(f"{g}/{e}", s) for g in ("coinrun", "starpilot")
                                                      for e in ("impala", "nsca_random") for s in (0, 1)]
    assert G.not_run(cfg) == {"nsca": "no --checkpoint given (a `nsca train` run with a vision encoder)"}
    # A cell's config holds no run field, and gives back the suite's config and its coordinates.
    assert not set(protocol.RUN_FIELDS) & set(cells[1].config)
    suite, game, encoder, seed = G.cell_parts(cells[1].config)
    assert (game, encoder, seed) == ("coinrun", "impala", 1) and suite.steps == cfg.steps and suite.ppo == cfg.ppo
    assert G.EXPERIMENT.cell_fn == "nsca.evaluation.procgen:run_cell"


def test_report_formats_a_summary_without_running_games():
    cfg = from_dict(G.ProcgenEvalConfig, {"games": ["coinrun"], "encoders": ["impala", "nsca"], "n_seeds": 2})
    records = [{"metrics": {"game": "coinrun", "encoder": "impala", "seed": s, "train_return": r, "test_return": r - 1,
                            "train_normalized": G.normalized_score("coinrun", r),
                            "test_normalized": G.normalized_score("coinrun", r - 1), "steps_per_s": 100.0,
                            "trainable_params": 7, "curve": []}} for s, r in ((0, 8.0), (1, 9.0))]
    res = G.EXPERIMENT.summarize(cfg, records)
    assert res["results"]["coinrun"]["impala"]["test_normalized"]["mean"] == pytest.approx(0.5)
    assert res["mean_test_normalized"] == {"impala": pytest.approx(0.5)} and "nsca" in res["not_run"]
    text = "\n".join(G.EXPERIMENT.report_lines({**res, "config": {**cfg.__dict__}}))
    assert "seeds 0..1" in text and "| coinrun | impala |" in text and "nsca: not run" in text


@pytest.mark.parametrize("bad, message", [
    (["--games", "pong"], "unknown Procgen game 'pong'"),
    (["--encoders", "resnet"], "unknown encoder 'resnet'"),
    (["--steps", "10"], "less than one rollout"),
    (["--seeds", "0"], "--n-seeds must be at least 1"),
    (["--workers", "0"], "--workers must be at least 1"),
    (["--preset", "huge"], "unknown model preset 'huge'"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, bad, message):
    assert main(["eval", "procgen", *bad, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(HAVE_PROCGEN, reason="checks the message shown when procgen is missing")
def test_missing_procgen_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["eval", "procgen", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "Procgen is not installed: pip install --no-deps procgen-mirror gym3" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()
