"""Run a timing experiment (:func:`run_timing`); hold what it made (:class:`TimingResult`)."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from sim.experiments.provenance import new_run_id, utc_now
from sim.experiments.timing.engine import simulate_replicate, step_counts
from sim.experiments.timing.plan import TimingError, timing_design, timing_plan, with_parameters
from sim.experiments.timing.table import summarize, to_markdown
from sim.scenario import Scenario, TimingSection


# -- the whole experiment -------------------------------------------------------------------------
class TimingResult:
    """What a timing experiment produced; :meth:`save` writes its results folder.

    Attributes
    ----------
    scenario
        The scenario (with ``[timing]``).
    table
        ``timing.csv``: columns :data:`TABLE_COLUMNS`.
    pairs
        ``pairs.parquet``: every treated patient and twin, columns :data:`PAIR_COLUMNS` then
        ``<outcome>_treated``, ``<outcome>_usual_care``.
    parameter_sets
        The parameter set of each replicate (None: the scenario's parameters throughout).
    run_id, started, finished, command, seconds, folder
        As for a run.
    """

    kind = "timing"

    def __init__(
        self,
        scenario: Scenario,
        table: pd.DataFrame,
        pairs: pd.DataFrame,
        *,
        parameter_sets: Sequence[Mapping[str, Any]] | None = None,
        run_id: str = "",
        started: datetime | None = None,
        finished: datetime | None = None,
        command: Sequence[str] | None = None,
        seconds: Mapping[str, float] | None = None,
        folder: Path | None = None,
    ):
        self.scenario = scenario
        self.table = table
        self.pairs = pairs
        self.parameter_sets = None if parameter_sets is None else [dict(p) for p in parameter_sets]
        self.posterior: dict[str, Any] | None = None  # manifest key when drawn from a posterior
        self.run_id = run_id
        self.started = started
        self.finished = finished
        self.command = list(command) if command is not None else None
        self.seconds = dict(seconds or {})
        self.folder = folder

    def __repr__(self) -> str:
        return f"TimingResult(scenario={self.scenario.scenario.name!r}, run_id={self.run_id!r})"

    @property
    def timing(self) -> TimingSection:
        """The ``[timing]`` section."""
        return timing_design(self.scenario)

    def markdown(self) -> str:
        """The table as ``timing.md`` writes it."""
        return to_markdown(self.table)

    def save(
        self, folder: str | Path | None = None, *, results_root: str | Path = "results"
    ) -> Path:
        """Write the results folder (``timing.csv``, ``pairs.parquet``, ``timing.md``)."""
        from sim.results.timing import save_timing  # the results layer sits above experiments

        return save_timing(self, folder, results_root=results_root)

    def figures(self, folder: str | Path | None = None, **options: Any) -> Any:
        """Draw the timing figures (see :func:`sim.viz.figures.make_figures`)."""
        from sim.viz.figures import make_figures  # the figures layer sits above results

        return make_figures(self, folder, **options)


def _bar(total: int, desc: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="step", disable=not enabled, file=sys.stderr)


def run_timing(
    scenario: Scenario,
    *,
    parameter_sets: Sequence[Mapping[str, Any]] | None = None,
    progress: bool = False,
    command: Sequence[str] | None = None,
    run_id: str | None = None,
) -> TimingResult:
    """Run a timing experiment: every treatment at every start, each patient with their twin.

    Parameters
    ----------
    scenario
        A scenario with ``[timing]`` and treatment ``[[arms]]``.
    parameter_sets
        Optional: one mapping of dotted parameter names to values per replicate, applied on top
        of the scenario's ``[parameters]`` (e.g. draws from a calibration posterior). Their
        number sets the replicates, and the interval becomes a two-level bootstrap over
        replicates and pairs, so it includes parameter uncertainty. Default: the scenario's
        ``replicates`` with its own parameters, and the normal interval over pairs.
    progress
        Show a progress bar on stderr.
    command
        Command line, recorded when saved.
    run_id
        Id of the run (default: a new one).

    Raises
    ------
    sim.scenario.ScenarioError
        No ``[timing]`` section.
    TimingError
        An empty or invalid parameter set (``option`` = ``parameter_sets[i]``).

    Examples
    --------
    >>> from sim.scenario import parse_scenario
    >>> s = parse_scenario({"scenario": {"name": "demo", "years": 3, "dt_weeks": 4},
    ...     "cohort": {"size": 200, "history": "none"},
    ...     "arms": [{"name": "PRT", "interventions": [{"kind": "prt"}]}],
    ...     "timing": {"start_years_with_pain": [0], "follow_up_years": [1],
    ...                "outcomes": ["pain"]}})
    >>> res = run_timing(s)
    >>> res.table[["treatment", "start", "outcome"]].values.tolist()
    [['PRT', '0 y', 'pain']]
    >>> bool(res.table["difference"].iloc[0] < 0)
    True
    """
    timing_design(scenario)
    started, clock = utc_now(), time.perf_counter()
    run = scenario.scenario
    if parameter_sets is not None:
        parameter_sets = list(parameter_sets)
        if not parameter_sets:
            raise TimingError("empty list; give one parameter set per replicate", "parameter_sets")
        replicas = [
            with_parameters(scenario, p, f"parameter_sets[{i}]")
            for i, p in enumerate(parameter_sets)
        ]
    else:
        replicas = [scenario] * run.replicates
    generated, plan = timing_plan(scenario)
    total, _ = step_counts(generated, timing_design(scenario).follow_up_years)
    with _bar(len(replicas) * (len(plan) + 1) * total, run.slug, progress) as bar:
        pairs = pd.concat(
            [simulate_replicate(s, r, bar.update) for r, s in enumerate(replicas)],
            ignore_index=True,
        )
    simulated = time.perf_counter()
    table = summarize(
        pairs, timing_design(scenario).outcomes, two_level=parameter_sets is not None, seed=run.seed
    )
    return TimingResult(
        scenario,
        table,
        pairs,
        parameter_sets=parameter_sets,
        run_id=run_id or new_run_id(started),
        started=started,
        finished=utc_now(),
        command=command,
        seconds={"simulate": simulated - clock, "summarize": time.perf_counter() - simulated},
    )
