"""Mish, x * tanh(softplus(x)), written for speed on CPU.

PyTorch's CPU Mish kernel evaluates softplus and tanh element by element; in the phase-0 agent it
was the largest single cost of fitting and planning (21 s of a 148 s cell, profiled). The same
function follows from `tanh(log(1 + e)) = n / (n + 2)` with `e = exp(x)` and `n = e (e + 2)`: one
exp and a few multiplies, done in place so that a call allocates two temporaries (allocating one
per step made it slower than torch's kernel on planner-sized batches). The backward pass reuses
the forward's `tanh(softplus(x))` and `exp(x)`. It is the same function (float32 error against
float64 Mish equal to torch's own, ~1e-6), not a different activation, so results differ from
`nn.Mish` only at float rounding; `benchmarks/mish_kernel.py` times both.
"""

from __future__ import annotations

import torch
from torch import nn

_CLAMP = 20.0  # above this tanh(softplus(x)) == 1 in float32, and e**2 would overflow


def _value(x: torch.Tensor) -> torch.Tensor:
    """mish(x) without a graph: two temporaries, every step in place."""
    e = x.clamp(max=_CLAMP).exp_()
    n = e + 2
    n.mul_(e)  # n = e (e + 2)
    e.copy_(n).add_(2)  # e <- n + 2
    return n.div_(e).mul_(x)


class _MishFunction(torch.autograd.Function):
    """Returns (mish, t, e): the forward's parts are outputs (marked non-differentiable) so that
    backward reuses them without a second exp; `mish()` hands on the first only."""

    generate_vmap_rule = True  # torch.func (EWC's per-sample Jacobians) derives batching from these ops

    @staticmethod
    def forward(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        e = x.clamp(max=_CLAMP).exp()
        t = e + 2
        t.mul_(e)
        t.div_(t + 2)  # tanh(softplus(x))
        return x * t, t, e

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        (x,) = inputs
        _, t, e = output
        ctx.mark_non_differentiable(t, e)
        ctx.save_for_backward(x, t, e)

    @staticmethod
    def backward(ctx, grad: torch.Tensor, _gt=None, _ge=None) -> torch.Tensor:
        x, t, e = ctx.saved_tensors
        if torch.is_grad_enabled():
            # Double backward (create_graph): the saved parts carry no graph, so rebuild them
            # from x with differentiable ops.
            t2 = torch.tanh(nn.functional.softplus(x))
            return grad * (t2 + x * torch.sigmoid(x) * (1 - t2 * t2))
        # d mish / dx = t + x * sigmoid(x) * (1 - t^2), sigmoid(x) = e / (e + 1)
        d = e + 1
        d.reciprocal_().mul_(e).mul_(x)
        d.mul_(t.square().neg_().add_(1))
        return d.add_(t).mul_(grad)


def mish(x: torch.Tensor) -> torch.Tensor:
    if torch.is_grad_enabled() and x.requires_grad:
        return _MishFunction.apply(x)[0]
    return _value(x)


class Mish(nn.Module):
    """Drop-in for `nn.Mish` (same function, faster on CPU); no parameters, so state dicts match."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return mish(x)
