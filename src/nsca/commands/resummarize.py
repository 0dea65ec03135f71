"""`nsca resummarize RUN...`: rebuild finished runs' summaries from their stored cells."""

from __future__ import annotations

import argparse

NAME = "resummarize"
HELP = ("rebuild a finished run's results.json, report and plot from its stored cells with this commit's statistics "
        "(no cell is rerun)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run folders (each with config.json, results.json, cells)")


def run(args: argparse.Namespace) -> int:
    from nsca.reporting.resummarize import experiment_named, resummarize

    for folder in args.runs:
        results = resummarize(folder)
        exp = experiment_named(results["experiment"])
        print(f"{folder}: {results['resummarized']['cells']} cells re-summarized; {exp.status(results)}")
    return 0
