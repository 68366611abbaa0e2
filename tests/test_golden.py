"""Golden tables: the shipped scenarios (made small) give exactly the recorded numbers.

``tests/golden/`` was first written by the code before the package was split into layers
(issue 10), so these tests prove that the move kept every number of runs (all arms), summaries,
arm comparisons, a study's replications and a sweep. The arms' tables were regenerated when the
intervention defaults became the calibration's posterior medians (issue 11). The study's
population was halved to 20,000 people to halve its cost (the current code gave the table of
40,000 people bit for bit before; issue 10). Cohorts are made
small so the whole file runs in seconds; everything else (seeds, arms, steps, record times) is
the shipped scenario's.

If a change to the model is intended, regenerate in the same commit and say why::

    python tests/test_golden.py --update
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim.api
from sim.experiments import study, sweep
from sim.scenario import parse_scenario

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).with_name("golden")
SIZES = {
    "natural_history": 300,
    "classroom": 300,
    "prevention": 300,
    "treatments": 400,
    "cherkin2016": 600,
}


def shipped(name: str, **sections: dict) -> dict:
    """A shipped scenario file as a dict, with some fields changed."""
    data = tomllib.loads((ROOT / "scenarios" / f"{name}.toml").read_text(encoding="utf-8"))
    for section, fields in sections.items():
        data[section].update(fields)
    return data


def run_tables(name: str) -> dict[str, pd.DataFrame]:
    scenario = parse_scenario(shipped(name, cohort={"size": SIZES[name]}), name)
    result = sim.api.run(scenario)
    tables = {"summary": result.summary, "timeseries": result.timeseries}
    if len(result.arms) > 1:
        years = sorted(result.patients["year"].unique())
        tables["comparison"] = result.compare(
            years=[years[len(years) // 2], years[-1]], enrolled=name == "prevention"
        )
    return tables


def study_table() -> pd.DataFrame:
    design = {"population": 20_000, "replications": 3, "power_multipliers": [1.0]}
    data = shipped("heukamp2024", study={**design, "counterfactual": False})
    return study.simulate_study(parse_scenario(data, "heukamp2024")).study


def sweep_table() -> pd.DataFrame:
    data = shipped("sweep_drift_coping", cohort={"size": 300})
    data["sweep"]["grid"] = {k: v[:2] for k, v in data["sweep"]["grid"].items()}
    plan = sweep.plan_sweep(parse_scenario(data, "sweep"))
    rows = [r for p, rep in plan.runs() for r in sweep.run_task(plan.task(p, rep, None))]
    return plan.frame(rows).drop(columns=["run_seconds"])


def all_tables() -> dict[str, pd.DataFrame]:
    tables = {}
    for name in SIZES:
        tables.update({f"{name}_{kind}": t for kind, t in run_tables(name).items()})
    tables["heukamp2024_study"] = study_table()
    tables["sweep_drift_coping_table"] = sweep_table()
    return tables


def assert_same_table(got: pd.DataFrame, expected: pd.DataFrame, name: str) -> None:
    """Same columns, same rows; numbers equal to 1e-9 relative, text exactly."""
    got = got.reset_index(drop=True)
    assert list(got.columns) == list(expected.columns), name
    assert len(got) == len(expected), name
    for column in expected.columns:
        want, have = expected[column], got[column]
        if pd.api.types.is_numeric_dtype(want) and not pd.api.types.is_bool_dtype(want):
            np.testing.assert_allclose(
                have.to_numpy(dtype=float),
                want.to_numpy(dtype=float),
                rtol=1e-9,
                atol=1e-12,
                equal_nan=True,
                err_msg=f"{name}: {column}",
            )
        else:
            assert have.astype(str).tolist() == want.astype(str).tolist(), f"{name}: {column}"


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return all_tables()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(p.stem for p in GOLDEN.glob("*.csv")))
def test_table_matches_the_golden_numbers(tables, name):
    expected = pd.read_csv(GOLDEN / f"{name}.csv")
    got = pd.read_csv(pd.io.common.StringIO(tables[name].to_csv(index=False)))
    assert_same_table(got, expected, name)


if __name__ == "__main__":
    if "--update" in sys.argv:
        for name, table in all_tables().items():
            table.to_csv(GOLDEN / f"{name}.csv", index=False)
        print(f"wrote {GOLDEN}")
