"""Prediction heads on the fused latent z: affordance outcome, material/hardness, policy."""

from __future__ import annotations

import torch
from torch import nn

from nsca.utils.activations import Mish


def head_mlp(inp: int, out: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inp, hidden), nn.LayerNorm(hidden), Mish(), nn.Linear(hidden, out))


class OutcomeHead(nn.Module):
    """What will happen if this primitive/action is applied: logits over outcome classes."""

    def __init__(self, latent_dim: int, action_embed_dim: int, n_outcomes: int, hidden: int) -> None:
        super().__init__()
        self.net = head_mlp(latent_dim + action_embed_dim, n_outcomes, hidden)

    def forward(self, z: torch.Tensor, action_embed: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, action_embed], -1))


class MaterialHead(nn.Module):
    """Material class logits and a hardness estimate (the dataset's scale, typically [0, 1])."""

    def __init__(self, latent_dim: int, n_materials: int, hidden: int) -> None:
        super().__init__()
        self.net = head_mlp(latent_dim, n_materials + 1, hidden)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(z)
        return out[:, :-1], out[:, -1]


class PolicyHead(nn.Module):
    """Which primitive to run (logits) and the low-level action (tanh-squashed mean)."""

    def __init__(self, latent_dim: int, n_primitives: int, action_dim: int, hidden: int) -> None:
        super().__init__()
        self.n_primitives = n_primitives
        self.net = head_mlp(latent_dim, n_primitives + action_dim, hidden)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(z)
        return out[:, : self.n_primitives], torch.tanh(out[:, self.n_primitives:])
