"""Figures 7a and 7b of a sweep: an outcome over the swept settings, and sensitivity indices.

:func:`sweep_heatmap` draws the mean of an outcome over the first two swept settings (a line
over one); :func:`sensitivity_bars` draws the sensitivity indices of one outcome per setting.
:func:`sweep_tables` reads what they need from a sweep result (``SweepResult`` or what
:func:`sim.viz.figures.sources.load_source` gives for a sweep folder) and :func:`add_sweep`
draws every figure that fits, with its caption.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from sim.core.outcomes import HORIZON, label
from sim.viz import style as hs
from sim.viz.figures.common import (
    FigureError,
    FigureWriter,
    fit_suptitle,
    fit_title,
    fmt,
    in_sentence,
    name_of,
    require,
)
from sim.viz.figures.layout import best_legend, settle_legends

SWEEP_META_COLUMNS = {"point", "replicate", "arm", "seed", "year", "run_seconds", "status", "error"}
"""Columns of ``sweep.parquet`` that are neither settings nor outcomes."""
INDEX_LABELS = {
    "S1": "first order (S1)",
    "ST": "total (ST)",
    "mu_star": "Morris μ*",
    "sigma": "Morris σ",
    "S2": "second order (S2)",
}
"""Legend labels of the sensitivity indices in ``sensitivity.csv``."""
METHOD_NAMES = {
    "sobol": "Sobol indices",
    "morris": "Morris screening",
    "latin": "RBD-FAST first-order indices",
}


@dataclass(frozen=True)
class SweepTables:
    """What the sweep figures draw.

    Attributes
    ----------
    table
        One row per run and arm (``sweep.parquet``), or None.
    sensitivity
        Sensitivity indices (``sensitivity.csv``), or None (a grid).
    method
        ``grid``, ``latin``, ``sobol`` or ``morris`` (``""`` if unknown).
    names
        Swept settings in ``[sweep]`` order.
    outcomes
        Outcomes the sweep recorded (empty: every known outcome column).
    arms
        Arms in scenario order (empty: table order).
    horizon
        Year of the outcomes, or None.
    """

    table: pd.DataFrame | None
    sensitivity: pd.DataFrame | None
    method: str
    names: list[str]
    outcomes: list[str]
    arms: list[str]
    horizon: float | None


def sweep_tables(result: Any) -> SweepTables:
    """The sweep figures' tables from a sweep result.

    Takes anything with ``.table`` and ``.sensitivity`` and either ``.plan`` (``.method``,
    ``.names`` or ``.targets``, ``.outcomes``, ``.arms``, ``.horizon``) or those attributes
    itself.
    """
    plan = getattr(result, "plan", None) or result
    names = getattr(plan, "names", None) or [
        getattr(t, "name", t) for t in getattr(plan, "targets", None) or ()
    ]
    table = getattr(result, "table", None)
    sensitivity = getattr(result, "sensitivity", None)
    if table is None and sensitivity is None:
        raise FigureError("sweep: neither a sweep table nor sensitivity indices to plot")
    horizon = getattr(plan, "horizon", None)
    return SweepTables(
        table,
        sensitivity,
        str(getattr(plan, "method", "") or ""),
        [str(n) for n in names],
        [str(o) for o in getattr(plan, "outcomes", None) or ()],
        [str(a) for a in getattr(plan, "arms", None) or ()],
        None if horizon is None else float(horizon),
    )


def sweep_parameters(table: pd.DataFrame, names: Sequence[str] = ()) -> list[str]:
    """Swept settings: ``names`` found in the table, else the dotted-name columns.

    Examples
    --------
    >>> sweep_parameters(pd.DataFrame(columns=["point", "drift.rate", "pain"]))
    ['drift.rate']
    """
    if names:
        return [t for t in names if t in table.columns]
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


@cache
def _units() -> dict[str, str]:
    from sim.core.parameters import ModelParams, parameter_table

    return {r["name"]: r["unit"] for r in parameter_table(ModelParams())}


def param_label(name: str) -> str:
    """Axis label of a swept setting with its unit from the parameter table, if any."""
    unit = _units().get(name)
    return f"{name} ({unit})" if unit and unit not in ("-", "") else name


def sweep_heatmap(
    table: pd.DataFrame,
    outcome: str,
    style: str | hs.Style = "talk",
    *,
    parameters: Sequence[str] | None = None,
    arms: Sequence[str] | None = None,
    bins: int = 8,
    title: str | None = None,
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
    s = hs.get_style(style)
    data = _ok_runs(table)
    params = list(parameters or sweep_parameters(table))
    arms = list(arms or dict.fromkeys(data["arm"])) if "arm" in data else ["all"]
    if "arm" not in data:
        data = data.assign(arm="all")
    if not params:
        raise FigureError("sweep.parquet: no swept settings found")
    if outcome not in data:
        raise FigureError(f"sweep.parquet: no outcome column '{outcome}'")
    text = label(outcome)
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
                ax.set_xlabel(param_label(x))
                ax.set_ylabel(param_label(y))
                ax.tick_params(length=0)
                for spine in ax.spines.values():
                    spine.set_visible(False)
                if len(arms) > 1:
                    fit_title(ax, arm, color=hs.arm_colors(arms)[arm])
            bar = fig.colorbar(image, ax=list(axes), shrink=0.8)
            bar.set_label(f"{text}, mean")
            others = params[2:]
            text = f"{name_of(outcome)} over {x} and {y}"
            text += (
                f" (mean over {', '.join(others)} and replicates)"
                if others
                else " (mean over replicates)"
            )
            fit_suptitle(fig, title or text, s.large if s.talk else s.font)
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
                ax.set_xlabel(param_label(x))
                ax.set_ylabel(text)
                best_legend(ax)
                if len(arms) > 1:
                    fit_title(ax, arm)
            settle_legends(fig)
    return fig


def sensitivity_long(table: pd.DataFrame) -> pd.DataFrame:
    """``sensitivity.csv`` as ``arm, outcome, parameter, method, index, value, ci_low, ci_high``.

    ``sim.experiments.sweep`` writes this layout already (with ``conf``, the half-width of the
    95 % interval); intervals missing from a table are taken as value ± ``conf``.
    """
    require(table, ["parameter", "index", "value"], "sensitivity.csv")
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
    title: str | None = None,
) -> Figure:
    """Figure 7b: sensitivity indices of one outcome per parameter, bars with 95 % intervals.

    One panel per arm; parameters sorted by the leading index (ST for Sobol, μ* for Morris,
    else the first), largest on top.
    """
    s = hs.get_style(style)
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
                fit_title(ax, arm)
            ax.set_xlabel(
                f"Elementary effect on {outcome}"
                if method == "morris"
                else "Sensitivity index (share of variance)"
            )
        best_legend(axes[0], fontsize=s.small if s.talk else s.tiny)
        settle_legends(fig)
        name = METHOD_NAMES.get(method, "Sensitivity indices")
        fit_suptitle(
            fig,
            title or f"{name}: what drives {name_of(outcome)}? (95 % CI)",
            s.large if s.talk else s.font,
        )
    return fig


# -- from a sweep -------------------------------------------------------------------------------
def _arms_in(arms: Sequence[str], present: pd.Series) -> list[str] | None:
    """The plan's arms that the table holds, in plan order (None: table order)."""
    found = set(present)
    shown = [a for a in arms if a in found]
    return shown or None


def sweep_headline(t: SweepTables) -> tuple[Callable[[], Figure], str] | None:
    """The sweep's headline: its first outcome over the first two settings, or what drives
    it most (sensitivity), on one slide with the message."""
    outcomes = t.outcomes or [c for c in HORIZON if t.table is not None and c in t.table]
    slide = hs.get_style("talk")
    if t.sensitivity is not None:
        long = sensitivity_long(t.sensitivity)
        outcome = outcomes[0] if outcomes else str(long["outcome"].iloc[0])
        part = long[long["outcome"] == outcome]
        kinds = list(dict.fromkeys(part["index"]))
        lead = "ST" if "ST" in kinds else ("mu_star" if "mu_star" in kinds else kinds[0])
        top = part[part["index"] == lead].sort_values("value", ascending=False)
        if top.empty:
            return None
        best = top.iloc[0]
        message = (
            f"{best['parameter']} drives {in_sentence(name_of(outcome))} most "
            f"({INDEX_LABELS.get(lead, lead)} = {fmt(best['value'], '.2f')})"
        )
        sens = t.sensitivity
        arms = _arms_in(t.arms, sens["arm"]) if "arm" in sens else None
        caption = (
            f"{message}. Figure 7b as a slide: sensitivity indices of {outcome} per swept "
            "setting (bars) with 95 % intervals (lines), sorted by the leading index."
        )
        return (lambda: sensitivity_bars(sens, outcome, slide, arms=arms, title=message)), caption
    if t.table is None or not outcomes:
        return None
    table, outcome = t.table, outcomes[0]
    params = sweep_parameters(table, t.names)
    ok = _ok_runs(table)
    if not params or outcome not in ok:
        return None
    means = ok.groupby(params[: min(2, len(params))])[outcome].mean()
    if means.empty:
        return None
    high, low = means.idxmax(), means.idxmin()

    def where(key: Any) -> str:
        values = np.atleast_1d(key)
        return ", ".join(f"{p} = {v:g}" for p, v in zip(params, values, strict=False))

    message = (
        f"{name_of(outcome)} ranges from {fmt(means.min(), '.2f')} ({where(low)}) to "
        f"{fmt(means.max(), '.2f')} ({where(high)})"
    )
    arms = _arms_in(t.arms, table["arm"]) if "arm" in table else None
    caption = (
        f"{message}. Figure 7a as a slide: mean {outcome} at the horizon in every cell of the "
        "swept settings (colour; numbers: the means), other settings and replicates averaged, "
        "failed runs left out."
    )
    return (
        lambda: sweep_heatmap(table, outcome, slide, parameters=params, arms=arms, title=message)
    ), caption


def add_sweep(result: Any, writer: FigureWriter) -> None:
    """Figures 00, 7a (per outcome) and 7b (per outcome with sensitivity indices) of a sweep."""
    from sim.viz.figures.headline import add_headline

    t = sweep_tables(result)
    s = writer.style
    try:
        add_headline(writer, sweep_headline(t), "no outcome to headline")
    except (FigureError, KeyError, ValueError) as exc:
        writer.skip("00_headline", str(exc).strip("'\""))
    if t.table is not None:
        table = t.table
        params = sweep_parameters(table, t.names)
        arms = _arms_in(t.arms, table["arm"]) if "arm" in table else None
        sampled = t.method not in ("", "grid")
        for outcome in t.outcomes or [c for c in HORIZON if c in table.columns]:
            writer.try_add(
                f"07a_sweep_{outcome}",
                f"Sweep: {outcome}",
                f"{label(outcome)} at the horizon: the mean over runs in every cell of "
                f"{' × '.join(params[:2])} (colour, same scale in every panel; numbers: the "
                "mean when the grid is small), other swept settings and replicates averaged; "
                + (
                    "sampled settings are grouped into quantile bins labelled by their centres; "
                    if sampled
                    else ""
                )
                + "failed runs left out; empty cells had no run. One panel per arm.",
                lambda o=outcome: sweep_heatmap(table, o, s, parameters=params, arms=arms),
            )
    if t.sensitivity is not None:
        sensitivity = t.sensitivity
        names = t.outcomes or list(
            dict.fromkeys(sensitivity.get("outcome", pd.Series(["outcome"])))
        )
        arms = _arms_in(t.arms, sensitivity["arm"]) if "arm" in sensitivity else None
        method = METHOD_NAMES.get(t.method, "sensitivity indices")
        bars = {
            "sobol": "bars: first-order S1, the share of the outcome's variance a setting "
            "explains alone, and total ST, with its interactions",
            "morris": "bars: μ*, the mean absolute elementary effect (in the outcome's unit), "
            "and σ, their spread (interactions or nonlinearity)",
            "latin": "bars: first-order indices, the share of the outcome's variance a setting "
            "explains alone",
        }.get(t.method, "bars: the indices")
        for outcome in names:
            writer.try_add(
                f"07b_sensitivity_{outcome}",
                f"Sensitivity: {outcome}",
                f"{label(outcome)}: {method} per swept setting ({bars}), with 95 % intervals "
                "(lines), sorted by the leading index, largest on top; one panel per arm.",
                lambda o=outcome: sensitivity_bars(sensitivity, o, s, arms=arms),
            )
