"""Training samples/s of the NSCA model, before and after issue 20's speed work, side by side.

Every variant runs `nsca.training.loop.optimizer_step` (the step `nsca train` runs: losses
under the run's precision, backward, clipping, AdamW over `parameter_groups`) on the same
pre-built batch. One run measures everything interleaved: each repetition starts one child
process per (threads, OpenMP wait policy: a process-wide setting, read when torch loads) and
times every (preset, variant) in it in turn, so a change in the shared machine's load hits all
of them alike. The figure is the median over repetitions of each repetition's median step. Data
loading is not in it (pre-built batches); `nsca train` reports end-to-end samples/s.

Variants (`--variants`):
  before     the code and settings before issue 20: fp32, the audio encoded twice per step
             (for the latent target too), unfused AdamW
  fp32       the default now: fp32, the current audio token reused for the target (the same numbers)
  amp        --amp: bf16 autocast (CPUs with AVX512-BF16/AMX, GPUs); the physics head stays fp32
  amp-fused  --amp --fused-optimizer
  compile    --amp --fused-optimizer --compile (compile time printed apart; minutes to start on a CPU)
OpenMP wait policies (`--omp-policies`): `default` (libgomp's: a waiting thread spins for a
while), `passive` (OMP_WAIT_POLICY=PASSIVE: it sleeps) and `spin20k` (GOMP_SPINCOUNT=20000: a
short spin), which decide what 2 threads do when another job holds a core. None changes a number.

The batch is synthetic with a next frame stack, as the babbling store has (so the latent target
encodes next frames, as real training does), its frames quantised to 8 bits as the store keeps
them. Prints one JSON line per measurement, then a table.

    python benchmarks/train_throughput.py            # default and small presets, 1 and 2 threads, batch 64
    python benchmarks/train_throughput.py --device cuda --batch-size 256 --threads 4 --omp-policies default \
        --variants fp32 amp amp-fused compile
    OMP_WAIT_POLICY=PASSIVE python benchmarks/train_throughput.py --profile --presets default \
        --variants before amp-fused --steps 3 --data-root /tmp/nsca_data
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import time

VARIANTS = ("before", "fp32", "amp", "amp-fused", "compile")
SETTINGS = {  # variant -> (TrainConfig fields, re-encode the audio for the target as before)
    "before": ({}, True),
    "fp32": ({}, False),
    "amp": ({"amp": True}, False),
    "amp-fused": ({"amp": True, "fused_optimizer": True}, False),
    "compile": ({"amp": True, "fused_optimizer": True, "compile": True}, False),
}
PRESET_MODEL = {"default": "default", "small": "debug", "debug": "debug", "large": "large"}  # train preset -> model size


def build_batch(batch_size: int, device: str) -> dict:
    import torch

    from nsca.training.data import collate
    from nsca.training.synthetic import SyntheticInteractions

    ds = SyntheticInteractions(batch_size + 1, seed=0)
    items = [ds[i] for i in range(batch_size + 1)]
    batch = collate(items[:-1])
    batch["next_frames"] = torch.stack([it["frames"] for it in items[1:]])  # another stack, like the store's
    for key in ("frames", "next_frames"):  # the store's uint8 frames / 255 (no denormal blob tails)
        batch[key] = torch.round(batch[key] * 255) / 255
    return {k: v.to(device) for k, v in batch.items()}


class Variant:
    """One variant's model, optimiser and precision, and its step on the shared batch."""

    def __init__(self, name: str, preset: str, base_model, batch: dict, device: str) -> None:
        import torch

        from nsca.config import from_dict
        from nsca.training.config import TrainConfig
        from nsca.training.loop import make_optimizer
        from nsca.training.precision import choose_precision

        fields, self.reencode_audio = SETTINGS[name]
        self.name, self.preset = name, preset
        self.cfg = from_dict(TrainConfig, {"preset": preset, **fields})
        self.model = copy.deepcopy(base_model)
        self.optimizer = make_optimizer(self.model, self.cfg)
        self.precision, note = choose_precision(torch.device(device), self.cfg.amp)
        if note:
            sys.stderr.write(note)
        self.scaler = self.precision.grad_scaler()
        self.batch = dict(batch)
        if self.reencode_audio and "audio" in batch:
            self.batch["next_audio"] = batch["audio"].clone()  # a next input of its own: encoded again, as before
        self.weights = self.cfg.loss_weights()
        self.compile_s = None
        self.steps = 0
        if self.cfg.compile:
            self.model.compile()

    def step(self) -> float:
        from nsca.training.loop import optimizer_step

        t0 = time.perf_counter()
        _, loss, _ = optimizer_step(self.model, self.optimizer, self.scaler, self.precision, self.batch,
                                    self.weights, self.cfg.grad_clip, self.steps)
        value = float(loss.detach())  # waits for the device
        dt = time.perf_counter() - t0
        if self.steps == 0 and self.cfg.compile:
            self.compile_s = dt
        self.steps += 1
        return value


def child(a: argparse.Namespace) -> None:
    """One repetition in this process (its OpenMP policy fixed at start): every (preset, variant)."""
    import torch

    from nsca.model import NSCAModel
    from nsca.model import preset as model_preset

    torch.set_num_threads(a.threads[0])
    torch.manual_seed(0)
    batch = build_batch(a.batch_size, a.device)
    variants = []
    for preset in a.presets:
        base = NSCAModel(model_preset(PRESET_MODEL[preset]))
        base.set_normalization(batch["state"].cpu(), batch["next_state"].cpu())
        base = base.to(a.device)
        variants += [Variant(v, preset, base, batch, a.device) for v in a.variants]
    sync = torch.cuda.synchronize if a.device == "cuda" else (lambda: None)
    for v in variants:  # warm-up (and compilation) before any timing
        for _ in range(a.warmup if not v.cfg.compile else a.warmup + 2):
            v.step()
    for v in variants:
        steps = []
        for _ in range(a.steps):
            sync()
            t0 = time.perf_counter()
            loss = v.step()
            steps.append(time.perf_counter() - t0)
        median = statistics.median(steps)
        print(json.dumps({
            "preset": v.preset, "variant": v.name, "omp_policy": a.policy, "threads": a.threads[0], "batch_size": a.batch_size,
            "device": a.device, "precision": v.precision.name, "step_s_median": round(median, 4),
            "samples_per_s": round(a.batch_size / median, 1), "loss": round(loss, 5),
            "first_step_s": round(v.compile_s, 1) if v.compile_s is not None else None,
            "load_avg_1min": round(os.getloadavg()[0], 2)}), flush=True)


PHASES = ("forward+loss", "backward", "clip", "optimizer")
OP_GROUPS = {  # profiler op name fragment -> group (the first match wins)
    "convolution": "convolutions (fwd+bwd)", "scaled_dot_product": "attention", "mm": "matmuls (linear layers, fwd+bwd)",
    "linear": "matmuls (linear layers, fwd+bwd)", "norm": "layer/group norm", "mish": "activations", "gelu": "activations",
    "tanh": "activations", "stft": "audio front end", "fft": "audio front end",
}


def data_loading_s(data_root: str, batch_size: int, n: int) -> float:
    """Seconds per batch drawn from a babbling store the way `nsca train` draws them (block shuffle)."""
    from nsca.config import from_dict
    from nsca.training import data as D
    from nsca.training.config import TrainConfig

    cfg = from_dict(TrainConfig, {"data_root": data_root, "shuffle_block": 1024, "batch_size": batch_size})
    full = D.open_source(cfg)
    train_idx, _ = D.split_indices(len(full), cfg, D.dataset_facts(full)["groups"])
    loader = iter(D.epoch_loader(D.subset(full, train_idx), cfg, 0))
    next(loader)
    t0 = time.perf_counter()
    for _ in range(n):
        next(loader)
    return (time.perf_counter() - t0) / n


def profile(a: argparse.Namespace) -> None:
    """Where a step's time goes: the step's phases, op groups, and (--data-root) data loading."""
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from nsca.model import NSCAModel
    from nsca.model import preset as model_preset

    threads = a.threads[0]
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    batch = build_batch(a.batch_size, a.device)
    load = os.getloadavg()[0]
    for preset in a.presets:
        base = NSCAModel(model_preset(PRESET_MODEL[preset]))
        base.set_normalization(batch["state"], batch["next_state"])
        for name in a.variants:
            v = Variant(name, preset, base, batch, a.device)
            for _ in range(a.warmup):
                v.step()
            with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
                t0 = time.perf_counter()
                for _ in range(a.steps):
                    v.step()
                wall = (time.perf_counter() - t0) / a.steps
            events = prof.key_averages()
            phases = {e.key: e.cpu_time_total / 1e3 / a.steps for e in events if e.key in PHASES}
            groups: dict[str, float] = {}
            for e in events:
                if e.key in PHASES or e.key.startswith(("Optimizer", "autograd::engine")):
                    continue
                group = next((g for frag, g in OP_GROUPS.items() if frag in e.key), "elementwise, copies, other")
                groups[group] = groups.get(group, 0.0) + e.self_cpu_time_total / 1e3 / a.steps
            total = sum(groups.values())
            print(f"\n{preset}, {name} ({v.precision.name}), batch {a.batch_size}, {threads} threads, "
                  f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'default')}, load {load:.2f}: "
                  f"{wall * 1e3:.0f} ms per step under the profiler")
            for k in PHASES:
                print(f"  phase {k:<14} {phases.get(k, 0.0):8.1f} ms  {100 * phases.get(k, 0.0) / (wall * 1e3):5.1f}%")
            for g, ms in sorted(groups.items(), key=lambda kv: -kv[1]):
                print(f"  ops   {g:<34} {ms:8.1f} ms  {100 * ms / total:5.1f}% of op time")
    if a.data_root:
        per_batch = data_loading_s(a.data_root, a.batch_size, a.steps * 3)
        print(f"\ndata loading ({a.data_root}, block shuffle, in the training process): {per_batch * 1e3:.0f} ms per batch "
              f"of {a.batch_size} ({per_batch / a.batch_size * 1e3:.2f} ms per item), load {os.getloadavg()[0]:.2f}")


POLICY_ENV = {"default": {}, "passive": {"OMP_WAIT_POLICY": "PASSIVE"}, "spin20k": {"GOMP_SPINCOUNT": "20000"}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", nargs="+", default=["default", "small"], choices=sorted(PRESET_MODEL),
                   help="train presets (small = the debug-size model)")
    p.add_argument("--variants", nargs="+", default=["before", "fp32", "amp", "amp-fused"], choices=VARIANTS)
    p.add_argument("--omp-policies", nargs="+", default=["default", "passive"], choices=sorted(POLICY_ENV))
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2],
                   help="torch threads per measurement (at 1 thread only the first OpenMP policy: no thread waits)")
    p.add_argument("--steps", type=int, default=4, help="timed steps per measurement")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--reps", type=int, default=3, help="interleaved repetitions")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", default=None, help="also write the records to this file")
    p.add_argument("--profile", action="store_true",
                   help="instead: profile the variants in this process (phases, op groups) and, with --data-root, data loading")
    p.add_argument("--data-root", default=None, help="--profile: a data root with a babbling store to time data loading on")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--policy", default="default", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        child(a)
        return
    if a.profile:
        profile(a)
        return
    if a.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            sys.exit("train_throughput.py: --device cuda but no CUDA device is available")
    records: list[dict] = []
    loads = [os.getloadavg()[0]]
    runs = [(t, pol) for t in a.threads for pol in (a.omp_policies if t > 1 else a.omp_policies[:1])]
    for rep in range(a.reps):
        for threads, policy in runs:
            env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
            env.update(POLICY_ENV[policy])
            cmd = [sys.executable, __file__, "--child", "--policy", policy, "--presets", *a.presets, "--variants", *a.variants,
                   "--batch-size", str(a.batch_size), "--threads", str(threads), "--steps", str(a.steps),
                   "--warmup", str(a.warmup), "--device", a.device]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if out.returncode:
                sys.exit(f"train_throughput.py: a child failed:\n{out.stderr[-2000:]}")
            for line in out.stdout.splitlines():
                rec = {"rep": rep, **json.loads(line)}
                records.append(rec)
                loads.append(rec["load_avg_1min"])
                print(json.dumps(rec), flush=True)
    print(f"\nsamples/s, batch {a.batch_size}, {a.device}: median of {a.reps} interleaved repetitions (each the median "
          f"of {a.steps} steps); load average (1 min) {min(loads):.2f}-{max(loads):.2f}")
    print(" | ".join(["preset", "threads", "OpenMP wait"] + list(a.variants)))
    for preset in a.presets:
        for threads, policy in runs:
            cells = []
            for v in a.variants:
                rows = [r["step_s_median"] for r in records
                        if (r["preset"], r["threads"], r["omp_policy"], r["variant"]) == (preset, threads, policy, v)]
                cells.append(f"{a.batch_size / statistics.median(rows):.1f}")
            print(" | ".join([preset, str(threads), policy if threads > 1 else "-"] + cells))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(records, f, indent=1)


if __name__ == "__main__":
    main()
