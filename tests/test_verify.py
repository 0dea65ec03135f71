"""`nsca verify` / verify_world_model.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nsca.model.verify import OPTIONAL, REQUIRED, Report, verify_install

ROOT = Path(__file__).resolve().parents[1]


def test_verify_debug_model_reports_every_module_and_ok(capsys) -> None:
    assert verify_install("debug", batch_size=2, envs=False)
    out = capsys.readouterr().out
    for name in ("encoders.vision", "encoders.audio", "encoders.proprio", "encoders.state", "fusion",
                 "world_model.physics (AdaptivePhysicsPrior)", "total"):
        assert name in out
    assert "[OK  ] prior weight is trainable" in out and out.rstrip().splitlines()[-1].startswith("OK:")


def test_a_failing_required_check_is_reported_and_fails(capsys) -> None:
    report = Report()
    report.check("needs a thing", REQUIRED, lambda: (_ for _ in ()).throw(RuntimeError("thing missing")))
    report.check("nice to have", OPTIONAL, lambda: (_ for _ in ()).throw(ImportError("no extra")))
    out = capsys.readouterr().out
    assert report.failed_required == ["needs a thing"]
    assert "[FAIL] needs a thing" in out and "thing missing" in out and "[WARN] nice to have" in out


def test_verify_world_model_script(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, str(ROOT / "verify_world_model.py"), "--preset", "debug", "--skip-envs"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "OK: NSCA is ready to train" in res.stdout


@pytest.mark.slow
def test_verify_default_model_with_envs(capsys) -> None:
    assert verify_install("default", batch_size=2, envs=True)
    out = capsys.readouterr().out
    assert "[OK  ] model size" in out and "[OK  ] MuJoCo" in out and "[OK  ] Meta-World" in out
