"""The results folder of a study: write a :class:`~sim.experiments.study.StudyResult`, read it back.

``painsim study`` and ``StudyResult.save`` write the same folder (layout in ``results/README.md``,
"Studies"); :func:`load_study` reads any study folder back into a ``StudyResult``, checking every
file it needs, so a damaged folder gives one line naming the file and what is wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from sim.experiments.study import (
    ADDED_STUDY_COLUMNS,
    FINDINGS,
    FINDINGS_COLUMNS,
    STUDY_COLUMNS,
    SUMMARY_COLUMNS,
    VARIANT_COLUMNS,
    WINDOW_COLUMNS,
    StudyResult,
)
from sim.experiments.study.uncertainty import SET_COLUMNS
from sim.results.folder import (
    COUNTERFACTUAL,
    FINDINGS_CSV,
    FINDINGS_MD,
    LONGITUDINAL,
    LONGITUDINAL_REPLICATIONS,
    PARAMETER_SETS,
    POWER,
    SAMPLE,
    STUDY_TABLE,
    VARIANT_REPLICATIONS,
    VARIANTS,
    destination,
    staged_folder,
)
from sim.results.manifest import read_manifest, result_manifest, write_manifest
from sim.results.run import ResultsError, parse_time, read_table, scenario_of

SAMPLE_COLUMNS: tuple[str, ...] = (
    "replication",
    "person",
    "group",
    "age",
    "years_with_pain",
    "episodes",
    "pain",
    "coping",
    "coping_score",
    "adaptation",
    "dmn_perturbation",
)
"""Columns of ``sample.csv``."""
POWER_COLUMNS: tuple[str, ...] = ("multiplier", *STUDY_COLUMNS)
"""Columns of ``power.csv``."""
REPLICATION_COLUMNS: tuple[str, ...] = ("analysis", "variant", *STUDY_COLUMNS)
"""Columns of ``variant_replications.csv``."""
BASE_STUDY_COLUMNS: tuple[str, ...] = tuple(
    c for c in STUDY_COLUMNS if c not in ADDED_STUDY_COLUMNS
)
"""Columns every study folder has (folders written before the added ones lack those)."""


def save_study(
    result: StudyResult,
    folder: str | Path | None = None,
    *,
    results_root: str | Path = "results",
) -> Path:
    """Write a study's results folder atomically and return its path.

    The folder holds ``study.csv``, ``sample.csv``, ``findings.csv``, ``findings.md``,
    ``power.csv`` (with power multipliers), ``counterfactual.csv`` (with the counterfactual),
    ``variants.csv`` and ``variant_replications.csv`` (every version of the study),
    ``longitudinal.csv`` and ``longitudinal_replications.csv`` (with the longitudinal design),
    ``parameter_sets.csv`` (with the uncertainty analysis) and ``manifest.json`` (kind
    ``study``; the study's settings in its ``study`` object).

    Parameters
    ----------
    result
        The study.
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
    with staged_folder(path) as staging:
        result.study.to_csv(staging / STUDY_TABLE, index=False)
        result.sample.to_csv(staging / SAMPLE, index=False)
        result.findings.to_csv(staging / FINDINGS_CSV, index=False)
        if len(result.power):
            result.power.to_csv(staging / POWER, index=False)
        if len(result.counterfactual):
            result.counterfactual.to_csv(staging / COUNTERFACTUAL, index=False)
        optional = {
            VARIANTS: result.variants,
            VARIANT_REPLICATIONS: result.variant_replications,
            LONGITUDINAL: result.longitudinal,
            LONGITUDINAL_REPLICATIONS: result.longitudinal_replications,
            PARAMETER_SETS: result.parameter_sets,
        }
        for name, table in optional.items():
            if table is not None and len(table):
                table.to_csv(staging / name, index=False)
        (staging / FINDINGS_MD).write_text(result.markdown(), encoding="utf-8")
        manifest = result_manifest(
            "study",
            result,
            staging,
            posterior=result.posterior,
            study={
                "replications": len(result.study),
                "seconds": {k: round(v, 1) for k, v in result.seconds.items()},
                "population": result.pool,
                "counterfactual_population": result.counterfactual_pool,
                "mean_replications_per_recruited_person": result.sharing,
            },
        )
        write_manifest(staging, manifest)
    return path


def _table(
    folder: Path,
    name: str,
    columns: tuple[str, ...],
    rows: int | None = None,
    added: tuple[str, ...] = (),
) -> pd.DataFrame:
    """A complete CSV table of the folder with ``columns`` (in that order) and ``rows`` rows.

    A CSV cut short usually still parses (its last row just lacks values), so the file must
    end with a line break and, where the manifest says how many rows it has, have them all.
    Columns in ``added`` (added to the format later) may be missing: they are then NaN.
    """
    required = tuple(c for c in columns if c not in added)
    table = read_table(folder, name, required)
    for column in added:
        if column not in table:
            table[column] = float("nan")
    table = table[list(columns)]
    path = folder / name
    with path.open("rb") as file:
        file.seek(-1, 2)
        if file.read(1) != b"\n":
            raise ResultsError(f"{path}: truncated (the last line is incomplete)")
    if rows is not None and len(table) != rows:
        raise ResultsError(f"{path}: {len(table)} rows, the manifest says {rows}")
    return table


def _optional_table(
    folder: Path,
    name: str,
    columns: tuple[str, ...],
    rows: int | None = None,
    added: tuple[str, ...] = (),
) -> pd.DataFrame:
    """A table that is written only when it has rows: empty with ``columns`` if absent."""
    if not (folder / name).exists():
        return pd.DataFrame(columns=list(columns))
    return _table(folder, name, columns, rows, added)


def _extra_table(folder: Path, name: str, columns: tuple[str, ...]) -> pd.DataFrame | None:
    """A table of the newer study files: None if the folder does not have it."""
    if not (folder / name).exists():
        return None
    return _table(folder, name, columns)


def _parameter_sets(folder: Path) -> pd.DataFrame | None:
    if not (folder / PARAMETER_SETS).exists():
        return None
    table = read_table(folder, PARAMETER_SETS, SET_COLUMNS)
    return table[[*SET_COLUMNS, *(c for c in table.columns if c not in SET_COLUMNS)]]


def _study_section(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest's ``study`` object; folders written before it existed kept its keys at the
    top level (with ``command_kind: "study"``)."""
    section = manifest.get("study")
    if isinstance(section, dict) and "population" in section:
        return section
    return manifest


def _as_dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def load_study(folder: str | Path, manifest: dict[str, Any] | None = None) -> StudyResult:
    """Read a study's results folder back into a :class:`~sim.experiments.study.StudyResult`.

    Raises
    ------
    sim.results.manifest.ManifestError, ResultsError
        The folder is not a study, or a file is missing, unreadable or incomplete (one line
        naming the file).
    """
    folder = Path(folder)
    manifest = read_manifest(folder) if manifest is None else manifest
    scenario = scenario_of(folder, manifest)
    if scenario.study is None:
        raise ResultsError(f"{folder / 'manifest.json'}: scenario: no [study] section")
    section = _study_section(manifest)
    reps = section.get("replications")
    reps = reps if isinstance(reps, int) and reps > 0 else None
    multipliers = len(set(scenario.study.power_multipliers))
    added = ADDED_STUDY_COLUMNS
    study = _table(folder, STUDY_TABLE, STUDY_COLUMNS, reps, added)
    if study.empty:
        raise ResultsError(f"{folder / STUDY_TABLE}: no rows")
    findings = _table(folder, FINDINGS_CSV, FINDINGS_COLUMNS)
    # Folders written before the age-and-sex row have one finding less.
    if len(findings) not in (len(FINDINGS), len(FINDINGS) - 1):
        raise ResultsError(
            f"{folder / FINDINGS_CSV}: {len(findings)} rows, expected {len(FINDINGS)}"
        )
    # CSV leaves "met" empty for findings without a target; in memory that is None.
    findings["met"] = findings["met"].astype(object).where(findings["met"].notna(), None)
    return StudyResult(
        scenario=scenario,
        study=study,
        power=_optional_table(folder, POWER, POWER_COLUMNS, reps and reps * multipliers, added),
        counterfactual=_optional_table(folder, COUNTERFACTUAL, STUDY_COLUMNS, reps, added),
        sample=_table(folder, SAMPLE, SAMPLE_COLUMNS),
        findings=findings,
        pool=_as_dict(section.get("population")),
        counterfactual_pool=_as_dict(section.get("counterfactual_population")),
        sharing=_as_dict(section.get("mean_replications_per_recruited_person")),
        seconds=_as_dict(section.get("seconds")),
        run_id=str(manifest.get("run_id") or folder.name),
        started=parse_time(manifest.get("started")),
        finished=parse_time(manifest.get("finished")),
        command=manifest.get("command"),
        posterior=manifest.get("posterior")
        if isinstance(manifest.get("posterior"), dict)
        else None,
        variants=_extra_table(folder, VARIANTS, VARIANT_COLUMNS),
        variant_replications=_extra_table(folder, VARIANT_REPLICATIONS, REPLICATION_COLUMNS),
        longitudinal=_extra_table(folder, LONGITUDINAL, SUMMARY_COLUMNS),
        longitudinal_replications=_extra_table(folder, LONGITUDINAL_REPLICATIONS, WINDOW_COLUMNS),
        parameter_sets=_parameter_sets(folder),
    )
