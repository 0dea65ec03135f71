"""`nsca report`: one self-contained HTML page and a Markdown twin from the run folders on disk."""

from __future__ import annotations

import argparse

NAME = "report"
HELP = "build one HTML page (figures inline) and a Markdown report from every phase's run folders"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nsca.reporting.phases import PHASES

    parser.add_argument("--runs", default="runs", help="the runs folder the phase folders default to (default: runs)")
    parser.add_argument("--out", default=None, help="where report.html, report.md and figures/ go (default: RUNS/report)")
    for phase in PHASES:
        default = "$NSCA_DATA_ROOT/babbling, i.e. ./data/babbling" if phase.folder is None else f"RUNS/{phase.folder}"
        parser.add_argument(f"--{phase.name}", default=None, metavar="DIR", help=f"{phase.reads} (default: {default})")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nsca.errors import UsageError
    from nsca.reporting.page import build_report, write_report
    from nsca.reporting.phases import PHASES, folders
    from nsca.utils.io import ensure_writable_dir

    out = ensure_writable_dir(Path(args.out) if args.out else Path(args.runs) / "report")  # before any reading
    where = folders(args.runs, **{p.name: getattr(args, p.name) for p in PHASES})
    found = [name for name, folder in where.items() if folder.is_dir()]
    if not found:
        raise UsageError(f"no phase has a run folder under {args.runs} (looked for {', '.join(map(str, where.values()))}); "
                         "run a phase first, or point --runs or --<phase> at its folder")
    print(f"phase folders found: {', '.join(f'{name} ({where[name]})' for name in found)}")
    report = build_report(where, runs=args.runs)
    written = write_report(report, out)
    for s in report.sections:
        print(f"{s.title}: {s.note or s.status}")
    print(f"finding (seed §10, rule {report.finding['rule_applied']}): {report.finding['title']}")
    print(f"report: {written['html']} (self-contained) and {written['markdown']}")
    return 0
