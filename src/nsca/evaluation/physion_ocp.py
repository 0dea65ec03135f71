"""`nsca eval physion`: Physion's object-contact-prediction (OCP) readout protocol.

Protocol (Bear et al. 2021, as in the Physion repository): a model's **frozen** features of the
first 1.5 s of each clip feed a logistic-regression readout (standardised features, L2 strength
chosen by 5-fold cross-validation on the readout-training set), trained under three protocols
and scored on held-out test trials:

- only:         train on scenario s, test on s;
- all:          train on every scenario, test on each s;
- all_but_one:  train on every scenario except s, test on s (generalisation to a new scenario).

Models read out:
- nsca / nsca_noprior: the NSCA model from `nsca train` checkpoints (with / without the prior):
  the fused latent of its vision path at four points of the observed window, concatenated;
- random_init: the same architecture at random init (the same features);
- physics_rollout: the innate AdaptivePhysicsPrior (w = 1, learned residual at zero) rolled
  forward from the agent's and patient's object states at the end of the observation; features
  are the predicted closest approach (axis-aligned gap), the current gap, the time of closest
  approach and the agent's speed. Its zero-shot guess (closest gap < 5 mm) is reported beside.

Data: the generated MuJoCo scenes of `nsca.envs.physion_scenes` (default; Physion-sized, 6 s clips
at 10 fps whose first 1.5 s are observed and hold no contact) or the official Physion files
(`official_train` HDF5 + `official_test` mp4/HDF5, first 1.5 s at 30 fps sampled down to the same
15 frames) through `nsca.data.physion.PhysionOCP`. `observe_s` changes the window for both (and,
for generated scenes, which trials are rejected). Bad files are skipped and counted, one line per
kind of problem.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from nsca.config import field, preset_block
from nsca.envs import physion_scenes as PS
from nsca.errors import UsageError
from nsca.experiments.protocol import Experiment, RunConfig, experiment_fields, out_field
from nsca.model.config import preset_names
from nsca.runner import Cell

PROTOCOLS = ("only", "all", "all_but_one")
MODELS = ("nsca", "nsca_noprior", "random_init", "physics_rollout")
# Human accuracy per scenario: Physion repository, results/csv/summary/human_accuracy_by_scenario.csv
# (figures as quoted in the project's phase-7 brief; the file cannot be downloaded on this machine).
HUMAN_ACCURACY = {"roll": 0.87, "collide": 0.81, "contain": 0.77, "support": 0.77, "drop": 0.75,
                  "dominoes": 0.69, "drape": 0.68, "link": 0.65}
HUMAN_MEAN = 0.747
MODEL_REFERENCES = {
    "DPI (particle model, readout B)": 0.748,
    "DeiT + LSTM, frozen (readout A)": 0.72,
    "DeiT + LSTM, frozen (readout C)": 0.60,
}
C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
ZERO_SHOT_GAP_M = 0.005


@dataclass(frozen=True)
class PhysionEvalConfig(RunConfig):
    """The suite's fields plus the run fields every experiment has (`--out`, `--workers`,
    `--backend`, `--address`; `--seeds N`: readout seeds `seed .. seed+N-1`)."""

    n_seeds: int = field(1, "readout seeds per model: seed, seed+1, .. (random init, CV folds, bootstrap); "
                            "results show the first, and the spread over all when N > 1", flags=("--seeds", "--n-seeds"))
    out: str = out_field("runs/eval/physion")
    data: str = field("", "folder of generated scenes (default: <out>/scenes); reused and extended if present")
    scenarios: tuple[str, ...] = field(PS.SCENARIOS, "scenarios to generate and read out")
    readout_per_scenario: int = field(40, "readout-training trials per scenario (even: labels are balanced)")
    test_per_scenario: int = field(40, "test trials per scenario (even)")
    dynamics_per_scenario: int = field(0, "dynamics-training trials per scenario (for training a model on the scenes; unused by the readout)")
    checkpoint: str | None = field(None, "NSCA run folder or checkpoint trained WITH the physics prior (model 'nsca')")
    checkpoint_noprior: str | None = field(None, "NSCA run folder or checkpoint trained with --prior none (model 'nsca_noprior')")
    preset: str = field("default", "architecture of random_init when no checkpoint gives one: a block of presets.yaml's "
                                   f"model section ({', '.join(preset_names())})")
    models: tuple[str, ...] = field(MODELS, "models to read out: nsca, nsca_noprior, random_init, physics_rollout")
    official_train: str | None = field(None, "official Physion readout-training HDF5 folder (instead of generated scenes)")
    official_test: str | None = field(None, "official Physion test folder (PhysionTest-Core mp4s + readout_labels.csv, or HDF5)")
    official_test_layout: Literal["mp4", "hdf5"] = field("mp4", "layout of official_test")
    official_fps: int = field(30, "frame rate of the official files (their first 1.5 s are observed)")
    observe_s: float | None = field(
        None, f"seconds of each clip the readout sees (default: {PS.OBSERVE_S} for generated scenes, as Physion's 1.5 "
              "for official files); generated trials with a contact inside it are rejected")
    seed: int = field(0, "seed of random init, cross-validation folds and bootstrap")
    threads: int = field(1, "torch threads for feature extraction")

    def validate(self) -> None:
        super().validate()
        preset_block("model", self.preset)  # an unknown name is a one-line error listing the blocks
        bad = [s for s in self.scenarios if s not in PS.SCENARIOS]
        if bad:
            hint = f" ({PS.LEFT_OUT[bad[0]]})" if bad[0] in PS.LEFT_OUT else ""
            raise UsageError(f"unknown scenario {bad[0]!r}{hint}; choose from {', '.join(PS.SCENARIOS)}")
        bad = [m for m in self.models if m not in MODELS]
        if bad:
            raise UsageError(f"unknown model {bad[0]!r}; choose from {', '.join(MODELS)}")
        for name in ("readout_per_scenario", "test_per_scenario"):
            v = getattr(self, name)
            if v < 4 or v % 2:
                raise UsageError(f"{name}={v} must be an even number >= 4")
        if self.dynamics_per_scenario and (self.dynamics_per_scenario < 2 or self.dynamics_per_scenario % 2):
            raise UsageError(f"dynamics_per_scenario={self.dynamics_per_scenario} must be 0 or an even number >= 2")
        if bool(self.official_train) != bool(self.official_test):
            raise UsageError("official_train and official_test go together (readout training and test sets)")
        if self.observe_s is not None and not 0 < self.observe_s:
            raise UsageError(f"observe_s={self.observe_s} must be > 0")


# ---- the logistic readout --------------------------------------------------------------------
@dataclass
class LogisticReadout:
    """L2-regularised logistic regression on standardised features (scipy L-BFGS)."""

    mean: np.ndarray
    std: np.ndarray
    w: np.ndarray
    b: float
    C: float

    def decision(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean) / self.std) @ self.w + self.b

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.decision(X) > 0).astype(np.int64)


def _fit_logistic(X: np.ndarray, y: np.ndarray, C: float) -> LogisticReadout:
    from scipy.optimize import minimize

    mean, std = X.mean(0), X.std(0)
    std = np.where(std > 1e-8, std, 1.0)
    Z = (X - mean) / std
    s = 2.0 * y - 1.0
    n, d = Z.shape

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:d], theta[d]
        m = s * (Z @ w + b)
        nll = np.logaddexp(0.0, -m).sum()
        g = -s / (1.0 + np.exp(np.clip(m, -50, 50)))  # d nll / d logit
        grad = np.concatenate([Z.T @ g + w / C, [g.sum()]])
        return nll + 0.5 * w @ w / C, grad

    res = minimize(loss, np.zeros(d + 1), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return LogisticReadout(mean, std, res.x[:d], float(res.x[d]), C)


def _stratified_folds(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    fold = np.zeros(len(y), np.int64)
    for cls in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == cls))
        fold[idx] = np.arange(len(idx)) % k
    return fold


def fit_readout(X: np.ndarray, y: np.ndarray, seed: int = 0, Cs: tuple[float, ...] = C_GRID, folds: int = 5,
                fit: Any = None) -> Any:
    """Choose C by stratified k-fold accuracy (ties: the stronger regularisation), refit on all.
    `fit(X, y, C)` fits one readout (default: the binary logistic one; the grounding probe
    passes a multinomial one)."""
    fit = fit or _fit_logistic
    if len(np.unique(y)) < 2:
        raise UsageError("the readout-training set holds one label only; a readout needs both")
    k = int(min(folds, np.bincount(y)[np.unique(y)].min()))
    fold = _stratified_folds(y, k, np.random.default_rng(seed))
    best_c, best_acc = Cs[0], -1.0
    for C in Cs:
        accs = []
        for f in range(k):
            tr, va = fold != f, fold == f
            accs.append(float((fit(X[tr], y[tr], C).predict(X[va]) == y[va]).mean()))
        acc = float(np.mean(accs))
        if acc > best_acc + 1e-12:
            best_c, best_acc = C, acc
    return fit(X, y, best_c)


# ---- data ------------------------------------------------------------------------------------
@dataclass
class ClipSet:
    """Decoded observed clips of one split: frames (N, T, 3, 64, 64) uint8, labels, scenarios."""

    frames: np.ndarray
    labels: np.ndarray
    scenarios: np.ndarray
    files: list[Path]
    skipped: dict[str, list[str]]  # kind of problem -> files


def _load_clips(path: Path, layout: str, fps: int, observe_s: float, scenarios: tuple[str, ...] | None,
                labels_csv: str | None = None) -> ClipSet:
    from nsca.data.physion import PhysionOCP
    from nsca.data.video import ClipDecodeError

    observed = max(1, int(round(observe_s * fps)))
    # Physion's 30 fps clips are sampled down to the same number of frames our 10 fps clips hold.
    n_frames = max(1, int(round(observe_s * PS.FPS)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skips are counted and reported once per kind below
        ds = PhysionOCP(path, layout=layout, labels_csv=labels_csv, scenarios=scenarios, num_frames=n_frames,
                        observed_frames=observed, on_error="skip")
    skipped: dict[str, list[str]] = {}
    for f, why in ds.skipped.items():
        skipped.setdefault("unreadable trial file", []).append(f"{f} ({why})")
    frames, keep = [], []
    for i in range(len(ds)):
        try:
            frames.append(ds.decode(i))
            keep.append(i)
        except ClipDecodeError as exc:
            skipped.setdefault("undecodable frames", []).append(str(exc))
    if not keep:
        raise UsageError(f"{path}: no trial could be read ({sum(len(v) for v in skipped.values())} skipped)")
    return ClipSet(np.stack(frames), ds.labels[keep], np.array([ds.scenarios[i] for i in keep]),
                   [ds.files[i] for i in keep], skipped)


def rollout_inputs(files: list[Path], observed_frames: int) -> dict[str, np.ndarray]:
    """Object states at the last observed frame, sizes and clip length from NSCA's HDF5 extras."""
    import h5py

    pos, vel, half, free, remaining = [], [], [], [], []
    for path in files:
        with h5py.File(path, "r") as f:
            if "objects" not in f["frames/0000"]:
                raise UsageError(f"{path}: no object states (official Physion files); physics_rollout needs NSCA scenes")
            keys = sorted(f["frames"])
            last = keys[min(observed_frames, len(keys)) - 1]
            pos.append(f["frames"][last]["objects/positions"][()])
            vel.append(f["frames"][last]["objects/velocities"][()])
            half.append(f["static/half_extents"][()])
            free.append(f["static/free"][()])
            remaining.append((len(keys) - observed_frames) / float(f["static/fps"][()]))
    return {"pos": np.array(pos, np.float32), "vel": np.array(vel, np.float32), "half": np.array(half, np.float32),
            "free": np.array(free, np.float32), "remaining_s": np.array(remaining, np.float32)}


# ---- features --------------------------------------------------------------------------------
def rollout_constants(dt_s: float = 0.01) -> Any:
    """The innate laws' constants for the scenes: the installed defaults with the scenes' step."""
    from nsca.priors.innate import PhysicsConstants

    return dataclasses.replace(PhysicsConstants(), dt_s=dt_s)


def physics_rollout_features(inputs: dict[str, np.ndarray], dt_s: float = 0.01) -> np.ndarray:
    """Roll agent and patient forward with the innate prior; (N, 4) gap features (see module doc).

    Each object is one AdaptivePhysicsPrior state with the hand parked far away and open (so
    nothing is held); contacts *between* the two objects are not modelled by the laws, which is
    exactly what this reference measures."""
    from nsca.priors import state as S
    from nsca.priors.adaptive import AdaptivePhysicsPrior

    pos, vel, half, free = (torch.from_numpy(inputs[k]) for k in ("pos", "vel", "half", "free"))
    n = pos.shape[0]
    state = torch.zeros(n, 2, S.STATE_DIM)
    state[..., S.HAND_POS] = torch.tensor([0.0, 0.0, 2.0])
    state[..., S.GRIPPER] = 1.0
    state[..., S.OBJ_HALF] = half[..., 2:3]  # each object's own resting height
    state[..., S.OBJ_FREE] = free[..., None]
    state[..., S.OBJ_POS] = pos
    state[..., S.OBJ_VEL] = vel * free[..., None]  # a fixed zone does not move
    model = AdaptivePhysicsPrior(prior=1.0, constants=rollout_constants(dt_s))
    flat = state.reshape(2 * n, S.STATE_DIM)
    action = torch.zeros(2 * n, S.ACTION_DIM)
    steps = int(math.ceil(float(inputs["remaining_s"].max()) / dt_s))

    def gap(p: torch.Tensor) -> torch.Tensor:
        p = p.reshape(n, 2, 3)
        return (torch.abs(p[:, 0] - p[:, 1]) - half[:, 0] - half[:, 1]).amax(-1)

    gaps = [gap(flat[:, S.OBJ_POS])]
    with torch.no_grad():
        for _ in range(steps):
            flat = model(flat, action)
            gaps.append(gap(flat[:, S.OBJ_POS]))
    g = torch.stack(gaps, 1)  # (N, steps + 1)
    t = torch.arange(g.shape[1]) * dt_s
    g = torch.where(t[None] <= torch.from_numpy(inputs["remaining_s"])[:, None] + 1e-9, g, torch.inf)
    gmin, argmin = g.min(1)
    speed = torch.linalg.vector_norm(vel[:, 0], dim=-1)
    return torch.stack([gmin, g[:, 0], argmin * dt_s, speed], 1).numpy().astype(np.float64)


def nsca_features(model: Any, frames: np.ndarray, batch: int = 64, points: int = 4) -> np.ndarray:
    """Fused vision latent at `points` evenly spaced ends of the observed window, concatenated."""
    t = frames.shape[1]
    ends = sorted({max(1, int(round(t * (k + 1) / points))) for k in range(points)})
    stack = model.cfg.frame_stack
    out = []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(frames), batch):
            x = torch.from_numpy(frames[i:i + batch]).permute(0, 1, 4, 2, 3).float().div_(255.0)
            z = [model.encode({"frames": x[:, max(0, e - stack):e]}) for e in ends]
            out.append(torch.cat(z, -1).double().numpy())
    return np.concatenate(out)


VISION_PATH = ("encoders.vision.", "fusion.")


def load_nsca(path: str | Path) -> Any:
    """An NSCAModel from a `nsca train` run folder (model.pt or checkpoints/last.pt) or checkpoint
    file, with the weights of its **vision path** (vision encoder and fusion) loaded.

    The evaluations read frames only; the object-state parts (state encoder, physics head) are
    left at init, so a checkpoint stays readable when the object-state layout grows."""
    from nsca.model.trained import load_trained

    return load_trained(path, VISION_PATH, needs=("vision",), reads="frames", part_name="vision-path")


# ---- protocol --------------------------------------------------------------------------------
def run_protocols(Xtr: np.ndarray, ytr: np.ndarray, str_: np.ndarray, Xte: np.ndarray, yte: np.ndarray,
                  ste: np.ndarray, scenarios: list[str], seed: int) -> dict:
    """Accuracy per scenario (with bootstrap CIs) under only / all / all_but_one."""
    from nsca.stats import accuracy_ci

    out: dict = {}
    for protocol in PROTOCOLS:
        per: dict = {}
        pooled = []
        shared = fit_readout(Xtr, ytr, seed) if protocol == "all" else None
        for s in scenarios:
            te = ste == s
            if not te.any():
                continue
            if protocol == "only":
                readout = fit_readout(Xtr[str_ == s], ytr[str_ == s], seed)
            elif protocol == "all":
                readout = shared
            else:
                tr = str_ != s
                if not tr.any():
                    continue
                readout = fit_readout(Xtr[tr], ytr[tr], seed)
            correct = readout.predict(Xte[te]) == yte[te]
            pooled.append(correct)
            per[s] = accuracy_ci(correct, seed)
        out[protocol] = {"per_scenario": per,
                         "mean": accuracy_ci(np.concatenate(pooled), seed) if pooled else None}
    return out


def observe_seconds(cfg: PhysionEvalConfig) -> float:
    return cfg.observe_s or (1.5 if cfg.official_train else PS.OBSERVE_S)


def scenes_folder(cfg: PhysionEvalConfig) -> Path:
    """Where the generated scenes are (and are generated): --data, else <out>/scenes."""
    return Path(cfg.data) if cfg.data else Path(cfg.out) / "scenes"


def load_sets(cfg: PhysionEvalConfig) -> tuple[ClipSet, ClipSet, int]:
    """The readout-training and test clips (official files, or the scenes in `cfg.data`) and their fps."""
    observe_s = observe_seconds(cfg)
    if cfg.official_train:
        fps = cfg.official_fps
        train = _load_clips(Path(cfg.official_train), "hdf5", fps, observe_s, cfg.scenarios)
        test = _load_clips(Path(cfg.official_test), cfg.official_test_layout, fps, observe_s, cfg.scenarios)
        return train, test, fps
    data = Path(cfg.data)
    train = _load_clips(data / "readout_training", "hdf5", PS.FPS, observe_s, cfg.scenarios)
    test = _load_clips(data / "test", "hdf5", PS.FPS, observe_s, cfg.scenarios)
    return train, test, PS.FPS


def not_run(cfg: PhysionEvalConfig) -> dict[str, str]:
    """Models asked for that cannot run with this config, and why."""
    why = {}
    for name in cfg.models:
        if name == "physics_rollout" and cfg.official_train:
            why[name] = "official files carry no NSCA object states"
        elif name == "nsca" and not cfg.checkpoint:
            why[name] = "no --checkpoint given (a `nsca train` run with the prior)"
        elif name == "nsca_noprior" and not cfg.checkpoint_noprior:
            why[name] = "no --checkpoint-noprior given (a `nsca train --prior none` run)"
    return why


def cell_parts(config: dict) -> tuple[PhysionEvalConfig, str]:
    """A cell's config as `Physion.cells` builds it, back as (the config with the cell's seed and
    scenes folder, model); the run fields, which no cell reads, are at their defaults."""
    from nsca.config import from_dict

    fields = dict(config)
    model = fields.pop("model")
    return from_dict(PhysionEvalConfig, fields), model


def run_cell(config: dict, cell_dir: Path) -> dict:
    """One (model, readout seed): decode the clips, extract the model's features, fit the readouts."""
    from nsca.stats import accuracy_ci, strict_json
    from nsca.utils.seeding import seed_everything

    cfg, name = cell_parts(config)
    torch.set_num_threads(cfg.threads)
    observe_s = observe_seconds(cfg)
    t0 = time.perf_counter()
    train, test, fps = load_sets(cfg)
    decode_s = time.perf_counter() - t0
    scenarios = [s for s in cfg.scenarios if (test.scenarios == s).any()]
    seed_everything(cfg.seed)
    t0 = time.perf_counter()
    if name == "physics_rollout":
        obs = int(round(observe_s * fps))
        ftr = physics_rollout_features(rollout_inputs(train.files, obs))
        fte = physics_rollout_features(rollout_inputs(test.files, obs))
        res = run_protocols(ftr, train.labels, train.scenarios, fte, test.labels, test.scenarios, scenarios, cfg.seed)
        zero = (fte[:, 0] <= ZERO_SHOT_GAP_M).astype(np.int64) == test.labels
        res["constants"] = dataclasses.asdict(rollout_constants())
        res["zero_shot"] = {"per_scenario": {s: accuracy_ci(zero[test.scenarios == s], cfg.seed) for s in scenarios},
                            "mean": accuracy_ci(zero, cfg.seed)}
    else:
        model = _model_for(name, cfg)
        ftr, fte = nsca_features(model, train.frames), nsca_features(model, test.frames)
        res = run_protocols(ftr, train.labels, train.scenarios, fte, test.labels, test.scenarios, scenarios, cfg.seed)
    res["feature_dim"] = int(ftr.shape[1])
    res["extract_and_fit_s"] = time.perf_counter() - t0
    res["clips_per_s"] = (len(ftr) + len(fte)) / max(res["extract_and_fit_s"], 1e-9)
    return strict_json({
        "model": name, "seed": cfg.seed, "result": res, "scenarios": scenarios, "decode_s": decode_s,
        "counts": {"readout_training": int(len(train.labels)), "test": int(len(test.labels)),
                   "test_contact_rate": float(test.labels.mean())},
        "skipped": {k: {"n": len(v), "first": v[0]} for k, v in _merge_skipped(train, test).items()},
    })


def _merge_skipped(*sets: ClipSet) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for kind in sorted({k for s in sets for k in s.skipped}):
        out[kind] = [e for s in sets for e in s.skipped.get(kind, [])]
    return out


class Physion(Experiment):
    """One pass: the scenes are generated once (`prepare`), then one cell per (model, readout
    seed) decodes them, extracts that model's frozen features and fits the readouts."""

    name = "physion"
    help = ("Physion object-contact prediction: logistic readout on frozen features "
            "(generated MuJoCo scenes or official files)")
    config = PhysionEvalConfig
    grid_fields = ("models",)
    plot_name = "accuracy.png"

    def check(self, cfg: PhysionEvalConfig) -> None:
        cfg.validate()
        for ref in (cfg.checkpoint, cfg.checkpoint_noprior):
            if ref:
                load_nsca(ref)  # a bad run folder or checkpoint fails now (one line), not after the scenes
        if cfg.official_train:
            for p in (cfg.official_train, cfg.official_test):
                if not Path(p).is_dir():
                    raise UsageError(f"no Physion folder at {p}")
        skip = not_run(cfg)
        if all(m in skip for m in cfg.models):
            raise UsageError("no model can be read out: " + "; ".join(f"{m}: {why}" for m, why in skip.items()))

    def cells(self, cfg: PhysionEvalConfig) -> list[Cell]:
        # as metrics.json stores it (lists, not tuples), so a rerun finds its finished cells
        fields = json.loads(json.dumps(experiment_fields(cfg)))
        fields["data"] = "" if cfg.official_train else str(scenes_folder(cfg))
        skip = not_run(cfg)
        return [Cell(m, cfg.seed + i, {**fields, "seed": cfg.seed + i, "model": m})
                for m in cfg.models if m not in skip for i in range(cfg.n_seeds)]

    def threads_per_worker(self, cfg: PhysionEvalConfig) -> int:
        return cfg.threads

    prepared_keys = ("source",)

    def prepare(self, cfg: PhysionEvalConfig, out: Path) -> dict:
        """Generate (or extend) the scenes every cell reads; nothing to do for official files."""
        if cfg.official_train:
            return {"source": {"kind": "official", "train": cfg.official_train, "test": cfg.official_test}}
        data = scenes_folder(cfg)
        t0 = time.perf_counter()
        gen = {}
        for split, n in (("readout_training", cfg.readout_per_scenario), ("test", cfg.test_per_scenario),
                         ("dynamics_training", cfg.dynamics_per_scenario)):
            if n:
                gen[split] = PS.generate_split(data, split, n, tuple(cfg.scenarios), observe_s=observe_seconds(cfg),
                                               log=print)
        return {"source": {"kind": "generated", "folder": str(data), "generation": gen,
                           "generate_s": time.perf_counter() - t0,
                           "note": "NSCA's MuJoCo scenes in Physion's protocol, not the official Physion stimuli"}}

    def summarize(self, cfg: PhysionEvalConfig, records: list[dict]) -> dict:
        from nsca.stats import strict_json, summarize

        first = records[0]["metrics"]  # every cell reads the same clips
        results: dict = {}
        for r in records:
            m = r["metrics"]
            if m["seed"] == cfg.seed:
                results[m["model"]] = m["result"]
        if cfg.n_seeds > 1:
            for name in results:
                runs = [r["metrics"]["result"] for r in records if r["metrics"]["model"] == name]
                over = {}
                for protocol in PROTOCOLS:
                    accs = [x[protocol]["mean"]["accuracy"] for x in runs if x[protocol]["mean"] is not None]
                    if accs:
                        over[protocol] = {"per_seed": accs, **summarize(accs, seed=0)}
                results[name]["over_seeds"] = over
        return strict_json({
            "observe_s": observe_seconds(cfg),
            "counts": first["counts"],
            "skipped": {k: v["n"] for k, v in first["skipped"].items()},
            "skipped_first": {k: v["first"] for k, v in first["skipped"].items()},
            "scenarios": first["scenarios"],
            "left_out": PS.LEFT_OUT,
            "results": results,
            "not_run": not_run(cfg),
            "references": {"human_accuracy": HUMAN_ACCURACY, "human_mean": HUMAN_MEAN, "models": MODEL_REFERENCES,
                           "source": "Physion repository (results/csv/summary/human_accuracy_by_scenario.csv); "
                                     "quoted, not re-downloaded"},
            "timing_s": {"decode_s": first["decode_s"]},
        })

    def report_lines(self, results: dict) -> list[str]:
        lines = [f"skipped {n} trial(s): {kind} (first: {results.get('skipped_first', {}).get(kind, '?')})"
                 for kind, n in results["skipped"].items()]
        return lines + format_report(results).splitlines()

    def plot(self, cfg: PhysionEvalConfig, records: list[dict], results: dict):
        return accuracy_figure(results)

    def extra_files(self, results: dict) -> dict[str, str]:
        return {"results.csv": _csv(results)}


EXPERIMENT = Physion()


def run_physion_eval(cfg: PhysionEvalConfig) -> dict:
    """The suite through the one experiment driver (start-run, scenes, the cells, finish-run)."""
    from nsca.experiments.protocol import run_experiment

    return run_experiment(EXPERIMENT, cfg)


def _model_for(name: str, cfg: PhysionEvalConfig) -> Any:
    from nsca.model.config import preset
    from nsca.model.trained import random_init

    if name == "nsca":
        return load_nsca(cfg.checkpoint)
    if name == "nsca_noprior":
        return load_nsca(cfg.checkpoint_noprior)
    # random_init: the architecture of the trained model when there is one, else the preset.
    ref = cfg.checkpoint or cfg.checkpoint_noprior
    model_cfg = load_nsca(ref).cfg if ref else preset(cfg.preset)
    return random_init(model_cfg, cfg.seed)


def _csv(report: dict) -> str:
    lines = ["model,protocol,scenario,accuracy,ci95_low,ci95_high,n"]
    for model, res in report["results"].items():
        for protocol in (*PROTOCOLS, "zero_shot"):
            if protocol not in res:
                continue
            block = res[protocol]
            rows = [*block["per_scenario"].items(), ("mean", block["mean"])]
            for s, r in rows:
                if r is None:
                    continue
                vals = ["" if r[k] is None else f"{r[k]:.4f}" for k in ("accuracy", "ci95_low", "ci95_high")]
                lines.append(f"{model},{protocol},{s},{','.join(vals)},{r['n']}")
    return "\n".join(lines) + "\n"


def format_report(report: dict) -> str:
    scen = report["scenarios"]
    head = "| model | protocol | " + " | ".join(scen) + " | mean [95% CI] |"
    lines = [f"Physion OCP readout ({report['source']['kind']} data; {report['counts']['readout_training']} readout-training "
             f"/ {report['counts']['test']} test trials)", "", head, "|" + "---|" * (len(scen) + 3)]
    for model, res in report["results"].items():
        for protocol in (*PROTOCOLS, "zero_shot"):
            if protocol not in res:
                continue
            block = res[protocol]
            m = block["mean"]
            if m is None:  # all_but_one with a single scenario has nothing to train on
                continue
            cells = [f"{block['per_scenario'][s]['accuracy']:.2f}" if s in block["per_scenario"] else "-" for s in scen]
            lines.append(f"| {model} | {protocol} | " + " | ".join(cells)
                         + f" | {m['accuracy']:.3f} [{m['ci95_low']:.2f}, {m['ci95_high']:.2f}] |")
    human = [f"{HUMAN_ACCURACY[s]:.2f}" for s in scen]
    lines.append("| human (Physion) | - | " + " | ".join(human) + f" | {HUMAN_MEAN:.3f} (8 scenarios) |")
    for name, acc in MODEL_REFERENCES.items():
        lines.append(f"| {name} (Physion) | - | " + " | ".join("-" for _ in scen) + f" | {acc:.3f} |")
    for name, why in report["not_run"].items():
        lines.append(f"\n{name}: not run ({why})")
    if report["skipped"]:
        lines.append("\nskipped: " + ", ".join(f"{k}: {v}" for k, v in report["skipped"].items()))
    return "\n".join(lines)


def accuracy_figure(report: dict):
    """Accuracy per scenario under the 'all' protocol, one bar per model, human accuracy beside."""
    import matplotlib.pyplot as plt

    scen = report["scenarios"]
    models = list(report["results"])
    fig, ax = plt.subplots(figsize=(1.2 * len(scen) + 3, 3.5))
    width = 0.8 / (len(models) + 1)
    x = np.arange(len(scen))
    for i, m in enumerate(models):
        per = report["results"][m]["all"]["per_scenario"]
        ax.bar(x + i * width, [per[s]["accuracy"] if s in per else 0 for s in scen], width, label=f"{m} (all)")
    ax.bar(x + len(models) * width, [HUMAN_ACCURACY[s] for s in scen], width, label="human (Physion)", color="k", alpha=0.4)
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_xticks(x + 0.4 - width / 2, scen)
    ax.set_ylim(0, 1)
    ax.set_ylabel("OCP accuracy")
    ax.legend(fontsize=7, ncol=2)
    return fig
