"""painsim's Python API: run, study and sweep a scenario, and load any results folder back.

Everything the ``painsim`` command does is a call here, so a notebook can do the same, in
memory or with folders (``docs/python.md`` walks through it)::

    import sim
    res = sim.run("scenarios/prevention.toml", seed=4, replicates=2)   # in memory
    res.patients, res.timeseries, res.summary              # pandas DataFrames
    res.compare(reference="usual care", years=[20, 30])    # the comparison table
    res.save("results/prevention/mine")                    # the folder `painsim run` writes
    again = sim.load("results/prevention/mine")            # any run, study or sweep folder
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.scenario import Scenario, load_scenario, parse_scenario
from sim.scenario.budget import check_connectivity_work

if TYPE_CHECKING:
    from sim.experiments.run import RunResult

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
) -> RunResult:
    """Run a scenario in memory: every arm and replicate, summarized.

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
    if connectivity:
        check_connectivity_work(loaded, _source(scenario))
    return simulate(loaded, connectivity=connectivity, progress=progress, command=command)


def load(folder: str | Path) -> Any:
    """Load a results folder (run, study or sweep) into its result object.

    See :func:`sim.results.io.load`.
    """
    from sim.results.io import load as load_folder

    return load_folder(folder)
