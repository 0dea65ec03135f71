"""A `nsca train` run folder as its readers see it: config.json in the one layout, the layout
older runs wrote (still read by --resume, --ewc-from and `nsca eval`), and one-line errors for
corrupt or foreign files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nsca.cli import main
from nsca.config import from_dict
from nsca.evaluation import physion_ocp as P
from nsca.model import trained
from nsca.training import loop
from nsca.training.config import TrainConfig

TINY = {"preset": "debug", "synthetic_size": 48, "batch_size": 12, "progress": False, "epochs": 1,
        "modalities": ["vision", "proprio", "state"]}
TINY_FLAGS = ["--debug", "--synthetic-size", "48", "--batch-size", "12", "--no-progress",
              "--modalities", "vision", "proprio", "state"]


def _train(run_dir: Path, **kw) -> Path:
    cfg = from_dict(TrainConfig, {**TINY, "run_dir": str(run_dir), **kw})
    loop.train(cfg)
    return loop.run_path(cfg)


def _to_old_layout(run: Path) -> None:
    """Rewrite config.json as `nsca train` wrote it before issue 13: {train, model, physics_constants}."""
    saved = json.loads((run / "config.json").read_text())
    old = {"train": saved["config"], "model": saved["model"], "physics_constants": saved["physics_constants"]}
    (run / "config.json").write_text(json.dumps(old))


def _one_line_exit_2(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return _train(tmp_path_factory.mktemp("runs"))


def test_config_json_has_the_one_layout_and_reads_back_as_the_run(run: Path) -> None:
    saved = json.loads((run / "config.json").read_text())
    assert set(saved) == {"config", "provenance", "model", "physics_constants"}
    got = trained.read_run(run)
    cfg = from_dict(TrainConfig, got.config)
    assert cfg == from_dict(TrainConfig, {**TINY, "run_dir": str(run.parent)})
    # The model as built: the config's model block with the run's modalities and prior.
    assert got.model == cfg.model_config() and got.model.modalities == ("vision", "proprio", "state")
    assert got.physics_constants is not None and got.physics_constants.dt_s > 0


def test_the_layout_older_runs_wrote_still_reads_the_same(run: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    (old / "config.json").write_text((run / "config.json").read_text())
    _to_old_layout(old)
    new, then = trained.read_run(run), trained.read_run(old)
    assert (then.config, then.model, then.physics_constants) == (new.config, new.model, new.physics_constants)
    # The first layout had no physics constants at all.
    saved = json.loads((old / "config.json").read_text())
    del saved["physics_constants"]
    (old / "config.json").write_text(json.dumps(saved))
    assert trained.read_run(old).physics_constants is None and trained.read_run(old).model == new.model


def test_eval_loads_the_vision_path_from_either_layout(run: Path, tmp_path: Path) -> None:
    trained = torch.load(run / "model.pt", weights_only=True)
    frames = np.random.default_rng(0).integers(0, 255, size=(2, 5, 64, 64, 3), dtype=np.uint8)
    loaded = P.load_nsca(run)
    for k, v in loaded.state_dict().items():
        if k.startswith(P.VISION_PATH):
            assert torch.equal(v, trained[k]), k
    old = tmp_path / "old"
    (old / "checkpoints").mkdir(parents=True)
    saved = json.loads((run / "config.json").read_text())
    saved["physics_constants"]["dt_s"] = 0.06  # as on babbling data: the model is rebuilt with the run's constants
    (old / "config.json").write_text(json.dumps(saved))
    _to_old_layout(old)
    (old / "checkpoints" / "last.pt").write_bytes((run / "checkpoints" / "last.pt").read_bytes())
    from_old = P.load_nsca(old / "checkpoints" / "last.pt")  # a checkpoint file: its run is the folder above
    assert from_old.world_model.physics.constants.dt_s == 0.06
    assert np.allclose(P.nsca_features(from_old, frames), P.nsca_features(loaded, frames))


def test_resume_and_ewc_from_read_an_old_layout_run(tmp_path: Path) -> None:
    first = _train(tmp_path / "a", max_steps=2)
    _to_old_layout(first)
    # --resume: the saved (old-layout) config is the base, so its max_steps=2 still stops the run...
    assert main(["train", *TINY_FLAGS, "--run-dir", str(tmp_path / "a"), "--resume", "--epochs", "2"]) == 0
    assert json.loads((first / "summary.json").read_text())["steps"] == 2
    # ... until a flag given now overrides it.
    assert main(["train", *TINY_FLAGS, "--run-dir", str(tmp_path / "a"), "--resume", "--epochs", "2",
                 "--max-steps", "0"]) == 0
    summary = json.loads((first / "summary.json").read_text())
    assert summary["steps"] == 2 * summary["steps_per_epoch"] > 2
    later = _train(tmp_path / "b", ewc_from=str(first), ewc_lambda=1.0, run_name="later")
    ewc = [json.loads(x).get("train/ewc") for x in (later / "metrics.jsonl").read_text().splitlines()]
    assert ewc[0] == 0.0 and any(e and e > 0 for e in ewc)  # starts at the anchor, then moves off it


@pytest.mark.parametrize("content", [b"{not json", b'{"flat": 1}'])
def test_a_corrupt_or_foreign_config_json_is_one_line_exit_2(run: Path, tmp_path: Path, capsys, content: bytes) -> None:
    bad = tmp_path / "runs" / "debug"
    bad.mkdir(parents=True)
    (bad / "config.json").write_bytes(content)
    (bad / "model.pt").write_bytes((run / "model.pt").read_bytes())
    for suite in ("physion", "procgen"):  # checked before any scene or environment is made
        err = _one_line_exit_2(["eval", suite, "--checkpoint", str(bad), "--out", str(tmp_path / "o")], capsys)
        assert "not a `nsca train` config" in err
    err = _one_line_exit_2(["train", *TINY_FLAGS, "--run-dir", str(tmp_path / "runs"), "--resume"], capsys)
    assert "not a `nsca train` config" in err
    err = _one_line_exit_2(["train", *TINY_FLAGS, "--run-dir", str(tmp_path / "x"), "--ewc-from", str(bad)], capsys)
    assert err.startswith("nsca train: error: ewc_from=") and "not a `nsca train` config" in err


def test_corrupt_or_wrong_size_weights_are_one_line_exit_2(run: Path, tmp_path: Path, capsys) -> None:
    corrupt = tmp_path / "corrupt"
    (corrupt / "checkpoints").mkdir(parents=True)
    (corrupt / "config.json").write_text((run / "config.json").read_text())
    (corrupt / "model.pt").write_bytes(b"PK\x03\x04 truncated")
    (corrupt / "checkpoints" / "last.pt").write_bytes((run / "checkpoints" / "last.pt").read_bytes()[:2000])
    err = _one_line_exit_2(["eval", "physion", "--checkpoint", str(corrupt), "--out", str(tmp_path / "o")], capsys)
    assert "model.pt is unreadable" in err
    err = _one_line_exit_2(["eval", "physion", "--checkpoint", str(corrupt / "checkpoints" / "last.pt"),
                            "--out", str(tmp_path / "o")], capsys)
    assert "last.pt is unreadable" in err
    err = _one_line_exit_2(["train", *TINY_FLAGS, "--run-dir", str(tmp_path / "x"), "--ewc-from",
                            str(corrupt / "checkpoints" / "last.pt")], capsys)
    assert "last.pt is unreadable" in err
    err = _one_line_exit_2(["train", *TINY_FLAGS, "--run-dir", str(tmp_path), "--run-name", "corrupt", "--resume"], capsys)
    assert "last.pt is unreadable" in err
    # Wrong size: the weights of a wider model under this run's config.
    wide = _train(tmp_path / "wide", model={"latent_dim": 32})
    mismatched = tmp_path / "mismatched"
    mismatched.mkdir()
    (mismatched / "config.json").write_text((run / "config.json").read_text())
    (mismatched / "model.pt").write_bytes((wide / "model.pt").read_bytes())
    err = _one_line_exit_2(["eval", "physion", "--checkpoint", str(mismatched), "--out", str(tmp_path / "o")], capsys)
    assert "does not match its config (vision-path weight" in err
    err = _one_line_exit_2(["train", *TINY_FLAGS, "--run-dir", str(tmp_path / "y"), "--ewc-from", str(wide)], capsys)
    assert "holds a different model" in err
    (wide / "checkpoints" / "last.pt").write_bytes((run / "checkpoints" / "last.pt").read_bytes())
    err = _one_line_exit_2(["train", *TINY_FLAGS, "--run-dir", str(tmp_path / "wide"), "--resume", "--model.latent-dim",
                            "32"], capsys)
    assert "does not fit this model config" in err

