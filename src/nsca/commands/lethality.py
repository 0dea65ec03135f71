"""`nsca lethality`: the phase-0 test (seed: scripts/lethality_test.py), run by the experiment driver."""

from __future__ import annotations

import argparse

NAME = "lethality"
HELP = "phase 0: does the physics prior beat weaker priors and random init at few demos?"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nsca.experiments import protocol
    from nsca.experiments.lethality import EXPERIMENT

    parser.add_argument("--list-tasks", action="store_true", help="print the installed Meta-World tasks and exit")
    protocol.add_arguments(parser, EXPERIMENT)


def run(args: argparse.Namespace) -> int:
    from nsca.experiments import protocol
    from nsca.experiments.lethality import EXPERIMENT

    if args.list_tasks:
        from nsca.envs.metaworld import all_tasks

        print("\n".join(all_tasks()))
        return 0
    return protocol.run_command(EXPERIMENT, args)
