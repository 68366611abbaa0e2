"""Figure 1b of a run: the cohort over the run, from ``timeseries.parquet``.

:func:`cohort_over_time` draws, for the reference arm, the share of the cohort in each pain
stage and the mean pain, catastrophizing and DMN perturbation at every record time, with the
moment enrolment opens marked. It reads only the per-record-time summary
(``RunResult.timeseries``), so it costs nothing even for very large runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from sim.analysis.stats import pooled_normal_interval, t_interval
from sim.core.outcomes import STAGE_SHARES, label
from sim.viz import style as hs
from sim.viz.figures.common import (
    FigureError,
    FigureWriter,
    band,
    data_limits,
    despine_numbers,
    fit_suptitle,
    fit_title,
    in_sentence,
    name_of,
    panel_letter,
    require,
)
from sim.viz.figures.run import T_REPLICATES

LEVELS: tuple[str, ...] = ("pain", "coping", "dmn_perturbation")
"""Means drawn over time (panels B-D)."""
STAGE_NAMES = {
    "share_none": "no pain",
    "share_acute": "acute",
    "share_subacute": "subacute",
    "share_chronic": "chronic",
}


def level_over_time(timeseries: pd.DataFrame, variable: str) -> pd.DataFrame:
    """Mean of ``variable`` per record time over replicates, with a 95 % band.

    A t interval over replicate means with three or more replicates; otherwise a normal
    interval of everyone pooled (from each replicate's mean, SD and size).

    Returns
    -------
    pandas.DataFrame
        ``year, mean, low, high``.
    """
    mean_col, sd_col = f"{variable}_mean", f"{variable}_sd"
    require(timeseries, ["year", "replicate", "n", mean_col, sd_col], "timeseries")
    wide = timeseries.pivot_table(index="replicate", columns="year", values=mean_col)
    if len(wide) >= T_REPLICATES:
        mean, low, high = t_interval(wide.to_numpy(float))
    else:
        sds = timeseries.pivot_table(index="replicate", columns="year", values=sd_col)
        ns = timeseries.pivot_table(index="replicate", columns="year", values="n")
        mean, low, high = pooled_normal_interval(
            wide.to_numpy(float), sds.to_numpy(float), ns.to_numpy(float)
        )
    return pd.DataFrame(
        {"year": wide.columns.to_numpy(float), "mean": mean, "low": low, "high": high}
    )


def enrolment_opens(timeseries: pd.DataFrame) -> float | None:
    """First record year at which any arm has enrolled somebody (None: never)."""
    if "n_enrolled" not in timeseries:
        return None
    years = timeseries.loc[timeseries["n_enrolled"] > 0, "year"]
    return float(years.min()) if len(years) else None


def cohort_over_time(
    timeseries: pd.DataFrame, arms: Sequence[str], style: str | hs.Style = "talk"
) -> Figure:
    """Figure 1b: the reference arm's cohort at every record time.

    Parameters
    ----------
    timeseries
        ``timeseries.parquet`` (means, SDs, sizes and stage shares per arm, replicate, year).
    arms
        Arm names in scenario order; the first is drawn.

    Returns
    -------
    matplotlib.figure.Figure
        A: share in each pain stage (stacked); B-D: mean pain, catastrophizing and DMN
        perturbation with 95 % bands. A dotted line marks when enrolment opens.
    """
    s = hs.get_style(style)
    ref = timeseries[timeseries["arm"] == arms[0]]
    if ref.empty:
        raise FigureError(f"timeseries: no rows of arm '{arms[0]}'")
    opens = enrolment_opens(timeseries)
    replicates = ref["replicate"].nunique()
    with hs.use(s):
        fig = hs.new_figure(s, paper_height=7.0)
        axes = (
            fig.subplots(2, 2, sharex=True) if s.talk else fig.subplots(4, 1, sharex=True)
        ).ravel()
        ax = axes[0]
        shares = ref.groupby("year")[list(STAGE_SHARES)].mean()
        ax.stackplot(
            shares.index.to_numpy(float),
            *(100 * shares[c].to_numpy(float) for c in STAGE_SHARES),
            colors=[hs.STAGE_COLORS[c.removeprefix("share_")] for c in STAGE_SHARES],
            labels=[STAGE_NAMES[c] for c in STAGE_SHARES],
            linewidth=0,
        )
        ax.set_ylim(0, 100)
        ax.set_ylabel("% of the cohort")
        fit_title(ax, "Pain stage now")
        # The legend goes beside the stack: a stack fills its whole panel.
        ax.legend(
            *[h[::-1] for h in ax.get_legend_handles_labels()],
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=s.small if s.talk else s.tiny,
        )
        for ax, variable in zip(axes[1:], LEVELS, strict=True):
            table = level_over_time(ref, variable)
            band(
                ax,
                table["year"].to_numpy(),
                table["mean"].to_numpy(),
                table["low"].to_numpy(),
                table["high"].to_numpy(),
                hs.ARM_PALETTE[0],
                arms[0],
                s,
            )
            ax.set_ylim(*data_limits([table["mean"]], [table["low"], table["high"]]))
            ax.set_ylabel(label(variable).replace(" (", "\n("))
            fit_title(ax, f"Mean {in_sentence(name_of(variable))}")
        for letter, ax in zip("ABCD", axes, strict=True):
            if opens is not None:
                ax.axvline(opens, color=hs.NEUTRAL, linestyle=":", linewidth=1.5 if s.talk else 0.6)
            panel_letter(ax, letter)
            despine_numbers(ax)
        for ax in axes[-2:] if s.talk else axes[-1:]:
            ax.set_xlabel("Year of the run")
        fit_suptitle(
            fig,
            f"The cohort over the run: {arms[0]}"
            + (f", {replicates} replicates" if replicates > 1 else "")
            # a no-break space: the year never ends up alone on the title's last line
            + (
                f" (dotted line: enrolment opens, year\u00a0{opens:g})" if opens is not None else ""
            ),
            s.large if s.talk else s.font,
        )
    return fig


def add_cohort(result: Any, writer: FigureWriter) -> None:
    """Figure 1b of a run, from its timeseries."""
    timeseries = getattr(result, "timeseries", None)
    name = "01b_cohort_over_time"
    if timeseries is None or not len(timeseries):
        writer.skip(name, "the run has no timeseries.parquet")
        return
    arms = result.arms
    opens = enrolment_opens(timeseries)
    reps = int(timeseries["replicate"].nunique())
    kind = (
        f"t interval over {reps} replicate means"
        if reps >= T_REPLICATES
        else "normal interval over everyone" + (f" ({reps} replicates pooled)" if reps > 1 else "")
    )
    writer.add(
        name,
        "The cohort over the run",
        f"{arms[0]}, every record time (timeseries.parquet). A: share of the cohort in each "
        "pain stage now (stacked, 100 %). B–D: mean pain (0–10, everyone, including people "
        f"without pain), catastrophizing (PCS) and DMN perturbation; band: 95 % {kind}."
        + (f" Dotted line: enrolment opens (year {opens:g})." if opens is not None else ""),
        lambda: cohort_over_time(timeseries, arms, writer.style),
    )
