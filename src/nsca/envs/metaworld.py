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
import os
import sys
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from nsca.errors import UsageError
from nsca.priors.state import STATE_DIM

DEMO_SEED_STRIDE = 1_000          # demo layout i of run seed s: s * 1000 + i
EVAL_SEED_BASE = 10_000_000       # evaluation layout i: 10_000_000 + i (shared by all conditions)


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
        shown = os.environ.get("NSCA_TASK_NOTES_SHOWN", "").split(",")
        if name not in shown:
            # Worker processes inherit the variable, so a grid says it once, not once per worker.
            os.environ["NSCA_TASK_NOTES_SHOWN"] = ",".join([*shown, name]).strip(",")
            print(f"note: task '{name}' maps to '{candidate}' (installed metaworld {metaworld_version()} has v3 tasks only)", file=sys.stderr)
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


def object_state(obs: np.ndarray, dt_s: float = 0.0125) -> np.ndarray:
    """Object-centric state (see nsca.priors.state) from raw observations, batched over leading dims.

    Velocities are finite differences against the previous frame Meta-World stacks in the obs.
    """
    f = parse_obs(np.asarray(obs, dtype=np.float32))
    state = np.concatenate(
        [
            f["hand_pos"],
            (f["hand_pos"] - f["prev_hand_pos"]) / dt_s,
            f["gripper_open"],
            f["obj_pos"],
            (f["obj_pos"] - f["prev_obj_pos"]) / dt_s,
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
        return np.asarray(obs, dtype=np.float32)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool]:
        obs, reward, _, _, info = self.env.step(np.clip(action, -1.0, 1.0).astype(np.float32))
        return np.asarray(obs, dtype=np.float32), float(reward), bool(info["success"])

    def close(self) -> None:
        self.env.close()


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


# --- episodes and demos -----------------------------------------------------------------
@dataclass
class Episode:
    obs: np.ndarray       # (T+1, 39) observations, including the last one
    actions: np.ndarray   # (T, 4)
    rewards: np.ndarray   # (T,)
    success: bool
    layout_seed: int

    @property
    def length(self) -> int:
        return len(self.actions)


def rollout(env: MetaWorldTask, layout_seed: int, act, max_steps: int | None = None, stop_on_success: bool = True) -> Episode:
    """Run one episode with `act(obs) -> action`; success = reached at any step (Meta-World's rule)."""
    max_steps = max_steps or env.max_episode_steps
    obs = env.reset(layout_seed)
    all_obs, actions, rewards, success = [obs], [], [], False
    for _ in range(max_steps):
        a = np.clip(np.asarray(act(obs), dtype=np.float32), -1.0, 1.0)
        obs, r, ok = env.step(a)
        all_obs.append(obs)
        actions.append(a)
        rewards.append(r)
        if ok:
            success = True
            if stop_on_success:
                break
    return Episode(np.stack(all_obs), np.stack(actions), np.asarray(rewards, np.float32), success, layout_seed)


def cache_dir() -> Path:
    return Path(os.environ.get("NSCA_CACHE_DIR", Path.home() / ".cache" / "nsca"))


def _demo_path(task: str, run_seed: int, count: int, demo_steps: int) -> Path:
    key = f"{task}_seed{run_seed}_n{count}_steps{demo_steps}_mw{metaworld_version()}"
    return cache_dir() / "demos" / f"{key}.npz"


def _save_demos(path: Path, episodes: list[Episode]) -> None:
    from nsca.utils.io import atomic_write_bytes

    arrays = {}
    for i, ep in enumerate(episodes):
        arrays[f"obs_{i}"] = ep.obs
        arrays[f"actions_{i}"] = ep.actions
        arrays[f"rewards_{i}"] = ep.rewards
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
            eps.append(Episode(z[f"obs_{i}"], z[f"actions_{i}"], z[f"rewards_{i}"], bool(meta[0]), int(meta[1])))
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
