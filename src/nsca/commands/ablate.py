"""`nsca ablate`: the ablation study (seed: `python -c "from src.evaluation import run_ablation_study; ..."`)."""

from __future__ import annotations

import argparse

NAME = "ablate"
HELP = "phase 5: the ablation study (N=20 seeds): prior weights, each innate law off, BC; rliable + Holm"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nsca.experiments import protocol
    from nsca.experiments.ablation import EXPERIMENT

    protocol.add_arguments(parser, EXPERIMENT)


def run(args: argparse.Namespace) -> int:
    from nsca.experiments import protocol
    from nsca.experiments.ablation import EXPERIMENT

    return protocol.run_command(EXPERIMENT, args)
