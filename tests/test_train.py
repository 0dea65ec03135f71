"""`nsca train`: configs, the debug run end to end, checkpoints, bit-identical resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from nsca.cli import main
from nsca.config import from_dict, load_yaml
from nsca.errors import UsageError
from nsca.model import preset
from nsca.model.trained import load_checkpoint
from nsca.training import loop
from nsca.training.config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
# A smaller debug run: 96 items, 6 training batches per epoch.
TINY = ["--debug", "--synthetic-size", "96", "--batch-size", "14", "--no-progress", "--checkpoint-every", "4"]


def tiny_cfg(tmp_path: Path, **kw) -> TrainConfig:
    base = {"preset": "debug", "synthetic_size": 96, "batch_size": 14, "progress": False, "checkpoint_every": 4,
            "run_dir": str(tmp_path), **kw}
    return from_dict(TrainConfig, base)


def rows(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def _resolved(argv: list[str]) -> TrainConfig:
    from nsca.cli import build_parser
    from nsca.commands.train import resolve_config

    return resolve_config(build_parser().parse_args(["train", *argv]))


def test_config_files_load_and_debug_is_one_preset_by_flag_name_or_yaml() -> None:
    full = from_dict(TrainConfig, load_yaml(ROOT / "configs" / "training_config.yaml"))
    assert full.preset == "default" and full.data_source == "babbling" and full.model == preset("default")
    debug = _resolved(["--debug"])
    assert debug == _resolved(["--preset", "debug"]) == _resolved(["--config", str(ROOT / "configs" / "debug.yaml")])
    assert debug.preset == "debug" and debug.data_source == "synthetic" and debug.device == "cpu"
    assert debug.model == preset("debug") and debug.model != preset("default")
    assert _resolved(["--preset", "large"]).model == preset("large")
    small = _resolved(["--preset", "small"])
    assert small.model == preset("debug") and small.data_source == "babbling" and small.device == "auto"
    # A saved config from before the model was nested (preset named the model size) keeps its size.
    assert from_dict(TrainConfig, {"preset": "debug", "data_source": "babbling", "epochs": 1}).model == preset("debug")


def test_defaults_then_preset_then_yaml_then_flags(tmp_path: Path) -> None:
    conf = tmp_path / "c.yaml"
    conf.write_text(yaml.safe_dump({"epochs": 5, "lr": 0.01, "model": {"latent_dim": 128, "fusion_layers": 3}}))
    cfg = _resolved(["--preset", "debug", "--config", str(conf), "--epochs", "3", "--model.fusion-layers", "2",
                     "--model.vision-channels", "4", "8", "8", "8"])
    assert cfg.epochs == 3 and cfg.lr == 0.01 and cfg.batch_size == 16  # flag, YAML, preset
    assert cfg.model.fusion_layers == 2 and cfg.model.latent_dim == 128 and cfg.model.mlp_hidden == 64
    assert cfg.model.vision_channels == (4, 8, 8, 8) and cfg.model.fusion_ff == preset("debug").fusion_ff
    assert _resolved(["--config", str(conf)]).model.mlp_hidden == preset("default").mlp_hidden


def test_model_widths_from_the_cli_reach_the_model(tmp_path: Path) -> None:
    assert main(["train", *TINY, "--epochs", "1", "--model.latent-dim", "32", "--model.dynamics-hidden", "48",
                 "--run-dir", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "debug" / "config.json").read_text())
    assert set(saved) == {"config", "provenance", "model", "physics_constants"}  # the one run-folder layout
    assert saved["provenance"]["git_commit"] and saved["provenance"]["packages"]["torch"] == torch.__version__
    assert saved["model"]["latent_dim"] == 32 and saved["model"]["dynamics_hidden"] == 48
    assert saved["config"]["model"]["latent_dim"] == 32 and saved["config"]["epochs"] == 1
    weights = torch.load(tmp_path / "debug" / "model.pt", weights_only=True)
    assert weights["fusion.transformer.layers.0.linear1.weight"].shape == (128, 32)  # debug fusion_ff, latent 32


@pytest.mark.parametrize(
    "data, message",
    [
        ({"epohcs": 3}, "unknown config key 'epohcs'"),
        ({"preset": "huge"}, "unknown train preset 'huge'; choose from default, debug, small, large"),
        ({"model": {"latnet_dim": 64}}, "unknown config key 'model.latnet_dim'"),
        ({"model": {"latent_dim": 100}}, "latent_dim=100 must be divisible by fusion_heads=8"),
        ({"model": {"prior": 0.5}}, "model.prior is set by the top-level key prior"),
        ({"model": {"vision_channels": [8, "wide"]}}, "model.vision_channels[1] must be an integer"),
        ({"epochs": "many"}, "epochs must be an integer"),
        ({"data_fraction": 0}, "data_fraction=0.0 must be in (0, 1]"),
        ({"modalities": ["vision", "smell"]}, "modalities: unknown 'smell'"),
        ({"prior": "strong"}, "prior"),
        ({"device": "tpu"}, "device='tpu' is not allowed"),
        ({"ewc_lambda": 10.0}, "ewc_lambda > 0 needs ewc_from"),
    ],
)
def test_bad_config_is_a_one_line_error_naming_the_key(data: dict, message: str) -> None:
    with pytest.raises(UsageError) as err:
        from_dict(TrainConfig, data)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_prior_none_is_the_random_init_baseline() -> None:
    cfg = from_dict(TrainConfig, {"prior": "none"})
    assert cfg.prior_value is None and cfg.model_config().prior is None
    assert from_dict(TrainConfig, {"prior": None}).prior_value is None


def test_bad_yaml_key_through_the_cli_exits_2_with_one_line(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"epochs": 1, "batch_sise": 8}))
    assert main(["train", "--config", str(cfg), "--run-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "batch_sise" in err
    assert not list(tmp_path.glob("*/config.json"))


def test_training_without_material_heads_has_no_hardness_supervision(tmp_path: Path) -> None:
    """--no-model.material-heads: the run trains, saves and loads without the material/hardness
    head and without its losses (the synthetic data has both labels), and config.json says so."""
    from nsca.model.trained import ENCODERS_AND_FUSION, load_trained, read_run

    assert main(["train", *TINY, "--epochs", "1", "--no-model.material-heads", "--run-dir", str(tmp_path)]) == 0
    run = tmp_path / "debug"
    saved = json.loads((run / "config.json").read_text())
    assert saved["model"]["material_heads"] is False and saved["config"]["model"]["material_heads"] is False
    assert read_run(run).model.material_heads is False
    weights = torch.load(run / "model.pt", weights_only=True)
    assert weights and not any(k.startswith("material_head.") for k in weights)
    train_rows = [r for r in rows(run) if "train/total" in r]
    assert train_rows and all("train/state" in r and "train/outcome" in r for r in train_rows)
    assert not any(k.endswith(("/material", "/hardness")) for r in rows(run) for k in r)
    model = load_trained(run, ENCODERS_AND_FUSION, needs=(), reads="-", part_name="encoder/fusion")
    assert model.material_head is None and "material_logits" not in model(_batch(model))
    # The same run with the heads (the default) has them, is supervised by them, and logs it.
    assert main(["train", *TINY, "--epochs", "1", "--run-dir", str(tmp_path / "with")]) == 0
    assert json.loads((tmp_path / "with" / "debug" / "config.json").read_text())["model"]["material_heads"] is True
    assert any(k.startswith("material_head.") for k in torch.load(tmp_path / "with" / "debug" / "model.pt", weights_only=True))
    assert all("train/material" in r and "train/hardness" in r for r in rows(tmp_path / "with" / "debug") if "train/total" in r)


def _batch(model) -> dict:
    from nsca.training.data import collate
    from nsca.training.synthetic import SyntheticInteractions

    ds = SyntheticInteractions(4, seed=0, frame_stack=model.cfg.frame_stack)
    return collate([ds[i] for i in range(4)])


def test_debug_run_end_to_end_via_the_cli(tmp_path: Path, capsys) -> None:
    assert main(["train", *TINY, "--run-dir", str(tmp_path)]) == 0
    run = tmp_path / "debug"
    for name in ("config.json", "provenance.json", "metrics.jsonl", "summary.json", "loss_curve.png",
                 "model.pt", "checkpoints/last.pt"):
        assert (run / name).is_file(), name
    assert list((run / "tb").glob("events.out.tfevents.*"))
    prov = json.loads((run / "provenance.json").read_text())
    assert prov["seed"] == 0 and prov["git_commit"] and prov["packages"]["torch"] == torch.__version__
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 12 and summary["epochs"] == 2
    metrics = rows(run)
    train_rows = [r for r in metrics if "train/total" in r]
    assert [r["step"] for r in train_rows] == list(range(1, 13))
    assert all("prior_weight" in r for r in train_rows)  # logged every step
    assert sum("val/total" in r for r in metrics) == 2  # once per epoch
    assert "steps=12" in capsys.readouterr().out
    # A second run into the same folder is refused rather than overwriting it.
    assert main(["train", *TINY, "--run-dir", str(tmp_path)]) == 2


def test_checkpoint_round_trip_restores_model_optimiser_and_step(tmp_path: Path) -> None:
    cfg = tiny_cfg(tmp_path, epochs=1)
    loop.train(cfg)
    ck = load_checkpoint(tmp_path / "debug" / "checkpoints" / "last.pt")
    assert ck["step"] == 6 and ck["config"]["batch_size"] == 14
    from nsca.model import NSCAModel

    model = NSCAModel(cfg.model_config())
    model.load_state_dict(ck["model"])
    saved = torch.load(tmp_path / "debug" / "model.pt", weights_only=True)
    for k, v in model.state_dict().items():
        assert torch.equal(v, saved[k]), k
    opt = loop.make_optimizer(model, cfg)
    opt.load_state_dict(ck["optimizer"])
    assert opt.state_dict()["state"][0]["step"] == 6
    assert set(ck["rng"]) >= {"python", "numpy", "torch"}


def _final_params(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "model.pt", weights_only=True)


def test_resume_after_stop_is_bit_identical(tmp_path: Path) -> None:
    loop.train(tiny_cfg(tmp_path / "a", curiosity="robust", curiosity_window=2))
    # Stop mid-epoch at step 5 (not a multiple of anything), then resume to the end.
    loop.train(tiny_cfg(tmp_path / "b", curiosity="robust", curiosity_window=2, max_steps=5))
    assert load_checkpoint(tmp_path / "b" / "debug" / "checkpoints" / "last.pt")["step"] == 5
    loop.train(tiny_cfg(tmp_path / "b", curiosity="robust", curiosity_window=2), resume=True)
    a, b = _final_params(tmp_path / "a" / "debug"), _final_params(tmp_path / "b" / "debug")
    assert all(torch.equal(a[k], b[k]) for k in a)
    ra = [r for r in rows(tmp_path / "a" / "debug") if "train/total" in r]
    rb = [r for r in rows(tmp_path / "b" / "debug") if "train/total" in r]
    keys = ("step", "train/total", "train/state", "prior_weight")
    assert [[r[k] for k in keys] for r in ra] == [[r[k] for k in keys] for r in rb]


def test_ctrl_c_saves_a_checkpoint_and_resume_continues_identically(tmp_path: Path, monkeypatch) -> None:
    loop.train(tiny_cfg(tmp_path / "a"))
    real_lr_at = loop.lr_at

    def interrupt_at_step_7(step: int, cfg: TrainConfig) -> float:
        if step == 7:
            raise KeyboardInterrupt
        return real_lr_at(step, cfg)

    monkeypatch.setattr(loop, "lr_at", interrupt_at_step_7)
    with pytest.raises(KeyboardInterrupt):
        loop.train(tiny_cfg(tmp_path / "b"))
    monkeypatch.setattr(loop, "lr_at", real_lr_at)
    run_b = tmp_path / "b" / "debug"
    assert load_checkpoint(run_b / "checkpoints" / "last.pt")["step"] == 7
    assert not (run_b / "summary.json").exists()
    assert main(["train", *TINY, "--run-dir", str(tmp_path / "b"), "--resume"]) == 0
    a, b = _final_params(tmp_path / "a" / "debug"), _final_params(run_b)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["step"] for r in rows(run_b) if "train/total" in r] == list(range(1, 13))


def test_resume_without_a_checkpoint_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="nothing to resume"):
        loop.train(tiny_cfg(tmp_path), resume=True)


def test_wandb_missing_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    with pytest.raises(UsageError, match="pip install 'nsca\\[tracking\\]'"):
        loop.train(tiny_cfg(tmp_path, wandb_project="nsca-test"))
    assert not (tmp_path / "debug" / "config.json").exists()


def test_each_modality_switch_trains(tmp_path: Path) -> None:
    for mods in (["vision", "proprio", "state"], ["audio"], ["state"]):
        summary = loop.train(tiny_cfg(tmp_path, modalities=mods, epochs=1, run_name="+".join(mods)))
        assert summary["steps"] == 6 and summary["val/total"] > 0


def test_babbling_steps_generates_real_babbling_data_then_trains_on_it(tmp_path: Path) -> None:
    cfg = tiny_cfg(tmp_path / "runs", data_source="babbling", data_root=str(tmp_path / "data"), babbling_steps=12,
                   modalities=["proprio", "state"], epochs=1, batch_size=32)
    summary = loop.train(cfg)
    store = tmp_path / "data" / "babbling"
    assert json.loads((store / "config.json").read_text())["steps"] == 12
    run = tmp_path / "runs" / "debug"
    saved = json.loads((run / "config.json").read_text())
    # A babbling transition spans record_every (6) control steps of 10 ms: the prior must know.
    assert saved["physics_constants"]["dt_s"] == pytest.approx(0.06)
    assert saved["model"]["n_materials"] == 15 and saved["model"]["n_outcomes"] == 10  # every material is a label; babbling uses 9
    assert summary["steps"] >= 1 and summary["val_items"] > 0
    # Episodes never straddle the train/val split.
    assert summary["train_items"] % 16 == 0 and summary["val_items"] % 16 == 0
    with pytest.raises(UsageError, match="fewer than babbling_steps=24"):
        loop.train(tiny_cfg(tmp_path / "runs2", data_source="babbling", data_root=str(tmp_path / "data"),
                            babbling_steps=24, modalities=["state"]))


def test_ewc_continues_an_earlier_run_and_holds_weights_near_it(tmp_path: Path) -> None:
    loop.train(tiny_cfg(tmp_path, run_name="task-a", epochs=1))
    anchor = _final_params(tmp_path / "task-a")
    later = {"epochs": 1, "seed": 7, "lr": 1e-2, "ewc_from": str(tmp_path / "task-a")}
    drift = {}
    for lam in (0.0, 1e6):
        loop.train(tiny_cfg(tmp_path, run_name=f"b{lam}", ewc_lambda=lam, **later))
        after = _final_params(tmp_path / f"b{lam}")
        drift[lam] = sum(float((after[k] - anchor[k]).pow(2).sum()) for k in anchor if after[k].is_floating_point())
    for lam in (0.0, 1e6):
        penalties = [r["train/ewc"] for r in rows(tmp_path / f"b{lam}") if "train/ewc" in r]
        assert penalties and penalties[0] == 0.0  # both start exactly at the anchor
    assert drift[1e6] < 0.5 * drift[0.0], drift
