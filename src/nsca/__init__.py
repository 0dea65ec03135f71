"""NSCA: a small multi-modal world model with innate physics priors."""

__version__ = "0.1.0"
