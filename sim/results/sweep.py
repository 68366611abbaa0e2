"""The results folder of a sweep: a resumable checkpoint store while it runs, then a folder.

A sweep may take hours, so :func:`run_sweep_to_folder` (what ``painsim sweep`` runs) keeps its
work instead of staging it: it works in the hidden folder ``.<run id>.partial`` beside its
destination, holds ``.lock`` there, records the plan and one entry per session in
``sweep.json``, and writes every finished run atomically to ``points/<point>-<replicate>.parquet``
as it completes. At the end it writes ``sweep.parquet``, ``sensitivity.csv`` (sample methods) and
``manifest.json``, flushes everything and renames the folder to ``<run id>``, so a folder without
a leading dot is always a complete sweep. An interrupted sweep (Ctrl-C, SIGKILL, a dead worker, a
full disk) keeps its finished runs and continues with ``resume=True`` without repeating them,
ending with the table an uninterrupted sweep gives. Layout in ``results/README.md``.

:func:`save_sweep` writes the same finished folder from an in-memory
:class:`~sim.experiments.sweep.SweepResult` (``sim.sweep(...)`` without ``out``), and
:func:`load_sweep` reads any sweep folder back. Nothing here draws figures: the caller does, on
the finished folder (``painsim sweep --figures``, ``painsim figures``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager, suppress
from pathlib import Path
from typing import Any

import pandas as pd

import sim
from sim.experiments.backends import BackendError, WorkerLost, check_options
from sim.experiments.provenance import new_run_id, utc_now
from sim.experiments.sweep.design import RUN_STREAM, SWEEP_KEY, SweepPlan, plan_sweep
from sim.experiments.sweep.engine import run_tasks
from sim.experiments.sweep.result import (
    SweepError,
    SweepInterrupted,
    SweepResult,
    analyze_table,
    assemble_table,
    new_session,
    progress_bar,
)
from sim.experiments.sweep.sensitivity import SENSITIVITY_COLUMNS
from sim.results.folder import (
    MANIFEST,
    SENSITIVITY,
    SWEEP_TABLE,
    check_destination,
    destination,
    fsync_tree,
    staged_folder,
    write_atomic,
    write_text_atomic,
)
from sim.results.manifest import build_manifest, read_manifest
from sim.results.run import ResultsError, parse_time, read_table, scenario_of
from sim.scenario import Scenario, ScenarioError

PARTIAL_SUFFIX = ".partial"
PLAN_FILE = "sweep.json"
POINTS_DIR = "points"
LOCK_FILE = ".lock"
TABLE_KEYS: tuple[str, ...] = (
    "point",
    "replicate",
    "arm",
    "seed",
    "year",
    "run_seconds",
    "status",
    "error",
)
"""Columns every ``sweep.parquet`` has besides the swept settings and the outcomes."""
_POINT_FILE = re.compile(r"^(\d+)-(\d+)\.parquet$")


# -- the hidden work folder ---------------------------------------------------------------------
def partial_folder(destination: Path) -> Path:
    """The hidden folder a sweep works in until it is complete: ``.<name>.partial`` beside it."""
    return destination.parent / f".{destination.name}{PARTIAL_SUFFIX}"


def destination_of(partial: Path) -> Path:
    """The folder an unfinished sweep becomes when it is complete."""
    return partial.parent / partial.name[1 : -len(PARTIAL_SUFFIX)]


def finished_runs(partial: Path) -> set[tuple[int, int]]:
    """(point, replicate) of every run already written in ``partial/points``."""
    points = partial / POINTS_DIR
    if not points.is_dir():
        return set()
    found = (_POINT_FILE.match(p.name) for p in points.iterdir())
    return {(int(m[1]), int(m[2])) for m in found if m}


def read_plan(partial: Path) -> dict[str, Any] | None:
    """``sweep.json`` of an unfinished sweep (None if missing or unreadable)."""
    try:
        return json.loads((partial / PLAN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def find_partial(root: Path, fingerprint: str) -> Path | None:
    """The newest unfinished sweep of this exact scenario under ``root``."""
    if not root.is_dir():
        return None
    candidates = sorted(p for p in root.glob(f".*{PARTIAL_SUFFIX}") if p.is_dir())
    matching = [p for p in candidates if (read_plan(p) or {}).get("fingerprint") == fingerprint]
    return matching[-1] if matching else None


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder/.lock`` so two sweeps never share a folder.

    Raises
    ------
    SweepError
        Another process holds the lock.
    """
    try:
        import fcntl
    except ImportError:  # Windows: no locking
        yield
        return
    with (folder / LOCK_FILE).open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise SweepError(f"{folder}: another painsim sweep is working on this folder") from None
        yield


def _plan_text(record: Mapping[str, Any]) -> str:
    return json.dumps(record, indent=1) + "\n"


def _new_partial(plan: SweepPlan, destination: Path, session: dict[str, Any], run_id: str) -> Path:
    """Create the hidden work folder with its plan, atomically (staged, then renamed)."""
    partial = partial_folder(destination)
    if partial.exists():
        raise SweepError(
            f"{partial}: an unfinished sweep is already there; resume it or delete it",
            folder=partial,
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
    try:
        with staged_folder(partial) as staging:
            (staging / PLAN_FILE).write_text(_plan_text(record), encoding="utf-8")
    except OSError as exc:  # e.g. a full disk; the staging folder is gone again
        raise SweepError(f"{partial.parent}: cannot write ({_reason(exc)})", 1) from None
    return partial


def _resumable(plan: SweepPlan, out: Path | None, results_root: Path) -> Path:
    """The unfinished sweep to continue: beside ``out``, or the newest of this scenario."""
    fingerprint = plan.fingerprint()
    if out is None:
        root = results_root / plan.scenario.scenario.slug
        found = find_partial(root, fingerprint)
        if found is None:
            raise SweepError(
                f"{plan.source}: no unfinished sweep of this scenario under {root} "
                f"(hidden .<run id>{PARTIAL_SUFFIX} folders); start a new one instead",
                option="resume",
            )
        return Path(os.path.abspath(found))
    partial = partial_folder(Path(os.path.abspath(out)))
    if not partial.is_dir():
        raise SweepError(
            f"{out}: no unfinished sweep to resume (looked for {partial})", option="resume"
        )
    if (read_plan(partial) or {}).get("fingerprint") != fingerprint:
        raise SweepError(
            f"{partial}: that sweep was made from a different scenario, sweep or "
            "painsim version; resume it with the same scenario file",
            option="resume",
        )
    return partial


def _add_session(partial: Path, session: dict[str, Any]) -> None:
    record = read_plan(partial) or {}
    record.setdefault("sessions", []).append(session)
    write_text_atomic(partial / PLAN_FILE, _plan_text(record))


def write_run(partial: Path, plan: SweepPlan, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write one finished run to ``points/<point>-<replicate>.parquet``, atomically."""
    points = partial / POINTS_DIR
    points.mkdir(exist_ok=True)
    frame = plan.frame(rows)
    name = f"{int(rows[0]['point']):07d}-{int(rows[0]['replicate']):04d}.parquet"
    write_atomic(points / name, lambda p: frame.to_parquet(p, index=False))


def read_runs(partial: Path, plan: SweepPlan) -> pd.DataFrame:
    """``sweep.parquet`` from the run files of an unfinished sweep (see ``assemble_table``)."""
    points = partial / POINTS_DIR
    files = sorted(p for p in points.iterdir() if _POINT_FILE.match(p.name))
    return assemble_table(plan, (pd.read_parquet(p) for p in files))


# -- finished folders ---------------------------------------------------------------------------
def sweep_manifest(result: SweepResult, files: Sequence[str]) -> dict[str, Any]:
    """``manifest.json`` of a sweep folder: the core keys, then ``sweep`` (results/README.md)."""
    plan, sweep = result.plan, result.plan.sweep
    first = result.sessions[0] if result.sessions else {}
    return build_manifest(
        "sweep",
        run_id=result.run_id,
        seed=plan.scenario.scenario.seed,
        scenario=plan.scenario.resolved(),
        started=first.get("started", result.started),
        finished=result.finished,
        command=first.get("command", result.command),
        files=files,
        sweep={
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
            "failed_runs": result.failed,
            "common_random_numbers": sweep.common_random_numbers,
            "seed_rule": f"SeedSequence(seed, spawn_key=({SWEEP_KEY}, {RUN_STREAM}, "
            f"{'0' if sweep.common_random_numbers else 'point'}, replicate)), "
            "first 64 bits >> 1",
            "notes": list(result.notes),
            "sessions": list(result.sessions),
        },
        **({"posterior": plan.posterior} if plan.posterior is not None else {}),
    )


def _write_results(folder: Path, result: SweepResult) -> None:
    """Write the tables and the manifest of a finished sweep into ``folder``, each atomically."""
    files = [SWEEP_TABLE]
    write_atomic(folder / SWEEP_TABLE, lambda p: result.table.to_parquet(p, index=False))
    if result.sensitivity is not None:
        sensitivity = result.sensitivity
        write_atomic(folder / SENSITIVITY, lambda p: sensitivity.to_csv(p, index=False))
        files.append(SENSITIVITY)
    manifest = sweep_manifest(result, files)
    write_text_atomic(folder / MANIFEST, json.dumps(manifest, indent=2) + "\n")


def save_sweep(
    result: SweepResult,
    folder: str | Path | None = None,
    *,
    results_root: str | Path = "results",
) -> Path:
    """Write a finished sweep's results folder atomically and return its path.

    Parameters
    ----------
    result
        The sweep (e.g. from ``sim.sweep(...)`` in memory).
    folder
        Exact folder (must be new or empty). Default ``results_root/<scenario slug>/<run id>``.
    results_root
        Parent of the default folder.

    Raises
    ------
    sim.results.folder.OutputFolderError
        The folder is not empty or cannot be created. Nothing visible is written.
    """
    path = destination(folder, results_root, result.scenario.scenario.slug, result.run_id)
    with staged_folder(path) as staging:
        _write_results(staging, result)
    return path


def load_sweep(folder: str | Path, manifest: dict[str, Any] | None = None) -> SweepResult:
    """Read a sweep's results folder back into a :class:`~sim.experiments.sweep.SweepResult`.

    The plan is made again from the recorded scenario (same points, seeds and sample).

    Raises
    ------
    sim.results.manifest.ManifestError, ResultsError
        Not a sweep folder, or a file is missing, unreadable or incomplete.
    """
    folder = Path(folder)
    manifest = read_manifest(folder) if manifest is None else manifest
    scenario = scenario_of(folder, manifest)
    try:
        posterior = (
            manifest.get("posterior") if isinstance(manifest.get("posterior"), dict) else None
        )
        plan = plan_sweep(scenario, str(folder / MANIFEST), posterior)
    except ScenarioError as exc:
        raise ResultsError(str(exc)) from None
    table = read_table(folder, SWEEP_TABLE, [*TABLE_KEYS, *plan.names, *plan.outcomes])
    expected = plan.n_runs * len(plan.arms)
    if len(table) != expected:
        raise ResultsError(
            f"{folder / SWEEP_TABLE}: {len(table)} rows, the sweep has {expected} "
            "(points x replicates x arms)"
        )
    sensitivity = None
    if plan.method != "grid":
        sensitivity = read_table(folder, SENSITIVITY, SENSITIVITY_COLUMNS)
    section = manifest.get("sweep") if isinstance(manifest.get("sweep"), dict) else {}
    sessions = [s for s in section.get("sessions") or manifest.get("sessions") or [] if s]
    kept = int((sessions[-1] if sessions else {}).get("runs_already_finished") or 0)
    return SweepResult(
        plan=plan,
        table=table,
        sensitivity=sensitivity,
        notes=[str(note) for note in section.get("notes") or []],
        run_id=str(manifest.get("run_id") or folder.name),
        started=parse_time(manifest.get("started")),
        finished=parse_time(manifest.get("finished")),
        command=manifest.get("command"),
        computed=plan.n_runs - kept,
        kept=kept,
        sessions=sessions,
        folder=folder,
    )


# -- running through the store ------------------------------------------------------------------
def _reason(exc: OSError) -> str:
    return exc.strerror or " ".join(str(exc).split())


@contextmanager
def _kept_on_failure(partial: Path, plan: SweepPlan) -> Iterator[None]:
    """Turn a failure on the way (a dead worker, a full disk) into a resumable SweepError."""
    try:
        yield
    except WorkerLost as exc:
        kept = len(finished_runs(partial) & set(plan.runs()))
        raise SweepError(
            f"{exc}; {kept} of {plan.n_runs} runs are kept in {partial}", 1, folder=partial
        ) from None
    except OSError as exc:  # writing a run, the tables or the manifest (e.g. no space left)
        kept = len(finished_runs(partial) & set(plan.runs()))
        raise SweepError(
            f"cannot go on ({_reason(exc)}); {kept} of {plan.n_runs} runs are kept in {partial}",
            1,
            folder=partial,
        ) from None


def _finish(plan: SweepPlan, partial: Path, result: SweepResult) -> Path:
    """Write tables and manifest into ``partial``, flush, then rename it to its final name."""
    _write_results(partial, result)
    fsync_tree(partial)
    final = destination_of(partial)
    os.replace(partial, final)
    # The work files are not part of the result; a sweep killed here leaves them, harmlessly.
    shutil.rmtree(final / POINTS_DIR, ignore_errors=True)
    for name in (PLAN_FILE, LOCK_FILE):
        (final / name).unlink(missing_ok=True)
    return final


def run_sweep_to_folder(
    scenario: Scenario,
    *,
    backend: str = "process",
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    out: str | Path | None = None,
    results_root: str | Path = "results",
    progress: bool = False,
    command: Sequence[str] | None = None,
    source: str = "<scenario>",
    posterior: dict[str, Any] | None = None,
) -> SweepResult:
    """Run a scenario's sweep through its checkpoint folder and return the finished result.

    ``posterior``: one parameter set per replicate (``SweepPlan.posterior``); a resumed sweep
    needs the same one.

    Parameters
    ----------
    scenario
        A validated scenario with a ``[sweep]`` section.
    backend, workers, scheduler
        Where the runs go (``sim.experiments.backends``): ``"process"``, ``"serial"`` or
        ``"dask"`` (a LocalCluster on 127.0.0.1, or the cluster at ``scheduler``).
    resume
        Continue the unfinished sweep of this scenario (beside ``out``, or the newest under
        ``results_root/<slug>/``) instead of starting a new one.
    out
        Exact results folder (must not exist or be empty). Default:
        ``results_root/<scenario slug>/<run id>/``.
    results_root
        Where results folders are made when ``out`` is not given.
    progress
        Show a progress bar with ETA on stderr.
    command
        Command line to record in the manifest.
    source
        Named in messages (the scenario file).

    Returns
    -------
    SweepResult
        With ``folder`` set to the finished results folder.

    Raises
    ------
    sim.experiments.backends.BackendError
        Bad backend, worker count or scheduler; an unreachable scheduler. Nothing is written.
    sim.scenario.ScenarioError
        No ``[sweep]``, or an invalid point. Nothing is written.
    sim.results.folder.OutputFolderError, SweepError
        ``out`` not empty, nothing to resume, the folder is in use (``exit_code`` 2); a dead
        worker process or a write that failed (``exit_code`` 1, finished runs kept in
        ``SweepError.folder``, resumable).
    SweepInterrupted
        Ctrl-C: workers stopped, finished runs kept, resumable.
    """
    count = check_options(backend, workers, scheduler)
    plan = plan_sweep(scenario, source, posterior)
    new_folders: list[Path] = []  # removed again if the sweep cannot start
    if resume:
        partial = _resumable(plan, None if out is None else Path(out), Path(results_root))
        run_id = str((read_plan(partial) or {}).get("run_id") or destination_of(partial).name)
    else:
        run_id = new_run_id(utc_now())
        final = Path(
            os.path.abspath(destination(out, results_root, plan.scenario.scenario.slug, run_id))
        )
        check_destination(final)
        new_folders = [p for p in (final.parent, final.parent.parent) if not p.exists()]
        session = new_session(backend, count, scheduler, command, 0)
        partial = _new_partial(plan, final, session, run_id)
        new_folders.insert(0, partial)
    computed = 0
    try:
        with locked(partial), _kept_on_failure(partial, plan):
            done = finished_runs(partial) & set(plan.runs())
            if resume:
                _add_session(partial, new_session(backend, count, scheduler, command, len(done)))
            todo = [run for run in plan.runs() if run not in done]
            results = run_tasks(plan, todo, backend=backend, workers=count, scheduler=scheduler)
            # The bar closes first, so its last line is not stretched by the cluster shutdown.
            with closing(results), progress_bar(plan, len(done), progress) as bar:
                for rows in results:
                    write_run(partial, plan, rows)
                    computed += 1
                    bar.update()
            table = read_runs(partial, plan)
            sensitivity, notes = analyze_table(plan, table)
            record = read_plan(partial) or {}
            sessions = list(record.get("sessions") or [])
            first = sessions[0] if sessions else {}
            result = SweepResult(
                plan=plan,
                table=table,
                sensitivity=sensitivity,
                notes=notes,
                run_id=run_id,
                started=parse_time(first.get("started")),
                finished=utc_now(),
                command=first.get("command"),
                computed=computed,
                kept=len(done),
                sessions=sessions,
            )
            folder = _finish(plan, partial, result)
    except KeyboardInterrupt:
        kept = len(finished_runs(partial) & set(plan.runs()))
        raise SweepInterrupted(partial, kept, plan.n_runs) from None
    except (SweepError, BackendError) as exc:
        resumable = isinstance(exc, SweepError) and exc.resumable
        if new_folders and not resumable and not finished_runs(partial):
            # Could not start (e.g. no Dask scheduler at that address): leave nothing behind.
            shutil.rmtree(new_folders[0], ignore_errors=True)
            for empty in new_folders[1:]:
                with suppress(OSError):
                    empty.rmdir()
        raise
    return dataclasses.replace(result, folder=folder)


__all__ = [
    "LOCK_FILE",
    "PARTIAL_SUFFIX",
    "PLAN_FILE",
    "POINTS_DIR",
    "TABLE_KEYS",
    "destination_of",
    "find_partial",
    "finished_runs",
    "load_sweep",
    "locked",
    "partial_folder",
    "read_plan",
    "read_runs",
    "run_sweep_to_folder",
    "save_sweep",
    "sweep_manifest",
    "write_run",
]
