"""What the figures draw from: a result object, or a results folder loaded into one.

:func:`load_source` reads a results folder with :func:`sim.results.io.load` (a ``RunResult``,
``StudyResult``, ``SweepResult`` or ``TimingResult``); :func:`result_source` wraps an object
already in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sim.core.metrics import PERTURBATION_METRICS
from sim.results.folder import MANIFEST, PATIENTS
from sim.results.io import load
from sim.results.manifest import ManifestError, kind_of, read_manifest
from sim.results.run import ResultsError
from sim.scenario import ScenarioError
from sim.viz.figures.common import FigureError


@dataclass(frozen=True)
class Source:
    """A result to draw and what is known about where it came from.

    Attributes
    ----------
    result
        RunResult, StudyResult or SweepResult (or a folder reading with their attributes).
    kind
        ``run``, ``study``, ``sweep`` or ``timing``.
    folder
        The results folder, or None for a result only in memory.
    manifest
        The folder's ``manifest.json`` (empty for a result only in memory).
    """

    result: Any
    kind: str
    folder: Path | None = None
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        """The run id written into every figure file."""
        run_id = getattr(self.result, "run_id", None) or self.manifest.get("run_id")
        if run_id:
            return str(run_id)
        return self.folder.name if self.folder is not None else "unknown"

    @property
    def title(self) -> str:
        """The scenario name, for the contact sheet ("" if unknown)."""
        scenario = getattr(self.result, "scenario", None)
        run = getattr(scenario, "scenario", None)
        if run is not None:
            return str(run.name)
        resolved = (self.manifest.get("scenario") or {}).get("scenario") or {}
        return str(resolved.get("name", ""))

    @property
    def made_with(self) -> str | None:
        """painsim version that wrote the folder (None for a result only in memory)."""
        return self.manifest.get("painsim_version")


def result_source(result: Any) -> Source:
    """A result object as a :class:`Source` (its folder, if it has one, from ``.folder``)."""
    kind = getattr(result, "kind", None)
    if kind is None:
        kind = "study" if hasattr(result, "power") else "sweep" if hasattr(result, "table") else ""
    if kind not in ("run", "study", "sweep", "timing"):
        raise FigureError(
            f"source: cannot draw a {type(result).__name__} (a run, study, sweep or timing result, "
            "or its results folder)",
            "source",
        )
    folder = getattr(result, "folder", None)
    return Source(result, kind, Path(folder) if folder is not None else None)


def load_source(folder: str | Path) -> Source:
    """Read a results folder into a :class:`Source`.

    Raises
    ------
    FigureError
        No such folder, not a results folder, a damaged one, or a kind without figures.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FigureError(f"{folder}: no such results folder", "source")
    if not (folder / MANIFEST).is_file():
        raise FigureError(
            f"{folder}: nothing to plot (no {MANIFEST}: not a painsim results folder)", "source"
        )
    try:
        manifest = read_manifest(folder)
        kind = kind_of(manifest)
        if kind in ("study", "sweep", "run", "timing"):
            result = load(folder)
            if kind == "run" and not result.patients_in_memory:
                # The figures use a third of the columns: read only those (faster, smaller).
                result.attach_folder(folder, lambda: read_patients(folder))
        else:
            raise FigureError(f"{folder}: nothing to plot (a {kind} folder has no figures)")
    except (ManifestError, ResultsError, ScenarioError) as exc:
        raise FigureError(str(exc), "source") from None
    return Source(result, kind, folder, manifest)


FIGURE_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "arm",
    "replicate",
    "year",
    "age",
    "stage",
    "years_with_pain",
    "pain",
    "coping",
    "adaptation",
    "dmn_perturbation",
    "enrolled_year",
    *PERTURBATION_METRICS,
)
"""Columns of ``patients.parquet`` the run figures use."""


def read_patients(folder: Path) -> pd.DataFrame:
    """The columns of a run's ``patients.parquet`` the figures use (checked by the loader)."""
    return pd.read_parquet(folder / PATIENTS, columns=list(FIGURE_COLUMNS))
