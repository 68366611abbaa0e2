"""Small helpers shared by test modules (not fixtures)."""

from __future__ import annotations

from pathlib import Path

import sim.api
from sim.scenario import Scenario


def run_scenario(
    scenario: Scenario,
    *,
    out: Path | None = None,
    results_root: Path = Path("results"),
    save_connectivity: bool = False,
    progress: bool = False,
    argv: list[str] | None = None,
) -> Path:
    """Run a scenario and write its results folder, as ``painsim run`` does."""
    result = sim.api.run(
        scenario,
        connectivity=save_connectivity,
        progress=progress,
        command=argv,
        out=out,
        results_root=results_root,
    )
    return result.folder
