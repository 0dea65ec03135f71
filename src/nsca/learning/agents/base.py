"""The one interface every phase-0 agent has, and the pieces the agents share.

An agent is built from (config, seed, physics constants), `fit` on demos (plus self-observed
transitions for a planner that validates its model), then acts on a batch of running episodes:
`act_batch(episodes, obs, states) -> actions`, called once per control step for every running
episode (`episodes`: each one's index in the layout list, which fixes its planner noise; `obs`:
(m, 39) Meta-World observations; `states`: (m, 21) object-centric states). Same seed => the same
BC policy in every agent that has one (it is fitted by `fit_bc`, whose draws depend on nothing
else), so conditions differ only where their kind differs.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections import OrderedDict
from typing import ClassVar

import numpy as np
import torch

from nsca.envs.metaworld import Episode, goal
from nsca.learning.agents.config import AgentConfig
from nsca.learning.bc import BCPolicy, train_regressor
from nsca.priors.innate import PhysicsConstants
from nsca.priors.state import HAND_POS, OBJ_POS, STATE_DIM

# The fields every agent's numbers depend on (its kind and the BC it carries or is).
COMMON_FIELDS = ("kind", "prior", "hidden", "lr", "batch_size", "bc_steps", "bc_input_noise")


class Agent(ABC):
    kind: ClassVar[str]

    @classmethod
    def reads(cls, cfg: AgentConfig) -> tuple[str, ...]:
        """The AgentConfig fields this agent's numbers depend on (a cell's config holds only these)."""
        return COMMON_FIELDS

    def __init__(self, cfg: AgentConfig, seed: int, constants: PhysicsConstants = PhysicsConstants(), oracle=None) -> None:
        """`oracle`: the simulator's pieces for the evaluation env (`planner.Oracle`), which an
        oracle agent (`cfg.is_oracle`) reads and no other agent takes."""
        cfg.validate()
        if cfg.is_oracle != (oracle is not None):
            raise ValueError("an oracle agent (model=sim or score=true) needs oracle=..., and only it takes one")
        self.cfg, self.seed, self.constants, self.oracle = cfg, seed, constants, oracle
        self.plan_stats: dict = {}  # a planner's plans and how many left BC; empty for the others

    @abstractmethod
    def fit(self, demos: list[Episode], babble: dict[str, np.ndarray] | None = None) -> dict:
        """Learn from the demos; returns figures for the cell's metrics (JSON-able scalars)."""

    @abstractmethod
    def act_batch(self, episodes: list[int], obs: np.ndarray, states: np.ndarray) -> np.ndarray:
        """(m, 4) actions in [-1, 1] for m running episodes."""

    def start_evaluation(self) -> None:
        """Forget per-episode state (planner noise) and plan counts before a new set of episodes."""
        self.plan_stats = {}

    @property
    def prior_weight(self) -> float:
        """w of the world model's physics head (0 without a world model or without a prior)."""
        return 0.0


def features(state: torch.Tensor, goal_pos: torch.Tensor) -> torch.Tensor:
    """BC's input: the state, the goal, and the object-centric relations between them (object
    relative to hand, goal relative to object), which transfer across layouts."""
    rel_obj = state[..., OBJ_POS] - state[..., HAND_POS]
    rel_goal = goal_pos - state[..., OBJ_POS]
    return torch.cat([state, goal_pos, rel_obj, rel_goal], -1)


FEATURE_DIM = STATE_DIM + 9


def demo_arrays(demos: list[Episode]) -> dict[str, torch.Tensor]:
    """The demos' transitions as tensors: state, next_state, action, goal."""
    states, nexts, actions, goals = [], [], [], []
    for ep in demos:
        states.append(ep.states[:-1])
        nexts.append(ep.states[1:])
        actions.append(ep.actions)
        goals.append(goal(ep.obs[:-1]))
    cat = lambda xs: torch.as_tensor(np.concatenate(xs), dtype=torch.float32)  # noqa: E731
    return {"state": cat(states), "next_state": cat(nexts), "action": cat(actions), "goal": cat(goals)}


# Fitted BC policies of this process, by what their numbers depend on (see `fit_bc`).
_BC_FITS: OrderedDict[str, tuple[dict, float | None]] = OrderedDict()
_BC_FITS_KEPT = 8


def _bc_key(x: torch.Tensor, actions: torch.Tensor, cfg: AgentConfig, seed: int) -> str:
    h = hashlib.sha256()
    for t in (x, actions):
        h.update(str((tuple(t.shape), t.dtype)).encode())
        h.update(t.detach().contiguous().numpy().tobytes())
    h.update(repr((cfg.hidden, cfg.lr, cfg.batch_size, cfg.bc_steps, cfg.bc_input_noise, seed)).encode())
    return h.hexdigest()


def fit_bc(x: torch.Tensor, actions: torch.Tensor, cfg: AgentConfig, seed: int) -> tuple[BCPolicy, float | None]:
    """Plain MLP BC on features `x`: its initial weights and minibatch draws come from `seed`
    alone, so every agent of a seed gets the same policy from the same data.

    That makes the fit a pure function of (data, BC fields, seed), so a worker process keeps its
    last few fits and hands a copy of the same weights to the next condition of the same seed
    instead of refitting it (a grid's conditions of a seed share one BC: 9 s of a ~90 s planner
    cell); the copy is bit-identical to a refit (tested)."""
    key = _bc_key(x, actions, cfg, seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        policy = BCPolicy(FEATURE_DIM, hidden=cfg.hidden)
    if key in _BC_FITS:
        weights, loss = _BC_FITS[key]
        _BC_FITS.move_to_end(key)
        policy.load_state_dict(weights)
        return policy.eval(), loss
    policy.norm.fit(x)
    losses = train_regressor(policy, x, actions, cfg.bc_steps, cfg.lr, batch_size=cfg.batch_size,
                             input_noise=cfg.bc_input_noise, generator=torch.Generator().manual_seed(seed))
    policy.eval()
    loss = float(np.mean(losses[-50:])) if losses else None
    _BC_FITS[key] = ({k: v.detach().clone() for k, v in policy.state_dict().items()}, loss)
    while len(_BC_FITS) > _BC_FITS_KEPT:
        _BC_FITS.popitem(last=False)
    return policy, loss


def displaced_states(d: dict[str, torch.Tensor], cfg: AgentConfig, seed: int) -> dict[str, torch.Tensor]:
    """`cfg.corrections` copies of every demo state with the hand displaced the way a drifting
    policy drifts (hand and commanded set-point together, so the efference copy TARGET is
    unchanged), std `cfg.correction_noise_m`: the corrective agent labels them with its world
    model, its floor (augmented BC) with the demo's own action. Same seed => the same states."""
    k = cfg.corrections
    rep = {key: t.repeat(k, 1) for key, t in d.items()}
    gen = torch.Generator().manual_seed(seed * 7_919 + 404)
    noise = torch.randn(rep["state"][:, HAND_POS].shape, generator=gen) * cfg.correction_noise_m
    rep["state"] = rep["state"].clone()
    rep["state"][:, HAND_POS] += noise
    return rep


@torch.no_grad()
def bc_actions(policy: BCPolicy, obs: np.ndarray, states: np.ndarray) -> np.ndarray:
    s = torch.as_tensor(np.asarray(states), dtype=torch.float32)
    g = torch.as_tensor(goal(np.asarray(obs)), dtype=torch.float32)
    return policy(features(s, g)).clamp(-1, 1).numpy()
