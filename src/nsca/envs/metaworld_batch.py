"""N Meta-World environments of one task stepped together, from MuJoCo directly.

Meta-World's `env.step` spends 70-92% of a control step outside the simulator: named-object
lookups, a scipy rotation per observation, a Python loop over contacts for an info flag nobody
reads, and the reward. `MetaWorldBatch.step` takes an (N, 4) action array and returns (N, 39)
observations, (N,) success flags and, only when asked, (N,) rewards:

- physics: the same MuJoCo calls `env.step` makes (mocap move, gripper control, `mj_step` x
  frame_skip, `mj_rnePostConstraint`, `mj_forward`) on each slot's own `MjData`, optionally on a
  thread pool (MuJoCo releases the GIL);
- observation: one gather over views into every slot's `MjData`, then vectorised numpy (gripper
  opening, object pose, frame stacking, clipping to the observation space);
- success: each task's criterion from Meta-World's `evaluate_state`, vectorised (`TASKS`);
- reward: Meta-World's own `compute_reward` of the slot's env, so it is exact by construction
  (its cost is paid only by callers that read rewards: the RL baselines and the returns of
  recorded episodes).

Each slot is a real Meta-World env object (reset, layouts, reward constants: Meta-World stays the
reference; layouts come from the project's seeded layouts via `reset(slot, layout_seed)`), and the
stepper keeps its bookkeeping (`_prev_obs`, `curr_path_length`, `_last_stable_obs`) as `env.step`
would, so the env can be handed to Meta-World's code at any point. A task not in `TASKS` is
stepped by Meta-World's own `env.step`, said once on stderr. Equivalence with `env.step` is tested
on every task the project uses (tests/test_metaworld_batch.py).
"""

from __future__ import annotations

import copy
import sys
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import mujoco
import numpy as np
from scipy.spatial.transform import Rotation

_WARNED: set[str] = set()
_MOCAP_QUAT = np.array([1.0, 0.0, 1.0, 0.0])


@dataclass(frozen=True)
class Source:
    """Where an observation or success input lives in MjData: kind in {body, geom, site, qpos}."""

    kind: str
    name: str

    def width(self, what: str) -> int:
        return {"pos": 3, "mat": 9, "quat": 4, "qpos": 1}[what]


@dataclass(frozen=True)
class TaskSpec:
    """What a task's observation reads and when it counts as solved (Meta-World's own rules).

    obj: the object position (`_get_pos_objects`), plus `offset`; quat: ("mat", source) for a
    rotation matrix turned into a scalar-last quaternion as scipy does, ("quat", source) for MuJoCo's
    body quaternion as stored, None for zeros (`_get_quat_objects`); extras: further inputs of
    `success(obs, target, extras, env)` (obs: the clipped (N, 39) observation; target: (N, 3) goal).
    """

    obj: Source
    quat: tuple[str, Source] | None
    success: Callable[..., np.ndarray]
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    extras: tuple[tuple[str, Source], ...] = ()


def _norm(d: np.ndarray) -> np.ndarray:
    """Row norms computed as Meta-World's 1-D `np.linalg.norm` does (sqrt of BLAS dot), to the bit:
    the vectorised forms differ in the last place in ~10% of rows, which a closed loop amplifies."""
    return np.sqrt(np.array([np.dot(x, x) for x in d]))


def _dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _norm(a - b)


def _within(radius: float | str, extra: float = 0.0):
    """success = |object - target| <= radius (a number, or the env's attribute of that name, e.g.
    TARGET_RADIUS, plus `extra`)."""

    def success(obs, target, extras, env):
        r = (getattr(env, radius) if isinstance(radius, str) else radius) + extra
        return _dist(obs[:, 4:7], target) <= r
    return success


def _x_within(radius: float | str):
    def success(obs, target, extras, env):
        r = getattr(env, radius) if isinstance(radius, str) else radius
        return np.abs(obs[:, 4] - target[:, 0]) <= r
    return success


def _reach(obs, target, extras, env):
    tcp = (extras[0] + extras[1]) / 2.0
    return _dist(tcp, target) <= 0.05


def _button_topdown(obs, target, extras, env):
    return np.abs(target[:, 2] - obs[:, 6]) <= 0.024


def _peg_insert(obs, target, extras, env):
    return _norm((extras[0] - target) * np.array([1.0, 2.0, 2.0])) <= 0.07


def _sweep_into(obs, target, extras, env):
    return _dist(obs[:, 4:7], np.stack([target[:, 0], target[:, 1], obs[:, 6]], axis=-1)) <= 0.05


def _basketball(obs, target, extras, env):
    hoop = target.copy()
    hoop[:, 2] = 0.3  # Meta-World's target: just above the hoop, whatever the goal's height
    d = (obs[:, 4:7] - hoop) * np.array([1.0, 1.0, 2.0])
    return _norm(d) <= env.TARGET_RADIUS


def _lever_pull(obs, target, extras, env):
    angle = -extras[0][:, 0]
    return np.abs(angle - np.pi / 2.0) <= np.pi / 24


_B, _G, _S = (lambda n: Source("body", n)), (lambda n: Source("geom", n)), (lambda n: Source("site", n))
_TCP = (("pos", _S("rightEndEffector")), ("pos", _S("leftEndEffector")))

# The tasks the project uses: the 5 phase-0 tasks and the 15 ML10 tasks (10 train, 5 test).
TASKS: dict[str, TaskSpec] = {
    "pick-place-v3": TaskSpec(_B("obj"), ("mat", _G("objGeom")), _within(0.07)),
    "push-v3": TaskSpec(_B("obj"), ("mat", _G("objGeom")), _within("TARGET_RADIUS")),
    "reach-v3": TaskSpec(_B("obj"), ("mat", _G("objGeom")), _reach, extras=_TCP),
    "drawer-open-v3": TaskSpec(_B("drawer_link"), ("quat", _B("drawer_link")), _within(0.03), offset=(0.0, -0.16, 0.0)),
    "drawer-close-v3": TaskSpec(_B("drawer_link"), None, _within("TARGET_RADIUS", extra=0.015), offset=(0.0, -0.16, 0.05)),
    "button-press-topdown-v3": TaskSpec(_B("button"), ("quat", _B("button")), _button_topdown, offset=(0.0, 0.0, 0.193)),
    "door-open-v3": TaskSpec(_G("handle"), ("mat", _G("handle")), _x_within(0.08)),
    "door-close-v3": TaskSpec(_G("handle"), ("mat", _G("handle")), _within(0.08)),
    "peg-insert-side-v3": TaskSpec(_S("pegGrasp"), ("mat", _S("pegGrasp")), _peg_insert, extras=(("pos", _S("pegHead")),)),
    "window-open-v3": TaskSpec(_S("handleOpenStart"), None, _x_within("TARGET_RADIUS")),
    "sweep-v3": TaskSpec(_B("obj"), ("quat", _B("obj")), _within(0.05)),
    "sweep-into-v3": TaskSpec(_B("obj"), ("mat", _G("objGeom")), _sweep_into),
    "basketball-v3": TaskSpec(_B("bsktball"), ("quat", _B("bsktball")), _basketball),
    "shelf-place-v3": TaskSpec(_B("obj"), ("mat", _G("objGeom")), _within(0.07)),
    "lever-pull-v3": TaskSpec(_S("leverStart"), ("mat", _G("objGeom")), _lever_pull,
                              extras=(("qpos", Source("qpos", "LeverAxis")),)),
}


def _view(model, data, what: str, src: Source) -> np.ndarray:
    """A view into `data` (valid for its lifetime: MjData's buffers are never reallocated)."""
    if src.kind == "qpos":
        adr = int(model.jnt_qposadr[model.joint(src.name).id])
        return data.qpos[adr:adr + 1]
    obj = {"body": mujoco.mjtObj.mjOBJ_BODY, "geom": mujoco.mjtObj.mjOBJ_GEOM, "site": mujoco.mjtObj.mjOBJ_SITE}[src.kind]
    i = mujoco.mj_name2id(model, obj, src.name)
    if i < 0:
        raise KeyError(f"{src.kind} '{src.name}' not in the model")
    arrays = {
        ("body", "pos"): data.xpos, ("body", "quat"): data.xquat, ("geom", "pos"): data.geom_xpos,
        ("geom", "mat"): data.geom_xmat, ("site", "pos"): data.site_xpos, ("site", "mat"): data.site_xmat,
    }
    return arrays[(src.kind, what)][i]


class _ParsedOnce:
    """Stands in for the `mujoco` module inside gymnasium's MujocoEnv while an env is built, so
    that each task's XML is compiled once per process and every env gets its own copy of the
    compiled model (a profiled evaluation cell spent 5.5 s in 20 parses of the same file).
    Everything but `MjModel.from_xml_path` is the real module's."""

    _models: dict[str, mujoco.MjModel] = {}

    class MjModel:
        @staticmethod
        def from_xml_path(path: str, *args, **kwargs) -> mujoco.MjModel:
            if args or kwargs:  # assets / VFS: not a plain file, parse as asked
                return mujoco.MjModel.from_xml_path(path, *args, **kwargs)
            cache = _ParsedOnce._models
            if path not in cache:
                cache[path] = mujoco.MjModel.from_xml_path(path)
            return copy.copy(cache[path])

    def __getattr__(self, name):
        return getattr(mujoco, name)


def make_env(task: str):
    """One Meta-World env of `task` (a v3 name) whose layout is chosen by a seed at every reset."""
    from gymnasium.envs.mujoco import mujoco_env

    from nsca.envs.metaworld import _registry, _task_spec

    real = mujoco_env.mujoco
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mujoco_env.mujoco = _ParsedOnce()
        try:
            env = _registry()[task]()
        finally:
            mujoco_env.mujoco = real
    env.set_task(_task_spec(task))
    env._freeze_rand_vec = False
    env.seeded_rand_vec = True
    return env


class MetaWorldBatch:
    """N environments of one task; slot k is `envs[k]`. Steps all (or some) slots per call."""

    def __init__(self, task: str, n: int, threads: int = 1, envs: Sequence | None = None, reference: bool = False) -> None:
        """`reference`: step every slot with Meta-World's own `env.step` (what a task outside `TASKS`
        gets; benchmarks and tests compare against it)."""
        from nsca.envs.metaworld import resolve_task

        if n < 1:
            raise ValueError(f"a batch needs n >= 1 environments, got {n}")
        self.task = resolve_task(task)
        self.envs = list(envs) if envs is not None else [make_env(self.task) for _ in range(n)]
        if len(self.envs) != n:
            raise ValueError(f"got {len(self.envs)} envs for a batch of {n}")
        self.n = n
        e = self.envs[0]
        self.max_episode_steps = int(e.max_path_length)
        self.dt_s = float(e.dt)
        self.frame_skip = int(e.frame_skip)
        self.spec = None if reference else TASKS.get(self.task)
        if self.spec is None and not reference and self.task not in _WARNED:
            _WARNED.add(self.task)
            print(f"note: the batched Meta-World stepper does not cover '{self.task}'; stepping it with "
                  "Meta-World's own env.step (slower)", file=sys.stderr)
        space = e.sawyer_observation_space
        self._low, self._high = np.asarray(space.low, np.float64), np.asarray(space.high, np.float64)
        self._mocap_low, self._mocap_high = np.asarray(e.mocap_low), np.asarray(e.mocap_high)
        self.target = np.zeros((n, 3))
        self.layout_seeds = [-1] * n
        # The env objects hold the state (MjData, _prev_obs); the batch keeps views into it.
        self._mocap = [env.data.mocap_pos[0] for env in self.envs]
        self._views = [self._slot_views(env) for env in self.envs] if self.spec else []
        self._pool = ThreadPoolExecutor(threads) if threads > 1 and n > 1 else None

    # --- layout --------------------------------------------------------------------------
    def _slot_views(self, env) -> list[np.ndarray]:
        m, d, s = env.model, env.data, self.spec
        views = [_view(m, d, "pos", _B("hand")), _view(m, d, "pos", _B("rightclaw")),
                 _view(m, d, "pos", _B("leftclaw")), _view(m, d, "pos", s.obj)]
        if s.quat is not None:
            views.append(_view(m, d, *s.quat))
        views += [_view(m, d, what, src) for what, src in s.extras]
        return views

    def reset(self, slot: int, layout_seed: int) -> np.ndarray:
        """Reset slot `slot` to the layout of `layout_seed`; returns its (39,) float64 observation."""
        env = self.envs[slot]
        env.seed(int(layout_seed))
        obs, _ = env.reset()
        self.layout_seeds[slot] = int(layout_seed)
        self.target[slot] = env._target_pos
        return np.asarray(obs, np.float64)

    # --- stepping ------------------------------------------------------------------------
    def _physics(self, k: int, action: np.ndarray) -> None:
        env = self.envs[k]
        m, d = env.model, env.data
        d.ctrl[0], d.ctrl[1] = action[3], -action[3]
        mujoco.mj_step(m, d, nstep=self.frame_skip)
        mujoco.mj_rnePostConstraint(m, d)
        mujoco.mj_forward(m, d)

    def step(self, actions: np.ndarray, slots: Sequence[int] | None = None, rewards: bool = False
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Step `slots` (default: all, in order) with `actions` (len(slots), 4); returns observations
        (m, 39) float64, success (m,) bool and rewards (m,) float64 (None unless `rewards`).

        Actions are used in their own dtype, as `env.step` would (float32 from the agents)."""
        slots = list(range(self.n)) if slots is None else list(slots)
        actions = np.asarray(actions)
        if actions.shape != (len(slots), 4):
            raise ValueError(f"actions must have shape ({len(slots)}, 4), got {actions.shape}")
        for k in slots:
            env = self.envs[k]
            if env.curr_path_length >= env.max_path_length:
                raise ValueError("You must reset the env manually once truncate==True")
        if self.spec is None:
            return self._step_reference(actions, slots, rewards)
        # The mocap move of `set_xyz_action`, vectorised (same dtypes: delta in the action's dtype).
        delta = np.clip(actions[:, :3], -1, 1) * self.envs[0].action_scale
        mocap = np.clip(self.mocap(slots) + delta, self._mocap_low, self._mocap_high)
        for i, k in enumerate(slots):
            d = self.envs[k].data
            d.mocap_pos[0] = mocap[i]
            d.mocap_quat[:] = _MOCAP_QUAT
        if self._pool is not None and len(slots) > 1:
            list(self._pool.map(self._physics, slots, actions))
        else:
            for k, a in zip(slots, actions):
                self._physics(k, a)
        obs, extras = self._observe(slots)
        success = self.spec.success(obs, self.target[slots], extras, self.envs[slots[0]])
        reward = None
        if rewards:
            reward = np.array([self.envs[k].compute_reward(a, o)[0] for k, a, o in zip(slots, actions, obs)], np.float64)
        return obs, np.asarray(success, bool), reward

    def mocap(self, slots: Sequence[int] | None = None) -> np.ndarray:
        """(m, 3) commanded hand set-points (the mocap body): the efference copy's target."""
        slots = range(self.n) if slots is None else slots
        return np.stack([self._mocap[k] for k in slots]).astype(np.float64)

    def _observe(self, slots: list[int]) -> tuple[np.ndarray, list[np.ndarray]]:
        m = len(slots)
        raw = np.concatenate([v for k in slots for v in self._views[k]]).reshape(m, -1)
        hand, right, left, obj = raw[:, 0:3], raw[:, 3:6], raw[:, 6:9], raw[:, 9:12]
        col = 12
        curr = np.zeros((m, 18))
        curr[:, 0:3] = hand
        curr[:, 3] = np.clip(_norm(right - left) / 0.1, 0.0, 1.0)
        curr[:, 4:7] = obj + np.asarray(self.spec.offset)
        if self.spec.quat is not None:
            kind = self.spec.quat[0]
            if kind == "mat":
                # MuJoCo's matrices are orthonormal to rounding: scipy's re-orthogonalisation changes nothing
                # (tested to 1e-6 against Meta-World) and costs 5x the conversion.
                curr[:, 7:11] = Rotation.from_matrix(raw[:, col:col + 9].reshape(m, 3, 3), assume_valid=True).as_quat()
                col += 9
            else:
                curr[:, 7:11] = raw[:, col:col + 4]
                col += 4
        extras = []
        for what, src in self.spec.extras:
            w = src.width(what)
            extras.append(raw[:, col:col + w])
            col += w
        envs = [self.envs[k] for k in slots]
        goal = np.zeros((m, 3)) if envs[0]._partially_observable else self.target[slots]
        obs = np.concatenate([curr, np.stack([e._prev_obs for e in envs]), goal], axis=1)
        obs = np.clip(obs, self._low, self._high)
        for i, env in enumerate(envs):
            env._prev_obs = curr[i]
            env._last_stable_obs = obs[i]
            env.curr_path_length += 1
        return obs, extras

    def _step_reference(self, actions, slots, rewards):
        """Meta-World's own env.step, slot by slot (tasks the stepper does not cover)."""
        obs, success, reward = np.zeros((len(slots), 39)), np.zeros(len(slots), bool), np.zeros(len(slots))
        for i, (k, a) in enumerate(zip(slots, actions)):
            env = self.envs[k]
            o, r, _, _, info = env.step(a)
            obs[i], success[i], reward[i] = o, bool(info["success"]), float(r)
        return obs, success, (reward if rewards else None)

    # --- snapshots (the simulator as a planner's model) ---------------------------------
    def get_state(self, slot: int) -> tuple:
        """Everything `set_state` needs to continue slot `slot` exactly (physics, frame stack, clock)."""
        env = self.envs[slot]
        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        buf = np.empty(mujoco.mj_stateSize(env.model, spec))
        mujoco.mj_getState(env.model, env.data, buf, spec)
        return buf, np.array(env._prev_obs, copy=True), int(env.curr_path_length)

    def set_state(self, slot: int, state: tuple) -> None:
        """Put slot `slot` in a state from `get_state` of any slot of the same task and layout."""
        buf, prev, path_length = state
        env = self.envs[slot]
        mujoco.mj_setState(env.model, env.data, buf, mujoco.mjtState.mjSTATE_INTEGRATION)
        mujoco.mj_forward(env.model, env.data)
        env._prev_obs = prev.copy()
        env.curr_path_length = path_length

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
        for env in self.envs:
            env.close()
