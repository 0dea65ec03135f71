"""Seed name for `nsca verify`: python verify_world_model.py"""

from nsca.cli import run_subcommand

if __name__ == "__main__":
    run_subcommand("verify")
