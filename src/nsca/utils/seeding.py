"""All randomness is seeded in one place so the same config + seed gives the same numbers."""

from __future__ import annotations

import os
import random

import numpy as np


def seed_everything(seed: int, deterministic_torch: bool = True) -> np.random.Generator:
    """Seed python, numpy and torch; return a numpy Generator for code that wants its own stream."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    os.environ["PYTHONHASHSEED"] = str(seed)
    import torch

    torch.manual_seed(seed)
    if deterministic_torch:
        torch.use_deterministic_algorithms(True, warn_only=True)
    return np.random.default_rng(seed)
