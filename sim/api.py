"""painsim's Python API: run, study and sweep a scenario, and load any results folder back.

Everything the ``painsim`` command does is a call here, so a notebook can do the same, in
memory or with folders (``docs/python.md`` walks through it)::

    import sim
    res = sim.run("scenarios/prevention.toml", seed=4, replicates=2)   # in memory
    res.patients, res.timeseries, res.summary              # pandas DataFrames
    res.compare(reference="usual care", years=[20, 30])    # the comparison table
    res.save("results/prevention/mine")                    # the folder `painsim run` writes
    again = sim.load("results/prevention/mine")            # any run, study or sweep folder

    study = sim.study("scenarios/heukamp2024.toml", replications=20)
    study.findings, study.replications, study.power        # pandas DataFrames
    study.save()                                           # the folder `painsim study` writes
    sw = sim.sweep("scenarios/sweep_drift_coping.toml")    # a sweep, in memory
    sw.table, sw.sensitivity                               # sweep.parquet, sensitivity.csv
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.scenario import Scenario, load_scenario, parse_scenario

if TYPE_CHECKING:
    from sim.experiments.run import RunResult
    from sim.experiments.study import StudyResult
    from sim.experiments.sweep import SweepResult

ScenarioLike = Scenario | str | Path | Mapping[str, Any]


def as_scenario(scenario: ScenarioLike) -> Scenario:
    """A validated scenario from a :class:`~sim.scenario.Scenario`, a TOML path or a dict.

    Raises
    ------
    sim.scenario.ScenarioError
        The file or dict is not a valid scenario (one-line message naming file and field).
    """
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, Mapping):
        return parse_scenario(dict(scenario), "<dict>")
    return load_scenario(scenario)


def _with_run_settings(scenario: Scenario, source: str, **changes: Any) -> Scenario:
    from sim.experiments.run import override_run

    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        return scenario
    where = ", ".join(f"{k}={v!r}" for k, v in changes.items())
    return override_run(scenario, changes, f"{source} ({where})")


def _source(scenario: ScenarioLike) -> str:
    return str(scenario) if isinstance(scenario, str | Path) else "<scenario>"


def run(
    scenario: ScenarioLike,
    *,
    seed: int | None = None,
    replicates: int | None = None,
    connectivity: bool = False,
    progress: bool = False,
    command: Sequence[str] | None = None,
    out: str | Path | None = None,
    results_root: str | Path | None = None,
) -> RunResult:
    """Run a scenario: every arm and replicate, summarized; in memory or into a folder.

    Parameters
    ----------
    scenario
        A scenario, the path of a TOML file, or a dict of its sections.
    seed, replicates
        Override the scenario's ``[scenario]`` seed and number of replicates.
    connectivity
        Keep every patient's connectivity at the horizon (``connectivity.npz`` when saved).
    progress
        Show a progress bar on stderr.
    command
        Command line to record in the manifest when saved (the CLI passes its own).
    out, results_root
        Write the results folder while running, as ``painsim run`` does: exactly ``out``, or
        ``results_root/<scenario slug>/<run id>/``. Patient rows then go to disk as they are
        recorded instead of being held in memory. Default: in memory only (``.save()`` later).

    Returns
    -------
    sim.experiments.run.RunResult
        ``.patients``, ``.timeseries``, ``.summary`` (DataFrames), ``.compare()``, ``.save()``,
        ``.figures()``.

    Examples
    --------
    >>> res = run({"scenario": {"name": "demo", "years": 2}, "cohort": {"size": 30}}, seed=3)
    >>> res.scenario.scenario.seed, res.summary["outcome"].iloc[0]
    (3, 'dmn_perturbation')
    """
    from sim.experiments.run import simulate

    loaded = _with_run_settings(
        as_scenario(scenario), _source(scenario), seed=seed, replicates=replicates
    )
    if out is None and results_root is None:
        return simulate(loaded, connectivity=connectivity, progress=progress, command=command)
    from sim.results.run import run_to_folder

    return run_to_folder(
        loaded,
        out,
        results_root=results_root or "results",
        connectivity=connectivity,
        progress=progress,
        command=list(command) if command is not None else None,
    )


def sweep(
    scenario: ScenarioLike,
    *,
    backend: str = "process",
    workers: int | None = None,
    scheduler: str | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    results_root: str | Path | None = None,
    progress: bool = False,
    command: Sequence[str] | None = None,
) -> SweepResult:
    """Run a scenario's ``[sweep]``: in memory, or through a resumable results folder.

    Parameters
    ----------
    scenario
        A scenario with a ``[sweep]`` section, the path of a TOML file, or a dict.
    backend
        ``"process"`` (local worker processes), ``"serial"`` (this process) or ``"dask"`` (a
        LocalCluster on 127.0.0.1, or the running cluster at ``scheduler``).
    workers
        Local worker processes, 1 to 1024 (default: the usable cores).
    scheduler
        Address of a running Dask scheduler, e.g. ``"tcp://10.0.0.5:8786"`` (``dask`` only).
    out
        Run through the checkpoint folder that becomes this results folder (must be new or
        empty): every finished run is kept as it completes, so an interrupted sweep can be
        resumed (``painsim sweep`` always does this).
    resume
        Continue the unfinished sweep of this scenario (beside ``out``, or the newest under
        ``results_root/<scenario slug>/``) without repeating finished runs.
    results_root
        Run through a folder ``results_root/<scenario slug>/<run id>/`` (when ``out`` is not
        given; ``"results"`` with ``resume``). With neither ``out``, ``results_root`` nor
        ``resume``, the sweep runs in memory: nothing is written, results are collected as they
        complete, and ``.save()`` writes the same folder afterwards.
    progress
        Show a progress bar with ETA on stderr.
    command
        Command line to record in the manifest (the CLI passes its own).

    Returns
    -------
    sim.experiments.sweep.SweepResult
        ``.table`` (``sweep.parquet``), ``.sensitivity`` (``sensitivity.csv``, None for a
        grid), ``.notes``, ``.plan``, ``.folder`` (None in memory), ``.save()``, ``.figures()``.

    Raises
    ------
    sim.scenario.ScenarioError
        Not a valid sweep scenario (no ``[sweep]``, or an invalid point).
    sim.experiments.backends.BackendError
        Bad ``backend``, ``workers`` or ``scheduler`` (``.option`` names it).
    sim.experiments.sweep.SweepError, sim.experiments.sweep.SweepInterrupted
        Folder sweeps only: see :func:`sim.results.sweep.run_sweep_to_folder`.

    Examples
    --------
    >>> res = sweep({"scenario": {"name": "demo", "years": 2}, "cohort": {"size": 20},
    ...              "sweep": {"grid": {"drift.rate": [0.1, 0.4]}, "outcomes": ["pain"]}},
    ...             backend="serial")
    >>> res.kind, res.targets, res.folder, res.table[["point", "arm", "drift.rate"]].shape
    ('sweep', ['drift.rate'], None, (2, 3))
    """
    loaded, source = as_scenario(scenario), _source(scenario)
    options = {"backend": backend, "workers": workers, "scheduler": scheduler}
    if out is None and results_root is None and not resume:
        from sim.experiments.sweep import simulate_sweep

        return simulate_sweep(loaded, **options, progress=progress, command=command, source=source)
    from sim.results.sweep import run_sweep_to_folder

    return run_sweep_to_folder(
        loaded,
        **options,
        resume=resume,
        out=out,
        results_root="results" if results_root is None else results_root,
        progress=progress,
        command=command,
        source=source,
    )


def _posterior(posterior: Any) -> Any:
    """A posterior as a DataFrame: given as one, or read from a CSV or Parquet file."""
    if posterior is None or not isinstance(posterior, str | Path):
        return posterior
    import pandas as pd

    from sim.scenario import ScenarioError

    path = Path(posterior)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except FileNotFoundError:
        raise ScenarioError(str(path), "", "file not found") from None
    except Exception as exc:  # pandas raises many kinds; one line naming the file
        raise ScenarioError(str(path), "", f"cannot read ({' '.join(str(exc).split())})") from None


def study(
    scenario: ScenarioLike,
    *,
    seed: int | None = None,
    replications: int | None = None,
    progress: bool = False,
    command: Sequence[str] | None = None,
    backend: str = "process",
    workers: int | None = None,
    scheduler: str | None = None,
    posterior: Any = None,
) -> StudyResult:
    """Run the virtual study of a scenario's ``[study]`` section, in memory.

    Parameters
    ----------
    scenario
        A scenario with a ``[study]`` section, the path of a TOML file, or a dict of sections.
    seed
        Override the scenario's ``[scenario]`` seed.
    replications
        Override ``[study] replications``.
    progress
        Show progress bars on stderr.
    command
        Command line to record in the manifest when saved (the CLI passes its own).
    backend
        Where population bands and replications run: ``"process"`` (local worker processes),
        ``"serial"`` (this process) or ``"dask"`` (a LocalCluster on 127.0.0.1, or the running
        cluster at ``scheduler``). Every backend gives the same tables; one process worker runs
        in this process.
    workers
        Local worker processes, 1 to 1024 (default: the usable cores).
    scheduler
        Address of a running Dask scheduler (``dask`` only).
    posterior
        Parameter draws of a calibration for the uncertainty analysis (``[study]
        uncertainty_draws``): a DataFrame with one column per dotted parameter name (an
        optional ``weight`` column weights the rows), or the path of such a CSV or Parquet
        file. Default: a Latin hypercube over the plausible ranges.

    Returns
    -------
    sim.experiments.study.StudyResult
        ``.findings`` (detection rates), ``.replications`` (one row per replication, also
        ``.study``), ``.power``, ``.counterfactual``, ``.sample`` (DataFrames), ``.save()``,
        ``.figures()``.

    Raises
    ------
    sim.scenario.ScenarioError
        Not a valid scenario, no ``[study]`` section, an unknown index, a bad override or a
        bad posterior (one line).
    sim.experiments.backends.BackendError
        Bad ``backend``, ``workers`` or ``scheduler`` (``.option`` names it).
    sim.experiments.study.PoolTooSmallError
        The study population holds too few candidates for a group (raise ``population``).

    Examples
    --------
    >>> res = study({"scenario": {"name": "tiny"}, "study": {"population": 2000, "age_max": 30,
    ...     "n_healthy": 4, "n_subacute": 4, "n_chronic": 4, "power_multipliers": [],
    ...     "counterfactual": False}}, seed=3, replications=2, backend="serial")
    >>> res.kind, len(res.replications), res.scenario.scenario.seed
    ('study', 2, 3)
    """
    from sim.experiments.backends import check_options
    from sim.experiments.study import check_indices, override_study, simulate_study

    source = _source(scenario)
    loaded = as_scenario(scenario)
    check_indices(loaded, source)
    check_options(backend, workers, scheduler)
    loaded = _with_run_settings(loaded, source, seed=seed)
    if replications is not None:
        where = f"{source} (replications={replications!r})"
        loaded = override_study(loaded, {"replications": replications}, where)
    return simulate_study(
        loaded,
        progress=progress,
        command=command,
        backend=backend,
        workers=workers,
        scheduler=scheduler,
        posterior=_posterior(posterior),
        source=source,
    )


def load(folder: str | Path) -> Any:
    """Load a results folder (run, study or sweep) into its result object.

    See :func:`sim.results.io.load`.
    """
    from sim.results.io import load as load_folder

    return load_folder(folder)
