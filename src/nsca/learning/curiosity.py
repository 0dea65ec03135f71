"""Intrinsic rewards: naive prediction-error curiosity and RobustCuriosityReward.

Naive curiosity rewards a source's recent prediction error, so a source of pure noise (the
"noisy TV") pays forever. RobustCuriosityReward pays prediction error only where it is
*learnable*: where the error has fallen, by more than its own sampling noise, since the
agent first met the source (IAC / CURIOUS-style learning progress, with a lower confidence
bound so noise cannot fake progress). Noise never shows such a fall, so its reward is 0.

Both keep one error history per source (an attention target, a region of state space, an
(object, primitive) pair...) and are updated with `record(source, error)`.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np


class _ErrorHistory:
    """Per-source error history: the first `window` errors (the reference) and the last `2*window`."""

    def __init__(self, n_sources: int, window: int) -> None:
        if window < 2:
            raise ValueError(f"window must be at least 2, got {window}")
        self.window = window
        self.first: list[list[float]] = [[] for _ in range(n_sources)]
        self.recent: list[deque[float]] = [deque(maxlen=2 * window) for _ in range(n_sources)]
        self.visits = np.zeros(n_sources, dtype=np.int64)

    def record(self, source: int, error: float) -> None:
        if not math.isfinite(error):
            raise ValueError(f"prediction error must be finite, got {error}")
        if len(self.first[source]) < self.window:
            self.first[source].append(float(error))
        self.recent[source].append(float(error))
        self.visits[source] += 1

    def measured(self, source: int) -> bool:
        """True once the source has two windows of errors, enough to measure its progress."""
        return self.visits[source] >= 2 * self.window

    def recent_error(self, source: int) -> float:
        r = list(self.recent[source])[-self.window :]
        return float(np.mean(r)) if r else math.inf


def _decrease(older, newer) -> tuple[float, float]:
    """(mean(older) - mean(newer), its Welch standard error); both windows non-empty."""
    a, b = np.asarray(older), np.asarray(newer)
    diff = float(a.mean() - b.mean())
    se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size) if min(a.size, b.size) > 1 else math.inf
    return diff, se


class NaiveCuriosityReward(_ErrorHistory):
    """Reward = recent mean prediction error. The control condition: fooled by noise."""

    def reward(self, source: int) -> float:
        if not self.measured(source):
            return math.inf  # unknown sources are tried first (same rule as the robust reward)
        return self.recent_error(source)


class RobustCuriosityReward(_ErrorHistory):
    """Reward = recent prediction error x learnability, learnability in [0, 1].

    learnability = 1 - exp(-lcb), where lcb is the lower confidence bound (z standard errors)
    of the fall in mean log-error from the source's first `window` errors to its last `window`:
    the share of its first-contact error that learning has *significantly* removed, counted
    only from `min_learnability` up (the first visits' estimates are noisy, so a few percent of
    "progress" on static is chance, not learning). Log errors
    make the test scale-free and their noise roughly constant, so one wild first error does not
    hide a fall of orders of magnitude. A source whose error does not fall (random static) gets
    learnability 0 and so reward 0, however large its error; a source being learned keeps
    paying its (falling) error.
    """

    def __init__(self, n_sources: int, window: int = 5, z: float = 2.0, min_learnability: float = 0.5) -> None:
        super().__init__(n_sources, window)
        self.z = z
        self.min_learnability = min_learnability

    def learning_progress(self, source: int) -> float:
        """IAC learning progress: mean error of the older window minus the recent window."""
        r = list(self.recent[source])
        if len(r) < 2 * self.window:
            return float("nan")
        return _decrease(r[: self.window], r[self.window :])[0]

    def learnability(self, source: int) -> float:
        if not self.measured(source):
            return float("nan")
        log = lambda xs: np.log(np.maximum(np.asarray(xs, dtype=float), 1e-12))  # noqa: E731
        recent = list(self.recent[source])[-self.window :]
        diff, se = _decrease(log(self.first[source]), log(recent))
        share = 1.0 - math.exp(-(diff - self.z * se))
        return float(share) if share >= self.min_learnability else 0.0

    def reward(self, source: int) -> float:
        if not self.measured(source):
            return math.inf
        return self.recent_error(source) * self.learnability(source)


CURIOSITY = {"naive": NaiveCuriosityReward, "robust": RobustCuriosityReward}
