"""Small hand-made tables for the figure tests: a study, its sample, a sweep, a run scenario."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

LONG_ARM = "cognitive behavioural therapy + transcranial magnetic stim."
"""An arm name long enough to wrap in every label that shows it."""


def treatment_scenario(treated: str = "CBT + TMS") -> dict:
    """Two arms, two replicates; the treated arm enrols at the subacute stage (about 50
    patients), so every run figure, the effect over time included, has data."""

    def intervention(kind: str) -> dict:
        return {"kind": kind, "at_stage": "subacute", "eligible_stages": ["subacute"]}

    return {
        "scenario": {
            "name": "figures test",
            "seed": 5,
            "years": 3,
            "dt_weeks": 4,
            "replicates": 2,
            "record_every_years": 1,
        },
        "cohort": {"size": 200},
        "arms": [
            {"name": "usual care"},
            {"name": treated, "interventions": [intervention("cbt"), intervention("tms")]},
        ],
    }


def study_table(n: int, scale: float, rng: np.random.Generator) -> pd.DataFrame:
    """``study.csv`` rows with the documented columns (scale: the sample-size multiplier)."""
    a, b = rng.normal(0.4, 0.1, n), rng.normal(0.02, 0.005, n)
    direct = rng.normal(0.03, 0.01, n)
    indirect = a * b
    table = pd.DataFrame(
        {
            "replication": np.arange(n),
            "n_hc": int(39 * scale),
            "n_sbp": int(77 * scale),
            "n_cbp": int(31 * scale),
            "d_cbp_hc": rng.normal(0.6, 0.25, n),
            "p_cbp_hc": rng.uniform(0, 0.1 / scale, n),
            "d_cbp_sbp": rng.normal(0.1, 0.2, n),
            "p_cbp_sbp": rng.uniform(0, 1, n),
            "d_sbp_hc": rng.normal(0.4, 0.2, n),
            "p_sbp_hc": rng.uniform(0, 0.3, n),
            "r_ylp": rng.normal(0.25, 0.1, n),
            "p_ylp": rng.uniform(0, 0.1 / scale, n),
            "a_path": a,
            "b_path": b,
            "direct": direct,
            "total": direct + indirect,
            "indirect": indirect,
            "indirect_ci_low": indirect - 0.01 / scale,
            "indirect_ci_high": indirect + 0.01,
            "share_mediated": indirect / (direct + indirect),
            "t_cbp_hc": rng.normal(2.5, 1.0, n),
            "t_cbp_sbp": rng.normal(0.4, 0.8, n),
            "t_sbp_hc": rng.normal(1.8, 0.9, n),
            "beta_ylp": rng.normal(0.03, 0.01, n),
            "p_beta_ylp": rng.uniform(0, 0.1 / scale, n),
            "p_a_path": rng.uniform(0, 0.05, n),
            "p_b_path": rng.uniform(0, 0.05, n),
            "mean_ylp_sbp": rng.normal(1.2, 0.2, n),
            "mean_ylp_cbp": rng.normal(6.0, 1.0, n),
            "mean_age_hc": rng.normal(40.0, 2.0, n),
            "mean_age_patients": rng.normal(42.0, 2.0, n),
        }
    )
    from sim.experiments.study import STUDY_COLUMNS  # the rest: as the study writes them

    for name in STUDY_COLUMNS:
        if name not in table:
            like = next(
                (
                    c
                    for c in ("indirect_ci_low", "indirect_ci_high")
                    if name.startswith("indirect") and name.endswith(c[8:])
                ),
                "indirect",
            )
            table[name] = rng.uniform(0, 0.1, n) if name.startswith("p_") else table[like] * 0.9
    return table


def sample_table(rng: np.random.Generator) -> pd.DataFrame:
    """``sample.csv``: one replication's 147 participants as the study measures them."""
    groups = ["healthy"] * 39 + ["subacute"] * 77 + ["chronic"] * 31
    n = len(groups)
    ylp = np.where(
        np.array(groups) == "healthy", 0.0, rng.gamma(2.0, 3.0, n) * (np.array(groups) != "healthy")
    )
    coping = 12 + 0.5 * ylp + rng.normal(0, 6, n)
    return pd.DataFrame(
        {
            "replication": 0,
            "person": np.arange(n),
            "group": groups,
            "age": rng.uniform(20, 70, n),
            "years_with_pain": ylp,
            "coping_score": np.clip(coping, 0, 52),
            "dmn_perturbation": np.abs(0.8 + 0.05 * ylp + 0.02 * coping + rng.normal(0, 0.4, n)),
            "episodes": (ylp > 0).astype(int),
            "pain": np.where(ylp > 0, rng.uniform(2, 7, n), 0.0),
            "coping": np.clip(coping, 0, 52),
            "adaptation": 0.02 * ylp,
        }
    )


def sweep_table() -> pd.DataFrame:
    """``sweep.parquet`` of a 3 x 3 grid with 2 replicates; the first run failed."""
    grid = list(itertools.product([0.1, 0.2, 0.4], [0.0, 0.3, 0.6], [0, 1]))
    rows = [
        {
            "point": i // 2,
            "replicate": rep,
            "arm": "usual care",
            "seed": i,
            "drift.rate": r,
            "drift.coping_weight": w,
            "year": 2.0,
            "dmn_perturbation": 0.8 + r + w / 2 + 0.01 * rep,
            "pain": 1.0,
            "run_seconds": 0.1,
            "status": "ok",
            "error": "",
        }
        for i, (r, w, rep) in enumerate(grid)
    ]
    rows[0]["status"], rows[0]["dmn_perturbation"] = "failed", 99.0  # left out
    return pd.DataFrame(rows)


def sensitivity_table(arms: tuple[str, ...] = ("usual care",)) -> pd.DataFrame:
    """``sensitivity.csv`` of a Sobol sweep over two settings."""
    return pd.DataFrame(
        [
            {
                "arm": arm,
                "outcome": "dmn_perturbation",
                "parameter": p,
                "method": "sobol",
                "index": k,
                "value": v,
                "conf": 0.1,
                "ci_low": v - 0.1,
                "ci_high": v + 0.1,
            }
            for arm in arms
            for p, k, v in [
                ("drift.rate", "S1", 0.5),
                ("drift.rate", "ST", 0.6),
                ("drift.coping_weight", "S1", 0.2),
                ("drift.coping_weight", "ST", 0.3),
            ]
        ]
    )


def timing_table(
    treatments: tuple[str, ...] = ("CBT", "ACT", "mindfulness", "PRT"),
    outcomes: tuple[str, ...] = ("dmn_perturbation", "healthy_range", "pain", "coping"),
) -> pd.DataFrame:
    """``timing.csv`` of four treatments started after 0-20 years with pain, 2-year follow-up:
    the benefit shrinks with later starts, fewer patients reach the late ones (20 y: 12)."""
    starts = [0, 1, 2, 5, 10, 15, 20]
    pairs = dict(zip(starts, [2800, 2500, 2300, 1700, 900, 300, 12], strict=True))
    scale = {"dmn_perturbation": 0.05, "healthy_range": -0.03, "pain": 0.5, "coping": 3.0}
    rows = []
    for k, treatment in enumerate(treatments):
        for start in starts:
            for outcome in outcomes:
                effect = -scale.get(outcome, 1.0) * (1 + 0.2 * k) * np.exp(-start / 8)
                half = abs(scale.get(outcome, 1.0)) * 2.0 / np.sqrt(pairs[start])
                rows.append(
                    {
                        "treatment": treatment,
                        "start": f"{start} y",
                        "start_years_with_pain": float(start),
                        "start_stage": "",
                        "follow_up_years": 2.0,
                        "outcome": outcome,
                        "n_pairs": pairs[start],
                        "replicates": 1,
                        "treated_mean": 1.0 + effect,
                        "usual_care_mean": 1.0,
                        "difference": effect,
                        "ci_low": effect - half,
                        "ci_high": effect + half,
                        "method": "normal over pairs",
                        "years_with_pain_at_start": start + 0.2,
                        "age_at_start": 30.0 + start,
                        "adaptation_at_start": 0.1,
                    }
                )
    return pd.DataFrame(rows)


def variants_table() -> pd.DataFrame:
    """``variants.csv`` rows of every analysis (rates only), the published design first."""
    rows = [
        ("base", "base", "as designed"),
        ("power", "power:2x", "2 x the design"),
        ("design", "design:first", "subacute: first episode only (no earlier episodes)"),
        ("design", "design:controls", "controls: no chronic history instead of never in pain"),
        ("mechanism", "mechanism:coping_drift", "catastrophizing -> drift off"),
        ("mechanism", "mechanism:coping_drift:2x", "catastrophizing -> drift off, 2 x the design"),
        ("mechanism", "mechanism:no_pain_coping", "pain -> catastrophizing off"),
        ("uncertainty", "set:0", "parameter set 0 (posterior draw)"),
        ("uncertainty", "set:1", "parameter set 1 (posterior draw)"),
        ("index", "index:mean_abs_z", "mean |z| over signature edges"),
        ("edge sign", "edge:flip", "mPFC-PCC edge with the other sign"),
    ]
    rng = np.random.default_rng(11)
    rates = ("cbp_hc", "cbp_sbp", "ylp", "mediation", "mediation_age_sex", "all")
    return pd.DataFrame(
        [
            {
                "analysis": analysis,
                "variant": key,
                "label": text,
                "multiplier": 2.0 if key.endswith("2x") else 1.0,
                **{f"rate_{r}": float(rng.uniform(0, 1)) for r in rates},
            }
            for analysis, key, text in rows
        ]
    )


def longitudinal_table(windows: int = 8) -> pd.DataFrame:
    """``longitudinal.csv``: windows ordered by years with pain; pain's weight is most
    negative at few years with pain, catastrophizing's most positive at many."""
    ylp = np.linspace(0.3, 12.0, windows)
    pain = -0.5 + 0.06 * ylp
    catastrophizing = -0.1 + 0.04 * ylp
    table = {
        "window": np.arange(windows),
        "replications": 20,
        "ylp_mean": ylp,
        "ylp_min": ylp - 0.2,
        "ylp_max": ylp + 0.2,
        "n_chronic": np.linspace(0, 17, windows),
    }
    for name, weight, change in (("pain", pain, -30.0), ("catastrophizing", catastrophizing, -8.0)):
        table |= {
            f"{name}_change": change + 2 * ylp,
            f"{name}_weight": weight,
            f"{name}_low": weight - 0.35,
            f"{name}_high": weight + 0.35,
            f"{name}_ci_low": weight - 0.4,
            f"{name}_ci_high": weight + 0.4,
            f"{name}_negative": np.clip(-weight, 0, 1),
            f"{name}_positive": np.clip(weight, 0, 1),
        }
    return pd.DataFrame(table)
