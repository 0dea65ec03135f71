"""What the three sanity checks share: run folder set-up, the results file, the verdict lines."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from nsca.utils.io import atomic_write_json, ensure_writable_dir
from nsca.utils.provenance import provenance


def start_run(out: str | Path, cfg: Any) -> tuple[Path, float]:
    """Check the folder is writable and record the resolved config before any work."""
    out = ensure_writable_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "config.json", {"config": dataclasses.asdict(cfg), "provenance": provenance()})
    return out, time.time()


def finish_run(out: Path, t0: float, check: str, cfg: Any, passed: bool, rule: str, figures: dict, per_seed: list[dict]) -> dict:
    results = {
        "check": check,
        "verdict": "PASS" if passed else "FAIL",
        "rule": rule,
        "figures": figures,
        "per_seed": per_seed,
        "config": dataclasses.asdict(cfg),
        "provenance": provenance(),
        "start_time": t0,
        "end_time": time.time(),
        "wall_time_s": time.time() - t0,
    }
    atomic_write_json(out / "results.json", results)
    return results


def verdict_line(check: str, passed: bool, out: Path) -> str:
    return f"{check}: {'PASS' if passed else 'FAIL'}  (results.json and plot.png in {out})"
