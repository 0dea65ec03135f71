"""The innate laws, tested like a simulator: open-loop against MuJoCo, after self-calibration.

Criteria (issue 9): on four Meta-World tasks and the playground, from seeded layouts with
random smooth actions, the laws alone predict the hand at least 3x better than both "nothing
changes" and "constant velocity" at 1, 3 and 10 steps; closing beside an object and lifting
does not carry it; the hand never goes through the table; a resting object stays at rest; a
mounted handle does not fall.
"""

import numpy as np
import pytest
import torch

from nsca.envs.metaworld import MetaWorldTask
from nsca.priors import innate
from nsca.priors.calibrate import calibrate_env
from nsca.priors.state import GRIPPER, HAND_POS, HAND_VEL, OBJ_FREE, OBJ_POS, STATE_DIM, TARGET

TASKS = ["pick-place-v3", "push-v3", "drawer-open-v3", "reach-v3"]
HORIZONS = (1, 3, 10)


def smooth_actions(rng: np.random.Generator, n: int) -> np.ndarray:
    a, out = np.zeros(4), []
    for _ in range(n):
        a = np.clip(0.8 * a + 0.4 * rng.uniform(-1, 1, 4), -1, 1)
        out.append(a.copy())
    return np.array(out, np.float32)


def hand_errors(env, c: innate.PhysicsConstants, layouts: int = 6, seed: int = 123) -> dict[int, dict[str, float]]:
    """Mean hand-position error (m) of the laws and the two trivial predictors, per horizon."""
    rng = np.random.default_rng(seed)
    errs = {h: {"laws": [], "still": [], "constant_velocity": []} for h in HORIZONS}
    for layout in range(layouts):
        states = [env.reset_state(50_000 + layout)]
        actions = smooth_actions(rng, 60)
        for a in actions:
            states.append(env.step_state(a))
        s = np.array(states, np.float64)
        for t0 in range(5, 45, 5):
            pred = innate.rollout(torch.as_tensor(s[t0])[None], torch.as_tensor(actions[t0:t0 + 10], dtype=torch.float64)[None], c)[0].numpy()
            for h in HORIZONS:
                true = s[t0 + h][HAND_POS]
                errs[h]["laws"].append(np.linalg.norm(pred[h][HAND_POS] - true))
                errs[h]["still"].append(np.linalg.norm(s[t0][HAND_POS] - true))
                errs[h]["constant_velocity"].append(np.linalg.norm(s[t0][HAND_POS] + s[t0][HAND_VEL] * c.dt_s * h - true))
    return {h: {k: float(np.mean(v)) for k, v in e.items()} for h, e in errs.items()}


@pytest.fixture(scope="module")
def calibrated():
    out = {}
    for task in TASKS:
        env = MetaWorldTask(task)
        out[task] = (env, calibrate_env(env, env.dt_s))
    return out


@pytest.mark.parametrize("task", TASKS)
def test_laws_beat_trivial_predictors_3x_on_the_hand(calibrated, task):
    env, c = calibrated[task]
    errs = hand_errors(env, c)
    for h, e in errs.items():
        assert e["laws"] * 3 <= e["still"], (task, h, e)
        assert e["laws"] * 3 <= e["constant_velocity"], (task, h, e)


def test_laws_beat_trivial_predictors_3x_in_the_playground():
    from nsca.envs.objects import make_catalogue
    from nsca.envs.playground import Playground, PlaygroundBody

    body = PlaygroundBody(Playground([make_catalogue(8)[0]]))
    c = calibrate_env(body, body.dt_s)
    errs = hand_errors(body, c)
    for h, e in errs.items():
        assert e["laws"] * 3 <= min(e["still"], e["constant_velocity"]), (h, e)


def test_calibration_finds_the_body_and_the_table(calibrated):
    _, c = calibrated["pick-place-v3"]
    assert abs(c.action_scale_m - 0.01) < 1e-4            # Meta-World: 1 cm per unit action
    assert abs(c.target_low[2] - 0.05) < 2e-3             # the set-point's floor (mocap_low z)
    assert 0.03 < c.hand_floor_z < 0.06                   # the hand stops above the table
    assert abs(c.table_z) < 3e-3                          # table top at z = 0
    assert c.grip_k[2] < 0 and c.grip_min < 0.4           # closing effort closes the gripper


def test_pressing_down_never_goes_through_the_table(calibrated):
    env, c = calibrated["pick-place-v3"]
    s = torch.as_tensor(env.reset_state(3), dtype=torch.float64)[None]
    actions = torch.tensor([[0.0, 0.0, -1.0, 0.0]] * 30, dtype=torch.float64)[None]
    pred = innate.rollout(s, actions, c)[0]
    real = [env.step_state(np.array([0, 0, -1, 0], np.float32)) for _ in range(30)]
    assert float(pred[:, HAND_POS.start + 2].min()) >= c.hand_floor_z - 1e-9
    assert abs(float(pred[-1, HAND_POS.start + 2]) - real[-1][HAND_POS.start + 2]) < 0.005


def _state(hand, obj, gripper=1.0, half=0.02, free=1.0):
    s = torch.zeros(1, STATE_DIM, dtype=torch.float64)
    s[0, HAND_POS] = torch.tensor(hand, dtype=torch.float64)
    s[0, OBJ_POS] = torch.tensor(obj, dtype=torch.float64)
    s[0, GRIPPER] = gripper
    s[0, OBJ_FREE] = free
    s[0, 19] = half
    return s


def test_closing_beside_the_object_and_lifting_does_not_carry_it(calibrated):
    _, c = calibrated["pick-place-v3"]
    obj = (0.0, 0.6, c.table_z + 0.02)
    beside = _state((0.035, 0.6, 0.06), obj, gripper=c.grip_min + 0.02)  # closed on nothing, 3.5 cm beside
    lift = torch.tensor([[0.0, 0.0, 1.0, 1.0]] * 10, dtype=torch.float64)[None]
    pred = innate.rollout(beside, lift, c)[0]
    assert float((pred[-1, OBJ_POS] - pred[0, OBJ_POS]).norm()) < 0.005
    assert float(pred[-1, HAND_POS.start + 2] - pred[0, HAND_POS.start + 2]) > 0.02  # the hand did rise
    # The positive case: the object between the fingers, gripper stopped on it -> it is carried.
    held = _state((0.0, 0.6, obj[2] + 0.036), obj, gripper=0.45)
    pred = innate.rollout(held, lift, c)[0]
    assert float(pred[-1, OBJ_POS.start + 2] - pred[0, OBJ_POS.start + 2]) > 0.02


def test_a_resting_object_stays_at_rest(calibrated):
    env, c = calibrated["push-v3"]
    s = torch.as_tensor(env.reset_state(4), dtype=torch.float64)[None]
    still = torch.zeros(1, 10, 4, dtype=torch.float64)
    pred = innate.rollout(s, still, c)[0]
    assert float((pred[-1, OBJ_POS] - pred[0, OBJ_POS]).norm()) < 0.001


def test_a_mounted_handle_does_not_fall(calibrated):
    env, c = calibrated["drawer-open-v3"]
    s = torch.as_tensor(env.reset_state(2), dtype=torch.float64)[None]
    assert float(s[0, OBJ_FREE]) == 0.0
    pred = innate.rollout(s, torch.zeros(1, 10, 4, dtype=torch.float64), c)[0]
    assert float((pred[-1, OBJ_POS] - pred[0, OBJ_POS]).norm()) < 0.001


def test_free_fall_matches_mujoco_gravity():
    c = innate.PhysicsConstants()
    s = _state((0.0, 0.6, 0.3), (0.2, 0.6, 0.25))
    pred = innate.rollout(s, torch.zeros(1, 10, 4, dtype=torch.float64), c)[0]
    fall = float(pred[0, OBJ_POS.start + 2] - pred[-1, OBJ_POS.start + 2])
    t = 10 * c.dt_s
    assert abs(fall - 0.5 * 9.81 * t * t) < 0.15 * 0.5 * 9.81 * t * t


def test_laws_are_differentiable_and_validate_names():
    s = torch.zeros(7, STATE_DIM, requires_grad=True)
    a = torch.zeros(7, 4, requires_grad=True)
    d = innate.prior_delta(s, a)
    d.sum().backward()
    assert d.shape == (7, STATE_DIM) and s.grad is not None and torch.isfinite(s.grad).all()
    assert torch.isfinite(a.grad).all() and a.grad[:, :3].abs().sum() > 0  # actions move the prediction
    with pytest.raises(ValueError, match="unknown physics law"):
        innate.prior_delta(s, a, laws=("levitation",))


def test_efference_keeps_the_setpoint_bookkeeping(calibrated):
    _, c = calibrated["reach-v3"]
    s = _state((0.0, 0.6, 0.2), (0.1, 0.7, 0.02))
    a = torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    nxt = s + innate.prior_delta(s, a, c)
    setpoint = nxt[0, HAND_POS] + nxt[0, TARGET]
    assert torch.allclose(setpoint, s[0, HAND_POS] + s[0, TARGET] + torch.tensor([c.action_scale_m, 0, 0], dtype=torch.float64), atol=1e-6)
