"""Transitional: the working plots ``sim.experiments.sweep`` still asks for (to be removed).

The sweep figures have one implementation, :mod:`sim.viz.figures.sweep`, which
``painsim figures`` and ``make_figures(sweep_result)`` use (``07a_sweep_<outcome>``,
``07b_sensitivity_<outcome>``). This module only keeps the sweep engine's call
``sweep_figures(plan, table, sensitivity, folder)`` working until the engine stops drawing
(an experiment must not import the figures layer); delete it then.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from sim.viz import style as hs
from sim.viz.figures.sweep import sensitivity_bars, sweep_heatmap


def sweep_figures(
    plan: Any, table: pd.DataFrame, sensitivity: pd.DataFrame | None, folder: Path
) -> list[Path]:
    """``grid_<outcome>.png`` for a grid, ``sensitivity_<outcome>.png`` for samples."""
    written = []
    for outcome in plan.outcomes:
        if plan.method == "grid":
            if not table.loc[table["status"] == "ok", outcome].notna().any():
                continue
            fig = sweep_heatmap(table, outcome, parameters=plan.names, arms=plan.arms)
            name = f"grid_{outcome}"
        elif sensitivity is not None and (sensitivity["outcome"] == outcome).any():
            fig = sensitivity_bars(sensitivity, outcome, arms=plan.arms)
            name = f"sensitivity_{outcome}"
        else:
            continue
        written += hs.save(fig, Path(folder) / name, ["png"], hs.provenance(None, name))
        hs.close(fig)
    return written
