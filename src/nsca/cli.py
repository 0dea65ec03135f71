"""The `nsca` entry point: discovers sub-commands in nsca.commands and dispatches to them."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from types import ModuleType

from nsca import commands
from nsca.errors import UsageError


class OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus the error; researchers asked for one line and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def _command_modules() -> list[ModuleType]:
    mods = []
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mods.append(importlib.import_module(f"nsca.commands.{info.name}"))
    return mods


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="nsca", description="NSCA research framework")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = build_parser()
    if prog:
        parser.prog = prog
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except UsageError as exc:
        sys.stderr.write(f"nsca {args.command}: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: finished work is saved; rerun the same command to resume\n")
        return 130


def run_subcommand(name: str, argv: list[str] | None = None) -> None:
    """Used by the thin scripts/*.py wrappers: `scripts/x.py ARGS` == `nsca NAME ARGS`."""
    argv = sys.argv[1:] if argv is None else argv
    raise SystemExit(main([*name.split(), *argv]))


if __name__ == "__main__":
    raise SystemExit(main())
