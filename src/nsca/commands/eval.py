"""`nsca eval SUITE`: phase-7 evaluations (physion, procgen, grounding, metaworld-ml10).

Each suite is an experiment run by the one driver (nsca.experiments.protocol): the same run flags
as every experiment (--seeds, --out, --workers, --backend, --address, --config) plus the suite's
own, and the same run folder (config.json, the cells, results.json, report.txt, its plot). A suite
is registered with one line in SUITES: its name -> the module whose EXPERIMENT runs it.
"""

from __future__ import annotations

import argparse
import importlib

NAME = "eval"
HELP = "phase 7: evaluation suites (physion, procgen, grounding, metaworld-ml10)"

SUITES = {
    "physion": "nsca.evaluation.physion_ocp",
    "procgen": "nsca.evaluation.procgen",
    "grounding": "nsca.evaluation.grounding",
    "metaworld-ml10": "nsca.evaluation.metaworld_ml10",
}


def experiment(suite: str):
    return importlib.import_module(SUITES[suite]).EXPERIMENT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nsca.cli import OneLineParser
    from nsca.experiments import protocol

    sub = parser.add_subparsers(dest="suite", metavar="SUITE", parser_class=OneLineParser)
    sub.required = True
    for name in SUITES:
        exp = experiment(name)
        p = sub.add_parser(name, help=exp.help, description=exp.help)
        protocol.add_arguments(p, exp)


def run(args: argparse.Namespace) -> int:
    from nsca.experiments import protocol

    return protocol.run_command(experiment(args.suite), args)
