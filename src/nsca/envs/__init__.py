"""Environments: Meta-World harness, the babbling playground and the sanity-check worlds."""
