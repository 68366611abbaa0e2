"""The whole virtual study: population, replications, power and the counterfactual."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from sim.experiments.provenance import new_run_id, utc_now
from sim.experiments.study.analysis import run_replications
from sim.experiments.study.design import (
    GROUPS,
    STUDY_COLUMNS,
    counterfactual_scenario,
    group_sizes,
    study_design,
)
from sim.experiments.study.findings import summarize_findings
from sim.experiments.study.measurement import sample_table
from sim.experiments.study.population import Pool, population_steps, simulate_population
from sim.experiments.study.result import StudyResult
from sim.scenario import Scenario


def _sharing(pool: Pool, draws: np.ndarray) -> dict[str, float]:
    """Per group, mean number of replications a recruited person appears in."""
    out = {}
    for code, name in enumerate(GROUPS):
        used = draws[pool.group == code]
        used = used[used > 0]
        out[name] = float(used.mean()) if used.size else 0.0
    return out


def _bar(total: int, desc: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit="step" if desc.startswith("population") else "study",
        disable=not enabled,
        file=sys.stderr,
        leave=False,
    )


def simulate_study(
    scenario: Scenario,
    *,
    progress: bool = False,
    command: Sequence[str] | None = None,
    run_id: str | None = None,
) -> StudyResult:
    """Run the whole virtual study: population, replications, power and counterfactual.

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

    Returns
    -------
    StudyResult

    Raises
    ------
    sim.scenario.ScenarioError
        The scenario has no ``[study]`` section.
    PoolTooSmallError
        The population holds too few candidates for a group.
    """
    study = study_design(scenario)
    started = utc_now()
    seconds: dict[str, float] = {}
    reps = study.replications

    clock = time.perf_counter()
    with _bar(population_steps(scenario), "population", progress) as bar:
        pool = simulate_population(scenario, progress=bar.update)
    seconds["population"] = time.perf_counter() - clock

    clock = time.perf_counter()
    base = group_sizes(study)
    with _bar(reps, "replications", progress) as bar:
        table, draws = run_replications(pool, scenario, base, reps, progress=bar.update)
    seconds["replications"] = time.perf_counter() - clock

    clock = time.perf_counter()
    power_tables = []
    multipliers = list(dict.fromkeys(study.power_multipliers))
    with _bar(reps * sum(m != 1.0 for m in multipliers), "power", progress) as bar:
        for m in multipliers:
            sizes = group_sizes(study, m)
            part = (
                table
                if m == 1.0
                else run_replications(pool, scenario, sizes, reps, progress=bar.update)[0]
            )
            power_tables.append(part.assign(multiplier=m))
    power = (
        pd.concat(power_tables, ignore_index=True)
        if power_tables
        else pd.DataFrame(columns=["multiplier", *STUDY_COLUMNS])
    )
    power = power[["multiplier", *STUDY_COLUMNS]]
    seconds["power"] = time.perf_counter() - clock

    counterfactual = pd.DataFrame(columns=list(STUDY_COLUMNS))
    counter_pool: dict[str, dict[str, float]] = {}
    if study.counterfactual:
        clock = time.perf_counter()
        alternative = counterfactual_scenario(scenario)
        with _bar(population_steps(scenario), "population (counterfactual)", progress) as bar:
            other = simulate_population(alternative, progress=bar.update)
        with _bar(reps, "counterfactual", progress) as bar:
            counterfactual, _ = run_replications(
                other, alternative, base, reps, progress=bar.update
            )
        counter_pool = other.summary()
        seconds["counterfactual"] = time.perf_counter() - clock
    seconds["total"] = sum(seconds.values())
    return StudyResult(
        scenario=scenario,
        study=table,
        power=power,
        counterfactual=counterfactual,
        sample=sample_table(pool, scenario, base),
        findings=summarize_findings(table, study.alpha),
        pool=pool.summary(),
        counterfactual_pool=counter_pool,
        sharing=_sharing(pool, draws),
        seconds=seconds,
        run_id=run_id or new_run_id(started),
        started=started,
        finished=utc_now(),
        command=list(command) if command is not None else None,
    )
