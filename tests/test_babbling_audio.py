"""Modal impact synthesis and the grounding probe (hardness heard, mass felt) on held-out objects."""

from __future__ import annotations

import numpy as np

from nsca.babbling import audio as A
from nsca.babbling.interaction import Worker
from nsca.babbling.probe import evaluate, probe_specs
from nsca.envs.objects import ObjectSpec, make_catalogue


def obj(material, half=0.025, mass=0.1, shape="box", oid=0):
    return ObjectSpec(oid, f"{material}_{shape}", shape, (half, half, half), mass, material, (1, 1, 1, 1))


def one_impact(dv_mps=1.0, at_step=10, steps=50):
    dv = np.zeros(steps)
    dv[at_step] = dv_mps
    return dv


def test_modes_depend_on_material_and_size():
    f_metal, d_metal, _ = A.modal_parameters(obj("metal"))
    f_rubber, d_rubber, _ = A.modal_parameters(obj("rubber"))
    f_small, _, _ = A.modal_parameters(obj("metal", half=0.015))
    assert f_metal[0] > 5 * f_rubber[0]          # stiff rings high
    assert d_rubber[0] > 5 * d_metal[0]          # soft thuds, metal rings on
    assert f_small[0] > f_metal[0]               # smaller rings higher
    assert f_metal.max() < A.SAMPLE_RATE / 2


def test_synthesis_is_silent_without_impact_and_scales_with_impulse():
    rng = np.random.default_rng(0)
    o = obj("wood")
    quiet = A.synthesize(o, np.zeros(50), 0.01, 8000, rng)
    soft = A.synthesize(o, one_impact(0.5), 0.01, 8000, np.random.default_rng(0))
    hard = A.synthesize(o, one_impact(2.0), 0.01, 8000, np.random.default_rng(0))
    assert quiet.dtype == np.float32 and quiet.shape == (8000,)
    assert np.abs(quiet).max() < 1e-3
    assert np.abs(hard).max() > 2 * np.abs(soft).max() > 0.01
    onset = int(np.argmax(np.abs(hard) > 0.01))
    assert abs(onset - 11 * 160) < 40            # the sound starts when the impact happens


def test_hardness_is_audible_in_the_features():
    feats = {}
    for m in ("foam", "rubber", "wood", "plastic", "metal", "glass"):
        wave = A.synthesize(obj(m), one_impact(1.0), 0.01, 8000, np.random.default_rng(1))
        feats[m] = A.audio_features(wave)
    centroid, decay = -3, -2  # feature positions
    assert feats["metal"][centroid] > feats["wood"][centroid] > feats["foam"][centroid]
    # ringing materials keep more energy after the first 20 ms
    assert feats["glass"][decay] < feats["rubber"][decay]


def test_grounding_probe_beats_chance_on_held_out_objects():
    train, heldout = make_catalogue(27, seed=0), make_catalogue(18, seed=99, split="heldout")
    worker_train, worker_test = Worker(train, audio=True), Worker(heldout, audio=True)
    tr = [worker_train.run(s) for s in probe_specs(train, 0)]
    te = [worker_test.run(s) for s in probe_specs(heldout, 1)]
    res = evaluate(train, tr, heldout, te)
    assert res["hardness_from_audio"]["accuracy"] > 0.6      # chance 1/3
    assert res["mass_from_lift_shake"]["accuracy"] > 0.45
