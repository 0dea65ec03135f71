"""Behaviour cloning: an MLP from (object-centric state, goal) to action, trained on demos.

The head is linear (actions clipped at use): a tanh head saturates at the experts' ±1 gripper
actions, which flattens its gradients and, with them, EWC's Fisher information.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from nsca.priors.adaptive import mlp


class Normalizer(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def fit(self, x: torch.Tensor) -> Normalizer:
        self.mean.copy_(x.mean(0))
        self.std.copy_(x.std(0).clamp_min(1e-2))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class BCPolicy(nn.Module):
    def __init__(self, obs_dim: int, action_dim: int = 4, hidden: int = 256, depth: int = 2) -> None:
        super().__init__()
        self.norm = Normalizer(obs_dim)
        self.net = mlp(obs_dim, action_dim, hidden, depth)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(self.norm(obs))

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        out = self(torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0))[0]
        return out.clamp(-1, 1).numpy()


def train_regressor(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    steps: int,
    lr: float = 1e-3,
    batch_size: int = 256,
    input_noise: float = 0.0,
    weight_decay: float = 1e-4,
    generator: torch.Generator | None = None,
    penalty=None,
    optimizer: str = "adamw",
) -> list[float]:
    """Minibatch MSE regression; `input_noise` (in normalised units) regularises against the
    compounding-error states a closed loop visits. `penalty(model)` adds e.g. EWC.
    `optimizer`: "adamw" (default) or "sgd" (momentum 0.9), which does not rescale a penalty's
    gradient per parameter the way Adam does."""
    if optimizer == "adamw":
        opt: torch.optim.Optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    elif optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    else:
        raise ValueError(f"optimizer must be adamw or sgd, got {optimizer!r}")
    n = inputs.shape[0]
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, n, (min(batch_size, n),), generator=generator)
        x = inputs[idx]
        if input_noise > 0:
            scale = getattr(getattr(model, "norm", None), "std", None)
            noise = torch.randn(x.shape, generator=generator) * input_noise
            x = x + noise * (scale if scale is not None else 1.0)
        loss = (model(x) - targets[idx]).pow(2).mean()
        if penalty is not None:
            loss = loss + penalty(model)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses
