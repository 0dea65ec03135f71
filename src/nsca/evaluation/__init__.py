"""Benchmarks the trained agent is evaluated on (phase 7), and the plan's ablation entry point."""

from __future__ import annotations


def run_ablation_study(**overrides) -> dict:
    """The plan's phase-5 entry point (`from nsca.evaluation import run_ablation_study`): runs
    `nsca ablate` with its defaults (the N=20 study) or the given config keys, e.g.
    `run_ablation_study(preset="hour")` or `run_ablation_study(n_seeds=10, tasks=["pick-place"])`,
    prints the report and returns the results dict (also in `out`/results.json)."""
    from nsca.config import from_dict
    from nsca.experiments.ablation import EXPERIMENT, AblationConfig
    from nsca.experiments.protocol import run_experiment

    cfg = from_dict(AblationConfig, overrides)
    results = run_experiment(EXPERIMENT, cfg)
    print("\n".join(EXPERIMENT.report_lines(results)))
    print(f"ablate: {EXPERIMENT.status(results)}  ({', '.join(results['files'])} in {cfg.out})")
    return results
