"""Figures 1, 2 and 5 of a run: perturbation vs years with pain, arm differences, graph metrics.

Each figure function takes plain data (patient rows, arm names) and returns a matplotlib
:class:`~matplotlib.figure.Figure`; :func:`add_perturbation`, :func:`add_comparison` and
:func:`add_metrics` draw them from a :class:`~sim.experiments.run.RunResult` into a
:class:`~sim.viz.figures.common.FigureWriter`, with their captions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from sim.analysis.stats import (
    cluster_bootstrap_interval,
    ols_band,
    t_interval,
    two_level_bootstrap_interval,
)
from sim.core.metrics import PERTURBATION_METRICS
from sim.core.outcomes import label
from sim.viz import style as hs
from sim.viz.figures.common import (
    FigureWriter,
    band,
    despine_numbers,
    name_of,
    nice,
    panel_letter,
    unit_of,
)

MIN_BIN_PEOPLE = 30
"""Fewest person-records per replicate for a years-with-pain bin to be drawn (figure 1)."""
YLP_BIN_EDGES: tuple[float, ...] = (
    *(0, 0.5, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 60),
    math.inf,
)
"""Bins of years lived with pain (left-closed) for figure 1."""
MAX_SCATTER_POINTS = 3000
"""Scatter plots draw at most this many people (a random subset; fits use everyone)."""
COMPARED_OUTCOMES: tuple[str, ...] = ("dmn_perturbation", "pain", "coping")
"""Outcomes of figure 2."""


# -- figure 1: DMN perturbation vs years lived with pain ----------------------------------------
@dataclass(frozen=True)
class Curve:
    """Mean and 95 % band of an outcome per bin of years lived with pain."""

    x: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    method: str


def band_method(replicates: int) -> str:
    """How :func:`binned_curve` makes its band with this many replicates.

    Examples
    --------
    >>> band_method(3), band_method(1)
    ('t interval over 3 replicates', 'bootstrap over people (1 replicate)')
    """
    if replicates >= 2:
        return f"t interval over {replicates} replicates"
    return "bootstrap over people (1 replicate)"


def binned_curve(
    rows: pd.DataFrame,
    value: str = "dmn_perturbation",
    *,
    edges: Sequence[float] = YLP_BIN_EDGES,
    min_people: int = MIN_BIN_PEOPLE,
    rng: np.random.Generator | None = None,
) -> Curve:
    """Mean ``value`` per bin of years lived with pain, with a 95 % band.

    Parameters
    ----------
    rows
        Patient records (any record times) with ``replicate``, ``patient_id``,
        ``years_with_pain`` and ``value``.
    edges
        Bin edges of years lived with pain (left-closed).
    min_people
        Bins with fewer records than this in any replicate are left out.
    rng
        For the bootstrap with a single replicate.

    Returns
    -------
    Curve
        ``x`` is the mean years lived with pain of each bin. The band is a Student-t interval
        over replicate means with two or more replicates; with one, a percentile bootstrap
        over people (all records of a person resampled together).
    """
    data = rows[["replicate", "patient_id", "years_with_pain", value]].dropna()
    data = data.assign(bin=np.digitize(data["years_with_pain"], edges[1:-1]))
    replicates = np.sort(data["replicate"].unique())
    grouped = data.groupby(["replicate", "bin"])
    means = grouped[value].mean().unstack("bin")
    counts = grouped[value].size().unstack("bin").reindex(replicates).fillna(0)
    xs = grouped["years_with_pain"].mean().unstack("bin")
    keep = [b for b in means.columns if counts[b].min() >= min_people]
    if not keep:
        return Curve(*(np.array([]),) * 4, method="no bin with enough people")
    x = xs[keep].mean(axis=0).to_numpy()
    if len(replicates) >= 2:
        mean, low, high = t_interval(means[keep].to_numpy(float))
    else:
        sub = data[data["bin"].isin(keep)]
        people = sub.groupby(["patient_id", "bin"])[value].agg(["sum", "size"])
        sums = people["sum"].unstack("bin").reindex(columns=keep).fillna(0).to_numpy(float)
        cnts = people["size"].unstack("bin").reindex(columns=keep).fillna(0).to_numpy(float)
        mean = means[keep].to_numpy(float)[0]
        low, high = cluster_bootstrap_interval(sums, cnts, rng or np.random.default_rng(0))
    return Curve(x, mean, low, high, band_method(len(replicates)))


def coping_groups(rows: pd.DataFrame) -> tuple[pd.Series, list[str]]:
    """Tertile of catastrophizing at the start (year 0) of every (replicate, patient).

    Returns
    -------
    (groups, labels)
        ``groups``: Series indexed by (replicate, patient_id) with codes 0, 1, 2 (low to
        high); ``labels``: PCS ranges of the three groups.
    """
    start = rows[rows["year"] == rows["year"].min()]
    coping = start.set_index(["replicate", "patient_id"])["coping"]
    cuts = np.quantile(coping.to_numpy(float), [1 / 3, 2 / 3])
    groups = pd.Series(np.digitize(coping.to_numpy(float), cuts), index=coping.index)
    a, b = (f"{c:.0f}" for c in cuts)
    labels = [f"PCS < {a} (lowest third)", f"PCS {a}–{b}", f"PCS ≥ {b} (highest third)"]
    return groups, labels


def perturbation_by_years(
    patients: pd.DataFrame, arms: Sequence[str], style: str | hs.Style = "talk", *, seed: int = 0
) -> Figure:
    """Figure 1: DMN perturbation vs years lived with pain, per arm and by coping group.

    Parameters
    ----------
    patients
        Patient records (``patients.parquet``) with ``arm, replicate, patient_id, year,
        years_with_pain, dmn_perturbation, coping``; every record time is used (a person
        contributes one point per record time).
    arms
        Arm names in scenario order; the first is the reference (panel B).
    style
        ``talk`` or ``paper``.
    seed
        Seed of the bootstrap used with a single replicate.

    Returns
    -------
    matplotlib.figure.Figure
        A: mean and 95 % band per arm; B: the reference arm split into thirds of
        catastrophizing at the start (PCS).
    """
    s = hs.get_style(style)
    rng = np.random.default_rng(seed)
    colors = hs.arm_colors(arms)
    per_replicate = len(patients) / max(len(arms), 1) / max(patients["replicate"].nunique(), 1)
    # Small runs: smaller bins are drawn (with their wide bands) rather than nothing.
    min_people = int(min(MIN_BIN_PEOPLE, max(5, per_replicate // 40)))
    ylp, perturbation = name_of("years_with_pain"), label("dmn_perturbation")
    with hs.use(s):
        fig = hs.new_figure(s, paper_height=5.0)
        axes = fig.subplots(1, 2, sharey=True) if s.talk else fig.subplots(2, 1, sharey=True)
        ax = axes[0]
        for arm in arms:
            curve = binned_curve(patients[patients["arm"] == arm], rng=rng, min_people=min_people)
            if curve.x.size:
                band(ax, curve.x, curve.mean, curve.low, curve.high, colors[arm], arm, s)
        ax.set_title("By arm")
        ax.set_xlabel(ylp)
        ax.set_ylabel(perturbation)
        ax.legend(loc="upper left", title="Arm (mean, 95 % band)")
        ref = patients[patients["arm"] == arms[0]]
        groups, labels = coping_groups(ref)
        code = groups.reindex(pd.MultiIndex.from_frame(ref[["replicate", "patient_id"]]))
        ref = ref.assign(coping_group=code.to_numpy())
        ax = axes[1]
        drawn = 0
        for g, (name, color, marker) in enumerate(
            zip(labels, hs.COPING_COLORS, "os^", strict=True)
        ):
            curve = binned_curve(
                ref[ref["coping_group"] == g], rng=rng, min_people=max(5, min_people // 3)
            )
            if curve.x.size:
                band(ax, curve.x, curve.mean, curve.low, curve.high, color, name, s, marker)
                drawn += 1
        ax.set_title("By catastrophizing at the start")
        ax.set_xlabel(ylp)
        if not s.talk:
            ax.set_ylabel(perturbation)
        if drawn:
            ax.legend(loc="upper left", title=f"{arms[0]}, catastrophizing at the start")
        else:
            ax.text(
                0.5,
                0.5,
                "Too few people per bin\nto split by coping",
                ha="center",
                va="center",
                transform=ax.transAxes,
                color=hs.NEUTRAL,
            )
        for letter, a in zip("AB", axes, strict=True):
            panel_letter(a, letter)
            a.set_xlim(left=0)
            a.set_ylim(bottom=0)  # perturbation is a mean absolute z-score
            despine_numbers(a)
    return fig


# -- figure 2: arm differences at the horizon ---------------------------------------------------
def _twin_matrix(rows: pd.DataFrame, arm: str, outcome: str) -> np.ndarray:
    part = rows[rows["arm"] == arm]
    table = part.pivot(index="replicate", columns="patient_id", values=outcome)
    return table.sort_index().sort_index(axis=1).to_numpy(dtype=float)


def arm_differences(
    patients: pd.DataFrame,
    arms: Sequence[str],
    *,
    year: float | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Differences of every arm from the reference arm (the first) at one record year.

    The method of ``painsim compare``: per-patient twin differences, mean and 95 % bootstrap
    interval over replicates, then patients; computed here from the patient rows, so the
    figure is the same whether or not the run was compared before. For arms with enrolment,
    the same for the patients enrolled in that arm.

    Parameters
    ----------
    patients
        Patient rows of a run.
    arms
        Arm names in scenario order; the first is the reference.
    year
        Record year (default: the horizon).
    seed
        Seed of the bootstrap (the scenario's seed).

    Returns
    -------
    pandas.DataFrame
        Columns ``arm, outcome, who ('all' or 'enrolled'), difference, ci_low, ci_high,
        n_pairs, year``.
    """
    reference = arms[0]
    year = float(patients["year"].max()) if year is None else float(year)
    at = patients[np.isclose(patients["year"], year)]
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []

    def add(arm: str, outcome: str, who: str, twins: np.ndarray) -> None:
        low, high = two_level_bootstrap_interval(twins, rng)
        rows.append(
            {
                "arm": arm,
                "outcome": outcome,
                "who": who,
                "difference": float(np.nanmean(twins)),
                "ci_low": low,
                "ci_high": high,
                "n_pairs": int(np.isfinite(twins).sum()),
            }
        )

    for arm in arms[1:]:
        enrolled = _twin_matrix(at, arm, "enrolled_year") if "enrolled_year" in at else None
        for outcome in COMPARED_OUTCOMES:
            twins = _twin_matrix(at, arm, outcome) - _twin_matrix(at, reference, outcome)
            add(arm, outcome, "all", twins)
            if enrolled is not None and np.isfinite(enrolled).any():
                treated = np.where(np.isfinite(enrolled), twins, np.nan)
                if np.isfinite(treated).sum() >= 2:
                    add(arm, outcome, "enrolled", treated)
    table = pd.DataFrame(
        rows, columns=["arm", "outcome", "who", "difference", "ci_low", "ci_high", "n_pairs"]
    )
    return table.assign(year=year)


def arm_comparison(
    differences: pd.DataFrame, arms: Sequence[str], style: str | hs.Style = "talk"
) -> Figure:
    """Figure 2: dot-and-interval plot of each arm's difference from the reference arm.

    Parameters
    ----------
    differences
        Output of :func:`arm_differences`.
    arms
        Arm names in scenario order; the first is the reference.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per outcome (perturbation, pain, coping); one row per arm; filled dots:
        all patients; open diamonds: patients enrolled in the arm (when there is enrolment).
    """
    s = hs.get_style(style)
    colors = hs.arm_colors(arms)
    others = list(arms[1:])
    positions = {arm: len(others) - 1 - i for i, arm in enumerate(others)}
    has_enrolled = (differences["who"] == "enrolled").any()
    offset = 0.17 if has_enrolled else 0.0
    with hs.use(s):
        fig = hs.new_figure(s, paper_height=1.2 + 0.85 * len(others) * 1.0 + 1.0)
        axes = fig.subplots(1, 3, sharey=True) if s.talk else fig.subplots(3, 1, sharey=True)
        for ax, outcome in zip(axes, COMPARED_OUTCOMES, strict=True):
            ax.axvline(0, color=hs.NEUTRAL, linewidth=1.2 if s.talk else 0.5, zorder=0)
            for who, marker, shift, fill in (
                ("all", "o", offset, True),
                ("enrolled", "D", -offset, False),
            ):
                part = differences[
                    (differences["outcome"] == outcome) & (differences["who"] == who)
                ]
                for r in part.itertuples():
                    y = positions[r.arm] + shift
                    color = colors[r.arm]
                    ax.plot(
                        [r.ci_low, r.ci_high],
                        [y, y],
                        color=color,
                        linewidth=s.line * 1.2,
                        solid_capstyle="round",
                    )
                    ax.plot(
                        r.difference,
                        y,
                        marker=marker,
                        color=color,
                        markersize=s.marker * 1.3,
                        markerfacecolor=color if fill else "white",
                        markeredgewidth=2 if s.talk else 0.8,
                        linestyle="none",
                    )
            # Two lines: the difference's name over its unit.
            ax.set_xlabel(label(outcome, difference=True).replace(" (", "\n(", 1))
            ax.set_title(name_of(outcome))
            lim = np.nanmax(
                np.abs(
                    differences.loc[
                        differences["outcome"] == outcome, ["ci_low", "ci_high"]
                    ].to_numpy(float)
                )
            )
            lim = lim * 1.15 if np.isfinite(lim) and lim > 0 else 1.0
            ax.set_xlim(-lim, lim)
            tick = nice(0.7 * lim)  # three ticks away from the panel edges: labels never touch
            ax.set_xticks([-tick, 0, tick])
            ax.spines["left"].set_visible(False)
            ax.tick_params(axis="y", length=0)
        axes[0].set_yticks(list(positions.values()), list(positions.keys()))
        for ax in axes:
            ax.set_ylim(-0.6, len(others) - 0.4)
        year = differences["year"].iloc[0] if len(differences) else math.nan
        handles = [
            Line2D(
                [],
                [],
                marker="o",
                color="#333333",
                linestyle="none",
                markersize=s.marker,
                label="all patients",
            )
        ]
        if has_enrolled:
            handles.append(
                Line2D(
                    [],
                    [],
                    marker="D",
                    color="#333333",
                    linestyle="none",
                    markerfacecolor="white",
                    markersize=s.marker,
                    label="patients enrolled in the arm",
                )
            )
        fig.suptitle(
            f"Difference from {arms[0]} at year {year:g} (twin difference, 95 % CI)"
            if s.talk
            else f"Difference from {arms[0]}, year {year:g}"
        )
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))
    return fig


# -- figure 5: graph metrics vs years lived with pain -------------------------------------------
def metrics_by_years(
    rows: pd.DataFrame,
    style: str | hs.Style = "talk",
    *,
    color: str = hs.OKABE_ITO["blue"],
    seed: int = 0,
    max_points: int = MAX_SCATTER_POINTS,
) -> Figure:
    """Figure 5: the four graph metrics vs years lived with pain, scatter with linear fit.

    Parameters
    ----------
    rows
        One record per person (e.g. the reference arm at the horizon) with
        ``years_with_pain`` and the four metric columns of the perturbation index.
    color
        Colour of the fit (the arm's colour).
    max_points
        At most this many people are drawn (random subset); fits and r use everyone.
    """
    s = hs.get_style(style)
    rng = np.random.default_rng(seed)
    shown = (
        rows
        if len(rows) <= max_points
        else rows.iloc[np.sort(rng.choice(len(rows), max_points, replace=False))]
    )
    with hs.use(s):
        fig = hs.new_figure(s, paper_height=3.6)
        fig.get_layout_engine().set(hspace=0.1)  # keep row tick labels apart
        axes = fig.subplots(2, 2, sharex=True).ravel()
        x = rows["years_with_pain"].to_numpy(float)
        grid = np.linspace(0, np.nanmax(x) if x.size else 1.0, 100)
        for ax, metric in zip(axes, PERTURBATION_METRICS, strict=True):
            y = rows[metric].to_numpy(float)
            ax.scatter(
                shown["years_with_pain"],
                shown[metric],
                s=(14 if s.talk else 1.5),
                color="#888888",
                alpha=0.35,
                linewidths=0,
                rasterized=True,
            )
            fit, low, high, slope, r = ols_band(x, y, grid)
            ax.fill_between(grid, low, high, color=color, alpha=0.25, linewidth=0)
            ax.plot(grid, fit, color=color)
            ax.set_title(name_of(metric), loc="left", fontsize=s.font)
            ax.set_ylabel(unit_of(metric))
            ax.text(
                0.98,
                0.95 if slope < 0 else 0.05,
                f"correlation {r:.2f}",
                transform=ax.transAxes,
                ha="right",
                va="top" if slope < 0 else "bottom",
                fontsize=s.small,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 2},
            )
            ax.set_xlim(0, grid[-1])
            despine_numbers(ax)
        for ax in axes[2:]:
            ax.set_xlabel(name_of("years_with_pain"))
        fig.suptitle(
            "DMN graph metrics vs years lived with pain"
            if s.talk
            else "Graph metrics vs years with pain"
        )
    return fig


# -- from a run ---------------------------------------------------------------------------------
def run_seed(result: Any) -> int:
    """Seed of a run's figures (the scenario's seed: bootstraps and subsets repeat exactly)."""
    return int(result.scenario.scenario.seed)


def horizon_rows(result: Any) -> pd.DataFrame:
    """Patient rows of the reference arm at the horizon (every replicate)."""
    patients = result.patients
    horizon = patients[patients["year"] == patients["year"].max()]
    return horizon[horizon["arm"] == result.arms[0]]


def add_perturbation(result: Any, writer: FigureWriter) -> None:
    """Figure 1 of a run."""
    arms, patients = result.arms, result.patients
    method = band_method(int(patients["replicate"].nunique()))
    writer.add(
        "01_perturbation_by_years",
        "DMN perturbation vs years lived with pain",
        "DMN perturbation (healthy-SD units) by years lived with pain, all record "
        f"times; mean and 95 % band ({method}); A per arm, B {arms[0]} split by thirds of "
        "catastrophizing at the start.",
        lambda: perturbation_by_years(patients, arms, writer.style, seed=run_seed(result)),
    )


def add_comparison(result: Any, writer: FigureWriter) -> None:
    """Figure 2 of a run (two or more arms), computed from the patient rows."""
    arms, patients = result.arms, result.patients
    if len(arms) < 2:
        writer.skip("02_arm_comparison", "one arm only; nothing to compare")
        return
    year = float(patients["year"].max())
    differences = arm_differences(patients, arms, year=year, seed=run_seed(result))
    writer.add(
        "02_arm_comparison",
        "Arm comparison at the horizon",
        f"Difference of each arm from {arms[0]} at year {year:g} (per-patient twin "
        "difference, 95 % bootstrap CI over replicates and patients) in DMN perturbation, "
        "pain and catastrophizing; open diamonds: patients enrolled in the arm.",
        lambda: arm_comparison(differences, arms, writer.style),
    )


def add_metrics(result: Any, writer: FigureWriter) -> None:
    """Figure 5 of a run: the reference arm at the horizon."""
    rows = horizon_rows(result).dropna(subset=list(PERTURBATION_METRICS))
    year = float(result.patients["year"].max())
    writer.add(
        "05_metrics_by_years",
        "Graph metrics vs years lived with pain",
        f"The four DMN graph metrics of every person in {result.arms[0]} at year {year:g} "
        f"(all replicates, n = {len(rows):,}) vs years lived with pain, with least-squares "
        "line and 95 % CI of the fit; r: Pearson correlation.",
        lambda: metrics_by_years(rows, writer.style, seed=run_seed(result)),
    )
