"""The object-centric state every physics-facing part of NSCA shares.

One flat float vector per (hand, object) pair. Meta-World, the babbling playground and the
balloon world all emit this layout, so the same AdaptivePhysicsPrior runs on each of them.

| fields | slice | unit | what |
|---|---|---|---|
| hand_x, hand_y, hand_z | HAND_POS 0:3 | m | grasp point between the fingers |
| hand_vx, hand_vy, hand_vz | HAND_VEL 3:6 | m/s | finite difference over the last control step |
| gripper_open | GRIPPER 6 | [0, 1] | 1 = fully open |
| obj_x, obj_y, obj_z | OBJ_POS 7:10 | m | object centre (or the handle of a mounted object) |
| obj_vx, obj_vy, obj_vz | OBJ_VEL 10:13 | m/s | finite difference over the last control step |
| target_dx, target_dy, target_dz | TARGET 13:16 | m | efference copy: the commanded hand set-point minus the hand position |
| hand_vx_prev, hand_vy_prev, hand_vz_prev | HAND_VEL_PREV 16:19 | m/s | the hand velocity one step earlier |
| obj_half_height | OBJ_HALF 19 | m | centre to lowest point of the object (its resting height above a support) |
| obj_free | OBJ_FREE 20 | {0, 1} | 1 = a free body (falls, rests, can be carried); 0 = mounted (drawer, door, button) |

Why the last eight: the hand of every robot here is driven to a set-point it commanded
(Meta-World's and the playground's mocap weld, pulling an arm with its own inertia), so its
next motion depends on that set-point (which the agent knows: it issued the commands) and on
its last two velocities (the body is a higher-order system: with one velocity a linear body
model beats "constant velocity" only 2x one step ahead, with two 7x); gravity, support and
attachment need the object's size and whether it is free at all.
"""

from __future__ import annotations

HAND_POS = slice(0, 3)    # hand (end-effector) position, m
HAND_VEL = slice(3, 6)    # hand velocity, m/s
GRIPPER = slice(6, 7)     # gripper opening in [0, 1], 1 = open
OBJ_POS = slice(7, 10)    # object centre position, m
OBJ_VEL = slice(10, 13)   # object linear velocity, m/s
TARGET = slice(13, 16)    # commanded hand set-point minus hand position (efference copy), m
HAND_VEL_PREV = slice(16, 19)  # hand velocity one step earlier, m/s
OBJ_HALF = slice(19, 20)  # object half-height, m
OBJ_FREE = slice(20, 21)  # 1 = free object, 0 = mounted
STATE_DIM = 21
# Dimensions that change from step to step (the rest describe the object and stay constant).
DYNAMIC = slice(0, 19)
FIELD_NAMES = (
    "hand_x", "hand_y", "hand_z", "hand_vx", "hand_vy", "hand_vz", "gripper_open",
    "obj_x", "obj_y", "obj_z", "obj_vx", "obj_vy", "obj_vz",
    "target_dx", "target_dy", "target_dz", "hand_vx_prev", "hand_vy_prev", "hand_vz_prev",
    "obj_half_height", "obj_free",
)
# Actions: a desired hand displacement (x, y, z) in [-1, 1] scaled by the env's action scale,
# and a gripper effort in [-1, 1] (+1 closes), as in Meta-World.
ACTION_DIM = 4
assert len(FIELD_NAMES) == STATE_DIM
