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
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from sim.analysis.stats import normal_interval, t_interval, wilson_interval
from sim.core.brain import edges_to_matrix
from sim.core.jit import concurrent_launches_safe
from sim.core.model import TIME_TOL, PainModel, record_grid, steps_between
from sim.core.outcomes import (
    HORIZON,
    NETWORK,
    PATIENT_COLUMNS,
    SNAPSHOT,
    STAGE_SHARES,
    TIMESERIES,
    VARIABLES,
)
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
STORED_FLOAT32: tuple[str, ...] = (
    "age",
    "years_with_pain",
    "pain",
    "coping",
    "adaptation",
    *NETWORK,
    "pain_reported",
    "baseline_pain",
    "responder",
)
"""Patient columns stored as float32: seven significant digits are far below the model's own
noise. Times (``year``, ``enrolled_year``) stay float64 (they are keys and are compared)."""


def patient_schema(arms: Sequence[str]) -> pa.Schema:
    """Column types of ``patients.parquet`` (and of ``RunResult.patients``).

    ``arm``, ``sex`` and ``stage`` are categories (dictionary-encoded), counts are 32-bit
    integers, the columns of :data:`STORED_FLOAT32` are float32.
    """
    categories = pa.dictionary(pa.int8(), pa.string())
    types: dict[str, pa.DataType] = {
        "patient_id": pa.int32(),
        "arm": categories,
        "replicate": pa.int32(),
        "year": pa.float64(),
        "sex": categories,
        "stage": categories,
        "episodes": pa.int32(),
        "healthy_range": pa.bool_(),
        "enrolled_year": pa.float64(),
    }
    types.update(dict.fromkeys(STORED_FLOAT32, pa.float32()))
    return pa.schema([(name, types[name]) for name in PATIENT_COLUMNS])


def patients_markdown() -> str:
    """The column table of ``patients.parquet`` in ``results/README.md``, from the code.

    Types come from :func:`patient_schema`, units and meanings from ``sim.core.outcomes``.

    Examples
    --------
    >>> patients_markdown().splitlines()[6]
    '| `age` | float32 | years | age |'
    """
    schema = patient_schema(["usual care"])
    lines = ["| Column | Type | Unit | Meaning |", "|---|---|---|---|"]
    for field in schema:
        v = VARIABLES[field.name]
        kind = "category" if pa.types.is_dictionary(field.type) else str(field.type)
        kind = {"double": "float64", "float": "float32"}.get(kind, kind)
        lines.append(f"| `{field.name}` | {kind} | {v.unit or '–'} | {v.description} |")
    return "\n".join(lines)


def _dictionary(codes: np.ndarray, values: Sequence[str]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(
        pa.array(codes.astype(np.int8, copy=False)), pa.array(list(values), pa.string())
    )


def patient_batch(
    snapshot: Mapping[str, np.ndarray],
    arms: Sequence[str],
    arm: str,
    replicate: int,
    year: float,
    schema: pa.Schema,
) -> pa.RecordBatch:
    """One record time of one arm and replicate as a batch of ``patients.parquet`` rows.

    ``snapshot`` is :meth:`sim.core.model.PainModel.snapshot` with ``labels=False``.
    """
    n = snapshot["patient_id"].size
    columns: dict[str, pa.Array] = {
        "patient_id": pa.array(snapshot["patient_id"].astype(np.int32)),
        "arm": _dictionary(np.full(n, list(arms).index(arm)), arms),
        "replicate": pa.array(np.full(n, replicate, dtype=np.int32)),
        "year": pa.array(np.full(n, year)),
        "sex": _dictionary(np.where(snapshot["sex"], 0, 1), ("F", "M")),
        "stage": _dictionary(snapshot["stage"], STAGES),
    }
    for name in SNAPSHOT:
        if name not in columns:
            columns[name] = pa.array(snapshot[name]).cast(schema.field(name).type)
    return pa.RecordBatch.from_arrays([columns[c] for c in schema.names], schema=schema)


def timeseries_row(
    snapshot: Mapping[str, np.ndarray], arm: str, replicate: int, year: float
) -> dict[str, Any]:
    """One row of ``timeseries.parquet`` from a snapshot (``labels=False``), in full precision.

    Means and SDs (ddof = 1) leave out missing values, as :func:`summarize_timeseries` does.
    """
    n = snapshot["patient_id"].size
    enrolled = snapshot["enrolled_year"] <= year + 1e-9
    row: dict[str, Any] = {
        "arm": arm,
        "replicate": replicate,
        "year": year,
        "n": n,
        "n_enrolled": int(np.count_nonzero(enrolled)),
    }
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN, as pandas
        for name in TIMESERIES:
            values = np.asarray(snapshot[name], dtype=float)
            count = np.count_nonzero(~np.isnan(values))
            row[f"{name}_mean"] = float(np.nanmean(values)) if count else np.nan
            row[f"{name}_sd"] = float(np.nanstd(values, ddof=1)) if count > 1 else np.nan
    shares = np.bincount(snapshot["stage"], minlength=len(STAGES)) / n
    row.update({name: float(share) for name, share in zip(STAGE_SHARES, shares, strict=True)})
    return row


def horizon_values(snapshot: Mapping[str, np.ndarray]) -> np.ndarray:
    """(N, K) per-patient values of the summary outcomes (``sim.core.outcomes.HORIZON``)."""
    stages = np.asarray(snapshot["stage"])
    columns = [np.asarray(snapshot[name], dtype=float) for name in TIMESERIES]
    columns += [(stages == code).astype(float) for code in range(len(STAGES))]
    return np.column_stack(columns)


class Recorder:
    """Collects what a run records: patient batches, timeseries rows and horizon values.

    Patient batches go to ``sink`` (e.g. a parquet writer) when one is given, so a long run
    never holds every patient record in memory; otherwise they are kept for
    :attr:`RunResult.patients`.
    """

    def __init__(self, scenario: Scenario, sink: Callable[[pa.RecordBatch], object] | None):
        self.arms = [arm.name for arm in scenario.arm_list]
        self.schema = patient_schema(self.arms)
        self.horizon = float(record_times(scenario.scenario)[-1])
        self.sink = sink
        self.batches: list[pa.RecordBatch] = []
        self.rows: list[dict[str, Any]] = []
        self.at_horizon: dict[str, list[np.ndarray]] = {}

    def add(
        self, snapshot: Mapping[str, np.ndarray], arm: str, replicate: int, year: float
    ) -> None:
        batch = patient_batch(snapshot, self.arms, arm, replicate, year, self.schema)
        if self.sink is None:
            self.batches.append(batch)
        else:
            self.sink(batch)
        self.rows.append(timeseries_row(snapshot, arm, replicate, year))
        if abs(year - self.horizon) < TIME_TOL:
            self.at_horizon.setdefault(arm, []).append(horizon_values(snapshot))

    def patients(self) -> pd.DataFrame | None:
        """The kept patient rows (None when they went to a sink)."""
        if self.sink is not None:
            return None
        return pa.Table.from_batches(self.batches, schema=self.schema).to_pandas()

    def timeseries(self) -> pd.DataFrame:
        """``timeseries.parquet``: rows sorted by arm name, replicate, year."""
        table = pd.DataFrame(self.rows)
        return table.sort_values(["arm", "replicate", "year"], kind="stable").reset_index(drop=True)


def record_replicate(
    scenario: Scenario,
    replicate: int,
    arm: str,
    recorder: Recorder,
    *,
    connectivity: bool = False,
    progress: Callable[[int], object] | None = None,
) -> np.ndarray | None:
    """Simulate one replicate of one arm, handing every record time to ``recorder``.

    Returns
    -------
    numpy.ndarray or None
        (N, R, R) float32 connectivity at the horizon, if asked for.
    """
    model = PainModel(scenario, replicate, arm=arm, create_agents=False)
    dt = scenario.scenario.dt_years
    before = model.time_years
    # A record's graph metrics (most of its cost) are computed, and the record handed to the
    # recorder, on a second thread while the model steps on to the next record
    # (PainModel.snapshot_later); one record at a time, so rows are added in order.
    pending: Future | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="record") as pool:
        try:
            for year in model.iter_times():
                if progress is not None:
                    progress(steps_between(before, year, dt))
                before = year
                finish = model.snapshot_later(labels=False)
                if pending is not None:
                    pending, done = None, pending
                    done.result()  # the previous record is in (or its error is raised here)
                if concurrent_launches_safe():
                    pending = pool.submit(_record, recorder, finish, arm, replicate, year)
                else:  # Numba's threading layer cannot run two parallel kernels at once
                    _record(recorder, finish, arm, replicate, year)
            if pending is not None:
                pending, done = None, pending
                done.result()
        finally:
            if pending is not None:
                pending.cancel()
    if connectivity:
        return edges_to_matrix(model.connectivity().astype(np.float32), diagonal=1.0)
    return None


def _record(
    recorder: Recorder,
    finish: Callable[[], Mapping[str, np.ndarray]],
    arm: str,
    replicate: int,
    year: float,
) -> None:
    recorder.add(finish(), arm, replicate, year)


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
        Arm name (one of the scenario's arms).
    connectivity
        Also return every patient's connectivity matrix at the horizon.
    progress
        Called with the number of model steps just done, e.g. ``tqdm.update``.
    """
    recorder = Recorder(scenario, sink=None)
    matrices = record_replicate(
        scenario, replicate, arm, recorder, connectivity=connectivity, progress=progress
    )
    return ReplicateResult(recorder.patients(), matrices)


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
    # Keys as the recorder writes them, whatever the stored patient types (categories, int32).
    return table.astype({"arm": str, "replicate": "int64", "n": "int64", "n_enrolled": "int64"})


POSTERIOR_METHOD = "2.5-97.5 % of replicate means over posterior draws"
"""``summary.csv`` method when each replicate ran its own posterior draw."""


def _horizon_rows(
    arm: str,
    at_horizon: pd.DataFrame,
    values: np.ndarray | None,
    n_patients: int,
    posterior: bool = False,
) -> pd.DataFrame:
    """summary.csv rows of one arm from its timeseries rows at the horizon.

    ``values`` are the (N, K) patient values of a single replicate (used for its interval).
    With ``posterior`` (one parameter draw per replicate) and two or more replicates, the
    interval is the central 95 % of the replicate means: the spread of the outcome over
    parameter uncertainty and cohorts, which more replicates describe better but do not shrink.
    """
    mean_columns = [f"{name}_mean" for name in TIMESERIES]
    replicate_means = at_horizon[[*mean_columns, *STAGE_SHARES]].to_numpy(dtype=float)
    replicates = replicate_means.shape[0]
    if posterior and replicates >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN outcomes stay NaN
            low, high = np.nanpercentile(replicate_means, [2.5, 97.5], axis=0)
        method = np.full(len(HORIZON), POSTERIOR_METHOD, dtype=object)
    elif replicates >= 2:
        _, low, high = t_interval(replicate_means, CI_LEVEL)
        method = np.full(len(HORIZON), "t over replicate means", dtype=object)
    else:
        _, low, high = normal_interval(values, CI_LEVEL)
        shares = np.array([VARIABLES[name].kind == "share" for name in HORIZON])
        present = ~np.isnan(values[:, shares])
        successes = np.where(present, values[:, shares], 0.0).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            low[shares], high[shares] = wilson_interval(successes, present.sum(axis=0), CI_LEVEL)
        method = np.where(
            shares, "Wilson score over patients", "normal approximation over patients"
        )
        if posterior:  # one draw: its interval knows nothing of parameter uncertainty
            method = np.array([f"{m} (one posterior draw)" for m in method], dtype=object)
    return pd.DataFrame(
        {
            "arm": arm,
            "outcome": HORIZON,
            "mean": replicate_means.mean(axis=0),
            "ci_low": low,
            "ci_high": high,
            "method": method,
            "replicates": replicates,
            "n_patients": n_patients,
        }
    )


def horizon_summary(
    timeseries: pd.DataFrame,
    at_horizon: Mapping[str, Sequence[np.ndarray]],
    posterior: bool = False,
) -> pd.DataFrame:
    """``summary.csv`` from the timeseries and each arm's (N, K) horizon values per replicate.

    With two or more replicates the interval is a Student-t interval over replicate means (it
    describes which cohort was drawn). With one replicate it is an interval over patients: the
    Wilson score interval for shares (stays within 0-1, also near 0 and 1) and the
    normal-approximation interval of the mean for everything else, which for cohorts of
    hundreds or more agrees with a percentile bootstrap to within the bootstrap's own Monte
    Carlo error, at no cost. With ``posterior`` (each replicate ran its own posterior draw),
    the central 95 % of replicate means (method :data:`POSTERIOR_METHOD`).
    """
    tables = []
    for arm, series in timeseries.groupby("arm", sort=True):
        horizon = series["year"].max()
        rows = series[series["year"] == horizon]
        values = at_horizon[str(arm)][0] if len(rows) < 2 else None
        tables.append(_horizon_rows(str(arm), rows, values, int(rows["n"].iloc[0]), posterior))
    return pd.concat(tables, ignore_index=True)[list(SUMMARY_COLUMNS)]


def summarize_horizon(
    timeseries: pd.DataFrame, patients: pd.DataFrame, posterior: bool = False
) -> pd.DataFrame:
    """End-of-horizon outcomes per arm with 95 % intervals (``summary.csv``) from patient rows.

    The same table :func:`horizon_summary` makes while a run records, computed from a patient
    table (e.g. one read back from ``patients.parquet``).

    Parameters
    ----------
    timeseries
        Output of :func:`summarize_timeseries`.
    patients
        The patient rows the timeseries was made from.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SUMMARY_COLUMNS`, one row per arm and outcome
        (``sim.core.outcomes.HORIZON``); ``n_patients`` is the cohort size of one replicate.
    """
    horizon = patients["year"].max()
    at = patients[patients["year"] == horizon]
    values: dict[str, list[np.ndarray]] = {}
    for arm, rows in at.groupby("arm", sort=True, observed=True):
        for _, one in rows.groupby("replicate", sort=True):
            table = one[list(TIMESERIES)].astype(float).assign(**_stage_indicators(one["stage"]))
            values.setdefault(str(arm), []).append(table.to_numpy(dtype=float))
    return horizon_summary(timeseries, values, posterior)


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
class RunResult:
    """Everything a run produced; :meth:`save` writes it as ``painsim run`` does.

    Attributes
    ----------
    scenario
        The scenario that was run (after any seed or replicate override).
    patients
        One row per patient, arm, replicate and record time (``patients.parquet``; columns in
        ``results/README.md``, types in :func:`patient_schema`). A run written straight to a
        folder reads them from its ``patients.parquet`` when first asked for.
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
    folder
        The results folder it was written to or read from (None if only in memory).
    posterior
        With parameter uncertainty: the manifest's ``posterior`` key (calibration folder, run
        id, painsim version, the parameter set of each replicate); None otherwise.

    Examples
    --------
    >>> from sim.scenario import parse_scenario
    >>> s = parse_scenario({"scenario": {"name": "demo", "years": 2}, "cohort": {"size": 20}})
    >>> res = simulate(s)
    >>> res.arms, len(res.patients), sorted(res.timeseries["year"].unique().tolist())
    (['usual care'], 60, [0.0, 1.0, 2.0])
    """

    kind = "run"

    def __init__(
        self,
        scenario: Scenario,
        patients: pd.DataFrame | Callable[[], pd.DataFrame] | None,
        timeseries: pd.DataFrame,
        summary: pd.DataFrame,
        connectivity: np.ndarray | None = None,
        run_id: str = "",
        started: datetime | None = None,
        finished: datetime | None = None,
        command: Sequence[str] | None = None,
        seconds: Mapping[str, float] | None = None,
        folder: Path | None = None,
        posterior: Mapping[str, Any] | None = None,
    ):
        self.scenario = scenario
        self.posterior = dict(posterior) if posterior is not None else None
        self._patients = patients
        self.timeseries = timeseries
        self.summary = summary
        self.connectivity = connectivity
        self.run_id = run_id
        self.started = started
        self.finished = finished
        self.command = list(command) if command is not None else None
        self.seconds = dict(seconds or {})
        self.folder = folder

    def __repr__(self) -> str:
        return (
            f"RunResult(scenario={self.scenario.scenario.name!r}, arms={self.arms}, "
            f"run_id={self.run_id!r})"
        )

    @property
    def patients_in_memory(self) -> bool:
        """True once the patient rows are held in memory (False: still only in the folder)."""
        return isinstance(self._patients, pd.DataFrame)

    def attach_folder(self, folder: Path, patients: Callable[[], pd.DataFrame]) -> None:
        """Tie this result to the folder it was written to; ``patients`` reads its rows."""
        self.folder = folder
        if not self.patients_in_memory:
            self._patients = patients

    @property
    def patients(self) -> pd.DataFrame:
        """Patient rows (read from the folder on first use if the run was streamed there)."""
        if callable(self._patients):
            self._patients = self._patients()
        if self._patients is None:
            raise ValueError("this run kept no patient rows")
        return self._patients

    @property
    def arms(self) -> list[str]:
        """Arm names in scenario order (the first is the default reference)."""
        return [arm.name for arm in self.scenario.arm_list]

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

    @property
    def parameter_sets(self) -> list[dict[str, float]] | None:
        """The parameter set each replicate ran (posterior draws), or None."""
        return None if self.posterior is None else self.posterior.get("parameter_sets")

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
    patients_sink: Callable[[pa.RecordBatch], object] | None = None,
    parameter_sets: Sequence[Mapping[str, float]] | None = None,
    posterior: Mapping[str, Any] | None = None,
) -> RunResult:
    """Simulate every replicate of every arm of a scenario and summarize them.

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
    patients_sink
        Called with each record time's patient rows (a ``pyarrow.RecordBatch`` with
        :func:`patient_schema`) instead of keeping them in memory; the results layer passes a
        parquet writer here, so a long run holds one record time at a time.
    parameter_sets
        One mapping of dotted parameter names to values per replicate (posterior draws,
        ``sim.experiments.posterior``): replicate k of every arm runs ``parameter_sets[k]`` as
        new defaults (``apply_draw``); intervals then include parameter uncertainty.
    posterior
        Where the parameter sets come from (the manifest's ``posterior`` key).

    Returns
    -------
    RunResult
        Without ``patients_sink``, ``patients`` holds every patient record.
    """
    from sim.experiments.posterior import apply_draw

    started = utc_now()
    clock = time.perf_counter()
    run = scenario.scenario
    if parameter_sets is not None and len(parameter_sets) != run.replicates:
        raise ValueError(
            f"{len(parameter_sets)} parameter sets for {run.replicates} replicates; "
            "give one per replicate"
        )
    scenarios = (
        [scenario] * run.replicates
        if parameter_sets is None
        else [apply_draw(scenario, values) for values in parameter_sets]
    )
    recorder = Recorder(scenario, patients_sink)
    matrices = []
    total = len(scenario.arm_list) * run.replicates * steps_per_replicate(run)
    with _progress_bar(total, run.slug, progress) as bar:
        for arm in scenario.arm_list:
            for replicate in range(run.replicates):
                matrices.append(
                    record_replicate(
                        scenarios[replicate],
                        replicate,
                        arm.name,
                        recorder,
                        connectivity=connectivity,
                        progress=bar.update,
                    )
                )
    simulated = time.perf_counter()
    timeseries = recorder.timeseries()
    summary = horizon_summary(timeseries, recorder.at_horizon, parameter_sets is not None)
    patients = recorder.patients()
    done = time.perf_counter()
    return RunResult(
        scenario=scenario,
        patients=patients,
        timeseries=timeseries,
        summary=summary,
        connectivity=np.stack(matrices) if connectivity else None,
        run_id=run_id or new_run_id(started),
        started=started,
        finished=utc_now(),
        command=list(command) if command is not None else None,
        seconds={"simulate": simulated - clock, "summarize": done - simulated},
        posterior=(
            None
            if parameter_sets is None
            else {**(posterior or {}), "parameter_sets": [dict(p) for p in parameter_sets]}
        ),
    )
