"""Figure 9 of a timing experiment ("how late is too late") and its headline.

``painsim timing`` offers each treatment at several starts (years lived with pain, or a pain
stage) and compares every treated patient with their own usual-care twin some years later
(``timing.csv``). :func:`timing_figure` draws the benefit, treated minus twin with its 95 %
interval, against the years lived with pain at the start: one line per treatment, one panel per
outcome, a zero line, which way is better, and the number of pairs per start.

Examples
--------
>>> table = pd.DataFrame({"treatment": ["CBT"] * 2, "start": ["0 y", "5 y"],
...     "start_years_with_pain": [0.0, 5.0], "start_stage": "", "follow_up_years": 2.0,
...     "outcome": "pain", "n_pairs": [900, 400], "difference": [-0.6, -0.3],
...     "ci_low": [-0.7, -0.45], "ci_high": [-0.5, -0.15],
...     "method": "normal over pairs", "years_with_pain_at_start": [0.1, 5.1]})
>>> fig = timing_figure(table, "paper")
>>> [ax.get_xlabel() for ax in fig.axes]
['Years with pain at start']
>>> print(timing_message(table))  # doctest: +NORMALIZE_WHITESPACE
CBT lowers pain by 0.60 [0.50, 0.70] NRS points 2 years later when started in the first year
of pain; by 0.30 [0.15, 0.45] when started after 5 years with pain
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from sim.core.outcomes import VARIABLES, label
from sim.viz import style as hs
from sim.viz.figures.common import (
    FigureError,
    FigureWriter,
    chars_across,
    data_limits,
    despine_numbers,
    estimate_text,
    fit_suptitle,
    fit_title,
    in_sentence,
    name_of,
    require,
    wrap,
)

NAME = "09_timing"
COLUMNS: tuple[str, ...] = (
    "treatment",
    "start",
    "follow_up_years",
    "outcome",
    "n_pairs",
    "difference",
    "ci_low",
    "ci_high",
    "years_with_pain_at_start",
)
"""Columns of ``timing.csv`` the figure reads."""
MIN_PAIRS = 30
"""Starts with fewer treated–twin pairs are drawn hollow, without an interval."""
MARKERS = "osD^vP*X"


def start_years(table: pd.DataFrame) -> pd.Series:
    """Years lived with pain at the start of each row: the patients' mean at enrolment, or the
    planned start when nobody was enrolled."""
    x = pd.to_numeric(table["years_with_pain_at_start"], errors="coerce")
    if "start_years_with_pain" in table:
        x = x.fillna(pd.to_numeric(table["start_years_with_pain"], errors="coerce"))
    return x


def _shown(table: pd.DataFrame, follow_up: float | None) -> tuple[pd.DataFrame, float]:
    require(table, COLUMNS, "timing.csv")
    if table.empty:
        raise FigureError("timing.csv: no rows")
    years = float(table["follow_up_years"].iloc[0]) if follow_up is None else float(follow_up)
    part = table[np.isclose(table["follow_up_years"].astype(float), years)].copy()
    if part.empty:
        raise FigureError(f"timing.csv: no rows {years:g} years after enrolment")
    part["x"] = start_years(part)
    return part, years


def _pairs_note(part: pd.DataFrame) -> str:
    """Treated–twin pairs per start (one number, or the range over treatments and outcomes)."""
    cells = []
    for start, rows in part.groupby("start", sort=False):
        low, high = int(rows["n_pairs"].min()), int(rows["n_pairs"].max())
        n = f"{low:,}" if low == high else f"{low:,}–{high:,}"
        cells.append(f"{start}: {n}")
    return "Treated–twin pairs per start: " + "; ".join(cells)


def better_word(outcome: str) -> str:
    """``"↓ better"`` or ``"↑ better"`` for a difference axis (``""`` when neither is).

    Examples
    --------
    >>> better_word("pain"), better_word("healthy_range"), better_word("age")
    ('↓ better', '↑ better', '')
    """
    v = VARIABLES.get(outcome)
    if v is None or v.better is None:
        return ""
    return "↓ better" if v.better == "lower" else "↑ better"


def timing_figure(
    table: pd.DataFrame,
    style: str | hs.Style = "talk",
    *,
    outcomes: Sequence[str] | None = None,
    follow_up: float | None = None,
    title: str | None = None,
) -> Figure:
    """Figure 9: the benefit of each treatment against the years with pain at its start.

    Parameters
    ----------
    table
        ``timing.csv`` (:data:`COLUMNS` at least).
    outcomes
        Panels, in order (default: every outcome of the table).
    follow_up
        Years after enrolment to show (default: the table's first follow-up).
    title
        Figure title (default: says what is drawn).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per outcome: treated minus usual-care twin (marker: mean over pairs, bar:
        its 95 % interval) against the patients' mean years lived with pain at enrolment, one
        line per treatment; zero line; the better direction in each y label; pairs per start
        under the panels.
    """
    s = hs.get_style(style)
    part, years = _shown(table, follow_up)
    outcomes = [o for o in (outcomes or dict.fromkeys(part["outcome"])) if o in set(part.outcome)]
    if not outcomes:
        raise FigureError("timing.csv: none of the outcomes asked for")
    treatments = list(dict.fromkeys(part["treatment"]))
    colors = hs.arm_colors(["usual care", *treatments])
    n = len(outcomes)
    columns = (2 if n == 4 else min(n, 3)) if s.talk else min(n, 2)
    rows = math.ceil(n / columns)
    span = float(np.nanmax(part["x"]) - np.nanmin(part["x"])) if part["x"].notna().any() else 1.0
    dodge = 0.012 * max(span, 1.0) * (1.0 if s.talk else 1.6)
    with hs.use(s):
        fig = hs.new_figure(s, paper_height=1.1 + 1.55 * rows)
        axes = np.atleast_1d(fig.subplots(rows, columns, sharex=True, squeeze=False)).ravel()
        for ax in axes[n:]:
            ax.set_visible(False)
        for i, (ax, outcome) in enumerate(zip(axes, outcomes, strict=False)):
            rows_o = part[part["outcome"] == outcome]
            ax.axhline(0, color=hs.NEUTRAL, linewidth=1.2 if s.talk else 0.5, zorder=0)
            for k, treatment in enumerate(treatments):
                t = rows_o[rows_o["treatment"] == treatment].sort_values("x")
                if t.empty:
                    continue
                x = t["x"].to_numpy(float) + (k - (len(treatments) - 1) / 2) * dodge
                y = t["difference"].to_numpy(float)
                low, high = t["ci_low"].to_numpy(float), t["ci_high"].to_numpy(float)
                enough = (t["n_pairs"].to_numpy() >= MIN_PAIRS) & np.isfinite(low + high)
                color, marker = colors[treatment], MARKERS[k % len(MARKERS)]
                ax.plot(x, y, color=color, linewidth=s.line * 0.7, zorder=2)
                ax.errorbar(
                    x[enough],
                    y[enough],
                    yerr=[y[enough] - low[enough], high[enough] - y[enough]],
                    fmt=marker,
                    color=color,
                    markersize=s.marker * (0.8 if s.talk else 0.9),
                    markeredgecolor="white",
                    markeredgewidth=0.8 if s.talk else 0.3,
                    elinewidth=s.line * 0.6,
                    capsize=4 if s.talk else 1.2,
                    zorder=3,
                )
                if (~enough).any():
                    ax.plot(
                        x[~enough],
                        y[~enough],
                        linestyle="none",
                        marker=marker,
                        markerfacecolor="white",
                        color=color,
                        markersize=s.marker * 0.8,
                        zorder=3,
                    )
            shown = rows_o[rows_o["n_pairs"] >= MIN_PAIRS]
            ax.set_ylim(
                *data_limits(
                    [shown["difference"].to_numpy(float), np.zeros(1)],
                    [shown["ci_low"].to_numpy(float), shown["ci_high"].to_numpy(float)],
                )
            )
            ax.yaxis.set_major_locator(MaxNLocator(5))
            ax.xaxis.set_major_locator(MaxNLocator(6, integer=True, steps=[1, 2, 5, 10]))
            despine_numbers(ax)
            cue = better_word(outcome)
            text = label(outcome, difference=True)
            size = s.small if s.talk else s.tiny
            if s.talk:
                fit_title(ax, name_of(outcome), fontsize=s.font)
            else:  # bold capitals are wider than the wrapping rule assumes
                title_chars = chars_across(0.8 * ax.get_position().width * s.width, s.small * 1.2)
                right = columns > 1 and i % columns == columns - 1  # ends at the canvas edge
                ax.set_title(
                    wrap(name_of(outcome), title_chars),
                    loc="right" if right else "left",
                    fontsize=s.small,
                )
            ax.set_ylabel(
                wrap(text, chars_across(3.2 if s.talk else 1.2, size))
                + (f"\n{cue}" if cue else ""),
                fontsize=size,
            )
        for ax in axes[:n]:
            ax.set_xlim(left=min(0.0, float(np.nanmin(part["x"]))) - 3 * dodge)
        for ax in axes[:n]:
            ax.tick_params(labelbottom=True)  # a panel over an empty cell needs its numbers
        # The bottom panel of each column; the paper's narrow columns take a shorter label.
        xlabel = "Years lived with pain at the start" if s.talk else "Years with pain at start"
        for column in range(min(columns, n)):
            last = max(i for i in range(column, n, columns))
            right = not s.talk and column == columns - 1 and columns > 1  # stays on the canvas
            axes[last].set_xlabel(
                xlabel, fontsize=s.small if s.talk else s.tiny, loc="right" if right else "center"
            )
        handles = [
            Line2D(
                [],
                [],
                color=colors[t],
                marker=MARKERS[k % len(MARKERS)],
                markeredgecolor="white",
                linewidth=s.line * 0.7,
                label=t if s.talk else wrap(t, 24),
            )
            for k, t in enumerate(treatments)
        ]
        if (part["n_pairs"] < MIN_PAIRS).any():
            handles.append(
                Line2D(
                    [],
                    [],
                    color=hs.NEUTRAL,
                    marker="o",
                    markerfacecolor="white",
                    linestyle="none",
                    label=f"fewer than {MIN_PAIRS} pairs",
                )
            )
        method = str(part["method"].iloc[0]) if "method" in part else "normal over pairs"
        note = f"{_pairs_note(part)}. Bars: 95 % CI ({method})."
        legend = fig.legend(
            handles=handles,
            loc="outside lower center",
            ncols=min(len(handles), 5 if s.talk else 2),
            fontsize=s.small if s.talk else s.tiny,
            title=wrap(note, chars_across(s.width * 0.9, s.small if s.talk else s.tiny)),
            title_fontsize=s.small if s.talk else s.tiny,
        )
        legend.get_title().set_multialignment("center")
        fit_suptitle(
            fig,
            title
            or (
                f"How late is too late? Treated minus the same patients without treatment, "
                f"{years:g} years after the start"
                if s.talk
                else f"Treatment benefit {years:g} years after the start, by years with pain"
            ),
            s.large if s.talk else s.font,
        )
    return fig


def timing_message(table: pd.DataFrame, outcome: str | None = None) -> str:
    """One sentence: the treatment that helps most at the earliest start, and at the latest."""
    part, years = _shown(table, None)
    outcomes = list(dict.fromkeys(part["outcome"]))
    outcome = outcome or ("pain" if "pain" in outcomes else outcomes[0])
    rows = part[(part["outcome"] == outcome) & (part["n_pairs"] >= 2)]
    rows = rows[np.isfinite(rows["difference"])]
    if rows.empty:
        return f"{name_of(outcome)}: treated minus usual care by years with pain at the start"
    v = VARIABLES.get(outcome)
    sign = -1.0 if v is None or v.better != "higher" else 1.0
    first = rows[rows["x"] == rows["x"].min()]
    best = first.loc[(sign * first["difference"]).idxmax()]
    own = rows[rows["treatment"] == best.treatment].sort_values("x")
    last = own.iloc[-1]
    unit = v.difference_unit if v is not None else ""
    good = sign * best.difference > 0
    verb = ("lowers" if sign < 0 else "raises") if good else "changes"

    def amount(r: Any) -> str:
        if not good:
            return estimate_text(r.difference, r.ci_low, r.ci_high)
        return estimate_text(sign * r.difference, *sorted((sign * r.ci_low, sign * r.ci_high)))

    def when(x: float) -> str:
        return "in the first year of pain" if x < 1 else f"after {x:.0f} years with pain"

    text = (
        f"{best.treatment} {verb} {in_sentence(name_of(outcome))} by {amount(best)} {unit} "
        f"{years:g} years later when started {when(best.x)}"
    ).replace("  ", " ")
    if last.x > best.x:
        text += f"; by {amount(last)} when started {when(last.x)}"
    return text


def timing_headline(table: pd.DataFrame) -> tuple[Callable[[], Figure], str]:
    """The headline of a timing experiment: figure 9's first outcome as a slide."""
    part, _ = _shown(table, None)
    outcomes = list(dict.fromkeys(part["outcome"]))
    outcome = "pain" if "pain" in outcomes else outcomes[0]
    message = timing_message(table, outcome)
    caption = (
        f"{message}. Figure 9 as a slide for {in_sentence(name_of(outcome))}: each treatment "
        "minus the same patients without it (usual-care twins), by the years they had lived "
        "with pain when it started; bars: 95 % CI."
    )
    slide = hs.get_style("talk")
    return (lambda: timing_figure(table, slide, outcomes=[outcome], title=message)), caption


def add_timing(result: Any, writer: FigureWriter) -> None:
    """Figures 00 and 9 (one per follow-up) of a timing experiment."""
    from sim.viz.figures.headline import add_headline

    table = result.table
    try:
        add_headline(writer, timing_headline(table))
    except (FigureError, KeyError, ValueError) as exc:
        writer.skip("00_headline", str(exc).strip("'\""))
    s = writer.style
    follow_ups = list(dict.fromkeys(table["follow_up_years"])) if len(table) else [None]
    for years in follow_ups:
        name = NAME if len(follow_ups) == 1 else f"{NAME}_{years:g}y"
        writer.try_add(
            name,
            "How late is too late",
            "Each treatment minus the same patients in usual care (virtual twins, the same "
            f"person with the same luck, never treated) {years:g} years after enrolment, "
            "against the years they had lived with pain when it started (their mean at "
            "enrolment); one line per treatment, one panel per outcome. Marker: mean "
            "difference over the pairs; bar: its 95 % interval; solid line at 0: no "
            f"difference; arrow in each axis label: the better direction. Starts with fewer "
            f"than {MIN_PAIRS} pairs are hollow, without an interval; the number of pairs "
            "per start is under the panels.",
            lambda y=years: timing_figure(table, s, follow_up=y),
        )
