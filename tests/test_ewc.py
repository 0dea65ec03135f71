"""EWC: the penalty is zero at the anchor, grows quadratically away from it, and its Fisher is right."""

import torch
from torch import nn

from nsca.learning.bc import BCPolicy
from nsca.learning.ewc import EWC, fisher_diagonal


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
