"""Parameter sweeps and sensitivity analysis, from one laptop to a Dask cluster.

A scenario's ``[sweep]`` section (schema in ``scenarios/README.md``) names the settings to vary
and how: a full grid of listed values, or a sample between bounds drawn with SALib (Latin
hypercube, Sobol/Saltelli, Morris). Swept names ("targets") are

* model parameters by their dotted name, as in ``[parameters]`` (``drift.rate``);
* cohort fields, ``cohort.<field>`` (``cohort.coping_mean``);
* intervention fields of an arm, ``arms.<arm name>.<intervention index>.<field>``
  (``arms.CBT.0.start_year``; the index counts the arm's ``[[arms.interventions]]`` from 0).

Every point is the scenario with the target values written into it and validated again, exactly
like a scenario file (:func:`plan_sweep`). Each (point, replicate) is one *run*: all arms of the
point simulated with one seed (virtual twins), the seed derived from the scenario seed as
``SeedSequence(seed, spawn_key=(SWEEP_KEY, 0, point, replicate))`` (:func:`run_seed`), so tables
are identical whatever the backend, worker count or order of completion, and after a resume.
A run steps the model to the horizon through the same stops as ``painsim run`` (its record
times) but records only at the horizon (:func:`horizon_outcomes`); with the run's seed,
``painsim run`` reproduces its numbers at any horizon that is a record time.

:func:`run_sweep` runs the runs serially, on local worker processes or on Dask, writes each
finished run atomically to ``points/`` inside a hidden ``.<run id>.partial`` folder, and at the
end assembles ``sweep.parquet``, ``sensitivity.csv``, the figures and ``manifest.json`` and
renames the folder to ``<run id>`` (layout in ``results/README.md``). An interrupted sweep
continues with ``resume=True`` without repeating finished runs.
"""

from __future__ import annotations

import copy
import ctypes
import difflib
import hashlib
import itertools
import json
import logging
import math
import multiprocessing
import os
import platform
import re
import secrets
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from functools import reduce
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from tqdm import tqdm

import sim
from sim.core.model import PainModel
from sim.core.outcomes import HORIZON as HORIZON_OUTCOMES
from sim.core.parameters import ModelParams, parameter_table
from sim.experiments.provenance import new_run_id as _new_run_id
from sim.experiments.provenance import utc_now as _utc_now
from sim.experiments.run import record_times
from sim.results.folder import check_destination as _check_destination
from sim.results.folder import staged_folder
from sim.results.manifest import KEY_PACKAGES
from sim.results.manifest import source_version as _source_version
from sim.scenario import (
    CohortSection,
    RunSection,
    Scenario,
    ScenarioError,
    SweepSection,
    parse_scenario,
)

BACKENDS: tuple[str, ...] = ("process", "serial", "dask")
OUTCOME_NAMES: tuple[str, ...] = HORIZON_OUTCOMES
"""Outcomes a sweep can record: means over patients at the horizon (as in ``summary.csv``)."""
SWEEP_KEY = 5_777
"""First spawn-key entry of every seed a sweep derives from the scenario seed."""
_RUN_STREAM, _SAMPLE_STREAM, _ANALYSIS_STREAM = 0, 1, 2
STATUS_OK, STATUS_FAILED = "ok", "failed"
SENSITIVITY_COLUMNS: tuple[str, ...] = (
    "arm",
    "outcome",
    "parameter",
    "method",
    "index",
    "value",
    "conf",
    "ci_low",
    "ci_high",
)
CI_LEVEL = 0.95
RESAMPLES = 1000
PARTIAL_SUFFIX = ".partial"
PLAN_FILE, TABLE_FILE, SENSITIVITY_FILE = "sweep.json", "sweep.parquet", "sensitivity.csv"
SWEEP_PACKAGES: tuple[str, ...] = (*KEY_PACKAGES, "SALib", "dask", "distributed", "matplotlib")
DASK_WINDOW = 2000  # runs in flight on a Dask cluster (memory stays bounded for huge sweeps)
QUIET_DASK: dict[str, Any] = {
    # A LocalCluster shares the cores with its runs: no statistical profiler (it samples every
    # worker thread 100 times a second) and slower monitoring timers (the 20 ms event-loop tick
    # of scheduler, nannies and workers; memory and system monitors). Measured on 2 cores: runs
    # on 2 workers about 5 % faster.
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
}
_TIME_TOL = 1e-9
_POINT_FILE = re.compile(r"^(\d+)-(\d+)\.parquet$")
_MAX_ERROR = 500


class SweepError(ValueError):
    """A sweep cannot start or go on; ``str()`` is one line. ``exit_code`` is 2 for bad input."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(" ".join(message.split()))
        self.exit_code = exit_code


class SweepInterrupted(Exception):
    """Ctrl-C during a sweep: finished runs are kept in ``folder``; ``str()`` says how to resume."""

    def __init__(self, folder: Path, done: int, total: int, resume: str):
        super().__init__(
            f"interrupted: {done} of {total} runs finished and kept in {folder}; "
            f"continue with: {resume}"
        )
        self.folder, self.done, self.total, self.resume = folder, done, total, resume


# -- targets ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """One swept setting of a scenario.

    Attributes
    ----------
    name
        The name as written in ``[sweep]``, e.g. ``"arms.CBT.0.start_year"``.
    section
        ``"parameters"`` (a model parameter), ``"cohort"`` or ``"arms"``.
    field
        The parameter's dotted name, or the cohort or intervention field.
    arm, item
        For arm settings: index of the arm in ``[[arms]]`` and of the intervention in it.
    """

    name: str
    section: Literal["parameters", "cohort", "arms"]
    field: str
    arm: int | None = None
    item: int | None = None

    def set(self, data: dict[str, Any], value: Any) -> None:
        """Write ``value`` into a scenario dict (as made by ``Scenario.model_dump``)."""
        if self.section == "parameters":
            data.setdefault("parameters", {})[self.field] = value
        elif self.section == "cohort":
            data.setdefault("cohort", {})[self.field] = value
        else:
            data["arms"][self.arm]["interventions"][self.item][self.field] = value

    def get(self, scenario: Scenario) -> Any:
        """The value this setting has in ``scenario`` (defaults included)."""
        if self.section == "parameters":
            return reduce(getattr, self.field.split("."), scenario.params)
        if self.section == "cohort":
            return getattr(scenario.cohort, self.field)
        return getattr(scenario.arms[self.arm].interventions[self.item], self.field)


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return f"did you mean '{close[0]}'? " if close else ""


def resolve_target(name: str, scenario: Scenario) -> Target:
    """The :class:`Target` a ``[sweep]`` name refers to.

    Raises
    ------
    ValueError
        Unknown parameter or cohort field (with the closest name suggested), unknown arm,
        intervention index out of range, unknown intervention field, or ``kind``.

    Examples
    --------
    >>> s = parse_scenario({"scenario": {"name": "demo"}})
    >>> resolve_target("drift.rate", s).section
    'parameters'
    """
    if name.startswith("cohort."):
        key = name.removeprefix("cohort.")
        if key not in CohortSection.model_fields:
            fields = list(CohortSection.model_fields)
            raise ValueError(
                f"unknown cohort field; {_suggest(key, fields)}allowed: {', '.join(fields)}"
            )
        return Target(name, "cohort", key)
    if name.startswith("arms."):
        return _arm_target(name, scenario)
    valid = [row["name"] for row in parameter_table(ModelParams())]
    if name in valid:
        return Target(name, "parameters", name)
    hint = _suggest(name, [*valid, *(f"cohort.{f}" for f in CohortSection.model_fields)])
    raise ValueError(
        f"unknown parameter; {hint}sweepable: model parameters (`painsim params`), "
        "cohort.<field>, arms.<arm name>.<intervention index>.<field>"
    )


def _arm_target(name: str, scenario: Scenario) -> Target:
    parts = name.removeprefix("arms.").rsplit(".", 2)
    if len(parts) != 3 or not all(parts):
        raise ValueError(
            "arm settings are named arms.<arm name>.<intervention index>.<field>, "
            "e.g. arms.CBT.0.start_year"
        )
    arm_name, index, key = parts
    names = [arm.name for arm in scenario.arms]
    if arm_name not in names:
        listed = ", ".join(names) if names else "none (the scenario has no [[arms]])"
        raise ValueError(f"unknown arm '{arm_name}'; {_suggest(arm_name, names)}arms: {listed}")
    arm = names.index(arm_name)
    items = scenario.arms[arm].interventions
    if not index.isdigit() or int(index) >= len(items):
        have = f"indices 0-{len(items) - 1}" if items else "it has no interventions"
        raise ValueError(f"arm '{arm_name}' has no intervention {index}; {have}")
    spec = items[int(index)]
    if key == "kind":
        raise ValueError("the kind of an intervention cannot be swept; compare kinds as arms")
    fields = [f for f in type(spec).model_fields if f != "kind"]
    if key not in fields:
        raise ValueError(
            f"unknown field of intervention '{spec.kind}'; {_suggest(key, fields)}"
            f"allowed: {', '.join(fields)}"
        )
    return Target(name, "arms", key, arm, int(index))


def _base_dict(scenario: Scenario) -> dict[str, Any]:
    """The scenario as a dict without its ``[sweep]`` section: what every point starts from."""
    data = scenario.model_dump()
    data.pop("sweep", None)
    return data


def _is_integer(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _sampled(value: float, base: Any) -> float | int:
    """A sampled number as the setting takes it: rounded for integer settings."""
    return round(float(value)) if _is_integer(base) else float(value)


def _target_values(scenario: Scenario) -> dict[str, list[Any]]:
    sweep = scenario.sweep
    assert sweep is not None
    return dict(sweep.grid) if sweep.method == "grid" else dict(sweep.bounds)


def check_sweep(scenario: Scenario) -> None:
    """Check a scenario's ``[sweep]`` against the rest of it (called when it is validated).

    Outcomes must be known, the horizon inside the scenario, every target known, and every
    listed value (grid) or bound (samples) must give a valid scenario on its own. Combinations
    are checked by :func:`plan_sweep`.

    Raises
    ------
    ValueError
        ``"[sweep] <field>: <message>"``, which :func:`sim.scenario.parse_scenario` turns into
        a one-line :class:`~sim.scenario.ScenarioError` naming that field.
    """
    sweep = scenario.sweep
    if sweep is None:
        return
    for name in sweep.outcomes:
        if name not in OUTCOME_NAMES:
            raise ValueError(
                f"[sweep] sweep.outcomes: unknown outcome '{name}'; "
                f"{_suggest(name, OUTCOME_NAMES)}allowed: {', '.join(OUTCOME_NAMES)}"
            )
    if len(set(sweep.outcomes)) < len(sweep.outcomes):
        raise ValueError("[sweep] sweep.outcomes: an outcome is listed twice")
    if sweep.horizon_years is not None and sweep.horizon_years > scenario.scenario.years:
        raise ValueError(
            f"[sweep] sweep.horizon_years: {sweep.horizon_years} is after the end "
            f"of the scenario ({scenario.scenario.years} years)"
        )
    section = "grid" if sweep.method == "grid" else "bounds"
    base = _base_dict(scenario)
    for name, values in _target_values(scenario).items():
        where = f"sweep.{section}.{name}"
        try:
            target = resolve_target(name, scenario)
        except ValueError as exc:
            raise ValueError(f"[sweep] {where}: {exc}") from None
        current = target.get(scenario)
        if section == "bounds":
            if isinstance(current, bool | str | list | dict):
                raise ValueError(
                    f"[sweep] {where}: not a number, so it cannot be sampled between "
                    "bounds; list its values in a grid instead"
                )
            values = [_sampled(v, current) for v in values]
        for value in values:
            data = copy.deepcopy(base)
            target.set(data, value)
            try:
                parse_scenario(data)
            except ScenarioError as exc:
                raise ValueError(
                    f"[sweep] {where}: {value!r} gives an invalid scenario "
                    f"({exc.field}: {exc.message})"
                ) from None


# -- plan ---------------------------------------------------------------------------------------
def run_seed(seed: int, point: int, replicate: int) -> int:
    """The scenario seed of one run: derived from the sweep's seed, point and replicate.

    Examples
    --------
    >>> run_seed(1, 0, 0) == run_seed(1, 0, 0) != run_seed(1, 0, 1)
    True
    """
    sequence = np.random.SeedSequence(seed, spawn_key=(SWEEP_KEY, _RUN_STREAM, point, replicate))
    return int(sequence.generate_state(1, np.uint64)[0] >> np.uint64(1))


def _stream_seed(seed: int, stream: int) -> int:
    """A 32-bit seed for SALib's sampling or bootstrap, derived from the scenario seed."""
    sequence = np.random.SeedSequence(seed, spawn_key=(SWEEP_KEY, stream))
    return int(sequence.generate_state(1, np.uint32)[0])


def sample_design(
    method: str, problem: Mapping[str, Any], samples: int, levels: int, seed: int
) -> np.ndarray:
    """Draw a SALib sample: one row per point, one column per parameter.

    Parameters
    ----------
    method
        ``"latin"`` (``samples`` points), ``"sobol"`` (Saltelli scheme without second-order
        terms: ``samples * (D + 2)`` points; ``samples`` a power of 2) or ``"morris"``
        (``samples`` trajectories of ``D + 1`` points on a ``levels``-level grid).
    problem
        SALib problem: ``num_vars``, ``names``, ``bounds``.
    samples, levels
        As in ``[sweep]``.
    seed
        Seed of the sample.
    """
    if method == "latin":
        from SALib.sample import latin

        return latin.sample(dict(problem), samples, seed=seed)
    if method == "sobol":
        from SALib.sample import sobol

        return sobol.sample(dict(problem), samples, calc_second_order=False, seed=seed)
    if method == "morris":
        from SALib.sample import morris

        return morris.sample(dict(problem), samples, num_levels=levels, seed=seed)
    raise ValueError(f"unknown sampling method '{method}'")


@dataclass(frozen=True)
class SweepTask:
    """One run: every arm of one point and replicate, with its scenario (seed included)."""

    point: int
    replicate: int
    scenario: Scenario
    horizon: float
    outcomes: tuple[str, ...]
    threads: int | None = None

    @property
    def seed(self) -> int:
        return self.scenario.scenario.seed


@dataclass(frozen=True, eq=False)
class SweepPlan:
    """A validated sweep: the targets and the value of every target at every point.

    Attributes
    ----------
    scenario
        The scenario, ``[sweep]`` included.
    source
        Named in error messages (the scenario file).
    targets
        The swept settings, in the order of ``[sweep]``.
    design
        Per point, the value of each target as the validated point scenario holds it.
    matrix
        The SALib sample the design was made from (sample methods only; integer settings are
        rounded in ``design`` but not here).
    """

    scenario: Scenario
    source: str
    targets: tuple[Target, ...]
    design: tuple[tuple[Any, ...], ...]
    matrix: np.ndarray | None = None
    base: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def sweep(self) -> SweepSection:
        assert self.scenario.sweep is not None
        return self.scenario.sweep

    @property
    def method(self) -> str:
        return self.sweep.method

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.targets]

    @property
    def horizon(self) -> float:
        return float(self.sweep.horizon_years or self.scenario.scenario.years)

    @property
    def outcomes(self) -> tuple[str, ...]:
        return tuple(self.sweep.outcomes)

    @property
    def arms(self) -> list[str]:
        return [arm.name for arm in self.scenario.arm_list]

    @property
    def replicates(self) -> int:
        return self.sweep.replicates

    @property
    def n_points(self) -> int:
        return len(self.design)

    @property
    def n_runs(self) -> int:
        return self.n_points * self.replicates

    @property
    def problem(self) -> dict[str, Any]:
        """The SALib problem of a sample method."""
        bounds = self.sweep.bounds
        return {
            "num_vars": len(self.targets),
            "names": self.names,
            "bounds": [list(map(float, bounds[n])) for n in self.names],
        }

    def runs(self) -> Iterator[tuple[int, int]]:
        """Every (point, replicate), in table order."""
        return itertools.product(range(self.n_points), range(self.replicates))

    def seed(self, point: int, replicate: int) -> int:
        """Seed of a run; with common random numbers every point uses point 0's seeds."""
        shared = self.sweep.common_random_numbers
        return run_seed(self.scenario.scenario.seed, 0 if shared else point, replicate)

    def point_scenario(self, point: int, seed: int | None = None) -> Scenario:
        """The scenario of one point (validated again), optionally with another seed."""
        values = dict(zip(self.names, self.design[point], strict=True))
        return _point_scenario(self.base, self.targets, values, self.source, point, seed)

    def task(self, point: int, replicate: int, threads: int | None = None) -> SweepTask:
        scenario = self.point_scenario(point, self.seed(point, replicate))
        return SweepTask(point, replicate, scenario, self.horizon, self.outcomes, threads)

    def fingerprint(self) -> str:
        """Hash of everything that decides the table: scenario, sweep and painsim version."""
        text = json.dumps(
            {"scenario": self.scenario.model_dump(mode="json"), "painsim": sim.__version__},
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()

    def frame(self, rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        """Rows of one run as a table with the sweep's columns and fixed types."""
        point = int(rows[0]["point"])
        values = dict(zip(self.names, self.design[point], strict=True))
        data: dict[str, Any] = {
            "point": np.array([r["point"] for r in rows], dtype=np.int64),
            "replicate": np.array([r["replicate"] for r in rows], dtype=np.int64),
            "arm": [str(r["arm"]) for r in rows],
            "seed": np.array([r["seed"] for r in rows], dtype=np.int64),
            **{name: [value] * len(rows) for name, value in values.items()},
            "year": np.full(len(rows), self.horizon),
            **{name: np.array([r[name] for r in rows], dtype=float) for name in self.outcomes},
            "run_seconds": np.array([r["run_seconds"] for r in rows], dtype=float),
            "status": [str(r["status"]) for r in rows],
            "error": [str(r["error"]) for r in rows],
        }
        return pd.DataFrame(data)


def _assignments(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in values.items())


def _point_scenario(
    base: dict[str, Any],
    targets: Sequence[Target],
    values: Mapping[str, Any],
    source: str,
    point: int,
    seed: int | None = None,
) -> Scenario:
    data = copy.deepcopy(base)
    for target in targets:
        target.set(data, values[target.name])
    if seed is not None:
        data["scenario"]["seed"] = seed
    return parse_scenario(data, f"{source} (sweep point {point}: {_assignments(values)})")


def _raw_design(
    scenario: Scenario, targets: Sequence[Target]
) -> tuple[list[dict[str, Any]], np.ndarray | None]:
    """Target values of every point before validation, and the SALib sample if any."""
    sweep = scenario.sweep
    assert sweep is not None
    names = [t.name for t in targets]
    if sweep.method == "grid":
        combos = itertools.product(*(sweep.grid[name] for name in names))
        return [dict(zip(names, combo, strict=True)) for combo in combos], None
    problem = {
        "num_vars": len(names),
        "names": names,
        "bounds": [list(map(float, sweep.bounds[n])) for n in names],
    }
    matrix = sample_design(
        sweep.method,
        problem,
        sweep.samples,
        sweep.levels,
        _stream_seed(scenario.scenario.seed, _SAMPLE_STREAM),
    )
    current = [t.get(scenario) for t in targets]
    raw = [
        {name: _sampled(x, base) for name, x, base in zip(names, row, current, strict=True)}
        for row in matrix
    ]
    return raw, matrix


def plan_sweep(scenario: Scenario, source: str = "<scenario>") -> SweepPlan:
    """Validate every point of a scenario's sweep and return the plan.

    Raises
    ------
    ScenarioError
        No ``[sweep]`` section, or a point whose combination of values is not a valid scenario
        (the message names the point and its values).
    """
    if scenario.sweep is None:
        raise ScenarioError(source, "sweep", "no [sweep] section; see scenarios/README.md")
    targets = tuple(resolve_target(name, scenario) for name in _target_values(scenario))
    base = _base_dict(scenario)
    raw, matrix = _raw_design(scenario, targets)
    design = []
    for point, values in enumerate(raw):
        validated = _point_scenario(base, targets, values, source, point)
        design.append(tuple(t.get(validated) for t in targets))
    return SweepPlan(scenario, source, targets, tuple(design), matrix, base)


# -- one run ------------------------------------------------------------------------------------
def horizon_stops(run: RunSection, horizon: float) -> list[float]:
    """Years the model is stepped to on the way to ``horizon``: ``painsim run``'s record times.

    Stepping through the same stops gives the same time steps, hence the same numbers as
    ``painsim run`` at the horizon, without the cost of recording in between.

    Examples
    --------
    >>> horizon_stops(RunSection(name="demo", years=5, record_every_years=2), 3.0)
    [2.0, 3.0]
    """
    stops = [float(t) for t in record_times(run) if _TIME_TOL < t <= horizon + _TIME_TOL]
    if not stops or horizon - stops[-1] > _TIME_TOL:
        stops.append(float(horizon))
    return stops


def outcome_mean(snapshot: Mapping[str, np.ndarray], name: str) -> float:
    """Mean over patients of one outcome (missing values left out; NaN if all are missing).

    ``share_<stage>`` is the share of patients in that stage.
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
    for year in horizon_stops(scenario.scenario, horizon):
        model.run_until(year)
    snapshot = model.snapshot()
    return {name: outcome_mean(snapshot, name) for name in outcomes}


def _one_line(exc: BaseException) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 1] + "…"


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


_malloc_tuned = False


def _undo_small_trim_threshold() -> None:
    """Give glibc's allocator room again where ``MALLOC_TRIM_THRESHOLD_`` is set (Linux only).

    Dask's nanny starts every worker with ``MALLOC_TRIM_THRESHOLD_=65536``. Setting it also pins
    glibc's mmap threshold at 128 KiB, so each large NumPy temporary of a model step is a fresh
    mmap with page faults: runs took 1.8x as long as in a plain process (measured, 15,000
    people). A 64 MiB mmap and a 256 MiB trim threshold restore plain-process speed; a worker
    may then keep up to that much freed memory.
    """
    global _malloc_tuned
    if (
        _malloc_tuned
        or "MALLOC_TRIM_THRESHOLD_" not in os.environ
        or not sys.platform.startswith("linux")
    ):
        return
    _malloc_tuned = True
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 * 2**20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 256 * 2**20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc
        pass


def run_task(task: SweepTask) -> list[dict[str, Any]]:
    """Run every arm of one point and replicate; an arm that raises is recorded as failed.

    Returns plain rows (no parameter columns), one per arm, so results travel cheaply between
    processes and machines.
    """
    _undo_small_trim_threshold()
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
                _one_line(exc),
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


# -- backends -----------------------------------------------------------------------------------
@contextmanager
def _sigint_held() -> Iterator[None]:
    """Hold Ctrl-C back while workers start: they inherit a blocked SIGINT and ignore it.

    Only the main process handles Ctrl-C (it stops the workers); a SIGINT that arrives meanwhile
    is delivered when the block ends.
    """
    usable = (
        hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread()
    )
    if usable:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        if usable:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _serial_results(tasks: Iterator[SweepTask]) -> Iterator[list[dict[str, Any]]]:
    for task in tasks:
        yield run_task(task)


def _terminate(executor: ProcessPoolExecutor) -> None:
    """Stop a process pool now (Python 3.11 has no public way; 3.14 adds terminate_workers)."""
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=10)


def _process_results(tasks: Iterator[SweepTask], workers: int) -> Iterator[list[dict[str, Any]]]:
    """Runs on local worker processes (spawned), at most ``4 * workers`` in flight."""
    context = multiprocessing.get_context("spawn")
    executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_ignore_sigint)
    pending: set[Future] = set()
    try:
        with _sigint_held():  # the workers are spawned by these first submissions
            pending = {executor.submit(run_task, t) for t in itertools.islice(tasks, 4 * workers)}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                rows = future.result()
                task = next(tasks, None)
                if task is not None:
                    pending.add(executor.submit(run_task, task))
                yield rows
    except BaseException:
        _terminate(executor)
        raise
    executor.shutdown()


def _worker_version() -> str:
    return sim.__version__


def _check_workers(client: Any, where: str) -> None:
    """Every connected Dask worker must import the same painsim version."""
    try:
        versions = client.run(_worker_version)
    except Exception as exc:
        raise SweepError(
            f"{where}: the Dask workers cannot run painsim ({_one_line(exc)}); "
            f"install painsim {sim.__version__} on every worker"
        ) from None
    wrong = {w: v for w, v in versions.items() if v != sim.__version__}
    if wrong:
        worker, found = next(iter(wrong.items()))
        raise SweepError(
            f"{where}: worker {worker} has painsim {found}, this is "
            f"{sim.__version__}; install the same version everywhere"
        )


@contextmanager
def dask_client(workers: int, scheduler: str | None) -> Iterator[Any]:
    """A ``distributed.Client``: on a new LocalCluster bound to 127.0.0.1, or at ``scheduler``.

    A LocalCluster is closed afterwards; an existing cluster is left running.
    """
    import dask
    from distributed import Client, LocalCluster

    cluster = None
    with _sigint_held():
        if scheduler is None:
            with dask.config.set(QUIET_DASK):
                cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            client = Client(cluster)
        else:
            try:
                client = Client(scheduler, timeout="20s")
            except (OSError, ValueError, TypeError) as exc:
                raise SweepError(
                    f"--scheduler {scheduler}: cannot connect ({_one_line(exc)})",
                ) from None
    try:
        _check_workers(client, scheduler or "LocalCluster")
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _dask_results(
    tasks: Iterator[SweepTask], workers: int, scheduler: str | None
) -> Iterator[list[dict[str, Any]]]:
    """Runs as Dask tasks with unique keys (never deduplicated), at most DASK_WINDOW in flight.

    A task that Dask itself gives up on (e.g. it killed its workers) is recorded as failed.
    """
    from distributed import as_completed

    with dask_client(workers, scheduler) as client:
        token = secrets.token_hex(4)
        by_key: dict[str, SweepTask] = {}

        def submit(task: SweepTask) -> Future:
            key = f"painsim-sweep-{token}-{task.point}-{task.replicate}"
            by_key[key] = task
            return client.submit(run_task, task, key=key, pure=False)

        queue = as_completed([submit(t) for t in itertools.islice(tasks, DASK_WINDOW)])
        try:
            for future in queue:
                task = by_key.pop(future.key)
                try:
                    rows = future.result()
                except Exception as exc:
                    rows = failed_rows(task, _one_line(exc))
                future.release()
                following = next(tasks, None)
                if following is not None:
                    queue.add(submit(following))
                yield rows
        except BaseException:
            client.cancel(list(queue.futures))
            raise


def default_workers() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _results(
    backend: str, tasks: Iterator[SweepTask], workers: int, scheduler: str | None
) -> Iterator[list[dict[str, Any]]]:
    if backend == "serial":
        return _serial_results(tasks)
    if backend == "process":
        return _process_results(tasks, workers)
    return _dask_results(tasks, workers, scheduler)


# -- sensitivity --------------------------------------------------------------------------------
def analyze_design(
    method: str,
    problem: Mapping[str, Any],
    matrix: np.ndarray,
    y: np.ndarray,
    *,
    levels: int = 4,
    seed: int = 0,
) -> pd.DataFrame:
    """Sensitivity indices of one outcome with SALib, with 95 % intervals.

    Parameters
    ----------
    method
        ``"sobol"``: first-order ``S1`` and total ``ST`` indices (Saltelli/Jansen estimators,
        bootstrap intervals); ``"morris"``: ``mu_star`` (with bootstrap interval), ``mu`` and
        ``sigma`` of the elementary effects; ``"latin"``: first-order ``S1`` by RBD-FAST.
    problem, matrix
        The SALib problem and the sample it was run on (one row per point).
    y
        The outcome at every point (replicates averaged), in sample order.
    levels
        Morris grid levels.
    seed
        Seed of the bootstrap.

    Returns
    -------
    pandas.DataFrame
        Columns ``parameter, index, value, conf`` (``conf`` = half-width of the 95 % interval,
        NaN where SALib gives none).
    """
    with np.errstate(divide="ignore", invalid="ignore"):  # a degenerate resample gives NaN
        result, pairs = _salib_analysis(method, problem, matrix, y, levels, seed)
    names = list(problem["names"])
    frames = [
        pd.DataFrame(
            {
                "parameter": names,
                "index": index,
                "value": np.asarray(result[index], dtype=float),
                "conf": (
                    np.asarray(result[conf], dtype=float) if conf else np.full(len(names), np.nan)
                ),
            }
        )
        for index, conf in pairs
    ]
    return pd.concat(frames, ignore_index=True)


def _salib_analysis(
    method: str,
    problem: Mapping[str, Any],
    matrix: np.ndarray,
    y: np.ndarray,
    levels: int,
    seed: int,
) -> tuple[Mapping[str, Any], list]:
    """SALib's result and the (index, interval) names to read from it."""
    kwargs = {"conf_level": CI_LEVEL, "num_resamples": RESAMPLES, "seed": seed}
    if method == "sobol":
        from SALib.analyze import sobol

        result = sobol.analyze(dict(problem), y, calc_second_order=False, **kwargs)
        pairs = [("S1", "S1_conf"), ("ST", "ST_conf")]
    elif method == "morris":
        from SALib.analyze import morris

        result = morris.analyze(dict(problem), matrix, y, num_levels=levels, **kwargs)
        pairs = [("mu_star", "mu_star_conf"), ("mu", None), ("sigma", None)]
    elif method == "latin":
        from SALib.analyze import rbd_fast

        result = rbd_fast.analyze(dict(problem), matrix, y, **kwargs)
        pairs = [("S1", "S1_conf")]
    else:
        raise ValueError(f"no sensitivity analysis for method '{method}'")
    return result, pairs


def point_means(table: pd.DataFrame, arm: str, outcome: str, n_points: int) -> np.ndarray:
    """Per point, the outcome averaged over replicates that succeeded (NaN if none did)."""
    rows = table[(table["arm"] == arm) & (table["status"] == STATUS_OK)]
    means = rows.groupby("point")[outcome].mean()
    return means.reindex(range(n_points)).to_numpy(dtype=float)


def sensitivity_table(plan: SweepPlan, table: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Sensitivity indices of every outcome in every arm (sample methods), and notes.

    An outcome with a missing value at any point (a failed run, or no patient to average) is
    left out with a note: the estimators need every point.
    """
    assert plan.matrix is not None
    frames, notes = [], []
    seed = _stream_seed(plan.scenario.scenario.seed, _ANALYSIS_STREAM)
    for arm in plan.arms:
        for outcome in plan.outcomes:
            y = point_means(table, arm, outcome, plan.n_points)
            missing = int(np.isnan(y).sum())
            if missing:
                notes.append(
                    f"no sensitivity indices for {outcome} in arm '{arm}': missing at "
                    f"{missing} of {plan.n_points} points"
                )
                continue
            indices = analyze_design(
                plan.method, plan.problem, plan.matrix, y, levels=plan.sweep.levels, seed=seed
            )
            frames.append(indices.assign(arm=arm, outcome=outcome, method=plan.method))
    if not frames:
        return pd.DataFrame(columns=list(SENSITIVITY_COLUMNS)), notes
    sens = pd.concat(frames, ignore_index=True)
    sens["ci_low"] = sens["value"] - sens["conf"]
    sens["ci_high"] = sens["value"] + sens["conf"]
    return sens[list(SENSITIVITY_COLUMNS)], notes


# -- folders ------------------------------------------------------------------------------------
def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_all(folder: Path) -> None:
    """Flush every file and folder below ``folder`` (and itself) to disk."""
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        _fsync(path)
    _fsync(folder)


def _write_atomic(path: Path, write) -> None:
    """Write a file through a hidden temporary name, flush it, then rename it into place."""
    temporary = path.parent / f".{path.name}.tmp-{os.getpid()}"
    write(temporary)
    _fsync(temporary)
    os.replace(temporary, path)


def partial_folder(destination: Path) -> Path:
    """The hidden folder a sweep works in until it is complete: ``.<name>.partial`` beside it."""
    return destination.parent / f".{destination.name}{PARTIAL_SUFFIX}"


def _destination_of(partial: Path) -> Path:
    return partial.parent / partial.name[1 : -len(PARTIAL_SUFFIX)]


def finished_runs(partial: Path) -> set[tuple[int, int]]:
    """(point, replicate) of every run already written in ``partial/points``."""
    points = partial / "points"
    if not points.is_dir():
        return set()
    found = (_POINT_FILE.match(p.name) for p in points.iterdir())
    return {(int(m[1]), int(m[2])) for m in found if m}


def _read_plan(partial: Path) -> dict[str, Any] | None:
    try:
        return json.loads((partial / PLAN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _find_partial(root: Path, fingerprint: str) -> Path | None:
    """The newest unfinished sweep of this exact scenario under ``root``."""
    if not root.is_dir():
        return None
    candidates = sorted(p for p in root.glob(f".*{PARTIAL_SUFFIX}") if p.is_dir())
    matching = [p for p in candidates if (_read_plan(p) or {}).get("fingerprint") == fingerprint]
    return matching[-1] if matching else None


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder/.lock`` so two sweeps never share a folder."""
    try:
        import fcntl
    except ImportError:  # Windows: no locking
        yield
        return
    with (folder / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise SweepError(f"{folder}: another painsim sweep is working on this folder") from None
        yield


def _session(
    backend: str, workers: int, scheduler: str | None, argv: list[str] | None, already: int
) -> dict[str, Any]:
    return {
        "started": _utc_now().isoformat(timespec="seconds"),
        "command": argv,
        "backend": backend,
        "workers": None if scheduler else workers,
        "scheduler": scheduler,
        "runs_already_finished": already,
    }


def _new_partial(plan: SweepPlan, destination: Path, session: dict[str, Any], run_id: str) -> Path:
    """Create the hidden work folder with its plan, atomically (staged, then renamed)."""
    partial = partial_folder(destination)
    if partial.exists():
        raise SweepError(
            f"{partial}: an unfinished sweep is already there; continue it with "
            "--resume or delete it"
        )
    record = {
        "run_id": run_id,
        "fingerprint": plan.fingerprint(),
        "painsim_version": sim.__version__,
        "source": plan.source,
        "targets": plan.names,
        "points": plan.n_points,
        "replicates": plan.replicates,
        "arms": plan.arms,
        "design": [list(values) for values in plan.design],
        "sessions": [session],
    }
    with staged_folder(partial) as staging:
        (staging / PLAN_FILE).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return partial


def _resumable(plan: SweepPlan, out: Path | None, results_root: Path) -> Path:
    """The unfinished sweep to continue: in ``out``, or the newest of this scenario."""
    fingerprint = plan.fingerprint()
    if out is None:
        root = results_root / plan.scenario.scenario.slug
        found = _find_partial(root, fingerprint)
        if found is None:
            raise SweepError(
                f"{plan.source}: no unfinished sweep of this scenario under {root} "
                f"(hidden .<run id>{PARTIAL_SUFFIX} folders); run it without "
                "--resume"
            )
        return Path(os.path.abspath(found))
    partial = partial_folder(Path(os.path.abspath(out)))
    if not partial.is_dir():
        raise SweepError(f"{out}: no unfinished sweep to resume (looked for {partial})")
    if (_read_plan(partial) or {}).get("fingerprint") != fingerprint:
        raise SweepError(
            f"{partial}: that sweep was made from a different scenario, sweep or "
            "painsim version; resume it with the same scenario file"
        )
    return partial


def _add_session(partial: Path, session: dict[str, Any]) -> None:
    record = _read_plan(partial) or {}
    record.setdefault("sessions", []).append(session)
    _write_atomic(
        partial / PLAN_FILE,
        lambda p: p.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8"),
    )


# -- results ------------------------------------------------------------------------------------
def _write_run(partial: Path, plan: SweepPlan, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write one finished run to ``points/<point>-<replicate>.parquet``, atomically."""
    points = partial / "points"
    points.mkdir(exist_ok=True)
    frame = plan.frame(rows)
    name = f"{int(rows[0]['point']):07d}-{int(rows[0]['replicate']):04d}.parquet"
    _write_atomic(points / name, lambda p: frame.to_parquet(p, index=False))


def assemble_table(partial: Path, plan: SweepPlan) -> pd.DataFrame:
    """``sweep.parquet``: every run's rows, sorted by point, replicate and arm (scenario order)."""
    points = partial / "points"
    files = sorted(p for p in points.iterdir() if _POINT_FILE.match(p.name))
    table = pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)
    order = {arm: i for i, arm in enumerate(plan.arms)}
    table = (
        table.assign(_arm=table["arm"].map(order))
        .sort_values(["point", "replicate", "_arm"], kind="stable")
        .drop(columns="_arm")
    )
    return table.reset_index(drop=True)


def _package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in SWEEP_PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def _manifest(
    plan: SweepPlan, record: dict[str, Any], table: pd.DataFrame, files: list[str]
) -> dict[str, Any]:
    sweep = plan.sweep
    failed = table.loc[table["status"] != STATUS_OK, ["point", "replicate"]].drop_duplicates()
    sessions = record.get("sessions", [])
    return {
        "run_id": record.get("run_id"),
        "painsim_version": sim.__version__,
        **_source_version(),
        "seed": plan.scenario.scenario.seed,
        "command": sessions[0]["command"] if sessions else None,
        "started": sessions[0]["started"] if sessions else None,
        "finished": _utc_now().isoformat(timespec="seconds"),
        "sessions": sessions,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": _package_versions(),
        "files": files,
        "sweep": {
            "method": sweep.method,
            "targets": plan.names,
            "grid": sweep.grid if sweep.method == "grid" else None,
            "bounds": sweep.bounds if sweep.method != "grid" else None,
            "samples": sweep.samples if sweep.method != "grid" else None,
            "levels": sweep.levels if sweep.method == "morris" else None,
            "replicates": plan.replicates,
            "horizon_years": plan.horizon,
            "outcomes": list(plan.outcomes),
            "points": plan.n_points,
            "runs": plan.n_runs,
            "failed_runs": len(failed),
            "common_random_numbers": sweep.common_random_numbers,
            "seed_rule": f"SeedSequence(seed, spawn_key=({SWEEP_KEY}, {_RUN_STREAM}, "
            f"{'0' if sweep.common_random_numbers else 'point'}, replicate)), "
            "first 64 bits >> 1",
        },
        "scenario": plan.scenario.resolved(),
    }


@dataclass(frozen=True, eq=False)
class SweepResult:
    """What :func:`run_sweep` made.

    Attributes
    ----------
    folder
        The finished results folder.
    plan
        The sweep's plan.
    table
        ``sweep.parquet``.
    sensitivity
        ``sensitivity.csv`` (None for a grid).
    computed, kept
        Runs computed in this call, and runs found finished from an earlier call.
    notes
        Things worth telling (failed runs, outcomes without indices).
    """

    folder: Path
    plan: SweepPlan
    table: pd.DataFrame
    sensitivity: pd.DataFrame | None
    computed: int
    kept: int
    notes: list[str]

    @property
    def failed(self) -> int:
        bad = self.table.loc[self.table["status"] != STATUS_OK, ["point", "replicate"]]
        return len(bad.drop_duplicates())


def _finish(
    plan: SweepPlan, partial: Path
) -> tuple[Path, pd.DataFrame, pd.DataFrame | None, list[str]]:
    """Assemble tables, figures and manifest in ``partial``, then rename it to its final name."""
    from sim.viz.sweep_figures import sweep_figures

    table = assemble_table(partial, plan)
    _write_atomic(partial / TABLE_FILE, lambda p: table.to_parquet(p, index=False))
    notes = []
    failed = table.loc[table["status"] != STATUS_OK]
    if len(failed):
        runs = len(failed[["point", "replicate"]].drop_duplicates())
        notes.append(
            f"{runs} of {plan.n_runs} runs failed (first: {failed['error'].iloc[0]}); "
            f"see status and error in {TABLE_FILE}"
        )
    sensitivity = None
    if plan.method != "grid":
        sensitivity, more = sensitivity_table(plan, table)
        notes.extend(more)
        _write_atomic(partial / SENSITIVITY_FILE, lambda p: sensitivity.to_csv(p, index=False))
    figures = sweep_figures(plan, table, sensitivity, partial / "figures")
    files = sorted(
        [
            TABLE_FILE,
            "manifest.json",
            *([SENSITIVITY_FILE] if sensitivity is not None else []),
            *(f"figures/{p.name}" for p in figures),
        ]
    )
    record = _read_plan(partial) or {}
    manifest = _manifest(plan, record, table, files)
    _write_atomic(
        partial / "manifest.json",
        lambda p: p.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8"),
    )
    _fsync_all(partial)
    destination = _destination_of(partial)
    os.replace(partial, destination)
    # The work files are not part of the result; a sweep killed here leaves them, harmlessly.
    shutil.rmtree(destination / "points", ignore_errors=True)
    for name in (PLAN_FILE, ".lock"):
        (destination / name).unlink(missing_ok=True)
    return destination, table, sensitivity, notes


def _resume_command(source: str, out: Path | None, results_root: Path) -> str:
    command = f"painsim sweep {source} --resume"
    if out is not None:
        return f"{command} --out {out}"
    if Path(results_root) != Path("results"):
        return f"{command} --results-root {results_root}"
    return command


def run_sweep(
    scenario: Scenario,
    *,
    backend: str = "process",
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    out: Path | None = None,
    results_root: Path = Path("results"),
    progress: bool = True,
    argv: list[str] | None = None,
    source: str = "<scenario>",
) -> SweepResult:
    """Run a scenario's sweep and write its results folder.

    Parameters
    ----------
    scenario
        A validated scenario with a ``[sweep]`` section.
    backend
        ``"process"`` (local worker processes), ``"serial"`` (this process) or ``"dask"``
        (a LocalCluster on 127.0.0.1, or the cluster at ``scheduler``).
    workers
        Worker processes for ``process`` and a LocalCluster (default: the usable cores).
    scheduler
        Address of a running Dask scheduler, e.g. ``tcp://10.0.0.5:8786`` (``dask`` only).
    resume
        Continue the unfinished sweep of this scenario (in ``out``, or the newest under
        ``results_root/<slug>/``) instead of starting a new one.
    out
        Exact results folder (must not exist or be empty). Default:
        ``results_root/<scenario slug>/<run id>/``.
    results_root
        Where results folders are made when ``out`` is not given.
    progress
        Show a progress bar with ETA on stderr.
    argv
        Command line to record in the manifest.
    source
        Named in messages (the scenario file).

    Returns
    -------
    SweepResult

    Raises
    ------
    ScenarioError
        No ``[sweep]``, or an invalid point. Nothing is written.
    OutputFolderError, SweepError
        Bad options, ``out`` not empty, nothing to resume, the folder is in use, or the workers
        cannot run (a dead worker process: ``exit_code`` 1, finished runs kept).
    SweepInterrupted
        Ctrl-C: workers stopped, finished runs kept, resumable.
    """
    if backend not in BACKENDS:
        raise SweepError(f"--backend: '{backend}' is not one of {', '.join(BACKENDS)}")
    if scheduler is not None and backend != "dask":
        raise SweepError("--scheduler: needs --backend dask")
    if workers is not None and workers < 1:
        raise SweepError(f"--workers: {workers} is not at least 1")
    workers = workers or default_workers()
    plan = plan_sweep(scenario, source)
    new_folders: list[Path] = []  # removed again if the sweep cannot start
    if resume:
        partial = _resumable(plan, out, Path(results_root))
    else:
        run_id = _new_run_id(_utc_now())
        destination = Path(
            os.path.abspath(
                out
                if out is not None
                else Path(results_root) / plan.scenario.scenario.slug / run_id
            )
        )
        _check_destination(destination)
        new_folders = [p for p in (destination.parent, destination.parent.parent) if not p.exists()]
        session = _session(backend, workers, scheduler, argv, 0)
        partial = _new_partial(plan, destination, session, run_id)
        new_folders.insert(0, partial)
    resume_hint = _resume_command(source, out, results_root)
    computed = 0
    try:
        with _locked(partial):
            done = finished_runs(partial) & set(plan.runs())
            if resume:
                _add_session(partial, _session(backend, workers, scheduler, argv, len(done)))
            todo = [run for run in plan.runs() if run not in done]
            threads = None if backend == "serial" else 1
            tasks = (plan.task(point, replicate, threads) for point, replicate in todo)
            # The bar closes first, so its last line is not stretched by the cluster shutdown.
            with (
                closing(_results(backend, tasks, workers, scheduler)) as results,
                tqdm(
                    total=plan.n_runs,
                    initial=len(done),
                    unit="run",
                    desc=f"{plan.scenario.scenario.slug} sweep",
                    disable=not progress,
                    file=sys.stderr,
                    dynamic_ncols=True,
                ) as bar,
            ):
                for rows in results:
                    _write_run(partial, plan, rows)
                    computed += 1
                    bar.update()
            folder, table, sensitivity, notes = _finish(plan, partial)
    except KeyboardInterrupt:
        kept = len(finished_runs(partial) & set(plan.runs()))
        raise SweepInterrupted(partial, kept, plan.n_runs, resume_hint) from None
    except BrokenProcessPool as exc:
        kept = len(finished_runs(partial) & set(plan.runs()))
        raise SweepError(
            f"a worker process died ({_one_line(exc)}); {kept} of {plan.n_runs} "
            f"runs are kept in {partial}; continue with: {resume_hint}",
            exit_code=1,
        ) from None
    except SweepError:
        if new_folders and not finished_runs(partial):  # e.g. no Dask scheduler at that address
            shutil.rmtree(new_folders[0], ignore_errors=True)
            for folder in new_folders[1:]:
                with suppress(OSError):
                    folder.rmdir()
        raise
    return SweepResult(folder, plan, table, sensitivity, computed, len(done), notes)


# -- text summary -------------------------------------------------------------------------------
def summary_text(result: SweepResult, max_rows: int = 40) -> str:
    """What ``painsim sweep`` prints: the design, then point means or sensitivity indices."""
    plan = result.plan
    arms = len(plan.arms)
    lines = [
        f"sweep: {plan.method}, {plan.n_points} points x {plan.replicates} replicate"
        f"{'s' if plan.replicates != 1 else ''} x {arms} arm{'s' if arms != 1 else ''}"
        f" = {plan.n_runs} runs ({result.computed} computed now, {result.kept} kept from "
        f"before, {result.failed} failed); outcomes at year {plan.horizon:g}",
        "",
    ]
    if result.sensitivity is not None and len(result.sensitivity):
        for (arm, outcome), group in result.sensitivity.groupby(["arm", "outcome"], sort=False):
            wide = group.pivot(index="parameter", columns="index", values="value")
            conf = group.pivot(index="parameter", columns="index", values="conf")
            for index in wide.columns:
                if conf[index].notna().any():
                    wide[f"{index} ±"] = conf[index]
            lead = "ST" if "ST" in wide else ("mu_star" if "mu_star" in wide else "S1")
            wide = wide.sort_values(lead, ascending=False)
            lines += [
                f"{outcome}, arm '{arm}' ({plan.method}; ± = half-width of the 95 % interval):",
                wide.to_string(float_format=lambda v: f"{v:.3f}"),
                "",
            ]
    else:
        means = (
            result.table[result.table["status"] == STATUS_OK]
            .groupby(["point", "arm"], sort=False)[[*plan.names, *plan.outcomes]]
            .mean(numeric_only=True)
            .reset_index()
            .drop(columns="point")
        )
        if len(plan.arms) == 1:
            means = means.drop(columns="arm")
        shown = means.head(max_rows)
        lines += [
            f"mean over replicates at year {plan.horizon:g}:",
            shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"),
        ]
        if len(means) > max_rows:
            lines.append(f"(first {max_rows} of {len(means)} rows; all in {TABLE_FILE})")
        lines.append("")
    lines.append(f"results: {result.folder}")
    return "\n".join(lines)


__all__ = [
    "BACKENDS",
    "OUTCOME_NAMES",
    "SweepError",
    "SweepInterrupted",
    "SweepPlan",
    "SweepResult",
    "SweepTask",
    "Target",
    "analyze_design",
    "check_sweep",
    "horizon_outcomes",
    "plan_sweep",
    "resolve_target",
    "run_seed",
    "run_sweep",
    "run_task",
    "sample_design",
    "sensitivity_table",
    "summary_text",
]
