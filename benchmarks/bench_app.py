"""Time one simulated year of the teaching page, including a full redraw of every view.

Builds the page's model (:class:`sim.interfaces.app.TeachingModel`) for a 500-patient cohort from
``scenarios/classroom.toml``, renders the page's main area (:func:`sim.interfaces.app.Views`:
monitors, the perturbation plot, the brain, the info panel) headlessly with ``solara.render``, then
times, for every simulated year, what a press of Step costs: ``model.step()`` (one year for the
cohort and, with a treatment, its usual-care twin), then Mesa's refresh counter, which makes Solara
redraw every view (two matplotlib figures rendered to PNG). Sending the images to a browser is not
included. Reported per year: median and worst wall-clock time and median CPU time of this process
(less disturbed by other load), without and with a treatment (CBT, early).

Usage, with painsim and its page dependencies installed (``pip install -e .``)::

    python benchmarks/bench_app.py [--patients 500] [--years N] [--out FILE.json]

``--years`` shortens the scenario's horizon (default: its 20 years; tests use a few).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import solara

from sim.interfaces.app import TeachingModel, Views
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 0.5


def time_years(patients: int, intervention: str, years: float | None = None) -> dict[str, float]:
    """Seconds per simulated year (step + redraw of all views) over the scenario's horizon."""
    from mesa.visualization.utils import force_update

    base = load_scenario(ROOT / "scenarios" / "classroom.toml")
    if years is not None:
        base = base.model_copy(
            update={"scenario": base.scenario.model_copy(update={"years": years})}
        )
    start = time.perf_counter()
    model = TeachingModel(cohort_size=patients, intervention=intervention, base=base)
    solara.render(Views(model), handle_error=False)
    first_render = time.perf_counter() - start
    seconds, cpu = [], []
    while model.running:
        start, start_cpu = time.perf_counter(), time.process_time()
        model.step()
        force_update()  # what Step does after stepping: every view redraws
        seconds.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return {
        "intervention": intervention,
        "years": len(seconds),
        "setup_and_first_render_s": round(first_render, 3),
        "median_year_s": round(statistics.median(seconds), 3),
        "worst_year_s": round(max(seconds), 3),
        "median_year_cpu_s": round(statistics.median(cpu), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=500)
    parser.add_argument("--years", type=float, default=None, help="horizon (default: 20)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "bench_app.json")
    args = parser.parse_args()
    # warm-up: JIT kernels, norms, fonts, brain outline
    time_years(args.patients, "none", args.years)
    runs = [time_years(args.patients, name, args.years) for name in ("none", "CBT")]
    result = {
        "patients": args.patients,
        "target_s_per_year": TARGET_SECONDS,
        "runs": runs,
        "meets_target": all(r["median_year_s"] < TARGET_SECONDS for r in runs),
    }
    text = json.dumps(result, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
