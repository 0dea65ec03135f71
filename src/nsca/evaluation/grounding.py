"""`nsca eval grounding`: is hardness heard and mass felt in the trained model's latent, on
objects whose materials it never met?

It is a grounding test only for a checkpoint trained without hardness supervision (`nsca train
--no-model.material-heads`: no material/hardness head, so nothing in training names the
material); the report's first line says which kind each probed checkpoint is.

A linear probe (multinomial logistic regression on standardised features, L2 strength chosen
by stratified 5-fold cross-validation: the Physion readout's `fit_readout` with a multinomial
fit) is trained on the objects of a `nsca babble` store and tested on held-out objects:

- hardness class (soft / medium / hard) from the strikes of an object, given the model its
  audio only (`hardness_audio`) or its audio and frames (`hardness_audio_vision`);
- mass class (light / medium / heavy) from its lifts and shakes, given the model frames,
  proprioception and object state (no audio: the loudness of a knock scales with mass).

Features, per source, for one interaction of F recorded frames:

- nsca / nsca_noprior: the frozen fused latent z = `NSCAModel.encode` of a `nsca train`
  checkpoint (all encoders and the fusion loaded) at every recorded step k, with the inputs a
  training transition at step k has (frames k-3..k, the 4000 audio samples ending at frame k,
  the state at k): no input carries sound or images from after step k. Hardness: the mean of
  z over the steps whose audio window holds an impact (peak above the microphone floor);
  mass: the mean of z over all steps;
- random_init: the same architecture at random init (the checkpoint's input normalisation kept);
- handmade: the features of `nsca.babbling.probe` (loudness-free spectrum shares, centroid and
  decay of the strongest impact; rise, competence, slip, wobble and the hand's sag).

Per object, an interaction's features are averaged over its strikes that made a sound
(hardness), or over its lifts and over its shakes, concatenated (mass). One prediction per
held-out object and cell (feature source x training checkpoint x readout seed). An arm's
headline is the mean over all its cells (each training checkpoint's mean over readout seeds,
then the mean over checkpoints), with a 95 % bootstrap CI over held-out objects of their hit
rates, beside chance (1/3) and the held-out majority-class share; with >= 2 training seeds per
arm, the across-training-seed mean and the prior vs no-prior comparison paired by training seed.

The held-out objects: the babble probe's held-out catalogue (another seed, and the **held-out
materials** of `nsca.envs.objects`, which no babbling store contains: the probe refuses a
store that holds one). Every object, in babbling and here, has its own jittered constants
(modal frequency and decay, contact stiffness, friction, restitution), so the hardness label is
not a constant of what the model observes. The probe generates their interactions itself
(simulated, rendered, with audio; fixed seed): `per_primitive` strikes, lifts and shakes per
object with uniformly random parameters and spawn, as the explorer's random phase draws them,
written as a babbling store in `<out>/heldout` (reused by a rerun).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nsca.config import field
from nsca.errors import UsageError
from nsca.experiments.protocol import Experiment, RunConfig, experiment_fields, out_field
from nsca.runner import Cell

SOURCES = ("nsca", "nsca_noprior", "random_init", "handmade")
HELDOUT_PRIMITIVES = ("strike", "lift", "shake")
MODALITIES = ("vision", "audio", "proprio", "state")
AUDIO_WINDOW = 4000   # samples of the model's audio input: a training transition's (BabblingDataset default)
AUDIBLE = 1e-3        # peak amplitude of an impact (above the 1e-4 microphone floor), as audio.audio_features
N_CLASSES = 3
SHARD_INTERACTIONS = 240
FEW_SEEDS = 5         # below this many training seeds a bootstrap CI over them is little more than their range
ENCODE_BATCH = 256


@dataclass(frozen=True)
class Task:
    label: str                      # store column
    primitives: tuple[str, ...]     # interactions read (their object means are concatenated)
    modalities: tuple[str, ...]     # what the model is given
    handmade: str | None            # the hand-made features: "hear", "feel", or none
    title: str


TASKS = {
    "hardness_audio": Task("hardness_class", ("strike",), ("audio",), "hear", "hardness from audio"),
    "hardness_audio_vision": Task("hardness_class", ("strike",), ("audio", "vision"), None, "hardness from audio + vision"),
    "mass": Task("mass_class", ("lift", "shake"), ("vision", "proprio", "state"), "feel", "mass from lift/shake"),
}
SOURCE_TITLES = {"nsca": "trained (checkpoint)", "nsca_noprior": "trained (checkpoint_noprior)",
                 "random_init": "random init (same architecture)", "handmade": "hand-made features (babble probe)"}


@dataclass(frozen=True)
class GroundingEvalConfig(RunConfig):
    """The probe's fields plus the run fields every experiment has (`--out`, `--workers`,
    `--backend`, `--address`; `--seeds N`: readout seeds `seed .. seed+N-1`)."""

    n_seeds: int = field(1, "readout seeds per feature source and checkpoint: seed, seed+1, .. (random init, CV folds, "
                            "bootstrap); an arm's headline is the mean over them", flags=("--seeds", "--n-seeds"))
    out: str = out_field("runs/eval/grounding")
    checkpoint: tuple[str, ...] = field((), "`nsca train` run folders or checkpoints (vision, audio, proprio and state), "
                                            "one per training seed, whose latent is probed (arm 'nsca'; the first also "
                                            "gives random_init its architecture)")
    checkpoint_noprior: tuple[str, ...] = field((), "optional second arm, e.g. trained with --prior none, one run per "
                                                    "training seed (arm 'nsca_noprior'; paired with --checkpoint by the "
                                                    "runs' training seeds)")
    data: str = field("", "the `nsca babble --render --audio` store the probe trains on (default: $NSCA_DATA_ROOT/babbling)")
    held_out_objects: int = field(100, "held-out objects (held-out materials) the probe generates and tests on")
    per_primitive: int = field(4, "interactions per held-out object and primitive (strike, lift, shake)")
    models: tuple[str, ...] = field(SOURCES, "feature sources: nsca, nsca_noprior, random_init, handmade")
    seed: int = field(0, "seed of the held-out objects and their interactions, random init, CV folds and bootstrap")
    threads: int = field(1, "torch threads for feature extraction")

    def validate(self) -> None:
        super().validate()
        if not self.checkpoint:
            raise UsageError("--checkpoint is required: a `nsca train` run folder (trained with vision, audio, proprio "
                             "and state) whose latent the probe reads")
        bad = [m for m in self.models if m not in SOURCES]
        if bad:
            raise UsageError(f"unknown model {bad[0]!r}; choose from {', '.join(SOURCES)}")
        if self.held_out_objects < 3:
            raise UsageError(f"held_out_objects={self.held_out_objects} must be at least 3")
        if self.per_primitive < 1:
            raise UsageError(f"per_primitive={self.per_primitive} must be at least 1")
        if self.threads < 1:
            raise UsageError(f"threads={self.threads} must be at least 1")


# ---- the multinomial readout -----------------------------------------------------------------
@dataclass
class MultinomialReadout:
    """L2-regularised multinomial logistic regression on standardised features (scipy L-BFGS)."""

    mean: np.ndarray
    std: np.ndarray
    w: np.ndarray  # (d, K)
    b: np.ndarray  # (K,)
    C: float

    def decision(self, X: np.ndarray) -> np.ndarray:
        Z = torch.from_numpy(np.ascontiguousarray((X - self.mean) / self.std, dtype=np.float64))
        return (Z @ torch.from_numpy(self.w) + torch.from_numpy(self.b)).numpy()

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.argmax(self.decision(X), axis=1).astype(np.int64)


def fit_multinomial(X: np.ndarray, y: np.ndarray, C: float, n_classes: int = N_CLASSES) -> MultinomialReadout:
    """Minimise sum of -log p(y|x) + ||W||^2 / (2C) (the bias is not penalised), the Physion
    readout's objective, with L-BFGS, in torch on one thread (float64) rather than scipy: scipy's
    L-BFGS-B calls its bundled BLAS, and BLAS or OpenMP threads spin against each other on a busy
    machine (measured here: 110 ms instead of 1 ms per fit; 2 torch threads, 200x slower)."""
    mean, std = X.mean(0), X.std(0)
    std = np.where(std > 1e-8, std, 1.0)
    Z = torch.from_numpy(np.ascontiguousarray((X - mean) / std, dtype=np.float64))
    d = Z.shape[1]
    Y = torch.from_numpy(np.eye(n_classes)[y])
    w = torch.zeros(d, n_classes, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=500, history_size=10, tolerance_grad=1e-7,
                            tolerance_change=1e-12, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = -(Y * torch.log_softmax(Z @ w + b, dim=1)).sum() + 0.5 * (w * w).sum() / C
        loss.backward()
        return loss

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        opt.step(closure)
    finally:
        torch.set_num_threads(threads)
    return MultinomialReadout(mean, std, w.detach().numpy().copy(), b.detach().numpy().copy(), C)


FALLBACK_C = 1.0


def fit_probe(X: np.ndarray, y: np.ndarray, seed: int) -> tuple[MultinomialReadout, bool]:
    """(readout, whether C was chosen by CV): C by stratified k-fold CV (Physion's `fit_readout`),
    refit on all the training objects; with a class of a single training object there is no
    fold to hold it out, so C = FALLBACK_C."""
    from nsca.evaluation.physion_ocp import fit_readout

    counts = np.bincount(y, minlength=N_CLASSES)
    if (counts > 0).sum() < 2:
        raise UsageError(f"the probe's training objects hold one class only ({counts.tolist()}); "
                         "a babbling store with more objects is needed")
    if counts[counts > 0].min() < 2:
        return fit_multinomial(X, y, FALLBACK_C), False
    return fit_readout(X, y, seed, fit=fit_multinomial), True


# ---- the stores ------------------------------------------------------------------------------
def default_store(cfg: GroundingEvalConfig) -> Path:
    from nsca.data.store import default_babbling_dir

    return Path(cfg.data) if cfg.data else default_babbling_dir()


def heldout_folder(cfg: GroundingEvalConfig) -> Path:
    return Path(cfg.out) / "heldout"


def store_facts(root: Path) -> dict:
    """What the probe needs from a babbling store, checked: one-line UsageErrors otherwise."""
    from nsca.data.store import FORMAT, shard_paths
    from nsca.priors.state import STATE_DIM
    from nsca.utils.io import read_json

    schema = read_json(root / "schema.json")
    if not isinstance(schema, dict) or schema.get("format") != FORMAT:
        raise UsageError(f"no babbling dataset at {root} (schema.json missing or not {FORMAT}); "
                         "run `nsca babble --render --audio` first")
    if schema.get("scene", "playground") != "playground":
        raise UsageError(f"{root} holds {schema['scene']} babbling; the probe reads playground stores (catalogue objects)")
    features = schema.get("features", {})
    for name, flag in (("frame", "--render"), ("audio", "--audio")):
        if name not in features:
            raise UsageError(f"{root} has no {name} column; the probe needs a store made with `nsca babble --render --audio` "
                             f"(missing {flag})")
    if features["state"]["shape"] != [STATE_DIM]:
        raise UsageError(f"{root} stores {features['state']['shape']} state floats; this version reads {STATE_DIM}")
    config = read_json(root / "config.json")
    if not isinstance(config, dict) or not isinstance(config.get("seed"), int):
        raise UsageError(f"{root}/config.json is missing or unreadable (the store's seed is needed)")
    if not shard_paths(root):
        raise UsageError(f"no shards in {root}/shards; run `nsca babble` first")
    record_every = int(schema["record_every_control_steps"])
    frames = int(schema["frames_per_episode"])
    return {"seed": int(config["seed"]), "record_every": record_every, "n_steps": (frames - 1) * record_every,
            "frames_per_episode": frames, "primitives": list(schema["labels"]["primitive"])}


@dataclass
class Episodes:
    """Interactions of one shard (the primitives asked for): per-episode labels, per-frame data."""

    object_id: np.ndarray   # (E,)
    primitive: np.ndarray   # (E,) names
    labels: dict[str, np.ndarray]
    competence: np.ndarray  # (E,)
    states: np.ndarray      # (E, F, STATE_DIM) float32
    audio: np.ndarray       # (E, F, samples per frame) float32: frame k = sound from frame k-1 to k
    frames: np.ndarray | None  # (E, F, 64, 64, 3) uint8


def iter_episodes(root: Path, primitives: tuple[str, ...], with_frames: bool) -> Iterator[Episodes]:
    from nsca.data.store import column_to_numpy, read_shard, shard_paths

    facts = store_facts(root)
    F = facts["frames_per_episode"]
    wanted = [facts["primitives"].index(p) for p in primitives]
    cols = ["frame_index", "object_id", "primitive", "competence", "hardness_class", "mass_class", "state", "audio"]
    for path in shard_paths(root):
        t = read_shard(path, cols + (["frame"] if with_frames else []))
        prim = column_to_numpy(t.column("primitive"))
        frame_index = column_to_numpy(t.column("frame_index"))
        if len(prim) % F or not (frame_index.reshape(-1, F) == np.arange(F)).all():
            raise UsageError(f"shard {path} does not hold whole {F}-frame interactions; delete it and rerun")
        keep_rows = np.isin(prim, wanted)
        if not keep_rows.any():
            continue
        first = keep_rows.reshape(-1, F)[:, 0]
        col = {c: column_to_numpy(t.column(c)) for c in t.column_names}
        ep = {c: col[c].reshape(-1, F)[first, 0] for c in ("object_id", "primitive", "competence", "hardness_class", "mass_class")}
        per_frame = {c: col[c].reshape(-1, F, *col[c].shape[1:])[first] for c in ("state", "audio", *(["frame"] if with_frames else []))}
        yield Episodes(
            object_id=ep["object_id"].astype(np.int64),
            primitive=np.array([facts["primitives"][int(p)] for p in ep["primitive"]]),
            labels={k: ep[k].astype(np.int64) for k in ("hardness_class", "mass_class")},
            competence=ep["competence"].astype(np.float64),
            states=per_frame["state"].astype(np.float32),
            audio=per_frame["audio"].astype(np.float32),
            frames=per_frame["frame"].reshape(-1, F, 64, 64, 3) if with_frames else None,
        )


# ---- features ----------------------------------------------------------------------------------
def model_inputs(frames: np.ndarray | None, audio: np.ndarray | None, states: np.ndarray | None,
                 frame_stack: int) -> dict[str, torch.Tensor]:
    """The model's inputs at every recorded step k of a batch of interactions, flattened to
    (B * F, ...): as a training transition at step k sees them (`BabblingDataset`): frames k-3..k
    (the first repeated at the start), the AUDIO_WINDOW samples ending at frame k (zero-padded),
    the state at k. Nothing after step k."""
    obs: dict[str, torch.Tensor] = {}
    if frames is not None:
        B, F = frames.shape[:2]
        k = np.arange(F)
        stack = np.maximum(k[:, None] - np.arange(frame_stack - 1, -1, -1)[None], 0)  # (F, stack)
        x = torch.from_numpy(np.ascontiguousarray(frames[:, stack]))  # (B, F, stack, 64, 64, 3)
        obs["frames"] = x.reshape(B * F, frame_stack, 64, 64, 3).permute(0, 1, 4, 2, 3).float().div_(255.0)
    if audio is not None:
        B, F, S = audio.shape
        wave = np.concatenate([np.zeros((B, AUDIO_WINDOW), np.float32), audio.reshape(B, F * S)], 1)
        ends = (np.arange(F) + 1) * S  # frame k's window ends where its own sound ends
        idx = ends[:, None] + np.arange(AUDIO_WINDOW)[None]  # in the padded wave
        obs["audio"] = torch.from_numpy(np.ascontiguousarray(wave[:, idx])).reshape(B * F, AUDIO_WINDOW)
    if states is not None:
        obs["state"] = torch.from_numpy(np.ascontiguousarray(states)).reshape(-1, states.shape[-1])
    return obs


def encode_steps(model: Any, obs: dict[str, torch.Tensor], n: int) -> np.ndarray:
    """z of the n flattened steps, in batches."""
    out = []
    with torch.no_grad():
        for i in range(0, n, ENCODE_BATCH):
            out.append(model.encode({k: v[i:i + ENCODE_BATCH] for k, v in obs.items()}).double().numpy())
    return np.concatenate(out)


def audible_steps(audio: np.ndarray) -> np.ndarray:
    """(B, F) whether the model's audio window ending at each step holds an impact."""
    B, F = audio.shape[:2]
    windows = model_inputs(None, audio, None, 1)["audio"]
    return (windows.abs().amax(-1) >= AUDIBLE).reshape(B, F).numpy()


def audible(audio_rows: np.ndarray) -> bool:
    """The interaction made a sound (the hand-made hearing features' own test)."""
    from nsca.babbling.audio import audio_features

    return bool(audio_features(audio_rows.reshape(-1))[-1] == 0.0)


def interaction_features(source: str, model: Any, eps: Episodes, task: Task, batch: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(features (n, d), episode positions) of `eps`'s interactions that `task` reads."""
    from nsca.priors import state as S

    idx = np.flatnonzero(np.isin(eps.primitive, task.primitives))
    if task.handmade == "hear" or "audio" in task.modalities:
        idx = np.array([i for i in idx if audible(eps.audio[i])], dtype=np.int64)
    if idx.size == 0:
        return np.zeros((0, 0)), idx
    if source == "handmade":
        from nsca.babbling.audio import audio_features
        from nsca.babbling.probe import feel_features

        if task.handmade == "hear":
            rows = [audio_features(eps.audio[i].reshape(-1)) for i in idx]
        else:
            rows = [feel_features(eps.states[i], eps.competence[i], eps.states[i][-1, S.TARGET]) for i in idx]
        return np.stack(rows).astype(np.float64), idx
    feats = []
    mods = task.modalities
    for j in range(0, idx.size, batch):
        sel = idx[j:j + batch]
        obs = model_inputs(eps.frames[sel] if "vision" in mods else None, eps.audio[sel] if "audio" in mods else None,
                           eps.states[sel] if ("state" in mods or "proprio" in mods) else None, model.cfg.frame_stack)
        B, F = len(sel), eps.states.shape[1]
        z = encode_steps(model, obs, B * F).reshape(B, F, -1)
        if "audio" in mods:  # the steps that hear the impact
            w = audible_steps(eps.audio[sel]).astype(np.float64)
            feats.append((z * w[..., None]).sum(1) / np.maximum(w.sum(1, keepdims=True), 1.0))
        else:
            feats.append(z.mean(1))
    return np.concatenate(feats), idx


@dataclass
class TaskData:
    """Per object: features, label; and how many interactions fed them."""

    X: np.ndarray
    y: np.ndarray
    object_ids: np.ndarray
    interactions: int


def extract(root: Path, source: str, model: Any, tasks: dict[str, Task]) -> dict[str, TaskData]:
    """Per task, per object: the mean features of its interactions (one block per primitive)."""
    prims = tuple(sorted({p for t in tasks.values() for p in t.primitives}))
    with_frames = source != "handmade" and any("vision" in t.modalities for t in tasks.values())
    per: dict[str, dict[tuple[int, str], list[np.ndarray]]] = {name: {} for name in tasks}
    labels: dict[str, dict[int, int]] = {name: {} for name in tasks}
    for eps in iter_episodes(root, prims, with_frames):
        for name, task in tasks.items():
            X, idx = interaction_features(source, model, eps, task)
            for x, i in zip(X, idx):
                oid = int(eps.object_id[i])
                per[name].setdefault((oid, str(eps.primitive[i])), []).append(x)
                labels[name][oid] = int(eps.labels[task.label][i])
    out = {}
    for name, task in tasks.items():
        objects = sorted(o for o in labels[name] if all((o, p) in per[name] for p in task.primitives))
        if not objects:
            out[name] = TaskData(np.zeros((0, 0)), np.zeros(0, np.int64), np.zeros(0, np.int64), 0)
            continue
        X = np.stack([np.concatenate([np.mean(per[name][(o, p)], 0) for p in task.primitives]) for o in objects])
        n = sum(len(per[name][(o, p)]) for o in objects for p in task.primitives)
        out[name] = TaskData(X, np.array([labels[name][o] for o in objects]), np.array(objects), n)
    return out


# ---- models --------------------------------------------------------------------------------
def load_probed(path: str) -> Any:
    """A checkpoint's encoders and fusion (what `encode` runs), frozen."""
    from nsca.model.trained import ENCODERS_AND_FUSION, load_trained

    model = load_trained(path, ENCODERS_AND_FUSION, needs=MODALITIES, reads="audio, frames, proprio and state",
                         part_name="encoder/fusion")
    return model.eval()


def arms(cfg: GroundingEvalConfig) -> dict[str, tuple[str, ...]]:
    """The trained arms' checkpoints, one per training seed."""
    return {"nsca": tuple(cfg.checkpoint), "nsca_noprior": tuple(cfg.checkpoint_noprior)}


def model_for(source: str, cfg: GroundingEvalConfig, train_index: int) -> Any:
    from nsca.model.trained import random_init

    if source == "handmade":
        return None
    if source in ("nsca", "nsca_noprior"):
        return load_probed(arms(cfg)[source][train_index])
    trained = load_probed(cfg.checkpoint[0])
    return random_init(trained.cfg, cfg.seed, buffers_from=trained).eval()


def checkpoint_facts(ref: str) -> dict:
    """What the report says of a probed checkpoint: its training seed, whether it was built with
    the material/hardness head, and whether that head supervised its latent (a loss weight > 0)."""
    from nsca.model.trained import locate, read_run
    from nsca.training.config import TrainConfig

    run = read_run(locate(ref)[0])
    weights = {k: float(run.config.get(k, getattr(TrainConfig, k))) for k in ("w_material", "w_hardness")}
    heads = bool(run.model.material_heads)
    seed = run.config.get("seed")
    return {"checkpoint": ref, "training_seed": seed if isinstance(seed, int) else None, "material_heads": heads,
            **weights, "hardness_supervised": heads and any(w > 0 for w in weights.values())}


def store_materials(root: Path) -> set[str]:
    """The base materials the store's interactions used (its shards' `material` column)."""
    from nsca.data.store import column_to_numpy, read_shard, shard_paths
    from nsca.utils.io import read_json

    names = read_json(root / "schema.json")["labels"]["material"]
    ids: set[int] = set()
    for path in shard_paths(root):
        ids |= {int(i) for i in np.unique(column_to_numpy(read_shard(path, ["material"]).column("material")))}
    return {names[i] for i in ids}


# ---- held-out objects ----------------------------------------------------------------------
def heldout_seed(cfg: GroundingEvalConfig, store_seed: int) -> int:
    """The held-out catalogue's seed: with --seed 0, that of `nsca babble`'s probe (store seed +
    HELD_OUT_SEED_OFFSET), so the shapes, sizes, masses and colours are the same objects."""
    from nsca.babbling.workers import HELD_OUT_SEED_OFFSET

    return store_seed + HELD_OUT_SEED_OFFSET + cfg.seed


def heldout_catalogue(cfg: GroundingEvalConfig, store_seed: int) -> list:
    """The babble probe's held-out catalogue: the held-out materials, every object's constants its own."""
    from nsca.envs.objects import make_catalogue

    return make_catalogue(cfg.held_out_objects, heldout_seed(cfg, store_seed), split="heldout")


def check_materials_held_out(cfg: GroundingEvalConfig, root: Path, store_seed: int) -> list[str]:
    """The held-out catalogue's materials, none of which the store may contain (else the probe
    would test on materials the model was trained on): a one-line UsageError otherwise."""
    from nsca.envs.objects import TRAIN_MATERIALS, catalogue_config
    from nsca.utils.io import read_json

    held = sorted({o.material for o in heldout_catalogue(cfg, store_seed)})
    shared = sorted(store_materials(root) & set(held))
    if shared:
        raise UsageError(f"the babbling store {root} holds held-out material(s) {', '.join(shared)}: the probe would test on "
                         f"materials the model was trained on; babble a store with this version (train materials: "
                         f"{', '.join(TRAIN_MATERIALS)})")
    if read_json(root / "config.json").get("catalogue") != catalogue_config():
        raise UsageError(f"the babbling store {root} was written with another catalogue (before the material split or with "
                         "other jitter: its objects' constants may be their materials' own); babble a store with this version")
    return held


def heldout_specs(n_objects: int, per_primitive: int, seed: int) -> list:
    """Per object and primitive, `per_primitive` interactions with uniformly random parameters
    and spawn (the explorer's random phase)."""
    from nsca.babbling.interaction import InteractionSpec
    from nsca.babbling.primitives import COMPATIBLE_SPAWNS, N_PARAMS

    rng = np.random.default_rng([seed, 0x6E1D])
    specs = []
    for oid in range(n_objects):
        for prim in HELDOUT_PRIMITIVES:
            for _ in range(per_primitive):
                spawns = COMPATIBLE_SPAWNS[prim]
                params = tuple(float(round(x, 6)) for x in rng.random(N_PARAMS))
                specs.append(InteractionSpec(len(specs), oid, spawns[int(rng.integers(len(spawns)))], prim, params,
                                             int(rng.integers(2**31 - 1)), phase=2))
    return specs


def generate_heldout(cfg: GroundingEvalConfig, facts: dict, folder: Path, log: Any = print) -> dict:
    """Simulate, render and record (with audio) the held-out interactions into a babbling store
    at `folder`; finished shards of an earlier run with the same settings are kept."""
    from nsca.babbling.interaction import Worker
    from nsca.babbling.shards import InteractionWriter
    from nsca.envs.objects import catalogue_config

    catalogue = heldout_catalogue(cfg, facts["seed"])
    specs = heldout_specs(len(catalogue), cfg.per_primitive, cfg.seed)
    data_config = {"generator": "nsca eval grounding (held-out objects)", "store_seed": facts["seed"], "seed": cfg.seed,
                   "held_out_objects": cfg.held_out_objects, "per_primitive": cfg.per_primitive,
                   "primitives": list(HELDOUT_PRIMITIVES), "n_steps": facts["n_steps"],
                   "record_every": facts["record_every"], "render": True, "audio": True, "catalogue": catalogue_config()}
    writer = InteractionWriter(folder, data_config, facts["frames_per_episode"], facts["record_every"])
    writer.save_catalogue(catalogue)
    chunks = [specs[i:i + SHARD_INTERACTIONS] for i in range(0, len(specs), SHARD_INTERACTIONS)]
    done = writer.finished({k: len(c) for k, c in enumerate(chunks)})
    t0 = time.perf_counter()
    worker = Worker(catalogue, n_steps=facts["n_steps"], record_every=facts["record_every"], render=True, audio=True)
    try:
        for k, chunk in enumerate(chunks):
            if k in done:
                continue
            writer.write(k, [worker.run(s) for s in chunk])
            log(f"held-out interactions: shard {k + 1}/{len(chunks)} ({len(chunk)} interactions)")
    finally:
        worker.close()
    return {"folder": str(folder), "objects": len(catalogue), "interactions": len(specs),
            "catalogue_seed": heldout_seed(cfg, facts["seed"]), "materials": sorted({o.material for o in catalogue}),
            "catalogue": catalogue_config(), "generate_s": time.perf_counter() - t0, "shards_reused": len(done)}


# ---- one cell --------------------------------------------------------------------------------
def cell_parts(config: dict) -> tuple[GroundingEvalConfig, str, int, Path]:
    """A cell's config as `Grounding.cells` builds it, back as (config, source, training
    checkpoint index, held-out folder)."""
    from nsca.config import from_dict

    fields = dict(config)
    source, train_index, heldout = fields.pop("model"), int(fields.pop("train_index")), Path(fields.pop("heldout"))
    return from_dict(GroundingEvalConfig, fields), source, train_index, heldout


def tasks_for(source: str) -> dict[str, Task]:
    return {k: t for k, t in TASKS.items() if source != "handmade" or t.handmade is not None}


def run_cell(config: dict, cell_dir: Path) -> dict:
    """One (feature source, training checkpoint, readout seed): features of the store's and the
    held-out objects, one probe per task, the hits on the held-out objects."""
    from nsca.stats import accuracy_ci, strict_json

    cfg, source, train_index, heldout = cell_parts(config)
    torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    model = model_for(source, cfg, train_index)
    tasks = tasks_for(source)
    train = extract(default_store(cfg), source, model, tasks)
    test = extract(heldout, source, model, tasks)
    extract_s = time.perf_counter() - t0
    res = {}
    for name in tasks:
        tr, te = train[name], test[name]
        if len(te.y) == 0:
            raise UsageError(f"no held-out object has the interactions task {name} reads")
        if len(tr.y) == 0:
            raise UsageError(f"no object of the babbling store has the interactions task {name} reads")
        probe, cv = fit_probe(tr.X, tr.y, cfg.seed)
        pred = probe.predict(te.X)
        confusion = np.zeros((N_CLASSES, N_CLASSES), np.int64)
        np.add.at(confusion, (te.y, pred), 1)
        res[name] = {**accuracy_ci(pred == te.y, cfg.seed), "C": probe.C, "C_by_cv": cv,
                     "feature_dim": int(tr.X.shape[1]),
                     "train_accuracy": float((probe.predict(tr.X) == tr.y).mean()), "confusion": confusion.tolist(),
                     "object_ids": te.object_ids.tolist(), "correct": (pred == te.y).astype(int).tolist()}
    counts = {name: {"train_objects": int(len(train[name].y)), "train_interactions": train[name].interactions,
                     "train_class_counts": np.bincount(train[name].y, minlength=N_CLASSES).tolist(),
                     "test_objects": int(len(test[name].y)), "test_interactions": test[name].interactions,
                     "test_class_counts": np.bincount(test[name].y, minlength=N_CLASSES).tolist()} for name in tasks}
    return strict_json({"model": source, "train_index": train_index, "seed": cfg.seed, "result": res, "counts": counts,
                        "extract_and_fit_s": time.perf_counter() - t0, "extract_s": extract_s})


# ---- the summary -------------------------------------------------------------------------------
def arm_summary(cells: dict[int, dict[int, dict]], task: str, facts: list[dict] | None) -> dict:
    """One arm on one task, from its cells {training index: {readout seed: result}}: the mean over
    all cells (each checkpoint's mean over readout seeds, then over checkpoints) with a bootstrap CI
    over held-out objects of their hit rates; per checkpoint its readout seeds; with >= 2
    checkpoints the spread over training seeds."""
    from nsca.stats import bootstrap_ci, summarize

    runs = [cells[t][s][task] for t in sorted(cells) for s in sorted(cells[t])]
    ids = runs[0]["object_ids"]
    if any(r["object_ids"] != ids for r in runs):
        raise ValueError(f"cells of one arm tested {task} on different held-out objects")
    hit_rate = np.mean([r["correct"] for r in runs], axis=0)
    first = min(s for t in cells for s in cells[t])
    lo, hi = bootstrap_ci(hit_rate, seed=first, n_boot=2000)
    per_training = []
    for t in sorted(cells):
        seeds = sorted(cells[t])
        accs = [cells[t][s][task]["accuracy"] for s in seeds]
        per_training.append({"train_index": t, **({k: facts[t][k] for k in ("checkpoint", "training_seed")} if facts else {}),
                             "mean": float(np.mean(accs)), "readout_seeds": seeds, "per_readout_seed": accs})
    block = {"accuracy": float(hit_rate.mean()), "ci95_low": lo, "ci95_high": hi, "n": int(hit_rate.size),
             "cells": len(runs), "per_training_seed": per_training, "object_ids": ids, "hit_rate": hit_rate.tolist(),
             "confusion": np.sum([r["confusion"] for r in runs], axis=0).tolist(),
             "feature_dim": runs[0]["feature_dim"], "train_accuracy": float(np.mean([r["train_accuracy"] for r in runs])),
             "C": [r["C"] for r in runs]}
    if len(per_training) >= 2:
        block["across_training_seeds"] = summarize([p["mean"] for p in per_training], seed=first)
    return block


def paired_differences(results: dict, seed: int) -> dict:
    """Hit rate of each trained arm minus random_init's, handmade's (and nsca's minus
    nsca_noprior's) on the same held-out objects, each object's hit rate averaged over the arm's
    cells, with a paired 95% bootstrap CI (resampling objects)."""
    from nsca.stats import bootstrap_ci

    out: dict = {}
    for source, res in results.items():
        if source not in ("nsca", "nsca_noprior"):
            continue
        for ref in ("random_init", "handmade", "nsca_noprior"):
            if ref == source or ref not in results or (source, ref) == ("nsca_noprior", "nsca"):
                continue
            for task, block in res.items():
                other = results[ref].get(task)
                if other is None or other["object_ids"] != block["object_ids"]:
                    continue
                d = np.array(block["hit_rate"]) - np.array(other["hit_rate"])
                lo, hi = bootstrap_ci(d, seed=seed, n_boot=2000)
                out.setdefault(source, {}).setdefault(task, {})[f"minus_{ref}"] = {
                    "difference": float(d.mean()), "ci95_low": lo, "ci95_high": hi, "n": int(d.size)}
    return out


def paired_over_training_seeds(results: dict, checkpoints: dict, seed: int) -> dict:
    """nsca minus nsca_noprior, paired by training seed (each run's mean over readout seeds):
    `stats.paired_compare` over the training seeds both arms have, when there are >= 2; else why not."""
    from nsca.stats import paired_compare

    if "nsca" not in results or "nsca_noprior" not in results:
        return {"not_run": "needs both --checkpoint and --checkpoint-noprior"}
    seeds = [{f["training_seed"]: i for i, f in enumerate(checkpoints[arm])} for arm in ("nsca", "nsca_noprior")]
    common = sorted(set(seeds[0]) & set(seeds[1]) - {None})
    if len(common) < 2:
        return {"not_run": f"needs >= 2 training seeds in both arms, has {len(common)} in common"}
    out: dict = {"training_seeds": common}
    for task, block in results["nsca"].items():
        other = results["nsca_noprior"].get(task)
        if other is None:
            continue
        a = [block["per_training_seed"][seeds[0][s]]["mean"] for s in common]
        b = [other["per_training_seed"][seeds[1][s]]["mean"] for s in common]
        out[task] = paired_compare(a, b, n_boot=2000, seed=seed)
    return out


def supervision_line(checkpoints: dict) -> str:
    """The report's first line: whether any probed checkpoint's latent was trained to name the
    material (then the probe is not a grounding test)."""
    if not any(checkpoints.values()):
        return "no trained checkpoint probed (random init and hand-made features only): not a test of a trained latent"
    supervised = [f"{arm} {f['checkpoint']}" for arm, facts in checkpoints.items() for f in facts if f["hardness_supervised"]]
    if supervised:
        return ("probe of a checkpoint trained WITH hardness supervision: not a grounding test (material/hardness heads "
                f"trained: {', '.join(supervised)})")
    return ("probe of a checkpoint trained without hardness supervision (no material/hardness loss): a grounding test "
            "of held-out materials")


def not_run(cfg: GroundingEvalConfig) -> dict[str, str]:
    return {"nsca_noprior": "no --checkpoint-noprior given"} if "nsca_noprior" in cfg.models and not cfg.checkpoint_noprior else {}


class Grounding(Experiment):
    """`prepare` generates the held-out objects' interactions once; one cell per (feature source,
    training checkpoint, readout seed) extracts that source's features of both stores and fits the probes."""

    name = "grounding"
    help = ("grounding probe: hardness and mass class from the trained model's frozen latent, trained on the "
            "babbling store, tested on held-out objects of held-out materials")
    config = GroundingEvalConfig
    grid_fields = ("models",)
    plot_name = "accuracy.png"

    def check(self, cfg: GroundingEvalConfig) -> None:
        cfg.validate()
        root = default_store(cfg)
        check_materials_held_out(cfg, root, store_facts(root)["seed"])
        for arm, refs in arms(cfg).items():
            for ref in refs:
                load_probed(ref)
            seeds = [checkpoint_facts(ref)["training_seed"] for ref in refs]
            repeated = sorted({s for s in seeds if s is not None and seeds.count(s) > 1})
            if repeated:
                raise UsageError(f"two runs of arm {arm} share training seed {repeated[0]}; give one run per training seed")
        from nsca.babbling.run import check_egl

        check_egl("the grounding probe (it renders its held-out interactions)")

    def cells(self, cfg: GroundingEvalConfig) -> list[Cell]:
        fields = json.loads(json.dumps(experiment_fields(cfg)))
        fields["data"] = str(default_store(cfg))
        fields["heldout"] = str(heldout_folder(cfg))
        skip = not_run(cfg)
        out = []
        for m in cfg.models:
            if m in skip:
                continue
            trained = arms(cfg).get(m)
            for t in range(len(trained) if trained else 1):
                condition = f"{m}-t{t}" if trained else m
                out += [Cell(condition, cfg.seed + i, {**fields, "seed": cfg.seed + i, "model": m, "train_index": t})
                        for i in range(cfg.n_seeds)]
        return out

    def threads_per_worker(self, cfg: GroundingEvalConfig) -> int:
        return cfg.threads

    prepared_keys = ("heldout", "store")

    def prepare(self, cfg: GroundingEvalConfig, out: Path) -> dict:
        facts = store_facts(default_store(cfg))
        return {"heldout": generate_heldout(cfg, facts, heldout_folder(cfg)),
                "store": {"folder": str(default_store(cfg)), "seed": facts["seed"],
                          "materials": sorted(store_materials(default_store(cfg)))}}

    def summarize(self, cfg: GroundingEvalConfig, records: list[dict]) -> dict:
        from nsca.stats import strict_json

        cells: dict[str, dict[int, dict[int, dict]]] = {}
        counts: dict = {}
        for r in records:
            m = r["metrics"]
            cells.setdefault(m["model"], {}).setdefault(m["train_index"], {})[m["seed"]] = m["result"]
            for name, c in m["counts"].items():
                counts.setdefault(name, c)
        checkpoints = {arm: [checkpoint_facts(ref) for ref in refs] for arm, refs in arms(cfg).items()
                       if refs and arm in cells}
        results = {source: {task: arm_summary(by_index, task, checkpoints.get(source))
                            for task in next(iter(next(iter(by_index.values())).values()))}
                   for source, by_index in cells.items()}
        majority = {name: max(c["test_class_counts"]) / max(1, c["test_objects"]) for name, c in counts.items()}
        tasks = {k: {"title": t.title, "label": t.label, "primitives": list(t.primitives), "modalities": list(t.modalities),
                     "handmade": t.handmade} for k, t in TASKS.items()}
        return strict_json({"supervision": supervision_line(checkpoints), "checkpoints": checkpoints,
                            "paired": paired_differences(results, cfg.seed),
                            "paired_training_seeds": paired_over_training_seeds(results, checkpoints, cfg.seed),
                            "tasks": tasks, "results": results, "counts": counts, "chance": 1 / N_CLASSES,
                            "majority_share": majority, "not_run": not_run(cfg), "source_titles": SOURCE_TITLES,
                            "timing_s": {f"{r['condition']}/{r['seed']}": r["metrics"]["extract_and_fit_s"] for r in records}})

    def report_lines(self, results: dict) -> list[str]:
        return format_report(results).splitlines()

    def plot(self, cfg: GroundingEvalConfig, records: list[dict], results: dict):
        return accuracy_figure(results)


EXPERIMENT = Grounding()


def format_report(results: dict) -> str:
    tasks = list(results["tasks"])
    counts = results["counts"]
    any_counts = next(iter(counts.values()))
    held = results.get("heldout", {})
    first = next(iter(next(iter(results["results"].values())).values()))
    lines = [results["supervision"], "",
             f"Grounding probe: multinomial logistic readout (L2 by 5-fold CV) on frozen features; trained on the "
             f"babbling store's objects ({any_counts['train_objects']}), tested on {held.get('objects', '?')} held-out "
             f"objects of held-out materials ({', '.join(held.get('materials', []))}); each arm: mean over its training "
             f"checkpoints of the mean over {len(first['per_training_seed'][0]['readout_seeds'])} readout seed(s), "
             "95% bootstrap CI over objects", "",
             "| features | " + " | ".join(results["tasks"][t]["title"] for t in tasks) + " |",
             "|---|" + "---|" * len(tasks)]
    for source, res in results["results"].items():
        cells = [f"{res[t]['accuracy']:.2f} [{res[t]['ci95_low']:.2f}, {res[t]['ci95_high']:.2f}]" if t in res else "-"
                 for t in tasks]
        lines.append(f"| {source}: {results['source_titles'].get(source, source)} | " + " | ".join(cells) + " |")
    lines.append("| chance | " + " | ".join(f"{results['chance']:.2f}" for _ in tasks) + " |")
    lines.append("| majority class (held-out) | " + " | ".join(
        f"{results['majority_share'][t]:.2f}" if t in results["majority_share"] else "-" for t in tasks) + " |")
    lines.append("")
    for source, res in results["results"].items():
        for t, block in res.items():
            for p in block["per_training_seed"]:
                run = f" training seed {p['training_seed']} ({p['checkpoint']})" if "checkpoint" in p else ""
                lines.append(f"{source}{run} {t}: mean {p['mean']:.3f} over readout seeds "
                             f"{', '.join(map(str, p['readout_seeds']))}: {', '.join(f'{x:.2f}' for x in p['per_readout_seed'])}")
            o = block.get("across_training_seeds")
            if o:
                lines.append(f"{source} {t} over {o['n']} training seeds: mean {o['mean']:.3f}, std {o['std']:.3f}"
                             + (f", 95% CI [{o['ci95_low']:.3f}, {o['ci95_high']:.3f}]" if o["n"] >= FEW_SEEDS
                                else f" (preliminary: fewer than {FEW_SEEDS} training seeds)"))
    for source, per in results.get("paired", {}).items():
        for t, refs in per.items():
            for ref, d in refs.items():
                lines.append(f"paired over objects: {source} {ref.replace('_', ' ')} on {t}: {d['difference']:+.2f} "
                             f"[{d['ci95_low']:+.2f}, {d['ci95_high']:+.2f}] ({d['n']} held-out objects)")
    over = results.get("paired_training_seeds", {})
    if "not_run" in over:
        lines.append(f"paired over training seeds (nsca minus nsca_noprior): not run ({over['not_run']})")
    for t, d in over.items():
        if t in results["tasks"]:
            p = "n/a" if d["p_paired_t"] is None else f"{d['p_paired_t']:.3f}"
            ci = (f" [{d['diff_ci95'][0]:+.3f}, {d['diff_ci95'][1]:+.3f}]" if d["n"] >= FEW_SEEDS
                  else f" (preliminary: fewer than {FEW_SEEDS} training seeds, no CI)")
            lines.append(f"paired over training seeds {', '.join(map(str, over['training_seeds']))}: nsca minus nsca_noprior "
                         f"on {t}: {d['diff_abs']:+.3f}{ci} "
                         f"(per seed {', '.join(f'{x:+.2f}' for x in d['per_seed_diff'])}; paired t p = {p})")
    lines.append("")
    for t in tasks:
        if t in counts:
            c = counts[t]
            lines.append(f"{t}: train {c['train_objects']} objects / {c['train_interactions']} interactions "
                         f"(classes {c['train_class_counts']}), test {c['test_objects']} objects / "
                         f"{c['test_interactions']} interactions (classes {c['test_class_counts']})")
    for name, why in results.get("not_run", {}).items():
        lines.append(f"{name}: not run ({why})")
    return "\n".join(lines)


def accuracy_figure(results: dict):
    import matplotlib.pyplot as plt

    tasks = list(results["tasks"])
    sources = list(results["results"])
    fig, ax = plt.subplots(figsize=(2.4 * len(tasks) + 2, 3.5))
    width = 0.8 / max(1, len(sources))
    x = np.arange(len(tasks))
    for i, s in enumerate(sources):
        res = results["results"][s]
        acc = np.array([res[t]["accuracy"] if t in res else np.nan for t in tasks])
        lo = np.array([res[t]["ci95_low"] if t in res else np.nan for t in tasks])
        hi = np.array([res[t]["ci95_high"] if t in res else np.nan for t in tasks])
        ax.bar(x + i * width, acc, width, yerr=np.stack([acc - lo, hi - acc]), capsize=3, label=s)
    ax.axhline(results["chance"], color="grey", lw=0.8, ls="--", label="chance")
    ax.set_xticks(x + 0.4 - width / 2, [results["tasks"][t]["title"] for t in tasks])
    ax.set_ylim(0, 1)
    ax.set_ylabel("held-out accuracy")
    ax.legend(fontsize=7)
    return fig
