"""The balloon world really rises in MuJoCo; the control falls and rests; the hand obeys the prior."""

import numpy as np
import torch

from nsca.envs.balloon import BALL_RADIUS_M, BALLOON_GRAVCOMP, CONSTANTS, BalloonWorld, collect_transitions
from nsca.priors.innate import prior_delta
from nsca.priors.state import HAND_POS, HAND_VEL, OBJ_POS, OBJ_VEL, STATE_DIM


def _drop(balloon: bool, steps: int) -> np.ndarray:
    world = BalloonWorld(balloon=balloon, n_balls=1)
    states = [world.reset(np.random.default_rng(3))]
    for _ in range(steps):
        states.append(world.step(np.zeros(4)))
    return np.stack(states)[:, 0]


def test_balloons_rise_at_the_buoyancy_acceleration():
    s = _drop(True, 20)
    z, vz = s[:, OBJ_POS][:, 2], s[:, OBJ_VEL][:, 2]
    assert np.all(np.diff(z) > 0)
    accel = np.diff(vz[2:]).mean() / CONSTANTS.dt_s
    assert abs(accel - (BALLOON_GRAVCOMP - 1) * 9.81) < 0.05


def test_control_balls_fall_and_rest_on_the_table():
    s = _drop(False, 80)
    z = s[:, OBJ_POS][:, 2]
    assert z[5] < z[0]
    assert abs(z[-1] - BALL_RADIUS_M) < 2e-3 and abs(s[-1, OBJ_VEL][2]) < 1e-2


def test_hand_motion_is_exactly_the_innate_efference_law():
    d = collect_transitions(balloon=True, episodes=2, steps=10, seed=0, n_balls=2)
    s, a, nxt = (torch.as_tensor(d[k]) for k in ("state", "action", "next_state"))
    pred = s + prior_delta(s, a, CONSTANTS)
    torch.testing.assert_close(pred[:, HAND_POS], nxt[:, HAND_POS], atol=1e-5, rtol=0)
    torch.testing.assert_close(pred[:, HAND_VEL], nxt[:, HAND_VEL], atol=1e-4, rtol=0)
    assert s.shape == (2 * 10 * 2, STATE_DIM)


def _prior_alone_optimum(balloon: bool) -> float:
    """Least-squares w for `w * prior_delta ~ true delta`, in the units the world model's loss uses."""
    d = collect_transitions(balloon=balloon, episodes=24, steps=40, seed=0, n_balls=3)
    s, a, nxt = (torch.as_tensor(d[k], dtype=torch.float64) for k in ("state", "action", "next_state"))
    true = nxt - s
    std = true.std(0).clamp_min(1e-4)
    p, t = prior_delta(s, a, CONSTANTS) / std, true / std
    return float((p * t).sum() / (p * p).sum())


def test_the_laws_are_right_in_the_control_world_and_wrong_only_on_gravity_in_the_balloon_world():
    # The check isolates gravity: in the control world the prior alone must be the best
    # prior-weighted explanation of the data (w* = 1), so a falling control weight would mean a
    # wrong law elsewhere (it did: Meta-World's sliding damping on rolling balls gave w* = 0.39).
    assert abs(_prior_alone_optimum(False) - 1.0) < 0.05
    assert _prior_alone_optimum(True) < 0.0


def test_a_rolling_ball_keeps_its_speed_as_the_constants_say():
    world = BalloonWorld(balloon=False, n_balls=1)
    world.reset(np.random.default_rng(0))
    a = world._ball_qpos[0]
    world.data.qpos[a : a + 3] = [0.0, 0.0, BALL_RADIUS_M]
    world.data.qvel[world._ball_qvel[0] : world._ball_qvel[0] + 3] = [0.3, 0.0, 0.0]
    world.data.qvel[world._ball_qvel[0] + 3 : world._ball_qvel[0] + 6] = [0.0, 0.3 / BALL_RADIUS_M, 0.0]  # rolling
    vx = [world.step(np.zeros(4))[0, OBJ_VEL][0] for _ in range(20)]
    measured = 1 - vx[-1] / vx[1]  # share of the speed lost over 18 steps
    assert CONSTANTS.damping == 0.0 and abs(measured) < 0.05, measured
