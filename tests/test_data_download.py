"""`nsca data download` offline: per-dataset one-line failures, bounded timeouts, exit codes, resume."""

from __future__ import annotations

import http.server
import io
import os
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from nsca.cli import main
from nsca.data.sources import get_source
from nsca.errors import UsageError

REPO = Path(__file__).resolve().parents[1]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tiny_mp4() -> bytes:
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(6):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 30 * i, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


class _Mirror(http.server.BaseHTTPRequestHandler):
    """Serves FILES by path, honours Range (206), records requests; anything else is 404."""

    files: dict[str, bytes] = {}
    requests: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:  # noqa: N802
        self.requests.append((self.path, self.headers.get("Range")))
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:])

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def mirror():
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("Physion/dominoes/mp4s-redyellow/pilot_dominoes_0000_img.mp4", _tiny_mp4())
        z.writestr("Physion/dominoes/mp4s/pilot_dominoes_0000_img.mp4", _tiny_mp4())
    _Mirror.files = {
        "/physion/Physion.zip": zbuf.getvalue(),
        "/physion/readout_labels.csv": b",ground truth outcome\npilot_dominoes_0000,True\n",
    }
    _Mirror.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Mirror)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_seed_command_offline_fails_per_dataset_fast(tmp_path):
    port = _closed_port()
    env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{port}", "NSCA_DATA_ROOT": str(tmp_path)}
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "scripts/download_data.py", "--subset", "0.1", "--datasets", "ssv2", "kinetics400", "physion",
         "--hub-id", "kinetics400=someone/k400", "--mirror", f"http://127.0.0.1:{port}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )
    assert time.monotonic() - t0 < 30
    lines = proc.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == ["ssv2", "kinetics400", "physion"]
    assert all("FAILED - nothing downloaded - " in line for line in lines[:3])
    assert "registration" in lines[0]  # the gated dataset says how to get access
    assert proc.returncode == 16 + 2 + 1 + 8 and "(exit 27)" in lines[-1]


def test_unresponsive_server_times_out(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)  # accepts connections, never answers
    try:
        port = listener.getsockname()[1]
        t0 = time.monotonic()
        code = main(["data", "download", "--datasets", "greatest-hits", "--root", str(tmp_path), "--timeout-s", "0.5",
                     "--mirror", f"http://127.0.0.1:{port}"])
        assert time.monotonic() - t0 < 10
        assert code == 16 + 4
    finally:
        listener.close()


def test_download_keeps_what_arrived_and_resumes(tmp_path, mirror, capsys):
    args = ["data", "download", "--datasets", "physion", "greatest-hits", "--root", str(tmp_path), "--mirror", mirror]
    assert main(args) == 16 + 4  # greatest-hits is not on this mirror; physion is
    out = capsys.readouterr().out
    assert "physion: ok" in out and "greatest-hits: FAILED - nothing downloaded - " in out and "HTTP 404" in out
    item = get_source("physion", root=tmp_path, split="test", num_frames=3)[0]
    assert item["label"] == 1 and item["frames"].shape == (3, 3, 64, 64)

    fetched = len(_Mirror.requests)
    assert main(args) == 16 + 4
    assert [p for p, _ in _Mirror.requests[fetched:]] == ["/greatest-hits/vis-data.zip"]  # physion not fetched again

    # A killed fetch leaves a .part; the rerun asks only for the rest and the file comes out whole.
    whole = _Mirror.files["/physion/Physion.zip"]
    _Mirror.files["/greatest-hits/vis-data.zip"] = whole
    (tmp_path / "greatest-hits" / "vis-data.zip.part").write_bytes(whole[:100])
    assert main(["data", "download", "--datasets", "greatest-hits", "--root", str(tmp_path), "--mirror", mirror]) == 0
    assert _Mirror.requests[-1] == ("/greatest-hits/vis-data.zip", "bytes=100-")
    assert (tmp_path / "greatest-hits" / "vis-data.zip").read_bytes() == whole
    listing = subprocess.run([sys.executable, "-m", "nsca.cli", "data", "list", "--root", str(tmp_path)],
                             cwd=REPO, capture_output=True, text=True, timeout=60).stdout
    assert "physion: downloaded" in listing and "audioset: not offered" in listing


def test_refused_and_unknown_datasets_are_usage_errors(tmp_path, capsys):
    assert main(["data", "download", "--datasets", "audioset", "--root", str(tmp_path)]) == 2
    assert main(["data", "download", "--datasets", "imagenet", "--root", str(tmp_path)]) == 2
    assert main(["data", "download", "--datasets", "youtube8m", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "speech, music and traffic" in err[0] and "ImageNet" in err[1] and "choose from" in err[2]
    assert not any(tmp_path.iterdir())  # nothing written


def test_hf_download_from_a_local_repo_subsets_shards_and_resumes(tmp_path):
    """The Hugging Face path end to end, offline: a local parquet repo stands in for the hub."""
    import datasets

    from nsca.data import download as dl

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(_tiny_mp4())
    repo = tmp_path / "repo" / "data"
    repo.mkdir(parents=True)
    features = datasets.Features({"video": datasets.Video(), "label": datasets.ClassLabel(names=["a", "b", "c"])})
    labels = [2, 0, 1, 1, 0, 2, 2, 1, 0, 0]
    datasets.Dataset.from_dict({"video": [str(clip)] * 10, "label": labels}, features=features).to_parquet(
        str(repo / "train-00000-of-00001.parquet"))
    root = tmp_path / "root"
    opts = dl.Options(root=root, subset=0.5, hub_ids={"ssv2": str(repo.parent)}, shard_clips=2, log=lambda _: None)
    assert dl.exit_code(dl.download(["ssv2"], opts)) == 0
    shards = sorted((root / "ssv2" / "train").glob("shard-*"))
    assert len(shards) == 3  # 5 clips in shards of 2
    ds = get_source("ssv2", root=root, split="train", num_frames=2)
    assert len(ds) == 5 and [ds[i]["label"] for i in range(5)] == labels[:5] and ds[0]["label_name"] == "c"

    # Kill mid-way = the last shard never appeared; a rerun writes only what is missing.
    import shutil

    shutil.rmtree(shards[-1])
    stamps = [p.stat().st_mtime_ns for p in shards[:-1]]
    assert dl.exit_code(dl.download(["ssv2"], opts)) == 0
    assert [p.stat().st_mtime_ns for p in shards[:-1]] == stamps and shards[-1].is_dir()
    assert [get_source("ssv2", root=root, split="train", num_frames=2)[i]["label"] for i in range(5)] == labels[:5]


def _tiny_webm(path: Path, level: int) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libvpx-vp9", rate=12)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(4):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), level, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_import_official_ssv2_release(tmp_path, capsys):
    import json

    videos, ann = tmp_path / "20bn-something-something-v2", tmp_path / "labels"
    videos.mkdir()
    ann.mkdir()
    (ann / "something-something-v2-labels.json").write_text(json.dumps(
        {"Holding something": "0", "Pushing something from left to right": "1", "Putting something on a surface": "2"}))
    train = [{"id": "101", "label": "pushing cup", "template": "Pushing [something] from left to right", "placeholders": ["cup"]},
             {"id": "102", "label": "holding pen", "template": "Holding [something]", "placeholders": ["pen"]}]
    val = [{"id": "201", "label": "putting book", "template": "Putting [something] on a surface", "placeholders": ["book"]}]
    (ann / "something-something-v2-train.json").write_text(json.dumps(train))
    (ann / "something-something-v2-validation.json").write_text(json.dumps(val))
    for i, vid in enumerate(["101", "102", "201"]):
        _tiny_webm(videos / f"{vid}.webm", 60 * i)
    root = tmp_path / "root"
    args = ["data", "import", "--dataset", "ssv2", "--videos", str(videos), "--annotations", str(ann), "--root", str(root)]
    assert main(args) == 0
    ds = get_source("ssv2", root=root, split="train", num_frames=2)
    assert [(ds[i]["label"], ds[i]["label_name"]) for i in range(2)] == [(1, "Pushing something from left to right"),
                                                                         (0, "Holding something")]
    assert get_source("ssv2", root=root, split="val", num_frames=2)[0]["label_name"] == "Putting something on a surface"

    (videos / "102.webm").unlink()  # a partial copy: error by default, skip-and-count on request
    capsys.readouterr()
    assert main(args) == 2 and "1 of 2 train videos are missing, first: " in capsys.readouterr().err
    assert main([*args, "--on-missing", "skip"]) == 0
    assert len(get_source("ssv2", root=root, split="train")) == 1
    train[0]["template"] = "Juggling [something]"
    (ann / "something-something-v2-train.json").write_text(json.dumps(train))
    assert main(args) == 2 and "template 'Juggling something', not in something-something-v2-labels.json" in capsys.readouterr().err


def test_import_cvdf_kinetics_copy(tmp_path):
    from nsca.data.download import import_kinetics

    videos, ann = tmp_path / "k400", tmp_path / "k400" / "annotations"
    ann.mkdir(parents=True)
    (ann / "train.csv").write_text("label,youtube_id,time_start,time_end,split\n"
                                   "juggling balls,abc,10,20,train\nabseiling,def,0,10,train\n")
    (ann / "val.csv").write_text("label,youtube_id,time_start,time_end,split\nabseiling,ghi,5,15,val\n")
    for split, stem in (("train", "abc_000010_000020"), ("train", "def_000000_000010"), ("val", "ghi_000005_000015")):
        (videos / split).mkdir(exist_ok=True)
        (videos / split / f"{stem}.mp4").write_bytes(_tiny_mp4())
    root = tmp_path / "root"
    assert import_kinetics(videos, ann, root) == {"train": 2, "validation": 1}
    ds = get_source("kinetics400", root=root, split="train", num_frames=2)
    assert [ds[i]["label_name"] for i in range(2)] == ["juggling balls", "abseiling"] and ds[0]["label"] == 1
    (ann / "val.csv").write_text("label,youtube_id,time_start,time_end,split\nknitting,ghi,5,15,val\n")
    with pytest.raises(UsageError, match="val.csv: class 'knitting' of ghi is not among the train classes"):
        import_kinetics(videos, ann, root)
