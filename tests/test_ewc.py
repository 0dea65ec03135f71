"""EWC: the penalty is zero at the anchor, grows quadratically away from it, and its Fisher is right."""

import pytest
import torch
from torch import nn

from nsca.learning.bc import BCPolicy
from nsca.learning.ewc import EWC, empirical_fisher, fisher_diagonal


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny networks: intra-op threads only spin against other jobs on a shared machine (7x slower).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))


def test_penalty_zero_at_anchor_and_grows_quadratically_away():
    net = _net()
    x = torch.randn(64, 3)
    ewc = EWC(lam=10.0)
    ewc.consolidate(net, x)
    assert ewc.penalty(net).item() == 0.0
    direction = {n: torch.randn_like(p) for n, p in net.named_parameters()}
    values = []
    for scale in (0.01, 0.02, 0.04):
        with torch.no_grad():
            for n, p in net.named_parameters():
                p.copy_(ewc.anchor[n] + scale * direction[n])
        values.append(ewc.penalty(net).item())
    assert 0 < values[0] < values[1] < values[2]
    assert abs(values[1] / values[0] - 4) < 1e-3 and abs(values[2] / values[1] - 4) < 1e-3


def test_fisher_matches_per_sample_jacobians_computed_by_hand():
    net = _net(1)
    x = torch.randn(5, 3)
    fisher = fisher_diagonal(net, x)
    expected = {n: torch.zeros_like(p) for n, p in net.named_parameters()}
    for i in range(x.shape[0]):
        for k in range(2):
            net.zero_grad()
            net(x[i : i + 1])[0, k].backward()
            for n, p in net.named_parameters():
                expected[n] += p.grad.pow(2) / (x.shape[0] * 2)
    for n in expected:
        torch.testing.assert_close(fisher[n], expected[n], rtol=1e-4, atol=1e-7)


def test_empirical_fisher_is_the_mean_squared_per_sample_loss_gradient():
    net = _net(2)
    x, y = torch.randn(6, 3), torch.randn(6, 2)

    def loss(i: int) -> torch.Tensor:
        return (net(x[i : i + 1]) - y[i : i + 1]).pow(2).sum()

    fisher = empirical_fisher(net, loss, range(6))
    # By hand: the mean of squared per-sample gradients, not the square of the mean gradient.
    grads = [torch.autograd.grad(loss(i), list(net.parameters())) for i in range(6)]
    for k, (n, _) in enumerate(net.named_parameters()):
        expected = torch.stack([g[k].pow(2) for g in grads]).mean(0)
        torch.testing.assert_close(fisher[n], expected)
        assert not torch.allclose(fisher[n], torch.stack([g[k] for g in grads]).mean(0).pow(2))
    ewc = EWC.from_fisher(net, fisher, lam=2.0)
    assert ewc.penalty(net).item() == 0.0 and set(ewc.anchor) == set(fisher)


def test_fisher_does_not_vanish_when_the_fit_is_perfect():
    # At a perfect fit the minibatch-mean loss gradient is 0 (so is its square, the Fisher some
    # EWC implementations use); the output-Jacobian Fisher is not.
    policy = BCPolicy(4, action_dim=2, hidden=16)
    x = torch.randn(128, 4)
    policy.norm.fit(x)
    with torch.no_grad():
        targets = policy(x)
    loss = (policy(x) - targets).pow(2).mean()
    grads = torch.autograd.grad(loss, list(policy.parameters()))
    assert max(g.abs().max().item() for g in grads) == 0.0
    fisher = fisher_diagonal(policy, x)
    assert all(torch.isfinite(f).all() for f in fisher.values())
    # d action_k / d output bias_k = 1 for every sample; averaged over the 2 outputs: 1/2.
    torch.testing.assert_close(fisher["net.6.bias"], torch.full((2,), 0.5))
    assert fisher["net.0.weight"].sum().item() > 0


def test_online_consolidation_decays_old_fisher_and_moves_anchor():
    net = _net(2)
    x = torch.randn(32, 3)
    ewc = EWC(lam=1.0, gamma=0.5)
    ewc.consolidate(net, x)
    first = {n: f.clone() for n, f in ewc.fisher.items()}
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1)
    ewc.consolidate(net, x)
    new = fisher_diagonal(net, x)
    for n in first:
        torch.testing.assert_close(ewc.fisher[n], 0.5 * first[n] + new[n])
    assert ewc.penalty(net).item() == 0.0  # anchored at the new weights


def test_ewc_training_is_deterministic_and_holds_the_old_task():
    from nsca.experiments.forgetting import ForgettingConfig, train

    cfg = ForgettingConfig(hidden=16, lr=1e-2)
    g = torch.Generator().manual_seed(0)
    xa, xb = torch.randn(64, 4, generator=g), torch.randn(64, 4, generator=g) + 2.0
    ya, yb = torch.sin(xa[:, :2]), torch.cos(xb[:, :2])

    def run(lam: float):
        torch.manual_seed(0)
        policy = BCPolicy(4, action_dim=2, hidden=16)
        policy.norm.fit(xa)
        train(policy, xa, ya, 150, cfg, torch.Generator().manual_seed(1))
        ewc = EWC(lam)
        ewc.consolidate(policy, xa)
        train(policy, xb, yb, 150, cfg, torch.Generator().manual_seed(2), penalty=ewc if lam else None)
        with torch.no_grad():
            return (policy(xa) - ya).pow(2).mean().item(), [p.clone() for p in policy.parameters()]

    loss_plain, _ = run(0.0)
    loss_ewc, params = run(100.0)
    loss_ewc2, params2 = run(100.0)
    assert loss_ewc == loss_ewc2 and all(torch.equal(a, b) for a, b in zip(params, params2))
    assert loss_ewc < 0.5 * loss_plain
