"""Seed name for `nsca train`: python scripts/train_world_model.py --config configs/training_config.yaml"""

from nsca.cli import run_subcommand

if __name__ == "__main__":
    run_subcommand("train")
