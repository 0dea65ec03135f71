"""The playground scene: catalogue, object-centric state, gravity/buoyancy, spawn modes (MuJoCo in the loop)."""

from __future__ import annotations

import numpy as np
import pytest

from nsca.babbling.spawn import SPAWN_MODES, spawn
from nsca.envs.objects import HARDNESS_CLASSES, MASS_CLASSES, SHAPES, TRAIN_MATERIALS, ObjectSpec, make_catalogue
from nsca.envs.playground import Playground
from nsca.priors import state as S


def box(mass_kg: float = 0.05, material: str = "wood", half=(0.025, 0.025, 0.025)) -> ObjectSpec:
    return ObjectSpec(0, "test_box", "box", half, mass_kg, material, (0.5, 0.5, 0.5, 1.0))


def test_catalogue_is_deterministic_large_and_varied():
    a, b = make_catalogue(120, seed=3), make_catalogue(120, seed=3)
    assert a == b
    assert a != make_catalogue(120, seed=4)
    assert len(a) >= 100
    assert {o.shape for o in a} == set(SHAPES)
    assert {o.material for o in a} == set(TRAIN_MATERIALS)  # babbling never sees the held-out materials
    assert {o.hardness_class for o in a} == set(range(len(HARDNESS_CLASSES)))
    assert {o.mass_class for o in a} == set(range(len(MASS_CLASSES)))
    # every object fits the gripper's 10 cm opening across y
    assert max(o.bbox_half_m()[1] for o in a) < 0.045


def test_every_catalogue_shape_compiles_and_rests_on_the_table():
    for obj in make_catalogue(16, seed=0)[:len(SHAPES)]:
        pg = Playground([obj])
        z0 = pg.rest_height(0) + 0.002
        pg.reset([0.2, 0.2, 0.3], 1.0, [((0, 0, z0), (1, 0, 0, 0))])
        for _ in range(60):
            pg.step((0, 0, 0, 0))
        pos = pg.object_pos(0)
        assert abs(pos[2] - pg.rest_height(0)) < 0.02, obj.name  # on the table, not through it
        assert np.linalg.norm(pg.object_vel(0)) < 0.05, obj.name


def test_object_state_has_the_prior_layout():
    pg = Playground([box()])
    pg.reset([0.1, -0.05, 0.2], 1.0, [((0.0, 0.0, 0.05), (1, 0, 0, 0))])
    for _ in range(3):
        pg.step((1.0, 0.0, 0.0, -1.0))
    s = pg.object_state(0)
    assert s.shape == (S.STATE_DIM,)
    np.testing.assert_allclose(s[S.HAND_POS], pg.hand_pos)
    np.testing.assert_allclose(s[S.HAND_VEL], pg.hand_vel)
    np.testing.assert_allclose(s[S.OBJ_POS], pg.object_pos(0))
    np.testing.assert_allclose(s[S.OBJ_VEL], pg.object_vel(0))
    assert s[S.HAND_VEL][0] > 0.3          # the hand moves +x under action +1 (1 m/s target)
    assert 0.95 <= s[S.GRIPPER][0] <= 1.0  # open
    assert s[S.OBJ_VEL][2] < -0.1          # the unsupported object falls


def test_gravity_and_buoyancy_are_configurable():
    heights = {}
    for name, kw in {"normal": {}, "balloon": {"gravcomp": 1.5}, "low_g": {"gravity": (0, 0, -1.0)}}.items():
        pg = Playground([box(0.02)], **kw)
        pg.reset([0.25, 0.25, 0.4], 1.0, [((0, 0, 0.10), (1, 0, 0, 0))])
        for _ in range(15):
            pg.step((0, 0, 0, 0))
        heights[name] = pg.object_pos(0)[2]
    assert heights["balloon"] > 0.10 + 0.005          # rises
    assert heights["normal"] < heights["low_g"] < 0.10  # falls, slower under weaker gravity


def test_several_objects_each_have_their_state():
    cat = make_catalogue(3, seed=1)
    pg = Playground(cat, gravcomp=[0.0, 0.0, 2.0])
    poses = [((-0.1, 0, 0.1), (1, 0, 0, 0)), ((0.1, 0, 0.1), (1, 0, 0, 0)), ((0, 0.1, 0.1), (1, 0, 0, 0))]
    pg.reset([0, 0, 0.35], 1.0, poses)
    for _ in range(10):
        pg.step((0, 0, 0, 0))
    assert pg.object_state(0)[S.OBJ_POS][2] < 0.1 and pg.object_state(2)[S.OBJ_POS][2] > 0.1
    assert pg.object_state(1)[S.OBJ_POS][0] > 0.05


@pytest.mark.parametrize("mode", SPAWN_MODES)
def test_spawn_modes_put_the_gripper_at_the_object(mode):
    pg = Playground([box()])
    for seed in range(4):
        direction = spawn(pg, mode, np.random.default_rng(seed))
        hand_touch, both_pads, _ = pg.contacts(0)
        gap = np.linalg.norm(pg.object_pos(0)[:2] - pg.hand_pos[:2])
        if mode == "drop":
            assert both_pads and pg.object_pos(0)[2] > 0.08       # held above the table
        elif mode == "strike":
            assert not hand_touch and 0.04 < gap < 0.12           # a few cm away
        else:
            assert hand_touch and gap < 0.06                       # touching its side
        if mode != "drop":
            to_obj = (pg.object_pos(0)[:2] - pg.hand_pos[:2]) / gap
            assert np.dot(to_obj, direction) > 0.95               # direction points at the object
