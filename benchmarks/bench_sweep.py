"""Throughput of ``painsim sweep`` on each backend, and the overhead of Dask, in one run.

The same sweep (a grid of ``--points`` values of ``drift.rate``, one replicate, one arm; each
run is ``--patients`` people x ``--years`` (20) at weekly steps, a little over a second) runs on

* ``serial``: one process (the model's Numba kernels may use both cores while recording);
* ``process``: ``--workers`` local worker processes (one Numba thread each);
* ``dask``: a ``dask.distributed`` LocalCluster on 127.0.0.1 with ``--workers`` single-threaded
  workers.

Reported per backend:

* ``wall_s``: the whole ``sim.results.sweep.run_sweep_to_folder`` call, i.e. ``painsim sweep``
  without figures (workers started, every run, tables);
* ``steady_s_per_point``: time between finished runs once every worker is busy (from the 4th
  finished run to the last, divided by the runs in between; completion times are taken where
  ``sim.results.sweep.write_run`` writes each run), i.e. 1 / throughput without start-up and
  final tables;
* ``startup_s``: from the call to the first finished run, minus one run (starting workers,
  which import painsim, and loading the compiled kernels);
* ``throughput_vs_serial`` = steady_s_per_point(serial) / steady_s_per_point(backend) (target
  for 2 workers on 2 cores: >= 1.8) and ``wall_speedup`` = wall_s(serial) / wall_s(backend);
* ``dask_overhead_per_point`` = steady_s_per_point(dask) / steady_s_per_point(process) − 1:
  what Dask costs per point beyond a plain process pool (target: < 5 %).

Tables of all backends are checked to be identical. Figures are only meaningful on an otherwise
idle machine. Results go to stdout and ``benchmarks/out/bench_sweep.json``.

Usage::

    python benchmarks/bench_sweep.py [--points 32] [--patients 17000] [--years 20] [--workers 2]
                                     [--backends serial,process,dask] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import sim.results.sweep
from sim.scenario import parse_scenario

BACKENDS = ("serial", "process", "dask")


def bench_scenario(points: int, patients: int, years: float = 20):
    """A grid of ``points`` drift rates, one replicate, one arm."""
    rates = np.round(np.linspace(0.05, 0.6, points), 5).tolist()
    return parse_scenario(
        {
            "scenario": {"name": "bench sweep", "seed": 3, "years": years, "dt_weeks": 1},
            "cohort": {"size": patients},
            "sweep": {"grid": {"drift.rate": rates}, "outcomes": ["dmn_perturbation", "pain"]},
        },
        "bench",
    )


def timed_sweep(scenario, backend: str, workers: int, folder: Path) -> dict:
    """Run a sweep, noting when each run was finished (as it is written)."""
    finished: list[float] = []
    write = sim.results.sweep.write_run

    def noting(partial, plan, rows):
        finished.append(time.perf_counter())
        return write(partial, plan, rows)

    sim.results.sweep.write_run = noting
    try:
        start = time.perf_counter()
        result = sim.results.sweep.run_sweep_to_folder(
            scenario, backend=backend, workers=workers, out=folder, progress=False
        )
        wall = time.perf_counter() - start
    finally:
        sim.results.sweep.write_run = write
    runs = result.table["run_seconds"].to_numpy()
    steady = (finished[-1] - finished[3]) / (len(finished) - 4)
    return {
        "wall_s": round(wall, 3),
        "steady_s_per_point": round(steady, 4),
        "startup_s": round(finished[0] - start - float(np.median(runs)), 3),
        "run_s_mean": round(float(runs.mean()), 3),
        "run_s_min": round(float(runs.min()), 3),
        "table": result.table.drop(columns="run_seconds"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=32)
    parser.add_argument("--patients", type=int, default=17000)
    parser.add_argument("--years", type=float, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--backends",
        default=",".join(BACKENDS),
        help="comma-separated subset of serial,process,dask",
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "out" / "bench_sweep.json"
    )
    args = parser.parse_args()
    backends = [b for b in BACKENDS if b in args.backends.split(",")]
    scenario = bench_scenario(args.points, args.patients, args.years)
    with tempfile.TemporaryDirectory() as tmp:
        cases = {b: timed_sweep(scenario, b, args.workers, Path(tmp) / b) for b in backends}
    tables = {b: case.pop("table") for b, case in cases.items()}
    for backend in backends[1:]:
        pd.testing.assert_frame_equal(tables[backends[0]], tables[backend])
    report: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_after": round(os.getloadavg()[0], 2),
        },
        "points": args.points,
        "patients": args.patients,
        "years": args.years,
        "workers": args.workers,
        "cases": cases,
        "tables_identical": True,
    }
    if "serial" in cases:
        for backend in backends[1:]:
            case = cases[backend]
            case["throughput_vs_serial"] = round(
                cases["serial"]["steady_s_per_point"] / case["steady_s_per_point"], 3
            )
            case["wall_speedup"] = round(cases["serial"]["wall_s"] / case["wall_s"], 3)
    if "process" in cases and "dask" in cases:
        report["dask_overhead_per_point"] = round(
            cases["dask"]["steady_s_per_point"] / cases["process"]["steady_s_per_point"] - 1, 4
        )
    text = json.dumps(report, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
