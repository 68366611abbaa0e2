"""Small helpers shared by test modules (not fixtures)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import sim.api
from sim.scenario import Scenario


class LazyModule:
    """The module named, imported when first used.

    With ``pytest -n``, every worker collects every test file; a library that only some tests
    use (Solara, statsmodels) is then imported only by the worker that runs them.
    """

    def __init__(self, name: str):
        self.name = name

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("_"):  # collection looks for fixture and test markers
            raise AttributeError(attribute)
        return getattr(importlib.import_module(self.name), attribute)


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


def invoke(*args: Any) -> Any:
    """Run ``painsim ARGS`` in this process (Typer's CliRunner); arguments are made strings."""
    from typer.testing import CliRunner

    from sim.interfaces.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def assert_one_line_error(result: Any, *fragments: str) -> str:
    """Exit 2, exactly one stderr line naming every fragment, and no traceback."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("painsim: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return lines[0]
