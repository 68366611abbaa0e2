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
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from sim.analysis.stats import ols_band, wilson_interval
from sim.core.outcomes import label
from sim.viz import style as hs
from sim.viz.figures.common import FigureError, FigureWriter, fmt, name_of, require

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
    """

    study: pd.DataFrame
    power: pd.DataFrame | None
    sample: pd.DataFrame | None
    alpha: float


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
    return StudyTables(study, _table(result, "power"), _table(result, "sample"), alpha)


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


def study_groups(
    study: pd.DataFrame,
    style: str | hs.Style = "talk",
    *,
    sample: pd.DataFrame | None = None,
    seed: int = 0,
) -> Figure:
    """Figure 6a: the three groups.

    With ``sample`` (one replication, a row per participant with ``group`` and
    ``dmn_perturbation``): violins with every participant. Without: the three group
    contrasts (Cohen's d) over all replications, one point per replication.
    """
    s = hs.get_style(style)
    rng = np.random.default_rng(seed)
    with hs.use(s):
        fig = hs.new_figure(s, paper_height=2.8)
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
            ax.set_title("DMN perturbation by group (one replication)")
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
            ax.set_xticks(range(len(CONTRASTS)), list(CONTRASTS.values()))
            ax.set_ylabel("Effect size, Cohen's d\n(DMN perturbation)")
            ax.set_title(
                f"Group differences over {len(study)} replicated studies (one point each)"
                if s.talk
                else "Group differences"
            )
        ax.spines["bottom"].set_visible(False)
        ax.tick_params(axis="x", length=0)
    return fig


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
            ax.legend(loc="upper left")
            ax.set_title("Perturbation vs years lived with pain (patients, one replication)")
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
                    f"positive, p < {alpha:g} ({hit.mean():.0%})",
                    f"not significant or negative ({1 - hit.mean():.0%})",
                ],
            )
            ax.axvline(0, color=hs.NEUTRAL, linewidth=1.2 if s.talk else 0.5)
            ax.set_xlabel("Correlation of perturbation with years lived with pain (r)")
            ax.set_ylabel("Replicated studies")
            ax.legend(loc="upper left")
            ax.set_title(
                f"Years lived with pain: r in {len(study)} replicated studies"
                if s.talk
                else "Years with pain: r per study"
            )
    return fig


def study_mediation(
    study: pd.DataFrame, style: str | hs.Style = "talk", *, alpha: float = DEFAULT_ALPHA
) -> Figure:
    """Figure 6c: mediation path diagram, years with pain -> coping -> DMN perturbation.

    Paths a, b, c (total) and c' (direct) are medians over replications; the indirect effect
    a × b is shown with the median of the replications' bootstrap intervals and with the
    share of replications whose interval excludes zero.
    """
    s = hs.get_style(style)
    require(study, ["indirect", "indirect_ci_low", "indirect_ci_high"], "study.csv")

    def med(col: str) -> float:
        return float(study[col].median()) if col in study else math.nan

    detected = float((study["indirect_ci_low"] > 0).mean())
    with hs.use(s):
        fig = hs.new_figure(s, paper_height=2.6, layout="none")
        ax = fig.add_axes((0.0, 0.14, 1.0, 0.78))  # the bottom lines hold the indirect effect
        ax.set_xlim(0, 10)
        ax.set_ylim(0, 6)
        ax.axis("off")
        box = {
            "X": (1.7, 1.4, "Years lived\nwith pain"),
            "M": (5.0, 4.5, "Catastrophizing\n(PCS)"),
            "Y": (8.3, 1.4, "DMN\nperturbation"),
        }
        w, h = 2.6, 1.3
        for _, (x, y, text) in box.items():
            ax.add_patch(
                FancyBboxPatch(
                    (x - w / 2, y - h / 2),
                    w,
                    h,
                    boxstyle="round,pad=0.08,rounding_size=0.25",
                    facecolor="#F2F2F2",
                    edgecolor="#333333",
                    linewidth=2 if s.talk else 0.7,
                )
            )
            ax.text(x, y, text, ha="center", va="center", fontsize=s.font)

        def arrow(a: str, b: str, text: str, offset: tuple[float, float]) -> None:
            (x0, y0, _), (x1, y1, _) = box[a], box[b]
            dx, dy = x1 - x0, y1 - y0
            length = math.hypot(dx, dy)
            ux, uy = dx / length, dy / length
            pad = 1.45 if abs(dy) < 0.1 else 0.9
            start = (x0 + ux * pad, y0 + uy * pad)
            end = (x1 - ux * pad, y1 - uy * pad)
            ax.add_patch(
                FancyArrowPatch(
                    start,
                    end,
                    arrowstyle="-|>",
                    mutation_scale=30 if s.talk else 8,
                    linewidth=2.5 if s.talk else 0.8,
                    color="#333333",
                )
            )
            mx, my = (start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1]
            ax.text(
                mx,
                my,
                text,
                ha="center",
                va="center",
                fontsize=s.small,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 2},
            )

        arrow("X", "M", f"a = {fmt(med('a_path'), '.3f')}\nPCS points per year", (-0.9, 0.3))
        arrow("M", "Y", f"b = {fmt(med('b_path'), '.4f')}\nSD per PCS point", (0.9, 0.3))
        arrow(
            "X",
            "Y",
            f"c′ = {fmt(med('direct'), '.4f')} (direct)   "
            f"c = {fmt(med('total'), '.4f')} (total)\nSD per year",
            (0.0, 0.75),
        )
        indirect = (
            f"Indirect effect a × b = {fmt(med('indirect'), '.4f')} SD per year "
            f"(95 % CI {fmt(med('indirect_ci_low'), '.4f')} to "
            f"{fmt(med('indirect_ci_high'), '.4f')})"
        )
        fig.text(
            0.02,
            0.97,
            "Does coping carry the effect of years with pain?" if s.talk else "Mediation by coping",
            fontsize=s.large,
            fontweight="bold",
            va="top",
        )
        fig.text(
            0.02,
            0.05 if s.talk else 0.02,
            f"{indirect}\nMedians over {len(study)} replicated studies; interval excludes "
            f"0 in {detected:.0%} of them (α = {alpha:g}); adjusted for age",
            fontsize=s.small,
            va="bottom",
            wrap=True,
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
        ax.axhline(0.8, color=hs.NEUTRAL, linestyle=":", linewidth=1.5 if s.talk else 0.6)
        ax.set_ylim(0, 1.02)
        ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        if use_n:
            ax.set_xscale("log")
            ticks = sorted(table["n_total"].unique())
            ax.set_xticks(ticks, [f"{t:.0f}" for t in ticks])
            ax.minorticks_off()
            ax.set_xlabel("Participants in the study (all three groups)")
        else:
            ax.set_xlabel("Sample size (× the published design)")
        ax.set_ylabel("Replications in which\nthe finding comes out")
        ax.legend(loc="lower left", title="Published finding")
        ax.set_title("Power: how often each finding replicates (95 % CI)" if s.talk else "Power")
    return fig


# -- from a study -------------------------------------------------------------------------------
def add_study(result: Any, writer: FigureWriter) -> None:
    """Figures 6a-d of a study result; a figure its tables cannot make is skipped."""
    t = study_tables(result)
    s, study, sample, alpha = writer.style, t.study, t.sample, t.alpha
    n = len(study)
    writer.try_add(
        "06a_study_groups",
        "Study: the three groups",
        "DMN perturbation in healthy controls, subacute and chronic back pain (one replication)"
        if sample is not None
        else f"Cohen's d of the three group contrasts in each of {n} replicated studies "
        "(violin, points, median and quartiles).",
        lambda: study_groups(study, s, sample=sample),
    )
    writer.try_add(
        "06b_study_years",
        "Study: years lived with pain",
        "Patients' DMN perturbation vs years lived with pain (one replication)"
        if sample is not None
        else f"Correlation of DMN perturbation with years lived with pain in {n} replicated "
        f"studies; blue: positive and p < {alpha:g}.",
        lambda: study_years(study, s, sample=sample, alpha=alpha),
    )
    writer.try_add(
        "06c_study_mediation",
        "Study: mediation by coping",
        "Mediation years with pain → catastrophizing → DMN perturbation: paths a, b, c, c′ "
        "and the indirect effect a × b (medians over replications, with the bootstrap CI).",
        lambda: study_mediation(study, s, alpha=alpha),
    )
    if t.power is None:
        writer.skip("06d_study_power", "no power table (the study has no power multipliers)")
        return
    power = t.power
    writer.try_add(
        "06d_study_power",
        "Study: power curve",
        "Share of replications in which each published finding comes out, by sample size "
        "(Wilson 95 % CI).",
        lambda: study_power(power, s, alpha=alpha),
    )
