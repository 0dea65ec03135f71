"""The Ray backend on a real local cluster (a head node and a worker node on this machine, one CPU
each): the same numbers as the local backend, a worker killed mid-cell is retried, a driver
killed mid-grid resumes without redoing finished cells, an unreachable address fails fast."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from nsca.errors import UsageError
from nsca.runner import Cell, run_grid

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -c constraints.txt -e '.[distributed]')")

REPO = Path(__file__).resolve().parents[1]
FN = "tests.test_runner_ray:held_cell"


def held_cell(config: dict, cell_dir: Path) -> dict:
    """A cheap cell: says which process runs it (pid file, one line per execution), waits while
    the test holds it (a file `<root>/hold/<seed>`), and returns numbers from its config alone."""
    # The execution is logged before the pid file appears: the test kills the pid as soon as it
    # sees the file, and a kill between the two writes would lose the first execution's line.
    with open(cell_dir / "executions.log", "a") as f:
        f.write(f"{os.getpid()}\n")
    # Atomically: the test reads the pid as soon as the file exists, so it must never see it empty.
    (cell_dir / "pid.tmp").write_text(str(os.getpid()))
    os.replace(cell_dir / "pid.tmp", cell_dir / "pid")
    hold = cell_dir.parent.parent / "hold" / str(config["seed"])
    while hold.exists():
        time.sleep(0.05)
    time.sleep(0.2)
    x, seed = config["x"], config["seed"]
    node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
    return {"value": x * x + 0.5 * seed, "ratio": (x + 1) / (seed + 3), "pid": os.getpid(), "node": node}


def _cells(n: int) -> list[Cell]:
    return [Cell(f"c{s % 2}", s, {"x": s + 1, "seed": s}) for s in range(n)]


def _hold(root: Path, *seeds: int) -> None:
    (root / "hold").mkdir(parents=True, exist_ok=True)
    for s in seeds:
        (root / "hold" / str(s)).touch()


def _release(root: Path, *seeds: int) -> None:
    for s in seeds:
        (root / "hold" / str(s)).unlink()


def _numbers(records: list[dict]) -> list[tuple]:
    return [(r["condition"], r["seed"], r["metrics"]["value"], r["metrics"]["ratio"]) for r in records]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_env() -> dict:
    # Token auth (Ray's default) would need the token on every node; a loopback test cluster
    # opts out. PYTHONPATH lets the cluster's workers import this module's cell function.
    return {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": f"{REPO}:{REPO / 'src'}",
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}


@pytest.fixture(scope="module")
def cluster():
    """`ray start --head` + `ray start --address` (one CPU each) as child processes; --block makes
    each one stop its own Ray processes when it gets SIGTERM at the end."""
    port = _free_port()
    env = _ray_env()
    old_auth = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    common = ["--block", "--num-cpus=1", "--node-ip-address=127.0.0.1", "--disable-usage-stats"]
    procs = [subprocess.Popen(["ray", "start", "--head", f"--port={port}", "--include-dashboard=false", *common],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or procs[0].poll() is not None:
                    pytest.fail("the Ray head node did not start")
                time.sleep(0.5)
        procs.append(subprocess.Popen(["ray", "start", f"--address={address}", *common],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        ray.init(address=address, log_to_driver=False)
        while ray.cluster_resources().get("CPU", 0) < 2:
            if time.time() > deadline:
                pytest.fail("the Ray worker node did not join")
            time.sleep(0.5)
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        ray.shutdown()
        yield address
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=90)
            except subprocess.TimeoutExpired:
                p.kill()
        if old_auth is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = old_auth


def _driver(address: str, root: Path, cells: list[Cell], max_retries: int = 3) -> subprocess.Popen:
    """A separate driver process running the grid on the cluster (so the test can kill it)."""
    spec = json.dumps([[c.condition, c.seed, c.config] for c in cells])
    code = ("import json, sys\nfrom nsca.runner import Cell, run_grid\n"
            f"cells = [Cell(c, s, cfg) for c, s, cfg in json.loads({spec!r})]\n"
            f"run_grid({FN!r}, cells, {str(root)!r}, backend='ray', address={address!r}, max_retries={max_retries})\n")
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=_ray_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.time() + timeout_s
    while not predicate():
        if time.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_ray_grid_matches_local_backend(cluster, tmp_path, monkeypatch):
    cells = _cells(6)
    local = run_grid(FN, cells, tmp_path / "local", workers=1)
    monkeypatch.chdir(tmp_path)  # a relative output folder means the driver's, wherever the workers run
    remote = run_grid(FN, cells, Path("ray"), backend="ray", address=cluster)
    assert all((c.dir(tmp_path / "ray") / "executions.log").is_file() for c in cells)  # written by the workers
    assert _numbers(remote) == _numbers(local)
    pids = {r["metrics"]["pid"] for r in remote}
    assert os.getpid() not in pids and len(pids) >= 2  # the cluster's two workers ran them, not the driver
    for c in cells:  # the commit files are on disk, identical to what the driver returned
        on_disk = json.loads((c.dir(tmp_path / "ray") / "metrics.json").read_text())
        assert on_disk["metrics"] == next(r["metrics"] for r in remote if r["seed"] == c.seed)


def test_no_address_starts_a_new_instance_not_a_cluster_running_here(cluster, tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    ray.init(address=cluster, log_to_driver=False)
    cluster_nodes = {n["NodeID"] for n in ray.nodes()}
    ray.shutdown()
    records = run_grid(FN, _cells(2), tmp_path, backend="ray")
    assert not ray.is_initialized()  # the grid disconnected (and stopped its instance)
    nodes = {r["metrics"]["node"] for r in records}
    assert None not in nodes and not nodes & cluster_nodes


def test_worker_killed_mid_cell_is_retried(cluster, tmp_path):
    cells = _cells(4)
    expected = _numbers(run_grid(FN, cells, tmp_path / "local"))
    root = tmp_path / "ray"
    _hold(root, 0)
    driver = _driver(cluster, root, cells)
    victim = cells[0].dir(root)
    _wait_for(lambda: (victim / "pid").exists(), 120, "cell 0 to start")
    killed = int((victim / "pid").read_text())
    os.kill(killed, signal.SIGKILL)  # the worker process dies in the middle of cell 0
    _release(root, 0)
    assert driver.wait(timeout=180) == 0, driver.stderr.read()
    executions = (victim / "executions.log").read_text().split()
    assert len(executions) == 2 and int(executions[0]) == killed and int(executions[1]) != killed
    records = [json.loads((c.dir(root) / "metrics.json").read_text()) for c in cells]
    assert _numbers(records) == expected


def test_without_retries_a_killed_worker_fails_the_grid(cluster, tmp_path):
    cells = _cells(1)
    _hold(tmp_path, 0)
    driver = _driver(cluster, tmp_path, cells, max_retries=0)
    _wait_for(lambda: (cells[0].dir(tmp_path) / "pid").exists(), 120, "the cell to start")
    os.kill(int((cells[0].dir(tmp_path) / "pid").read_text()), signal.SIGKILL)
    _release(tmp_path, 0)
    assert driver.wait(timeout=180) != 0
    assert "WorkerCrashedError" in driver.stderr.read()
    assert not (cells[0].dir(tmp_path) / "metrics.json").exists()


def test_driver_killed_mid_grid_resumes_without_redoing_finished_cells(cluster, tmp_path):
    cells = _cells(8)
    expected = _numbers(run_grid(FN, cells, tmp_path / "local"))
    root = tmp_path / "ray"
    held = [4, 5, 6, 7]
    _hold(root, *held)
    driver = _driver(cluster, root, cells)
    finished = lambda: [c for c in cells if (c.dir(root) / "metrics.json").exists()]  # noqa: E731
    _wait_for(lambda: len(finished()) == 4, 180, "the four free cells to finish")
    _wait_for(lambda: any((cells[s].dir(root) / "pid").exists() for s in held), 60, "a held cell to start")
    driver.send_signal(signal.SIGKILL)  # mid-grid: 4 cells done, the others queued or running
    driver.wait(timeout=60)
    done_before = {c: (c.dir(root) / "metrics.json").read_bytes() for c in finished()}
    assert sorted(c.seed for c in done_before) == [0, 1, 2, 3]
    _release(root, *held)
    records = run_grid(FN, cells, root, backend="ray", address=cluster)
    assert _numbers(records) == expected
    for c, before in done_before.items():
        assert (c.dir(root) / "metrics.json").read_bytes() == before  # not rewritten
        assert len((c.dir(root) / "executions.log").read_text().split()) == 1  # not recomputed


def test_unreachable_address_fails_in_one_line_quickly(tmp_path):
    closed = _free_port()
    t0 = time.time()
    with pytest.raises(UsageError, match="no Ray cluster answers"):
        run_grid(FN, _cells(1), tmp_path, backend="ray", address=f"127.0.0.1:{closed}", connect_timeout_s=3)
    # A port that accepts TCP but is not Ray (ray.init alone would wait there for minutes).
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted = []
    threading.Thread(target=lambda: accepted.extend(server.accept() for _ in range(8)), daemon=True).start()
    try:
        with pytest.raises(UsageError, match="no Ray cluster answers"):
            run_grid(FN, _cells(1), tmp_path, backend="ray",
                     address=f"ray://127.0.0.1:{server.getsockname()[1]}", connect_timeout_s=3)
    finally:
        server.close()
    assert time.time() - t0 < 20
    assert not list(tmp_path.rglob("metrics.json"))
    with pytest.raises(UsageError, match="not host:port"):
        run_grid(FN, _cells(1), tmp_path, backend="ray", address="nowhere")


def test_cli_unreachable_address_is_one_line_exit_2(tmp_path, capsys):
    from nsca.cli import main

    port = _free_port()
    code = main(["lethality", "--backend", "ray", "--address", f"127.0.0.1:{port}", "--n-seeds", "1",
                 "--priors", "0.9", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    errors = [line for line in err.splitlines() if "error" in line]
    assert errors == [f"nsca lethality: error: no Ray cluster answers at 127.0.0.1:{port} (Connection refused); "
                      "check the address and that the head node is running"]
    assert not list((tmp_path / "out").rglob("metrics.json"))
