"""The NSCA model: modality encoders, fusion, world model (AdaptivePhysicsPrior head), heads."""

from nsca.model.config import MODALITIES, PRESETS, PRIMITIVES, ModelConfig, preset
from nsca.model.nsca import LOSS_NAMES, NSCAModel

__all__ = ["MODALITIES", "PRESETS", "PRIMITIVES", "ModelConfig", "preset", "NSCAModel", "LOSS_NAMES"]
