"""`nsca eval grounding`: jittered held-out materials (training catalogue untouched), the
multinomial readout, causal model inputs, the command end to end (deterministic, strict JSON)
and bad input (one line, exit 2)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nsca.cli import main
from nsca.envs import objects as O
from nsca.evaluation import grounding as G

# sha256 of make_catalogue(120, 0)'s objects.json content, as `nsca babble` wrote it before
# held-out jitter existed: the training catalogue (and every existing store) is unchanged.
CATALOGUE_120_0 = "a105365e5df1ec91617ec027de381a74d82b3dd0d80b68e24b63746d314f4d2c"


def _strict_json(path: Path) -> dict:
    def bad(const):
        raise AssertionError(f"non-strict JSON constant {const}")
    return json.loads(path.read_text(), parse_constant=bad)


def _write_store(root: Path, n_objects: int = 12, per_primitive: int = 2, seed: int = 0) -> Path:
    """A tiny rendered store with audio, written by `nsca babble`'s own writers: every object
    struck, lifted and shaken `per_primitive` times (random parameters)."""
    from nsca.babbling.interaction import Worker
    from nsca.babbling.run import BabbleConfig
    from nsca.babbling.shards import InteractionWriter

    cfg = BabbleConfig(steps=n_objects * 3 * per_primitive, n_objects=n_objects, render=True, audio=True, seed=seed)
    catalogue = O.make_catalogue(n_objects, seed)
    worker = Worker(catalogue, render=True, audio=True)
    results = [worker.run(s) for s in G.heldout_specs(n_objects, per_primitive, seed)]
    worker.close()
    writer = InteractionWriter(root, cfg.data_config(), 17, 6)
    writer.save_catalogue(catalogue)
    writer.write(0, results)
    return root


def _write_run(run: Path, modalities=("vision", "audio", "proprio", "state"), seed: int = 3, **model) -> Path:
    """A `nsca train` run folder (its config.json layout and model.pt) of a debug-size model."""
    from nsca.config import from_dict
    from nsca.model.nsca import NSCAModel
    from nsca.priors.innate import PhysicsConstants
    from nsca.training.config import TrainConfig
    from nsca.training.run_folder import write_config

    train_cfg = from_dict(TrainConfig, {"preset": "debug", "modalities": list(modalities)})
    cfg = train_cfg.model_config()
    torch.manual_seed(seed)
    net = NSCAModel(cfg)
    run.mkdir(parents=True)
    write_config(run, train_cfg, cfg, PhysicsConstants())
    if model:  # weights of another architecture than config.json says
        import dataclasses

        net = NSCAModel(dataclasses.replace(cfg, **model))
    torch.save(net.state_dict(), run / "model.pt")
    return run


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return _write_store(tmp_path_factory.mktemp("grounding") / "store")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return _write_run(tmp_path_factory.mktemp("grounding_run") / "run")


def test_training_catalogue_is_untouched_and_held_out_materials_are_jittered():
    digest = hashlib.sha256(json.dumps([o.to_dict() for o in O.make_catalogue(120, 0)], sort_keys=True).encode())
    assert digest.hexdigest() == CATALOGUE_120_0
    base = O.make_catalogue(60, 7)
    held = O.jitter_catalogue(base, 7)
    assert held == O.jitter_catalogue(O.make_catalogue(60, 7), 7)  # deterministic
    lo, hi = O.JITTER_LOG_RANGE
    for b, h in zip(base, held):
        assert (h.shape, h.half_extent_m, h.mass_kg, h.rgba, h.material) == (b.shape, b.half_extent_m, b.mass_kg, b.rgba, b.material)
        assert h.hardness_class == b.hardness_class and h.mass_class == b.mass_class
        for name in ("damping_per_s", "solref_timeconst_s", "friction"):
            r = abs(np.log(getattr(h.mat, name) / getattr(b.mat, name)))
            assert lo - 1e-9 <= r <= hi + 1e-9, name
        assert abs(h.mat.restitution - b.mat.restitution) >= O.JITTER_RESTITUTION_RANGE[0] - 1e-9
        assert h.mat.mode_hz == b.mat.mode_hz
        d = h.to_dict()  # what the held-out store's objects.json holds: the object's own constants
        assert d["friction"] == h.mat.friction != b.friction and d["solref"] == h.solref != b.solref
    from nsca.babbling.audio import modal_parameters

    assert not np.allclose(modal_parameters(held[0])[1], modal_parameters(base[0])[1])  # its sound decays differently


def test_multinomial_readout_separates_three_classes_and_chooses_c_by_cv():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 5))
    y = np.digitize(X[:, 1] + 0.3 * X[:, 3], [-0.5, 0.5])
    probe, cv = G.fit_probe(X[:100], y[:100], seed=0)
    assert cv and probe.C in (1e-3, 1e-2, 1e-1, 1.0, 10.0)
    assert (probe.predict(X[100:]) == y[100:]).mean() >= 0.85
    few, cv = G.fit_probe(X[:5], np.array([0, 0, 1, 1, 2]), seed=0)  # a class of one object: no CV fold for it
    assert not cv and few.C == G.FALLBACK_C


def test_model_inputs_are_the_training_transitions_and_never_see_the_future(store):
    from nsca.data.store import BabblingDataset

    eps = next(G.iter_episodes(store, ("strike", "lift", "shake"), True))
    ds = BabblingDataset(store)
    F = eps.states.shape[1]
    obs = G.model_inputs(eps.frames[:2], eps.audio[:2], eps.states[:2], 4)
    for e in range(2):
        for k in range(F - 1):  # the dataset's transition t = k: exactly what training fed the model
            item = ds[e * (F - 1) + k]
            assert torch.equal(item["frames"], obs["frames"][e * F + k])
            assert torch.equal(item["audio"], obs["audio"][e * F + k])
            assert torch.equal(item["state"], obs["state"][e * F + k])
    # Change everything after step k: the inputs of steps <= k do not move.
    k = 7
    frames, audio, states = eps.frames[:2].copy(), eps.audio[:2].copy(), eps.states[:2].copy()
    frames[:, k + 1:] = 255 - frames[:, k + 1:]
    audio[:, k + 1:] = 0.5
    states[:, k + 1:] += 1.0
    other = G.model_inputs(frames, audio, states, 4)
    steps = np.concatenate([np.arange(k + 1), F + np.arange(k + 1)])
    later = np.concatenate([np.arange(k + 1, F), F + np.arange(k + 1, F)])
    for key in ("frames", "audio", "state"):
        assert torch.equal(obs[key][steps], other[key][steps])
        assert not torch.equal(obs[key][later], other[key][later])
    assert not G.audible_steps(eps.audio[:1])[0, 0]  # frame 0 is silent


TINY = ["--held-out-objects", "6", "--per-primitive", "1"]


def test_eval_grounding_end_to_end_is_deterministic_and_strict(tmp_path, store, run):
    args = ["eval", "grounding", "--checkpoint", str(run), "--data", str(store), *TINY]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    a, b = _strict_json(tmp_path / "a" / "results.json"), _strict_json(tmp_path / "b" / "results.json")
    assert set(a["results"]) == {"nsca", "random_init", "handmade"} and "nsca_noprior" in a["not_run"]
    for source, res in a["results"].items():
        assert res == b["results"][source]  # same seed => same numbers
        for task, block in res.items():
            assert 0 <= block["ci95_low"] <= block["accuracy"] <= block["ci95_high"] <= 1
            assert block["n"] == a["counts"][task]["test_objects"] == np.sum(block["confusion"]) <= 6
    assert a["counts"]["mass"]["test_objects"] == 6  # each held-out object lifted and shaken once
    assert "hardness_audio_vision" not in a["results"]["handmade"]  # no hand-made vision features
    assert a["results"]["nsca"]["mass"]["feature_dim"] == 2 * 64  # lifts | shakes, debug latent
    assert a["results"]["handmade"]["hardness_audio"]["feature_dim"] == 15
    assert a["chance"] == pytest.approx(1 / 3) and set(a["majority_share"]) == set(G.TASKS)
    assert a["counts"]["mass"]["train_objects"] == 12 and a["counts"]["mass"]["train_interactions"] == 48
    assert a["heldout"]["interactions"] == 18 and a["heldout"]["catalogue_seed"] == 1_000_003
    # The held-out store is a babbling store of jittered objects.
    held = json.loads((tmp_path / "a" / "heldout" / "objects.json").read_text())
    assert len(held) == 6 and all("~" in o["name"] and "material_params" in o for o in held)
    assert held == json.loads((tmp_path / "b" / "heldout" / "objects.json").read_text())
    report = (tmp_path / "a" / "report.txt").read_text()
    assert "| handmade: hand-made features (babble probe) |" in report and "| chance |" in report
    assert a["files"] == ["results.json", "report.txt", "accuracy.png"]
    # A rerun into the same folder reuses the held-out shards and the finished cells.
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    again = _strict_json(tmp_path / "a" / "results.json")
    assert again["heldout"]["shards_reused"] == 1 and again["results"] == a["results"]


def test_bad_input_is_one_line_and_exit_2(tmp_path, store, run, capsys):
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "config.json").write_text((run / "config.json").read_text())
    (corrupt / "model.pt").write_bytes(b"not a torch file")
    cases = [
        ([], "--checkpoint is required"),
        (["--checkpoint", str(run), "--data", str(tmp_path / "nowhere")], "no babbling dataset at"),
        (["--checkpoint", str(tmp_path / "nowhere"), "--data", str(store)], "expected a `nsca train` run folder"),
        (["--checkpoint", str(corrupt), "--data", str(store)], "is unreadable"),
        (["--checkpoint", str(_write_run(tmp_path / "wide", latent_dim=32)), "--data", str(store)],
         "does not match its config (encoder/fusion weight"),
        (["--checkpoint", str(_write_run(tmp_path / "deaf", modalities=("vision", "proprio"))), "--data", str(store)],
         "has no audio encoder"),
        (["--checkpoint", str(run), "--data", str(store), "--models", "dpi"], "unknown model 'dpi'"),
    ]
    for extra, message in cases:
        out = tmp_path / "o"
        assert main(["eval", "grounding", *extra, "--out", str(out)]) == 2, message
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
        assert not out.exists()
