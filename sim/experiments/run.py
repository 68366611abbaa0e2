"""Run a scenario in memory: every arm and replicate, then the tables people read.

:func:`run_replicate` simulates one replicate of one arm and returns plain data (patient rows
and, on request, connectivity), so replicates can run in separate processes.
:func:`summarize_timeseries`, :func:`summarize_horizon` and :func:`decade_table` turn patient
rows into tables. :func:`simulate` ties them together into a :class:`RunResult`, which
``sim.run`` returns and :meth:`RunResult.save` writes as the folder ``painsim run`` writes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.stats import RESAMPLES, bootstrap_interval, t_interval
from sim.core.brain import edges_to_matrix
from sim.core.model import PainModel, record_grid, steps_between
from sim.core.outcomes import HORIZON, SNAPSHOT, STAGE_SHARES, TIMESERIES
from sim.core.pain import STAGES
from sim.experiments.provenance import new_run_id, utc_now
from sim.scenario import USUAL_CARE, RunSection, Scenario, parse_scenario

SUMMARY_COLUMNS: tuple[str, ...] = (
    "arm",
    "outcome",
    "mean",
    "ci_low",
    "ci_high",
    "method",
    "replicates",
    "n_patients",
)
CI_LEVEL = 0.95


@dataclass(frozen=True)
class ReplicateResult:
    """What one replicate of one arm produced.

    Attributes
    ----------
    patients
        One row per patient per record time, columns ``sim.core.outcomes.PATIENT_COLUMNS``.
    connectivity
        (N, R, R) float32 connectivity (Pearson r) at the horizon, or None if not requested.
    """

    patients: pd.DataFrame
    connectivity: np.ndarray | None = None


# -- scenario settings --------------------------------------------------------------------------
def override_run(
    scenario: Scenario, changes: Mapping[str, Any], source: str = "<scenario>"
) -> Scenario:
    """Return ``scenario`` with ``[scenario]`` fields replaced and everything validated again.

    Raises
    ------
    sim.scenario.ScenarioError
        A changed value is invalid.

    Examples
    --------
    >>> s = parse_scenario({"scenario": {"name": "demo"}})
    >>> override_run(s, {"replicates": 4}).scenario.replicates
    4
    """
    data = scenario.model_dump()
    data["scenario"].update(changes)
    return parse_scenario(data, source)


def record_times(run: RunSection) -> np.ndarray:
    """Years at which patients are recorded: 0, every ``record_every_years``, and the horizon.

    Examples
    --------
    >>> run = RunSection(name="demo", years=2.5, record_every_years=1)
    >>> record_times(run).tolist()
    [0.0, 1.0, 2.0, 2.5]
    """
    return record_grid(run.years, run.record_every_years)


def steps_per_replicate(run: RunSection) -> int:
    """Model steps one replicate takes over the whole horizon (the progress bar's unit)."""
    times = record_times(run)
    return sum(steps_between(a, b, run.dt_years) for a, b in pairwise(times))


# -- simulation ---------------------------------------------------------------------------------
def _patient_rows(
    snapshot: Mapping[str, np.ndarray], arm: str, replicate: int, year: float
) -> pd.DataFrame:
    columns = {name: snapshot[name] for name in SNAPSHOT}
    return pd.DataFrame(
        {
            "patient_id": snapshot["patient_id"],
            "arm": arm,
            "replicate": replicate,
            "year": year,
            **columns,
        }
    )


def run_replicate(
    scenario: Scenario,
    replicate: int,
    arm: str = USUAL_CARE,
    *,
    connectivity: bool = False,
    progress: Callable[[int], object] | None = None,
) -> ReplicateResult:
    """Simulate one replicate of one arm and record every patient at every record time.

    The result depends only on the arguments (the model is seeded from scenario and replicate),
    and arguments and result pickle, so replicates and arms can run in separate processes.

    Parameters
    ----------
    scenario
        A validated scenario.
    replicate
        Replicate index (selects the random streams; see ``sim.core.model``).
    arm
        Arm label written into every row.
    connectivity
        Also return every patient's connectivity matrix at the horizon.
    progress
        Called with the number of model steps just done, e.g. ``tqdm.update``.

    Returns
    -------
    ReplicateResult
    """
    model = PainModel(scenario, replicate, arm=arm, create_agents=False)
    dt = scenario.scenario.dt_years
    frames = []
    before = model.time_years
    for year in model.iter_times():
        if progress is not None:
            progress(steps_between(before, year, dt))
        before = year
        frames.append(_patient_rows(model.snapshot(), arm, replicate, year))
    matrices = None
    if connectivity:
        matrices = edges_to_matrix(model.connectivity().astype(np.float32), diagonal=1.0)
    return ReplicateResult(pd.concat(frames, ignore_index=True), matrices)


def simulate_replicate(
    scenario: Scenario,
    replicate: int,
    arm: str = USUAL_CARE,
    *,
    progress: Callable[[int], object] | None = None,
) -> pd.DataFrame:
    """Patient rows of one replicate of one arm (see :func:`run_replicate`).

    Examples
    --------
    >>> s = parse_scenario({"scenario": {"name": "demo", "years": 1}, "cohort": {"size": 5}})
    >>> simulate_replicate(s, 0)[["patient_id", "year"]].shape
    (10, 2)
    """
    return run_replicate(scenario, replicate, arm, progress=progress).patients


# -- summaries ----------------------------------------------------------------------------------
def _stage_indicators(stage: pd.Series) -> dict[str, pd.Series]:
    """``share_<stage>`` columns: 1.0 where a patient is in that stage, else 0.0."""
    return {f"share_{name}": stage.eq(name).astype(float) for name in STAGES}


def summarize_timeseries(patients: pd.DataFrame) -> pd.DataFrame:
    """Cohort summary per arm, replicate and record time.

    Parameters
    ----------
    patients
        Patient rows as made by :func:`run_replicate`.

    Returns
    -------
    pandas.DataFrame
        Columns ``arm, replicate, year, n, n_enrolled``, then ``<variable>_mean`` and
        ``<variable>_sd`` (SD with ddof=1) for each of ``sim.core.outcomes.TIMESERIES``, then
        ``share_<stage>`` for each pain stage; sorted by arm, replicate, year.
    """
    keys = ["arm", "replicate", "year"]
    data = patients[[*keys, *TIMESERIES]].astype(dict.fromkeys(TIMESERIES, float))
    data = data.assign(
        **_stage_indicators(patients["stage"]),
        n_enrolled=(patients["enrolled_year"] <= patients["year"] + 1e-9),
    )
    grouped = data.groupby(keys, sort=True, observed=True)
    moments = grouped[list(TIMESERIES)].agg(["mean", "std"])
    moments.columns = [f"{name}_{'sd' if stat == 'std' else stat}" for name, stat in moments]
    table = pd.concat(
        [
            grouped.size().rename("n"),
            grouped["n_enrolled"].sum(),
            moments,
            grouped[list(STAGE_SHARES)].mean(),
        ],
        axis=1,
    )
    table = table.reset_index()
    table["arm"] = table["arm"].astype(str)
    return table


def _horizon_rows(
    arm: str, at_horizon: pd.DataFrame, people: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """summary.csv rows of one arm, from its timeseries rows and patient rows at the horizon."""
    mean_columns = [f"{name}_mean" for name in TIMESERIES]
    replicate_means = at_horizon[[*mean_columns, *STAGE_SHARES]].to_numpy(dtype=float)
    replicates = replicate_means.shape[0]
    if replicates >= 2:
        _, low, high = t_interval(replicate_means, CI_LEVEL)
        method = "t over replicate means"
    else:
        values = people[list(TIMESERIES)].astype(float).assign(**_stage_indicators(people["stage"]))
        low, high = bootstrap_interval(values.to_numpy(dtype=float), rng, RESAMPLES, CI_LEVEL)
        method = f"percentile bootstrap over patients ({RESAMPLES} resamples)"
    return pd.DataFrame(
        {
            "arm": arm,
            "outcome": HORIZON,
            "mean": replicate_means.mean(axis=0),
            "ci_low": low,
            "ci_high": high,
            "method": method,
            "replicates": replicates,
            "n_patients": len(people) // replicates,
        }
    )


def summarize_horizon(
    timeseries: pd.DataFrame, patients: pd.DataFrame, *, seed: int = 0
) -> pd.DataFrame:
    """End-of-horizon outcomes per arm with 95 % intervals (the table in ``summary.csv``).

    With two or more replicates the interval is a Student-t interval over replicate means; with
    one replicate it is a percentile bootstrap over patients (1,000 resamples, seeded).

    Parameters
    ----------
    timeseries
        Output of :func:`summarize_timeseries`.
    patients
        The patient rows the timeseries was made from.
    seed
        Seed of the bootstrap resampling.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SUMMARY_COLUMNS`, one row per arm and outcome
        (``sim.core.outcomes.HORIZON``); ``n_patients`` is the cohort size of one replicate.
    """
    rng = np.random.default_rng(seed)
    tables = []
    for arm, series in timeseries.groupby("arm", sort=True):
        horizon = series["year"].max()
        people = patients[(patients["arm"] == arm) & (patients["year"] == horizon)]
        tables.append(_horizon_rows(str(arm), series[series["year"] == horizon], people, rng))
    return pd.concat(tables, ignore_index=True)[list(SUMMARY_COLUMNS)]


DECADE_COLUMNS: dict[str, str] = {
    "share_none": "% none",
    "share_acute": "% acute",
    "share_subacute": "% subacute",
    "share_chronic": "% chronic",
    "years_with_pain_mean": "years with pain",
    "coping_mean": "coping (PCS)",
    "dmn_perturbation_mean": "DMN perturbation",
}


def decade_table(timeseries: pd.DataFrame) -> pd.DataFrame:
    """Compact per-decade view: years 0, 10, 20, ... and the horizon, averaged over replicates.

    Parameters
    ----------
    timeseries
        Output of :func:`summarize_timeseries`.

    Returns
    -------
    pandas.DataFrame
        Columns ``arm``, ``year``, then the values of :data:`DECADE_COLUMNS` (shares in %).

    Examples
    --------
    >>> ts = pd.DataFrame({"arm": "a", "replicate": 0, "year": [0.0, 5.0, 10.0, 12.0],
    ...                    **{c: 0.5 for c in DECADE_COLUMNS}})
    >>> decade_table(ts)["year"].tolist()
    [0.0, 10.0, 12.0]
    """
    decades = timeseries["year"] / 10
    keep = np.isclose(decades, decades.round()) | (timeseries["year"] == timeseries["year"].max())
    table = (
        timeseries[keep]
        .groupby(["arm", "year"], sort=True)[list(DECADE_COLUMNS)]
        .mean()
        .reset_index()
    )
    table[list(STAGE_SHARES)] *= 100
    return table.rename(columns=DECADE_COLUMNS)


# -- the whole run ------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class RunResult:
    """Everything a run produced, in memory; :meth:`save` writes it as ``painsim run`` does.

    Attributes
    ----------
    scenario
        The scenario that was run (after any seed or replicate override).
    patients
        One row per patient, arm, replicate and record time (``patients.parquet``; columns in
        ``results/README.md`` and ``sim.core.outcomes``).
    timeseries
        Means and SDs per arm, replicate and record time (``timeseries.parquet``).
    summary
        Outcomes at the horizon per arm with 95 % intervals (``summary.csv``).
    connectivity
        (arms x replicates, N, R, R) float32 connectivity at the horizon, or None.
    run_id, started, finished
        Identity and UTC times of the run.
    command
        The command line that made it (None from Python).
    seconds
        Wall time of simulating and of summarizing.

    Examples
    --------
    >>> from sim.scenario import parse_scenario
    >>> s = parse_scenario({"scenario": {"name": "demo", "years": 2}, "cohort": {"size": 20}})
    >>> res = simulate(s)
    >>> res.arms, len(res.patients), sorted(res.timeseries["year"].unique().tolist())
    (['usual care'], 60, [0.0, 1.0, 2.0])
    """

    scenario: Scenario
    patients: pd.DataFrame
    timeseries: pd.DataFrame
    summary: pd.DataFrame
    connectivity: np.ndarray | None = None
    run_id: str = ""
    started: datetime | None = field(default_factory=utc_now)
    finished: datetime | None = field(default_factory=utc_now)
    command: list[str] | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def arms(self) -> list[str]:
        """Arm names in scenario order (the first is the default reference)."""
        return [arm.name for arm in self.scenario.arm_list]

    @property
    def kind(self) -> str:
        return "run"

    def decades(self) -> pd.DataFrame:
        """The per-decade table ``painsim run`` prints (:func:`decade_table`)."""
        return decade_table(self.timeseries)

    def compare(
        self,
        reference: str | None = None,
        years: Sequence[float] | None = None,
        *,
        enrolled: bool = False,
    ) -> pd.DataFrame:
        """Differences of every arm from ``reference`` (see :func:`sim.experiments.compare`).

        Parameters
        ----------
        reference
            Reference arm (default: the first arm).
        years
            Record years (default: the horizon).
        enrolled
            Only patients enrolled in the compared arm by that year, with their twins.
        """
        from sim.experiments.compare import compare_run

        return compare_run(self, reference, years, enrolled_only=enrolled)

    def save(
        self, folder: str | Path | None = None, *, results_root: str | Path = "results"
    ) -> Path:
        """Write the results folder ``painsim run`` writes; return its path.

        ``folder`` must be new or empty; default ``results_root/<scenario slug>/<run id>/``.
        """
        from sim.results.run import save_run  # the results layer sits above experiments

        return save_run(self, folder, results_root=results_root)

    def figures(self, folder: str | Path, **options: Any) -> Any:
        """Draw the run's figures into ``folder`` (see :func:`sim.viz.make_figures`)."""
        from sim.viz.figures import make_figures  # the figures layer sits above results

        return make_figures(self, folder, **options)


def _progress_bar(total: int, desc: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="step", disable=not enabled, file=sys.stderr)


def simulate(
    scenario: Scenario,
    *,
    connectivity: bool = False,
    progress: bool = False,
    command: Sequence[str] | None = None,
    run_id: str | None = None,
) -> RunResult:
    """Simulate every replicate of every arm of a scenario and summarize them, in memory.

    Parameters
    ----------
    scenario
        A validated scenario.
    connectivity
        Keep every patient's connectivity matrix at the horizon.
    progress
        Show a progress bar on stderr.
    command
        The command line, recorded when the result is saved.
    run_id
        Id of the run (default: a new one from the start time).

    Returns
    -------
    RunResult
    """
    started = utc_now()
    clock = time.perf_counter()
    run = scenario.scenario
    results = []
    total = len(scenario.arm_list) * run.replicates * steps_per_replicate(run)
    with _progress_bar(total, run.slug, progress) as bar:
        for arm in scenario.arm_list:
            for replicate in range(run.replicates):
                results.append(
                    run_replicate(
                        scenario,
                        replicate,
                        arm.name,
                        connectivity=connectivity,
                        progress=bar.update,
                    )
                )
    patients = pd.concat([r.patients for r in results], ignore_index=True)
    matrices = np.stack([r.connectivity for r in results]) if connectivity else None
    simulated = time.perf_counter()
    timeseries = summarize_timeseries(patients)
    summary = summarize_horizon(timeseries, patients, seed=run.seed)
    done = time.perf_counter()
    return RunResult(
        scenario=scenario,
        patients=patients,
        timeseries=timeseries,
        summary=summary,
        connectivity=matrices,
        run_id=run_id or new_run_id(started),
        started=started,
        finished=utc_now(),
        command=list(command) if command is not None else None,
        seconds={"simulate": simulated - clock, "summarize": done - simulated},
    )
