"""Sensitivity indices of a sampled sweep, with SALib.

:func:`analyze_design` computes the indices of one outcome from a SALib sample and the outcome
at every point: Sobol first-order and total indices, Morris elementary effects, or RBD-FAST for
a Latin hypercube, each with a 95 % bootstrap interval where SALib gives one.
:func:`sensitivity_table` does so for every outcome of every arm of a finished sweep (replicates
averaged first) and makes ``sensitivity.csv``. The bootstrap is seeded from the scenario seed,
so the table is the same on every backend and after a resume.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from sim.experiments.sweep.design import ANALYSIS_STREAM, SweepPlan, stream_seed
from sim.experiments.sweep.engine import STATUS_OK

SENSITIVITY_COLUMNS: tuple[str, ...] = (
    "arm",
    "outcome",
    "parameter",
    "method",
    "index",
    "value",
    "conf",
    "ci_low",
    "ci_high",
)
"""Columns of ``sensitivity.csv``."""
CI_LEVEL = 0.95
RESAMPLES = 1000
"""Bootstrap resamples of SALib's intervals (``results/README.md`` documents 1,000)."""


def analyze_design(
    method: str,
    problem: Mapping[str, Any],
    matrix: np.ndarray,
    y: np.ndarray,
    *,
    levels: int = 4,
    seed: int = 0,
) -> pd.DataFrame:
    """Sensitivity indices of one outcome with SALib, with 95 % intervals.

    Parameters
    ----------
    method
        ``"sobol"``: first-order ``S1`` and total ``ST`` indices (Saltelli/Jansen estimators,
        bootstrap intervals); ``"morris"``: ``mu_star`` (with bootstrap interval), ``mu`` and
        ``sigma`` of the elementary effects; ``"latin"``: first-order ``S1`` by RBD-FAST.
    problem, matrix
        The SALib problem and the sample it was run on (one row per point).
    y
        The outcome at every point (replicates averaged), in sample order.
    levels
        Morris grid levels.
    seed
        Seed of the bootstrap.

    Returns
    -------
    pandas.DataFrame
        Columns ``parameter, index, value, conf`` (``conf`` = half-width of the 95 % interval,
        NaN where SALib gives none).
    """
    with np.errstate(divide="ignore", invalid="ignore"):  # a degenerate resample gives NaN
        result, pairs = _salib_analysis(method, problem, matrix, y, levels, seed)
    names = list(problem["names"])
    frames = [
        pd.DataFrame(
            {
                "parameter": names,
                "index": index,
                "value": np.asarray(result[index], dtype=float),
                "conf": (
                    np.asarray(result[conf], dtype=float) if conf else np.full(len(names), np.nan)
                ),
            }
        )
        for index, conf in pairs
    ]
    return pd.concat(frames, ignore_index=True)


def _salib_analysis(
    method: str,
    problem: Mapping[str, Any],
    matrix: np.ndarray,
    y: np.ndarray,
    levels: int,
    seed: int,
) -> tuple[Mapping[str, Any], list]:
    """SALib's result and the (index, interval) names to read from it."""
    kwargs = {"conf_level": CI_LEVEL, "num_resamples": RESAMPLES, "seed": seed}
    if method == "sobol":
        from SALib.analyze import sobol

        result = sobol.analyze(dict(problem), y, calc_second_order=False, **kwargs)
        pairs = [("S1", "S1_conf"), ("ST", "ST_conf")]
    elif method == "morris":
        from SALib.analyze import morris

        result = morris.analyze(dict(problem), matrix, y, num_levels=levels, **kwargs)
        pairs = [("mu_star", "mu_star_conf"), ("mu", None), ("sigma", None)]
    elif method == "latin":
        from SALib.analyze import rbd_fast

        result = rbd_fast.analyze(dict(problem), matrix, y, **kwargs)
        pairs = [("S1", "S1_conf")]
    else:
        raise ValueError(f"no sensitivity analysis for method '{method}'")
    return result, pairs


def point_means(table: pd.DataFrame, arm: str, outcome: str, n_points: int) -> np.ndarray:
    """Per point, the outcome averaged over replicates that succeeded (NaN if none did)."""
    rows = table[(table["arm"] == arm) & (table["status"] == STATUS_OK)]
    means = rows.groupby("point")[outcome].mean()
    return means.reindex(range(n_points)).to_numpy(dtype=float)


def sensitivity_table(plan: SweepPlan, table: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Sensitivity indices of every outcome in every arm (sample methods), and notes.

    An outcome with a missing value at any point (a failed run, or no patient to average) is
    left out with a note: the estimators need every point.
    """
    assert plan.matrix is not None
    frames, notes = [], []
    seed = stream_seed(plan.scenario.scenario.seed, ANALYSIS_STREAM)
    for arm in plan.arms:
        for outcome in plan.outcomes:
            y = point_means(table, arm, outcome, plan.n_points)
            missing = int(np.isnan(y).sum())
            if missing:
                notes.append(
                    f"no sensitivity indices for {outcome} in arm '{arm}': missing at "
                    f"{missing} of {plan.n_points} points"
                )
                continue
            indices = analyze_design(
                plan.method, plan.problem, plan.matrix, y, levels=plan.sweep.levels, seed=seed
            )
            frames.append(indices.assign(arm=arm, outcome=outcome, method=plan.method))
    if not frames:
        return pd.DataFrame(columns=list(SENSITIVITY_COLUMNS)), notes
    sens = pd.concat(frames, ignore_index=True)
    sens["ci_low"] = sens["value"] - sens["conf"]
    sens["ci_high"] = sens["value"] + sens["conf"]
    return sens[list(SENSITIVITY_COLUMNS)], notes


__all__ = [
    "CI_LEVEL",
    "RESAMPLES",
    "SENSITIVITY_COLUMNS",
    "analyze_design",
    "point_means",
    "sensitivity_table",
]
