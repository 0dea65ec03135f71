"""A procedural MuJoCo playground: a table, a mocap-driven parallel gripper and catalogue objects.

The scene is generated in code from `ObjectSpec`s (nsca.envs.objects). The hand is a free body
welded (softly) to a mocap target that the action moves, as in Meta-World: it has mass, so a
heavy object slows a strike. Its two fingers are slide joints closed by a position actuator with
a limited force, so heavy or slippery objects slip out of the grasp. Each object
exposes the object-centric state of nsca.priors.state (hand pos/vel, gripper opening, object
pos/vel, the hand's set-point, its previous velocity, the object's half-height) through
`object_state(i)`; `PlaygroundBody` drives it through the (reset_state, step_state) interface
that self-calibration uses.

Gravity is a scene option and each object has a `gravcomp` factor (MuJoCo's gravity
compensation): 0 is a normal object, 1 floats, >1 rises like a balloon.

One control step = `substeps` MuJoCo steps of `timestep_s` (default 4 x 2.5 ms = 10 ms, 100 Hz).
An action is (dx, dy, dz, grip) in [-1, 1]: a hand displacement of up to `action_scale_m` per
control step (default 1 cm, i.e. 1 m/s) and a gripper effort (+1 closes, -1 opens), as in
Meta-World and nsca.priors.state.ACTION_DIM.
"""

from __future__ import annotations

from collections.abc import Sequence

import mujoco
import numpy as np

from nsca.envs.objects import ObjectSpec
from nsca.priors import state as S

TABLE_HALF_M = (0.35, 0.35, 0.02)  # table top at z = 0
FINGER_TRAVEL_M = 0.046            # each finger slides this far from open (5 cm) to closed
FINGER_OPEN_M = 0.051              # finger pad centre offset from the hand axis when open
PAD_HALF_M = (0.012, 0.005, 0.022)  # finger pad half-size (x, y, z); pads centred on the hand site
HAND_Z_MIN_M = PAD_HALF_M[2] + 0.004  # fingertips never go below the table top
WORKSPACE_M = 0.30
ROLLING_FRICTION_M = 0.002


def _fmt(v: Sequence[float]) -> str:
    return " ".join(f"{float(x):.6g}" for x in v)


def _geom_volume(g: dict) -> float:
    s = g["size"]
    if g["type"] == "box":
        return 8 * s[0] * s[1] * s[2]
    if g["type"] == "sphere":
        return 4 / 3 * np.pi * s[0] ** 3
    if g["type"] == "cylinder":
        return np.pi * s[0] ** 2 * 2 * s[1]
    if g["type"] == "capsule":
        return np.pi * s[0] ** 2 * 2 * s[1] + 4 / 3 * np.pi * s[0] ** 3
    if g["type"] == "ellipsoid":
        return 4 / 3 * np.pi * s[0] * s[1] * s[2]
    raise ValueError(g["type"])


def _object_xml(spec: ObjectSpec, idx: int, gravcomp: float) -> str:
    geoms = spec.geoms()
    volumes = [_geom_volume(g) for g in geoms]
    density = spec.mass_kg / sum(volumes)
    solref = _fmt(spec.solref)
    lines = [f'<body name="obj{idx}" pos="0 0 {-1.0 - idx}" gravcomp="{gravcomp:.6g}">',
             f'<freejoint name="obj{idx}_free"/>']
    for k, g in enumerate(geoms):
        euler = f' euler="{_fmt(g["euler"])}"' if "euler" in g else ""
        # Curved geoms get rolling friction (condim 6), so a nudged ball slows down instead of
        # rolling at constant speed off the table; flat ones keep the cheaper condim 4.
        condim = 4 if g["type"] == "box" else 6
        lines.append(
            f'<geom name="obj{idx}_g{k}" type="{g["type"]}" size="{_fmt(g["size"])}" pos="{_fmt(g["pos"])}"{euler}'
            f' density="{density:.6g}" friction="{spec.friction:.4g} 0.005 {ROLLING_FRICTION_M}" solref="{solref}"'
            f' solimp="0.9 0.95 0.001" rgba="{_fmt(spec.rgba)}" condim="{condim}"/>'
        )
    lines.append("</body>")
    return "\n".join(lines)


def scene_xml(objects: Sequence[ObjectSpec], gravity: Sequence[float], gravcomp: Sequence[float],
              timestep_s: float, grip_force_n: float) -> str:
    tx, ty, tz = TABLE_HALF_M
    px, py, pz = PAD_HALF_M
    bodies = "\n".join(_object_xml(o, i, g) for i, (o, g) in enumerate(zip(objects, gravcomp)))
    return f"""
<mujoco model="nsca_playground">
  <option timestep="{timestep_s}" gravity="{_fmt(gravity)}" integrator="Euler"/>
  <visual><global offwidth="256" offheight="256"/><quality shadowsize="0"/></visual>
  <worldbody>
    <light pos="0 0 1.5" dir="0 0 -1" directional="true" castshadow="false"/>
    <geom name="floor" type="plane" size="2 2 0.1" pos="0 0 -0.6" rgba="0.3 0.3 0.35 1"/>
    <geom name="table" type="box" size="{tx} {ty} {tz}" pos="0 0 {-tz}" rgba="0.55 0.5 0.45 1"
          friction="0.6 0.005 0.0001" solref="0.004 1"/>
    <body name="lookat" pos="0 0 0.07"/>
    <camera name="front" pos="0.40 -0.40 0.38" mode="targetbody" target="lookat" fovy="45"/>
    <body name="hand_target" mocap="true" pos="0 0 0.3"/>
    <body name="hand" pos="0 0 0.3" gravcomp="1">
      <freejoint name="hand_free"/>
      <geom name="palm" type="box" size="0.016 0.062 0.008" pos="0 0 {pz + 0.012}" rgba="0.2 0.2 0.25 1" mass="0.4"/>
      <site name="palm_touch" type="box" size="0.018 0.064 0.011" pos="0 0 {pz + 0.012}" rgba="0 0 0 0"/>
      <body name="finger_l" pos="0 {FINGER_OPEN_M} 0" gravcomp="1">
        <joint name="finger_l" type="slide" axis="0 -1 0" range="0 {FINGER_TRAVEL_M}" damping="2" armature="0.01"/>
        <geom name="pad_l" type="box" size="{px} {py} {pz}" friction="0.8 0.005 0.0001" condim="4"
              mass="0.05" rgba="0.8 0.3 0.2 1"/>
        <site name="pad_l_touch" type="box" size="{px + 0.002} {py + 0.002} {pz + 0.002}" rgba="0 0 0 0"/>
      </body>
      <body name="finger_r" pos="0 {-FINGER_OPEN_M} 0" gravcomp="1">
        <joint name="finger_r" type="slide" axis="0 1 0" range="0 {FINGER_TRAVEL_M}" damping="2" armature="0.01"/>
        <geom name="pad_r" type="box" size="{px} {py} {pz}" friction="0.8 0.005 0.0001" condim="4"
              mass="0.05" rgba="0.8 0.3 0.2 1"/>
        <site name="pad_r_touch" type="box" size="{px + 0.002} {py + 0.002} {pz + 0.002}" rgba="0 0 0 0"/>
      </body>
    </body>
    {bodies}
  </worldbody>
  <contact>
    <exclude body1="finger_l" body2="finger_r"/>
    <exclude body1="hand" body2="finger_l"/>
    <exclude body1="hand" body2="finger_r"/>
  </contact>
  <equality><weld body1="hand_target" body2="hand" solref="0.02 1"/></equality>
  <sensor>
    <touch name="touch_l" site="pad_l_touch"/>
    <touch name="touch_r" site="pad_r_touch"/>
    <touch name="touch_palm" site="palm_touch"/>
  </sensor>
  <actuator>
    <position name="grip_l" joint="finger_l" kp="400" ctrlrange="0 {FINGER_TRAVEL_M}" forcerange="-{grip_force_n} {grip_force_n}"/>
    <position name="grip_r" joint="finger_r" kp="400" ctrlrange="0 {FINGER_TRAVEL_M}" forcerange="-{grip_force_n} {grip_force_n}"/>
  </actuator>
</mujoco>
"""


class Playground:
    """The babbling scene. `objects` are placed with `reset`; unused objects wait below the floor."""

    def __init__(
        self,
        objects: Sequence[ObjectSpec],
        gravity: Sequence[float] = (0.0, 0.0, -9.81),
        gravcomp: float | Sequence[float] = 0.0,
        timestep_s: float = 0.0025,
        substeps: int = 4,
        action_scale_m: float = 0.01,
        grip_force_n: float = 3.0,
    ) -> None:
        if not objects:
            raise ValueError("a playground needs at least one object")
        self.objects = list(objects)
        gc = [float(gravcomp)] * len(self.objects) if np.isscalar(gravcomp) else [float(g) for g in gravcomp]
        if len(gc) != len(self.objects):
            raise ValueError("gravcomp needs one value per object")
        self.gravity = tuple(float(g) for g in gravity)
        self.model = mujoco.MjModel.from_xml_string(scene_xml(self.objects, self.gravity, gc, timestep_s, grip_force_n))
        self.data = mujoco.MjData(self.model)
        self.substeps = int(substeps)
        self.ctrl_dt_s = timestep_s * substeps
        self.action_scale_m = float(action_scale_m)
        m = self.model
        self._finger_q = np.array([m.jnt_qposadr[m.joint(n).id] for n in ("finger_l", "finger_r")])
        self._obj_qpos = [m.jnt_qposadr[m.joint(f"obj{i}_free").id] for i in range(len(self.objects))]
        self._obj_qvel = [m.jnt_dofadr[m.joint(f"obj{i}_free").id] for i in range(len(self.objects))]
        self._obj_body = [m.body(f"obj{i}").id for i in range(len(self.objects))]
        self._hand_q = m.jnt_qposadr[m.joint("hand_free").id]
        self._hand_v = m.jnt_dofadr[m.joint("hand_free").id]
        self._touch = np.array([m.sensor_adr[m.sensor(n).id] for n in ("touch_l", "touch_r", "touch_palm")])
        self._hand_bodies = [m.body(n).id for n in ("hand", "finger_l", "finger_r")]
        self._pad_geoms = (m.geom("pad_l").id, m.geom("pad_r").id)
        self._geom_body = m.geom_bodyid.copy()
        self._bbox = [o.bbox_half_m() for o in self.objects]
        self._hand_vel_prev = np.zeros(3)
        self._renderer = None
        self._cam_id = m.camera("front").id

    # ---- state -------------------------------------------------------------------------
    @property
    def hand_pos(self) -> np.ndarray:
        """Position of the grasp point between the finger pads."""
        return self.data.qpos[self._hand_q:self._hand_q + 3].copy()

    @property
    def hand_vel(self) -> np.ndarray:
        return self.data.qvel[self._hand_v:self._hand_v + 3].copy()

    @property
    def hand_target(self) -> np.ndarray:
        return self.data.mocap_pos[0].copy()

    def touch_n(self) -> np.ndarray:
        """Normal force (N) on the left pad, right pad and palm, from MuJoCo touch sensors."""
        return self.data.sensordata[self._touch].copy()

    def gripper_open(self) -> float:
        """1 = fully open, 0 = fingers touching."""
        q = self.data.qpos
        return 1.0 - (q[self._finger_q[0]] + q[self._finger_q[1]]) / (2 * FINGER_TRAVEL_M)

    def object_pos(self, i: int = 0) -> np.ndarray:
        a = self._obj_qpos[i]
        return self.data.qpos[a:a + 3].copy()

    def object_quat(self, i: int = 0) -> np.ndarray:
        a = self._obj_qpos[i]
        return self.data.qpos[a + 3:a + 7].copy()

    def object_vel(self, i: int = 0) -> np.ndarray:
        a = self._obj_qvel[i]
        return self.data.qvel[a:a + 3].copy()

    def object_angvel(self, i: int = 0) -> np.ndarray:
        a = self._obj_qvel[i]
        return self.data.qvel[a + 3:a + 6].copy()

    def object_state(self, i: int = 0) -> np.ndarray:
        """The object-centric state (nsca.priors.state layout) for object `i`."""
        out = np.empty(S.STATE_DIM, dtype=np.float64)
        h, hv = self._hand_q, self._hand_v
        out[S.HAND_POS] = self.data.qpos[h:h + 3]
        out[S.HAND_VEL] = self.data.qvel[hv:hv + 3]
        out[S.GRIPPER] = self.gripper_open()
        a, v = self._obj_qpos[i], self._obj_qvel[i]
        out[S.OBJ_POS] = self.data.qpos[a:a + 3]
        out[S.OBJ_VEL] = self.data.qvel[v:v + 3]
        out[S.TARGET] = self.data.mocap_pos[0] - out[S.HAND_POS]
        out[S.HAND_VEL_PREV] = self._hand_vel_prev
        out[S.OBJ_HALF] = self.rest_height(i)
        out[S.OBJ_FREE] = 1.0
        return out

    def record_indices(self, i: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(qpos, qvel) indices for fast per-step recording of object i; `states_from_record`
        turns the recorded rows into object-centric states and quaternions."""
        h, hv, a, v = self._hand_q, self._hand_v, self._obj_qpos[i], self._obj_qvel[i]
        qpos_idx = np.r_[h:h + 3, self._finger_q, a:a + 7]    # hand pos, fingers, obj pos + quat
        qvel_idx = np.r_[hv:hv + 3, v:v + 3]                   # hand vel, obj vel
        return qpos_idx, qvel_idx

    @staticmethod
    def states_from_record(qpos_rows: np.ndarray, qvel_rows: np.ndarray, mocap_rows: np.ndarray | None = None,
                           half_height: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """(states (N, STATE_DIM), quats (N, 4)) from consecutive per-step rows recorded with
        `record_indices` (and the mocap set-point per row, when recorded)."""
        states = np.zeros((len(qpos_rows), S.STATE_DIM))
        states[:, S.HAND_POS] = qpos_rows[:, 0:3]
        states[:, S.HAND_VEL] = qvel_rows[:, 0:3]
        states[:, S.GRIPPER] = 1.0 - qpos_rows[:, 3:5].mean(1, keepdims=True) / FINGER_TRAVEL_M
        states[:, S.OBJ_POS] = qpos_rows[:, 5:8]
        states[:, S.OBJ_VEL] = qvel_rows[:, 3:6]
        if mocap_rows is not None:
            states[:, S.TARGET] = mocap_rows - qpos_rows[:, 0:3]
        states[1:, S.HAND_VEL_PREV] = qvel_rows[:-1, 0:3]
        states[:, S.OBJ_HALF] = half_height
        states[:, S.OBJ_FREE] = 1.0
        return states, qpos_rows[:, 8:12].copy()

    @property
    def touch_index(self) -> np.ndarray:
        return self._touch

    def contacts(self, i: int = 0) -> tuple[bool, bool, bool]:
        """(object touches the hand, touches both finger pads, touches the table), from contacts.

        Exact but slower than `touch_n`; use it for labels, not inside the control loop."""
        ncon = self.data.ncon
        if ncon == 0:
            return False, False, False
        geom = self.data.contact.geom[:ncon]
        body = self._geom_body[geom]
        ob = self._obj_body[i]
        mine = (body[:, 0] == ob) | (body[:, 1] == ob)
        if not mine.any():
            return False, False, False
        other = np.where(body[mine, 0] == ob, body[mine, 1], body[mine, 0])
        other_geom = np.where(body[mine, 0] == ob, geom[mine, 1], geom[mine, 0])
        hand = bool(np.isin(other, list(self._hand_bodies)).any())
        both_pads = bool((other_geom == self._pad_geoms[0]).any() and (other_geom == self._pad_geoms[1]).any())
        table = bool((other == 0).any())
        return hand, both_pads, table

    def rest_height(self, i: int = 0) -> float:
        """Height of object i's centre when it rests upright on the table."""
        return self._bbox[i][2]

    # ---- control -----------------------------------------------------------------------
    def reset(
        self,
        hand_pos: Sequence[float],
        gripper_open: float = 1.0,
        object_poses: Sequence[tuple[Sequence[float], Sequence[float]]] = (),
    ) -> None:
        """Place the hand and objects (pos, quat); objects not given stay parked under the floor."""
        mujoco.mj_resetData(self.model, self.data)
        self._hand_vel_prev = np.zeros(3)
        hp = self.clamp_target(np.asarray(hand_pos, dtype=float))
        self.data.mocap_pos[0] = hp
        self.data.qpos[self._hand_q:self._hand_q + 3] = hp
        q = (1.0 - float(gripper_open)) * FINGER_TRAVEL_M
        self.data.qpos[self._finger_q] = q
        self.data.ctrl[:] = q
        for i, (pos, quat) in enumerate(object_poses):
            a = self._obj_qpos[i]
            self.data.qpos[a:a + 3] = pos
            self.data.qpos[a + 3:a + 7] = np.asarray(quat, dtype=float) / np.linalg.norm(quat)
        mujoco.mj_forward(self.model, self.data)

    def clamp_target(self, p: np.ndarray) -> np.ndarray:
        """The nearest hand target inside the workspace (fingertips never below the table top)."""
        return np.array([np.clip(p[0], -WORKSPACE_M, WORKSPACE_M), np.clip(p[1], -WORKSPACE_M, WORKSPACE_M),
                         np.clip(p[2], HAND_Z_MIN_M, 0.5)])

    def step(self, action: Sequence[float]) -> None:
        """Apply one action (dx, dy, dz, grip) in [-1, 1] for one control step."""
        a0, a1, a2, g = action
        self._hand_vel_prev = self.data.qvel[self._hand_v:self._hand_v + 3].copy()
        p = self.data.mocap_pos[0]
        s = self.action_scale_m
        p[0] = min(max(p[0] + s * min(max(a0, -1.0), 1.0), -WORKSPACE_M), WORKSPACE_M)
        p[1] = min(max(p[1] + s * min(max(a1, -1.0), 1.0), -WORKSPACE_M), WORKSPACE_M)
        p[2] = min(max(p[2] + s * min(max(a2, -1.0), 1.0), HAND_Z_MIN_M), 0.5)
        self.data.ctrl[:] = 0.5 * (min(max(g, -1.0), 1.0) + 1.0) * FINGER_TRAVEL_M
        mujoco.mj_step(self.model, self.data, nstep=self.substeps)

    # ---- rendering ---------------------------------------------------------------------
    def render(self, size: int = 64) -> np.ndarray:
        """An RGB frame (size, size, 3) uint8 from the fixed camera, shadows/reflections off.

        The GL backend is chosen when mujoco is imported: set MUJOCO_GL=egl before that."""
        if self._renderer is None:
            self._renderer = FastRenderer(self.model, size, self._cam_id)
        return self._renderer.render(self.model, self.data)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


_GL_CONTEXT = None


class FastRenderer:
    """Offscreen rendering sharing one GL context per process.

    mujoco.Renderer makes a new GL context per model (~0.1-0.5 s each); a babbling worker
    holds one model per catalogue object, so here each model only gets its own MjrContext
    (~10 ms) inside a single process-wide context."""

    def __init__(self, model: mujoco.MjModel, size: int, camera_id: int, maxgeom: int = 64) -> None:
        global _GL_CONTEXT
        if _GL_CONTEXT is None:
            _GL_CONTEXT = mujoco.GLContext(model.vis.global_.offwidth, model.vis.global_.offheight)
        _GL_CONTEXT.make_current()
        self.ctx = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_100)
        self.scene = mujoco.MjvScene(model, maxgeom=maxgeom)
        self.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
        self.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
        self.option = mujoco.MjvOption()
        self.camera = mujoco.MjvCamera()
        self.camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
        self.camera.fixedcamid = camera_id
        self.viewport = mujoco.MjrRect(0, 0, size, size)
        self.pixels = np.empty((size, size, 3), dtype=np.uint8)

    def render(self, model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray:
        mujoco.mjv_updateScene(model, data, self.option, None, self.camera, mujoco.mjtCatBit.mjCAT_ALL, self.scene)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self.ctx)
        mujoco.mjr_render(self.viewport, self.scene, self.ctx)
        mujoco.mjr_readPixels(self.pixels, None, self.viewport, self.ctx)
        return np.flipud(self.pixels).copy()

    def close(self) -> None:
        self.ctx.free()


class PlaygroundBody:
    """The playground seen through (reset_state, step_state): what self-calibration drives.

    A reset places the hand somewhere above the table and the first object at rest on it."""

    def __init__(self, pg: Playground) -> None:
        self.pg = pg
        self.dt_s = pg.ctrl_dt_s

    def reset_state(self, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        xy = rng.uniform(-0.15, 0.15, 2)
        self.pg.reset([*rng.uniform(-0.15, 0.15, 2), rng.uniform(0.08, 0.25)],
                      object_poses=[((*xy, self.pg.rest_height(0)), (1, 0, 0, 0))])
        for _ in range(10):  # let contacts settle
            self.pg.step((0.0, 0.0, 0.0, -1.0))
        return self.pg.object_state(0)

    def step_state(self, action) -> np.ndarray:
        self.pg.step(np.clip(np.asarray(action, float), -1, 1))
        return self.pg.object_state(0)
