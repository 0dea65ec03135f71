"""The world model: latent dynamics plus an object-state head that IS the AdaptivePhysicsPrior.

- latent dynamics: z_next = z + MLP([z, action_embed]) (residual, TD-MPC2-like), trained to
  match the (stop-gradient) fused latent of the next observation.
- object-state head: AdaptivePhysicsPrior(state, action, context) with context = a small
  projection of z, so vision/audio/proprio can correct the innate laws (a heavy object, a
  bouncy one) while `prior_weight` stays the one interpretable number.
"""

from __future__ import annotations

import torch
from torch import nn

from nsca.priors.adaptive import AdaptivePhysicsPrior
from nsca.priors.innate import PhysicsConstants
from nsca.priors.state import STATE_DIM
from nsca.utils.activations import Mish


class WorldModel(nn.Module):
    def __init__(
        self,
        latent_dim: int,
        action_embed_dim: int,
        action_dim: int,
        hidden: int,
        depth: int,
        prior: float | None,
        prior_hidden: int,
        prior_context_dim: int,
        constants: PhysicsConstants | None = None,
        laws: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = latent_dim + action_embed_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.LayerNorm(hidden), Mish()]
            width = hidden
        layers.append(nn.Linear(width, latent_dim))
        self.dynamics = nn.Sequential(*layers)
        self.context = nn.Sequential(nn.Linear(latent_dim, prior_context_dim), nn.Tanh())
        self.physics = AdaptivePhysicsPrior(
            prior=prior, state_dim=STATE_DIM, action_dim=action_dim,
            context_dim=prior_context_dim, hidden=prior_hidden, depth=2,
            constants=constants or PhysicsConstants(), **({} if laws is None else {"laws": tuple(laws)}),
        )

    @property
    def prior_weight(self) -> torch.Tensor:
        return self.physics.prior_weight

    def next_latent(self, z: torch.Tensor, action_embed: torch.Tensor) -> torch.Tensor:
        return z + self.dynamics(torch.cat([z, action_embed], -1))

    def next_state(self, state: torch.Tensor, action: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        # fp32 even under autocast: the state loss is in units of each field's typical change
        # and its gradient is what trains rho, the one interpretable number (91k parameters,
        # so the exact head costs nothing).
        if torch.is_autocast_enabled(z.device.type):
            with torch.autocast(z.device.type, enabled=False):
                return self.physics(state.float(), action.float(), self.context(z.float()))
        return self.physics(state, action, self.context(z))
