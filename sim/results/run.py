"""The results folder of a run: write a :class:`~sim.experiments.run.RunResult`, read it back.

``painsim run`` and ``RunResult.save`` write the same folder (layout in ``results/README.md``);
:func:`load_run` reads any run folder back into a ``RunResult``, checking every file it needs,
so a damaged folder gives one line naming the file and what is wrong.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.core.brain import build_brain
from sim.core.outcomes import PATIENT_COLUMNS
from sim.experiments.provenance import new_run_id
from sim.experiments.run import SUMMARY_COLUMNS, RunResult, patient_schema, simulate
from sim.results.folder import (
    CONNECTIVITY,
    MANIFEST,
    PATIENTS,
    SUMMARY,
    TIMESERIES,
    destination,
    staged_folder,
)
from sim.results.manifest import read_manifest, result_manifest, write_manifest
from sim.scenario import Scenario, ScenarioError, scenario_from_resolved

TIMESERIES_KEYS: tuple[str, ...] = ("arm", "replicate", "year", "n")
PARQUET_OPTIONS: dict[str, Any] = {
    # Dictionary-encode only the category columns: trying it on float columns (which have
    # nearly all-distinct values) made writing 5x slower for no gain in size.
    "use_dictionary": ["arm", "sex", "stage"],
    "compression": "zstd",
}
"""How ``patients.parquet`` is written (pyarrow ``ParquetWriter`` options)."""
TEXT_COLUMNS: frozenset[str] = frozenset({"arm", "sex", "stage", "outcome", "method"})
"""Columns of a run's tables that hold text; every other column must hold numbers."""


class BackgroundSink:
    """Hand each item to ``write`` on a background thread, in order, one at a time.

    ``painsim run`` writes each record time's patient rows to ``patients.parquet`` while the
    model goes on to the next record (pyarrow compresses and writes without holding Python's
    lock). At most one item is being written: a call waits for the previous write to finish
    first, so memory holds at most one more record time. A write that fails raises its error
    from the next call or from leaving the ``with`` block; if the block itself raises, its own
    error is the one that propagates (after the write under way has finished).

    Examples
    --------
    >>> written = []
    >>> with BackgroundSink(written.append) as sink:
    ...     for item in range(5):
    ...         sink(item)
    >>> written
    [0, 1, 2, 3, 4]
    """

    def __init__(self, write: Callable[[Any], object]):
        self._write = write
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sink")
        self._pending: Future | None = None

    def __call__(self, item: Any) -> None:
        self._wait()
        self._pending = self._pool.submit(self._write, item)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()  # re-raises the write's error here

    def __enter__(self) -> BackgroundSink:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            self._wait()
        except Exception:
            if kind is None:
                raise  # the block's own error wins over a failed write
        finally:
            self._pool.shutdown(wait=True)


class ResultsError(ValueError):
    """A results folder is damaged or is not of the expected kind; ``str()`` is one line."""


def _write_connectivity(path: Path, scenario: Scenario, connectivity: np.ndarray) -> None:
    """Matrices of every (arm, replicate) run, in that order, with their labels."""
    brain = build_brain(scenario.params.brain)
    arms = [arm.name for arm in scenario.arm_list]
    replicates = scenario.scenario.replicates
    np.savez_compressed(
        path,
        names=np.asarray(brain.names),
        coords=brain.coords,
        patient_id=np.arange(connectivity.shape[1]),
        connectivity=connectivity,
        arm=np.repeat(arms, replicates),
        replicate=np.tile(np.arange(replicates), len(arms)),
    )


def _write_tables(staging: Path, result: RunResult) -> None:
    """Everything of a run's folder but the patient rows."""
    scenario = result.scenario
    result.timeseries.to_parquet(staging / TIMESERIES, index=False)
    result.summary.to_csv(staging / SUMMARY, index=False)
    if result.connectivity is not None:
        _write_connectivity(staging / CONNECTIVITY, scenario, result.connectivity)
    manifest = result_manifest(
        "run",
        result,
        staging,
        posterior=result.posterior,
        more_files=[PATIENTS],
        run={
            "replicates": scenario.scenario.replicates,
            "arms": result.arms,
            "seconds": {k: round(v, 2) for k, v in result.seconds.items()},
        },
    )
    write_manifest(staging, manifest)


def save_run(
    result: RunResult,
    folder: str | Path | None = None,
    *,
    results_root: str | Path = "results",
) -> Path:
    """Write a run's results folder atomically and return its path.

    Parameters
    ----------
    result
        The run.
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
        source = result.folder / PATIENTS if result.folder is not None else None
        if (
            source is not None
            and source.is_file()
            and not isinstance(result._patients, pd.DataFrame)
        ):
            shutil.copyfile(source, staging / PATIENTS)  # never loaded: copy, don't convert
        else:
            schema = patient_schema(result.arms)
            table = pa.Table.from_pandas(result.patients, schema=schema, preserve_index=False)
            pq.write_table(table, staging / PATIENTS, **PARQUET_OPTIONS)
        _write_tables(staging, result)
    return path


def run_to_folder(
    scenario: Scenario,
    folder: str | Path | None = None,
    *,
    results_root: str | Path = "results",
    connectivity: bool = False,
    progress: bool = False,
    command: list[str] | None = None,
    parameter_sets: list[dict[str, float]] | None = None,
    posterior: dict[str, Any] | None = None,
) -> RunResult:
    """Run a scenario straight into its results folder (what ``painsim run`` does).

    ``parameter_sets`` and ``posterior``: see :func:`sim.experiments.run.simulate`.

    Patient rows are written to ``patients.parquet`` as they are recorded (one row group per
    record time), so memory holds one record time, not the whole run. The folder is staged and
    renamed into place only when complete.

    Returns
    -------
    RunResult
        With ``folder`` set; its ``patients`` are read from the folder when first used.

    Raises
    ------
    sim.results.folder.OutputFolderError
        The folder is not empty or cannot be created; checked before anything runs.
    """
    run_id = new_run_id()
    path = destination(folder, results_root, scenario.scenario.slug, run_id)
    schema = patient_schema([arm.name for arm in scenario.arm_list])
    with staged_folder(path) as staging:
        with (
            pq.ParquetWriter(staging / PATIENTS, schema, **PARQUET_OPTIONS) as writer,
            BackgroundSink(writer.write_batch) as sink,  # writing overlaps the next steps
        ):
            result = simulate(
                scenario,
                connectivity=connectivity,
                progress=progress,
                command=command,
                run_id=run_id,
                patients_sink=sink,
                parameter_sets=parameter_sets,
                posterior=posterior,
            )
        _write_tables(staging, result)
    result.attach_folder(Path(path), lambda: read_table(Path(path), PATIENTS, PATIENT_COLUMNS))
    return result


def scenario_of(folder: Path, manifest: dict[str, Any]) -> Scenario:
    """The scenario recorded in a folder's manifest.

    Raises
    ------
    ResultsError
        The recorded scenario is not valid for this painsim version.
    """
    try:
        return scenario_from_resolved(manifest["scenario"], str(folder / "manifest.json"))
    except ScenarioError as exc:
        version = manifest.get("painsim_version", "unknown")
        raise ResultsError(f"{exc} (written by painsim {version})") from None


def read_table(
    folder: Path, name: str, columns: Iterable[str] = (), numeric: Iterable[str] = ()
) -> pd.DataFrame:
    """Read a parquet or CSV table of a results folder and check its columns.

    Parameters
    ----------
    folder, name
        The folder and the table's file name (``.parquet`` or ``.csv``).
    columns
        Columns the table must have.
    numeric
        Columns that must hold numbers (or booleans).

    Raises
    ------
    ResultsError
        Missing, unreadable or truncated file, missing columns, or text where numbers belong;
        the message names the file.
    """
    path = folder / name
    if not path.is_file():
        raise ResultsError(f"{path}: missing")
    try:
        table = pd.read_parquet(path) if name.endswith(".parquet") else pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        reason = " ".join(str(exc).replace(f"'{path}'", "").replace(str(path), "").split())
        if "magic bytes" in reason:  # pyarrow's words for a cut-off or foreign file
            reason = "truncated, or not a parquet file"
        raise ResultsError(
            f"{path}: cannot be read ({exc.__class__.__name__}: {reason[:160]})"
        ) from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ResultsError(f"{path}: missing columns {', '.join(missing)}")
    for column in numeric:
        if column in table.columns and not (
            pd.api.types.is_numeric_dtype(table[column])
            or pd.api.types.is_bool_dtype(table[column])
        ):
            raise ResultsError(f"{path}: column {column} holds {table[column].dtype}, not numbers")
    return table


def check_parquet(
    folder: Path, name: str, columns: Iterable[str] = (), numeric: Iterable[str] = ()
) -> None:
    """Check a parquet table's footer, columns and column types without reading its rows.

    Raises
    ------
    ResultsError
        Missing, truncated or not parquet, missing columns, or text where numbers belong; the
        message names the file.
    """
    path = folder / name
    if not path.is_file():
        raise ResultsError(f"{path}: missing")
    try:
        metadata = pq.read_metadata(path)
        schema = metadata.schema.to_arrow_schema()
    except (OSError, ValueError):
        raise ResultsError(f"{path}: cannot be read (truncated, or not a parquet file)") from None
    if metadata.num_rows == 0:
        raise ResultsError(f"{path}: no rows")
    missing = [c for c in columns if c not in schema.names]
    if missing:
        raise ResultsError(f"{path}: missing columns {', '.join(missing)}")
    for column in numeric:
        kind = schema.field(column).type
        if not (
            pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
        ):
            raise ResultsError(f"{path}: column {column} holds {kind}, not numbers")


def _check_recorded_arms(folder: Path, manifest: dict[str, Any], arms: list[str]) -> None:
    """The manifest's ``run.arms`` (written since manifests have a kind) must be the scenario's.

    Raises
    ------
    ResultsError
        Naming ``manifest.json`` and the field.
    """
    section = manifest.get("run")
    if not isinstance(section, dict):
        return  # a folder from before the "run" section
    recorded = section.get("arms")
    path = folder / MANIFEST
    if not isinstance(recorded, list) or not recorded:
        raise ResultsError(f"{path}: run.arms: missing or empty (the arms of the run)")
    if [str(arm) for arm in recorded] != arms:
        raise ResultsError(f"{path}: run.arms: {recorded} differ from the scenario's arms {arms}")


def _numbers(columns: Iterable[str]) -> list[str]:
    return [c for c in columns if c not in TEXT_COLUMNS]


def parse_time(value: Any) -> datetime | None:
    """A manifest's ISO time as a datetime (None if absent or not a time)."""
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def load_run(folder: str | Path, manifest: dict[str, Any] | None = None) -> RunResult:
    """Read a run's results folder back into a :class:`~sim.experiments.run.RunResult`.

    Raises
    ------
    sim.results.manifest.ManifestError, ResultsError
        The folder is not a run, or a file is missing, unreadable or incomplete.
    """
    folder = Path(folder)
    manifest = read_manifest(folder) if manifest is None else manifest
    scenario = scenario_of(folder, manifest)
    check_parquet(folder, PATIENTS, PATIENT_COLUMNS, _numbers(PATIENT_COLUMNS))
    timeseries = read_table(folder, TIMESERIES, TIMESERIES_KEYS, _numbers(TIMESERIES_KEYS))
    summary = read_table(folder, SUMMARY, SUMMARY_COLUMNS, _numbers(SUMMARY_COLUMNS))
    arms = [arm.name for arm in scenario.arm_list]
    _check_recorded_arms(folder, manifest, arms)
    unknown = sorted(set(timeseries["arm"].astype(str)) - set(arms))
    if unknown:
        raise ResultsError(f"{folder / TIMESERIES}: arm '{unknown[0]}' is not in the manifest")
    connectivity = None
    if (folder / CONNECTIVITY).is_file():
        try:
            with np.load(folder / CONNECTIVITY) as archive:
                connectivity = archive["connectivity"]
        except (OSError, ValueError, KeyError) as exc:
            raise ResultsError(
                f"{folder / CONNECTIVITY}: cannot be read ({exc.__class__.__name__})"
            ) from None
    section = manifest.get("run") if isinstance(manifest.get("run"), dict) else {}
    return RunResult(
        scenario=scenario,
        patients=lambda: read_table(folder, PATIENTS, PATIENT_COLUMNS),
        timeseries=timeseries,
        summary=summary,
        connectivity=connectivity,
        run_id=str(manifest.get("run_id") or folder.name),
        started=parse_time(manifest.get("started")),
        finished=parse_time(manifest.get("finished")),
        command=manifest.get("command"),
        seconds=dict(section.get("seconds") or {}),
        folder=folder,
        posterior=manifest.get("posterior")
        if isinstance(manifest.get("posterior"), dict)
        else None,
    )


def write_comparison(folder: str | Path, table: pd.DataFrame, markdown: str) -> list[Path]:
    """Write ``comparison.csv`` and ``comparison.md`` into a run folder, each atomically.

    Returns
    -------
    list of Path
        The two files.
    """
    from sim.results.folder import COMPARISON_CSV, COMPARISON_MD, write_atomic, write_text_atomic

    folder = Path(folder)
    write_atomic(folder / COMPARISON_CSV, lambda p: table.to_csv(p, index=False))
    write_text_atomic(folder / COMPARISON_MD, markdown)
    return [folder / COMPARISON_CSV, folder / COMPARISON_MD]
