"""The virtual Heukamp study: a cross-sectional imaging study run on simulated people.

Heukamp et al. (Pain 2025, epub 2024) scanned 39 healthy controls (HC), 77 patients with subacute
(SBP) and 31 with chronic back pain (CBP) and reported (1) DMN perturbation in CBP vs HC, (2) no
difference between CBP and SBP, (3) perturbation rising with years lived with pain (YLP) across
all patients and (4) that link mediated by cognitive pain coping. This module runs the same study
on painsim's people, many times, and counts how often each finding comes out (docs/model.md,
"Virtual Heukamp study"):

1. *Population* (:func:`simulate_population`): ``[study] population`` people are simulated from
   age 18 without any pain history, so everyone recruited carries a whole adult pain history.
   A random quarter are met once at a uniform random age in the study's range (cross-section:
   healthy-control and chronic candidates); the other three quarters are watched through a
   recruitment window of ``recruitment_years`` and recruited at a random moment of the first
   episode in the subacute window (subacute candidates, the scarce group). The true state at
   that moment is kept (:class:`Pool`). People are simulated in bands of meeting age, each only
   as long as the study can still use them.
2. *Recruitment* (:func:`recruit`): every replication draws fresh groups from the pool; controls
   are frequency-matched in age to the patients.
3. *Measurement* (:func:`observe_connectivity`, :func:`observe_coping`): scanner noise on the
   Fisher-z scale set by the test-retest reliability, graph metrics, z-scores against the
   study's own controls (:func:`perturbation_vs_controls`); coping with questionnaire error.
4. *Analysis* (:func:`analyze`): Welch t-tests with Cohen's d, correlation and age-adjusted
   regression on YLP, and a percentile-bootstrap mediation YLP -> coping -> perturbation.
5. *Replications, power and the counterfactual* (:func:`simulate_study`), and the results
   folder (:func:`run_study`).

Nothing here forces a finding: the analysis sees only what a scanner and a questionnaire would.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from tqdm import tqdm

import sim
from sim.analysis.stats import mediation
from sim.analysis.stats import welch_test as compare_groups
from sim.core import coping, pain
from sim.core.brain import Brain, build_brain
from sim.core.metrics import MetricReference, metrics_from_edges, perturbation_index
from sim.core.model import PainModel
from sim.core.pain import WEEKS_PER_YEAR, PainState
from sim.core.parameters import ModelParams
from sim.experiments.provenance import new_run_id as _new_run_id
from sim.experiments.provenance import utc_now as _utc_now
from sim.results.folder import check_destination as _check_destination
from sim.results.folder import staged_folder
from sim.results.manifest import package_versions as _package_versions
from sim.results.manifest import source_version as _source_version
from sim.scenario import Scenario, ScenarioError, StudySection, parse_scenario

ADULT_AGE = 18.0
"""Age at which the study population starts, without any pain history."""
SUBACUTE_ARM_SHARE = 0.75
"""Share of the population watched for subacute recruitment (the rest: cross-section).

Subacute candidates are the scarce group (a 0.5-year window finds one in about 25 watched
people; a cross-section finds a healthy or chronic candidate in about one in two)."""
POPULATION_BANDS = 8
"""Bands of meeting ages simulated as separate models (see :func:`simulate_population`)."""
AGE_BIN_YEARS = 5.0
"""Width of the age strata used to match controls to patients."""
STUDY_KEY = 20240710
"""First spawn-key entry of the study's random streams; model replicates use keys < 10,000."""
_POOL_STREAM, _REPLICATION_STREAM = 0, 1

GROUPS: tuple[str, ...] = ("healthy", "subacute", "chronic")
HC, SBP, CBP = range(3)

STUDY_COLUMNS: tuple[str, ...] = (
    "replication",
    "n_hc",
    "n_sbp",
    "n_cbp",
    "d_cbp_hc",
    "t_cbp_hc",
    "p_cbp_hc",
    "d_cbp_sbp",
    "t_cbp_sbp",
    "p_cbp_sbp",
    "d_sbp_hc",
    "t_sbp_hc",
    "p_sbp_hc",
    "r_ylp",
    "p_ylp",
    "beta_ylp",
    "p_beta_ylp",
    "a_path",
    "p_a_path",
    "b_path",
    "p_b_path",
    "direct",
    "total",
    "indirect",
    "indirect_ci_low",
    "indirect_ci_high",
    "share_mediated",
    "mean_ylp_sbp",
    "mean_ylp_cbp",
    "mean_age_hc",
    "mean_age_patients",
)


class PoolTooSmallError(ValueError):
    """The simulated population holds too few candidates for a requested group."""


# -- design -------------------------------------------------------------------------------------
def study_design(scenario: Scenario, source: str = "<scenario>") -> StudySection:
    """The scenario's ``[study]`` section.

    Raises
    ------
    sim.scenario.ScenarioError
        The scenario has no ``[study]`` section.
    """
    if scenario.study is None:
        raise ScenarioError(
            source,
            "study",
            "section missing; `painsim study` needs a [study] "
            "section (see scenarios/heukamp2024.toml)",
        )
    return scenario.study


def override_study(
    scenario: Scenario, changes: Mapping[str, Any], source: str = "<scenario>"
) -> Scenario:
    """Return ``scenario`` with ``[study]`` fields replaced and everything validated again.

    Examples
    --------
    >>> s = parse_scenario({"scenario": {"name": "demo"}, "study": {}})
    >>> override_study(s, {"replications": 5}).study.replications
    5
    """
    data = scenario.model_dump()
    data["study"] = {**(data.get("study") or {}), **changes}
    return parse_scenario(data, source)


def group_sizes(study: StudySection, multiplier: float = 1.0) -> tuple[int, int, int]:
    """(healthy, subacute, chronic) sample sizes at ``multiplier`` times the design, >= 2 each.

    Halves are rounded up, so half of the Heukamp design is 20 / 39 / 16.

    Examples
    --------
    >>> group_sizes(StudySection(), 0.5)
    (20, 39, 16)
    """
    sizes = (study.n_healthy, study.n_subacute, study.n_chronic)
    return tuple(max(2, math.floor(n * multiplier + 0.5)) for n in sizes)


def population_scenario(
    scenario: Scenario, size: int | None = None, years: float | None = None
) -> Scenario:
    """The scenario of (part of) the study population: people from age 18 without history.

    Parameters
    ----------
    scenario
        A scenario with a ``[study]`` section.
    size, years
        Number of people and horizon; default ``population`` people up to ``age_max``.

    ``[cohort]`` keeps its sex ratio and coping distribution; treatment arms are dropped (the
    study observes usual care).
    """
    study = study_design(scenario)
    data = scenario.model_dump()
    years = study.age_max - ADULT_AGE if years is None else years
    data["scenario"].update(years=years, replicates=1, record_every_years=years)
    data["cohort"].update(
        size=study.population if size is None else size,
        age_min=ADULT_AGE,
        age_max=ADULT_AGE,
        history="none",
    )
    data.pop("arms", None)
    return parse_scenario(data, f"{scenario.scenario.name} (study population)")


def mean_coping_factor(params: ModelParams, points: int = 100_000) -> float:
    """Community mean of the drift's coping factor exp(gamma * z_c), over the trait distribution.

    Examples
    --------
    >>> from sim.core.parameters import apply_overrides
    >>> mean_coping_factor(apply_overrides(ModelParams(), {"drift.coping_weight": 0.0}))
    1.0
    """
    u = (np.arange(points) + 0.5) / points
    z = coping.z_score(coping.draw_trait(u, params.coping), params.coping)
    return float(np.exp(params.drift.coping_weight * z).mean())


def counterfactual_scenario(scenario: Scenario) -> Scenario:
    """The same scenario in a model where coping does not feed the drift.

    ``drift.coping_weight`` is set to 0 and ``drift.rate`` multiplied by the community mean of
    exp(gamma * z_c) (:func:`mean_coping_factor`), so the drift is as fast on average as in
    the model, only no longer faster for people who catastrophize. Pain and coping histories
    do not depend on the drift, so the counterfactual population lives exactly the same lives;
    only connectivity differs.
    """
    params = scenario.params
    rate = params.drift.rate * mean_coping_factor(params)
    data = scenario.model_dump()
    data["parameters"] = {
        **data["parameters"],
        "drift.coping_weight": 0.0,
        "drift.rate": min(rate, 52.0),
    }
    return parse_scenario(data, f"{scenario.scenario.name} (counterfactual)")


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(STUDY_KEY, *key)))


# -- population ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pool:
    """Everyone the study could recruit, with their true state when they were met.

    Attributes
    ----------
    person
        (n,) index of the person in the simulated population (each appears at most once).
    group
        (n,) candidate group code: :data:`HC`, :data:`SBP` or :data:`CBP`.
    age, years_with_pain, episodes, pain, coping, adaptation
        (n,) true values at the moment of the scan.
    episode_weeks
        (n,) weeks since the onset of the current episode (NaN if not in pain).
    edges_z
        (n, E) float32 true connectivity in Fisher z (canonical edge order).
    population
        Number of people simulated.
    """

    person: np.ndarray
    group: np.ndarray
    age: np.ndarray
    years_with_pain: np.ndarray
    episodes: np.ndarray
    pain: np.ndarray
    coping: np.ndarray
    adaptation: np.ndarray
    episode_weeks: np.ndarray
    edges_z: np.ndarray
    population: int

    def rows(self, group: int) -> np.ndarray:
        """Pool rows of one candidate group."""
        return np.flatnonzero(self.group == group)

    def summary(self) -> dict[str, dict[str, float]]:
        """Candidates per group: median age, years with pain, mean true coping and adaptation."""
        out = {}
        for code, name in enumerate(GROUPS):
            rows = self.rows(code)
            ylp = self.years_with_pain[rows]
            out[name] = {
                "candidates": int(rows.size),
                "median_age": float(np.median(self.age[rows])) if rows.size else math.nan,
                "median_years_with_pain": float(np.median(ylp)) if rows.size else math.nan,
                "p01_years_with_pain": float(np.percentile(ylp, 1)) if rows.size else math.nan,
                "p99_years_with_pain": float(np.percentile(ylp, 99)) if rows.size else math.nan,
                "max_years_with_pain": float(ylp.max()) if rows.size else math.nan,
                "mean_coping": float(self.coping[rows].mean()) if rows.size else math.nan,
                "mean_adaptation": float(self.adaptation[rows].mean()) if rows.size else math.nan,
            }
        return out


def _state_rows(state: PainState, rows: np.ndarray) -> PainState:
    """The pain state of a subset of people (copies)."""
    return PainState(**{f.name: getattr(state, f.name)[rows] for f in fields(PainState)})


def _scan(model: PainModel, rows: np.ndarray, group: int) -> dict[str, np.ndarray]:
    """True state and connectivity of ``rows`` now, as one block of pool records."""
    c, t = model.cohort, model.time_years
    pain_now = pain.current_intensity(_state_rows(c.pain, rows), t, model.params.pain)
    edges = model.connectivity(rows, pain_now=pain_now)
    return {
        "person": rows,
        "group": np.full(rows.size, group, dtype=np.int8),
        "age": c.age0[rows] + t,
        "years_with_pain": c.pain.years_with_pain[rows].copy(),
        "episodes": c.pain.episodes[rows].copy(),
        "pain": pain_now,
        "coping": coping.score(c.coping_trait[rows], c.coping_state[rows]),
        "adaptation": c.reversible[rows] + c.scar[rows],
        "episode_weeks": np.where(
            c.pain.in_pain[rows], (t - c.pain.onset[rows]) * WEEKS_PER_YEAR, np.nan
        ),
        "edges_z": np.arctanh(edges).astype(np.float32),
    }


def _recruitment_plan(
    scenario: Scenario,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Who is watched for subacute recruitment, when each person is met, and scan delays.

    Returns
    -------
    (watched, met, delay)
        (N,) booleans, years since age 18 at which the study meets the person, and weeks
        into a subacute episode at which a watched person would be scanned.
    """
    study = study_design(scenario)
    n, window = study.population, study.recruitment_years
    rng = _rng(scenario.scenario.seed, _POOL_STREAM)
    watched = rng.random(n) < SUBACUTE_ARM_SHARE
    # Watched people are met up to one window before age_min (their window is cut at age_min),
    # so that every age in the range is equally exposed to recruitment.
    met = (
        np.where(
            watched,
            rng.uniform(study.age_min - window, study.age_max, n),
            rng.uniform(study.age_min, study.age_max, n),
        )
        - ADULT_AGE
    )
    step_weeks = scenario.scenario.dt_weeks
    delay = rng.uniform(
        study.subacute_min_weeks,
        max(study.subacute_min_weeks, study.subacute_max_weeks - step_weeks),
        n,
    )
    return watched, met, delay


def _band_edges(study: StudySection) -> np.ndarray:
    """Edges (years since age 18) of the bands of meeting times simulated as separate models."""
    return (
        np.linspace(study.age_min - study.recruitment_years, study.age_max, POPULATION_BANDS + 1)
        - ADULT_AGE
    )


def _band_horizons(study: StudySection) -> np.ndarray:
    """Years each band must be simulated: to its last meeting plus a recruitment window."""
    edges = _band_edges(study)
    return np.minimum(edges[1:] + study.recruitment_years, study.age_max - ADULT_AGE)


def _follow(
    model: PainModel,
    people: np.ndarray,
    watched: np.ndarray,
    met: np.ndarray,
    delay: np.ndarray,
    study: StudySection,
    horizon: float,
    progress: Callable[[int], object] | None,
) -> list[dict[str, np.ndarray]]:
    """Run one band's model to ``horizon`` and scan everyone when the study meets them."""
    cross = np.flatnonzero(~watched)
    cross = cross[np.argsort(met[cross], kind="stable")]
    cross_met = met[cross]
    sub = np.flatnonzero(watched)
    start = np.maximum(met[sub], study.age_min - ADULT_AGE)
    stop = np.minimum(met[sub] + study.recruitment_years, study.age_max - ADULT_AGE)
    sub_delay, sub_open = delay[sub], np.ones(sub.size, dtype=bool)
    blocks: list[dict[str, np.ndarray]] = []
    state, dt = model.cohort.pain, model.dt_years

    def scan(rows: np.ndarray, group: int) -> None:
        block = _scan(model, rows, group)
        block["person"] = people[rows]
        blocks.append(block)

    while model.time_years < horizon - 1e-9:
        before = model.time_years
        model.run_until(min(before + dt, horizon))
        t = model.time_years
        if progress is not None:
            progress(1)
        lo, hi = np.searchsorted(cross_met, [before, t], side="left")
        if t >= horizon - 1e-9:
            hi = np.searchsorted(cross_met, horizon, side="right")
        due = cross[lo:hi]
        if due.size:
            weeks = (t - state.onset[due]) * WEEKS_PER_YEAR
            for rows, group in (
                (due[state.episodes[due] == 0], HC),
                (due[state.in_pain[due] & (weeks > study.chronic_min_weeks)], CBP),
            ):
                if rows.size:
                    scan(rows, group)
        looking = np.flatnonzero(sub_open & (start <= t) & (t <= stop) & state.in_pain[sub])
        if looking.size:
            weeks = (t - state.onset[sub[looking]]) * WEEKS_PER_YEAR
            found = looking[(weeks >= sub_delay[looking]) & (weeks <= study.subacute_max_weeks)]
            if found.size:
                sub_open[found] = False
                scan(sub[found], SBP)
    return blocks


def population_steps(scenario: Scenario) -> int:
    """Model steps :func:`simulate_population` takes (the progress bar's total)."""
    dt = scenario.scenario.dt_years
    return int(sum(math.ceil(h / dt - 1e-9) for h in _band_horizons(study_design(scenario))))


def simulate_population(
    scenario: Scenario, *, progress: Callable[[int], object] | None = None
) -> Pool:
    """Simulate the study population and keep everyone the study could recruit.

    People are grouped by the age at which the study meets them into
    :data:`POPULATION_BANDS` bands; each band is its own :class:`~sim.core.model.PainModel`
    (replicate index = band, so its own random streams), simulated from age 18 only until its
    last meeting plus one recruitment window. Nobody is simulated past the point where the
    study could still use them, which roughly halves the work.

    Parameters
    ----------
    scenario
        A validated scenario with a ``[study]`` section.
    progress
        Called with the number of model steps just done, e.g. ``tqdm.update``.

    Returns
    -------
    Pool
        Healthy candidates (no episode ever) and chronic candidates (episode older than
        ``chronic_min_weeks``) from the cross-section, subacute candidates (episode between
        ``subacute_min_weeks`` and ``subacute_max_weeks`` old) from the recruitment period.
    """
    study = study_design(scenario)
    watched, met, delay = _recruitment_plan(scenario)
    edges, horizons = _band_edges(study), _band_horizons(study)
    band = np.clip(np.searchsorted(edges, met, side="right") - 1, 0, POPULATION_BANDS - 1)
    blocks: list[dict[str, np.ndarray]] = []
    for b in range(POPULATION_BANDS):
        people = np.flatnonzero(band == b)
        if not people.size:
            continue
        horizon = float(horizons[b])
        model = PainModel(
            population_scenario(scenario, people.size, horizon), b, create_agents=False
        )
        blocks += _follow(
            model, people, watched[people], met[people], delay[people], study, horizon, progress
        )
        del model
    joined = {key: np.concatenate([b[key] for b in blocks]) for key in blocks[0]}
    order = np.argsort(joined["person"], kind="stable")
    return Pool(**{key: value[order] for key, value in joined.items()}, population=study.population)


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
) -> np.ndarray:
    """Draw one study sample: pool rows of the controls, then subacute, then chronic patients.

    Patients are simple random samples of their candidate groups. Controls are either a simple
    random sample or, with ``match_age``, frequency-matched to the patients' ages in
    :data:`AGE_BIN_YEARS` strata (each control's stratum is that of a randomly chosen patient).

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
        strata = np.floor((pool.age - age_min) / AGE_BIN_YEARS).astype(int)
        wanted = np.bincount(rng.choice(strata[patients], n_hc), minlength=strata.max() + 1)
        controls = np.concatenate(
            [
                _choose(
                    healthy[strata[healthy] == s],
                    k,
                    rng,
                    f"healthy (age {age_min + s * AGE_BIN_YEARS:g}-"
                    f"{age_min + (s + 1) * AGE_BIN_YEARS:g})",
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
    mean and SD of the controls in the sample, mean absolute z of the four Heukamp metrics.
    """
    m = params.metrics
    metrics = metrics_from_edges(
        edges, brain.iu, brain.n_regions, rule=m.threshold_rule, value=m.threshold
    )
    reference = MetricReference.from_metrics({k: v[healthy] for k, v in metrics.items()})
    return perturbation_index(metrics, reference)


# -- analysis -----------------------------------------------------------------------------------
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
        out[f"t_{name}"], out[f"p_{name}"], out[f"d_{name}"] = compare_groups(p[x], p[y])
    patients = sbp | cbp
    ylp, pp, cov = years_with_pain[patients], p[patients], age[patients][:, None]
    r, p_r = stats.pearsonr(ylp, pp)
    fit = sm.OLS(pp, np.column_stack([np.ones(ylp.size), ylp, cov])).fit()
    out.update(
        r_ylp=float(r),
        p_ylp=float(p_r),
        beta_ylp=float(fit.params[1]),
        p_beta_ylp=float(fit.pvalues[1]),
    )
    out.update(mediation(ylp, coping_score[patients], pp, cov, rng, resamples, 1 - alpha))
    out.update(
        mean_ylp_sbp=float(years_with_pain[sbp].mean()),
        mean_ylp_cbp=float(years_with_pain[cbp].mean()),
        mean_age_hc=float(age[hc].mean()),
        mean_age_patients=float(age[patients].mean()),
    )
    return out


# -- one study, many studies --------------------------------------------------------------------
def replicate_study(
    pool: Pool, scenario: Scenario, sizes: Sequence[int], replication: int, brain: Brain
) -> dict[str, float]:
    """Recruit, measure and analyse one replication; one row of ``study.csv``.

    The replication's random numbers depend only on the seed and ``replication``, so the same
    replication of the counterfactual model recruits the same people with the same noise.
    """
    return _replicate(pool, scenario, sizes, replication, brain)[0]


def _measure(
    pool: Pool, scenario: Scenario, sizes: Sequence[int], replication: int, brain: Brain
) -> tuple[dict[str, np.ndarray], np.random.Generator]:
    """Recruit and measure one replication: participant columns, and the replication's
    generator (the analysis continues with it, for the bootstrap)."""
    study, params = study_design(scenario), scenario.params
    rng = _rng(scenario.scenario.seed, _REPLICATION_STREAM, replication)
    rows = recruit(pool, sizes, rng, match_age=study.match_age, age_min=study.age_min)
    group = pool.group[rows]
    edges = observe_connectivity(pool.edges_z[rows], brain, study.connectivity_reliability, rng)
    score = observe_coping(pool.coping[rows], params, study.coping_reliability, rng)
    return {
        "row": rows,
        "person": pool.person[rows],
        "group": group,
        "age": pool.age[rows],
        "years_with_pain": pool.years_with_pain[rows],
        "episodes": pool.episodes[rows],
        "pain": pool.pain[rows],
        "coping": pool.coping[rows],
        "coping_score": score,
        "adaptation": pool.adaptation[rows],
        "dmn_perturbation": perturbation_vs_controls(edges, group == HC, brain, params),
    }, rng


def _replicate(
    pool: Pool, scenario: Scenario, sizes: Sequence[int], replication: int, brain: Brain
) -> tuple[dict[str, float], np.ndarray]:
    """One replication's row and the pool rows it recruited."""
    study = study_design(scenario)
    m, rng = _measure(pool, scenario, sizes, replication, brain)
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


def sample_table(
    pool: Pool, scenario: Scenario, sizes: Sequence[int], replication: int = 0
) -> pd.DataFrame:
    """The participants of one replication as measured (``sample.csv``).

    Columns: ``replication``, ``person`` (index in the simulated population), ``group``
    (healthy, subacute, chronic), true ``age``, ``years_with_pain``, ``episodes``, ``pain``,
    ``coping`` and ``adaptation``, the questionnaire's ``coping_score`` and the measured
    ``dmn_perturbation``.
    """
    m, _ = _measure(pool, scenario, sizes, replication, build_brain(scenario.params.brain))
    m.pop("row")
    table = pd.DataFrame(m)
    table["group"] = np.asarray(GROUPS)[table["group"]]
    return table.assign(replication=replication)[["replication", *table.columns]]


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


# -- findings -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """A published finding, how to read it in one replication, and the target detection rate."""

    key: str
    label: str
    published: str
    effect: str
    effect_name: str
    target: float | None

    def holds(self, table: pd.DataFrame, alpha: float) -> pd.Series:
        """Per replication: does the finding come out at ``alpha``?"""
        if self.key == "cbp_hc":
            return (table["d_cbp_hc"] > 0) & (table["p_cbp_hc"] < alpha)
        if self.key == "cbp_sbp":
            return table["p_cbp_sbp"] >= alpha
        if self.key == "ylp":
            return (table["r_ylp"] > 0) & (table["p_ylp"] < alpha)
        if self.key == "mediation":
            return table["indirect_ci_low"] > 0
        if self.key == "sbp_hc":
            return (table["d_sbp_hc"] > 0) & (table["p_sbp_hc"] < alpha)
        if self.key == "all":
            return pd.concat([f.holds(table, alpha) for f in FINDINGS[:4]], axis=1).all(axis=1)
        raise KeyError(self.key)


FINDINGS: tuple[Finding, ...] = (
    Finding(
        "cbp_hc",
        "1. DMN perturbation, chronic > healthy",
        "significant; d >= ~0.48 implied (31 vs 39)",
        "d_cbp_hc",
        "d",
        0.70,
    ),
    Finding(
        "cbp_sbp",
        "2. chronic vs subacute: no difference",
        "not significant; d within +-0.42 implied (31 vs 77)",
        "d_cbp_sbp",
        "d",
        0.60,
    ),
    Finding(
        "ylp",
        "3. perturbation rises with years lived with pain",
        "positive, significant; r >= ~0.19 implied (108 patients)",
        "r_ylp",
        "r",
        0.70,
    ),
    Finding(
        "mediation",
        "4. coping mediates years with pain -> perturbation",
        "significant indirect effect (size not reported)",
        "indirect",
        "a*b",
        0.60,
    ),
    Finding(
        "sbp_hc",
        "subacute > healthy (not a published finding)",
        "not reported in the abstract",
        "d_sbp_hc",
        "d",
        None,
    ),
    Finding("all", "all four findings in the same replication", "-", "indirect", "a*b", None),
)


def summarize_findings(table: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Per finding: median effect, central 95 % range over replications, detection rate."""
    rows = []
    for f in FINDINGS:
        effect = table[f.effect].to_numpy(dtype=float)
        rate = float(f.holds(table, alpha).mean())
        rows.append(
            {
                "finding": f.label,
                "key": f.key,
                "published": f.published,
                "effect": f.effect_name,
                "median": float(np.median(effect)),
                "low": float(np.percentile(effect, 2.5)),
                "high": float(np.percentile(effect, 97.5)),
                "detection_rate": rate,
                "target": f.target,
                "met": None if f.target is None else bool(rate >= f.target),
            }
        )
    return pd.DataFrame(rows)


def detection_rates(table: pd.DataFrame, alpha: float) -> dict[str, float]:
    """Finding key -> share of replications in which it holds."""
    return {f.key: float(f.holds(table, alpha).mean()) for f in FINDINGS}


# -- the whole study ----------------------------------------------------------------------------
@dataclass(frozen=True)
class StudyResult:
    """Everything a study run produced.

    Attributes
    ----------
    study
        One row per replication at the design's sample sizes (``study.csv``).
    power
        The same for every power multiplier, with columns ``multiplier`` and the group sizes.
    counterfactual
        The study in the model without coping -> drift (empty if switched off).
    sample
        The participants of replication 0 as measured (``sample.csv``).
    pool, counterfactual_pool
        Candidate counts and ranges per group (:meth:`Pool.summary`).
    sharing
        Per group, mean number of replications a recruited person appears in.
    seconds
        Wall time of each phase.
    """

    study: pd.DataFrame
    power: pd.DataFrame
    counterfactual: pd.DataFrame
    sample: pd.DataFrame
    pool: dict[str, dict[str, float]]
    counterfactual_pool: dict[str, dict[str, float]]
    sharing: dict[str, float]
    seconds: dict[str, float]


def _sharing(pool: Pool, draws: np.ndarray) -> dict[str, float]:
    out = {}
    for code, name in enumerate(GROUPS):
        used = draws[pool.group == code]
        used = used[used > 0]
        out[name] = float(used.mean()) if used.size else 0.0
    return out


def _bar(total: int, desc: str, enabled: bool) -> tqdm:
    return tqdm(
        total=total,
        desc=desc,
        unit="step" if desc.startswith("population") else "study",
        disable=not enabled,
        file=sys.stderr,
        leave=False,
    )


def simulate_study(scenario: Scenario, *, progress: bool = False) -> StudyResult:
    """Run the whole virtual study: population, replications, power and counterfactual.

    Parameters
    ----------
    scenario
        A validated scenario with a ``[study]`` section.
    progress
        Show progress bars on stderr.

    Returns
    -------
    StudyResult
    """
    study = study_design(scenario)
    seconds: dict[str, float] = {}
    reps = study.replications

    clock = time.perf_counter()
    with _bar(population_steps(scenario), "population", progress) as bar:
        pool = simulate_population(scenario, progress=bar.update)
    seconds["population"] = time.perf_counter() - clock

    clock = time.perf_counter()
    base = group_sizes(study)
    with _bar(reps, "replications", progress) as bar:
        table, draws = run_replications(pool, scenario, base, reps, progress=bar.update)
    seconds["replications"] = time.perf_counter() - clock

    clock = time.perf_counter()
    power_tables = []
    multipliers = list(dict.fromkeys(study.power_multipliers))
    with _bar(reps * sum(m != 1.0 for m in multipliers), "power", progress) as bar:
        for m in multipliers:
            sizes = group_sizes(study, m)
            part = (
                table
                if m == 1.0
                else run_replications(pool, scenario, sizes, reps, progress=bar.update)[0]
            )
            power_tables.append(part.assign(multiplier=m))
    power = (
        pd.concat(power_tables, ignore_index=True)
        if power_tables
        else pd.DataFrame(columns=["multiplier", *STUDY_COLUMNS])
    )
    power = power[["multiplier", *STUDY_COLUMNS]]
    seconds["power"] = time.perf_counter() - clock

    counterfactual = pd.DataFrame(columns=list(STUDY_COLUMNS))
    counter_pool: dict[str, dict[str, float]] = {}
    if study.counterfactual:
        clock = time.perf_counter()
        alternative = counterfactual_scenario(scenario)
        with _bar(population_steps(scenario), "population (counterfactual)", progress) as bar:
            other = simulate_population(alternative, progress=bar.update)
        with _bar(reps, "counterfactual", progress) as bar:
            counterfactual, _ = run_replications(
                other, alternative, base, reps, progress=bar.update
            )
        counter_pool = other.summary()
        seconds["counterfactual"] = time.perf_counter() - clock
    seconds["total"] = sum(seconds.values())
    return StudyResult(
        study=table,
        power=power,
        counterfactual=counterfactual,
        sample=sample_table(pool, scenario, base),
        pool=pool.summary(),
        counterfactual_pool=counter_pool,
        sharing=_sharing(pool, draws),
        seconds=seconds,
    )


# -- reporting ----------------------------------------------------------------------------------
def _percent(value: float) -> str:
    return f"{100 * value:.0f} %"


def _effect(row: Mapping[str, Any]) -> str:
    digits = 3 if row["effect"] == "a*b" else 2
    return (
        f"{row['effect']} = {row['median']:.{digits}f} "
        f"({row['low']:.{digits}f} to {row['high']:.{digits}f})"
    )


def power_summary(power: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Detection rate of every finding per sample-size multiplier (one row per multiplier)."""
    rows = []
    for m, part in power.groupby("multiplier", sort=True):
        first = part.iloc[0]
        rows.append(
            {
                "multiplier": float(m),
                "n_hc": int(first["n_hc"]),
                "n_sbp": int(first["n_sbp"]),
                "n_cbp": int(first["n_cbp"]),
                "replications": len(part),
                **detection_rates(part, alpha),
            }
        )
    return pd.DataFrame(rows)


def findings_markdown(scenario: Scenario, result: StudyResult) -> str:
    """``findings.md``: findings table, power table, mechanism check and design notes."""
    study = study_design(scenario)
    alpha = study.alpha
    summary = summarize_findings(result.study, alpha)
    n_hc, n_sbp, n_cbp = group_sizes(study)
    lines = [
        "# Virtual Heukamp study: findings",
        "",
        f"Scenario `{scenario.scenario.name}`, seed {scenario.scenario.seed}: "
        f"{len(result.study)} replications of a study of {n_hc} healthy controls, {n_sbp} "
        f"subacute and {n_cbp} chronic back-pain patients, alpha = {alpha:g}. The method is in "
        'docs/model.md, "Virtual Heukamp study"; one row per replication is in `study.csv`.',
        "",
        "*Detection rate*: share of replications in which the finding comes out as published "
        f"(at alpha = {alpha:g}; for finding 2, the share in which chronic and subacute patients "
        "do **not** differ significantly). *Effect*: median over replications and the central "
        "95 % of replications. The coping score is catastrophizing (higher = worse coping), so "
        "a mediation through worse coping has a positive indirect effect a*b.",
        "",
        "## Findings",
        "",
        "| finding | published | target | simulated effect: median (95 % range) | detection rate "
        "| target met |",
        "|---|---|---|---|---|---|",
    ]
    for row in summary.to_dict("records"):
        target = "-" if pd.isna(row["target"]) else f">= {_percent(row['target'])}"
        met = "-" if pd.isna(row["met"]) else ("yes" if row["met"] else "**no**")
        effect = "-" if row["key"] == "all" else _effect(row)
        lines.append(
            f"| {row['finding']} | {row['published']} | {target} | {effect} | "
            f"{_percent(row['detection_rate'])} | {met} |"
        )
    medians = result.study.median(numeric_only=True)
    lines += [
        "",
        f"Median over replications: years lived with pain {medians['mean_ylp_sbp']:.1f} "
        f"(subacute) and {medians['mean_ylp_cbp']:.1f} (chronic, group means); share of the "
        f"years-with-pain effect carried by coping {medians['share_mediated']:.2f}; age-adjusted "
        f"slope {medians['beta_ylp']:.3f} perturbation units per year with pain.",
    ]
    if len(result.power):
        power = power_summary(result.power, alpha)
        lines += [
            "",
            "## Power: detection rate vs sample size",
            "",
            "The same study with every group scaled. Use it to size a new study: the row where "
            "a finding's detection rate reaches 80 % is the sample that finds it four times in "
            "five, if the model is right.",
            "",
            "| sample | healthy / subacute / chronic | 1. chronic > healthy | 2. chronic = "
            "subacute (n.s.) | 3. years with pain | 4. mediation | subacute > healthy |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in power.to_dict("records"):
            lines.append(
                f"| {row['multiplier']:g}x | {row['n_hc']} / {row['n_sbp']} / {row['n_cbp']} | "
                f"{_percent(row['cbp_hc'])} | {_percent(row['cbp_sbp'])} | "
                f"{_percent(row['ylp'])} | {_percent(row['mediation'])} | "
                f"{_percent(row['sbp_hc'])} |"
            )
    if len(result.counterfactual):
        counter = summarize_findings(result.counterfactual, alpha).set_index("key")
        lines += [
            "",
            "## Mechanism check: coping does not feed the drift",
            "",
            "The same study (same people, same pain and coping histories, same recruitment and "
            "noise) in a model with `drift.coping_weight` = 0 and `drift.rate` multiplied by "
            f"{mean_coping_factor(scenario.params):.2f}, the community mean of the coping "
            "factor, so the network drifts as fast on average: pain still makes coping worse, "
            "but coping no longer speeds the drift.",
            "",
            "| finding | model: detection rate | model: median effect | counterfactual: "
            "detection rate | counterfactual: median effect |",
            "|---|---|---|---|---|",
        ]
        for row in summary.to_dict("records"):
            if row["key"] == "all":
                continue
            other = counter.loc[row["key"]]
            digits = 3 if row["effect"] == "a*b" else 2
            lines.append(
                f"| {row['finding']} | {_percent(row['detection_rate'])} | "
                f"{row['median']:.{digits}f} | {_percent(other['detection_rate'])} | "
                f"{other['median']:.{digits}f} |"
            )
    lines += [
        "",
        "## Design",
        "",
        "| group | candidates in the population | median age | "
        "years with pain: median | 1st-99th percentile | max | coping (PCS, mean) | "
        "adaptation (mean) | mean replications per recruited person |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in GROUPS:
        g = result.pool[name]
        lines.append(
            f"| {name} | {g['candidates']:,} | {g['median_age']:.1f} | "
            f"{g['median_years_with_pain']:.2f} | {g['p01_years_with_pain']:.2f}-"
            f"{g['p99_years_with_pain']:.1f} | {g['max_years_with_pain']:.1f} | "
            f"{g['mean_coping']:.1f} | {g['mean_adaptation']:.2f} | "
            f"{result.sharing[name]:.2f} |"
        )
    lines += [
        "",
        f"Population: {study.population:,} people simulated from age {ADULT_AGE:g} without pain "
        f"history; ages {study.age_min:g}-{study.age_max:g}; subacute recruitment window "
        f"{study.recruitment_years:g} years; controls "
        f"{'frequency-matched in age to the patients' if study.match_age else 'not age-matched'}."
        f" Measurement: connectivity test-retest reliability (ICC) "
        f"{study.connectivity_reliability:g}, coping questionnaire reliability "
        f"{study.coping_reliability:g}; {study.bootstrap_resamples:,} bootstrap resamples.",
        "",
    ]
    return "\n".join(lines)


def _write_results(folder: Path, scenario: Scenario, result: StudyResult) -> None:
    study = study_design(scenario)
    result.study.to_csv(folder / "study.csv", index=False)
    result.sample.to_csv(folder / "sample.csv", index=False)
    summarize_findings(result.study, study.alpha).to_csv(folder / "findings.csv", index=False)
    if len(result.power):
        result.power.to_csv(folder / "power.csv", index=False)
    if len(result.counterfactual):
        result.counterfactual.to_csv(folder / "counterfactual.csv", index=False)
    (folder / "findings.md").write_text(findings_markdown(scenario, result), encoding="utf-8")


def _versions() -> dict[str, str | None]:
    versions = _package_versions()
    try:
        versions["statsmodels"] = version("statsmodels")
    except PackageNotFoundError:
        versions["statsmodels"] = None
    return versions


def run_study(
    scenario: Scenario,
    *,
    out: Path | None = None,
    results_root: Path = Path("results"),
    progress: bool = True,
    argv: list[str] | None = None,
) -> Path:
    """Run the virtual study of a scenario and write its results folder atomically.

    The folder (default ``results_root/<scenario slug>/<run id>/``) holds ``study.csv`` (one
    row per replication), ``findings.csv`` and ``findings.md`` (detection rates and effects per
    finding), ``power.csv``, ``counterfactual.csv`` and ``manifest.json``; see
    ``results/README.md``.

    Raises
    ------
    sim.scenario.ScenarioError
        The scenario has no ``[study]`` section. Nothing is written.
    sim.experiments.run.OutputFolderError
        ``out`` exists and is not empty, or a folder cannot be created. Nothing is written.
    PoolTooSmallError
        The population holds too few candidates for a group. Nothing is written.
    """
    study_design(scenario)
    started = _utc_now()
    run_id = _new_run_id(started)
    default = Path(results_root) / scenario.scenario.slug / run_id
    destination = default if out is None else Path(out)
    _check_destination(destination)
    with staged_folder(Path(os.path.abspath(destination))) as staging:
        result = simulate_study(scenario, progress=progress)
        _write_results(staging, scenario, result)
        manifest = {
            "run_id": run_id,
            "command_kind": "study",
            "painsim_version": sim.__version__,
            **_source_version(),
            "seed": scenario.scenario.seed,
            "replications": study_design(scenario).replications,
            "command": argv,
            "started": started.isoformat(timespec="seconds"),
            "finished": _utc_now().isoformat(timespec="seconds"),
            "seconds": {k: round(v, 1) for k, v in result.seconds.items()},
            "python": platform.python_version(),
            "platform": platform.platform(),
            "packages": _versions(),
            "population": result.pool,
            "counterfactual_population": result.counterfactual_pool,
            "mean_replications_per_recruited_person": result.sharing,
            "files": sorted([p.name for p in staging.iterdir()] + ["manifest.json"]),
            "scenario": scenario.resolved(),
        }
        (staging / "manifest.json").write_text(
            json.dumps(manifest, indent=2) + "\n", encoding="utf-8"
        )
    return destination
