"""Shared fixtures: every test gets its own cache and data roots, so nothing leaks between runs."""

import os

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")


@pytest.fixture(autouse=True)
def _isolated_roots(tmp_path_factory, monkeypatch):
    cache = tmp_path_factory.getbasetemp() / "nsca_cache"  # shared within a session: demos are reused
    monkeypatch.setenv("NSCA_CACHE_DIR", str(cache))
    monkeypatch.setenv("NSCA_DATA_ROOT", str(tmp_path_factory.mktemp("data")))


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module: the tiny models gain nothing from more; on a loaded machine they cost a lot."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
