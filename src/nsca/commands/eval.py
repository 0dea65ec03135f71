"""`nsca eval SUITE`: phase-7 evaluations (physion, procgen; metaworld-ml10 plugs in the same way).

Each suite is one entry of SUITES: its help line, its typed config class (fields become flags),
the function that runs it and the one that formats its report. Adding a suite is one entry.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Callable

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


def _nested(cls: type) -> dict[str, type]:
    """Fields of `cls` that are themselves config dataclasses (flags: --<field>.<sub-field>)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if dataclasses.is_dataclass(hints[f.name])}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nsca.cli import OneLineParser
    from nsca.config import add_dataclass_arguments

    sub = parser.add_subparsers(dest="suite", metavar="SUITE", parser_class=OneLineParser)
    sub.required = True
    for name, suite in SUITES.items():
        cls = _load(suite.config)
        p = sub.add_parser(name, help=suite.help, description=suite.help)
        p.add_argument("--config", help="YAML file with the suite's config fields (flags override it)")
        nested = _nested(cls)
        add_dataclass_arguments(p, cls, skip=tuple(nested))
        for field_name, sub_cls in nested.items():
            group = p.add_argument_group(f"{field_name} (--{field_name}.<key>)")
            before = {a.dest for a in p._actions}
            add_dataclass_arguments(group, sub_cls)
            for action in p._actions:
                if action.dest not in before:
                    action.option_strings = [f"--{field_name}." + o[2:] for o in action.option_strings]
                    action.dest = f"{field_name}.{action.dest}"
            p._option_string_actions = {o: a for a in p._actions for o in a.option_strings}


def run(args: argparse.Namespace) -> int:
    from nsca.config import load_yaml, resolve

    suite = SUITES[args.suite]
    cls = _load(suite.config)
    base = load_yaml(args.config) if args.config else {}
    for field_name in _nested(cls):
        sub = dict(base.get(field_name) or {})
        prefix = field_name + "."
        sub.update({k[len(prefix):]: v for k, v in vars(args).items() if k.startswith(prefix) and v is not None})
        if sub:
            base[field_name] = sub
    cfg = resolve(cls, args, base=base)
    runner: Callable[[Any], dict] = _load(suite.run)
    report = runner(cfg)
    print(_load(suite.report)(report))
    print(f"\nresults: {cfg.out}/results.json and report.md (see the suite's docs for the rest)")
    return 0
