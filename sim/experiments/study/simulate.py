"""The whole virtual study: populations, then every replication of every variant.

Two phases, each a batch of independent tasks for ``sim.experiments.backends.execute`` (serial,
local processes or Dask; the same tables on every backend):

1. populations: every band of every population the variants need (:func:`~sim.experiments.
   study.population.build_populations`), longest first;
2. analyses: slices of replications of every variant's design (:class:`~sim.experiments.study.
   analysis.ReplicationJob`) and of the longitudinal design. Variants that differ only by the
   perturbation index share their replications; recruitment rules select from the pool of the
   population they share.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from sim.experiments.backends import check_options, dask_client, execute
from sim.experiments.provenance import new_run_id, utc_now
from sim.experiments.study.analysis import ReplicationJob, run_task, split
from sim.experiments.study.design import STUDY_COLUMNS, group_sizes, study_design
from sim.experiments.study.eligibility import Recruitment, restrict
from sim.experiments.study.findings import summarize_findings
from sim.experiments.study.indexes import INDEXES
from sim.experiments.study.longitudinal import WINDOW_COLUMNS, LongitudinalJob, summarize_windows
from sim.experiments.study.measurement import sample_table
from sim.experiments.study.mechanisms import COUNTERFACTUAL, mechanism
from sim.experiments.study.population import POPULATION_BANDS, band_steps, build_populations
from sim.experiments.study.result import StudyResult
from sim.experiments.study.uncertainty import parameter_sets
from sim.experiments.study.variants import (
    MODEL,
    Variant,
    job_indices,
    plan,
    sharing,
    summarize,
    summary_row,
)
from sim.scenario import Scenario, ScenarioError

LONGITUDINAL = "longitudinal"
"""Key of the longitudinal design's tasks."""


def _bar(total: int, desc: str, enabled: bool, unit: str = "step") -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total, desc=desc, unit=unit, disable=not enabled, file=sys.stderr, leave=False
    )


def check_indices(scenario: Scenario, source: str = "<scenario>") -> None:
    """Every index of ``[study] indices`` must be registered (``sim.experiments.study.indexes``).

    Raises
    ------
    sim.scenario.ScenarioError
        An unknown index (field ``study.indices[i]``; one line listing the registered ones).
    """
    for i, key in enumerate(study_design(scenario, source).indices):
        if key not in INDEXES:
            raise ScenarioError(
                source,
                f"study.indices[{i}]",
                f"unknown index '{key}' (registered: {', '.join(INDEXES)})",
            )


@contextmanager
def _where(backend: str, workers: int | None, scheduler: str | None) -> Iterator[dict[str, Any]]:
    """Options for both phases: one local worker runs in this process; a Dask LocalCluster is
    started once for both phases (a cluster at ``scheduler`` is used as it is)."""
    count = check_options(backend, workers, scheduler)
    if backend == "process" and count == 1:
        yield {"backend": "serial", "workers": 1, "scheduler": None}
    elif backend == "dask" and scheduler is None:
        with dask_client(count) as client:
            yield {"backend": "dask", "workers": count, "scheduler": client.scheduler.address}
    else:
        yield {"backend": backend, "workers": count, "scheduler": scheduler}


def _scenario_of(variant: Variant, scenario: Scenario, specs: dict) -> Scenario:
    """The scenario a variant's replications analyse with (its model's parameters)."""
    if variant.population != MODEL:
        return specs[variant.population].scenario
    if variant.view != MODEL:
        return mechanism(variant.view).scenario(scenario)
    return scenario


def simulate_study(
    scenario: Scenario,
    *,
    progress: bool = False,
    command: Sequence[str] | None = None,
    run_id: str | None = None,
    backend: str = "serial",
    workers: int | None = None,
    scheduler: str | None = None,
    posterior: pd.DataFrame | None = None,
    source: str = "<scenario>",
) -> StudyResult:
    """Run the whole virtual study: populations, replications and every variant asked for.

    Parameters
    ----------
    scenario
        A validated scenario with a ``[study]`` section.
    progress
        Show progress bars on stderr.
    command
        The command line, recorded when the result is saved.
    run_id
        Id of the study (default: a new one from the start time).
    backend, workers, scheduler
        Where bands and replications run (``sim.experiments.backends``): ``"serial"``
        (default), ``"process"`` or ``"dask"``. The tables are the same on every backend.
    posterior
        Parameter draws of a calibration (one column per dotted parameter name) for the
        uncertainty analysis (``[study] uncertainty_draws``); default: a Latin hypercube over
        the plausible ranges (``sim.experiments.study.uncertainty``).
    source
        Names the scenario in error messages.

    Returns
    -------
    StudyResult

    Raises
    ------
    sim.scenario.ScenarioError
        No ``[study]`` section, an unknown index or a bad posterior.
    sim.experiments.backends.BackendError
        Bad ``backend``, ``workers`` or ``scheduler``.
    PoolTooSmallError
        The population holds too few candidates for a group.
    """
    study = study_design(scenario, source)
    check_indices(scenario, source)
    started, clock = utc_now(), time.perf_counter()
    seconds: dict[str, float] = {}
    sets = parameter_sets(scenario, posterior, source)
    specs, variants = plan(scenario, sets)
    reps, primary = study.replications, study.indices[0]
    with _where(backend, workers, scheduler) as where:
        steps = sum(
            band_steps(s.scenario, b, s.follow_up)
            for s in specs.values()
            for b in range(POPULATION_BANDS)
        )
        with _bar(steps, "populations", progress) as bar:
            pools = build_populations(specs, **where, progress=bar.update)
        seconds["population"] = time.perf_counter() - clock

        clock = time.perf_counter()
        jobs = job_indices(variants, primary)
        first_of = {v.job: v for v in reversed(variants)}
        job_pools, tasks = {}, []
        for n, (job, indices) in enumerate(jobs.items()):
            population, view, rule, multiplier = job
            job_pools[job] = restrict(pools[population][view], rule)
            analysed = _scenario_of(first_of[job], scenario, specs)
            for a, b in split(reps, where["workers"]):
                tasks.append(
                    ReplicationJob(
                        str(n),
                        job_pools[job],
                        analysed,
                        group_sizes(study, multiplier),
                        a,
                        b,
                        indices,
                        skip_short=job != variants[0].job,
                    )
                )
        base_rule = Recruitment.from_study(study)
        if study.longitudinal:
            pool = job_pools[(MODEL, MODEL, base_rule, 1.0)]
            tasks += [
                LongitudinalJob(LONGITUDINAL, pool, scenario, a, b, primary)
                for a, b in split(reps, where["workers"])
            ]
        del pools
        results: dict[str, list[tuple[int, Any]]] = {}
        with _bar(len(tasks), "analyses", progress, unit="task") as bar:
            for key, first, result in execute(run_task, tasks, **where, label="study"):
                results.setdefault(key, []).append((first, result))
                bar.update(1)
        seconds["analyses"] = time.perf_counter() - clock

    tables: dict[tuple, dict[str, pd.DataFrame]] = {}
    draws: dict[tuple, np.ndarray] = {}
    for n, (job, indices) in enumerate(jobs.items()):
        parts = [result for _, result in sorted(results[str(n)], key=lambda item: item[0])]
        tables[job] = {
            key: pd.DataFrame(
                [row for rows, _ in parts for row in rows[key]], columns=list(STUDY_COLUMNS)
            )
            for key in indices
        }
        draws[job] = np.sum([d for _, d in parts], axis=0)

    def table_of(variant: Variant) -> pd.DataFrame:
        return tables[variant.job][variant.index]

    base = variants[0]
    summary = summarize(
        [summary_row(v, table_of(v), job_pools[v.job], draws[v.job], scenario) for v in variants]
    )
    long_table = pd.concat(
        [table_of(v).assign(analysis=v.analysis, variant=v.key) for v in variants],
        ignore_index=True,
    )[["analysis", "variant", *STUDY_COLUMNS]]
    power = pd.concat(
        [
            table_of(v).assign(multiplier=v.multiplier)
            for m in dict.fromkeys(study.power_multipliers)
            for v in variants
            if v.analysis in ("base", "power") and v.multiplier == m
        ]
        or [pd.DataFrame(columns=["multiplier", *STUDY_COLUMNS])],
        ignore_index=True,
    )[["multiplier", *STUDY_COLUMNS]]
    counter = [v for v in variants if v.key == f"mechanism:{COUNTERFACTUAL.key}"]
    counterfactual = table_of(counter[0]) if counter else pd.DataFrame(columns=list(STUDY_COLUMNS))
    windows = pd.DataFrame(columns=list(WINDOW_COLUMNS))
    if study.longitudinal:
        parts = sorted(results[LONGITUDINAL], key=lambda item: item[0])
        windows = pd.DataFrame(
            [row for _, rows in parts for row in rows], columns=list(WINDOW_COLUMNS)
        )
    base_pool = job_pools[base.job]
    seconds["total"] = sum(seconds.values())
    return StudyResult(
        scenario=scenario,
        study=table_of(base),
        power=power,
        counterfactual=counterfactual,
        sample=sample_table(base_pool, scenario, group_sizes(study)),
        findings=summarize_findings(table_of(base), study.alpha),
        pool=base_pool.summary(),
        counterfactual_pool=job_pools[counter[0].job].summary() if counter else {},
        sharing=sharing(base_pool, draws[base.job]),
        seconds=seconds,
        run_id=run_id or new_run_id(started),
        started=started,
        finished=utc_now(),
        command=list(command) if command is not None else None,
        variants=summary,
        variant_replications=long_table,
        longitudinal=summarize_windows(windows, study.alpha) if study.longitudinal else None,
        longitudinal_replications=windows if study.longitudinal else None,
        parameter_sets=sets,
    )
