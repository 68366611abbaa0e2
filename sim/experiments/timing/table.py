"""The table of a timing experiment (``timing.csv``, ``timing.md``) from its pairs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.stats import LEVEL, RESAMPLES, normal_interval, two_level_bootstrap_interval
from sim.core.outcomes import VARIABLES
from sim.experiments.timing.plan import START_KEYS

TABLE_COLUMNS: tuple[str, ...] = (
    *START_KEYS,
    "follow_up_years",
    "outcome",
    "n_pairs",
    "replicates",
    "treated_mean",
    "usual_care_mean",
    "difference",
    "ci_low",
    "ci_high",
    "method",
    "years_with_pain_at_start",
    "age_at_start",
    "adaptation_at_start",
)
"""Columns of ``timing.csv`` (one row per treatment, start, follow-up and outcome)."""
NORMAL = "normal over pairs"
TWO_LEVEL = "two-level bootstrap over parameter sets and pairs"


# -- the table ------------------------------------------------------------------------------------
def _interval(
    differences: np.ndarray, replicate: np.ndarray, two_level: bool, rng: np.random.Generator
) -> tuple[float, float]:
    if differences.size < 2:
        return math.nan, math.nan
    if not two_level:
        _, low, high = normal_interval(differences[:, None], LEVEL)
        return float(low[0]), float(high[0])
    groups = [differences[replicate == r] for r in np.unique(replicate)]
    padded = np.full((len(groups), max(g.size for g in groups)), np.nan)
    for i, g in enumerate(groups):
        padded[i, : g.size] = g
    return two_level_bootstrap_interval(padded, rng, RESAMPLES, LEVEL)


def summarize(
    pairs: pd.DataFrame, outcomes: Sequence[str], *, two_level: bool = False, seed: int = 0
) -> pd.DataFrame:
    """``timing.csv``: the mean twin difference per treatment, start, follow-up and outcome.

    Parameters
    ----------
    pairs
        Output of :func:`simulate_replicate` (all replicates).
    outcomes
        Outcome names (``<name>_treated`` and ``<name>_usual_care`` columns).
    two_level
        Two-level bootstrap over replicates (parameter sets) and pairs instead of the normal
        interval over pairs.
    seed
        Seed of the bootstrap.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TABLE_COLUMNS`; ``difference`` = mean over pairs of treated − twin
        (a pair without a value, e.g. NaN path length, is left out).
    """
    rng = np.random.default_rng(seed)
    rows = []
    keys = [*START_KEYS, "follow_up_years"]
    for key, group in pairs.groupby(keys, sort=False, dropna=False):
        replicate = group["replicate"].to_numpy()
        for name in outcomes:
            treated = group[f"{name}_treated"].to_numpy(dtype=float)
            control = group[f"{name}_usual_care"].to_numpy(dtype=float)
            diff = treated - control
            ok = ~np.isnan(diff)
            low, high = _interval(diff[ok], replicate[ok], two_level, rng)
            rows.append(
                {
                    **dict(zip(keys, key, strict=True)),
                    "outcome": name,
                    "n_pairs": int(ok.sum()),
                    "replicates": int(np.unique(replicate).size),
                    "treated_mean": float(treated[ok].mean()) if ok.any() else math.nan,
                    "usual_care_mean": float(control[ok].mean()) if ok.any() else math.nan,
                    "difference": float(diff[ok].mean()) if ok.any() else math.nan,
                    "ci_low": low,
                    "ci_high": high,
                    "method": TWO_LEVEL if two_level else NORMAL,
                    "years_with_pain_at_start": float(group["years_with_pain_at_start"].mean()),
                    "age_at_start": float(group["age_at_start"].mean()),
                    "adaptation_at_start": float(group["adaptation_at_start"].mean()),
                }
            )
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def to_markdown(table: pd.DataFrame) -> str:
    """``timing.md``: one table per outcome and follow-up, treatments by start."""
    lines = [
        "# Treatment timing",
        "",
        "Mean difference treated − usual-care twin (95 % interval) at each follow-up after "
        "enrolment, by when treatment started; n = pairs.",
        "",
    ]
    for (years, outcome), part in table.groupby(["follow_up_years", "outcome"], sort=False):
        label = VARIABLES[outcome].label
        starts_ = list(dict.fromkeys(part["start"]))
        lines += [
            f"## {label}, {years:g} years after enrolment",
            "",
            "| treatment | " + " | ".join(starts_) + " |",
            "|---|" + "---|" * len(starts_),
        ]
        for treatment, rows in part.groupby("treatment", sort=False):
            cells = {r.start: _cell(r) for r in rows.itertuples()}
            lines.append(
                f"| {treatment} | " + " | ".join(cells.get(s, "–") for s in starts_) + " |"
            )
        lines.append("")
    method = table["method"].iloc[0] if len(table) else NORMAL
    lines.append(f"Intervals: {method}.")
    return "\n".join(lines) + "\n"


def _cell(row: Any) -> str:
    if row.n_pairs == 0 or math.isnan(row.difference):
        return "–"
    interval = "" if math.isnan(row.ci_low) else f" ({row.ci_low:+.3f} to {row.ci_high:+.3f})"
    return f"{row.difference:+.3f}{interval}, n = {row.n_pairs}"
