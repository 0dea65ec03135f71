"""Fuses the modality tokens into one latent z with a small transformer over tokens.

Each present modality contributes one token (plus a learned modality embedding); a learned
summary token attends to them and becomes z. A switched-off or absent modality simply
contributes no token, so the same weights run on any subset of modalities.
"""

from __future__ import annotations

import torch
from torch import nn


class Fusion(nn.Module):
    def __init__(self, modalities: tuple[str, ...], latent_dim: int, layers: int, heads: int, ff: int) -> None:
        super().__init__()
        self.modalities = tuple(modalities)
        self.embed = nn.ParameterDict({m: nn.Parameter(torch.zeros(latent_dim)) for m in self.modalities})
        self.summary = nn.Parameter(torch.randn(latent_dim) * 0.02)
        layer = nn.TransformerEncoderLayer(
            latent_dim, heads, ff, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(latent_dim)

    def forward(self, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        """tokens: modality -> (B, latent_dim); returns z (B, latent_dim)."""
        present = [m for m in self.modalities if m in tokens]
        if not present:
            raise ValueError(f"no modality token given; this model fuses {', '.join(self.modalities)}")
        batch = tokens[present[0]].shape[0]
        seq = [self.summary.expand(batch, -1)] + [tokens[m] + self.embed[m] for m in present]
        out = self.transformer(torch.stack(seq, 1))
        return self.norm(out[:, 0])
