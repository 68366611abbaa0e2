"""Throughput of ``painsim sweep`` on each backend, and the overhead of Dask, in one run.

The same kind of sweep (a grid of ``drift.rate`` values, one replicate, one arm; each run is
``--patients`` people x 20 years at weekly steps, about a second) runs on each backend:

* ``serial``: one process (the model's Numba kernels may use both cores while recording);
* ``process``: ``--workers`` local worker processes (one Numba thread each);
* ``dask``: a ``dask.distributed`` LocalCluster on 127.0.0.1 with ``--workers`` single-threaded
  workers.

Each backend runs a sweep of ``--points`` points and one of twice as many. Wall time of the
whole ``run_sweep`` call (workers started, every run, tables, figures) is T(n) = fixed + n x
per_point, so

* ``per_point_s`` = (T(2n) − T(n)) / n is the steady cost of a point, and 1 / per_point_s the
  throughput, with start-up and the final tables cancelled out;
* ``fixed_s`` = T(n) − n x per_point_s is the one-off cost (mostly starting workers, which
  import painsim: about 2 s here);
* ``throughput_vs_serial`` = per_point_s(serial) / per_point_s(backend) (target for 2 workers on
  2 cores: >= 1.8);
* ``dask_overhead_per_point`` = per_point_s(dask) / per_point_s(process) − 1: what Dask costs
  per point beyond a plain process pool (target: < 5 %);
* ``wall_speedup`` = T_serial(n) / T_backend(n), start-up included, for both sizes.

Tables of all backends are checked to be identical. Figures are only meaningful on an otherwise
idle machine. Results go to stdout and ``benchmarks/out/bench_sweep.json``.

Usage::

    python benchmarks/bench_sweep.py [--points 16] [--patients 15000] [--workers 2] [--out FILE]
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

from sim.scenario import parse_scenario
from sim.sweep import run_sweep

BACKENDS = ("serial", "process", "dask")


def bench_scenario(points: int, patients: int, offset: float = 0.0):
    """A grid of ``points`` drift rates (shifted by ``offset``), one replicate, one arm."""
    rates = np.round(np.linspace(0.05, 0.6, points) + offset, 5).tolist()
    return parse_scenario({
        "scenario": {"name": "bench sweep", "seed": 3, "years": 20, "dt_weeks": 1},
        "cohort": {"size": patients},
        "sweep": {"grid": {"drift.rate": rates}, "outcomes": ["dmn_perturbation", "pain"]},
    }, "bench")


def timed_sweep(scenario, backend: str, workers: int, folder: Path) -> tuple[float, pd.DataFrame]:
    start = time.perf_counter()
    result = run_sweep(scenario, backend=backend, workers=workers, out=folder, progress=False)
    return time.perf_counter() - start, result.table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=16)
    parser.add_argument("--patients", type=int, default=15000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help="comma-separated subset of serial,process,dask (serial first)")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent / "out" / "bench_sweep.json")
    args = parser.parse_args()
    n = args.points
    backends = [b for b in BACKENDS if b in args.backends.split(",")]
    small = bench_scenario(n, args.patients)
    large = bench_scenario(2 * n, args.patients, offset=0.001)
    cases: dict[str, dict] = {}
    tables: dict[str, pd.DataFrame] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            t_small, tables[backend] = timed_sweep(small, backend, args.workers,
                                                   Path(tmp) / f"{backend}-small")
            t_large, _ = timed_sweep(large, backend, args.workers, Path(tmp) / f"{backend}-large")
            per_point = (t_large - t_small) / n
            runs = tables[backend]["run_seconds"]
            cases[backend] = {
                f"wall_s_{n}_points": round(t_small, 3),
                f"wall_s_{2 * n}_points": round(t_large, 3),
                "per_point_s": round(per_point, 4),
                "fixed_s": round(t_small - n * per_point, 3),
                "run_s_mean": round(float(runs.mean()), 3),
                "run_s_min": round(float(runs.min()), 3),
            }
    for backend in backends[1:]:
        pd.testing.assert_frame_equal(tables[backends[0]].drop(columns="run_seconds"),
                                      tables[backend].drop(columns="run_seconds"))
    serial = cases.get("serial")
    for backend in [b for b in backends if b != "serial" and serial]:
        case = cases[backend]
        case["throughput_vs_serial"] = round(serial["per_point_s"] / case["per_point_s"], 3)
        case["wall_speedup"] = {
            f"{k}_points": round(serial[f"wall_s_{k}_points"] / case[f"wall_s_{k}_points"], 3)
            for k in (n, 2 * n)}
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(),
                    "load_average_after": round(os.getloadavg()[0], 2)},
        "points": [n, 2 * n], "patients": args.patients, "workers": args.workers,
        "cases": cases,
        "tables_identical": True,
    }
    if "process" in cases and "throughput_vs_serial" in cases["process"]:
        report["throughput_process_vs_serial"] = cases["process"]["throughput_vs_serial"]
    if "process" in cases and "dask" in cases:
        report["dask_overhead_per_point"] = round(
            cases["dask"]["per_point_s"] / cases["process"]["per_point_s"] - 1, 4)
    text = json.dumps(report, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
