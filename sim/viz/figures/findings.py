"""Figures 6c, 6e and 6f of a virtual study: mediation, published vs simulated, the mechanism.

* :func:`study_mediation` (6c): the path diagram years with pain -> catastrophizing -> DMN
  perturbation with 95 % intervals on a, b, c, c′, the indirect effect a × b and the share
  mediated (one replication's participants with bootstrap intervals when ``sample.csv`` is
  there; otherwise medians with the middle 95 % of the replications).
* :func:`published_vs_simulated` (6e): per published finding, the simulated effect (median and
  middle 95 % of replications) against what the paper implies, and the detection rate with
  its Wilson interval against the target.
* :func:`mechanism_check` (6f): the same effects in the model and in the counterfactual model
  where catastrophizing does not feed the drift, as a small multiple.
* :func:`study_headline`: the detection rates of the four findings on one slide.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch
from matplotlib.ticker import MaxNLocator

from sim.analysis.stats import path_intervals, wilson_interval
from sim.viz import style as hs
from sim.viz.figures.common import (
    FigureError,
    chars_across,
    estimate_text,
    fit_suptitle,
    fit_title,
    pct,
    require,
    wrap,
)

DEFAULT_ALPHA = 0.05
FINDING_KEYS: tuple[str, ...] = ("cbp_hc", "cbp_sbp", "ylp", "mediation")
"""The four published findings (keys of ``sim.experiments.study.FINDINGS``)."""


@dataclass(frozen=True)
class Published:
    """What the paper implies for one finding's effect: the compatible range."""

    key: str
    short: str
    effect: str
    symbol: str
    low: float
    high: float
    text: str


PUBLISHED: dict[str, Published] = {
    p.key: p
    for p in (
        Published(
            "cbp_hc",
            "1. chronic > healthy",
            "d_cbp_hc",
            "d",
            0.48,
            math.inf,
            "significant: d ≥ ~0.48 implied (31 vs 39)",
        ),
        Published(
            "cbp_sbp",
            "2. chronic ≈ subacute",
            "d_cbp_sbp",
            "d",
            -0.42,
            0.42,
            "not significant: |d| ≤ ~0.42 implied (31 vs 77)",
        ),
        Published(
            "ylp",
            "3. rises with years with pain",
            "r_ylp",
            "r",
            0.19,
            math.inf,
            "significant: r ≥ ~0.19 implied (108 patients)",
        ),
        Published(
            "mediation",
            "4. mediated by catastrophizing",
            "indirect",
            "a × b",
            0.0,
            math.inf,
            "significant indirect effect (> 0; size not reported)",
        ),
    )
}
"""The published findings of Heukamp et al. (Pain 2025) as ranges of the simulated effect;
the thresholds are those ``sim.experiments.study.FINDINGS`` states (a test keeps them equal)."""


def finding_rules() -> dict[str, Any]:
    """The study's own rules (``sim.experiments.study.FINDINGS``), by key."""
    from sim.experiments.study import FINDINGS  # the study's rules, defined once

    return {f.key: f for f in FINDINGS}


def detection(table: pd.DataFrame, key: str, alpha: float) -> tuple[float, float, float, int]:
    """Share of replications in which a finding comes out, with its Wilson 95 % interval.

    Returns
    -------
    (rate, low, high, replications)
    """
    hits = finding_rules()[key].holds(table, alpha)
    n = len(hits)
    if not n:
        return math.nan, math.nan, math.nan, 0
    low, high = wilson_interval(np.array([hits.sum()]), np.array([n]))
    return float(hits.mean()), float(low[0]), float(high[0]), n


def _middle(values: np.ndarray) -> tuple[float, float, float]:
    values = values[np.isfinite(values)]
    if not values.size:
        return (math.nan,) * 3
    low, median, high = np.percentile(values, [2.5, 50, 97.5])
    return float(median), float(low), float(high)


# -- 6c: mediation ------------------------------------------------------------------------------
def mediation_paths(
    study: pd.DataFrame, sample: pd.DataFrame | None, *, seed: int = 0, resamples: int = 1000
) -> tuple[dict[str, tuple[float, float, float]], str]:
    """The paths of the mediation model with 95 % intervals, and where they come from.

    With ``sample`` (one replication's participants): estimates on its patients with
    percentile bootstrap intervals (:func:`sim.analysis.stats.path_intervals`; age as
    covariate, as the study's analysis). Without: medians with the middle 95 % of the
    replications in ``study``.
    """
    if sample is not None and {"years_with_pain", "coping_score", "age"} <= set(sample):
        patients = sample[sample["group"] != "healthy"].dropna(
            subset=["years_with_pain", "coping_score", "dmn_perturbation", "age"]
        )
        if len(patients) >= 10:
            paths = path_intervals(
                patients["years_with_pain"].to_numpy(float),
                patients["coping_score"].to_numpy(float),
                patients["dmn_perturbation"].to_numpy(float),
                patients[["age"]].to_numpy(float),
                np.random.default_rng(seed),
                resamples=resamples,
            )
            return paths, (
                f"one replication's {len(patients)} patients (sample.csv); "
                "95 % percentile bootstrap CIs"
            )
    require(study, ["a_path", "b_path", "direct", "total", "indirect"], "study.csv")
    columns = {
        "a": "a_path",
        "b": "b_path",
        "c": "total",
        "c_prime": "direct",
        "indirect": "indirect",
        "share_mediated": "share_mediated",
    }
    paths = {
        k: _middle(study[c].to_numpy(float)) if c in study else (math.nan,) * 3
        for k, c in columns.items()
    }
    return paths, f"medians and middle 95 % of {len(study)} replications"


def study_mediation(
    study: pd.DataFrame,
    style: str | hs.Style = "talk",
    *,
    sample: pd.DataFrame | None = None,
    alpha: float = DEFAULT_ALPHA,
    seed: int = 0,
) -> Figure:
    """Figure 6c: mediation path diagram with 95 % intervals on every path.

    Boxes: years lived with pain (X), catastrophizing (M), DMN perturbation (Y); arrows a
    (X -> M), b (M -> Y given X) and c′ (X -> Y given M), with the total effect c and the
    indirect effect a × b, its share of c, and how often the indirect effect's interval
    excludes zero over the replications.
    """
    s = hs.get_style(style)
    require(study, ["indirect_ci_low"], "study.csv")
    paths, source = mediation_paths(study, sample, seed=seed)
    detected = float((study["indirect_ci_low"] > 0).mean())
    with hs.use(s):
        fig = hs.new_figure(s, paper_height=3.4, layout="none")
        ax = fig.add_axes((0.0, 0.2, 1.0, 0.66))
        ax.set_xlim(0, 10)
        ax.set_ylim(0, 6)
        ax.axis("off")
        box = {
            "X": (1.5, 1.0, "Years lived\nwith pain"),
            "M": (5.0, 5.0, "Catastrophizing\n(PCS)"),
            "Y": (8.5, 1.0, "DMN\nperturbation"),
        }
        w, h = 2.4, 1.5
        for x, y, text in box.values():
            ax.add_patch(
                FancyBboxPatch(
                    (x - w / 2, y - h / 2),
                    w,
                    h,
                    boxstyle="round,pad=0.05,rounding_size=0.2",
                    facecolor="#F2F2F2",
                    edgecolor="#333333",
                    linewidth=2 if s.talk else 0.7,
                )
            )
            ax.text(x, y, text, ha="center", va="center", fontsize=s.font if s.talk else s.small)

        def arrow(a: str, b: str) -> None:
            (x0, y0, _), (x1, y1, _) = box[a], box[b]
            # From box edge to box edge.
            dx, dy = x1 - x0, y1 - y0
            t0 = min(
                abs((w / 2 + 0.15) / dx) if dx else math.inf,
                abs((h / 2 + 0.15) / dy) if dy else math.inf,
            )
            start = (x0 + dx * t0, y0 + dy * t0)
            end = (x1 - dx * t0, y1 - dy * t0)
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

        arrow("X", "M")
        arrow("M", "Y")
        arrow("X", "Y")
        size = s.small if s.talk else s.tiny
        a, b, c, cp = paths["a"], paths["b"], paths["c"], paths["c_prime"]
        gap = " " if s.talk else "\n"  # a narrow column: the interval on its own line

        def est(values: tuple[float, float, float]) -> str:
            return estimate_text(*values).replace(" [", gap + "[", 1)

        ax.text(
            2.9,
            3.4,
            f"a = {est(a)}\nPCS points per year",
            ha="right",
            va="center",
            fontsize=size,
        )
        ax.text(
            7.1,
            3.4,
            f"b = {est(b)}\nSD per PCS point",
            ha="left",
            va="center",
            fontsize=size,
        )
        ax.text(
            5.0,
            0.55,
            f"c′ = {estimate_text(*cp)} (direct)\nc = {estimate_text(*c)} (total)"
            # a narrow column: the unit on its own line keeps the text between the boxes
            + (", SD per year" if s.talk else "\nSD per year"),
            ha="center",
            va="top",
            fontsize=size,
        )
        ind, share = paths["indirect"], paths["share_mediated"]
        fig.text(
            0.02,
            0.97,
            "Does catastrophizing carry the effect of years with pain?"
            if s.talk
            else "Mediation by catastrophizing",
            fontsize=s.large if s.talk else s.font,
            fontweight="bold",
            va="top",
        )
        lines = [
            f"Indirect effect a × b = {estimate_text(*ind)} SD per year; share mediated "
            f"a × b / c = {estimate_text(*share)}",
            f"Estimates: {source}. Over {len(study)} replications the indirect effect's "
            f"interval excludes 0 in {pct(detected)} (α = {alpha:g}); age adjusted.",
        ]
        fig.text(
            0.02,
            0.02,
            wrap("\n".join(lines), 0.96 * s.width * 72 / (0.6 * size)),
            fontsize=size,
            va="bottom",
        )
    return fig


# -- 6e: published vs simulated ------------------------------------------------------------------
def published_vs_simulated(
    study: pd.DataFrame,
    style: str | hs.Style = "talk",
    *,
    alpha: float = DEFAULT_ALPHA,
    targets: dict[str, float] | None = None,
) -> Figure:
    """Figure 6e: each published finding, as the paper implies it and as simulated.

    One row per finding. Left: the simulated effect (dot: median over replications; line:
    middle 95 % of replications) over the range the published result implies (shaded).
    Right: share of replications in which the finding comes out as published, with its
    Wilson 95 % interval and the target (tick).
    """
    s = hs.get_style(style)
    rules = finding_rules()
    targets = targets or {k: rules[k].target for k in FINDING_KEYS}
    rows = [PUBLISHED[k] for k in FINDING_KEYS if PUBLISHED[k].effect in study]
    if not rows:
        raise FigureError("study.csv: no effect column of a published finding")
    color = hs.OKABE_ITO["blue"]
    size = s.small if s.talk else s.tiny
    note = max(size * 0.9, s.tiny)
    with hs.use(s):
        fig = hs.new_figure(s, paper_height=1.0 + 0.95 * len(rows))
        grid = fig.add_gridspec(len(rows), 2, width_ratios=[3, 2], hspace=0.15)
        for i, p in enumerate(rows):
            ax = fig.add_subplot(grid[i, 0])
            median, low, high = _middle(study[p.effect].to_numpy(float))
            span = [v for v in (low, high, p.low, p.high, 0.0) if np.isfinite(v)]
            lo, hi = min(span), max(span)
            pad = 0.15 * (hi - lo or 1.0)
            ax.set_xlim(lo - pad, hi + pad)
            ax.axvspan(max(p.low, lo - pad), min(p.high, hi + pad), color="#E3E3E3", linewidth=0)
            ax.axvline(0, color=hs.NEUTRAL, linewidth=1.0 if s.talk else 0.4)
            ax.plot([low, high], [0, 0], color=color, linewidth=s.line * 1.2)
            ax.plot(median, 0, "o", color=color, markersize=s.marker * 1.3)
            ax.set_ylim(-1, 1)
            ax.set_yticks([0], [wrap(p.short, 16 if s.talk else 18)])
            ax.tick_params(axis="y", length=0)
            ax.spines["left"].set_visible(False)
            ax.set_xlabel(f"{p.symbol}", fontsize=size, labelpad=1)
            ax.tick_params(axis="x", labelsize=size)
            ax.xaxis.set_major_locator(MaxNLocator(4))
            ax.text(
                0.02,
                0.92,
                wrap(f"published: {p.text}", chars_across(0.6 * s.width * 0.9, note)),
                transform=ax.transAxes,
                ha="left",
                va="top",
                fontsize=note,
                color="#444444",
            )
            if i == 0:
                fit_title(ax, "Effect (simulated: median, middle 95 %)", fontsize=size)
            rate, r_low, r_high, n = detection(study, p.key, alpha)
            dx = fig.add_subplot(grid[i, 1])
            dx.barh([0], [100 * rate], height=0.5, color=color, alpha=0.35)
            dx.plot([100 * r_low, 100 * r_high], [0, 0], color=color, linewidth=s.line)
            target = targets.get(p.key)
            if target is not None and np.isfinite(target):
                dx.plot([100 * target] * 2, [-0.45, 0.45], color="black", linewidth=s.line * 0.8)
            dx.text(
                2,
                0.55,
                pct(rate) + (f" (target {pct(target)})" if target is not None else ""),
                va="bottom",
                fontsize=size,
            )
            dx.set_xlim(0, 100)
            dx.set_ylim(-1, 1.2)
            dx.set_yticks([])
            dx.spines["left"].set_visible(False)
            dx.tick_params(axis="x", labelsize=size)
            dx.set_xlabel("% of replications", fontsize=size, labelpad=1)
            if i == 0:
                fit_title(dx, f"Detected in {n} studies (Wilson 95 % CI)", fontsize=size)
        fit_suptitle(
            fig,
            "Published vs simulated: effects and how often a study finds them"
            if s.talk
            else "Published vs simulated",
            s.large if s.talk else s.font,
        )
    return fig


# -- 6f: the mechanism check ---------------------------------------------------------------------
def mechanism_check(
    study: pd.DataFrame,
    counterfactual: pd.DataFrame,
    style: str | hs.Style = "talk",
    *,
    alpha: float = DEFAULT_ALPHA,
    seed: int = 0,
) -> Figure:
    """Figure 6f: each finding's effect in the model and in the counterfactual model.

    One panel per published finding: the effect in every replication (points), median
    (line) and middle 50 % (bar), in the model and in the model where catastrophizing does not
    feed the drift; the detection rates under each.
    """
    s = hs.get_style(style)
    rng = np.random.default_rng(seed)
    rows = [PUBLISHED[k] for k in FINDING_KEYS if PUBLISHED[k].effect in study]
    model_color, counter_color = hs.OKABE_ITO["blue"], hs.OKABE_ITO["orange"]
    size = s.small if s.talk else s.tiny
    with hs.use(s):
        fig = hs.new_figure(s, paper_height=5.0)
        axes = np.ravel(fig.subplots(1, len(rows)) if s.talk else fig.subplots(2, 2))
        for ax, p in zip(axes, rows, strict=False):
            for j, (table, color) in enumerate(
                ((study, model_color), (counterfactual, counter_color))
            ):
                values = table[p.effect].to_numpy(float)
                values = values[np.isfinite(values)]
                jitter = rng.uniform(-0.15, 0.15, values.size)
                ax.scatter(
                    j + jitter,
                    values,
                    s=10 if s.talk else 1.2,
                    color=color,
                    alpha=0.45,
                    linewidths=0,
                )
                q1, med, q3 = np.percentile(values, [25, 50, 75]) if values.size else (np.nan,) * 3
                ax.plot([j - 0.3, j + 0.3], [med, med], color="black", linewidth=s.line)
                ax.plot([j + 0.36, j + 0.36], [q1, q3], color="black", linewidth=s.line * 1.5)
            ax.axhline(0, color=hs.NEUTRAL, linewidth=1.0 if s.talk else 0.4)
            rate_m = detection(study, p.key, alpha)[0]
            rate_c = detection(counterfactual, p.key, alpha)[0]
            ax.set_xticks(
                [0, 1],
                [f"model\n{pct(rate_m)}", f"no catastro-\nphizing → drift\n{pct(rate_c)}"],
                fontsize=size,
            )
            ax.set_xlim(-0.6, 1.6)
            ax.set_ylabel(p.symbol, fontsize=size)
            ax.tick_params(axis="y", labelsize=size)
            ax.tick_params(axis="x", length=0)
            fit_title(ax, p.short, fontsize=size)
        for ax in axes[len(rows) :]:
            ax.set_visible(False)
        fit_suptitle(
            fig,
            "Mechanism check: the findings when catastrophizing no longer speeds the drift "
            "(% under each: detection rate)"
            if s.talk
            else "Mechanism check (% detected)",
            s.large if s.talk else s.font,
        )
        handles = [
            Line2D([], [], color="black", linewidth=s.line, label="median"),
            Line2D([], [], color="black", linewidth=s.line * 1.5, label="middle 50 %"),
            Patch(color=model_color, alpha=0.6, label="model"),
            Patch(color=counter_color, alpha=0.6, label="counterfactual"),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=size)
    return fig


# -- headline -------------------------------------------------------------------------------------
def study_message(study: pd.DataFrame, alpha: float) -> str:
    """One sentence: how many published findings the virtual study reproduces at target."""
    rules = finding_rules()
    met = []
    for key in FINDING_KEYS:
        rate = detection(study, key, alpha)[0]
        target = rules[key].target
        met.append(target is None or rate >= target)
    rates = ", ".join(pct(detection(study, k, alpha)[0]) for k in FINDING_KEYS)
    return (
        f"The virtual study reproduces {sum(met)} of {len(FINDING_KEYS)} published findings "
        f"at their target rates ({rates} of {len(study)} replications)"
    )


def study_headline(
    study: pd.DataFrame, alpha: float = DEFAULT_ALPHA
) -> tuple[Callable[[], Figure], str]:
    """The study's headline: published vs simulated, on one slide, with the message."""
    message = study_message(study, alpha)

    def make() -> Figure:
        fig = published_vs_simulated(study, "talk", alpha=alpha)
        fit_suptitle(fig, message, hs.get_style("talk").large, x=0.01, ha="left")
        return fig

    caption = (
        f"{message}. Figure 6e as a slide: per published finding, the simulated effect (dot: "
        "median over replications, line: middle 95 %) over the range the paper implies "
        "(grey), and the share of replications that find it (bar; line: Wilson 95 % CI; "
        "tick: target)."
    )
    return make, caption
