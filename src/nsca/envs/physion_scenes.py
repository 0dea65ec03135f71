"""Physion-style object-contact-prediction (OCP) scenes generated in MuJoCo.

Physion (Bear et al. 2021) asks, from the start of a clip, whether the red "agent" object will
touch the yellow "patient" object or zone. Its scenes are TDW renders that cannot be downloaded
here, so this module builds seven of its eight scenarios in MuJoCo, procedurally varied (sizes,
masses, frictions, positions, speeds), and writes every trial in Physion's own HDF5 layout, so
`nsca.data.physion.PhysionOCP` reads ours and the official files through one code path:

    frames/<NNNN>/images/_img                   PNG, 64x64 RGB, fixed camera
    frames/<NNNN>/labels/target_contacting_zone agent touches patient during that frame's interval
    static/stimulus_name                        "<scenario>_<split>_<seed>"

plus NSCA extras the official files do not have (used by the object-state physics rollout):

    frames/<NNNN>/objects/positions, velocities (2, 3): agent and patient centre, m and m/s
    static/half_extents (2, 3): axis-aligned half-size of agent and patient at t = 0, m
    static/free (2,): 1 = the object is a free body, 0 = fixed (a zone, a pedestal)
    static/fps, static/scenario, static/seed

Physion's protocol observes the first 1.5 s of a clip (OBSERVE_S) and the readout predicts a
contact that happens later. The scenes are therefore Physion-sized (objects ~0.1-1 m, as TDW's)
and Physion-paced; gravity is real (9.81 m/s^2). The first version used tabletop objects of
2-20 cm, whose events unfold within ~1 s and so inside a 1.5 s window; six scenarios are that
design scaled by a length factor L (SCALE) with Froude scaling (lengths x L, launch speeds
x sqrt(L): the same motion takes sqrt(L) times longer), four of them re-tuned so that a good
share of contacts falls after the window and labels are not too lopsided; contain was redesigned. Clips are CLIP_S = 6 s long
(60 frames at FPS = 10), timestep 5 ms. Per scenario (what varies; what changed and why):

- collide (L = 6): a box or cylinder slides on a slippery floor (friction 0.01-0.03) at a patient
  2.1-3.6 m away, sometimes past an obstacle; aim, speed, friction, shapes. Launch speeds are
  drawn nearer the stopping distance (0.85-1.4x, aim error +-1.5 sizes; was 0.7-1.25x, +-2),
  raising the raw contact rate from ~0.2 to ~0.4.
- roll (L = 6): a ball rolls from rest down a ramp (1-1.9 m, pitch 0.12-0.3 rad) towards a
  patient; ramp, rolling friction, lateral offset. Scaled only.
- dominoes (L = 9, dominoes 0.63-0.99 m tall): a chain of 3-6 dominoes ending in the red one,
  the first pushed into rotation about its front edge; spacing, lateral jitter, push; the
  patient is a yellow zone beyond the chain (Physion's layout). The push is now 1.05-1.5x the
  angular speed that just tips the first domino over its edge (was a fixed range, below that
  speed in about half the trials, so nothing happened), so it tips slowly and the chain almost
  always starts; spacing (0.45-1.2 heights; was 0.4-1.1) decides whether it carries on.
- support (L = 9, tower 0.8-3.2 m): a tower of 2-4 blocks under the red block, leaning to one
  side; yellow zone beside it. Towers are now near-critical: the offsets are scaled so that the
  most overhanging level's centre of mass is 1.8 cm inside to 2.7 cm past its support's edge
  (was: random offsets, mostly far past, which tip over at once: even at L = 9 a quarter of the
  trials touched the zone inside the window and few after it).
- contain (redesigned): the agent (ball, box or cylinder, 0.3-0.5 m) starts at rest high on a
  shallow ramp (2-2.8 m, pitch 0.08-0.2 rad) whose low end overhangs the floor in front of an
  open container (0.8-1.3 m wide, walls 0.24-0.5 m) whose inner floor is the yellow zone; it
  rolls or slides down, flies off the end and lands in the container, on a wall or beside it.
  The old ballistic lob spent most of the observed window above the camera's view, and a lob
  that lands after 1.5 s must peak >= 2.8 m up (g t^2 / 8); a ramp gives the delay in view.
- drop (L = 7): an agent (0.35-0.63 m) is dropped 1.4-2.5 m onto a tilted plank or a
  ball-topped post and deflected; the yellow zone lies 2.1-3.5 m (plus its half-size) away,
  on the deflection side in 3 of 4 trials (was: either side at random; raw contact rate ~0.2);
  drop heights are 0.2-0.35 L (was 0.3-0.5 L: a 3-5 m drop leaves the view); the agent is
  larger (radius 0.025-0.045 L, was 0.015-0.035 L) to stay visible in the wider view.
- link (L = 6): a red bob at the end of a hanging chain of 2-5 ball-jointed links (0.2-0.36 m
  each) is struck by a slowly rolling grey ball and swings towards, short of or past a yellow
  block. Scaled only.
- drape is left out: a MuJoCo flex cloth was not built in this round (time); see docs/physion.md.

Each scenario has one fixed camera (the same for all its trials), placed to frame the whole
scene; scenes that spread to one side (dominoes, support, drop) are centred in it.

Labels are balanced exactly per scenario and split by rejection: trials are simulated in seed
order and kept while their label's quota is open; a trial whose first contact falls inside the
observed window is rejected. The three splits (dynamics training, readout training, test) draw
seeds from disjoint ranges.
"""

from __future__ import annotations

import dataclasses
import io
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nsca.errors import UsageError
from nsca.utils.io import atomic_write_json, read_json

SCENARIOS = ("collide", "contain", "dominoes", "drop", "link", "roll", "support")
LEFT_OUT = {"drape": "needs a MuJoCo flex cloth; not built in this round"}
SPLITS = ("dynamics_training", "readout_training", "test")
_SPLIT_SEED_BASE = {"dynamics_training": 0, "readout_training": 1_000_000, "test": 2_000_000}
TIMESTEP_S = 0.005
FPS = 10                  # rendered frames per second (Physion: 30; see docs/physion.md)
# The readout sees the first OBSERVE_S seconds, as in Physion, and no kept trial has its first
# agent-patient contact inside them (the readout must predict, not detect).
OBSERVE_S = 1.5
CLIP_S = 6.0              # clip length, s: the observed window plus the time for the outcome
SCENES_VERSION = 2        # of the generators: a scenes folder of another version is regenerated
RED = (0.9, 0.1, 0.1, 1)
YELLOW = (0.95, 0.85, 0.1, 1)
_NEUTRAL = ((0.35, 0.45, 0.75, 1), (0.3, 0.6, 0.4, 1), (0.6, 0.5, 0.4, 1), (0.55, 0.55, 0.6, 1), (0.45, 0.3, 0.55, 1))


def _fmt(v) -> str:
    return " ".join(f"{float(x):.6g}" for x in np.atleast_1d(v))


@dataclass
class Body:
    """A rigid body: free (a freejoint) or fixed to the world."""

    name: str
    geoms: list[str]                     # <geom .../> lines, positions relative to the body
    pos: tuple[float, float, float]
    half_extent: tuple[float, float, float]  # axis-aligned half-size at t = 0 (for the rollout)
    free: bool = True
    quat: tuple[float, float, float, float] = (1, 0, 0, 0)
    vel: tuple[float, ...] = (0, 0, 0, 0, 0, 0)  # initial (linear, angular) velocity of a free body
    inner: str = ""                      # extra XML inside the body (children of a chain)


@dataclass
class SceneSpec:
    scenario: str
    bodies: list[Body]
    duration_s: float
    static_xml: list[str] = field(default_factory=list)  # world geoms: ramps, walls
    floor_friction: float = 0.6
    agent: str = "agent"
    patient: str = "patient"
    qpos_init: dict[str, np.ndarray] = field(default_factory=dict)  # joint name -> qpos
    # the fixed camera's position and the point it looks at (m)
    camera: tuple[tuple[float, float, float], tuple[float, float, float]] = ((0.0, -0.5, 0.62), (0.0, 0.0, 0.06))


def _geom(kind: str, size, rgba, pos=(0, 0, 0), euler=None, mass=None, friction=0.5, roll=0.0, L: float = 1.0,
          extra: str = "") -> str:
    """A geom line; `roll` is the rolling-friction length (m), torsional friction is 5 mm x L."""
    e = f' euler="{_fmt(euler)}"' if euler is not None else ""
    m = f' mass="{mass:.6g}"' if mass is not None else ""
    condim = 6 if kind in ("sphere", "cylinder", "capsule") else 4
    return (f'<geom type="{kind}" size="{_fmt(size)}" pos="{_fmt(pos)}"{e}{m} rgba="{_fmt(rgba)}"'
            f' friction="{friction:.4g} {0.005 * L:.4g} {roll:.4g}" condim="{condim}"{extra}/>')


def _shape(rng: np.random.Generator, rgba, scale: float, mass: float, friction: float, roll: float,
           kinds=("sphere", "box", "cylinder"), L: float = 1.0) -> tuple[list[str], tuple[float, float, float]]:
    """A random primitive of characteristic size `scale` (m): its geom line and half-extent."""
    kind = kinds[int(rng.integers(len(kinds)))]
    if kind == "sphere":
        return [_geom("sphere", [scale], rgba, mass=mass, friction=friction, roll=roll, L=L)], (scale, scale, scale)
    if kind == "cylinder":
        h = scale * rng.uniform(0.6, 1.2)
        return [_geom("cylinder", [scale, h], rgba, mass=mass, friction=friction, roll=roll, L=L)], (scale, scale, h)
    hx, hy, hz = scale * rng.uniform(0.7, 1.2, size=3)
    return [_geom("box", [hx, hy, hz], rgba, mass=mass, friction=friction, L=L)], (hx, hy, hz)


def _neutral(rng: np.random.Generator):
    return _NEUTRAL[int(rng.integers(len(_NEUTRAL)))]


def _zone(x: float, y: float, half_xy: tuple[float, float], L: float = 1.0) -> Body:
    """A flat yellow patch on the floor (Physion's target zone), fixed."""
    h = 0.002 * L
    g = [_geom("box", [half_xy[0], half_xy[1], h], YELLOW, pos=(0, 0, 0), L=L)]
    return Body("patient", g, (x, y, h), (half_xy[0], half_xy[1], h), free=False)


# ---- the scenarios ----------------------------------------------------------------------------
# Physion-sized and Physion-paced (see the module docstring). Collide, dominoes, drop, link, roll
# and support are their first, tabletop designs (2-20 cm objects) scaled by a length factor
# L = SCALE[scenario] with Froude scaling, so that the same motion under the same gravity takes
# sqrt(L) times longer: lengths x L, masses x L^3 (same densities), rolling and torsional
# friction (lengths in MuJoCo) x L, launch speeds x sqrt(L), angular speeds / sqrt(L), joint
# damping x L^4.5 (the same damping time per swing). Contain is built at its size directly.
SCALE = {"collide": 6.0, "dominoes": 9.0, "drop": 7.0, "link": 6.0, "roll": 6.0, "support": 9.0}


def _view(x: float, half_width: float, z: float, elevation: float = 0.75) -> tuple[tuple[float, float, float],
                                                                                    tuple[float, float, float]]:
    """A fixed camera looking at (x, 0, z) from the front (-y), `elevation` rad above the horizon,
    at the distance where its 60-degree field spans `half_width` m either side of that point."""
    d = half_width / math.tan(math.radians(30))
    return (x, -d * math.cos(elevation), z + d * math.sin(elevation)), (x, 0.0, z)


def _centred(bodies: list[Body]) -> list[Body]:
    """The bodies moved along x so that their extent at t = 0 is centred on x = 0 (in view)."""
    lo = min(b.pos[0] - b.half_extent[0] for b in bodies)
    hi = max(b.pos[0] + b.half_extent[0] for b in bodies)
    dx = -(lo + hi) / 2
    return [dataclasses.replace(b, pos=(b.pos[0] + dx, b.pos[1], b.pos[2])) for b in bodies]


def collide(rng: np.random.Generator) -> SceneSpec:
    # A slippery floor and agent (MuJoCo takes the larger friction of a pair): slow, long slides.
    L = SCALE["collide"]
    ra = L * rng.uniform(0.025, 0.045)
    mu = rng.uniform(0.01, 0.03)
    agent_g, ha = _shape(rng, RED, ra, L ** 3 * rng.uniform(0.1, 0.6), mu, 0.0, kinds=("box", "cylinder"), L=L)
    rp = L * rng.uniform(0.03, 0.06)
    pat_g, hp = _shape(rng, YELLOW, rp, L ** 3 * rng.uniform(0.1, 1.0), rng.uniform(0.3, 0.8), L * 0.005, L=L)
    ax, px = -0.35 * L, L * rng.uniform(0.0, 0.25)
    py = L * rng.uniform(-0.1, 0.1)
    miss = rng.uniform(-1.5, 1.5) * (max(ha[:2]) + max(hp[:2]))  # aim error at the patient
    # Speed from the sliding distance v^2 / (2 mu g) to the patient, scaled: some stop short.
    speed = math.sqrt(2 * mu * 9.81 * (px - ax)) * rng.uniform(0.85, 1.4)
    d = np.array([px - ax, py + miss, 0.0])
    v = speed * d / np.linalg.norm(d)
    eps = 0.001 * L
    bodies = [
        Body("agent", agent_g, (ax, 0.0, ha[2] + eps), ha, vel=(v[0], v[1], 0, 0, 0, 0)),
        Body("patient", pat_g, (px, py, hp[2] + eps), hp),
    ]
    if rng.random() < 0.3:  # an obstacle that may block the path
        hb = (0.01 * L, L * rng.uniform(0.03, 0.08), L * rng.uniform(0.03, 0.06))
        bx = rng.uniform(ax + 0.12 * L, px - 0.08 * L)
        by = L * rng.uniform(-0.1, 0.1)
        bodies.append(Body("obstacle", [_geom("box", hb, _neutral(rng), mass=L ** 3 * rng.uniform(0.2, 2.0), L=L)],
                           (bx, by, hb[2] + eps), hb))
    return SceneSpec("collide", bodies, duration_s=CLIP_S, floor_friction=mu, camera=_view(-0.05 * L, 0.45 * L, 0.0))


def roll(rng: np.random.Generator) -> SceneSpec:
    L = SCALE["roll"]
    theta = rng.uniform(0.12, 0.3)          # ramp pitch, rad
    a, b, c = L * rng.uniform(0.08, 0.16), 0.06 * L, 0.01 * L
    xc = -0.3 * L
    zc = a * math.sin(theta) + c * math.cos(theta)
    along = np.array([math.cos(theta), 0, -math.sin(theta)])
    normal = np.array([math.sin(theta), 0, math.cos(theta)])
    r = L * rng.uniform(0.02, 0.035)
    start = np.array([xc, 0, zc]) + (-0.7 * a) * along + (c + r + 0.001 * L) * normal
    rollf = L * rng.uniform(0.0003, 0.003)
    agent = Body("agent", [_geom("sphere", [r], RED, mass=L ** 3 * rng.uniform(0.05, 0.4), friction=0.8, roll=rollf, L=L)],
                 tuple(start), (r, r, r))
    rp = L * rng.uniform(0.03, 0.06)
    pat_g, hp = _shape(rng, YELLOW, rp, L ** 3 * rng.uniform(0.1, 1.0), 0.6, 0.005 * L, kinds=("box", "cylinder"), L=L)
    px = xc + a * math.cos(theta) + L * rng.uniform(0.25, 0.6)
    py = rng.uniform(-1.5, 1.5) * (r + max(hp[:2]))
    ramp = _geom("box", [a, b, c], _neutral(rng), pos=(xc, 0, zc), euler=(0, theta, 0), friction=0.8, roll=0.001 * L, L=L)
    return SceneSpec("roll", [agent, Body("patient", pat_g, (px, py, hp[2] + 0.001 * L), hp)],
                     duration_s=CLIP_S, static_xml=[ramp], camera=_view(0.02 * L, 0.52 * L, 0.0))


def dominoes(rng: np.random.Generator) -> SceneSpec:
    L = SCALE["dominoes"]
    hx, hy, hz = 0.006 * L, L * rng.uniform(0.015, 0.03), L * rng.uniform(0.035, 0.055)
    n = int(rng.integers(3, 7))  # dominoes including the red one
    gaps = rng.uniform(0.45, 1.2, size=n) * hz * 2  # centre spacing; > height breaks the chain
    x = 0.0
    bodies = []
    for i in range(n):
        name = "agent" if i == n - 1 else f"domino{i}"
        rgba = RED if i == n - 1 else _neutral(rng)
        y = rng.normal(0, 0.4 * hy) if i else 0.0
        # The first domino is pushed into rotation about its front bottom edge, gently: just
        # above the angular speed that lifts its centre of mass over that edge, so it tips slowly.
        d = math.hypot(hx, hz)
        w = math.sqrt(1.5 * 9.81 * (d - hz)) / d * rng.uniform(1.05, 1.5)
        vel = (w * hz, 0, w * hx, 0, w, 0) if i == 0 else (0, 0, 0, 0, 0, 0)
        bodies.append(Body(name, [_geom("box", [hx, hy, hz], rgba, mass=L ** 3 * rng.uniform(0.02, 0.1),
                                        friction=rng.uniform(0.3, 0.8), L=L)],
                           (x, y, hz + 0.0005 * L), (hx, hy, hz), vel=vel))
        if i < n - 1:
            x += gaps[i]
    zx = x + hx + rng.uniform(0.1, 1.3) * hz * 2  # zone edge: within or beyond the fall
    half = (L * rng.uniform(0.03, 0.06), L * rng.uniform(0.04, 0.08))
    bodies.append(_zone(zx + half[0], rng.normal(0, 0.01 * L), half, L))
    return SceneSpec("dominoes", _centred(bodies), duration_s=CLIP_S, camera=_view(0.0, 0.36 * L, 0.0))


def support(rng: np.random.Generator) -> SceneSpec:
    L = SCALE["support"]
    n = int(rng.integers(2, 5))
    lean = rng.choice([-1.0, 1.0])
    half = [(L * rng.uniform(0.02, 0.04), L * rng.uniform(0.02, 0.04), L * rng.uniform(0.015, 0.035)) for _ in range(n + 1)]
    x = np.cumsum([0.0] + [rng.uniform(0.2, 0.75) * half[i][0] for i in range(1, n + 1)])
    mass = L ** 3 * rng.uniform(0.05, 0.4, size=n + 1)
    # Near-critical towers: the offsets are scaled together so that the most overhanging level's
    # centre of mass lies `margin` past (> 0: the tower topples, slowly when the margin is small)
    # or inside (< 0: it stands) the edge of the block under it. A tower far past critical
    # tips over at once, and its top block reaches the zone inside the observed window.
    margin = L * rng.uniform(-0.002, 0.003)
    scale = np.inf
    for k in range(1, n + 1):  # blocks k..n rest on block k-1
        over = float((mass[k:] * x[k:]).sum() / mass[k:].sum()) - x[k - 1]
        if over > 1e-9:
            scale = min(scale, (margin + half[k - 1][0]) / over)
    x = lean * x * (scale if np.isfinite(scale) else 1.0)
    bodies, z = [], 0.0
    for i in range(n + 1):
        hx, hy, hz = half[i]
        name, rgba = ("agent", RED) if i == n else (f"block{i}", _neutral(rng))
        bodies.append(Body(name, [_geom("box", [hx, hy, hz], rgba, mass=mass[i], friction=rng.uniform(0.4, 0.9), L=L)],
                           (float(x[i]), 0.0, z + hz + 0.0005 * L), (hx, hy, hz)))
        z += 2 * hz + 0.001 * L
    zhalf = (L * rng.uniform(0.03, 0.07), L * rng.uniform(0.05, 0.09))
    edge = 0.05 * L + rng.uniform(0.4, 1.3) * z
    bodies.append(_zone(float(x[0]) + lean * (edge + zhalf[0]), 0.0, zhalf, L))
    return SceneSpec("support", _centred(bodies), duration_s=CLIP_S, camera=_view(0.0, 0.36 * L, 0.1 * L))


def contain(rng: np.random.Generator) -> SceneSpec:
    """The agent starts at rest on a shallow ramp whose low end overhangs the floor in front of an
    open container; it rolls (a ball) or slides (a box, a cylinder) down, flies off the end and
    lands in the container (whose inner floor is the yellow zone), on a wall, or beside it."""
    inner = rng.uniform(0.4, 0.65)           # container inner half-width, m
    wall_h = rng.uniform(0.12, 0.25)         # wall half-height
    t = 0.04                                 # wall half-thickness
    theta = rng.uniform(0.08, 0.2)           # ramp pitch, rad
    a, b, c = rng.uniform(1.0, 1.4), 0.4, 0.04  # ramp half-length, half-width, half-thickness
    end_z = 2 * wall_h + rng.uniform(0.15, 0.4)  # the top of the ramp's low end (at x = 0) above the floor
    along = np.array([math.cos(theta), 0, -math.sin(theta)])  # downhill
    normal = np.array([math.sin(theta), 0, math.cos(theta)])
    end = np.array([0.0, 0.0, end_z])
    ramp = [_geom("box", [a, b, c], _neutral(rng), pos=end - a * along - c * normal, euler=(0, theta, 0), friction=0.02),
            _geom("box", [0.04, 0.3, (end_z - 2 * c) / 2], _neutral(rng), pos=(-0.1, 0, (end_z - 2 * c) / 2))]
    kind = ("sphere", "box", "cylinder")[int(rng.integers(3))]
    r = rng.uniform(0.15, 0.24)
    mass = rng.uniform(2.0, 20.0)
    if kind == "sphere":
        roll_f = rng.uniform(0.0005, 0.005)
        geom, hn, h = _geom("sphere", [r], RED, mass=mass, friction=0.8, roll=roll_f), r, (r, r, r)
        acc = 9.81 * 5 / 7 * (math.sin(theta) - roll_f / r * math.cos(theta))
    else:  # lying flat on the ramp (tilted with it), sliding on a low friction
        mu = rng.uniform(0.03, 0.15)
        hb = (r, r * rng.uniform(0.7, 1.2), r * rng.uniform(0.6, 1.0))
        geom = (_geom("box", list(hb), RED, mass=mass, friction=mu) if kind == "box"
                else _geom("cylinder", [r, hb[2]], RED, mass=mass, friction=mu))
        hn = hb[2]
        cs, sn = math.cos(theta), math.sin(theta)
        h = (hb[0] * cs + hb[2] * sn, hb[1] if kind == "box" else r, hb[0] * sn + hb[2] * cs)
        acc = 9.81 * (math.sin(theta) - mu * math.cos(theta))
    travel = 2 * a * rng.uniform(0.8, 0.9)  # distance to the low end
    start = end - travel * along + (hn + 0.002) * normal
    # Where the agent would land leaving the end at its frictionless-estimate speed: the container
    # is placed around that point (the agent lands in it, on a wall, short, long or to one side).
    v = math.sqrt(2 * max(acc, 0.05) * travel)
    vz = v * math.sin(theta)
    fall = (-vz + math.sqrt(vz ** 2 + 2 * 9.81 * end_z)) / 9.81
    land = v * math.cos(theta) * fall
    cx = max(land + rng.uniform(-1.4, 1.4) * inner, inner + 2 * t + 0.15)
    cy = rng.uniform(-1.1, 1.1) * inner
    walls = [
        _geom("box", [t, inner + t, wall_h], _neutral(rng), pos=(cx - inner - t, cy, wall_h)),
        _geom("box", [t, inner + t, wall_h], _neutral(rng), pos=(cx + inner + t, cy, wall_h)),
        _geom("box", [inner, t, wall_h], _neutral(rng), pos=(cx, cy - inner - t, wall_h)),
        _geom("box", [inner, t, wall_h], _neutral(rng), pos=(cx, cy + inner + t, wall_h)),
    ]
    bodies = [Body("agent", [geom], tuple(start), h, quat=(math.cos(theta / 2), 0, math.sin(theta / 2), 0)),
              _zone(cx, cy, (inner, inner))]
    return SceneSpec("contain", bodies, duration_s=CLIP_S, static_xml=ramp + walls, camera=_view(0.1, 2.9, 0.3))


def drop(rng: np.random.Generator) -> SceneSpec:
    L = SCALE["drop"]
    r = L * rng.uniform(0.025, 0.045)
    agent_g, ha = _shape(rng, RED, r, L ** 3 * rng.uniform(0.05, 0.4), rng.uniform(0.2, 0.9),
                         L * rng.uniform(0.0003, 0.003), kinds=("sphere", "sphere", "box"), L=L)
    plank = rng.random() < 0.5
    side = rng.choice([-1.0, 1.0])  # where the obstacle deflects the agent
    # The zone lies on the deflection side more often than not (else most trials are trivially
    # negative); the obstacle and the zone are placed either side of x = 0, in view.
    zside = side if rng.random() < 0.75 else -side
    half = (L * rng.uniform(0.04, 0.08), L * rng.uniform(0.05, 0.1))
    dist = L * rng.uniform(0.3, 0.5) + half[0]  # obstacle to zone centre
    ox = -zside * dist / 2
    if plank:  # a tilted plank, falling towards `side`
        tilt = side * rng.uniform(0.1, 0.5)
        hb = (L * rng.uniform(0.05, 0.1), 0.06 * L, 0.008 * L)
        top = L * rng.uniform(0.04, 0.1)
        static = [_geom("box", hb, _neutral(rng), pos=(ox, 0, top), euler=(0, tilt, 0), friction=rng.uniform(0.2, 0.8), L=L),
                  _geom("box", [0.01 * L, 0.01 * L, top / 2], _neutral(rng), pos=(ox, 0, top / 2), L=L)]
        height = top
        ax = ox + rng.normal(0, 0.03 * L)
    else:  # a ball-topped post: the agent is dropped off-centre, on the `side` half
        rb = L * rng.uniform(0.03, 0.06)
        height = L * rng.uniform(0.02, 0.08)
        static = [_geom("sphere", [rb], _neutral(rng), pos=(ox, 0, height + rb - 0.01 * L), L=L),
                  _geom("cylinder", [0.01 * L, height / 2], _neutral(rng), pos=(ox, 0, height / 2), L=L)]
        height += 2 * rb
        ax = ox + side * abs(rng.normal(0, 0.03 * L))
    az = height + L * rng.uniform(0.2, 0.35)
    bodies = [Body("agent", agent_g, (ax, rng.normal(0, 0.01 * L), az), ha), _zone(ox + zside * dist, 0.0, half, L)]
    return SceneSpec("drop", bodies, duration_s=CLIP_S, static_xml=static, camera=_view(0.0, 0.45 * L, 0.2 * L))


def link(rng: np.random.Generator) -> SceneSpec:
    """A red bob at the end of a hanging chain of ball-jointed links is struck by a slowly rolling
    grey ball and swings towards (or short of, or past) a yellow block."""
    L = SCALE["link"]
    n = int(rng.integers(2, 6))
    seg = L * rng.uniform(0.035, 0.06)          # link length
    r_link, r_bob = 0.006 * L, L * rng.uniform(0.02, 0.03)
    bob_z = r_bob + L * rng.uniform(0.01, 0.03)
    height = n * seg + bob_z
    grey = _neutral(rng)
    damping = L ** 4.5 * rng.uniform(0.0005, 0.005)
    inner = (f'<geom type="sphere" size="{r_bob:.6g}" pos="0 0 {-seg:.6g}" rgba="{_fmt(RED)}"'
             f' mass="{L ** 3 * rng.uniform(0.03, 0.15):.6g}"/>')
    for i in reversed(range(n)):
        child = f'<body name="link{i + 1}" pos="0 0 {-seg:.6g}">{inner}</body>' if i < n - 1 else inner
        inner = (f'<joint name="j{i}" type="ball" damping="{damping:.4g}"/>'
                 f'<geom type="capsule" fromto="0 0 0 0 0 {-seg:.6g}" size="{r_link:.6g}" rgba="{_fmt(grey)}"'
                 f' mass="{0.01 * L ** 3:.6g}"/>{child}')
    rs = bob_z  # the striker's centre is at the bob's height
    striker_x = -L * rng.uniform(0.3, 0.4)
    speed = rng.uniform(0.2, 0.4) * math.sqrt(L)
    striker = Body("striker", [_geom("sphere", [rs], _neutral(rng), mass=L ** 3 * rng.uniform(0.05, 0.3), friction=0.5,
                                     roll=0.0002 * L, L=L)],
                   (striker_x, rng.normal(0, 0.4 * r_bob), rs + 0.0005 * L), (rs, rs, rs), vel=(speed, 0, 0, 0, speed / rs, 0))
    hp = (L * rng.uniform(0.02, 0.04), L * rng.uniform(0.02, 0.04), L * rng.uniform(0.02, 0.06))
    px = r_bob + hp[0] + L * rng.uniform(0.0, 0.06)  # in or out of the swing's reach
    py = rng.uniform(-1.0, 1.0) * (r_bob + hp[1])
    pat = Body("patient", [_geom("box", hp, YELLOW, mass=L ** 3 * rng.uniform(0.1, 0.5), friction=0.6, L=L)],
               (px, py, hp[2] + 0.001 * L), hp)
    chain = Body("chain", [], (0.0, 0.0, height), (r_bob, r_bob, r_bob), free=False, inner=inner)
    # agent "link_bob": resolved in `Scene` to the deepest link, which holds the red bob.
    return SceneSpec("link", [chain, striker, pat], duration_s=CLIP_S, agent="link_bob",
                     camera=_view(-0.14 * L, 0.32 * L, 0.12 * L))


BUILDERS: dict[str, Callable[[np.random.Generator], SceneSpec]] = {
    "collide": collide, "contain": contain, "dominoes": dominoes, "drop": drop,
    "link": link, "roll": roll, "support": support,
}


def scene_xml(spec: SceneSpec) -> str:
    parts = []
    for b in spec.bodies:
        joint = f'<freejoint name="{b.name}_free"/>' if b.free else ""
        parts.append(f'<body name="{b.name}" pos="{_fmt(b.pos)}" quat="{_fmt(b.quat)}">{joint}{"".join(b.geoms)}{b.inner}</body>')
    cam, look = spec.camera
    return f"""
<mujoco model="physion_{spec.scenario}">
  <compiler angle="radian"/>
  <option timestep="{TIMESTEP_S}" integrator="implicitfast"/>
  <visual><global offwidth="128" offheight="128"/><quality shadowsize="0" offsamples="0" numslices="12" numstacks="8"/></visual>
  <worldbody>
    <light pos="0 -3 15" dir="0 0.2 -1" directional="true" castshadow="false"/>
    <geom name="floor" type="plane" size="40 40 0.1" rgba="0.8 0.8 0.82 1" friction="{spec.floor_friction:.4g} 0.005 0.0001" condim="6"/>
    <body name="lookat" pos="{_fmt(look)}"/>
    <camera name="front" pos="{_fmt(cam)}" mode="targetbody" target="lookat" fovy="60"/>
    {"".join(spec.static_xml)}
    {"".join(parts)}
  </worldbody>
</mujoco>
"""


class Scene:
    """A compiled trial: steps MuJoCo, records agent/patient states, contact labels and frames."""

    def __init__(self, spec: SceneSpec) -> None:
        import mujoco  # imported on use: building the CLI must not need a GL backend

        self.spec = spec
        self.model = mujoco.MjModel.from_xml_string(scene_xml(spec))
        self.data = mujoco.MjData(self.model)
        m, d = self.model, self.data
        for b in spec.bodies:
            if b.free:
                adr = m.jnt_dofadr[m.joint(f"{b.name}_free").id]
                d.qvel[adr:adr + 6] = b.vel
        for name, q in spec.qpos_init.items():
            adr = m.jnt_qposadr[m.joint(name).id]
            d.qpos[adr:adr + len(q)] = q
        mujoco.mj_forward(m, d)
        agent = spec.agent
        if agent == "link_bob":  # the deepest link carries the red bob
            agent = max((m.body(i).name for i in range(m.nbody) if m.body(i).name.startswith("link")),
                        key=lambda s: int(s[4:]), default="chain")
        self.agent_body = m.body(agent).id
        self.patient_body = m.body(spec.patient).id
        self._agent_geoms = self._red_geoms() if spec.agent == "link_bob" else self._geoms_of(self.agent_body)
        self._patient_geoms = self._geoms_of(self.patient_body)
        self._is_agent = np.zeros(m.ngeom, bool)
        self._is_agent[self._agent_geoms] = True
        self._is_patient = np.zeros(m.ngeom, bool)
        self._is_patient[self._patient_geoms] = True
        self.half_extents = np.array([self._half(spec.agent), self._half(spec.patient)], dtype=np.float32)
        self.free = np.array([self._is_free(self.agent_body), self._is_free(self.patient_body)], dtype=np.float32)
        self._renderer = None

    def _geoms_of(self, body: int) -> np.ndarray:
        return np.flatnonzero(self.model.geom_bodyid == body)

    def _red_geoms(self) -> np.ndarray:
        return np.flatnonzero(np.all(np.isclose(self.model.geom_rgba, RED, atol=1e-3), axis=1))

    def _half(self, name: str) -> tuple[float, float, float]:
        for b in self.spec.bodies:
            if b.name == name or (name == "link_bob" and b.name == "chain"):
                return b.half_extent
        raise KeyError(name)

    def _is_free(self, body: int) -> float:
        # The bob of a chain moves (it hangs from ball joints), so it counts as free.
        return float(self.model.body_dofnum[body] > 0 or self.model.body_parentid[body] != 0)

    def centres(self) -> np.ndarray:
        """(2, 3) agent and patient centres (the bob's centre for a chain)."""
        agent = self.data.geom_xpos[self._agent_geoms[0]] if self.spec.agent == "link_bob" else self.data.xipos[self.agent_body]
        return np.stack([agent, self.data.xipos[self.patient_body]])

    def velocities(self) -> np.ndarray:
        """(2, 3) linear velocities (MuJoCo's, world frame) of the same points."""
        import mujoco

        out = np.zeros((2, 3))
        res = np.zeros(6)
        targets = [(mujoco.mjtObj.mjOBJ_GEOM, self._agent_geoms[0]) if self.spec.agent == "link_bob"
                   else (mujoco.mjtObj.mjOBJ_BODY, self.agent_body), (mujoco.mjtObj.mjOBJ_BODY, self.patient_body)]
        for i, (kind, idx) in enumerate(targets):
            mujoco.mj_objectVelocity(self.model, self.data, kind, int(idx), res, 0)
            out[i] = res[3:]
        return out

    def touching(self) -> bool:
        n = self.data.ncon
        if n == 0:
            return False
        g1, g2 = self.data.contact.geom1[:n], self.data.contact.geom2[:n]
        return bool(np.any((self._is_agent[g1] & self._is_patient[g2]) | (self._is_agent[g2] & self._is_patient[g1])))

    def render(self, size: int) -> np.ndarray:
        if self._renderer is None:
            from nsca.envs.playground import FastRenderer

            self._renderer = FastRenderer(self.model, size, self.model.camera("front").id, maxgeom=128)
        return self._renderer.render(self.model, self.data)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


@dataclass
class Trial:
    scenario: str
    split: str
    seed: int
    label: bool
    frames: np.ndarray | None       # (F, size, size, 3) uint8 at FPS, or None when not rendered
    frame_contact: np.ndarray       # (F,) bool: contact during each frame's interval
    positions: np.ndarray           # (F, 2, 3) agent, patient centre at each frame
    velocities: np.ndarray          # (F, 2, 3)
    half_extents: np.ndarray        # (2, 3)
    free: np.ndarray                # (2,)

    @property
    def stimulus(self) -> str:
        return f"{self.scenario}_{self.split}_{self.seed}"


def simulate(scenario: str, seed: int, split: str = "test", render: bool = True, size: int = 64) -> Trial:
    """Build and run one trial; frames and states are sampled at FPS over the whole clip."""
    import mujoco

    if scenario not in BUILDERS:
        raise UsageError(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
    spec = BUILDERS[scenario](np.random.default_rng(seed))
    scene = Scene(spec)
    steps_per_frame = int(round(1.0 / (FPS * TIMESTEP_S)))
    n_frames = int(round(spec.duration_s * FPS))
    frames, contact = [], np.zeros(n_frames, bool)
    pos, vel = np.zeros((n_frames, 2, 3)), np.zeros((n_frames, 2, 3))
    try:
        for f in range(n_frames):
            if render:
                frames.append(scene.render(size))
            pos[f], vel[f] = scene.centres(), scene.velocities()
            for _ in range(steps_per_frame):
                mujoco.mj_step(scene.model, scene.data)
                contact[f] |= scene.touching()
    finally:
        scene.close()
    return Trial(scenario, split, seed, bool(contact.any()), np.stack(frames) if render else None, contact,
                 pos.astype(np.float32), vel.astype(np.float32), scene.half_extents, scene.free)


def write_trial_hdf5(trial: Trial, path: Path) -> None:
    """One trial in Physion's HDF5 layout (see the module docstring), written atomically."""
    import h5py
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".hdf5.tmp")
    with h5py.File(tmp, "w") as f:
        f.create_dataset("static/stimulus_name", data=trial.stimulus.encode())
        f.create_dataset("static/scenario", data=trial.scenario.encode())
        f.create_dataset("static/seed", data=trial.seed)
        f.create_dataset("static/fps", data=FPS)
        f.create_dataset("static/half_extents", data=trial.half_extents)
        f.create_dataset("static/free", data=trial.free)
        for k in range(len(trial.frame_contact)):
            g = f.create_group(f"frames/{k:04d}")
            if trial.frames is not None:
                buf = io.BytesIO()
                Image.fromarray(trial.frames[k]).save(buf, format="PNG", compress_level=1)
                g.create_dataset("images/_img", data=np.frombuffer(buf.getvalue(), np.uint8))
            g.create_dataset("labels/target_contacting_zone", data=bool(trial.frame_contact[k]))
            g.create_dataset("objects/positions", data=trial.positions[k])
            g.create_dataset("objects/velocities", data=trial.velocities[k])
    tmp.replace(path)


def generate_split(out: str | Path, split: str, per_scenario: int, scenarios: tuple[str, ...] = SCENARIOS,
                   size: int = 64, observe_s: float = OBSERVE_S, max_tries_factor: int = 40,
                   log: Callable[[str], None] | None = None) -> dict:
    """Write `per_scenario` label-balanced trials per scenario to `<out>/<split>/<scenario>/`.

    Trials are tried in seed order; one whose first agent-patient contact falls inside the first
    `observe_s` is rejected, the others are kept while their label's quota is open. Resumable:
    each seed's outcome is kept in `outcomes.json` and a written trial is never redone.
    Returns counts and timing."""
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    bad = [s for s in scenarios if s not in BUILDERS]
    if bad:
        raise UsageError(f"unknown scenario {bad[0]!r}; choose from {', '.join(SCENARIOS)}")
    if per_scenario < 2 or per_scenario % 2:
        raise UsageError(f"per_scenario={per_scenario} must be an even number >= 2 (labels are balanced)")
    stats: dict = {"split": split, "per_scenario": per_scenario, "observe_s": observe_s, "scenarios": {}}
    observed = int(round(observe_s * FPS))
    t0 = time.perf_counter()
    simulated = 0
    for scenario in scenarios:
        folder = Path(out) / split / scenario
        quota = {True: per_scenario // 2, False: per_scenario // 2}
        kept, tries, contacts, early = 0, 0, 0, 0
        keep: set[str] = set()
        # seed -> first contact frame (-1: none), so a rerun or a larger request simulates only new
        # seeds. Outcomes and clips of another generator version (other scenes) are discarded.
        manifest = folder / "outcomes.json"
        saved = read_json(manifest) or {}
        outcomes: dict[str, int] = saved.get("first_contact_frame", {}) if saved.get("version") == SCENES_VERSION else {}
        if not outcomes:
            for old in folder.glob("[0-9]" * 7 + ".hdf5"):
                old.unlink()
        base = _SPLIT_SEED_BASE[split] + 100_000 * (SCENARIOS.index(scenario) + 1)
        while kept < per_scenario:
            if tries >= max_tries_factor * per_scenario:
                raise RuntimeError(f"{scenario}: could not balance labels in {tries} trials ({quota} left)")
            seed = base + tries
            tries += 1
            path = folder / f"{seed:07d}.hdf5"
            if str(seed) not in outcomes:
                trial = simulate(scenario, seed, split, render=False)  # cheap pass for the outcome
                simulated += 1
                first = int(np.argmax(trial.frame_contact)) if trial.label else -1
                outcomes[str(seed)] = first
            first = outcomes[str(seed)]
            if 0 <= first < observed:
                early += 1  # contact already visible in the observed window: not a prediction
                continue
            label = first >= 0
            if quota[label] > 0 and not path.is_file():
                write_trial_hdf5(simulate(scenario, seed, split, render=True, size=size), path)
            contacts += label
            if quota[label] > 0:
                quota[label] -= 1
                kept += 1
                keep.add(path.name)
        atomic_write_json(manifest, {"version": SCENES_VERSION, "first_contact_frame": outcomes})
        # Files of an earlier, larger run are surplus here: the folder holds exactly this set.
        for stale in folder.glob("[0-9]" * 7 + ".hdf5"):
            if stale.name not in keep:
                stale.unlink()
        # The contact rate before balancing says how far the generator's own mix is from 50/50.
        stats["scenarios"][scenario] = {"kept": kept, "tried": tries, "early_contact": early,
                                        "raw_contact_rate": contacts / max(tries - early, 1)}
        if log:
            log(f"{split}/{scenario}: {kept} trials kept of {tries} tried ({early} rejected: contact before {observe_s} s)")
    stats["simulated"] = simulated
    stats["wall_s"] = time.perf_counter() - t0
    return stats


def _frame_contacts(path: Path) -> np.ndarray:
    import h5py

    with h5py.File(path, "r") as f:
        return np.array([bool(f["frames"][k]["labels"]["target_contacting_zone"][()]) for k in sorted(f["frames"])])
