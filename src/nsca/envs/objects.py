"""A deterministic catalogue of graspable objects for the babbling playground.

`make_catalogue(n, seed, split)` draws `n` objects: shape (box, sphere, cylinder, capsule,
ellipsoid and compound shapes), size, mass, colour and a base material, and gives every object
its own material constants (the base material's, jittered: see below). Mass is drawn
independently of the material (objects can be hollow or solid), so hardness (heard in impact
sounds) and mass (felt when lifting or shaking) are separate things to ground. The same
(n, seed, split) always gives the same catalogue.

The materials are split once, here, into the ones babbling uses (`TRAIN_MATERIALS`) and the
ones only the grounding probes test on (`HELD_OUT_MATERIALS`): within each hardness class the
materials are ranked by modal frequency, and those of odd rank (the 2nd and 4th of 5) are held
out, so every held-out material lies inside its class's range of trained materials (a test of
interpolation to new materials, not of extrapolation).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

SHAPES = ("box", "sphere", "cylinder", "capsule", "ellipsoid", "dumbbell", "mushroom", "ell")
HARDNESS_CLASSES = ("soft", "medium", "hard")
MASS_CLASSES = ("light", "medium", "heavy")
MASS_CLASS_EDGES_KG = (0.1, 0.4)  # light < 0.1 kg <= medium < 0.4 kg <= heavy
MASS_RANGE_KG = (0.02, 1.5)       # log-uniform; roughly a third of objects per mass class


@dataclass(frozen=True)
class Material:
    name: str
    hardness: str            # one of HARDNESS_CLASSES
    friction: float          # sliding friction coefficient
    solref_timeconst_s: float  # contact stiffness: smaller = harder (MuJoCo solref[0])
    restitution: float       # ~coefficient of restitution, mapped to solref damping ratio
    mode_hz: float           # fundamental modal frequency of a 5 cm object, Hz
    damping_per_s: float     # modal decay rate (1/s): soft materials ring out fast
    rgb: tuple[float, float, float]


MATERIALS: dict[str, Material] = {m.name: m for m in (
    Material("foam", "soft", 0.9, 0.030, 0.05, 180.0, 90.0, (0.95, 0.85, 0.55)),
    Material("rubber", "soft", 1.1, 0.020, 0.75, 260.0, 60.0, (0.15, 0.15, 0.15)),
    Material("cloth", "soft", 0.8, 0.025, 0.10, 150.0, 110.0, (0.55, 0.25, 0.60)),
    Material("wood", "medium", 0.6, 0.008, 0.45, 900.0, 28.0, (0.60, 0.40, 0.20)),
    Material("plastic", "medium", 0.4, 0.010, 0.55, 1300.0, 22.0, (0.20, 0.50, 0.90)),
    Material("cardboard", "medium", 0.7, 0.012, 0.25, 700.0, 35.0, (0.75, 0.60, 0.40)),
    Material("metal", "hard", 0.35, 0.004, 0.60, 3200.0, 4.0, (0.70, 0.72, 0.75)),
    Material("glass", "hard", 0.25, 0.004, 0.50, 4200.0, 6.0, (0.70, 0.90, 0.90)),
    Material("ceramic", "hard", 0.45, 0.004, 0.35, 2600.0, 9.0, (0.95, 0.95, 0.90)),
    # Between the three above of their class in modal frequency: the held-out materials.
    Material("sponge", "soft", 0.95, 0.028, 0.08, 165.0, 100.0, (0.90, 0.80, 0.30)),
    Material("silicone", "soft", 1.0, 0.022, 0.60, 220.0, 75.0, (0.85, 0.35, 0.45)),
    Material("cork", "medium", 0.65, 0.011, 0.30, 800.0, 32.0, (0.80, 0.50, 0.30)),
    Material("bamboo", "medium", 0.5, 0.009, 0.50, 1100.0, 25.0, (0.80, 0.75, 0.45)),
    Material("slate", "hard", 0.5, 0.004, 0.40, 2900.0, 8.0, (0.30, 0.33, 0.38)),
    Material("brass", "hard", 0.3, 0.004, 0.60, 3700.0, 5.0, (0.80, 0.65, 0.25)),
)}


def _split_materials() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(train, held-out) material names: within each hardness class, ranked by `mode_hz`, odd
    ranks are held out (see the module docstring); both in MATERIALS' order."""
    held = set()
    for hardness in HARDNESS_CLASSES:
        ranked = sorted((m for m in MATERIALS.values() if m.hardness == hardness), key=lambda m: m.mode_hz)
        held |= {m.name for rank, m in enumerate(ranked) if rank % 2}
    return tuple(n for n in MATERIALS if n not in held), tuple(n for n in MATERIALS if n in held)


TRAIN_MATERIALS, HELD_OUT_MATERIALS = _split_materials()
MATERIAL_SPLITS = {"train": TRAIN_MATERIALS, "heldout": HELD_OUT_MATERIALS}

# Every catalogue object's own constants: its base material's modal frequency, modal decay,
# contact time constant (stiffness) and friction, each times exp(u), u uniform in
# [-JITTER_LOG, JITTER_LOG] (x0.82-1.22), and restitution +- up to JITTER_RESTITUTION (clipped to
# [0, 0.95]). So no constant is shared by all objects of a material, and the hardness label (the
# base material's class) must be inferred from how the object sounds and moves. The jitter is
# small enough that the classes stay apart in each class-defining constant (`hardness_ranges`:
# frequency of a 5 cm object, decay and stiffness of soft < medium < hard never overlap).
JITTER_LOG = 0.2
JITTER_RESTITUTION = 0.1
JITTERED_FIELDS = ("mode_hz", "damping_per_s", "solref_timeconst_s", "friction", "restitution")
CLASS_DEFINING_FIELDS = ("mode_hz", "damping_per_s", "solref_timeconst_s")


def hardness_ranges() -> dict[str, dict[str, tuple[float, float]]]:
    """Per hardness class, the range every object's class-defining constant can take (over the
    class's train and held-out materials, jitter included)."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for hardness in HARDNESS_CLASSES:
        mats = [m for m in MATERIALS.values() if m.hardness == hardness]
        out[hardness] = {f: (min(getattr(m, f) for m in mats) * float(np.exp(-JITTER_LOG)),
                             max(getattr(m, f) for m in mats) * float(np.exp(JITTER_LOG)))
                         for f in CLASS_DEFINING_FIELDS}
    return out


def catalogue_config() -> dict:
    """What a store's objects depend on besides (n, seed): recorded in a playground store's
    config.json, so a store written with another split or jitter is never resumed by this one."""
    return {"train_materials": list(TRAIN_MATERIALS), "held_out_materials": list(HELD_OUT_MATERIALS),
            "jitter_log": JITTER_LOG, "jitter_restitution": JITTER_RESTITUTION, "jittered_fields": list(JITTERED_FIELDS)}


def jitter_material(material: Material, rng: np.random.Generator) -> Material:
    """A copy of `material` with its own constants (see JITTER_LOG)."""
    def scaled(value: float) -> float:
        return float(value * np.exp(rng.uniform(-JITTER_LOG, JITTER_LOG)))

    mode, damping, timeconst, friction = (scaled(getattr(material, f)) for f in JITTERED_FIELDS[:4])
    restitution = float(np.clip(material.restitution + rng.uniform(-JITTER_RESTITUTION, JITTER_RESTITUTION), 0.0, 0.95))
    return replace(material, mode_hz=mode, damping_per_s=damping, solref_timeconst_s=timeconst, friction=friction,
                   restitution=restitution)


@dataclass(frozen=True)
class ObjectSpec:
    """One catalogue object. Sizes are half-extents in metres (MuJoCo convention)."""

    object_id: int
    name: str
    shape: str
    half_extent_m: tuple[float, float, float]  # bounding box half-size (x, y, z) when resting
    mass_kg: float
    material: str            # the base material (its name; the hardness class is its class)
    rgba: tuple[float, float, float, float]
    material_params: Material | None = None  # this object's own constants (None: the base material's)

    @property
    def mat(self) -> Material:
        return self.material_params if self.material_params is not None else MATERIALS[self.material]

    @property
    def hardness_class(self) -> int:
        return HARDNESS_CLASSES.index(self.mat.hardness)

    @property
    def mass_class(self) -> int:
        return int(np.searchsorted(MASS_CLASS_EDGES_KG, self.mass_kg, side="right"))

    @property
    def friction(self) -> float:
        return self.mat.friction

    @property
    def solref(self) -> tuple[float, float]:
        # MuJoCo's damping ratio controls bounce: ~1 is dead, lower ratios rebound more.
        return (self.mat.solref_timeconst_s, float(np.clip(1.0 - 0.9 * self.mat.restitution, 0.1, 1.0)))

    def bbox_half_m(self) -> tuple[float, float, float]:
        """Half-size of the axis-aligned box around all geoms (body frame, resting pose)."""
        lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
        for g in self.geoms():
            s, t = g["size"], g["type"]
            if t == "sphere":
                h = (s[0], s[0], s[0])
            elif t == "cylinder":
                h = (s[0], s[0], s[1])
            elif t == "capsule":  # all capsules here lie along x
                h = (s[1] + s[0], s[0], s[0])
            else:
                h = tuple(s)
            p = np.asarray(g["pos"], dtype=float)
            lo, hi = np.minimum(lo, p - h), np.maximum(hi, p + h)
        return tuple(float(v) for v in np.maximum(np.abs(lo), np.abs(hi)))

    @property
    def size_m(self) -> float:
        """Characteristic size (largest full extent), used to scale modal frequencies."""
        return 2.0 * max(self.half_extent_m)

    def geoms(self) -> list[dict]:
        """MuJoCo geoms relative to the body centre: type, size, pos, and share of the volume."""
        hx, hy, hz = self.half_extent_m
        if self.shape == "box":
            return [dict(type="box", size=(hx, hy, hz), pos=(0, 0, 0))]
        if self.shape == "sphere":
            return [dict(type="sphere", size=(hx,), pos=(0, 0, 0))]
        if self.shape == "cylinder":
            return [dict(type="cylinder", size=(hx, hz), pos=(0, 0, 0))]
        if self.shape == "capsule":  # lying along x: radius hy, half-length of the segment hx - hy
            return [dict(type="capsule", size=(hy, hx - hy), pos=(0, 0, 0), euler=(0, 90, 0))]
        if self.shape == "ellipsoid":
            return [dict(type="ellipsoid", size=(hx, hy, hz), pos=(0, 0, 0))]
        if self.shape == "dumbbell":  # two spheres of radius hy joined by a thin bar along x
            r = hy
            return [
                dict(type="sphere", size=(r,), pos=(-(hx - r), 0, 0)),
                dict(type="sphere", size=(r,), pos=(hx - r, 0, 0)),
                dict(type="capsule", size=(0.4 * r, hx - r), pos=(0, 0, 0), euler=(0, 90, 0)),
            ]
        if self.shape == "mushroom":  # a flat cap on a stem: top-heavy, topples
            cap_h = 0.3 * hz
            return [
                dict(type="cylinder", size=(0.45 * hx, hz - cap_h), pos=(0, 0, -cap_h)),
                dict(type="cylinder", size=(hx, cap_h), pos=(0, 0, hz - cap_h)),
            ]
        if self.shape == "ell":  # an L of two boxes
            return [
                dict(type="box", size=(hx, 0.5 * hy, hz), pos=(0, -0.5 * hy, 0)),
                dict(type="box", size=(0.4 * hx, 0.5 * hy, hz), pos=(0.6 * hx, 0.5 * hy, 0)),
            ]
        raise ValueError(f"unknown shape {self.shape!r}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(hardness=self.mat.hardness, hardness_class=self.hardness_class,
                 mass_class=self.mass_class, friction=self.friction, solref=self.solref)
        return d


def _draw_extent(rng: np.random.Generator, shape: str) -> tuple[float, float, float]:
    # Every object fits the gripper (max opening 0.10 m) across y; sizes 3 to 8 cm.
    if shape == "sphere":
        r = rng.uniform(0.016, 0.035)
        return (r, r, r)
    if shape == "cylinder":
        r = rng.uniform(0.016, 0.035)
        return (r, r, rng.uniform(0.015, 0.045))
    if shape == "capsule":
        r = rng.uniform(0.014, 0.025)
        return (rng.uniform(r + 0.01, 0.045), r, r)
    if shape == "dumbbell":
        r = rng.uniform(0.015, 0.022)
        return (rng.uniform(r + 0.015, 0.045), r, r)
    hx, hy = rng.uniform(0.016, 0.04, size=2)
    return (float(hx), float(hy), float(rng.uniform(0.015, 0.04)))


def make_catalogue(n: int = 120, seed: int = 0, split: str = "train") -> list[ObjectSpec]:
    """`n` objects drawn deterministically from `seed`, of the materials of `split` ("train":
    babbling's, "heldout": the grounding probes'); shapes and materials cycle so all appear, and
    every object gets its own jittered material constants (JITTER_LOG).

    A different `seed` gives different sizes, masses, colours and constants."""
    if split not in MATERIAL_SPLITS:
        raise ValueError(f"unknown material split {split!r}; choose from {', '.join(MATERIAL_SPLITS)}")
    rng = np.random.default_rng([seed, 0xB0B])
    jitter_rng = np.random.default_rng([seed, 0x717])
    names = MATERIAL_SPLITS[split]
    objects = []
    for i in range(n):
        shape = SHAPES[i % len(SHAPES)]
        material = names[i % len(names)]  # train: 8 shapes x 9 materials, every pairing within 72 objects
        lo, hi = np.log(MASS_RANGE_KG)
        mass = float(np.exp(rng.uniform(lo, hi)))
        rgb = np.clip(np.array(MATERIALS[material].rgb) + rng.normal(0, 0.05, 3), 0, 1)
        extent = tuple(round(float(e), 4) for e in _draw_extent(rng, shape))
        objects.append(ObjectSpec(
            object_id=i, name=f"{material}_{shape}_{i:03d}", shape=shape, half_extent_m=extent,
            mass_kg=round(mass, 4), material=material, rgba=(*map(float, rgb), 1.0),
            material_params=jitter_material(MATERIALS[material], jitter_rng),
        ))
    return objects
