"""Throughput and memory of the whole model, and the naive design it replaces, in one run.

Measures, each in a fresh subprocess so that peak memory (max RSS) belongs to that case alone:

* ``full``: 100,000 patients x 30 years at weekly steps, metrics recorded every year (the
  target: <= 20 s and <= 2 GB on a 2-core machine);
* ``scaling``: the same at 10,000 patients (cost should be linear in cohort size);
* ``naive``: a NetworkX graph inside every Mesa agent, updated edge by edge with one normal
  draw per edge per week, for a small cohort; reported as patient-steps per second.

Ratios are computed from figures measured in the same invocation. Results go to stdout and to
``benchmarks/out/bench_model.json``.

Usage::

    python benchmarks/bench_model.py [--patients 100000] [--years 30] [--no-warm-up] [--out FILE]

``--no-warm-up`` skips the first, unreported run that loads the Numba caches (for tests).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import mesa
import networkx as nx

from sim.core.brain import build_brain
from sim.core.metrics import networkx_metrics
from sim.core.model import PainModel
from sim.scenario import Scenario


def time_model(patients: int, years: float) -> dict:
    """Run the model once (weekly steps, yearly snapshots) and time its parts."""
    s = Scenario.model_validate(
        {
            "scenario": {"name": "bench", "years": years, "dt_weeks": 1.0},
            "cohort": {"size": patients},
        }
    )
    start = time.perf_counter()
    model = PainModel(s, create_agents=True)
    built = time.perf_counter()
    stepping = recording = 0.0
    for year in range(int(years) + 1):
        t0 = time.perf_counter()
        model.run_until(float(year))
        t1 = time.perf_counter()
        model.snapshot()
        recording += time.perf_counter() - t1
        stepping += t1 - t0
    total = time.perf_counter() - start
    steps = round(years * 52.1775)
    return {
        "patients": patients,
        "years": years,
        "weekly_steps": steps,
        "seconds_total": total,
        "seconds_init": built - start,
        "seconds_stepping": stepping,
        "seconds_recording": recording,
        "patient_steps_per_second": patients * steps / total,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
    }


class NaivePatient(mesa.Agent):
    """The design painsim avoids: a NetworkX graph per agent, a Python loop over edges."""

    def __init__(self, model: mesa.Model, template: nx.Graph):
        super().__init__(model)
        self.graph = template.copy()
        self.in_pain = False

    def step(self) -> None:
        rng = self.model.rng
        if rng.random() < 0.002:
            self.in_pain = not self.in_pain
        for _, _, data in self.graph.edges(data=True):
            drift = -0.001 if self.in_pain else 0.0
            data["weight"] = min(
                0.99, max(0.0, data["weight"] + drift + 0.001 * rng.standard_normal())
            )


class NaiveModel(mesa.Model):
    def __init__(self, patients: int, seed: int = 0):
        super().__init__(rng=seed)
        template = build_brain().graph
        NaivePatient.create_agents(self, patients, template=template)

    def step(self) -> None:
        self.agents.do("step")


def time_naive(patients: int, weeks: int) -> dict:
    """Patient-steps per second of the naive design, with yearly NetworkX metrics."""
    model = NaiveModel(patients)
    start = time.perf_counter()
    for week in range(weeks):
        model.step()
        if week % 52 == 0:
            for agent in model.agents:
                g = nx.Graph(
                    (u, v, d) for u, v, d in agent.graph.edges(data=True) if d["weight"] >= 0.15
                )
                g.add_nodes_from(agent.graph)
                networkx_metrics(g)
    seconds = time.perf_counter() - start
    return {
        "patients": patients,
        "weeks": weeks,
        "seconds_total": seconds,
        "patient_steps_per_second": patients * weeks / seconds,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
    }


def in_subprocess(case: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--case", case, *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--years", type=float, default=30.0)
    parser.add_argument("--naive-patients", type=int, default=200)
    parser.add_argument("--naive-weeks", type=int, default=104)
    parser.add_argument("--no-warm-up", dest="warm_up", action="store_false")
    parser.add_argument("--case", choices=["model", "naive"], help=argparse.SUPPRESS)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "out" / "bench_model.json"
    )
    args = parser.parse_args()
    if args.case == "model":
        print(json.dumps(time_model(args.patients, args.years)))
        return
    if args.case == "naive":
        print(json.dumps(time_naive(args.naive_patients, args.naive_weeks)))
        return

    if args.warm_up:
        in_subprocess("model", "--patients", "1000", "--years", "1")  # compile/load JIT caches
    full = in_subprocess("model", "--patients", str(args.patients), "--years", str(args.years))
    small = in_subprocess(
        "model", "--patients", str(args.patients // 10), "--years", str(args.years)
    )
    naive = in_subprocess(
        "naive",
        "--naive-patients",
        str(args.naive_patients),
        "--naive-weeks",
        str(args.naive_weeks),
    )
    naive_hours = args.patients * full["weekly_steps"] / naive["patient_steps_per_second"] / 3600
    report = {
        "machine": {"python": platform.python_version(), "cpus": len(os.sched_getaffinity(0))},
        "full": full,
        "tenth": small,
        "naive": naive,
        "scaling_ratio_time_10x_patients": full["seconds_total"] / small["seconds_total"],
        "speedup_vs_naive_patient_steps": full["patient_steps_per_second"]
        / naive["patient_steps_per_second"],
        "naive_hours_for_full_case": naive_hours,
        "targets": {
            "full_seconds_max": 20,
            "peak_rss_gb_max": 2,
            "full_ok": full["seconds_total"] <= 20 and full["peak_rss_gb"] <= 2,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
