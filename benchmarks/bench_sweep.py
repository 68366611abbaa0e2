"""Throughput of ``painsim sweep`` on each backend, and the overhead of Dask, in one run.

The same sweep (a grid of ``--points`` values of ``drift.rate``, one replicate, one arm, runs
of about a second: ``--patients`` people x 20 years at weekly steps) runs three times:

* ``serial``: one process (the model's Numba kernels may use both cores while recording);
* ``process``: 2 local worker processes (one Numba thread each);
* ``dask``: a ``dask.distributed`` LocalCluster on 127.0.0.1 with 2 single-threaded workers.

Every figure is wall time of the whole ``run_sweep`` call (start-up of workers, all runs,
tables, figures), measured in this invocation. Reported:

* ``speedup_process`` and ``speedup_dask``: serial wall time / backend wall time
  (target for 2 workers on 2 cores: >= 1.8);
* ``dask_overhead_vs_process``: dask wall time / process wall time - 1, i.e. what Dask costs
  beyond a plain process pool, per point as a share of the point's time (target: < 5 %);
* ``overhead_per_point``: (wall time x workers - summed run time) / points, as a share of the
  mean run time: everything that is not simulation, start-up included;
* ``startup_s``: time to get workers ready (the process pool: its first trivial task; Dask:
  LocalCluster plus painsim imported on every worker).

The three tables are checked to be identical. Results go to stdout and
``benchmarks/out/bench_sweep.json``.

Usage::

    python benchmarks/bench_sweep.py [--points 16] [--patients 4000] [--workers 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from sim.scenario import parse_scenario
from sim.sweep import _worker_version, dask_client, run_sweep


def bench_scenario(points: int, patients: int):
    """A grid of ``points`` drift rates, one replicate, runs of about a second each."""
    rates = np.round(np.linspace(0.05, 0.6, points), 4).tolist()
    return parse_scenario({
        "scenario": {"name": "bench sweep", "seed": 3, "years": 20, "dt_weeks": 1},
        "cohort": {"size": patients},
        "sweep": {"grid": {"drift.rate": rates}, "outcomes": ["dmn_perturbation", "pain"]},
    }, "bench")


def time_backend(scenario, backend: str, workers: int, folder: Path) -> dict:
    start = time.perf_counter()
    result = run_sweep(scenario, backend=backend, workers=workers, out=folder / backend,
                       progress=False)
    wall = time.perf_counter() - start
    runs = result.table["run_seconds"].to_numpy()
    used = 1 if backend == "serial" else workers
    return {
        "wall_s": round(wall, 3),
        "runs": len(runs),
        "run_s_mean": round(float(runs.mean()), 3),
        "run_s_sum": round(float(runs.sum()), 3),
        "overhead_per_point": round(float((wall * used - runs.sum()) / len(runs) / runs.mean()),
                                    4),
        "table": result.table.drop(columns="run_seconds"),
    }


def startup_process(workers: int) -> float:
    start = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        list(pool.map(_worker_version_arg, range(workers)))
    return time.perf_counter() - start


def _worker_version_arg(_: int) -> str:
    return _worker_version()


def startup_dask(workers: int) -> float:
    start = time.perf_counter()
    with dask_client(workers, None):
        ready = time.perf_counter() - start
    return ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=16)
    parser.add_argument("--patients", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent / "out" / "bench_sweep.json")
    args = parser.parse_args()
    scenario = bench_scenario(args.points, args.patients)
    with tempfile.TemporaryDirectory() as tmp:
        cases = {backend: time_backend(scenario, backend, args.workers, Path(tmp))
                 for backend in ("serial", "process", "dask")}
    tables = {name: case.pop("table") for name, case in cases.items()}
    pd.testing.assert_frame_equal(tables["serial"], tables["process"])
    pd.testing.assert_frame_equal(tables["serial"], tables["dask"])
    serial, process, dask = (cases[n]["wall_s"] for n in ("serial", "process", "dask"))
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "points": args.points, "patients": args.patients, "workers": args.workers,
        "cases": cases,
        "startup_s": {"process": round(startup_process(args.workers), 3),
                      "dask": round(startup_dask(args.workers), 3)},
        "speedup_process": round(serial / process, 3),
        "speedup_dask": round(serial / dask, 3),
        "dask_overhead_vs_process": round(dask / process - 1, 4),
        "tables_identical": True,
    }
    text = json.dumps(report, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
