"""The benchmark scripts run, in tiny configurations, and report what their README says.

Speed is never asserted here (machines are noisy; see benchmarks/README.md): these tests keep
each script's logic honest — it runs through the same code paths as a real measurement, its
report has the promised fields, the figures it computes are consistent with each other, and
what it checks (tables identical across backends, metrics equal to NetworkX) holds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"

pytestmark = pytest.mark.slow  # each script starts processes; together about half a minute


def run_benchmark(script: str, tmp_path: Path, *args: str) -> dict:
    """Run ``benchmarks/<script>`` as a user does, with this checkout importable; its JSON."""
    out = tmp_path / f"{Path(script).stem}.json"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args, "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text(encoding="utf-8"))
    assert json.loads(done.stdout[done.stdout.index("{") :]) == report  # stdout = the file
    return report


def painsim_command_exists() -> bool:
    return Path(sys.executable).with_name("painsim").exists()


@pytest.mark.skipif(not painsim_command_exists(), reason="the painsim command is not installed")
def test_bench_cli_times_the_commands_and_the_naive_design_in_one_run(tmp_path):
    report = run_benchmark(
        "bench_cli.py",
        tmp_path,
        *("--patients", "200", "--years", "2", "--repeat", "1"),
        *("--naive-patients", "4", "--naive-weeks", "3"),
    )
    startup, run, naive = report["startup"], report["run"], report["naive"]
    assert all(startup[k] > 0 for k in ("version_seconds", "help_seconds", "validate_seconds"))
    assert run["patients"] == 200 and run["years"] == 2
    # 2 years of weekly steps (104) per patient, over the measured wall time
    assert run["patient_steps_per_second"] == pytest.approx(200 * 104 / run["seconds"])
    # yearly records at 0, 1, 2 years: three rows per patient
    assert run["patients_parquet_rows"] == 200 * 3
    assert 0 < run["patients_parquet_mb"] < run["patients_parquet_mb_in_memory"]
    assert run["patients_parquet_write_seconds"] > 0
    assert naive["patients"] == 4 and naive["weeks"] == 3
    assert report["run_vs_naive"] == pytest.approx(
        run["patient_steps_per_second"] / naive["patient_steps_per_second"]
    )
    assert len(report["load_average"]["before"]) == 3
    assert set(report["targets"]) >= {"run_ok", "run_vs_naive_ok", "startup_ok", "validate_ok"}


def test_bench_model_reports_the_full_case_its_tenth_and_the_naive_design(tmp_path):
    report = run_benchmark(
        "bench_model.py",
        tmp_path,
        *("--patients", "500", "--years", "1", "--no-warm-up"),
        *("--naive-patients", "4", "--naive-weeks", "3"),
    )
    full, tenth = report["full"], report["tenth"]
    assert (full["patients"], tenth["patients"]) == (500, 50)
    assert full["weekly_steps"] == 52
    # the parts add up to no more than the whole
    assert full["seconds_init"] + full["seconds_stepping"] + full["seconds_recording"] <= (
        full["seconds_total"] * 1.001
    )
    assert report["scaling_ratio_time_10x_patients"] == pytest.approx(
        full["seconds_total"] / tenth["seconds_total"]
    )
    assert report["speedup_vs_naive_patient_steps"] == pytest.approx(
        full["patient_steps_per_second"] / report["naive"]["patient_steps_per_second"]
    )


def test_bench_metrics_agrees_with_networkx(tmp_path):
    report = run_benchmark(
        "bench_metrics.py", tmp_path, "--graphs", "40", "--reference-graphs", "10"
    )
    assert report["n_graphs"] == 40 and report["n_reference_graphs"] == 10
    assert 0 < report["edge_density"] < 1  # thresholded graphs neither empty nor complete
    assert report["max_abs_diff"] < 1e-9
    assert report["speedup"] == pytest.approx(
        report["networkx_us_per_graph"] / report["numba_us_per_graph"]
    )
    assert report["record_path_identical"] is True  # metrics_from_edges: the same numbers


def test_bench_sweep_gives_identical_tables_on_every_backend(tmp_path):
    report = run_benchmark(
        "bench_sweep.py",
        tmp_path,
        *("--points", "6", "--patients", "60", "--years", "1", "--workers", "2"),
        *("--backends", "serial,process,dask"),
    )
    assert (report["points"], report["patients"], report["years"]) == (6, 60, 1)
    assert report["tables_identical"] is True
    assert set(report["cases"]) == {"serial", "process", "dask"}
    for case in report["cases"].values():
        assert case["wall_s"] > 0 and case["steady_s_per_point"] > 0
    assert "dask_overhead_per_point" in report
    assert report["cases"]["process"]["throughput_vs_serial"] > 0


def test_bench_app_times_every_simulated_year_with_and_without_treatment(tmp_path):
    pytest.importorskip("solara")
    report = run_benchmark("bench_app.py", tmp_path, "--patients", "50", "--years", "3")
    runs = {r["intervention"]: r for r in report["runs"]}
    assert set(runs) == {"none", "CBT"}
    for r in runs.values():
        assert r["years"] == 3  # one step per year up to the (shortened) horizon
        assert 0 < r["median_year_s"] <= r["worst_year_s"]
