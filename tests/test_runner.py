"""Results folders: contents, schema, reproducibility, summaries and atomic writing."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from support import run_scenario

import sim.api
from sim.core.model import PainModel
from sim.experiments.run import (
    decade_table,
    override_run,
    record_times,
    run_replicate,
    simulate_replicate,
    steps_per_replicate,
    summarize_horizon,
    summarize_timeseries,
)
from sim.results.folder import OutputFolderError
from sim.results.run import BackgroundSink
from sim.scenario import RunSection, ScenarioError

PATIENT_COLUMNS = [
    "patient_id",
    "arm",
    "replicate",
    "year",
    "age",
    "sex",
    "stage",
    "episodes",
    "years_with_pain",
    "pain",
    "coping",
    "adaptation",
    "dmn_perturbation",
    "char_path_length",
    "mean_degree",
    "mean_strength",
    "closeness",
    "global_efficiency",
    "mpfc_pcc",
    "mpfc_insula",
    "healthy_range",
    "pain_reported",
    "enrolled_year",
    "baseline_pain",
    "responder",
]
SUMMARIZED = [
    "dmn_perturbation",
    "char_path_length",
    "mean_degree",
    "mean_strength",
    "closeness",
    "global_efficiency",
    "mpfc_pcc",
    "mpfc_insula",
    "pain",
    "coping",
    "years_with_pain",
    "healthy_range",
    "responder",
]
SHARES = ["share_none", "share_acute", "share_subacute", "share_chronic"]
RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{4}$")


def read_tables(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return (
        pd.read_parquet(folder / "timeseries.parquet"),
        pd.read_parquet(folder / "patients.parquet"),
        pd.read_csv(folder / "summary.csv"),
    )


def visible_entries(root: Path) -> list[Path]:
    """Everything under ``root`` that is not hidden and not inside a hidden folder."""
    return [
        p
        for p in root.rglob("*")
        if not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]


# -- folder and schema --------------------------------------------------------------------------
def test_results_folder_is_named_by_scenario_slug_and_run_id(small_run):
    assert small_run.parent.name == "small-test"
    assert RUN_ID.match(small_run.name)


def test_results_folder_holds_exactly_the_documented_files(small_run):
    names = sorted(p.name for p in small_run.iterdir())
    assert names == [
        "connectivity.npz",
        "manifest.json",
        "patients.parquet",
        "summary.csv",
        "timeseries.parquet",
    ]
    assert json.loads((small_run / "manifest.json").read_text())["files"] == names


def test_connectivity_file_is_written_only_on_request(tmp_path, small_scenario):
    folder = run_scenario(small_scenario, results_root=tmp_path, progress=False)
    assert not (folder / "connectivity.npz").exists()


def test_patients_table_has_one_row_per_patient_replicate_and_record_time(small_run):
    patients = pd.read_parquet(small_run / "patients.parquet")
    assert list(patients.columns) == PATIENT_COLUMNS
    assert len(patients) == 40 * 2 * 4
    assert not patients.duplicated(["arm", "replicate", "year", "patient_id"]).any()
    assert set(patients["arm"]) == {"usual care"}
    assert set(patients["stage"]) <= {"none", "acute", "subacute", "chronic"}


def test_timeseries_table_has_documented_columns(small_run):
    timeseries = pd.read_parquet(small_run / "timeseries.parquet")
    moments = [f"{name}_{stat}" for name in SUMMARIZED for stat in ("mean", "sd")]
    assert list(timeseries.columns) == [
        "arm",
        "replicate",
        "year",
        "n",
        "n_enrolled",
        *moments,
        *SHARES,
    ]
    assert len(timeseries) == 2 * 4
    assert (timeseries["n"] == 40).all()
    np.testing.assert_allclose(timeseries[SHARES].sum(axis=1), 1.0)


def test_summary_table_has_documented_columns(small_run):
    summary = pd.read_csv(small_run / "summary.csv")
    assert list(summary.columns) == [
        "arm",
        "outcome",
        "mean",
        "ci_low",
        "ci_high",
        "method",
        "replicates",
        "n_patients",
    ]
    assert list(summary["outcome"]) == [*SUMMARIZED, *SHARES]
    assert (summary["replicates"] == 2).all()
    assert (summary["n_patients"] == 40).all()


def test_manifest_records_scenario_versions_and_times(small_run, small_scenario):
    manifest = json.loads((small_run / "manifest.json").read_text())
    assert manifest["scenario"] == small_scenario.resolved()
    assert manifest["run_id"] == small_run.name
    assert (manifest["seed"], manifest["run"]["replicates"]) == (11, 2)
    assert manifest["command"] == ["painsim", "run", "small"]
    assert manifest["painsim_version"]
    assert manifest["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}", manifest["git_commit"])
    assert {"numpy", "pandas", "mesa", "networkx", "scipy", "pydantic", "numba"} <= set(
        manifest["packages"]
    )
    assert manifest["python"].startswith("3.")
    assert manifest["started"] <= manifest["finished"]


def test_connectivity_file_has_one_matrix_per_replicate_and_patient(small_run):
    with np.load(small_run / "connectivity.npz") as data:
        names, coords = data["names"], data["coords"]
        ids, matrices = data["patient_id"], data["connectivity"]
    regions = len(names)
    assert coords.shape == (regions, 3)
    assert ids.tolist() == list(range(40))
    assert matrices.shape == (2, 40, regions, regions)
    assert matrices.dtype == np.float32
    np.testing.assert_array_equal(matrices, matrices.transpose(0, 1, 3, 2))
    np.testing.assert_array_equal(np.diagonal(matrices, axis1=2, axis2=3), 1.0)


# -- reproducibility ----------------------------------------------------------------------------
def test_same_scenario_and_seed_give_identical_tables(tmp_path, small_scenario):
    first = run_scenario(small_scenario, results_root=tmp_path / "a", progress=False)
    second = run_scenario(small_scenario, results_root=tmp_path / "b", progress=False)
    for a, b in zip(read_tables(first), read_tables(second), strict=True):
        assert_frame_equal(a, b)


def test_different_seed_gives_different_tables(tmp_path, make_scenario):
    first = run_scenario(
        make_scenario(scenario={"seed": 1}), results_root=tmp_path / "a", progress=False
    )
    second = run_scenario(
        make_scenario(scenario={"seed": 2}), results_root=tmp_path / "b", progress=False
    )
    for a, b in zip(read_tables(first)[:2], read_tables(second)[:2], strict=True):
        assert not a.equals(b)


def test_replicates_differ_from_each_other(small_scenario):
    columns = ["age", "coping", "dmn_perturbation"]
    first = simulate_replicate(small_scenario, 0)[columns].to_numpy()
    second = simulate_replicate(small_scenario, 1)[columns].to_numpy()
    assert not np.array_equal(first, second)


# -- record grid and progress -------------------------------------------------------------------
def test_record_grid_adds_the_horizon_when_off_grid():
    run = RunSection(name="x", years=2.5, record_every_years=1)
    assert record_times(run).tolist() == [0.0, 1.0, 2.0, 2.5]


def test_record_grid_does_not_repeat_a_horizon_on_the_grid():
    run = RunSection(name="x", years=0.3, record_every_years=0.1, dt_weeks=1)
    assert record_times(run).tolist() == [0.0, 0.1, 0.2, 0.3]


def test_patients_are_recorded_at_every_grid_time_including_the_horizon(small_run):
    years = pd.read_parquet(small_run / "patients.parquet")["year"].unique()
    assert years.tolist() == [0.0, 1.0, 2.0, 2.5]


def test_progress_callback_counts_every_model_step(monkeypatch, small_scenario):
    advances = []
    # A step is advanced whole (fused) or in parts (split by a record time).
    for method in ("_advance_part", "_advance_step"):
        original = getattr(PainModel, method)

        def counting(self, dt_years, original=original):
            advances.append(dt_years)
            original(self, dt_years)

        monkeypatch.setattr(PainModel, method, counting)
    reported = []
    run_replicate(small_scenario, 0, progress=reported.append)
    assert sum(reported) == len(advances) == steps_per_replicate(small_scenario.scenario)


# -- summaries ----------------------------------------------------------------------------------
def test_summary_intervals_contain_the_mean_with_replicates(small_run):
    summary = pd.read_csv(small_run / "summary.csv")
    assert set(summary["method"]) == {"t over replicate means"}
    defined = summary[summary["outcome"] != "responder"]
    assert (defined["ci_low"] <= defined["mean"]).all()
    assert (defined["mean"] <= defined["ci_high"]).all()


def test_one_replicate_gets_the_normal_interval_of_the_mean_over_patients(small_scenario):
    patients = simulate_replicate(small_scenario, 0)
    summary = summarize_horizon(summarize_timeseries(patients), patients).set_index("outcome")
    assert set(summary["method"]) == {
        "normal approximation over patients",
        "Wilson score over patients",
    }
    assert summary.loc["share_chronic", "method"] == "Wilson score over patients"
    coping = patients.loc[patients["year"] == 2.5, "coping"].to_numpy(float)
    half = 1.959964 * coping.std(ddof=1) / np.sqrt(coping.size)
    row = summary.loc["coping"]
    assert row["mean"] == pytest.approx(coping.mean(), rel=1e-6)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(
        (coping.mean() - half, coping.mean() + half), rel=1e-5
    )


def test_responders_are_undefined_without_an_enrolling_arm(small_scenario):
    patients = simulate_replicate(small_scenario, 0)
    summary = summarize_horizon(summarize_timeseries(patients), patients)
    assert summary.set_index("outcome").loc["responder", ["mean", "ci_low", "ci_high"]].isna().all()


def test_interval_leaves_out_missing_values_like_the_timeseries(small_scenario):
    patients = simulate_replicate(small_scenario, 0)
    # A graph with no reachable pair has an undefined path length.
    patients.loc[patients.index[::3], "char_path_length"] = np.nan
    summary = summarize_horizon(summarize_timeseries(patients), patients)
    row = summary.set_index("outcome").loc["char_path_length"]
    kept = patients.loc[patients["year"] == 2.5, "char_path_length"].dropna()
    assert row["mean"] == pytest.approx(kept.mean(), rel=1e-6)
    assert row["ci_low"] < row["mean"] < row["ci_high"]


def test_a_run_saved_from_memory_equals_the_same_run_written_while_running(
    tmp_path, small_scenario
):
    streamed = sim.api.run(small_scenario, out=tmp_path / "streamed", connectivity=True)
    in_memory = sim.api.run(small_scenario, connectivity=True)
    saved = in_memory.save(tmp_path / "saved")
    names = sorted(p.name for p in saved.iterdir())
    assert names == sorted(p.name for p in streamed.folder.iterdir())
    for name in ("patients.parquet", "timeseries.parquet"):
        assert_frame_equal(pd.read_parquet(saved / name), pd.read_parquet(streamed.folder / name))
    assert_frame_equal(
        pd.read_csv(saved / "summary.csv"), pd.read_csv(streamed.folder / "summary.csv")
    )
    loaded = sim.api.load(saved)
    assert_frame_equal(loaded.patients, in_memory.patients)
    assert loaded.run_id == in_memory.run_id and loaded.arms == in_memory.arms


def test_tables_recorded_while_running_equal_tables_made_from_the_patient_rows(small_scenario):
    result = sim.api.run(small_scenario.model_copy(update={}))
    timeseries = summarize_timeseries(result.patients)
    # Patient rows are stored in float32; the run summarizes the full-precision values.
    assert_frame_equal(result.timeseries, timeseries, check_exact=False, rtol=1e-6)
    assert_frame_equal(
        result.summary,
        summarize_horizon(timeseries, result.patients),
        check_exact=False,
        rtol=1e-5,
    )


def test_summary_mean_is_the_mean_of_replicate_means_at_the_horizon(small_run):
    timeseries = pd.read_parquet(small_run / "timeseries.parquet")
    summary = pd.read_csv(small_run / "summary.csv").set_index("outcome")
    at_horizon = timeseries[timeseries["year"] == 2.5]
    assert summary.loc["coping", "mean"] == pytest.approx(at_horizon["coping_mean"].mean())
    assert summary.loc["share_chronic", "mean"] == pytest.approx(at_horizon["share_chronic"].mean())


def test_decade_table_keeps_decades_and_horizon_averaged_over_replicates():
    years = [0.0, 5.0, 10.0, 15.0, 20.0, 25.0]
    rows = [
        {
            "arm": "usual care",
            "replicate": r,
            "year": y,
            "share_none": 1 - y / 100,
            "share_acute": 0.0,
            "share_subacute": 0.0,
            "share_chronic": y / 100,
            "years_with_pain_mean": y / 10 + r,
            "coping_mean": 15.0,
            "dmn_perturbation_mean": 0.8 + r / 10,
        }
        for r in (0, 1)
        for y in years
    ]
    table = decade_table(pd.DataFrame(rows))
    assert table["year"].tolist() == [0.0, 10.0, 20.0, 25.0]
    assert table["% chronic"].tolist() == pytest.approx([0.0, 10.0, 20.0, 25.0])
    assert table["% none"].tolist() == pytest.approx([100.0, 90.0, 80.0, 75.0])
    assert table["years with pain"].tolist() == pytest.approx([0.5, 1.5, 2.5, 3.0])
    assert table["DMN perturbation"].tolist() == pytest.approx([0.85] * 4)
    assert list(table.columns) == [
        "arm",
        "year",
        "% none",
        "% acute",
        "% subacute",
        "% chronic",
        "years with pain",
        "coping (PCS)",
        "DMN perturbation",
    ]


def test_override_run_validates_the_new_values(small_scenario):
    assert override_run(small_scenario, {"seed": 5}).scenario.seed == 5
    with pytest.raises(ScenarioError, match=r"scenario\.replicates"):
        override_run(small_scenario, {"replicates": 0}, "small.toml")


# -- output folder and atomicity ----------------------------------------------------------------
def test_out_folder_is_used_exactly(tmp_path, small_scenario):
    out = tmp_path / "nested" / "mine"
    assert run_scenario(small_scenario, out=out, progress=False) == out
    assert (out / "manifest.json").is_file()
    assert [p.name for p in out.parent.iterdir()] == ["mine"]


def test_empty_existing_out_folder_is_filled(tmp_path, small_scenario):
    out = tmp_path / "empty"
    out.mkdir()
    run_scenario(small_scenario, out=out, progress=False)
    assert (out / "summary.csv").is_file()


def test_existing_non_empty_out_folder_is_refused_and_left_alone(tmp_path, small_scenario):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(OutputFolderError, match="not empty"):
        run_scenario(small_scenario, out=out, progress=False)
    assert [p.name for p in tmp_path.rglob("*")] == ["taken", "notes.txt"]


def test_interrupted_run_leaves_no_results_and_no_temp_folder(
    tmp_path, monkeypatch, small_scenario
):
    original = PainModel.snapshot_later  # what a run records with
    calls = []

    def interrupted_midway(self, **options):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, **options)

    monkeypatch.setattr(PainModel, "snapshot_later", interrupted_midway)
    with pytest.raises(KeyboardInterrupt):
        run_scenario(small_scenario, results_root=tmp_path, progress=False)
    assert len(calls) == 3
    assert list(tmp_path.iterdir()) == []  # not even the parent folder it made


def test_failure_while_writing_files_leaves_no_results_and_no_temp_folder(
    tmp_path, monkeypatch, small_scenario
):
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", disk_full)
    with pytest.raises(OSError, match="No space"):
        run_scenario(small_scenario, results_root=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []  # not even the parent folder it made


def test_a_failed_background_write_of_patient_rows_leaves_no_results(
    tmp_path, monkeypatch, small_scenario
):
    # painsim run writes patients.parquet on a background thread; its error still surfaces.
    import pyarrow.parquet as pq

    def disk_full(self, batch, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_batch", disk_full)
    with pytest.raises(OSError, match="No space"):
        run_scenario(small_scenario, results_root=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_background_sink_writes_in_order_and_raises_a_failed_write():
    written = []

    def write(item):
        time.sleep(0.001 * (item % 3))  # uneven write times keep their order
        if item == 7:
            raise ValueError("cannot write 7")
        written.append(item)

    sink = BackgroundSink(write)
    with pytest.raises(ValueError, match="cannot write 7"), sink:
        for item in range(20):
            sink(item)  # the call after the failed write raises its error
    assert written == list(range(7))


def test_background_sink_raises_a_failed_last_write_when_the_block_ends():
    def write(item):
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"), BackgroundSink(write) as sink:
        sink("rows")


def test_an_error_of_the_block_wins_over_a_failed_background_write():
    def write(item):
        raise OSError("disk gone")

    with pytest.raises(KeyboardInterrupt), BackgroundSink(write) as sink:
        sink("rows")
        raise KeyboardInterrupt


KILLED_SCENARIO = """
[scenario]
name = "killed"
years = 30
dt_weeks = 1
replicates = 3

[cohort]
size = 20000
history = "none"  # the test needs the run to reach its save step within a minute
"""


@pytest.mark.slow  # starts and kills a painsim process
def test_run_killed_with_sigkill_leaves_only_a_hidden_temp_folder(tmp_path, write_toml):
    scenario = write_toml(KILLED_SCENARIO)
    root = tmp_path / "results"
    command = [
        sys.executable,
        "-m",
        "sim.interfaces.cli",
        "run",
        str(scenario),
        "--results-root",
        str(root),
        "--no-progress",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not list((root / "killed").glob(".*.tmp-*")):
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no temporary folder appeared"
            time.sleep(0.02)
        time.sleep(0.5)  # let it get into the simulation
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert visible_entries(root) == [root / "killed"]
    leftovers = [p.name for p in (root / "killed").iterdir()]
    assert len(leftovers) == 1
    assert re.fullmatch(r"\.\d{8}T\d{6}Z-[0-9a-f]{4}\.tmp-\d+", leftovers[0])


def test_records_finished_on_a_second_thread_equal_records_made_in_turn(monkeypatch, make_scenario):
    # record_replicate computes a record's network outcomes while the model steps on, where
    # Numba's threading layer allows it; the rows must be the ones recorded in turn.
    import sim.experiments.run as run_module

    scenario = make_scenario(cohort={"size": 5000}, scenario={"years": 3})
    monkeypatch.setattr(run_module, "concurrent_launches_safe", lambda: False)
    expected = run_replicate(scenario, 0).patients
    monkeypatch.setattr(run_module, "concurrent_launches_safe", lambda: True)
    got = run_replicate(scenario, 0).patients
    assert_frame_equal(got, expected)
