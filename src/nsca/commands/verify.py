"""`nsca verify` (seed: verify_world_model.py): is this install ready to train NSCA?

Imports every nsca module, builds the model, prints parameters per module, runs a
forward/backward pass on a synthetic batch of every modality, checks that the prior weight
trains, and that MuJoCo, Meta-World and EGL rendering work. Prints OK / FAIL / WARN per
check and exits 1 if a required check fails.
"""

from __future__ import annotations

import argparse

NAME = "verify"
HELP = "check the install: imports, model size and shapes, prior weight trainable, MuJoCo / Meta-World / EGL"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nsca.model.config import preset_names

    parser.add_argument("--preset", default="default", choices=preset_names(),
                        help="model size to build: a block of presets.yaml's model section (default: default)")
    parser.add_argument("--batch-size", type=int, default=2, help="synthetic batch size for the forward/backward pass")
    parser.add_argument("--skip-envs", action="store_true", help="skip the MuJoCo / Meta-World / EGL checks")


def run(args: argparse.Namespace) -> int:
    from nsca.model.verify import verify_install

    return 0 if verify_install(args.preset, args.batch_size, envs=not args.skip_envs) else 1
