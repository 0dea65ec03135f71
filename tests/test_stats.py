import numpy as np
import pytest

from nsca import stats


def test_bootstrap_ci_brackets_the_mean_and_is_seeded():
    x = np.random.default_rng(0).normal(0.5, 0.1, 30)
    lo, hi = stats.bootstrap_ci(x)
    assert lo < x.mean() < hi
    assert (lo, hi) == stats.bootstrap_ci(x)
    assert hi - lo < 0.1


def test_iqm_ignores_outliers():
    assert stats.iqm([0.5, 0.5, 0.5, 0.5, 100.0, -100.0, 0.5, 0.5]) == 0.5


def test_holm_adjusts_in_input_order():
    assert np.allclose(stats.holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])


def test_compare_detects_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.8, 0.05, 10), rng.normal(0.2, 0.05, 10)
    c = stats.compare(a, b)
    assert c["diff_ci95"][0] > 0.5 and c["p_welch"] < 1e-6 and c["cohens_d"] > 5
    same = stats.compare([0.2, 0.2, 0.2], [0.2, 0.2, 0.2])
    assert same["diff_abs"] == 0 and same["p_welch"] == 1.0


def test_paired_compare_uses_the_pairing():
    from nsca.stats import paired_compare

    base = np.array([0.1, 0.5, 0.9, 0.3, 0.7])
    better = base + 0.05  # small but consistent per-seed gain, hidden by the between-seed spread
    c = paired_compare(better, base)
    assert c["diff_ci95"][0] > 0 and c["wins"] == 5 and c["p_paired_t"] < 0.01
    assert c["per_seed_diff"] == pytest.approx([0.05] * 5)
    same = paired_compare(base, base)
    assert same["p_wilcoxon"] == 1.0 and same["effect_dz"] is None
    with pytest.raises(ValueError):
        paired_compare([1.0, 2.0], [1.0])


def test_strict_json_has_no_nan():
    import json

    from nsca.stats import strict_json

    assert json.dumps(strict_json({"a": float("nan"), "b": [float("inf"), 1.0]}), allow_nan=False) == '{"a": null, "b": [null, 1.0]}'
