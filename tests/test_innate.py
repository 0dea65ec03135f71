"""Each innate law against MuJoCo ground truth in the Meta-World pick-place scene."""

import numpy as np
import pytest
import torch

from nsca.envs.metaworld import MetaWorldTask, expert_policy, object_state
from nsca.priors import innate
from nsca.priors.innate import PhysicsConstants
from nsca.priors.state import HAND_POS, OBJ_POS, OBJ_VEL


@pytest.fixture(scope="module")
def trajectory():
    """Expert grasps and lifts the puck, then opens the gripper and lets it fall onto the table."""
    env = MetaWorldTask("pick-place-v3")
    expert = expert_policy("pick-place-v3")
    obs = env.reset(3)
    all_obs, actions = [obs], []
    for t in range(110):
        a = np.clip(expert.get_action(obs), -1, 1) if t < 45 else np.array([0, 0, 0, -1.0])
        obs, _, _ = env.step(a)
        all_obs.append(obs)
        actions.append(a)
    s = object_state(np.stack(all_obs), env.dt_s)
    return torch.as_tensor(s), torch.as_tensor(np.stack(actions), dtype=torch.float32)


C = PhysicsConstants()


def _predict(s, a, laws):
    return s[:-1] + innate.prior_delta(s[:-1], a, C, laws)


def test_released_object_falls_as_gravity_predicts(trajectory):
    s, a = trajectory
    z, vz = s[:, OBJ_POS.start + 2], s[:, OBJ_VEL.start + 2]
    opened = s[:, 6] > 0.95  # the fingers no longer touch the puck
    falling = [t for t in range(45, 75) if opened[t] and z[t] > 0.03 and z[t + 1] > 0.03 and vz[t] < -0.05]
    assert len(falling) >= 5, "the released puck should be in free fall for several steps"
    pred = _predict(s, a, innate.LAWS)
    idx = torch.tensor(falling)
    dvz_true = vz[idx + 1] - vz[idx]
    dvz_pred = pred[idx, OBJ_VEL.start + 2] - vz[idx]
    # Free-fall velocity change per step is g * dt = 0.123 m/s; the prior matches within 10%.
    assert torch.allclose(dvz_pred, dvz_true, rtol=0.1)
    assert (pred[idx, OBJ_POS.start + 2] - z[idx + 1]).abs().max() < 5e-4  # metres


def test_object_resting_on_table_stays(trajectory):
    s, a = trajectory
    resting = [t for t in range(0, 20) if abs(float(s[t, OBJ_POS.start + 2]) - C.rest_z_m) < 0.002]
    assert len(resting) > 10
    idx = torch.tensor(resting)
    pred = _predict(s, a, innate.LAWS)
    err = (pred[idx][:, OBJ_POS] - s[idx + 1][:, OBJ_POS]).abs().max()
    assert err < 1e-3  # MuJoCo: the puck does not move; prior: neither falls nor sinks
    pushed_down = s[idx].clone()
    pushed_down[:, OBJ_VEL.start + 2] = -0.5  # moving into the table at 0.5 m/s
    kept = pushed_down + innate.prior_delta(pushed_down, a[idx], C)
    assert (kept[:, OBJ_POS.start + 2] >= C.rest_z_m - 1e-4).all() and (kept[:, OBJ_VEL.start + 2] >= -0.1).all()
    sinks = pushed_down + innate.prior_delta(pushed_down, a[idx], C, ("efference", "inertia", "gravity"))
    assert (sinks[:, OBJ_POS.start + 2] < C.rest_z_m - 5e-3).all(), "support is what stops it"


def test_grasped_object_follows_the_hand(trajectory):
    """Open-loop from the moment the closed gripper starts to lift: the puck is at rest, so
    only attachment can predict that it rises with the hand."""
    s, a = trajectory
    z, hand_vz = s[:, OBJ_POS.start + 2], s[:, HAND_POS.start + 2]
    t0 = next(t for t in range(15, 40) if s[t, 6] < 0.8 and a[t, 2] > 0.5)
    horizon = 10

    def rollout(laws):
        x = s[t0 : t0 + 1].clone()
        for t in range(t0, t0 + horizon):
            x = x + innate.prior_delta(x, a[t : t + 1], C, laws)
        return x[0]

    truth = s[t0 + horizon]
    assert truth[OBJ_POS.start + 2] - z[t0] > 0.02, "the expert lifts the puck several cm"
    full = rollout(innate.LAWS)
    without = rollout(("efference", "inertia", "gravity", "support"))
    err_full = (full[OBJ_POS] - truth[OBJ_POS]).norm()
    err_without = (without[OBJ_POS] - truth[OBJ_POS]).norm()
    assert err_full < 0.02  # metres, after 10 steps open loop
    assert err_without > 2 * err_full


def test_hand_moves_as_commanded(trajectory):
    s, a = trajectory
    pred = _predict(s, a, ("efference",))
    err = (pred[:45, HAND_POS] - s[1:46, HAND_POS]).norm(dim=-1)
    still = (s[1:46, HAND_POS] - s[:45, HAND_POS]).norm(dim=-1)
    assert err.mean() < 0.3 * still.mean()


def test_laws_are_differentiable_and_batched():
    s = torch.zeros(7, 13, requires_grad=True)
    a = torch.randn(7, 4)
    d = innate.prior_delta(s + torch.tensor([0, 0, 0.1, 0, 0, 0, 0.5, 0, 0, 0.1, 0, 0, 0]), a)
    d.sum().backward()
    assert d.shape == (7, 13) and s.grad is not None and torch.isfinite(s.grad).all()
    with pytest.raises(ValueError, match="unknown physics law"):
        innate.prior_delta(s, a, laws=("levitation",))
