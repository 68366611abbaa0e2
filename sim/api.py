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
    cal = sim.calibrate("scenarios/calibration_natural_history.toml")  # ABC-SMC (pyabc)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.scenario import Scenario, load_scenario, parse_scenario
from sim.scenario.budget import check_connectivity_work

if TYPE_CHECKING:
    from sim.experiments.calibrate import CalibrationResult
    from sim.experiments.run import RunResult
    from sim.experiments.study import StudyResult
    from sim.experiments.sweep import SweepResult
    from sim.experiments.timing import TimingResult

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


def posterior_sets(
    posterior: Any, scenario: Scenario, count: int
) -> tuple[list[dict[str, float]], dict[str, Any]]:
    """``count`` parameter sets drawn from a posterior for ``scenario``, and its manifest key.

    ``posterior`` is a calibration results folder or a
    :class:`~sim.experiments.posterior.Posterior`. The draws are weighted and seeded from the
    scenario seed.

    Raises
    ------
    sim.results.run.ResultsError
        Not a calibration folder, or a damaged one.
    sim.experiments.posterior.PosteriorError
        Parameters the scenario cannot take (e.g. from another painsim version).
    """
    from sim.experiments.posterior import Posterior, check_posterior
    from sim.results.calibration import read_posterior

    post = posterior if isinstance(posterior, Posterior) else read_posterior(posterior)
    check_posterior(post, scenario)
    return post.sample(count, scenario.scenario.seed), post.info()


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
    posterior: str | Path | Any | None = None,
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
    posterior
        A calibration folder (or :class:`~sim.experiments.posterior.Posterior`): every
        replicate runs its own weighted draw of the calibrated parameters (seeded from the
        scenario seed), so intervals over replicates include parameter uncertainty
        (``summary.csv`` method "2.5-97.5 % of replicate means over posterior draws"); give
        tens of replicates. The manifest's ``posterior`` key names the folder.

    Returns
    -------
    sim.experiments.run.RunResult
        ``.patients``, ``.timeseries``, ``.summary`` (DataFrames), ``.compare()``, ``.save()``,
        ``.figures()``.

    Raises
    ------
    sim.scenario.ScenarioError, sim.results.run.ResultsError,
    sim.experiments.posterior.PosteriorError
        A bad scenario or override; a posterior folder that is not a calibration, is damaged,
        or holds parameters the scenario cannot take (one line each).

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
    if connectivity:
        check_connectivity_work(loaded, _source(scenario))
    sets, info = None, None
    if posterior is not None:
        sets, info = posterior_sets(posterior, loaded, loaded.scenario.replicates)
    if out is None and results_root is None:
        return simulate(
            loaded,
            connectivity=connectivity,
            progress=progress,
            command=command,
            parameter_sets=sets,
            posterior=info,
        )
    from sim.results.run import run_to_folder

    return run_to_folder(
        loaded,
        out,
        results_root=results_root or "results",
        connectivity=connectivity,
        progress=progress,
        command=list(command) if command is not None else None,
        parameter_sets=sets,
        posterior=info,
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
    posterior: str | Path | Any | None = None,
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
    posterior
        A calibration folder: replicate r of every point runs the r-th weighted draw of the
        calibrated parameters (swept settings win); the manifest's ``posterior`` key names it.
        A resumed sweep needs the same posterior.

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
    info = None
    if posterior is not None:
        if loaded.sweep is None:
            from sim.experiments.sweep import plan_sweep

            plan_sweep(loaded, source)  # the one-line "no [sweep]" error
        sets, info = posterior_sets(posterior, loaded, loaded.sweep.replicates)
        info = {**info, "parameter_sets": sets}
    if out is None and results_root is None and not resume:
        from sim.experiments.sweep import simulate_sweep

        return simulate_sweep(
            loaded, **options, progress=progress, command=command, source=source, posterior=info
        )
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
        posterior=info,
    )


def _posterior(posterior: Any) -> Any:
    """A posterior as a :class:`~sim.experiments.posterior.Posterior` (or None).

    Accepts a calibration folder, a ``Posterior``, a DataFrame of draws (optional ``weight``
    column) or the path of a CSV or Parquet file of draws.
    """
    if posterior is None:
        return None
    import pandas as pd

    from sim.experiments.posterior import Posterior

    if isinstance(posterior, Posterior):
        return posterior
    if isinstance(posterior, pd.DataFrame):
        return Posterior(_weighted(posterior))
    path = Path(posterior)
    if path.is_dir():
        from sim.results.calibration import read_posterior

        return read_posterior(path)
    from sim.scenario import ScenarioError

    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            table = pd.read_parquet(path)
        else:
            table = pd.read_csv(path)
    except FileNotFoundError:
        raise ScenarioError(str(path), "", "file not found") from None
    except Exception as exc:  # pandas raises many kinds; one line naming the file
        raise ScenarioError(str(path), "", f"cannot read ({' '.join(str(exc).split())})") from None
    return Posterior(_weighted(table), folder=str(path))


def _weighted(draws: Any) -> Any:
    """Draws with a ``weight`` column (equal weights if there was none)."""
    if "weight" in draws.columns:
        return draws.reset_index(drop=True)
    return draws.assign(weight=1.0 / max(len(draws), 1)).reset_index(drop=True)


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
    draws: int = 10,
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
    posterior, draws
        Parameter uncertainty: a calibration folder (``painsim calibrate``), a
        :class:`~sim.experiments.posterior.Posterior`, a DataFrame with one column per dotted
        parameter name (an optional ``weight`` column weights the rows) or the path of such a
        CSV or Parquet file. With ``[study] uncertainty_draws`` set, its draws feed the
        uncertainty rows of the sensitivity table (default there: a Latin hypercube over the
        plausible ranges). Otherwise the whole study runs under ``draws`` weighted draws, each
        with ``population / draws`` people and its share of the replications (see
        :func:`sim.experiments.posterior.study_under_posterior`), so detection rates include
        parameter uncertainty.

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
    post = _posterior(posterior)
    if post is not None and not loaded.study.uncertainty_draws:
        from sim.experiments.posterior import PosteriorError, study_under_posterior

        if not 1 <= draws <= loaded.study.replications:
            raise PosteriorError(
                f"must be 1 to the number of replications ({loaded.study.replications}), "
                f"got {draws}",
                option="draws",
            )
        return study_under_posterior(
            loaded,
            post,
            draws,
            progress=progress,
            command=list(command or []) or None,
            backend=backend,
            workers=workers,
            scheduler=scheduler,
        )
    return simulate_study(
        loaded,
        progress=progress,
        command=command,
        backend=backend,
        workers=workers,
        scheduler=scheduler,
        posterior=None if post is None else post.draws,
        source=source,
    )


def timing(
    scenario: ScenarioLike,
    *,
    seed: int | None = None,
    replicates: int | None = None,
    parameter_sets: Sequence[Mapping[str, Any]] | None = None,
    progress: bool = False,
    command: Sequence[str] | None = None,
    out: str | Path | None = None,
    results_root: str | Path | None = None,
    posterior: str | Path | Any | None = None,
) -> TimingResult:
    """How late is too late: every treatment at every start, each treated patient vs their twin.

    The scenario's ``[[arms]]`` are the treatments, its ``[timing]`` section the starting points
    (years lived with pain or stages), follow-ups and outcomes (``scenarios/README.md``,
    ``docs/model.md`` "Treatment timing").

    Parameters
    ----------
    scenario
        A scenario with ``[timing]``, the path of a TOML file, or a dict of its sections.
    seed, replicates
        Override the scenario's ``[scenario]`` seed and number of replicates.
    parameter_sets
        One mapping of dotted parameter names to values per replicate (e.g. posterior draws);
        sets the number of replicates, and the intervals then include parameter uncertainty
        (see :func:`sim.experiments.timing.run_timing`).
    progress
        Show a progress bar on stderr.
    command
        Command line to record in the manifest when saved.
    out, results_root
        Also write the results folder: exactly ``out``, or
        ``results_root/<scenario slug>/<run id>/``. Default: in memory only (``.save()`` later).
    posterior
        A calibration folder: ``parameter_sets`` are drawn from it, one per replicate (weighted,
        seeded from the scenario seed); not together with ``parameter_sets``.

    Returns
    -------
    sim.experiments.timing.TimingResult
        ``.table`` (``timing.csv``), ``.pairs``, ``.markdown()``, ``.save()``, ``.figures()``.

    Raises
    ------
    sim.scenario.ScenarioError
        Not a valid scenario, or no ``[timing]`` section.
    sim.results.folder.OutputFolderError
        ``out`` exists and is not empty (checked before anything runs).
    sim.experiments.timing.TimingError
        An invalid parameter set.
    """
    from sim.experiments.timing import run_timing, timing_design
    from sim.results.folder import check_destination, destination

    loaded = _with_run_settings(
        as_scenario(scenario), _source(scenario), seed=seed, replicates=replicates
    )
    timing_design(loaded, _source(scenario))
    info = None
    if posterior is not None:
        if parameter_sets is not None:
            raise ValueError("give parameter_sets or posterior, not both")
        parameter_sets, info = posterior_sets(posterior, loaded, loaded.scenario.replicates)
    if out is not None:
        check_destination(destination(out, results_root or "results", "", ""))
    result = run_timing(loaded, parameter_sets=parameter_sets, progress=progress, command=command)
    result.posterior = info
    if out is not None or results_root is not None:
        result.folder = result.save(out, results_root=results_root or "results")
    return result


def calibrate(
    scenario: ScenarioLike,
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
    """Calibrate a scenario's ``[calibration]`` parameters to its published targets.

    ABC-SMC with pyabc (``pip install -e '.[calibrate]'``); see
    :func:`sim.experiments.calibrate.calibrate` for the parameters. The pyabc database works
    beside the future results folder (``out`` or ``results_root/<slug>/``) until
    ``result.save(out, results_root=...)`` moves it into the folder.

    Returns
    -------
    sim.experiments.calibrate.CalibrationResult
        ``.posterior`` (weighted draws), ``.targets`` (fit table), ``.medians``, ``.save()``.
    """
    from sim.experiments.calibrate import calibrate as run_calibration

    return run_calibration(
        as_scenario(scenario),
        backend=backend,
        workers=workers,
        scheduler=scheduler,
        resume=resume,
        out=out,
        results_root=results_root,
        progress=progress,
        command=command,
    )


def load(folder: str | Path) -> Any:
    """Load a results folder (run, study, sweep or calibration) into its result object.

    See :func:`sim.results.io.load`.
    """
    from sim.results.io import load as load_folder

    return load_folder(folder)
