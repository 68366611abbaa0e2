"""Figures 6a-d of a virtual study: groups, years with pain, mediation, power.

Each figure function takes the study's tables; :func:`study_tables` reads them from a study
result (``StudyResult`` or what :func:`sim.viz.figures.sources.load_source` gives for a study
folder) and :func:`add_study` draws every figure that fits, with its caption.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from sim.analysis.stats import ols_band, welch_test, wilson_interval
from sim.core.outcomes import label
from sim.viz import style as hs
from sim.viz.figures.common import (
    FigureError,
    FigureWriter,
    fit_title,
    fmt,
    name_of,
    pct,
    require,
)
from sim.viz.figures.layout import best_legend, settle_legends

GROUP_LABELS = {
    "healthy": "Healthy\ncontrols",
    "subacute": "Subacute\nback pain",
    "chronic": "Chronic\nback pain",
}
GROUP_COLORS = {
    "healthy": hs.OKABE_ITO["bluish green"],
    "subacute": hs.STAGE_COLORS["subacute"],
    "chronic": hs.STAGE_COLORS["chronic"],
}
CONTRASTS_SHORT = {"d_cbp_hc": "CBP vs\nHC", "d_cbp_sbp": "CBP vs\nSBP", "d_sbp_hc": "SBP vs\nHC"}
"""The contrasts in a narrow column: chronic (CBP), subacute (SBP) back pain, healthy (HC)."""
CONTRASTS = {
    "d_cbp_hc": "Chronic vs\nhealthy",
    "d_cbp_sbp": "Chronic vs\nsubacute",
    "d_sbp_hc": "Subacute vs\nhealthy",
}
PUBLISHED_FINDINGS: dict[str, str] = {
    "cbp_hc": "1. chronic > healthy",
    "cbp_sbp": "2. chronic ≈ subacute",
    "ylp": "3. rises with years with pain",
    "mediation": "4. mediated by coping",
}
"""Legend labels of the four published findings (keys of ``sim.experiments.study.FINDINGS``)."""
DEFAULT_ALPHA = 0.05


@dataclass(frozen=True)
class StudyTables:
    """The tables the study figures draw.

    Attributes
    ----------
    study
        One row per replication (``study.csv``).
    power
        The same per power multiplier (``power.csv``), or None.
    sample
        The participants of one replication (``sample.csv``), or None.
    alpha
        The study's significance level.
    counterfactual
        The study in the model without catastrophizing -> drift (``counterfactual.csv``), or
        None.
    seed
        The scenario's seed (jitter and bootstraps repeat exactly).
    """

    study: pd.DataFrame
    power: pd.DataFrame | None
    sample: pd.DataFrame | None
    alpha: float
    counterfactual: pd.DataFrame | None = None
    seed: int = 0


def _table(result: Any, name: str) -> pd.DataFrame | None:
    table = getattr(result, name, None)
    return table if isinstance(table, pd.DataFrame) and len(table) else None


def study_tables(result: Any) -> StudyTables:
    """The study figures' tables from a study result (anything with ``.study``, ``.power``,
    ``.sample`` and ``.scenario``; missing or empty tables are None)."""
    study = _table(result, "study")
    if study is None:
        raise FigureError("study: no replications to plot")
    scenario = getattr(result, "scenario", None)
    section = getattr(scenario, "study", None)
    alpha = float(getattr(section, "alpha", DEFAULT_ALPHA))
    run = getattr(scenario, "scenario", None)
    return StudyTables(
        study,
        _table(result, "power"),
        _table(result, "sample"),
        alpha,
        _table(result, "counterfactual"),
        int(getattr(run, "seed", 0) or 0),
    )


def finding_holds(table: pd.DataFrame, key: str, alpha: float) -> pd.Series:
    """Per replication, does a published finding come out (``sim.experiments.study`` rules)?"""
    from sim.experiments.study import FINDINGS  # the study's own rules, defined once

    for finding in FINDINGS:
        if finding.key == key:
            return finding.holds(table, alpha)
    raise KeyError(key)


def _violin(
    ax: Axes, data: list[np.ndarray], colors: list[str], s: hs.Style, rng: np.random.Generator
) -> None:
    parts = ax.violinplot(data, positions=range(len(data)), showextrema=False, widths=0.8)
    for body, color in zip(parts["bodies"], colors, strict=True):
        body.set_facecolor(color)
        body.set_alpha(0.25)
    for i, (values, color) in enumerate(zip(data, colors, strict=True)):
        jitter = rng.uniform(-0.12, 0.12, len(values))
        ax.scatter(
            i + jitter,
            values,
            s=18 if s.talk else 2,
            color=color,
            alpha=0.7,
            linewidths=0,
            zorder=3,
        )
        q1, med, q3 = np.percentile(values, [25, 50, 75])
        ax.plot([i - 0.25, i + 0.25], [med, med], color="black", linewidth=s.line, zorder=4)
        ax.plot(
            [i, i],
            [q1, q3],
            color="black",
            linewidth=s.line * 2,
            zorder=4,
            solid_capstyle="butt",
            alpha=0.6,
        )


def _summary_handles(s: hs.Style) -> list[Line2D]:
    return [
        Line2D([], [], color="black", linewidth=s.line, label="median"),
        Line2D([], [], color="black", alpha=0.6, linewidth=s.line * 2, label="interquartile range"),
    ]


def _bracket(ax: Axes, x0: float, x1: float, y: float, text: str, s: hs.Style) -> None:
    """A bracket between two groups with the contrast's numbers above it."""
    tick = 0.02 * (ax.get_ylim()[1] - ax.get_ylim()[0])
    ax.plot(
        [x0, x0, x1, x1],
        [y - tick, y, y, y - tick],
        color="#333333",
        linewidth=1.2 if s.talk else 0.5,
        clip_on=False,
    )
    ax.text(
        (x0 + x1) / 2,
        y + tick / 2,
        text,
        ha="center",
        va="bottom",
        fontsize=s.small if s.talk else s.tiny,
    )


def study_groups(
    study: pd.DataFrame,
    style: str | hs.Style = "talk",
    *,
    sample: pd.DataFrame | None = None,
    alpha: float = DEFAULT_ALPHA,
    seed: int = 0,
) -> Figure:
    """Figure 6a: the three groups, with Cohen's d and p of each contrast.

    With ``sample`` (one replication, a row per participant with ``group`` and
    ``dmn_perturbation``): violins with every participant and brackets with d and Welch's p of
    each pair of groups. Without: the three group contrasts (Cohen's d) over all replications,
    one point per replication, with the share of replications in which each is significant.
    Black line: median; grey bar: interquartile range.
    """
    s = hs.get_style(style)
    rng = np.random.default_rng(seed)
    size = s.small if s.talk else s.tiny
    with hs.use(s):
        fig = hs.new_figure(s, paper_height=3.4)
        ax = fig.subplots()
        if sample is not None:
            require(sample, ["group", "dmn_perturbation"], "sample")
            groups = [g for g in GROUP_LABELS if g in set(sample["group"])]
            data = [
                sample.loc[sample["group"] == g, "dmn_perturbation"].to_numpy(float) for g in groups
            ]
            _violin(ax, data, [GROUP_COLORS[g] for g in groups], s, rng)
            ax.set_xticks(
                range(len(groups)),
                [f"{GROUP_LABELS[g]}\n(n = {len(d)})" for g, d in zip(groups, data, strict=True)],
            )
            ax.set_ylabel(label("dmn_perturbation"))
            top = max(float(np.nanmax(d)) for d in data if d.size)
            bottom = min(0.0, min(float(np.nanmin(d)) for d in data if d.size))
            step = 0.13 * (top - bottom)
            ax.set_ylim(bottom, top + step * 3.3)
            pairs = [
                (i, j)
                for i, j in ((0, 1), (1, 2), (0, 2))
                if j < len(groups) and len(data[i]) > 1 and len(data[j]) > 1
            ]
            for level, (i, j) in enumerate(pairs):
                _, p, d = welch_test(data[j], data[i])
                _bracket(
                    ax,
                    i + 0.05,
                    j - 0.05,
                    top + step * (0.4 + level),
                    f"d = {fmt(d, '.2f')}, p = {fmt_p(p)}",
                    s,
                )
            fit_title(ax, "DMN perturbation by group (one replication; Welch t-test)")
        else:
            require(study, list(CONTRASTS), "study.csv")
            data = [study[c].to_numpy(float) for c in CONTRASTS]
            colors = [
                GROUP_COLORS["chronic"],
                hs.OKABE_ITO["reddish purple"],
                GROUP_COLORS["subacute"],
            ]
            ax.axhline(0, color=hs.NEUTRAL, linewidth=1.2 if s.talk else 0.5)
            _violin(ax, data, colors, s, rng)
            labels = []
            names = CONTRASTS if s.talk else CONTRASTS_SHORT
            for contrast, name in names.items():
                p_col = "p_" + contrast.removeprefix("d_")
                share = (study[p_col] < alpha).mean() if p_col in study else math.nan
                median = float(np.nanmedian(study[contrast]))
                significant = fmt(100 * share, ".0f")
                if not s.talk:  # a narrow column: one short line each
                    labels.append(f"{name}\nd {fmt(median, '.2f')}\n{significant} % sig.")
                    continue
                labels.append(
                    f"{name}\nmedian d {fmt(median, '.2f')}\np < {alpha:g}: {significant} %"
                )
            ax.set_xticks(range(len(CONTRASTS)), labels)
            ax.set_ylabel("Effect size, Cohen's d\n(DMN perturbation)")
            fit_title(
                ax,
                f"Group differences in {len(study)} replicated studies (one point each)"
                if s.talk
                else "Group differences (one point per study)",
            )
        ax.spines["bottom"].set_visible(False)
        ax.tick_params(axis="x", length=0)
        if s.talk:
            ax.legend(
                handles=_summary_handles(s),
                loc="upper left",
                bbox_to_anchor=(1.0, 1.0),
                fontsize=size,
            )
        else:  # a narrow column: the legend under the plot, the plot as wide as it can be
            fig.legend(
                handles=_summary_handles(s), loc="outside lower center", ncols=2, fontsize=size
            )
    return fig


def fmt_p(p: float) -> str:
    """A p value for a label.

    Examples
    --------
    >>> fmt_p(0.0213), fmt_p(0.00004)
    ('0.021', '< 0.001')
    """
    if not np.isfinite(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def study_years(
    study: pd.DataFrame,
    style: str | hs.Style = "talk",
    *,
    sample: pd.DataFrame | None = None,
    alpha: float = DEFAULT_ALPHA,
) -> Figure:
    """Figure 6b: DMN perturbation and years lived with pain.

    With ``sample``: scatter of the patients of one replication with a least-squares line.
    Without: the correlation r with years lived with pain in every replication (histogram),
    with the share of replications in which it is positive and significant.
    """
    s = hs.get_style(style)
    with hs.use(s):
        fig = hs.new_figure(s, paper_height=2.8)
        ax = fig.subplots()
        if sample is not None:
            require(sample, ["group", "dmn_perturbation", "years_with_pain"], "sample")
            patients = sample[sample["group"] != "healthy"]
            for g in ("subacute", "chronic"):
                part = patients[patients["group"] == g]
                ax.scatter(
                    part["years_with_pain"],
                    part["dmn_perturbation"],
                    color=GROUP_COLORS[g],
                    s=40 if s.talk else 4,
                    alpha=0.8,
                    label=GROUP_LABELS[g].replace("\n", " "),
                    linewidths=0,
                )
            x = patients["years_with_pain"].to_numpy(float)
            grid = np.linspace(0, x.max(), 100)
            fit, low, high, _, r = ols_band(x, patients["dmn_perturbation"].to_numpy(float), grid)
            ax.fill_between(grid, low, high, color="#333333", alpha=0.15, linewidth=0)
            ax.plot(grid, fit, color="#333333", label=f"least squares, r = {r:.2f}")
            ax.set_xlabel(name_of("years_with_pain"))
            ax.set_ylabel(label("dmn_perturbation"))
            best_legend(ax)
            settle_legends(fig)
            fit_title(ax, "Perturbation vs years lived with pain (patients, one replication)")
        else:
            require(study, ["r_ylp", "p_ylp"], "study.csv")
            r = study["r_ylp"].to_numpy(float)
            hit = finding_holds(study, "ylp", alpha)
            bins = np.linspace(min(-0.2, r.min()), max(0.6, r.max()), 30)
            ax.hist(
                [r[hit], r[~hit]],
                bins=bins,
                stacked=True,
                color=[hs.OKABE_ITO["blue"], "#BBBBBB"],
                label=[
                    f"positive, p < {alpha:g} ({pct(hit.mean())})",
                    f"not significant or negative ({pct(1 - hit.mean())})",
                ],
            )
            ax.axvline(0, color=hs.NEUTRAL, linewidth=1.2 if s.talk else 0.5)
            ax.set_xlabel("Correlation of perturbation with years lived with pain (r)")
            ax.set_ylabel("Replicated studies")
            best_legend(ax)
            settle_legends(fig)
            fit_title(
                ax,
                f"Years lived with pain: r in {len(study)} replicated studies"
                if s.talk
                else "Years with pain: r per study",
            )
    return fig


def power_table(power: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Detection rate of each published finding per sample-size multiplier.

    Accepts the per-replication table (``multiplier`` + ``study.csv`` columns) or an
    already summarized long table (``multiplier, key, detection_rate[, replications]``).
    """
    if "replication" in power.columns:
        require(
            power,
            [
                "multiplier",
                "d_cbp_hc",
                "p_cbp_hc",
                "p_cbp_sbp",
                "r_ylp",
                "p_ylp",
                "indirect_ci_low",
            ],
            "power table",
        )
        rows = []
        for m, part in power.groupby("multiplier"):
            n = (
                sum(float(part[c].iloc[0]) for c in ("n_hc", "n_sbp", "n_cbp") if c in part)
                or math.nan
            )
            for key in PUBLISHED_FINDINGS:
                hits = finding_holds(part, key, alpha)
                rows.append(
                    {
                        "multiplier": float(m),
                        "n_total": n,
                        "key": key,
                        "detection_rate": float(hits.mean()),
                        "successes": int(hits.sum()),
                        "replications": len(part),
                    }
                )
        return pd.DataFrame(rows)
    require(power, ["multiplier", "key", "detection_rate"], "power table")
    table = power[power["key"].isin(PUBLISHED_FINDINGS)].copy()
    reps = table.get("replications", np.nan)
    table["successes"] = np.round(table["detection_rate"] * reps)
    table["replications"] = reps
    if "n_total" not in table:
        table["n_total"] = np.nan
    return table


def study_power(
    power: pd.DataFrame, style: str | hs.Style = "talk", *, alpha: float = DEFAULT_ALPHA
) -> Figure:
    """Figure 6d: power curve, detection rate of each finding vs sample size (Wilson 95 %)."""
    s = hs.get_style(style)
    table = power_table(power, alpha)
    colors = [hs.OKABE_ITO[c] for c in ("vermillion", "reddish purple", "blue", "bluish green")]
    use_n = table["n_total"].notna().all()
    with hs.use(s):
        fig = hs.new_figure(s, paper_height=2.8)
        ax = fig.subplots()
        for (key, text), color, marker in zip(
            PUBLISHED_FINDINGS.items(), colors, "osD^", strict=True
        ):
            part = table[table["key"] == key].sort_values("multiplier")
            x = part["n_total" if use_n else "multiplier"].to_numpy(float)
            y = part["detection_rate"].to_numpy(float)
            if part["replications"].notna().all():
                low, high = wilson_interval(
                    part["successes"].to_numpy(float), part["replications"].to_numpy(float)
                )
                ax.fill_between(x, low, high, color=color, alpha=0.15, linewidth=0)
            ax.plot(x, y, marker=marker, color=color, label=text)
        ax.axhline(
            0.8,
            color=hs.NEUTRAL,
            linestyle=":",
            linewidth=1.5 if s.talk else 0.6,
            label="80 % (a common power target)",
        )
        published = table.loc[
            np.isclose(table["multiplier"], 1.0), "n_total" if use_n else "multiplier"
        ]
        if len(published):
            at = float(published.iloc[0])
            ax.axvline(
                at,
                color="black",
                linestyle="--",
                linewidth=1.5 if s.talk else 0.6,
                label=f"published design (n = {at:.0f})" if use_n else "published design",
            )
        ax.set_ylim(0, 1.02)
        ax.yaxis.set_major_formatter(lambda v, _: pct(v))
        if use_n:
            ax.set_xscale("log")
            ticks = sorted(table["n_total"].unique())
            ax.set_xticks(ticks, [f"{t:.0f}" for t in ticks])
            ax.minorticks_off()
            ax.set_xlabel("Participants in the study (all three groups)")
        else:
            ax.set_xlabel("Sample size (× the published design)")
        ax.set_ylabel("Replications in which\nthe finding comes out")
        ax.legend(
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            title="Published finding",
            fontsize=s.small if s.talk else s.tiny,
        )
        fit_title(
            ax,
            "Power: how often each finding replicates (Wilson 95 % CI)"
            if s.talk
            else "Power (Wilson 95 % CI)",
        )
    return fig


# -- from a study -------------------------------------------------------------------------------
def add_study(result: Any, writer: FigureWriter) -> None:
    """Figures 00 and 6a-h of a study result; a figure its tables cannot make is skipped."""
    from sim.viz.figures.evidence import add_evidence
    from sim.viz.figures.findings import (
        mechanism_check,
        published_vs_simulated,
        study_headline,
        study_mediation,
    )
    from sim.viz.figures.headline import add_headline

    t = study_tables(result)
    s, study, sample, alpha, seed = writer.style, t.study, t.sample, t.alpha, t.seed
    n = len(study)
    try:
        add_headline(writer, study_headline(study, alpha))
    except (FigureError, KeyError) as exc:
        writer.skip("00_headline", str(exc).strip("'\""))
    writer.try_add(
        "06a_study_groups",
        "Study: the three groups",
        "DMN perturbation of every participant of one replication (sample.csv) in healthy "
        "controls, subacute and chronic back pain: violin (density), points (people), black "
        "line (median), grey bar (interquartile range); brackets: Cohen's d (pooled SD) and "
        "Welch's t-test p of each pair of groups."
        if sample is not None
        else f"Cohen's d of the three group contrasts in each of {n} replicated studies "
        "(points; violin: their density; black line: median; grey bar: interquartile "
        f"range); under each contrast the median d and the share of studies with p < {alpha:g}.",
        lambda: study_groups(study, s, sample=sample, alpha=alpha, seed=seed),
    )
    writer.try_add(
        "06b_study_years",
        "Study: years lived with pain",
        "Patients' DMN perturbation vs years lived with pain in one replication (points: "
        "subacute and chronic patients); line: least-squares fit with its 95 % CI; r: "
        "Pearson correlation."
        if sample is not None
        else f"Correlation of DMN perturbation with years lived with pain in {n} replicated "
        f"studies (histogram); blue: positive and p < {alpha:g} (the published finding), grey: "
        "not.",
        lambda: study_years(study, s, sample=sample, alpha=alpha),
    )
    writer.try_add(
        "06c_study_mediation",
        "Study: mediation by catastrophizing",
        "Mediation years lived with pain (X) → catastrophizing (M, PCS) → DMN perturbation "
        "(Y), adjusted for age, among the patients: a (X → M), b (M → Y given X), c′ (X → Y "
        "given M, direct) and c (total), each with its 95 % interval, the indirect effect "
        "a × b and the share mediated a × b / c. "
        + (
            "Estimates from one replication's participants (sample.csv) with percentile "
            "bootstrap CIs (1,000 resamples); "
            if sample is not None
            else "Medians over replications with the middle 95 % of replications (not a CI); "
        )
        + "the last line: how often the indirect effect's bootstrap CI excludes 0 over "
        f"the {n} replications.",
        lambda: study_mediation(study, s, sample=sample, alpha=alpha, seed=seed),
    )
    writer.try_add(
        "06e_published_vs_simulated",
        "Study: published vs simulated",
        "Each published finding of Heukamp et al. (Pain 2025). Left: the simulated effect "
        "(dot: median over replications; line: middle 95 % of replications) over the range "
        "the published result implies (grey; the implied minimum effect for a significant "
        f"result at the published group sizes). Right: share of the {n} replications in "
        "which a study of the published size reports the finding as published (bar), its "
        "Wilson 95 % CI (line) and the target rate (tick).",
        lambda: published_vs_simulated(study, s, alpha=alpha),
    )
    if t.counterfactual is None:
        writer.skip("06f_mechanism_check", "no counterfactual.csv (the study ran without it)")
    else:
        counter = t.counterfactual
        writer.try_add(
            "06f_mechanism_check",
            "Study: mechanism check (counterfactual)",
            "The same study (same people, recruitment and noise) in the model (blue) and in "
            "a counterfactual model where catastrophizing does not speed the drift "
            "(drift.coping_weight = 0, drift rate matched; orange), one panel per published "
            "finding: the effect in every replication (points), median (black line) and middle "
            "50 % (bar); under each, the detection rate. Mediation should vanish in the "
            "counterfactual; the years-with-pain effect should stay.",
            lambda: mechanism_check(study, counter, s, alpha=alpha, seed=seed),
        )
    add_evidence(result, writer)
    if t.power is None:
        writer.skip("06d_study_power", "no power table (the study has no power multipliers)")
        return
    power = t.power
    writer.try_add(
        "06d_study_power",
        "Study: power curve",
        "Share of replications in which each published finding comes out, by the number of "
        "participants (every group scaled); band: Wilson 95 % CI; dashed line: the "
        "published design; dotted: 80 %, a common power target.",
        lambda: study_power(power, s, alpha=alpha),
    )
