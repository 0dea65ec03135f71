"""Sanity check: same as `nsca sanity forgetting` (see `--help`); prints figures and PASS/FAIL, exit 0/1."""

from nsca.cli import run_subcommand

if __name__ == "__main__":
    run_subcommand("sanity forgetting")
