"""Atomic writes: a killed process leaves either the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from nsca.errors import UsageError


def _default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Strict JSON (NaN / inf become null), written atomically."""
    from nsca.stats import strict_json

    atomic_write_text(path, json.dumps(strict_json(obj), indent=2, sort_keys=True, default=_default, allow_nan=False) + "\n")


def read_json(path: str | Path) -> Any | None:
    """The parsed file, or None if it is missing or corrupt (callers then redo the work)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def ensure_writable_dir(path: str | Path) -> Path:
    """Check up front that an output folder can be written, so a run fails before doing work.

    The check writes: it creates the missing folders and a probe file, then removes both, so it
    leaves nothing behind either way. Permission bits alone do not tell (root passes every
    `os.access` check, yet `/proc/x` cannot be created)."""
    path = Path(path)
    created: list[Path] = []
    try:
        missing = []
        p = path
        while not p.exists():
            missing.append(p)
            p = p.parent
        if not p.is_dir():
            raise NotADirectoryError(p)
        for d in reversed(missing):
            d.mkdir()
            created.append(d)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".nsca-write-probe-")
        os.close(fd)
        os.unlink(probe)
    except (OSError, ValueError):  # ValueError: a path with a NUL byte
        raise UsageError(f"output folder is not writable: {path}") from None
    finally:
        for d in reversed(created):
            with contextlib.suppress(OSError):  # another process wrote there meanwhile: its folder now
                d.rmdir()
    return path
