"""`nsca report`: one self-contained HTML page and a Markdown twin from the run folders on disk."""

from __future__ import annotations

import argparse

NAME = "report"
HELP = "build one HTML page (figures inline) and a Markdown report from every phase's run folders"

_PHASES = {
    "lethality": "phase-0 default grid (default: RUNS/lethality)",
    "decomposition": "phase-0 2x2 decomposition grid (default: RUNS/decomposition)",
    "curves": "phase-0 data-efficiency curves grid (default: RUNS/curves)",
    "sanity": "folder holding the sanity checks' folders noisy-tv/, forgetting/, balloon/ (default: RUNS/sanity)",
    "babbling": "babbling dataset folder with summary.json (default: $NSCA_DATA_ROOT/babbling, i.e. ./data/babbling)",
    "train": "folder of `nsca train` run folders (default: RUNS/train)",
    "physion": "`nsca eval physion` output (default: RUNS/eval/physion)",
    "procgen": "`nsca eval procgen` output (default: RUNS/eval/procgen)",
    "ml10": "`nsca eval metaworld-ml10` output (default: RUNS/eval/metaworld-ml10)",
    "grounding": "`nsca eval grounding` output (default: RUNS/eval/grounding)",
    "ablation": "ablation study output (default: RUNS/ablation)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", default="runs", help="the runs folder the phase folders default to (default: runs)")
    parser.add_argument("--out", default=None, help="where report.html, report.md and figures/ go (default: RUNS/report)")
    for phase, help_text in _PHASES.items():
        parser.add_argument(f"--{phase}", default=None, metavar="DIR", help=help_text)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nsca.commands.sanity import CHECKS
    from nsca.evaluation.report import Paths, build_report, write_report
    from nsca.utils.io import ensure_writable_dir

    out = ensure_writable_dir(Path(args.out) if args.out else Path(args.runs) / "report")  # before any reading
    paths = Paths.under(args.runs, **{k: getattr(args, k) for k in _PHASES})
    report = build_report(paths, CHECKS, runs=args.runs)
    written = write_report(report, out)
    for s in report.sections:
        print(f"{s.title}: {s.note or s.status}")
    print(f"finding (seed §10, rule {report.finding['rule_applied']}): {report.finding['title']}")
    print(f"report: {written['html']} (self-contained) and {written['markdown']}")
    return 0
