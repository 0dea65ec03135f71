"""Model sizes and switches: one typed config; its named size blocks (debug, default, large:
TD-MPC2 / DreamerV3 style) are the `model` section of nsca/presets.yaml."""

from __future__ import annotations

from dataclasses import dataclass, replace

from nsca.babbling.labels import OUTCOMES, PRIMITIVES
from nsca.config import field, from_dict, preset_block, presets
from nsca.errors import UsageError
from nsca.priors.innate import LAWS

MODALITIES = ("vision", "audio", "proprio", "state", "goal")
# What babbling trains by default; "goal" (a task's goal and the object relations to it, GOAL_DIM
# floats) is added by the few-shot agent (nsca.learning.model_agent), whose tasks have goals.
SENSOR_MODALITIES = ("vision", "audio", "proprio", "state")
GOAL_DIM = 9


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
    n_materials: int = field(9, "material classes (a babbling store's labels.material sets it)")
    material_heads: bool = field(True, "build the material/hardness head and supervise z with the store's material and "
                                       "hardness labels; off: no such head and no such loss (the grounding probe's "
                                       "control: a latent that was never told the material)")
    n_primitives: int = field(len(PRIMITIVES), "affordance primitives the policy chooses from")
    action_dim: int = field(4, "low-level action (hand dx, dy, dz, gripper effort)")
    proprio_dim: int = field(7, "proprioception: hand position, velocity, gripper opening")
    modalities: tuple[str, ...] = field(SENSOR_MODALITIES, f"encoders built and used; any non-empty subset of {', '.join(MODALITIES)}")
    prior: float | None = field(0.9, "initial physics prior weight w; None = random-init baseline")
    laws: tuple[str, ...] = field(LAWS, "innate laws in the physics head's prior (the ablation switches one off)")

    def validate(self) -> None:
        bad = [m for m in self.modalities if m not in MODALITIES]
        if bad:
            raise UsageError(f"modalities: unknown '{bad[0]}'; choose from {', '.join(MODALITIES)}")
        if not self.modalities:
            raise UsageError("modalities: at least one is needed")
        if self.latent_dim % self.fusion_heads:
            raise UsageError(f"latent_dim={self.latent_dim} must be divisible by fusion_heads={self.fusion_heads}")
        unknown = [law for law in self.laws if law not in LAWS]
        if unknown or len(set(self.laws)) != len(self.laws):
            raise UsageError(f"laws: distinct laws from {', '.join(LAWS)}, got {' '.join(self.laws)}")
        if self.prior is not None and self.prior <= 0:
            raise UsageError(f"prior={self.prior} must be > 0 (or none for the random-init baseline)")


def preset_names() -> list[str]:
    return list(presets("model"))


def preset(name: str, **overrides: object) -> ModelConfig:
    """The named size block of nsca/presets.yaml's `model` section, with `overrides` replaced."""
    cfg = replace(from_dict(ModelConfig, preset_block("model", name)), **overrides)
    cfg.validate()
    return cfg
