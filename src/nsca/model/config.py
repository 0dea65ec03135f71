"""Model sizes and switches: one typed config, three named presets (TD-MPC2 / DreamerV3 style)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from nsca.babbling.labels import OUTCOMES, PRIMITIVES
from nsca.config import field
from nsca.errors import UsageError

MODALITIES = ("vision", "audio", "proprio", "state")
Preset = Literal["debug", "default", "large"]


@dataclass(frozen=True)
class ModelConfig:
    latent_dim: int = field(512, "width of every modality token and of the fused latent z")
    fusion_layers: int = field(4, "transformer layers fusing the modality tokens")
    fusion_heads: int = field(8, "attention heads in the fusion transformer")
    fusion_ff: int = field(1024, "feed-forward width inside the fusion transformer")
    vision_channels: tuple[int, ...] = field((32, 64, 128, 256), "conv widths, each halves 64x64")
    frame_stack: int = field(4, "RGB frames per observation (stacked on channels)")
    audio_channels: tuple[int, ...] = field((32, 64, 128, 256), "conv widths over the log-mel image")
    n_mels: int = field(64, "mel bands of the audio front end (16 kHz input)")
    mlp_hidden: int = field(512, "hidden width of the proprio / state encoders and the heads")
    dynamics_hidden: int = field(1024, "hidden width of the latent dynamics MLP")
    dynamics_depth: int = field(2, "hidden layers of the latent dynamics MLP")
    prior_hidden: int = field(256, "hidden width of the AdaptivePhysicsPrior residual")
    prior_context_dim: int = field(64, "size of the latent summary that conditions the physics head")
    n_outcomes: int = field(len(OUTCOMES), "affordance outcome classes")
    n_materials: int = field(9, "material classes (the babbling catalogue has 9)")
    n_primitives: int = field(len(PRIMITIVES), "affordance primitives the policy chooses from")
    action_dim: int = field(4, "low-level action (hand dx, dy, dz, gripper effort)")
    proprio_dim: int = field(7, "proprioception: hand position, velocity, gripper opening")
    modalities: tuple[str, ...] = field(MODALITIES, "encoders built and used; any non-empty subset")
    prior: float | None = field(0.9, "initial physics prior weight w; None = random-init baseline")

    def validate(self) -> None:
        bad = [m for m in self.modalities if m not in MODALITIES]
        if bad:
            raise UsageError(f"modalities: unknown '{bad[0]}'; choose from {', '.join(MODALITIES)}")
        if not self.modalities:
            raise UsageError("modalities: at least one is needed")
        if self.latent_dim % self.fusion_heads:
            raise UsageError(f"latent_dim={self.latent_dim} must be divisible by fusion_heads={self.fusion_heads}")
        if self.prior is not None and self.prior <= 0:
            raise UsageError(f"prior={self.prior} must be > 0 (or none for the random-init baseline)")


PRESETS: dict[str, ModelConfig] = {
    "debug": ModelConfig(
        latent_dim=64, fusion_layers=1, fusion_heads=4, fusion_ff=128, vision_channels=(8, 16, 32, 32),
        audio_channels=(8, 16, 32), n_mels=32, mlp_hidden=64, dynamics_hidden=128, dynamics_depth=1,
        prior_hidden=64, prior_context_dim=16,
    ),
    "default": ModelConfig(),
    "large": ModelConfig(
        latent_dim=768, fusion_layers=6, fusion_heads=12, fusion_ff=3072, vision_channels=(48, 96, 192, 384),
        audio_channels=(48, 96, 192, 384), mlp_hidden=768, dynamics_hidden=1536, dynamics_depth=3,
        prior_hidden=512, prior_context_dim=128,
    ),
}


def preset(name: str, **overrides: object) -> ModelConfig:
    if name not in PRESETS:
        raise UsageError(f"model preset '{name}' is unknown; choose from {', '.join(PRESETS)}")
    cfg = replace(PRESETS[name], **overrides)
    cfg.validate()
    return cfg
