"""The study population: everyone the study could recruit, met at the right moment.

``[study] population`` people are simulated from age 18 without any pain history, so everyone
recruited carries a whole adult pain history. A random quarter are met once at a uniform random
age in the study's range (cross-section: healthy-control and chronic candidates); the other three
quarters are watched through a recruitment window of ``recruitment_years`` and recruited at a
random moment of the first episode in the subacute window (subacute candidates, the scarce
group). Their true state at that moment is kept (:class:`Pool`). People are simulated in bands of
meeting age, each only as long as the study can still use them (:func:`simulate_population`).

The model is only observed through its public observation methods (``PainModel.observe`` and
``PainModel.connectivity_at``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.core.model import PainModel
from sim.experiments.study.design import (
    ADULT_AGE,
    CBP,
    GROUPS,
    HC,
    POOL_STREAM,
    SBP,
    population_scenario,
    study_design,
    study_rng,
)
from sim.scenario import Scenario, StudySection

SUBACUTE_ARM_SHARE = 0.75
"""Default share of the population watched for subacute recruitment (``[study] watched_share``;
the rest: cross-section). Subacute candidates are the scarce group (a 0.5-year window finds one
in about 25 watched people; a cross-section finds a healthy or chronic candidate in about one
in two)."""
POPULATION_BANDS = 8
"""Bands of meeting ages simulated as separate models (see :func:`simulate_population`)."""
TIME_TOL = 1e-9
"""Times closer than this (years) are the same time."""
STATE_COLUMNS: tuple[str, ...] = (
    "age",
    "years_with_pain",
    "episodes",
    "pain",
    "coping",
    "adaptation",
    "episode_weeks",
)
"""What is kept of each candidate's true state when they are met (``PainModel.observe``)."""


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


# -- who is met when ----------------------------------------------------------------------------
def recruitment_plan(scenario: Scenario) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Who is watched for subacute recruitment, when each person is met, and scan delays.

    Returns
    -------
    (watched, met, delay)
        (N,) booleans, years since age 18 at which the study meets the person, and weeks
        into a subacute episode at which a watched person would be scanned.
    """
    study = study_design(scenario)
    n, window = study.population, study.recruitment_years
    rng = study_rng(scenario.scenario.seed, POOL_STREAM)
    watched = rng.random(n) < study.watched_share
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


def band_edges(study: StudySection) -> np.ndarray:
    """Edges (years since age 18) of the bands of meeting times simulated as separate models."""
    return (
        np.linspace(study.age_min - study.recruitment_years, study.age_max, POPULATION_BANDS + 1)
        - ADULT_AGE
    )


def band_horizons(study: StudySection) -> np.ndarray:
    """Years each band must be simulated: to its last meeting plus a recruitment window."""
    edges = band_edges(study)
    return np.minimum(edges[1:] + study.recruitment_years, study.age_max - ADULT_AGE)


def population_steps(scenario: Scenario) -> int:
    """Model steps :func:`simulate_population` takes (the progress bar's total)."""
    dt = scenario.scenario.dt_years
    return int(sum(math.ceil(h / dt - 1e-9) for h in band_horizons(study_design(scenario))))


# -- one band -----------------------------------------------------------------------------------
class _Scans:
    """The true state of everyone scanned so far in one band, kept until the band is done.

    Connectivity is materialized once per band (``PainModel.connectivity_at``) from the age,
    adaptation and pain observed at each scan: the same numbers as materializing it at every
    scan, in one call instead of thousands.
    """

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.groups: list[np.ndarray] = []
        self.states: list[dict[str, np.ndarray]] = []

    def add(self, rows: np.ndarray, group: int, state: dict[str, np.ndarray]) -> None:
        self.rows.append(rows)
        self.groups.append(np.full(rows.size, group, dtype=np.int8))
        self.states.append({key: state[key] for key in STATE_COLUMNS})

    def block(self, model: PainModel, people: np.ndarray) -> dict[str, np.ndarray] | None:
        """Pool records of the band (population indices in ``person``), or None if empty."""
        if not self.rows:
            return None
        rows = np.concatenate(self.rows)
        state = {key: np.concatenate([s[key] for s in self.states]) for key in STATE_COLUMNS}
        edges = model.connectivity_at(
            rows, ages=state["age"], adaptation=state["adaptation"], pain_now=state["pain"]
        )
        return {
            "person": people[rows],
            "group": np.concatenate(self.groups),
            **state,
            "edges_z": np.arctanh(edges).astype(np.float32),
        }


def _subset(state: dict[str, np.ndarray], keep: np.ndarray) -> dict[str, np.ndarray]:
    return {key: value[keep] for key, value in state.items()}


def _follow(
    model: PainModel,
    people: np.ndarray,
    watched: np.ndarray,
    met: np.ndarray,
    delay: np.ndarray,
    study: StudySection,
    horizon: float,
    progress: Callable[[int], object] | None,
) -> dict[str, np.ndarray] | None:
    """Run one band's model to ``horizon`` and scan everyone when the study meets them."""
    cross = np.flatnonzero(~watched)
    cross = cross[np.argsort(met[cross], kind="stable")]
    cross_met = met[cross]
    sub = np.flatnonzero(watched)
    start = np.maximum(met[sub], study.age_min - ADULT_AGE)
    stop = np.minimum(met[sub] + study.recruitment_years, study.age_max - ADULT_AGE)
    sub_delay, sub_open = delay[sub], np.ones(sub.size, dtype=bool)
    # Watched people in order of the start of their window: a step looks only at those whose
    # window can be open (it lasts at most ``recruitment_years``), not at everyone.
    by_start = np.argsort(start, kind="stable")
    start_sorted = start[by_start]
    scans, dt = _Scans(), model.dt_years

    while model.time_years < horizon - TIME_TOL:
        before = model.time_years
        # The same calls as stepping the model one dt at a time, so the same random path.
        model.run_until(min(before + dt, horizon))
        t = model.time_years
        if progress is not None:
            progress(1)
        lo, hi = np.searchsorted(cross_met, [before, t], side="left")
        if t >= horizon - TIME_TOL:
            hi = np.searchsorted(cross_met, horizon, side="right")
        due = cross[lo:hi]
        if due.size:
            state = model.observe(due)
            weeks = state["episode_weeks"]  # NaN (never chronic) if not in pain
            for keep, group in (
                (state["episodes"] == 0, HC),
                (weeks > study.chronic_min_weeks, CBP),
            ):
                if keep.any():
                    scans.add(due[keep], group, _subset(state, keep))
        first, last = np.searchsorted(
            start_sorted, [t - study.recruitment_years - 1.0, t], side="right"
        )
        may = np.sort(by_start[first:last])  # ascending, as a scan over everyone finds them
        looking = may[sub_open[may] & (start[may] <= t) & (t <= stop[may])]
        if looking.size:
            state = model.observe(sub[looking])
            weeks = state["episode_weeks"]  # NaN if not in pain: never found
            keep = (weeks >= sub_delay[looking]) & (weeks <= study.subacute_max_weeks)
            if keep.any():
                sub_open[looking[keep]] = False
                scans.add(sub[looking[keep]], SBP, _subset(state, keep))
    return scans.block(model, people)


def simulate_population(
    scenario: Scenario,
    *,
    progress: Callable[[int], object] | None = None,
    on_band: Callable[[int, PainModel, np.ndarray], object] | None = None,
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
    on_band
        Called as ``on_band(band, model, people)`` with each band's model before it runs and
        the population indices of its people (model row i is person ``people[i]``); the
        calibration keeps the model's pain for replay this way (``log_exposures``).

    Returns
    -------
    Pool
        Healthy candidates (no episode ever) and chronic candidates (episode older than
        ``chronic_min_weeks``) from the cross-section, subacute candidates (episode between
        ``subacute_min_weeks`` and ``subacute_max_weeks`` old) from the recruitment period.
    """
    study = study_design(scenario)
    watched, met, delay = recruitment_plan(scenario)
    edges, horizons = band_edges(study), band_horizons(study)
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
        if on_band is not None:
            on_band(b, model, people)
        block = _follow(
            model, people, watched[people], met[people], delay[people], study, horizon, progress
        )
        if block is not None:
            blocks.append(block)
        del model
    joined = {key: np.concatenate([b[key] for b in blocks]) for key in blocks[0]}
    order = np.argsort(joined["person"], kind="stable")
    return Pool(**{key: value[order] for key, value in joined.items()}, population=study.population)
