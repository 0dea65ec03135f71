"""The object-centric state every physics-facing part of NSCA shares.

One flat float vector per (hand, object) pair, in metres, metres/second and the gripper's
opening in [0, 1] (1 = fully open). Meta-World, the babbling playground and the balloon world
all emit this layout, so the same AdaptivePhysicsPrior runs on each of them.
"""

from __future__ import annotations

HAND_POS = slice(0, 3)    # hand (end-effector) position, m
HAND_VEL = slice(3, 6)    # hand velocity, m/s
GRIPPER = slice(6, 7)     # gripper opening in [0, 1], 1 = open
OBJ_POS = slice(7, 10)    # object centre position, m
OBJ_VEL = slice(10, 13)   # object linear velocity, m/s
STATE_DIM = 13
FIELD_NAMES = (
    "hand_x", "hand_y", "hand_z", "hand_vx", "hand_vy", "hand_vz", "gripper_open",
    "obj_x", "obj_y", "obj_z", "obj_vx", "obj_vy", "obj_vz",
)
# Actions: a desired hand displacement (x, y, z) in [-1, 1] scaled by the env's action scale,
# and a gripper effort in [-1, 1] (+1 closes), as in Meta-World.
ACTION_DIM = 4
