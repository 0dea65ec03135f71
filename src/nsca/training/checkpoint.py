"""Checkpoints: model, optimiser, AMP scaler, step, config and every RNG, written atomically
(read back by `nsca.model.trained.load_checkpoint`)."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nsca.utils.io import atomic_write_bytes


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, **payload: Any) -> None:
    """Write `payload` (plus the RNG states) to `path`; a kill mid-write keeps the old file."""
    buf = io.BytesIO()
    torch.save({**payload, "rng": rng_state()}, buf)
    atomic_write_bytes(path, buf.getvalue())
