"""`nsca eval physion`: the logistic readout, the three protocols end to end on generated scenes,
determinism, strict JSON, checkpoint loading and the official-format path with a corrupt file."""

import io
import json
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from nsca.cli import main
from nsca.errors import UsageError
from nsca.evaluation import physion_ocp as P


def _strict_json(path: Path) -> dict:
    def bad(const):
        raise AssertionError(f"non-strict JSON constant {const}")
    return json.loads(path.read_text(), parse_constant=bad)


def test_readout_fits_a_separable_rule_and_chooses_regularisation_by_cv():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 6))
    y = (X[:, 2] - 0.5 * X[:, 4] > 0).astype(np.int64)
    r = P.fit_readout(X[:60], y[:60], seed=0)
    assert (r.predict(X[60:]) == y[60:]).mean() >= 0.9
    assert r.C in P.C_GRID
    noise = P.fit_readout(rng.normal(size=(60, 6)), y[:60], seed=0)  # labels unrelated to features
    assert noise.C <= r.C
    with pytest.raises(UsageError, match="one label"):
        P.fit_readout(X[:10], np.ones(10, np.int64))


TINY = ["--scenarios", "collide", "roll", "--readout-per-scenario", "4", "--test-per-scenario", "4",
        "--preset", "debug", "--models", "random_init", "physics_rollout"]


def test_eval_physion_end_to_end_is_deterministic_and_strict(tmp_path):
    scenes = tmp_path / "scenes"
    assert main(["eval", "physion", *TINY, "--data", str(scenes), "--out", str(tmp_path / "a")]) == 0
    assert main(["eval", "physion", *TINY, "--data", str(scenes), "--out", str(tmp_path / "b")]) == 0
    a, b = _strict_json(tmp_path / "a" / "results.json"), _strict_json(tmp_path / "b" / "results.json")
    assert a["counts"] == {"readout_training": 8, "test": 8, "test_contact_rate": 0.5}
    # The default is Physion's 1.5 s window, for generation (no kept contact inside it) and readout.
    assert a["observe_s"] == 1.5
    assert all(g["observe_s"] == 1.5 for g in a["source"]["generation"].values())
    for model in ("random_init", "physics_rollout"):
        for protocol in P.PROTOCOLS:
            block = a["results"][model][protocol]
            assert set(block["per_scenario"]) == {"collide", "roll"}
            mean, per = block["mean"], block["per_scenario"].values()
            # The mean pools the per-scenario test items (n-weighted), and lies inside its own CI.
            assert mean["n"] == 8 == sum(p["n"] for p in per)
            assert mean["accuracy"] == pytest.approx(sum(p["accuracy"] * p["n"] for p in per) / 8)
            assert mean["ci95_low"] <= mean["accuracy"] <= mean["ci95_high"]
            assert block == b["results"][model][protocol]  # same config + seed => same numbers
    assert a["results"]["physics_rollout"]["feature_dim"] == 4
    assert a["results"]["random_init"]["feature_dim"] == 4 * 64  # debug latent x 4 points
    assert set(a["not_run"]) == set()
    assert a["references"]["human_accuracy"]["roll"] == 0.87
    for name in ("results.csv", "report.txt", "accuracy.png"):
        assert (tmp_path / "a" / name).stat().st_size > 0
    assert "human (Physion)" in (tmp_path / "a" / "report.txt").read_text()
    # The one run-folder layout: config.json {config, provenance}, a cell per (model, seed).
    saved = _strict_json(tmp_path / "a" / "config.json")
    assert set(saved) >= {"config", "provenance"} and saved["config"]["n_seeds"] == 1
    assert (tmp_path / "a" / "random_init" / "0" / "metrics.json").is_file()
    assert a["experiment"] == "physion" and a["files"] == ["results.json", "report.txt", "results.csv", "accuracy.png"]


def test_eval_physion_refuses_another_config_and_extends_with_more_seeds(tmp_path, capsys):
    scenes, out = tmp_path / "scenes", tmp_path / "a"
    base = ["eval", "physion", "--scenarios", "collide", "--readout-per-scenario", "4", "--test-per-scenario", "4",
            "--preset", "debug", "--models", "random_init", "--data", str(scenes), "--out", str(out)]
    assert main(base) == 0
    one = _strict_json(out / "results.json")
    stamp = (out / "random_init" / "0" / "metrics.json").stat().st_mtime_ns
    capsys.readouterr()
    assert main([*base, "--test-per-scenario", "6"]) == 2
    err = capsys.readouterr().err.strip()
    assert "holds a physion run with a different config (differs in: test_per_scenario)" in err
    assert len(err.splitlines()) == 1
    assert main([*base, "--seeds", "2"]) == 0  # more readout seeds extend the run; seed 0's cell is reused
    two = _strict_json(out / "results.json")
    assert (out / "random_init" / "0" / "metrics.json").stat().st_mtime_ns == stamp
    assert (out / "random_init" / "1" / "metrics.json").is_file()
    ri = two["results"]["random_init"]
    assert {k: ri[k] for k in P.PROTOCOLS} == {k: one["results"]["random_init"][k] for k in P.PROTOCOLS}
    seeds = ri["over_seeds"]["all"]
    assert seeds["n"] == 2 and seeds["per_seed"][0] == ri["all"]["mean"]["accuracy"]


def test_trained_checkpoint_loads_its_vision_path(tmp_path):
    from nsca.config import from_dict
    from nsca.model.nsca import NSCAModel
    from nsca.priors.innate import PhysicsConstants
    from nsca.training.config import TrainConfig
    from nsca.training.run_folder import write_config

    train_cfg = from_dict(TrainConfig, {"preset": "debug", "modalities": ["vision", "proprio"]})
    cfg = train_cfg.model_config()
    torch.manual_seed(3)
    trained = NSCAModel(cfg)
    run = tmp_path / "run"
    run.mkdir()
    write_config(run, train_cfg, cfg, PhysicsConstants())  # the config.json `nsca train` writes
    torch.save(trained.state_dict(), run / "model.pt")
    loaded = P.load_nsca(run)
    for k, v in trained.state_dict().items():
        if k.startswith(P.VISION_PATH):
            assert torch.equal(loaded.state_dict()[k], v)
    frames = np.random.default_rng(0).integers(0, 255, size=(3, 5, 64, 64, 3), dtype=np.uint8)
    assert np.allclose(P.nsca_features(loaded, frames), P.nsca_features(trained, frames))
    with pytest.raises(UsageError, match="expected a `nsca train` run folder"):
        P.load_nsca(tmp_path / "nowhere")


def _official_trial(path: Path, stimulus: str, contact: bool, n_frames: int = 50) -> None:
    """One trial in the official PhysionTrain HDF5 layout (as nsca.data.physion documents it)."""
    import h5py
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(zlib.crc32(stimulus.encode()))
    with h5py.File(path, "w") as f:
        f.create_dataset("static/stimulus_name", data=stimulus.encode())
        for k in range(n_frames):
            buf = io.BytesIO()
            img = rng.integers(0, 20, size=(48, 80, 3), dtype=np.uint8)
            bright = slice(0, 40) if contact else slice(40, 80)  # a spatial cue the readout can learn
            img[:, bright] += 200
            Image.fromarray(img).save(buf, format="PNG")
            f.create_dataset(f"frames/{k:04d}/images/_img", data=np.frombuffer(buf.getvalue(), np.uint8))
            f.create_dataset(f"frames/{k:04d}/labels/target_contacting_zone", data=contact and k == n_frames - 1)


def test_official_format_path_skips_and_counts_corrupt_files(tmp_path, capsys):
    for split in ("train", "test"):
        for i in range(8):
            _official_trial(tmp_path / split / "Dominoes" / f"{i:04d}.hdf5", f"dom_{split}_{i}", contact=i % 2 == 0)
    (tmp_path / "train" / "Dominoes" / "0099.hdf5").write_bytes(b"\x89HDF\r\n truncated")
    code = main(["eval", "physion", "--official-train", str(tmp_path / "train"), "--official-test", str(tmp_path / "test"),
                 "--official-test-layout", "hdf5", "--preset", "debug", "--models", "random_init", "physics_rollout",
                 "--out", str(tmp_path / "out")])
    assert code == 0
    out = capsys.readouterr().out
    assert out.count("skipped 1 trial(s): unreadable trial file") == 1
    rep = _strict_json(tmp_path / "out" / "results.json")
    assert rep["source"]["kind"] == "official" and rep["skipped"] == {"unreadable trial file": 1}
    assert rep["counts"]["readout_training"] == 8 and rep["scenarios"] == ["dominoes"]
    assert "physics_rollout" in rep["not_run"]
    assert rep["results"]["random_init"]["only"]["mean"]["accuracy"] >= 0.75  # the colour cue is read out


@pytest.mark.parametrize("bad, message", [
    (["--scenarios", "drape"], "unknown scenario 'drape' (needs a MuJoCo flex cloth"),
    (["--models", "dpi"], "unknown model 'dpi'"),
    (["--test-per-scenario", "5"], "test_per_scenario=5 must be an even number"),
    (["--official-train", "/nowhere"], "official_train and official_test go together"),
    (["--official-train", "/nowhere", "--official-test", "/nowhere"], "no Physion folder at /nowhere"),
    (["--models", "nsca"], "no model can be read out: nsca: no --checkpoint given"),
    (["--seeds", "0"], "--n-seeds must be at least 1"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, bad, message):
    assert main(["eval", "physion", *bad, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()
