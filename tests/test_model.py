"""The NSCA model: sizes, modality switches, the physics head, overfitting a fixed batch."""

from __future__ import annotations

from itertools import combinations

import pytest
import torch

from nsca.model import SENSOR_MODALITIES, NSCAModel, preset
from nsca.priors.adaptive import AdaptivePhysicsPrior
from nsca.training.data import collate
from nsca.training.synthetic import SyntheticInteractions

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def batch() -> dict[str, torch.Tensor]:
    ds = SyntheticInteractions(16, seed=3)
    return collate([ds[i] for i in range(16)])


def test_default_preset_has_14_to_18m_parameters() -> None:
    counts = NSCAModel(preset("default")).param_counts()
    assert 14_000_000 <= counts["total"] <= 18_000_000, counts
    assert counts["total"] == sum(v for k, v in counts.items() if k not in ("total", "world_model.physics (AdaptivePhysicsPrior)"))


def test_presets_grow_in_size() -> None:
    sizes = [NSCAModel(preset(p)).param_counts()["total"] for p in ("debug", "default", "large")]
    assert sizes[0] < 1_000_000 < sizes[1] < sizes[2]


def test_object_state_head_is_the_adaptive_physics_prior() -> None:
    model = NSCAModel(preset("debug", prior=0.5))
    assert isinstance(model.world_model.physics, AdaptivePhysicsPrior)
    assert float(model.prior_weight.detach()) == pytest.approx(0.5, abs=1e-6)
    assert NSCAModel(preset("debug", prior=None)).world_model.physics.rho is None


SUBSETS = [c for r in range(1, len(SENSOR_MODALITIES) + 1) for c in combinations(SENSOR_MODALITIES, r)]


@pytest.mark.parametrize("mods", SUBSETS, ids=["+".join(m) for m in SUBSETS])
def test_every_modality_subset_runs_forward_and_backward(mods: tuple[str, ...], batch: dict) -> None:
    torch.manual_seed(0)
    model = NSCAModel(preset("debug", modalities=mods))
    assert set(model.encoders) == set(mods)
    terms = model.losses(batch)
    terms["total"].backward()
    assert torch.isfinite(terms["total"])
    grads = {name: p.grad for name, p in model.named_parameters()}
    for m in mods:  # every built encoder is in the gradient path
        enc = [g for n, g in grads.items() if n.startswith(f"encoders.{m}.") and g is not None]
        assert enc and any(g.abs().sum() > 0 for g in enc), m
    assert model.world_model.physics.rho.grad is not None and model.world_model.physics.rho.grad != 0


def test_missing_modality_input_is_skipped_not_an_error(batch: dict) -> None:
    model = NSCAModel(preset("debug"))
    no_media = {k: v for k, v in batch.items() if k not in ("frames", "audio")}
    assert torch.isfinite(model.losses(no_media)["total"])


def test_context_changes_the_physics_prediction(batch: dict) -> None:
    """The fused latent conditions the state head: other frames, other next-state prediction."""
    torch.manual_seed(0)
    model = NSCAModel(preset("debug", modalities=("vision", "state")))
    torch.nn.init.normal_(model.world_model.physics.residual[-1].weight, std=0.1)
    a = model(batch)["next_state"]
    other = dict(batch, frames=batch["frames"].flip(0))
    b = model(other)["next_state"]
    assert not torch.allclose(a, b)


def test_policy_path_at_batch_one(batch: dict) -> None:
    model = NSCAModel(preset("debug")).eval()
    obs = {k: batch[k][:1] for k in ("state", "frames", "audio")}
    logits, action = model.act(obs)
    assert logits.shape == (1, 7) and action.shape == (1, 4)
    assert action.abs().max() <= 1


def test_tiny_model_overfits_a_fixed_batch(batch: dict) -> None:
    torch.manual_seed(0)
    model = NSCAModel(preset("debug"))
    model.set_normalization(batch["state"], batch["next_state"])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        loss = model.losses(batch)["total"]
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    final = float(model.losses(batch)["total"].detach())
    assert final < first / 10, (first, final)
