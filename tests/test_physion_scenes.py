"""Physion-style MuJoCo scenes: real simulation and rendering, balanced labels, disjoint splits,
Physion's HDF5 layout read back by the official-format loader."""

import json

import numpy as np
import pytest

from nsca.data.physion import PhysionOCP
from nsca.envs import physion_scenes as PS
from nsca.errors import UsageError


@pytest.mark.parametrize("scenario", PS.SCENARIOS)
def test_every_scenario_simulates_renders_and_is_deterministic(scenario):
    a = PS.simulate(scenario, 7, render=True)
    b = PS.simulate(scenario, 7, render=False)
    n = int(round(PS.BUILDERS[scenario](np.random.default_rng(7)).duration_s * PS.FPS))
    assert a.frames.shape == (n, 64, 64, 3) and a.frames.dtype == np.uint8
    assert np.array_equal(a.positions, b.positions) and a.label == b.label  # rendering does not touch physics
    seen = a.frames[: int(round(PS.OBSERVE_S * PS.FPS))].astype(int)
    red = (seen[..., 0] > 150) & (seen[..., 1] < 80) & (seen[..., 2] < 80)
    yellow = (seen[..., 0] > 150) & (seen[..., 1] > 130) & (seen[..., 2] < 80)
    assert red.sum() >= 2 and yellow.sum() >= 2, "the red agent and the yellow patient are in view"
    assert a.label == bool(a.frame_contact.any())
    # Something moves during the observed window: the scenes are dynamic.
    assert np.abs(seen[-1] - seen[0]).max() > 50


def _in_view(scene: PS.Scene, points: np.ndarray) -> np.ndarray:
    """Whether world points project inside the scene's fixed 64x64 camera image."""
    m, d = scene.model, scene.data
    cam = m.camera("front").id
    rel = (points - d.cam_xpos[cam]) @ d.cam_xmat[cam].reshape(3, 3)  # camera frame: looks along -z
    f = 1 / np.tan(np.deg2rad(m.cam_fovy[cam]) / 2)
    return (rel[:, 2] < 0) & (np.abs(f * rel[:, :2] / -rel[:, 2:3]) < 1).all(1)


@pytest.mark.parametrize("scenario", PS.SCENARIOS)
def test_scenes_are_physion_sized_and_framed_while_observed(scenario):
    observed = int(round(PS.OBSERVE_S * PS.FPS))
    assert PS.OBSERVE_S == 1.5  # Physion's window
    for seed in (11, 12, 13):
        spec = PS.BUILDERS[scenario](np.random.default_rng(seed))
        assert spec.duration_s >= 2 * PS.OBSERVE_S  # room for the outcome after the window
        t = PS.simulate(scenario, seed, render=False)
        # Objects of ~0.1-1 m (TDW's scale), not the 2-20 cm tabletop version.
        assert 0.1 <= t.half_extents[0].max() <= 1.0, t.half_extents
        assert t.half_extents[1].max() >= 0.1
        scene = PS.Scene(spec)
        assert _in_view(scene, t.positions[:observed].reshape(-1, 3)).all(), "agent and patient framed while observed"


def test_a_contact_label_means_the_objects_really_meet():
    seen = 0
    for seed in range(30):
        t = PS.simulate("collide", seed, render=False)
        if not t.label:
            continue
        f = int(np.argmax(t.frame_contact))
        # Over the frame interval the agent closes on the patient: the axis-aligned gap shrinks to ~0.
        gaps = [(np.abs(t.positions[k, 0] - t.positions[k, 1]) - t.half_extents.sum(0)).max() for k in (f, min(f + 1, len(t.positions) - 1))]
        assert min(gaps) < 0.05
        seen += 1
    assert seen >= 2


def test_generated_splits_are_balanced_disjoint_predictive_and_loader_readable(tmp_path):
    scen = ("collide", "support")
    s1 = PS.generate_split(tmp_path, "readout_training", 4, scen)
    PS.generate_split(tmp_path, "test", 4, scen)
    ds = PhysionOCP(tmp_path / "readout_training", layout="hdf5", num_frames=5, observed_frames=5)
    assert len(ds) == 8 and sorted(set(ds.scenarios)) == list(scen)
    for s in scen:
        assert ds.labels[np.array(ds.scenarios) == s].sum() == 2  # balanced per scenario
    item = ds[0]
    assert item["frames"].shape == (5, 3, 64, 64) and item["stimulus"].startswith(ds.scenarios[0])
    train_seeds = {p.stem for p in (tmp_path / "readout_training").rglob("*.hdf5")}
    test_seeds = {p.stem for p in (tmp_path / "test").rglob("*.hdf5")}
    assert not train_seeds & test_seeds
    # Prediction, not detection, at Physion's 1.5 s window: no kept trial shows a contact in its
    # observed frames, and every kept positive's first contact comes after them.
    assert s1["observe_s"] == PS.OBSERVE_S == 1.5
    observed = int(round(PS.OBSERVE_S * PS.FPS))
    positives = 0
    for p in (tmp_path / "readout_training").rglob("*.hdf5"):
        contact = PS._frame_contacts(p)
        assert not contact[:observed].any()
        if contact.any():
            positives += 1
            assert int(np.argmax(contact)) >= observed
            saved = json.loads((p.parent / "outcomes.json").read_text())
            assert saved["first_contact_frame"][p.stem.lstrip("0")] == int(np.argmax(contact))
    assert positives == 4
    # Resumable: a rerun simulates nothing; a smaller request leaves exactly that many files.
    again = PS.generate_split(tmp_path, "readout_training", 4, scen)
    assert again["simulated"] == 0 and s1["simulated"] > 0
    PS.generate_split(tmp_path, "readout_training", 2, ("collide",))
    assert len(list((tmp_path / "readout_training" / "collide").glob("*.hdf5"))) == 2


def test_bad_requests_are_one_line_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="unknown scenario 'drape'"):
        PS.generate_split(tmp_path, "test", 2, ("drape",))
    with pytest.raises(UsageError, match="even number"):
        PS.generate_split(tmp_path, "test", 3, ("roll",))
    with pytest.raises(UsageError, match="unknown split"):
        PS.generate_split(tmp_path, "validation", 2, ("roll",))


def test_scenes_of_another_generator_version_are_regenerated(tmp_path):
    folder = tmp_path / "test" / "collide"
    folder.mkdir(parents=True)
    base = 2_000_000 + 100_000 * (PS.SCENARIOS.index("collide") + 1)
    # An outcomes.json of the first (tabletop) version: a flat {seed: first contact frame}, and its clip.
    (folder / "outcomes.json").write_text(json.dumps({str(base + k): -1 for k in range(50)}))
    stale = folder / f"{base:07d}.hdf5"
    stale.write_bytes(b"old clip")
    stats = PS.generate_split(tmp_path, "test", 2, ("collide",))
    assert stats["simulated"] > 0  # the old outcomes were not trusted
    saved = json.loads((folder / "outcomes.json").read_text())
    assert saved["version"] == PS.SCENES_VERSION and len(saved["first_contact_frame"]) == stats["scenarios"]["collide"]["tried"]
    assert all(p.read_bytes()[:4] == b"\x89HDF" for p in folder.glob("*.hdf5"))
