"""`nsca eval grounding`: is hardness heard and mass felt in the trained model's latent, on
objects whose materials it never met?

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
held-out object; accuracy with a 95 % bootstrap CI over held-out objects, beside chance (1/3)
and the held-out majority-class share.

The held-out objects: the babble probe's held-out catalogue (another seed: new sizes, masses,
colours) with **jittered materials** (`nsca.envs.objects.jitter_catalogue`: modal decay,
contact stiffness, friction and restitution moved away from every training constant). The
probe generates their interactions itself (simulated, rendered, with audio; fixed seed):
`per_primitive` strikes, lifts and shakes per object with uniformly random parameters and
spawn, as the explorer's random phase draws them, written as a babbling store in
`<out>/heldout` (reused by a rerun).
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

    n_seeds: int = field(1, "readout seeds per feature source: seed, seed+1, .. (random init, CV folds, bootstrap); "
                            "results show the first, and the spread over all when N > 1", flags=("--seeds", "--n-seeds"))
    out: str = out_field("runs/eval/grounding")
    checkpoint: str | None = field(None, "`nsca train` run folder or checkpoint (vision, audio, proprio and state) whose "
                                         "latent is probed (source 'nsca'; also gives random_init its architecture)")
    checkpoint_noprior: str | None = field(None, "optional second run folder or checkpoint, e.g. trained with --prior none "
                                                 "(source 'nsca_noprior')")
    data: str = field("", "the `nsca babble --render --audio` store the probe trains on (default: $NSCA_DATA_ROOT/babbling)")
    held_out_objects: int = field(100, "held-out objects (jittered materials) the probe generates and tests on")
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


def model_for(source: str, cfg: GroundingEvalConfig) -> Any:
    from nsca.model.trained import random_init

    if source == "handmade":
        return None
    if source == "nsca":
        return load_probed(cfg.checkpoint)
    if source == "nsca_noprior":
        return load_probed(cfg.checkpoint_noprior)
    trained = load_probed(cfg.checkpoint)
    return random_init(trained.cfg, cfg.seed, buffers_from=trained).eval()


# ---- held-out objects ----------------------------------------------------------------------
def heldout_seed(cfg: GroundingEvalConfig, store_seed: int) -> int:
    """The held-out catalogue's seed: with --seed 0, that of `nsca babble`'s probe (store seed +
    HELD_OUT_SEED_OFFSET), so the shapes, sizes, masses and colours are the same objects."""
    from nsca.babbling.workers import HELD_OUT_SEED_OFFSET

    return store_seed + HELD_OUT_SEED_OFFSET + cfg.seed


def heldout_catalogue(cfg: GroundingEvalConfig, store_seed: int) -> list:
    """The babble probe's held-out catalogue with every material jittered."""
    from nsca.envs.objects import jitter_catalogue, make_catalogue

    seed = heldout_seed(cfg, store_seed)
    return jitter_catalogue(make_catalogue(cfg.held_out_objects, seed), seed)


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
    from nsca.envs.objects import JITTER_LOG_RANGE, JITTER_RESTITUTION_RANGE, JITTERED_FIELDS

    catalogue = heldout_catalogue(cfg, facts["seed"])
    specs = heldout_specs(len(catalogue), cfg.per_primitive, cfg.seed)
    jitter = {"fields": list(JITTERED_FIELDS), "log_factor_abs": list(JITTER_LOG_RANGE),
              "restitution_shift_abs": list(JITTER_RESTITUTION_RANGE)}
    data_config = {"generator": "nsca eval grounding (held-out objects)", "store_seed": facts["seed"], "seed": cfg.seed,
                   "held_out_objects": cfg.held_out_objects, "per_primitive": cfg.per_primitive,
                   "primitives": list(HELDOUT_PRIMITIVES), "n_steps": facts["n_steps"],
                   "record_every": facts["record_every"], "render": True, "audio": True, "jitter": jitter}
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
            "catalogue_seed": heldout_seed(cfg, facts["seed"]), "jitter": jitter,
            "generate_s": time.perf_counter() - t0, "shards_reused": len(done)}


# ---- one cell --------------------------------------------------------------------------------
def cell_parts(config: dict) -> tuple[GroundingEvalConfig, str, Path]:
    """A cell's config as `Grounding.cells` builds it, back as (config, source, held-out folder)."""
    from nsca.config import from_dict

    fields = dict(config)
    source, heldout = fields.pop("model"), Path(fields.pop("heldout"))
    return from_dict(GroundingEvalConfig, fields), source, heldout


def tasks_for(source: str) -> dict[str, Task]:
    return {k: t for k, t in TASKS.items() if source != "handmade" or t.handmade is not None}


def run_cell(config: dict, cell_dir: Path) -> dict:
    """One (feature source, readout seed): features of the store's and the held-out objects, one
    probe per task, accuracy on the held-out objects."""
    from nsca.stats import accuracy_ci, strict_json

    cfg, source, heldout = cell_parts(config)
    torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    model = model_for(source, cfg)
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
    return strict_json({"model": source, "seed": cfg.seed, "result": res, "counts": counts,
                    "extract_and_fit_s": time.perf_counter() - t0, "extract_s": extract_s})


def paired_differences(results: dict, seed: int) -> dict:
    """Accuracy of each trained source minus random_init's, handmade's (and nsca's minus
    nsca_noprior's) on the same held-out objects, with a paired 95% bootstrap CI (resampling objects)."""
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
                if task not in TASKS or other is None or other["object_ids"] != block["object_ids"]:
                    continue
                d = np.array(block["correct"], float) - np.array(other["correct"], float)
                lo, hi = bootstrap_ci(d, seed=seed, n_boot=2000)
                out.setdefault(source, {}).setdefault(task, {})[f"minus_{ref}"] = {
                    "difference": float(d.mean()), "ci95_low": lo, "ci95_high": hi, "n": int(d.size)}
    return out


def not_run(cfg: GroundingEvalConfig) -> dict[str, str]:
    return {"nsca_noprior": "no --checkpoint-noprior given"} if "nsca_noprior" in cfg.models and not cfg.checkpoint_noprior else {}


class Grounding(Experiment):
    """`prepare` generates the held-out objects' interactions once; one cell per (feature source,
    readout seed) extracts that source's features of both stores and fits the probes."""

    name = "grounding"
    help = ("grounding probe: hardness and mass class from the trained model's frozen latent, trained on the "
            "babbling store, tested on held-out objects with jittered materials")
    config = GroundingEvalConfig
    grid_fields = ("models",)
    plot_name = "accuracy.png"

    def check(self, cfg: GroundingEvalConfig) -> None:
        cfg.validate()
        store_facts(default_store(cfg))
        for ref in (cfg.checkpoint, cfg.checkpoint_noprior):
            if ref:
                load_probed(ref)
        from nsca.babbling.run import check_egl

        check_egl("the grounding probe (it renders its held-out interactions)")

    def cells(self, cfg: GroundingEvalConfig) -> list[Cell]:
        fields = json.loads(json.dumps(experiment_fields(cfg)))
        fields["data"] = str(default_store(cfg))
        fields["heldout"] = str(heldout_folder(cfg))
        skip = not_run(cfg)
        return [Cell(m, cfg.seed + i, {**fields, "seed": cfg.seed + i, "model": m})
                for m in cfg.models if m not in skip for i in range(cfg.n_seeds)]

    def threads_per_worker(self, cfg: GroundingEvalConfig) -> int:
        return cfg.threads

    prepared_keys = ("heldout", "store")

    def prepare(self, cfg: GroundingEvalConfig, out: Path) -> dict:
        facts = store_facts(default_store(cfg))
        return {"heldout": generate_heldout(cfg, facts, heldout_folder(cfg)),
                "store": {"folder": str(default_store(cfg)), "seed": facts["seed"]}}

    def summarize(self, cfg: GroundingEvalConfig, records: list[dict]) -> dict:
        from nsca.stats import strict_json, summarize

        results: dict = {}
        counts: dict = {}
        for r in records:
            m = r["metrics"]
            if m["seed"] == cfg.seed:
                results[m["model"]] = m["result"]
                for name, c in m["counts"].items():
                    counts.setdefault(name, c)
        if cfg.n_seeds > 1:
            for source in results:
                runs = [r["metrics"]["result"] for r in records if r["metrics"]["model"] == source]
                results[source]["over_seeds"] = {
                    name: {"per_seed": [x[name]["accuracy"] for x in runs], **summarize([x[name]["accuracy"] for x in runs])}
                    for name in results[source] if name in TASKS}
        majority = {name: max(c["test_class_counts"]) / max(1, c["test_objects"]) for name, c in counts.items()}
        tasks = {k: {"title": t.title, "label": t.label, "primitives": list(t.primitives), "modalities": list(t.modalities),
                     "handmade": t.handmade} for k, t in TASKS.items()}
        return strict_json({"paired": paired_differences(results, cfg.seed), "tasks": tasks,
                        "results": results, "counts": counts, "chance": 1 / N_CLASSES, "majority_share": majority,
                        "not_run": not_run(cfg), "source_titles": SOURCE_TITLES,
                        "timing_s": {r["metrics"]["model"]: r["metrics"]["extract_and_fit_s"] for r in records
                                     if r["metrics"]["seed"] == cfg.seed}})

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
    lines = [f"Grounding probe: multinomial logistic readout (L2 by 5-fold CV) on frozen features; trained on the "
             f"babbling store's objects ({any_counts['train_objects']}), tested on {held.get('objects', '?')} held-out "
             "objects with jittered materials (one prediction per object; 95% bootstrap CI over objects)", "",
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
        for t, o in res.get("over_seeds", {}).items():
            lines.append(f"over {o['n']} readout seeds: {source} {t}: mean {o['mean']:.3f}, std {o['std']:.3f}, "
                         f"per seed {', '.join(f'{x:.2f}' for x in o['per_seed'])}")
    for source, per in results.get("paired", {}).items():
        for t, refs in per.items():
            for ref, d in refs.items():
                lines.append(f"paired: {source} {ref.replace('_', ' ')} on {t}: {d['difference']:+.2f} "
                             f"[{d['ci95_low']:+.2f}, {d['ci95_high']:+.2f}] ({d['n']} held-out objects)")
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
