"""Training data: the chosen source, a seeded train/val split, the data fraction, and batching.

Batches are index lists drawn from a permutation seeded by (seed, epoch), so the order of
every epoch is known in advance and a resumed run continues at exactly the batch it stopped.
"""

from __future__ import annotations

from typing import Any, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from nsca.errors import UsageError
from nsca.training.config import TrainConfig

# Keys the model reads; anything else in an item (names, indices, strings) is dropped.
MODEL_KEYS = (
    "state", "next_state", "action", "primitive", "outcome", "material", "hardness",
    "frames", "next_frames", "audio", "proprio", "next_proprio",
)


def open_source(cfg: TrainConfig, split: str = "train") -> Dataset:
    if cfg.data_source == "synthetic":
        return _synthetic(cfg)
    from nsca.data.sources import get_source

    return get_source("babbling", root=cfg.data_root, split=split)


def _synthetic(cfg: TrainConfig) -> Dataset:
    from nsca.training.synthetic import SyntheticInteractions

    media = bool({"vision", "audio"} & set(cfg.modalities))
    return SyntheticInteractions(cfg.synthetic_size, seed=cfg.seed, frame_stack=cfg.model_config().frame_stack, with_media=media)


def split_indices(n: int, cfg: TrainConfig) -> tuple[list[int], list[int]]:
    """Seeded train/val split, then the training share cut to `data_fraction`."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed)).tolist()
    n_val = int(round(n * cfg.val_fraction))
    val, train = perm[:n_val], perm[n_val:]
    train = train[: max(1, int(len(train) * cfg.data_fraction))]
    if not train:
        raise UsageError(f"the data set has {n} items: too few for val_fraction={cfg.val_fraction}")
    return train, val


def to_model_item(item: dict[str, Any]) -> dict[str, torch.Tensor]:
    out = {}
    for k in MODEL_KEYS:
        if k in item and item[k] is not None:
            v = item[k]
            out[k] = v if isinstance(v, torch.Tensor) else torch.as_tensor(v)
    return out


def collate(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    items = [to_model_item(i) for i in items]
    keys = set.intersection(*(set(i) for i in items))
    return {k: torch.stack([i[k] for i in items]) for k in sorted(keys)}


class EpochBatches:
    """Batches of dataset positions for one epoch, starting at batch `start` (for resume)."""

    def __init__(self, n: int, batch_size: int, seed: int, epoch: int, start: int = 0) -> None:
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        perm = torch.randperm(n, generator=g).tolist()
        size = min(batch_size, n)
        self.batches = [perm[i : i + size] for i in range(0, n - size + 1, size)][start:]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def steps_per_epoch(n: int, batch_size: int) -> int:
    size = min(batch_size, n)
    return n // size


def epoch_loader(dataset: Dataset, cfg: TrainConfig, epoch: int, start: int = 0) -> DataLoader:
    return DataLoader(
        dataset,
        batch_sampler=EpochBatches(len(dataset), cfg.batch_size, cfg.seed, epoch, start),
        collate_fn=collate,
        num_workers=cfg.num_workers,
    )


def eval_loader(dataset: Dataset, cfg: TrainConfig) -> DataLoader:
    return DataLoader(dataset, batch_size=cfg.batch_size, shuffle=False, collate_fn=collate, num_workers=cfg.num_workers)


def subset(dataset: Dataset, indices: list[int]) -> Dataset:
    return Subset(dataset, indices)


def ensure_babbling_data(cfg: TrainConfig) -> None:
    """With --babbling-steps N, generate babbling data first until the dataset holds N steps."""
    if cfg.babbling_steps <= 0 or cfg.data_source != "babbling":
        return
    import importlib.util

    if importlib.util.find_spec("nsca.data.store") is None:
        raise UsageError("--babbling-steps needs the babbling dataset store (nsca.data.store), not in this checkout yet")
    raise UsageError("--babbling-steps: the babbling generator API is not wired in yet")
