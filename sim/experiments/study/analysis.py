"""The paper's analysis of one study sample, and many replications of the whole study.

:func:`analyze` runs Welch t-tests with Cohen's d, the correlation and age-adjusted slope of
perturbation on years lived with pain, and a percentile-bootstrap mediation YLP -> coping ->
perturbation (all from :mod:`sim.analysis.stats`). :func:`run_replications` recruits, measures
and analyses many independent studies from one pool: one row each of ``study.csv``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from sim.analysis.stats import adjusted_slope, correlation_test, mediation, welch_test
from sim.core.brain import Brain, build_brain
from sim.experiments.study.design import CBP, HC, SBP, STUDY_COLUMNS, study_design
from sim.experiments.study.measurement import measure
from sim.experiments.study.population import Pool
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
) -> dict[str, float]:
    """The paper's analysis of one sample (columns of :data:`STUDY_COLUMNS` except ids).

    Group comparisons (Welch t, Cohen's d) of perturbation; across all patients, the Pearson
    correlation with years lived with pain and its slope adjusted for age (OLS); mediation
    YLP -> coping -> perturbation adjusted for age, bootstrap CI at level 1 - ``alpha``.
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
    out["r_ylp"], out["p_ylp"] = correlation_test(ylp, pp)
    out["beta_ylp"], out["p_beta_ylp"] = adjusted_slope(pp, ylp, cov)
    out.update(mediation(ylp, coping_score[patients], pp, cov, rng, resamples, 1 - alpha))
    out.update(
        mean_ylp_sbp=float(years_with_pain[sbp].mean()),
        mean_ylp_cbp=float(years_with_pain[cbp].mean()),
        mean_age_hc=float(age[hc].mean()),
        mean_age_patients=float(age[patients].mean()),
    )
    return out


def _replicate(
    pool: Pool, scenario: Scenario, sizes: Sequence[int], replication: int, brain: Brain
) -> tuple[dict[str, float], np.ndarray]:
    """One replication's row and the pool rows it recruited."""
    study = study_design(scenario)
    m, rng = measure(pool, scenario, sizes, replication, brain)
    row = analyze(
        m["dmn_perturbation"],
        m["group"],
        m["years_with_pain"],
        m["age"],
        m["coping_score"],
        rng,
        resamples=study.bootstrap_resamples,
        alpha=study.alpha,
    )
    return {"replication": replication, **row}, m["row"]


def replicate_study(
    pool: Pool, scenario: Scenario, sizes: Sequence[int], replication: int, brain: Brain
) -> dict[str, float]:
    """Recruit, measure and analyse one replication; one row of ``study.csv``.

    The replication's random numbers depend only on the seed and ``replication``, so the same
    replication of the counterfactual model recruits the same people with the same noise.
    """
    return _replicate(pool, scenario, sizes, replication, brain)[0]


def run_replications(
    pool: Pool,
    scenario: Scenario,
    sizes: Sequence[int],
    replications: int,
    *,
    progress: Callable[[int], object] | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """``replications`` independent studies from one pool.

    Returns
    -------
    (table, draws)
        One row per replication (columns :data:`STUDY_COLUMNS`), and how often each pool row
        was recruited (to report how much replications share people).
    """
    brain = build_brain(scenario.params.brain)
    draws = np.zeros(pool.group.size, dtype=np.int64)
    rows = []
    for r in range(replications):
        row, recruited = _replicate(pool, scenario, sizes, r, brain)
        rows.append(row)
        draws[recruited] += 1
        if progress is not None:
            progress(1)
    return pd.DataFrame(rows)[list(STUDY_COLUMNS)], draws
