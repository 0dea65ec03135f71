"""Benchmarks the trained agent is evaluated on."""
