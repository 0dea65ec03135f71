"""EWC for world-model training: continue an earlier run on new data without forgetting it.

`ewc_from` names an earlier run folder (or its checkpoint). The new run starts from that run's
weights; the anchor is those weights and the Fisher is measured on the earlier run's own
training data (reopened from its saved config). The Fisher is the empirical diagonal: the mean
over samples of squared per-sample gradients of the training loss. nsca.learning.ewc's
Gauss-Newton Fisher needs a Jacobian of every output per sample, which for a 16M-parameter,
dict-input model does not fit in memory; per-sample squared gradients (not the square of a
minibatch mean) do not vanish at convergence.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from nsca.config import from_dict
from nsca.errors import UsageError
from nsca.training import data as D
from nsca.training.checkpoint import load_checkpoint
from nsca.training.config import TrainConfig

FISHER_SAMPLES = 128


def _old_run(path: str) -> tuple[Path, Path]:
    p = Path(path)
    ckpt = p / "checkpoints" / "last.pt" if p.is_dir() else p
    run = ckpt.parent.parent
    if not (run / "config.json").is_file():
        raise UsageError(f"ewc_from={path}: no run folder with config.json found there")
    return run, ckpt


def empirical_fisher(model: torch.nn.Module, items: list[dict], cfg: TrainConfig, device: torch.device) -> dict[str, torch.Tensor]:
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    fisher = {n: torch.zeros_like(p) for n, p in params.items()}
    for item in items:
        batch = {k: v.to(device) for k, v in D.collate([item]).items()}
        model.zero_grad(set_to_none=True)
        model.losses(batch, cfg.loss_weights())["total"].backward()
        for n, p in params.items():
            if p.grad is not None:
                fisher[n] += p.grad.detach().pow(2)
    model.zero_grad(set_to_none=True)
    return {n: f / len(items) for n, f in fisher.items()}


def make_ewc(cfg: TrainConfig, model: torch.nn.Module, fresh: bool, device: torch.device) -> Any:
    """The EWC penalty (callable on the model); a fresh run also starts from the old weights."""
    from nsca.learning.ewc import EWC

    run, ckpt_path = _old_run(cfg.ewc_from)
    old_cfg = from_dict(TrainConfig, json.loads((run / "config.json").read_text())["train"])
    ck = load_checkpoint(ckpt_path)
    try:
        if fresh:
            model.load_state_dict(ck["model"])
        probe = type(model)(model.cfg, model.world_model.physics.constants).to(device)
        probe.load_state_dict(ck["model"])
    except RuntimeError as exc:
        raise UsageError(f"ewc_from={cfg.ewc_from} holds a different model ({str(exc).splitlines()[0]})") from None
    old = D.open_source(old_cfg)
    train_idx, _ = D.split_indices(len(old), old_cfg, D.dataset_facts(old)["groups"])
    pick = torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(cfg.seed))[:FISHER_SAMPLES]
    items = [old[train_idx[i]] for i in pick.tolist()]
    ewc = EWC(lam=1.0)  # the trainer multiplies by ewc_lambda itself
    ewc.fisher = empirical_fisher(probe, items, old_cfg, device)
    ewc.anchor = {n: p.detach().clone() for n, p in probe.named_parameters()}
    return ewc
