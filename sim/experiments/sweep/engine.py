"""One run of a sweep, and many of them on a backend.

A run (:func:`run_task`) simulates every arm of one point and replicate to the sweep's horizon
and returns one plain row per arm: the mean of each outcome over the arm's patients, the run
time, and a status. It steps the model through the same stops as ``painsim run`` (its record
times, :func:`horizon_stops`) but observes it only at the horizon (:func:`horizon_outcomes`);
with the run's seed, ``painsim run`` reproduces its numbers at any horizon that is a record
time. :func:`run_tasks` runs many of them with :func:`sim.experiments.backends.execute`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from sim.core.model import PainModel, record_grid
from sim.experiments.backends import execute, one_line
from sim.experiments.sweep.design import SweepPlan, SweepTask
from sim.scenario import RunSection, Scenario

STATUS_OK, STATUS_FAILED = "ok", "failed"
"""Values of the ``status`` column."""
_TIME_TOL = 1e-9


def horizon_stops(run: RunSection, horizon: float) -> list[float]:
    """Years the model is stepped to on the way to ``horizon``: ``painsim run``'s record times.

    Stepping through the same stops gives the same time steps, hence the same numbers as
    ``painsim run`` at the horizon, without the cost of recording in between.

    Examples
    --------
    >>> horizon_stops(RunSection(name="demo", years=5, record_every_years=2), 3.0)
    [2.0, 3.0]
    """
    times = record_grid(run.years, run.record_every_years)
    stops = [float(t) for t in times if _TIME_TOL < t <= horizon + _TIME_TOL]
    if not stops or horizon - stops[-1] > _TIME_TOL:
        stops.append(float(horizon))
    return stops


def outcome_mean(snapshot: Mapping[str, np.ndarray], name: str) -> float:
    """Mean over patients of one outcome (missing values left out; NaN if all are missing).

    ``share_<stage>`` is the share of patients in that stage.

    Examples
    --------
    >>> snap = {"pain": np.array([1.0, np.nan, 3.0]), "stage": np.array(["none", "chronic"] * 2)}
    >>> outcome_mean(snap, "pain"), outcome_mean(snap, "share_chronic")
    (2.0, 0.5)
    """
    if name.startswith("share_"):
        return float(np.mean(snapshot["stage"] == name.removeprefix("share_")))
    values = np.asarray(snapshot[name], dtype=float)
    present = values[~np.isnan(values)]
    return float(present.mean()) if present.size else math.nan


def horizon_outcomes(
    scenario: Scenario, arm: str, horizon: float, outcomes: Sequence[str]
) -> dict[str, float]:
    """Simulate one arm of a scenario (replicate 0) to ``horizon`` and summarize the cohort."""
    model = PainModel(scenario, 0, arm=arm, create_agents=False)
    for _ in model.iter_times(horizon_stops(scenario.scenario, horizon)):
        pass  # only the horizon is observed
    snapshot = model.snapshot()
    return {name: outcome_mean(snapshot, name) for name in outcomes}


def failed_rows(task: SweepTask, error: str) -> list[dict[str, Any]]:
    """Rows recording that a run failed before any arm finished."""
    return [
        {
            "point": task.point,
            "replicate": task.replicate,
            "arm": arm.name,
            "seed": task.seed,
            **dict.fromkeys(task.outcomes, math.nan),
            "run_seconds": math.nan,
            "status": STATUS_FAILED,
            "error": error,
        }
        for arm in task.scenario.arm_list
    ]


def run_task(task: SweepTask) -> list[dict[str, Any]]:
    """Run every arm of one point and replicate; an arm that raises is recorded as failed.

    Returns plain rows (no parameter columns), one per arm, so results travel cheaply between
    processes and machines.
    """
    if task.threads is not None:
        import numba

        numba.set_num_threads(max(1, min(task.threads, numba.config.NUMBA_NUM_THREADS)))
    rows = []
    for arm in task.scenario.arm_list:
        start = time.perf_counter()
        try:
            values = horizon_outcomes(task.scenario, arm.name, task.horizon, task.outcomes)
            status, error = STATUS_OK, ""
        except Exception as exc:  # recorded; the sweep carries on
            values, status, error = (
                dict.fromkeys(task.outcomes, math.nan),
                STATUS_FAILED,
                one_line(exc),
            )
        rows.append(
            {
                "point": task.point,
                "replicate": task.replicate,
                "arm": arm.name,
                "seed": task.seed,
                **values,
                "run_seconds": time.perf_counter() - start,
                "status": status,
                "error": error,
            }
        )
    return rows


def _lost(task: SweepTask, exc: Exception) -> list[dict[str, Any]]:
    # A run the backend gave up on (e.g. Dask after its workers died) is recorded as failed.
    return failed_rows(task, one_line(exc))


def run_tasks(
    plan: SweepPlan,
    runs: Iterable[tuple[int, int]],
    *,
    backend: str = "process",
    workers: int | None = None,
    scheduler: str | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Run the given (point, replicate) runs of a plan; yield each run's rows as it completes.

    On worker processes every run uses one Numba thread (the cores go to the workers); a
    serial run may use them all. The tables do not depend on it. Options are checked at once
    (:func:`sim.experiments.backends.check_options`); close the iterator to stop early.

    Raises
    ------
    sim.experiments.backends.BackendError
        Bad options, or a Dask cluster that cannot run painsim.
    sim.experiments.backends.WorkerLost
        A local worker process died.
    """
    threads = None if backend == "serial" else 1
    tasks = (plan.task(point, replicate, threads) for point, replicate in runs)
    return execute(
        run_task,
        tasks,
        backend=backend,
        workers=workers,
        scheduler=scheduler,
        on_error=_lost,
        label="sweep",
    )


__all__ = [
    "STATUS_FAILED",
    "STATUS_OK",
    "failed_rows",
    "horizon_outcomes",
    "horizon_stops",
    "outcome_mean",
    "run_task",
    "run_tasks",
]
