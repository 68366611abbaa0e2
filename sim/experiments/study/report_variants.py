"""The parts of ``findings.md`` about the versions of the study (``variants.csv``).

Design choices, mechanism checks (with what the mediation needs and how much of its a-path is
selection), adjustment and unmeasured confounding, parameter uncertainty, index and edge-sign
variants, and the longitudinal design; each section only if the study ran it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sim.experiments.study.design import study_design
from sim.experiments.study.longitudinal import CHANGE_FLOOR, OUTCOMES
from sim.experiments.study.mechanisms import COUNTERFACTUAL

if TYPE_CHECKING:  # the result module imports the report
    from sim.experiments.study.result import StudyResult

RATES: tuple[tuple[str, str], ...] = (
    ("rate_cbp_hc", "1. CBP > HC"),
    ("rate_cbp_sbp", "2. CBP = SBP (n.s.)"),
    ("rate_ylp", "3. YLP"),
    ("rate_mediation", "4. mediation"),
    ("rate_mediation_age_sex", "4, age + sex"),
    ("rate_all", "all four"),
)
"""Detection-rate columns of ``variants.csv`` in report order, with their headers."""


def _pct(value: float) -> str:
    return "-" if pd.isna(value) else f"{100 * value:.1f} %"


def _num(value: float, digits: int = 2) -> str:
    return "-" if pd.isna(value) else f"{value:.{digits}f}"


def _rate_cells(row: pd.Series) -> str:
    return " | ".join(_pct(row[c]) for c, _ in RATES)


def _rate_header(first: str, extra: tuple[str, ...] = ()) -> list[str]:
    names = [first, *(h for _, h in RATES), *extra]
    return ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]


def _design(variants: pd.DataFrame) -> list[str]:
    rows = variants[variants["analysis"].isin(["base", "design"])]
    lines = [
        "",
        "## Design choices",
        "",
        'The same population, recruited under other rules (scenarios/README.md, "Design '
        'choices"): each row changes one choice of the design. *Subacute candidates*: how '
        "many the population holds under the rule, the share with earlier episodes and their "
        "median years with pain before the current episode. Rules that leave few candidates "
        "reuse them across replications more (last column: replications per recruited "
        "subacute patient).",
        "",
        *_rate_header(
            "design",
            (
                "subacute candidates",
                "with earlier episodes",
                "prior YLP (median)",
                "reuse",
            ),
        ),
    ]
    for _, row in rows.iterrows():
        lines.append(
            f"| {row['label']} | {_rate_cells(row)} | {int(row['candidates_subacute']):,} | "
            f"{_pct(row['subacute_share_earlier_episodes'])} | "
            f"{_num(row['subacute_median_prior_ylp'])} | "
            f"{_num(row['replications_per_subacute'], 1)} |"
        )
    return lines


def _needs(base: pd.Series, rows: pd.DataFrame, alpha: float) -> list[str]:
    """Sentences: which links the mediation needs, and the a-path's selection share."""
    out = []
    for _, row in rows.iterrows():
        if row["multiplier"] != 1.0:
            continue
        rate = row["rate_mediation"]
        verdict = (
            "needed: without it the mediation is found about as often as by chance"
            if rate <= 2 * alpha
            else (
                "partly needed: the mediation is still found, less often"
                if rate < base["rate_mediation"] - 0.05
                else "not needed for the mediation"
            )
        )
        out.append(
            f"* {row['label'].split(' off:')[0]}: {verdict} "
            f"({_pct(rate)} vs {_pct(base['rate_mediation'])} with every link; median a "
            f"{_num(row['median_a_path'], 3)}, b {_num(row['median_b_path'], 4)})."
        )
    selection = rows[rows["variant"] == "mechanism:no_pain_coping"]
    if len(selection) and base["median_a_path"]:
        share = selection["median_a_path"].iloc[0] / base["median_a_path"]
        out.append(
            f"* Selection in the a-path: with pain -> coping switched off the median a-path is "
            f"{_num(selection['median_a_path'].iloc[0], 3)} PCS points per year with pain "
            f"({_pct(share)} of the model's {_num(base['median_a_path'], 3)}): trait "
            "catastrophizing makes episodes persistent, so people who catastrophize collect "
            "more years with pain. That share of the a-path is selection, not pain changing "
            "coping."
        )
    return out


def _mechanisms(variants: pd.DataFrame, alpha: float) -> list[str]:
    rows = variants[variants["analysis"] == "mechanism"]
    base = variants[variants["analysis"] == "base"].iloc[0]
    lines = [
        "",
        "## Mechanism checks: one causal link switched off",
        "",
        'Each row is the study in a counterfactual model (docs/model.md, "Mechanism '
        'checks"). Drift-only counterfactuals (coping -> drift, relaxation) are the same '
        "people; the others live other lives from the same random numbers. a: PCS points "
        "per year with pain; b: perturbation per PCS point; rho at 0: error correlation of "
        "coping and perturbation at which an unmeasured confounder would explain the "
        "mediation away (Imai, Keele & Yamamoto 2010; median over replications).",
        "",
        *_rate_header("model", ("a", "b", "a*b", "rho at 0")),
        f"| every link on | {_rate_cells(base)} | {_num(base['median_a_path'], 3)} | "
        f"{_num(base['median_b_path'], 4)} | {_num(base['median_indirect'], 4)} | "
        f"{_num(base['median_rho_zero'])} |",
    ]
    for _, row in rows.iterrows():
        lines.append(
            f"| {row['label']} | {_rate_cells(row)} | {_num(row['median_a_path'], 3)} | "
            f"{_num(row['median_b_path'], 4)} | {_num(row['median_indirect'], 4)} | "
            f"{_num(row['median_rho_zero'])} |"
        )
    lines += ["", "What the mediation needs:", "", *_needs(base, rows, alpha)]
    false = rows[rows["variant"].str.startswith(f"mechanism:{COUNTERFACTUAL.key}")]
    if len(false) > 1:
        rates = ", ".join(
            f"{_pct(r['rate_mediation'])} at {r['multiplier']:g}x" for _, r in false.iterrows()
        )
        lines += [
            "",
            f"Mediation found without coping -> drift, by sample size: {rates}. Without a "
            "causal b-path the test still finds 'mediation' more often in larger samples: "
            "coping and perturbation share causes (trait catastrophizing makes episodes "
            "persistent and more intense; pain intensity drives both catastrophizing and "
            "drift), which years with pain and age do not adjust away.",
        ]
    return lines


def _confounding(result: StudyResult, variants: pd.DataFrame) -> list[str]:
    table = result.study
    lines = [
        "",
        "## Mediation: adjustment and unmeasured confounding",
        "",
        f"Adjusted for age and sex, the mediation is found in "
        f"{_pct((table['indirect_age_sex_ci_low'] > 0).mean())} of replications (age only: "
        f"{_pct((table['indirect_ci_low'] > 0).mean())}; median a*b "
        f"{_num(table['indirect_age_sex'].median(), 4)} vs {_num(table['indirect'].median(), 4)})."
        " Sensitivity to an unmeasured confounder of coping and perturbation (Imai, Keele & "
        "Yamamoto 2010, linear models; `sim.analysis.stats.mediation_sensitivity`): the "
        "indirect effect would vanish at an error correlation rho = "
        f"{_num(table['rho_zero'].median())} (median; central 95 % "
        f"{_num(table['rho_zero'].quantile(0.025))} to "
        f"{_num(table['rho_zero'].quantile(0.975))}).",
    ]
    counter = variants[variants["variant"] == f"mechanism:{COUNTERFACTUAL.key}"]
    if len(counter):
        lines[-1] += (
            " In the model without coping -> drift, where the causal b-path is 0, the same "
            f"statistic is {_num(counter['median_rho_zero'].iloc[0])}: the confounding painsim "
            "itself produces, against which the model's value can be read."
        )
    return lines


def _uncertainty(result: StudyResult, variants: pd.DataFrame) -> list[str]:
    rows = variants[variants["analysis"] == "uncertainty"]
    sets = result.parameter_sets
    source = sets["source"].iloc[0] if sets is not None and len(sets) else "-"
    lines = [
        "",
        "## Parameter uncertainty",
        "",
        f"The study in {len(rows)} parameter sets ({source}; values in `parameter_sets.csv`), "
        "each with its own population (same seed).",
        "",
        *_rate_header("parameter set"),
    ]
    short = rows[rows["replications"] < len(result.study)]
    for _, row in rows.iterrows():
        label = row["label"]
        if row["replications"] < len(result.study):
            label += f" ({int(row['replications'])} replications)"
        lines.append(f"| {label} | {_rate_cells(row)} |")
    if len(short):
        lines[3] += (
            " A set whose population is too small for a replication's sample (a group or an age "
            "stratum of the controls runs short) keeps only the replications it could fill: "
            "its rates are rougher, and its population differs from the design's in composition."
        )
    spread = " | ".join(
        f"{_pct(rows[c].median())} ({_pct(rows[c].min())}-{_pct(rows[c].max())})" for c, _ in RATES
    )
    lines.append(f"| median (min-max) over sets | {spread} |")
    return lines


def _indices(variants: pd.DataFrame) -> list[str]:
    rows = variants[variants["analysis"].isin(["base", "index", "edge sign"])]
    lines = [
        "",
        "## Index and edge-sign variants",
        "",
        "The same replications (same people, noise and bootstrap resamples) scored with another "
        "perturbation index (`sim.experiments.study.indexes`), or the model with another sign "
        "of a signature edge (same people and lives). If the rates differ, the findings depend "
        "on the choice.",
        "",
        *_rate_header("index / signature"),
    ]
    for _, row in rows.iterrows():
        name = row["index"] if row["analysis"] != "edge sign" else row["label"]
        lines.append(f"| {name} | {_rate_cells(row)} |")
    return lines


def _longitudinal(result: StudyResult) -> list[str]:
    study = study_design(result.scenario)
    table = result.longitudinal
    lines = [
        "",
        "## Longitudinal design (WCP 2024 poster): what painsim predicts",
        "",
        f"{study.longitudinal_subacute} subacute and {study.longitudinal_chronic} chronic "
        f"patients scanned at baseline and seen again {study.follow_up_years:g} years later, "
        f"ordered by years with pain, windows of {study.window}; per window the path weight "
        "(standardized regression weight = r) of % change on baseline perturbation: median "
        "over replications, central 95 % of replications, and the share of replications in "
        f"which it is significantly negative / positive (alpha {study.alpha:g}). % change = "
        f"100 (follow-up - baseline) / baseline (baselines below {CHANGE_FLOOR:g} count as "
        f"{CHANGE_FLOOR:g}); negative = improvement. Mood is not modelled: catastrophizing "
        "stands in for it. The poster reported, at low years with pain, a path weight of up "
        "to -0.694 for pain change, and at high years with pain up to 0.455 for mood worsening.",
        "",
        "| window | YLP mean | CBP in window | pain change (median %) | pain weight "
        "(95 % range) | sig. neg. / pos. | catastrophizing change | catastrophizing weight "
        "(95 % range) | sig. neg. / pos. |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for _, row in table.iterrows():
        cells = [
            f"{int(row['window'])}",
            _num(row["ylp_mean"]),
            _num(row["n_chronic"], 0),
        ]
        for outcome in OUTCOMES:
            cells += [
                _num(row[f"{outcome}_change"], 0),
                f"{_num(row[f'{outcome}_weight'])} ({_num(row[f'{outcome}_low'])} to "
                f"{_num(row[f'{outcome}_high'])})",
                f"{_pct(row[f'{outcome}_negative'])} / {_pct(row[f'{outcome}_positive'])}",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    low = table.iloc[: max(1, len(table) // 3)]
    high = table.iloc[-max(1, len(table) // 3) :]
    lines += [
        "",
        f"Low-YLP windows (first third, mean YLP {_num(low['ylp_mean'].min())}-"
        f"{_num(low['ylp_mean'].max())}): median pain weight "
        f"{_num(float(np.median(low['pain_weight'])))}; high-YLP windows (last third, "
        f"{_num(high['ylp_mean'].min())}-{_num(high['ylp_mean'].max())}): median "
        f"catastrophizing weight {_num(float(np.median(high['catastrophizing_weight'])))}.",
    ]
    return lines


def variants_markdown(result: StudyResult) -> list[str]:
    """The sections of ``findings.md`` about the study's variants (empty if none ran)."""
    variants = result.variants
    study = study_design(result.scenario)
    lines: list[str] = []
    if variants is not None and len(variants):
        kinds = set(variants["analysis"])
        if "design" in kinds:
            lines += _design(variants)
        if study.mechanisms and "mechanism" in kinds:
            lines += _mechanisms(variants, study.alpha)
        lines += _confounding(result, variants)
        if "uncertainty" in kinds:
            lines += _uncertainty(result, variants)
        if kinds & {"index", "edge sign"}:
            lines += _indices(variants)
    if result.longitudinal is not None and len(result.longitudinal):
        lines += _longitudinal(result)
    return lines
