"""Figures 6g and 6h of a study: how its findings depend on choices, and the longitudinal design.

* :func:`variant_rates` (6g): the detection rate of each published finding in every version of
  the study (``variants.csv``: design choices, mechanism checks, parameter sets, perturbation
  indices, edge signs), as a table of coloured cells, the published design's row marked.
* :func:`longitudinal_figure` (6h): what the longitudinal design predicts
  (``longitudinal.csv``): the median change in pain and catastrophizing and the path weight of
  that change on the baseline DMN perturbation, by window of years lived with pain.

Both are drawn only when the study ran them (the tables have rows).

Examples
--------
>>> v = pd.DataFrame({"analysis": ["base", "design"], "variant": ["base", "design:x"],
...     "label": ["as designed", "controls: no chronic history"],
...     **{c: [0.8, 0.4] for c, _ in FINDING_RATES}})
>>> fig = variant_rates(v, "talk")
>>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
['as designed (published)', 'controls: no chronic history']
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from sim.viz import style as hs
from sim.viz.figures.common import (
    FigureError,
    FigureWriter,
    chars_across,
    data_limits,
    despine_numbers,
    fit_suptitle,
    fit_title,
    fmt,
    require,
    wrap,
)
from sim.viz.figures.layout import NOT_DATA

FINDING_RATES: tuple[tuple[str, str], ...] = (
    ("rate_cbp_hc", "1. CBP > HC"),
    ("rate_cbp_sbp", "2. CBP = SBP"),
    ("rate_ylp", "3. years with pain"),
    ("rate_mediation", "4. mediation"),
    ("rate_mediation_age_sex", "4, age + sex"),
    ("rate_all", "all four"),
)
"""Detection-rate columns of ``variants.csv`` and their column headings (findings.md order)."""
ANALYSES: dict[str, str] = {
    "base": "published design",
    "design": "design choices",
    "mechanism": "mechanism checks (one link off)",
    "uncertainty": "parameter uncertainty",
    "index": "perturbation index",
    "edge sign": "signature edge sign",
}
"""Groups of rows in figure 6g, in order (``analysis`` column; power is figure 6d)."""
BASE_MARK = " (published)"


def variant_label(analysis: str, label: str) -> str:
    """A row's label: what differs, without the mechanism's formula (that is in findings.md).

    Examples
    --------
    >>> variant_label("mechanism", "pain -> coping (alpha) off: alpha = 0: the trait alone")
    'pain -> coping (alpha) off'
    >>> variant_label("base", "as designed")
    'as designed (published)'
    """
    if analysis == "base":
        return label + BASE_MARK
    if analysis == "mechanism":
        return label.split(": ")[0]
    return label


def _variant_rows(variants: pd.DataFrame) -> pd.DataFrame:
    require(variants, ["analysis", "label"], "variants.csv")
    rates = [c for c, _ in FINDING_RATES if c in variants.columns]
    if not rates:
        raise FigureError("variants.csv: no detection-rate columns (rate_*)")
    rows = variants[variants["analysis"].isin(list(ANALYSES))].copy()
    if rows.empty:
        raise FigureError("variants.csv: no design, mechanism, parameter or index variants")
    rows["order"] = rows["analysis"].map(list(ANALYSES).index)
    return rows.sort_values("order", kind="stable").reset_index(drop=True)


def variant_rates(variants: pd.DataFrame, style: str | hs.Style = "talk") -> Figure:
    """Figure 6g: detection rate of each finding (columns) in each version of the study (rows).

    Parameters
    ----------
    variants
        ``variants.csv`` (``analysis``, ``label`` and the ``rate_*`` columns).

    Returns
    -------
    matplotlib.figure.Figure
        Cells coloured by the share of replications in which the finding comes out (0-100 %),
        with the per cent written in; rows grouped by analysis (a bracket of text on the
        left), the published design's row outlined.
    """
    s = hs.get_style(style)
    rows = _variant_rows(variants)
    rates = [(c, h) for c, h in FINDING_RATES if c in rows.columns]
    values = rows[[c for c, _ in rates]].to_numpy(float)
    n_cols = values.shape[1]
    groups = list(dict.fromkeys(rows["analysis"]))
    label_size = s.small if s.talk else s.tiny
    if s.talk and len(rows) > 16:  # a long table keeps to the slide with smaller text
        label_size = s.tiny
    label_chars = chars_across(6.0 if s.talk else 1.25, label_size)
    names = [wrap(variant_label(r.analysis, str(r.label)), label_chars) for r in rows.itertuples()]
    lines = sum(name.count("\n") + 1 for name in names)
    # Room per row (text lines) and per group heading; at most 9 in tall in print.
    paper_height = min(9.0, 1.3 + 0.13 * lines + 0.16 * len(groups))
    cmap = hs.mpl.colormaps["Blues"]
    norm = Normalize(0.0, 1.0)
    with hs.use(s):
        fig = hs.new_figure(s, paper_height=paper_height)
        ax = fig.subplots()
        y, ypos, heading = 0.0, [], []
        for group in groups:
            if group != "base":  # the published design's row says what it is
                heading.append((y, ANALYSES[group]))
                y += 0.9
            for i in np.flatnonzero(rows["analysis"].to_numpy() == group):
                step = 1.0 + 0.8 * names[i].count("\n")  # wrapped labels need room
                ypos.append(y + (step - 1.0) / 2)
                y += step
        ypos_arr = np.asarray(ypos)
        for i, yy in enumerate(ypos_arr):
            for j in range(n_cols):
                v = values[i, j]
                color = cmap(norm(v)) if np.isfinite(v) else (0.93, 0.93, 0.93, 1.0)
                ax.add_patch(Rectangle((j - 0.46, yy - 0.44), 0.92, 0.88, color=color, linewidth=0))
                dark = np.isfinite(v) and v > 0.55
                ax.text(
                    j,
                    yy,
                    fmt(100 * v, ".0f") if np.isfinite(v) else "–",
                    ha="center",
                    va="center",
                    fontsize=label_size,
                    color="white" if dark else "#111111",
                )
        base = np.flatnonzero(rows["analysis"].to_numpy() == "base")
        for i in base:
            ax.add_patch(
                Rectangle(
                    (-0.5, ypos_arr[i] - 0.5),
                    n_cols,
                    1.0,
                    fill=False,
                    edgecolor="#111111",
                    linewidth=2.5 if s.talk else 0.9,
                )
            )
        for yy, text in heading:
            ax.text(
                -0.5,
                yy + 0.05,
                text,
                ha="left",
                va="center",
                fontsize=label_size,
                fontweight="bold",
                color=hs.NEUTRAL,
                fontstyle="italic",
            )
        ax.set_xlim(-0.55, n_cols - 0.45)  # the outline of the published row stays inside
        ax.set_ylim(y - 0.4, -0.6)
        ax.set_yticks(ypos_arr, names, fontsize=label_size)
        for tick, analysis in zip(ax.get_yticklabels(), rows["analysis"], strict=True):
            if analysis == "base":
                tick.set_fontweight("bold")
        heads = [h for _, h in rates]
        # Print columns are too narrow for the headings across: they stand upright.
        ax.set_xticks(range(n_cols), heads, fontsize=label_size, rotation=0 if s.talk else 90)
        ax.xaxis.tick_top()
        ax.tick_params(length=0)
        for side in ("left", "bottom", "top", "right"):
            ax.spines[side].set_visible(False)
        ax.set_gid(NOT_DATA)  # numbers in cells: the cells are text, not data to avoid
        bar = fig.colorbar(
            hs.mpl.cm.ScalarMappable(norm=norm, cmap=cmap),
            ax=ax,
            orientation="horizontal",
            location="bottom",
            fraction=0.04 if s.talk else 0.03,
            aspect=40,
            pad=0.02,
        )
        bar.set_label("Replications in which the finding comes out (%)", fontsize=label_size)
        bar.set_ticks([0, 0.25, 0.5, 0.75, 1.0], labels=["0", "25", "50", "75", "100"])
        bar.ax.tick_params(labelsize=label_size)
        fit_suptitle(
            fig,
            "How often each published finding comes out, in every version of the study"
            if s.talk
            else "Findings in every version of the study",
            s.large if s.talk else s.font,
        )
    return fig


# -- the longitudinal design ----------------------------------------------------------------------
LONGITUDINAL_OUTCOMES: dict[str, tuple[str, float, str]] = {
    "pain": ("Pain", -0.694, "poster: up to −0.694 at low YLP"),
    "catastrophizing": (
        "Catastrophizing (for mood)",
        0.455,
        "poster (mood): up to 0.455 at high YLP",
    ),
}
"""Outcome prefix of ``longitudinal.csv`` -> panel title, the WCP 2024 poster's strongest path
weight, and its legend text."""


def longitudinal_figure(longitudinal: pd.DataFrame, style: str | hs.Style = "talk") -> Figure:
    """Figure 6h: predicted change and its path weight on baseline perturbation, by window.

    Parameters
    ----------
    longitudinal
        ``longitudinal.csv`` (one row per window of patients ordered by years with pain).

    Returns
    -------
    matplotlib.figure.Figure
        Columns: pain, catastrophizing. Top: median % change from baseline to follow-up
        (negative = improvement). Bottom: standardized path weight of that change on the
        baseline DMN perturbation, median over replications with the middle 95 % of
        replications (band), the poster's strongest weight (dotted) and zero.
    """
    s = hs.get_style(style)
    outcomes = [o for o in LONGITUDINAL_OUTCOMES if f"{o}_weight" in longitudinal.columns]
    require(longitudinal, ["window", "ylp_mean"], "longitudinal.csv")
    if longitudinal.empty or not outcomes:
        raise FigureError("longitudinal.csv: no windows")
    t = longitudinal.sort_values("ylp_mean")
    x = t["ylp_mean"].to_numpy(float)
    blue, orange = hs.OKABE_ITO["blue"], hs.OKABE_ITO["vermillion"]
    with hs.use(s):
        fig = hs.new_figure(s, paper_height=4.0)
        axes = fig.subplots(2, len(outcomes), sharex=True, squeeze=False)
        for j, outcome in enumerate(outcomes):
            title, poster, _ = LONGITUDINAL_OUTCOMES[outcome]
            top, bottom = axes[0, j], axes[1, j]
            change = t[f"{outcome}_change"].to_numpy(float)
            top.axhline(0, color=hs.NEUTRAL, linewidth=1.0 if s.talk else 0.4, zorder=0)
            top.plot(x, change, color=blue, marker="o", markersize=s.marker * 0.7)
            top.set_ylim(*data_limits([change, np.zeros(1)]))
            weight = t[f"{outcome}_weight"].to_numpy(float)
            low, high = t[f"{outcome}_low"].to_numpy(float), t[f"{outcome}_high"].to_numpy(float)
            bottom.fill_between(x, low, high, color=orange, alpha=0.2, linewidth=0)
            bottom.plot(x, weight, color=orange, marker="o", markersize=s.marker * 0.7)
            bottom.axhline(0, color=hs.NEUTRAL, linewidth=1.0 if s.talk else 0.4, zorder=0)
            bottom.axhline(poster, color="#111111", linestyle=":", linewidth=s.line * 0.6)
            bottom.set_ylim(-1.0, 1.0)
            fit_title(top, title, fontsize=s.font if s.talk else s.small)
            for ax in (top, bottom):
                despine_numbers(ax)
        size = s.small if s.talk else s.tiny
        across = 30 if s.talk else 18
        axes[0, 0].set_ylabel(
            wrap("Median change from baseline (%)", across) + "\n↓ improvement", fontsize=size
        )
        axes[1, 0].set_ylabel(wrap("Path weight on baseline perturbation", across), fontsize=size)
        for ax in axes[1, :]:
            ax.set_xlabel(
                "Years lived with pain (window mean)" if s.talk else "Years with pain",
                fontsize=size,
            )
        handles = [
            Line2D([], [], color=orange, marker="o", label="path weight (median)"),
            Patch(color=orange, alpha=0.3, label="middle 95 % of replications"),
            Line2D([], [], color="#111111", linestyle=":", label="poster's strongest weight"),
        ]
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncols=3 if s.talk else 1,
            fontsize=size,
        )
        fit_suptitle(
            fig,
            "Longitudinal design: change over the follow-up and its link to baseline DMN "
            "perturbation, by years with pain"
            if s.talk
            else "Longitudinal design by years with pain",
            s.large if s.talk else s.font,
        )
    return fig


def add_evidence(result: Any, writer: FigureWriter) -> None:
    """Figures 6g and 6h of a study, when it ran variants or the longitudinal design."""
    s = writer.style
    variants = getattr(result, "variants", None)
    if variants is not None and len(variants) and variants["analysis"].ne("power").any():
        writer.try_add(
            "06g_study_variants",
            "Study: findings in every version",
            "Share of replications (%, colour and number) in which each published finding "
            "comes out, in every version of the study (variants.csv): the published design "
            "(outlined, bold), other recruitment rules, the model with one causal link "
            "switched off, other parameter sets, other perturbation indices and edge signs. "
            "A finding that holds in every row does not hang on a choice; one that vanishes "
            "when a link is switched off needs that link.",
            lambda: variant_rates(variants, s),
        )
    table = getattr(result, "longitudinal", None)
    if table is not None and len(table):
        writer.try_add(
            "06h_study_longitudinal",
            "Study: longitudinal design",
            "What the longitudinal design predicts (longitudinal.csv): patients ordered by "
            "years lived with pain, in sliding windows. Top: the median % change in pain and "
            "catastrophizing from baseline to follow-up (negative: improvement). Bottom: the "
            "standardized path weight of that change on the baseline DMN perturbation, "
            "median over replications (line) and the middle 95 % of replications (band, not "
            "a CI); dotted: the strongest weight the WCP 2024 poster reported (pain at low "
            "years with pain; mood at high, catastrophizing standing in for mood).",
            lambda: longitudinal_figure(table, s),
        )
