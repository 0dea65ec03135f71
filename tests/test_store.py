"""The babbling dataset store: round trip, plain-pyarrow readability, config guard, corrupt shards."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from nsca.data import store
from nsca.data.store import BabblingDataset, CorruptShardError, ShardWriter, open_dataset
from nsca.errors import UsageError

F = 5  # frames per episode in these synthetic shards


def synthetic_columns(first_episode: int, episodes: int, media: bool = True) -> dict:
    rng = np.random.default_rng(first_episode)
    n = episodes * F
    ep = np.repeat(np.arange(first_episode, first_episode + episodes), F)
    frame = np.tile(np.arange(F), episodes)
    cols = {
        "index": ep * F + frame, "episode_index": ep, "frame_index": frame, "is_last": frame == F - 1,
        "state": rng.normal(size=(n, 13)).astype(np.float32),
        "action": rng.uniform(-1, 1, (n, 4)).astype(np.float32),
        "competence": rng.random(n).astype(np.float32), "mass_kg": rng.random(n).astype(np.float32),
    }
    for k in ("primitive", "outcome", "spawn", "object_id", "material", "hardness_class", "mass_class"):
        cols[k] = np.repeat(rng.integers(0, 3, episodes), F).astype(np.int8)
    if media:
        cols["frame"] = rng.integers(0, 256, (n, 64 * 64 * 3), dtype=np.uint8)
        cols["audio"] = rng.normal(size=(n, 100)).astype(np.float32)
    return cols


def write_store(root, shards=2, episodes=3, media=True):
    w = ShardWriter(root, {"seed": 0, "steps": shards * episodes})
    for k in range(shards):
        cols = synthetic_columns(k * episodes, episodes, media)
        w.write(k, cols, row_group_rows=7)  # small row groups: media reads cross group edges
        if k == 0:
            from nsca.utils.io import atomic_write_json

            atomic_write_json(root / "schema.json", {"format": store.FORMAT, "frames_per_episode": F,
                                                     "features": store.columns_schema(cols, {})})
    return w


def test_round_trip_transitions_and_episodes(tmp_path):
    write_store(tmp_path)
    full = {k: np.concatenate([synthetic_columns(0, 3)[k], synthetic_columns(3, 3)[k]])
            for k in ("state", "action", "frame", "audio")}
    ds = BabblingDataset(tmp_path, frame_stack=3, audio_samples=250)
    assert len(ds) == 6 * (F - 1)
    item = ds[F - 1 + 2]                          # episode 1, transition 2 -> 3
    row = F + 2
    np.testing.assert_array_equal(item["state"].numpy(), full["state"][row])
    np.testing.assert_array_equal(item["next_state"].numpy(), full["state"][row + 1])
    np.testing.assert_array_equal(item["action"].numpy(), full["action"][row])
    assert item["frames"].shape == (3, 3, 64, 64) and item["frames"].dtype == torch.float32
    expected_last = full["frame"][row].reshape(64, 64, 3).transpose(2, 0, 1) / 255.0
    np.testing.assert_allclose(item["frames"][-1].numpy(), expected_last, atol=1e-6)
    np.testing.assert_allclose(item["next_frames"][-1].numpy(),
                               full["frame"][row + 1].reshape(64, 64, 3).transpose(2, 0, 1) / 255.0, atol=1e-6)
    # audio: the last 250 samples up to frame t+1, i.e. rows F..F+2 of 100 samples each
    np.testing.assert_array_equal(item["audio"].numpy(), full["audio"][F:F + 3].reshape(-1)[-250:])
    first = ds[0]  # episode start: earlier frames repeat frame 0, audio is zero-padded in front
    np.testing.assert_array_equal(first["frames"][0].numpy(), first["frames"][2].numpy())
    assert first["audio"][:150].abs().sum() == 0
    ep = BabblingDataset(tmp_path, unit="episode")
    assert len(ep) == 6 and ep[4]["state"].shape == (F, 13) and ep[4]["frames"].shape == (F, 3, 64, 64)
    np.testing.assert_array_equal(ep[4]["state"].numpy(), full["state"][4 * F:5 * F])
    batch = torch.utils.data.default_collate([ds[i] for i in range(4)])
    assert batch["state"].shape == (4, 13) and batch["outcome"].dtype == torch.int64


def test_shards_are_plain_parquet_with_a_schema(tmp_path):
    write_store(tmp_path, media=False)
    table = pq.read_table(tmp_path / "shards" / "shard-00001.parquet")
    assert table.num_rows == 3 * F
    assert {"episode_index", "frame_index", "index", "state"} <= set(table.column_names)
    assert table.column("state").type.list_size == 13
    schema = json.loads((tmp_path / "schema.json").read_text())
    assert schema["features"]["state"] == {"dtype": "float32", "shape": [13], "description": ""}
    ds = BabblingDataset(tmp_path)
    assert "frames" not in ds[0] and "audio" not in ds[0]
    with pytest.raises(UsageError, match="--render"):
        BabblingDataset(tmp_path, frames=True)


def test_a_folder_with_another_config_is_refused(tmp_path):
    write_store(tmp_path)
    with pytest.raises(UsageError, match="another run's data .*seed"):
        ShardWriter(tmp_path, {"seed": 1, "steps": 6})
    ShardWriter(tmp_path, {"seed": 0, "steps": 6})  # same config: fine (resume)


def test_corrupt_and_truncated_shards_are_named(tmp_path):
    w = write_store(tmp_path)
    bad = tmp_path / "shards" / "shard-00001.parquet"
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    with pytest.raises(CorruptShardError, match="shard-00001.parquet"):
        w.finished({0: 3 * F, 1: 3 * F})
    with pytest.raises(CorruptShardError, match="shard-00001.parquet"):
        BabblingDataset(tmp_path)
    assert w.finished({0: 3 * F}) == [0]  # shards before it are fine


def test_finished_stops_at_a_gap_and_leftover_temp_files_are_removed(tmp_path):
    w = write_store(tmp_path, shards=3)
    (tmp_path / "shards" / "shard-00001.parquet").unlink()
    (tmp_path / "shards" / ".shard-00003.parquet.123.tmp").write_bytes(b"half")
    w = ShardWriter(tmp_path, {"seed": 0, "steps": 9})
    assert w.finished({k: 3 * F for k in range(3)}) == [0]
    assert not list((tmp_path / "shards").glob(".*.tmp"))


def test_data_root_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv("NSCA_DATA_ROOT", str(tmp_path))
    assert store.default_babbling_dir() == tmp_path / "babbling"
    with pytest.raises(UsageError, match="nsca babble"):
        open_dataset()
    write_store(tmp_path / "babbling")
    assert len(open_dataset()) == 6 * (F - 1)
    with pytest.raises(UsageError, match="split"):
        open_dataset(split="val")
