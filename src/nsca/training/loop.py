"""`train(cfg)`: the world-model training loop behind `nsca train`.

A run folder `<run_dir>/<run_name>/` holds config.json (layout: `nsca.model.trained`; the resolved
config, provenance, the model as built, the data's physics constants), provenance.json (seed,
versions, commit, device), metrics.jsonl + tb/ (every step), checkpoints/last.pt (every
`checkpoint_every` steps, each epoch end and on Ctrl-C), summary.json and loss_curve.png.
A resumed run reloads model, optimiser, scaler, RNG and curiosity state and continues at the
batch it stopped at, so on CPU it reproduces an uninterrupted run bit for bit.
"""

from __future__ import annotations

import importlib.util
import io
import json
import math
import resource
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from nsca.config import from_dict
from nsca.errors import UsageError
from nsca.model import NSCAModel
from nsca.model import trained as T
from nsca.training import data as D
from nsca.training.checkpoint import save_checkpoint, set_rng_state
from nsca.training.config import TrainConfig
from nsca.training.precision import Precision, choose_precision
from nsca.training.run_folder import write_config
from nsca.utils.io import atomic_write_bytes, atomic_write_json, atomic_write_text, ensure_writable_dir
from nsca.utils.metrics import MetricsLogger
from nsca.utils.provenance import provenance
from nsca.utils.seeding import seed_everything

NORM_SAMPLES = 1024


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("device=cuda but no CUDA device is available; use --device cpu")
    if name == "mps" and not torch.backends.mps.is_available():
        raise UsageError("device=mps but MPS is not available; use --device cpu")
    return torch.device(name)


def run_path(cfg: TrainConfig) -> Path:
    return Path(cfg.run_dir) / (cfg.run_name or f"{cfg.preset}-seed{cfg.seed}")


def make_optimizer(model: NSCAModel, cfg: TrainConfig) -> torch.optim.Optimizer:
    # The project's one recipe for the prior weight (nsca.priors.adaptive.parameter_groups).
    from nsca.priors.adaptive import parameter_groups

    # fused: one pass over the weights instead of AdamW's six; the same update, rounded
    # differently in the last bit, hence opt-in (the default reproduces earlier runs).
    return torch.optim.AdamW(parameter_groups(model, cfg.lr, cfg.weight_decay), **({"fused": True} if cfg.fused_optimizer else {}))


def lr_at(step: int, cfg: TrainConfig) -> float:
    return cfg.lr * min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else cfg.lr


class CuriosityWeights:
    """Per-sample weights of the state loss from a curiosity reward per primitive.

    weight = reward(primitive) / mean reward over measured primitives, clipped to [0.25, 4];
    unmeasured primitives (and all, while every reward is 0) get 1.
    """

    def __init__(self, kind: str, n_sources: int, window: int) -> None:
        from nsca.learning.curiosity import CURIOSITY

        self.tracker = CURIOSITY[kind](n_sources, window=window)
        self.n_sources = n_sources

    def weights(self, primitive: torch.Tensor) -> torch.Tensor:
        rewards = torch.tensor([self.tracker.reward(s) for s in range(self.n_sources)], dtype=torch.float64)
        finite = rewards[torch.isfinite(rewards)]
        mean = float(finite.mean()) if finite.numel() else 0.0
        if mean <= 0:
            per_source = torch.ones(self.n_sources, dtype=torch.float64)
        else:
            per_source = torch.where(torch.isfinite(rewards), (rewards / mean).clamp(0.25, 4.0), torch.ones_like(rewards))
        return per_source.float()[primitive.long().cpu()]

    def record(self, primitive: torch.Tensor, errors: torch.Tensor) -> None:
        prim, err = primitive.long().cpu(), errors.float().cpu()
        for s in prim.unique().tolist():
            self.tracker.record(int(s), float(err[prim == s].mean()))


EWC_FISHER_SAMPLES = 128


def _ewc_source(cfg: TrainConfig) -> tuple[T.TrainRun, dict] | None:
    """The earlier run `ewc_from` names and its weights, read before anything is written (a bad
    one is a one-line UsageError naming the flag)."""
    if not cfg.ewc_from:
        return None
    old_dir, weights = T.locate(cfg.ewc_from, prefer="checkpoints/last.pt")
    try:
        return T.read_run(old_dir), T.load_weights(weights)
    except UsageError as exc:
        raise UsageError(f"ewc_from={cfg.ewc_from}: {exc}") from None


def _ewc_penalty(cfg: TrainConfig, source: tuple[T.TrainRun, dict] | None, model: NSCAModel, fresh: bool,
                 device: torch.device) -> Any:
    """With ewc_from, continue an earlier run on new data without forgetting it.

    `ewc_from` names an earlier run folder (or its checkpoint), read by `_ewc_source`. A fresh
    run starts from that run's weights; the anchor is those weights and the Fisher
    (nsca.learning.ewc.empirical_fisher) is measured on EWC_FISHER_SAMPLES items of the earlier
    run's own training data, reopened from its saved config. The penalty (weighted by ewc_lambda,
    which may be 0 for the plain fine-tuning control) is logged as train/ewc either way.
    """
    if source is None:
        return None
    from nsca.learning.ewc import EWC, empirical_fisher

    old_run, state = source
    old_cfg = from_dict(TrainConfig, old_run.config)
    try:
        if fresh:
            model.load_state_dict(state)
        # The Fisher is measured on the earlier run's data, under that data's constants.
        probe = type(model)(model.cfg, old_run.physics_constants).to(device)
        probe.load_state_dict(state)
    except RuntimeError as exc:
        raise UsageError(f"ewc_from={cfg.ewc_from} holds a different model ({str(exc).splitlines()[0]})") from None
    old = D.open_source(old_cfg)
    train_idx, _ = D.split_indices(len(old), old_cfg, D.dataset_facts(old)["groups"])
    pick = torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(cfg.seed))[:EWC_FISHER_SAMPLES]
    weights = old_cfg.loss_weights()

    def loss(item: dict) -> torch.Tensor:
        return probe.losses(_to(D.collate([item]), device), weights)["total"]

    fisher = empirical_fisher(probe, loss, (old[train_idx[i]] for i in pick.tolist()))
    return EWC.from_fisher(probe, fisher, lam=1.0)  # the trainer multiplies by ewc_lambda itself


def _trim_metrics(path: Path, step: int) -> None:
    """Drop metric rows past the checkpoint a resumed run restarts from (they will be redone)."""
    if not path.exists():
        return
    keep = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
    atomic_write_text(path, "".join(line + "\n" for line in keep))


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss_kb / 1024 if sys.platform != "darwin" else rss_kb / 2**20


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def optimizer_step(
    model: NSCAModel, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, precision: Precision,
    batch: dict[str, torch.Tensor], weights: dict[str, float], grad_clip: float, step: int,
    state_sample_weight: torch.Tensor | None = None, ewc: Any = None, ewc_lambda: float = 0.0,
) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """One training step on a device batch: forward and losses under the run's precision,
    backward (through the scaler), gradient clipping, the optimiser; returns the loss terms,
    the loss stepped on (total plus the EWC penalty) and the gradient norm. The one step `train` runs and benchmarks/train_throughput.py times."""
    phase = torch.profiler.record_function  # named phases for a profile (benchmarks/train_throughput.py --profile)
    with phase("forward+loss"), precision.autocast():
        terms = model.losses(batch, weights, state_sample_weight=state_sample_weight)
        loss = terms["total"]
        if ewc is not None:
            terms["ewc"] = ewc(model)
            loss = loss + ewc_lambda * terms["ewc"]
    if not torch.isfinite(loss):
        raise RuntimeError(f"loss became {float(loss)} at step {step}; lower --lr or check the data")
    with phase("backward"):
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
    with phase("clip"):
        scaler.unscale_(optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip if grad_clip else math.inf)
    with phase("optimizer"):
        scaler.step(optimizer)
        scaler.update()
    return terms, loss, grad_norm


@torch.no_grad()
def evaluate(model: NSCAModel, loader: Any, cfg: TrainConfig, device: torch.device) -> dict[str, float]:
    model.eval()
    sums: dict[str, float] = {}
    n = 0
    for batch in loader:
        b = _to(batch, device)
        terms = model.losses(b, cfg.loss_weights())
        size = next(iter(b.values())).shape[0]
        for k, v in terms.items():
            if v.ndim == 0:
                sums[k] = sums.get(k, 0.0) + float(v) * size
        n += size
    model.train()
    return {f"val/{k}": v / n for k, v in sums.items()} if n else {}


def train(cfg: TrainConfig, resume: bool = False) -> dict[str, Any]:
    """Train the NSCA world model as `cfg` says; returns the run summary."""
    out = run_path(cfg)
    ensure_writable_dir(out)
    ckpt_path = out / "checkpoints" / "last.pt"
    if resume and not ckpt_path.is_file():
        raise UsageError(f"nothing to resume: {ckpt_path} does not exist")
    if not resume and (out / "config.json").exists():
        raise UsageError(f"run folder {out} already exists; pass --resume to continue it or --run-name for a new run")
    ewc_source = _ewc_source(cfg)

    device = pick_device(cfg.device)
    if cfg.wandb_project and importlib.util.find_spec("wandb") is None:
        raise UsageError("wandb_project needs wandb: pip install 'nsca[tracking]' (WANDB_MODE=offline works without network)")
    precision, note = choose_precision(device, cfg.amp)
    if note:
        sys.stderr.write(note)
    use_compile = cfg.compile and device.type in ("cpu", "cuda")
    if cfg.compile and not use_compile:
        sys.stderr.write(f"note: --compile is not supported on {device.type}; running eager\n")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)

    D.ensure_babbling_data(cfg)
    full = D.open_source(cfg)
    D.check_modalities(cfg, full[0])
    facts = D.dataset_facts(full)
    train_idx, val_idx = D.split_indices(len(full), cfg, facts["groups"])
    train_set, val_set = D.subset(full, train_idx), D.subset(full, val_idx)
    spe = D.steps_per_epoch(len(train_set), cfg.batch_size)
    total_steps = cfg.epochs * spe if not cfg.max_steps else min(cfg.epochs * spe, cfg.max_steps)

    model_cfg = cfg.model_config(**facts["model"])
    model = NSCAModel(model_cfg, facts["constants"])
    optimizer = make_optimizer(model, cfg)
    scaler = precision.grad_scaler()
    n_prims = model_cfg.n_primitives
    curiosity = CuriosityWeights(cfg.curiosity, n_prims, cfg.curiosity_window) if cfg.curiosity != "off" else None

    step = 0
    if resume:
        ck = T.load_checkpoint(ckpt_path)
        try:
            model.load_state_dict(ck["model"])
        except RuntimeError as exc:
            raise UsageError(f"checkpoint {ckpt_path} does not fit this model config ({str(exc).splitlines()[0]})") from None
        optimizer.load_state_dict(ck["optimizer"])
        scaler.load_state_dict(ck["scaler"])
        if curiosity is not None and ck.get("curiosity") is not None:
            curiosity.tracker = ck["curiosity"]
        step = int(ck["step"])
        set_rng_state(ck["rng"])
        _trim_metrics(out / "metrics.jsonl", step)
    else:
        # Evenly spaced over the (episode-ordered) training set: every phase of the explorer.
        norm_idx = torch.linspace(0, len(train_set) - 1, min(NORM_SAMPLES, len(train_set))).long().unique()
        sample = D.collate([train_set[i] for i in norm_idx.tolist()])
        if "next_state" in sample:
            model.set_normalization(sample["state"], sample["next_state"])
        write_config(out, cfg, model_cfg, model.world_model.physics.constants)
    model.to(device)
    ewc = _ewc_penalty(cfg, ewc_source, model, not resume, device)
    atomic_write_json(
        out / ("provenance.json" if not resume else f"provenance.resume-{step}.json"),
        {**provenance(), "seed": cfg.seed, "device": str(device), "resumed_from_step": step,
         "precision": precision.name, "compiled": use_compile, "torch_threads": torch.get_num_threads(),
         "params": model.param_counts(), "train_items": len(train_set), "val_items": len(val_set)},
    )
    if use_compile:
        model.compile()  # compiles __call__ in place (at the first step); state_dict keys are unchanged

    def checkpoint() -> None:
        save_checkpoint(
            ckpt_path, model=model.state_dict(), optimizer=optimizer.state_dict(), scaler=scaler.state_dict(),
            step=step, epoch=step // spe, config=asdict(cfg),
            curiosity=curiosity.tracker if curiosity is not None else None,
        )

    weights = cfg.loss_weights()
    logger = MetricsLogger(out, tensorboard=True, wandb_project=cfg.wandb_project, config=asdict(cfg))
    from tqdm import tqdm

    bar = tqdm(total=total_steps, initial=step, disable=not cfg.progress, unit="step", dynamic_ncols=True)
    t_start, n_seen, last_val = time.perf_counter(), 0, {}
    sps = 0.0
    try:
        model.train()
        while step < total_steps:
            epoch, start = divmod(step, spe)
            for batch in D.epoch_loader(train_set, cfg, epoch, start, pin_memory=device.type == "cuda"):
                t0 = time.perf_counter()
                b = _to(batch, device)
                sw = curiosity.weights(b["primitive"]).to(device) if curiosity is not None and "primitive" in b else None
                for group in optimizer.param_groups:  # warm-up scales each group's own lr (rho's too)
                    group["lr"] = group.setdefault("base_lr", group["lr"]) * lr_at(step, cfg) / cfg.lr
                terms, loss, grad_norm = optimizer_step(model, optimizer, scaler, precision, b, weights, cfg.grad_clip,
                                                        step, sw, ewc, cfg.ewc_lambda)
                if curiosity is not None and "state_per_sample" in terms and "primitive" in b:
                    curiosity.record(b["primitive"], terms["state_per_sample"])
                step += 1
                size = b["state"].shape[0]
                n_seen += size
                dt = time.perf_counter() - t0
                sps = size / dt if sps == 0.0 else 0.9 * sps + 0.1 * size / dt
                if step % cfg.log_every == 0 or step == total_steps:
                    logger.log(
                        step,
                        **{f"train/{k}": float(v.detach()) for k, v in terms.items() if v.ndim == 0},
                        prior_weight=float(model.prior_weight.detach()), lr=lr_at(step - 1, cfg),
                        grad_norm=float(grad_norm), samples_per_s=sps,
                    )
                bar.update(1)
                bar.set_postfix(loss=f"{float(loss.detach()):.4f}", w=f"{float(model.prior_weight.detach()):.3f}", sps=f"{sps:.0f}")
                end_of_epoch = step % spe == 0
                if end_of_epoch and len(val_set):
                    last_val = evaluate(model, D.eval_loader(val_set, cfg), cfg, device)
                    logger.log(step, **last_val)
                if step % cfg.checkpoint_every == 0 or end_of_epoch or step == total_steps:
                    checkpoint()
                if step >= total_steps:
                    break
    except KeyboardInterrupt:
        checkpoint()
        bar.close()
        logger.close()
        sys.stderr.write(f"checkpoint saved at step {step} in {ckpt_path}\n")
        raise
    bar.close()
    logger.close()
    wall = time.perf_counter() - t_start
    if not last_val and len(val_set):
        last_val = evaluate(model, D.eval_loader(val_set, cfg), cfg, device)
    summary = {
        "run": str(out), "steps": step, "epochs": step / spe, "steps_per_epoch": spe,
        "train_items": len(train_set), "val_items": len(val_set),
        "prior_weight": float(model.prior_weight.detach()), "params": model.param_counts()["total"],
        "wall_s_this_session": wall, "samples_per_s": n_seen / wall if wall > 0 else 0.0,
        "peak_memory_mb": _peak_memory_mb(device), "device": str(device), **last_val,
    }
    atomic_write_json(out / "summary.json", summary)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    atomic_write_bytes(out / "model.pt", buf.getvalue())
    from nsca.training.plots import plot_run

    plot_run(out)
    return summary
