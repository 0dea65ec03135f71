"""Which interaction to try next: uniform at first, then by learning progress (CURIOUS-style).

A cell is an (object, primitive) pair. For the first `random_fraction` of the run every choice
(object, primitive, spawn mode, parameters) is uniform. After that a `uniform_share` of
choices stays uniform and the rest pick a cell with probability proportional to its learning
progress:

    LP(cell) = max(0, |mean(recent window) - mean(older window)| - noise)

over the cell's last 2 x `window` competence scores (nsca.babbling.primitives.competence),
where `noise` is twice the standard error of that difference (a coin-flip cell's means
differ by chance; only a change beyond ~95% noise counts as progress). A cell whose competence is rising is
learnable and gets retried; a mastered cell (always 1) and a hopeless or noisy one (flat or
random) have LP ~ 0 and fade. Competence can rise because the explorer also adapts each cell's
parameters: it resamples near parameters that succeeded before (a per-cell elite set).

Within one proposed batch a cell gets at most 2 x `window` LP-driven picks (enough to
re-measure its LP; the run recomputes LP after every batch of `refresh` interactions).
Proposals for a batch depend only on the explorer's state and (seed, batch index), and
updates are applied in episode order, so a run is deterministic whatever the number of
worker processes, and a resumed run rebuilds the same explorer by replaying finished shards.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from nsca.babbling.interaction import InteractionSpec
from nsca.babbling.primitives import COMPATIBLE_SPAWNS, N_PARAMS, PRIMITIVES

SUCCESS = 0.5          # competence at or above this counts the parameters as an elite
ELITE_SIZE = 16
PARAM_NOISE = 0.1
NOISE_Z = 2.0


class LearningProgressExplorer:
    def __init__(self, n_objects: int, total: int, seed: int, random_fraction: float = 0.1,
                 window: int = 8, uniform_share: float = 0.2, primitives: tuple[str, ...] = PRIMITIVES) -> None:
        self.n_objects, self.total, self.seed = n_objects, total, seed
        self.primitives = primitives
        self.random_until = int(round(random_fraction * total))
        self.window, self.uniform_share = window, uniform_share
        n = n_objects * len(primitives)
        self.history = [deque(maxlen=2 * window) for _ in range(n)]
        self.elites = [deque(maxlen=ELITE_SIZE) for _ in range(n)]
        self.tries = np.zeros(n, dtype=np.int64)

    def _cell(self, object_id: int, primitive: str) -> int:
        return object_id * len(self.primitives) + self.primitives.index(primitive)

    # ---- learning progress -------------------------------------------------------------
    def learning_progress(self, optimistic: bool = True) -> np.ndarray:
        """(n_objects, n_primitives) LP. Cells with fewer than 4 scores get the largest possible
        LP, 1 (optimism: every cell is tried before it can fade), or NaN with optimistic=False."""
        lp = np.full(len(self.history), np.nan)
        w = self.window
        for i, h in enumerate(self.history):
            if len(h) < 4:
                continue
            a = np.asarray(h, dtype=float)
            half = min(w, len(a) // 2)
            old, new = a[-2 * half:-half], a[-half:]
            noise = NOISE_Z * np.sqrt((old.var() + new.var()) / half)
            lp[i] = max(0.0, abs(new.mean() - old.mean()) - noise)
        if optimistic:
            lp = np.where(np.isnan(lp), 1.0, lp)
        return lp.reshape(self.n_objects, len(self.primitives))

    def competence(self) -> np.ndarray:
        """Mean recent competence per cell (NaN where never tried)."""
        c = np.array([np.mean(h) if len(h) else np.nan for h in self.history])
        return c.reshape(self.n_objects, len(self.primitives))

    # ---- proposals and updates ---------------------------------------------------------
    def propose(self, start: int, n: int) -> list[InteractionSpec]:
        """Specs for episodes start .. start+n-1 (one batch)."""
        rng = np.random.default_rng([self.seed, start])
        n_prim = len(self.primitives)
        lp = self.learning_progress().ravel()
        p_lp = (lp + 1e-6) / (lp + 1e-6).sum()
        picks = np.zeros(lp.size, dtype=np.int64)
        specs = []
        for e in range(start, min(start + n, self.total)):
            competence_phase = e >= self.random_until
            cell = int(rng.integers(lp.size))
            if competence_phase and rng.random() >= self.uniform_share:
                by_lp = int(rng.choice(lp.size, p=p_lp))
                # 2 x window new scores re-measure a cell's LP: more in one batch would be stale.
                if picks[by_lp] < 2 * self.window:
                    cell = by_lp
            picks[cell] += 1
            object_id, prim = divmod(cell, n_prim)
            primitive = self.primitives[prim]
            elites = self.elites[cell]
            if competence_phase and elites and rng.random() < 0.7:
                base = np.asarray(elites[int(rng.integers(len(elites)))])
                params = np.clip(base + rng.normal(0.0, PARAM_NOISE, N_PARAMS), 0.0, 1.0)
            else:
                params = rng.random(N_PARAMS)
            spawns = COMPATIBLE_SPAWNS[primitive]
            specs.append(InteractionSpec(
                episode_index=e, object_id=object_id, spawn=spawns[int(rng.integers(len(spawns)))],
                primitive=primitive, params=tuple(float(round(x, 6)) for x in params),
                seed=int(rng.integers(2**31 - 1)), phase=int(competence_phase),
            ))
        return specs

    def update(self, object_id: int, primitive: str, params, competence: float) -> None:
        cell = self._cell(object_id, primitive)
        self.history[cell].append(float(competence))
        self.tries[cell] += 1
        if competence >= SUCCESS:
            # float32, as the dataset stores them: a resumed run replays exactly the same elites
            self.elites[cell].append(tuple(float(np.float32(p)) for p in params))

    def table(self) -> dict:
        """A compact view for logs: per-primitive mean LP (of cells with a measured LP) and
        competence, the share of cells with LP > 0, and the top cells."""
        lp, comp = self.learning_progress(optimistic=False), self.competence()
        ranked = np.nan_to_num(lp.ravel(), nan=-1.0)
        top = np.argsort(ranked)[::-1][:5]

        def mean(v: np.ndarray) -> float | None:
            return float(np.nanmean(v)) if np.isfinite(v).any() else None

        return {
            "lp_by_primitive": {p: mean(lp[:, i]) for i, p in enumerate(self.primitives)},
            "learning_cells_share": float((np.nan_to_num(lp) > 0).mean()),
            "competence_by_primitive": {p: mean(comp[:, i]) for i, p in enumerate(self.primitives)},
            "top_cells": [{"object_id": int(c // len(self.primitives)),
                           "primitive": self.primitives[c % len(self.primitives)],
                           "lp": float(ranked[c])} for c in top if ranked[c] >= 0],
        }
