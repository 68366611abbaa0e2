"""Statistics used by painsim's tables, comparisons, studies and figures, declared once.

Intervals
    :func:`t_interval` (over replicate means), :func:`normal_interval` (over many patients),
    :func:`bootstrap_interval` (percentile bootstrap of a mean over patients),
    :func:`two_level_bootstrap_interval` (replicates, then patients within them),
    :func:`cluster_bootstrap_interval` (people resampled with all their records),
    :func:`wilson_interval` (a proportion), :func:`ols_band` (a fitted line).
Tests and models
    :func:`welch_test` (Welch t, p and Cohen's d), :func:`cohens_d`, :func:`correlation_test`
    (Pearson r and p), :func:`adjusted_slope` (OLS slope and p given covariates),
    :func:`batched_ols`, :func:`bootstrap_indirect` and :func:`mediation` (single-mediator
    model with a percentile bootstrap of the indirect effect), :func:`path_intervals` (bootstrap
    intervals of every path of that model and of the share mediated).

All percentile bootstraps draw resamples from the generator they are given, so a seeded
generator gives the same interval every time. The tests check each function against SciPy,
statsmodels or a closed form (``tests/test_stats.py``).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from sim.analysis.resample import exact_draws, two_level_counts

# scipy.stats takes most of a second to import; the quantiles below are its own functions
# (norm.ppf is special.ndtri, t.ppf(q, df) is special.stdtrit(df, q)), so only the one
# function that needs more (correlation_test) imports it.

LEVEL = 0.95
"""Default confidence level."""
RESAMPLES = 1000
"""Default number of bootstrap resamples."""
_DRAWS_PER_BATCH = 1 << 21
"""Patient draws counted per batch of resamples (bounds the counts' memory to 16 MB)."""


def _tails(level: float) -> tuple[float, float]:
    tail = 100 * (1 - level) / 2
    return tail, 100 - tail


def t_interval(
    values: np.ndarray, level: float = LEVEL
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and Student-t interval over the rows of (R, K) values, per column.

    With R - 1 degrees of freedom: the interval for the mean of R replicate means. With fewer
    than two rows the interval is undefined (NaN).

    Examples
    --------
    >>> mean, low, high = t_interval(np.array([[1.0], [3.0]]))
    >>> float(mean[0]), round(float(high[0] - mean[0]), 3)
    (2.0, 12.706)
    """
    values = np.asarray(values, dtype=float)
    r = values.shape[0]
    mean = values.mean(axis=0)
    if r < 2:
        nan = np.full_like(mean, np.nan)
        return mean, nan, nan.copy()
    half = special.stdtrit(r - 1, 0.5 + level / 2) * values.std(axis=0, ddof=1) / math.sqrt(r)
    return mean, mean - half, mean + half


def normal_interval(
    values: np.ndarray, level: float = LEVEL
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and normal-approximation interval of the mean of (N, K) values, per column.

    NaN values are left out. For the cohort sizes painsim records (hundreds or more) it agrees
    with a percentile bootstrap to within the bootstrap's own Monte Carlo error, at no cost.

    Examples
    --------
    >>> mean, low, high = normal_interval(np.array([[0.0], [2.0], [4.0]]))
    >>> float(mean[0]), round(float(high[0] - mean[0]), 4)
    (2.0, 2.2632)
    """
    values = np.asarray(values, dtype=float)
    present = ~np.isnan(values)
    n = present.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(values, axis=0) / n
        centred = np.where(present, values - mean, 0.0)
        sd = np.sqrt((centred**2).sum(axis=0) / (n - 1))
        half = special.ndtri(0.5 + level / 2) * sd / np.sqrt(n)
    return mean, mean - half, mean + half


def bootstrap_interval(
    values: np.ndarray,
    rng: np.random.Generator,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of the NaN-aware mean of (N, K) values, per column.

    Rows (patients) are resampled with replacement; NaN values are left out of each mean.
    Memory stays O(N) for any cohort: each resample is a vector of counts, not a copy.

    Returns
    -------
    (low, high)
    """
    n = values.shape[0]
    present = ~np.isnan(values)
    filled = np.where(present, values, 0.0)
    means = np.empty((resamples, values.shape[1]))
    for b in range(resamples):
        counts = np.bincount(rng.integers(0, n, n), minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            means[b] = (counts @ filled) / (counts @ present)
    low, high = _tails(level)
    with np.errstate(invalid="ignore"):  # an outcome nobody has (responders without arms)
        return np.percentile(means, low, axis=0), np.percentile(means, high, axis=0)


def two_level_bootstrap_interval(
    values: np.ndarray,
    rng: np.random.Generator,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
) -> tuple[float, float]:
    """Percentile interval of the NaN-aware mean of (R, N) values: replicates, then patients.

    Each resample draws replicates with replacement (``rng.integers(0, R, R)``), then patients
    with replacement within each drawn replicate (``rng.integers(0, N, N)`` each); NaN entries
    are left out of the mean. (NaN, NaN) if no value exists. With a PCG64 generator the draws
    are made in one Numba loop (:func:`sim.analysis.resample.two_level_counts`), with exactly
    the numbers of those calls.

    Examples
    --------
    >>> values = np.array([[1.0, 2.0, 3.0, np.nan], [2.0, 3.0, 4.0, 5.0]])
    >>> low, high = two_level_bootstrap_interval(values, np.random.default_rng(1))
    >>> bool(1.0 <= low < 3.0 < high <= 5.0)
    True
    """
    r, n = values.shape
    present = ~np.isnan(values)
    filled = np.where(present, values, 0.0)
    means = np.empty(resamples)
    if exact_draws(rng):
        batch = max(1, _DRAWS_PER_BATCH // max(r * n, 1))  # bounds the counts' memory
        for first in range(0, resamples, batch):
            size = min(batch, resamples - first)
            reps, weights, counts = two_level_counts(rng, present, size)
            for b in range(size):
                total = count = 0.0
                for k in range(r):
                    # The same products, in the same order, as the definition below.
                    total += weights[b * r + k] @ filled[reps[b, k]]
                    count += counts[b, k]
                means[first + b] = total / count if count else np.nan
    else:
        for b in range(resamples):
            total = count = 0.0
            for rep in rng.integers(0, r, r):
                weights = np.bincount(rng.integers(0, n, n), minlength=n)
                total += weights @ filled[rep]
                count += weights @ present[rep]
            means[b] = total / count if count else np.nan
    if np.isnan(means).all():
        return np.nan, np.nan
    low, high = np.nanpercentile(means, _tails(level))
    return float(low), float(high)


def cluster_bootstrap_interval(
    sums: np.ndarray,
    counts: np.ndarray,
    rng: np.random.Generator,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of ratio means from (P, K) per-person sums and counts.

    People are resampled with replacement with all their records together, so repeated
    records of one person are not treated as independent.
    """
    n = sums.shape[0]
    means = np.empty((resamples, sums.shape[1]))
    for b in range(resamples):
        w = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            means[b] = (w @ sums) / (w @ counts)
    low, high = _tails(level)
    with np.errstate(invalid="ignore"):
        return np.nanpercentile(means, low, axis=0), np.nanpercentile(means, high, axis=0)


def wilson_interval(
    successes: np.ndarray, n: np.ndarray, level: float = LEVEL
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion (well defined at 0 and 1).

    Examples
    --------
    >>> low, high = wilson_interval(np.array([0]), np.array([10]))
    >>> float(low[0]), round(float(high[0]), 3)
    (0.0, 0.278)
    """
    z = special.ndtri(0.5 + level / 2)
    n = np.asarray(n, float)
    p = np.asarray(successes, float) / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def ols_band(
    x: np.ndarray, y: np.ndarray, grid: np.ndarray, level: float = LEVEL
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """Least-squares line on ``grid`` with the pointwise interval of the fitted mean.

    Non-finite pairs are left out.

    Returns
    -------
    (fit, low, high, slope, r)
    """
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = x.size
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (intercept + slope * x)
    s = math.sqrt((resid @ resid) / max(n - 2, 1))
    sxx = ((x - x.mean()) ** 2).sum()
    se = s * np.sqrt(1 / n + (grid - x.mean()) ** 2 / sxx)
    t = special.stdtrit(max(n - 2, 1), 0.5 + level / 2)
    fit = intercept + slope * grid
    r = float(np.corrcoef(x, y)[0, 1]) if n > 2 and x.std() > 0 and y.std() > 0 else math.nan
    return fit, fit - t * se, fit + t * se, float(slope), r


def cohens_d(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's d of ``a`` minus ``b`` with the average of the two variances (NaN left out).

    NaN when either group has fewer than two values or both have no spread.

    Examples
    --------
    >>> cohens_d(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 2.0]))
    1.0
    """
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if a.size < 2 or b.size < 2:
        return np.nan
    pooled = np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    return float((a.mean() - b.mean()) / pooled) if pooled > 0 else np.nan


def welch_test(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Welch's t-test of ``x`` against ``y``: (t, two-sided p, Cohen's d with pooled SD).

    Cohen's d here weights the two variances by their degrees of freedom (the usual pooled SD
    of a two-group study).

    Examples
    --------
    >>> t, p, d = welch_test(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 2.0]))
    >>> round(d, 6)
    1.0
    """
    nx, ny = x.size, y.size
    vx, vy = x.var(ddof=1), y.var(ddof=1)
    # Welch's t and Welch-Satterthwaite degrees of freedom, as scipy.stats.ttest_ind computes
    # them (equal_var=False), without its per-call overhead (a study calls this thousands of
    # times); p from the Student t tail, as scipy does.
    se2x, se2y = vx / nx, vy / ny
    t = (x.mean() - y.mean()) / math.sqrt(se2x + se2y)
    df = (se2x + se2y) ** 2 / (se2x**2 / (nx - 1) + se2y**2 / (ny - 1))
    p = 2 * special.stdtr(df, -abs(t))
    pooled = math.sqrt(((nx - 1) * vx + (ny - 1) * vy) / (nx + ny - 2))
    return float(t), float(p), float((x.mean() - y.mean()) / pooled)


def correlation_test(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Pearson correlation of ``x`` and ``y``: (r, two-sided p).

    Examples
    --------
    >>> r, p = correlation_test(np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 4.0, 5.0, 9.0]))
    >>> round(r, 3), p < 0.05
    (0.965, True)
    """
    from scipy import stats

    r, p = stats.pearsonr(x, y)
    return float(r), float(p)


def adjusted_slope(y: np.ndarray, x: np.ndarray, covariates: np.ndarray) -> tuple[float, float]:
    """Slope of ``y`` on ``x`` adjusted for (n, c) ``covariates`` (OLS with intercept), and its p.

    Examples
    --------
    >>> x = np.arange(6.0)
    >>> slope, p = adjusted_slope(2 * x + np.array([1, -1, -1, 1, 0, 0]), x, np.zeros((6, 0)))
    >>> round(slope, 6)
    2.0
    """
    import statsmodels.api as sm  # only studies need statsmodels

    fit = sm.OLS(y, np.column_stack([np.ones(x.size), x, covariates])).fit()
    return float(fit.params[1]), float(fit.pvalues[1])


def batched_ols(design: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares coefficients of many regressions at once: (B, n, k), (B, n) -> (B, k).

    Normal equations solved per batch; a rank-deficient design (a degenerate bootstrap
    resample of a tiny sample) gets NaN coefficients instead of an error.
    """
    xtx = np.einsum("bni,bnj->bij", design, design)
    xty = np.einsum("bni,bn->bi", design, y)
    full = np.linalg.matrix_rank(xtx) == xtx.shape[-1]
    coefs = np.full(xty.shape, np.nan)
    coefs[full] = np.linalg.solve(xtx[full], xty[full][..., None])[..., 0]
    return coefs


def bootstrap_indirect(
    x: np.ndarray,
    m: np.ndarray,
    y: np.ndarray,
    covariates: np.ndarray,
    rng: np.random.Generator,
    resamples: int,
) -> np.ndarray:
    """Indirect effects a*b in ``resamples`` bootstrap resamples of people (vectorized).

    a: slope of ``m`` on ``x``; b: slope of ``y`` on ``m`` given ``x``; both adjusted for the
    (n, c) ``covariates``. Degenerate resamples give NaN.
    """
    return indirect_from_counts(x, m, y, covariates, resample_counts(rng, x.size, resamples))


def resample_counts(rng: np.random.Generator, n: int, resamples: int) -> np.ndarray:
    """(resamples, n): how often each of ``n`` people is drawn in each bootstrap resample.

    The draws are ``rng.integers(0, n, size=(resamples, n))``, people drawn with replacement.

    Examples
    --------
    >>> resample_counts(np.random.default_rng(0), 3, 2).sum(axis=1).tolist()
    [3.0, 3.0]
    """
    idx = rng.integers(0, n, size=(resamples, n))
    flat = (idx + n * np.arange(resamples)[:, None]).ravel()
    return np.bincount(flat, minlength=resamples * n).reshape(resamples, n).astype(float)


def indirect_from_counts(
    x: np.ndarray, m: np.ndarray, y: np.ndarray, covariates: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """Indirect effects a*b in the resamples given by :func:`resample_counts`.

    A resample is a weighting of the people by how often each was drawn: its regressions need
    only count-weighted cross products, one matrix product for all resamples.
    """
    n = x.size
    ones = np.ones((n, 1))
    a = count_weighted_ols(counts, np.column_stack([ones, x, covariates]), m)[:, 1]
    b = count_weighted_ols(counts, np.column_stack([ones, x, m, covariates]), y)[:, 2]
    return a * b


def count_weighted_ols(weights: np.ndarray, design: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Coefficients of one regression under many weightings: (B, n), (n, k), (n,) -> (B, k).

    Row b solves the normal equations with X' W_b X and X' W_b y, W_b = diag(weights[b]):
    with bootstrap counts as weights, exactly the regression on that resample. A rank-deficient
    weighting gets NaN coefficients (as :func:`batched_ols`).

    Examples
    --------
    >>> x = np.column_stack([np.ones(4), np.arange(4.0)])
    >>> count_weighted_ols(np.array([[1.0, 1, 1, 1], [0, 2, 1, 0]]), x, 2 * np.arange(4.0) + 1)
    array([[1., 2.],
           [1., 2.]])
    """
    n, k = design.shape
    outer = (design[:, :, None] * design[:, None, :]).reshape(n, k * k)
    xtx = (weights @ outer).reshape(-1, k, k)
    xty = weights @ (design * y[:, None])
    full = _full_rank(xtx)
    coefs = np.full(xty.shape, np.nan)
    coefs[full] = np.linalg.solve(xtx[full], xty[full][..., None])[..., 0]
    return coefs


def _full_rank(xtx: np.ndarray) -> np.ndarray:
    """(B,) whether each symmetric positive semi-definite (k, k) matrix has full rank.

    matrix_rank's rule: every singular value (here: eigenvalue) above the largest times
    k * eps. Eigenvalues of many small matrices are slow to get, so a cheap bound decides
    first. With the diagonal d, C = A / sqrt(d d') has trace k and det(A) / prod(d), and
    lambda_min(A) >= lambda_min(C) * min(d) >= det(C) / k ** (k - 1) * min(d) (C's other
    eigenvalues are at most its trace), while lambda_max(A) <= trace(A). A matrix whose bound
    clears the rule's threshold a million times over has full rank under the rule too; only
    the others (in practice hardly any) get their eigenvalues.
    """
    k = xtx.shape[-1]
    threshold = k * np.finfo(float).eps
    diagonal = np.diagonal(xtx, axis1=-2, axis2=-1)
    trace = diagonal.sum(axis=-1)
    with np.errstate(all="ignore"):
        det_c = np.linalg.det(xtx) / np.prod(diagonal, axis=-1)
        bound = det_c / k ** (k - 1) * diagonal.min(axis=-1)
        full = bound > 1e6 * threshold * trace
    check = np.flatnonzero(~full)
    if check.size:
        eig = np.abs(np.linalg.eigvalsh(xtx[check]))
        full[check] = (eig > eig.max(axis=1, keepdims=True) * threshold).sum(axis=1) == k
    return full


def mediation(
    x: np.ndarray,
    m: np.ndarray,
    y: np.ndarray,
    covariates: np.ndarray,
    rng: np.random.Generator,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    counts: np.ndarray | None = None,
) -> dict[str, float]:
    """Single-mediator model x -> m -> y with covariates; percentile bootstrap of a*b.

    ``counts`` (from :func:`resample_counts`) gives the resamples, e.g. the same ones for two
    sets of covariates; by default they are drawn from ``rng``.

    Returns
    -------
    dict
        ``a_path``, ``p_a_path``, ``b_path``, ``p_b_path``, ``direct`` (c'), ``total`` (c),
        ``indirect`` (a*b), ``indirect_ci_low``, ``indirect_ci_high`` and ``share_mediated``
        (indirect / total).
    """
    import statsmodels.api as sm  # only studies need statsmodels

    const = np.ones((x.size, 1))
    fit_a = sm.OLS(m, np.column_stack([const, x, covariates])).fit()
    fit_b = sm.OLS(y, np.column_stack([const, x, m, covariates])).fit()
    fit_c = sm.OLS(y, np.column_stack([const, x, covariates])).fit()
    a, b = float(fit_a.params[1]), float(fit_b.params[2])
    if counts is None:
        counts = resample_counts(rng, x.size, resamples)
    boot = indirect_from_counts(x, m, y, covariates, counts)
    low, high = np.nanpercentile(boot, _tails(level))
    total = float(fit_c.params[1])
    return {
        "a_path": a,
        "p_a_path": float(fit_a.pvalues[1]),
        "b_path": b,
        "p_b_path": float(fit_b.pvalues[2]),
        "direct": float(fit_b.params[1]),
        "total": total,
        "indirect": a * b,
        "indirect_ci_low": float(low),
        "indirect_ci_high": float(high),
        "share_mediated": a * b / total if total != 0 else math.nan,
    }


def _residuals(y: np.ndarray, design: np.ndarray) -> np.ndarray:
    coefs, *_ = np.linalg.lstsq(design, y, rcond=None)
    return y - design @ coefs


def mediation_sensitivity(
    x: np.ndarray,
    m: np.ndarray,
    y: np.ndarray,
    covariates: np.ndarray,
    rho: np.ndarray | float = 0.0,
) -> dict[str, np.ndarray | float]:
    """Sensitivity of the indirect effect to unmeasured mediator-outcome confounding.

    Imai, Keele and Yamamoto (2010, Statistical Science 25:51-71, section 4; the ``medsens``
    method of the R package ``mediation`` for two linear models): with the mediator model
    m = a x + e2 and the outcome model y = c' x + b m + e3 (both with ``covariates``), an
    unmeasured confounder of m and y shows as a correlation rho = corr(e2, e3), which the usual
    analysis assumes to be 0. The average causal mediation effect at a given rho is

        ACME(rho) = a * s1 / s2 * (rt - rho * sqrt((1 - rt^2) / (1 - rho^2))),

    where s2 is the SD of the mediator model's residuals, s1 that of the total-effect model's
    (y = c x + e1) and rt = corr(e1, e2). At rho = 0 it is the usual a*b; it is 0 at rho = rt,
    the error correlation a confounder would have to induce to explain the mediation away.

    Returns
    -------
    dict
        ``indirect`` (ACME at each ``rho``, same shape) and ``rho_zero`` (rt).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=2000)
    >>> m = 0.5 * x + rng.normal(size=2000)
    >>> y = 0.4 * m + rng.normal(size=2000)
    >>> out = mediation_sensitivity(x, m, y, np.zeros((2000, 0)), rho=0.0)
    >>> round(float(out["indirect"]), 2), round(out["rho_zero"], 2)
    (0.18, 0.36)
    """
    design = np.column_stack([np.ones(x.size), x, covariates])
    e2 = _residuals(m, design)
    e1 = _residuals(y, design)
    a = float(np.linalg.lstsq(design, m, rcond=None)[0][1])
    s1, s2 = float(e1.std()), float(e2.std())
    rt = float(np.corrcoef(e1, e2)[0, 1])
    rho = np.asarray(rho, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        acme = a * s1 / s2 * (rt - rho * np.sqrt((1 - rt**2) / (1 - rho**2)))
    return {"indirect": acme if acme.ndim else float(acme), "rho_zero": rt}


def standardized_slope(
    x: np.ndarray, y: np.ndarray, level: float = LEVEL
) -> tuple[float, float, float, float]:
    """Standardized weight of ``y`` on one predictor ``x``, its CI and two-sided p.

    With one predictor the standardized path weight of a structural equation model equals the
    Pearson r; its CI is the Fisher-z interval and p that of the correlation test. NaN for
    fewer than four people or no spread.

    Examples
    --------
    >>> w, low, high, p = standardized_slope(np.arange(10.0), np.arange(10.0) ** 1.5)
    >>> round(w, 3), low < w < high, p < 0.001
    (0.987, True, True)
    """
    n = x.size
    if n < 4 or x.std() == 0 or y.std() == 0:
        return math.nan, math.nan, math.nan, math.nan
    r, p = correlation_test(x, y)
    z, half = math.atanh(min(max(r, -0.999999), 0.999999)), special.ndtri(0.5 + level / 2)
    half /= math.sqrt(n - 3)
    return r, math.tanh(z - half), math.tanh(z + half), p


# -- weighted population statistics (the estimands of a study's sample statistics) ------------
def weighted_moments(x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted mean and variance (frequency weights normalized; large-sample variance).

    Examples
    --------
    >>> weighted_moments(np.array([1.0, 3.0]), np.array([1.0, 3.0]))
    (2.5, 0.75)
    """
    w = w / w.sum()
    mean = float(np.sum(w * x))
    return mean, float(np.sum(w * (x - mean) ** 2))


def population_cohens_d(
    x: np.ndarray,
    y: np.ndarray,
    n_x: int,
    n_y: int,
    w_x: np.ndarray | None = None,
    w_y: np.ndarray | None = None,
) -> float:
    """Cohen's d of two (weighted) populations, pooled SD as a study of ``n_x`` vs ``n_y``.

    The value a study drawing ``n_x`` and ``n_y`` people from these populations estimates:
    the pooled variance weights the two groups' variances by ``n - 1``, as
    :func:`cohens_d` does in a sample.

    Examples
    --------
    >>> population_cohens_d(np.array([1.0, 3.0]), np.array([0.0, 2.0]), 10, 10)
    1.0
    """
    mx, vx = weighted_moments(x, np.ones(x.size) if w_x is None else w_x)
    my, vy = weighted_moments(y, np.ones(y.size) if w_y is None else w_y)
    pooled = math.sqrt(((n_x - 1) * vx + (n_y - 1) * vy) / (n_x + n_y - 2))
    return (mx - my) / pooled if pooled > 0 else math.nan


def weighted_correlation(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Pearson r with frequency weights ``w``.

    Examples
    --------
    >>> round(weighted_correlation(np.array([0.0, 1, 2]), np.array([0.0, 1, 2]), np.ones(3)), 6)
    1.0
    """
    mx, vx = weighted_moments(x, w)
    my, vy = weighted_moments(y, w)
    cov = float(np.sum(w / w.sum() * (x - mx) * (y - my)))
    return cov / math.sqrt(vx * vy) if vx > 0 and vy > 0 else math.nan


def weighted_ols(design: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least-squares coefficients of ``y`` on the columns of ``design``.

    Examples
    --------
    >>> X = np.column_stack([np.ones(3), [0.0, 1.0, 2.0]])
    >>> weighted_ols(X, np.array([1.0, 3.0, 5.0]), np.ones(3)).round(6).tolist()
    [1.0, 2.0]
    """
    sw = np.sqrt(w / w.sum())
    coefs, *_ = np.linalg.lstsq(design * sw[:, None], y * sw, rcond=None)
    return coefs


def population_mediation(
    x: np.ndarray, m: np.ndarray, y: np.ndarray, covariates: np.ndarray, w: np.ndarray
) -> dict[str, float]:
    """Weighted single-mediator model x -> m -> y with covariates (point values only).

    The population values the sample mediation of :func:`mediation` estimates.

    Returns
    -------
    dict
        ``a_path``, ``b_path``, ``direct``, ``total``, ``indirect`` and ``share_mediated``.
    """
    const = np.ones((x.size, 1))
    a = weighted_ols(np.column_stack([const, x, covariates]), m, w)[1]
    fit_b = weighted_ols(np.column_stack([const, x, m, covariates]), y, w)
    total = weighted_ols(np.column_stack([const, x, covariates]), y, w)[1]
    indirect = float(a * fit_b[2])
    return {
        "a_path": float(a),
        "b_path": float(fit_b[2]),
        "direct": float(fit_b[1]),
        "total": float(total),
        "indirect": indirect,
        "share_mediated": indirect / total if total != 0 else math.nan,
    }


def pooled_normal_interval(
    means: np.ndarray, sds: np.ndarray, counts: np.ndarray, level: float = LEVEL
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and normal interval of everyone in (G, K) groups given by mean, SD and size.

    The groups (e.g. replicates of one record time, from ``timeseries.parquet``) are pooled:
    the result is :func:`normal_interval` of all their values, computed from the moments.

    Examples
    --------
    >>> mean, low, high = pooled_normal_interval(
    ...     np.array([[1.0], [3.0]]), np.array([[1.0], [1.0]]), np.array([[50], [50]]))
    >>> float(mean[0]), round(float(high[0] - mean[0]), 3)
    (2.0, 0.277)
    """
    means, sds = np.asarray(means, float), np.asarray(sds, float)
    counts = np.asarray(counts, float)
    total = counts.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (counts * means).sum(axis=0) / total
        within = ((counts - 1) * np.nan_to_num(sds) ** 2).sum(axis=0)
        between = (counts * (means - mean) ** 2).sum(axis=0)
        sd = np.sqrt((within + between) / (total - 1))
        half = special.ndtri(0.5 + level / 2) * sd / np.sqrt(total)
    return mean, mean - half, mean + half


def cluster_normal_interval(
    sums: np.ndarray, counts: np.ndarray, level: float = LEVEL
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ratio mean and normal interval from (P, K) per-person sums and counts, per column.

    The mean of every record, where a person's records are not independent: the standard
    error is the cluster-robust (linearization) one, sqrt(P / (P - 1) * sum(u_i^2)) / C with
    u_i = s_i - mean * c_i over the P people with records in the column and C their records.
    It is what :func:`cluster_bootstrap_interval` estimates by resampling, at no cost; with
    tens of people or more the two agree to within the bootstrap's Monte Carlo error.

    Returns
    -------
    (mean, low, high)
        NaN where a column has fewer than two people.

    Examples
    --------
    >>> sums = np.array([[2.0], [4.0], [9.0]])  # three people, 2, 2 and 3 records
    >>> mean, low, high = cluster_normal_interval(sums, np.array([[2.0], [2.0], [3.0]]))
    >>> round(float(mean[0]), 3), round(float(high[0] - mean[0]), 3)
    (2.143, 1.184)
    """
    sums = np.asarray(sums, dtype=float)
    counts = np.asarray(counts, dtype=float)
    total = counts.sum(axis=0)
    people = (counts > 0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums.sum(axis=0) / total
        residual = np.where(counts > 0, sums - mean * counts, 0.0)
        var = people / (people - 1) * (residual**2).sum(axis=0) / total**2
        half = special.ndtri(0.5 + level / 2) * np.sqrt(var)
    half = np.where(people >= 2, half, np.nan)
    return mean, mean - half, mean + half


def path_intervals(
    x: np.ndarray,
    m: np.ndarray,
    y: np.ndarray,
    covariates: np.ndarray,
    rng: np.random.Generator,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
) -> dict[str, tuple[float, float, float]]:
    """Every path of the single-mediator model x -> m -> y with percentile bootstrap intervals.

    The model of :func:`mediation` (covariates in every regression); people are resampled
    with replacement, all paths from the same resamples (vectorized, :func:`batched_ols`).

    Returns
    -------
    dict
        ``a`` (m on x), ``b`` (y on m given x), ``c`` (total: y on x), ``c_prime`` (direct:
        y on x given m), ``indirect`` (a * b) and ``share_mediated`` (a * b / c), each as
        (estimate, low, high).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=200); m = 0.5 * x + rng.normal(size=200)
    >>> y = 0.4 * m + 0.2 * x + rng.normal(size=200)
    >>> paths = path_intervals(x, m, y, np.zeros((200, 0)), rng, resamples=200)
    >>> a, low, high = paths["a"]
    >>> bool(low < 0.5 < high), sorted(paths)
    (True, ['a', 'b', 'c', 'c_prime', 'indirect', 'share_mediated'])
    """
    x, m, y = (np.asarray(v, dtype=float) for v in (x, m, y))
    covariates = np.asarray(covariates, dtype=float).reshape(x.size, -1)
    n = x.size
    idx = np.concatenate([np.arange(n)[None], rng.integers(0, n, size=(resamples, n))])
    ones = np.ones((resamples + 1, n, 1))
    xs, ms, cs = x[idx][..., None], m[idx][..., None], covariates[idx]
    a = batched_ols(np.concatenate([ones, xs, cs], axis=2), m[idx])[:, 1]
    fit_b = batched_ols(np.concatenate([ones, xs, ms, cs], axis=2), y[idx])
    c = batched_ols(np.concatenate([ones, xs, cs], axis=2), y[idx])[:, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        values = {
            "a": a,
            "b": fit_b[:, 2],
            "c": c,
            "c_prime": fit_b[:, 1],
            "indirect": a * fit_b[:, 2],
            "share_mediated": a * fit_b[:, 2] / c,
        }
    tails = _tails(level)
    out = {}
    for name, v in values.items():
        boot = v[1:]
        if np.isnan(boot).all():
            low = high = math.nan
        else:
            low, high = (float(q) for q in np.nanpercentile(boot, tails))
        out[name] = (float(v[0]), low, high)
    return out
