"""Datasets: the babbling store, demos, and loaders for external video/audio/Physion data."""
