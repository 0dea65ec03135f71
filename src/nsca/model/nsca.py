"""NSCAModel: encoders -> fusion -> world model (AdaptivePhysicsPrior state head) and heads.

A batch is a dict of tensors. Inputs: "state" (B, STATE_DIM) always used by the physics head;
"frames" (B, T, 3, 64, 64), "audio" (B, N) at 16 kHz, "proprio" (B, 7) (taken from the
state's hand fields when absent), "action" (B, 4), "primitive" (B,) int, "goal" (B, GOAL_DIM) for a model with the goal
modality (a task's goal position and the object-to-hand and goal-to-object offsets). Targets, each
optional (a missing one simply contributes no loss): "next_state", "next_frames",
"outcome" (B,) int, "material" (B,) int, "hardness" (B,) (the last two read only by a model
built with `material_heads`; without, its latent is never supervised with material or hardness).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from nsca.model.config import GOAL_DIM, ModelConfig
from nsca.model.encoders import AudioEncoder, VectorEncoder, VisionEncoder
from nsca.model.fusion import Fusion
from nsca.model.heads import MaterialHead, OutcomeHead, PolicyHead
from nsca.model.world_model import WorldModel
from nsca.priors.innate import PhysicsConstants
from nsca.priors.state import GRIPPER, HAND_POS, HAND_VEL, STATE_DIM

LOSS_NAMES = ("state", "latent", "outcome", "material", "hardness", "policy")


def proprio_from_state(state: torch.Tensor) -> torch.Tensor:
    return torch.cat([state[..., HAND_POS], state[..., HAND_VEL], state[..., GRIPPER]], -1)


class NSCAModel(nn.Module):
    def __init__(self, cfg: ModelConfig, constants: PhysicsConstants | None = None) -> None:
        """`constants`: the innate laws' scene constants (time step per transition, action
        scale...) of the data the model learns from; Meta-World's by default."""
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        d = cfg.latent_dim
        enc: dict[str, nn.Module] = {}
        if "vision" in cfg.modalities:
            enc["vision"] = VisionEncoder(d, tuple(cfg.vision_channels), cfg.frame_stack)
        if "audio" in cfg.modalities:
            enc["audio"] = AudioEncoder(d, tuple(cfg.audio_channels), cfg.n_mels)
        if "proprio" in cfg.modalities:
            enc["proprio"] = VectorEncoder(cfg.proprio_dim, d, cfg.mlp_hidden)
        if "state" in cfg.modalities:
            enc["state"] = VectorEncoder(STATE_DIM, d, cfg.mlp_hidden)
        if "goal" in cfg.modalities:
            enc["goal"] = VectorEncoder(GOAL_DIM, d, cfg.mlp_hidden)
        self.encoders = nn.ModuleDict(enc)
        self.fusion = Fusion(tuple(enc), d, cfg.fusion_layers, cfg.fusion_heads, cfg.fusion_ff)
        self.action_embed_dim = cfg.action_dim + cfg.n_primitives
        self.world_model = WorldModel(
            d, self.action_embed_dim, cfg.action_dim, cfg.dynamics_hidden, cfg.dynamics_depth,
            cfg.prior, cfg.prior_hidden, cfg.prior_context_dim, constants, cfg.laws,
        )
        self.outcome_head = OutcomeHead(d, self.action_embed_dim, cfg.n_outcomes, cfg.mlp_hidden)
        self.material_head = MaterialHead(d, cfg.n_materials, cfg.mlp_hidden) if cfg.material_heads else None
        self.policy_head = PolicyHead(d, cfg.n_primitives, cfg.action_dim, cfg.mlp_hidden)

    @property
    def prior_weight(self) -> torch.Tensor:
        return self.world_model.prior_weight

    def param_counts(self) -> OrderedDict[str, int]:
        """Parameters per top-level module (encoders listed one by one) and the total."""
        counts: OrderedDict[str, int] = OrderedDict()
        for name, enc in self.encoders.items():
            counts[f"encoders.{name}"] = sum(p.numel() for p in enc.parameters())
        for name in ("fusion", "world_model", "outcome_head", "material_head", "policy_head"):
            if getattr(self, name) is not None:
                counts[name] = sum(p.numel() for p in getattr(self, name).parameters())
        counts["world_model.physics (AdaptivePhysicsPrior)"] = sum(
            p.numel() for p in self.world_model.physics.parameters()
        )
        counts["total"] = sum(p.numel() for p in self.parameters())
        return counts

    def set_normalization(self, state: torch.Tensor, next_state: torch.Tensor) -> None:
        """Input/target scales from a sample of the training data (kept in the state dict)."""
        self.world_model.physics.set_normalization(state, next_state)
        if "state" in self.encoders:
            self.encoders["state"].set_normalization(state)
        if "proprio" in self.encoders:
            self.encoders["proprio"].set_normalization(proprio_from_state(state))

    def encode(self, obs: dict[str, torch.Tensor], prefix: str = "",
               current: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Fused latent z of an observation; `prefix="next_"` encodes the next observation,
        falling back to the current frames/audio when the data has no next ones. `current`:
        the current observation's tokens (`tokens()`); a fallback modality takes its token
        from there, detached, instead of encoding the same input again (the same numbers: the
        babbling store has no next audio, so this saves an audio encoder pass per step)."""
        return self.fusion(self.tokens(obs, prefix, current))

    def tokens(self, obs: dict[str, torch.Tensor], prefix: str = "",
               current: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """One token per present modality (the inputs of `fusion`); see `encode`."""
        def get(key: str) -> torch.Tensor | None:
            return obs.get(prefix + key, obs.get(key))

        def reused(mod: str, key: str) -> torch.Tensor | None:
            if prefix and current is not None and mod in current and prefix + key not in obs:
                return current[mod].detach()
            return None

        tokens: dict[str, torch.Tensor] = {}
        state = obs.get(prefix + "state")
        for mod, key in (("vision", "frames"), ("audio", "audio")):
            if mod in self.encoders and get(key) is not None:
                tok = reused(mod, key)
                tokens[mod] = tok if tok is not None else self.encoders[mod](get(key))
        if "proprio" in self.encoders:
            proprio = obs.get(prefix + "proprio")
            if proprio is None and state is not None:
                proprio = proprio_from_state(state)
            if proprio is not None:
                tokens["proprio"] = self.encoders["proprio"](proprio)
        if "state" in self.encoders and state is not None:
            tokens["state"] = self.encoders["state"](state)
        if "goal" in self.encoders and obs.get("goal") is not None:
            tokens["goal"] = self.encoders["goal"](obs["goal"])
        return tokens

    def action_embedding(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        action = batch["action"]
        prim = batch.get("primitive")
        onehot = (
            F.one_hot(prim.long(), self.cfg.n_primitives).to(action.dtype)
            if prim is not None
            else action.new_zeros(action.shape[0], self.cfg.n_primitives)
        )
        return torch.cat([action, onehot], -1)

    def act(self, obs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The policy path used inside control loops: (primitive logits, action)."""
        return self.policy_head(self.encode(obs))

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        """The heads' outputs, and the modality tokens ("tokens", for the target encoding)."""
        tokens = self.tokens(batch)
        z = self.fusion(tokens)
        a = self.action_embedding(batch)
        primitive_logits, action = self.policy_head(z)
        out = {
            "tokens": tokens,
            "z": z,
            "next_z": self.world_model.next_latent(z, a),
            "next_state": self.world_model.next_state(batch["state"], batch["action"], z),
            "outcome_logits": self.outcome_head(z, a),
            "primitive_logits": primitive_logits,
            "policy_action": action,
        }
        if self.material_head is not None:
            out["material_logits"], out["hardness"] = self.material_head(z)
        return out

    def losses(
        self,
        batch: dict[str, torch.Tensor],
        weights: dict[str, float] | None = None,
        state_sample_weight: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Per-term scalar losses for the targets present in the batch and their weighted
        "total"; also "state_per_sample" (B,), detached, for curiosity bookkeeping.
        `state_sample_weight` (B,) reweights the samples of the state term."""
        weights = weights or {}
        out = self(batch)
        terms: dict[str, torch.Tensor] = {}
        per_sample = None
        if "next_state" in batch:
            phys = self.world_model.physics
            per_sample = ((out["next_state"] - batch["next_state"]) / phys.delta_std).pow(2).mean(-1)
            w = state_sample_weight if state_sample_weight is not None else torch.ones_like(per_sample)
            terms["state"] = (per_sample * w).mean()
            with torch.no_grad():
                target = self.encode(batch, prefix="next_", current=out["tokens"])
            terms["latent"] = F.mse_loss(out["next_z"], target)
        if "outcome" in batch:
            terms["outcome"] = F.cross_entropy(out["outcome_logits"], batch["outcome"].long())
        if "material" in batch and "material_logits" in out:
            terms["material"] = F.cross_entropy(out["material_logits"], batch["material"].long())
        if "hardness" in batch and "hardness" in out:
            terms["hardness"] = F.mse_loss(out["hardness"], batch["hardness"].to(out["hardness"].dtype))
        if "primitive" in batch:
            terms["policy"] = F.cross_entropy(out["primitive_logits"], batch["primitive"].long()) + F.mse_loss(
                out["policy_action"], batch["action"].clamp(-1, 1)
            )
        if not terms:
            raise ValueError("the batch has no target (next_state, outcome, material, hardness, primitive)")
        terms["total"] = sum(weights.get(k, 1.0) * v for k, v in terms.items())
        if per_sample is not None:
            terms["state_per_sample"] = per_sample.detach()
        return terms
