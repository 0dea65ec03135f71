"""Seed's command: python scripts/lethality_test.py --task pick-place-v2 --n-seeds 5 --demos 5"""

from nsca.cli import run_subcommand

if __name__ == "__main__":
    run_subcommand("lethality")
