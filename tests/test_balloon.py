"""The balloon world really rises in MuJoCo; the control falls and rests; the hand obeys the prior."""

import numpy as np
import torch

from nsca.envs.balloon import BALLOON_GRAVCOMP, BALL_RADIUS_M, CONSTANTS, BalloonWorld, collect_transitions
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
