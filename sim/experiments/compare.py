"""Compare the arms of a run with a reference arm, patient by patient (virtual twins).

Every arm of a scenario simulates the same people with the same luck, so the difference between
an arm and the reference arm can be taken per patient ("twin difference") as well as between
group means. Intervals are two-level percentile bootstraps over replicates and, within each,
patients (:func:`sim.analysis.stats.two_level_bootstrap_interval`). ``RunResult.compare`` and
``painsim compare RESULTS_DIR`` use :func:`compare_run`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sim.analysis.stats import RESAMPLES, cohens_d, two_level_bootstrap_interval
from sim.core.outcomes import VARIABLES

if TYPE_CHECKING:
    from sim.experiments.run import RunResult

OUTCOMES: tuple[str, ...] = (
    "dmn_perturbation",
    "char_path_length",
    "mean_degree",
    "closeness",
    "global_efficiency",
    "pain",
    "coping",
    "share_chronic",
    "healthy_range",
    "responder",
)
"""Outcomes compared (names, units and labels in ``sim.core.outcomes``)."""
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


class CompareError(ValueError):
    """A run cannot be compared as asked; ``option`` names the argument at fault (or None)."""

    def __init__(self, message: str, option: str | None = None):
        super().__init__(f"{option}: {message}" if option else message)
        self.option, self.message = option, message


def _values(patients: pd.DataFrame, outcome: str) -> pd.Series:
    if outcome == "share_chronic":
        return patients["stage"].eq("chronic").astype(float)
    return patients[outcome].astype(float)


def _matrix(patients: pd.DataFrame, arm: str, outcome: str) -> np.ndarray:
    """(replicates, patients) values of one arm, rows and columns sorted by id."""
    rows = patients[patients["arm"] == arm]
    table = rows.assign(value=_values(rows, outcome)).pivot(
        index="replicate", columns="patient_id", values="value"
    )
    return table.sort_index().sort_index(axis=1).to_numpy(dtype=float)


def _nanmean(values: np.ndarray) -> float:
    """Mean of the defined values; NaN (without a warning) when none is defined."""
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if defined.size else np.nan


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
                low, high = two_level_bootstrap_interval(twins, rng, RESAMPLES)
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
                        "effect_size": cohens_d(other.ravel(), ref.ravel()),
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
                f"| {VARIABLES[r.outcome].label} | {_fmt(r.reference_mean)} | "
                f"{_fmt(r.arm_mean)} | {_fmt(r.difference, '+.3f')} "
                f"({_fmt(r.ci_low, '+.3f')} to {_fmt(r.ci_high, '+.3f')}) | "
                f"{_fmt(r.effect_size, '+.2f')} | {_fmt(r.twin_difference, '+.3f')} |"
            )
        lines.append("")
    return "\n".join(lines)


def _fmt(value: float, spec: str = ".3f") -> str:
    """A number for the markdown table; an undefined one (no enrolled patients) as a dash."""
    return "–" if np.isnan(value) else format(value, spec)


def compare_run(
    result: RunResult,
    reference: str | None = None,
    years: Sequence[float] | None = None,
    *,
    enrolled_only: bool = False,
) -> pd.DataFrame:
    """Compare the arms of a run with ``reference`` at the given record years.

    Parameters
    ----------
    result
        A run (in memory or loaded from its folder).
    reference
        Reference arm (default: the scenario's first arm).
    years
        Record years (default: the horizon).
    enrolled_only
        Only patients enrolled in the compared arm by that year, with their twins.

    Raises
    ------
    CompareError
        A single arm, an unknown reference arm, or a year that is not a record year; the
        message names the option (``reference``, ``years``).
    """
    arms = result.arms
    if len(arms) < 2:
        raise CompareError(f"only one arm ({arms[0]}); nothing to compare")
    reference = arms[0] if reference is None else reference
    if reference not in arms:
        raise CompareError(f"no arm '{reference}'; arms: {', '.join(arms)}", "reference")
    recorded = sorted(result.patients["year"].unique())
    years = list(years) if years else [recorded[-1]]
    missing = [y for y in years if not np.isclose(recorded, y).any()]
    if missing:
        raise CompareError(
            f"{missing[0]:g} is not a record year; recorded: "
            f"{', '.join(f'{y:g}' for y in recorded)}",
            "years",
        )
    return compare_arms(
        result.patients,
        reference,
        years,
        seed=result.scenario.scenario.seed,
        enrolled_only=enrolled_only,
    )
