"""AdaptivePhysicsPrior: next = state + w * prior_delta + learned_delta, with w = softplus(rho).

`w` starts at the `--prior` value (0.9, 0.5, 0.1) and is trained with everything else, so data
that disagrees with the innate laws (balloons) pulls it down. `prior=None` is the random-init
baseline: no prior term at all, only the learned residual. The residual's last layer starts
at zero, so at initialisation the model *is* the weighted prior.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from nsca.priors.innate import LAWS, PhysicsConstants, prior_delta
from nsca.priors.state import ACTION_DIM, STATE_DIM
from nsca.utils.activations import Mish


def inverse_softplus(y: float) -> float:
    if y <= 0:
        raise ValueError(f"prior weight must be positive, got {y}")
    return y + math.log(-math.expm1(-y))


def mlp(inp: int, out: int, hidden: int, depth: int, act: type[nn.Module] = Mish) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = inp
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.LayerNorm(hidden), act()]
        width = hidden
    layers.append(nn.Linear(width, out))
    return nn.Sequential(*layers)


class AdaptivePhysicsPrior(nn.Module):
    """One-step object-centric dynamics with a learnable trust in innate physics."""

    def __init__(
        self,
        prior: float | None = 0.9,
        state_dim: int = STATE_DIM,
        action_dim: int = ACTION_DIM,
        context_dim: int = 0,
        hidden: int = 256,
        depth: int = 2,
        constants: PhysicsConstants = PhysicsConstants(),
        laws: tuple[str, ...] = LAWS,
    ) -> None:
        super().__init__()
        self.prior = prior
        self.constants = constants
        self.laws = tuple(laws)
        self.state_dim, self.action_dim, self.context_dim = state_dim, action_dim, context_dim
        self.rho = nn.Parameter(torch.tensor(inverse_softplus(prior))) if prior is not None else None
        self.residual = mlp(state_dim + action_dim + context_dim, state_dim, hidden, depth)
        nn.init.zeros_(self.residual[-1].weight)
        nn.init.zeros_(self.residual[-1].bias)
        # Normalisation, set from data by set_normalization(); identity until then.
        self.register_buffer("state_mean", torch.zeros(state_dim))
        self.register_buffer("state_std", torch.ones(state_dim))
        self.register_buffer("delta_std", torch.ones(state_dim))

    @property
    def prior_weight(self) -> torch.Tensor:
        """w = softplus(rho): the single number reported as `prior_weight` (0 without a prior)."""
        if self.rho is None:
            return torch.zeros((), device=self.state_mean.device)
        return nn.functional.softplus(self.rho)

    def set_normalization(self, states: torch.Tensor, next_states: torch.Tensor) -> None:
        self.state_mean.copy_(states.mean(0))
        self.state_std.copy_(states.std(0).clamp_min(1e-3))
        self.delta_std.copy_((next_states - states).std(0).clamp_min(1e-4))

    def prior_delta(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return prior_delta(state, action, self.constants, self.laws)

    def learned_delta(self, state: torch.Tensor, action: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        x = [(state - self.state_mean) / self.state_std, action]
        if self.context_dim:
            if context is None:
                raise ValueError("this world model was built with context_dim > 0; pass context")
            x.append(context)
        return self.residual(torch.cat(x, -1)) * self.delta_std

    def forward(self, state: torch.Tensor, action: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        nxt = state + self.learned_delta(state, action, context)
        if self.rho is not None:
            nxt = nxt + self.prior_weight * self.prior_delta(state, action)
        return nxt

    def loss(self, state: torch.Tensor, action: torch.Tensor, next_state: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """One-step prediction error in units of each dimension's typical change."""
        err = (self(state, action, context) - next_state) / self.delta_std
        return err.pow(2).mean()


# One recipe for the prior weight, used by the few-shot agent, `nsca train` and the balloon check.
# Adam moves every parameter by about lr per step whatever its gradient, so with one lr the
# residual network (thousands of parameters) absorbs a wrong prior long before rho (one scalar)
# moves; rho therefore gets its own step size and no weight decay (decay would pull w to
# softplus(0) = 0.69 whatever the data says).
RHO_LR = 1e-2


def parameter_groups(model: nn.Module, lr: float, weight_decay: float, rho_lr: float = RHO_LR) -> list[dict]:
    """AdamW groups: matrices with decay, norms/biases without, every `rho` at `rho_lr` without."""
    rho = [p for n, p in model.named_parameters() if n == "rho" or n.endswith(".rho")]
    rho_ids = {id(p) for p in rho}
    rest = [(n, p) for n, p in model.named_parameters() if id(p) not in rho_ids and p.requires_grad]
    groups = [
        {"params": [p for _, p in rest if p.ndim >= 2], "lr": lr, "weight_decay": weight_decay},
        {"params": [p for _, p in rest if p.ndim < 2], "lr": lr, "weight_decay": 0.0},
    ]
    if rho:
        groups.append({"params": rho, "lr": rho_lr, "weight_decay": 0.0})
    return [g for g in groups if g["params"]]
