"""Calibration results folders: write them (``save_calibration``) and read them back.

A calibration folder holds::

    posterior.parquet   weighted parameter draws of the last ABC generation (+ ``weight``)
    targets.csv         each target: published value and interval, simulated median and 95 %
                        range under the posterior, met or not; then every other statistic
    generations.csv     per ABC generation: epsilon, simulations, accepted, acceptance, ESS
    calibration.md      the same, for people: settings, posterior, fit table, misfits
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
from sim.results.folder import destination, staged_folder
from sim.results.manifest import build_manifest, read_manifest, write_manifest
from sim.results.run import ResultsError, read_table, scenario_of

POSTERIOR, TARGETS_CSV, GENERATIONS = "posterior.parquet", "targets.csv", "generations.csv"
CALIBRATION_MD, ABC_DB = "calibration.md", "abc.db"
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
        (staging / CALIBRATION_MD).write_text(report_markdown(result), encoding="utf-8")
        if database.is_file():
            shutil.copy2(database, staging / ABC_DB)
        settings = {k: v for k, v in result.settings.items() if k != "database"}
        manifest = build_manifest(
            "calibration",
            run_id=result.run_id,
            seed=scenario.scenario.seed,
            scenario=scenario.resolved(),
            started=result.started,
            finished=result.finished,
            command=result.command,
            files=[p.name for p in staging.iterdir()],
            calibration={
                **settings,
                "parameters": list(result.medians),
                "posterior_median": {k: round(v, 6) for k, v in result.medians.items()},
                "targets_met": int(result.targets["met"].fillna(False).astype(bool).sum()),
                "targets": int((result.targets["role"] == "target").sum()),
                "seconds": result.seconds,
            },
        )
        write_manifest(staging, manifest)
    if database.is_file():
        database.unlink()  # its copy is in the folder now
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
        f"{s.get('ess', math.nan):.0f}; wall time {result.seconds.get('abc', math.nan):.0f} s "
        f"(ABC) + {result.seconds.get('fit', math.nan):.0f} s (fit table).",
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
    for name, (low, high) in section.priors.items():
        v = result.posterior[name].to_numpy()
        q = [weighted_quantile(v, w, p) for p in (0.5, 0.025, 0.975)]
        lines.append(f"| `{name}` | {low}–{high} | {_num(q[0])} | {_num(q[1])}–{_num(q[2])} |")
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
    lines += ["", "Sources of the targets are in targets.csv (column `source`).", ""]
    return "\n".join(lines)


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
