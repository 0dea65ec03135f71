"""`nsca sanity noisy-tv|forgetting|balloon`: the three checks that gate full training.

Each prints its figures and PASS/FAIL, exits 0 (PASS) or 1 (FAIL), and writes results.json and
plot.png in its run folder (default runs/sanity/<check>/). Finished (condition, seed) cells in
that folder are reused, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import importlib

NAME = "sanity"
HELP = "run a sanity check (noisy-tv, forgetting, balloon): prints figures and PASS/FAIL"

# check name -> (experiment module, config class name, default seeds, one-line help)
CHECKS = {
    "noisy-tv": ("nsca.experiments.noisy_tv", "NoisyTVConfig", 5,
                 "naive vs robust curiosity beside a TV of random static"),
    "forgetting": ("nsca.experiments.forgetting", "ForgettingConfig", 3,
                   "BC on pick-place then push, with and without EWC: is pick-place kept?"),
    "balloon": ("nsca.experiments.balloon", "BalloonConfig", 3,
                "train the prior-0.9 world model in a world of rising objects: does its prior weight fall?"),
}


def _config_class(check: str) -> type:
    module, cls, _, _ = CHECKS[check]
    return getattr(importlib.import_module(module), cls)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nsca.config import add_dataclass_arguments

    sub = parser.add_subparsers(dest="check", metavar="CHECK", parser_class=type(parser))
    sub.required = True
    for check, (_, _, default_seeds, help_text) in CHECKS.items():
        p = sub.add_parser(check, help=help_text, description=help_text)
        p.add_argument("--seeds", type=int, default=default_seeds, help=f"number of seeds, 0..N-1 (default: {default_seeds})")
        p.add_argument("--out", default=f"runs/sanity/{check}", help=f"run folder (default: runs/sanity/{check})")
        p.add_argument("--workers", type=int, default=1, help="parallel worker processes for the (condition, seed) cells (default: 1)")
        p.add_argument("--config", default=None, help="YAML file with config keys (CLI flags override it)")
        add_dataclass_arguments(p, _config_class(check))


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nsca.config import resolve
    from nsca.errors import UsageError
    from nsca.experiments.sanity_common import verdict_line

    if args.seeds < 1:
        raise UsageError(f"--seeds must be at least 1, got {args.seeds}")
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    module = importlib.import_module(CHECKS[args.check][0])
    cfg = resolve(_config_class(args.check), args, args.config)
    results = module.run(cfg, seeds=args.seeds, out=args.out, workers=args.workers)
    for line in module.report_lines(results):
        print(line)
    passed = results["verdict"] == "PASS"
    print(verdict_line(args.check, passed, Path(args.out)))
    return 0 if passed else 1
