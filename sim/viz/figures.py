"""Figures for talks and papers, drawn from a results folder in painsim's house style.

Each figure is one small function that takes plain data (DataFrames, arrays) and returns a
matplotlib :class:`~matplotlib.figure.Figure`; :func:`make_figures` finds out what a results
folder holds and writes the figures that fit into ``RESULTS_DIR/figures/``, with an
``index.html`` contact sheet (one line of caption per figure). Styles, colours and saving
(with painsim's version and the run id in each file's metadata) are in :mod:`sim.viz.style`.

What a folder holds decides what is drawn:

* a run (``manifest.json`` + ``patients.parquet``): 1 perturbation vs years lived with pain,
  2 arm comparison (two or more arms), 3 glass-brain connectomes, 4 connectivity matrices,
  5 graph metrics vs years lived with pain, 8 animation of one patient;
* a study (``study.csv``): 6a-d groups, years with pain, mediation diagram, power curve;
* a sweep (``sweep.parquet`` and/or ``sensitivity.csv``): 7a heatmap, 7b sensitivity indices.

Data flow one way: figures read results and never change them. Figures 3, 4 and 8 need
connectivity matrices. Figures 3 and 4 use ``connectivity.npz`` when the run saved it
(``--save-connectivity``); otherwise, and always for the animation (which needs the network at
every record time), replicate 0 is rebuilt from the manifest's resolved scenario: the same
scenario, seed and replicate give the same people with the same luck, stepped to the same
record times, so the rebuilt patient is the recorded one. The rebuild is checked against the
recorded DMN perturbation and refused if they differ (e.g. another painsim version).
"""

from __future__ import annotations

import html
import itertools
import json
import math
import os
import re
import shutil
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import animation
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch

import sim
from sim.analysis.stats import cluster_bootstrap_interval as cluster_bootstrap
from sim.analysis.stats import ols_band, t_interval, wilson_interval
from sim.viz import style as hs

FIGURES_DIR = "figures"
CI_LEVEL = 0.95
MIN_BIN_PEOPLE = 30
"""Fewest person-records per replicate for a years-with-pain bin to be drawn (figure 1)."""
YLP_BIN_EDGES: tuple[float, ...] = (
    0,
    0.5,
    1,
    2,
    3,
    4,
    5,
    6,
    8,
    10,
    12,
    15,
    20,
    25,
    30,
    40,
    60,
    math.inf,
)
"""Bins of years lived with pain (left-closed) for figure 1."""
MAX_SCATTER_POINTS = 3000
"""Scatter plots draw at most this many people (a random subset; fits use everyone)."""
BOOTSTRAP_RESAMPLES = 1000
ANIMATION_FRAMES_MAX = 40
"""The animation shows at most this many record times (evenly thinned)."""

METRIC_LABELS: dict[str, str] = {
    "char_path_length": "Characteristic path length (1/r)",
    "mean_degree": "Mean degree (edges per region)",
    "closeness": "Closeness centrality (r units)",
    "global_efficiency": "Global efficiency (r units)",
}
OUTCOME_LABELS: dict[str, str] = {
    "dmn_perturbation": "DMN perturbation (healthy SD)",
    "pain": "Pain (NRS 0–10)",
    "coping": "Catastrophizing (PCS 0–52)",
    "char_path_length": "Characteristic path length (1/r)",
    "mean_degree": "Mean degree (edges per region)",
    "mean_strength": "Mean strength (r)",
    "closeness": "Closeness centrality (r units)",
    "global_efficiency": "Global efficiency (r units)",
    "mpfc_pcc": "mPFC–PCC connectivity (r)",
    "mpfc_insula": "mPFC–insula connectivity (r)",
    "years_with_pain": "Years lived with pain (years)",
    "healthy_range": "Share with a DMN in the healthy range (0–1)",
    "responder": "Responder rate among the enrolled (0–1)",
    "share_chronic": "Share in a chronic episode (0–1)",
}
DIFFERENCE_LABELS: dict[str, str] = {
    "dmn_perturbation": "Δ DMN perturbation\n(healthy SD)",
    "pain": "Δ pain\n(NRS points)",
    "coping": "Δ catastrophizing\n(PCS points)",
}
YLP_LABEL = "Years lived with pain"
PERTURBATION_LABEL = "DMN perturbation (healthy SD)"


class FigureError(ValueError):
    """A folder or table cannot be drawn (nothing to plot, missing columns, bad options)."""


# ==============================================================================================
# statistics helpers
# ==============================================================================================
def _nice(value: float) -> float:
    """The largest 1, 2 or 5 times a power of ten not above ``value``.

    Examples
    --------
    >>> _nice(0.37), _nice(7.0)
    (0.2, 5.0)
    """
    power = 10 ** math.floor(math.log10(value))
    return max(m * power for m in (1, 2, 5) if m * power <= value)


def _fmt(value: float, spec: str = ".2f") -> str:
    return "–" if value is None or not np.isfinite(value) else format(value, spec)


# ==============================================================================================
# small drawing helpers
# ==============================================================================================
def _style_of(style: str | hs.Style) -> hs.Style:
    return hs.get_style(style)


def _despine_numbers(ax: Axes) -> None:
    """Ticks out and axes set off from the data, so the two zeros at the corner never touch."""
    ax.tick_params(axis="both", which="both", direction="out")
    ax.spines[["left", "bottom"]].set_position(("outward", 8))


def _panel_letter(ax: Axes, letter: str, s: hs.Style) -> None:
    """Bold panel letter in the title line (left-aligned titles are the house style)."""
    title = ax.get_title(loc="left")
    ax.set_title(f"{letter}  {title}" if title else letter, loc="left")


def _band(
    ax: Axes,
    x: np.ndarray,
    mean: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    color: str,
    label: str,
    s: hs.Style,
    marker: str = "o",
    linestyle: str = "-",
) -> None:
    ax.fill_between(x, low, high, color=color, alpha=0.18, linewidth=0)
    ax.plot(
        x,
        mean,
        color=color,
        marker=marker,
        label=label,
        linestyle=linestyle,
        markersize=s.marker * 0.8,
        markeredgecolor="white",
        markeredgewidth=0.8 if s.talk else 0.3,
    )


# ==============================================================================================
# figure 1: DMN perturbation vs years lived with pain
# ==============================================================================================
@dataclass(frozen=True)
class Curve:
    """Mean and 95 % band of an outcome per bin of years lived with pain."""

    x: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    method: str


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
        method = f"t interval over {len(replicates)} replicates"
    else:
        sub = data[data["bin"].isin(keep)]
        people = sub.groupby(["patient_id", "bin"])[value].agg(["sum", "size"])
        sums = people["sum"].unstack("bin").reindex(columns=keep).fillna(0).to_numpy(float)
        cnts = people["size"].unstack("bin").reindex(columns=keep).fillna(0).to_numpy(float)
        mean = means[keep].to_numpy(float)[0]
        low, high = cluster_bootstrap(sums, cnts, rng or np.random.default_rng(0))
        method = "bootstrap over people (1 replicate)"
    return Curve(x, mean, low, high, method)


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
    s = _style_of(style)
    rng = np.random.default_rng(seed)
    colors = hs.arm_colors(arms)
    per_replicate = len(patients) / max(len(arms), 1) / max(patients["replicate"].nunique(), 1)
    # Small runs: smaller bins are drawn (with their wide bands) rather than nothing.
    min_people = int(min(MIN_BIN_PEOPLE, max(5, per_replicate // 40)))
    with hs.use(s):
        fig = hs.new_figure(s, paper_height=5.0)
        axes = fig.subplots(1, 2, sharey=True) if s.talk else fig.subplots(2, 1, sharey=True)
        ax = axes[0]
        method = ""
        for arm in arms:
            curve = binned_curve(patients[patients["arm"] == arm], rng=rng, min_people=min_people)
            if curve.x.size:
                _band(ax, curve.x, curve.mean, curve.low, curve.high, colors[arm], arm, s)
                method = curve.method
        ax.set_title("By arm")
        ax.set_xlabel(YLP_LABEL)
        ax.set_ylabel(PERTURBATION_LABEL)
        ax.legend(loc="upper left", title="Arm (mean, 95 % band)")
        ref = patients[patients["arm"] == arms[0]]
        groups, labels = coping_groups(ref)
        code = groups.reindex(pd.MultiIndex.from_frame(ref[["replicate", "patient_id"]]))
        ref = ref.assign(coping_group=code.to_numpy())
        ax = axes[1]
        drawn = 0
        for g, (label, color, marker) in enumerate(
            zip(labels, hs.COPING_COLORS, "os^", strict=True)
        ):
            curve = binned_curve(
                ref[ref["coping_group"] == g], rng=rng, min_people=max(5, min_people // 3)
            )
            if curve.x.size:
                _band(ax, curve.x, curve.mean, curve.low, curve.high, color, label, s, marker)
                drawn += 1
        ax.set_title("By catastrophizing at the start")
        ax.set_xlabel(YLP_LABEL)
        if not s.talk:
            ax.set_ylabel(PERTURBATION_LABEL)
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
            _panel_letter(a, letter, s)
            a.set_xlim(left=0)
            a.set_ylim(bottom=0)  # perturbation is a mean absolute z-score
            _despine_numbers(a)
    fig._painsim_note = method  # type: ignore[attr-defined]
    return fig


# ==============================================================================================
# figure 2: arm comparison at the horizon
# ==============================================================================================
COMPARED_OUTCOMES: tuple[str, ...] = ("dmn_perturbation", "pain", "coping")


def _twin_matrix(rows: pd.DataFrame, arm: str, outcome: str) -> np.ndarray:
    part = rows[rows["arm"] == arm]
    table = part.pivot(index="replicate", columns="patient_id", values=outcome)
    return table.sort_index().sort_index(axis=1).to_numpy(dtype=float)


def arm_differences(
    patients: pd.DataFrame,
    arms: Sequence[str],
    *,
    year: float | None = None,
    comparison: pd.DataFrame | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Differences of every arm from the reference arm (the first) at one record year.

    For all patients the numbers are those of ``painsim compare`` (twin differences, 95 %
    bootstrap over replicates then patients; taken from ``comparison`` when it holds the year).
    For arms with enrolment, the same is added for the patients enrolled in that arm.

    Returns
    -------
    pandas.DataFrame
        Columns ``arm, outcome, who ('all' or 'enrolled'), difference, ci_low, ci_high,
        n_pairs, year``.
    """
    from sim.analysis.stats import two_level_bootstrap_interval as bootstrap_mean_interval

    reference = arms[0]
    year = float(patients["year"].max()) if year is None else float(year)
    at = patients[np.isclose(patients["year"], year)]
    rng = np.random.default_rng(seed)
    rows = []
    for arm in arms[1:]:
        enrolled = _twin_matrix(at, arm, "enrolled_year") if "enrolled_year" in at else None
        for outcome in COMPARED_OUTCOMES:
            twins = _twin_matrix(at, arm, outcome) - _twin_matrix(at, reference, outcome)
            known = None
            if comparison is not None:
                match = comparison[
                    np.isclose(comparison["year"], year)
                    & (comparison["arm"] == arm)
                    & (comparison["outcome"] == outcome)
                ]
                if len(match):
                    known = match.iloc[0]
            if known is not None:
                rows.append(
                    {
                        "arm": arm,
                        "outcome": outcome,
                        "who": "all",
                        "difference": known["twin_difference"],
                        "ci_low": known["ci_low"],
                        "ci_high": known["ci_high"],
                        "n_pairs": known["n_pairs"],
                    }
                )
            else:
                low, high = bootstrap_mean_interval(twins, rng)
                rows.append(
                    {
                        "arm": arm,
                        "outcome": outcome,
                        "who": "all",
                        "difference": float(np.nanmean(twins)),
                        "ci_low": low,
                        "ci_high": high,
                        "n_pairs": int(np.isfinite(twins).sum()),
                    }
                )
            if enrolled is not None and np.isfinite(enrolled).any():
                treated = np.where(np.isfinite(enrolled), twins, np.nan)
                if np.isfinite(treated).sum() >= 2:
                    low, high = bootstrap_mean_interval(treated, rng)
                    rows.append(
                        {
                            "arm": arm,
                            "outcome": outcome,
                            "who": "enrolled",
                            "difference": float(np.nanmean(treated)),
                            "ci_low": low,
                            "ci_high": high,
                            "n_pairs": int(np.isfinite(treated).sum()),
                        }
                    )
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
    s = _style_of(style)
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
            ax.set_xlabel(DIFFERENCE_LABELS[outcome])
            ax.set_title(OUTCOME_LABELS[outcome].split(" (")[0])
            lim = np.nanmax(
                np.abs(
                    differences.loc[
                        differences["outcome"] == outcome, ["ci_low", "ci_high"]
                    ].to_numpy(float)
                )
            )
            lim = lim * 1.15 if np.isfinite(lim) and lim > 0 else 1.0
            ax.set_xlim(-lim, lim)
            tick = _nice(0.7 * lim)  # three ticks away from the panel edges: labels never touch
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


# ==============================================================================================
# connectivity: from connectivity.npz or a deterministic rebuild
# ==============================================================================================
def scenario_from_manifest(manifest: Mapping[str, Any]) -> Any:
    """The run's scenario, from the resolved scenario stored in ``manifest.json``.

    The manifest keeps ``parameters`` as a tree by group; the scenario takes dotted names.
    """
    from sim.scenario import parse_scenario

    data = dict(manifest["scenario"])

    def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in tree.items():
            if isinstance(value, Mapping):
                out.update(flatten(value, f"{prefix}{key}."))
            else:
                out[f"{prefix}{key}"] = value
        return out

    data["parameters"] = flatten(data.get("parameters") or {})
    if data.get("study") is None:
        data.pop("study", None)
    return parse_scenario(data, "manifest.json")


@dataclass
class Tracked:
    """Connectivity of a few people over time, and of everyone at the horizon.

    Attributes
    ----------
    years
        (T,) record times captured.
    connectivity
        (T, k, R, R) Pearson r of the tracked people.
    pain_free
        (T, k, R, R) the same people's own pain-free pattern at their age then (adaptation 0,
        no pain): what their network would be without pain.
    everyone
        (N, R, R) everyone's connectivity at the horizon, or None.
    perturbation
        (k,) rebuilt DMN perturbation of the tracked people at the horizon.
    """

    years: np.ndarray
    connectivity: np.ndarray
    pain_free: np.ndarray
    everyone: np.ndarray | None
    perturbation: np.ndarray


def rebuild(
    scenario: Any,
    replicate: int,
    arm: str,
    people: Sequence[int],
    *,
    frames: Iterable[float] = (),
    everyone: bool = False,
) -> Tracked:
    """Simulate one replicate of one arm again and capture the connectivity of ``people``.

    The model stops at every record time of the run (as :func:`sim.experiments.run.run_replicate`
    does), so the random numbers line up and the rebuilt people are the recorded ones.

    Parameters
    ----------
    scenario
        The run's scenario (:func:`scenario_from_manifest`).
    replicate, arm
        Which cohort and arm.
    people
        Patient ids to track.
    frames
        Record times at which to capture them (the horizon is always captured last).
    everyone
        Also return everyone's matrix at the horizon.
    """
    from sim.core.brain import edges_to_matrix
    from sim.core.drift import connectivity as materialize
    from sim.core.model import PainModel
    from sim.experiments.run import record_times

    model = PainModel(scenario, replicate, arm=arm, create_agents=False)
    times = record_times(scenario.scenario)
    wanted = {round(float(t), 9) for t in frames} | {round(float(times[-1]), 9)}
    rows = np.asarray(people, dtype=int)
    c = model.cohort
    caught_years, conn, free = [], [], []
    for t in times:
        model.run_until(float(t))
        if round(float(t), 9) in wanted:
            caught_years.append(float(t))
            conn.append(model.connectivity(rows))
            zeros = np.zeros(rows.size)
            free.append(
                materialize(
                    model.brain,
                    model.params.brain,
                    model.params.drift,
                    c.baseline[rows],
                    c.idiosyncrasy[rows],
                    zeros,
                    zeros,
                    model.age[rows],
                )
            )
    outcomes = model.network_outcomes(rows)
    all_matrices = (
        edges_to_matrix(model.connectivity().astype(np.float32), diagonal=1.0) if everyone else None
    )
    return Tracked(
        np.array(caught_years),
        edges_to_matrix(np.array(conn), diagonal=1.0),
        edges_to_matrix(np.array(free), diagonal=1.0),
        all_matrices,
        np.asarray(outcomes["dmn_perturbation"]),
    )


def pain_free_pattern(
    scenario: Any, replicate: int, people: Sequence[int], ages: Sequence[float]
) -> np.ndarray:
    """(k, R, R) own pain-free connectivity of ``people`` at ``ages`` (no simulation needed).

    A person's healthy deviation is drawn when the cohort is made, so building the model
    without running it is enough.
    """
    from sim.core.brain import edges_to_matrix
    from sim.core.drift import connectivity as materialize
    from sim.core.model import PainModel

    model = PainModel(scenario, replicate, create_agents=False)
    rows = np.asarray(people, dtype=int)
    zeros = np.zeros(rows.size)
    edges = materialize(
        model.brain,
        model.params.brain,
        model.params.drift,
        model.cohort.baseline[rows],
        model.cohort.idiosyncrasy[rows],
        zeros,
        zeros,
        np.asarray(ages, float),
    )
    return edges_to_matrix(edges, diagonal=1.0)


# ==============================================================================================
# figure 3: glass-brain connectomes
# ==============================================================================================
@dataclass(frozen=True)
class BrainLayout:
    """What the brain figures need to know about the regions."""

    names: tuple[str, ...]
    coords: np.ndarray
    subsystems: tuple[str, ...]
    healthy: np.ndarray  # (R, R) healthy reference r, diagonal 1

    @classmethod
    def from_scenario(cls, scenario: Any = None) -> BrainLayout:
        from sim.core.brain import build_brain, edges_to_matrix

        brain = build_brain(scenario.params.brain if scenario is not None else None)
        return cls(
            brain.names,
            brain.coords,
            brain.subsystems,
            edges_to_matrix(np.tanh(brain.healthy_z), diagonal=1.0),
        )


def _node_colors(subsystems: Sequence[str]) -> list[str]:
    return [hs.SUBSYSTEM_COLORS.get(x, hs.NEUTRAL) for x in subsystems]


def _glass(
    ax: Axes,
    matrix: np.ndarray,
    layout: BrainLayout,
    mode: str,
    cmap: Any,
    norm: Normalize,
    s: hs.Style,
    width_scale: float = 1.0,
) -> Any:
    """One nilearn glass-brain view of ``matrix`` (zeros are not drawn) into ``ax``."""
    from nilearn import plotting

    adjacency = np.array(matrix, dtype=float)
    np.fill_diagonal(adjacency, 0.0)
    display = plotting.plot_connectome(
        adjacency,
        layout.coords,
        node_color=_node_colors(layout.subsystems),
        node_size=90 if s.talk else 6,
        display_mode=mode,
        axes=ax,
        colorbar=False,
        edge_cmap=cmap,
        edge_vmin=norm.vmin,
        edge_vmax=norm.vmax,
        annotate=True,
        alpha=0.75,
        node_kwargs={"edgecolors": "#222222", "linewidths": 0.8 if s.talk else 0.2},
    )
    for view in display.axes.values():
        for nodes in view.ax.collections:
            nodes.set_zorder(30)  # nodes above edges (nilearn puts edges at zorder 10-20)
        for line in view.ax.lines:
            line.set_linewidth(line.get_linewidth() * width_scale * (1.6 if s.talk else 0.45))
        for text in view.ax.texts:
            text.set_fontsize(s.small)
    return display


def change_scale(
    changes: Sequence[np.ndarray],
    *,
    quantile: float = 0.95,
    threshold: float | None = None,
    threshold_share: float = 1 / 3,
) -> tuple[float, float]:
    """Colour limit and drawing threshold for edge changes (Δr) shared by several networks.

    The limit is the ``quantile`` of |Δr| over all edges of all networks, rounded up to 0.05
    (larger changes take the end colour); edges below ``threshold`` (default:
    ``threshold_share`` of the limit) are not drawn.

    Examples
    --------
    >>> change_scale([np.array([[0.0, 0.12], [0.12, 0.0]])])
    (0.15, 0.05)
    """
    values = np.concatenate([np.abs(_upper(m)) for m in changes]) if changes else np.zeros(1)
    limit = max(math.ceil(float(np.quantile(values, quantile)) * 20 - 1e-9) / 20, 0.05)
    if threshold is None:
        threshold = round(limit * threshold_share, 3)
    return limit, float(threshold)


def _upper(matrix: np.ndarray) -> np.ndarray:
    """Upper-triangle entries (edges) of an (..., R, R) matrix."""
    rows, cols = np.triu_indices(matrix.shape[-1], 1)
    return np.asarray(matrix)[..., rows, cols].ravel()


def connectome_figure(
    layout: BrainLayout,
    panels: Sequence[tuple[str, np.ndarray]],
    style: str | hs.Style = "talk",
    *,
    threshold: float | None = None,
    healthy_threshold: float = 0.2,
) -> Figure:
    """Figure 3: glass-brain connectomes; healthy reference, then changes from pain-free.

    Parameters
    ----------
    layout
        Regions, MNI coordinates, subsystems and the healthy reference.
    panels
        (title, change) pairs: (R, R) change in connectivity (Δr) from the person's own
        pain-free pattern, e.g. the patient and the treated twin. Drawn with one shared
        colour scale and threshold, so fewer or paler edges mean less change.
    threshold
        Smallest |Δr| drawn; default from :func:`change_scale`.
    healthy_threshold
        Smallest healthy r drawn in the reference panel.

    Returns
    -------
    matplotlib.figure.Figure
        One column per network (healthy reference first); axial and sagittal views.
    """
    s = _style_of(style)
    changes = [np.asarray(m, float) for _, m in panels]
    limit, threshold = change_scale(changes, threshold=threshold)
    change_map, change_norm = hs.change_cmap(limit, threshold)
    level_norm = Normalize(healthy_threshold, float(max(0.5, _upper(layout.healthy).max())))
    columns = [
        (
            "Healthy reference",
            np.where(layout.healthy >= healthy_threshold, layout.healthy, 0.0),
            hs.CONNECTIVITY_CMAP,
            level_norm,
        )
    ]
    columns += [
        (title, np.where(np.abs(m) >= threshold, m, 0.0), change_map, change_norm)
        for (title, _), m in zip(panels, changes, strict=True)
    ]
    k = len(columns)
    with hs.use(s):
        fig = hs.new_figure(s, paper_height=2.0 + 1.45 * k, layout="none")
        if s.talk:
            left, right, top, bottom = 0.01, 0.99, 0.84, 0.2
            col_w = (right - left) / k
            for j, (title, matrix, cmap, norm) in enumerate(columns):
                if k <= 2:  # wide columns: the two views side by side
                    ax = fig.add_axes((left + j * col_w, bottom, col_w, top - bottom))
                    _glass(ax, matrix, layout, "xz", cmap, norm, s)
                else:
                    h = (top - bottom) / 2
                    for i, mode in enumerate(("z", "x")):
                        ax = fig.add_axes((left + j * col_w, top - (i + 1) * h, col_w, h))
                        _glass(ax, matrix, layout, mode, cmap, norm, s)
                fig.text(
                    left + (j + 0.5) * col_w,
                    top + 0.02,
                    title,
                    ha="center",
                    va="bottom",
                    fontsize=s.font,
                    fontweight="bold",
                )
            cb_level = fig.add_axes((left + 0.1 * col_w, 0.135, 0.8 * col_w, 0.025))
            cb_change = (
                fig.add_axes((left + col_w * 1.1, 0.135, col_w * (k - 1) - 0.2 * col_w, 0.025))
                if k > 1
                else None
            )
        else:
            top, bottom = 0.95, 1.6 / (2.0 + 1.45 * k)
            h = (top - bottom) / k
            for j, (title, matrix, cmap, norm) in enumerate(columns):
                ax = fig.add_axes((0.0, top - (j + 1) * h, 1.0, h * 0.86))
                _glass(ax, matrix, layout, "xz", cmap, norm, s)
                fig.text(
                    0.02,
                    top - j * h,
                    title.replace("\n", " "),
                    ha="left",
                    va="top",
                    fontsize=s.small,
                    fontweight="bold",
                )
            cb_level = fig.add_axes((0.08, bottom - 0.07, 0.36, 0.015))
            cb_change = fig.add_axes((0.56, bottom - 0.07, 0.36, 0.015)) if k > 1 else None
        bar = fig.colorbar(
            ScalarMappable(level_norm, hs.CONNECTIVITY_CMAP), cax=cb_level, orientation="horizontal"
        )
        bar.set_label(
            f"Healthy connectivity, r (r ≥ {healthy_threshold:g} drawn)", fontsize=s.small
        )
        bar.ax.tick_params(labelsize=s.small)
        bar.ax.locator_params(nbins=4)
        if cb_change is not None:
            bar = fig.colorbar(
                ScalarMappable(change_norm, change_map),
                cax=cb_change,
                orientation="horizontal",
                extend="both",
            )
            bar.set_label(
                (
                    "Change from own pain-free pattern, Δr"
                    if s.talk
                    else "Δr from own pain-free pattern"
                )
                + f" (grey: |Δr| < {threshold:.3g}, not drawn)",
                fontsize=s.small,
            )
            bar.ax.tick_params(labelsize=s.small)
            bar.ax.locator_params(nbins=5)
        handles = [
            Line2D(
                [],
                [],
                marker="o",
                linestyle="none",
                markersize=s.marker * 1.2,
                markerfacecolor=hs.SUBSYSTEM_COLORS[x],
                markeredgecolor="#222222",
                label=hs.SUBSYSTEM_LABELS[x],
            )
            for x in hs.SUBSYSTEMS_ORDER
            if x in set(layout.subsystems)
        ]
        fig.legend(
            handles=handles,
            loc="lower center",
            ncols=len(handles) if s.talk else 2,
            bbox_to_anchor=(0.5, 0.0),
            frameon=False,
            fontsize=s.small,
            handletextpad=0.3,
            columnspacing=1.5,
        )
    fig._painsim_threshold = threshold  # type: ignore[attr-defined]
    return fig


# ==============================================================================================
# figure 4: connectivity matrices ordered by subsystem
# ==============================================================================================
def subsystem_order(subsystems: Sequence[str]) -> np.ndarray:
    """Region order grouped by subsystem (core, dmPFC, MTL, salience), stable within groups.

    Examples
    --------
    >>> subsystem_order(["mtl", "core", "salience", "core"]).tolist()
    [1, 3, 0, 2]
    """
    rank = {name: i for i, name in enumerate(hs.SUBSYSTEMS_ORDER)}
    return np.array(
        sorted(range(len(subsystems)), key=lambda i: (rank.get(subsystems[i], len(rank)), i))
    )


def matrices_figure(
    layout: BrainLayout,
    healthy: np.ndarray,
    chronic: np.ndarray,
    style: str | hs.Style = "talk",
    *,
    titles: Sequence[str] = ("Healthy", "Chronic pain"),
) -> Figure:
    """Figure 4: connectivity matrices (healthy, chronic, difference) ordered by subsystem.

    Parameters
    ----------
    layout
        Region names and subsystems.
    healthy, chronic
        (R, R) mean connectivity (Pearson r) of the two groups.
    titles
        Titles of the two group panels (e.g. with group sizes).

    Returns
    -------
    matplotlib.figure.Figure
        Region labels coloured by subsystem, white lines between subsystems; with more than
        30 regions, subsystem names replace region names.
    """
    s = _style_of(style)
    order = subsystem_order(layout.subsystems)
    names = [layout.names[i] for i in order]
    subs = [layout.subsystems[i] for i in order]
    mats = [np.array(m, float)[np.ix_(order, order)] for m in (healthy, chronic)]
    diff = mats[1] - mats[0]
    for m in (*mats, diff):
        np.fill_diagonal(m, np.nan)
    level_norm = Normalize(-0.2, 0.8)
    peak = max(math.ceil(float(np.nanmax(np.abs(diff))) * 20) / 20, 0.05)
    diff_norm = TwoSlopeNorm(0.0, -peak, peak)
    show_names = len(names) <= 30
    boundaries = [i for i in range(1, len(subs)) if subs[i] != subs[i - 1]]
    label_size = max(s.tiny, s.small * 0.8)
    with hs.use(s):
        fig = hs.new_figure(s, paper_height=8.0)
        axes = list(fig.subplots(1, 3) if s.talk else fig.subplots(3, 1))
        panels = [
            (mats[0], titles[0], hs.LEVEL_CMAP, level_norm),
            (mats[1], titles[1], hs.LEVEL_CMAP, level_norm),
            (
                diff,
                "Difference\n(chronic − never in pain)"
                if s.talk
                else "Difference (chronic − never)",
                hs.CHANGE_CMAP,
                diff_norm,
            ),
        ]
        images = []
        for idx, (ax, (m, title, cmap, norm)) in enumerate(zip(axes, panels, strict=True)):
            images.append(ax.imshow(m, cmap=cmap, norm=norm, interpolation="nearest"))
            for b in boundaries:
                ax.axhline(b - 0.5, color="white", linewidth=3 if s.talk else 0.8)
                ax.axvline(b - 0.5, color="white", linewidth=3 if s.talk else 0.8)
            ticks = np.arange(len(names))
            show_y = idx == 0 or not s.talk
            if show_names:
                ax.set_xticks(ticks, names, rotation=90, fontsize=label_size)
                ax.set_yticks(ticks, names if show_y else [], fontsize=label_size)
                for axis_labels in (ax.get_xticklabels(), ax.get_yticklabels()):
                    for text, sub in zip(axis_labels, subs, strict=False):
                        text.set_color(_darker(hs.SUBSYSTEM_COLORS.get(sub, hs.NEUTRAL)))
            else:
                centres = _group_centres(subs)
                labels = [hs.SUBSYSTEM_LABELS.get(c, c) for c in centres]
                ax.set_xticks(list(centres.values()), labels, rotation=90)
                ax.set_yticks(list(centres.values()), labels if show_y else [])
            ax.tick_params(length=0)
            for spine in ax.spines.values():
                spine.set_visible(False)
            ax.set_title(title, loc="center", fontsize=s.font)
        bar = fig.colorbar(images[0], ax=axes[:2], shrink=0.6 if s.talk else 0.8, aspect=25)
        bar.set_label("Connectivity (Pearson r)")
        bar = fig.colorbar(images[2], ax=axes[2], shrink=0.6 if s.talk else 0.8, aspect=25)
        bar.set_label("Difference, Δr")
        handles = [
            Patch(color=hs.SUBSYSTEM_COLORS[x], label=hs.SUBSYSTEM_LABELS[x])
            for x in hs.SUBSYSTEMS_ORDER
            if x in set(subs)
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles) if s.talk else 2)
    return fig


def _darker(color: str, factor: float = 0.75) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(color)
    return r * factor, g * factor, b * factor


def _group_centres(subs: Sequence[str]) -> dict[str, float]:
    centres: dict[str, list[int]] = {}
    for i, x in enumerate(subs):
        centres.setdefault(x, []).append(i)
    return {k: float(np.mean(v)) for k, v in centres.items()}


# ==============================================================================================
# figure 5: graph metrics vs years lived with pain
# ==============================================================================================
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
        ``years_with_pain`` and the four metric columns.
    color
        Colour of the fit (the arm's colour).
    max_points
        At most this many people are drawn (random subset); fits and r use everyone.
    """
    s = _style_of(style)
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
        for ax, (metric, label) in zip(axes, METRIC_LABELS.items(), strict=True):
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
            name, unit = label.rstrip(")").split(" (")
            ax.set_title(name, loc="left", fontsize=s.font)
            ax.set_ylabel(unit)
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
            _despine_numbers(ax)
        for ax in axes[2:]:
            ax.set_xlabel(YLP_LABEL)
        n = len(rows)
        note = f"{len(shown):,} of {n:,} people shown" if len(shown) < n else f"{n:,} people"
        fig.suptitle(
            "DMN graph metrics vs years lived with pain"
            if s.talk
            else "Graph metrics vs years with pain"
        )
        fig._painsim_note = note  # type: ignore[attr-defined]
    return fig


# ==============================================================================================
# figure 8: animation of one patient
# ==============================================================================================
@dataclass(frozen=True)
class PatientStory:
    """What the animation shows of one patient at each record time."""

    patient_id: int
    arm: str
    years: np.ndarray  # (T,) record times
    years_with_pain: np.ndarray  # (T,)
    stage: np.ndarray  # (T,) str
    perturbation: np.ndarray  # (T,)
    change: np.ndarray  # (T, R, R) Δr from own pain-free pattern
    age0: float


STAGE_WORDS = {
    "none": "No pain now",
    "acute": "Acute pain",
    "subacute": "Subacute pain",
    "chronic": "Chronic pain",
}
GIF_MAX_BYTES = 2_000_000


class _GifWriter(animation.PillowWriter):
    """Pillow GIF writer that holds the last frame and writes a comment (provenance)."""

    def __init__(self, *args: Any, comment: str = "", hold_last_ms: int = 2500, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.comment = comment
        self.hold_last_ms = hold_last_ms

    def finish(self) -> None:
        durations = [int(1000 / self.fps)] * len(self._frames)
        durations[-1] += self.hold_last_ms
        for colors in (128, 64, 32):  # fewer colours until the file fits GIF_MAX_BYTES
            frames = [
                f.convert("RGB").quantize(colors=colors, method=2, dither=0) for f in self._frames
            ]
            frames[0].save(
                self.outfile,
                save_all=True,
                append_images=frames[1:],
                duration=durations,
                loop=0,
                optimize=True,
                comment=self.comment.encode("utf-8"),
            )
            if Path(self.outfile).stat().st_size <= GIF_MAX_BYTES:
                break


def animate_patient(
    story: PatientStory,
    layout: BrainLayout,
    path: Path,
    *,
    metadata: Mapping[str, str] | None = None,
    fps: float = 3.0,
    mp4: bool | None = None,
) -> list[Path]:
    """Figure 8: an animation of one patient's DMN over the run, for teaching (talk style).

    Each frame shows the glass brain with the edges that differ from the patient's own
    pain-free pattern (same colour scale in every frame), a clock of the year and of the
    years lived with pain, the current pain stage, and DMN perturbation so far.

    Parameters
    ----------
    story
        The patient's record times, stages and connectivity changes.
    layout
        Regions and coordinates.
    path
        File path without suffix; writes ``.gif`` (and ``.mp4`` when ffmpeg is present).
    metadata
        :func:`sim.viz.style.provenance`; written as the GIF comment and MP4 metadata.
    fps
        Frames per second.
    mp4
        Write an MP4 too; default: if ``ffmpeg`` is on the PATH.

    Returns
    -------
    list of pathlib.Path
    """
    from nilearn import plotting

    s = hs.get_style("talk")
    meta = dict(metadata or hs.provenance(None))
    iu = np.triu_indices(len(layout.names), 1)
    limit, threshold = change_scale(list(story.change), quantile=0.99, threshold_share=0.25)
    cmap, norm = hs.change_cmap(limit, threshold)
    with hs.use(s):
        fig = hs.new_figure(s, layout="none")
        brain_ax = fig.add_axes((0.0, 0.17, 0.64, 0.72))
        display = plotting.plot_connectome(
            np.zeros((len(layout.names),) * 2),
            layout.coords,
            node_color=_node_colors(layout.subsystems),
            node_size=110,
            display_mode="xz",
            axes=brain_ax,
            colorbar=False,
            annotate=True,
            node_kwargs={"edgecolors": "#222222", "linewidths": 0.8},
        )
        for view in display.axes.values():
            for text in view.ax.texts:
                text.set_fontsize(s.small)
        from matplotlib.collections import LineCollection

        collections, segments = {}, {}
        for key, view in display.axes.items():
            # nilearn's projection: drop the coordinate along the viewing direction.
            keep = [0, 1, 2]
            keep.remove({"x": 0, "y": 1, "z": 2, "l": 0, "r": 0}[view.direction])
            xy = layout.coords[:, keep]
            segments[key] = np.stack([xy[iu[0]], xy[iu[1]]], axis=1)
            lc = LineCollection(segments[key], linewidths=0, zorder=3)
            for nodes in view.ax.collections:
                nodes.set_zorder(10)  # nodes above edges
            view.ax.add_collection(lc)
            collections[key] = lc
        fig.text(
            0.02,
            0.95,
            "One patient's default mode network",
            fontsize=s.large,
            fontweight="bold",
            va="top",
        )
        fig.text(
            0.02,
            0.895,
            f"Patient {story.patient_id} ({story.arm}); edges: change from "
            "their own pain-free network",
            fontsize=s.small,
            va="top",
            color="#333333",
        )
        clock = fig.text(0.68, 0.93, "", fontsize=s.large * 1.5, fontweight="bold", va="top")
        ylp_text = fig.text(0.68, 0.82, "", fontsize=s.font * 1.2, va="top")
        stage_text = fig.text(
            0.68,
            0.73,
            "",
            fontsize=s.font * 1.2,
            va="top",
            bbox={"boxstyle": "round,pad=0.4", "facecolor": "white", "edgecolor": "none"},
        )
        trace = fig.add_axes((0.72, 0.2, 0.25, 0.38))
        trace.plot(story.years, story.perturbation, color="#BBBBBB", linewidth=2)
        (done,) = trace.plot([], [], color=hs.OKABE_ITO["vermillion"], linewidth=s.line)
        (dot,) = trace.plot(
            [], [], "o", color=hs.OKABE_ITO["vermillion"], markersize=s.marker * 1.4
        )
        trace.set_xlabel("Year of the run")
        trace.set_ylabel("DMN perturbation\n(healthy SD)")
        trace.set_xlim(story.years[0], story.years[-1])
        top = max(float(np.nanmax(story.perturbation)) * 1.1, 1.5)
        trace.set_ylim(0, top)
        trace.axhline(0.8, color=hs.NEUTRAL, linestyle=":", linewidth=1.5)
        trace.text(
            story.years[0], 0.8, " typical healthy", va="bottom", fontsize=s.small, color=hs.NEUTRAL
        )
        cax = fig.add_axes((0.06, 0.1, 0.5, 0.03))
        bar = fig.colorbar(
            ScalarMappable(norm, cmap), cax=cax, orientation="horizontal", extend="both"
        )
        bar.set_label(
            f"Change from own pain-free pattern, Δr (grey: |Δr| < {threshold:.3g}, not drawn)",
            fontsize=s.small,
        )
        bar.ax.locator_params(nbins=5)
        bar.ax.tick_params(labelsize=s.small)

        def draw(t: int) -> list[Any]:
            values = story.change[t][iu]
            shown = np.abs(values) >= threshold
            colors = cmap(norm(values))
            colors[~shown, 3] = 0.0
            widths = np.where(shown, 1.5 + 3.5 * np.minimum(np.abs(values) / limit, 1), 0.0)
            order = np.argsort(np.abs(values))  # strongest changes drawn on top
            for key, lc in collections.items():
                lc.set_segments(segments[key][order])
                lc.set_color(colors[order])
                lc.set_linewidth(widths[order])
            year = story.years[t]
            clock.set_text(f"Year {year:.0f}")
            ylp_text.set_text(
                f"{story.years_with_pain[t]:.1f} years lived with pain\nage {story.age0 + year:.0f}"
            )
            stage = str(story.stage[t])
            stage_text.set_text(STAGE_WORDS.get(stage, stage))
            stage_text.get_bbox_patch().set_facecolor(hs.STAGE_COLORS.get(stage, "white"))
            done.set_data(story.years[: t + 1], story.perturbation[: t + 1])
            dot.set_data([year], [story.perturbation[t]])
            return [*collections.values(), clock, ylp_text, stage_text, done, dot]

        movie = animation.FuncAnimation(fig, draw, frames=len(story.years), blit=False)
        stamp = f"painsim {meta['painsim_version']}; run id {meta['run_id']}"
        gif = Path(path).with_suffix(".gif")
        gif.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():  # axes are placed by hand; no layout to warn about
            warnings.filterwarnings("ignore", message="There are no gridspecs")
            movie.save(gif, writer=_GifWriter(fps=fps, comment=stamp), dpi=s.dpi * 2 / 3)
        written = [gif]
        if mp4 if mp4 is not None else shutil.which("ffmpeg"):
            target = Path(path).with_suffix(".mp4")
            writer = animation.FFMpegWriter(
                fps=fps,
                metadata={"title": meta.get("title", ""), "comment": stamp, "artist": "painsim"},
            )
            movie.save(target, writer=writer, dpi=s.dpi)
            written.append(target)
    hs.close(fig)
    return written


# ==============================================================================================
# figure 6: a virtual study
# ==============================================================================================
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


def finding_holds(table: pd.DataFrame, key: str, alpha: float) -> pd.Series:
    """Per replication, does a published finding come out (rules of ``sim.experiments.study``)?"""
    if key == "cbp_hc":
        return (table["d_cbp_hc"] > 0) & (table["p_cbp_hc"] < alpha)
    if key == "cbp_sbp":
        return table["p_cbp_sbp"] >= alpha
    if key == "ylp":
        return (table["r_ylp"] > 0) & (table["p_ylp"] < alpha)
    if key == "mediation":
        return table["indirect_ci_low"] > 0
    raise KeyError(key)


def _require(table: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise FigureError(f"{what}: missing column(s) {', '.join(missing)}")


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
    s = _style_of(style)
    rng = np.random.default_rng(seed)
    with hs.use(s):
        fig = hs.new_figure(s, paper_height=2.8)
        ax = fig.subplots()
        if sample is not None:
            _require(sample, ["group", "dmn_perturbation"], "sample")
            groups = [g for g in GROUP_LABELS if g in set(sample["group"])]
            data = [
                sample.loc[sample["group"] == g, "dmn_perturbation"].to_numpy(float) for g in groups
            ]
            _violin(ax, data, [GROUP_COLORS[g] for g in groups], s, rng)
            ax.set_xticks(
                range(len(groups)),
                [f"{GROUP_LABELS[g]}\n(n = {len(d)})" for g, d in zip(groups, data, strict=True)],
            )
            ax.set_ylabel(PERTURBATION_LABEL)
            ax.set_title("DMN perturbation by group (one replication)")
        else:
            _require(study, list(CONTRASTS), "study.csv")
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
    alpha: float = 0.05,
) -> Figure:
    """Figure 6b: DMN perturbation and years lived with pain.

    With ``sample``: scatter of the patients of one replication with a least-squares line.
    Without: the correlation r with years lived with pain in every replication (histogram),
    with the share of replications in which it is positive and significant.
    """
    s = _style_of(style)
    with hs.use(s):
        fig = hs.new_figure(s, paper_height=2.8)
        ax = fig.subplots()
        if sample is not None:
            _require(sample, ["group", "dmn_perturbation", "years_with_pain"], "sample")
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
            ax.set_xlabel(YLP_LABEL)
            ax.set_ylabel(PERTURBATION_LABEL)
            ax.legend(loc="upper left")
            ax.set_title("Perturbation vs years lived with pain (patients, one replication)")
        else:
            _require(study, ["r_ylp", "p_ylp"], "study.csv")
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
    study: pd.DataFrame, style: str | hs.Style = "talk", *, alpha: float = 0.05
) -> Figure:
    """Figure 6c: mediation path diagram, years with pain -> coping -> DMN perturbation.

    Paths a, b, c (total) and c' (direct) are medians over replications; the indirect effect
    a × b is shown with the median of the replications' bootstrap intervals and with the
    share of replications whose interval excludes zero.
    """
    s = _style_of(style)
    _require(study, ["indirect", "indirect_ci_low", "indirect_ci_high"], "study.csv")

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

        def arrow(a: str, b: str, label: str, offset: tuple[float, float]) -> None:
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
                label,
                ha="center",
                va="center",
                fontsize=s.small,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 2},
            )

        arrow("X", "M", f"a = {_fmt(med('a_path'), '.3f')}\nPCS points per year", (-0.9, 0.3))
        arrow("M", "Y", f"b = {_fmt(med('b_path'), '.4f')}\nSD per PCS point", (0.9, 0.3))
        arrow(
            "X",
            "Y",
            f"c′ = {_fmt(med('direct'), '.4f')} (direct)   "
            f"c = {_fmt(med('total'), '.4f')} (total)\nSD per year",
            (0.0, 0.75),
        )
        indirect = (
            f"Indirect effect a × b = {_fmt(med('indirect'), '.4f')} SD per year "
            f"(95 % CI {_fmt(med('indirect_ci_low'), '.4f')} to "
            f"{_fmt(med('indirect_ci_high'), '.4f')})"
        )
        ax.text(5.0, 5.85 if not s.talk else 5.95, "", fontsize=s.font)
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
        _require(
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
    _require(power, ["multiplier", "key", "detection_rate"], "power table")
    table = power[power["key"].isin(PUBLISHED_FINDINGS)].copy()
    reps = table.get("replications", np.nan)
    table["successes"] = np.round(table["detection_rate"] * reps)
    table["replications"] = reps
    if "n_total" not in table:
        table["n_total"] = np.nan
    return table


def study_power(
    power: pd.DataFrame, style: str | hs.Style = "talk", *, alpha: float = 0.05
) -> Figure:
    """Figure 6d: power curve, detection rate of each finding vs sample size (Wilson 95 %)."""
    s = _style_of(style)
    table = power_table(power, alpha)
    colors = [hs.OKABE_ITO[c] for c in ("vermillion", "reddish purple", "blue", "bluish green")]
    use_n = table["n_total"].notna().all()
    with hs.use(s):
        fig = hs.new_figure(s, paper_height=2.8)
        ax = fig.subplots()
        for (key, label), color, marker in zip(
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
            ax.plot(x, y, marker=marker, color=color, label=label)
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


# ==============================================================================================
# figure 7: a sweep (``sim.experiments.sweep``: sweep.parquet, sensitivity.csv; house-style
# versions of the working plots in ``sim.viz.sweep_figures``)
# ==============================================================================================
SWEEP_META_COLUMNS = {"point", "replicate", "arm", "seed", "year", "run_seconds", "status", "error"}


def sweep_parameters(table: pd.DataFrame, manifest: Mapping[str, Any] | None = None) -> list[str]:
    """Swept settings: ``manifest['sweep']['targets']``, else the dotted-name columns."""
    targets = ((manifest or {}).get("sweep") or {}).get("targets")
    if targets:
        return [t for t in targets if t in table.columns]
    return [c for c in table.columns if "." in c and c not in SWEEP_META_COLUMNS]


def _ok_runs(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["status"] == "ok"] if "status" in table else table


def _axis_codes(values: pd.Series, bins: int) -> tuple[np.ndarray, list[str]]:
    """Cell index of each value: its level (grids) or its quantile bin (samples)."""
    if values.nunique() <= bins:
        levels = np.sort(values.unique())
        return values.map({v: i for i, v in enumerate(levels)}).to_numpy(), [
            f"{v:g}" if isinstance(v, float | int | np.number) else str(v) for v in levels
        ]
    codes, edges = pd.qcut(values, bins, labels=False, retbins=True, duplicates="drop")
    return codes.to_numpy(), [f"{(a + b) / 2:.3g}" for a, b in itertools.pairwise(edges)]


def sweep_heatmap(
    table: pd.DataFrame,
    outcome: str,
    style: str | hs.Style = "talk",
    *,
    parameters: Sequence[str] | None = None,
    arms: Sequence[str] | None = None,
    bins: int = 8,
) -> Figure:
    """Figure 7a: mean of an outcome over two swept parameters (heatmap, one panel per arm).

    Parameters
    ----------
    table
        ``sweep.parquet``: one row per run and arm, swept settings and outcomes as columns,
        ``status`` (failed runs are left out).
    outcome
        Outcome column.
    parameters
        Swept settings in ``[sweep]`` order; the first two are the axes (default: dotted
        columns). With one setting, a line with every run instead.
    arms
        Arms to show (default: all, in table order).
    bins
        Settings sampled at more values than this (latin, sobol, morris) are shown in this
        many quantile bins, labelled by their centres.
    """
    s = _style_of(style)
    data = _ok_runs(table)
    params = list(parameters or sweep_parameters(table))
    arms = list(arms or dict.fromkeys(data["arm"])) if "arm" in data else ["all"]
    if "arm" not in data:
        data = data.assign(arm="all")
    if not params:
        raise FigureError("sweep.parquet: no swept settings found")
    if outcome not in data:
        raise FigureError(f"sweep.parquet: no outcome column '{outcome}'")
    label = OUTCOME_LABELS.get(outcome, outcome)
    with hs.use(s):
        fig = hs.new_figure(s, paper_height=2.8 * len(arms) if len(params) >= 2 else 2.8)
        axes = np.atleast_1d(
            fig.subplots(1, len(arms)) if s.talk else fig.subplots(len(arms), 1)
        ).ravel()
        if len(params) >= 2:
            x, y = params[0], params[1]
            xi, xlabels = _axis_codes(data[x], bins)
            yi, ylabels = _axis_codes(data[y], bins)
            cells = data.assign(_x=xi, _y=yi).groupby(["arm", "_y", "_x"])[outcome].mean()
            finite = cells.to_numpy(float)
            finite = finite[np.isfinite(finite)]
            norm = Normalize(*(finite.min(), finite.max()) if finite.size else (0, 1))
            for ax, arm in zip(axes, arms, strict=True):
                grid = (
                    cells.loc[arm].unstack("_x")
                    if arm in cells.index.get_level_values(0)
                    else pd.DataFrame()
                ).reindex(index=range(len(ylabels)), columns=range(len(xlabels)))
                values = grid.to_numpy(float)
                image = ax.imshow(
                    values, origin="lower", aspect="auto", cmap=hs.LEVEL_CMAP, norm=norm
                )
                if values.size <= 64 and s.talk:
                    for (r, c), v in np.ndenumerate(values):
                        if np.isfinite(v):
                            light = sum(image.cmap(norm(v))[:3]) / 3 > 0.5
                            ax.text(
                                c,
                                r,
                                f"{v:.2f}",
                                ha="center",
                                va="center",
                                fontsize=s.tiny,
                                color="black" if light else "white",
                            )
                ax.set_xticks(range(len(xlabels)), xlabels)
                ax.set_yticks(range(len(ylabels)), ylabels)
                ax.set_xlabel(_param_label(x))
                ax.set_ylabel(_param_label(y))
                ax.tick_params(length=0)
                for spine in ax.spines.values():
                    spine.set_visible(False)
                if len(arms) > 1:
                    ax.set_title(arm, color=hs.arm_colors(arms)[arm] if arm != arms[0] else "black")
            bar = fig.colorbar(image, ax=list(axes), shrink=0.8)
            bar.set_label(f"{label}, mean")
            others = params[2:]
            title = f"{label.split(' (')[0]} over {x} and {y}"
            fig.suptitle(
                title
                + (
                    f" (mean over {', '.join(others)} and replicates)"
                    if others
                    else " (mean over replicates)"
                )
                if s.talk
                else title
            )
        else:
            x = params[0]
            colors = hs.arm_colors(arms)
            for ax, arm in zip(axes, arms, strict=True):
                part = data[data["arm"] == arm]
                means = part.groupby(x)[outcome].mean()
                ax.plot(
                    part[x],
                    part[outcome],
                    "o",
                    color=colors[arm],
                    alpha=0.35,
                    markersize=s.marker * 0.6,
                    label="runs",
                )
                ax.plot(means.index, means.to_numpy(), "-", color=colors[arm], label="mean")
                ax.set_xlabel(_param_label(x))
                ax.set_ylabel(label)
                ax.legend(loc="best")
                if len(arms) > 1:
                    ax.set_title(arm)
    return fig


def _param_label(name: str) -> str:
    """Axis label of a swept setting with its unit from the parameter table, if any."""
    from sim.core.parameters import ModelParams, parameter_table

    units = {r["name"]: r["unit"] for r in parameter_table(ModelParams())}
    unit = units.get(name)
    return f"{name} ({unit})" if unit and unit not in ("-", "") else name


INDEX_LABELS = {
    "S1": "first order (S1)",
    "ST": "total (ST)",
    "mu_star": "Morris μ*",
    "sigma": "Morris σ",
    "S2": "second order (S2)",
}


def sensitivity_long(table: pd.DataFrame) -> pd.DataFrame:
    """``sensitivity.csv`` as ``arm, outcome, parameter, method, index, value, ci_low, ci_high``.

    ``sim.experiments.sweep`` writes this layout already (with ``conf``, the half-width of the 95 %
    interval); intervals missing from a table are taken as value ± ``conf``.
    """
    _require(table, ["parameter", "index", "value"], "sensitivity.csv")
    t = table.copy()
    for column, default in (("arm", "all"), ("outcome", "outcome"), ("method", "")):
        if column not in t:
            t[column] = default
    if "ci_low" not in t or "ci_high" not in t:
        conf = t.get("conf", np.nan)
        t["ci_low"], t["ci_high"] = t["value"] - conf, t["value"] + conf
    return t[["arm", "outcome", "parameter", "method", "index", "value", "ci_low", "ci_high"]]


def sensitivity_bars(
    table: pd.DataFrame,
    outcome: str,
    style: str | hs.Style = "talk",
    *,
    arms: Sequence[str] | None = None,
) -> Figure:
    """Figure 7b: sensitivity indices of one outcome per parameter, bars with 95 % intervals.

    One panel per arm; parameters sorted by the leading index (ST for Sobol, μ* for Morris,
    else the first), largest on top.
    """
    s = _style_of(style)
    t = sensitivity_long(table)
    t = t[t["outcome"] == outcome]
    if t.empty:
        raise FigureError(f"sensitivity.csv: no indices for '{outcome}'")
    arms = [a for a in (arms or dict.fromkeys(t["arm"])) if (t["arm"] == a).any()]
    kinds = list(dict.fromkeys(t["index"]))
    lead = "ST" if "ST" in kinds else ("mu_star" if "mu_star" in kinds else kinds[0])
    colors = [hs.OKABE_ITO[c] for c in ("blue", "orange", "bluish green", "reddish purple")]
    height = 0.8 / len(kinds)
    method = str(t["method"].iloc[0])
    n_params = t["parameter"].nunique()
    with hs.use(s):
        fig = hs.new_figure(s, paper_height=(1.2 + 0.3 * n_params) * len(arms))
        axes = np.atleast_1d(
            fig.subplots(1, len(arms), sharex=True)
            if s.talk
            else fig.subplots(len(arms), 1, sharex=True)
        ).ravel()
        for ax, arm in zip(axes, arms, strict=True):
            part = t[t["arm"] == arm]
            order = part[part["index"] == lead].sort_values("value")["parameter"].tolist()
            for k, kind in enumerate(kinds):
                rows = part[part["index"] == kind].set_index("parameter").reindex(order)
                ypos = np.arange(len(order)) + ((len(kinds) - 1) / 2 - k) * height
                values = rows["value"].to_numpy(float)
                ax.barh(
                    ypos,
                    values,
                    height=height * 0.9,
                    color=colors[k % len(colors)],
                    label=INDEX_LABELS.get(kind, kind),
                )
                low, high = rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float)
                ok = np.isfinite(low) & np.isfinite(high)
                ax.errorbar(
                    values[ok],
                    ypos[ok],
                    xerr=[values[ok] - low[ok], high[ok] - values[ok]],
                    fmt="none",
                    ecolor="#222222",
                    elinewidth=2 if s.talk else 0.6,
                    capsize=5 if s.talk else 1.5,
                )
            ax.set_yticks(range(len(order)), order)
            ax.axvline(0, color=hs.NEUTRAL, linewidth=1.2 if s.talk else 0.5)
            ax.spines["left"].set_visible(False)
            ax.tick_params(axis="y", length=0)
            if len(arms) > 1:
                ax.set_title(arm)
            ax.set_xlabel(
                f"Elementary effect on {outcome}"
                if method == "morris"
                else "Sensitivity index (share of variance)"
            )
        axes[0].legend(loc="lower right")
        name = {
            "sobol": "Sobol indices",
            "morris": "Morris screening",
            "latin": "RBD-FAST first-order indices",
        }.get(method, "Sensitivity indices")
        fig.suptitle(
            f"{name}: what drives {OUTCOME_LABELS.get(outcome, outcome).split(' (')[0]}? (95 % CI)"
            if s.talk
            else name
        )
    return fig


# ==============================================================================================
# the results folder
# ==============================================================================================
@dataclass
class Entry:
    """One figure on the contact sheet."""

    name: str
    title: str
    caption: str
    files: list[Path] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class FigureSet:
    """Everything :func:`make_figures` wrote."""

    folder: Path
    entries: list[Entry]
    skipped: list[tuple[str, str]]
    index: Path

    @property
    def files(self) -> list[Path]:
        return [f for e in self.entries for f in e.files]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def describe_folder(folder: Path) -> dict[str, bool]:
    """What a results folder holds: ``run``, ``study``, ``sweep``."""
    folder = Path(folder)
    return {
        "run": (folder / "manifest.json").is_file() and (folder / "patients.parquet").is_file(),
        "study": (folder / "study.csv").is_file(),
        "sweep": (folder / "sweep.parquet").is_file() or (folder / "sensitivity.csv").is_file(),
    }


RUN_COLUMNS = (
    "arm",
    "replicate",
    "patient_id",
    "year",
    "age",
    "stage",
    "years_with_pain",
    "dmn_perturbation",
    "coping",
    "pain",
    "enrolled_year",
    *METRIC_LABELS,
)


OWN_FILES = re.compile(r"^(\d\d[a-z]?_[\w.-]+\.(png|svg|pdf|gif|mp4)|index\.html)$")
"""Files :func:`make_figures` writes (and replaces on the next call) in ``figures/``."""


class _Writer:
    """Saves figures of one folder, times them and keeps the contact-sheet entries."""

    def __init__(
        self,
        out: Path,
        formats: Sequence[str],
        style: hs.Style,
        run_id: str,
        log: Callable[[str], None] | None,
    ):
        self.out, self.formats, self.style, self.run_id = out, formats, style, run_id
        self.entries: list[Entry] = []
        self.skipped: list[tuple[str, str]] = []
        self.log = log

    def add(
        self,
        name: str,
        title: str,
        make: Callable[[], Figure],
        caption: str | Callable[[Figure], str],
    ) -> Figure | None:
        clock = time.perf_counter()
        fig = make()
        text = caption(fig) if callable(caption) else caption
        meta = hs.provenance(self.run_id, title, text)
        files = hs.save(fig, self.out / name, self.formats, meta)
        hs.close(fig)
        entry = Entry(name, title, text, files, time.perf_counter() - clock)
        self.entries.append(entry)
        if self.log:
            self.log(f"{name}: {entry.seconds:.1f} s")
        return fig

    def skip(self, name: str, reason: str) -> None:
        self.skipped.append((name, reason))
        if self.log:
            self.log(f"{name}: skipped ({reason})")


def make_figures(
    results_dir: str | Path,
    formats: str | Iterable[str] = ("png",),
    style: str = "talk",
    *,
    animation: bool = True,
    log: Callable[[str], None] | None = None,
) -> FigureSet:
    """Draw every figure that fits a results folder into ``RESULTS_DIR/figures/``.

    Parameters
    ----------
    results_dir
        A run, study or sweep results folder.
    formats
        ``"png,svg,pdf"`` or a list; the animation is always GIF (+ MP4 with ffmpeg).
    style
        ``talk`` (1920 x 1080 px) or ``paper`` (single column, 300 dpi).
    animation
        Also make the animation of one patient (run folders).
    log
        Called with one line per figure (name and seconds), e.g. ``print``.

    Returns
    -------
    FigureSet

    Raises
    ------
    FigureError
        Not a folder, nothing to plot, or a bad format or style.
    """
    folder = Path(results_dir)
    formats = hs.parse_formats(formats)
    s = hs.get_style(style)
    if not folder.is_dir():
        raise FigureError(f"{folder}: no such results folder")
    kinds = describe_folder(folder)
    if not any(kinds.values()):
        raise FigureError(
            f"{folder}: nothing to plot (no patients.parquet + manifest.json, "
            "study.csv, sweep.parquet or sensitivity.csv)"
        )
    manifest = _read_json(folder / "manifest.json")
    run_id = str(manifest.get("run_id") or folder.name)
    final = folder / FIGURES_DIR
    staging = folder / f".{FIGURES_DIR}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    writer = _Writer(staging, formats, s, run_id, log)
    notes: list[str] = []
    try:
        if kinds["run"]:
            notes += _run_figures(folder, manifest, writer, animation)
        if kinds["study"]:
            _study_figures(folder, manifest, writer)
        if kinds["sweep"]:
            _sweep_figures(folder, manifest, writer)
        if not writer.entries:
            reasons = "; ".join(f"{n}: {r}" for n, r in writer.skipped) or "no data"
            raise FigureError(f"{folder}: nothing to plot ({reasons})")
        others = (
            sorted(p.name for p in final.iterdir() if p.is_file() and not OWN_FILES.match(p.name))
            if final.is_dir()
            else []
        )
        index = write_index(
            staging,
            writer.entries,
            writer.skipped,
            manifest=manifest,
            run_id=run_id,
            style=s,
            notes=notes,
            others=others,
        )
        # Replace what an earlier `painsim figures` wrote; keep other files (e.g. the working
        # plots `painsim sweep` writes into figures/).
        final.mkdir(exist_ok=True)
        for old in final.iterdir():
            if old.is_file() and OWN_FILES.match(old.name):
                old.unlink()
        for new in staging.iterdir():
            os.replace(new, final / new.name)
        staging.rmdir()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for entry in writer.entries:
        entry.files = [final / f.name for f in entry.files]
    return FigureSet(final, writer.entries, writer.skipped, final / index.name)


# -- run figures --------------------------------------------------------------------------------
def _pick_typical(candidates: pd.DataFrame, value: str = "dmn_perturbation") -> int:
    """Patient id whose ``value`` is closest to the candidates' median (ties: lowest id)."""
    median = candidates[value].median()
    ranked = candidates.assign(_d=(candidates[value] - median).abs()).sort_values(
        ["_d", "patient_id"]
    )
    return int(ranked["patient_id"].iloc[0])


def choose_patients(patients: pd.DataFrame, arms: Sequence[str]) -> dict[str, Any]:
    """Choose the patients of figures 3 and 8 from the recorded results (replicate 0).

    * Treatment arm: the arm (other than the reference) whose enrolled patients differ most
      from their reference twins in DMN perturbation at the horizon (most negative); none if
      no arm enrolled anybody.
    * Figure 3 patient: among the reference arm's people (enrolled in that treatment arm, if
      any) in the top quarter of years lived with pain at the horizon, the one with median
      perturbation: a typical patient after many years of pain.
    * Animation patient: among people who start with the fewest years of pain and gain the
      most during the run (top quarter of the gain), the one with median perturbation at the
      horizon, so the animation shows the change happen.
    """
    rep0 = patients[patients["replicate"] == patients["replicate"].min()]
    horizon = rep0[rep0["year"] == rep0["year"].max()]
    start = rep0[rep0["year"] == rep0["year"].min()].set_index("patient_id")
    ref = horizon[horizon["arm"] == arms[0]].set_index("patient_id")
    treatment, enrolled_ids = None, None
    best = 0.0
    for arm in arms[1:]:
        other = horizon[horizon["arm"] == arm].set_index("patient_id")
        if "enrolled_year" not in other or not other["enrolled_year"].notna().any():
            continue
        ids = other.index[other["enrolled_year"].notna()]
        effect = float(
            (other.loc[ids, "dmn_perturbation"] - ref.loc[ids, "dmn_perturbation"]).mean()
        )
        if treatment is None or effect < best:
            treatment, best, enrolled_ids = arm, effect, ids
    pool = ref if enrolled_ids is None else ref.loc[enrolled_ids]
    long_pain = pool[pool["years_with_pain"] >= pool["years_with_pain"].quantile(0.75)]
    patient = _pick_typical(long_pain.reset_index())
    first = start[start["arm"] == arms[0]]
    gain = ref["years_with_pain"] - first["years_with_pain"].reindex(ref.index)
    fresh = first["years_with_pain"] <= first["years_with_pain"].min() + 1e-9
    growers = ref.loc[fresh[fresh].index.intersection(ref.index)]
    growers = growers[gain.reindex(growers.index) >= gain.reindex(growers.index).quantile(0.75)]
    story = _pick_typical(growers.reset_index()) if len(growers) else patient
    return {
        "replicate": int(rep0["replicate"].iloc[0]),
        "patient": patient,
        "treatment": treatment,
        "story": story,
        "treatment_effect": best,
    }


def _run_figures(
    folder: Path, manifest: Mapping[str, Any], writer: _Writer, make_animation: bool
) -> list[str]:
    s = writer.style
    arms = list((manifest.get("run") or {}).get("arms") or manifest.get("arms") or [])
    patients = pd.read_parquet(folder / "patients.parquet", columns=list(RUN_COLUMNS))
    if not arms:
        arms = list(dict.fromkeys(patients["arm"]))
    seed = int(manifest.get("seed") or 0)
    notes: list[str] = []

    writer.add(
        "01_perturbation_by_years",
        "DMN perturbation vs years lived with pain",
        lambda: perturbation_by_years(patients, arms, s, seed=seed),
        lambda fig: (
            "DMN perturbation (healthy-SD units) by years lived with pain, all record "
            f"times; mean and 95 % band ({getattr(fig, '_painsim_note', '')}); A per "
            f"arm, B {arms[0]} split by thirds of catastrophizing at the start."
        ),
    )

    horizon_year = float(patients["year"].max())
    if len(arms) >= 2:
        comparison = None
        if (folder / "comparison.csv").is_file():
            comparison = pd.read_csv(folder / "comparison.csv")
        diffs = arm_differences(patients, arms, year=horizon_year, comparison=comparison, seed=seed)
        writer.add(
            "02_arm_comparison",
            "Arm comparison at the horizon",
            lambda: arm_comparison(diffs, arms, s),
            f"Difference of each arm from {arms[0]} at year {horizon_year:g} (per-patient twin "
            "difference, 95 % bootstrap CI over replicates and patients) in DMN perturbation, "
            "pain and catastrophizing; open diamonds: patients enrolled in the arm.",
        )
    else:
        writer.skip("02_arm_comparison", "one arm only; nothing to compare")

    # Figures 3, 4, 8: connectivity.
    scenario = scenario_from_manifest(manifest)
    layout = BrainLayout.from_scenario(scenario)
    chosen = choose_patients(patients, arms)
    rep = chosen["replicate"]
    npz_path = folder / "connectivity.npz"
    saved = None
    if npz_path.is_file():
        with np.load(npz_path, allow_pickle=False) as data:
            saved = {k: data[k] for k in ("arm", "replicate", "connectivity", "patient_id")}
    horizon = patients[patients["year"] == horizon_year]
    ref_h = horizon[(horizon["arm"] == arms[0])]
    track_ids = list(dict.fromkeys([chosen["patient"], chosen["story"]]))
    need_ref_rebuild = saved is None or make_animation
    frames = ()
    if make_animation:
        times = np.sort(patients["year"].unique())
        step = max(1, math.ceil(len(times) / ANIMATION_FRAMES_MAX))
        frames = tuple(times[::step])
    ref_track = (
        rebuild(scenario, rep, arms[0], track_ids, frames=frames, everyone=saved is None)
        if need_ref_rebuild
        else None
    )
    if ref_track is not None:
        recorded = (
            ref_h[ref_h["replicate"] == rep]
            .set_index("patient_id")
            .loc[track_ids, "dmn_perturbation"]
            .to_numpy(float)
        )
        if not np.allclose(ref_track.perturbation, recorded, atol=1e-6, equal_nan=True):
            version = manifest.get("painsim_version")
            raise FigureError(
                f"{folder}: rebuilding patients from manifest.json does not reproduce the "
                f"recorded results (run made with painsim {version}, this is painsim "
                f"{sim.__version__}); rerun with --save-connectivity"
            )
    source = (
        "connectivity.npz" if saved is not None else f"rebuilt from manifest.json (replicate {rep})"
    )
    notes.append(
        f"Connectivity for figures 3 and 4: {source}."
        + (" Animation: rebuilt from manifest.json." if make_animation else "")
    )

    def saved_matrix(arm: str, patient: int) -> np.ndarray:
        block = np.flatnonzero((saved["arm"] == arm) & (saved["replicate"] == rep))[0]
        column = int(np.flatnonzero(saved["patient_id"] == patient)[0])
        return saved["connectivity"][block, column].astype(float)

    patient = chosen["patient"]
    p_row = ref_h[(ref_h["replicate"] == rep) & (ref_h["patient_id"] == patient)].iloc[0]
    own = pain_free_pattern(scenario, rep, [patient], [p_row["age"]])[0]
    if saved is not None:
        patient_matrix = saved_matrix(arms[0], patient)
    else:
        patient_matrix = ref_track.connectivity[-1, track_ids.index(patient)]
    panels = [
        (
            f"Patient {patient}, {arms[0]}\n{p_row['years_with_pain']:.0f} years with pain\n"
            f"DMN perturbation {p_row['dmn_perturbation']:.2f} SD"
            if s.talk
            else f"Patient {patient} ({arms[0]}), {p_row['years_with_pain']:.0f} y "
            f"with pain, perturbation {p_row['dmn_perturbation']:.2f} SD",
            patient_matrix - own,
        )
    ]
    treatment = chosen["treatment"]
    if treatment is not None:
        if saved is not None:
            treated = saved_matrix(treatment, patient)
        else:
            treated = rebuild(scenario, rep, treatment, [patient]).connectivity[-1, 0]
        twin = horizon[
            (horizon["arm"] == treatment)
            & (horizon["replicate"] == rep)
            & (horizon["patient_id"] == patient)
        ].iloc[0]
        panels.append(
            (
                f"The same patient with {treatment}\n(virtual twin)\nDMN perturbation "
                f"{twin['dmn_perturbation']:.2f} SD"
                if s.talk
                else f"Same patient with {treatment}, perturbation "
                f"{twin['dmn_perturbation']:.2f} SD",
                treated - own,
            )
        )
    twin_note = (
        f"; right: their virtual twin in the {treatment} arm (the arm whose enrolled "
        "patients improved most)"
        if treatment
        else "; the run has no treatment arm"
    )
    writer.add(
        "03_connectomes",
        "Glass-brain connectomes",
        lambda: connectome_figure(layout, panels, s),
        lambda fig: (
            f"Year {horizon_year:g}. Left: healthy reference connectivity; middle: a "
            "typical patient in the top "
            f"quarter of years lived with pain ({arms[0]}), edges coloured by change "
            "from their own pain-free pattern (|Δr| ≥ "
            f"{getattr(fig, '_painsim_threshold', 0):.2f}){twin_note}. {source}."
        ),
    )

    # Figure 4: group means of healthy (never in pain) and chronic (in a chronic episode).
    if saved is not None:
        blocks = np.flatnonzero(saved["arm"] == arms[0])
        by_rep = {int(saved["replicate"][b]): b for b in blocks}
        groups: dict[str, list[np.ndarray]] = {"healthy": [], "chronic": []}
        for r, block in by_rep.items():
            rows = ref_h[ref_h["replicate"] == r].set_index("patient_id")
            ids = saved["patient_id"]
            mats = saved["connectivity"][block]
            for g, mask in (
                ("healthy", rows["years_with_pain"] == 0),
                ("chronic", rows["stage"] == "chronic"),
            ):
                keep = np.isin(ids, mask[mask].index.to_numpy())
                groups[g].append(mats[keep].astype(float))
        healthy_all = np.concatenate(groups["healthy"])
        chronic_all = np.concatenate(groups["chronic"])
    else:
        rows = ref_h[ref_h["replicate"] == rep].sort_values("patient_id")
        mats = ref_track.everyone
        healthy_all = mats[(rows["years_with_pain"] == 0).to_numpy()].astype(float)
        chronic_all = mats[(rows["stage"] == "chronic").to_numpy()].astype(float)
    if len(healthy_all) and len(chronic_all):
        n_h, n_c = len(healthy_all), len(chronic_all)
        mean_h, mean_c = healthy_all.mean(axis=0), chronic_all.mean(axis=0)
        writer.add(
            "04_connectivity_matrices",
            "Connectivity matrices by subsystem",
            lambda: matrices_figure(
                layout,
                mean_h,
                mean_c,
                s,
                titles=(f"Never in pain\nn = {n_h:,}", f"Chronic pain now\nn = {n_c:,}"),
            ),
            f"Mean connectivity (Pearson r) at year {horizon_year:g} in {arms[0]} of people "
            f"who never had pain (n = {n_h:,}) and people in a chronic episode (n = {n_c:,}), "
            f"and their difference; regions grouped by subsystem. {source}.",
        )
    else:
        writer.skip(
            "04_connectivity_matrices", "no never-in-pain or no chronic people at the horizon"
        )

    at_h = ref_h.dropna(subset=list(METRIC_LABELS))
    writer.add(
        "05_metrics_by_years",
        "Graph metrics vs years lived with pain",
        lambda: metrics_by_years(at_h, s, seed=seed),
        f"The four DMN graph metrics of every person in {arms[0]} at year {horizon_year:g} "
        f"(all replicates, n = {len(at_h):,}) vs years lived with pain, with least-squares "
        "line and 95 % CI of the fit; r: Pearson correlation.",
    )

    if make_animation and ref_track is not None:
        story_id = chosen["story"]
        k = track_ids.index(story_id)
        rec = patients[
            (patients["arm"] == arms[0])
            & (patients["replicate"] == rep)
            & (patients["patient_id"] == story_id)
        ].set_index("year")
        yrs = ref_track.years
        story = PatientStory(
            patient_id=story_id,
            arm=arms[0],
            years=yrs,
            years_with_pain=rec.loc[yrs, "years_with_pain"].to_numpy(float),
            stage=rec.loc[yrs, "stage"].to_numpy(str),
            perturbation=rec.loc[yrs, "dmn_perturbation"].to_numpy(float),
            change=ref_track.connectivity[:, k] - ref_track.pain_free[:, k],
            age0=float(rec.loc[yrs[0], "age"]),
        )
        clock = time.perf_counter()
        title = "Animation: one patient's DMN over the run"
        caption = (
            f"Patient {story_id} ({arms[0]}, replicate {rep}) over {yrs[-1]:g} years: "
            "edges coloured by change from their own pain-free pattern, with years "
            "lived with pain, stage and DMN perturbation (teaching; rebuilt from "
            "manifest.json)."
        )
        files = animate_patient(
            story,
            layout,
            writer.out / "08_patient_animation",
            metadata=hs.provenance(writer.run_id, title, caption),
        )
        entry = Entry("08_patient_animation", title, caption, files, time.perf_counter() - clock)
        writer.entries.append(entry)
        if writer.log:
            writer.log(f"08_patient_animation: {entry.seconds:.1f} s")
    return notes


# -- study and sweep figures --------------------------------------------------------------------
def _study_figures(folder: Path, manifest: Mapping[str, Any], writer: _Writer) -> None:
    s = writer.style
    study = pd.read_csv(folder / "study.csv")
    alpha = float(((manifest.get("scenario") or {}).get("study") or {}).get("alpha", 0.05))
    sample = None
    for name in ("sample.csv", "participants.csv"):
        if (folder / name).is_file():
            sample = pd.read_csv(folder / name)
            break
    power = None
    for name in ("power.csv", "power.parquet"):
        if (folder / name).is_file():
            power = (
                pd.read_csv(folder / name)
                if name.endswith(".csv")
                else pd.read_parquet(folder / name)
            )
            break
    plans: list[tuple[str, str, Callable[[], Figure], str]] = [
        (
            "06a_study_groups",
            "Study: the three groups",
            lambda: study_groups(study, s, sample=sample),
            "DMN perturbation in healthy controls, subacute and chronic back pain (one replication)"
            if sample is not None
            else f"Cohen's d of the three group contrasts in each of {len(study)} replicated "
            "studies (violin, points, median and quartiles).",
        ),
        (
            "06b_study_years",
            "Study: years lived with pain",
            lambda: study_years(study, s, sample=sample, alpha=alpha),
            "Patients' DMN perturbation vs years lived with pain (one replication)"
            if sample is not None
            else f"Correlation of DMN perturbation with years lived with pain in {len(study)} "
            f"replicated studies; blue: positive and p < {alpha:g}.",
        ),
        (
            "06c_study_mediation",
            "Study: mediation by coping",
            lambda: study_mediation(study, s, alpha=alpha),
            "Mediation years with pain → catastrophizing → DMN perturbation: paths a, b, c, c′ "
            "and the indirect effect a × b (medians over replications, with the bootstrap CI).",
        ),
    ]
    if power is not None:
        plans.append(
            (
                "06d_study_power",
                "Study: power curve",
                lambda: study_power(power, s, alpha=alpha),
                "Share of replications in which each published finding comes out, by "
                "sample size (Wilson 95 % CI).",
            )
        )
    else:
        writer.skip("06d_study_power", "no power.csv")
    for name, title, make, caption in plans:
        try:
            writer.add(name, title, make, caption)
        except (FigureError, KeyError) as exc:
            writer.skip(name, str(exc))


def _sweep_figures(folder: Path, manifest: Mapping[str, Any], writer: _Writer) -> None:
    s = writer.style
    plan = manifest.get("sweep") or {}
    outcomes = list(plan.get("outcomes") or [])
    if (folder / "sweep.parquet").is_file():
        table = pd.read_parquet(folder / "sweep.parquet")
        params = sweep_parameters(table, manifest)
        names = outcomes or [c for c in OUTCOME_LABELS if c in table.columns]
        for outcome in names:
            try:
                writer.add(
                    f"07a_sweep_{outcome}",
                    f"Sweep: {outcome}",
                    lambda o=outcome: sweep_heatmap(table, o, s, parameters=params),
                    f"Mean {OUTCOME_LABELS.get(outcome, outcome)} at the horizon over "
                    f"{' and '.join(params[:2])} (other settings and replicates "
                    "averaged; failed runs left out).",
                )
            except (FigureError, KeyError) as exc:
                writer.skip(f"07a_sweep_{outcome}", str(exc))
    if (folder / "sensitivity.csv").is_file():
        table = pd.read_csv(folder / "sensitivity.csv")
        names = outcomes or list(dict.fromkeys(table.get("outcome", pd.Series(["outcome"]))))
        for outcome in names:
            try:
                writer.add(
                    f"07b_sensitivity_{outcome}",
                    f"Sensitivity: {outcome}",
                    lambda o=outcome: sensitivity_bars(table, o, s),
                    f"Sensitivity indices of {OUTCOME_LABELS.get(outcome, outcome)} per "
                    "swept setting with 95 % intervals, sorted by size.",
                )
            except (FigureError, KeyError) as exc:
                writer.skip(f"07b_sensitivity_{outcome}", str(exc))


# -- contact sheet ------------------------------------------------------------------------------
def write_index(
    folder: Path,
    entries: Sequence[Entry],
    skipped: Sequence[tuple[str, str]],
    *,
    manifest: Mapping[str, Any],
    run_id: str,
    style: hs.Style,
    notes: Sequence[str] = (),
    others: Sequence[str] = (),
) -> Path:
    """Write ``index.html``: every figure with its one-line caption and its files."""
    scenario = ((manifest.get("scenario") or {}).get("scenario") or {}).get("name", "")
    cards = []
    for e in entries:
        preview = next((f for f in e.files if f.suffix in (".png", ".gif")), None)
        image = (
            f'<img src="{html.escape(preview.name)}" alt="{html.escape(e.title)}">'
            if preview
            else '<div class="noimg">(no PNG: open a file below)</div>'
        )
        links = " · ".join(
            f'<a href="{html.escape(f.name)}">{f.suffix[1:].upper()}</a>' for f in e.files
        )
        cards.append(
            f'<figure id="{html.escape(e.name)}"><a href="{html.escape(preview.name if preview else e.files[0].name)}">{image}</a>'  # noqa: E501
            f"<figcaption><b>{html.escape(e.title)}.</b> {html.escape(e.caption)} "
            f'<span class="files">{links}</span></figcaption></figure>'
        )
    skipped_html = "".join(
        f"<li><code>{html.escape(n)}</code>: {html.escape(r)}</li>" for n, r in skipped
    )
    notes_html = "".join(f"<p>{html.escape(n)}</p>" for n in notes)
    others_html = "".join(
        f'<li><a href="{html.escape(n)}">{html.escape(n)}</a></li>' for n in others
    )
    text = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>painsim figures: {html.escape(scenario or run_id)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #111; }}
main {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr));
        gap: 1.5em; }}
figure {{ margin: 0; border: 1px solid #ddd; padding: .6em; background: #fff; }}
img {{ width: 100%; height: auto; display: block; }}
figcaption {{ font-size: .9em; margin-top: .5em; line-height: 1.35; }}
.files {{ color: #555; white-space: nowrap; }}
header p {{ color: #444; margin: .2em 0; }}
</style></head>
<body><header><h1>painsim figures{": " + html.escape(scenario) if scenario else ""}</h1>
<p>run id <code>{html.escape(run_id)}</code> · painsim {html.escape(sim.__version__)} ·
style <code>{style.name}</code> · {len(entries)} figures</p>{notes_html}</header>
<main>
{chr(10).join(cards)}
</main>
{"<h2>Not drawn</h2><ul>" + skipped_html + "</ul>" if skipped else ""}
{"<h2>Other files in this folder</h2><ul>" + others_html + "</ul>" if others else ""}
</body></html>
"""
    path = Path(folder) / "index.html"
    path.write_text(text, encoding="utf-8")
    return path
