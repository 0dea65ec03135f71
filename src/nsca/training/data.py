"""Training data: the chosen source, a seeded train/val split, the data fraction, and batching.

Batches are index lists drawn from a permutation seeded by (seed, epoch), so the order of
every epoch is known in advance and a resumed run continues at exactly the batch it stopped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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


def split_indices(n: int, cfg: TrainConfig, groups: list[int] | None = None) -> tuple[list[int], list[int]]:
    """Seeded train/val split by group (episode; each item its own group by default), then
    the training share cut to `data_fraction` of the groups."""
    groups = list(range(n)) if groups is None else groups
    members: dict[int, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    keys = sorted(members)
    order = [keys[j] for j in torch.randperm(len(keys), generator=torch.Generator().manual_seed(cfg.seed)).tolist()]
    n_val = int(round(len(order) * cfg.val_fraction))
    val_groups, train_groups = order[:n_val], order[n_val:]
    train_groups = train_groups[: max(1, int(len(train_groups) * cfg.data_fraction))]
    # Sorted, so neighbouring positions are neighbouring rows of the store (see shuffle_block).
    val = sorted(i for g in val_groups for i in members[g])
    train = sorted(i for g in train_groups for i in members[g])
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
    """Batches of dataset positions for one epoch, starting at batch `start` (for resume).

    block=0: a full shuffle. block=N: the epoch visits blocks of N consecutive positions in a
    random order and shuffles the items within each block, so consecutive batches touch only
    two or three parquet row groups: the store reads frames and audio a row group at a time
    and keeps only a few in memory, so a full shuffle of rendered data rereads a row group
    for nearly every item (measured: ~15x slower data loading)."""

    WINDOW_BLOCKS = 1

    def __init__(self, n: int, batch_size: int, seed: int, epoch: int, start: int = 0, block: int = 0) -> None:
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        if block <= 0 or block >= n:
            perm = torch.randperm(n, generator=g).tolist()
        else:
            starts = list(range(0, n, block))
            order = [starts[i] for i in torch.randperm(len(starts), generator=g).tolist()]
            perm = []
            for w in range(0, len(order), self.WINDOW_BLOCKS):
                window = [i for s in order[w : w + self.WINDOW_BLOCKS] for i in range(s, min(s + block, n))]
                perm += [window[i] for i in torch.randperm(len(window), generator=g).tolist()]
        size = min(batch_size, n)
        self.batches = [perm[i : i + size] for i in range(0, n - size + 1, size)][start:]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def steps_per_epoch(n: int, batch_size: int) -> int:
    size = min(batch_size, n)
    return n // size


def epoch_loader(dataset: Dataset, cfg: TrainConfig, epoch: int, start: int = 0, pin_memory: bool = False) -> DataLoader:
    """`pin_memory`: page-locked batches (a GPU run), so the copy to the device overlaps the step."""
    return DataLoader(
        dataset,
        batch_sampler=EpochBatches(len(dataset), cfg.batch_size, cfg.seed, epoch, start, cfg.shuffle_block),
        collate_fn=collate,
        num_workers=cfg.num_workers,
        pin_memory=pin_memory,
    )


def eval_loader(dataset: Dataset, cfg: TrainConfig) -> DataLoader:
    return DataLoader(dataset, batch_size=cfg.batch_size, shuffle=False, collate_fn=collate, num_workers=cfg.num_workers)


def subset(dataset: Dataset, indices: list[int]) -> Dataset:
    return Subset(dataset, indices)


def ensure_babbling_data(cfg: TrainConfig) -> None:
    """With --babbling-steps N, generate babbling data first (nsca.babbling.run) when the
    dataset folder holds none; an existing dataset with fewer interactions is an error."""
    if cfg.babbling_steps <= 0 or cfg.data_source != "babbling":
        return
    import sys

    from nsca.babbling.run import BabbleConfig, run_babble
    from nsca.config import from_dict, presets
    from nsca.data.download import data_root
    from nsca.data.store import member_stores
    from nsca.utils.io import read_json

    out = data_root(cfg.data_root) / "babbling"
    members = member_stores(out)
    if members:  # a folder of stores read together (one per scene): count what they hold, generate nothing
        held = sum((read_json(m / "config.json") or {}).get("steps", 0) for m in members)
        if held < cfg.babbling_steps:
            raise UsageError(f"the stores in {out} hold {held} babbling interactions, fewer than babbling_steps="
                             f"{cfg.babbling_steps}; add to them or point data_root elsewhere")
        return
    existing = read_json(out / "config.json")
    summary = read_json(out / "summary.json")
    if existing is not None and summary is not None:
        if existing.get("steps", 0) < cfg.babbling_steps:
            raise UsageError(
                f"{out} holds {existing.get('steps')} babbling interactions, fewer than babbling_steps="
                f"{cfg.babbling_steps}; delete it or point data_root elsewhere to generate more"
            )
        return
    sys.stderr.write(f"generating {cfg.babbling_steps} babbling interactions in {out} first\n")
    # A train preset with a babble preset of the same name uses it (debug, small: few objects,
    # a small grounding probe); any other gets babble's default.
    babble = {"preset": cfg.preset if cfg.preset in presets("babble") else "default", "steps": cfg.babbling_steps,
              "out": str(out), "render": "vision" in cfg.modalities, "audio": "audio" in cfg.modalities,
              "progress": cfg.progress}
    run_babble(from_dict(BabbleConfig, babble))


def dataset_facts(dataset: Dataset) -> dict[str, Any]:
    """What the model must match in a data set: label counts, the physics prior's constants
    (a babbling transition spans `record_every` control steps), and episode groups for the
    train/val split (transitions of one interaction never straddle it).

    Stores read together (nsca.data.store.MultiStoreDataset, e.g. playground + Meta-World) may
    differ in the time a transition spans (10 vs 12.5 ms control steps): the prior takes the
    constants of the member with the most items, and says so."""
    schema = getattr(dataset, "schema", None)
    if not schema:
        return {"model": {}, "constants": None, "groups": None}
    from nsca.priors.innate import PhysicsConstants

    labels = schema.get("labels", {})
    model = {k: len(labels[src]) for k, src in (("n_outcomes", "outcome"), ("n_materials", "material"),
                                                  ("n_primitives", "primitive")) if src in labels}
    k = int(schema.get("record_every_control_steps", 1))
    base = PhysicsConstants()
    members = getattr(dataset, "member_schemas", None) or [schema]
    spans = sorted({float(m.get("control_dt_s", base.dt_s)) * int(m.get("record_every_control_steps", 1)) for m in members})
    if len(spans) > 1:
        import sys

        sys.stderr.write(f"note: the babbling stores read together span {', '.join(f'{x * 1000:g}' for x in spans)} ms "
                         f"per transition; the physics prior uses {float(schema.get('control_dt_s', base.dt_s)) * k * 1000:g} ms "
                         "(the store with the most transitions)\n")
    constants = PhysicsConstants(
        dt_s=float(schema.get("control_dt_s", base.dt_s)) * k,
        action_scale_m=base.action_scale_m * k,
    )
    groups = None
    if getattr(dataset, "unit", None) == "transition" and hasattr(dataset, "episode_groups"):
        groups = dataset.episode_groups()
    elif getattr(dataset, "unit", None) == "transition" and hasattr(dataset, "n_frames"):
        groups = [i // (dataset.n_frames - 1) for i in range(len(dataset))]
    return {"model": model, "constants": constants, "groups": groups}


_MEDIA = {"vision": ("frames", "render"), "audio": ("audio", "audio")}


def check_modalities(cfg: TrainConfig, item: dict[str, Any]) -> None:
    """A modality switched on must be in the data: silently training without it would mislead."""
    for mod, (key, flag) in _MEDIA.items():
        if mod in cfg.modalities and key not in item:
            raise UsageError(
                f"modalities include {mod} but the {cfg.data_source} data has no '{key}' "
                f"(generate it with `nsca babble --{flag}`, or drop {mod} from modalities)"
            )
