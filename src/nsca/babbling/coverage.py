"""Outcome labels for one interaction, and affordance coverage over (object, primitive) cells.

`label_outcome(traj)` names what happened, from the object's trajectory and the gripper's touch
sensors, in this priority order (the first that applies wins):

| label   | rule |
|---|---|
| lifted  | held in both finger pads at the end, at least 3 cm higher than at the start |
| held    | held at the end, not raised 3 cm (e.g. shaken and kept) |
| bounced | fell (> 0.3 m/s down, out of the hand) and then moved up again (> 0.1 m/s) |
| fell    | ended at least 3 cm below its highest point, out of the hand |
| toppled | its up axis tilted by more than 45 degrees |
| rolled  | moved at least 2 cm horizontally while turning more than 45 degrees |
| slid    | moved at least 1 cm horizontally |
| impact  | a sudden velocity change (> 0.15 m/s in one control step) without moving much |
| touched | the hand touched it; nothing else happened |
| missed  | no contact, no motion |

An interaction has a meaningful outcome when the object responded (any label but `touched`
and `missed`) or the primitive achieved its goal (competence >= 0.5: a reach that ends touching
the object without knocking it is what `reach` is for). A cell's affordance is "experienced"
once one of its interactions had a meaningful outcome. Affordance coverage is the share of
experienced cells; the gate of the babbling phase is > 80 %.
"""

from __future__ import annotations

import numpy as np

from nsca.babbling.labels import OUTCOMES

MEANINGFUL = frozenset(OUTCOMES) - {"touched", "missed"}
MEANINGFUL_MASK = np.array([o in MEANINGFUL for o in OUTCOMES])
COVERAGE_GATE = 0.8
GOAL_COMPETENCE = 0.5


def is_meaningful(outcome: int, competence: float) -> bool:
    return bool(MEANINGFUL_MASK[outcome] or competence >= GOAL_COMPETENCE)


def _up_axis(quat: np.ndarray) -> np.ndarray:
    w, x, y, z = quat
    return np.array([2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)])


def rotation_deg(q0: np.ndarray, q1: np.ndarray) -> float:
    return float(np.degrees(2 * np.arccos(np.clip(abs(np.dot(q0, q1)), 0.0, 1.0))))


def label_outcome(traj: dict) -> str:
    """`traj`: obj_pos (T+1,3), obj_quat (T+1,4), obj_vel (T+1,3), held, touched (T+1,), dv (T,)."""
    pos, quat, vel = traj["obj_pos"], traj["obj_quat"], traj["obj_vel"]
    held, touched, dv = traj["held"], traj["touched"], traj["dv"]
    if held[-1]:
        return "lifted" if pos[-1, 2] - pos[0, 2] >= 0.03 else "held"
    free = ~touched
    falling = np.flatnonzero((vel[:, 2] < -0.3) & free)
    if falling.size and ((vel[falling[0]:, 2] > 0.1) & free[falling[0]:]).any():
        return "bounced"
    if pos[:, 2].max() - pos[-1, 2] >= 0.03:
        return "fell"
    tilt = float(np.degrees(np.arccos(np.clip(np.dot(_up_axis(quat[0]), _up_axis(quat[-1])), -1.0, 1.0))))
    if tilt > 45.0:
        return "toppled"
    disp = float(np.linalg.norm(pos[-1, :2] - pos[0, :2]))
    if disp >= 0.02 and rotation_deg(quat[0], quat[-1]) > 45.0:
        return "rolled"
    if disp >= 0.01:
        return "slid"
    if dv.size and dv.max() > 0.15:
        return "impact"
    return "touched" if touched.any() else "missed"


class CoverageTracker:
    """Counts outcomes per (object, primitive) cell."""

    def __init__(self, n_objects: int, n_primitives: int) -> None:
        self.counts = np.zeros((n_objects, n_primitives, len(OUTCOMES)), dtype=np.int64)
        self.meaningful = np.zeros((n_objects, n_primitives), dtype=np.int64)
        self.goal = np.zeros((n_objects, n_primitives), dtype=np.int64)

    def update(self, object_id: int, primitive: int, outcome: int, competence: float = 0.0) -> None:
        self.counts[object_id, primitive, outcome] += 1
        self.meaningful[object_id, primitive] += is_meaningful(outcome, competence)
        self.goal[object_id, primitive] += competence >= GOAL_COMPETENCE

    def experienced(self) -> np.ndarray:
        """(objects, primitives) bool: the cell has had a meaningful outcome."""
        return self.meaningful > 0

    def coverage(self) -> float:
        return float(self.experienced().mean())

    def goal_coverage(self) -> float:
        """Stricter: share of cells where the primitive achieved its own goal at least once."""
        return float((self.goal > 0).mean())

    def coverage_by_primitive(self) -> np.ndarray:
        return self.experienced().mean(0)

    def histogram(self) -> dict[str, int]:
        totals = self.counts.sum((0, 1))
        return {name: int(n) for name, n in zip(OUTCOMES, totals)}
