"""The simulator as the planner's model, and Meta-World's own reward on a predicted state.

Used by the phase-0 decomposition ({learned model, simulator} x {learned reward, true reward}):

- `SimulatorModel` puts the real episode's MuJoCo state into one slot per candidate future of a
  `MetaWorldBatch` of the task (same layout) and steps all candidates with one call: the
  planner's ceiling, no model error at all. (Meta-World drives the arm through a mocap body that
  `mujoco.rollout`'s open-loop control arrays do not cover, and the BC policy closes the loop at
  every step, so the candidates are stepped control step by control step.)
- `TrueReward` evaluates the task's `compute_reward` on an object-centric state the learned model
  predicted: the scratch copy is put in the real current state, the hand's bodies and sites are
  translated rigidly to the predicted hand position (fingers spread to the predicted opening),
  the object's to the predicted object position, and Meta-World's function reads them. The
  arm's posture and contact flags stay those of the current state, an approximation measured by
  `tests/test_oracle.py` (reward of the true next state vs the simulator's reward).
"""

from __future__ import annotations

import mujoco
import numpy as np

from nsca.envs.metaworld import MetaWorldTask, StateTracker, _robot_bodies
from nsca.envs.metaworld_batch import MetaWorldBatch
from nsca.priors.state import GRIPPER, HAND_POS, OBJ_POS


class _Scratch:
    """A second instance of the task whose sim state can be set to the real env's."""

    def __init__(self, real: MetaWorldTask) -> None:
        self.real = real
        self.env = MetaWorldTask(real.task)
        self._layout = None

    def sync_layout(self) -> None:
        if self._layout != self.real.layout_seed:
            self.env.reset(self.real.layout_seed)  # same goal, object init, reward constants
            self._layout = self.real.layout_seed

    def restore_real(self) -> None:
        """The real env's physics state, forwarded so that positions can be read."""
        self.env.batch.set_state(0, self.real.batch.get_state(0))


class SimulatorModel:
    """`begin(n)` at each planning step, then `step(actions)` -> (next states, true rewards)."""

    def __init__(self, real: MetaWorldTask) -> None:
        self.real = real
        self.batch: MetaWorldBatch | None = None
        self.tracker: StateTracker | None = None
        self._layout: int | None = None

    def begin(self, n: int) -> None:
        if self.batch is None or self.batch.n != n:
            if self.batch is not None:
                self.batch.close()
            self.batch, self._layout = MetaWorldBatch(self.real.task, n), None
            self.tracker = StateTracker(self.batch)
        if self._layout != self.real.layout_seed:  # same goal, object init, reward constants
            for k in range(n):
                self.tracker.reset(k, self.batch.reset(k, self.real.layout_seed).astype(np.float32))
            self._layout = self.real.layout_seed
        snap = self.real.batch.get_state(0)
        snap = (snap[0], snap[1], 0)  # the scratch copies never truncate
        real = self.real.tracker
        for k in range(n):
            self.batch.set_state(k, snap)
            self.tracker.last[k], self.tracker.vel_prev[k] = real.last[0], real.vel_prev[0]

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a = np.clip(np.asarray(actions), -1.0, 1.0).astype(np.float32)
        obs, _, rewards = self.batch.step(a, rewards=True)
        self.tracker.step(list(range(self.batch.n)), obs.astype(np.float32))
        return self.tracker.states(), rewards.astype(np.float32)


class TrueReward:
    """Meta-World's reward of predicted states (see the module docstring for the mapping)."""

    def __init__(self, real: MetaWorldTask) -> None:
        self.scratch = _Scratch(real)
        self.real = real
        e = self.scratch.env.env
        m = e.model
        robot = _robot_bodies(m)
        hand_root = m.body("hand").id
        # The hand's own subtree (hand, fingers, pads), not the whole arm.
        self.hand_bodies = np.array([b for b in robot if self._descends(m, b, hand_root)])
        self.hand_sites = np.array([s for s in range(m.nsite) if m.site_bodyid[s] in set(self.hand_bodies)])
        self.finger_bodies = np.array([m.body(n).id for n in ("leftpad", "rightpad") if _has_body(m, n)])
        self.finger_sites = np.array([m.site(n).id for n in ("leftEndEffector", "rightEndEffector")])

    @staticmethod
    def _descends(m, b: int, root: int) -> bool:
        while b > 0:
            if b == root:
                return True
            b = int(m.body_parentid[b])
        return False

    def begin(self) -> None:
        self.scratch.sync_layout()
        self.scratch.restore_real()
        d = self.scratch.env.env.data
        self._xpos, self._xipos, self._site = d.xpos.copy(), d.xipos.copy(), d.site_xpos.copy()
        self._obs = self.real.last_obs.copy()
        self._tcp = self._site[self.finger_sites].mean(0)
        axis = self._site[self.finger_sites[1]] - self._site[self.finger_sites[0]]
        self._axis = axis / max(float(np.linalg.norm(axis)), 1e-9)
        self._obj_body = self._main_object_body()

    def _main_object_body(self) -> int:
        m, d = self.scratch.env.env.model, self.scratch.env.env.data
        p = self._obs[4:7]
        robot = _robot_bodies(m)
        best, body = np.inf, -1
        for b in range(1, m.nbody):
            dist = float(np.linalg.norm(d.xipos[b] - p))
            if b not in robot and dist < best:
                best, body = dist, b
        return body if best < 0.02 else -1

    def __call__(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        e = self.scratch.env.env
        d = e.data
        out = np.empty(len(states), np.float32)
        for i, (s, a) in enumerate(zip(states, actions)):
            shift = s[HAND_POS] - self._obs[0:3]  # the observed hand point, not the finger-tip centre
            d.xpos[self.hand_bodies] = self._xpos[self.hand_bodies] + shift
            d.xipos[self.hand_bodies] = self._xipos[self.hand_bodies] + shift
            d.site_xpos[self.hand_sites] = self._site[self.hand_sites] + shift
            # Fingers spread to the predicted opening, symmetrically about the hand point.
            spread = float(np.clip(s[GRIPPER][0], 0.0, 1.0)) / max(float(self._obs[3]), 1e-3)
            for ids, arr, src in ((self.finger_sites, d.site_xpos, self._site), (self.finger_bodies, d.xpos, self._xpos),
                                  (self.finger_bodies, d.xipos, self._xipos)):
                if len(ids):
                    along = (src[ids] - self._tcp) @ self._axis
                    arr[ids] = src[ids] + shift + np.outer(along * (spread - 1.0), self._axis)
            obj_shift = s[OBJ_POS] - self._obs[4:7]
            if self._obj_body >= 0:
                d.xpos[self._obj_body] = self._xpos[self._obj_body] + obj_shift
                d.xipos[self._obj_body] = self._xipos[self._obj_body] + obj_shift
            obs = self._obs.astype(np.float64).copy()
            obs[18:36] = self._obs[:18]
            obs[0:3] = s[HAND_POS]
            obs[3] = np.clip(s[GRIPPER][0], 0.0, 1.0)
            obs[4:7] = s[OBJ_POS]
            reward, _ = e.evaluate_state(obs, np.asarray(a, np.float32))
            out[i] = float(reward)
        d.xpos[:], d.xipos[:], d.site_xpos[:] = self._xpos, self._xipos, self._site
        return out


def _has_body(m, name: str) -> bool:
    return mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, name) >= 0
