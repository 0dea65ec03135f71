"""Meta-World harness: task names, named observation fields, scripted experts, seeded layouts, demos.

Layouts are fixed by a seed (Meta-World's own `reset(seed=)` ignores it): the task's env class
is built once, `set_task` called once, then `seeded_rand_vec` makes `env.seed(s); env.reset()`
draw the object/goal positions from `s`. Demo layouts and evaluation layouts come from disjoint
seed ranges, so an agent is never evaluated on a layout it saw demonstrated.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import multiprocessing
import os
import sys
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from nsca.errors import UsageError
from nsca.priors.innate import META_WORLD_DT_S
from nsca.priors.state import STATE_DIM

DEMO_SEED_STRIDE = 1_000          # demo layout i of run seed s: s * 1000 + i
EVAL_SEED_BASE = 10_000_000       # evaluation layout i: 10_000_000 + i (shared by all conditions)
BABBLE_SEED_BASE = 2**31          # babbling layout of interaction seed s (< 2**31): 2**31 + s, disjoint from both
_NOTED_TASKS: set[str] = set()    # v2 task names whose v3 mapping this process has explained


@lru_cache(maxsize=1)
def _registry() -> dict:
    warnings.filterwarnings("ignore", module="metaworld")
    warnings.filterwarnings("ignore", message=".*Constant\\(s\\) may be too high.*")
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS

    return dict(ALL_V3_ENVIRONMENTS)


def metaworld_version() -> str:
    from importlib.metadata import version

    return version("metaworld")


def resolve_task(name: str) -> str:
    """Map a user's task name to the installed Meta-World's (v2 names -> v3, said once)."""
    names = _registry()
    if name in names:
        return name
    base = name[:-3] if name.endswith(("-v1", "-v2", "-v3")) else name
    candidate = f"{base}-v3"
    if candidate in names:
        # Said once per process, and only by the main one: grids resolve their task names before
        # they start worker processes, whose cells would only repeat the note.
        if name not in _NOTED_TASKS and multiprocessing.parent_process() is None:
            print(f"note: task '{name}' maps to '{candidate}' (installed metaworld {metaworld_version()} has v3 tasks only)",
                  file=sys.stderr)
        _NOTED_TASKS.add(name)
        return candidate
    close = difflib.get_close_matches(candidate, list(names), n=4, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; see {len(names)} tasks via `nsca lethality --list-tasks`"
    raise UsageError(f"unknown Meta-World task '{name}'{hint}")


def all_tasks() -> list[str]:
    return sorted(_registry())


# --- observation fields -----------------------------------------------------------------
# Meta-World v3 observation (39 floats): this frame's 18, the previous frame's 18, the goal.
OBS_FIELDS = {
    "hand_pos": slice(0, 3),
    "gripper_open": slice(3, 4),
    "obj_pos": slice(4, 7),
    "obj_quat": slice(7, 11),
    "obj2_pos": slice(11, 14),
    "obj2_quat": slice(14, 18),
    "prev_hand_pos": slice(18, 21),
    "prev_gripper_open": slice(21, 22),
    "prev_obj_pos": slice(22, 25),
    "goal_pos": slice(36, 39),
}


def parse_obs(obs: np.ndarray) -> dict[str, np.ndarray]:
    return {name: obs[..., s] for name, s in OBS_FIELDS.items()}


def object_state(
    obs: np.ndarray,
    dt_s: float = META_WORLD_DT_S,
    target: np.ndarray | None = None,
    hand_vel_prev: np.ndarray | None = None,
    obj_half: float | np.ndarray = 0.0,
    obj_free: float | np.ndarray = 1.0,
) -> np.ndarray:
    """Object-centric state (see nsca.priors.state) from raw observations, batched over leading dims.

    Velocities are finite differences against the previous frame Meta-World stacks in the obs.
    `target` is the commanded set-point minus the hand (the efference copy; the harness reads it
    from the mocap body, `MetaWorldTask.state`) and `hand_vel_prev` the hand velocity one step
    earlier (the harness keeps it); None means zeros (at rest after a reset).
    """
    f = parse_obs(np.asarray(obs, dtype=np.float32))
    lead = f["hand_pos"].shape[:-1]
    target = np.zeros((*lead, 3), np.float32) if target is None else np.broadcast_to(target, (*lead, 3))
    state = np.concatenate(
        [
            f["hand_pos"],
            (f["hand_pos"] - f["prev_hand_pos"]) / dt_s,
            f["gripper_open"],
            f["obj_pos"],
            (f["obj_pos"] - f["prev_obj_pos"]) / dt_s,
            target,
            np.zeros((*lead, 3), np.float32) if hand_vel_prev is None else np.broadcast_to(hand_vel_prev, (*lead, 3)),
            np.broadcast_to(np.asarray(obj_half, np.float32), (*lead, 1)) if np.ndim(obj_half) < 1 else obj_half,
            np.broadcast_to(np.asarray(obj_free, np.float32), (*lead, 1)) if np.ndim(obj_free) < 1 else obj_free,
        ],
        axis=-1,
    )
    assert state.shape[-1] == STATE_DIM
    return state.astype(np.float32)


def goal(obs: np.ndarray) -> np.ndarray:
    return np.asarray(obs, dtype=np.float32)[..., OBS_FIELDS["goal_pos"]]


# --- environments -----------------------------------------------------------------------
class MetaWorldTask:
    """One Meta-World task whose layout is chosen by a seed at every reset."""

    def __init__(self, task: str) -> None:
        self.task = resolve_task(task)
        import metaworld

        cls = _registry()[self.task]
        self.env = cls()
        self.env.set_task(_task_spec(self.task))
        self.env._freeze_rand_vec = False
        self.env.seeded_rand_vec = True
        self.max_episode_steps = int(self.env.max_path_length)
        self.dt_s = float(self.env.dt)
        self._metaworld = metaworld

    def reset(self, layout_seed: int) -> np.ndarray:
        self.env.seed(int(layout_seed))
        obs, _ = self.env.reset()
        obs = np.asarray(obs, dtype=np.float32)
        self.layout_seed = int(layout_seed)
        self.obj_half, self.obj_free = object_properties(self.env, obs)
        self._last_obs, self._vel_prev, self._last_state = obs, np.zeros(3, np.float32), None
        return obs

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool]:
        self._vel_prev = (self._last_obs[:3] - self._last_obs[18:21]) / self.dt_s
        obs, reward, _, _, info = self.env.step(np.clip(action, -1.0, 1.0).astype(np.float32))
        self._last_obs = obs = np.asarray(obs, dtype=np.float32)
        self._last_state = None
        return obs, float(reward), bool(info["success"])

    def step_without_reward(self, action: np.ndarray) -> np.ndarray:
        """`step` without Meta-World's reward and success (task-agnostic babbling never reads them;
        they cost half of a step in some tasks): the same mocap move, gripper command, physics and
        observation as `env.step` (checked in tests/test_babbling_metaworld.py)."""
        import mujoco

        e = self.env
        a = np.clip(action, -1.0, 1.0).astype(np.float32)
        self._vel_prev = (self._last_obs[:3] - self._last_obs[18:21]) / self.dt_s
        e.set_xyz_action(a[:3])
        if e.curr_path_length >= e.max_path_length:
            raise ValueError("You must reset the env manually once truncate==True")
        e.do_simulation([a[-1], -a[-1]], n_frames=e.frame_skip)
        e.curr_path_length += 1
        for site in e._target_site_config:
            e._set_pos_site(*site)
        if not e._did_see_sim_exception:
            mujoco.mj_forward(e.model, e.data)
            space = e.sawyer_observation_space
            e._last_stable_obs = np.clip(e._get_obs(), a_max=space.high, a_min=space.low, dtype=np.float64)
        self._last_obs = obs = np.asarray(e._last_stable_obs, dtype=np.float32)
        self._last_state = None
        return obs

    def state(self, obs: np.ndarray) -> np.ndarray:
        """The object-centric state of the current step (obs must be the latest observation);
        computed once per step, however many readers (episode record, agent) ask for it."""
        if obs is self._last_obs and self._last_state is not None:
            return self._last_state
        target = (self.env.data.mocap_pos[0] - np.asarray(obs[:3], np.float64)).astype(np.float32)
        state = object_state(obs, self.dt_s, target, self._vel_prev, self.obj_half, self.obj_free)
        if obs is self._last_obs:
            self._last_state = state
        return state

    # The (reset, step) -> state interface that self-calibration (nsca.priors.calibrate) drives.
    def reset_state(self, seed: int) -> np.ndarray:
        return self.state(self.reset(seed))

    def step_state(self, action: np.ndarray) -> np.ndarray:
        return self.state(self.step(action)[0])

    def close(self) -> None:
        self.env.close()


def _robot_bodies(model) -> set[int]:
    """Bodies of the Sawyer arm: the subtree whose root carries the hand."""
    import mujoco

    hand = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "hand")
    root = int(model.body_rootid[hand])
    return {b for b in range(model.nbody) if int(model.body_rootid[b]) == root}


def robot_bodies(model) -> set[int]:
    """Bodies of the Sawyer arm (public name of the rule `object_properties` uses)."""
    return _robot_bodies(model)


def main_object_body(env, obs: np.ndarray) -> int:
    """The task's main object as perception would find it: the non-robot body nearest the
    observed object position (obs[4:7]: the state's OBJ_POS), over body centres, sites and geoms."""
    m, d = env.model, env.data
    p = np.asarray(obs[4:7], np.float64)
    robot = _robot_bodies(m)
    best, body = np.inf, 0
    candidates = [(d.xipos[b], b) for b in range(1, m.nbody)]
    candidates += [(d.site_xpos[i], int(m.site_bodyid[i])) for i in range(m.nsite)]
    candidates += [(d.geom_xpos[i], int(m.geom_bodyid[i])) for i in range(m.ngeom)]
    for pos, b in candidates:
        dist = float(np.linalg.norm(pos - p))
        if b != 0 and b not in robot and dist < best:
            best, body = dist, b
    return body


def object_properties(env, obs: np.ndarray) -> tuple[float, float]:
    """(half-height, free) of the task's main object, read from the MuJoCo model as perception
    would: the non-robot body nearest the observed object position; free if a free joint connects
    it to the world; half-height = its centre minus the lowest point of its geoms."""
    import mujoco

    m, d = env.model, env.data
    p = np.asarray(obs[4:7], np.float64)
    body = main_object_body(env, obs)
    free, b = 0.0, body
    while b > 0:
        for j in range(m.body_jntadr[b], m.body_jntadr[b] + m.body_jntnum[b]):
            if m.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE:
                free = 1.0
        b = int(m.body_parentid[b])
    lows = []
    for g in range(m.ngeom):
        if int(m.geom_bodyid[g]) != body or m.geom_contype[g] == 0 and m.geom_conaffinity[g] == 0:
            continue
        centre, half = m.geom_aabb[g, :3], m.geom_aabb[g, 3:]
        rot = d.geom_xmat[g].reshape(3, 3)
        z_centre = d.geom_xpos[g, 2] + rot[2] @ centre
        lows.append(z_centre - np.abs(rot[2]) @ half)
    half_height = float(max(p[2] - min(lows), 0.0)) if lows else 0.0
    return half_height, free


@lru_cache(maxsize=16)
def _task_spec(task: str):
    import metaworld

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return metaworld.MT1(task, seed=0).train_tasks[0]


def expert_policy(task: str):
    """The scripted expert from metaworld.policies for a task (e.g. SawyerPickPlaceV3Policy)."""
    import metaworld.policies as policies

    task = resolve_task(task)
    name = "Sawyer" + "".join(p.capitalize() for p in task[:-3].split("-")) + "V3Policy"
    if not hasattr(policies, name):
        raise UsageError(f"no scripted expert for '{task}' in metaworld.policies (looked for {name})")
    return getattr(policies, name)()


def demo_layout_seeds(run_seed: int, count: int) -> list[int]:
    return [run_seed * DEMO_SEED_STRIDE + i for i in range(count)]


def eval_layout_seeds(count: int) -> list[int]:
    return [EVAL_SEED_BASE + i for i in range(count)]


def babble_layout_seed(seed: int) -> int:
    """The layout of a babbling interaction with seed `seed` (0 <= seed < 2**31): never a demo
    or evaluation layout, so babbling data cannot leak the layouts an agent is evaluated on."""
    if not 0 <= seed < 2**31:
        raise ValueError(f"babbling seed {seed} is outside [0, 2**31)")
    return BABBLE_SEED_BASE + int(seed)


# --- episodes and demos -----------------------------------------------------------------
@dataclass
class Episode:
    obs: np.ndarray       # (T+1, 39) observations, including the last one
    actions: np.ndarray   # (T, 4)
    rewards: np.ndarray   # (T,)
    success: bool
    layout_seed: int
    states: np.ndarray    # (T+1, STATE_DIM) object-centric states (with the efference copy)

    @property
    def length(self) -> int:
        return len(self.actions)


def rollout(env: MetaWorldTask, layout_seed: int, act, max_steps: int | None = None, stop_on_success: bool = True) -> Episode:
    """Run one episode with `act(obs) -> action`; success = reached at any step (Meta-World's rule)."""
    max_steps = max_steps or env.max_episode_steps
    obs = env.reset(layout_seed)
    all_obs, states, actions, rewards, success = [obs], [env.state(obs)], [], [], False
    for _ in range(max_steps):
        a = np.clip(np.asarray(act(obs), dtype=np.float32), -1.0, 1.0)
        obs, r, ok = env.step(a)
        all_obs.append(obs)
        states.append(env.state(obs))
        actions.append(a)
        rewards.append(r)
        if ok:
            success = True
            if stop_on_success:
                break
    return Episode(np.stack(all_obs), np.stack(actions), np.asarray(rewards, np.float32), success, layout_seed,
                   np.stack(states))


def rollout_pool(envs: list[MetaWorldTask], layout_seeds: list[int], act_batch, max_steps: int | None = None,
                 stop_on_success: bool = True) -> list[Episode]:
    """Run the episodes on a pool of environments stepped together: `act_batch(slots, episodes,
    obs) -> actions` is called once per step for every running episode (slot k runs on `envs[k]`;
    `episodes`: each one's index in `layout_seeds`), and a slot
    whose episode ends takes the next layout. Each episode is what `rollout` gives on its layout."""
    max_steps = max_steps or envs[0].max_episode_steps
    queue = list(enumerate(layout_seeds))[::-1]
    done: dict[int, Episode] = {}
    running: dict[int, dict] = {}  # slot -> the episode it runs

    def start(slot: int) -> None:
        index, layout = queue.pop()
        obs = envs[slot].reset(layout)
        running[slot] = {"index": index, "layout": layout, "obs": [obs], "states": [envs[slot].state(obs)],
                         "actions": [], "rewards": [], "success": False}

    def finish(slot: int) -> None:
        ep = running.pop(slot)
        done[ep["index"]] = Episode(np.stack(ep["obs"]), np.stack(ep["actions"]), np.asarray(ep["rewards"], np.float32),
                                    ep["success"], ep["layout"], np.stack(ep["states"]))

    for slot in range(min(len(envs), len(queue))):
        start(slot)
    while running:
        slots = sorted(running)
        actions = act_batch(slots, [running[k]["index"] for k in slots], [running[k]["obs"][-1] for k in slots])
        for slot, a in zip(slots, actions):
            ep, env = running[slot], envs[slot]
            a = np.clip(np.asarray(a, dtype=np.float32), -1.0, 1.0)
            obs, r, ok = env.step(a)
            ep["obs"].append(obs)
            ep["states"].append(env.state(obs))
            ep["actions"].append(a)
            ep["rewards"].append(r)
            ep["success"] = ep["success"] or ok
            if (ok and stop_on_success) or len(ep["actions"]) >= max_steps:
                finish(slot)
                if queue:
                    start(slot)
    return [done[i] for i in range(len(layout_seeds))]


def cache_dir() -> Path:
    return Path(os.environ.get("NSCA_CACHE_DIR", Path.home() / ".cache" / "nsca"))


def _demo_path(task: str, run_seed: int, count: int, demo_steps: int) -> Path:
    key = f"{task}_seed{run_seed}_n{count}_steps{demo_steps}_mw{metaworld_version()}_s{STATE_DIM}"
    return cache_dir() / "demos" / f"{key}.npz"


def _save_demos(path: Path, episodes: list[Episode]) -> None:
    from nsca.utils.io import atomic_write_bytes

    arrays = {}
    for i, ep in enumerate(episodes):
        arrays[f"obs_{i}"] = ep.obs
        arrays[f"actions_{i}"] = ep.actions
        arrays[f"rewards_{i}"] = ep.rewards
        arrays[f"states_{i}"] = ep.states
        arrays[f"meta_{i}"] = np.array([float(ep.success), float(ep.layout_seed)])
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    data = buf.getvalue()
    atomic_write_bytes(path, data)
    atomic_write_bytes(path.with_suffix(".sha256"), hashlib.sha256(data).hexdigest().encode())


def _load_demos(path: Path, count: int) -> list[Episode] | None:
    """Cached demos, or None if missing or corrupt (checksum mismatch, unreadable, wrong count)."""
    try:
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != path.with_suffix(".sha256").read_text().strip():
            return None
        z = np.load(io.BytesIO(data))
        eps = []
        for i in range(count):
            meta = z[f"meta_{i}"]
            eps.append(Episode(z[f"obs_{i}"], z[f"actions_{i}"], z[f"rewards_{i}"], bool(meta[0]), int(meta[1]),
                               z[f"states_{i}"]))
        return eps
    except (OSError, ValueError, KeyError):
        return None


def load_or_collect_demos(task: str, run_seed: int, count: int, demo_steps: int | None = None, env: MetaWorldTask | None = None) -> list[Episode]:
    """`count` successful expert demos on the run seed's demo layouts, cached on disk.

    The cache key is (task, run seed, count, steps cap, metaworld version); a corrupt file is
    detected by its checksum and rebuilt, never trusted.
    """
    task = resolve_task(task)
    env = env or MetaWorldTask(task)
    demo_steps = demo_steps or env.max_episode_steps
    path = _demo_path(task, run_seed, count, demo_steps)
    cached = _load_demos(path, count) if path.exists() else None
    if cached is not None:
        return cached
    if path.exists():
        print(f"warning: demo cache {path} is corrupt; rebuilding it", file=sys.stderr)
    expert = expert_policy(task)
    episodes: list[Episode] = []
    seed_iter = iter(range(run_seed * DEMO_SEED_STRIDE, (run_seed + 1) * DEMO_SEED_STRIDE))
    while len(episodes) < count:
        # The scripted expert occasionally fails a layout; skip it (recorded by its seed gap).
        ep = rollout(env, next(seed_iter), expert.get_action, max_steps=demo_steps)
        if ep.success:
            episodes.append(ep)
    _save_demos(path, episodes)
    return episodes
