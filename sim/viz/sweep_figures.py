"""Figures of a sweep (matplotlib only; PNGs in ``<results>/figures/``).

* :func:`grid_figure`: an outcome over the swept grid: a heatmap over two parameters (cells
  annotated with their value), or a line over one; one panel per arm.
* :func:`sensitivity_figure`: sensitivity indices of one outcome per parameter with their 95 %
  intervals (Sobol S1 and ST, Morris mu* and sigma, or RBD-FAST S1); one panel per arm.

:func:`sweep_figures` writes every figure a finished sweep calls for. These are working figures;
the house style (``sim.viz.figures``) may take them over later.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from sim.experiments.sweep import SweepPlan

OUTCOME_LABELS: dict[str, str] = {
    "dmn_perturbation": "DMN perturbation (healthy-SD units)",
    "char_path_length": "characteristic path length",
    "mean_degree": "mean degree",
    "mean_strength": "mean strength",
    "closeness": "closeness centrality",
    "global_efficiency": "global efficiency",
    "mpfc_pcc": "mPFC–PCC connectivity (r)",
    "mpfc_insula": "mPFC–insula connectivity (r)",
    "pain": "pain (NRS 0–10)",
    "coping": "catastrophizing (PCS 0–52)",
    "years_with_pain": "years lived with pain",
    "healthy_range": "share with a DMN in the healthy range",
    "responder": "responder rate among the enrolled",
    "share_none": "share without pain",
    "share_acute": "share in an acute episode",
    "share_subacute": "share in a subacute episode",
    "share_chronic": "share in a chronic episode",
}
INDEX_LABELS: dict[str, str] = {
    "S1": "first-order (S1)",
    "ST": "total (ST)",
    "mu_star": "mean |elementary effect| (μ*)",
    "sigma": "SD of elementary effects (σ)",
}
COLORS = ("#2f6690", "#d98c2b", "#5b8e3e", "#8c4f9f")


def outcome_label(name: str) -> str:
    """Readable name of an outcome column."""
    return OUTCOME_LABELS.get(name, name)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _tick(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _grid_means(table: pd.DataFrame, arm: str, columns: Sequence[str], outcome: str) -> pd.Series:
    ok = table[(table["arm"] == arm) & (table["status"] == "ok")]
    return ok.groupby(list(columns), sort=True)[outcome].mean()


def grid_figure(
    table: pd.DataFrame,
    parameters: Sequence[str],
    outcome: str,
    arms: Sequence[str],
    horizon: float,
    path: Path,
) -> Path:
    """Heatmap of ``outcome`` over the first two grid parameters (or a line over one).

    Values are means over replicates (and, with more than two parameters, over the others:
    the title says so). Failed runs are left out; a cell without any run is blank.

    Parameters
    ----------
    table
        ``sweep.parquet``.
    parameters
        Swept parameter names, in ``[sweep]`` order.
    outcome
        Outcome column.
    arms
        Arms to show, one panel each.
    horizon
        Year of the outcome (for the labels).
    path
        PNG to write.
    """
    plt = _pyplot()
    label = outcome_label(outcome)
    replicates = table["replicate"].nunique()
    note = (
        f"mean of {replicates} replicate{'s' if replicates != 1 else ''} per "
        f"{'cell' if len(parameters) >= 2 else 'value'}"
    )
    two = len(parameters) >= 2
    width = 5.6 if two else 5.2
    fig, axes = plt.subplots(
        1, len(arms), figsize=(width * len(arms), 4.6), squeeze=False, layout="constrained"
    )
    if two:
        x_name, y_name = parameters[0], parameters[1]
        means = {arm: _grid_means(table, arm, [y_name, x_name], outcome) for arm in arms}
        values = np.concatenate([m.to_numpy(dtype=float) for m in means.values()])
        finite = values[np.isfinite(values)]
        vmin, vmax = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
        xs = sorted(table[x_name].unique())
        ys = sorted(table[y_name].unique())
        for ax, arm in zip(axes[0], arms, strict=True):
            grid = means[arm].unstack(x_name).reindex(index=ys, columns=xs).to_numpy(float)
            image = ax.imshow(
                grid, origin="lower", aspect="auto", cmap="viridis", vmin=vmin, vmax=vmax
            )
            _annotate(ax, grid, image)
            ax.set_xticks(range(len(xs)), [_tick(v) for v in xs])
            ax.set_yticks(range(len(ys)), [_tick(v) for v in ys])
            ax.set_xlabel(x_name)
            ax.set_ylabel(y_name)
            ax.set_title(f"{arm}: {note}" if len(arms) > 1 else note, fontsize=10)
        fig.colorbar(image, ax=axes[0].tolist(), label=label, shrink=0.9)
        others = list(parameters[2:])
        title = f"{outcome_label(outcome)} after {horizon:g} years"
        if others:
            title += f" (mean over {', '.join(others)})"
        fig.suptitle(title)
    else:
        name = parameters[0]
        for ax, arm in zip(axes[0], arms, strict=True):
            ok = table[(table["arm"] == arm) & (table["status"] == "ok")]
            means = ok.groupby(name, sort=True)[outcome].mean()
            ax.plot(
                ok[name], ok[outcome], "o", color=COLORS[0], alpha=0.35, ms=4, label="replicates"
            )
            ax.plot(means.index, means.to_numpy(), "-", color=COLORS[0], lw=2, label="mean")
            ax.set_xlabel(name)
            ax.set_ylabel(label)
            ax.set_title(arm if len(arms) > 1 else "", fontsize=10)
            ax.legend(frameon=False)
        fig.suptitle(f"{outcome_label(outcome)} after {horizon:g} years")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def _annotate(ax, grid: np.ndarray, image) -> None:
    """Write each cell's value in a colour that stays readable on the colormap."""
    if grid.size > 144:  # too many cells to read numbers in
        return
    for (row, column), value in np.ndenumerate(grid):
        if not np.isfinite(value):
            continue
        red, green, blue, _ = image.cmap(image.norm(value))
        light = 0.299 * red + 0.587 * green + 0.114 * blue > 0.5
        ax.text(
            column,
            row,
            f"{value:.2f}",
            ha="center",
            va="center",
            fontsize=9,
            color="black" if light else "white",
        )


def sensitivity_figure(
    sensitivity: pd.DataFrame, outcome: str, arms: Sequence[str], horizon: float, path: Path
) -> Path:
    """Horizontal bars of the sensitivity indices of one outcome, with 95 % intervals.

    Parameters are sorted by the leading index (ST, mu*, or S1), largest on top.

    Parameters
    ----------
    sensitivity
        ``sensitivity.csv``.
    outcome
        Outcome whose indices are shown.
    arms
        Arms to show, one panel each (arms without indices are left out).
    horizon
        Year of the outcome (for the title).
    path
        PNG to write.
    """
    plt = _pyplot()
    rows = sensitivity[sensitivity["outcome"] == outcome]
    arms = [arm for arm in arms if (rows["arm"] == arm).any()]
    method = rows["method"].iloc[0]
    indices = {"sobol": ["S1", "ST"], "morris": ["mu_star", "sigma"], "latin": ["S1"]}[method]
    lead = indices[-1] if method == "sobol" else indices[0]
    n_params = rows["parameter"].nunique()
    fig, axes = plt.subplots(
        1,
        len(arms),
        figsize=(7.2 * len(arms), 1.6 + 0.55 * n_params),
        squeeze=False,
        layout="constrained",
    )
    height = 0.8 / len(indices)
    for ax, arm in zip(axes[0], arms, strict=True):
        part = rows[rows["arm"] == arm]
        order = part[part["index"] == lead].sort_values("value")["parameter"].tolist()
        positions = np.arange(len(order))
        for k, index in enumerate(indices):
            values = part[part["index"] == index].set_index("parameter").reindex(order)
            error = values["conf"].to_numpy(dtype=float)
            ax.barh(
                positions + ((len(indices) - 1) / 2 - k) * height,
                values["value"].to_numpy(dtype=float),
                height=height,
                color=COLORS[k],
                xerr=None if np.isnan(error).all() else np.nan_to_num(error),
                error_kw={"ecolor": "#333333", "capsize": 2, "lw": 1},
                label=INDEX_LABELS.get(index, index),
            )
        ax.set_yticks(positions, order)
        ax.axvline(0, color="#999999", lw=0.8)
        ax.set_xlabel(
            "sensitivity index"
            if method != "morris"
            else f"change of {outcome} across each setting's range"
        )
        ax.set_title(arm if len(arms) > 1 else "")
        ax.legend(frameon=False, loc="lower right")
    title = {
        "sobol": "Sobol indices",
        "morris": "Morris screening",
        "latin": "RBD-FAST first-order indices",
    }[method]
    fig.suptitle(
        f"{title} of {outcome_label(outcome)}\nafter {horizon:g} years; error bars: 95 % intervals"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def sweep_figures(
    plan: SweepPlan, table: pd.DataFrame, sensitivity: pd.DataFrame | None, folder: Path
) -> list[Path]:
    """Every figure of a finished sweep: grid figures for a grid, index charts for samples.

    Returns
    -------
    list of pathlib.Path
        The PNGs written (``grid_<outcome>.png`` or ``sensitivity_<outcome>.png``).
    """
    written = []
    for outcome in plan.outcomes:
        if plan.method == "grid":
            if table.loc[table["status"] == "ok", outcome].notna().any():
                written.append(
                    grid_figure(
                        table,
                        plan.names,
                        outcome,
                        plan.arms,
                        plan.horizon,
                        folder / f"grid_{outcome}.png",
                    )
                )
        elif sensitivity is not None and (sensitivity["outcome"] == outcome).any():
            written.append(
                sensitivity_figure(
                    sensitivity,
                    outcome,
                    plan.arms,
                    plan.horizon,
                    folder / f"sensitivity_{outcome}.png",
                )
            )
    return written
