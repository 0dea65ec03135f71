"""The writing side of a `nsca train` run folder's config.json (the layout, and every reader:
`nsca.model.trained`)."""

from __future__ import annotations

from dataclasses import asdict

from nsca.model.config import ModelConfig
from nsca.priors.innate import PhysicsConstants
from nsca.training.config import TrainConfig
from nsca.utils.provenance import write_run_config


def write_config(out, cfg: TrainConfig, model_cfg: ModelConfig, constants: PhysicsConstants) -> None:
    write_run_config(out, asdict(cfg), model=asdict(model_cfg), physics_constants=asdict(constants))
