"""Innate physics: analytic laws (innate.py) and the learnable blend with data (adaptive.py)."""
