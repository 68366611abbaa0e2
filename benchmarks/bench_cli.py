"""The commands people type, timed end to end, against the naive design in the same invocation.

Measures, each command in a fresh process (what a user waits for, import included):

* ``painsim --version``, ``painsim --help`` and ``painsim validate`` (median of repeats);
* ``painsim run`` of 100,000 people x 30 years at weekly steps with yearly records and
  ``--no-figures``: wall time, peak memory (max RSS of the process), size and share of the
  ``patients.parquet`` it wrote, and patient-steps per second;
* the time to write that ``patients.parquet`` again with the options ``painsim run`` uses
  (``sim.results.run.PARQUET_OPTIONS``; the run writes it in row groups as it records, so its
  share of the run's wall time is not separable there);
* the naive design (a NetworkX graph in every Mesa agent, see ``bench_model.py``) in
  patient-steps per second, measured in the same invocation, and the ratio of the two;
* the machine's load averages (1, 5, 15 minutes) before and after, since the machine may be
  shared.

Targets (checked in ``targets`` of the output, never in tests): the run <= 20 s and <= 1 GB peak
and >= 1,500x the naive design's patient-steps per second; ``--version`` and ``--help``
<= 0.5 s; ``validate`` <= 1 s.

Results go to stdout and to ``benchmarks/out/bench_cli.json``.

Usage::

    python benchmarks/bench_cli.py [--patients 100000] [--years 30] [--repeat 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PAINSIM = Path(sys.executable).with_name("painsim")
WEEKS_PER_YEAR = 52.1775


def timed(command: list[str], cwd: Path | None = None) -> dict:
    """Wall time and peak memory of one command run in a child process."""
    wrapper = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
        "dt = time.perf_counter() - t\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6\n"
        "print(json.dumps({'seconds': dt, 'peak_rss_gb': rss, 'returncode': done.returncode,\n"
        "                  'stderr': done.stderr.decode()[-500:]}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", wrapper, *command], capture_output=True, text=True, cwd=cwd
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["returncode"] != 0:
        raise SystemExit(f"{' '.join(command)} failed: {result['stderr']}")
    return result


def median_seconds(command: list[str], repeat: int) -> float:
    return statistics.median(timed(command)["seconds"] for _ in range(repeat))


def parquet_write_seconds(path: Path) -> dict:
    """Rows of a ``patients.parquet`` and the time to write it again as ``painsim run`` does."""
    import pyarrow.parquet as pq

    from sim.results.run import PARQUET_OPTIONS

    table = pq.read_table(path)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        pq.write_table(table, Path(tmp) / "patients.parquet", **PARQUET_OPTIONS)
        seconds = time.perf_counter() - start
    return {
        "patients_parquet_rows": table.num_rows,
        "patients_parquet_write_seconds": seconds,
        "patients_parquet_mb_in_memory": table.nbytes / 1e6,
    }


def naive_rate(patients: int, weeks: int) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            str(HERE / "bench_model.py"),
            "--case",
            "naive",
            "--naive-patients",
            str(patients),
            "--naive-weeks",
            str(weeks),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--years", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--naive-patients", type=int, default=200)
    parser.add_argument("--naive-weeks", type=int, default=104)
    parser.add_argument("--out", type=Path, default=HERE / "out" / "bench_cli.json")
    args = parser.parse_args()

    load_before = os.getloadavg()
    painsim = [str(PAINSIM)]
    scenario_file = str(ROOT / "scenarios" / "natural_history.toml")
    startup = {
        "version_seconds": median_seconds([*painsim, "--version"], args.repeat),
        "help_seconds": median_seconds([*painsim, "--help"], args.repeat),
        "validate_seconds": median_seconds([*painsim, "validate", scenario_file], args.repeat),
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        toml = tmp / "bench.toml"
        toml.write_text(
            '[scenario]\nname = "bench"\nseed = 1\n'
            f"years = {args.years}\ndt_weeks = 1\nrecord_every_years = 1\n"
            f"[cohort]\nsize = {args.patients}\n",
            encoding="utf-8",
        )
        # Warm the Numba caches once (a user's first run compiles; later runs load). 5,000
        # people reach the parallel kernels (sim.core.jit.PARALLEL_MIN_ROWS) a big run uses.
        warm = tmp / "warm.toml"
        warm_size = min(args.patients, 5_000)
        warm.write_text(
            f'[scenario]\nname = "warm"\nyears = 1\n[cohort]\nsize = {warm_size}\n',
            encoding="utf-8",
        )
        timed(
            [
                *painsim,
                "run",
                str(warm),
                "--no-figures",
                "--no-progress",
                "--out",
                str(tmp / "warm"),
            ]
        )
        run = timed(
            [*painsim, "run", str(toml), "--no-figures", "--no-progress", "--out", str(tmp / "run")]
        )
        parquet = tmp / "run" / "patients.parquet"
        run["patients_parquet_mb"] = parquet.stat().st_size / 1e6
        run.update(parquet_write_seconds(parquet))
    steps = round(args.years * WEEKS_PER_YEAR)
    run["patient_steps_per_second"] = args.patients * steps / run["seconds"]
    naive = naive_rate(args.naive_patients, args.naive_weeks)
    result = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "date": time.strftime("%Y-%m-%d"),
        "startup": startup,
        "run": {"patients": args.patients, "years": args.years, **run},
        "naive": naive,
        "run_vs_naive": run["patient_steps_per_second"] / naive["patient_steps_per_second"],
        "load_average": {"before": load_before, "after": os.getloadavg()},
    }
    result["targets"] = {
        "run_seconds_max": 20,
        "run_peak_rss_gb_max": 1,
        "run_vs_naive_min": 1500,
        "startup_seconds_max": 0.5,
        "validate_seconds_max": 1,
        "run_ok": run["seconds"] <= 20 and run["peak_rss_gb"] <= 1,
        "run_vs_naive_ok": result["run_vs_naive"] >= 1500,
        "startup_ok": max(startup["version_seconds"], startup["help_seconds"]) <= 0.5,
        "validate_ok": startup["validate_seconds"] <= 1,
    }
    result["run"].pop("stderr", None)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
