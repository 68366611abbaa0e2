"""The result of a calibration: posterior, fit table, and the results folder it is saved as."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.core.targets import CATALOGUES
from sim.experiments.calibrate.abc import (
    AbcRun,
    cache_path,
    calibration_pool,
    check_database,
    database_path,
    emit,
    run_abc,
    workers_for,
)
from sim.experiments.calibrate.problem import Problem, weighted_quantile
from sim.experiments.provenance import new_run_id, utc_now
from sim.scenario import Scenario

if TYPE_CHECKING:
    from sim.experiments.backends import Pool

TARGET_COLUMNS: tuple[str, ...] = (
    "statistic",
    "role",
    "published",
    "low",
    "high",
    "weight",
    "simulated_median",
    "simulated_low",
    "simulated_high",
    "met",
    "unit",
    "source",
)


@dataclass
class CalibrationResult:
    """A finished calibration.

    Attributes
    ----------
    scenario
        The scenario (with its ``[calibration]`` section).
    posterior
        Weighted parameter draws of the last generation: one column per calibrated parameter
        (dotted names) and ``weight`` (sums to 1).
    targets
        The fit: every target (``role`` "target") and every other statistic (``role``
        "reported") under the posterior: published value and interval, simulated median and
        95 % range over ``draws_for_fit`` posterior draws, and whether the median is inside
        the published interval (``met``).
    generations
        One row per ABC generation: epsilon, simulations, accepted, acceptance_rate, ess.
    settings
        Backend, workers, wall time and where the pyabc database is.
    predictions
        ``heukamp`` only: each finding's detection rate under posterior draws (``role``
        "fitted" for findings 1-3, "predicted" for finding 4 and all four together), from
        :func:`sim.experiments.calibrate.heukamp.predict_findings`; None otherwise.
    """

    scenario: Scenario
    posterior: pd.DataFrame
    targets: pd.DataFrame
    generations: pd.DataFrame
    settings: dict[str, Any]
    run_id: str
    started: datetime | str | None
    finished: datetime | str | None
    command: list[str] | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    predictions: pd.DataFrame | None = None
    kind: str = "calibration"

    @property
    def medians(self) -> dict[str, float]:
        """Weighted posterior median of each calibrated parameter."""
        return posterior_medians(self.posterior)

    def save(self, folder: str | Path | None = None, results_root: str | Path = "results") -> Path:
        """Write the calibration's results folder (``sim.results.calibration``)."""
        from sim.results.calibration import save_calibration

        return save_calibration(self, folder, results_root=results_root)


def posterior_medians(posterior: pd.DataFrame) -> dict[str, float]:
    """Weighted median of every parameter column of a posterior table."""
    w = posterior["weight"].to_numpy()
    return {
        name: weighted_quantile(posterior[name].to_numpy(), w, 0.5)
        for name in posterior.columns
        if name != "weight"
    }


def _statistics_of(task: tuple[Problem, dict[str, float], int]) -> tuple[int, dict]:
    """Every statistic of one posterior draw (a worker task): (replicate, statistics)."""
    problem, values, replicate = task
    return replicate, problem.simulate(values, replicate, every=True)


def fit_table(
    problem: Problem,
    posterior: pd.DataFrame,
    draws: int,
    rng: np.random.Generator,
    pool: Pool | None = None,
) -> pd.DataFrame:
    """Simulate ``draws`` posterior draws again (new random numbers) and compare with targets.

    ``pool`` runs the draws on the calibration's workers (default: in this process); the table
    is the same either way.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TARGET_COLUMNS`; targets first, then every other statistic.
    """
    names = [c for c in posterior.columns if c != "weight"]
    picks = rng.choice(len(posterior), size=draws, p=posterior["weight"].to_numpy())
    points = [{n: float(posterior[n].iloc[i]) for n in names} for i in picks]
    tasks = [(problem, point, k + 1) for k, point in enumerate(points)]
    if pool is None:
        done = map(_statistics_of, tasks)
    else:
        done = pool.execute(_statistics_of, tasks, label="fit")
    by_replicate = dict(done)
    results = [by_replicate[k + 1] for k in range(len(points))]
    frame = pd.DataFrame(results)
    rows = []
    catalogue = CATALOGUES[problem.experiment]
    for name in problem.statistics:
        if name not in frame:
            continue
        values = frame[name].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        median, low, high = (
            np.quantile(values, [0.5, 0.025, 0.975]) if values.size else (np.nan,) * 3
        )
        target, weight = problem.targets.get(name, (None, np.nan))
        rows.append(
            {
                "statistic": name,
                "role": "target" if target else "reported",
                "published": target.value if target else np.nan,
                "low": target.low if target else np.nan,
                "high": target.high if target else np.nan,
                "weight": weight,
                "simulated_median": median,
                "simulated_low": low,
                "simulated_high": high,
                "met": bool(target.low <= median <= target.high) if target else None,
                "unit": catalogue[name].unit,
                "source": target.source if target else catalogue[name].description,
            }
        )
    return pd.DataFrame(rows, columns=list(TARGET_COLUMNS))


def calibrate(
    scenario: Scenario,
    *,
    backend: str = "process",
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    out: str | Path | None = None,
    results_root: str | Path = "results",
    progress: bool = False,
    command: Sequence[str] | None = None,
) -> CalibrationResult:
    """Calibrate a scenario's ``[calibration]`` parameters to its targets (ABC-SMC, pyabc).

    Parameters
    ----------
    scenario
        A validated scenario with a ``[calibration]`` section.
    backend
        ``serial`` (this process), ``process`` (local worker processes) or ``dask`` (a local
        cluster, or the scheduler at ``scheduler``); all three give the same posterior, bit for
        bit, with any number of workers.
    workers
        Worker processes (default: usable cores).
    scheduler
        Address of a running Dask scheduler (backend ``dask``).
    resume
        Continue the interrupted calibration of this scenario from its pyabc database.
    out, results_root
        Where the results folder will go; the pyabc database works beside it until then.
    progress
        One line per generation on stderr.
    command
        Command line for the manifest.

    Raises
    ------
    sim.experiments.calibrate.CalibrationError
        Bad backend settings, or an unfinished calibration in the way (or none to resume).
    ModuleNotFoundError
        pyabc is not installed (``pip install -e '.[calibrate]'``).
    """
    if scenario.calibration is None:
        from sim.experiments.calibrate.abc import CalibrationError

        raise CalibrationError("the scenario has no [calibration] section", option="scenario")
    started, run_id = utc_now(), new_run_id()
    say = emit if progress else None
    database = database_path(scenario, Path(out) if out is not None else None, Path(results_root))
    n_workers = workers_for(backend, workers)
    check_database(database, resume)  # before any worker starts or population is simulated
    clock = time.monotonic()
    problem = Problem.from_scenario(scenario)
    seconds: dict[str, float] = {}
    section = scenario.calibration
    rng = np.random.default_rng(np.random.SeedSequence(scenario.scenario.seed, spawn_key=(7,)))
    # One set of workers for the whole calibration: populations, generations, fit table.
    with calibration_pool(backend, n_workers, scheduler) as pool:
        if problem.experiment in ("heukamp", "interventions"):
            # Simulated once, before ABC: the populations every proposal is replayed on.
            cache = cache_path(database)
            _preparer(problem.experiment)(problem, cache, pool, say)
            problem = replace(problem, cache=str(cache))
            seconds["populations"] = round(time.monotonic() - clock, 1)
        run: AbcRun = run_abc(
            scenario,
            database=database,
            backend=backend,
            workers=workers,
            scheduler=scheduler,
            resume=resume,
            progress=say,
            problem=problem,
            pool=pool,
        )
        abc_seconds = time.monotonic() - clock - seconds.get("populations", 0.0)
        if say:
            say(f"simulating {section.draws_for_fit} posterior draws for the fit table")
        fit_clock = time.monotonic()
        targets = fit_table(problem, run.posterior, section.draws_for_fit, rng, pool)
        seconds["fit"] = round(time.monotonic() - fit_clock, 1)
    predictions = None
    if problem.experiment == "heukamp" and problem.design.predict_draws > 0:
        from sim.experiments.calibrate.heukamp import predict_findings, prediction_summary

        design = problem.design
        if say:
            say(
                f"predicting the findings: {design.predict_draws} posterior draws x "
                f"{design.predict_replications} replications of the study"
            )
        predict_clock = time.monotonic()
        per_draw = predict_findings(
            problem,
            run.posterior,
            design.predict_draws,
            design.predict_replications,
            np.random.default_rng(np.random.SeedSequence(scenario.scenario.seed, spawn_key=(8,))),
        )
        predictions = prediction_summary(per_draw, design.predict_replications)
        seconds["predict"] = round(time.monotonic() - predict_clock, 1)
    finished = utc_now()
    total = run.generations["simulations"].sum()
    return CalibrationResult(
        scenario=scenario,
        posterior=run.posterior,
        targets=targets,
        generations=run.generations,
        settings={
            "method": section.method,
            "backend": run.backend,
            "workers": run.workers,
            "database": str(run.database),
            "cache": problem.cache,
            "abc_id": run.abc_id,
            "simulations": int(total),
            "acceptance_rate": float(len(run.posterior) / run.generations["simulations"].iloc[-1]),
            "ess": float(run.generations["ess"].iloc[-1]),
            "resumed": resume,
        },
        run_id=run_id,
        started=started,
        finished=finished,
        command=list(command) if command is not None else None,
        seconds={"abc": round(abc_seconds, 1), **seconds},
        predictions=predictions,
    )


def _preparer(experiment: str):
    if experiment == "heukamp":
        from sim.experiments.calibrate.heukamp import prepare_nodes

        return prepare_nodes
    from sim.experiments.calibrate.trial import prepare_trial

    return prepare_trial
