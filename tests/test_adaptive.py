"""AdaptivePhysicsPrior: w = softplus(rho) starts at --prior, gets gradient, and moves with the data."""

import pytest
import torch

from nsca.priors.adaptive import AdaptivePhysicsPrior
from nsca.priors.innate import PhysicsConstants, prior_delta
from nsca.priors.state import OBJ_FREE, OBJ_HALF, OBJ_POS, OBJ_VEL, STATE_DIM


def _falling_batch(n: int, gravity_mps2: float, seed: int = 0):
    """Free objects high above the table, moving under the given gravity (negative = rising)."""
    g = torch.Generator().manual_seed(seed)
    s = torch.zeros(n, STATE_DIM)
    s[:, OBJ_FREE] = 1.0
    s[:, OBJ_HALF] = 0.02
    s[:, 0:3] = torch.rand(n, 3, generator=g) * 0.2            # hand far away, open gripper
    s[:, 6] = 1.0
    s[:, OBJ_POS] = torch.rand(n, 3, generator=g) * 0.2 + torch.tensor([0.3, 0.3, 0.2])
    s[:, OBJ_VEL] = torch.randn(n, 3, generator=g) * 0.1
    a = torch.zeros(n, 4)
    truth = s + prior_delta(s, a, PhysicsConstants(gravity_mps2=gravity_mps2))
    return s, a, truth


@pytest.mark.parametrize("prior", [0.9, 0.5, 0.1])
def test_weight_starts_at_the_prior(prior):
    assert AdaptivePhysicsPrior(prior).prior_weight.item() == pytest.approx(prior, rel=1e-5)


def test_no_prior_means_no_prior_term():
    m = AdaptivePhysicsPrior(None)
    s, a, _ = _falling_batch(8, 9.81)
    assert m.rho is None and m.prior_weight.item() == 0.0
    assert torch.equal(m(s, a), s)  # zero-initialised residual: predicts "nothing moves"


def test_weight_receives_gradient():
    m = AdaptivePhysicsPrior(0.9)
    s, a, truth = _falling_batch(32, -9.81)
    m.loss(s, a, truth).backward()
    assert m.rho.grad is not None and m.rho.grad.abs() > 0


def _train(prior: float, gravity: float, steps: int = 300) -> float:
    torch.manual_seed(0)
    m = AdaptivePhysicsPrior(prior, hidden=32, depth=1)
    s, a, truth = _falling_batch(512, gravity)
    m.set_normalization(s, truth)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for _ in range(steps):
        opt.zero_grad()
        m.loss(s, a, truth).backward()
        opt.step()
    return m.prior_weight.item()


def test_weight_falls_when_the_prior_is_wrong_and_holds_when_right():
    wrong = _train(0.9, gravity=-9.81)   # objects rise: the gravity law is wrong
    right = _train(0.9, gravity=9.81)
    assert wrong < 0.6
    assert right > 0.85
