"""`nsca eval SUITE`: phase-7 evaluations (physion, procgen; metaworld-ml10 plugs in the same way).

Each suite is one entry of SUITES: its help line, its typed config class (fields become flags),
the function that runs it and the one that formats its report. Adding a suite is one entry.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

NAME = "eval"
HELP = "phase 7: evaluation suites (physion, procgen)"


@dataclass(frozen=True)
class Suite:
    help: str
    config: str      # "module:Class" of the typed config
    run: str         # "module:function(cfg) -> report"
    report: str      # "module:function(report) -> str"


SUITES: dict[str, Suite] = {
    "physion": Suite(
        "Physion object-contact prediction: logistic readout on frozen features (generated MuJoCo scenes or official files)",
        "nsca.evaluation.physion_ocp:PhysionEvalConfig",
        "nsca.evaluation.physion_ocp:run_physion_eval",
        "nsca.evaluation.physion_ocp:format_report",
    ),
    "procgen": Suite(
        "Procgen generalisation: PPO + IMPALA-CNN, random-init vs NSCA vision encoder, easy mode, 200 train levels",
        "nsca.evaluation.procgen:ProcgenEvalConfig",
        "nsca.evaluation.procgen:run_procgen_eval",
        "nsca.evaluation.procgen:format_report",
    ),
}


def _load(path: str) -> Any:
    import importlib

    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nsca.cli import OneLineParser
    from nsca.config import add_dataclass_arguments

    sub = parser.add_subparsers(dest="suite", metavar="SUITE", parser_class=OneLineParser)
    sub.required = True
    for name, suite in SUITES.items():
        p = sub.add_parser(name, help=suite.help, description=suite.help)
        p.add_argument("--config", help="YAML file with the suite's config fields (flags override it)")
        add_dataclass_arguments(p, _load(suite.config))


def run(args: argparse.Namespace) -> int:
    from nsca.config import resolve

    suite = SUITES[args.suite]
    cfg = resolve(_load(suite.config), args, args.config)
    runner: Callable[[Any], dict] = _load(suite.run)
    report = runner(cfg)
    print(_load(suite.report)(report))
    print(f"\nresults: {cfg.out}/results.json and report.md (see the suite's docs for the rest)")
    return 0
