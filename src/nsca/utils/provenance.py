"""What a run folder records about where its numbers came from, and its `config.json`.

Every run folder (an experiment's, a training run's) holds `config.json` in one layout:
`{"config": <the resolved config as a nested dict>, "provenance": provenance(), ...}`, plus any
keys its readers need that the config alone does not give (a training run's model as built).
"""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from nsca.utils.io import atomic_write_json, read_json

_PACKAGES = ("nsca", "torch", "numpy", "mujoco", "metaworld", "gymnasium", "pyarrow")


@lru_cache(maxsize=1)
def git_commit() -> str:
    root = Path(__file__).resolve().parents[3]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
        commit = out.stdout.strip() if out.returncode == 0 else "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, timeout=5,
        ).stdout.strip()
        return commit + ("-dirty" if dirty and commit != "unknown" else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions(names: tuple[str, ...] = _PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def provenance() -> dict:
    return {
        "git_commit": git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_run_config(folder: str | Path, config: dict, **extra: Any) -> None:
    """Write `<folder>/config.json` in the one run-folder layout (atomically, strict JSON)."""
    atomic_write_json(Path(folder) / "config.json", {"config": config, "provenance": provenance(), **extra})


def read_run_config(folder: str | Path) -> dict | None:
    """The parsed `<folder>/config.json` if it has the one layout; None if it is missing,
    unreadable or of another layout (the caller decides whether an older layout is readable)."""
    saved = read_json(Path(folder) / "config.json")
    if isinstance(saved, dict) and isinstance(saved.get("config"), dict) and "provenance" in saved:
        return saved
    return None
