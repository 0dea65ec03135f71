"""A `nsca train` run folder as its readers see it: config.json in the one layout, and one-line
errors (exit 2) for corrupt or foreign files, the layout older runs wrote and physics constants
of another version included, from --resume, --ewc-from and `nsca eval`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nsca.cli import main
from nsca.config import from_dict
from nsca.errors import UsageError
from nsca.evaluation import physion_ocp as P
from nsca.model import trained
from nsca.priors.innate import PhysicsConstants
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


def _copy_run(run: Path, to: Path) -> Path:
    """A copy of a run folder's config.json, model.pt and last checkpoint (enough to resume or read)."""
    (to / "checkpoints").mkdir(parents=True)
    for name in ("config.json", "model.pt", "checkpoints/last.pt"):
        (to / name).write_bytes((run / name).read_bytes())
    return to


def _to_old_layout(run: Path, constants: bool = True) -> str:
    """Rewrite config.json as `nsca train` wrote it before issue 13: {train, model, physics_constants}
    (the first layout had no physics constants). Returns the text written."""
    saved = json.loads((run / "config.json").read_text())
    old = {"train": saved["config"], "model": saved["model"],
           **({"physics_constants": saved["physics_constants"]} if constants else {})}
    (run / "config.json").write_text(json.dumps(old))
    return (run / "config.json").read_text()


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
    assert got.physics_constants == PhysicsConstants(**{k: tuple(v) if isinstance(v, list) else v
                                                        for k, v in saved["physics_constants"].items()})


def test_eval_loads_the_vision_path_from_the_run_or_a_checkpoint_file_under_its_constants(run: Path,
                                                                                        tmp_path: Path) -> None:
    weights = torch.load(run / "model.pt", weights_only=True)
    frames = np.random.default_rng(0).integers(0, 255, size=(2, 5, 64, 64, 3), dtype=np.uint8)
    loaded = P.load_nsca(run)
    for k, v in loaded.state_dict().items():
        if k.startswith(P.VISION_PATH):
            assert torch.equal(v, weights[k]), k
    other = _copy_run(run, tmp_path / "other")
    saved = json.loads((other / "config.json").read_text())
    saved["physics_constants"]["dt_s"] = 0.06  # as on babbling data: the model is rebuilt with the run's constants
    (other / "config.json").write_text(json.dumps(saved))
    from_file = P.load_nsca(other / "checkpoints" / "last.pt")  # a checkpoint file: its run is the folder above
    assert from_file.world_model.physics.constants.dt_s == 0.06 != loaded.world_model.physics.constants.dt_s
    assert np.allclose(P.nsca_features(from_file, frames), P.nsca_features(loaded, frames))


def test_resume_takes_the_saved_config_as_its_base(tmp_path: Path) -> None:
    first = _train(tmp_path / "a", max_steps=2)
    # --resume: the saved config is the base, so its max_steps=2 still stops the run...
    assert main(["train", *TINY_FLAGS, "--run-dir", str(tmp_path / "a"), "--resume", "--epochs", "2"]) == 0
    assert json.loads((first / "summary.json").read_text())["steps"] == 2
    # ... until a flag given now overrides it.
    assert main(["train", *TINY_FLAGS, "--run-dir", str(tmp_path / "a"), "--resume", "--epochs", "2",
                 "--max-steps", "0"]) == 0
    summary = json.loads((first / "summary.json").read_text())
    assert summary["steps"] == 2 * summary["steps_per_epoch"] > 2


def _refused_everywhere(folder: Path, tmp_path: Path, capsys, message: str) -> None:
    """--resume, --ewc-from (its run folder and its checkpoint file), `nsca eval physion` and
    load_nsca all refuse `folder` in one line (exit 2 through the CLI); nothing is written."""
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    err = _one_line_exit_2(["train", *TINY_FLAGS, "--run-dir", str(folder.parent), "--run-name", folder.name,
                            "--resume"], capsys)
    assert message in err
    for source in (folder, folder / "checkpoints" / "last.pt"):
        err = _one_line_exit_2(["train", *TINY_FLAGS, "--run-dir", str(tmp_path / "later"), "--ewc-from",
                                str(source)], capsys)
        assert err.startswith("nsca train: error: ewc_from=") and message in err
    err = _one_line_exit_2(["eval", "physion", "--checkpoint", str(folder), "--out", str(tmp_path / "o")], capsys)
    assert message in err
    with pytest.raises(UsageError, match=message.replace("`", ".")) as exc:
        P.load_nsca(folder / "checkpoints" / "last.pt")
    assert len(str(exc.value).splitlines()) == 1 and str(folder / "config.json") in str(exc.value)
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    assert not (tmp_path / "later").exists() and not (tmp_path / "o").exists()


@pytest.mark.parametrize("constants", [True, False])
def test_an_old_layout_run_is_refused_by_resume_ewc_from_and_eval(run: Path, tmp_path: Path, capsys,
                                                                  constants: bool) -> None:
    old = _copy_run(run, tmp_path / "runs" / "old")
    _to_old_layout(old, constants)
    _refused_everywhere(old, tmp_path, capsys, "is unreadable or not a `nsca train` config")


@pytest.mark.parametrize("edit", ["missing", "extra field", "field missing"])
def test_physics_constants_missing_or_of_another_version_are_refused(run: Path, tmp_path: Path, capsys,
                                                                     edit: str) -> None:
    folder = _copy_run(run, tmp_path / "runs" / "other")
    saved = json.loads((folder / "config.json").read_text())
    if edit == "missing":
        del saved["physics_constants"]
    elif edit == "extra field":
        saved["physics_constants"]["friction"] = 0.3
    else:
        del saved["physics_constants"]["gate_width"]
    (folder / "config.json").write_text(json.dumps(saved))
    message = "has no physics_constants block" if edit == "missing" else "physics_constants are not this version's"
    _refused_everywhere(folder, tmp_path, capsys, message)


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

