"""The add-an-experiment example in docs/architecture.md runs as written, through the driver."""

import importlib
import json
import re
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def test_the_documented_example_experiment_runs_and_passes(tmp_path, monkeypatch, capsys):
    section = DOC.read_text().split("## Adding an experiment", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    (tmp_path / "doc_prior_error.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("doc_prior_error")
    try:
        from nsca.cli import OneLineParser
        from nsca.experiments import protocol

        exp = module.EXPERIMENT
        parser = OneLineParser(prog="prior-error")
        protocol.add_arguments(parser, exp)
        out = tmp_path / "run"
        rc = protocol.run_command(exp, parser.parse_args(["--seeds", "2", "--episodes", "2", "--out", str(out)]))
        results = json.loads((out / "results.json").read_text())
        assert rc == 0 and results["verdict"] == "PASS"
        assert min(results["figures"]["balloon"]) > 5 * max(results["figures"]["control"])
        assert set(json.loads((out / "config.json").read_text())) == {"config", "provenance"}
        assert (out / "plot.png").stat().st_size > 1000 and "prior-error: PASS" in capsys.readouterr().out
    finally:
        sys.modules.pop("doc_prior_error", None)
