"""Figure 00: one headline figure per kind of result, for the first slide.

A headline is always a 16:9 slide (talk style, whatever style the other figures are drawn in)
whose title states the message in one sentence, with the numbers from the result:

* a run with treatment arms: the forest plot among the enrolled (:func:`run_headline`);
* a run without: DMN perturbation by catastrophizing group against years lived with pain;
* a study: published vs simulated findings (:mod:`sim.viz.figures.findings`);
* a sweep: the first outcome over the swept settings, or its sensitivity indices.

Each ``*_headline`` function returns ``(make, caption)``: a function that draws the figure, and
its caption.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.core.outcomes import label
from sim.viz import style as hs
from sim.viz.figures.arms import MEANINGFUL_CHANGE, arm_comparison, forest_who
from sim.viz.figures.common import (
    FigureWriter,
    band,
    data_limits,
    despine_numbers,
    estimate_text,
    fit_suptitle,
    name_of,
)
from sim.viz.figures.layout import best_legend, settle_legends
from sim.viz.figures.run import (
    MIN_BIN_PEOPLE,
    Curve,
    arm_rows,
    band_method,
    coping_curves,
    healthy_level,
)

NAME = "00_headline"
TITLE = "Headline"
SLIDE = hs.get_style("talk")
"""Headlines are slides: 1920 x 1080 px in every style."""
Make = Callable[[], Figure]


def treatment_message(differences: pd.DataFrame, arms: Sequence[str]) -> str:
    """One sentence: which arm changes pain most, by how much, against the smallest important
    change.

    Examples
    --------
    >>> d = pd.DataFrame({"arm": ["CBT", "TMS"], "outcome": "pain", "who": "enrolled",
    ...                   "difference": [-0.4, -0.1], "ci_low": [-0.5, -0.2],
    ...                   "ci_high": [-0.3, 0.0], "n_pairs": [900, 900], "year": 15.0})
    >>> print(treatment_message(d, ["usual care", "CBT", "TMS"]))  # doctest: +NORMALIZE_WHITESPACE
    At year 15, CBT lowers pain most: −0.40 [−0.50, −0.30] points vs usual care among 900
    enrolled patients; below the 1-point change patients notice
    """
    who = forest_who(differences)
    pain = differences[(differences["outcome"] == "pain") & (differences["who"] == who)]
    year = float(differences["year"].iloc[0])
    if pain.empty:
        return f"Differences from {arms[0]} at year {year:g}"
    best = pain.sort_values("difference").iloc[0]
    whom = f"among {int(best.n_pairs):,} enrolled patients" if who == "enrolled" else "in everyone"
    verb = "lowers" if best.difference < 0 else "changes"
    line = MEANINGFUL_CHANGE.get("pain")
    reach = ""
    if line is not None:
        reach = (
            "; below the 1-point change patients notice"
            if best.difference > line
            else "; beyond the 1-point change patients notice"
        )
    return (
        f"At year {year:g}, {best.arm} {verb} pain most: "
        f"{estimate_text(best.difference, best.ci_low, best.ci_high)} points vs {arms[0]} "
        f"{whom}{reach}"
    )


def coping_message(curves: Sequence[Any], labels: Sequence[str], healthy: float) -> str:
    """One sentence from the curves by catastrophizing group (lowest and highest third)."""
    low, high = curves[0], curves[-1]
    if not (low.x.size and high.x.size):
        return "DMN perturbation by years lived with pain and catastrophizing"
    x = min(float(low.x.max()), float(high.x.max()))
    at_low = float(np.interp(x, low.x, low.mean))
    at_high = float(np.interp(x, high.x, high.mean))
    never = f"; never in pain {healthy:.2f} SD" if np.isfinite(healthy) else ""
    return (
        f"The longer the pain, the further the DMN drifts, faster with catastrophizing: "
        f"after {x:.0f} years, {at_high:.2f} SD in the highest third vs {at_low:.2f} SD in the "
        f"lowest{never}"
    )


def coping_headline_figure(
    rows: pd.DataFrame,
    message: str,
    *,
    min_people: int = MIN_BIN_PEOPLE,
    coping: tuple[list[Curve], list[str]] | None = None,
) -> Figure:
    """DMN perturbation by thirds of catastrophizing at the start, one big panel.

    ``coping``: :func:`~sim.viz.figures.run.coping_curves` of ``rows`` with ``min_people``,
    if already made.
    """
    s = SLIDE
    curves, labels = coping or coping_curves(rows, min_people=min_people)
    healthy = healthy_level(rows)
    with hs.use(s):
        fig = hs.new_figure(s)
        ax = fig.subplots()
        for curve, name, color, marker in zip(curves, labels, hs.COPING_COLORS, "os^", strict=True):
            if curve.x.size:
                band(ax, curve.x, curve.mean, curve.low, curve.high, color, name, s, marker)
        if np.isfinite(healthy):
            ax.axhline(
                healthy,
                color=hs.NEUTRAL,
                linestyle=":",
                linewidth=2,
                label="never in pain (median)",
            )
        ax.set_xlabel(name_of("years_with_pain"))
        ax.set_ylabel(label("dmn_perturbation"))
        ax.set_xlim(left=0)
        ax.set_ylim(
            *data_limits(
                [c.mean for c in curves] + [np.array([healthy])],
                [b for c in curves for b in (c.low, c.high)],
            )
        )
        despine_numbers(ax)
        fit_suptitle(fig, message, s.large, x=0.01, ha="left")
        best_legend(ax, title="Catastrophizing (PCS) at the start")
        settle_legends(fig)
    return fig


def run_headline(
    result: Any,
    differences: pd.DataFrame | None,
    coping: tuple[list[Curve], list[str]] | None = None,
) -> tuple[Make, str]:
    """The headline of a run: the treatment forest plot, or the drift by coping group.

    ``coping``: :func:`~sim.viz.figures.run.reference_coping`, if already made.
    """
    arms = result.arms
    if differences is not None and (differences["who"] == "enrolled").any():
        message = treatment_message(differences, arms)
        caption = (
            f"{message}. The forest plot of figure 2 as a slide: each arm minus the same "
            f"patients in {arms[0]} (virtual twins) at the horizon; dot: mean twin difference, "
            "line: normal 95 % CI over the pairs; text: estimate [95 % CI] and Cohen's d; "
            "dashed line (pain): the 1-point change (IMMPACT, Dworkin et al. 2008)."
        )
        return (lambda: arm_comparison(differences, arms, SLIDE, title=message)), caption
    rows = arm_rows(result.patients, arms[0])
    coping = coping or coping_curves(rows)
    curves, labels = coping
    message = coping_message(curves, labels, healthy_level(rows))
    method = band_method(int(rows["replicate"].nunique()))
    caption = (
        f"{message}. DMN perturbation of {arms[0]} by years lived with pain, every record "
        "time, split into thirds of catastrophizing (PCS) at the start; line: mean per bin, "
        f"band: 95 % {method}; bins with fewer than {MIN_BIN_PEOPLE} people left out; dotted: "
        "median of people never in pain."
    )
    return (lambda: coping_headline_figure(rows, message, coping=coping)), caption


def add_headline(writer: FigureWriter, made: tuple[Make, str] | None, reason: str = "") -> None:
    """Draw a headline (or say why there is none)."""
    if made is None:
        writer.skip(NAME, reason or "nothing to headline")
        return
    make, caption = made
    writer.add(NAME, TITLE, caption, make)
