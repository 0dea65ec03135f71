"""`nsca sanity noisy-tv|forgetting|balloon`: the three checks that gate full training.

Each is an experiment run by the one driver (nsca.experiments.protocol): it prints its figures
and PASS/FAIL, exits 0 (PASS) or 1 (FAIL), and writes config.json, results.json, report.txt and
plot.png in its run folder (default runs/sanity/<check>/). Finished (condition, seed) cells in
that folder are reused, so an interrupted run resumes; flags are the same as every experiment's
(--seeds, --out, --workers, --backend, --address, --config) plus the check's own.
"""

from __future__ import annotations

import argparse
import importlib

from nsca.experiments import SANITY_CHECKS

NAME = "sanity"
HELP = "run a sanity check (noisy-tv, forgetting, balloon): prints figures and PASS/FAIL"


def _experiment(check: str):
    return importlib.import_module(SANITY_CHECKS[check]).EXPERIMENT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nsca.experiments import protocol

    sub = parser.add_subparsers(dest="check", metavar="CHECK", parser_class=type(parser))
    sub.required = True
    for check in SANITY_CHECKS:
        exp = _experiment(check)
        p = sub.add_parser(check, help=exp.help, description=exp.help)
        protocol.add_arguments(p, exp)


def run(args: argparse.Namespace) -> int:
    from nsca.experiments import protocol

    return protocol.run_command(_experiment(args.check), args)
