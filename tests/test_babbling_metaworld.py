"""`nsca babble --scene metaworld`: the real code path on two ML10 scenes, rendered; the store's
`scene` column (and stores without it); resume after an interruption; determinism; bad tasks;
training on a Meta-World store and on a mix of stores."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

os.environ.setdefault("MUJOCO_GL", "egl")

from nsca.babbling.labels import PRIMITIVES  # noqa: E402
from nsca.babbling.run import BabbleConfig, run_babble  # noqa: E402
from nsca.cli import main  # noqa: E402
from nsca.config import from_dict  # noqa: E402
from nsca.data import store  # noqa: E402
from nsca.priors.state import OBJ_POS, STATE_DIM  # noqa: E402

TASKS = ["push-v3", "door-open-v3"]
# 6 interactions in 3 shards of 2 on 2 scenes: one free object (puck), one mounted (door handle).
TINY = dict(scene="metaworld", tasks=TASKS, steps=6, shard_size=2, refresh=2, window=2, n_steps=48,
            record_every=6, render=True, audio=True, probe=False, progress=False, workers=1)
F = 48 // 6 + 1


def cfg(out: Path, **kw) -> BabbleConfig:
    return from_dict(BabbleConfig, {**TINY, "out": str(out), **kw})


def tables(out: Path) -> list:
    return [pq.read_table(p) for p in sorted((out / "shards").glob("shard-*.parquet"))]


@pytest.fixture(scope="module")
def mw_store(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("mw") / "babbling"
    return out, run_babble(cfg(out))


def test_default_tasks_are_ml10_train_and_step_without_reward_is_step():
    from metaworld.env_dict import ML10_V3

    from nsca.babbling.metaworld_scenes import ML10_TRAIN_TASKS
    from nsca.envs.metaworld import MetaWorldTask

    assert list(ML10_TRAIN_TASKS) == list(ML10_V3["train"]) == BabbleConfig().tasks
    a, b = MetaWorldTask("pick-place-v3"), MetaWorldTask("pick-place-v3")
    a.reset(7), b.reset(7)
    rng = np.random.default_rng(0)
    for _ in range(30):
        act = rng.uniform(-1, 1, 4)
        x, y = a.step(act)[0], b.step_without_reward(act)
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(a.state(x), b.state(y))


def test_store_round_trips_with_the_scene_column(mw_store):
    out, summary = mw_store
    ts = tables(out)
    assert len(ts) == 3 and sum(t.num_rows for t in ts) == 6 * F
    schema = json.loads((out / "schema.json").read_text())
    assert set(schema["features"]) == set(ts[0].column_names)
    assert schema["features"]["scene"]["dtype"] == "string" and schema["labels"]["tasks"] == TASKS
    assert schema["control_dt_s"] == 0.0125 and schema["scene"] == "metaworld"
    config = json.loads((out / "config.json").read_text())
    assert config["scene"] == "metaworld" and config["tasks"] == TASKS and "n_objects" not in config
    t = pa.concat_tables(ts)
    scenes = t.column("scene").to_pylist()
    obj = t.column("object_id").to_numpy()
    assert {s for s in scenes} <= {"metaworld:push-v3", "metaworld:door-open-v3"}
    assert all(s == "metaworld:" + TASKS[o] for s, o in zip(scenes, obj))  # object_id = the task's index
    state = store.column_to_numpy(t.column("state"))
    assert state.shape == (6 * F, STATE_DIM) and np.isfinite(state).all()
    frames = store.column_to_numpy(t.column("frame")).reshape(-1, 64, 64, 3)
    assert frames.std(axis=(1, 2, 3)).min() > 5  # real pictures, not blank buffers
    audio = store.column_to_numpy(t.column("audio"))
    assert audio.shape == (6 * F, 1200)  # 6 control steps of 12.5 ms at 16 kHz
    objects = json.loads((out / "objects.json").read_text())
    assert [o["name"] for o in objects] == ["metaworld:push-v3", "metaworld:door-open-v3"]
    assert objects[0]["material"] == "plastic" and objects[1]["mass_kg"] > objects[0]["mass_kg"] > 0
    # The summary's (task, primitive) table counts what the shards hold; "moved" is recounted from the states.
    cells = summary["cell_table"]
    assert np.asarray(cells["interactions"]).shape == (2, len(PRIMITIVES)) and np.sum(cells["interactions"]) == 6
    first = state.reshape(6, F, STATE_DIM)[:, :, OBJ_POS]
    moved = (np.linalg.norm(first - first[:, :1], axis=2).max(1) >= 0.01).sum()
    assert cells["moved_fraction_all"] == pytest.approx(moved / 6)
    assert summary["speed"]["ctrl_steps_per_s"] > 0 and summary["speed"]["substeps_per_ctrl_step"] == 5
    assert summary["grounding_probe"] is None and summary["scene"] == "metaworld"
    # Torch access: items carry the scene; the prior's time step is 6 x 12.5 ms.
    ds = store.open_dataset(out)
    assert len(ds) == 6 * (F - 1) and ds[0]["scene"].startswith("metaworld:")
    assert ds[0]["frames"].shape == (4, 3, 64, 64) and ds[0]["audio"].shape == (4000,)
    from nsca.training.data import dataset_facts

    assert dataset_facts(ds)["constants"].dt_s == pytest.approx(0.075)


def test_a_store_without_the_scene_column_loads_as_playground(tmp_path):
    from tests.test_store import write_store

    write_store(tmp_path)
    assert "scene" not in pq.read_table(tmp_path / "shards" / "shard-00000.parquet").column_names
    ds = store.BabblingDataset(tmp_path)
    assert ds[0]["scene"] == "playground" and set(ds.scenes) == {"playground"}


def test_same_seed_same_data_and_resume_after_an_interruption_does_not_duplicate(mw_store, tmp_path, monkeypatch):
    ref, _ = mw_store
    run_babble(cfg(tmp_path / "again"))
    assert all(a.equals(b) for a, b in zip(tables(ref), tables(tmp_path / "again")))
    # Interrupted after its first shard: the rerun keeps that shard and writes the rest once.
    out = tmp_path / "cut"
    write = store.ShardWriter.write
    calls = []

    def failing_write(self, k, columns, **kw):
        calls.append(k)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return write(self, k, columns, **kw)

    monkeypatch.setattr(store.ShardWriter, "write", failing_write)
    with pytest.raises(KeyboardInterrupt):
        run_babble(cfg(out))
    monkeypatch.setattr(store.ShardWriter, "write", write)
    kept = sorted(p.name for p in (out / "shards").glob("shard-*.parquet"))
    assert kept == ["shard-00000.parquet"]
    mtime = (out / "shards" / kept[0]).stat().st_mtime_ns
    summary = run_babble(cfg(out))
    assert (out / "shards" / kept[0]).stat().st_mtime_ns == mtime  # not redone
    resumed = tables(out)
    episodes = np.concatenate([t.column("episode_index").to_numpy()[:: F] for t in resumed])
    assert sorted(episodes) == list(range(6))  # each interaction once
    assert all(a.equals(b) for a, b in zip(resumed, tables(ref)))
    assert np.sum(summary["cell_table"]["interactions"]) == 6  # replayed shards are counted once
    other = run_babble(cfg(tmp_path / "seed1", seed=1, steps=2, shard_size=2))
    assert other["steps"] == 2
    assert not tables(tmp_path / "seed1")[0].column("state").equals(tables(ref)[0].column("state"))


@pytest.mark.parametrize("argv, message", [
    (["--scene", "metaworld", "--tasks", "push", "pick-plaec"], "unknown Meta-World task 'pick-plaec'"),
    (["--scene", "metaworld", "--tasks", "push", "push-v3"], "more than once"),
    (["--tasks", "push-v3"], "--tasks applies to --scene metaworld"),
    (["--scene", "metaworld", "--tasks", "push", "drawer-open"], "--tasks drawer-open-v3 is an ML10 held-out test task"),
])
def test_bad_tasks_are_one_line_and_exit_2(tmp_path, capsys, argv, message):
    assert main(["babble", *argv, "--steps", "2", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and not [e for e in err if not e.startswith("note:")][:-1]
    assert not (tmp_path / "x").exists()


def test_pretraining_babbling_never_sees_the_ml10_held_out_tasks(tmp_path):
    """The ML10 fairness rule, read from a store the babbling code wrote with its default tasks:
    the task of every recorded row (its `scene` column), and the store's own task list."""
    from metaworld.env_dict import ML10_V3

    from nsca.babbling.metaworld_scenes import ML10_TEST_TASKS, ML10_TRAIN_TASKS
    from nsca.evaluation.metaworld_ml10 import ML10_TEST

    assert list(ML10_TEST_TASKS) == list(ML10_V3["test"]) == [f"{t}-v3" for t in ML10_TEST]
    out = tmp_path / "babbling"
    c = from_dict(BabbleConfig, {"scene": "metaworld", "steps": 12, "shard_size": 6, "refresh": 6, "window": 2,
                                 "n_steps": 12, "record_every": 6, "probe": False, "progress": False, "workers": 1,
                                 "out": str(out)})
    assert c.tasks == list(ML10_TRAIN_TASKS)  # the default: what `nsca babble --scene metaworld` pretrains on
    run_babble(c)
    ds = store.open_dataset(out)
    recorded = {s.removeprefix("metaworld:") for s in ds.scenes}
    assert len(ds.scenes) == 12 * (12 // 6 + 1) and all(s.startswith("metaworld:") for s in ds.scenes)
    assert len(recorded) >= 2 and recorded <= set(ML10_TRAIN_TASKS) and not recorded & set(ML10_TEST_TASKS)
    schema = json.loads((out / "schema.json").read_text())
    assert not set(schema["labels"]["tasks"]) & set(ML10_TEST_TASKS)
    objects = json.loads((out / "objects.json").read_text())
    assert not {o["name"].removeprefix("metaworld:") for o in objects} & set(ML10_TEST_TASKS)


def test_training_reads_a_metaworld_store_and_a_mix(mw_store, tmp_path, capsys):
    from nsca.training import loop
    from nsca.training.config import TrainConfig

    mw, _ = mw_store

    def train(root: Path, name: str, modalities: list[str]) -> dict:
        c = from_dict(TrainConfig, {"preset": "debug", "data_source": "babbling", "data_root": str(root),
                                    "modalities": modalities, "epochs": 1, "batch_size": 8, "progress": False,
                                    "run_dir": str(tmp_path / "runs"), "run_name": name, "checkpoint_every": 100})
        summary = loop.train(c)
        saved = json.loads((tmp_path / "runs" / name / "config.json").read_text())
        return summary, saved

    only = tmp_path / "only"
    only.mkdir()
    (only / "babbling").symlink_to(mw, target_is_directory=True)
    summary, saved = train(only, "mw", ["vision", "audio", "state"])
    assert summary["steps"] >= 1 and summary["val_items"] > 0 and saved["physics_constants"]["dt_s"] == pytest.approx(0.075)
    # A mix: a folder of stores, here Meta-World and a tiny playground store (9 frames an episode).
    pg = tmp_path / "pg"
    run_babble(from_dict(BabbleConfig, dict(steps=4, n_objects=3, shard_size=4, n_steps=48, record_every=6,
                                            probe=False, progress=False, workers=1, window=2, out=str(pg))))
    mix = tmp_path / "mix" / "babbling"
    mix.mkdir(parents=True)
    (mix / "metaworld").symlink_to(mw, target_is_directory=True)
    (mix / "playground").symlink_to(pg, target_is_directory=True)
    ds = store.open_dataset(mix)
    assert len(ds) == 6 * (F - 1) + 4 * 8 and not ds.has_frames  # the playground store has no frames
    assert {s.split(":")[0] for s in ds.scenes} == {"metaworld", "playground"}
    groups = ds.episode_groups()
    assert len(set(groups)) == 10 and groups == sorted(groups)
    capsys.readouterr()
    summary, saved = train(tmp_path / "mix", "mix", ["state", "proprio"])
    assert summary["train_items"] + summary["val_items"] == len(ds)
    assert "60, 75 ms per transition" in capsys.readouterr().err  # the two stores' time steps, said
    assert saved["physics_constants"]["dt_s"] == pytest.approx(0.075)  # the larger store's
    shutil.rmtree(tmp_path / "runs")
