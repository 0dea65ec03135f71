"""The few-shot agent built from the NSCA model itself (nsca.model), not from a second stack.

`build_model` is also how the phase-0 agents (nsca.learning.agents) build their world model:
one model stack for every agent.

An `NSCAModel` with the object-state path (state and proprio encoders, fusion, the world model
whose object-state head is the AdaptivePhysicsPrior, the policy head) plus a goal token (the
task's goal position and the object relations to it: the same information the BC baseline's
input holds). Pretrained weights come from an `nsca train` run (babbling), loaded for every
module whose shape matches; the goal encoder, which babbling cannot train, starts at init.

Fine-tuning on k demos minimises behaviour cloning through the policy head plus the world
model's own losses on the demo transitions (next object state through the physics head,
next latent), so the prior shapes the latent the policy reads. "No prior" is the same model
with `prior=None` (the physics head is a learned residual only). The policy acts directly: no
planning (phase 0 measured that a planner on a few-demo value never leaves BC).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from nsca.config import field
from nsca.errors import UsageError
from nsca.priors.adaptive import parameter_groups
from nsca.priors.innate import PhysicsConstants
from nsca.priors.state import HAND_POS, OBJ_POS, STATE_DIM

OBJECT_STATE_PATH = ("proprio", "state")


@dataclass(frozen=True)
class FewShotConfig:
    steps: int = field(2000, "fine-tuning gradient steps (BC's own: 2000)")
    lr: float = field(1e-3, "learning rate (AdamW; the prior weight keeps its own rate)")
    batch_size: int = field(64, "demo transitions per step")
    world_model_weight: float = field(1.0, "weight of the world model's losses (next state, next latent) vs BC")
    input_noise: float = field(0.05, "Gaussian noise on the normalised state while fine-tuning (BC's own: 0.05)")
    prior: float = field(0.9, "initial prior weight of a model built without a checkpoint, for the 'with prior' conditions")
    preset: str = field("debug", "architecture of the models built without a checkpoint (presets.yaml model block), "
                                 "when no checkpoint gives one")

    def validate(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise UsageError("fewshot.steps and fewshot.batch_size must be at least 1")
        if self.lr <= 0 or self.world_model_weight < 0 or self.input_noise < 0 or self.prior <= 0:
            raise UsageError("fewshot: lr and prior must be > 0, world_model_weight and input_noise >= 0")


def goal_features(state: torch.Tensor, goal_pos: torch.Tensor) -> torch.Tensor:
    """The goal token's input: goal position, object - hand, goal - object (GOAL_DIM floats)."""
    return torch.cat([goal_pos, state[..., OBJ_POS] - state[..., HAND_POS], goal_pos - state[..., OBJ_POS]], -1)


def observation(state: torch.Tensor, goal_pos: torch.Tensor) -> dict[str, torch.Tensor]:
    """What the agent's model reads of a task state: the object state and the goal token."""
    return {"state": state, "goal": goal_features(state, goal_pos)}


def policy_step(model, state: torch.Tensor, goal_pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(action, fused latent z): the policy head's action and the z it read, which also
    conditions the physics head (`model.world_model.next_state(state, action, z)`)."""
    z = model.encode(observation(state, goal_pos))
    return model.policy_head(z)[1], z


def fit_input_scales(model, d: dict[str, torch.Tensor]) -> None:
    """The model's input and physics scales from demo arrays (state, next_state, goal)."""
    model.set_normalization(d["state"], d["next_state"])
    model.encoders["goal"].set_normalization(goal_features(d["state"], d["goal"]))


# What the agent takes from a checkpoint: its whole object-state path (vision and audio are not read).
AGENT_PARTS = ("encoders.state.", "encoders.proprio.", "fusion.", "world_model.", "policy_head.")


def checkpoint_config(path: str | Path):
    """The ModelConfig a `nsca train` run folder (or checkpoint file) was built with."""
    from nsca.model.trained import locate, read_run

    return read_run(locate(path)[0]).model


def build_model(checkpoint: str | Path | None, prior: float | None, cfg: FewShotConfig, architecture=None,
                constants: PhysicsConstants | None = None):
    """The agent's NSCAModel (`constants`: the innate laws' scene constants, Meta-World's by
    default) and how many tensors came from the
    checkpoint. `prior` applies to a fresh model, whose sizes are `architecture` (a ModelConfig,
    e.g. a checkpoint's) or else `cfg.preset`; a checkpoint keeps its own (trained) prior weight,
    or none if it was trained without one. Checkpoints are read by the evaluations' one loader
    (`nsca.model.trained.load_trained`): unreadable, foreign or mismatched ones are one line."""
    from nsca.model.config import preset
    from nsca.model.nsca import NSCAModel

    trained = None
    if checkpoint is None:
        mcfg = preset(cfg.preset, prior=prior) if architecture is None else replace(architecture, prior=prior)
    else:
        from nsca.model.trained import load_trained

        trained = load_trained(checkpoint, AGENT_PARTS, needs=("state",), reads="object states",
                               part_name="object-state path")
        mcfg = trained.cfg
    mods = tuple(m for m in OBJECT_STATE_PATH if m in mcfg.modalities) + ("goal",)
    model = NSCAModel(replace(mcfg, modalities=mods), constants or PhysicsConstants())
    if trained is None:
        return model, 0
    theirs = {k: v for k, v in trained.state_dict().items() if k.startswith(AGENT_PARTS)}
    own = model.state_dict()
    keep = {k: v for k, v in theirs.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(keep, strict=False)
    return model, len(keep)


class NSCAFewShotAgent:
    """An NSCAModel fine-tuned on demos; `act_batch` for pooled evaluation."""

    def __init__(self, model, cfg: FewShotConfig, seed: int) -> None:
        self.model, self.cfg, self.seed = model, cfg, seed

    def fit(self, d: dict[str, torch.Tensor]) -> dict:
        """`d`: demo_arrays(...) (state, next_state, action, goal). Input scales are re-fitted on
        the demos (the pretraining scene's coordinates differ from Meta-World's)."""
        model, cfg = self.model, self.cfg
        gen = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        fit_input_scales(model, d)
        state_std = model.encoders["state"].std if "state" in model.encoders else torch.ones(STATE_DIM)
        opt = torch.optim.AdamW(parameter_groups(model, cfg.lr, 1e-4))
        n = d["state"].shape[0]
        action = d["action"].clamp(-1, 1)
        model.train()
        bc_losses, wm_losses = [], []
        for _ in range(cfg.steps):
            idx = torch.randint(0, n, (min(cfg.batch_size, n),), generator=gen)
            s = d["state"][idx]
            if cfg.input_noise > 0:
                s = s + torch.randn(s.shape, generator=gen) * cfg.input_noise * state_std
            batch = {"state": s, "next_state": d["next_state"][idx], "action": action[idx], "goal_pos": d["goal"][idx]}
            pred, z = policy_step(model, s, batch["goal_pos"])
            bc = (pred - batch["action"]).pow(2).mean()
            loss = bc
            if cfg.world_model_weight > 0:
                wm = self._world_model_loss(batch, z)
                loss = loss + cfg.world_model_weight * wm
                wm_losses.append(float(wm.detach()))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            bc_losses.append(float(bc.detach()))
        model.eval()
        return {"bc_loss": float(np.mean(bc_losses[-50:])) if bc_losses else None,
                "world_model_loss": float(np.mean(wm_losses[-50:])) if wm_losses else None,
                "prior_weight": float(model.prior_weight.detach())}

    def _world_model_loss(self, batch: dict[str, torch.Tensor], z: torch.Tensor) -> torch.Tensor:
        """NSCAModel.losses' state and latent terms (the same formulas), computed from the z the
        policy already encoded instead of running every head again."""
        model = self.model
        phys = model.world_model.physics
        pred = model.world_model.next_state(batch["state"], batch["action"], z)
        state = ((pred - batch["next_state"]) / phys.delta_std).pow(2).mean()
        with torch.no_grad():
            target = model.encode(observation(batch["next_state"], batch["goal_pos"]))
        latent = (model.world_model.next_latent(z, model.action_embedding(batch)) - target).pow(2).mean()
        return state + latent

    @torch.no_grad()
    def act_batch(self, states: np.ndarray, goals: np.ndarray) -> np.ndarray:
        s = torch.as_tensor(np.asarray(states), dtype=torch.float32)
        g = torch.as_tensor(np.asarray(goals), dtype=torch.float32)
        return policy_step(self.model, s, g)[0].numpy()

    def pool_actor(self):
        """`act_batch(episodes, obs, states)` for `nsca.envs.metaworld.rollout_batch`."""
        from nsca.envs.metaworld import goal

        def act(episodes, obs, states):
            return self.act_batch(states, goal(obs))

        return act
