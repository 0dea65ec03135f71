"""One interaction = spawn + one primitive for a fixed number of control steps, recorded.

`Worker.run(spec)` is a pure function of the spec (and the worker's settings): it resets the
object's playground, spawns, drives the primitive's controller for `n_steps` control steps
(holding still once it finishes), labels the outcome, scores competence and, on request,
renders 64x64 frames and synthesises the impact sound. Recorded frames are every
`record_every` control steps, so an interaction yields `n_steps // record_every + 1` frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nsca.babbling import audio as A
from nsca.babbling.coverage import label_outcome
from nsca.babbling.labels import OUTCOMES
from nsca.babbling.primitives import HELD_TOUCH_N, competence, controller
from nsca.babbling.spawn import spawn
from nsca.envs.objects import ObjectSpec
from nsca.envs.playground import Playground
from nsca.priors import state as S


@dataclass(frozen=True)
class InteractionSpec:
    episode_index: int
    object_id: int
    spawn: str
    primitive: str
    params: tuple[float, float, float]
    seed: int
    phase: int  # 0 = random exploration, 1 = competence-driven


class Worker:
    """Runs interactions; keeps one compiled playground per object (about 1 ms to build)."""

    def __init__(self, catalogue: list[ObjectSpec], n_steps: int = 96, record_every: int = 6,
                 render: bool = False, audio: bool = False, gravity=(0.0, 0.0, -9.81),
                 image_size: int = 64) -> None:
        if n_steps % record_every:
            raise ValueError("n_steps must be a multiple of record_every")
        self.catalogue = catalogue
        self.n_steps, self.record_every = n_steps, record_every
        self.render, self.audio, self.image_size = render, audio, image_size
        self.gravity = tuple(gravity)
        self._playgrounds: dict[int, Playground] = {}

    @property
    def n_frames(self) -> int:
        return self.n_steps // self.record_every + 1

    @property
    def samples_per_frame(self) -> int:
        return int(round(self.record_every * 0.01 * A.SAMPLE_RATE))

    def playground(self, object_id: int) -> Playground:
        pg = self._playgrounds.get(object_id)
        if pg is None:
            pg = self._playgrounds[object_id] = Playground([self.catalogue[object_id]], gravity=self.gravity)
        return pg

    def close(self) -> None:
        for pg in self._playgrounds.values():
            pg.close()

    def run(self, spec: InteractionSpec) -> dict:
        pg = self.playground(spec.object_id)
        obj = self.catalogue[spec.object_id]
        rng = np.random.default_rng(spec.seed)
        direction = spawn(pg, spec.spawn, rng)
        spawn_steps = int(round(pg.data.time / pg.ctrl_dt_s))  # reset zeroes the clock
        ctrl = controller(spec.primitive, pg, np.asarray(spec.params), direction)
        T = self.n_steps
        qpos_idx, qvel_idx = pg.record_indices(0)
        touch_idx = pg.touch_index
        qpos_rows = np.empty((T + 1, len(qpos_idx)))
        qvel_rows = np.empty((T + 1, len(qvel_idx)))
        touch = np.empty((T + 1, 3))
        mocap_rows = np.empty((T + 1, 3))
        actions = np.zeros((T, 4))
        frames = []
        d = pg.data
        qpos_rows[0], qvel_rows[0], touch[0] = d.qpos[qpos_idx], d.qvel[qvel_idx], d.sensordata[touch_idx]
        mocap_rows[0] = d.mocap_pos[0]
        hold = (0.0, 0.0, 0.0, 1.0)
        for t in range(T):
            ctrl, hold, a = next_action(ctrl, hold, actions, t)
            actions[t] = a
            if self.render and t % self.record_every == 0:
                frames.append(pg.render(self.image_size))  # the frame of state t
            pg.step(a)
            qpos_rows[t + 1], qvel_rows[t + 1], touch[t + 1] = d.qpos[qpos_idx], d.qvel[qvel_idx], d.sensordata[touch_idx]
            mocap_rows[t + 1] = d.mocap_pos[0]
        if self.render:
            frames.append(pg.render(self.image_size))
        states, quats = pg.states_from_record(qpos_rows, qvel_rows, mocap_rows, pg.rest_height(0))
        vel = states[:, S.OBJ_VEL]
        g_eff = np.asarray(self.gravity) * pg.ctrl_dt_s
        dv = np.linalg.norm(vel[1:] - vel[:-1] - g_eff, axis=1)
        held = (touch[:, 0] > HELD_TOUCH_N) & (touch[:, 1] > HELD_TOUCH_N)
        traj = dict(obj_pos=states[:, S.OBJ_POS], obj_quat=quats, obj_vel=vel, held=held,
                    touched=touch.sum(1) > 0, dv=dv, direction=direction, mass_kg=obj.mass_kg)
        outcome = label_outcome(traj)
        rec = slice(0, T + 1, self.record_every)
        # The recorded action of a frame is the mean per-step action until the next frame.
        frame_actions = actions.reshape(-1, self.record_every, 4).mean(1)
        out = dict(
            spec=spec,
            states=states[rec].astype(np.float32),
            quats=quats[rec].astype(np.float32),
            actions=np.concatenate([frame_actions, np.zeros((1, 4))]).astype(np.float32),
            outcome=OUTCOMES.index(outcome),
            competence=competence(spec.primitive, np.asarray(spec.params), traj),
            peak_impulse_ns=float(obj.mass_kg * dv.max()),
            displacement_m=float(np.linalg.norm(states[-1, S.OBJ_POS] - states[0, S.OBJ_POS])),
            ctrl_steps=T + spawn_steps,
            # Where the hand lags its target: at rest this is the felt weight of what it holds.
            hand_lag_m=(pg.hand_target - pg.hand_pos).astype(np.float32),
        )
        if self.render:
            out["frames"] = np.stack(frames)
        if self.audio:
            n = (self.n_frames - 1) * self.samples_per_frame
            wave = A.synthesize(obj, dv, pg.ctrl_dt_s, n, rng)
            # Frame k's window is the sound from frame k-1 to frame k: it ends at its own time step,
            # so no input carries sound the next action produces (frame 0: silence).
            out["audio"] = np.concatenate([np.zeros(self.samples_per_frame, np.float32), wave]).reshape(
                self.n_frames, self.samples_per_frame)
        return out


def hold_grip(actions: np.ndarray, t: int) -> float:
    """Keep the last grip effort when a controller finishes (a held object stays held)."""
    return float(actions[t - 1, 3]) if t > 0 else 1.0


def next_action(ctrl, hold: tuple, actions: np.ndarray, t: int) -> tuple:
    """(ctrl, hold, action) at step t: the controller's next action, or, once it is done (then
    `ctrl` becomes None), holding still with the grip it ended on."""
    if ctrl is not None:
        a = next(ctrl, None)
        if a is not None:
            return ctrl, hold, a
        ctrl, hold = None, (0.0, 0.0, 0.0, hold_grip(actions, t))
    return ctrl, hold, hold
