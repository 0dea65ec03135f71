"""The balloon world: a MuJoCo table with balls that rise (buoyancy > weight), and its control.

Each ball has a body `gravcomp` factor (MuJoCo applies an upward force gravcomp * m * g):
1.5 in the balloon world, so a free ball accelerates *up* at 0.5 g, and 0 in the control world
(normal gravity: balls fall and rest on the table). Everything else is identical, including
the seeds, so the only thing that disagrees with the innate prior is gravity's sign.

The hand is a kinematic (mocap) body without collisions whose motion follows the innate body
model (efference law with the prior's constants), and the gripper stays open: the check isolates
the gravity law. Timing matches Meta-World (5 x 2.5 ms = 12.5 ms per control step), balls have
the prior's rest height (radius 2 cm on a table top at z = 0), and velocities are finite
differences over one control step, as in nsca.envs.metaworld.object_state. Each ball gives one
object-centric state (nsca.priors.state) per step.
"""

from __future__ import annotations

import mujoco
import numpy as np
import torch

from nsca.priors.innate import PhysicsConstants, efference
from nsca.priors.state import (
    GRIPPER,
    HAND_POS,
    HAND_VEL,
    HAND_VEL_PREV,
    OBJ_FREE,
    OBJ_HALF,
    OBJ_POS,
    OBJ_VEL,
    STATE_DIM,
    TARGET,
)

BALLOON_GRAVCOMP = 1.5
BALL_RADIUS_M = 0.02
TIMESTEP_S = 0.0025
SUBSTEPS = 5
# The hand's workspace: above the table, anywhere over it (the body model's other constants are
# the Meta-World defaults; the balls' rest height is table_z + their radius). A ball knocked
# into motion rolls on the table without losing speed (damping measured by least squares on
# the control world's rolling balls, 64 episodes x 3 balls, seed 0: -0.006 per step), unlike
# Meta-World's sliding boxes (0.5 per step); with that default the laws were wrong on every
# rolling ball and the control world's prior-alone optimum fell to w* = 0.39 (tests/test_balloon.py).
CONSTANTS = PhysicsConstants(dt_s=TIMESTEP_S * SUBSTEPS, table_z=0.0, hand_floor_z=0.03, damping=0.0,
                             target_low=(-0.3, -0.3, 0.03), target_high=(0.3, 0.3, 0.4))


def scene_xml(n_balls: int, gravcomp: float) -> str:
    balls = "\n".join(
        f'<body name="ball{i}" pos="{0.1 * i:.3f} 0 {BALL_RADIUS_M}" gravcomp="{gravcomp:g}">'
        f'<freejoint/><geom type="sphere" size="{BALL_RADIUS_M}" solref="0.005 1" mass="{0.02 + 0.01 * i:.3f}" rgba="0.9 0.3 0.3 1"/></body>'
        for i in range(n_balls)
    )
    return f"""
<mujoco model="balloon_world">
  <option timestep="{TIMESTEP_S}" gravity="0 0 -9.81"/>
  <worldbody>
    <geom name="table" type="plane" size="1 1 0.05" solref="0.005 1" rgba="0.6 0.5 0.4 1"/>
    <body name="hand" mocap="true" pos="0 0 0.3">
      <geom type="box" size="0.02 0.02 0.02" contype="0" conaffinity="0" rgba="0.2 0.2 0.8 0.5"/>
    </body>
    {balls}
  </worldbody>
</mujoco>"""


class BalloonWorld:
    """`n_balls` balls and a hand; `balloon=True` makes the balls rise, False is the control."""

    def __init__(self, balloon: bool = True, n_balls: int = 3, constants: PhysicsConstants = CONSTANTS) -> None:
        self.balloon = balloon
        self.n_balls = n_balls
        self.c = constants
        self.model = mujoco.MjModel.from_xml_string(scene_xml(n_balls, BALLOON_GRAVCOMP if balloon else 0.0))
        self.data = mujoco.MjData(self.model)
        self._ball_qpos = [self.model.jnt_qposadr[self.model.body_jntadr[self.model.body(f"ball{i}").id]] for i in range(n_balls)]
        self._ball_qvel = [self.model.jnt_dofadr[self.model.body_jntadr[self.model.body(f"ball{i}").id]] for i in range(n_balls)]
        self._ball_ids = [self.model.body(f"ball{i}").id for i in range(n_balls)]
        self.hand_pos = np.zeros(3)
        self.hand_vel = np.zeros(3)
        self.prev_ball_pos = np.zeros((n_balls, 3))

    def reset(self, rng: np.random.Generator) -> np.ndarray:
        """Hand somewhere above the table; each ball at rest on the table or held still in the air."""
        mujoco.mj_resetData(self.model, self.data)
        self.hand_pos = np.array([rng.uniform(-0.2, 0.2), rng.uniform(-0.2, 0.2), rng.uniform(0.05, 0.3)])
        self.hand_vel = np.zeros(3)
        self.hand_vel_prev = np.zeros(3)
        self.target = np.zeros(3)
        self.data.mocap_pos[0] = self.hand_pos
        for i in range(self.n_balls):
            z = BALL_RADIUS_M if rng.random() < 0.3 else rng.uniform(0.05, 0.3)
            a = self._ball_qpos[i]
            self.data.qpos[a : a + 3] = [rng.uniform(-0.25, 0.25), rng.uniform(-0.25, 0.25), z]
            self.data.qpos[a + 3 : a + 7] = [1, 0, 0, 0]
        mujoco.mj_forward(self.model, self.data)
        self.prev_ball_pos = self.ball_pos()
        return self.states(np.zeros((self.n_balls, 3)))

    def ball_pos(self) -> np.ndarray:
        return np.array([self.data.xpos[b].copy() for b in self._ball_ids])

    def step(self, action: np.ndarray) -> np.ndarray:
        """Move the hand by the efference law and advance physics one control step; (n_balls, STATE_DIM)."""
        hand = torch.as_tensor(self.states(np.zeros((1, 3)))[0], dtype=torch.float64)
        nxt = (hand + efference(hand, torch.as_tensor(action, dtype=torch.float64), self.c)).numpy()
        self.hand_vel_prev = self.hand_vel
        self.hand_pos, self.hand_vel, self.target = nxt[HAND_POS], nxt[HAND_VEL], nxt[TARGET]
        self.data.mocap_pos[0] = self.hand_pos
        before = self.ball_pos()
        mujoco.mj_step(self.model, self.data, nstep=SUBSTEPS)
        after = self.ball_pos()
        return self.states((after - before) / self.c.dt_s)

    def states(self, ball_vel: np.ndarray) -> np.ndarray:
        s = np.zeros((self.n_balls, STATE_DIM), dtype=np.float32)
        s[:, HAND_POS] = self.hand_pos
        s[:, HAND_VEL] = self.hand_vel
        s[:, GRIPPER] = 1.0
        s[:, OBJ_POS] = self.ball_pos()
        s[:, OBJ_VEL] = ball_vel[: len(s)] if len(ball_vel) >= len(s) else ball_vel
        s[:, TARGET] = self.target
        s[:, HAND_VEL_PREV] = self.hand_vel_prev
        s[:, OBJ_HALF] = BALL_RADIUS_M
        s[:, OBJ_FREE] = 1.0
        return s


def collect_transitions(balloon: bool, episodes: int, steps: int, seed: int, n_balls: int = 3) -> dict[str, np.ndarray]:
    """Random hand motion for `episodes` x `steps`; (state, action, next_state) per ball and step."""
    rng = np.random.default_rng(seed)
    world = BalloonWorld(balloon=balloon, n_balls=n_balls)
    states, actions, nexts = [], [], []
    for _ in range(episodes):
        s = world.reset(rng)
        for _ in range(steps):
            a = np.append(rng.uniform(-1, 1, 3), -1.0).astype(np.float32)  # gripper stays open
            s_next = world.step(a)
            states.append(s)
            actions.append(np.repeat(a[None], n_balls, 0))
            nexts.append(s_next)
            s = s_next
    return {"state": np.concatenate(states), "action": np.concatenate(actions), "next_state": np.concatenate(nexts)}
