"""Following people: run each treated arm and the usual-care arm, measure pairs at follow-up.

Patients are measured where they are due (their enrolment plus each follow-up, in whole model
steps): a treated arm records its enrolments and measures its patients; the single usual-care
run measures every twin at the same moments.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import pandas as pd

from sim.core.model import TIME_TOL, PainModel
from sim.core.outcomes import INDICES, NETWORK
from sim.experiments.timing.plan import START_KEYS, TWIN, timing_design, timing_plan
from sim.scenario import Scenario

PAIR_COLUMNS: tuple[str, ...] = (
    "replicate",
    *START_KEYS,
    "patient_id",
    "enrolled_year",
    "years_with_pain_at_start",
    "age_at_start",
    "adaptation_at_start",
    "follow_up_years",
)
"""Key columns of ``pairs.parquet``; then ``<outcome>_treated`` and ``<outcome>_usual_care``."""

# -- following people -----------------------------------------------------------------------------
NETWORK_OUTCOMES = frozenset(NETWORK) | {"healthy_range"}
INDEX_OUTCOMES = frozenset(INDICES[1:])
SMALL_BATCH = 512
"""Below this many people a measurement runs the Numba kernels on one thread: the follow-ups
measure a few dozen people per step, and starting the parallel threads then costs more (up to
ten times more on a busy machine) than the work."""


@contextmanager
def _threads_for(people: int) -> Iterator[None]:
    before = numba.get_num_threads()
    if people < SMALL_BATCH:
        numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def measure(model: PainModel, rows: np.ndarray, outcomes: Sequence[str]) -> dict[str, np.ndarray]:
    """The requested outcomes of ``rows`` now, treatment effects included.

    Examples
    --------
    >>> from sim.scenario import parse_scenario
    >>> s = parse_scenario({"scenario": {"name": "demo", "years": 1}, "cohort": {"size": 5}})
    >>> m = PainModel(s, create_agents=False)
    >>> sorted(measure(m, np.array([0, 3]), ["pain", "healthy_range"]))
    ['healthy_range', 'pain']
    """
    wanted = set(outcomes)
    with _threads_for(rows.size):
        pain_now = model.current_pain(rows)
        values: dict[str, np.ndarray] = {"pain": pain_now}
        if "coping" in wanted:
            values["coping"] = model.coping_now(rows)
        if "adaptation" in wanted:
            values["adaptation"] = model.observe(rows)["adaptation"]
        if wanted & INDEX_OUTCOMES:
            # the indices include the mean |z| (dmn_perturbation): no second connectivity
            values.update(model.indices(rows, pain_now))
        if wanted & (NETWORK_OUTCOMES - {"dmn_perturbation", "healthy_range"}) or (
            wanted & {"dmn_perturbation", "healthy_range"} and "dmn_perturbation" not in values
        ):
            values.update(model.network_outcomes(rows, pain_now))
        if "healthy_range" in wanted:
            healthy = values["dmn_perturbation"] <= model.norms.healthy_upper
            values["healthy_range"] = healthy.astype(float)
    return {name: np.asarray(values[name], dtype=float) for name in outcomes}


@dataclass
class Enrolled:
    """Who a treated arm enrolled (and kept: followed up before the horizon), and their outcomes.

    ``outcomes[f][name]`` are the values ``follow_up_years[f]`` after enrolment.
    """

    rows: np.ndarray
    step: np.ndarray
    year: np.ndarray
    years_with_pain: np.ndarray
    age: np.ndarray
    adaptation: np.ndarray
    outcomes: list[dict[str, np.ndarray]]


def step_counts(scenario: Scenario, follow_up_years: Sequence[float]) -> tuple[int, list[int]]:
    """Whole model steps within the horizon, and each follow-up in whole steps (at least one)."""
    run = scenario.scenario
    total = math.floor(run.years / run.dt_years + TIME_TOL)
    return total, [max(1, round(y / run.dt_years)) for y in follow_up_years]


def follow_treated(
    model: PainModel,
    total_steps: int,
    follow_steps: Sequence[int],
    outcomes: Sequence[str],
    tick: Callable[[int], object] | None = None,
) -> Enrolled:
    """Run a treated arm step by step; record enrolment and each follow-up of the enrolled.

    Patients enrolled too late to be followed for the longest follow-up before the horizon are
    left out (censored), so every follow-up describes the same patients.
    """
    last_enrolment = total_steps - max(follow_steps)
    known = np.zeros(model.cohort.size, dtype=bool)
    parts: list[dict[str, np.ndarray]] = []
    due: dict[int, list[tuple[int, int, np.ndarray]]] = {}  # step -> (part, follow-up, rows)
    measured: list[list[dict[str, np.ndarray]]] = []
    for step in range(1, total_steps + 1):
        model.step()
        if tick is not None:
            tick(1)
        if step <= last_enrolment:
            enrolled = np.isfinite(model.enrolled_year())
            new = np.flatnonzero(enrolled & ~known)
            known |= enrolled
            if new.size:
                state = model.observe(new)
                parts.append(
                    {
                        "rows": new,
                        "step": np.full(new.size, step),
                        "year": np.full(new.size, model.time_years),
                        "years_with_pain": state["years_with_pain"],
                        "age": state["age"],
                        "adaptation": state["adaptation"],
                    }
                )
                measured.append([{} for _ in follow_steps])
                for f, lag in enumerate(follow_steps):
                    due.setdefault(step + lag, []).append((len(parts) - 1, f, new))
        for part, f, rows in due.pop(step, []):
            measured[part][f] = measure(model, rows, outcomes)

    def joined(key: str, dtype: Any = float) -> np.ndarray:
        return np.concatenate([p[key] for p in parts]) if parts else np.empty(0, dtype)

    return Enrolled(
        rows=joined("rows", np.int64),
        step=joined("step", np.int64),
        year=joined("year"),
        years_with_pain=joined("years_with_pain"),
        age=joined("age"),
        adaptation=joined("adaptation"),
        outcomes=[
            {
                name: np.concatenate([m[f][name] for m in measured]) if measured else np.empty(0)
                for name in outcomes
            }
            for f in range(len(follow_steps))
        ],
    )


def follow_twins(
    model: PainModel,
    total_steps: int,
    requests: Sequence[tuple[np.ndarray, np.ndarray]],
    outcomes: Sequence[str],
    tick: Callable[[int], object] | None = None,
) -> list[dict[str, np.ndarray]]:
    """Run the usual-care arm and measure each request's people at their own steps.

    Parameters
    ----------
    requests
        ``(rows, steps)`` pairs of equal-length arrays: measure person ``rows[i]`` after step
        ``steps[i]``.

    Returns
    -------
    list of dict
        Per request, the outcomes in the order of its rows.
    """
    results = [{name: np.full(rows.size, np.nan) for name in outcomes} for rows, _ in requests]
    by_step: dict[int, list[tuple[int, np.ndarray]]] = {}
    for r, (_, steps) in enumerate(requests):
        for step in np.unique(steps):
            by_step.setdefault(int(step), []).append((r, np.flatnonzero(steps == step)))
    for step in range(1, total_steps + 1):
        model.step()
        if tick is not None:
            tick(1)
        wanted = by_step.pop(step, [])
        if not wanted:
            continue
        people = np.unique(np.concatenate([requests[r][0][idx] for r, idx in wanted]))
        values = measure(model, people, outcomes)
        for r, idx in wanted:
            where = np.searchsorted(people, requests[r][0][idx])
            for name in outcomes:
                results[r][name][idx] = values[name][where]
    return results


def simulate_replicate(
    scenario: Scenario,
    replicate: int,
    tick: Callable[[int], object] | None = None,
) -> pd.DataFrame:
    """Every pair (treated patient, usual-care twin) of one replicate (``pairs.parquet`` rows).

    Parameters
    ----------
    scenario
        A scenario with ``[timing]`` (already carrying this replicate's parameters).
    replicate
        Replicate index (selects the random streams; treated and twin share them).
    tick
        Called with 1 after every model step (progress).
    """
    timing = timing_design(scenario)
    generated, plan = timing_plan(scenario)
    outcomes = list(timing.outcomes)
    total, follow = step_counts(generated, timing.follow_up_years)
    treated = []
    for arm in plan:
        model = PainModel(generated, replicate, arm=arm.name, create_agents=False)
        treated.append(follow_treated(model, total, follow, outcomes, tick))
    requests = [(e.rows, e.step + lag) for e in treated for lag in follow]
    twin = PainModel(generated, replicate, arm=TWIN, create_agents=False)
    twins = iter(follow_twins(twin, total, requests, outcomes, tick))
    tables = []
    for arm, enrolled in zip(plan, treated, strict=True):
        for f, years in enumerate(timing.follow_up_years):
            controls = next(twins)
            columns: dict[str, Any] = {
                "replicate": replicate,
                "treatment": arm.treatment,
                "start": arm.start.label,
                "start_years_with_pain": arm.start.years_with_pain,
                "start_stage": arm.start.stage,
                "patient_id": enrolled.rows,
                "enrolled_year": enrolled.year,
                "years_with_pain_at_start": enrolled.years_with_pain,
                "age_at_start": enrolled.age,
                "adaptation_at_start": enrolled.adaptation,
                "follow_up_years": float(years),
            }
            for name in outcomes:
                columns[f"{name}_treated"] = enrolled.outcomes[f][name]
                columns[f"{name}_usual_care"] = controls[name]
            tables.append(pd.DataFrame(columns, index=pd.RangeIndex(enrolled.rows.size)))
    return pd.concat(tables, ignore_index=True)
