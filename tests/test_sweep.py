"""Sweeps and sensitivity analysis: designs, seeds, backends, resuming, failures, bad input."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import sim.experiments.sweep as sweep_module
from sim.experiments.run import run_replicate
from sim.experiments.sweep import (
    analyze_design,
    horizon_stops,
    plan_sweep,
    run_seed,
    run_sweep,
    sample_design,
)
from sim.interfaces.cli import app
from sim.scenario import load_scenario, parse_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
runner = CliRunner()

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

# Slow enough runs (about 0.4 s each) that a sweep can be stopped halfway.
SLOW_TOML = """
[scenario]
name = "slow sweep"
seed = 9
years = 12
dt_weeks = 1

[cohort]
size = 4000

[sweep]
replicates = 2
outcomes = ["dmn_perturbation", "coping"]

[sweep.grid]
"drift.rate" = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
"""


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


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def comparable(table: pd.DataFrame) -> pd.DataFrame:
    """A sweep table without its only non-deterministic column, the run time."""
    return table.drop(columns="run_seconds")


def visible(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def assert_one_line_error(result, *fragments: str) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("painsim: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.output
    return lines[0]


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


def test_each_run_has_its_own_seed_and_all_arms_of_a_run_share_it(tmp_path):
    result = run_sweep(
        parse_scenario(tiny()), backend="serial", out=tmp_path / "out", progress=False
    )
    seeds = result.table.groupby(["point", "replicate"])["seed"]
    assert (seeds.nunique() == 1).all()  # virtual twins: one seed for every arm
    assert seeds.first().nunique() == 4 * 2
    assert seeds.first().loc[(3, 1)] == run_seed(5, 3, 1)


def test_common_random_numbers_give_every_point_the_same_seeds():
    plan = plan_sweep(parse_scenario(tiny(common_random_numbers=True)))
    assert {plan.seed(p, 0) for p in range(plan.n_points)} == {run_seed(5, 0, 0)}
    assert plan.seed(2, 1) == run_seed(5, 0, 1) != plan.seed(2, 0)


def test_a_run_gives_the_numbers_painsim_run_gives_with_its_seed_at_that_horizon(tmp_path):
    data = tiny(horizon_years=2.0)  # a record time of the scenario
    result = run_sweep(parse_scenario(data), backend="serial", out=tmp_path / "out", progress=False)
    plan = result.plan
    row = result.table.query("point == 3 and replicate == 1 and arm == 'CBT'").iloc[0]
    patients = run_replicate(plan.point_scenario(3, int(row["seed"])), 0, "CBT").patients
    at_horizon = patients[patients["year"] == 2.0]
    assert row["dmn_perturbation"] == pytest.approx(
        at_horizon["dmn_perturbation"].mean(), rel=1e-12
    )
    assert row["share_chronic"] == pytest.approx((at_horizon["stage"] == "chronic").mean())
    assert row["arms.CBT.0.start_year"] == 1.5 and row["drift.rate"] == 0.4


def test_horizon_stops_follow_the_record_times_of_painsim_run():
    run = parse_scenario({"scenario": {"name": "x", "years": 5, "record_every_years": 2}})
    assert horizon_stops(run.scenario, 5.0) == [2.0, 4.0, 5.0]
    assert horizon_stops(run.scenario, 3.0) == [2.0, 3.0]


# -- backends -----------------------------------------------------------------------------------
def test_serial_process_and_dask_backends_give_identical_tables(tmp_path):
    scenario = parse_scenario(tiny())
    tables = {
        backend: comparable(
            run_sweep(
                scenario, backend=backend, workers=2, out=tmp_path / backend, progress=False
            ).table
        )
        for backend in ("serial", "process", "dask")
    }
    assert len(tables["serial"]) == 4 * 2 * 2  # points x replicates x arms
    assert (tables["serial"]["status"] == "ok").all()
    pd.testing.assert_frame_equal(tables["serial"], tables["process"])
    pd.testing.assert_frame_equal(tables["serial"], tables["dask"])


def test_a_failing_run_is_recorded_with_its_error_and_the_others_finish(tmp_path, monkeypatch):
    real = sweep_module.horizon_outcomes

    def flaky(scenario, arm, horizon, outcomes):
        if (
            scenario.params.drift.rate == 0.4
            and scenario.arm(arm).interventions
            and scenario.arm(arm).interventions[0].start_year == 0.5
        ):
            raise FloatingPointError("overflow in drift\nsecond line")
        return real(scenario, arm, horizon, outcomes)

    monkeypatch.setattr(sweep_module, "horizon_outcomes", flaky)
    result = run_sweep(
        parse_scenario(tiny()), backend="serial", out=tmp_path / "out", progress=False
    )
    failed = result.table[result.table["status"] == "failed"]
    assert set(zip(failed["point"], failed["arm"], strict=True)) == {(2, "CBT")}
    assert len(failed) == 2  # both replicates
    assert failed["error"].eq("FloatingPointError: overflow in drift second line").all()
    assert failed["dmn_perturbation"].isna().all()
    assert (result.table.drop(failed.index)["status"] == "ok").all()
    assert result.failed == 2 and any("2 of 8 runs failed" in n for n in result.notes)


# -- results folder, resume, interrupt ----------------------------------------------------------
def test_cli_sweep_writes_the_documented_folder_and_prints_point_means(tmp_path, write_toml):
    out = tmp_path / "out"
    result = invoke(
        "sweep",
        write_toml(GRID_TOML),
        "--backend",
        "serial",
        "--out",
        out,
        "--no-progress",
        "--no-figures",
    )
    assert result.exit_code == 0, result.output
    assert "4 points x 2 replicates x 2 arms = 8 runs" in result.stdout
    assert result.stdout.rstrip().endswith(f"results: {out}")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "figures",
        "figures/grid_dmn_perturbation.png",
        "figures/grid_pain.png",
        "figures/grid_share_chronic.png",
        "manifest.json",
        "sweep.parquet",
    ]
    table = pd.read_parquet(out / "sweep.parquet")
    assert list(table.columns) == [
        "point",
        "replicate",
        "arm",
        "seed",
        "drift.rate",
        "arms.CBT.0.start_year",
        "year",
        "dmn_perturbation",
        "pain",
        "share_chronic",
        "run_seconds",
        "status",
        "error",
    ]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sweep"]["runs"] == 8 and manifest["sweep"]["method"] == "grid"
    assert manifest["files"] == sorted(
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()
    )
    assert manifest["sessions"][0]["backend"] == "serial"
    assert not list(tmp_path.glob(".*"))  # no work folder left


def stop_midway(command: list[str], root: Path, pattern: str, stop: int) -> tuple[int, str]:
    """Start a sweep, send ``stop`` once a run file matching ``pattern`` exists below ``root``.

    Returns the exit status (negative: killed by that signal) and what it wrote on stderr.
    """
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while len(list(root.glob(pattern))) < 3:
            assert proc.poll() is None, f"the sweep ended too early: {proc.stderr.read()}"
            assert time.monotonic() < deadline, "no runs were written"
            time.sleep(0.02)
        proc.send_signal(stop)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, stderr


def test_resume_after_sigkill_ends_with_the_uninterrupted_table_and_repeats_nothing(
    tmp_path, write_toml, monkeypatch
):
    scenario_file = write_toml(SLOW_TOML)
    out = tmp_path / "killed"
    command = [
        sys.executable,
        "-m",
        "sim.interfaces.cli",
        "sweep",
        str(scenario_file),
        "--backend",
        "serial",
        "--out",
        str(out),
        "--no-progress",
        "--no-figures",
    ]
    status, _ = stop_midway(command, tmp_path, ".killed.partial/points/*.parquet", signal.SIGKILL)
    assert status == -signal.SIGKILL
    assert not out.exists()  # an incomplete sweep is only the hidden .partial folder
    finished = {p.name for p in (tmp_path / ".killed.partial" / "points").glob("*.parquet")}
    before = {(int(name[:7]), int(name[8:12])) for name in finished}
    assert 3 <= len(before) < 12

    computed = []
    real = sweep_module.run_task
    monkeypatch.setattr(
        sweep_module,
        "run_task",
        lambda task: computed.append((task.point, task.replicate)) or real(task),
    )
    scenario = load_scenario(scenario_file)
    resumed = run_sweep(scenario, backend="serial", resume=True, out=out, progress=False)
    assert sorted(computed) == sorted(set(resumed.plan.runs()) - before)  # each once, no more
    assert (resumed.kept, resumed.computed) == (len(before), 12 - len(before))
    assert resumed.folder == out and not (tmp_path / ".killed.partial").exists()

    monkeypatch.setattr(sweep_module, "run_task", real)
    whole = run_sweep(scenario, backend="serial", out=tmp_path / "whole", progress=False)
    pd.testing.assert_frame_equal(comparable(resumed.table), comparable(whole.table))
    pd.testing.assert_frame_equal(pd.read_parquet(out / "sweep.parquet"), resumed.table)
    sessions = json.loads((out / "manifest.json").read_text())["sessions"]
    assert [s["runs_already_finished"] for s in sessions] == [0, len(before)]


def test_ctrl_c_stops_the_workers_keeps_finished_runs_and_says_how_to_resume(tmp_path, write_toml):
    scenario_file = write_toml(SLOW_TOML)
    root = tmp_path / "results"
    command = [
        sys.executable,
        "-m",
        "sim.interfaces.cli",
        "sweep",
        str(scenario_file),
        "--workers",
        "2",
        "--results-root",
        str(root),
        "--no-progress",
        "--no-figures",
    ]
    status, stderr = stop_midway(
        command, root, "slow-sweep/.*.partial/points/*.parquet", signal.SIGINT
    )
    assert status == 130, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("painsim: interrupted: "), stderr
    assert lines[0].endswith(
        f"continue with: painsim sweep {scenario_file} --resume --results-root {root}"
    )
    assert visible(root) == [root / "slow-sweep"]  # only the hidden work folder inside

    resumed = invoke(
        "sweep",
        scenario_file,
        "--resume",
        "--results-root",
        root,
        "--backend",
        "serial",
        "--no-progress",
        "--no-figures",
    )
    assert resumed.exit_code == 0, resumed.output
    assert "kept from before" in resumed.stdout
    (folder,) = (root / "slow-sweep").iterdir()
    assert not folder.name.startswith(".") and (folder / "sweep.parquet").is_file()


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
        ("morris", 4, {"mu_star", "mu", "sigma"}),
        ("latin", 8, {"S1"}),
    ],
)
def test_sample_sweeps_write_finite_sensitivity_indices_and_their_figures(
    tmp_path, method, samples, indices
):
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
    result = run_sweep(parse_scenario(data), backend="serial", out=tmp_path / "out", progress=False)
    sens = pd.read_csv(tmp_path / "out" / "sensitivity.csv")
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
    if method == "sobol":
        assert len(result.table) == samples * (2 + 2)
    for outcome in ("dmn_perturbation", "pain"):
        assert (tmp_path / "out" / "figures" / f"sensitivity_{outcome}.png").is_file()


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
        (["--scheduler", "tcp://127.0.0.1:1"], ["--scheduler", "needs --backend dask"]),
        (["--backend", "mpi"], ["--backend", "'mpi' is not one of process, serial, dask"]),
        (["--workers", "0"], ["--workers", "0 is not at least 1"]),
        (["--resume"], ["no unfinished sweep of this scenario"]),
    ],
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
