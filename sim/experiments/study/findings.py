"""The published findings, how to read each in one replication, and detection rates.

A finding *holds* in a replication if it comes out as published at ``alpha`` (for finding 2,
if chronic and subacute patients do **not** differ significantly). Its *detection rate* is the
share of replications in which it holds (:func:`detection_rates`); :func:`summarize_findings`
makes the findings table (``findings.csv``) and :func:`power_summary` the power table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

FINDINGS_COLUMNS: tuple[str, ...] = (
    "finding",
    "key",
    "published",
    "effect",
    "median",
    "low",
    "high",
    "detection_rate",
    "target",
    "met",
)
"""Columns of ``findings.csv`` (meanings in ``results/README.md``)."""


@dataclass(frozen=True)
class Finding:
    """A published finding, how to read it in one replication, and the target detection rate."""

    key: str
    label: str
    published: str
    effect: str
    effect_name: str
    target: float | None

    def holds(self, table: pd.DataFrame, alpha: float) -> pd.Series:
        """Per replication: does the finding come out at ``alpha``?"""
        if self.key == "cbp_hc":
            return (table["d_cbp_hc"] > 0) & (table["p_cbp_hc"] < alpha)
        if self.key == "cbp_sbp":
            return table["p_cbp_sbp"] >= alpha
        if self.key == "ylp":
            return (table["r_ylp"] > 0) & (table["p_ylp"] < alpha)
        if self.key == "mediation":
            return table["indirect_ci_low"] > 0
        if self.key == "sbp_hc":
            return (table["d_sbp_hc"] > 0) & (table["p_sbp_hc"] < alpha)
        if self.key == "mediation_age_sex":
            return table["indirect_age_sex_ci_low"] > 0
        if self.key == "all":
            return pd.concat([f.holds(table, alpha) for f in FINDINGS[:4]], axis=1).all(axis=1)
        raise KeyError(self.key)


FINDINGS: tuple[Finding, ...] = (
    Finding(
        "cbp_hc",
        "1. DMN perturbation, chronic > healthy",
        "significant; d >= ~0.48 implied (31 vs 39)",
        "d_cbp_hc",
        "d",
        0.70,
    ),
    Finding(
        "cbp_sbp",
        "2. chronic vs subacute: no difference",
        "not significant; d within +-0.42 implied (31 vs 77)",
        "d_cbp_sbp",
        "d",
        0.60,
    ),
    Finding(
        "ylp",
        "3. perturbation rises with years lived with pain",
        "positive, significant; r >= ~0.19 implied (108 patients)",
        "r_ylp",
        "r",
        0.70,
    ),
    Finding(
        "mediation",
        "4. coping mediates years with pain -> perturbation",
        "significant indirect effect (size not reported)",
        "indirect",
        "a*b",
        0.60,
    ),
    Finding(
        "sbp_hc",
        "subacute > healthy (not a published finding)",
        "not reported in the abstract",
        "d_sbp_hc",
        "d",
        None,
    ),
    Finding(
        "mediation_age_sex",
        "4 adjusted for age and sex (not a published analysis)",
        "not reported",
        "indirect_age_sex",
        "a*b",
        None,
    ),
    Finding("all", "all four findings in the same replication", "-", "indirect", "a*b", None),
)


def summarize_findings(table: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Per finding: median effect, central 95 % range over replications, detection rate."""
    rows = []
    for f in FINDINGS:
        effect = table[f.effect].to_numpy(dtype=float)
        rate = float(f.holds(table, alpha).mean())
        rows.append(
            {
                "finding": f.label,
                "key": f.key,
                "published": f.published,
                "effect": f.effect_name,
                "median": float(np.median(effect)),
                "low": float(np.percentile(effect, 2.5)),
                "high": float(np.percentile(effect, 97.5)),
                "detection_rate": rate,
                "target": f.target,
                "met": None if f.target is None else bool(rate >= f.target),
            }
        )
    return pd.DataFrame(rows)


def detection_rates(table: pd.DataFrame, alpha: float) -> dict[str, float]:
    """Finding key -> share of replications in which it holds."""
    return {f.key: float(f.holds(table, alpha).mean()) for f in FINDINGS}


def power_summary(power: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Detection rate of every finding per sample-size multiplier (one row per multiplier)."""
    rows = []
    for m, part in power.groupby("multiplier", sort=True):
        first = part.iloc[0]
        rows.append(
            {
                "multiplier": float(m),
                "n_hc": int(first["n_hc"]),
                "n_sbp": int(first["n_sbp"]),
                "n_cbp": int(first["n_cbp"]),
                "replications": len(part),
                **detection_rates(part, alpha),
            }
        )
    return pd.DataFrame(rows)
