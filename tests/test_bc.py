import pytest
import torch

from nsca.learning.bc import BCPolicy, train_regressor


@pytest.mark.parametrize("optimizer, lr", [("adamw", 1e-3), ("sgd", 1e-2)])
def test_bc_regression_fits_a_smooth_target(optimizer, lr):
    torch.manual_seed(0)
    x = torch.randn(512, 6)
    y = torch.tanh(x[:, :4] - 0.5 * x[:, 2:])
    policy = BCPolicy(6, 4, hidden=64)
    policy.norm.fit(x)
    losses = train_regressor(policy, x, y, 400, lr, optimizer=optimizer, generator=torch.Generator().manual_seed(0))
    assert sum(losses[-20:]) / 20 < 0.2 * sum(losses[:20]) / 20


def test_unknown_optimizer_is_refused():
    with pytest.raises(ValueError, match="adamw or sgd"):
        train_regressor(BCPolicy(2), torch.zeros(4, 2), torch.zeros(4, 4), 1, optimizer="lion")
