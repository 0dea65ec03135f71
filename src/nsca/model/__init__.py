"""The NSCA model: modality encoders, fusion, world model (AdaptivePhysicsPrior head), heads."""

from nsca.model.config import MODALITIES, PRIMITIVES, SENSOR_MODALITIES, ModelConfig, preset, preset_names
from nsca.model.nsca import LOSS_NAMES, NSCAModel

__all__ = ["MODALITIES", "SENSOR_MODALITIES", "PRIMITIVES", "ModelConfig", "preset", "preset_names", "NSCAModel", "LOSS_NAMES"]
