"""Figures 1 and 5 of a run: DMN perturbation vs years lived with pain, and the graph metrics.

Each figure function takes plain data (patient rows, arm names) and returns a matplotlib
:class:`~matplotlib.figure.Figure`; :func:`add_perturbation` and :func:`add_metrics` draw them
from a :class:`~sim.experiments.run.RunResult` into a
:class:`~sim.viz.figures.common.FigureWriter`, with their captions. :func:`binned_curve` (means
per bin of years lived with pain, with a band that means what it says) is shared with the
headline figure.

Bands: with three or more replicates, a Student-t interval over the replicate means (the
replicates are independent cohorts); with one or two, a normal interval over people with the
cluster-robust standard error (every record of a person kept together:
:func:`sim.analysis.stats.cluster_normal_interval`). A t interval over two replicate means has
one degree of freedom and is 13 times the standard error wide: it says nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sim.analysis.stats import cluster_normal_interval, ols_band, t_interval
from sim.core.metrics import PERTURBATION_METRICS
from sim.core.outcomes import label
from sim.viz import style as hs
from sim.viz.figures.common import (
    FigureError,
    FigureWriter,
    band,
    data_limits,
    despine_numbers,
    fit_title,
    name_of,
    panel_letter,
    unit_of,
    wrap,
)
from sim.viz.figures.layout import NOT_DATA, best_legend, settle_legends

MIN_BIN_PEOPLE = 30
"""Fewest people (all replicates) for a bin to be drawn; fewer are shown greyed in the n strip."""
T_REPLICATES = 3
"""Fewest replicates for a t interval over replicate means (fewer: an interval over people)."""
YLP_BIN_EDGES: tuple[float, ...] = (
    *(0, 0.5, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 60),
    math.inf,
)
"""Bins of years lived with pain (left-closed) for figure 1."""
MAX_SCATTER_POINTS = 3000
"""Scatter plots draw at most this many people (a random subset; fits use everyone)."""
APART_SHARE = 0.1
"""Arms are drawn as levels only if two arms' curves differ somewhere by this share of the
curves' span; otherwise panel A shows each arm's difference from the reference arm."""


# -- binned means with honest bands -------------------------------------------------------------
@dataclass(frozen=True)
class Curve:
    """Mean and 95 % band of a value per bin of years lived with pain.

    Attributes
    ----------
    x, mean, low, high
        Per drawn bin: mean years lived with pain, mean value and band.
    people
        People with records in every bin (drawn or not), all replicates.
    kept
        Which bins are drawn (at least :data:`MIN_BIN_PEOPLE` people).
    edges
        Bin edges.
    method
        How the band was made (for captions).
    """

    x: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    people: np.ndarray
    kept: np.ndarray
    edges: tuple[float, ...]
    method: str


def band_method(replicates: int) -> str:
    """How :func:`binned_curve` makes its band with this many replicates.

    Examples
    --------
    >>> band_method(3)
    't interval over 3 replicate means'
    >>> band_method(2)
    'normal interval over people, all records of a person together (2 replicates pooled)'
    """
    if replicates >= T_REPLICATES:
        return f"t interval over {replicates} replicate means"
    pooled = f" ({replicates} replicates pooled)" if replicates > 1 else ""
    return f"normal interval over people, all records of a person together{pooled}"


def binned_curve(
    rows: pd.DataFrame,
    value: str = "dmn_perturbation",
    *,
    x: str = "years_with_pain",
    edges: Sequence[float] = YLP_BIN_EDGES,
    min_people: int = MIN_BIN_PEOPLE,
) -> Curve:
    """Mean ``value`` per bin of ``x`` (years lived with pain), with a 95 % band.

    Parameters
    ----------
    rows
        Records (any record times) with ``replicate``, ``patient_id``, ``x`` and ``value``.
    edges
        Bin edges (left-closed).
    min_people
        Bins with fewer people than this (all replicates together) are not drawn.

    Returns
    -------
    Curve
        See :func:`band_method` for the band.
    """
    return _binned(
        rows["replicate"].to_numpy(np.int64),
        rows["patient_id"].to_numpy(np.int64),
        rows[x].to_numpy(float),
        rows[value].to_numpy(float),
        edges,
        min_people,
    )


def _binned(
    replicate: np.ndarray,
    patient: np.ndarray,
    xs: np.ndarray,
    values: np.ndarray,
    edges: Sequence[float],
    min_people: int,
) -> Curve:
    """:func:`binned_curve` of plain arrays (records with a missing x or value are left out)."""
    known = ~(np.isnan(xs) | np.isnan(values))
    if not known.all():
        replicate, patient, xs, values = (a[known] for a in (replicate, patient, xs, values))
    edges = tuple(float(e) for e in edges)
    k = len(edges) - 1
    bins = np.clip(np.digitize(xs, edges[1:-1]), 0, k - 1)
    replicates = np.sort(pd.unique(replicate))
    width = int(patient.max()) + 1 if patient.size else 1
    person = np.searchsorted(replicates, replicate) * width + patient
    people_ids = np.arange(len(replicates) * width)  # one slot per (replicate, person)
    key = person * k + bins
    size = len(people_ids) * k
    sums = np.bincount(key, values, minlength=size).reshape(-1, k)
    counts = np.bincount(key, minlength=size).reshape(-1, k).astype(float)
    x_sums = np.bincount(key, xs, minlength=size).reshape(-1, k)
    people = (counts > 0).sum(axis=0)
    kept = people >= min_people
    method = band_method(len(replicates))
    if len(replicates) >= T_REPLICATES:
        rep_sums = sums.reshape(len(replicates), width, k).sum(axis=1)
        rep_counts = counts.reshape(len(replicates), width, k).sum(axis=1)
        kept &= (rep_counts > 0).all(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean, low, high = t_interval(rep_sums / rep_counts)
    else:
        mean, low, high = cluster_normal_interval(sums, counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        x_mean = x_sums.sum(axis=0) / counts.sum(axis=0)
    return Curve(x_mean[kept], mean[kept], low[kept], high[kept], people, kept, edges, method)


def coping_codes(rows: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Third of catastrophizing at the start (year 0) of the person of every record.

    Returns
    -------
    (codes, labels)
        ``codes``: 0, 1, 2 (low to high) per row of ``rows``; ``labels``: the PCS ranges.
    """
    replicate = rows["replicate"].to_numpy(np.int64)
    patient = rows["patient_id"].to_numpy(np.int64)
    first = (rows["year"] == rows["year"].min()).to_numpy()
    at_start = np.full((replicate.max() + 1, patient.max() + 1), np.nan)
    at_start[replicate[first], patient[first]] = rows["coping"].to_numpy(float)[first]
    values = at_start[replicate[first], patient[first]]
    cuts = np.quantile(values, [1 / 3, 2 / 3])
    codes = np.digitize(at_start[replicate, patient], cuts)
    a, b = (f"{c:.0f}" for c in cuts)
    labels = [f"PCS < {a} (lowest third)", f"PCS {a}–{b}", f"PCS ≥ {b} (highest third)"]
    return codes, labels


def coping_curves(
    rows: pd.DataFrame, *, min_people: int = MIN_BIN_PEOPLE
) -> tuple[list[Curve], list[str]]:
    """:func:`binned_curve` of each third of catastrophizing at the start, and their labels."""
    codes, labels = coping_codes(rows)
    columns = (
        rows["replicate"].to_numpy(np.int64),
        rows["patient_id"].to_numpy(np.int64),
        rows["years_with_pain"].to_numpy(float),
        rows["dmn_perturbation"].to_numpy(float),
    )
    curves = []
    for g in range(3):
        mine = codes == g
        curves.append(_binned(*(c[mine] for c in columns), YLP_BIN_EDGES, min_people))
    return curves, labels


def arm_rows(patients: pd.DataFrame, arm: str) -> pd.DataFrame:
    """One arm's records, in the order they are stored (a slice when stored together)."""
    column = patients["arm"]
    if isinstance(column.dtype, pd.CategoricalDtype) and arm in column.cat.categories:
        where = np.flatnonzero(column.cat.codes.to_numpy() == column.cat.categories.get_loc(arm))
    else:
        where = np.flatnonzero((column == arm).to_numpy())
    if where.size and where[-1] - where[0] + 1 == where.size:
        return patients.iloc[where[0] : where[-1] + 1]  # runs store each arm in one block
    return patients.iloc[where]


def twin_rows(
    patients: pd.DataFrame, reference: str, arm: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The records of ``arm`` and of the same people in ``reference``, row by row (twins).

    Runs store every arm in the same order (replicate, record time, person), so the rows line
    up as stored; otherwise both are sorted.
    """
    ref, other = arm_rows(patients, reference), arm_rows(patients, arm)
    keys = ["replicate", "year", "patient_id"]
    if len(ref) == len(other) and all(
        np.array_equal(ref[k].to_numpy(), other[k].to_numpy()) for k in keys
    ):
        return ref, other
    ref, other = (t.sort_values(keys, kind="stable") for t in (ref, other))
    if len(ref) != len(other) or not all(
        np.array_equal(ref[k].to_numpy(), other[k].to_numpy()) for k in keys
    ):
        raise FigureError(f"arm '{arm}' does not hold the same people as '{reference}'")
    return ref, other


def healthy_level(rows: pd.DataFrame, value: str = "dmn_perturbation") -> float:
    """Median ``value`` of records of people who never had pain (NaN if none)."""
    never = rows.loc[rows["years_with_pain"] <= 0, value]
    return float(never.median()) if len(never) else math.nan


def twin_differences(patients: pd.DataFrame, arms: Sequence[str], arm: str) -> pd.DataFrame:
    """Each record of ``arm`` minus the same person's record in the reference arm (twins).

    ``years_with_pain`` is the reference twin's, so bins compare the same people.
    """
    ref, other = twin_rows(patients, arms[0], arm)
    diff = other["dmn_perturbation"].to_numpy(float) - ref["dmn_perturbation"].to_numpy(float)
    return ref[["replicate", "patient_id", "year", "years_with_pain"]].assign(dmn_perturbation=diff)


def arms_apart(curves: dict[str, Curve]) -> bool:
    """Can the arms' curves be told apart at a glance (see :data:`APART_SHARE`)?"""
    drawn = [c for c in curves.values() if c.mean.size]
    if len(drawn) < 2:
        return True
    if len(drawn) > 3:
        return False  # four or more lines with bands: always differences
    means = np.concatenate([c.mean for c in drawn])
    span = float(np.nanmax(means) - np.nanmin(means)) or 1.0
    ref = drawn[0]
    gaps = []
    for c in drawn[1:]:
        common = min(c.mean.size, ref.mean.size)
        gaps.append(float(np.nanmax(np.abs(c.mean[:common] - ref.mean[:common]))))
    return min(gaps) >= APART_SHARE * span


def _n_strip(
    ax: Axes, curves: Sequence[tuple[Curve, str]], s: hs.Style, x_max: float, min_people: int
) -> None:
    """People per bin as steps: solid where the bin is drawn, dotted grey where it is not."""
    right = x_max * 1.05
    top = 1
    for curve, color in curves:
        edges = np.array(curve.edges, float)
        edges[-1] = max(right, edges[-2] + 1)
        for i, n in enumerate(curve.people):
            if n <= 0 or edges[i] >= right:
                continue
            top = max(top, int(n))
            ax.plot(
                [edges[i], min(edges[i + 1], right)],
                [n, n],
                color=color if curve.kept[i] else "#AAAAAA",
                linestyle="-" if curve.kept[i] else ":",
                linewidth=s.line,
                solid_capstyle="butt",
            )
    ax.axhline(min_people, color=hs.NEUTRAL, linewidth=1.0 if s.talk else 0.4, linestyle="--")
    ax.set_yscale("log")
    ax.set_ylim(max(1, min_people / 4), top * 2.5)
    ax.set_ylabel("people\nper bin", fontsize=s.small)
    ax.tick_params(axis="y", labelsize=s.small)
    ax.yaxis.set_major_locator(ticker.LogLocator(numticks=4 if s.talk else 3))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.yaxis.set_minor_locator(ticker.NullLocator())


def perturbation_by_years(
    patients: pd.DataFrame,
    arms: Sequence[str],
    style: str | hs.Style = "talk",
    *,
    min_people: int = MIN_BIN_PEOPLE,
    coping: tuple[list[Curve], list[str]] | None = None,
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
    min_people
        Bins with fewer people are not drawn (greyed in the n strip).
    coping
        :func:`coping_curves` of the reference arm with ``min_people``, if already made (the
        headline of a run without treatment shows the same curves).

    Returns
    -------
    matplotlib.figure.Figure
        A: mean and 95 % band per arm, or each arm's difference from its reference twin when
        the arms cannot be told apart (:func:`arms_apart`); B: the reference arm by thirds of
        catastrophizing at the start (PCS). Under each panel, people per bin.
    """
    s = hs.get_style(style)
    colors = hs.arm_colors(arms)
    ref = arm_rows(patients, arms[0])
    levels = {arm: binned_curve(arm_rows(patients, arm), min_people=min_people) for arm in arms}
    apart = arms_apart(levels)
    if apart:
        shown = levels
    else:
        shown = {
            arm: binned_curve(twin_differences(patients, arms, arm), min_people=min_people)
            for arm in arms[1:]
        }
    groups, group_labels = coping or coping_curves(ref, min_people=min_people)
    healthy = healthy_level(ref)
    x_max = max([float(c.x.max()) for c in [*shown.values(), *groups] if c.x.size] or [1.0])
    ylp, perturbation = name_of("years_with_pain"), label("dmn_perturbation")
    if not s.talk:  # a short axis: the unit on a line of its own
        perturbation = perturbation.replace(" (", "\n(")
    with hs.use(s):
        fig = hs.new_figure(s, paper_height=6.2)
        if s.talk:
            grid = fig.add_gridspec(2, 2, height_ratios=[4, 1])
            main = [fig.add_subplot(grid[0, j]) for j in range(2)]
            strips = [fig.add_subplot(grid[1, j], sharex=main[j]) for j in range(2)]
        else:
            # A narrow column: each legend in a row of its own under its panel's n strip.
            entries = [len(shown) + 1, 4]
            grid = fig.add_gridspec(
                6, 1, height_ratios=[4, 1.1, 0.32 * entries[0], 4, 1.1, 0.32 * entries[1]]
            )
            main = [fig.add_subplot(grid[0]), fig.add_subplot(grid[3])]
            strips = [
                fig.add_subplot(grid[1], sharex=main[0]),
                fig.add_subplot(grid[4], sharex=main[1]),
            ]
            keys = [fig.add_subplot(grid[2]), fig.add_subplot(grid[5])]
        ax = main[0]
        for arm, curve in shown.items():
            if curve.x.size:
                name = wrap(arm, 28 if s.talk else 22)
                band(ax, curve.x, curve.mean, curve.low, curve.high, colors[arm], name, s)
        if apart:
            ax.set_ylabel(perturbation)
            title = "By arm"
        else:
            ax.axhline(0, color=hs.NEUTRAL, linewidth=1.2 if s.talk else 0.5, zorder=0)
            ax.set_ylabel(
                wrap(f"Δ DMN perturbation vs {arms[0]} twin (healthy SD)", 30)
                if s.talk
                else "Δ perturbation vs twin\n(healthy SD)"
            )
            title = f"Each arm minus {arms[0]} (same people)"
        limits_a = data_limits(
            [c.mean for c in shown.values()],
            [b for c in shown.values() for b in (c.low, c.high)],
        )
        fit_title(ax, title)
        ax = main[1]
        drawn = 0
        for g, (name, color, marker) in enumerate(
            zip(group_labels, hs.COPING_COLORS, "os^", strict=True)
        ):
            curve = groups[g]
            if curve.x.size:
                band(ax, curve.x, curve.mean, curve.low, curve.high, color, name, s, marker)
                drawn += 1
        fit_title(
            ax, "By catastrophizing at the start" + (f" ({arms[0]})" if len(arms) > 1 else "")
        )
        ax.set_ylabel(perturbation)
        if not drawn:
            ax.text(
                0.5,
                0.5,
                f"Fewer than {min_people} people per bin\nin each third of coping",
                ha="center",
                va="center",
                transform=ax.transAxes,
                color=hs.NEUTRAL,
            )
        limits_b = data_limits(
            [c.mean for c in groups] + ([np.array([healthy])] if np.isfinite(healthy) else []),
            [b for c in groups for b in (c.low, c.high)],
        )
        if apart:  # both panels show levels: one y scale
            both = (min(limits_a[0], limits_b[0]), max(limits_a[1], limits_b[1]))
            limits_a = limits_b = both
        main[0].set_ylim(*limits_a)
        main[1].set_ylim(*limits_b)
        for ax in main if apart else main[1:]:
            if np.isfinite(healthy):
                ax.axhline(
                    healthy,
                    color=hs.NEUTRAL,
                    linestyle=":",
                    linewidth=1.5 if s.talk else 0.6,
                    label="never in pain (median)",
                )
        _n_strip(strips[0], [(levels[arms[0]], "#333333")], s, x_max, min_people)
        _n_strip(strips[1], list(zip(groups, hs.COPING_COLORS, strict=True)), s, x_max, min_people)
        for letter, a, strip in zip("AB", main, strips, strict=True):
            panel_letter(a, letter)
            a.set_xlim(0, x_max * 1.05)
            a.tick_params(axis="x", labelbottom=False)
            strip.set_xlabel(ylp)
            despine_numbers(a)
            despine_numbers(strip)
        titles = ["Arm" if apart else "Arm minus its twin", "PCS at the start"]
        if s.talk:
            best_legend(main[0], title=titles[0])
            if drawn:
                best_legend(main[1], title=titles[1])
            settle_legends(fig)
        else:
            for ax, key, title in zip(main, keys, titles, strict=True):
                key.axis("off")
                handles, labels = ax.get_legend_handles_labels()
                if handles:
                    key.legend(
                        handles,
                        labels,
                        loc="center",
                        title=title,
                        fontsize=s.tiny,
                        title_fontsize=s.tiny,
                        ncols=1,
                    )
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
        fig = hs.new_figure(s, paper_height=3.8)
        fig.get_layout_engine().set(hspace=0.1)  # keep row tick labels apart
        axes = fig.subplots(2, 2, sharex=True).ravel()
        x = rows["years_with_pain"].to_numpy(float)
        grid = np.linspace(0, np.nanmax(x) if x.size else 1.0, 100)
        for ax, metric in zip(axes, PERTURBATION_METRICS, strict=True):
            y = rows[metric].to_numpy(float)
            cloud = ax.scatter(
                shown["years_with_pain"],
                shown[metric],
                s=(14 if s.talk else 1.5),
                color="#888888",
                alpha=0.35,
                linewidths=0,
                rasterized=True,
            )
            cloud.set_gid(NOT_DATA)  # background: the fit is the data a label must not hide
            fit, low, high, _, r = ols_band(x, y, grid)
            ax.fill_between(grid, low, high, color=color, alpha=0.25, linewidth=0)
            ax.plot(grid, fit, color=color)
            fit_title(
                ax,
                f"{name_of(metric)} (r\u00a0=\u00a0{r:.2f})",
                fontsize=s.font if s.talk else s.small,
            )
            ax.set_ylabel(unit_of(metric))
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
    """Seed of a run's figures (the scenario's seed: subsets repeat exactly)."""
    return int(result.scenario.scenario.seed)


def horizon_rows(result: Any) -> pd.DataFrame:
    """Patient rows of the reference arm at the horizon (every replicate)."""
    patients = result.patients
    horizon = patients[patients["year"] == patients["year"].max()]
    return horizon[horizon["arm"] == result.arms[0]]


def reference_coping(result: Any) -> tuple[list[Curve], list[str]]:
    """:func:`coping_curves` of a run's reference arm (figure 1 B and the coping headline)."""
    return coping_curves(arm_rows(result.patients, result.arms[0]))


def add_perturbation(
    result: Any, writer: FigureWriter, coping: tuple[list[Curve], list[str]] | None = None
) -> None:
    """Figure 1 of a run (``coping``: :func:`reference_coping`, if already made)."""
    arms, patients = result.arms, result.patients
    method = band_method(int(patients["replicate"].nunique()))
    writer.add(
        "01_perturbation_by_years",
        "DMN perturbation vs years lived with pain",
        "DMN perturbation (mean |z| of four graph metrics against healthy people of the same "
        "age; healthy-SD units) by years lived with pain, every record time of every person. "
        f"Line and markers: mean per bin; band: 95 % {method}. A: each arm (when the arms "
        f"cannot be told apart: each arm minus the same person in {arms[0]}, zero line = no "
        f"difference); B: {arms[0]} by thirds of catastrophizing (PCS) at the start. Dotted "
        "line: median of people never in pain. Strips below: people per bin (log scale); "
        f"grey bins hold fewer than {MIN_BIN_PEOPLE} people and are not drawn.",
        lambda: perturbation_by_years(patients, arms, writer.style, coping=coping),
    )


def add_metrics(result: Any, writer: FigureWriter) -> None:
    """Figure 5 of a run: the reference arm at the horizon."""
    rows = horizon_rows(result).dropna(subset=list(PERTURBATION_METRICS))
    year = float(result.patients["year"].max())
    writer.add(
        "05_metrics_by_years",
        "Graph metrics vs years lived with pain",
        f"The four DMN graph metrics of every person in {result.arms[0]} at year {year:g} "
        f"(all replicates, n = {len(rows):,}; grey dots: at most {MAX_SCATTER_POINTS:,} of them) "
        "vs years lived with pain. Line: least-squares fit to everyone; band: its 95 % "
        "confidence interval; r in each title: Pearson correlation.",
        lambda: metrics_by_years(rows, writer.style, seed=run_seed(result)),
    )
