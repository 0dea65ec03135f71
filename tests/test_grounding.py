"""`nsca eval grounding`: whole materials held out of babbling (checked on a store `nsca babble`
wrote), every object's constants jittered with the hardness classes kept apart, the multinomial
readout, causal model inputs, the command end to end (deterministic, strict JSON, the
supervision line, readout and training seeds) and bad input (one line, exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nsca.cli import main
from nsca.envs import objects as O
from nsca.evaluation import grounding as G


def _strict_json(path: Path) -> dict:
    def bad(const):
        raise AssertionError(f"non-strict JSON constant {const}")
    return json.loads(path.read_text(), parse_constant=bad)


def _write_store(root: Path, n_objects: int = 12, per_primitive: int = 2, seed: int = 0, split: str = "train") -> Path:
    """A tiny rendered store with audio, written by `nsca babble`'s own writers: every object
    struck, lifted and shaken `per_primitive` times (random parameters); `split`: the catalogue's
    materials (babbling's are "train")."""
    from nsca.babbling.interaction import Worker
    from nsca.babbling.run import BabbleConfig
    from nsca.babbling.shards import InteractionWriter

    cfg = BabbleConfig(steps=n_objects * 3 * per_primitive, n_objects=n_objects, render=True, audio=True, seed=seed)
    catalogue = O.make_catalogue(n_objects, seed, split)
    worker = Worker(catalogue, render=True, audio=True)
    results = [worker.run(s) for s in G.heldout_specs(n_objects, per_primitive, seed)]
    worker.close()
    writer = InteractionWriter(root, cfg.data_config(), 17, 6)
    writer.save_catalogue(catalogue)
    writer.write(0, results)
    return root


def _write_run(run: Path, modalities=("vision", "audio", "proprio", "state"), seed: int = 3, training_seed: int = 0,
               material_heads: bool = True, **model) -> Path:
    """A `nsca train` run folder (its config.json layout and model.pt) of a debug-size model."""
    from nsca.config import from_dict
    from nsca.model.nsca import NSCAModel
    from nsca.priors.innate import PhysicsConstants
    from nsca.training.config import TrainConfig
    from nsca.training.run_folder import write_config

    train_cfg = from_dict(TrainConfig, {"preset": "debug", "modalities": list(modalities), "seed": training_seed,
                                        "model": {"material_heads": material_heads}})
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


def test_whole_materials_are_held_out_by_the_documented_rule():
    assert set(O.TRAIN_MATERIALS) | set(O.HELD_OUT_MATERIALS) == set(O.MATERIALS)
    assert not set(O.TRAIN_MATERIALS) & set(O.HELD_OUT_MATERIALS)
    for h in O.HARDNESS_CLASSES:  # per class, ranked by modal frequency: odd ranks held out
        ranked = sorted((m for m in O.MATERIALS.values() if m.hardness == h), key=lambda m: m.mode_hz)
        assert [m.name in O.HELD_OUT_MATERIALS for m in ranked] == [False, True, False, True, False], h
    train, held = O.make_catalogue(60, 7), O.make_catalogue(60, 7, "heldout")
    assert train == O.make_catalogue(60, 7) and held == O.make_catalogue(60, 7, "heldout")  # deterministic
    assert {o.material for o in train} == set(O.TRAIN_MATERIALS) and {o.material for o in held} == set(O.HELD_OUT_MATERIALS)
    assert {o.hardness_class for o in held} == {0, 1, 2}
    with pytest.raises(ValueError, match="unknown material split"):
        O.make_catalogue(3, 0, "test")


def test_every_object_has_its_own_constants_and_the_hardness_classes_stay_apart():
    ranges = O.hardness_ranges()
    for f in O.CLASS_DEFINING_FIELDS:  # soft < medium < hard in each class-defining constant, no overlap
        spans = [ranges[h][f] for h in O.HARDNESS_CLASSES]
        order = sorted(spans) if f == "mode_hz" else sorted(spans, reverse=True)
        assert spans == order and all(a[1] < b[0] or b[1] < a[0] for a, b in zip(spans, spans[1:])), f
    for split in ("train", "heldout"):
        catalogue = O.make_catalogue(90, 3, split)
        for o in catalogue:
            base = O.MATERIALS[o.material]
            for f in O.JITTERED_FIELDS[:4]:
                assert abs(np.log(getattr(o.mat, f) / getattr(base, f))) <= O.JITTER_LOG + 1e-9, f
            assert abs(o.mat.restitution - base.restitution) <= O.JITTER_RESTITUTION + 1e-9
            for f in O.CLASS_DEFINING_FIELDS:  # the label is a function of the object's constants' class range
                lo, hi = ranges[o.mat.hardness][f]
                assert lo <= getattr(o.mat, f) <= hi
            assert o.hardness_class == O.HARDNESS_CLASSES.index(base.hardness)
        for m in {o.material for o in catalogue}:  # no constant is shared by the objects of a material
            objs = [o for o in catalogue if o.material == m]
            for f in O.JITTERED_FIELDS[:4]:  # (restitution may clip at 0)
                assert len({getattr(o.mat, f) for o in objs}) == len(objs), (m, f)
        d = catalogue[0].to_dict()  # what a store's objects.json holds: the object's own constants
        assert d["material_params"]["mode_hz"] == catalogue[0].mat.mode_hz != O.MATERIALS[d["material"]].mode_hz
        assert d["friction"] == catalogue[0].friction != O.MATERIALS[d["material"]].friction
    from nsca.babbling.audio import modal_parameters

    a = O.make_catalogue(60, 3)[0]  # against the same object with its base material's constants
    base = O.ObjectSpec(a.object_id, a.name, a.shape, a.half_extent_m, a.mass_kg, a.material, a.rgba)
    assert not np.allclose(modal_parameters(a)[0], modal_parameters(base)[0])  # its ring is its own
    assert not np.allclose(modal_parameters(a)[1], modal_parameters(base)[1])


def test_a_babbling_store_written_by_nsca_babble_holds_no_held_out_material(tmp_path):
    from nsca.babbling.run import BabbleConfig, run_babble
    from nsca.config import from_dict

    out = tmp_path / "bab"
    run_babble(from_dict(BabbleConfig, dict(steps=40, n_objects=12, shard_size=20, n_steps=48, record_every=6, probe=False,
                                            progress=False, workers=1, window=4, out=str(out))))
    used = G.store_materials(out)
    assert used and used <= set(O.TRAIN_MATERIALS) and not used & set(O.HELD_OUT_MATERIALS)
    assert {o["material"] for o in json.loads((out / "objects.json").read_text())} == set(O.TRAIN_MATERIALS)
    assert json.loads((out / "config.json").read_text())["catalogue"] == O.catalogue_config()


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
    assert (tmp_path / "a" / "nsca-t0" / "0" / "metrics.json").is_file() and (tmp_path / "a" / "random_init" / "0").is_dir()
    for source, res in a["results"].items():
        assert res == b["results"][source]  # same seed => same numbers
        for task, block in res.items():
            assert 0 <= block["ci95_low"] <= block["accuracy"] <= block["ci95_high"] <= 1
            assert block["n"] == a["counts"][task]["test_objects"] == np.sum(block["confusion"]) <= 6
            assert block["accuracy"] == pytest.approx(np.mean(block["hit_rate"]))
            assert [p["per_readout_seed"] for p in block["per_training_seed"]] == [[block["accuracy"]]]
    assert a["counts"]["mass"]["test_objects"] == 6  # each held-out object lifted and shaken once
    assert "hardness_audio_vision" not in a["results"]["handmade"]  # no hand-made vision features
    assert a["results"]["nsca"]["mass"]["feature_dim"] == 2 * 64  # lifts | shakes, debug latent
    assert a["results"]["handmade"]["hardness_audio"]["feature_dim"] == 15
    assert a["chance"] == pytest.approx(1 / 3) and set(a["majority_share"]) == set(G.TASKS)
    assert a["counts"]["mass"]["train_objects"] == 12 and a["counts"]["mass"]["train_interactions"] == 48
    assert a["heldout"]["interactions"] == 18 and a["heldout"]["catalogue_seed"] == 1_000_003
    # The held-out store is a babbling store of held-out materials, every object's constants its own.
    held = json.loads((tmp_path / "a" / "heldout" / "objects.json").read_text())
    assert len(held) == 6 and {o["material"] for o in held} == set(O.HELD_OUT_MATERIALS) == set(a["heldout"]["materials"])
    assert all(o["material_params"]["mode_hz"] != O.MATERIALS[o["material"]].mode_hz for o in held)
    assert held == json.loads((tmp_path / "b" / "heldout" / "objects.json").read_text())
    assert set(a["store"]["materials"]) <= set(O.TRAIN_MATERIALS)
    # The checkpoint was trained with the material/hardness heads: the first line says it is no grounding test.
    assert a["checkpoints"]["nsca"][0]["material_heads"] and a["checkpoints"]["nsca"][0]["hardness_supervised"]
    report = (tmp_path / "a" / "report.txt").read_text()
    assert report.startswith("probe of a checkpoint trained WITH hardness supervision: not a grounding test")
    assert "| handmade: hand-made features (babble probe) |" in report and "| chance |" in report
    assert a["files"] == ["results.json", "report.txt", "accuracy.png"]
    # A rerun into the same folder reuses the held-out shards and the finished cells.
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    again = _strict_json(tmp_path / "a" / "results.json")
    assert again["heldout"]["shards_reused"] == 1 and again["results"] == a["results"]


def test_readout_and_training_seeds_are_averaged_and_paired(tmp_path, store):
    """Two training seeds per arm (checkpoints without the material heads), two readout seeds
    each: the headline is the mean over both, each seed is listed, and the arms are paired by
    training seed."""
    runs = {arm: [_write_run(tmp_path / f"{arm}{t}", seed=10 * i + t, training_seed=t, material_heads=False)
                  for t in (0, 1)] for i, arm in enumerate(("prior", "noprior"))}
    out = tmp_path / "o"
    assert main(["eval", "grounding", "--checkpoint", *map(str, runs["prior"]), "--checkpoint-noprior",
                 *map(str, runs["noprior"][::-1]), "--data", str(store), "--models", "nsca", "nsca_noprior",
                 "--seeds", "2", *TINY, "--out", str(out)]) == 0
    r = _strict_json(out / "results.json")
    assert sorted(p.name for p in out.iterdir() if (p / "0").is_dir()) == ["nsca-t0", "nsca-t1", "nsca_noprior-t0", "nsca_noprior-t1"]
    for arm in ("nsca", "nsca_noprior"):
        assert [f["material_heads"] for f in r["checkpoints"][arm]] == [False, False]
        for task, block in r["results"][arm].items():
            per = block["per_training_seed"]
            assert [p["readout_seeds"] for p in per] == [[0, 1], [0, 1]] and block["cells"] == 4
            cells = [json.loads((out / f"{arm}-t{t}" / str(s) / "metrics.json").read_text())["metrics"]["result"][task]["accuracy"]
                     for t in (0, 1) for s in (0, 1)]
            assert [x for p in per for x in p["per_readout_seed"]] == cells
            assert block["accuracy"] == pytest.approx(np.mean(cells)) == pytest.approx(np.mean([p["mean"] for p in per]))
            assert block["across_training_seeds"]["n"] == 2
            assert block["across_training_seeds"]["mean"] == pytest.approx(block["accuracy"])
    assert [p["training_seed"] for p in r["results"]["nsca_noprior"]["mass"]["per_training_seed"]] == [1, 0]
    paired = r["paired_training_seeds"]
    assert paired["training_seeds"] == [0, 1] and set(paired) == {"training_seeds", *G.TASKS}
    by_seed = {arm: {p["training_seed"]: p["mean"] for p in r["results"][arm]["mass"]["per_training_seed"]}
               for arm in ("nsca", "nsca_noprior")}
    assert paired["mass"]["per_seed_diff"] == pytest.approx([by_seed["nsca"][s] - by_seed["nsca_noprior"][s] for s in (0, 1)])
    report = (out / "report.txt").read_text()
    assert report.startswith("probe of a checkpoint trained without hardness supervision")
    assert "paired over training seeds 0, 1: nsca minus nsca_noprior on mass" in report and "preliminary" in report
    assert "nsca training seed 1 (" in report and "over readout seeds 0, 1:" in report


def _old_catalogue(store: Path, root: Path) -> Path:
    """A copy of `store` whose config.json is as a store written before the material split had it."""
    import shutil

    shutil.copytree(store, root)
    config = json.loads((root / "config.json").read_text())
    del config["catalogue"]
    (root / "config.json").write_text(json.dumps(config))
    return root


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
        (["--checkpoint", str(run), "--data", str(_write_store(tmp_path / "leaky", n_objects=3, per_primitive=1,
                                                               split="heldout"))],
         "holds held-out material(s) cork, silicone, sponge: the probe would test on materials the model was trained on"),
        (["--checkpoint", str(run), "--data", str(_old_catalogue(store, tmp_path / "old"))],
         "was written with another catalogue (before the material split"),
        (["--checkpoint", str(run), str(_write_run(tmp_path / "same_seed", seed=4)), "--data", str(store)],
         "two runs of arm nsca share training seed 0"),
    ]
    for extra, message in cases:
        out = tmp_path / "o"
        assert main(["eval", "grounding", *extra, "--out", str(out)]) == 2, message
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
        assert not out.exists()


def test_the_supervision_line_names_every_supervised_run():
    def facts(ref, heads, w=0.5):
        return {"checkpoint": ref, "training_seed": 0, "material_heads": heads, "w_material": w, "w_hardness": w,
                "hardness_supervised": heads and w > 0}

    assert G.supervision_line({}).startswith("no trained checkpoint probed")
    assert G.supervision_line({"nsca": [facts("a", False)], "nsca_noprior": [facts("b", True, 0.0)]}).startswith(
        "probe of a checkpoint trained without hardness supervision")
    line = G.supervision_line({"nsca": [facts("a", False), facts("c", True)], "nsca_noprior": [facts("b", False)]})
    assert line.startswith("probe of a checkpoint trained WITH hardness supervision: not a grounding test")
    assert "nsca c" in line and "nsca a" not in line and "b" not in line.split("(", 1)[1]
