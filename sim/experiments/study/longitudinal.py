"""The longitudinal design: baseline scan, 6-month follow-up, sliding windows of years with pain.

The group's WCP 2024 poster (brief §1 [C]) followed 57 patients (40 subacute, 17 chronic) for 6
months, ordered them by years lived with pain (YLP) and fitted, in sliding windows of 25
patients, structural equation models in which baseline DMN perturbation predicted the % change in
pain and in mood: in low-YLP windows perturbation predicted pain change (maximum path weight
-0.694), in high-YLP windows mood worsening (0.455). This module runs that design on painsim's
people (``[study] longitudinal = true``) so its prediction can be checked against the cohort:

* each replication recruits ``longitudinal_subacute`` and ``longitudinal_chronic`` patients
  (their pain and coping were observed again ``follow_up_years`` after the scan) and the design's
  ``n_healthy`` age-matched controls, the reference of the perturbation index;
* pain is reported with the model's report noise (``pain.report_sd``) at both visits, coping
  (catastrophizing, PCS) with the questionnaire's error at both visits;
* % change = 100 * (follow-up - baseline) / baseline, with a baseline below 1 counted as 1 (so
  that a patient reporting almost no pain cannot produce an unbounded change);
* patients are ordered by YLP; in every window of ``window`` consecutive patients the path weight
  of % change on baseline perturbation is the standardized regression weight (with one
  predictor, the Pearson r; CI from Fisher's z).

Mood is not modelled. Catastrophizing is the nearest modelled quantity and stands in for it: its
windows are a prediction for pain catastrophizing, not for HADS mood.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.analysis.stats import standardized_slope
from sim.core.brain import build_brain
from sim.core.interventions import reported_pain
from sim.experiments.study.design import CBP, HC, study_design, study_rng
from sim.experiments.study.measurement import (
    index_scores,
    observe_connectivity,
    observe_coping,
    recruit,
)
from sim.experiments.study.pool import Pool
from sim.scenario import Scenario

LONGITUDINAL_STREAM = 3
"""Second spawn-key entry of the longitudinal replications' random streams."""
CHANGE_FLOOR = 1.0
"""Smallest baseline (NRS point, PCS point) a % change is taken relative to."""
OUTCOMES: dict[str, str] = {"pain": "pain", "catastrophizing": "catastrophizing (for mood)"}
"""Outcomes of the windows (column prefix -> label)."""
WINDOW_COLUMNS: tuple[str, ...] = (
    "replication",
    "window",
    "ylp_mean",
    "ylp_min",
    "ylp_max",
    "n_chronic",
    *(f"{o}_{c}" for o in OUTCOMES for c in ("change", "weight", "ci_low", "ci_high", "p")),
)
"""Columns of ``longitudinal_replications.csv`` (one row per replication and window)."""
SUMMARY_COLUMNS: tuple[str, ...] = (
    "window",
    "replications",
    "ylp_mean",
    "ylp_min",
    "ylp_max",
    "n_chronic",
    *(
        f"{o}_{c}"
        for o in OUTCOMES
        for c in (
            "change",
            "weight",
            "low",
            "high",
            "ci_low",
            "ci_high",
            "negative",
            "positive",
        )
    ),
)
"""Columns of ``longitudinal.csv`` (one row per window; meanings in ``results/README.md``)."""


def percent_change(baseline: np.ndarray, follow_up: np.ndarray) -> np.ndarray:
    """100 * (follow-up - baseline) / max(baseline, :data:`CHANGE_FLOOR`).

    Examples
    --------
    >>> percent_change(np.array([4.0, 0.2]), np.array([2.0, 1.2])).tolist()
    [-50.0, 100.0]
    """
    return 100.0 * (follow_up - baseline) / np.maximum(baseline, CHANGE_FLOOR)


def windows(
    years_with_pain: np.ndarray,
    perturbation: np.ndarray,
    changes: dict[str, np.ndarray],
    chronic: np.ndarray,
    size: int,
    level: float = 0.95,
) -> list[dict[str, float]]:
    """Sliding windows of ``size`` patients ordered by years with pain: one row per window.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ylp, pert = rng.uniform(0, 30, 40), rng.normal(size=40)
    >>> rows = windows(ylp, pert, {"pain": -pert, "catastrophizing": pert}, ylp > 10, 25)
    >>> len(rows), round(rows[0]["pain_weight"], 6), round(rows[0]["catastrophizing_weight"], 6)
    (16, -1.0, 1.0)
    """
    order = np.argsort(years_with_pain, kind="stable")
    ylp, pert = years_with_pain[order], perturbation[order]
    changes = {k: v[order] for k, v in changes.items()}
    chronic = chronic[order]
    rows = []
    for w in range(ylp.size - size + 1):
        part = slice(w, w + size)
        row: dict[str, float] = {
            "window": w,
            "ylp_mean": float(ylp[part].mean()),
            "ylp_min": float(ylp[part].min()),
            "ylp_max": float(ylp[part].max()),
            "n_chronic": int(chronic[part].sum()),
        }
        for outcome, change in changes.items():
            weight, low, high, p = standardized_slope(pert[part], change[part], level)
            row.update(
                {
                    f"{outcome}_change": float(change[part].mean()),
                    f"{outcome}_weight": weight,
                    f"{outcome}_ci_low": low,
                    f"{outcome}_ci_high": high,
                    f"{outcome}_p": p,
                }
            )
        rows.append(row)
    return rows


def follow_up_replication(
    pool: Pool, scenario: Scenario, replication: int, index: str = "mean_abs_z"
) -> list[dict[str, float]]:
    """One replication of the longitudinal design: its window rows.

    The pool must hold the follow-up of its patient candidates (a population simulated with
    ``[study] longitudinal = true``).
    """
    study, params = study_design(scenario), scenario.params
    brain = build_brain(params.brain)
    rng = study_rng(scenario.scenario.seed, LONGITUDINAL_STREAM, replication)
    sizes = (study.n_healthy, study.longitudinal_subacute, study.longitudinal_chronic)
    rows = recruit(pool, sizes, rng, match_age=study.match_age, age_min=study.age_min)
    group = pool.group[rows]
    edges = observe_connectivity(pool.edges_z[rows], brain, study.connectivity_reliability, rng)
    scores = index_scores(edges, group == HC, brain, params, (index,))[index]
    patients = rows[group != HC]
    k, report_sd = patients.size, params.pain.report_sd
    pain = [
        reported_pain(values[patients], rng.standard_normal(k), report_sd)
        for values in (pool.pain, pool.followup_pain)
    ]
    coping = [
        observe_coping(values[patients], params, study.coping_reliability, rng)
        for values in (pool.coping, pool.followup_coping)
    ]
    out = windows(
        pool.years_with_pain[patients],
        scores[group != HC],
        {"pain": percent_change(*pain), "catastrophizing": percent_change(*coping)},
        pool.group[patients] == CBP,
        study.window,
        1 - study.alpha,
    )
    return [{"replication": replication, **row} for row in out]


@dataclass(frozen=True)
class LongitudinalJob:
    """Replications ``first`` to ``stop - 1`` of the longitudinal design (a backend task)."""

    key: str
    pool: Pool
    scenario: Scenario
    first: int
    stop: int
    index: str = "mean_abs_z"

    def run(self) -> list[dict[str, float]]:
        rows = []
        for r in range(self.first, self.stop):
            rows.extend(follow_up_replication(self.pool, self.scenario, r, self.index))
        return rows


def summarize_windows(table: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Per window: median YLP and path weights over replications, their spread and how often
    a study would call the weight significant (``longitudinal.csv``)."""
    rows = []
    for window, part in table.groupby("window", sort=True):
        row: dict[str, float] = {
            "window": int(window),
            "replications": len(part),
            **{c: float(part[c].median()) for c in ("ylp_mean", "ylp_min", "ylp_max")},
            "n_chronic": float(part["n_chronic"].median()),
        }
        for outcome in OUTCOMES:
            weight, p = part[f"{outcome}_weight"], part[f"{outcome}_p"]
            significant = p < alpha
            row.update(
                {
                    f"{outcome}_change": float(part[f"{outcome}_change"].median()),
                    f"{outcome}_weight": float(weight.median()),
                    f"{outcome}_low": float(weight.quantile(0.025)),
                    f"{outcome}_high": float(weight.quantile(0.975)),
                    f"{outcome}_ci_low": float(part[f"{outcome}_ci_low"].median()),
                    f"{outcome}_ci_high": float(part[f"{outcome}_ci_high"].median()),
                    f"{outcome}_negative": float((significant & (weight < 0)).mean()),
                    f"{outcome}_positive": float((significant & (weight > 0)).mean()),
                }
            )
        rows.append(row)
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
