"""What a run folder records about where its numbers came from, and its `config.json`.

Every run folder (an experiment's, a training run's) holds `config.json` in one layout:
`{"config": <the resolved config as a nested dict>, "provenance": provenance(), ...}`, plus any
keys its readers need that the config alone does not give (a training run's model as built).

A record (a run into the repository's `results/`, or one its experiment marks as a record, like
the pre-registered lethality confirmation) is refused from a git tree whose tracked files differ
from its commit, unless the run says `--allow-dirty`, which its config then records: a record's
`git_commit` must be the code that made it.
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

from nsca.errors import UsageError
from nsca.utils.io import atomic_write_json, read_json

_PACKAGES = ("nsca", "torch", "numpy", "mujoco", "metaworld", "gymnasium", "pyarrow")
REPO_ROOT = Path(__file__).resolve().parents[3]
RECORDS_DIR = REPO_ROOT / "results"


def repo_state(root: Path) -> tuple[str, bool]:
    """(HEAD's commit, or "unknown" outside a git checkout; whether tracked files outside
    `results/` differ from it). The records are left out: a run that extends or resumes a record
    rewrites that record's tracked config.json before its worker processes ask, and those files
    are the run's output, not the code that made it (cells of the untuned record were marked
    "-dirty" for that reason alone)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        if out.returncode != 0:
            return "unknown", False
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results"],
                               cwd=root, capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip(), bool(dirty)
    except (OSError, subprocess.SubprocessError):
        return "unknown", False


@lru_cache(maxsize=1)
def git_state() -> tuple[str, bool]:
    """This checkout's `repo_state`, asked once per process."""
    return repo_state(REPO_ROOT)


def git_commit() -> str:
    commit, dirty = git_state()
    return commit + ("-dirty" if dirty else "")


def is_record(out: str | Path) -> bool:
    """Whether a run folder lies in the repository's results/ (the records)."""
    return Path(out).resolve().is_relative_to(RECORDS_DIR.resolve())


def check_recordable(out: str | Path, allow_dirty: bool, record: bool = False) -> None:
    """Refuse (one line, nothing written) to record a run from a tree with uncommitted changes.
    `record`: the run is a record wherever it is written (its experiment says so)."""
    if (record or is_record(out)) and git_state()[1] and not allow_dirty:
        raise UsageError(f"the git tree has uncommitted changes, so {out} would not record the code that made it: "
                         "commit them, or pass --allow-dirty (recorded in config.json)")


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
        "git_dirty": git_state()[1],
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
    unreadable or of another layout (each caller refuses those with its own one line)."""
    saved = read_json(Path(folder) / "config.json")
    if isinstance(saved, dict) and isinstance(saved.get("config"), dict) and "provenance" in saved:
        return saved
    return None
