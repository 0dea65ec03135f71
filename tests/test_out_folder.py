"""Every command that takes --out refuses an --out it cannot write, or one that cannot exist, in
one line with exit 2 before any work, and writes nothing."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from nsca.cli import build_parser, main


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return {name: p for a in parser._actions if isinstance(a, argparse._SubParsersAction) for name, p in a.choices.items()}


def commands_with_out() -> list[list[str]]:
    """Every `nsca` command (and sub-command: `sanity CHECK`, `eval SUITE`) whose parser has --out."""
    found = []
    for name, parser in _subparsers(build_parser()).items():
        for argv, p in [([name, sub], q) for sub, q in _subparsers(parser).items()] or [([name], parser)]:
            if "--out" in p._option_string_actions:
                found.append(argv)
    return found


COMMANDS = commands_with_out()
# Flags a command cannot start without (its config's validate refuses an empty value first).
REQUIRED = {("eval", "grounding"): ["--checkpoint", "runs/train/any"]}


def test_the_commands_taking_out_are_found():
    names = {" ".join(c) for c in COMMANDS}
    assert {"lethality", "ablate", "babble", "report", "sanity noisy-tv", "eval physion"} <= names


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_an_unwritable_or_impossible_out_is_one_line_and_exit_2(argv, tmp_path, capsys):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    # Under a regular file; under /proc, which no user (root included) can create folders in.
    for out in (a_file / "out", Path("/proc") / "nsca-out-test" / "run"):
        before = sorted(tmp_path.rglob("*"))
        assert main([*argv, *REQUIRED.get(tuple(argv), []), "--out", str(out)]) == 2, out
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"nsca {argv[0]}: error: output folder is not writable: {out}"], err
        assert sorted(tmp_path.rglob("*")) == before and not Path("/proc/nsca-out-test").exists()
