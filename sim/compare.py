"""Compare the arms of a finished run with a reference arm, patient by patient (virtual twins).

Every arm of a scenario simulates the same people with the same luck, so the difference between
an arm and the reference arm can be taken per patient ("twin difference") as well as between
group means. Intervals are percentile bootstraps over replicates and, within each, patients.
``painsim compare RESULTS_DIR`` writes ``comparison.csv`` and ``comparison.md`` into the folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

OUTCOMES: dict[str, str] = {
    "dmn_perturbation": "DMN perturbation (healthy SD)",
    "char_path_length": "characteristic path length",
    "mean_degree": "mean degree",
    "closeness": "closeness centrality",
    "global_efficiency": "global efficiency",
    "pain": "pain (NRS 0-10)",
    "coping": "catastrophizing (PCS 0-52)",
    "chronic": "share in a chronic episode",
    "healthy_range": "share with a DMN in the healthy range",
    "responder": "responders (>= 30 % less pain, enrolled)",
}
COLUMNS = (
    "year",
    "arm",
    "reference",
    "outcome",
    "reference_mean",
    "arm_mean",
    "difference",
    "ci_low",
    "ci_high",
    "effect_size",
    "twin_difference",
    "n_pairs",
)
RESAMPLES = 1000


class CompareError(ValueError):
    """The results folder cannot be compared (missing files, unknown arm or year)."""


def _values(patients: pd.DataFrame, outcome: str) -> pd.Series:
    if outcome == "chronic":
        return patients["stage"].eq("chronic").astype(float)
    return patients[outcome].astype(float)


def _matrix(patients: pd.DataFrame, arm: str, outcome: str) -> np.ndarray:
    """(replicates, patients) values of one arm, rows and columns sorted by id."""
    rows = patients[patients["arm"] == arm]
    table = rows.assign(value=_values(rows, outcome)).pivot(
        index="replicate", columns="patient_id", values="value"
    )
    return table.sort_index().sort_index(axis=1).to_numpy(dtype=float)


def bootstrap_mean_interval(
    values: np.ndarray, rng: np.random.Generator, resamples: int = RESAMPLES
) -> tuple[float, float]:
    """95 % percentile interval of the NaN-aware mean of (R, N) values.

    Each resample draws replicates with replacement, then patients with replacement within
    each drawn replicate (a two-level bootstrap); NaN entries are left out of the mean.
    """
    r, n = values.shape
    present = ~np.isnan(values)
    filled = np.where(present, values, 0.0)
    means = np.empty(resamples)
    for b in range(resamples):
        total = count = 0.0
        for rep in rng.integers(0, r, r):
            weights = np.bincount(rng.integers(0, n, n), minlength=n)
            total += weights @ filled[rep]
            count += weights @ present[rep]
        means[b] = total / count if count else np.nan
    if np.isnan(means).all():
        return np.nan, np.nan
    low, high = np.nanpercentile(means, [2.5, 97.5])
    return float(low), float(high)


def _nanmean(values: np.ndarray) -> float:
    """Mean of the defined values; NaN (without a warning) when none is defined."""
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if defined.size else np.nan


def _effect_size(arm: np.ndarray, ref: np.ndarray) -> float:
    a, b = arm[~np.isnan(arm)], ref[~np.isnan(ref)]
    if a.size < 2 or b.size < 2:
        return np.nan
    pooled = np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    return float((a.mean() - b.mean()) / pooled) if pooled > 0 else np.nan


def compare_arms(
    patients: pd.DataFrame,
    reference: str,
    years: list[float],
    seed: int = 0,
    enrolled_only: bool = False,
) -> pd.DataFrame:
    """Differences of every arm from ``reference`` at the given record years.

    Parameters
    ----------
    patients
        Patient rows of a run (``patients.parquet``).
    reference
        Name of the reference arm.
    years
        Record years to compare at.
    seed
        Seed of the bootstrap.
    enrolled_only
        Compare only the patients enrolled in the compared arm's interventions by that year,
        with their twins in the reference arm (the treated and their untreated selves).

    Returns
    -------
    pandas.DataFrame
        One row per year, arm and outcome; columns :data:`COLUMNS`. ``difference`` is the
        difference of the arm means, ``twin_difference`` the mean per-patient difference over
        pairs where both values exist, ``effect_size`` the difference over the pooled SD.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for year in years:
        at = patients[np.isclose(patients["year"], year)]
        ref_values = {o: _matrix(at, reference, o) for o in OUTCOMES}
        for arm in [a for a in dict.fromkeys(at["arm"]) if a != reference]:
            keep = np.ones_like(ref_values["pain"], bool)
            if enrolled_only:
                keep = _matrix(at, arm, "enrolled_year") <= year + 1e-9
            for outcome in OUTCOMES:
                ref = np.where(keep, ref_values[outcome], np.nan)
                other = np.where(keep, _matrix(at, arm, outcome), np.nan)
                twins = other - ref
                low, high = bootstrap_mean_interval(twins, rng)
                ref_mean, arm_mean, twin = (_nanmean(x) for x in (ref, other, twins))
                rows.append(
                    {
                        "year": year,
                        "arm": arm,
                        "reference": reference,
                        "outcome": outcome,
                        "reference_mean": ref_mean,
                        "arm_mean": arm_mean,
                        "difference": arm_mean - ref_mean,
                        "ci_low": low,
                        "ci_high": high,
                        "effect_size": _effect_size(other.ravel(), ref.ravel()),
                        "twin_difference": twin,
                        "n_pairs": int((~np.isnan(twins)).sum()),
                    }
                )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def to_markdown(table: pd.DataFrame, enrolled_only: bool = False) -> str:
    """comparison.md: one table per year and arm, differences with their intervals."""
    who = (
        "Patients enrolled in the compared arm by that year, and their twins in the reference arm."
        if enrolled_only
        else "All patients."
    )
    lines = [
        "# Arm comparison",
        "",
        who,
        "",
        "Differences from the reference arm (arm − reference) with 95 % bootstrap "
        "intervals over replicates and patients; effect size = difference / pooled SD; "
        "twin difference = mean per-patient difference between an arm and its twin in "
        "the reference arm.",
        "",
    ]
    for (year, arm), part in table.groupby(["year", "arm"], sort=False):
        lines += [
            f"## {arm} vs {part['reference'].iloc[0]}, year {year:g}",
            "",
            "| outcome | reference | arm | difference (95 % CI) | effect size | twin difference |",
            "|---|---|---|---|---|---|",
        ]
        for r in part.itertuples():
            lines.append(
                f"| {OUTCOMES[r.outcome]} | {_fmt(r.reference_mean)} | "
                f"{_fmt(r.arm_mean)} | {_fmt(r.difference, '+.3f')} "
                f"({_fmt(r.ci_low, '+.3f')} to {_fmt(r.ci_high, '+.3f')}) | "
                f"{_fmt(r.effect_size, '+.2f')} | {_fmt(r.twin_difference, '+.3f')} |"
            )
        lines.append("")
    return "\n".join(lines)


def _fmt(value: float, spec: str = ".3f") -> str:
    """A number for the markdown table; an undefined one (no enrolled patients) as a dash."""
    return "–" if np.isnan(value) else format(value, spec)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def compare_folder(
    folder: Path,
    reference: str | None = None,
    years: list[float] | None = None,
    enrolled_only: bool = False,
) -> pd.DataFrame:
    """Compare the arms of a results folder and write ``comparison.csv`` and ``.md`` there.

    Raises
    ------
    CompareError
        No run in the folder, a single arm, an unknown reference arm or year.
    """
    folder = Path(folder)
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        patients = pd.read_parquet(folder / "patients.parquet")
    except (OSError, ValueError) as exc:
        raise CompareError(
            f"{folder}: not a painsim results folder ({exc.__class__.__name__})"
        ) from None
    arms = manifest["arms"]
    if len(arms) < 2:
        raise CompareError(f"{folder}: only one arm ({arms[0]}); nothing to compare")
    reference = reference or arms[0]
    if reference not in arms:
        raise CompareError(f"{folder}: --reference: no arm '{reference}'; arms: {', '.join(arms)}")
    recorded = sorted(patients["year"].unique())
    years = years or [recorded[-1]]
    missing = [y for y in years if not np.isclose(recorded, y).any()]
    if missing:
        raise CompareError(
            f"{folder}: --years: {missing[0]} is not a record year; recorded: "
            f"{', '.join(f'{y:g}' for y in recorded)}"
        )
    table = compare_arms(
        patients, reference, years, seed=manifest.get("seed", 0), enrolled_only=enrolled_only
    )
    tmp = folder / f".comparison.csv.tmp-{os.getpid()}"
    table.to_csv(tmp, index=False)
    os.replace(tmp, folder / "comparison.csv")
    _write_atomic(folder / "comparison.md", to_markdown(table, enrolled_only))
    return table
