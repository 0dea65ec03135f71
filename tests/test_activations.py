"""The project's Mish is torch's Mish (values, gradients, second derivatives, torch.func), faster."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.func import functional_call, jacrev, vmap

from nsca.utils.activations import Mish, mish


def _points() -> torch.Tensor:
    x = torch.linspace(-30, 30, 4001, dtype=torch.float64)
    return torch.cat([x, torch.tensor([-1e4, -88.0, 19.99, 20.0, 20.01, 88.0, 1e4, 0.0], dtype=torch.float64)])


def test_values_and_gradients_equal_torch_mish_to_float32_rounding():
    x = _points()
    ref = F.mish(x)
    xr = x.clone().requires_grad_()
    F.mish(xr).sum().backward()
    for dtype, tol in ((torch.float32, 2e-6), (torch.float64, 1e-12)):
        xf = x.to(dtype).requires_grad_()
        y = mish(xf)
        y.sum().backward()
        assert torch.isfinite(y).all() and torch.isfinite(xf.grad).all()
        scale = 1 + x.abs()
        assert ((y.double() - ref).abs() / scale).max() < tol
        assert ((xf.grad.double() - xr.grad).abs()).max() < tol * 10
        with torch.no_grad():  # the planner's path: no graph, in-place temporaries
            assert torch.equal(mish(xf), y.detach())
    assert torch.equal(Mish()(x), mish(x))


def test_input_is_never_written_and_autograd_checks_pass():
    x = torch.randn(64, dtype=torch.float64) * 6
    before = x.clone()
    with torch.no_grad():
        mish(x)
    assert torch.equal(x, before)
    leaf = (torch.randn(25, dtype=torch.float64) * 5).requires_grad_()
    assert torch.autograd.gradcheck(mish, (leaf,))
    assert torch.autograd.gradgradcheck(mish, (leaf,))


def test_per_sample_jacobians_under_vmap_match_torch_mish():
    """EWC takes per-sample parameter Jacobians with torch.func; the custom function must batch."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(7, 3)
    params = {k: v.detach() for k, v in lin.named_parameters()}
    x = torch.randn(6, 7)

    def loss(act):
        return lambda p, xi: act(functional_call(lin, p, (xi,))).sum()

    ours = vmap(jacrev(loss(mish)), in_dims=(None, 0))(params, x)
    ref = vmap(jacrev(loss(F.mish)), in_dims=(None, 0))(params, x)
    for k in ref:
        torch.testing.assert_close(ours[k], ref[k], rtol=1e-5, atol=1e-6)
