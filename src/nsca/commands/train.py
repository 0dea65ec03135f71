"""`nsca train`: train the NSCA world model (seed: scripts/train_world_model.py)."""

from __future__ import annotations

import argparse

NAME = "train"
HELP = "train the NSCA world model on babbling data (or a synthetic set with --preset debug)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nsca.config import add_dataclass_arguments
    from nsca.training.config import TrainConfig

    parser.add_argument("--config", default=None, help="YAML file of config keys (e.g. configs/training_config.yaml)")
    parser.add_argument("--debug", action="store_const", const="debug", dest="preset",
                        help="= --preset debug: tiny model, synthetic data, CPU, a smoke run in seconds")
    parser.add_argument(
        "--resume", action="store_true",
        help="continue the run folder's last checkpoint at the same step (its saved config is the base)",
    )
    add_dataclass_arguments(parser, TrainConfig)


def resolve_config(args: argparse.Namespace):  # -> TrainConfig
    from nsca.config import resolve
    from nsca.model.trained import read_run
    from nsca.training.config import TrainConfig
    from nsca.training.loop import run_path

    cfg = resolve(TrainConfig, args, args.config)
    if args.resume and (run_path(cfg) / "config.json").is_file():
        # The saved config is the base; the YAML/flags given now override it (e.g. more epochs).
        cfg = resolve(TrainConfig, args, args.config, base=read_run(run_path(cfg)).config)
    return cfg


def run(args: argparse.Namespace) -> int:
    from nsca.training.loop import train

    cfg = resolve_config(args)
    summary = train(cfg, resume=args.resume)
    keys = ("steps", "prior_weight", "val/total", "samples_per_s", "peak_memory_mb")
    print(f"run {summary['run']}: " + ", ".join(f"{k}={summary[k]:.4g}" for k in keys if k in summary))
    return 0
