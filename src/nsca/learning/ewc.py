"""Elastic weight consolidation (Kirkpatrick et al. 2017) with a diagonal Fisher, online variant.

penalty(model) = lambda * sum_i F_i * (theta_i - theta*_i)^2

F is the diagonal Fisher of a Gaussian-output regressor, i.e. the diagonal of the Gauss-Newton
matrix E_x[J(x)^T J(x)] / action_dim, from per-sample Jacobians of the outputs. Two choices
matter here and are deliberate:
- per-sample, not the square of a minibatch-mean gradient: the mean gradient vanishes at
  convergence, and with it the Fisher;
- output Jacobians, not gradients of the loss: they do not need targets and do not shrink as the
  fit gets better, so F measures how much each weight moves the actions on the given states.
With this scaling and lambda = 1 the penalty is the diagonal second-order estimate of the
increase of the old task's mean squared error; larger lambda weights the old task more.

Online EWC (Schwarz et al. 2018): `consolidate` again after each task; the old Fisher decays by
`gamma` and the anchor moves to the new weights.

`empirical_fisher` is the second estimate, for models whose per-sample output Jacobians do not
fit in memory (`nsca train --ewc-from`: a 16M-parameter, dict-input world model): the mean over
samples of squared per-sample gradients of the training loss. Per-sample, not the square of a
minibatch mean, so it does not vanish at convergence either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap


def fisher_diagonal(model: nn.Module, inputs: torch.Tensor, chunk: int = 512) -> dict[str, torch.Tensor]:
    """Diagonal Gauss-Newton Fisher of `model` on `inputs`: mean over samples and outputs of J^2."""
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    buffers = {n: b.detach() for n, b in model.named_buffers()}

    def out(p: dict, x: torch.Tensor) -> torch.Tensor:
        return functional_call(model, (p, buffers), (x.unsqueeze(0),)).squeeze(0)

    per_sample_jac = vmap(jacrev(out), in_dims=(None, 0))
    fisher = {n: torch.zeros_like(p) for n, p in params.items()}
    was_training = model.training
    model.eval()
    for start in range(0, inputs.shape[0], chunk):
        jac = per_sample_jac(params, inputs[start : start + chunk])  # name -> (B, out, *shape)
        for n, j in jac.items():
            fisher[n] += j.pow(2).mean(dim=1).sum(dim=0)
    model.train(was_training)
    return {n: f / inputs.shape[0] for n, f in fisher.items()}


def empirical_fisher(model: nn.Module, loss: Callable[[Any], torch.Tensor], samples: Iterable[Any]) -> dict[str, torch.Tensor]:
    """Empirical diagonal Fisher: the mean over `samples` of the squared gradient of `loss(sample)`."""
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    fisher = {n: torch.zeros_like(p) for n, p in params.items()}
    count = 0
    for sample in samples:
        model.zero_grad(set_to_none=True)
        loss(sample).backward()
        for n, p in params.items():
            if p.grad is not None:
                fisher[n] += p.grad.detach().pow(2)
        count += 1
    model.zero_grad(set_to_none=True)
    if count == 0:
        raise ValueError("empirical_fisher needs at least one sample")
    return {n: f / count for n, f in fisher.items()}


class EWC:
    """Holds the anchor weights and Fisher; `penalty(model)` is added to the new task's loss."""

    def __init__(self, lam: float = 1.0, gamma: float = 1.0) -> None:
        if lam < 0:
            raise ValueError(f"EWC lambda must be >= 0, got {lam}")
        self.lam = lam
        self.gamma = gamma
        self.anchor: dict[str, torch.Tensor] = {}
        self.fisher: dict[str, torch.Tensor] = {}

    @classmethod
    def from_fisher(cls, model: nn.Module, fisher: dict[str, torch.Tensor], lam: float = 1.0) -> EWC:
        """Anchor at `model`'s current weights with a Fisher measured elsewhere (e.g. empirical_fisher)."""
        ewc = cls(lam)
        ewc.fisher = fisher
        ewc.anchor = {n: p.detach().clone() for n, p in model.named_parameters() if n in fisher}
        return ewc

    def consolidate(self, model: nn.Module, inputs: torch.Tensor) -> None:
        """Anchor at the current weights; add this task's Fisher (online: old Fisher x gamma)."""
        new = fisher_diagonal(model, inputs)
        self.fisher = {n: self.gamma * self.fisher[n] + f if n in self.fisher else f for n, f in new.items()}
        self.anchor = {n: p.detach().clone() for n, p in model.named_parameters() if n in new}

    def penalty(self, model: nn.Module) -> torch.Tensor:
        if not self.anchor:
            raise RuntimeError("EWC.penalty called before consolidate()")
        total = torch.zeros(())
        for n, p in model.named_parameters():
            if n in self.anchor:
                total = total + (self.fisher[n] * (p - self.anchor[n]).pow(2)).sum()
        return self.lam * total

    __call__ = penalty
