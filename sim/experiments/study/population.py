"""The study population: everyone the study could recruit, met at the right moment.

``[study] population`` people are simulated from age 18 without any pain history, so everyone
recruited carries a whole adult pain history. A random quarter are met once at a uniform random
age in the study's range (cross-section: control and chronic candidates); the other three
quarters are watched through a recruitment window of ``recruitment_years`` and recruited at a
random moment of the first episode in the subacute window (subacute candidates, the scarce
group). Their true state at that moment is kept (:class:`Pool`), with what inclusion rules need
(sex, earlier episodes) and, for the longitudinal design, their pain and coping
``follow_up_years`` later. Which candidates a design may recruit is decided later, on the pool
(``sim.experiments.study.eligibility``), so one population serves every recruitment rule.

People are simulated in bands of meeting age, each only as long as the study can still use them;
a band is an independent task (:func:`simulate_band`, module level so that it can run on any
backend of ``sim.experiments.backends``), and the pool is the same whatever ran it. Counterfactual
models that change only the drift (``views``) are integrated alongside the model in the same
pass (``PainModel(shadow_drift=...)``): their people live the same lives.

The model is only observed through its public observation methods (``PainModel.observe``,
``PainModel.shadow_adaptation`` and ``PainModel.connectivity_at``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from sim.core.drift import DriftParams
from sim.core.model import PainModel
from sim.core.pain import WEEKS_PER_YEAR
from sim.experiments.backends import execute
from sim.experiments.study.design import (
    ADULT_AGE,
    CBP,
    HC,
    POOL_STREAM,
    SBP,
    population_scenario,
    study_design,
    study_rng,
)
from sim.experiments.study.eligibility import Recruitment, restrict
from sim.experiments.study.pool import FOLLOW_UP_COLUMNS, STATE_COLUMNS, Pool
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
    """Years each band must be simulated to meet everyone: last meeting plus a window."""
    edges = band_edges(study)
    return np.minimum(edges[1:] + study.recruitment_years, study.age_max - ADULT_AGE)


def follow_up_years(study: StudySection) -> float:
    """Years patient candidates are followed after their scan (0: no longitudinal design)."""
    return study.follow_up_years if study.longitudinal else 0.0


def band_steps(scenario: Scenario, band: int, follow_up: float = 0.0) -> int:
    """Model steps one band takes (its horizon plus any follow-up, in steps of ``dt``)."""
    horizon = band_horizons(study_design(scenario))[band] + follow_up
    return math.ceil(horizon / scenario.scenario.dt_years - 1e-9)


def population_steps(scenario: Scenario) -> int:
    """Model steps :func:`simulate_population` takes (the progress bar's total)."""
    follow_up = follow_up_years(study_design(scenario))
    return sum(band_steps(scenario, b, follow_up) for b in range(POPULATION_BANDS))


# -- one band -----------------------------------------------------------------------------------
class _Scans:
    """The true state of everyone scanned so far in one band, kept until the band is done.

    Connectivity is materialized once per band (``PainModel.connectivity_at``) from the age,
    adaptation and pain observed at each scan: the same numbers as materializing it at every
    scan, in one call instead of thousands.
    """

    def __init__(self, views: int) -> None:
        self.rows: list[np.ndarray] = []
        self.groups: list[np.ndarray] = []
        self.states: list[dict[str, np.ndarray]] = []
        self.shadows: list[np.ndarray] = []
        self.follow: list[dict[str, np.ndarray]] = []
        self.views = views

    def add(
        self, rows: np.ndarray, group: int, state: dict[str, np.ndarray], shadow: np.ndarray
    ) -> int:
        """Keep a block of scans; return its index (for its follow-up)."""
        self.rows.append(rows)
        self.groups.append(np.full(rows.size, group, dtype=np.int8))
        self.states.append({key: state[key] for key in STATE_COLUMNS})
        self.shadows.append(shadow)
        self.follow.append({key: np.full(rows.size, np.nan) for key in FOLLOW_UP_COLUMNS})
        return len(self.rows) - 1

    def block(
        self, model: PainModel, people: np.ndarray, views: tuple[DriftParams, ...]
    ) -> dict[str, np.ndarray] | None:
        """Pool records of the band (population indices in ``person``), or None if empty."""
        if not self.rows:
            return None
        rows = np.concatenate(self.rows)
        state = {key: np.concatenate([s[key] for s in self.states]) for key in STATE_COLUMNS}
        follow = {key: np.concatenate([f[key] for f in self.follow]) for key in FOLLOW_UP_COLUMNS}
        edges = model.connectivity_at(
            rows, ages=state["age"], adaptation=state["adaptation"], pain_now=state["pain"]
        )
        shadow = np.concatenate(self.shadows, axis=1)
        view_edges = [
            np.arctanh(
                model.connectivity_at(
                    rows,
                    ages=state["age"],
                    adaptation=shadow[k],
                    pain_now=state["pain"],
                    drift_params=params,
                )
            ).astype(np.float32)
            for k, params in enumerate(views)
        ]
        return {
            "person": people[rows],
            "group": np.concatenate(self.groups),
            **state,
            **follow,
            "edges_z": np.arctanh(edges).astype(np.float32),
            "view_adaptation": shadow,
            "view_edges_z": np.stack(view_edges) if view_edges else np.zeros((0, rows.size, 0)),
        }


def _subset(state: dict[str, np.ndarray], keep: np.ndarray) -> dict[str, np.ndarray]:
    return {key: value[keep] for key, value in state.items()}


BandHook = Callable[[int, PainModel, np.ndarray], object]
"""``on_band(band, model, people)``: sees each band's model before it runs."""


@dataclass(frozen=True)
class BandTask:
    """One band of one population: what :func:`simulate_band` needs (plain, picklable data).

    Attributes
    ----------
    scenario
        The population's scenario (with its ``[study]`` section).
    band
        Band index, 0 to :data:`POPULATION_BANDS` - 1 (also the model's replicate index).
    views
        Drift parameter sets of counterfactual views integrated alongside the model.
    follow_up
        Years after their scan at which patient candidates are observed again (0: never).
    key
        Name of the population (returned with the block).
    """

    scenario: Scenario
    band: int
    views: tuple[DriftParams, ...] = ()
    follow_up: float = 0.0
    key: str = "model"


def simulate_band(
    task: BandTask, on_band: BandHook | None = None
) -> tuple[str, int, dict[str, np.ndarray] | None]:
    """Simulate one band and scan everyone when the study meets them.

    A module-level function of plain data, so any backend can run it; the result depends only
    on the task (the band's own random streams), never on where or when it runs.

    Returns
    -------
    (key, band, block)
        The population's key, the band and its pool records (None if nobody was scanned).
    """
    scenario, study = task.scenario, study_design(task.scenario)
    watched, met, delay = recruitment_plan(scenario)
    edges, horizons = band_edges(study), band_horizons(study)
    band = np.clip(np.searchsorted(edges, met, side="right") - 1, 0, POPULATION_BANDS - 1)
    people = np.flatnonzero(band == task.band)
    if not people.size:
        return task.key, task.band, None
    horizon = float(horizons[task.band])
    # Views whose dynamics are the model's (a signature variant) need no shadow of their own.
    own = _dynamics(scenario.params.drift)
    shadows = tuple(v for v in task.views if _dynamics(v) != own)
    model = PainModel(
        population_scenario(scenario, people.size, horizon + task.follow_up),
        task.band,
        create_agents=False,
        shadow_drift=shadows,
    )
    if on_band is not None:
        on_band(task.band, model, people)
    block = _follow(
        model,
        people,
        watched[people],
        met[people],
        delay[people],
        study,
        horizon,
        task.follow_up,
        task.views,
    )
    return task.key, task.band, block


DYNAMICS: tuple[str, ...] = ("rate", "coping_weight", "relax_half_life", "irreversible_fraction")
"""Drift parameters that change adaptation (the others only shape the signature)."""


def _dynamics(params: DriftParams) -> tuple[float, ...]:
    return tuple(getattr(params, name) for name in DYNAMICS)


def _observe(
    model: PainModel, rows: np.ndarray, views: tuple[DriftParams, ...]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The true state of ``rows`` and their (K, n) adaptation in each of the K views."""
    state = model.observe(rows)
    shadow = model.shadow_adaptation(rows)
    dynamics = [_dynamics(p) for p in model.shadow_drift]
    own = _dynamics(model.params.drift)
    adaptation = [
        state["adaptation"] if _dynamics(v) == own else shadow[dynamics.index(_dynamics(v))]
        for v in views
    ]
    return state, np.stack(adaptation) if adaptation else np.zeros((0, np.size(rows)))


def _follow(
    model: PainModel,
    people: np.ndarray,
    watched: np.ndarray,
    met: np.ndarray,
    delay: np.ndarray,
    study: StudySection,
    horizon: float,
    follow_up: float,
    views: tuple[DriftParams, ...],
) -> dict[str, np.ndarray] | None:
    """Run one band's model to ``horizon``, scanning everyone when the study meets them, and
    on until the last follow-up (``follow_up`` years after a patient's scan)."""
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
    scans, dt = _Scans(len(views)), model.dt_years
    # Follow-ups are due in the order of the scans (a fixed time after each): a queue.
    pending: list[tuple[float, float, int, np.ndarray]] = []

    def scan(rows: np.ndarray, group: int, state: dict, shadow: np.ndarray, t: float) -> None:
        index = scans.add(rows, group, state, shadow)
        if follow_up > 0 and group != HC:
            pending.append((t + follow_up, t, index, rows))

    def follow_ups(t: float) -> None:
        while pending and pending[0][0] <= t + TIME_TOL:
            _, scanned, index, rows = pending.pop(0)
            state = model.observe(rows)
            scans.follow[index]["followup_pain"] = state["pain"]
            scans.follow[index]["followup_coping"] = state["coping"]
            scans.follow[index]["followup_weeks"] = np.full(
                rows.size, (t - scanned) * WEEKS_PER_YEAR
            )

    while model.time_years < horizon - TIME_TOL:
        before = model.time_years
        # The same calls as stepping the model one dt at a time, so the same random path.
        model.run_until(min(before + dt, horizon))
        t = model.time_years
        follow_ups(t)
        lo, hi = np.searchsorted(cross_met, [before, t], side="left")
        if t >= horizon - TIME_TOL:
            hi = np.searchsorted(cross_met, horizon, side="right")
        due = cross[lo:hi]
        if due.size:
            state, shadow = _observe(model, due, views)
            weeks = state["episode_weeks"]  # NaN (never chronic) if not in pain
            for keep, group in (
                (np.isnan(weeks), HC),
                (weeks > study.chronic_min_weeks, CBP),
            ):
                if keep.any():
                    scan(due[keep], group, _subset(state, keep), shadow[:, keep], t)
        first, last = np.searchsorted(
            start_sorted, [t - study.recruitment_years - 1.0, t], side="right"
        )
        may = np.sort(by_start[first:last])  # ascending, as a scan over everyone finds them
        looking = may[sub_open[may] & (start[may] <= t) & (t <= stop[may])]
        if looking.size:
            state, shadow = _observe(model, sub[looking], views)
            weeks = state["episode_weeks"]  # NaN if not in pain: never found
            keep = (weeks >= sub_delay[looking]) & (weeks <= study.subacute_max_weeks)
            if keep.any():
                sub_open[looking[keep]] = False
                scan(sub[looking[keep]], SBP, _subset(state, keep), shadow[:, keep], t)
    while pending:  # after the last scan: on until every follow-up is done
        model.run_until(min(model.time_years + dt, pending[-1][0]))
        follow_ups(model.time_years)
    return scans.block(model, people, views)


# -- whole populations --------------------------------------------------------------------------
@dataclass(frozen=True)
class PopulationSpec:
    """A population to simulate: its scenario, drift-only views and follow-up.

    ``views`` maps a view name to the drift parameters of a counterfactual model that differs
    from the scenario's only in the drift (dynamics or signature); each view becomes a pool of
    its own with the same candidates.
    """

    scenario: Scenario
    views: Mapping[str, DriftParams] = field(default_factory=dict)
    follow_up: float = 0.0


def _join(key: str, blocks: list[dict[str, np.ndarray]], spec: PopulationSpec) -> dict[str, Pool]:
    if not blocks:
        raise ValueError(f"population '{key}': nobody was scanned")
    order = np.argsort(np.concatenate([b["person"] for b in blocks]), kind="stable")
    plain = {
        k: np.concatenate([b[k] for b in blocks])[order]
        for k in blocks[0]
        if not k.startswith("view_")
    }
    population = study_design(spec.scenario).population
    pools = {"model": Pool(**plain, population=population)}
    for k, name in enumerate(spec.views):
        adaptation = np.concatenate([b["view_adaptation"][k] for b in blocks])[order]
        edges = np.concatenate([b["view_edges_z"][k] for b in blocks])[order]
        pools[name] = replace(pools["model"], adaptation=adaptation, edges_z=edges)
    return pools


def build_populations(
    specs: Mapping[str, PopulationSpec],
    *,
    backend: str = "serial",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Callable[[int], object] | None = None,
    on_band: BandHook | None = None,
) -> dict[str, dict[str, Pool]]:
    """Simulate several populations band by band on any backend; every candidate kept.

    Bands of all populations are independent tasks, longest first (so that two workers finish
    together). The pools are the same whatever the backend and the number of workers.

    Returns
    -------
    dict
        Population key -> ``{"model": Pool, <view>: Pool, ...}``: the candidates of the model
        and of each drift-only view (the same people), not yet restricted by any recruitment
        rule (``sim.experiments.study.eligibility``).
    """
    tasks = [
        BandTask(spec.scenario, b, tuple(spec.views.values()), spec.follow_up, key)
        for key, spec in specs.items()
        for b in range(POPULATION_BANDS)
    ]
    steps = {(t.key, t.band): band_steps(t.scenario, t.band, t.follow_up) for t in tasks}
    tasks.sort(key=lambda t: -steps[(t.key, t.band)] * study_design(t.scenario).population)
    blocks: dict[str, dict[int, dict[str, np.ndarray]]] = {key: {} for key in specs}
    if on_band is None:
        done = execute(
            simulate_band,
            tasks,
            backend=backend,
            workers=workers,
            scheduler=scheduler,
            label="band",
        )
    else:  # the hook keeps the band models: they must stay in this process
        done = (simulate_band(task, on_band) for task in tasks)
    for key, band, block in done:
        if block is not None:
            blocks[key][band] = block
        if progress is not None:
            progress(steps[(key, band)])
    return {
        key: _join(key, [blocks[key][b] for b in sorted(blocks[key])], spec)
        for key, spec in specs.items()
    }


def simulate_population(
    scenario: Scenario,
    *,
    progress: Callable[[int], object] | None = None,
    backend: str = "serial",
    workers: int | None = None,
    scheduler: str | None = None,
    on_band: BandHook | None = None,
) -> Pool:
    """Simulate the study population and keep everyone its design could recruit.

    People are grouped by the age at which the study meets them into
    :data:`POPULATION_BANDS` bands; each band is its own :class:`~sim.core.model.PainModel`
    (replicate index = band, so its own random streams), simulated from age 18 only until its
    last meeting plus one recruitment window (plus the follow-up of the longitudinal design).
    Nobody is simulated past the point where the study could still use them, which roughly
    halves the work.

    Parameters
    ----------
    scenario
        A validated scenario with a ``[study]`` section.
    progress
        Called with the number of model steps just done, e.g. ``tqdm.update``.
    backend, workers, scheduler
        Where the bands run (``sim.experiments.backends``); the pool is the same everywhere.
    on_band
        Called as ``on_band(band, model, people)`` with each band's model before it runs and
        the population indices of its people (model row i is person ``people[i]``); the
        calibration keeps the model's pain for replay this way (``log_exposures``). The
        models stay in this process, so the bands then run serially whatever ``backend`` says.

    Returns
    -------
    Pool
        The candidates the ``[study]`` section's recruitment rules admit: controls (by
        default: never an episode) and chronic candidates (episode older than
        ``chronic_min_weeks``) from the cross-section, subacute candidates (episode between
        ``subacute_min_weeks`` and ``subacute_max_weeks`` old) from the recruitment period.
    """
    study = study_design(scenario)
    spec = PopulationSpec(scenario, follow_up=follow_up_years(study))
    pools = build_populations(
        {"model": spec},
        backend=backend,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        on_band=on_band,
    )
    return restrict(pools["model"]["model"], Recruitment.from_study(study))
