"""Statistics a reviewer accepts: bootstrap and t CIs, IQM, paired tests, Holm correction
(statsmodels), the minimum detectable effect of a paired design, and across-task aggregates with
stratified bootstrap CIs (rliable)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np
from scipy import stats as sps


def bootstrap_ci(
    values: Sequence[float], stat=np.mean, n_boot: int = 10_000, alpha: float = 0.05, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap CI of `stat`; seeded so reports are reproducible."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return (float("nan"), float("nan"))
    if x.size == 1:
        return (float(x[0]), float(x[0]))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    boots = np.apply_along_axis(stat, 1, x[idx]) if stat is not np.mean else x[idx].mean(axis=1)
    lo, hi = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def t_ci(values: Sequence[float], alpha: float = 0.05) -> tuple[float | None, float | None]:
    """Student-t CI of the mean, mean +- t_{1-alpha/2, n-1} x SD / sqrt(n): honest at the few seeds
    where a percentile bootstrap only returns the range. None for n < 2 (no spread to estimate);
    unclipped, so a bounded quantity (a success rate) may get a bound outside its range."""
    x = np.asarray(values, dtype=float)
    if x.size < 2:
        return (None, None)
    half = float(sps.t.ppf(1 - alpha / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return (float(x.mean()) - half, float(x.mean()) + half)


def minimum_detectable_effect(diffs: Sequence[float], family: int = 1, power: float = 0.8) -> float | None:
    """The smallest true mean difference this many paired units detect with `power` at two-sided
    alpha 0.05 / `family` (Holm's strictest step; family 1 = plain alpha 0.05), given the measured
    SD of the per-unit differences (paired t): (t_{1-alpha/2} + t_power) x SD / sqrt(n). None for
    n < 2; 0 when the differences do not vary (then nothing about the spread was observed)."""
    d = np.asarray(diffs, float)
    if d.size < 2:
        return None
    alpha = 0.05 / max(family, 1)
    t = sps.t.ppf(1 - alpha / 2, d.size - 1) + sps.t.ppf(power, d.size - 1)
    return float(t * d.std(ddof=1) / np.sqrt(d.size))


def iqm(values: Sequence[float]) -> float:
    """Interquartile mean (Agarwal et al. 2021): mean of the middle 50%, robust to outlier seeds."""
    x = np.sort(np.asarray(values, dtype=float))
    if x.size == 0:
        return float("nan")
    if x.size < 4:
        return float(x.mean())
    return float(sps.trim_mean(x, 0.25))


def summarize(values: Sequence[float], seed: int = 0, ci: str = "bootstrap") -> dict:
    """n, mean, SD, IQM and a 95% CI of the mean: `ci` "bootstrap" (percentile, seeded) or "t"
    (`t_ci`: None bounds for n = 1)."""
    x = np.asarray(values, dtype=float)
    if ci not in ("bootstrap", "t"):
        raise ValueError(f"ci must be 'bootstrap' or 't', got {ci!r}")
    lo, hi = bootstrap_ci(x, seed=seed) if ci == "bootstrap" else t_ci(x)
    return {
        "n": int(x.size),
        "mean": float(x.mean()) if x.size else float("nan"),
        "std": float(x.std(ddof=1)) if x.size > 1 else 0.0,
        "ci95_low": lo,
        "ci95_high": hi,
        "iqm": iqm(x),
    }


def welch_t(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Welch p-value; 1.0 when both samples are constant and equal (no evidence)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size < 2 or b.size < 2:
        return float("nan")
    if a.std() == 0 and b.std() == 0:
        return 1.0 if a.mean() == b.mean() else 0.0
    return float(sps.ttest_ind(a, b, equal_var=False).pvalue)


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size == 0 or b.size == 0:
        return float("nan")
    if np.all(a == a[0]) and np.all(b == a[0]):
        return 1.0
    return float(sps.mannwhitneyu(a, b, alternative="two-sided").pvalue)


def cohens_d(a: Sequence[float], b: Sequence[float]) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size < 2 or b.size < 2:
        return float("nan")
    pooled = np.sqrt(((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / (a.size + b.size - 2))
    if pooled == 0:
        return 0.0 if a.mean() == b.mean() else float(np.sign(a.mean() - b.mean()) * np.inf)
    return float((a.mean() - b.mean()) / pooled)


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values over one family of comparisons, in the input order
    (statsmodels); undefined p-values stay None and are not counted in the family."""
    from statsmodels.stats.multitest import multipletests

    idx = [i for i, p in enumerate(pvalues) if p is not None]
    out: list[float | None] = [None] * len(pvalues)
    if idx:
        for i, adjusted in zip(idx, multipletests([pvalues[i] for i in idx], method="holm")[1]):
            out[i] = float(adjusted)
    return out


def compare(a: Sequence[float], b: Sequence[float]) -> dict:
    """Difference of means a - b with a bootstrap CI on the difference, tests and effect size."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    rng = np.random.default_rng(0)
    diffs = rng.choice(a, (10_000, a.size)).mean(1) - rng.choice(b, (10_000, b.size)).mean(1)
    lo, hi = np.quantile(diffs, [0.025, 0.975])
    base = b.mean()
    return {
        "diff_abs": float(a.mean() - base),
        "diff_rel": float((a.mean() - base) / base) if base > 0 else (float("inf") if a.mean() > 0 else 0.0),
        "diff_ci95": [float(lo), float(hi)],
        "p_welch": welch_t(a, b),
        "p_mann_whitney": mann_whitney(a, b),
        "cohens_d": cohens_d(a, b),
    }


def paired_compare(a: Sequence[float], b: Sequence[float], n_boot: int = 10_000, seed: int = 0) -> dict:
    """a - b where a[i] and b[i] share seed i (same demos, BC, layouts, planner noise).

    Per-seed differences; a paired percentile bootstrap CI of their mean (resampling seeds, not
    conditions independently) and the paired t CI (`diff_ci95_t`); paired t and Wilcoxon
    signed-rank p-values; the SD of the differences and effect size d_z (mean difference / that
    SD). With 5 seeds a percentile bootstrap is optimistic (too narrow): use the t CI or 10 seeds
    for confirmatory runs. Undefined values are None, never NaN.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples need equal lengths, got {a.size} and {b.size}")
    d = np.round(a - b, 12)  # success rates are fractions: 0.4 - 0.5 must give exactly -0.1 each time
    out: dict = {"n": int(d.size), "per_seed_diff": d.tolist(), "diff_abs": float(d.mean()) if d.size else None}
    base = float(b.mean()) if b.size else 0.0
    out["diff_rel"] = float(d.mean() / base) if base > 0 else None
    if d.size >= 2:
        rng = np.random.default_rng(seed)
        boots = d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(1)
        lo, hi = np.quantile(boots, [0.025, 0.975])
        out["diff_ci95"] = [float(lo), float(hi)]
    else:
        out["diff_ci95"] = [out["diff_abs"], out["diff_abs"]] if d.size else [None, None]
    out["diff_ci95_t"] = list(t_ci(d))
    sd = float(d.std(ddof=1)) if d.size >= 2 else 0.0
    out["sd_diff"] = sd if d.size >= 2 else None
    if d.size < 2:
        out["p_paired_t"] = None
    elif sd == 0:
        out["p_paired_t"] = 1.0 if d.mean() == 0 else 0.0
    else:
        out["p_paired_t"] = float(sps.ttest_1samp(d, 0.0).pvalue)  # = ttest_rel(a, b)
    nonzero = d[d != 0]
    out["p_wilcoxon"] = float(sps.wilcoxon(nonzero).pvalue) if nonzero.size >= 1 else 1.0 if d.size else None
    out["effect_dz"] = (float(d.mean() / sd) if sd > 0 else None) if d.size >= 2 else None
    out["wins"] = int((d > 0).sum())
    out["losses"] = int((d < 0).sum())
    return out


def accuracy_ci(correct, seed: int, n_boot: int = 2000) -> dict:
    """A readout's accuracy from its per-item hits, with a seeded 95% percentile bootstrap CI and n
    (the block every evaluation suite reports)."""
    correct = np.asarray(correct)
    lo, hi = bootstrap_ci(correct.astype(float), seed=seed, n_boot=n_boot)
    return {"accuracy": float(correct.mean()), "ci95_low": lo, "ci95_high": hi, "n": int(correct.size)}


def strict_json(obj):
    """Replace NaN / inf by None, recursively, so that json.dumps(allow_nan=False) accepts it."""
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if isinstance(obj, np.generic):
        return strict_json(obj.item())
    return obj


# ---- across tasks: rliable (Agarwal et al. 2021) ---------------------------------------------


@contextlib.contextmanager
def _numpy_global_seed(seed: int):
    """rliable's stratified bootstrap draws from numpy's global RNG (its `random_state` argument
    is not used for the resampling): seed it for the call and restore it after."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def interval_estimates(scores: dict[str, np.ndarray], reps: int = 2000, seed: int = 0) -> dict[str, dict]:
    """IQM and mean of each method's (runs x tasks) score matrix with 95% stratified bootstrap
    CIs (runs resampled within each task), computed by rliable; seeded."""
    from rliable import library as rly
    from rliable import metrics

    def agg(x):
        return np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x)])

    with _numpy_global_seed(seed):
        point, interval = rly.get_interval_estimates(scores, agg, reps=reps)
    return {k: {"iqm": float(point[k][0]), "iqm_ci95": [float(interval[k][0, 0]), float(interval[k][1, 0])],
                "mean": float(point[k][1]), "mean_ci95": [float(interval[k][0, 1]), float(interval[k][1, 1])]}
            for k in scores}


def probability_of_improvement(x: np.ndarray, y: np.ndarray, reps: int = 2000, seed: int = 0) -> dict:
    """P(X > Y) for two (runs x tasks) score matrices (the Mann-Whitney statistic per task,
    averaged over tasks) with its 95% stratified bootstrap CI, by rliable; seeded."""
    from rliable import library as rly
    from rliable import metrics

    with _numpy_global_seed(seed):
        point, interval = rly.get_interval_estimates({"p": (x, y)}, metrics.probability_of_improvement, reps=reps)
    lo, hi = np.ravel(interval["p"])[:2]
    return {"p_improve": float(np.ravel(point["p"])[0]), "p_improve_ci95": [float(lo), float(hi)]}


def performance_profile(scores: dict[str, np.ndarray], taus: Sequence[float]) -> dict[str, list[float]]:
    """Fraction of runs (tasks pooled) scoring above each threshold tau: rliable's performance
    profile, point estimates."""
    from rliable import library as rly

    with _numpy_global_seed(0):
        profiles, _ = rly.create_performance_profile({k: np.asarray(v, float) for k, v in scores.items()},
                                                     np.asarray(taus, float), reps=20)
    return {k: [float(v) for v in profiles[k]] for k in scores}
