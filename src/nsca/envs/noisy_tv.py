"""The noisy-TV world: a TV showing random static beside learnable objects and a static wall.

Each step the agent chooses one source to attend to and act on, sees a transition
(observation, action) -> next observation from it, and its forward model for that source
predicts the next observation. Sources:

- 0, the TV: every frame is fresh uniform static, independent of the past and the action.
  Its prediction error never falls: unlearnable.
- 1, the wall: a constant frame. Predictable after a glance.
- 2.., objects: linear dynamics s' = A s + B a + small noise under the agent's random pushes
  `a`; a forward model learns them within tens of looks. A drifts slowly (objects wear,
  move), so attending to an object keeps paying a little.

Forward models are recursive least squares on [s, a, 1] with a forgetting factor, one per
source, so "learning" is exact and fast and the only thing that differs between agents is
which source they choose.
"""

from __future__ import annotations

import numpy as np

TV, WALL = 0, 1


class NoisyTVWorld:
    def __init__(self, rng: np.random.Generator, n_objects: int = 4, obs_dim: int = 4, action_dim: int = 2,
                 drift: float = 0.002, obs_noise: float = 0.01) -> None:
        self.rng = rng
        self.obs_dim, self.action_dim = obs_dim, action_dim
        self.n_sources = 2 + n_objects
        self.drift, self.obs_noise = drift, obs_noise
        self.A = [self._stable(rng.normal(size=(obs_dim, obs_dim))) for _ in range(n_objects)]
        self.B = [rng.normal(scale=0.5, size=(obs_dim, action_dim)) for _ in range(n_objects)]
        self.frames = [rng.uniform(-1, 1, obs_dim) for _ in range(self.n_sources)]

    @staticmethod
    def _stable(a: np.ndarray, radius: float = 0.9) -> np.ndarray:
        return a * (radius / max(np.abs(np.linalg.eigvals(a)).max(), 1e-9))

    def source_names(self) -> list[str]:
        return ["tv", "wall"] + [f"object{i}" for i in range(self.n_sources - 2)]

    def step(self, source: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Attend to and act on `source`; return (obs, action, next_obs)."""
        action = self.rng.uniform(-1, 1, self.action_dim)
        obs = self.frames[source]
        if source == TV:
            nxt = self.rng.uniform(-1, 1, self.obs_dim)
        elif source == WALL:
            nxt = obs.copy()
        else:
            i = source - 2
            nxt = self.A[i] @ obs + self.B[i] @ action + self.rng.normal(scale=self.obs_noise, size=self.obs_dim)
        self.frames[source] = nxt
        self._drift()
        return obs, action, nxt

    def _drift(self) -> None:
        for i, a in enumerate(self.A):
            a = a + self.rng.normal(scale=self.drift, size=a.shape)
            if np.abs(np.linalg.eigvals(a)).max() > 0.95:
                a = self._stable(a, 0.95)
            self.A[i] = a


class RLSForwardModel:
    """Recursive least squares next-observation predictor on features [obs, action, 1]."""

    def __init__(self, obs_dim: int, action_dim: int, forgetting: float = 0.98, init_var: float = 100.0) -> None:
        n = obs_dim + action_dim + 1
        self.W = np.zeros((n, obs_dim))
        self.P = np.eye(n) * init_var
        self.forgetting = forgetting
        self.max_trace = init_var * n

    def _features(self, obs: np.ndarray, action: np.ndarray) -> np.ndarray:
        return np.concatenate([obs, action, [1.0]])

    def predict(self, obs: np.ndarray, action: np.ndarray) -> np.ndarray:
        return self._features(obs, action) @ self.W

    def update(self, obs: np.ndarray, action: np.ndarray, nxt: np.ndarray) -> float:
        """Predict, learn from the truth, and return the squared error of the prediction made."""
        x = self._features(obs, action)
        err = nxt - x @ self.W
        px = self.P @ x
        gain = px / (self.forgetting + x @ px)
        self.W += np.outer(gain, err)
        self.P = (self.P - np.outer(gain, px)) / self.forgetting
        # Forgetting inflates P along directions the data never excites (the wall's constant
        # frame); a bounded trace keeps RLS numerically sane on long runs.
        trace = np.trace(self.P)
        if trace > self.max_trace:
            self.P *= self.max_trace / trace
        return float(np.mean(err**2))
