"""Run a scenario: replicates, summary tables, and one atomically written results folder.

:func:`run_replicate` simulates one replicate of one arm and returns plain data (patient rows and,
on request, connectivity), so a process pool can later call it for every (arm, replicate).
:func:`summarize_timeseries`, :func:`summarize_horizon` and :func:`decade_table` turn patient
rows into the tables people read. :func:`run_scenario` ties them together and writes
``results/<scenario slug>/<run id>/`` (layout in ``results/README.md``).
"""

from __future__ import annotations

import json
import math
import os
import platform
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from tqdm import tqdm

import sim
from sim.brain import build_brain, edges_to_matrix
from sim.model import OUTCOMES, TRIAL_COLUMNS, PainModel
from sim.pain import STAGES
from sim.scenario import USUAL_CARE, RunSection, Scenario, parse_scenario

SNAPSHOT_COLUMNS: tuple[str, ...] = (
    "age",
    "sex",
    "stage",
    "episodes",
    "years_with_pain",
    "pain",
    "coping",
    "adaptation",
    *OUTCOMES,
    *TRIAL_COLUMNS,
)
PATIENT_COLUMNS: tuple[str, ...] = ("patient_id", "arm", "replicate", "year", *SNAPSHOT_COLUMNS)
TIMESERIES_VARIABLES: tuple[str, ...] = (
    *OUTCOMES,
    "pain",
    "coping",
    "years_with_pain",
    "healthy_range",
    "responder",
)
SHARE_COLUMNS: tuple[str, ...] = tuple(f"share_{stage}" for stage in STAGES)
HORIZON_OUTCOMES: tuple[str, ...] = (*TIMESERIES_VARIABLES, *SHARE_COLUMNS)
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
KEY_PACKAGES: tuple[str, ...] = (
    "numpy",
    "pandas",
    "pyarrow",
    "mesa",
    "networkx",
    "scipy",
    "pydantic",
    "numba",
)
CI_LEVEL = 0.95
BOOTSTRAP_RESAMPLES = 1000

# Record times closer than this are the same time; far below any sensible time step.
_TIME_TOL = 1e-9


class OutputFolderError(ValueError):
    """The results folder cannot be created where asked (exists and is not empty, or no access)."""


@dataclass(frozen=True)
class ReplicateResult:
    """What one replicate of one arm produced.

    Attributes
    ----------
    patients
        One row per patient per record time, columns :data:`PATIENT_COLUMNS`.
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

    Parameters
    ----------
    scenario
        A validated scenario.
    changes
        New values for fields of the ``[scenario]`` section, e.g. ``{"seed": 3}``.
    source
        Named in error messages (e.g. the file and the command-line options).

    Returns
    -------
    Scenario

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
    every, horizon = run.record_every_years, run.years
    # Rounding keeps grid points such as 3 * 0.1 readable (0.3, not 0.30000000000000004).
    grid = np.round(every * np.arange(math.floor(horizon / every + _TIME_TOL) + 1), 9)
    if horizon - grid[-1] > _TIME_TOL:
        grid = np.append(grid, horizon)
    return grid


def _steps_between(start: float, end: float, dt: float) -> int:
    """Model steps ``PainModel.run_until`` takes from ``start`` to ``end`` (last one shortened)."""
    return max(0, math.ceil((end - start - _TIME_TOL) / dt))


def steps_per_replicate(run: RunSection) -> int:
    """Model steps one replicate takes over the whole horizon (the progress bar's unit)."""
    times = record_times(run)
    return sum(_steps_between(a, b, run.dt_years) for a, b in pairwise(times))


# -- simulation ---------------------------------------------------------------------------------
def _patient_rows(
    snapshot: Mapping[str, np.ndarray], arm: str, replicate: int, year: float
) -> pd.DataFrame:
    columns = {name: snapshot[name] for name in SNAPSHOT_COLUMNS}
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
        Replicate index (selects the random streams; see ``sim.model``).
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
    for year in record_times(scenario.scenario):
        start = model.time_years
        model.run_until(float(year))
        if progress is not None:
            progress(_steps_between(start, year, dt))
        frames.append(_patient_rows(model.snapshot(), arm, replicate, float(year)))
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
        Columns ``arm, replicate, year, n``, then ``<variable>_mean`` and ``<variable>_sd``
        (SD with ddof=1) for each of :data:`TIMESERIES_VARIABLES`, then ``share_<stage>`` for
        each pain stage; sorted by arm, replicate, year.
    """
    keys = ["arm", "replicate", "year"]
    data = patients[[*keys, *TIMESERIES_VARIABLES]].astype(
        dict.fromkeys(TIMESERIES_VARIABLES, float)
    )
    data = data.assign(
        **_stage_indicators(patients["stage"]),
        n_enrolled=(patients["enrolled_year"] <= patients["year"] + 1e-9),
    )
    grouped = data.groupby(keys, sort=True)
    moments = grouped[list(TIMESERIES_VARIABLES)].agg(["mean", "std"])
    moments.columns = [f"{name}_{'sd' if stat == 'std' else stat}" for name, stat in moments]
    table = pd.concat(
        [
            grouped.size().rename("n"),
            grouped["n_enrolled"].sum(),
            moments,
            grouped[list(SHARE_COLUMNS)].mean(),
        ],
        axis=1,
    )
    return table.reset_index()


def _t_interval(replicate_means: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Student-t interval for the mean of (R, K) replicate means, per column."""
    r = replicate_means.shape[0]
    half = stats.t.ppf(0.5 + level / 2, r - 1) * replicate_means.std(axis=0, ddof=1) / math.sqrt(r)
    centre = replicate_means.mean(axis=0)
    return centre - half, centre + half


def _bootstrap_interval(
    values: np.ndarray, rng: np.random.Generator, resamples: int, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval for the mean of (N, K) patient values, per column.

    NaN values (a path length with no reachable pair) are left out, as in the timeseries means.
    """
    n = values.shape[0]
    present = ~np.isnan(values)
    filled = np.where(present, values, 0.0)
    means = np.empty((resamples, values.shape[1]))
    # Resample counts rather than rows, so memory stays O(N) for any cohort size.
    for b in range(resamples):
        counts = np.bincount(rng.integers(0, n, n), minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            means[b] = (counts @ filled) / (counts @ present)
    tail = 100 * (1 - level) / 2
    with np.errstate(invalid="ignore"):  # an outcome nobody has (responders without arms)
        return np.percentile(means, tail, axis=0), np.percentile(means, 100 - tail, axis=0)


def _horizon_rows(
    arm: str, at_horizon: pd.DataFrame, people: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """summary.csv rows of one arm, from its timeseries rows and patient rows at the horizon."""
    mean_columns = [f"{name}_mean" for name in TIMESERIES_VARIABLES]
    replicate_means = at_horizon[[*mean_columns, *SHARE_COLUMNS]].to_numpy(dtype=float)
    replicates = replicate_means.shape[0]
    if replicates >= 2:
        low, high = _t_interval(replicate_means, CI_LEVEL)
        method = "t over replicate means"
    else:
        values = (
            people[list(TIMESERIES_VARIABLES)]
            .astype(float)
            .assign(**_stage_indicators(people["stage"]))
        )
        low, high = _bootstrap_interval(
            values.to_numpy(dtype=float), rng, BOOTSTRAP_RESAMPLES, CI_LEVEL
        )
        method = f"percentile bootstrap over patients ({BOOTSTRAP_RESAMPLES} resamples)"
    return pd.DataFrame(
        {
            "arm": arm,
            "outcome": HORIZON_OUTCOMES,
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
        Columns :data:`SUMMARY_COLUMNS`, one row per arm and outcome (:data:`HORIZON_OUTCOMES`);
        ``n_patients`` is the cohort size of one replicate.
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
    table[list(SHARE_COLUMNS)] *= 100
    return table.rename(columns=DECADE_COLUMNS)


# -- results folder -----------------------------------------------------------------------------
def _utc_now() -> datetime:
    return datetime.now(UTC)


def _new_run_id(now: datetime) -> str:
    """Sortable run id: UTC timestamp plus a random suffix, e.g. ``20261125T152746Z-3f2a``."""
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def _git(root: Path, *args: str) -> str | None:
    """Output of a git command in ``root``, or None if that fails for any reason."""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def _source_version() -> dict[str, Any]:
    """Git commit and dirty flag of the painsim source tree; nulls unless it is a checkout."""
    root = Path(sim.__file__).resolve().parent.parent
    # Only the tree painsim itself lives in: an installed copy inside some other repository
    # (say, a virtualenv in a project folder) must not report that project's commit.
    if not (root / ".git").exists():
        return {"git_commit": None, "git_dirty": None}
    commit = _git(root, "rev-parse", "HEAD") or None
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": None if status is None else bool(status)}


def _package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in KEY_PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def _check_destination(destination: Path) -> None:
    if destination.exists() and not destination.is_dir():
        raise OutputFolderError(f"{destination}: output path exists and is not a folder")
    if destination.is_dir() and any(destination.iterdir()):
        raise OutputFolderError(
            f"{destination}: output folder exists and is not empty; choose another --out or "
            "remove it"
        )


def _fsync_tree(folder: Path) -> None:
    """Flush files and folder to disk, so a renamed folder is never a set of empty files."""
    for path in folder.iterdir():
        with path.open("rb") as handle:
            os.fsync(handle.fileno())
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextmanager
def staged_folder(destination: Path) -> Iterator[Path]:
    """Yield a hidden temporary folder that becomes ``destination`` only if the block succeeds.

    The temporary folder ``.<name>.tmp-<pid>`` sits beside ``destination`` so the final
    ``os.replace`` is one atomic rename on the same file system. On any exception, including
    KeyboardInterrupt, it is removed; a process killed outright leaves only that hidden folder.

    Raises
    ------
    OutputFolderError
        The temporary folder (or its parents) cannot be created.
    """
    staging = destination.parent / f".{destination.name}.tmp-{os.getpid()}"
    # Same name means same pid, so the leftover of a killed run, never a live one.
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
    except OSError as exc:
        message = f"{staging.parent}: cannot create folder ({exc.strerror})"
        raise OutputFolderError(message) from None
    try:
        yield staging
        _fsync_tree(staging)
        os.replace(staging, destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _simulate_all(
    scenario: Scenario, save_connectivity: bool, progress: bool
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Every replicate of every arm, serially, with one progress bar over all steps."""
    run = scenario.scenario
    arms = scenario.arm_list
    results = []
    total = len(arms) * run.replicates * steps_per_replicate(run)
    with tqdm(
        total=total, desc=run.slug, unit="step", disable=not progress, file=sys.stderr
    ) as bar:
        for arm in arms:
            for replicate in range(run.replicates):
                results.append(
                    run_replicate(
                        scenario,
                        replicate,
                        arm.name,
                        connectivity=save_connectivity,
                        progress=bar.update,
                    )
                )
    patients = pd.concat([r.patients for r in results], ignore_index=True)
    connectivity = np.stack([r.connectivity for r in results]) if save_connectivity else None
    return patients, connectivity


def _write_connectivity(path: Path, scenario: Scenario, connectivity: np.ndarray) -> None:
    """Matrices of every (arm, replicate) run, in that order, with their labels."""
    brain = build_brain(scenario.params.brain)
    arms = [arm.name for arm in scenario.arm_list]
    replicates = scenario.scenario.replicates
    np.savez_compressed(
        path,
        names=np.asarray(brain.names),
        coords=brain.coords,
        patient_id=np.arange(connectivity.shape[1]),
        connectivity=connectivity,
        arm=np.repeat(arms, replicates),
        replicate=np.tile(np.arange(replicates), len(arms)),
    )


def run_scenario(
    scenario: Scenario,
    *,
    out: Path | None = None,
    results_root: Path = Path("results"),
    save_connectivity: bool = False,
    progress: bool = True,
    argv: list[str] | None = None,
) -> Path:
    """Run every replicate of a scenario and write its results folder atomically.

    Parameters
    ----------
    scenario
        A validated scenario.
    out
        Exact results folder; must not exist or be empty. Default:
        ``results_root/<scenario slug>/<run id>/``.
    results_root
        Where results folders are made when ``out`` is not given.
    save_connectivity
        Also write ``connectivity.npz`` (every patient's matrix at the horizon).
    progress
        Show a progress bar on stderr.
    argv
        Command line to record in the manifest.

    Returns
    -------
    pathlib.Path
        The results folder.

    Raises
    ------
    OutputFolderError
        ``out`` exists and is not empty, or a folder cannot be created. Nothing is written.
    """
    started = _utc_now()
    run_id = _new_run_id(started)
    default = Path(results_root) / scenario.scenario.slug / run_id
    destination = default if out is None else Path(out)
    _check_destination(destination)
    with staged_folder(Path(os.path.abspath(destination))) as staging:
        patients, connectivity = _simulate_all(scenario, save_connectivity, progress)
        timeseries = summarize_timeseries(patients)
        timeseries.to_parquet(staging / "timeseries.parquet", index=False)
        patients.to_parquet(staging / "patients.parquet", index=False)
        summary = summarize_horizon(timeseries, patients, seed=scenario.scenario.seed)
        summary.to_csv(staging / "summary.csv", index=False)
        if connectivity is not None:
            _write_connectivity(staging / "connectivity.npz", scenario, connectivity)
        manifest = {
            "run_id": run_id,
            "painsim_version": sim.__version__,
            **_source_version(),
            "seed": scenario.scenario.seed,
            "replicates": scenario.scenario.replicates,
            "arms": [arm.name for arm in scenario.arm_list],
            "command": argv,
            "started": started.isoformat(timespec="seconds"),
            "finished": _utc_now().isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "packages": _package_versions(),
            "files": sorted([p.name for p in staging.iterdir()] + ["manifest.json"]),
            "scenario": scenario.resolved(),
        }
        (staging / "manifest.json").write_text(
            json.dumps(manifest, indent=2) + "\n", encoding="utf-8"
        )
    return destination
