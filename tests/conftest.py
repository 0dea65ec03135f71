"""Shared fixtures: every test gets its own cache and data roots, so nothing leaks between runs."""

import os

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")


@pytest.fixture(autouse=True)
def _isolated_roots(tmp_path_factory, monkeypatch):
    cache = tmp_path_factory.getbasetemp() / "nsca_cache"  # shared within a session: demos are reused
    monkeypatch.setenv("NSCA_CACHE_DIR", str(cache))
    monkeypatch.setenv("NSCA_DATA_ROOT", str(tmp_path_factory.mktemp("data")))
