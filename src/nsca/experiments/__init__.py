"""Experiments: each is a grid of (condition, seed) cells with a report."""
