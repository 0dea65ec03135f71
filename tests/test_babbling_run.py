"""`nsca babble` end to end: files, determinism, resume after a kill, bad input, loading in a fresh process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from nsca.babbling.labels import PRIMITIVES
from nsca.babbling.run import BabbleConfig, run_babble
from nsca.cli import main
from nsca.config import from_dict
from nsca.errors import UsageError
from nsca.priors.state import STATE_DIM

TINY = dict(steps=40, n_objects=5, shard_size=10, n_steps=48, record_every=6, probe=False,
            progress=False, workers=1, window=4)


def cfg(out: Path, **kw) -> BabbleConfig:
    return from_dict(BabbleConfig, {**TINY, "out": str(out), **kw})


def shard_tables(out: Path) -> list:
    return [pq.read_table(p) for p in sorted((out / "shards").glob("shard-*.parquet"))]


def cli(argv: list[str]) -> int:
    """`nsca babble ARGV` through the real entry point."""
    return main(["babble", *argv])


def test_run_writes_a_self_describing_dataset(tmp_path):
    out = tmp_path / "bab"
    summary = run_babble(cfg(out, probe=True, probe_objects=4))
    for name in ("config.json", "schema.json", "stats.json", "provenance.json", "summary.json",
                 "objects.json", "learning_progress.json", "learning_progress.png"):
        assert (out / name).is_file(), name
    tables = shard_tables(out)
    assert len(tables) == 4 and sum(t.num_rows for t in tables) == 40 * 9
    schema = json.loads((out / "schema.json").read_text())
    assert schema["features"]["state"]["names"][0] == "hand_x"
    assert set(schema["features"]) == set(tables[0].column_names)
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["seed"] == 0 and "mujoco" in prov["packages"] and prov["git_commit"]
    stats = json.loads((out / "stats.json").read_text())
    assert len(stats["state"]["mean"]) == STATE_DIM and all(s >= 0 for s in stats["state"]["std"])
    # Coverage is the share of (object, primitive) cells with a meaningful outcome: recount it
    # from the rows written (one row per interaction is enough: frame 0).
    first = [t.filter(pc.equal(t.column("frame_index"), 0)) for t in tables]
    cells = {(int(o), int(p)) for t in first for o, p, m in zip(t.column("object_id").to_pylist(),
                                                              t.column("primitive").to_pylist(),
                                                              t.column("meaningful").to_pylist()) if m}
    assert cells and summary["affordance_coverage"] == len(cells) / (TINY["n_objects"] * len(PRIMITIVES))
    assert sum(summary["outcome_histogram"].values()) == 40
    assert summary["grounding_probe"]["n_heldout_objects"] == 4
    assert summary["speed"]["ctrl_steps_per_s"] > 0 and summary["speed"]["raw_mj_step_per_s_one_core"] > 0
    phases = np.concatenate([t.column("phase").to_numpy() for t in tables])
    assert (phases[: 4 * 9] == 0).all() and (phases[-9:] == 1).all()  # 10% random, then competence


def test_same_seed_same_dataset_whatever_the_worker_count(tmp_path):
    run_babble(cfg(tmp_path / "a", steps=24, shard_size=12))
    run_babble(cfg(tmp_path / "b", steps=24, shard_size=12, workers=2))
    run_babble(cfg(tmp_path / "c", steps=24, shard_size=12, seed=1))
    a, b, c = (shard_tables(tmp_path / x) for x in "abc")
    assert all(ta.equals(tb) for ta, tb in zip(a, b))
    assert not a[0].column("state").equals(c[0].column("state"))


def test_resume_after_a_kill_keeps_finished_shards_and_matches_an_uninterrupted_run(tmp_path):
    out = tmp_path / "killed"
    args = {**TINY, "steps": 400, "shard_size": 10, "out": str(out)}
    code = ("import json, sys\nfrom nsca.babbling.run import BabbleConfig, run_babble\n"
            "from nsca.config import from_dict\n"
            f"run_babble(from_dict(BabbleConfig, json.loads({json.dumps(json.dumps(args))})))\n")
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "shards").glob("shard-*.parquet"))) < 3:
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = sorted(p.name for p in (out / "shards").glob("shard-*.parquet"))
    assert 3 <= len(kept) < 40
    mtimes = {p: (out / "shards" / p).stat().st_mtime_ns for p in kept}
    # resume with fewer interactions would be another config: refused, nothing touched
    with pytest.raises(UsageError, match="another run"):
        run_babble(from_dict(BabbleConfig, {**args, "steps": 100}))
    run_babble(from_dict(BabbleConfig, args))
    assert all((out / "shards" / p).stat().st_mtime_ns == t for p, t in mtimes.items())  # not redone
    reference = tmp_path / "reference"
    run_babble(from_dict(BabbleConfig, {**args, "out": str(reference)}))
    resumed, ref = shard_tables(out), shard_tables(reference)
    assert len(resumed) == len(ref) == 40
    assert all(x.equals(y) for x, y in zip(resumed, ref))


def test_data_loads_in_a_fresh_process(tmp_path):
    out = tmp_path / "bab"
    run_babble(cfg(out, steps=20, audio=True))
    code = (
        "import sys\nfrom nsca.data.store import open_dataset\n"
        "ds = open_dataset(sys.argv[1])\nitem = ds[5]\n"
        "print(len(ds), tuple(item['state'].shape), tuple(item['audio'].shape), int(item['primitive']))\n"
    )
    res = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"{20 * 8} ({STATE_DIM},) (4000,)")


@pytest.mark.parametrize("argv, message", [
    (["--steps", "0"], "steps must be a positive"),
    (["--workers", "-1"], "workers must be >= 0"),
    (["--n-steps", "50", "--record-every", "6"], "multiple of record_every"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    assert cli([*argv, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (tmp_path / "x").exists()


def test_an_out_folder_with_another_config_is_refused_and_kept(tmp_path, capsys):
    out = tmp_path / "bab"
    run_babble(cfg(out, steps=10))
    before = {p.name: p.read_bytes() for p in (out / "shards").iterdir()}
    assert cli(["--steps", "10", "--seed", "5", "--out", str(out), "--n-objects", "5", "--no-probe"]) == 2
    assert "another run's data" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in (out / "shards").iterdir()} == before


def test_missing_egl_with_render_is_a_one_line_error(tmp_path):
    code = ("import sys\nsys.argv[1:] = ['--render', '--steps', '5', '--out', sys.argv[1]]\n"
            "from tests.test_babbling_run import cli\nraise SystemExit(cli(sys.argv[1:]))\n")
    env = {**os.environ, "MUJOCO_GL": "osmesa"}  # a GL backend this machine does not have
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path / "r")], capture_output=True, text=True,
                         env=env, timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert res.returncode == 2, res.stderr
    assert "--render needs EGL" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_debug_preset_renders_frames(tmp_path):
    out = tmp_path / "r"
    env = {**os.environ, "MUJOCO_GL": "egl"}
    code = ("import sys\nfrom tests.test_babbling_run import cli\n"
            "raise SystemExit(cli(['--preset', 'debug', '--steps', '12', '--shard-size', '6', '--render',"
            " '--no-probe', '--no-progress', '--workers', '1', '--out', sys.argv[1]]))\n")
    res = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, env=env,
                         timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert res.returncode == 0, res.stderr
    assert "affordance coverage" in res.stdout
    frames = pq.read_table(out / "shards" / "shard-00000.parquet", columns=["frame"]).column("frame")
    img = np.asarray(frames[0].values).reshape(64, 64, 3)
    assert img.std() > 5  # a real picture, not a blank buffer
