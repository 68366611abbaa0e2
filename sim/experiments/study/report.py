"""``findings.md``: the study's report, from a :class:`~sim.experiments.study.StudyResult`.

The findings table (detection rates and effects), the power table, the mechanism check (the
counterfactual model) and the design (candidates per group, reuse of people across
replications), with the numbers of ``findings.csv``, ``power.csv`` and ``counterfactual.csv``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from sim.experiments.study.design import (
    ADULT_AGE,
    GROUPS,
    group_sizes,
    mean_coping_factor,
    study_design,
)
from sim.experiments.study.findings import power_summary, summarize_findings
from sim.experiments.study.report_variants import variants_markdown

if TYPE_CHECKING:  # the result module imports this one
    from sim.experiments.study.result import StudyResult


def _percent(value: float) -> str:
    return f"{100 * value:.0f} %"


def _effect(row: Mapping[str, Any]) -> str:
    digits = 3 if row["effect"] == "a*b" else 2
    return (
        f"{row['effect']} = {row['median']:.{digits}f} "
        f"({row['low']:.{digits}f} to {row['high']:.{digits}f})"
    )


def findings_markdown(result: StudyResult) -> str:
    """``findings.md``: findings table, power table, mechanism check and design notes."""
    scenario = result.scenario
    study = study_design(scenario)
    alpha = study.alpha
    summary = result.findings
    n_hc, n_sbp, n_cbp = group_sizes(study)
    lines = [
        "# Virtual Heukamp study: findings",
        "",
        f"Scenario `{scenario.scenario.name}`, seed {scenario.scenario.seed}: "
        f"{len(result.study)} replications of a study of {n_hc} healthy controls, {n_sbp} "
        f"subacute and {n_cbp} chronic back-pain patients, alpha = {alpha:g}. The method is in "
        'docs/model.md, "Virtual Heukamp study"; one row per replication is in `study.csv`.',
        "",
        "*Detection rate*: share of replications in which the finding comes out as published "
        f"(at alpha = {alpha:g}; for finding 2, the share in which chronic and subacute patients "
        "do **not** differ significantly). *Effect*: median over replications and the central "
        "95 % of replications. The coping score is catastrophizing (higher = worse coping), so "
        "a mediation through worse coping has a positive indirect effect a*b.",
        "",
        "## Findings",
        "",
        "| finding | published | target | simulated effect: median (95 % range) | detection rate "
        "| target met |",
        "|---|---|---|---|---|---|",
    ]
    for row in summary.to_dict("records"):
        target = "-" if pd.isna(row["target"]) else f">= {_percent(row['target'])}"
        met = "-" if pd.isna(row["met"]) else ("yes" if row["met"] else "**no**")
        effect = "-" if row["key"] == "all" else _effect(row)
        lines.append(
            f"| {row['finding']} | {row['published']} | {target} | {effect} | "
            f"{_percent(row['detection_rate'])} | {met} |"
        )
    medians = result.study.median(numeric_only=True)
    lines += [
        "",
        f"Median over replications: years lived with pain {medians['mean_ylp_sbp']:.1f} "
        f"(subacute) and {medians['mean_ylp_cbp']:.1f} (chronic, group means); share of the "
        f"years-with-pain effect carried by coping {medians['share_mediated']:.2f}; age-adjusted "
        f"slope {medians['beta_ylp']:.3f} perturbation units per year with pain.",
    ]
    if len(result.power):
        power = power_summary(result.power, alpha)
        lines += [
            "",
            "## Power: detection rate vs sample size",
            "",
            "The same study with every group scaled. Use it to size a new study: the row where "
            "a finding's detection rate reaches 80 % is the sample that finds it four times in "
            "five, if the model is right.",
            "",
            "| sample | healthy / subacute / chronic | 1. chronic > healthy | 2. chronic = "
            "subacute (n.s.) | 3. years with pain | 4. mediation | subacute > healthy |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in power.to_dict("records"):
            lines.append(
                f"| {row['multiplier']:g}x | {row['n_hc']} / {row['n_sbp']} / {row['n_cbp']} | "
                f"{_percent(row['cbp_hc'])} | {_percent(row['cbp_sbp'])} | "
                f"{_percent(row['ylp'])} | {_percent(row['mediation'])} | "
                f"{_percent(row['sbp_hc'])} |"
            )
    if len(result.counterfactual):
        counter = summarize_findings(result.counterfactual, alpha).set_index("key")
        lines += [
            "",
            "## Mechanism check: coping does not feed the drift",
            "",
            "The same study (same people, same pain and coping histories, same recruitment and "
            "noise) in a model with `drift.coping_weight` = 0 and `drift.rate` multiplied by "
            f"{mean_coping_factor(scenario.params):.2f}, the community mean of the coping "
            "factor, so the network drifts as fast on average: pain still makes coping worse, "
            "but coping no longer speeds the drift.",
            "",
            "| finding | model: detection rate | model: median effect | counterfactual: "
            "detection rate | counterfactual: median effect |",
            "|---|---|---|---|---|",
        ]
        for row in summary.to_dict("records"):
            if row["key"] == "all":
                continue
            other = counter.loc[row["key"]]
            digits = 3 if row["effect"] == "a*b" else 2
            lines.append(
                f"| {row['finding']} | {_percent(row['detection_rate'])} | "
                f"{row['median']:.{digits}f} | {_percent(other['detection_rate'])} | "
                f"{other['median']:.{digits}f} |"
            )
    lines += variants_markdown(result)
    lines += [
        "",
        "## Design",
        "",
        "| group | candidates in the population | median age | "
        "years with pain: median | 1st-99th percentile | max | coping (PCS, mean) | "
        "adaptation (mean) | mean replications per recruited person |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in GROUPS:
        g = result.pool[name]
        lines.append(
            f"| {name} | {g['candidates']:,} | {g['median_age']:.1f} | "
            f"{g['median_years_with_pain']:.2f} | {g['p01_years_with_pain']:.2f}-"
            f"{g['p99_years_with_pain']:.1f} | {g['max_years_with_pain']:.1f} | "
            f"{g['mean_coping']:.1f} | {g['mean_adaptation']:.2f} | "
            f"{result.sharing[name]:.2f} |"
        )
    lines += [
        "",
        f"Population: {study.population:,} people simulated from age {ADULT_AGE:g} without pain "
        f"history; ages {study.age_min:g}-{study.age_max:g}; subacute recruitment window "
        f"{study.recruitment_years:g} years; controls "
        f"{'frequency-matched in age to the patients' if study.match_age else 'not age-matched'}."
        f" Measurement: connectivity test-retest reliability (ICC) "
        f"{study.connectivity_reliability:g}, coping questionnaire reliability "
        f"{study.coping_reliability:g}; {study.bootstrap_resamples:,} bootstrap resamples.",
        "",
    ]
    return "\n".join(lines)
