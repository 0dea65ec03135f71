"""The typed config of `nsca train` (one dataclass with the model config nested; a preset
block, a YAML file and CLI flags fill it, in that order)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace
from typing import ClassVar, Literal

from nsca.config import field, presets
from nsca.errors import UsageError
from nsca.model.config import SENSOR_MODALITIES, ModelConfig

_DEFAULT_MODEL = ModelConfig()


@dataclass(frozen=True)
class TrainConfig:
    PRESETS: ClassVar[str] = "train"

    preset: str = field("default", f"named block of presets.yaml's train section ({', '.join(presets('train'))}); "
                                   "--debug = --preset debug; it fills the keys not given")
    modalities: list[str] = field(list(SENSOR_MODALITIES), "modalities to build and train on (vision audio proprio state)")
    prior: float | Literal["none"] = field(0.9, "initial physics prior weight; 'none' = random-init baseline")
    data_source: Literal["babbling", "synthetic"] = field(
        "babbling", "training data: the babbling dataset store, or a generated synthetic set (tests, smoke runs)"
    )
    data_root: str | None = field(None, "data root (default $NSCA_DATA_ROOT, else ./data); babbling data in <root>/babbling")
    data_fraction: float = field(1.0, "share of the training data used (a seeded subset), in (0, 1]")
    val_fraction: float = field(0.1, "share of the data held out for validation, in [0, 0.5]")
    synthetic_size: int = field(512, "items in the synthetic data set")
    babbling_steps: int = field(0, "generate babbling data first until the dataset holds this many steps (0 = use what exists)")
    shuffle_block: int = field(
        0, "0 = full shuffle; N = visit blocks of N consecutive items in random order, shuffled within (fast parquet reads)"
    )
    epochs: int = field(10, "passes over the training data")
    max_steps: int = field(0, "stop after this many optimiser steps in total (0 = no limit)")
    batch_size: int = field(64, "samples per optimiser step")
    lr: float = field(3e-4, "peak learning rate (AdamW)")
    warmup_steps: int = field(200, "linear learning-rate warm-up steps")
    weight_decay: float = field(1e-4, "AdamW weight decay")
    grad_clip: float = field(10.0, "gradient norm clip (0 = off)")
    w_state: float = field(1.0, "loss weight: next object state (AdaptivePhysicsPrior head)")
    w_latent: float = field(1.0, "loss weight: next latent (latent dynamics)")
    w_outcome: float = field(0.5, "loss weight: affordance outcome")
    w_material: float = field(0.5, "loss weight: material class")
    w_hardness: float = field(0.5, "loss weight: hardness")
    w_policy: float = field(0.1, "loss weight: policy (primitive + action) imitation of the babbling")
    curiosity: Literal["off", "robust", "naive"] = field(
        "off", "weight each sample's state loss by the curiosity reward of its primitive (nsca.learning.curiosity)"
    )
    curiosity_window: int = field(20, "error window (in steps) of the curiosity reward")
    ewc_lambda: float = field(0.0, "EWC penalty strength (needs --ewc-from; 0 = plain fine-tuning)")
    ewc_from: str | None = field(None, "earlier run folder (or checkpoint) to start from; EWC anchors to its weights")
    device: Literal["auto", "cpu", "cuda", "mps"] = field("auto", "device (auto: cuda, else mps, else cpu)")
    amp: bool = field(False, "mixed precision: bf16 autocast on GPUs and on CPUs with native bf16 (AVX512-BF16/AMX), "
                             "fp16 + grad scaler on older GPUs; elsewhere fp32 (noted). Off: fp32 everywhere")
    compile: bool = field(False, "torch.compile the model (CPU or GPU); the first steps compile it (minutes on a CPU)")
    fused_optimizer: bool = field(False, "AdamW's fused kernel: the same update in one pass over the weights; "
                                         "rounds differently in the last bit, so it does not reproduce an unfused run")
    threads: int = field(0, "CPU threads for torch (0 = torch's default: one per core)")
    num_workers: int = field(0, "DataLoader worker processes (0 = read batches in the training process)")
    seed: int = field(0, "seed for model init, data split and data order")
    run_dir: str = field("runs/train", "parent folder of run folders")
    run_name: str | None = field(None, "run folder name (default <preset>-seed<seed>)")
    checkpoint_every: int = field(500, "save a checkpoint every this many steps (and at each epoch end)")
    log_every: int = field(1, "write metrics every this many steps")
    progress: bool = field(True, "show a progress bar")
    wandb_project: str | None = field(None, "mirror metrics to this wandb project (pip install nsca[tracking])")
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig, metadata={
        "help": "model sizes (--model.latent-dim ...); modalities and prior are --modalities and --prior, "
                "label counts come from the data", "skip": ("modalities", "prior")})

    def validate(self) -> None:
        if not 0 < self.data_fraction <= 1:
            raise UsageError(f"data_fraction={self.data_fraction} must be in (0, 1]")
        if not 0 <= self.val_fraction <= 0.5:
            raise UsageError(f"val_fraction={self.val_fraction} must be in [0, 0.5]")
        for name in ("epochs", "batch_size", "checkpoint_every", "log_every", "synthetic_size"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name}={getattr(self, name)} must be at least 1")
        for name in ("max_steps", "babbling_steps", "shuffle_block", "warmup_steps", "threads", "num_workers", "lr", "weight_decay",
                     "grad_clip", "ewc_lambda", "w_state", "w_latent", "w_outcome", "w_material", "w_hardness",
                     "w_policy"):
            if getattr(self, name) < 0:
                raise UsageError(f"{name}={getattr(self, name)} must be >= 0")
        if self.curiosity_window < 2:
            raise UsageError(f"curiosity_window={self.curiosity_window} must be at least 2")
        if self.ewc_lambda > 0 and not self.ewc_from:
            raise UsageError("ewc_lambda > 0 needs ewc_from (the checkpoint to anchor to)")
        for name in ("modalities", "prior"):
            if getattr(self.model, name) != getattr(_DEFAULT_MODEL, name):
                raise UsageError(f"model.{name} is set by the top-level key {name} (--{name}), not inside model")
        self.model_config()

    @property
    def prior_value(self) -> float | None:
        return None if self.prior in (None, "none") else float(self.prior)

    def model_config(self, **from_data: int) -> ModelConfig:
        """The model with this run's modalities and prior; `from_data`: label counts of the data."""
        cfg = replace(self.model, modalities=tuple(self.modalities), prior=self.prior_value, **from_data)
        cfg.validate()
        return cfg

    def loss_weights(self) -> dict[str, float]:
        return {k: getattr(self, f"w_{k}") for k in ("state", "latent", "outcome", "material", "hardness", "policy")}
