"""`nsca lethality`: the phase-0 test (seed: scripts/lethality_test.py)."""

from __future__ import annotations

import argparse

NAME = "lethality"
HELP = "phase 0: does the physics prior beat weaker priors and random init at few demos?"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nsca.config import add_dataclass_arguments
    from nsca.experiments.lethality import LethalityConfig

    parser.add_argument("--config", help="YAML file with LethalityConfig fields (flags override it)")
    parser.add_argument("--list-tasks", action="store_true", help="print the installed Meta-World tasks and exit")
    add_dataclass_arguments(parser, LethalityConfig)


def run(args: argparse.Namespace) -> int:
    from nsca.config import resolve
    from nsca.experiments.lethality import LethalityConfig, format_report, run_lethality

    if args.list_tasks:
        from nsca.envs.metaworld import all_tasks

        print("\n".join(all_tasks()))
        return 0
    cfg = resolve(LethalityConfig, args, args.config)
    report = run_lethality(cfg)
    print(format_report(report))
    print(f"\nresults: {cfg.out}/results.json, results.csv, success.png, report.txt")
    return 0
