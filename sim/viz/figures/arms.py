"""Figures 2 and 2b of a run with arms: the forest plot at the horizon, and the effect over time.

Every arm simulates the same people with the same luck, so an arm's effect is measured per
person: the arm's record minus the same person's record in the reference arm (the virtual twin).
Among the patients an arm enrolled, that is the effect of treating them.

* :func:`arm_differences` and :func:`arm_comparison` (figure 2): a forest plot of each arm's twin
  difference at the horizon, with n, the estimate and its 95 % interval as text, Cohen's d, a
  "better" cue and, for pain, the smallest clinically important change.
* :func:`treatment_course` and :func:`treatment_over_time` (figure 2b): the twin difference
  against years since enrolment, with treatment start, course and boosters marked, so fading
  shows.

Intervals: normal 95 % intervals of the mean twin difference over all pairs
(:func:`sim.analysis.stats.normal_interval`; over bins of time, people kept together:
:func:`sim.analysis.stats.cluster_normal_interval`). Twin differences of different people are
independent in the model and there are hundreds of pairs or more, so the normal interval is as
exact as a bootstrap (``painsim compare`` reports a two-level bootstrap: the same centre, widths
equal within Monte Carlo error) and costs nothing; the figure used to spend minutes bootstrapping.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from sim.analysis.stats import cluster_normal_interval, cohens_d, normal_interval
from sim.core.outcomes import label
from sim.viz import style as hs
from sim.viz.figures.common import (
    FigureError,
    better_cue,
    chars_across,
    data_limits,
    despine_numbers,
    estimate_text,
    fit_suptitle,
    fit_title,
    fmt,
    name_of,
    nice,
    wrap,
)
from sim.viz.figures.run import MIN_BIN_PEOPLE, twin_rows

COMPARED_OUTCOMES: tuple[str, ...] = ("dmn_perturbation", "pain", "coping")
"""Outcomes of figures 2 and 2b (mechanism first, then what patients feel and think)."""
MEANINGFUL_CHANGE: dict[str, float] = {"pain": -1.0}
"""Smallest clinically important change per outcome, drawn as a dashed line: 1 point on the
0–10 scale for pain, about the 10–20 % reduction IMMPACT calls minimally important (Dworkin et
al., J Pain 2008;9:105–121)."""
INTERVAL = "normal 95 % CI over twin pairs"
"""The interval kind, as captions and titles name it."""
DIFFERENCE_COLUMNS = (
    "arm",
    "outcome",
    "who",
    "difference",
    "ci_low",
    "ci_high",
    "n_pairs",
    "effect_size",
    "reference_mean",
    "arm_mean",
)


# -- figure 2: forest plot at the horizon -------------------------------------------------------
def _values(rows: pd.DataFrame, outcome: str) -> np.ndarray:
    return rows[outcome].to_numpy(dtype=float)


def arm_differences(
    patients: pd.DataFrame, arms: Sequence[str], *, year: float | None = None
) -> pd.DataFrame:
    """Differences of every arm from the reference arm (the first) at one record year.

    Per person: the arm's value minus the same person's value in the reference arm (twin
    difference), for all patients and for the patients enrolled in the arm by then.

    Parameters
    ----------
    patients
        Patient rows of a run.
    arms
        Arm names in scenario order; the first is the reference.
    year
        Record year (default: the horizon).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`DIFFERENCE_COLUMNS` and ``year``: ``difference`` is the mean twin
        difference (what ``painsim compare`` reports as ``twin_difference``), ``ci_low`` and
        ``ci_high`` its normal 95 % interval over the ``n_pairs`` pairs, ``effect_size`` Cohen's
        d of the arm's values against the reference arm's (the pairs' values, pooled SD).
    """
    year = float(patients["year"].max()) if year is None else float(year)
    at = patients[np.isclose(patients["year"], year)]
    rows: list[dict[str, Any]] = []
    for arm in arms[1:]:
        ref, other = twin_rows(at, arms[0], arm)
        enrolled = other["enrolled_year"].to_numpy(float) <= year + 1e-9
        for outcome in COMPARED_OUTCOMES:
            mine, theirs = _values(other, outcome), _values(ref, outcome)
            for who, keep in (("all", np.ones_like(enrolled)), ("enrolled", enrolled)):
                if who == "enrolled" and keep.sum() < 2:
                    continue
                a, b = mine[keep], theirs[keep]
                twins = a - b
                mean, low, high = normal_interval(twins[:, None])
                rows.append(
                    {
                        "arm": arm,
                        "outcome": outcome,
                        "who": who,
                        "difference": float(mean[0]),
                        "ci_low": float(low[0]),
                        "ci_high": float(high[0]),
                        "n_pairs": int(np.isfinite(twins).sum()),
                        "effect_size": cohens_d(a, b),
                        "reference_mean": float(np.nanmean(b)),
                        "arm_mean": float(np.nanmean(a)),
                    }
                )
    return pd.DataFrame(rows, columns=list(DIFFERENCE_COLUMNS)).assign(year=year)


def forest_who(differences: pd.DataFrame) -> str:
    """Whom the forest plot shows: the enrolled when any arm enrolled anyone, else all."""
    return "enrolled" if (differences["who"] == "enrolled").any() else "all"


def forest_limits(values: np.ndarray, extra: Sequence[float] = ()) -> tuple[float, list[float]]:
    """Symmetric limit around 0 holding every value, and ticks out to the largest value.

    Three ticks: zero and a multiple of a nice step on each side, as close to the largest
    value as the step allows, well inside the limit, so the labels at both ends are drawn.

    Examples
    --------
    >>> forest_limits(np.array([-0.045, -0.01]))
    (0.05175, [-0.04, 0.0, 0.04])
    >>> forest_limits(np.array([0.3]), [-1.0])
    (1.25, [-1.0, 0.0, 1.0])
    """
    finite = np.abs(np.concatenate([np.ravel(values), np.asarray(extra, float)]))
    finite = finite[np.isfinite(finite)]
    peak = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    step = nice(peak)
    top = step * math.floor(peak / step)  # e.g. peak 0.045, step 0.02: ticks at ±0.04
    ticks = [-top, 0.0, top]
    lim = round(max(peak * 1.15, top * 1.25), 12)
    return lim, [round(t, 12) for t in ticks]


def arm_comparison(
    differences: pd.DataFrame,
    arms: Sequence[str],
    style: str | hs.Style = "talk",
    *,
    title: str | None = None,
    outcomes: Sequence[str] = COMPARED_OUTCOMES,
) -> Figure:
    """Figure 2: forest plot of each arm's twin difference from the reference arm.

    Parameters
    ----------
    differences
        Output of :func:`arm_differences`.
    arms
        Arm names in scenario order; the first is the reference.
    title
        Figure title (default: what is shown, at which year, with the interval kind).
    outcomes
        Outcomes, one block each.

    Returns
    -------
    matplotlib.figure.Figure
        One block per outcome: dot and 95 % interval per arm, zero line, the smallest
        clinically important change where known, and beside it the estimate [95 % CI] and
        Cohen's d as text. Rows name the arm and the number of pairs. Patients enrolled in the
        arm when any arm enrolled anybody (all patients otherwise: see :func:`forest_who`).
    """
    s = hs.get_style(style)
    colors = hs.arm_colors(arms)
    who = forest_who(differences)
    shown = differences[differences["who"] == who]
    others = [a for a in arms[1:] if (shown["arm"] == a).any()]
    if not others:
        raise FigureError("no arm to compare with the reference arm")
    position = {arm: len(others) - 1 - i for i, arm in enumerate(others)}
    year = float(differences["year"].iloc[0])
    k = len(outcomes)
    with hs.use(s):
        label_chars = 22 if s.talk else 24
        lines = max(wrap(arm, label_chars).count("\n") + 2 for arm in others)  # name and n
        row = max(0.3, 0.11 * lines)  # inches per arm in the paper style
        fig = hs.new_figure(s, paper_height=min(9.0, 1.0 + k * (0.8 + row * len(others))))
        if s.talk:
            grid = fig.add_gridspec(1, 2 * k, width_ratios=[4, 3] * k, wspace=0.02)
            plots = [fig.add_subplot(grid[0, 2 * j]) for j in range(k)]
            texts = [fig.add_subplot(grid[0, 2 * j + 1], sharey=plots[j]) for j in range(k)]
        else:
            grid = fig.add_gridspec(k, 2, width_ratios=[1.3, 1], wspace=0.02)
            plots = [fig.add_subplot(grid[j, 0]) for j in range(k)]
            texts = [fig.add_subplot(grid[j, 1], sharey=plots[j]) for j in range(k)]
        any_line = any(o in MEANINGFUL_CHANGE for o in outcomes)
        for j, outcome in enumerate(outcomes):
            ax, tx = plots[j], texts[j]
            part = shown[shown["outcome"] == outcome].set_index("arm")
            meaningful = MEANINGFUL_CHANGE.get(outcome)
            lim, ticks = forest_limits(
                part[["ci_low", "ci_high"]].to_numpy(float),
                [meaningful] if meaningful is not None else [],
            )
            ax.axvline(0, color=hs.NEUTRAL, linewidth=1.2 if s.talk else 0.5, zorder=0)
            if meaningful is not None:
                ax.axvline(
                    meaningful,
                    color=hs.NEUTRAL,
                    linestyle="--",
                    linewidth=1.2 if s.talk else 0.5,
                    zorder=0,
                )
                ax.text(
                    meaningful,
                    -0.62,
                    f" {fmt(meaningful, 'g')} point: smallest\n important change",
                    ha="left",
                    va="center",
                    fontsize=s.tiny if not s.talk else s.small * 0.9,
                    color=hs.NEUTRAL,
                )
            for arm in others:
                if arm not in part.index:
                    continue
                r = part.loc[arm]
                y = position[arm]
                ax.plot(
                    [r.ci_low, r.ci_high],
                    [y, y],
                    color=colors[arm],
                    linewidth=s.line * 1.2,
                    solid_capstyle="round",
                )
                ax.plot(
                    r.difference,
                    y,
                    marker="o" if who == "all" else "D",
                    color=colors[arm],
                    markersize=s.marker * 1.3,
                    markeredgecolor="white",
                    markeredgewidth=1.5 if s.talk else 0.4,
                    linestyle="none",
                )
                note = tx.text(
                    0.04,
                    y,
                    estimate_text(r.difference, r.ci_low, r.ci_high).replace(
                        " [", f"   d = {fmt(r.effect_size, '.2f')}\n[", 1
                    ),
                    ha="left",
                    va="center",
                    fontsize=s.tiny,
                    linespacing=1.1,
                )
                # The column is sized for these texts; the layout checks prove they fit.
                note.set_in_layout(False)
            ax.set_xlim(-lim, lim)
            ax.set_xticks(ticks)
            ax.xaxis.set_major_formatter(lambda v, _: fmt(v, "g"))
            cue = better_cue(outcome)
            xlabel = label(outcome, difference=True)
            ax.set_xlabel(f"{xlabel}\n{cue}" if cue else xlabel)
            fit_title(ax, name_of(outcome), fontsize=s.font if s.talk else s.small)
            ax.spines[["left"]].set_visible(False)
            ax.tick_params(axis="y", length=0)
            ax.set_ylim(-1.0 if any_line else -0.6, len(others) - 0.4)
            if j == 0 or not s.talk:
                n = part["n_pairs"]
                ax.set_yticks(
                    list(position.values()),
                    [f"{wrap(arm, label_chars)}\nn = {int(n.get(arm, 0)):,}" for arm in position],
                    fontsize=s.small if s.talk else s.tiny,
                )
            else:
                ax.set_yticks([])
            tx.axis("off")
            despine_numbers(ax)
            ax.spines["left"].set_visible(False)
        whom = f"patients enrolled in the arm by year {year:g}" if who == "enrolled" else "everyone"
        fit_suptitle(
            fig,
            title
            or (
                f"Difference from the same people in {arms[0]} at year {year:g}: {whom} "
                f"(mean, {INTERVAL}; Cohen's d)"
                if s.talk
                else f"Difference from {arms[0]}, year {year:g} ({whom}; {INTERVAL})"
            ),
            s.large if s.talk else s.font,
        )
    return fig


# -- figure 2b: the effect over time since enrolment ---------------------------------------------
def treatment_course(
    patients: pd.DataFrame,
    arms: Sequence[str],
    *,
    step_years: float | None = None,
    before_years: float = 1.0,
    min_people: int = MIN_BIN_PEOPLE,
) -> pd.DataFrame:
    """Mean twin difference against years since enrolment, per arm and outcome.

    Parameters
    ----------
    patients
        Patient rows of a run (every record time).
    arms
        Arm names in scenario order; the first is the reference.
    step_years
        Width of the bins of time since enrolment (default: the record interval).
    before_years
        Also show this long before enrolment (the difference there should be zero).
    min_people
        Bins with fewer people are left out.

    Returns
    -------
    pandas.DataFrame
        ``arm, outcome, x`` (mean years since enrolment in the bin), ``difference, ci_low,
        ci_high`` (normal 95 % interval, each person's records kept together) and ``people``.
    """
    years = np.unique(patients["year"].to_numpy(float))
    step = step_years or (float(np.median(np.diff(years))) if years.size > 1 else 1.0)
    tables = []
    for arm in arms[1:]:
        ref, other = twin_rows(patients, arms[0], arm)
        # A person's enrolment year in the arm: their record at the horizon holds it.
        rep = other["replicate"].to_numpy(np.int64)
        pid = other["patient_id"].to_numpy(np.int64)
        year = other["year"].to_numpy(float)
        last = year == year.max()
        enrolled_at = np.full((rep.max() + 1, pid.max() + 1), np.nan)
        enrolled_at[rep[last], pid[last]] = other["enrolled_year"].to_numpy(float)[last]
        since = year - enrolled_at[rep, pid]
        keep = np.isfinite(since) & (since >= -before_years - 1e-9)
        if not keep.any():
            continue
        t = since[keep]
        edges = np.arange(math.floor(t.min() / step) * step, t.max() + step * 1.001, step)
        bins = np.clip(np.digitize(t + 1e-9, edges) - 1, 0, len(edges) - 2)
        person = pd.factorize(rep[keep] * (pid.max() + 1) + pid[keep])[0]
        kbins = len(edges) - 1
        key = person * kbins + bins
        size = (person.max() + 1) * kbins
        counts = np.bincount(key, minlength=size).reshape(-1, kbins).astype(float)
        people = (counts > 0).sum(axis=0)
        x = np.bincount(bins, t, minlength=kbins) / np.maximum(counts.sum(axis=0), 1)
        for outcome in COMPARED_OUTCOMES:
            diff = (_values(other, outcome) - _values(ref, outcome))[keep]
            sums = np.bincount(key, np.nan_to_num(diff), minlength=size).reshape(-1, kbins)
            mean, low, high = cluster_normal_interval(sums, counts)
            ok = people >= min_people
            tables.append(
                pd.DataFrame(
                    {
                        "arm": arm,
                        "outcome": outcome,
                        "x": x[ok],
                        "difference": mean[ok],
                        "ci_low": low[ok],
                        "ci_high": high[ok],
                        "people": people[ok],
                    }
                )
            )
    if not tables:
        return pd.DataFrame(
            columns=["arm", "outcome", "x", "difference", "ci_low", "ci_high", "people"]
        )
    return pd.concat(tables, ignore_index=True)


def schedules(scenario: Any) -> dict[str, dict[str, Any]]:
    """Per arm: course length and booster times (years after enrolment) of its interventions."""
    out: dict[str, dict[str, Any]] = {}
    for arm in getattr(scenario, "arm_list", []):
        course, boosters, kinds = 0.0, [], []
        for item in arm.interventions:
            if item.kind == "usual_care":
                continue
            kinds.append(item.kind)
            course = max(course, float(item.course_years))
            every = float(item.booster_every_weeks) / 52.1775
            boosters += [item.course_years + every * (b + 1) for b in range(int(item.boosters))]
        out[arm.name] = {"course": course, "boosters": sorted(boosters), "kinds": kinds}
    return out


def treatment_over_time(
    course: pd.DataFrame,
    arms: Sequence[str],
    style: str | hs.Style = "talk",
    *,
    plans: dict[str, dict[str, Any]] | None = None,
) -> Figure:
    """Figure 2b: each arm's twin difference against years since enrolment (small multiples).

    Parameters
    ----------
    course
        Output of :func:`treatment_course`.
    arms
        Arm names in scenario order; the first is the reference.
    plans
        Output of :func:`schedules`: the course (shaded) and boosters (ticks) of each arm.

    Returns
    -------
    matplotlib.figure.Figure
        Rows: outcomes (talk) or arms (paper); columns the other way round. Each panel: mean
        difference from the reference twin with its 95 % band, zero line, enrolment at 0.
    """
    s = hs.get_style(style)
    colors = hs.arm_colors(arms)
    shown = [a for a in arms[1:] if (course["arm"] == a).any()]
    if not shown:
        raise FigureError("nobody was enrolled in any arm")
    plans = plans or {}
    outcomes = list(COMPARED_OUTCOMES)
    x_low = float(course["x"].min())
    x_high = float(course["x"].max())
    with hs.use(s):
        if s.talk:
            fig = hs.new_figure(s)
            axes = fig.subplots(len(outcomes), len(shown), sharex=True, sharey="row", squeeze=False)
            cell = {(o, a): axes[i, j] for i, o in enumerate(outcomes) for j, a in enumerate(shown)}
        else:
            fig = hs.new_figure(s, paper_height=1.0 + 1.25 * len(shown))
            axes = fig.subplots(len(shown), len(outcomes), sharex=True, sharey="col", squeeze=False)
            cell = {(o, a): axes[j, i] for i, o in enumerate(outcomes) for j, a in enumerate(shown)}
        for outcome in outcomes:
            rows = course[course["outcome"] == outcome]
            limits = data_limits(
                [rows["difference"].to_numpy(), np.zeros(1)],
                [rows["ci_low"].to_numpy(), rows["ci_high"].to_numpy()],
            )
            for arm in shown:
                ax = cell[(outcome, arm)]
                part = rows[rows["arm"] == arm].sort_values("x")
                plan = plans.get(arm, {})
                if plan.get("course", 0) > 0:
                    ax.axvspan(0, plan["course"], color="#E8E8E8", linewidth=0, zorder=0)
                ax.axvline(0, color=hs.NEUTRAL, linewidth=1.0 if s.talk else 0.4, zorder=0)
                ax.axhline(0, color=hs.NEUTRAL, linewidth=1.0 if s.talk else 0.4, zorder=0)
                for b in plan.get("boosters", []):
                    if b <= x_high:
                        ax.axvline(b, color="#999999", linestyle=":", linewidth=0.9, zorder=0)
                ax.fill_between(
                    part["x"],
                    part["ci_low"],
                    part["ci_high"],
                    color=colors[arm],
                    alpha=0.2,
                    linewidth=0,
                )
                ax.plot(part["x"], part["difference"], color=colors[arm], linewidth=s.line * 0.8)
                ax.set_ylim(*limits)
                ax.set_xlim(x_low, x_high)
                despine_numbers(ax)
        many = len(shown) > 3  # narrow columns: smaller titles, the x label on two lines
        for arm in shown:
            if s.talk:
                fit_title(
                    cell[(outcomes[0], arm)],
                    arm,
                    fontsize=s.small if many else s.font,
                    color=colors[arm],
                )
            else:
                cell[(outcomes[0], arm)].set_ylabel(
                    wrap(arm, 14), fontsize=s.tiny, color=colors[arm]
                )
        ylabel_chars = chars_across(1.4, s.small)
        for outcome in outcomes:
            text = label(outcome, difference=True)
            if s.talk:
                cell[(outcome, shown[0])].set_ylabel(wrap(text, ylabel_chars), fontsize=s.small)
            else:
                last = outcome == outcomes[-1]  # right-aligned: it stays on the canvas
                cell[(outcome, shown[0])].set_title(
                    text.replace(" (", "\n("), loc="right" if last else "center", fontsize=s.tiny
                )
            for arm in shown:
                cell[(outcome, arm)].yaxis.set_major_locator(MaxNLocator(4))
        if s.talk:
            for ax in axes[-1, :]:
                ax.set_xlabel(
                    "Years since\nenrolment" if many else "Years since enrolment", fontsize=s.small
                )
        else:  # under the middle column: clear of the legend and of the canvas edge
            axes[-1, len(outcomes) // 2].set_xlabel("Years since enrolment", fontsize=s.tiny)
        handles = [
            Patch(color="#E8E8E8", label="treatment course"),
            Line2D([], [], color=hs.NEUTRAL, linewidth=1.0, label="enrolment; no difference"),
        ]
        if any(p.get("boosters") for p in plans.values()):
            handles.append(Line2D([], [], color="#999999", linestyle=":", label="booster"))
        handles.append(Patch(color="#BBBBBB", alpha=0.5, label="95 % CI (normal)"))
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncols=len(handles) if s.talk else 2,
            fontsize=s.small if s.talk else s.tiny,
        )
        fit_suptitle(
            fig,
            f"Effect over time among the enrolled: each arm minus the same patients in {arms[0]}"
            if s.talk
            else f"Effect over time (minus {arms[0]} twins)",
            s.large if s.talk else s.font,
        )
    return fig


# -- from a run ---------------------------------------------------------------------------------
def add_comparison(result: Any, writer: Any) -> pd.DataFrame | None:
    """Figure 2 of a run (two or more arms); returns the differences (for the headline)."""
    arms, patients = result.arms, result.patients
    if len(arms) < 2:
        writer.skip("02_arm_comparison", "one arm only; nothing to compare")
        return None
    year = float(patients["year"].max())
    differences = arm_differences(patients, arms, year=year)
    who = forest_who(differences)
    whom = (
        "patients enrolled in each arm by then and the same patients in " + arms[0]
        if who == "enrolled"
        else "everyone (no arm enrolled anybody)"
    )
    writer.add(
        "02_arm_comparison",
        "Arm comparison at the horizon (forest plot)",
        f"Difference of each arm from {arms[0]} at year {year:g} among {whom}, for DMN "
        "perturbation, pain and catastrophizing. Dot (diamond: enrolled patients): mean "
        "per-person difference from the same person in the reference arm (virtual twin; the "
        "twin_difference of painsim compare); line: its normal 95 % confidence interval over "
        "the n twin pairs named under each arm. Text: estimate [95 % CI] and Cohen's d (the "
        "arm's values against the reference arm's, pooled SD). Solid line: no difference; "
        "arrows under each axis: which side is better. Dashed line (pain): a 1-point "
        "reduction on the 0–10 scale, about the smallest change patients call important "
        "(10–20 %; IMMPACT, Dworkin et al., J Pain 2008;9:105–121).",
        lambda: arm_comparison(differences, arms, writer.style),
    )
    return differences


def add_treatment_over_time(result: Any, writer: Any) -> None:
    """Figure 2b: twin differences against years since enrolment (runs with enrolment)."""
    arms, patients = result.arms, result.patients
    name = "02b_treatment_over_time"
    if len(arms) < 2:
        writer.skip(name, "one arm only; nothing to compare")
        return
    course = treatment_course(patients, arms)
    if course.empty:
        writer.skip(name, f"no arm enrolled {MIN_BIN_PEOPLE} or more patients at any time")
        return
    plans = schedules(result.scenario)
    writer.add(
        name,
        "Treatment effect over time since enrolment",
        f"Each arm minus the same patients in {arms[0]} (virtual twins), against years since "
        "the patient's enrolment in the arm, for DMN perturbation, pain and catastrophizing. "
        "Line: mean twin difference in bins of one record interval; band: normal 95 % CI "
        "with each patient's records kept together; bins with fewer than "
        f"{MIN_BIN_PEOPLE} patients left out. Vertical line at 0: enrolment (treatment "
        "start); grey: the treatment course; dotted: booster sessions. A line that returns "
        "to zero is an effect that fades.",
        lambda: treatment_over_time(course, arms, writer.style, plans=plans),
    )
