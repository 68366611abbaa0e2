"""Recruitment and measurement: what a scanner and a questionnaire see of one study sample.

Every replication draws fresh groups from the pool (:func:`recruit`; controls frequency-matched
in age to the patients), adds scanner noise on the Fisher-z scale set by the test-retest
reliability (:func:`observe_connectivity`), turns the scans into graph metrics z-scored against
the study's own controls (:func:`perturbation_vs_controls`) and adds questionnaire error to the
coping score (:func:`observe_coping`). :func:`measure` does all of it for one replication.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from sim.core import coping
from sim.core.brain import Brain, build_brain
from sim.core.parameters import ModelParams
from sim.experiments.study.design import (
    ADULT_AGE,
    CBP,
    GROUPS,
    HC,
    REPLICATION_STREAM,
    SBP,
    PoolTooSmallError,
    study_design,
    study_rng,
)
from sim.experiments.study.indexes import Scans, index, mean_abs_z
from sim.experiments.study.pool import Pool
from sim.scenario import Scenario

AGE_BIN_YEARS = 5.0
"""Default width of the age strata controls are matched in (``[study] age_stratum_years``)."""


# -- recruitment --------------------------------------------------------------------------------
def _choose(rows: np.ndarray, k: int, rng: np.random.Generator, what: str) -> np.ndarray:
    if rows.size < k:
        raise PoolTooSmallError(
            f"only {rows.size} {what} candidates for {k} places; raise [study] population"
        )
    return rng.choice(rows, k, replace=False)


def recruit(
    pool: Pool,
    sizes: Sequence[int],
    rng: np.random.Generator,
    *,
    match_age: bool = True,
    age_min: float = ADULT_AGE,
    stratum_years: float = AGE_BIN_YEARS,
) -> np.ndarray:
    """Draw one study sample: pool rows of the controls, then subacute, then chronic patients.

    Patients are simple random samples of their candidate groups. Controls are either a simple
    random sample or, with ``match_age``, frequency-matched to the patients' ages in
    ``stratum_years`` strata (each control's stratum is that of a randomly chosen patient).

    Raises
    ------
    PoolTooSmallError
        A group (or an age stratum of the controls) has fewer candidates than places.
    """
    n_hc, n_sbp, n_cbp = sizes
    subacute = _choose(pool.rows(SBP), n_sbp, rng, "subacute")
    chronic = _choose(pool.rows(CBP), n_cbp, rng, "chronic")
    patients = np.concatenate([subacute, chronic])
    healthy = pool.rows(HC)
    if not match_age:
        controls = _choose(healthy, n_hc, rng, "healthy")
    else:
        strata = np.floor((pool.age - age_min) / stratum_years).astype(int)
        wanted = np.bincount(rng.choice(strata[patients], n_hc), minlength=strata.max() + 1)
        healthy_strata = strata[healthy]  # once, not per stratum: the pool is large
        controls = np.concatenate(
            [
                _choose(
                    healthy[healthy_strata == s],
                    k,
                    rng,
                    f"healthy (age {age_min + s * stratum_years:g}-"
                    f"{age_min + (s + 1) * stratum_years:g})",
                )
                for s, k in enumerate(wanted)
                if k
            ]
        )
    return np.concatenate([controls, patients])


# -- measurement --------------------------------------------------------------------------------
def noise_sd(between_sd: np.ndarray | float, reliability: float) -> np.ndarray | float:
    """SD of measurement error that gives ``reliability`` = between / (between + error) variance.

    Examples
    --------
    >>> noise_sd(0.15, 0.5)
    0.15
    """
    return between_sd * math.sqrt((1.0 - reliability) / reliability)


def observe_connectivity(
    edges_z: np.ndarray, brain: Brain, reliability: float, rng: np.random.Generator
) -> np.ndarray:
    """(n, E) connectivity (Pearson r) as one scan measures it.

    Noise is added on the Fisher-z scale with an SD per edge set by the test-retest reliability
    (ICC) relative to the healthy between-person SD of that edge (``brain.healthy_sd_z``).
    """
    sd = noise_sd(brain.healthy_sd_z, reliability)
    return np.tanh(edges_z + sd * rng.standard_normal(edges_z.shape))


def observe_coping(
    score: np.ndarray, params: ModelParams, reliability: float, rng: np.random.Generator
) -> np.ndarray:
    """Questionnaire coping score: true score plus error, on the 0-52 scale.

    The error SD follows from the reliability relative to the community SD of the score
    (``coping.trait_sd``); answers cannot leave the scale, so the result is clipped to 0-52.
    """
    sd = noise_sd(params.coping.trait_sd, reliability)
    return np.clip(score + sd * rng.standard_normal(score.shape), 0.0, coping.PCS_MAX)


def perturbation_vs_controls(
    edges: np.ndarray, healthy: np.ndarray, brain: Brain, params: ModelParams
) -> np.ndarray:
    """DMN perturbation of everyone against the study's own healthy controls.

    Graph metrics from thresholded connectivity (``metrics`` parameters), z-scored against the
    mean and SD of the controls in the sample, mean absolute z of the four Heukamp metrics
    (the registered index ``mean_abs_z``).
    """
    return mean_abs_z(Scans.measure(edges, brain, params), healthy)


def index_scores(
    edges: np.ndarray,
    healthy: np.ndarray,
    brain: Brain,
    params: ModelParams,
    indices: Sequence[str] = ("mean_abs_z",),
) -> dict[str, np.ndarray]:
    """Every requested index (``sim.experiments.study.indexes``) of the same scans."""
    scans = Scans.measure(edges, brain, params)
    return {key: index(key)(scans, healthy) for key in indices}


# -- one replication ----------------------------------------------------------------------------
def measure(
    pool: Pool,
    scenario: Scenario,
    sizes: Sequence[int],
    replication: int,
    brain: Brain,
    indices: Sequence[str] = ("mean_abs_z",),
) -> tuple[dict[str, np.ndarray], np.random.Generator]:
    """Recruit and measure one replication.

    The replication's random numbers depend only on the seed and ``replication``, so the same
    replication of the counterfactual model recruits the same people with the same noise.

    Returns
    -------
    (columns, rng)
        Per participant: ``row`` (in the pool), ``person``, ``group`` (code), true ``age``,
        ``female``, ``years_with_pain``, ``episodes``, ``pain``, ``coping`` and
        ``adaptation``, the questionnaire's ``coping_score`` and the measured
        ``dmn_perturbation`` (the first of ``indices``); ``index_scores`` maps every index
        to its scores. And the replication's generator (the analysis continues with it, for
        the bootstrap).
    """
    study, params = study_design(scenario), scenario.params
    rng = study_rng(scenario.scenario.seed, REPLICATION_STREAM, replication)
    rows = recruit(
        pool,
        sizes,
        rng,
        match_age=study.match_age,
        age_min=study.age_min,
        stratum_years=study.age_stratum_years,
    )
    group = pool.group[rows]
    edges = observe_connectivity(pool.edges_z[rows], brain, study.connectivity_reliability, rng)
    score = observe_coping(pool.coping[rows], params, study.coping_reliability, rng)
    scores = index_scores(edges, group == HC, brain, params, indices)
    return {
        "row": rows,
        "person": pool.person[rows],
        "group": group,
        "age": pool.age[rows],
        "female": pool.female[rows],
        "years_with_pain": pool.years_with_pain[rows],
        "episodes": pool.episodes[rows],
        "pain": pool.pain[rows],
        "coping": pool.coping[rows],
        "coping_score": score,
        "adaptation": pool.adaptation[rows],
        "dmn_perturbation": scores[indices[0]],
        "index_scores": scores,
    }, rng


def sample_table(
    pool: Pool, scenario: Scenario, sizes: Sequence[int], replication: int = 0
) -> pd.DataFrame:
    """The participants of one replication as measured (``sample.csv``).

    Columns: ``replication``, ``person`` (index in the simulated population), ``group``
    (healthy, subacute, chronic), true ``age``, ``years_with_pain``, ``episodes``, ``pain``,
    ``coping`` and ``adaptation``, the questionnaire's ``coping_score`` and the measured
    ``dmn_perturbation``.
    """
    m, _ = measure(pool, scenario, sizes, replication, build_brain(scenario.params.brain))
    for key in ("row", "female", "index_scores"):
        m.pop(key)
    table = pd.DataFrame(m)
    table["group"] = np.asarray(GROUPS)[table["group"]]
    # The model counts episodes in int32; int64 is what sample.csv reads back as.
    table["episodes"] = table["episodes"].astype(np.int64)
    return table.assign(replication=replication)[["replication", *table.columns]]
