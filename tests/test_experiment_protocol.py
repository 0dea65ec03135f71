"""The one experiment driver (nsca.experiments.protocol): run-folder layout, resume, the
config-change refusal, exit codes and the shared flags, on a toy check and through the CLI."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
import yaml

from nsca.cli import OneLineParser, main
from nsca.config import field
from nsca.errors import UsageError
from nsca.experiments import protocol
from nsca.experiments.protocol import RunConfig, SanityCheck, Verdict, seed_bars, seeds_field
from nsca.reporting import resummarize
from nsca.utils.provenance import git_state


@dataclass(frozen=True)
class ToyConfig(RunConfig):
    n_seeds: int = seeds_field(2)
    scale: float = field(1.0, "value scale")
    threshold: float = field(0.5, "PASS: every 'up' value above this, every 'down' value below")


def run_cell(config: dict, cell_dir) -> dict:
    sign = 1 if config["condition"] == "up" else -1
    return {"value": sign * config["scale"] * (config["seed"] + 1)}


class Toy(SanityCheck):
    name = "toy"
    config = ToyConfig
    conditions = ("up", "down")

    def judge(self, cfg, by, records):
        up, down = [m["value"] for m in by["up"]], [m["value"] for m in by["down"]]
        passed = min(up) > cfg.threshold and max(down) < -cfg.threshold
        return Verdict(passed, f"up > {cfg.threshold} > down", {"up": up, "down": down, "nan": float("nan")},
                       [{"condition": r["condition"], "seed": r["seed"], **r["metrics"]} for r in records])

    def report_lines(self, results):
        return [f"toy: up {results['figures']['up']} down {results['figures']['down']}"]

    def plot(self, cfg, records, results):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        seed_bars(ax, [0, 1], [[u, d] for u, d in zip(results["figures"]["up"], results["figures"]["down"])], 0.8, "C0")
        return fig


TOY = Toy()


def _stamps(out):
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.glob("*/*/metrics.json")}


def test_one_run_folder_layout_and_strict_results(tmp_path):
    out = tmp_path / "toy"
    cfg = ToyConfig(out=str(out))
    git_state.cache_clear()  # read once per process: read it now, for this checkout's HEAD now
    before = time.time()
    results = protocol.run_experiment(TOY, cfg)
    after = time.time()
    saved = json.loads((out / "config.json").read_text())
    assert set(saved) == {"config", "provenance"} and saved["config"] == asdict(cfg)
    # The commit recorded is this checkout's HEAD ("unknown" outside a git checkout).
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True)
    assert saved["provenance"]["git_commit"].removesuffix("-dirty") == (head.stdout.strip() if head.returncode == 0
                                                                       else "unknown")
    assert yaml.safe_load((out / "config.yaml").read_text()) == asdict(cfg)
    text = (out / "results.json").read_text()
    on_disk = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert on_disk["figures"]["nan"] is None  # NaN is written as null
    assert on_disk["verdict"] == results["verdict"] == "PASS" and on_disk["check"] == "toy"
    assert on_disk["config"] == asdict(cfg) and on_disk["experiment"] == "toy"
    # The run's own clock: the grid and summary ran inside the call, and the wall time is their span.
    assert before <= on_disk["start_time"] <= on_disk["end_time"] <= after
    assert on_disk["wall_time_s"] == round(on_disk["end_time"] - on_disk["start_time"], 1)
    assert on_disk["figures"]["up"] == [1.0, 2.0] and on_disk["figures"]["down"] == [-1.0, -2.0]
    assert (out / "report.txt").read_text() == "toy: up [1.0, 2.0] down [-1.0, -2.0]\n"
    assert (out / "plot.png").stat().st_size > 1000
    assert on_disk["files"] == ["results.json", "report.txt", "plot.png"]
    # The cells' configs hold no run field: changing where or how they run cannot redo them.
    cell = json.loads((out / "up" / "1" / "metrics.json").read_text())["config"]
    assert cell == {"scale": 1.0, "threshold": 0.5, "seed": 1, "condition": "up"}


def test_rerun_reuses_finished_cells_and_more_seeds_extend_the_grid(tmp_path):
    out = tmp_path / "toy"
    protocol.run_experiment(TOY, ToyConfig(out=str(out)))
    before = _stamps(out)
    assert len(before) == 4
    results = protocol.run_experiment(TOY, ToyConfig(out=str(out), n_seeds=3, workers=2))
    after = _stamps(out)
    assert len(after) == 6 and all(after[k] == v for k, v in before.items())
    assert results["figures"]["up"] == [1.0, 2.0, 3.0]
    assert json.loads((out / "config.json").read_text())["config"]["n_seeds"] == 3


def test_a_different_config_in_the_same_folder_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "toy"
    protocol.run_experiment(TOY, ToyConfig(out=str(out)))
    config_before = (out / "config.json").read_text()
    with pytest.raises(UsageError, match=r"holds a toy run with a different config \(differs in: scale\)"):
        protocol.run_experiment(TOY, ToyConfig(out=str(out), scale=2.0))
    assert (out / "config.json").read_text() == config_before


@pytest.mark.parametrize("content", [json.dumps(asdict(ToyConfig())), "{not json", '{"config": {}}'])
def test_a_config_json_of_another_layout_is_refused_and_left_untouched(tmp_path, capsys, content):
    """E.g. the flat config lethality once wrote: never taken for a fresh run and overwritten."""
    out = tmp_path / "old"
    out.mkdir()
    (out / "config.json").write_text(content)
    with pytest.raises(UsageError, match=r"config\.json is unreadable or not the config\.json of a run folder of this layout"):
        protocol.run_experiment(TOY, ToyConfig(out=str(out)))
    assert main(["sanity", "noisy-tv", "--seeds", "1", "--steps", "150", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(out / "config.json") in err and "not the config.json of a run folder" in err
    assert (out / "config.json").read_text() == content and [p.name for p in out.iterdir()] == ["config.json"]


def _command(argv: list[str]) -> int:
    parser = OneLineParser(prog="toy")
    protocol.add_arguments(parser, TOY)
    return protocol.run_command(TOY, parser.parse_args(argv))


def test_exit_codes_and_the_shared_flags(tmp_path, capsys):
    assert _command(["--out", str(tmp_path / "a"), "--seeds", "2"]) == 0
    printed = capsys.readouterr().out
    assert "toy: PASS  (results.json, report.txt, plot.png in" in printed
    assert _command(["--out", str(tmp_path / "b"), "--n-seeds", "1", "--threshold", "1.5"]) == 1
    assert "toy: FAIL" in capsys.readouterr().out
    assert json.loads((tmp_path / "b" / "config.json").read_text())["config"]["n_seeds"] == 1
    # The same flags for every experiment: YAML < flags, and --seeds is --n-seeds.
    conf = tmp_path / "c.yaml"
    conf.write_text("n_seeds: 1\nscale: 3.0\n")
    assert _command(["--config", str(conf), "--out", str(tmp_path / "c"), "--workers", "1", "--backend", "local"]) == 0
    res = json.loads((tmp_path / "c" / "results.json").read_text())
    assert res["figures"]["up"] == [3.0] and res["config"]["n_seeds"] == 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seeds", "0"], "--n-seeds must be at least 1, got 0"),
        (["--n-seeds", "two"], "n_seeds must be an integer"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--backend", "slurm"], "invalid choice"),
        (["--steps", "10"], "steps=10 is too few"),
    ],
)
def test_usage_errors_are_one_line_exit_2_and_write_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "ntv"
    try:
        code = main(["sanity", "noisy-tv", *argv, "--out", str(out)])
    except SystemExit as exc:  # argparse-level errors
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_a_changed_sanity_config_is_refused_through_the_cli(tmp_path, capsys):
    out = str(tmp_path / "ntv")
    assert main(["sanity", "noisy-tv", "--seeds", "1", "--steps", "150", "--out", out]) == 0
    capsys.readouterr()
    assert main(["sanity", "noisy-tv", "--seeds", "1", "--steps", "160", "--out", out]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("rerun with the same settings to resume") and "differs in: steps" in err
    assert len(err.splitlines()) == 1


def test_lethality_goes_through_the_driver_with_its_results_keys(tmp_path, capsys):
    out = tmp_path / "leth"
    args = ["lethality", "--task", "reach-v2", "--demos", "2", "--eval-episodes", "1", "--episode-steps", "3",
            "--agent.bc-steps", "5", "--agent.world-model-steps", "5",
            "--agent.planner.horizon", "2", "--agent.planner.samples", "4", "--calibration-steps", "40",
            "--priors", "none", "--seeds", "1", "--workers", "1", "--out", str(out)]
    assert main(args) == 0
    assert "lethality: not_applicable  (results.json, report.txt, results.csv, success.png in" in capsys.readouterr().out
    saved = json.loads((out / "config.json").read_text())
    assert set(saved) == {"config", "provenance"} and saved["config"]["n_seeds"] == 1
    results = json.loads((out / "results.json").read_text())
    assert {"table", "comparisons", "verdict", "verdict_text", "verdict_rule", "grid", "task", "demos", "n_seeds",
            "eval_episodes", "wall_time_s", "provenance"} <= set(results)
    assert set(results["table"]) == {"none", "bc"} and results["n_seeds"] == 1
    assert (out / "report.txt").read_text().startswith("Lethality test (default grid, preset default): reach-v2, 2 demos, 1 seeds")


EXPERIMENT = TOY  # so that resummarize.experiment_named can find the toy by module


def test_resummarize_rebuilds_the_summary_from_the_stored_cells(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(resummarize.EXPERIMENT_MODULES, "toy", __name__)
    out = tmp_path / "run"
    first = protocol.run_experiment(TOY, ToyConfig(out=str(out)))
    report = (out / "report.txt").read_text()
    stale = {**json.loads((out / "results.json").read_text()), "figures": {"up": [0], "down": [0]}}
    (out / "results.json").write_text(json.dumps(stale))  # a summary from older statistics code
    stamps = _stamps(out)
    assert main(["resummarize", str(out)]) == 0
    assert "4 cells re-summarized" in capsys.readouterr().out  # 2 conditions x 2 seeds
    again = json.loads((out / "results.json").read_text())
    assert again["figures"]["up"] == first["figures"]["up"] and (out / "report.txt").read_text() == report
    assert again["wall_time_s"] == first["wall_time_s"] and again["resummarized"]["cells"] == 4
    assert _stamps(out) == stamps  # no cell was rerun
    cell = next(out.glob("up/0/metrics.json"))
    cell.write_text("{not json")
    assert main(["resummarize", str(out)]) == 2
    assert "not a cell record" in capsys.readouterr().err
    cell.write_text(json.dumps({"condition": "up", "seed": 0, "metrics": {"value": 1.0}}))
    (out / "up" / "7").mkdir()  # a cell of a larger grid (an extension) is not this run's
    (out / "up" / "7" / "metrics.json").write_text(json.dumps({"condition": "up", "seed": 7, "metrics": {"value": 9.0}}))
    assert main(["resummarize", str(out)]) == 0 and "4 cells" in capsys.readouterr().out
    assert main(["resummarize", str(tmp_path / "nothing")]) == 2
    assert "not a finished run folder" in capsys.readouterr().err


def test_every_experiment_is_registered_by_its_name():
    import importlib
    import pkgutil

    import nsca.evaluation
    import nsca.experiments

    for name in resummarize.EXPERIMENT_MODULES:
        assert resummarize.experiment_named(name).name == name
    for pkg in (nsca.experiments, nsca.evaluation):
        for info in pkgutil.iter_modules(pkg.__path__):
            exp = getattr(importlib.import_module(f"{pkg.__name__}.{info.name}"), "EXPERIMENT", None)
            if exp is not None:
                assert resummarize.EXPERIMENT_MODULES.get(exp.name) == f"{pkg.__name__}.{info.name}"
    with pytest.raises(UsageError, match="unknown experiment"):
        resummarize.experiment_named("nope")
