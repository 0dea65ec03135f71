"""Babbling: spawn modes, affordance primitives, outcomes/coverage, explorer, impact audio, probe, `nsca babble`."""
