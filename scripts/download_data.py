"""Seed's command: `python scripts/download_data.py --subset 0.1` == `nsca data download --subset 0.1`."""

from nsca.cli import run_subcommand

if __name__ == "__main__":
    run_subcommand("data download")
