"""Experiments: each is a grid of (condition, seed) cells with a report."""

# The sanity checks that gate full training: check name -> the module whose EXPERIMENT runs it.
# `nsca sanity CHECK` and `nsca report` both read this; a new check is one line here.
SANITY_CHECKS = {
    "noisy-tv": "nsca.experiments.noisy_tv",
    "forgetting": "nsca.experiments.forgetting",
    "balloon": "nsca.experiments.balloon",
}
