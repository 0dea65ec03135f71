"""`nsca eval metaworld-ml10`: the few-shot agent built from nsca.model, the suite at a tiny budget
(real Meta-World, real demos, real fine-tuning, real SB3 steps), resume, bad input, the statistics
(t CIs over seeds, paired t, Holm over the family, MDE, preliminary marks, the plan's rows) and
the demo counts up to k = 100."""

import json

import numpy as np
import pytest
import torch
from scipy import stats as sps

from nsca import stats
from nsca.cli import main
from nsca.envs.metaworld import load_or_collect_demos
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
    assert set(table["1"]) == set(M.WITH_DEMOS) and set(table["online"]) == {"sac", "ppo"}
    assert (out / "success_by_k.png").stat().st_size > 0
    csv = (out / "results.csv").read_text().splitlines()
    assert csv[0].startswith("task,demos,condition") and len(csv) == 1 + len(M.CONDITIONS)
    cell = out / "drawer-open-v3" / "1" / "nsca_prior" / "0" / "metrics.json"
    first = json.loads(cell.read_text())["metrics"]
    assert first["episodes"] == 2 and first["checkpoint_tensors_loaded"] > 0
    sac = json.loads((out / "drawer-open-v3" / "sac" / "0" / "metrics.json").read_text())["metrics"]
    assert sac["env_steps"] == 120 and sac["episodes"] == 2
    with_demos = json.loads((out / "drawer-open-v3" / "1" / "sac_demos" / "0" / "metrics.json").read_text())["metrics"]
    [demo] = load_or_collect_demos("drawer-open-v3", 0, 1)  # the cached demo the cell read
    assert with_demos["demos"] == 1 and with_demos["demo_transitions"] == demo.length and with_demos["env_steps"] == 120
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
    sac_demos = [c for c in cells if c.config["condition"] == "sac_demos"]
    assert len(fewshot) == 2 * 2 * 3 * 2 and len(online) == 2 * 2 * 2  # nsca_* need checkpoints: not run
    assert len(sac_demos) == 2 * 2 * 2 and {c.config["demos"] for c in sac_demos} == {1, 5}
    assert all(c.config["steps"] == cfg.sac_steps and "fewshot" not in c.config for c in sac_demos)
    assert set(M.not_run(cfg)) == {"nsca_prior", "nsca_noprior"}
    assert all("demos_list" not in c.config and "sac_steps" not in c.config for c in fewshot)


def test_the_plans_demo_counts_up_to_100_are_accepted():
    from nsca.cli import build_parser
    from nsca.config import resolve

    args = build_parser().parse_args(["eval", "metaworld-ml10", "--demos-list", "1", "5", "10", "25", "100"])
    cfg = resolve(M.ML10EvalConfig, args, args.config)
    cfg.validate()
    assert cfg.demos_list == (1, 5, 10, 25, 100)
    cells = M.EXPERIMENT.cells(cfg)
    assert {c.config["demos"] for c in cells if c.config["condition"] in M.WITH_DEMOS} == {1, 5, 10, 25, 100}


def test_a_demo_shortfall_is_an_error_not_fewer_demos():
    from nsca.envs.metaworld import collect_demos

    # 5 steps: the expert solves no layout, so 3 demos from 2 layouts cannot be had.
    with pytest.raises(RuntimeError, match="3 demos of drawer-open-v3 asked for, but the scripted expert solved only 0 of its 2"):
        collect_demos("drawer-open-v3", [0, 1], 3, demo_steps=5)


@pytest.mark.slow
def test_the_expert_gives_100_demos_on_every_held_out_task():
    from nsca.envs.metaworld import load_or_collect_demos

    for task in M.ML10_TEST:
        demos = load_or_collect_demos(task, 0, 100)
        assert len(demos) == 100 and all(ep.success for ep in demos)


@pytest.mark.parametrize("bad, message", [
    (["--tasks", "drawer-opne"], "unknown Meta-World task"),
    (["--demos-list", "0", "5"], "every k must be at least 1"),
    (["--conditions", "dreamer"], "unknown condition"),
    (["--demos-list", "5", "1001"], "exceeds the 1000 demo layouts"),
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


def _metrics(task: str, k: int, condition: str, rates, episodes: int = 30) -> list[dict]:
    return [{"task": task, "demos": k, "condition": condition, "seed": s, "success_rate": r, "episodes": episodes}
            for s, r in enumerate(rates)]


def test_report_formats_and_strict_json():
    cfg = M.ML10EvalConfig(tasks=("drawer-open",), demos_list=(5,), n_seeds=2, conditions=("random_init", "bc", "sac"))
    metrics = (_metrics("drawer-open-v3", 5, "random_init", (0.1, 0.2)) + _metrics("drawer-open-v3", 5, "bc", (0.3, 0.2))
               + _metrics("drawer-open-v3", 0, "sac", (0.0, 0.0)))
    r = M.summarize_ml10(cfg, metrics)
    bc = r["mean_over_tasks"]["5"]["bc"]
    assert np.isclose(bc["mean"], 0.25) and bc["ci"] == "t" and bc["n"] == 2
    lo, hi = sps.t.interval(0.95, 1, loc=0.25, scale=sps.sem([0.3, 0.2]))
    assert lo < 0 and np.allclose([bc["ci95_low"], bc["ci95_high"]], [0.0, hi])  # cut to [0, 1]: a success rate
    text = M.format_report(r)
    assert "bc 0.25 [0.00, 0.89] n=2x1x30" in text and "RL2 35.8%" in text
    assert "PRELIMINARY (n < 5 seeds)" in text and "preliminary (n < 5 seeds)" in text and r["preliminary"]
    assert "k=5: not measured (it needs nsca_prior (--checkpoint) and random_init)  | the plan's: 65% ± 8% vs 22%" in text
    assert "k=100: not measured (k = 100 is not in --demos-list)  | the plan's: 95% vs 93% random init" in text
    json.dumps(r, allow_nan=False)
    # One seed: no spread, so no CI and no test: None, never NaN, in strict JSON and the CSV.
    one = M.summarize_ml10(M.ML10EvalConfig(tasks=("drawer-open",), demos_list=(5,), n_seeds=1,
                                            conditions=("scratch_prior", "random_init")),
                           _metrics("drawer-open-v3", 5, "scratch_prior", (0.4,)) + _metrics("drawer-open-v3", 5, "random_init", (0.2,)))
    c = one["comparisons"]["scratch_prior - random_init"]["5"]
    assert c["diff_ci95_t"] == [None, None] and c["p_paired_t"] is None and c["p_holm"] is None and c["mde"] is None
    assert one["table"]["drawer-open-v3"]["5"]["scratch_prior"]["ci95_low"] is None
    json.dumps(one, allow_nan=False)
    assert "drawer-open-v3,5,scratch_prior,0.4000,,,t,1,30" in M.results_csv(one)
    assert "scratch_prior - random_init @ k=5: +0.200, paired t p -, Holm p -" in M.format_report(one)
    # Differences that do not vary (two seeds, +0.1 each): no t-test and no MDE, not p = 0 and MDE 0; Holm counts it as p = 1.
    cfg2 = M.ML10EvalConfig(tasks=("drawer-open",), demos_list=(5, 10), n_seeds=2, conditions=("scratch_prior", "random_init"))
    flat = M.summarize_ml10(cfg2, [m for k, rates in ((5, (0.6, 0.4)), (10, (0.7, 0.3))) for m in
                                   _metrics("drawer-open-v3", k, "scratch_prior", rates)
                                   + _metrics("drawer-open-v3", k, "random_init", (0.5, 0.3))])
    c5, c10 = (flat["comparisons"]["scratch_prior - random_init"][k] for k in ("5", "10"))
    assert c5["sd_diff"] == 0 and c5["p_paired_t"] is None and c5["p_holm"] is None and c5["mde"] is None
    assert flat["family_size"] == 2 and np.isclose(c10["p_holm"], min(1.0, 2 * c10["p_paired_t"]))
    assert "@ k=5: +0.100 [+0.100, +0.100], paired t p - (SD 0), Holm p -, MDE - (-)" in M.format_report(flat)


def test_paired_statistics_holm_over_the_family_mde_and_the_plans_rows():
    """Five seeds, two tasks, every condition with demos, k = 5 and 100: each number checked against scipy."""
    tasks = ("drawer-open-v3", "lever-pull-v3")
    cfg = M.ML10EvalConfig(tasks=tasks, demos_list=(5, 100), n_seeds=5, conditions=M.WITH_DEMOS,
                           checkpoint="pretrained", checkpoint_noprior="pretrained-noprior")
    rng = np.random.default_rng(0)
    rates = {(t, k, c): np.round(rng.uniform(0, 1, 5), 2) for t in tasks for k in (5, 100) for c in M.WITH_DEMOS}
    rates[(tasks[0], 5, "nsca_prior")] = rates[(tasks[0], 5, "random_init")] + 0.3  # one clear effect
    metrics = [m for (t, k, c), r in rates.items() for m in _metrics(t, k, c, r)]
    r = M.summarize_ml10(cfg, metrics)
    assert not r["preliminary"] and "preliminary" not in M.format_report(r).lower()
    mean = {(k, c): (rates[(tasks[0], k, c)] + rates[(tasks[1], k, c)]) / 2 for k in (5, 100) for c in M.WITH_DEMOS}
    b = r["mean_over_tasks"]["5"]["nsca_prior"]
    lo, hi = sps.t.interval(0.95, 4, loc=mean[(5, "nsca_prior")].mean(), scale=sps.sem(mean[(5, "nsca_prior")]))
    assert np.allclose([b["ci95_low"], b["ci95_high"]], np.clip([lo, hi], 0, 1)) and b["n"] == 5 and b["tasks"] == 2
    family = [(name, k, v) for name, comp in r["comparisons"].items() for k, v in comp.items() if k != "what"]
    assert len(family) == len(M.COMPARISONS) * 2 == r["family_size"]
    holm = stats.holm([v["p_paired_t"] for _, _, v in family])
    for (name, k, v), p_holm in zip(family, holm):
        a, b_ = name.split(" - ")
        d = mean[(int(k), a)] - mean[(int(k), b_)]
        assert np.allclose(v["per_seed_diff"], d) and v["n"] == 5 and v["seeds"] == [0, 1, 2, 3, 4]
        assert np.isclose(v["p_paired_t"], sps.ttest_rel(mean[(int(k), a)], mean[(int(k), b_)]).pvalue)
        assert np.allclose(v["diff_ci95_t"], sps.t.interval(0.95, 4, loc=d.mean(), scale=sps.sem(d)))
        assert np.isclose(v["p_holm"], p_holm) and v["p_holm"] >= v["p_paired_t"]
        assert np.isclose(v["mde"], stats.minimum_detectable_effect(d))
        assert v["mde_family"] > v["mde"] and np.isclose(v["sd_diff"], d.std(ddof=1))
    rows = r["plan_rows"]
    assert rows["5"]["nsca_prior"]["n"] == 5 and rows["100"]["random_init"]["n"] == 5
    assert rows["5"]["paired"] is r["comparisons"]["nsca_prior - random_init"]["5"]
    text = M.format_report(r)
    assert "k=5: measured nsca_prior" in text and "| the plan's: 65% ± 8% vs 22% random init" in text
    assert "k=100: measured nsca_prior" in text and "| the plan's: 95% vs 93% random init" in text
    assert "Holm p over the family of 12" in text
    json.dumps(r, allow_nan=False)


def test_report_reads_an_ml10_run(tmp_path):
    import dataclasses

    from nsca.reporting.phases import PHASES

    ml10 = next(p for p in PHASES if p.name == "ml10")
    cfg = M.ML10EvalConfig(tasks=("drawer-open",), demos_list=(5,), n_seeds=2, conditions=("random_init", "bc"))
    metrics = _metrics("drawer-open-v3", 5, "random_init", (0.5, 0.5)) + _metrics("drawer-open-v3", 5, "bc", (0.5, 0.5))
    r = {**M.summarize_ml10(cfg, metrics), "config": dataclasses.asdict(cfg)}
    (tmp_path / "results.json").write_text(json.dumps(r))
    [sec] = ml10.build(tmp_path)
    assert sec.status == "done" and any("bc 0.50" in str(b) for b in sec.blocks)
    (tmp_path / "results.json").write_text(json.dumps({"config": {}}))
    assert ml10.build(tmp_path)[0].status == "unreadable"
