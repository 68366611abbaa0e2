"""Sweeps and sensitivity analysis: designs, seeds, backends, resuming, failures, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support import assert_one_line_error, invoke

import sim
import sim.experiments.sweep.engine as engine
from sim.experiments.run import run_replicate
from sim.experiments.sweep import (
    analyze_design,
    horizon_stops,
    plan_sweep,
    run_seed,
    sample_design,
    simulate_sweep,
)
from sim.results.sweep import load_sweep
from sim.scenario import load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"

BASE_TOML = """
[scenario]
name = "tiny sweep"
seed = 5
years = 3
dt_weeks = 4
record_every_years = 1

[cohort]
size = 40

[[arms]]
name = "usual care"

[[arms]]
name = "CBT"
[[arms.interventions]]
kind = "cbt"
start_year = 1
"""

GRID_TOML = (
    BASE_TOML
    + """
[sweep]
replicates = 2
horizon_years = 2.5
outcomes = ["dmn_perturbation", "pain", "share_chronic"]

[sweep.grid]
"drift.rate" = [0.1, 0.4]
"arms.CBT.0.start_year" = [0.5, 1.5]
"""
)


def tiny(**sweep) -> dict:
    """The scenario of GRID_TOML as a dict, with ``[sweep]`` fields replaced."""
    return {
        "scenario": {
            "name": "tiny sweep",
            "seed": 5,
            "years": 3,
            "dt_weeks": 4,
            "record_every_years": 1,
        },
        "cohort": {"size": 40},
        "arms": [
            {"name": "usual care"},
            {"name": "CBT", "interventions": [{"kind": "cbt", "start_year": 1}]},
        ],
        "sweep": {
            "replicates": 2,
            "horizon_years": 2.5,
            "outcomes": ["dmn_perturbation", "pain", "share_chronic"],
            "grid": {"drift.rate": [0.1, 0.4], "arms.CBT.0.start_year": [0.5, 1.5]},
            **sweep,
        },
    }


def comparable(table: pd.DataFrame) -> pd.DataFrame:
    """A sweep table without its only non-deterministic column, the run time."""
    return table.drop(columns="run_seconds")


# -- designs and seeds --------------------------------------------------------------------------
def test_grid_covers_the_full_product_with_the_first_parameter_slowest():
    plan = plan_sweep(
        parse_scenario(tiny(grid={"drift.rate": [0.1, 0.2, 0.3], "cohort.coping_mean": [10, 20]}))
    )
    assert plan.names == ["drift.rate", "cohort.coping_mean"]
    assert plan.design == (
        (0.1, 10.0),
        (0.1, 20.0),
        (0.2, 10.0),
        (0.2, 20.0),
        (0.3, 10.0),
        (0.3, 20.0),
    )
    assert plan.n_runs == 6 * 2


def test_each_run_has_its_own_seed_and_all_arms_of_a_run_share_it():
    result = simulate_sweep(parse_scenario(tiny()), backend="serial")
    seeds = result.table.groupby(["point", "replicate"])["seed"]
    assert (seeds.nunique() == 1).all()  # virtual twins: one seed for every arm
    assert seeds.first().nunique() == 4 * 2
    assert seeds.first().loc[(3, 1)] == run_seed(5, 3, 1)


def test_common_random_numbers_give_every_point_the_same_seeds():
    plan = plan_sweep(parse_scenario(tiny(common_random_numbers=True)))
    assert {plan.seed(p, 0) for p in range(plan.n_points)} == {run_seed(5, 0, 0)}
    assert plan.seed(2, 1) == run_seed(5, 0, 1) != plan.seed(2, 0)


@pytest.mark.slow  # in the whole suite; the quick tests keep the simpler cases
def test_a_run_gives_the_numbers_painsim_run_gives_with_its_seed_at_that_horizon():
    data = tiny(horizon_years=2.0)  # a record time of the scenario
    result = simulate_sweep(parse_scenario(data), backend="serial")
    plan = result.plan
    row = result.table.query("point == 3 and replicate == 1 and arm == 'CBT'").iloc[0]
    patients = run_replicate(plan.point_scenario(3, int(row["seed"])), 0, "CBT").patients
    at_horizon = patients[patients["year"] == 2.0]
    # Patient rows are stored as float32; the sweep keeps full precision.
    assert row["dmn_perturbation"] == pytest.approx(at_horizon["dmn_perturbation"].mean(), rel=1e-6)
    assert row["share_chronic"] == pytest.approx((at_horizon["stage"] == "chronic").mean())
    assert row["arms.CBT.0.start_year"] == 1.5 and row["drift.rate"] == 0.4


def test_horizon_stops_follow_the_record_times_of_painsim_run():
    run = parse_scenario({"scenario": {"name": "x", "years": 5, "record_every_years": 2}})
    assert horizon_stops(run.scenario, 5.0) == [2.0, 4.0, 5.0]
    assert horizon_stops(run.scenario, 3.0) == [2.0, 3.0]


def test_a_failing_run_is_recorded_with_its_error_and_the_others_finish(monkeypatch):
    real = engine.horizon_outcomes

    def flaky(scenario, arm, horizon, outcomes):
        if (
            scenario.params.drift.rate == 0.4
            and scenario.arm(arm).interventions
            and scenario.arm(arm).interventions[0].start_year == 0.5
        ):
            raise FloatingPointError("overflow in drift\nsecond line")
        return real(scenario, arm, horizon, outcomes)

    monkeypatch.setattr(engine, "horizon_outcomes", flaky)
    result = simulate_sweep(parse_scenario(tiny()), backend="serial")
    failed = result.table[result.table["status"] == "failed"]
    assert set(zip(failed["point"], failed["arm"], strict=True)) == {(2, "CBT")}
    assert len(failed) == 2  # both replicates
    assert failed["error"].eq("FloatingPointError: overflow in drift second line").all()
    assert failed["dmn_perturbation"].isna().all()
    assert (result.table.drop(failed.index)["status"] == "ok").all()
    assert result.failed == 2 and any("2 of 8 runs failed" in n for n in result.notes)


# -- sensitivity --------------------------------------------------------------------------------
def ishigami(x: np.ndarray, a: float = 7.0, b: float = 0.1) -> np.ndarray:
    return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])


ISHIGAMI = {"num_vars": 3, "names": ["x1", "x2", "x3"], "bounds": [[-np.pi, np.pi]] * 3}


def test_sobol_indices_of_the_ishigami_function_match_the_analytic_values():
    x = sample_design("sobol", ISHIGAMI, 2048, 4, seed=1)
    assert x.shape == (2048 * (3 + 2), 3)
    indices = analyze_design("sobol", ISHIGAMI, x, ishigami(x), seed=2).set_index(
        ["index", "parameter"]
    )["value"]
    assert indices["S1"].to_numpy() == pytest.approx([0.314, 0.442, 0.0], abs=0.04)
    assert indices["ST"].to_numpy() == pytest.approx([0.558, 0.442, 0.244], abs=0.04)


def test_morris_screening_ranks_a_parameter_without_effect_last():
    problem = {"num_vars": 3, "names": ["a", "b", "c"], "bounds": [[0, 1]] * 3}
    x = sample_design("morris", problem, 20, 4, seed=1)
    y = 5 * x[:, 0] + 1 * x[:, 1] ** 2
    mu_star = analyze_design("morris", problem, x, y, seed=3).query("index == 'mu_star'")
    assert mu_star["value"].to_numpy() == pytest.approx([5.0, 1.0, 0.0], abs=0.35)


@pytest.mark.parametrize(
    ("method", "samples", "indices"),
    [
        ("sobol", 4, {"S1", "ST"}),
        # one method in the quick tests (-m "not slow"); all three in the whole suite
        pytest.param("morris", 4, {"mu_star", "mu", "sigma"}, marks=pytest.mark.slow),
        pytest.param("latin", 8, {"S1"}, marks=pytest.mark.slow),
    ],
)
def test_sample_sweeps_give_finite_sensitivity_indices_of_every_setting(method, samples, indices):
    data = tiny(
        method=method,
        samples=samples,
        grid={},
        replicates=1,
        bounds={"drift.rate": [0.1, 0.5], "cohort.coping_mean": [8, 30]},
        outcomes=["dmn_perturbation", "pain"],
        common_random_numbers=True,
    )
    data["arms"] = data["arms"][:1]
    result = simulate_sweep(parse_scenario(data), backend="serial")
    sens = result.sensitivity
    assert list(sens.columns) == [
        "arm",
        "outcome",
        "parameter",
        "method",
        "index",
        "value",
        "conf",
        "ci_low",
        "ci_high",
    ]
    assert set(sens["index"]) == indices
    assert set(sens["parameter"]) == {"drift.rate", "cohort.coping_mean"}
    assert np.isfinite(sens["value"]).all()
    assert (sens["ci_low"] <= sens["value"]).all() or sens["conf"].isna().any()
    if method == "sobol":
        assert len(result.table) == samples * (2 + 2)


def test_shipped_sweep_scenarios_plan_their_documented_designs():
    grid = plan_sweep(load_scenario(SCENARIOS / "sweep_drift_coping.toml"))
    assert (grid.names, grid.n_points, grid.n_runs) == (
        ["drift.rate", "drift.coping_weight"],
        30,
        60,
    )
    assert grid.horizon == 20 and grid.outcomes == ("dmn_perturbation",)
    sobol = plan_sweep(load_scenario(SCENARIOS / "sensitivity.toml"))
    assert (len(sobol.names), sobol.n_points) == (6, 256 * (6 + 2))
    assert sobol.outcomes == ("dmn_perturbation", "pain")


# -- bad input ----------------------------------------------------------------------------------
def sweep_toml(sweep: str) -> str:
    return BASE_TOML + "\n[sweep]\n" + sweep


BAD_SWEEPS = [
    (
        '[sweep.grid]\n"drift.rte" = [0.1]\n',
        ["sweep.grid.drift.rte", "unknown parameter", "did you mean 'drift.rate'?"],
    ),
    ('method = "sobol"\n[sweep.bounds]\n', ["sweep.bounds", "empty"]),
    (
        'method = "latin"\n[sweep.bounds]\n"drift.rate" = [0.3, 0.3]\n',
        ["sweep.bounds.drift.rate", "empty range [0.3, 0.3]"],
    ),
    (
        'method = "sobol"\nsamples = 100\n[sweep.bounds]\n"drift.rate" = [0.1, 0.3]\n',
        ["sweep.samples", "100 is not a power of 2", "64 or 128"],
    ),
    (
        'outcomes = ["perturbation"]\n[sweep.grid]\n"drift.rate" = [0.1]\n',
        ["sweep.outcomes", "unknown outcome 'perturbation'", "did you mean 'dmn_perturbation'?"],
    ),
    (
        '[sweep.grid]\n"arms.TMS.0.start_year" = [1]\n',
        ["sweep.grid.arms.TMS.0.start_year", "unknown arm 'TMS'", "arms: usual care, CBT"],
    ),
    (
        '[sweep.grid]\n"arms.CBT.2.start_year" = [1]\n',
        ["sweep.grid.arms.CBT.2.start_year", "no intervention 2", "indices 0-0"],
    ),
    (
        '[sweep.grid]\n"arms.CBT.0.strat_year" = [1]\n',
        ["sweep.grid.arms.CBT.0.strat_year", "did you mean 'start_year'?"],
    ),
    (
        '[sweep.grid]\n"arms.CBT.start_year" = [1]\n',
        ["sweep.grid.arms.CBT.start_year", "arms.<arm name>.<intervention index>.<field>"],
    ),
    (
        '[sweep.grid]\n"arms.CBT.0.start_year" = [1, 3]\n',
        [
            "sweep.grid.arms.CBT.0.start_year",
            "3 gives an invalid scenario",
            "not before the horizon",
        ],
    ),
    (
        'method = "morris"\n[sweep.bounds]\n"drift.irreversible_fraction" = [0, 2]\n',
        ["sweep.bounds.drift.irreversible_fraction", "2.0 gives an invalid scenario"],
    ),
    (
        'method = "latin"\n[sweep.bounds]\n"metrics.threshold_rule" = [0, 1]\n',
        ["sweep.bounds.metrics.threshold_rule", "not a number"],
    ),
    (
        'horizon_years = 4\n[sweep.grid]\n"drift.rate" = [0.1]\n',
        ["sweep.horizon_years", "after the end of the scenario"],
    ),
    ('[sweep.grid]\n"drift.rate" = []\n', ["sweep.grid.drift.rate", "empty list"]),
    (
        'smaples = 8\n[sweep.grid]\n"drift.rate" = [0.1]\n',
        ["sweep.smaples", "unknown key", "did you mean 'samples'?"],
    ),
]


@pytest.mark.parametrize(
    ("sweep", "fragments"), BAD_SWEEPS, ids=[fragments[0] for _, fragments in BAD_SWEEPS]
)
def test_bad_sweep_sections_give_one_line_exit_2_and_write_nothing(
    tmp_path, write_toml, sweep, fragments
):
    path = write_toml(sweep_toml(sweep))
    root = tmp_path / "results"
    result = invoke("sweep", path, "--results-root", root, "--backend", "serial", "--no-progress")
    assert_one_line_error(result, str(path), *fragments)
    assert not root.exists()
    assert_one_line_error(invoke("validate", path), *fragments)


def test_a_combination_no_single_value_rules_out_is_reported_with_its_point(tmp_path, write_toml):
    path = write_toml(
        sweep_toml(
            '[sweep.grid]\n"arms.CBT.0.min_years_with_pain" = [0, 5]\n'
            '"arms.CBT.0.max_years_with_pain" = [3, 10]\n'
        )
    )
    assert invoke("validate", path).exit_code == 0  # each value is fine on its own
    root = tmp_path / "results"
    result = invoke("sweep", path, "--results-root", root, "--no-progress")
    assert_one_line_error(
        result, "sweep point 2", "arms.CBT.0.min_years_with_pain=5,", "impossible eligibility"
    )
    assert not root.exists()


@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        (["--scheduler", "tcp://127.0.0.1:1"], ["--scheduler: needs the dask backend"]),
        (["--backend", "mpi"], ["--backend: 'mpi' is not one of process, serial, dask"]),
        (["--workers", "0"], ["--workers: 0 is out of range", "from 1 to 1024"]),
        (["--workers", str(10**30)], ["--workers: 1000000000000000000000000000000 is out of"]),
        (["--resume"], ["--resume: ", "no unfinished sweep of this scenario"]),
    ],
    ids=["scheduler", "backend", "workers-0", "workers-1e30", "resume"],
)
def test_bad_options_give_one_line_exit_2_and_write_nothing(
    tmp_path, write_toml, options, fragments
):
    root = tmp_path / "results"
    result = invoke(
        "sweep", write_toml(GRID_TOML), "--results-root", root, "--no-progress", *options
    )
    assert_one_line_error(result, *fragments)
    assert not root.exists()


def test_a_scenario_without_a_sweep_section_is_refused(tmp_path, write_toml):
    path = write_toml(BASE_TOML)
    result = invoke("sweep", path, "--results-root", tmp_path / "r", "--no-progress")
    assert_one_line_error(result, f"{path}: sweep: no [sweep] section")
    assert not (tmp_path / "r").exists()


# -- in memory, folders, loading ----------------------------------------------------------------
def sobol_scenario() -> dict:
    """Two arms, a 4-sample Sobol design over three settings, one replicate: 20 runs."""
    return tiny(
        method="sobol",
        samples=4,
        replicates=1,
        grid={},
        bounds={
            "drift.rate": [0.1, 0.5],
            "cohort.coping_mean": [8, 30],
            "arms.CBT.0.start_year": [0.2, 2.0],
        },
        outcomes=["dmn_perturbation", "pain"],
    )


@pytest.fixture(scope="module")
def sobol_folder(tmp_path_factory) -> Path:
    """A Sobol sweep run through its checkpoint folder, as ``painsim sweep`` runs it."""
    out = tmp_path_factory.mktemp("sweeps") / "sobol"
    sim.sweep(sobol_scenario(), backend="serial", out=out, command=["painsim", "sweep", "x"])
    return out


@pytest.mark.slow
def test_an_in_memory_sweep_gives_the_tables_of_a_folder_sweep(sobol_folder):
    memory = sim.sweep(sobol_scenario(), backend="serial")
    assert memory.folder is None and memory.kind == "sweep"
    folder = pd.read_parquet(sobol_folder / "sweep.parquet")
    pd.testing.assert_frame_equal(comparable(memory.table), comparable(folder), check_exact=True)
    pd.testing.assert_frame_equal(
        memory.sensitivity, pd.read_csv(sobol_folder / "sensitivity.csv"), rtol=1e-15
    )
    assert (memory.computed, memory.kept, memory.failed) == (20, 0, 0)


@pytest.mark.slow
def test_a_saved_sweep_loads_back_with_the_same_tables_and_plan(tmp_path, sobol_folder):
    result = sim.load(sobol_folder)
    assert type(result).__name__ == "SweepResult" and result.folder == sobol_folder
    assert (result.method, result.targets, result.outcomes, result.horizon) == (
        "sobol",
        ["drift.rate", "cohort.coping_mean", "arms.CBT.0.start_year"],
        ("dmn_perturbation", "pain"),
        2.5,
    )
    assert result.command == ["painsim", "sweep", "x"] and result.run_id
    copy = result.save(tmp_path / "copy")
    again = load_sweep(copy)
    pd.testing.assert_frame_equal(again.table, result.table)
    pd.testing.assert_frame_equal(again.sensitivity, result.sensitivity)
    np.testing.assert_array_equal(again.plan.matrix, result.plan.matrix)
    assert again.plan.design == result.plan.design and again.run_id == result.run_id
    original = json.loads((sobol_folder / "manifest.json").read_text())
    copied = json.loads((copy / "manifest.json").read_text())
    assert copied["sweep"] == original["sweep"] and copied["files"] == original["files"]


def test_an_in_memory_sweep_saves_the_folder_painsim_sweep_writes(tmp_path):
    data = tiny(grid={"drift.rate": [0.1, 0.4]}, replicates=1)
    result = sim.sweep(data, backend="serial", command=["python"])
    folder = result.save(results_root=tmp_path)
    assert folder == tmp_path / "tiny-sweep" / result.run_id
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "sweep.parquet"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["kind"] == "sweep" and manifest["command"] == ["python"]
    assert manifest["sweep"]["sessions"][0]["backend"] == "serial"
    assert not list(tmp_path.rglob(".*"))  # staged, then renamed: nothing hidden left


@pytest.mark.slow
def test_a_damaged_sweep_folder_gives_one_line_naming_the_file(tmp_path, sobol_folder):
    from sim.results.run import ResultsError

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_bytes((sobol_folder / "manifest.json").read_bytes())
    table = pd.read_parquet(sobol_folder / "sweep.parquet")
    table.head(5).to_parquet(broken / "sweep.parquet")
    with pytest.raises(ResultsError, match=r"sweep\.parquet: 5 rows, the sweep has 40"):
        sim.load(broken)


def test_loading_a_sweep_scenario_imports_neither_model_nor_engine():
    code = (
        "import sys\n"
        "from sim.scenario import load_scenario\n"
        "load_scenario('scenarios/sensitivity.toml')\n"
        "heavy = ['sim.core.model', 'sim.experiments', 'pandas', 'tqdm', 'SALib', 'dask']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
