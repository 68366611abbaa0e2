"""Parameter sweeps and sensitivity analysis, from one laptop to a Dask cluster.

A scenario's ``[sweep]`` section (schema in ``scenarios/README.md``; checked with the scenario by
:mod:`sim.scenario.sweep`) names the settings to vary and how: a full grid of listed values, or
a sample between bounds drawn with SALib (Latin hypercube, Sobol/Saltelli, Morris). The layers:

:mod:`~sim.experiments.sweep.design`
    :func:`plan_sweep` validates every point and gives the :class:`SweepPlan`; :func:`run_seed`
    derives the seed of every run (point, replicate) from the scenario seed.
:mod:`~sim.experiments.sweep.engine`
    :func:`run_task` simulates every arm of one run to the horizon; :func:`run_tasks` runs many
    on a backend (:mod:`sim.experiments.backends`: serial, local processes, Dask).
:mod:`~sim.experiments.sweep.sensitivity`
    SALib's indices of every outcome (:func:`sensitivity_table`).
:mod:`~sim.experiments.sweep.result`
    :class:`SweepResult` and :func:`simulate_sweep`, which runs a sweep in memory.

``sim.sweep(...)`` (:func:`sim.api.sweep`) is the entry point: in memory, or through the
resumable checkpoint folder of ``sim.results.sweep`` (what ``painsim sweep`` uses). Tables are
identical whatever the backend, worker count or order of completion, and after a resume.

Examples
--------
>>> from sim.scenario import parse_scenario
>>> s = parse_scenario({"scenario": {"name": "demo", "years": 2}, "cohort": {"size": 20},
...                     "sweep": {"grid": {"drift.rate": [0.1, 0.4]}, "replicates": 2}})
>>> res = simulate_sweep(s, backend="serial")
>>> res.table[["point", "replicate", "arm", "drift.rate"]].to_dict("records")[1]
{'point': 0, 'replicate': 1, 'arm': 'usual care', 'drift.rate': 0.1}
"""

from sim.experiments.backends import BACKENDS, BackendError, WorkerLost
from sim.experiments.sweep.design import (
    SWEEP_KEY,
    SweepPlan,
    SweepTask,
    plan_sweep,
    run_seed,
    sample_design,
)
from sim.experiments.sweep.engine import (
    STATUS_FAILED,
    STATUS_OK,
    failed_rows,
    horizon_outcomes,
    horizon_stops,
    outcome_mean,
    run_task,
    run_tasks,
)
from sim.experiments.sweep.result import (
    SweepError,
    SweepInterrupted,
    SweepResult,
    analyze_table,
    assemble_table,
    simulate_sweep,
    summary_text,
)
from sim.experiments.sweep.sensitivity import (
    SENSITIVITY_COLUMNS,
    analyze_design,
    sensitivity_table,
)
from sim.scenario.sweep import OUTCOME_NAMES, Target, check_sweep, resolve_target

__all__ = [
    "BACKENDS",
    "OUTCOME_NAMES",
    "SENSITIVITY_COLUMNS",
    "STATUS_FAILED",
    "STATUS_OK",
    "SWEEP_KEY",
    "BackendError",
    "SweepError",
    "SweepInterrupted",
    "SweepPlan",
    "SweepResult",
    "SweepTask",
    "Target",
    "WorkerLost",
    "analyze_design",
    "analyze_table",
    "assemble_table",
    "check_sweep",
    "failed_rows",
    "horizon_outcomes",
    "horizon_stops",
    "outcome_mean",
    "plan_sweep",
    "resolve_target",
    "run_seed",
    "run_task",
    "run_tasks",
    "sample_design",
    "sensitivity_table",
    "simulate_sweep",
    "summary_text",
]
