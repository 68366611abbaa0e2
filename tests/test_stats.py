"""The statistics module (sim.analysis.stats) against SciPy, statsmodels and closed forms.

Every interval painsim prints comes from ``sim.analysis.stats``; these tests check each one
against an independent implementation, not against itself. Bootstrap intervals are compared
with ``scipy.stats.bootstrap`` within Monte Carlo error (a few per cent of the interval's
width at the resample counts used).
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats as scipy_stats
from statsmodels.stats.proportion import proportion_confint

from sim.analysis import stats


@pytest.fixture(scope="module")
def skewed():
    """400 values from a skewed distribution, like pain or years with pain."""
    return np.random.default_rng(12).gamma(2.0, 1.5, size=400)


def percentile_bootstrap(values, resamples=20_000):
    res = scipy_stats.bootstrap(
        (values,),
        np.mean,
        n_resamples=resamples,
        method="percentile",
        random_state=np.random.default_rng(0),
    )
    return res.confidence_interval.low, res.confidence_interval.high


@pytest.mark.parametrize("replicates", [2, 3, 10])
def test_t_interval_is_scipys_student_t_interval_of_the_mean(replicates):
    values = np.random.default_rng(replicates).normal(5.0, 2.0, size=(replicates, 3))
    mean, low, high = stats.t_interval(values)
    for k in range(3):
        expected = scipy_stats.t.interval(
            0.95, replicates - 1, loc=values[:, k].mean(), scale=scipy_stats.sem(values[:, k])
        )
        assert (low[k], high[k]) == pytest.approx(expected, rel=1e-12)
        assert mean[k] == pytest.approx(values[:, k].mean(), rel=1e-14)


def test_t_interval_with_one_replicate_is_undefined():
    mean, low, high = stats.t_interval(np.array([[1.0, 2.0]]))
    assert mean.tolist() == [1.0, 2.0] and np.isnan(low).all() and np.isnan(high).all()


def test_normal_interval_is_scipys_normal_interval_and_leaves_out_missing_values(skewed):
    values = np.column_stack([skewed, np.where(np.arange(400) % 4 == 0, np.nan, skewed)])
    mean, low, high = stats.normal_interval(values)
    for k in range(2):
        column = values[:, k][~np.isnan(values[:, k])]
        assert mean[k] == pytest.approx(column.mean(), rel=1e-14)
        expected = scipy_stats.norm.interval(0.95, loc=column.mean(), scale=scipy_stats.sem(column))
        assert (low[k], high[k]) == pytest.approx(expected, rel=1e-12)


def test_bootstrap_interval_agrees_with_scipys_percentile_bootstrap(skewed):
    low, high = stats.bootstrap_interval(skewed[:, None], np.random.default_rng(3), 20_000)
    expected = percentile_bootstrap(skewed)
    width = expected[1] - expected[0]
    assert low[0] == pytest.approx(expected[0], abs=0.03 * width)
    assert high[0] == pytest.approx(expected[1], abs=0.03 * width)


def test_two_level_bootstrap_of_identical_replicates_is_the_patient_bootstrap(skewed):
    # Drawing replicates changes nothing when they are copies: only patients vary.
    values = np.tile(skewed[:100], (3, 1))
    low, high = stats.two_level_bootstrap_interval(values, np.random.default_rng(4), 4000)
    # Three resampled copies of 100 patients: the mean of 300 draws from those 100.
    expected = percentile_bootstrap(np.repeat(skewed[:100], 3), 20_000)
    width = expected[1] - expected[0]
    assert (low, high) == pytest.approx(expected, abs=0.05 * width)


def test_two_level_bootstrap_widens_with_differences_between_replicates(skewed):
    same = np.tile(skewed[:100], (4, 1))
    shifted = same + np.array([[-1.0], [-0.5], [0.5], [1.0]])
    narrow = np.subtract(
        *stats.two_level_bootstrap_interval(same, np.random.default_rng(5), 2000)[::-1]
    )
    wide = np.subtract(
        *stats.two_level_bootstrap_interval(shifted, np.random.default_rng(5), 2000)[::-1]
    )
    assert wide > 2 * narrow


def test_cluster_bootstrap_with_one_record_per_person_is_the_percentile_bootstrap(skewed):
    sums, counts = skewed[:, None], np.ones((400, 1))
    low, high = stats.cluster_bootstrap_interval(sums, counts, np.random.default_rng(6), 20_000)
    expected = percentile_bootstrap(skewed)
    width = expected[1] - expected[0]
    assert low[0] == pytest.approx(expected[0], abs=0.03 * width)
    assert high[0] == pytest.approx(expected[1], abs=0.03 * width)


@pytest.mark.parametrize(("successes", "n"), [(0, 10), (3, 10), (10, 10), (57, 200)])
def test_wilson_interval_is_statsmodels_wilson_interval(successes, n):
    low, high = stats.wilson_interval(np.array([successes]), np.array([n]))
    expected = proportion_confint(successes, n, alpha=0.05, method="wilson")
    assert (low[0], high[0]) == pytest.approx(expected, abs=1e-12)


def test_ols_band_is_statsmodels_confidence_band_of_the_fitted_mean():
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 30, 80)
    y = 0.8 + 0.03 * x + rng.normal(0, 0.3, 80)
    grid = np.linspace(0, 30, 7)
    fit, low, high, slope, r = stats.ols_band(x, y, grid)
    model = sm.OLS(y, sm.add_constant(x)).fit()
    band = model.get_prediction(sm.add_constant(grid)).conf_int(alpha=0.05)
    np.testing.assert_allclose(fit, model.predict(sm.add_constant(grid)), rtol=1e-10)
    np.testing.assert_allclose(low, band[:, 0], rtol=1e-10)
    np.testing.assert_allclose(high, band[:, 1], rtol=1e-10)
    assert slope == pytest.approx(model.params[1], rel=1e-10)
    assert r == pytest.approx(scipy_stats.pearsonr(x, y).statistic, rel=1e-12)


def test_welch_test_is_scipys_welch_t_test_with_the_pooled_cohens_d():
    rng = np.random.default_rng(9)
    x, y = rng.normal(1.0, 1.0, 31), rng.normal(0.4, 1.6, 77)
    t, p, d = stats.welch_test(x, y)
    expected = scipy_stats.ttest_ind(x, y, equal_var=False)
    assert (t, p) == pytest.approx((expected.statistic, expected.pvalue), rel=1e-10)
    pooled = np.sqrt((30 * x.var(ddof=1) + 76 * y.var(ddof=1)) / 106)
    assert d == pytest.approx((x.mean() - y.mean()) / pooled, rel=1e-12)


def test_cohens_d_uses_the_average_variance_and_leaves_out_missing_values():
    a, b = np.array([1.0, 2.0, 3.0, 4.0, np.nan]), np.array([0.0, 2.0, 4.0])
    expected = (2.5 - 2.0) / np.sqrt((np.var([1, 2, 3, 4], ddof=1) + 4.0) / 2)
    assert stats.cohens_d(a, b) == pytest.approx(expected, rel=1e-14)
    assert np.isnan(stats.cohens_d(np.array([1.0]), b))


def test_batched_ols_is_least_squares_and_nan_for_a_rank_deficient_design():
    rng = np.random.default_rng(10)
    design = np.concatenate([np.ones((4, 30, 1)), rng.normal(size=(4, 30, 2))], axis=2)
    design[3, :, 2] = design[3, :, 1]  # collinear
    y = rng.normal(size=(4, 30))
    coefs = stats.batched_ols(design, y)
    for b in range(3):
        np.testing.assert_allclose(coefs[b], np.linalg.lstsq(design[b], y[b], rcond=None)[0])
    assert np.isnan(coefs[3]).all()


def test_mediation_paths_are_the_statsmodels_regressions():
    rng = np.random.default_rng(11)
    n = 150
    x = rng.normal(size=n)
    m = 0.5 * x + rng.normal(size=n)
    y = 0.4 * m + 0.1 * x + rng.normal(size=n)
    covariates = rng.normal(size=(n, 1))
    res = stats.mediation(x, m, y, covariates, np.random.default_rng(1), resamples=2000)
    fit_a = sm.OLS(m, np.column_stack([np.ones(n), x, covariates])).fit()
    fit_b = sm.OLS(y, np.column_stack([np.ones(n), x, m, covariates])).fit()
    assert res["a_path"] == pytest.approx(fit_a.params[1], rel=1e-12)
    assert res["b_path"] == pytest.approx(fit_b.params[2], rel=1e-12)
    assert res["indirect"] == pytest.approx(fit_a.params[1] * fit_b.params[2], rel=1e-12)
    assert res["indirect_ci_low"] < res["indirect"] < res["indirect_ci_high"]
    # The percentile bootstrap of a*b agrees with SciPy's over the same people.
    data = (x, m, y, covariates[:, 0])

    def indirect(x, m, y, c):
        a = np.linalg.lstsq(np.column_stack([np.ones(x.size), x, c]), m, rcond=None)[0][1]
        b = np.linalg.lstsq(np.column_stack([np.ones(x.size), x, m, c]), y, rcond=None)[0][2]
        return a * b

    expected = scipy_stats.bootstrap(
        data,
        indirect,
        n_resamples=2000,
        paired=True,
        vectorized=False,
        method="percentile",
        random_state=np.random.default_rng(2),
    ).confidence_interval
    width = expected.high - expected.low
    assert res["indirect_ci_low"] == pytest.approx(expected.low, abs=0.08 * width)
    assert res["indirect_ci_high"] == pytest.approx(expected.high, abs=0.08 * width)
