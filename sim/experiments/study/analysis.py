"""The paper's analysis of one study sample, and many replications of the whole study.

:func:`analyze` runs Welch t-tests with Cohen's d, the correlation and age-adjusted slope of
perturbation on years lived with pain, a percentile-bootstrap mediation YLP -> coping ->
perturbation (adjusted for age, and again for age and sex) and the sensitivity of the mediation
to unmeasured mediator-outcome confounding (all from :mod:`sim.analysis.stats`).
:func:`run_replications` recruits, measures and analyses many independent studies from one
pool: one row each of ``study.csv``. :class:`ReplicationJob` is a slice of replications as a
task that any backend can run (``sim.experiments.backends``).
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.analysis.stats import (
    adjusted_slope,
    correlation_test,
    mediation,
    mediation_sensitivity,
    resample_counts,
    welch_test,
)
from sim.core.brain import Brain, build_brain
from sim.experiments.study.design import (
    CBP,
    HC,
    SBP,
    STUDY_COLUMNS,
    PoolTooSmallError,
    study_design,
)
from sim.experiments.study.measurement import measure
from sim.experiments.study.pool import Pool
from sim.scenario import Scenario


def analyze(
    perturbation: np.ndarray,
    group: np.ndarray,
    years_with_pain: np.ndarray,
    age: np.ndarray,
    coping_score: np.ndarray,
    rng: np.random.Generator,
    *,
    resamples: int = 1000,
    alpha: float = 0.05,
    female: np.ndarray | None = None,
    prior_years_with_pain: np.ndarray | None = None,
) -> dict[str, float]:
    """The paper's analysis of one sample (columns of :data:`STUDY_COLUMNS` except ids).

    Group comparisons (Welch t, Cohen's d) of perturbation; across all patients, the Pearson
    correlation with years lived with pain and its slope adjusted for age (OLS); mediation
    YLP -> coping -> perturbation adjusted for age, bootstrap CI at level 1 - ``alpha``; then
    the same mediation adjusted for age and sex (``female``; NaN without it; the same
    bootstrap resamples) and the error
    correlation at which an unmeasured confounder of coping and perturbation would explain the
    age-adjusted mediation away (``rho_zero``, Imai, Keele & Yamamoto 2010).
    """
    p = perturbation
    hc, sbp, cbp = (group == g for g in (HC, SBP, CBP))
    out: dict[str, float] = {
        "n_hc": int(hc.sum()),
        "n_sbp": int(sbp.sum()),
        "n_cbp": int(cbp.sum()),
    }
    for name, (x, y) in {"cbp_hc": (cbp, hc), "cbp_sbp": (cbp, sbp), "sbp_hc": (sbp, hc)}.items():
        out[f"t_{name}"], out[f"p_{name}"], out[f"d_{name}"] = welch_test(p[x], p[y])
    patients = sbp | cbp
    ylp, pp, cov = years_with_pain[patients], p[patients], age[patients][:, None]
    coping = coping_score[patients]
    out["r_ylp"], out["p_ylp"] = correlation_test(ylp, pp)
    out["beta_ylp"], out["p_beta_ylp"] = adjusted_slope(pp, ylp, cov)
    # The age-and-sex analysis below reuses these resamples (paired with this one).
    counts = resample_counts(rng, ylp.size, resamples)
    out.update(mediation(ylp, coping, pp, cov, rng, resamples, 1 - alpha, counts))
    out.update(
        mean_ylp_sbp=float(years_with_pain[sbp].mean()),
        mean_ylp_cbp=float(years_with_pain[cbp].mean()),
        mean_age_hc=float(age[hc].mean()),
        mean_age_patients=float(age[patients].mean()),
    )
    adjusted = dict.fromkeys(("indirect", "indirect_ci_low", "indirect_ci_high"), math.nan)
    if female is not None:
        sex = female[patients].astype(float)[:, None]
        if 0 < sex.sum() < sex.size:  # both sexes present: otherwise sex is a constant
            covariates = np.column_stack([cov, sex])
            adjusted = mediation(ylp, coping, pp, covariates, rng, resamples, 1 - alpha, counts)
    out.update(
        indirect_age_sex=adjusted["indirect"],
        indirect_age_sex_ci_low=adjusted["indirect_ci_low"],
        indirect_age_sex_ci_high=adjusted["indirect_ci_high"],
        rho_zero=float(mediation_sensitivity(ylp, coping, pp, cov)["rho_zero"]),
        mean_prior_ylp_sbp=(
            float(prior_years_with_pain[sbp].mean())
            if prior_years_with_pain is not None
            else math.nan
        ),
    )
    return out


def _replicate(
    pool: Pool,
    scenario: Scenario,
    sizes: Sequence[int],
    replication: int,
    brain: Brain,
    indices: Sequence[str] = ("mean_abs_z",),
) -> tuple[dict[str, dict[str, float]], np.ndarray]:
    """One replication's row per index and the pool rows it recruited.

    Every index sees the same people, the same noise and the same bootstrap resamples (the
    generator is copied before the analysis), so their rows differ only by the index.
    """
    study = study_design(scenario)
    m, rng = measure(pool, scenario, sizes, replication, brain, indices)
    prior = pool.prior_years_with_pain[m["row"]]
    state = copy.deepcopy(rng)
    rows = {}
    for i, key in enumerate(indices):
        row = analyze(
            m["index_scores"][key],
            m["group"],
            m["years_with_pain"],
            m["age"],
            m["coping_score"],
            rng if i == 0 else copy.deepcopy(state),
            resamples=study.bootstrap_resamples,
            alpha=study.alpha,
            female=m["female"],
            prior_years_with_pain=prior,
        )
        rows[key] = {"replication": replication, **row}
    return rows, m["row"]


def replicate_study(
    pool: Pool, scenario: Scenario, sizes: Sequence[int], replication: int, brain: Brain
) -> dict[str, float]:
    """Recruit, measure and analyse one replication; one row of ``study.csv``.

    The replication's random numbers depend only on the seed and ``replication``, so the same
    replication of the counterfactual model recruits the same people with the same noise.
    """
    rows, _ = _replicate(pool, scenario, sizes, replication, brain)
    return rows["mean_abs_z"]


@dataclass(frozen=True)
class ReplicationJob:
    """Replications ``first`` to ``stop - 1`` of one study design: a task for any backend.

    Attributes
    ----------
    key
        Names the design (returned with the result).
    pool
        The candidates the design may recruit (already restricted by its rules).
    scenario
        The scenario of the population (its ``[study]`` section sets the analysis).
    sizes
        (healthy, subacute, chronic) sample sizes.
    first, stop
        Replication numbers; each has its own random stream, so slices can run anywhere.
    indices
        Perturbation indices to analyse (``sim.experiments.study.indexes``).
    skip_short
        Skip a replication whose sample cannot be filled (too few candidates in a group or an
        age stratum) instead of failing: for the variants of a sensitivity analysis, whose
        populations may be smaller or differently composed than the study's; the number of
        replications each variant kept is reported.
    """

    key: str
    pool: Pool
    scenario: Scenario
    sizes: tuple[int, int, int]
    first: int
    stop: int
    indices: tuple[str, ...] = ("mean_abs_z",)
    skip_short: bool = False

    def run(self) -> tuple[dict[str, list[dict[str, float]]], np.ndarray]:
        """Rows per index, and how often each pool row was recruited."""
        brain = build_brain(self.scenario.params.brain)
        draws = np.zeros(self.pool.group.size, dtype=np.int64)
        rows: dict[str, list[dict[str, float]]] = {key: [] for key in self.indices}
        for r in range(self.first, self.stop):
            try:
                by_index, recruited = _replicate(
                    self.pool, self.scenario, self.sizes, r, brain, self.indices
                )
            except PoolTooSmallError:
                if not self.skip_short:
                    raise
                continue
            for key, row in by_index.items():
                rows[key].append(row)
            draws[recruited] += 1
        return rows, draws


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Linear algebra on one thread while a study analyses its replications.

    A replication's matrices are small (a few hundred people by a few columns), so BLAS
    threads gain nothing, and on a shared machine waking them costs more than the work:
    measured on 2 busy cores, a replication took 3 to 4 times as long with OpenBLAS's
    default threads, and worker processes each starting their own threads made it worse.
    Uses threadpoolctl (installed with scikit-learn); without it nothing changes.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with the dependencies
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def run_task(task: ReplicationJob) -> tuple[str, int, object]:
    """Run any study task (a :class:`ReplicationJob` or another job with ``run()``).

    Module level, so that every backend can run it; returns the task's key, its first
    replication and its result. Linear algebra runs on one thread
    (:func:`single_threaded_blas`); results do not depend on it.
    """
    with single_threaded_blas():
        return task.key, task.first, task.run()


def split(replications: int, workers: int) -> list[tuple[int, int]]:
    """Slices of replications for ``workers`` workers (one slice when there is one worker).

    Examples
    --------
    >>> split(200, 2)
    [(0, 100), (100, 200)]
    >>> split(3, 1)
    [(0, 3)]
    """
    parts = max(1, min(replications, workers))
    bounds = np.linspace(0, replications, parts + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]


def run_replications(
    pool: Pool,
    scenario: Scenario,
    sizes: Sequence[int],
    replications: int,
    *,
    progress: Callable[[int], object] | None = None,
    indices: Sequence[str] = ("mean_abs_z",),
) -> tuple[pd.DataFrame, np.ndarray]:
    """``replications`` independent studies from one pool (in this process).

    Returns
    -------
    (table, draws)
        One row per replication (columns :data:`STUDY_COLUMNS`) with the first of
        ``indices``, and how often each pool row was recruited (to report how much
        replications share people).
    """
    brain = build_brain(scenario.params.brain)
    draws = np.zeros(pool.group.size, dtype=np.int64)
    rows = []
    with single_threaded_blas():
        for r in range(replications):
            by_index, recruited = _replicate(pool, scenario, sizes, r, brain, tuple(indices))
            rows.append(by_index[indices[0]])
            draws[recruited] += 1
            if progress is not None:
                progress(1)
    return pd.DataFrame(rows, columns=list(STUDY_COLUMNS)), draws
