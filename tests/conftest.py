"""Shared small scenarios: tens of patients, a few years, 4-week steps; well under 1 s each."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import run_scenario

from sim.scenario import Scenario, parse_scenario

SMALL: dict[str, Any] = {
    "scenario": {
        "name": "small test",
        "seed": 11,
        # 2.5 years with yearly records: the horizon is off the grid and must be added.
        "years": 2.5,
        "dt_weeks": 4,
        "replicates": 2,
        "record_every_years": 1,
    },
    "cohort": {"size": 40},
}


# Test files by measured cost, heaviest first (the summed durations of their tests and fixtures
# in a whole-suite run from a clean clone, --durations=0, 28 Nov 2026, evening; files under
# about 7 s are left in collection order). With ``--dist loadfile`` a file is one worker's
# serial load, and the workers take files in collection order, so the heavy files start first
# and the many light ones fill in around them; last in the queue, a heavy file would run alone
# at the end of the run. Only the order of files changes, never the order of tests in a file.
HEAVIEST_FIRST = (
    "test_calibrate.py",
    "test_figures.py",
    "test_study.py",
    "test_benchmarks.py",
    "test_study_evidence.py",
    "test_sweep_folder.py",
    "test_app.py",
    "test_sweep.py",
    "test_golden.py",
    "test_figure_layout.py",
    "test_docs.py",
    "test_interventions.py",
    "test_model.py",
    "test_posterior.py",
    "test_cli.py",
    "test_step.py",
    "test_runner.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(HEAVIEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def small_scenario_dict(**sections: dict[str, Any]) -> dict[str, Any]:
    """A copy of :data:`SMALL` with the given sections' fields updated."""
    data = copy.deepcopy(SMALL)
    for section, fields in sections.items():
        data.setdefault(section, {}).update(fields)
    return data


@pytest.fixture
def make_scenario() -> Callable[..., Scenario]:
    """Factory: ``make_scenario(scenario={"seed": 3}, cohort={"size": 30})``."""

    def make(**sections: dict[str, Any]) -> Scenario:
        return parse_scenario(small_scenario_dict(**sections), "small")

    return make


@pytest.fixture
def small_scenario(make_scenario: Callable[..., Scenario]) -> Scenario:
    return make_scenario()


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Results folder of one finished small run with connectivity; shared, so treat as read-only."""
    scenario = parse_scenario(small_scenario_dict(), "small")
    return run_scenario(
        scenario,
        results_root=tmp_path_factory.mktemp("results"),
        save_connectivity=True,
        progress=False,
        argv=["painsim", "run", "small"],
    )


@pytest.fixture
def write_toml(tmp_path: Path) -> Callable[[str, str], Path]:
    """Factory: write TOML text to ``tmp_path / name`` and return the path."""

    def write(text: str, name: str = "scenario.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
