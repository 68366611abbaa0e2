"""The results folder of a timing experiment: write a ``TimingResult``, read it back.

``painsim timing`` and ``TimingResult.save`` write the same folder (layout in
``results/README.md``, "Timing"): ``timing.csv`` (the table), ``pairs.parquet`` (every treated
patient with their usual-care twin), ``timing.md`` and ``manifest.json`` (kind ``timing``, the
experiment's settings in its ``timing`` object). :func:`load_timing` reads it back, checking
every file it needs, so a damaged folder gives one line naming the file and what is wrong.

Examples
--------
>>> import tempfile
>>> from sim.experiments.timing import run_timing
>>> from sim.scenario import parse_scenario
>>> res = run_timing(parse_scenario({"scenario": {"name": "demo", "years": 2, "dt_weeks": 4},
...     "cohort": {"size": 50, "history": "none"},
...     "arms": [{"name": "CBT", "interventions": [{"kind": "cbt"}]}],
...     "timing": {"start_years_with_pain": [0], "follow_up_years": [0.5],
...                "outcomes": ["pain"]}}))
>>> again = load_timing(save_timing(res, tempfile.mkdtemp() + "/t"))
>>> again.kind, again.table.equals(res.table), len(again.pairs) == len(res.pairs)
('timing', True, True)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.experiments.timing import PAIR_COLUMNS, TABLE_COLUMNS, TimingResult
from sim.results.folder import TIMING_MD, TIMING_PAIRS, TIMING_TABLE, destination, staged_folder
from sim.results.manifest import read_manifest, result_manifest, write_manifest
from sim.results.run import ResultsError, parse_time, read_table, scenario_of

FLOAT32_PAIRS = ("years_with_pain_at_start", "age_at_start", "adaptation_at_start")
"""Pair columns stored as float32 besides the outcomes (times and keys stay float64)."""


def _pairs_table(pairs: pd.DataFrame) -> pa.Table:
    """``pairs.parquet``: categories for names, float32 for values, int32 for ids."""
    table = pairs.copy()
    for name in ("treatment", "start", "start_stage"):
        table[name] = table[name].astype("category")
    table["replicate"] = table["replicate"].astype("int32")
    table["patient_id"] = table["patient_id"].astype("int32")
    values = [c for c in table.columns if c not in PAIR_COLUMNS or c in FLOAT32_PAIRS]
    table[values] = table[values].astype("float32")
    return pa.Table.from_pandas(table, preserve_index=False)


def save_timing(
    result: TimingResult,
    folder: str | Path | None = None,
    *,
    results_root: str | Path = "results",
) -> Path:
    """Write a timing experiment's results folder atomically and return its path.

    Parameters
    ----------
    result
        The experiment.
    folder
        Exact folder (must be new or empty). Default ``results_root/<scenario slug>/<run id>``.
    results_root
        Parent of the default folder.

    Raises
    ------
    sim.results.folder.OutputFolderError
        The folder is not empty or cannot be created. Nothing visible is written.
    """
    scenario = result.scenario
    path = destination(folder, results_root, scenario.scenario.slug, result.run_id)
    timing = result.timing
    with staged_folder(path) as staging:
        result.table.to_csv(staging / TIMING_TABLE, index=False)
        pq.write_table(_pairs_table(result.pairs), staging / TIMING_PAIRS, compression="zstd")
        (staging / TIMING_MD).write_text(result.markdown(), encoding="utf-8")
        manifest = result_manifest(
            "timing",
            result,
            staging,
            posterior=getattr(result, "posterior", None),
            timing={
                "treatments": [arm.name for arm in scenario.arms],
                "start_years_with_pain": list(timing.start_years_with_pain),
                "start_stages": list(timing.start_stages),
                "follow_up_years": list(timing.follow_up_years),
                "outcomes": list(timing.outcomes),
                "replicates": int(result.pairs["replicate"].nunique()) if len(result.pairs) else 0,
                "rows": len(result.table),
                "pairs": len(result.pairs),
                "parameter_sets": result.parameter_sets,
                "seconds": {k: round(v, 2) for k, v in result.seconds.items()},
            },
        )
        write_manifest(staging, manifest)
    return path


def load_timing(folder: str | Path, manifest: dict[str, Any] | None = None) -> TimingResult:
    """Read a timing experiment's results folder back into a ``TimingResult``.

    Raises
    ------
    sim.results.manifest.ManifestError, ResultsError
        The folder is not a timing experiment, or a file is missing, unreadable or incomplete
        (one line naming the file).
    """
    folder = Path(folder)
    manifest = read_manifest(folder) if manifest is None else manifest
    scenario = scenario_of(folder, manifest)
    if scenario.timing is None:
        raise ResultsError(f"{folder / 'manifest.json'}: scenario: no [timing] section")
    section = manifest.get("timing") if isinstance(manifest.get("timing"), dict) else {}
    table = read_table(folder, TIMING_TABLE, TABLE_COLUMNS)[list(TABLE_COLUMNS)]
    stage = table["start_stage"].astype(object)  # CSV reads "" back as NaN
    table["start_stage"] = stage.where(stage.notna(), "").astype(str)
    rows = section.get("rows")
    if isinstance(rows, int) and len(table) != rows:
        raise ResultsError(f"{folder / TIMING_TABLE}: {len(table)} rows, the manifest says {rows}")
    pairs = read_table(folder, TIMING_PAIRS, PAIR_COLUMNS)
    for name in ("treatment", "start", "start_stage"):
        pairs[name] = pairs[name].astype(str)
    return TimingResult(
        scenario,
        table,
        pairs,
        parameter_sets=section.get("parameter_sets"),
        run_id=str(manifest.get("run_id") or folder.name),
        started=parse_time(manifest.get("started")),
        finished=parse_time(manifest.get("finished")),
        command=manifest.get("command"),
        seconds=dict(section.get("seconds") or {}),
        folder=folder,
    )
