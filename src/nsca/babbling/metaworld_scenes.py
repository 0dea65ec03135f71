"""Babbling in the Meta-World scenes: the affordance primitives driven on the Sawyer arm.

Task-agnostic: no task reward, no demos, no scripted experts. One interaction = a seeded layout
of one task's scene (`babble_layout_seed`: never a demo or evaluation layout), a spawn that brings
the gripper to the scene's main object (the object whose position the harness puts in the
state's OBJ_POS: puck, ball, peg, door handle, drawer handle, button, window handle, ...), then
one primitive (nsca.babbling.primitives, unchanged) with the explorer's parameters, applied as
Meta-World actions (hand displacement xyz in [-1, 1] x 1 cm + gripper effort) for `n_steps`
control steps of 12.5 ms. Recorded: the harness's 21-float state (`MetaWorldTask.state`), the
action, the object's orientation, the outcome label from the object's motion and the gripper's
contacts, 64x64 frames (EGL) and, on request, a synthesised impact sound.

`MetaWorldScene` shows the controllers the same small surface as the playground (`hand_target`,
`object_pos()`, `objects[0].bbox_half_m()`, `touch_n()`, `clamp_target`, `ctrl_dt_s`,
`action_scale_m`), so every primitive runs unmodified:

- the hand point is 1.5 cm above the fingertips (the Sawyer's pads are 9 cm long: a grasp "at
  the object's height" must close the fingertips, not the pad centres, on a 4 cm puck); its
  target is the mocap set-point minus the constant mocap-to-hand-point offset of the reset pose;
- the object's extent is the axis-aligned box around its collision geoms (for a mounted object
  only those within 6 cm of OBJ_POS: the handle, not the whole door), and the controllers aim at
  its centre (OBJ_POS is a task's own reference point: 5 cm above the drawer's handle bar, at the
  bottom of the sweep block, 3 cm off the peg's centre), carried along as the object moves;
- spawn positions whose finger volume would sit inside the scenery (behind a door, inside the
  drawer, above the button box) are redrawn (up to 16 directions, then the approach stops at
  the first contact anyway);
- touch is the normal force of contacts between the object's bodies and the left pad, the right
  pad and the rest of the robot (MuJoCo contact forces; the playground has touch sensors).

Audio: impacts are synthesised as in the playground (nsca.babbling.audio) with one stated generic
material for every Meta-World object, `plastic` (medium hardness): Meta-World's MuJoCo models
carry no material, their props look like painted plastic, and a synthesised sound keeps the
store's `audio`/`material`/`hardness_class` columns meaningful and consistent with each other, so
a Meta-World store mixes with playground stores for `--modalities audio` training. The material
and hardness labels of Meta-World rows are therefore a convention, not a measurement; the
`scene` column tells them apart. Masses are the models' own (body subtree mass of a free
object, the moving link of a mounted one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nsca.priors import state as S

if TYPE_CHECKING:  # imported where used: the CLI reads this module's constants without loading MuJoCo
    from nsca.babbling.interaction import InteractionSpec
    from nsca.envs.objects import ObjectSpec

# metaworld.env_dict.ML10_V3["train"] (tests check the two agree)
ML10_TRAIN_TASKS = ("reach-v3", "push-v3", "pick-place-v3", "door-open-v3", "drawer-close-v3",
                    "button-press-topdown-v3", "peg-insert-side-v3", "window-open-v3", "sweep-v3", "basketball-v3")
# metaworld.env_dict.ML10_V3["test"]: the ML10 evaluation's held-out tasks, never babbled in (BabbleConfig refuses them)
ML10_TEST_TASKS = ("drawer-open-v3", "door-close-v3", "shelf-place-v3", "sweep-into-v3", "lever-pull-v3")
GENERIC_MATERIAL = "plastic"
SCENE_PREFIX = "metaworld:"
GRASP_POINT_UP_M = 0.015    # the controllers' hand point above the fingertip centre (tcp)
MOUNTED_RADIUS_M = 0.06     # geoms of a mounted object within this of OBJ_POS make its extent
FINGER_HALF_M = (0.016, 0.012)  # closed fingers' horizontal half-size (x, y), for spawn distances
APPROACH_MAX_STEPS = 120    # spawn: moving the hand from Meta-World's reset pose to the object
SETTLE_MAX_STEPS = 12       # spawn: hold until the hand is within 3 mm of its set-point
SPAWN_TRIES = 16            # spawn: directions tried for a start pose clear of the scenery
FINGERS_BELOW_M, FINGERS_ABOVE_M = 0.015, 0.075  # the pads' extent below / above the hand point
PUSH_APPROACH_STEPS = 12    # spawn "push": creep 2 mm a step until the fingers touch
MOVED_M = 0.01              # "the object moved": it got this far from its start at some frame
DESCRIBE_SEED = 0           # the layout (babble_layout_seed(0)) an object description is read from
CAMERA = dict(azimuth=135.0, elevation=-30.0, distance=0.7)  # free camera aimed at the object's start


def scene_name(task: str) -> str:
    return SCENE_PREFIX + task


def resolve_tasks(tasks) -> list[str]:
    """The v3 names of `tasks` (a UsageError names an unknown one; duplicates are refused)."""
    from nsca.envs.metaworld import resolve_task
    from nsca.errors import UsageError

    out = [resolve_task(t) for t in tasks]
    if not out:
        raise UsageError("tasks must name at least one Meta-World task")
    dup = sorted({t for t in out if out.count(t) > 1})
    if dup:
        raise UsageError(f"tasks lists {', '.join(dup)} more than once")
    return out


@dataclass(frozen=True)
class _Extent:
    """What the controllers read as `pg.objects[0]`."""

    half: tuple[float, float, float]

    def bbox_half_m(self) -> tuple[float, float, float]:
        return self.half


class MetaWorldScene:
    """One Meta-World task seen through the playground's controller interface (module docstring)."""

    def __init__(self, task: str) -> None:
        import mujoco

        from nsca.envs.metaworld import MetaWorldTask, robot_bodies

        self.task = MetaWorldTask(task)
        self.name = self.task.task
        env = self.task.env
        self.model, self.data = env.model, env.data
        m = self.model
        self.ctrl_dt_s = float(self.task.dt_s)
        self.action_scale_m = float(env.action_scale)
        self.substeps = int(env.frame_skip)
        self._robot = np.zeros(m.nbody, dtype=bool)
        self._robot[list(robot_bodies(m))] = True
        self._pads = (m.geom("leftpad_geom").id, m.geom("rightpad_geom").id)
        self._tcp_sites = (m.site("rightEndEffector").id, m.site("leftEndEffector").id)
        self._mocap_low, self._mocap_high = np.asarray(env.mocap_low, float), np.asarray(env.mocap_high, float)
        self._force = np.zeros(6)
        self._mj = mujoco
        self._renderer = None
        self.obs = None

    # ---- reset and object identification ---------------------------------------------
    def reset(self, layout_seed: int) -> np.ndarray:
        from nsca.envs.metaworld import main_object_body

        obs = self.task.reset(layout_seed)
        self.obs = obs
        m, d = self.model, self.data
        body = main_object_body(self.task.env, obs)
        self.free = bool(self.task.obj_free)
        root = body
        if self.free:  # the body carrying the free joint, and everything attached to it
            b = body
            while b > 0:
                if any(m.jnt_type[j] == self._mj.mjtJoint.mjJNT_FREE
                       for j in range(m.body_jntadr[b], m.body_jntadr[b] + m.body_jntnum[b])):
                    root = b
                    break
                b = int(m.body_parentid[b])
        self.root_body = root
        sub = np.zeros(m.nbody, dtype=bool)
        for b in range(m.nbody):
            a = b
            while a > 0 and a != root:
                a = int(m.body_parentid[a])
            sub[b] = a == root
        self._object = sub
        self._free_qpos = int(m.jnt_qposadr[m.body_jntadr[root]]) if self.free else None
        self._free_qvel = int(m.jnt_dofadr[m.body_jntadr[root]]) if self.free else None
        self.mass_kg = float(m.body_subtreemass[root])
        p = np.asarray(obs[4:7], float)
        self.half, self.shape, centre, near = self._extent(p)
        self._aim_local = d.xmat[root].reshape(3, 3).T @ (centre - p)
        self.objects = [_Extent(self.half)]
        self._scenery(near)
        # Constant offset from the mocap set-point to the hand point at the reset pose.
        self._offset = d.mocap_pos[0] - self.hand_pos
        self._touch_step, self._touch = -1, np.zeros(3)
        self._steps = 0
        return obs

    def _geom_box(self, g: int) -> tuple[np.ndarray, np.ndarray]:
        """World axis-aligned (centre, half-size) of geom g."""
        m, d = self.model, self.data
        rot = d.geom_xmat[g].reshape(3, 3)
        return d.geom_xpos[g] + rot @ m.geom_aabb[g, :3], np.abs(rot) @ m.geom_aabb[g, 3:]

    def _collides(self, g: int) -> bool:
        return bool(self.model.geom_contype[g] or self.model.geom_conaffinity[g])

    def _extent(self, p: np.ndarray) -> tuple[tuple[float, float, float], str, np.ndarray, list[int]]:
        """(half-size, shape, centre, geoms) of the object's box: its collision geoms (near OBJ_POS
        for a mounted object)."""
        m = self.model
        geoms = [g for g in range(m.ngeom) if self._object[m.geom_bodyid[g]] and self._collides(g)]
        if not self.free and geoms:
            dist = [float(np.linalg.norm(self._geom_box(g)[0] - p)) for g in geoms]
            near = [g for g, r in zip(geoms, dist) if r <= MOUNTED_RADIUS_M]
            geoms = near or [geoms[int(np.argmin(dist))]]
        if not geoms:
            return (0.02, 0.02, 0.02), "box", p.copy(), []
        lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
        for g in geoms:
            c, h = self._geom_box(g)
            lo, hi = np.minimum(lo, c - h), np.maximum(hi, c + h)
        half = tuple(float(np.clip(v, 0.005, 0.15)) for v in (hi - lo) / 2)
        big = max(geoms, key=lambda g: float(np.prod(m.geom_aabb[g, 3:])))
        shape = {int(self._mj.mjtGeom.mjGEOM_SPHERE): "sphere", int(self._mj.mjtGeom.mjGEOM_CYLINDER): "cylinder",
                 int(self._mj.mjtGeom.mjGEOM_CAPSULE): "capsule"}.get(int(m.geom_type[big]), "box")
        return half, shape, (lo + hi) / 2, geoms

    def _scenery(self, near: list[int]) -> None:
        """Boxes of everything the fingers should not start inside: collision geoms that are
        neither the robot, nor the object's own box, nor the table top (or floor)."""
        m = self.model
        boxes = []
        for g in range(m.ngeom):
            if g in near or self._robot[m.geom_bodyid[g]] or not self._collides(g):
                continue
            c, h = self._geom_box(g)
            if c[2] + h[2] > 0.005:  # not the table top
                boxes.append((c - h, c + h))
        self._scenery_lo = np.array([b[0] for b in boxes]).reshape(-1, 3)
        self._scenery_hi = np.array([b[1] for b in boxes]).reshape(-1, 3)

    def fingers_clear(self, point, top_z: float) -> bool:
        """Whether the closed fingers, with the hand point at `point` and swept up to `top_z`,
        stay out of the scenery's boxes."""
        lo = np.array([point[0] - FINGER_HALF_M[0], point[1] - FINGER_HALF_M[1], point[2] - FINGERS_BELOW_M])
        hi = np.array([point[0] + FINGER_HALF_M[0], point[1] + FINGER_HALF_M[1], max(point[2], top_z) + FINGERS_ABOVE_M])
        overlap = (self._scenery_lo < hi).all(1) & (self._scenery_hi > lo).all(1)
        return not bool(overlap.any())

    # ---- what the controllers read -----------------------------------------------------
    @property
    def hand_pos(self) -> np.ndarray:
        """The hand point: GRASP_POINT_UP_M above the centre of the two fingertips."""
        d = self.data
        tcp = 0.5 * (d.site_xpos[self._tcp_sites[0]] + d.site_xpos[self._tcp_sites[1]])
        return tcp + (0.0, 0.0, GRASP_POINT_UP_M)

    @property
    def hand_target(self) -> np.ndarray:
        return self.data.mocap_pos[0] - self._offset

    def object_pos(self) -> np.ndarray:
        """The point the controllers aim at: the centre of the object's box, moving with it."""
        rot = self.data.xmat[self.root_body].reshape(3, 3)
        return np.asarray(self.obs[4:7], dtype=float) + rot @ self._aim_local

    def clamp_target(self, p: np.ndarray) -> np.ndarray:
        return np.clip(p, self._mocap_low - self._offset, self._mocap_high - self._offset)

    def touch_n(self) -> np.ndarray:
        """Normal force (N) of the object on the left pad, the right pad and the rest of the robot."""
        if self._touch_step == self._steps:
            return self._touch.copy()
        m, d = self.model, self.data
        out = np.zeros(3)
        n = d.ncon
        if n:
            geom = d.contact.geom[:n]
            body = m.geom_bodyid[geom]
            obj, robot = self._object[body], self._robot[body]
            for i in np.flatnonzero((obj[:, 0] & robot[:, 1]) | (obj[:, 1] & robot[:, 0])):
                g = int(geom[i, 1] if obj[i, 0] else geom[i, 0])
                self._mj.mj_contactForce(m, d, int(i), self._force)
                k = 0 if g == self._pads[0] else 1 if g == self._pads[1] else 2
                out[k] += abs(self._force[0])
        self._touch_step, self._touch = self._steps, out
        return out.copy()

    def robot_touches_scenery(self) -> bool:
        """A contact between the robot and anything that is not the robot (object, table, walls)."""
        n = self.data.ncon
        if not n:
            return False
        body = self.model.geom_bodyid[self.data.contact.geom[:n]]
        robot = self._robot[body]
        return bool((robot[:, 0] ^ robot[:, 1]).any())

    def object_quat(self) -> np.ndarray:
        """Orientation (w, x, y, z) of the object's body (the moving link of a mounted object)."""
        return self.data.xquat[self.root_body].copy()

    # ---- acting ------------------------------------------------------------------------
    def step(self, action) -> np.ndarray:
        self.obs = self.task.step_without_reward(np.asarray(action, dtype=np.float32))
        self._steps += 1
        return self.obs

    def state(self) -> np.ndarray:
        return self.task.state(self.obs)

    def place_in_gripper(self) -> None:
        """Spawn "drop": move the free object so its OBJ_POS point is at the hand point, at rest,
        with both pads set just outside it (they close on it while the spawn settles)."""
        m, d = self.model, self.data
        a, v = self._free_qpos, self._free_qvel
        d.qpos[a:a + 3] += self.hand_pos - self.object_pos()
        d.qvel[v:v + 6] = 0.0
        for pad, joint in zip(self._pads, ("l_close", "r_close")):
            j = m.joint(joint).id
            q = m.jnt_qposadr[j]
            self._mj.mj_forward(m, d)
            gap = abs(d.geom_xpos[pad][1] - self.hand_pos[1]) - m.geom_size[pad][1] - self.half[1] - 0.002
            inward = np.sign(self.hand_pos[1] - d.geom_xpos[pad][1]) * d.xaxis[j][1]
            d.qpos[q] = np.clip(d.qpos[q] + inward * gap, *m.jnt_range[j])
        self._mj.mj_forward(m, d)

    # ---- rendering ---------------------------------------------------------------------
    def render(self, size: int = 64) -> np.ndarray:
        """An RGB frame from a free camera aimed at the object's start (goal markers hidden)."""
        if self._renderer is None:
            from nsca.envs.playground import FastRenderer

            # Meta-World's models ask for a 640x480 4x-multisampled offscreen buffer: resolving it
            # for every 64x64 frame doubles the cost of a frame (rendering only, physics unchanged).
            vis = self.model.vis
            vis.global_.offwidth, vis.global_.offheight, vis.quality.offsamples = size, size, 0
            r = FastRenderer(self.model, size, -1, maxgeom=400)
            r.camera.type = self._mj.mjtCamera.mjCAMERA_FREE
            r.camera.azimuth, r.camera.elevation, r.camera.distance = (
                CAMERA["azimuth"], CAMERA["elevation"], CAMERA["distance"])
            r.option.sitegroup[:] = 0
            self._renderer = r
        return self._renderer.render(self.model, self.data)

    def aim_camera(self, point) -> None:
        if self._renderer is None:
            self.render()
        self._renderer.camera.lookat[:] = point

    def describe(self, object_id: int) -> ObjectSpec:
        """The object as an ObjectSpec (extent, shape, mass, the generic material) for labels and audio."""
        from nsca.envs.objects import MATERIALS, ObjectSpec

        rgb = MATERIALS[GENERIC_MATERIAL].rgb
        return ObjectSpec(object_id=object_id, name=scene_name(self.name), shape=self.shape,
                          half_extent_m=tuple(round(h, 4) for h in self.half), mass_kg=round(self.mass_kg, 4),
                          material=GENERIC_MATERIAL, rgba=(*rgb, 1.0))

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        self.task.close()


# ---- spawn -------------------------------------------------------------------------------
def _move(scene: MetaWorldScene, target, grip: float, guard: bool, max_steps: int) -> int:
    """Drive the set-point to `target` at full speed (1 cm a step); stop early on any contact of
    the robot with the scene when `guard`. Returns the control steps used."""
    target = scene.clamp_target(np.asarray(target, dtype=float))
    for k in range(max_steps):
        delta = target - scene.hand_target
        dist = float(np.linalg.norm(delta))
        if dist < 1e-4 or (guard and scene.robot_touches_scenery()):
            return k
        a = delta * (min(dist, scene.action_scale_m) / dist / scene.action_scale_m)
        scene.step((a[0], a[1], a[2], grip))
    return max_steps


def _settle(scene: MetaWorldScene, grip: float, steps: int) -> int:
    """Hold still until the hand is within 3 mm of its set-point (at most `steps` steps)."""
    for k in range(steps):
        if k >= 2 and np.linalg.norm(scene.hand_target - scene.hand_pos) < 0.003:
            return k
        scene.step((0.0, 0.0, 0.0, grip))
    return steps


def _support(half_xy, direction) -> float:
    return float(abs(direction[0]) * half_xy[0] + abs(direction[1]) * half_xy[1])


def spawn(scene: MetaWorldScene, mode: str, rng: np.random.Generator) -> tuple[str, np.ndarray, int]:
    """Bring the gripper to the object as the playground's spawn modes do (nsca.babbling.spawn):
    `strike` closed gripper 2-5 cm from the object's side at its height, `push` the same then
    creeping until the fingers touch it, `drop` the object held 10-25 cm above the table (free
    objects only: a mounted one falls back to `strike`). The hand travels from Meta-World's reset
    pose over the object at a safe height and comes down, stopping at the first contact.
    Returns (the spawn mode used, the hand-to-object unit vector, control steps used)."""
    if mode == "drop" and not scene.free:
        mode = "strike"
    obj = scene.object_pos()
    hx, hy, hz = scene.half
    safe_z = max(scene.hand_target[2], obj[2] + hz + 0.06)
    steps = 0
    if mode == "drop":
        height = rng.uniform(0.10, 0.25)
        steps += _move(scene, (*scene.hand_target[:2], safe_z), -1.0, False, APPROACH_MAX_STEPS)
        steps += _move(scene, (obj[0], obj[1], max(safe_z, height)), -1.0, False, APPROACH_MAX_STEPS)
        steps += _move(scene, (obj[0], obj[1], height), -1.0, False, APPROACH_MAX_STEPS)
        steps += _settle(scene, -1.0, SETTLE_MAX_STEPS)
        scene.place_in_gripper()
        for _ in range(6):
            scene.step((0.0, 0.0, 0.0, 1.0))
        return mode, np.array([1.0, 0.0]), steps + 6
    first = None
    for _ in range(SPAWN_TRIES):
        angle = rng.uniform(-np.pi, np.pi)
        direction = np.array([np.cos(angle), np.sin(angle)])  # from the hand towards the object
        gap = rng.uniform(0.02, 0.05) if mode == "strike" else 0.0
        reach = _support((hx, hy), direction) + _support(FINGER_HALF_M, direction) + gap
        start = scene.clamp_target(np.array([*(obj[:2] - reach * direction), obj[2]]))
        first = first or (direction, start)
        if scene.fingers_clear(start, safe_z):
            break
    else:
        direction, start = first
    steps += _move(scene, (*scene.hand_target[:2], safe_z), 1.0, False, APPROACH_MAX_STEPS)
    steps += _move(scene, (start[0], start[1], safe_z), 1.0, True, APPROACH_MAX_STEPS)
    steps += _move(scene, start, 1.0, True, APPROACH_MAX_STEPS)
    steps += _settle(scene, 1.0, SETTLE_MAX_STEPS)
    if mode == "push":
        for _ in range(PUSH_APPROACH_STEPS):
            if scene.touch_n().sum() > 0:
                break
            scene.step((0.2 * direction[0], 0.2 * direction[1], 0.0, 1.0))
            steps += 1
    return mode, direction, steps


# ---- one interaction -----------------------------------------------------------------------
class MetaWorldWorker:
    """Runs interactions in the Meta-World scenes; `object_id` of a spec is the task's index."""

    def __init__(self, tasks: list[str], n_steps: int = 96, record_every: int = 6, render: bool = False,
                 audio: bool = False, image_size: int = 64) -> None:
        if n_steps % record_every:
            raise ValueError("n_steps must be a multiple of record_every")
        self.tasks = list(tasks)
        self.n_steps, self.record_every = n_steps, record_every
        self.render, self.audio, self.image_size = render, audio, image_size
        self._scenes: dict[int, MetaWorldScene] = {}
        self.catalogue: dict[int, ObjectSpec] = {}

    @property
    def n_frames(self) -> int:
        return self.n_steps // self.record_every + 1

    def scene(self, object_id: int) -> MetaWorldScene:
        from nsca.envs.metaworld import babble_layout_seed

        sc = self._scenes.get(object_id)
        if sc is None:
            sc = self._scenes[object_id] = MetaWorldScene(self.tasks[object_id])
            sc.reset(babble_layout_seed(DESCRIBE_SEED))
            self.catalogue[object_id] = sc.describe(object_id)
        return sc

    def close(self) -> None:
        for sc in self._scenes.values():
            sc.close()
        self._scenes.clear()

    def run(self, spec: InteractionSpec) -> dict:
        from nsca.babbling import audio as A
        from nsca.babbling.coverage import label_outcome
        from nsca.babbling.interaction import next_action
        from nsca.babbling.labels import OUTCOMES
        from nsca.babbling.primitives import HELD_TOUCH_N, competence, controller
        from nsca.envs.metaworld import babble_layout_seed

        scene = self.scene(spec.object_id)
        obj = self.catalogue[spec.object_id]
        rng = np.random.default_rng(spec.seed)
        scene.reset(babble_layout_seed(spec.seed))
        spawn_mode, direction, spawn_steps = spawn(scene, spec.spawn, rng)
        ctrl = controller(spec.primitive, scene, np.asarray(spec.params), direction)
        T, dt = self.n_steps, scene.ctrl_dt_s
        states = np.empty((T + 1, S.STATE_DIM))
        quats = np.empty((T + 1, 4))
        touch = np.empty((T + 1, 3))
        actions = np.zeros((T, 4))
        frames = []
        if self.render:
            scene.aim_camera(scene.object_pos())
        states[0], quats[0], touch[0] = scene.state(), scene.object_quat(), scene.touch_n()
        hold = (0.0, 0.0, 0.0, 1.0)
        for t in range(T):
            ctrl, hold, a = next_action(ctrl, hold, actions, t)
            actions[t] = np.clip(a, -1.0, 1.0)
            if self.render and t % self.record_every == 0:
                frames.append(scene.render(self.image_size))  # the frame of state t
            scene.step(actions[t])
            states[t + 1], quats[t + 1], touch[t + 1] = scene.state(), scene.object_quat(), scene.touch_n()
        if self.render:
            frames.append(scene.render(self.image_size))
        pos, vel = states[:, S.OBJ_POS], states[:, S.OBJ_VEL]
        # A mounted object's point does not fall: gravity only enters a free object's velocity.
        g_eff = np.array([0.0, 0.0, -9.81 * dt]) if scene.free else np.zeros(3)
        dv = np.linalg.norm(vel[1:] - vel[:-1] - g_eff, axis=1)
        held = (touch[:, 0] > HELD_TOUCH_N) & (touch[:, 1] > HELD_TOUCH_N)
        traj = dict(obj_pos=pos, obj_quat=quats, obj_vel=vel, held=held, touched=touch.sum(1) > 0, dv=dv,
                    direction=direction, mass_kg=obj.mass_kg)
        rec = slice(0, T + 1, self.record_every)
        frame_actions = actions.reshape(-1, self.record_every, 4).mean(1)
        out = dict(
            spec=spec,
            scene=scene_name(scene.name),
            spawn=spawn_mode,
            states=states[rec].astype(np.float32),
            quats=quats[rec].astype(np.float32),
            actions=np.concatenate([frame_actions, np.zeros((1, 4))]).astype(np.float32),
            outcome=OUTCOMES.index(label_outcome(traj)),
            competence=competence(spec.primitive, np.asarray(spec.params), traj),
            peak_impulse_ns=float(obj.mass_kg * dv.max()),
            displacement_m=float(np.linalg.norm(pos - pos[0], axis=1).max()),
            ctrl_steps=T + spawn_steps,
        )
        if self.render:
            out["frames"] = np.stack(frames)
        if self.audio:
            per_frame = int(round(self.record_every * dt * A.SAMPLE_RATE))
            wave = A.synthesize(obj, dv, dt, (self.n_frames - 1) * per_frame, rng)
            out["audio"] = np.concatenate([np.zeros(per_frame, np.float32), wave]).reshape(self.n_frames, per_frame)
        return out


    def describe_all(self) -> list[ObjectSpec]:
        """One ObjectSpec per task's main object (object_id = the task's index)."""
        for i in range(len(self.tasks)):
            self.scene(i)
        return [self.catalogue[i] for i in range(len(self.tasks))]


def metaworld_catalogue(tasks: list[str]) -> list[ObjectSpec]:
    """One ObjectSpec per task's main object (object_id = the task's index), as the workers see it."""
    w = MetaWorldWorker(tasks)
    try:
        return w.describe_all()
    finally:
        w.close()


def raw_step_rate(tasks: list[str], seconds: float = 1.0, worker: MetaWorldWorker | None = None) -> float:
    """MuJoCo substeps per second of the Meta-World scenes (the physical limit), one core, no
    Python between steps: each task's scene from a seeded layout, the arm holding still. Uses
    `worker`'s scenes when given (they are reset before every interaction anyway)."""
    import time

    import mujoco

    from nsca.envs.metaworld import babble_layout_seed

    own = worker is None
    worker = worker or MetaWorldWorker(tasks)
    scenes = [worker.scene(i) for i in range(len(tasks))]
    n, elapsed = 0, 0.0
    try:
        for i, sc in enumerate(scenes):
            sc.reset(babble_layout_seed(i))
        while elapsed < seconds:
            for sc in scenes:
                t0 = time.perf_counter()
                mujoco.mj_step(sc.model, sc.data, nstep=500)
                elapsed += time.perf_counter() - t0
                n += 500
    finally:
        if own:
            worker.close()
    return n / elapsed


class CellTable:
    """Interactions and "object moved" counts per (object, primitive) cell."""

    def __init__(self, n_objects: int, n_primitives: int) -> None:
        self.count = np.zeros((n_objects, n_primitives), dtype=np.int64)
        self.moved = np.zeros((n_objects, n_primitives), dtype=np.int64)

    def update(self, object_id: int, primitive: int, moved: bool) -> None:
        self.count[object_id, primitive] += 1
        self.moved[object_id, primitive] += bool(moved)

    def summary(self, objects: list[str], primitives: tuple[str, ...]) -> dict:
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(self.count > 0, self.moved / np.maximum(self.count, 1), np.nan)
        total = int(self.count.sum())
        return {
            "objects": list(objects), "primitives": list(primitives),
            "interactions": self.count.tolist(),
            "moved_fraction": [[None if np.isnan(v) else float(v) for v in row] for row in frac],
            "moved_fraction_all": float(self.moved.sum() / total) if total else None,
            "moved_threshold_m": MOVED_M,
        }


def moved_from_states(states: np.ndarray) -> bool:
    """Whether the object got at least MOVED_M from its start at some recorded frame."""
    pos = np.asarray(states)[:, S.OBJ_POS]
    return bool(np.linalg.norm(pos - pos[0], axis=1).max() >= MOVED_M)
