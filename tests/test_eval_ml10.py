"""`nsca eval metaworld-ml10`: the few-shot agent built from nsca.model, the suite at a tiny budget
(real Meta-World, real demos, real fine-tuning, real SB3 steps), resume, and bad input."""

import json

import numpy as np
import pytest
import torch

from nsca.cli import main
from nsca.errors import UsageError
from nsca.evaluation import metaworld_ml10 as M
from nsca.learning.model_agent import FewShotConfig, NSCAFewShotAgent, build_model, goal_features


def _checkpoint(tmp_path, name: str, prior: float | None, modalities=("proprio", "state")):
    """A `nsca train`-style run folder (config.json + model.pt) of the debug model."""
    from nsca.config import from_dict
    from nsca.model.nsca import NSCAModel
    from nsca.priors.innate import PhysicsConstants
    from nsca.training.config import TrainConfig
    from nsca.training.run_folder import write_config

    train_cfg = from_dict(TrainConfig, {"preset": "debug", "modalities": list(modalities),
                                        "prior": "none" if prior is None else prior})
    cfg = train_cfg.model_config()
    torch.manual_seed(7)
    model = NSCAModel(cfg)
    run = tmp_path / name
    run.mkdir()
    write_config(run, train_cfg, cfg, PhysicsConstants())
    torch.save(model.state_dict(), run / "model.pt")
    return run, model


def test_agent_is_the_nsca_model_and_loads_the_checkpoint(tmp_path):
    run, trained = _checkpoint(tmp_path, "prior", 0.9, modalities=("vision", "proprio", "state"))
    model, loaded = build_model(run, 0.9, FewShotConfig())
    assert set(model.encoders) == {"proprio", "state", "goal"}  # no frames in the few-shot loop; a goal token added
    own = trained.state_dict()
    for k in ("encoders.state.net.0.weight", "fusion.summary", "world_model.physics.rho", "policy_head.net.0.weight"):
        assert torch.equal(model.state_dict()[k], own[k])
    assert loaded > 0 and not any(k.startswith("encoders.goal.") for k in own)
    fresh, n = build_model(None, None, FewShotConfig())
    assert n == 0 and fresh.world_model.physics.rho is None


def test_fine_tuning_fits_the_demo_actions():
    torch.manual_seed(0)
    n = 64
    state = torch.randn(n, 21)
    goal = torch.randn(n, 3)
    action = torch.tanh(state[:, :4] + goal[:, :1])
    d = {"state": state, "next_state": state + 0.01 * torch.randn(n, 21), "action": action, "goal": goal}
    model, _ = build_model(None, 0.9, FewShotConfig())
    agent = NSCAFewShotAgent(model, FewShotConfig(steps=300, input_noise=0.0), seed=0)
    before = float((torch.as_tensor(agent.act_batch(state.numpy(), goal.numpy())) - action).pow(2).mean())
    info = agent.fit(d)
    after = float((torch.as_tensor(agent.act_batch(state.numpy(), goal.numpy())) - action).pow(2).mean())
    assert after < 0.5 * before and info["world_model_loss"] is not None and 0 < info["prior_weight"]
    assert goal_features(state, goal).shape == (n, 9)


def _tiny(out, *extra):
    return ["eval", "metaworld-ml10", "--out", str(out), "--tasks", "drawer-open", "--demos-list", "1", "--seeds", "1",
            "--eval-episodes", "2", "--episode-steps", "15", "--fewshot.steps", "10", "--bc-steps", "10",
            "--sac-steps", "120", "--ppo-steps", "64", *extra]


def test_suite_end_to_end_resume_and_determinism(tmp_path):
    run, _ = _checkpoint(tmp_path, "prior", 0.9)
    run_none, _ = _checkpoint(tmp_path, "noprior", None)
    out = tmp_path / "ml10"
    args = _tiny(out, "--checkpoint", str(run), "--checkpoint-noprior", str(run_none))
    assert main(args) == 0
    res = json.loads((out / "results.json").read_text())
    table = res["table"]["drawer-open-v3"]
    assert set(table["1"]) == set(M.FEWSHOT) and set(table["online"]) == {"sac", "ppo"}
    assert (out / "success_by_k.png").stat().st_size > 0
    csv = (out / "results.csv").read_text().splitlines()
    assert csv[0].startswith("task,demos,condition") and len(csv) == 1 + len(M.CONDITIONS)
    cell = out / "drawer-open-v3" / "1" / "nsca_prior" / "0" / "metrics.json"
    first = json.loads(cell.read_text())["metrics"]
    assert first["episodes"] == 2 and first["checkpoint_tensors_loaded"] > 0
    sac = json.loads((out / "drawer-open-v3" / "sac" / "0" / "metrics.json").read_text())["metrics"]
    assert sac["env_steps"] == 120 and sac["episodes"] == 2
    # Resume: nothing reruns (the cell file is untouched); same config + seed => same numbers in a fresh folder.
    mtime = cell.stat().st_mtime_ns
    assert main(args) == 0 and cell.stat().st_mtime_ns == mtime
    out2 = tmp_path / "again"
    assert main(_tiny(out2, "--checkpoint", str(run), "--conditions", "nsca_prior", "bc")) == 0
    again = json.loads((out2 / "drawer-open-v3" / "1" / "nsca_prior" / "0" / "metrics.json").read_text())["metrics"]
    assert {k: v for k, v in again.items() if not k.endswith("_s")} == {k: v for k, v in first.items()
                                                                         if not k.endswith("_s")}


def test_cells_and_not_run(tmp_path):
    cfg = M.ML10EvalConfig(out=str(tmp_path), tasks=("drawer-open", "lever-pull"), demos_list=(1, 5), n_seeds=2)
    cells = M.EXPERIMENT.cells(cfg)
    fewshot = [c for c in cells if c.config["condition"] in M.FEWSHOT]
    online = [c for c in cells if c.config["condition"] in M.ONLINE]
    assert len(fewshot) == 2 * 2 * 3 * 2 and len(online) == 2 * 2 * 2  # nsca_* need checkpoints: not run
    assert set(M.not_run(cfg)) == {"nsca_prior", "nsca_noprior"}
    assert all("demos_list" not in c.config and "sac_steps" not in c.config for c in fewshot)


@pytest.mark.parametrize("bad, message", [
    (["--tasks", "drawer-opne"], "unknown Meta-World task"),
    (["--demos-list", "0", "5"], "every k must be at least 1"),
    (["--conditions", "dreamer"], "unknown condition"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, bad, message):
    assert main(["eval", "metaworld-ml10", "--out", str(tmp_path / "x"), "--conditions", "bc", *bad]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "x").exists()


def test_bad_checkpoints_are_one_line_and_nothing_is_written(tmp_path):
    out = tmp_path / "x"
    corrupt, _ = _checkpoint(tmp_path, "corrupt", 0.9)
    (corrupt / "model.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UsageError, match="unreadable"):
        M.run_ml10_eval(M.ML10EvalConfig(out=str(out), checkpoint=str(corrupt)))
    other, _ = _checkpoint(tmp_path, "other", 0.9)
    sd = torch.load(other / "model.pt")
    sd["encoders.state.net.0.weight"] = torch.zeros(64, 13)  # another state layout
    torch.save(sd, other / "model.pt")
    with pytest.raises(UsageError, match="does not match its config"):
        M.run_ml10_eval(M.ML10EvalConfig(out=str(out), checkpoint=str(other)))
    novision, _ = _checkpoint(tmp_path, "novis", 0.9, modalities=("vision", "proprio"))
    with pytest.raises(UsageError, match="no state encoder"):
        M.run_ml10_eval(M.ML10EvalConfig(out=str(out), checkpoint=str(novision)))
    assert not out.exists()


def test_report_formats_and_strict_json():
    cfg = M.ML10EvalConfig(tasks=("drawer-open",), demos_list=(5,), n_seeds=2, conditions=("random_init", "bc", "sac"))
    metrics = [{"task": "drawer-open-v3", "demos": 5, "condition": c, "seed": s, "success_rate": r}
               for c, rs in (("random_init", (0.1, 0.2)), ("bc", (0.3, 0.2))) for s, r in enumerate(rs)]
    metrics += [{"task": "drawer-open-v3", "demos": 0, "condition": "sac", "seed": s, "success_rate": 0.0} for s in (0, 1)]
    r = M.summarize_ml10(cfg, metrics)
    assert np.isclose(r["mean_over_tasks"]["5"]["bc"]["mean"], 0.25)
    text = M.format_report(r)
    assert "bc 0.25" in text and "RL2 35.8%" in text
    json.dumps(r, allow_nan=False)


def test_report_reads_an_ml10_run(tmp_path):
    import dataclasses

    from nsca.reporting.phases import PHASES

    ml10 = next(p for p in PHASES if p.name == "ml10")
    cfg = M.ML10EvalConfig(tasks=("drawer-open",), demos_list=(5,), n_seeds=2, conditions=("random_init", "bc"))
    metrics = [{"task": "drawer-open-v3", "demos": 5, "condition": c, "seed": s, "success_rate": 0.5}
               for c in ("random_init", "bc") for s in (0, 1)]
    r = {**M.summarize_ml10(cfg, metrics), "config": dataclasses.asdict(cfg)}
    (tmp_path / "results.json").write_text(json.dumps(r))
    [sec] = ml10.build(tmp_path)
    assert sec.status == "done" and any("bc 0.50" in str(b) for b in sec.blocks)
    (tmp_path / "results.json").write_text(json.dumps({"config": {}}))
    assert ml10.build(tmp_path)[0].status == "unreadable"
