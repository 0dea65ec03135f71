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
class StateTracker:
    """The object-centric state of every slot of a `MetaWorldBatch`, batched.

    Keeps what `object_state` needs beyond the observation: each slot's latest (float32)
    observation, the hand velocity one step earlier, and the main object's half-height and
    freedom (read from the model at reset, as perception would)."""

    def __init__(self, batch) -> None:
        n = batch.n
        self.batch, self.dt_s = batch, batch.dt_s
        self.last = np.zeros((n, 39), np.float32)
        self.vel_prev = np.zeros((n, 3), np.float32)
        self.obj_half = np.zeros(n, np.float32)
        self.obj_free = np.zeros(n, np.float32)

    def reset(self, slot: int, obs: np.ndarray) -> None:
        self.last[slot], self.vel_prev[slot] = obs, 0.0
        self.obj_half[slot], self.obj_free[slot] = object_properties(self.batch.envs[slot], obs)

    def step(self, slots: list[int], obs: np.ndarray) -> None:
        prev = self.last[slots]
        self.vel_prev[slots] = (prev[:, :3] - prev[:, 18:21]) / self.dt_s
        self.last[slots] = obs

    def states(self, slots: list[int] | None = None) -> np.ndarray:
        """(m, STATE_DIM) states of the slots' latest observations (with the efference copy: the
        commanded set-point, read from the mocap body, minus the hand)."""
        slots = list(range(self.batch.n)) if slots is None else list(slots)
        obs = self.last[slots]
        target = (self.batch.mocap(slots) - obs[:, :3].astype(np.float64)).astype(np.float32)
        return object_state(obs, self.dt_s, target, self.vel_prev[slots], self.obj_half[slots, None],
                            self.obj_free[slots, None])


class MetaWorldTask:
    """One Meta-World task whose layout is chosen by a seed at every reset: a `MetaWorldBatch`
    of one (so it steps through the batched stepper) with its state tracker."""

    def __init__(self, task: str) -> None:
        from nsca.envs.metaworld_batch import MetaWorldBatch

        self.batch = MetaWorldBatch(task, 1)
        self.tracker = StateTracker(self.batch)
        self.task = self.batch.task
        self.env = self.batch.envs[0]
        self.max_episode_steps = self.batch.max_episode_steps
        self.dt_s = self.batch.dt_s

    @property
    def last_obs(self) -> np.ndarray:
        return self.tracker.last[0]

    @property
    def obj_half(self) -> float:
        return float(self.tracker.obj_half[0])

    @property
    def obj_free(self) -> float:
        return float(self.tracker.obj_free[0])

    def reset(self, layout_seed: int) -> np.ndarray:
        obs = self.batch.reset(0, layout_seed).astype(np.float32)
        self.layout_seed = int(layout_seed)
        self.tracker.reset(0, obs)
        return obs

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool]:
        """(observation, Meta-World's reward, success) after one control step."""
        obs, success, reward = self.batch.step(np.clip(action, -1.0, 1.0).astype(np.float32)[None], rewards=True)
        obs = obs[0].astype(np.float32)
        self.tracker.step([0], obs[None])
        return obs, float(reward[0]), bool(success[0])

    def step_without_reward(self, action: np.ndarray) -> np.ndarray:
        """`step` without the reward (task-agnostic babbling and self-calibration never read it)."""
        obs, _, _ = self.batch.step(np.clip(action, -1.0, 1.0).astype(np.float32)[None])
        obs = obs[0].astype(np.float32)
        self.tracker.step([0], obs[None])
        return obs

    def state(self, obs: np.ndarray | None = None) -> np.ndarray:
        """The object-centric state of the current step (`obs`, if given, must be the latest observation)."""
        if obs is not None and not np.array_equal(obs, self.tracker.last[0]):
            raise ValueError("state() reads the latest observation's step; got an older observation")
        return self.tracker.states([0])[0]

    # The (reset, step) -> state interface that self-calibration (nsca.priors.calibrate) drives.
    def reset_state(self, seed: int) -> np.ndarray:
        self.reset(seed)
        return self.state()

    def step_state(self, action: np.ndarray) -> np.ndarray:
        self.step_without_reward(action)
        return self.state()

    def close(self) -> None:
        self.batch.close()


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
    base = {"peg-insert-side": "peg-insertion-side"}.get(task[:-3], task[:-3])  # the one irregular name
    name = "Sawyer" + "".join(p.capitalize() for p in base.split("-")) + "V3Policy"
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
    all_obs, states, actions, rewards, success = [obs], [env.state()], [], [], False
    for _ in range(max_steps):
        # A copy: some of Meta-World's scripted experts (door-open, door-close) write into their input.
        a = np.clip(np.asarray(act(obs.copy()), dtype=np.float32), -1.0, 1.0)
        obs, r, ok = env.step(a)
        all_obs.append(obs)
        states.append(env.state())
        actions.append(a)
        rewards.append(r)
        if ok:
            success = True
            if stop_on_success:
                break
    return Episode(np.stack(all_obs), np.stack(actions), np.asarray(rewards, np.float32), success, layout_seed,
                   np.stack(states))


def rollout_batch(batch, layout_seeds: list[int], act_batch, max_steps: int | None = None,
                  stop_on_success: bool = True) -> list[Episode]:
    """Run the episodes on a `MetaWorldBatch`, all running slots stepped by one call per control
    step: `act_batch(episodes, obs, states) -> actions` is called once per step for every running
    episode (`episodes`: each one's index in `layout_seeds`; obs (m, 39) float32; states (m,
    STATE_DIM), both copies the actor may write into); a slot whose episode ends takes the next
    layout. Each episode is what `rollout` gives on its layout (tested)."""
    max_steps = max_steps or batch.max_episode_steps
    tracker = StateTracker(batch)
    queue = list(enumerate(layout_seeds))[::-1]
    done: dict[int, Episode] = {}
    running: dict[int, dict] = {}  # slot -> the episode it runs

    def start(slot: int) -> None:
        index, layout = queue.pop()
        obs = batch.reset(slot, layout).astype(np.float32)
        tracker.reset(slot, obs)
        running[slot] = {"index": index, "layout": layout, "obs": [obs], "states": [tracker.states([slot])[0]],
                         "actions": [], "rewards": [], "success": False}

    def finish(slot: int) -> None:
        ep = running.pop(slot)
        done[ep["index"]] = Episode(np.stack(ep["obs"]), np.stack(ep["actions"]), np.asarray(ep["rewards"], np.float32),
                                    ep["success"], ep["layout"], np.stack(ep["states"]))

    for slot in range(min(batch.n, len(queue))):
        start(slot)
    while running:
        slots = sorted(running)
        actions = act_batch([running[k]["index"] for k in slots], tracker.last[slots], tracker.states(slots))
        actions = np.clip(np.asarray(actions, dtype=np.float32), -1.0, 1.0)
        obs, success, rewards = batch.step(actions, slots, rewards=True)
        obs = obs.astype(np.float32)
        tracker.step(slots, obs)
        states = tracker.states(slots)
        for i, slot in enumerate(slots):
            ep = running[slot]
            ep["obs"].append(obs[i])
            ep["states"].append(states[i])
            ep["actions"].append(actions[i])
            ep["rewards"].append(float(rewards[i]))
            ep["success"] = ep["success"] or bool(success[i])
            if (success[i] and stop_on_success) or len(ep["actions"]) >= max_steps:
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


def collect_demos(task: str, layouts: list[int], count: int, demo_steps: int, batch_size: int = 16) -> list[Episode]:
    """The scripted expert's first `count` successful episodes over `layouts`, in layout order
    (it occasionally fails a layout; that one is skipped, recorded by its seed gap). Layouts are
    tried in batches of the number still missing, so no more episodes run than sequentially."""
    from nsca.envs.metaworld_batch import MetaWorldBatch

    expert = expert_policy(task)
    batch = MetaWorldBatch(task, min(batch_size, count))
    episodes: list[Episode] = []
    todo = iter(layouts)
    try:
        while len(episodes) < count:
            chunk = [s for _, s in zip(range(min(batch.n, count - len(episodes))), todo)]
            if not chunk:  # a shortfall is an error, never fewer demos than asked for
                raise RuntimeError(f"{count} demos of {task} asked for, but the scripted expert solved only "
                                   f"{len(episodes)} of its {len(layouts)} demo layouts")
            eps = rollout_batch(batch, chunk, lambda episodes, obs, states: np.stack([expert.get_action(o) for o in obs]),
                                max_steps=demo_steps)
            episodes += [ep for ep in eps if ep.success][:count - len(episodes)]
    finally:
        batch.close()
    return episodes


def load_or_collect_demos(task: str, run_seed: int, count: int, demo_steps: int | None = None, env: MetaWorldTask | None = None) -> list[Episode]:
    """`count` successful expert demos on the run seed's demo layouts, cached on disk.

    The cache key is (task, run seed, count, steps cap, metaworld version); a corrupt file is
    detected by its checksum and rebuilt, never trusted.
    """
    task = resolve_task(task)
    demo_steps = demo_steps or (env.max_episode_steps if env is not None else int(_registry()[task].max_path_length))
    path = _demo_path(task, run_seed, count, demo_steps)
    cached = _load_demos(path, count) if path.exists() else None
    if cached is not None:
        return cached
    if path.exists():
        print(f"warning: demo cache {path} is corrupt; rebuilding it", file=sys.stderr)
    episodes = collect_demos(task, demo_layout_seeds(run_seed, DEMO_SEED_STRIDE), count, demo_steps)
    _save_demos(path, episodes)
    return episodes
