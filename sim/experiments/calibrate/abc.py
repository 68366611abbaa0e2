"""ABC-SMC with pyabc: samplers (serial, worker processes, Dask), seeding, resuming.

pyabc keeps every generation in an SQLite database; the calibration works in a hidden
database beside its results (``.calibration-<fingerprint>.db``), so an interrupted run is
continued with ``resume=True`` (``ABCSMC.load``), and the finished folder keeps the database
as ``abc.db``. Generations are run one at a time so that progress can be reported and the
wall-time budget checked between them.

Reproducibility: every backend samples with
:class:`~sim.experiments.calibrate.sampler.OrderedSampler` on workers started once for the run
(:func:`sim.experiments.backends.workers_pool`). Evaluation ``j`` of generation ``t`` proposes
from NumPy's global generator seeded from (scenario seed, ``t``, ``j``), its simulation is
seeded from the proposed parameters
(:func:`~sim.experiments.calibrate.problem.simulation_seed`), and a generation keeps the first
accepted particles by evaluation number, not by completion. The same scenario and seed
therefore give the same generations (particles, weights, epsilon, simulation counts) bit for
bit on ``serial``, ``process`` and ``dask``, with any number of workers, and a calibration
continued with ``resume`` goes on as an uninterrupted one would. Only the wall-time budget
(``max_minutes``) depends on speed: two runs it stops after different generations share the
generations both ran.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.experiments.calibrate.problem import Distance, Problem, Simulator, from_key, to_key
from sim.scenario import Scenario

if TYPE_CHECKING:
    from sim.experiments.backends import Pool

BACKENDS = ("serial", "process", "dask")


class CalibrationError(ValueError):
    """A calibration cannot start or continue; ``option`` names the setting at fault."""

    def __init__(self, message: str, option: str | None = None):
        super().__init__(message)
        self.option = option


@dataclass
class AbcRun:
    """What an ABC-SMC run left: the final weighted population and per-generation figures."""

    posterior: pd.DataFrame
    generations: pd.DataFrame
    database: Path
    abc_id: int
    backend: str
    workers: int
    seconds: float


def fingerprint(scenario: Scenario) -> str:
    """Short hash of the resolved scenario: the same calibration has the same database."""
    text = json.dumps(scenario.resolved(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def database_path(scenario: Scenario, out: Path | None, results_root: Path) -> Path:
    """Where the pyabc database of this calibration lives while it runs."""
    if out is not None:
        out = Path(os.path.abspath(out))
        return out.parent / f".{out.name}.abc.db"
    return Path(results_root) / scenario.scenario.slug / f".calibration-{fingerprint(scenario)}.db"


def cache_path(database: Path) -> Path:
    """Folder beside the database for what a calibration simulates once (its populations)."""
    return database.with_name(database.name.removesuffix(".db") + ".populations")


def workers_for(backend: str, workers: int | None) -> int:
    """Number of worker processes a backend uses."""
    return 1 if backend == "serial" else _workers(workers)


def _workers(workers: int | None) -> int:
    if workers is None:
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    if workers < 1:
        raise CalibrationError(f"must be at least 1, got {workers}", option="workers")
    return workers


BATCH_SIZE = {"serial": 1, "process": 1, "dask": 4}
"""Evaluations per task on each backend (throughput only: the result is the same for any).

A task costs about 0.2 ms on local worker processes and 15 ms on a 2-worker LocalCluster
(measured on 2 shared cores, load average 7), against 0.1-0.7 s per evaluation: Dask runs 4
per task, local processes 1, so that little work is in flight (and discarded) when a
generation ends.
"""


@contextmanager
def calibration_pool(backend: str, workers: int, scheduler: str | None) -> Iterator[Pool]:
    """The workers of a whole calibration (populations, ABC generations, fit table).

    Raises
    ------
    CalibrationError
        Unknown backend, a scheduler without Dask, or the scheduler cannot be reached or its
        workers cannot run this painsim.
    """
    from sim.experiments.backends import BackendError, workers_pool

    if backend not in BACKENDS:
        raise CalibrationError(
            f"unknown backend '{backend}' (allowed: {', '.join(BACKENDS)})", option="backend"
        )
    if scheduler is not None and backend != "dask":
        raise CalibrationError("a scheduler address needs backend dask", option="scheduler")
    with ExitStack() as stack:
        try:
            pool = stack.enter_context(workers_pool(backend, workers, scheduler))
        except BackendError as exc:  # the scheduler cannot be reached, or its workers are wrong
            raise CalibrationError(exc.message, option=exc.option) from None
        yield pool


def check_database(database: Path, resume: bool) -> None:
    """A new calibration needs no database at ``database``; a resumed one needs one.

    Raises
    ------
    CalibrationError
        With ``option="resume"``.
    """
    if resume and not database.is_file():
        raise CalibrationError(
            f"{database}: no unfinished calibration of this scenario to resume", option="resume"
        )
    if not resume and database.exists():
        raise CalibrationError(
            f"{database}: an unfinished calibration of this scenario is there; continue it "
            "with resume or delete the file",
            option="resume",
        )


class _Progress(logging.Handler):
    """Forward pyabc's per-generation log lines (epsilon, acceptance, ESS) to ``say``."""

    KEEP = ("t:", "Accepted:", "Stop:", "Stopping")

    def __init__(self, say: Callable[[str], None], start: float):
        super().__init__(logging.INFO)
        self.say, self.start = say, start

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith(self.KEEP):
            minutes = (time.monotonic() - self.start) / 60
            self.say(f"{message.rstrip('.')} ({minutes:.1f} min)")


@contextmanager
def _pyabc_logging(say: Callable[[str], None] | None, start: float):
    """pyabc logs every generation at INFO: shown as painsim's progress, or silenced."""
    logger = logging.getLogger("ABC")
    saved = logger.level, logger.propagate, list(logger.handlers)
    for old in saved[2]:  # pyabc's own stream handler would print every line again
        logger.removeHandler(old)
    handler = _Progress(say, start) if say else logging.NullHandler()
    logger.setLevel(logging.INFO if say else logging.WARNING)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        for old in saved[2]:
            logger.addHandler(old)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def run_abc(
    scenario: Scenario,
    *,
    database: Path,
    backend: str = "process",
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    progress: Callable[[str], None] | None = None,
    problem: Problem | None = None,
    pool: Pool | None = None,
) -> AbcRun:
    """Run (or continue) the ABC-SMC calibration of a scenario's ``[calibration]`` section.

    ``problem`` is the scenario's problem, if already made (e.g. with its populations ready);
    ``pool`` the workers already started for it by :func:`calibration_pool` with the same
    ``backend``, ``workers`` and ``scheduler`` (else they start here).

    Raises
    ------
    CalibrationError
        Bad backend, worker count or scheduler; a database already there without ``resume``,
        or none with it.
    """
    import pyabc

    from sim.experiments.calibrate.sampler import OrderedSampler

    section = scenario.calibration
    problem = problem or Problem.from_scenario(scenario)
    n_workers = workers_for(backend, workers)
    check_database(database, resume)
    database.parent.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda message: None)
    prior = pyabc.Distribution(
        **{to_key(k): pyabc.RV(*problem.prior_rv(k)) for k in problem.priors}
    )
    observed = {name: target.value for name, (target, _) in problem.targets.items()}
    # pyabc draws from NumPy's global generator. Every evaluation seeds it for itself
    # (sampler.py); anything drawn here between generations comes from the scenario seed.
    saved = np.random.get_state()  # noqa: NPY002 - pyabc uses the legacy global generator
    np.random.seed(scenario.scenario.seed % 2**32)  # noqa: NPY002
    start = time.monotonic()
    seed = scenario.scenario.seed
    try:
        with ExitStack() as stack:
            stack.enter_context(_pyabc_logging(progress, start))
            if pool is None:
                pool = stack.enter_context(calibration_pool(backend, n_workers, scheduler))
            sampler = OrderedSampler(pool, seed, batch_size=BATCH_SIZE[backend])
            abc = pyabc.ABCSMC(
                Simulator(problem),
                prior,
                Distance(problem),
                population_size=section.population_size,
                # A wider kernel than Silverman's keeps importance weights even with many
                # parameters (ESS collapsed to about 3 of 100 with scaling 1 in 13 dimensions).
                transitions=pyabc.MultivariateNormalTransition(scaling=section.kernel_scaling),
                sampler=sampler,
            )
            db = f"sqlite:///{database}"
            history = abc.load(db, 1) if resume else abc.new(db, observed)
            if resume:
                say(f"resuming after generation {history.max_t + 1} ({database})")
            done = history.max_t + 1 if resume else 0
            # One call for all generations: pyabc adapts epsilon between them.
            abc.run(
                max_nr_populations=max(section.generations - done, 0),
                max_total_nr_simulations=section.max_simulations,
                max_walltime=timedelta(minutes=section.max_minutes),
                min_acceptance_rate=section.min_acceptance_rate,
            )
    finally:
        np.random.set_state(saved)  # noqa: NPY002
    return AbcRun(
        posterior=_posterior(history),
        generations=generation_table(history),
        database=database,
        abc_id=history.id,
        backend=backend,
        workers=n_workers,
        seconds=time.monotonic() - start,
    )


def generation_table(history: Any) -> pd.DataFrame:
    """One row per generation: epsilon, simulations, accepted particles, acceptance, ESS."""
    pops = history.get_all_populations()
    pops = pops[pops.t >= 0]
    rows = []
    for t, eps, samples in zip(pops.t, pops.epsilon, pops.samples, strict=True):
        _, w = history.get_distribution(m=0, t=int(t))
        w = np.asarray(w, dtype=float)
        rows.append(
            {
                "generation": int(t),
                "epsilon": float(eps),
                "simulations": int(samples),
                "accepted": int(w.size),
                "acceptance_rate": w.size / samples if samples else math.nan,
                "ess": float(w.sum() ** 2 / (w**2).sum()) if w.size else math.nan,
            }
        )
    return pd.DataFrame(rows)


def _posterior(history: Any) -> pd.DataFrame:
    frame, weights = history.get_distribution(m=0, t=history.max_t)
    frame = frame.rename(columns={c: from_key(c) for c in frame.columns})
    frame = frame.reset_index(drop=True)
    frame.columns.name = None
    frame["weight"] = np.asarray(weights, dtype=float) / np.sum(weights)
    return frame


def emit(message: str) -> None:
    """Progress line on stderr."""
    print(f"painsim calibrate: {message}", file=sys.stderr, flush=True)
