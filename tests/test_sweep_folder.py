"""Sweeps through their results folder: layout, backends, SIGKILL and resume, Ctrl-C, full disk."""

from __future__ import annotations

import errno
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from support import invoke
from test_sweep import GRID_TOML, comparable, tiny

import sim
import sim.experiments.sweep.engine as engine
import sim.results.sweep as store
from sim.scenario import load_scenario, parse_scenario

# Slow enough runs (about 0.4 s each) that a sweep can be stopped halfway: the stop comes within
# a poll (20 ms) of the third of 12 run files, so the other 9 (4 to 5 run times on two workers)
# are the margin. history = "none": the years of pain before year 0 took three quarters of each
# run and nothing here depends on them; the SIGKILL test simulates about 24 runs.
# Slow enough that a signal sent after the third finished run lands well before the last one,
# even on a loaded machine (12 runs of 14 years; about 6 s on 2 idle cores with 8 years).
# Twelve runs of about a quarter of a second each on two workers: the tests below stop the sweep
# once three have finished, with most of the rest still to run (and to be resumed, serially).
SLOW_TOML = """
[scenario]
name = "slow sweep"
seed = 9
years = 5
dt_weeks = 1

[cohort]
size = 2000
history = "none"

[sweep]
replicates = 2
outcomes = ["dmn_perturbation", "coping"]

[sweep.grid]
"drift.rate" = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
"""


def visible(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def cli_sweep(*args) -> list[str]:
    """``painsim sweep ARGS`` as a separate process (it can be killed)."""
    return [sys.executable, "-m", "sim.interfaces.cli", "sweep", *map(str, args), "--no-progress"]


# -- the folder ---------------------------------------------------------------------------------
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
    # --no-figures: no figures at all (the sweep itself never draws any)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
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
    assert manifest["kind"] == "sweep"
    assert manifest["sweep"]["runs"] == 8 and manifest["sweep"]["method"] == "grid"
    assert manifest["files"] == ["manifest.json", "sweep.parquet"]
    assert manifest["sweep"]["sessions"][0]["backend"] == "serial"
    assert manifest["command"][:2] == ["painsim", "sweep"]
    assert not list(tmp_path.glob(".*"))  # no work folder left


@pytest.mark.slow  # draws figures; the sweep figures themselves: tests/test_figures.py
def test_cli_sweep_draws_the_sweep_figures_on_the_finished_folder(tmp_path, write_toml):
    out = tmp_path / "out"
    result = invoke("sweep", write_toml(GRID_TOML), "--backend", "serial", "--out", out)
    assert result.exit_code == 0, result.output
    assert f"figures: {out / 'figures' / 'index.html'}" in result.stdout
    assert (out / "figures" / "07a_sweep_dmn_perturbation.png").is_file()
    # figures are not results: the manifest lists the tables only
    assert json.loads((out / "manifest.json").read_text())["files"] == [
        "manifest.json",
        "sweep.parquet",
    ]


@pytest.mark.slow  # starts a process pool and a Dask LocalCluster
def test_serial_process_and_dask_backends_give_identical_tables(tmp_path):
    scenario = parse_scenario(tiny())
    tables = {
        backend: comparable(
            sim.sweep(scenario, backend=backend, workers=2, out=tmp_path / backend).table
        )
        for backend in ("serial", "process", "dask")
    }
    assert len(tables["serial"]) == 4 * 2 * 2  # points x replicates x arms
    assert (tables["serial"]["status"] == "ok").all()
    pd.testing.assert_frame_equal(tables["serial"], tables["process"], check_exact=True)
    pd.testing.assert_frame_equal(tables["serial"], tables["dask"], check_exact=True)


def test_a_second_sweep_on_a_folder_in_use_is_refused(tmp_path):
    out = tmp_path / "out"
    plan = store.plan_sweep(parse_scenario(tiny()))
    partial = store.partial_folder(out)
    partial.mkdir()
    (partial / store.PLAN_FILE).write_text(json.dumps({"fingerprint": plan.fingerprint()}))
    with (
        store.locked(partial),
        pytest.raises(store.SweepError, match="another painsim sweep is working"),
    ):
        sim.sweep(tiny(), backend="serial", out=out, resume=True)


def test_resuming_with_another_scenario_is_refused(tmp_path, write_toml):
    out = tmp_path / "out"
    plan = store.plan_sweep(parse_scenario(tiny()))
    store.partial_folder(out).mkdir()
    record = {"fingerprint": plan.fingerprint()}
    (store.partial_folder(out) / store.PLAN_FILE).write_text(json.dumps(record))
    other = GRID_TOML.replace("seed = 5", "seed = 6")
    result = invoke("sweep", write_toml(other), "--resume", "--out", out, "--no-progress")
    assert result.exit_code == 2
    assert "--resume: " in result.stderr and "made from a different scenario" in result.stderr


# -- interruptions ------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_full_disk_keeps_the_finished_runs_says_so_in_one_line_and_can_be_resumed(
    tmp_path, write_toml, monkeypatch
):
    path = write_toml(GRID_TOML)
    out = tmp_path / "out"
    real = store.write_atomic
    writes = []

    def no_space(path):
        path.write_bytes(b"half a file")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    def filling_up(target, write):
        writes.append(target.name)
        return real(target, no_space if len(writes) > 3 else write)

    monkeypatch.setattr(store, "write_atomic", filling_up)
    result = invoke("sweep", path, "--backend", "serial", "--out", out, "--no-progress")
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("painsim: error: cannot go on (No space left on device); 3 of 8 ")
    assert line.endswith(f"continue with: painsim sweep {path} --resume --out {out}")
    partial = store.partial_folder(out)
    assert len(store.finished_runs(partial)) == 3 and not out.exists()
    # the half-written file was removed; only complete runs are left
    assert not [p for p in (partial / "points").iterdir() if p.name.startswith(".")]

    monkeypatch.setattr(store, "write_atomic", real)
    resumed = invoke("sweep", path, "--backend", "serial", "--out", out, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "(5 computed now, 3 kept from before, 0 failed)" in resumed.stdout
    whole = sim.sweep(tiny(), backend="serial")  # GRID_TOML as a dict
    pd.testing.assert_frame_equal(
        comparable(pd.read_parquet(out / "sweep.parquet")), comparable(whole.table)
    )


def stop_midway(command: list[str], root: Path, pattern: str, stop: int) -> tuple[int, str]:
    """Start a sweep, send ``stop`` once 3 run files matching ``pattern`` exist below ``root``.

    Returns the exit status (negative: killed by that signal) and what it wrote on stderr.
    """
    # A child inherits an ignored or blocked SIGINT, and Python then keeps ignoring Ctrl-C; give
    # the sweep the Ctrl-C of a terminal whatever earlier code in this process did with it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
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


@pytest.mark.slow
def test_resume_after_sigkill_ends_with_the_uninterrupted_table_and_repeats_nothing(
    tmp_path, write_toml, monkeypatch
):
    scenario_file = write_toml(SLOW_TOML)
    out = tmp_path / "killed"
    command = cli_sweep(scenario_file, "--backend", "serial", "--out", out, "--no-figures")
    status, _ = stop_midway(command, tmp_path, ".killed.partial/points/*.parquet", signal.SIGKILL)
    assert status == -signal.SIGKILL
    assert not out.exists()  # an incomplete sweep is only the hidden .partial folder
    finished = {p.name for p in (tmp_path / ".killed.partial" / "points").glob("*.parquet")}
    before = {(int(name[:7]), int(name[8:12])) for name in finished}
    assert 3 <= len(before) < 12

    computed = []
    real = engine.run_task
    monkeypatch.setattr(
        engine, "run_task", lambda task: computed.append((task.point, task.replicate)) or real(task)
    )
    scenario = load_scenario(scenario_file)
    resumed = sim.sweep(scenario, backend="serial", resume=True, out=out)
    assert sorted(computed) == sorted(set(resumed.plan.runs()) - before)  # each once, no more
    assert (resumed.kept, resumed.computed) == (len(before), 12 - len(before))
    assert resumed.folder == out and not (tmp_path / ".killed.partial").exists()

    # The runs kept from the killed sweep are what computing them now gives (the runs computed
    # now are; a resumed table is assembled as an uninterrupted one: the full-disk test above).
    monkeypatch.setattr(engine, "run_task", real)
    again = [
        row
        for rows in engine.run_tasks(resumed.plan, sorted(before), backend="serial")
        for row in rows
    ]
    assert len(again) == len(before)  # one arm
    columns = ["point", "replicate", "arm", "seed", "dmn_perturbation", "coping", "status"]
    kept = resumed.table.set_index(["point", "replicate"]).loc[sorted(before)].reset_index()
    pd.testing.assert_frame_equal(
        kept[columns].reset_index(drop=True),
        pd.DataFrame(again)[columns],
        check_dtype=False,
        check_exact=True,
    )
    pd.testing.assert_frame_equal(pd.read_parquet(out / "sweep.parquet"), resumed.table)
    sessions = json.loads((out / "manifest.json").read_text())["sweep"]["sessions"]
    assert [s["runs_already_finished"] for s in sessions] == [0, len(before)]
    assert sim.load(out).kept == len(before)


@pytest.mark.slow
def test_ctrl_c_stops_the_workers_keeps_finished_runs_and_says_how_to_resume(tmp_path, write_toml):
    scenario_file = write_toml(SLOW_TOML)
    root = tmp_path / "results"
    command = cli_sweep(scenario_file, "--workers", "2", "--results-root", root, "--no-figures")
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
