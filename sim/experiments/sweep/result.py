"""A finished sweep in memory: :class:`SweepResult`, and :func:`simulate_sweep`, which makes one.

:func:`simulate_sweep` runs every run of a plan on a backend and collects the rows as they
complete, without writing anything; ``sim.results.sweep`` runs the same runs through a
checkpoint folder instead (what ``painsim sweep`` does). Both assemble the table and the
sensitivity indices with the functions here, so they give identical tables.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from sim.experiments.backends import check_options
from sim.experiments.provenance import new_run_id, utc_now
from sim.experiments.sweep.design import SweepPlan, plan_sweep
from sim.experiments.sweep.engine import STATUS_OK, run_tasks
from sim.experiments.sweep.sensitivity import sensitivity_table
from sim.scenario import Scenario

TABLE_NAME = "sweep.parquet"  # named in notes; the results layer owns the file names


class SweepError(ValueError):
    """A sweep cannot start or go on; ``str()`` is one line.

    Attributes
    ----------
    exit_code
        2 for bad input (nothing was run), 1 for a failure on the way (finished runs kept).
    option
        The argument at fault (``"out"``, ``"resume"``, ...), or None.
    folder
        For a failure on the way: the unfinished sweep's folder, which can be resumed.
    """

    def __init__(
        self,
        message: str,
        exit_code: int = 2,
        *,
        option: str | None = None,
        folder: Path | None = None,
    ):
        message = " ".join(message.split())
        super().__init__(f"{option}: {message}" if option else message)
        self.message, self.exit_code, self.option, self.folder = message, exit_code, option, folder

    @property
    def resumable(self) -> bool:
        """True if finished runs are kept in :attr:`folder` and the sweep can be resumed."""
        return self.folder is not None


class SweepInterrupted(Exception):
    """Ctrl-C during a sweep: finished runs are kept in ``folder``, which can be resumed."""

    def __init__(self, folder: Path, done: int, total: int):
        super().__init__(f"interrupted: {done} of {total} runs finished and kept in {folder}")
        self.folder, self.done, self.total = folder, done, total


def new_session(
    backend: str,
    workers: int,
    scheduler: str | None,
    command: Sequence[str] | None,
    already: int,
) -> dict[str, Any]:
    """What one call that worked on a sweep records: start, command, backend, runs it found."""
    return {
        "started": utc_now().isoformat(timespec="seconds"),
        "command": list(command) if command is not None else None,
        "backend": backend,
        "workers": None if scheduler else workers,
        "scheduler": scheduler,
        "runs_already_finished": already,
    }


def assemble_table(plan: SweepPlan, frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """``sweep.parquet`` from the runs' frames (any order): sorted by point, replicate, arm.

    Arms are in scenario order.
    """
    table = pd.concat(list(frames), ignore_index=True)
    order = {arm: i for i, arm in enumerate(plan.arms)}
    table = (
        table.assign(_arm=table["arm"].map(order))
        .sort_values(["point", "replicate", "_arm"], kind="stable")
        .drop(columns="_arm")
    )
    return table.reset_index(drop=True)


def failed_runs(table: pd.DataFrame) -> int:
    """Runs (point and replicate) with at least one failed arm."""
    bad = table.loc[table["status"] != STATUS_OK, ["point", "replicate"]]
    return len(bad.drop_duplicates())


def analyze_table(plan: SweepPlan, table: pd.DataFrame) -> tuple[pd.DataFrame | None, list[str]]:
    """Sensitivity indices (None for a grid) and the notes worth telling about a table."""
    notes = []
    failed = table.loc[table["status"] != STATUS_OK]
    if len(failed):
        notes.append(
            f"{failed_runs(table)} of {plan.n_runs} runs failed (first: "
            f"{failed['error'].iloc[0]}); see the status and error columns of {TABLE_NAME}"
        )
    sensitivity = None
    if plan.method != "grid":
        sensitivity, more = sensitivity_table(plan, table)
        notes.extend(more)
    return sensitivity, notes


def progress_bar(plan: SweepPlan, done: int, enabled: bool) -> Any:
    """A tqdm bar over the sweep's runs on stderr, starting at ``done``."""
    from tqdm import tqdm

    return tqdm(
        total=plan.n_runs,
        initial=done,
        unit="run",
        desc=f"{plan.scenario.scenario.slug} sweep",
        disable=not enabled,
        file=sys.stderr,
        dynamic_ncols=True,
    )


@dataclass(frozen=True, eq=False)
class SweepResult:
    """A finished sweep: its plan, table, sensitivity indices and how it was made.

    Attributes
    ----------
    plan
        The validated sweep (points, seeds, SALib sample).
    table
        ``sweep.parquet``: one row per point, replicate and arm (``results/README.md``).
    sensitivity
        ``sensitivity.csv`` for sample methods; None for a grid.
    notes
        Things worth telling (failed runs, outcomes without indices).
    run_id, started, finished, command
        Identity, UTC times and command line (None from Python) of the sweep.
    computed, kept
        Runs computed by the last call, and runs it found finished by earlier calls (resume).
    sessions
        One entry per call that worked on the sweep (start, command, backend, workers).
    folder
        The results folder the sweep was run in or loaded from; None if only in memory.

    Examples
    --------
    >>> from sim.scenario import parse_scenario
    >>> s = parse_scenario({"scenario": {"name": "demo", "years": 1}, "cohort": {"size": 10},
    ...                     "sweep": {"grid": {"drift.rate": [0.1, 0.3]}}})
    >>> res = simulate_sweep(s, backend="serial")
    >>> res.kind, res.targets, len(res.table), res.failed, res.sensitivity is None
    ('sweep', ['drift.rate'], 2, 0, True)
    """

    plan: SweepPlan
    table: pd.DataFrame
    sensitivity: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    run_id: str = ""
    started: datetime | None = None
    finished: datetime | None = None
    command: list[str] | None = None
    computed: int = 0
    kept: int = 0
    sessions: list[dict[str, Any]] = field(default_factory=list)
    folder: Path | None = None

    @property
    def kind(self) -> str:
        return "sweep"

    @property
    def scenario(self) -> Scenario:
        """The scenario, ``[sweep]`` included."""
        return self.plan.scenario

    @property
    def method(self) -> str:
        """``grid``, ``latin``, ``sobol`` or ``morris``."""
        return self.plan.method

    @property
    def targets(self) -> list[str]:
        """Names of the swept settings, in ``[sweep]`` order (columns of :attr:`table`)."""
        return self.plan.names

    @property
    def outcomes(self) -> tuple[str, ...]:
        return self.plan.outcomes

    @property
    def arms(self) -> list[str]:
        return self.plan.arms

    @property
    def horizon(self) -> float:
        """Year of the outcomes."""
        return self.plan.horizon

    @property
    def failed(self) -> int:
        """Runs with at least one failed arm."""
        return failed_runs(self.table)

    def save(
        self, folder: str | Path | None = None, *, results_root: str | Path = "results"
    ) -> Path:
        """Write the results folder ``painsim sweep`` writes; return its path.

        ``folder`` must be new or empty; default ``results_root/<scenario slug>/<run id>/``.
        """
        from sim.results.sweep import save_sweep  # the results layer sits above experiments

        return save_sweep(self, folder, results_root=results_root)

    def figures(self, folder: str | Path, **options: Any) -> Any:
        """Draw the sweep's figures into ``folder`` (see :func:`sim.viz.make_figures`)."""
        from sim.viz.figures import make_figures  # the figures layer sits above results

        return make_figures(self, folder, **options)


def simulate_sweep(
    scenario: Scenario,
    *,
    backend: str = "process",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = False,
    command: Sequence[str] | None = None,
    source: str = "<scenario>",
    run_id: str | None = None,
    posterior: dict[str, Any] | None = None,
) -> SweepResult:
    """Run a scenario's sweep in memory: every run on a backend, nothing written.

    Parameters
    ----------
    scenario
        A validated scenario with a ``[sweep]`` section.
    backend, workers, scheduler
        Where the runs go (:func:`sim.experiments.backends.execute`): ``"process"`` (local
        worker processes, default one per usable core), ``"serial"`` or ``"dask"`` (a
        LocalCluster on 127.0.0.1, or the cluster at ``scheduler``).
    progress
        Show a progress bar with ETA on stderr.
    command
        Command line, recorded when the result is saved.
    source
        Named in messages (the scenario file).
    run_id
        Id of the sweep (default: a new one from the start time).
    posterior
        Posterior draws, one per replicate (:attr:`SweepPlan.posterior`).

    Returns
    -------
    SweepResult

    Raises
    ------
    sim.experiments.backends.BackendError
        Bad backend, worker count or scheduler (before anything runs).
    sim.scenario.ScenarioError
        No ``[sweep]``, or an invalid point.
    sim.experiments.backends.WorkerLost
        A local worker process died (nothing is kept: use a results folder for long sweeps).
    KeyboardInterrupt
        Ctrl-C; the workers are stopped.
    """
    count = check_options(backend, workers, scheduler)
    plan = plan_sweep(scenario, source, posterior)
    started = utc_now()
    session = new_session(backend, count, scheduler, command, 0)
    frames = []
    with (
        closing(
            run_tasks(plan, plan.runs(), backend=backend, workers=count, scheduler=scheduler)
        ) as results,
        progress_bar(plan, 0, progress) as bar,
    ):
        for rows in results:
            frames.append(plan.frame(rows))
            bar.update()
    table = assemble_table(plan, frames)
    sensitivity, notes = analyze_table(plan, table)
    return SweepResult(
        plan=plan,
        table=table,
        sensitivity=sensitivity,
        notes=notes,
        run_id=run_id or new_run_id(started),
        started=started,
        finished=utc_now(),
        command=list(command) if command is not None else None,
        computed=len(frames),
        kept=0,
        sessions=[session],
    )


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
            lines.append(f"(first {max_rows} of {len(means)} rows; all in {TABLE_NAME})")
        lines.append("")
    if result.folder is not None:
        lines.append(f"results: {result.folder}")
    return "\n".join(lines).rstrip("\n")


__all__ = [
    "SweepError",
    "SweepInterrupted",
    "SweepResult",
    "analyze_table",
    "assemble_table",
    "failed_runs",
    "new_session",
    "progress_bar",
    "simulate_sweep",
    "summary_text",
]
