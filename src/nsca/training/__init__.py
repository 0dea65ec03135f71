"""World-model training: typed config, data and batching, the loop, checkpoints, plots."""
