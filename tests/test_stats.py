"""The statistics module (sim.analysis.stats) against SciPy, statsmodels and closed forms.

Every interval painsim prints comes from ``sim.analysis.stats``; these tests check each one
against an independent implementation, not against itself. Bootstrap intervals are compared
with ``scipy.stats.bootstrap`` within Monte Carlo error (a few per cent of the interval's
width at the resample counts used).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats
from support import LazyModule

from sim.analysis import resample, stats

sm = LazyModule("statsmodels.api")  # imported by the worker that runs these tests only


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


@pytest.mark.parametrize(
    ("replicates", "patients"), [(1, 1), (1, 2), (2, 1), (2, 3), (5, 7), (3, 1001)]
)
@pytest.mark.parametrize("earlier", ["none", "one 32-bit draw", "doubles"])
def test_resampling_counts_are_numpys_integer_draws_and_leave_the_stream_where_they_do(
    replicates, patients, earlier
):
    present = np.random.default_rng(patients).random((replicates, patients)) < 0.8
    for seed in range(20):
        fast, numpy_ = np.random.default_rng(seed), np.random.default_rng(seed)
        for g in (fast, numpy_):
            if earlier == "one 32-bit draw":  # leaves half of a 64-bit output buffered
                g.integers(0, 7, 1)
            elif earlier == "doubles":
                g.random(3)
        resamples = 1 + seed % 4
        reps, weights, counts = resample.two_level_counts(fast, present, resamples)
        for b in range(resamples):
            drawn = numpy_.integers(0, replicates, replicates)
            assert reps[b].tolist() == drawn.tolist()
            for k in range(replicates):
                expected = np.bincount(numpy_.integers(0, patients, patients), minlength=patients)
                assert weights[b * replicates + k].tolist() == expected.tolist()
                assert counts[b, k] == expected @ present[drawn[k]]
        assert fast.random(3).tolist() == numpy_.random(3).tolist()


@pytest.mark.parametrize("bound", [3 * 2**30, 2**31 + 12_345, 2**32 - 3])
def test_bounded_draws_reject_exactly_as_numpy_does(bound):
    """Large bounds reject many 32-bit draws (a quarter at 3 * 2**30), the path small ones
    almost never take."""
    rng = np.random.default_rng(5)
    copy = np.random.PCG64(0)
    copy.state = rng.bit_generator.state
    raw = copy.random_raw(60_000)
    position, has_half, half, drawn = 0, False, np.uint64(0), []
    for _ in range(40_000):
        value, position, has_half, half = resample._bounded(
            raw, position, has_half, np.uint64(half), np.uint64(bound)
        )
        drawn.append(value)
    assert drawn == rng.integers(0, bound + 1, 40_000).tolist()


def one_draw_per_call_two_level_bootstrap(values, rng, resamples, level=0.95):
    """The two-level bootstrap as defined: one call for the replicates of a resample, then
    one call per drawn replicate for its patients (the implementation batches the draws)."""
    r, n = values.shape
    present = ~np.isnan(values)
    filled = np.where(present, values, 0.0)
    means = np.empty(resamples)
    for b in range(resamples):
        total = count = 0.0
        for rep in rng.integers(0, r, r):
            weights = np.bincount(rng.integers(0, n, n), minlength=n)
            total += weights @ filled[rep]
            count += weights @ present[rep]
        means[b] = total / count if count else np.nan
    if np.isnan(means).all():
        return np.nan, np.nan
    tail = 100 * (1 - level) / 2
    low, high = np.nanpercentile(means, [tail, 100 - tail])
    return float(low), float(high)


@pytest.mark.parametrize(("replicates", "patients"), [(1, 1), (1, 257), (2, 40), (3, 1001)])
@pytest.mark.parametrize("bits", [np.random.PCG64, np.random.MT19937])
def test_two_level_bootstrap_gives_the_one_call_per_draw_numbers_bit_for_bit(
    replicates, patients, bits, monkeypatch
):
    monkeypatch.setattr(stats, "_DRAWS_PER_BATCH", 1000)  # several batches, one cut short
    rng = np.random.default_rng(replicates * 1000 + patients)
    values = rng.normal(size=(replicates, patients))
    values[rng.random(values.shape) < 0.2] = np.nan  # patients not in the table at that time
    for seed in (0, 1):
        got_rng, want_rng = np.random.Generator(bits(seed)), np.random.Generator(bits(seed))
        if seed:  # a generator holding half of a 64-bit output from an earlier draw
            got_rng.integers(0, 9, 1), want_rng.integers(0, 9, 1)
        got = stats.two_level_bootstrap_interval(values, got_rng, 300)
        want = one_draw_per_call_two_level_bootstrap(values, want_rng, 300)
        np.testing.assert_array_equal(got, want)
        # and the generator is left where the definition leaves it
        assert got_rng.random(4).tolist() == want_rng.random(4).tolist()


@pytest.mark.slow  # 20,000-resample comparison with SciPy
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
    proportion = LazyModule("statsmodels.stats.proportion")
    expected = proportion.proportion_confint(successes, n, alpha=0.05, method="wilson")
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
