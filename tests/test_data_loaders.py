"""Loaders on tiny files in the real formats: PyAV mp4s, a HF dataset on disk, Physion CSV/HDF5, wavs."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch

from nsca.data.audio import MATERIALS, GreatestHitsDataset
from nsca.data.physion import PhysionOCP
from nsca.data.sources import get_source
from nsca.data.video import ClipDecodeError, VideoClipDataset, decode_clip
from nsca.errors import UsageError
from nsca.priors.state import STATE_DIM

T = 4


def write_mp4(path: Path, n_frames: int = 12, width: int = 96, height: int = 72, base: int = 0) -> Path:
    """Frame i is a flat colour whose red channel is base + 16 * i: sampling order is visible."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(n_frames):
            img = np.full((height, width, 3), 40, np.uint8)
            img[..., 0] = min(255, base + 16 * i)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture
def make_hf_split(tmp_path):
    """A video split as `nsca data download` writes it: shard-NNNNN save_to_disk folders."""
    import datasets

    def make(root: Path, name: str, split: str, labels: list[int], class_names: list[str], shard_size: int = 2,
             corrupt: set[int] = frozenset()) -> Path:
        folder = root / name / split
        rows = []
        for i, label in enumerate(labels):
            data = b"not an mp4 at all" if i in corrupt else write_mp4(tmp_path / "src" / f"{name}{i}.mp4", base=8 * i).read_bytes()
            rows.append({"video": data, "label": label})
        features = datasets.Features({"video": datasets.Value("binary"), "label": datasets.ClassLabel(names=class_names)})
        for k in range(0, len(rows), shard_size):
            datasets.Dataset.from_list(rows[k : k + shard_size], features=features).save_to_disk(
                str(folder / f"shard-{k // shard_size:05d}")
            )
        return folder

    return make


def test_decode_clip_samples_uniformly_and_crops_to_64(tmp_path):
    clip = decode_clip(write_mp4(tmp_path / "a.mp4", n_frames=12), num_frames=T, size=64)
    assert clip.shape == (T, 64, 64, 3) and clip.dtype == np.uint8
    red = clip[:, 32, 32, 0].astype(int)
    # uniform centres of 4 bins over 12 frames are frames 1, 4, 7, 10 -> red 16, 64, 112, 160 (+-codec error)
    assert np.all(np.abs(red - np.array([16, 64, 112, 160])) <= 6), red
    prefix = decode_clip(tmp_path / "a.mp4", num_frames=2, first_frames=4)
    assert prefix[:, 32, 32, 0].max() <= 48 + 6  # only frames 0..3 were eligible


def test_webm_without_frame_count_is_sampled_uniformly(tmp_path):
    """SSv2 ships VP9 webm, whose container states no frame count: the blind path must still be uniform."""
    import av

    path = tmp_path / "s.webm"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libvpx-vp9", rate=12)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for i in range(24):
            img = np.full((64, 96, 3), 40, np.uint8)
            img[..., 0] = 10 * i
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == 0
    red = decode_clip(path, num_frames=4)[:, 32, 32, 0].astype(int)
    assert np.all(np.abs(red - np.array([20, 80, 140, 200])) <= 12), red  # frames 2, 8, 14, 20


def test_corrupt_clip_names_the_file(tmp_path):
    bad = tmp_path / "broken.mp4"
    good = write_mp4(tmp_path / "ok.mp4").read_bytes()
    bad.write_bytes(good[: len(good) // 3])
    with pytest.raises(ClipDecodeError, match="broken.mp4"):
        decode_clip(bad)


def test_hf_video_source_batches_through_dataloader(tmp_path, make_hf_split):
    make_hf_split(tmp_path, "ssv2", "train", [0, 2, 1], ["push", "pull", "drop"])
    ds = get_source("ssv2", root=tmp_path, split="train", num_frames=T)
    assert isinstance(ds, torch.utils.data.Dataset) and len(ds) == 3  # two shards concatenated
    item = ds[1]
    assert item["frames"].dtype == torch.float32 and item["frames"].shape == (T, 3, 64, 64)
    assert 0.0 <= float(item["frames"].min()) and float(item["frames"].max()) <= 1.0
    assert (item["label"], item["label_name"]) == (2, "drop")
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert batch["frames"].shape == (3, T, 3, 64, 64)
    assert batch["label"].dtype == torch.int64 and batch["label"].tolist() == [0, 2, 1]


def test_hf_video_feature_with_paths_is_read(tmp_path):
    import datasets

    clip = write_mp4(tmp_path / "k.mp4")
    folder = tmp_path / "kinetics400" / "validation"
    features = datasets.Features({"video": datasets.Video(), "label": datasets.ClassLabel(names=["a", "b"])})
    datasets.Dataset.from_dict({"video": [str(clip)], "label": [1]}, features=features).save_to_disk(str(folder))
    item = get_source("kinetics400", root=tmp_path, split="val", num_frames=T)[0]
    assert item["frames"].shape == (T, 3, 64, 64) and item["label_name"] == "b"


def test_bad_clip_raises_or_is_skipped_and_counted(tmp_path, make_hf_split):
    make_hf_split(tmp_path, "ssv2", "train", [0, 1, 0], ["a", "b"], corrupt={1})
    strict = VideoClipDataset(tmp_path / "ssv2" / "train", num_frames=T)
    with pytest.raises(ClipDecodeError, match=r"ssv2/train\[1\]"):
        strict[1]
    lenient = VideoClipDataset(tmp_path / "ssv2" / "train", num_frames=T, on_error="skip")
    with pytest.warns(UserWarning, match="skipped bad clip"):
        item = lenient[1]
    assert item["index"] == 2 and list(lenient.skipped) == [1]


def test_missing_empty_and_mismatched_video_data(tmp_path, make_hf_split):
    with pytest.raises(UsageError, match="no dataset at .*ssv2/train"):
        get_source("ssv2", root=tmp_path)
    (tmp_path / "kinetics400" / "train").mkdir(parents=True)
    with pytest.raises(UsageError, match="empty or partial"):
        get_source("kinetics400", root=tmp_path)
    import datasets

    folder = tmp_path / "x" / "train"
    datasets.Dataset.from_dict({"video": [b"x"], "label": [7]}).save_to_disk(str(folder))
    (folder.parent / "labels.json").write_text('["a", "b"]')
    with pytest.raises(UsageError, match="label id 7 is outside the 2 known classes"):
        VideoClipDataset(folder)


def test_decode_cache_serves_the_same_clips_without_decoding(tmp_path, make_hf_split):
    make_hf_split(tmp_path, "ssv2", "train", [0, 1, 1, 0], ["a", "b"], corrupt={2})
    plain = get_source("ssv2", root=tmp_path, num_frames=T, on_error="skip")
    with pytest.warns(UserWarning):
        cached = get_source("ssv2", root=tmp_path, num_frames=T, on_error="skip", cache=True)
    assert len(cached) == 3 and cached.skipped.keys() == {2}  # the bad clip is counted, not served
    for j, i in enumerate([0, 1, 3]):
        a, b = plain[i], cached[j]
        assert torch.equal(a["frames"], b["frames"]) and a["label"] == b["label"] and b["index"] == i
    shards = sorted((tmp_path / "cache" / "ssv2" / "train").rglob("frames-*.npy"))
    stamps = [p.stat().st_mtime_ns for p in shards]
    again = get_source("ssv2", root=tmp_path, num_frames=T, on_error="skip", cache=True)
    assert [p.stat().st_mtime_ns for p in shards] == stamps and len(again) == 3


def _physion_mp4_tree(root: Path, outcomes: dict[str, bool], extra_label_rows: int = 1) -> Path:
    folder = root / "physion"
    for i, stim in enumerate(outcomes):
        write_mp4(folder / "dominoes" / "mp4s-redyellow" / f"{stim}_img.mp4", base=10 * i)
    rows = [",ground truth outcome"] + [f"{s},{v}" for s, v in outcomes.items()]
    rows += [f"pilot_not_downloaded_{k:04d},True" for k in range(extra_label_rows)]
    (folder / "readout_labels.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_physion_mp4_layout_with_readout_csv(tmp_path):
    _physion_mp4_tree(tmp_path, {"pilot_dominoes_0000": True, "pilot_dominoes_0001": False})
    ds = get_source("physion", root=tmp_path, split="test", num_frames=T)
    items = [ds[0], ds[1]]
    assert [(it["stimulus"], it["label"], it["label_name"]) for it in items] == [
        ("pilot_dominoes_0000", 1, "contact"), ("pilot_dominoes_0001", 0, "no_contact")]
    assert items[0]["frames"].shape == (T, 3, 64, 64) and items[0]["scenario"] == "dominoes"


def test_physion_clip_without_label_row_is_an_error(tmp_path):
    folder = _physion_mp4_tree(tmp_path, {"pilot_dominoes_0000": True})
    write_mp4(folder / "dominoes" / "mp4s-redyellow" / "pilot_dominoes_0099_img.mp4")
    with pytest.raises(UsageError, match="pilot_dominoes_0099_img.mp4: no row .*readout_labels.csv"):
        PhysionOCP(folder)


def _physion_hdf5(path: Path, stimulus: str, contact_frame: int | None, n_frames: int = 6) -> Path:
    import h5py
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("static/stimulus_name", data=stimulus.encode())
        for k in range(n_frames):
            buf = io.BytesIO()
            Image.fromarray(np.full((48, 80, 3), 20 * k, np.uint8)).save(buf, format="PNG")
            f.create_dataset(f"frames/{k:04d}/images/_img", data=np.frombuffer(buf.getvalue(), np.uint8))
            f.create_dataset(f"frames/{k:04d}/labels/target_contacting_zone", data=contact_frame == k)
    return path


def test_physion_hdf5_layout_and_corrupt_trial(tmp_path):
    folder = tmp_path / "physion"
    _physion_hdf5(folder / "readout_training" / "Dominoes" / "0000.hdf5", "dom_0000", contact_frame=4)
    _physion_hdf5(folder / "readout_training" / "Support" / "0001.hdf5", "sup_0001", contact_frame=None)
    ds = get_source("physion", root=tmp_path, split="train", num_frames=3)
    assert [(ds[i]["stimulus"], ds[i]["label"], ds[i]["scenario"]) for i in range(2)] == [
        ("dom_0000", 1, "dominoes"), ("sup_0001", 0, "support")]
    frames = ds[0]["frames"]
    assert frames.shape == (3, 3, 64, 64)
    # frames 1, 3, 5 of 6 (grey levels 20, 60, 100)
    assert np.allclose(frames[:, 0, 0, 0].numpy() * 255, [20, 60, 100], atol=1)
    (folder / "readout_training" / "Drop").mkdir()
    (folder / "readout_training" / "Drop" / "0002.hdf5").write_bytes(b"\x89HDF\r\n truncated")
    with pytest.raises(UsageError, match="0002.hdf5: unreadable HDF5"):
        get_source("physion", root=tmp_path, split="train")
    with pytest.warns(UserWarning, match="0002.hdf5"):
        lenient = get_source("physion", root=tmp_path, split="train", on_error="skip")
    assert len(lenient) == 2 and len(lenient.skipped) == 1
    with pytest.raises(UsageError, match="mp4s of PhysionTest-Core are the test set"):
        get_source("physion", root=tmp_path, split="train", layout="mp4")


def _greatest_hits(root: Path, hits: list[tuple[float, str, str]], sr: int = 48_000, duration_s: float = 2.0,
                   stem: str = "2015-02-16-16-49-06") -> Path:
    import soundfile as sf

    folder = root / "greatest-hits" / "vis-data"
    folder.mkdir(parents=True, exist_ok=True)
    audio = np.zeros((int(duration_s * sr), 2), np.float32)
    for t, _, _ in hits:
        if t < duration_s:
            audio[int(t * sr)] = 0.9  # a click at each hit, both channels
    sf.write(folder / f"{stem}_denoised.wav", audio, sr)
    (folder / f"{stem}_times.txt").write_text("".join(f"{t} {m} {a} static\n" for t, m, a in hits))
    return folder


def test_greatest_hits_windows_are_16k_mono_around_the_hit(tmp_path):
    _greatest_hits(tmp_path, [(0.5, "wood", "hit"), (1.2, "metal", "scratch"), (1.5, "None", "hit")])
    ds = get_source("greatest-hits", root=tmp_path, split="all", window_s=0.25, pre_s=0.05)
    assert len(ds) == 2  # the unlabelled ("None") hit is dropped by default
    item = ds[1]
    assert item["audio"].dtype == torch.float32 and item["audio"].shape == (4000,)
    assert (item["label"], item["label_name"], item["action"]) == (MATERIALS.index("metal"), "metal", "scratch")
    peak = int(torch.argmax(item["audio"].abs()))
    assert abs(peak - 800) <= 3  # the click sits pre_s = 0.05 s (800 samples at 16 kHz) into the window
    splits = [len(GreatestHitsDataset(tmp_path / "greatest-hits" / "vis-data", split=s)) for s in ("train", "val", "test")]
    assert sum(splits) == 2 and max(splits) == 2  # one recording: all its hits in exactly one split


def test_greatest_hits_bad_inputs_name_the_file(tmp_path):
    folder = _greatest_hits(tmp_path, [(0.5, "wood", "hit"), (3.5, "rock", "hit")], duration_s=2.0)
    ds = GreatestHitsDataset(folder, split="all")
    with pytest.raises(UsageError, match=r"_denoised.wav: hit at 3.500 s is past the end"):
        ds[1]
    (folder / "2015-02-16-16-49-06_times.txt").write_text("0.5 wood hit static\nabc rock hit static\n")
    with pytest.raises(UsageError, match=r"_times.txt:2: hit time 'abc' is not a number"):
        GreatestHitsDataset(folder, split="all")
    (folder / "2015-02-16-16-49-06_times.txt").write_text("0.5 wood hit static\n")
    (folder / "2015-02-16-16-49-06_denoised.wav").write_bytes(b"RIFF....WAVEjunk")
    with pytest.raises(UsageError, match="_denoised.wav: unreadable audio"):
        GreatestHitsDataset(folder, split="all")[0]
    with pytest.raises(UsageError, match="no Greatest Hits data at"):
        get_source("greatest-hits", root=tmp_path / "nowhere")


def test_babbling_source_reads_the_store(tmp_path):
    """The offline default: the babbling store's renders and synthesised audio, through get_source."""
    from nsca.data import store
    from nsca.utils.io import atomic_write_json

    episodes, frames_per_episode, rows = 2, 3, 6
    columns = {
        "index": np.arange(rows), "episode_index": np.repeat(np.arange(episodes), frames_per_episode),
        "frame_index": np.tile(np.arange(frames_per_episode), episodes),
        "state": np.random.default_rng(0).normal(size=(rows, STATE_DIM)).astype(np.float32),
        "action": np.zeros((rows, 4), np.float32), "competence": np.zeros(rows, np.float32),
        "mass_kg": np.full(rows, 0.2, np.float32),
        **{k: np.zeros(rows, np.int64) for k in ("primitive", "outcome", "spawn", "object_id", "material",
                                                 "hardness_class", "mass_class")},
        "frame": np.repeat(np.arange(rows, dtype=np.uint8)[:, None] * 40, 64 * 64 * 3, axis=1),
        "audio": np.full((rows, 100), 0.5, np.float32),
    }
    folder = tmp_path / "babbling"
    store.ShardWriter(folder, {"test": True}).write(0, columns)
    atomic_write_json(folder / "schema.json", {"format": store.FORMAT, "frames_per_episode": frames_per_episode,
                                               "features": store.columns_schema(columns, {})})
    ds = get_source("babbling", root=tmp_path, frame_stack=2, audio_samples=150)
    assert len(ds) == episodes * (frames_per_episode - 1)
    item = ds[3]  # episode 1, transition 1 -> 2: frames are rows 3, 4 (oldest first), next frames rows 4, 5
    assert item["frames"].shape == (2, 3, 64, 64) and item["audio"].shape == (150,)
    assert np.allclose(item["frames"][:, 0, 0, 0].numpy() * 255, [120, 160])
    assert np.allclose(item["next_frames"][:, 0, 0, 0].numpy() * 255, [160, 200])


def test_unknown_and_missing_sources(tmp_path):
    with pytest.raises(UsageError, match="unknown data source 'audioset'"):
        get_source("audioset", root=tmp_path)
    with pytest.raises(UsageError, match="no babbling dataset found at"):
        get_source("babbling", root=tmp_path)


def test_cache_command_builds_with_workers_and_counts_skips(tmp_path, make_hf_split, capsys):
    from nsca.cli import main

    make_hf_split(tmp_path, "kinetics400", "train", [0, 1, 0, 1, 1], ["a", "b"], corrupt={3})
    args = ["data", "cache", "--source", "kinetics400", "--frames", str(T), "--workers", "2", "--root", str(tmp_path)]
    assert main(args) == 2  # one line naming the clip, not a traceback
    assert "kinetics400/train[3]" in capsys.readouterr().err
    with pytest.warns(UserWarning, match="skipped bad clip"):
        assert main([*args, "--on-error", "skip"]) == 0
    assert "4 clips cached, 1 skipped" in capsys.readouterr().out
    cached = get_source("kinetics400", root=tmp_path, num_frames=T, on_error="skip", cache=True)
    plain = get_source("kinetics400", root=tmp_path, num_frames=T)
    assert [cached[j]["index"] for j in range(4)] == [0, 1, 2, 4]
    assert torch.equal(cached[3]["frames"], plain[4]["frames"])


def test_greatest_hits_frames_come_from_the_hit_window(tmp_path):
    folder = _greatest_hits(tmp_path, [(1.0, "ceramic", "hit")])
    kw = dict(split="all", frames=True, num_frames=2, window_s=0.4, pre_s=0.1)
    with pytest.raises(UsageError, match="_times.txt: no video beside it"):
        get_source("greatest-hits", root=tmp_path, **kw)
    write_mp4(folder / "2015-02-16-16-49-06_denoised.mp4", n_frames=20)  # 10 fps: frame i at i/10 s, red 16*i
    item = get_source("greatest-hits", root=tmp_path, **kw)[0]
    assert item["frames"].shape == (2, 3, 64, 64) and item["audio"].shape == (6400,)
    # window [0.9, 1.3) s holds frames 9..12; two uniform samples are frames 10 and 12
    assert np.allclose(item["frames"][:, 0, 32, 32].numpy() * 255, [160, 192], atol=6)
