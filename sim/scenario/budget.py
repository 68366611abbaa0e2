"""The work budget: how much computing and memory a scenario may ask for before it runs.

A typing slip (``size = 10_000_000``, ``dt_weeks = 0.01``, ``replicates = 10000``, a Sobol
design of a million samples) should fail when the file is checked, in milliseconds, not after
hours or when memory runs out. Every scenario is checked against the budgets below when it is
validated (so ``painsim validate`` reports it too); nothing is simulated or materialized to
count the work.

The budgets are sized for one laptop or workstation and leave a wide margin above realistic
studies: the 100,000-person, 30-year weekly run with yearly records and 6 arms uses about a
tenth of :data:`MAX_PERSON_STEPS` and a quarter of :data:`MAX_TABLE_CELLS`.

A larger job is allowed by the environment variable ``PAINSIM_MAX_WORK``: a factor that
multiplies every budget (``PAINSIM_MAX_WORK=20`` allows twenty times as much; ``inf`` turns the
budget off). The error message says which factor the scenario needs. Results folders are not
re-checked when they are read back.

Examples
--------
>>> from sim.scenario import parse_scenario
>>> s = parse_scenario({"scenario": {"name": "demo", "years": 30}, "cohort": {"size": 100000}})
>>> work = run_work(s)
>>> work.person_steps, work.table_cells
(156600000, 77500000)
>>> try:
...     parse_scenario({"scenario": {"name": "demo", "replicates": 1000},
...                     "cohort": {"size": 1000000}})
... except ValueError as exc:
...     print(exc.field, exc.message.split(" is over")[0])
work 1000000 people x 1566 steps x 1 arm x 1000 replicates = 1.6e+12 person-steps
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim.core.brain import ATLAS_REGIONS
from sim.core.outcomes import PATIENT_COLUMNS
from sim.core.pain import WEEKS_PER_YEAR

if TYPE_CHECKING:
    from sim.scenario.schema import Scenario, SweepSection

ENVIRONMENT = "PAINSIM_MAX_WORK"
"""Environment variable: a factor that multiplies every budget (``inf``: no budget)."""

MAX_PERSON_STEPS = 10_000_000_000
"""Person-steps of one command: people x time steps x arms x replicates (x runs of a sweep).

A person-step costs about 1 µs on one core (0.85 µs measured for 20,000 people x 30 years),
so the budget is about 3 hours of computing. The 100,000-person, 30-year weekly, 6-arm run is
9.4e8, a tenth of it; ``scenarios/sensitivity.toml`` is 1.1e9, the Heukamp study 2.2e9.
"""

MAX_TABLE_CELLS = 2_000_000_000
"""Cells of the patients table: records x people x arms x replicates x columns.

A cell takes about 8 bytes (197 bytes a row of 25 columns measured), so the table alone would
take 16 GB and its copies more. The 100,000-person, 30-year, 6-arm run with yearly records is
31 x 100,000 x 6 x 25 = 4.7e8 cells (3.7 GB). ``--save-connectivity`` adds people x arms x
replicates x edges.
"""

MAX_SWEEP_RUNS = 200_000
"""Runs of a sweep: design points x replicates.

Each run costs at least a model set-up and a hand-over between processes (about 0.1 s), so
200,000 runs are hours before any simulating; ``scenarios/sensitivity.toml`` has 2,048.
"""

MAX_RESAMPLED_PEOPLE = 10_000_000_000
"""People drawn by a virtual study's bootstraps: replications x resamples x study size, summed
over the study, its power sizes and the counterfactual. The Heukamp design draws 2.8e8 (about a
minute); the budget is about an hour.
"""

ADULT_AGE = 18.0
"""Age from which a virtual study's population is simulated (``sim.experiments.study``)."""


@dataclass(frozen=True)
class RunWork:
    """The work of running a scenario once as ``painsim run`` does."""

    people: int
    steps: int
    arms: int
    replicates: int
    records: int
    columns: int

    @property
    def person_steps(self) -> int:
        return self.people * self.steps * self.arms * self.replicates

    @property
    def table_cells(self) -> int:
        return self.records * self.people * self.arms * self.replicates * self.columns


def budget_factor() -> float:
    """The factor ``PAINSIM_MAX_WORK`` multiplies every budget by (1 when unset).

    Raises
    ------
    ValueError
        The variable is set but is not a positive number.
    """
    text = os.environ.get(ENVIRONMENT, "").strip()
    if not text:
        return 1.0
    try:
        factor = float(text)
    except ValueError:
        factor = math.nan
    if not factor > 0:  # also NaN
        raise ValueError(
            f"{ENVIRONMENT}={text!r} is not a positive number (a factor for every work "
            "budget, e.g. 10, or inf for none)"
        )
    return factor


def steps(years: float, dt_weeks: float) -> int:
    """Time steps to simulate ``years`` with steps of ``dt_weeks``.

    Examples
    --------
    >>> steps(30, 1.0)
    1566
    """
    return max(1, math.ceil(years * WEEKS_PER_YEAR / dt_weeks - 1e-9))


def records(years: float, every_years: float) -> int:
    """Record times: 0, every ``every_years``, and the horizon if it is off that grid.

    Examples
    --------
    >>> records(30, 1), records(2.5, 1)
    (31, 4)
    """
    on_grid = math.floor(years / every_years + 1e-9)
    return on_grid + 1 + (0 if math.isclose(on_grid * every_years, years) else 1)


def run_work(scenario: Scenario) -> RunWork:
    """People, steps, arms, replicates, records and table columns of one run of ``scenario``."""
    run = scenario.scenario
    return RunWork(
        people=scenario.cohort.size,
        steps=steps(run.years, run.dt_weeks),
        arms=len(scenario.arm_list),
        replicates=run.replicates,
        records=records(run.years, run.record_every_years),
        columns=len(PATIENT_COLUMNS),
    )


def design_points(sweep: SweepSection) -> int:
    """Points of a sweep design, counted without making it.

    Grid: the product of the list lengths; Latin hypercube: ``samples``; Sobol (Saltelli,
    first and total order): ``samples * (D + 2)``; Morris: ``samples * (D + 1)`` (``samples``
    trajectories), for ``D`` parameters.
    """
    if sweep.method == "grid":
        return math.prod(len(values) for values in sweep.grid.values())
    d = len(sweep.bounds)
    per_sample = {"latin": 1, "sobol": d + 2, "morris": d + 1}[sweep.method]
    return sweep.samples * per_sample


def _largest_swept(sweep: SweepSection, name: str, default: float) -> float:
    """The largest value a sweep gives ``name`` (its grid values or upper bound), or default."""
    values = [v for v in sweep.grid.get(name, ()) if isinstance(v, int | float)]
    values += list(sweep.bounds.get(name, ())[1:])
    return max([default, *values])


@dataclass(frozen=True)
class Overrun:
    """A budget a scenario exceeds: the field to blame, what is too much, what to do."""

    field: str
    message: str
    """What is too large and how to shrink it, e.g. ``1000 replicates = ... is over ...``."""
    ratio: float
    """Work over budget (at ``PAINSIM_MAX_WORK=1``)."""


def overruns(scenario: Scenario) -> list[Overrun]:
    """Every budget ``scenario`` exceeds at ``PAINSIM_MAX_WORK=1``, most basic first."""
    found = []
    work = run_work(scenario)
    if work.person_steps > MAX_PERSON_STEPS:
        found.append(
            Overrun(
                "work",
                f"{work.people} people x {work.steps} steps x {_count(work.arms, 'arm')} x "
                f"{_count(work.replicates, 'replicate')} = {work.person_steps:.2g} person-steps "
                f"is over the budget of {{budget}} (about {{hours}}); use fewer people, years, "
                "arms or replicates, or a longer dt_weeks",
                work.person_steps / MAX_PERSON_STEPS,
            )
        )
    if work.table_cells > MAX_TABLE_CELLS:
        found.append(
            Overrun(
                "scenario.record_every_years",
                f"{work.records} records x {work.people} people x {_count(work.arms, 'arm')} x "
                f"{_count(work.replicates, 'replicate')} x {work.columns} columns = "
                f"{work.table_cells:.2g} table cells (about {_gigabytes(work.table_cells)}) is "
                "over the memory budget of {budget} cells; record less often or simulate fewer "
                "people",
                work.table_cells / MAX_TABLE_CELLS,
            )
        )
    if scenario.sweep is not None:
        found.extend(_sweep_overruns(scenario))
    if scenario.study is not None:
        found.extend(_study_overruns(scenario))
    return found


def check_work(scenario: Scenario) -> None:
    """Check the work ``scenario`` asks for against the budgets (times ``PAINSIM_MAX_WORK``).

    Raises
    ------
    ValueError
        ``"[work] <field>: <message>"`` for the first budget exceeded: what is too large, by
        how much, and how to proceed, with the ``PAINSIM_MAX_WORK`` that would allow every
        part of it; :func:`sim.scenario.parse_scenario` turns it into a one-line
        ``ScenarioError``.
    """
    try:
        factor = budget_factor()
    except ValueError as exc:
        raise ValueError(f"[work] work: {exc}") from None
    found = [o for o in overruns(scenario) if o.ratio > factor]
    if found:
        first, needed = found[0], max(o.ratio for o in found)
        message = first.message.format(budget=_scaled(first, factor), hours=_hours(factor))
        raise ValueError(
            f"[work] {first.field}: {message}, or allow it with {ENVIRONMENT}={math.ceil(needed)}"
        )


def _scaled(overrun: Overrun, factor: float) -> str:
    base = {
        "work": MAX_PERSON_STEPS,
        "scenario.record_every_years": MAX_TABLE_CELLS,
        "sweep": MAX_SWEEP_RUNS,
        "sweep.replicates": MAX_PERSON_STEPS,
        "study.population": MAX_PERSON_STEPS,
        "study.replications": MAX_RESAMPLED_PEOPLE,
    }[overrun.field]
    return f"{base * factor:.2g}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def _hours(factor: float) -> str:
    hours = MAX_PERSON_STEPS * factor * 1e-6 / 3600
    return f"{hours:.0f} hours" if hours >= 1.5 else f"{hours * 60:.0f} minutes"


def _gigabytes(cells: float) -> str:
    return f"{cells * 8 / 1e9:.0f} GB"


def _sweep_overruns(scenario: Scenario) -> list[Overrun]:
    sweep = scenario.sweep
    assert sweep is not None
    found = []
    points = design_points(sweep)
    runs = points * sweep.replicates
    if runs > MAX_SWEEP_RUNS:
        found.append(
            Overrun(
                "sweep",
                f"{points} design points x {_count(sweep.replicates, 'replicate')} = "
                f"{runs:.2g} runs is over the budget of {{budget}} runs; use fewer values or "
                "samples",
                runs / MAX_SWEEP_RUNS,
            )
        )
    run = scenario.scenario
    people = round(_largest_swept(sweep, "cohort.size", scenario.cohort.size))
    years = sweep.horizon_years or run.years
    per_run = people * steps(years, run.dt_weeks) * len(scenario.arm_list)
    total = runs * per_run
    if total > MAX_PERSON_STEPS:
        found.append(
            Overrun(
                "sweep.replicates",
                f"{runs} runs x {per_run:.2g} person-steps each = {total:.2g} person-steps is "
                "over the budget of {budget} (about {hours}); use fewer runs, people or years",
                total / MAX_PERSON_STEPS,
            )
        )
    return found


def _study_overruns(scenario: Scenario) -> list[Overrun]:
    study = scenario.study
    assert study is not None
    found = []
    models = 2 if study.counterfactual else 1
    n_steps = steps(study.age_max - ADULT_AGE, scenario.scenario.dt_weeks)
    total = models * study.population * n_steps
    if total > MAX_PERSON_STEPS:
        found.append(
            Overrun(
                "study.population",
                f"{study.population} people x {n_steps} steps x {_count(models, 'population')} "
                f"= {total:.2g} person-steps is over the budget of {{budget}} (about {{hours}}); "
                "use a smaller population",
                total / MAX_PERSON_STEPS,
            )
        )
    size = study.n_healthy + study.n_subacute + study.n_chronic
    scaled = 1 + sum(study.power_multipliers) + (1 if study.counterfactual else 0)
    drawn = study.replications * study.bootstrap_resamples * size * scaled
    if drawn > MAX_RESAMPLED_PEOPLE:
        found.append(
            Overrun(
                "study.replications",
                f"{study.replications} replications x {study.bootstrap_resamples} resamples x "
                f"{size} people x {scaled:g} (study, power sizes, counterfactual) = "
                f"{drawn:.2g} resampled people is over the budget of {{budget}}; use fewer "
                "replications, resamples or power multipliers",
                drawn / MAX_RESAMPLED_PEOPLE,
            )
        )
    return found


def connectivity_cells(scenario: Scenario) -> int:
    """Numbers in ``connectivity.npz``: people x arms x replicates x edges of the atlas."""
    regions = ATLAS_REGIONS[scenario.params.brain.atlas]
    work = run_work(scenario)
    return work.people * work.arms * work.replicates * regions * (regions - 1) // 2


def check_connectivity_work(scenario: Scenario, source: str = "<scenario>") -> None:
    """Check that keeping every patient's connectivity fits the memory budget.

    Raises
    ------
    sim.scenario.ScenarioError
        Field ``connectivity``: how many numbers, and how to proceed.
    """
    from sim.scenario.schema import ScenarioError

    try:
        factor = budget_factor()
    except ValueError as exc:
        raise ScenarioError(source, "work", str(exc)) from None
    cells = connectivity_cells(scenario) + run_work(scenario).table_cells
    budget = MAX_TABLE_CELLS * factor
    if cells > budget:
        needed = max([cells / MAX_TABLE_CELLS, *(o.ratio for o in overruns(scenario))])
        raise ScenarioError(
            source,
            "connectivity",
            f"keeping every patient's connectivity takes {cells:.2g} numbers with the patients "
            f"table (about {_gigabytes(cells)}), over the memory budget of {budget:.2g}; run "
            f"without it, simulate fewer people, or allow it with "
            f"{ENVIRONMENT}={math.ceil(needed)}",
        )
