"""Calibration results folders: write them (``save_calibration``) and read them back.

A calibration folder holds::

    posterior.parquet   weighted parameter draws of the last ABC generation (+ ``weight``)
    targets.csv         each target: published value and interval, simulated median and 95 %
                        range under the posterior, met or not; then every other statistic
    generations.csv     per ABC generation: epsilon, simulations, accepted, acceptance, ESS
    calibration.md      the same, for people: settings, posterior, fit table, misfits
    predictions.csv     heukamp only: detection rate of every finding under posterior draws
                        (findings 1-3 fitted, finding 4 and all four predicted)
    abc.db              pyabc's SQLite history of the whole run
    manifest.json       kind "calibration"; settings under manifest["calibration"]
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from sim.experiments.calibrate.problem import weighted_quantile
from sim.experiments.calibrate.result import TARGET_COLUMNS, CalibrationResult
from sim.experiments.posterior import Posterior
from sim.results.folder import destination, staged_folder
from sim.results.manifest import ManifestError, read_manifest, result_manifest, write_manifest
from sim.results.run import ResultsError, read_table, scenario_of

POSTERIOR, TARGETS_CSV, GENERATIONS = "posterior.parquet", "targets.csv", "generations.csv"
CALIBRATION_MD, ABC_DB = "calibration.md", "abc.db"
PREDICTIONS = "predictions.csv"
PREDICTION_COLUMNS = (
    "finding",
    "key",
    "role",
    "detection_rate",
    "low",
    "high",
    "draws",
    "replications_per_draw",
)
GENERATION_COLUMNS = ("generation", "epsilon", "simulations", "accepted", "acceptance_rate", "ess")


def save_calibration(
    result: CalibrationResult,
    folder: str | Path | None = None,
    *,
    results_root: str | Path = "results",
) -> Path:
    """Write a calibration's results folder atomically and return its path.

    The pyabc database the calibration worked in is moved into the folder (``abc.db``).

    Raises
    ------
    sim.results.folder.OutputFolderError
        The folder is not empty or cannot be created. Nothing visible is written.
    """
    scenario = result.scenario
    path = destination(folder, results_root, scenario.scenario.slug, result.run_id)
    database = Path(result.settings.get("database", ""))
    with staged_folder(path) as staging:
        result.posterior.to_parquet(staging / POSTERIOR, index=False)
        result.targets.to_csv(staging / TARGETS_CSV, index=False)
        result.generations.to_csv(staging / GENERATIONS, index=False)
        if result.predictions is not None:
            result.predictions.to_csv(staging / PREDICTIONS, index=False)
        (staging / CALIBRATION_MD).write_text(report_markdown(result), encoding="utf-8")
        if database.is_file():
            shutil.copy2(database, staging / ABC_DB)
        settings = {k: v for k, v in result.settings.items() if k not in ("database", "cache")}
        manifest = result_manifest(
            "calibration",
            result,
            staging,
            calibration={
                **settings,
                "parameters": list(result.medians),
                "posterior_median": {k: round(v, 6) for k, v in result.medians.items()},
                "targets_met": int(result.targets["met"].fillna(False).astype(bool).sum()),
                "targets": int((result.targets["role"] == "target").sum()),
                "seconds": result.seconds,
                "experiment": scenario.calibration.experiment,
                **(
                    {
                        "predicted_detection_rate": {
                            r.key: round(float(r.detection_rate), 4)
                            for r in result.predictions.itertuples()
                        }
                    }
                    if result.predictions is not None
                    else {}
                ),
            },
        )
        write_manifest(staging, manifest)
    if database.is_file():
        database.unlink()  # its copy is in the folder now
    cache = result.settings.get("cache")
    if cache and Path(cache).is_dir():
        shutil.rmtree(cache)  # simulated populations: derived, large, not results
    return path


def load_calibration(
    folder: str | Path, manifest: dict[str, Any] | None = None
) -> CalibrationResult:
    """Read a calibration folder back into a :class:`CalibrationResult`.

    Raises
    ------
    sim.results.manifest.ManifestError, sim.results.run.ResultsError
        Not a calibration folder, or a file missing, unreadable or incomplete.
    """
    folder = Path(folder)
    manifest = read_manifest(folder) if manifest is None else manifest
    if manifest.get("kind") != "calibration":
        raise ResultsError(f"{folder}: not a calibration folder (kind {manifest.get('kind')})")
    scenario = scenario_of(folder, manifest)
    posterior = read_table(folder, POSTERIOR, ["weight"])
    targets = read_table(folder, TARGETS_CSV, TARGET_COLUMNS)
    generations = read_table(folder, GENERATIONS, GENERATION_COLUMNS)
    predictions = (
        read_table(folder, PREDICTIONS, PREDICTION_COLUMNS)
        if PREDICTIONS in manifest.get("files", [])
        else None
    )
    settings = dict(manifest.get("calibration") or {})
    seconds = settings.pop("seconds", {})
    if (folder / ABC_DB).is_file():
        settings["database"] = str(folder / ABC_DB)
    return CalibrationResult(
        scenario=scenario,
        posterior=posterior,
        targets=targets,
        generations=generations,
        settings=settings,
        run_id=manifest.get("run_id", ""),
        started=manifest.get("started"),
        finished=manifest.get("finished"),
        command=manifest.get("command"),
        seconds=seconds,
        predictions=predictions,
    )


def _num(x: float, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}g}"


def report_markdown(result: CalibrationResult) -> str:
    """calibration.md: settings, generations, posterior and the fit table."""
    s, section = result.settings, result.scenario.calibration
    lines = [
        f"# Calibration: {result.scenario.scenario.name}",
        "",
        f"ABC-SMC (pyabc), backend {s.get('backend')} with {s.get('workers')} worker(s); "
        f"population {section.population_size} particles; {s.get('simulations')} simulations "
        f"in {len(result.generations)} generations; last acceptance rate "
        f"{100 * s.get('acceptance_rate', math.nan):.1f} %, effective sample size "
        f"{s.get('ess', math.nan):.0f}; wall time {_wall(result.seconds)}.",
        "",
        "## Generations",
        "",
        "| generation | epsilon | simulations | accepted | acceptance | ESS |",
        "|---|---|---|---|---|---|",
    ]
    for g in result.generations.itertuples():
        lines.append(
            f"| {g.generation + 1} | {_num(g.epsilon)} | {g.simulations} | {g.accepted} | "
            f"{100 * g.acceptance_rate:.1f} % | {g.ess:.0f} |"
        )
    lines += [
        "",
        "## Posterior (weighted median and 95 % credible interval)",
        "",
        "| parameter | prior | median | 95 % interval |",
        "|---|---|---|---|",
    ]
    w = result.posterior["weight"].to_numpy()
    for name, (low, high, scale) in section.prior_specs().items():
        v = result.posterior[name].to_numpy()
        q = [weighted_quantile(v, w, p) for p in (0.5, 0.025, 0.975)]
        prior = f"{low}–{high}" + (" (log)" if scale == "log" else "")
        lines.append(f"| `{name}` | {prior} | {_num(q[0])} | {_num(q[1])}–{_num(q[2])} |")
    lines += [
        "",
        f"## Fit ({section.draws_for_fit} posterior draws simulated again)",
        "",
        "| statistic | published (interval) | simulated median (95 % range) | met |",
        "|---|---|---|---|",
    ]
    table = result.targets
    for r in table[table["role"] == "target"].itertuples():
        met = "yes" if r.met in (True, "True") else "**no**"
        lines.append(
            f"| {r.statistic} | {_num(r.published)} ({_num(r.low)}–{_num(r.high)}) | "
            f"{_num(r.simulated_median)} ({_num(r.simulated_low)}–{_num(r.simulated_high)}) | "
            f"{met} |"
        )
    lines += ["", "## Other statistics under the posterior", ""]
    lines += ["| statistic | simulated median (95 % range) |", "|---|---|"]
    for r in table[table["role"] == "reported"].itertuples():
        lines.append(
            f"| {r.statistic} | {_num(r.simulated_median)} "
            f"({_num(r.simulated_low)}–{_num(r.simulated_high)}) |"
        )
    if result.predictions is not None:
        p = result.predictions
        first = p.iloc[0]
        lines += [
            "",
            f"## Findings under the posterior ({first.draws} draws x "
            f"{first.replications_per_draw} replications of the study)",
            "",
            "Findings 1-3 were fitted (as effect sizes); finding 4 was not: its detection rate "
            "is a prediction.",
            "",
            "| finding | role | detection rate | 95 % over draws |",
            "|---|---|---|---|",
        ]
        for r in p.itertuples():
            lines.append(
                f"| {r.finding} | {r.role} | {100 * r.detection_rate:.0f} % | "
                f"{100 * r.low:.0f}–{100 * r.high:.0f} % |"
            )
    lines += ["", "Sources of the targets are in targets.csv (column `source`).", ""]
    return "\n".join(lines)


def _wall(seconds: dict[str, float]) -> str:
    labels = {
        "populations": "populations",
        "abc": "ABC",
        "fit": "fit table",
        "predict": "predictions",
    }
    parts = [f"{seconds[k]:.0f} s ({label})" for k, label in labels.items() if k in seconds]
    return " + ".join(parts) if parts else "–"


def posterior_table(result: CalibrationResult) -> pd.DataFrame:
    """Weighted median and 95 % interval of each parameter (for printing)."""
    w = result.posterior["weight"].to_numpy()
    rows = []
    for name in result.posterior.columns:
        if name == "weight":
            continue
        v = result.posterior[name].to_numpy()
        rows.append(
            {
                "parameter": name,
                "median": weighted_quantile(v, w, 0.5),
                "low": weighted_quantile(v, w, 0.025),
                "high": weighted_quantile(v, w, 0.975),
            }
        )
    return pd.DataFrame(rows)


def read_posterior(folder: str | Path) -> Posterior:
    """The weighted posterior draws of a calibration folder, for parameter uncertainty.

    Raises
    ------
    sim.results.run.ResultsError
        Not a calibration folder, or its manifest or ``posterior.parquet`` is missing,
        unreadable or damaged (one line naming the file).
    """
    folder = Path(folder)
    try:
        manifest = read_manifest(folder)
    except ManifestError as exc:
        raise ResultsError(str(exc)) from None
    if manifest.get("kind") != "calibration":
        raise ResultsError(
            f"{folder}: not a calibration folder (kind {manifest.get('kind')}); a posterior "
            "comes from `painsim calibrate`"
        )
    draws = read_table(folder, POSTERIOR, ["weight"])
    weights = pd.to_numeric(draws["weight"], errors="coerce").to_numpy(dtype=float)
    if len(draws) == 0 or not (weights >= 0).all() or weights.sum() <= 0:
        raise ResultsError(f"{folder / POSTERIOR}: no usable draws (weights missing or zero)")
    names = [c for c in draws.columns if c != "weight"]
    listed = (manifest.get("calibration") or {}).get("parameters")
    if not names or (listed is not None and sorted(listed) != sorted(names)):
        raise ResultsError(
            f"{folder / POSTERIOR}: its parameters do not match the manifest's "
            f"({', '.join(names) or 'none'})"
        )
    scenario = manifest.get("scenario") or {}
    return Posterior(
        draws=draws.reset_index(drop=True),
        folder=str(folder),
        run_id=str(manifest.get("run_id", "")),
        painsim_version=str(manifest.get("painsim_version", "")),
        scenario=str((scenario.get("scenario") or {}).get("name", "")),
    )
