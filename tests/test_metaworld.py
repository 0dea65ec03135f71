"""The Meta-World harness: names, fields, seeded layouts, disjoint seeds, the demo cache."""

import numpy as np
import pytest

from nsca.envs import metaworld as mw
from nsca.errors import UsageError
from nsca.priors.state import STATE_DIM


def test_v2_names_map_to_v3_and_say_so_once(capsys, monkeypatch):
    monkeypatch.setattr(mw, "_NOTED_TASKS", set())
    assert mw.resolve_task("pick-place-v2") == "pick-place-v3"
    assert mw.resolve_task("pick-place-v2") == "pick-place-v3"
    assert mw.resolve_task("pick-place-v3") == "pick-place-v3"
    assert capsys.readouterr().err.count("maps to 'pick-place-v3'") == 1


def test_unknown_task_lists_close_names():
    with pytest.raises(UsageError, match="did you mean pick-place-v3") as exc:
        mw.resolve_task("pick-plase-v2")
    assert "\n" not in str(exc.value)


@pytest.fixture(scope="module")
def env():
    return mw.MetaWorldTask("pick-place-v3")


def test_same_seed_same_layout_and_seeds_change_it(env):
    a, b, c = env.reset(7), env.reset(7), env.reset(8)
    assert np.array_equal(a, b)
    assert not np.allclose(mw.parse_obs(a)["obj_pos"], mw.parse_obs(c)["obj_pos"])
    assert not np.allclose(mw.goal(a), mw.goal(c))


def test_demo_and_eval_layouts_are_disjoint():
    demo = {s for seed in range(100) for s in mw.demo_layout_seeds(seed, 100)}
    assert demo.isdisjoint(mw.eval_layout_seeds(1000))


def test_named_fields_and_object_state(env):
    obs = env.reset(1)
    obs2, _, _ = env.step(np.array([0, 0, 1.0, 0]))
    f = mw.parse_obs(obs2)
    assert f["hand_pos"].shape == (3,) and f["goal_pos"].shape == (3,)
    s = mw.object_state(obs2, env.dt_s)
    assert s.shape == (STATE_DIM,)
    np.testing.assert_allclose(s[0:3], f["hand_pos"])
    np.testing.assert_allclose(s[3:6], (f["hand_pos"] - obs[0:3]) / env.dt_s, rtol=1e-4, atol=1e-4)
    assert s[5] > 0  # the hand moved up


def test_demos_succeed_are_cached_and_a_corrupt_cache_is_rebuilt(env, capsys):
    demos = mw.load_or_collect_demos("pick-place-v3", 5, 2, env=env)
    assert len(demos) == 2 and all(d.success for d in demos)
    assert [d.layout_seed for d in demos][0] >= 5 * mw.DEMO_SEED_STRIDE
    path = mw._demo_path("pick-place-v3", 5, 2, env.max_episode_steps)
    assert path.exists()
    again = mw.load_or_collect_demos("pick-place-v3", 5, 2, env=env)
    assert np.array_equal(again[1].actions, demos[1].actions)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    rebuilt = mw.load_or_collect_demos("pick-place-v3", 5, 2, env=env)
    assert "corrupt" in capsys.readouterr().err
    assert np.array_equal(rebuilt[1].actions, demos[1].actions)
    assert mw._load_demos(path, 2) is not None  # the rebuilt file verifies
