"""Compile every Numba kernel of painsim once, into Numba's on-disk cache.

painsim's kernels compile on first use (:mod:`sim.core.jit`) and are cached beside their
modules, so every later process loads them in a fraction of a second. On a fresh install the
first run of a scenario compiles them instead, about 25 s of one core, and processes that start
at the same time (the test suite's workers, a sweep's worker processes) each compile the same
kernels. Run this module once after installing (the README's set-up command does)::

    python -m sim.experiments.precompile

It runs small cases through the code paths that use each kernel, with the argument types real
runs pass, so that they find the compiled code: a short run with pain histories, arms'
enrolment and records of connectivity; a run of :data:`sim.core.jit.PARALLEL_MIN_ROWS` people
(the kernels' parallel twins); a replay of logged pain (calibration); graph metrics of a batch;
a small study (its populations and observed connectivity); and a two-level bootstrap
(comparisons). A kernel that none of them reaches still compiles on first use;
``tests/test_precompile.py`` checks that none is left. Matplotlib's font cache, which its first
import on a fresh machine builds, is built here too.
"""

from __future__ import annotations

import sys
import time

import numpy as np


def _scenario(size: int, years: float, dt_weeks: float, *, histories: bool, arms: bool):
    from sim.scenario import parse_scenario

    data: dict = {
        "scenario": {
            "name": "precompile",
            "seed": 1,
            "years": years,
            "dt_weeks": dt_weeks,
            "record_every_years": years / 2,
        },
        "cohort": {"size": size, **({} if histories else {"history": "none"})},
    }
    if arms:
        data["arms"] = [
            {"name": "usual care", "interventions": []},
            {"name": "CBT", "interventions": [{"kind": "cbt", "at_stage": "subacute"}]},
        ]
    return parse_scenario(data, "precompile")


def precompile() -> float:
    """Compile (or load) every kernel; return the seconds it took.

    Examples
    --------
    >>> precompile() >= 0.0  # a few seconds when the kernels are already cached
    True
    """
    from sim.analysis.stats import two_level_bootstrap_interval
    from sim.core import drift
    from sim.core.jit import PARALLEL_MIN_ROWS
    from sim.core.metrics import graph_metrics, metrics_from_edges
    from sim.core.model import PainModel
    from sim.core.pain import cumulative_onset_hazard
    from sim.core.replay import replay
    from sim.experiments.run import simulate
    from sim.experiments.study import simulate_study
    from sim.scenario import parse_scenario

    start = time.perf_counter()
    small = _scenario(40, 1.0, 4, histories=True, arms=True)
    # Pain histories, whole and split steps, enrolment, connectivity and metrics at records.
    simulate(small, connectivity=True)
    # The parallel twins of the step, connectivity and metrics kernels.
    wide = _scenario(PARALLEL_MIN_ROWS, 0.04, 1, histories=False, arms=True)
    simulate(wide, connectivity=True)
    # A study: its populations, and connectivity and metrics as the scanner observes them.
    study = {
        "scenario": {"name": "precompile", "seed": 1, "dt_weeks": 4},
        "study": {"population": 3000, "age_max": 40, "replications": 1, "power_multipliers": []},
    }
    study["study"].update(n_healthy=4, n_subacute=4, n_chronic=4, counterfactual=False)
    simulate_study(parse_scenario(study, "precompile"), backend="serial")
    # Logged pain replayed under other parameters (the calibration's populations).
    model = PainModel(small, create_agents=False)
    log = model.log_exposures()
    model.run_until(0.5)
    rows = np.arange(model.cohort.size)
    paths = model.pain_paths(log, rows, np.full(rows.size, 0.5))
    replay(paths, model.params.coping, model.params.drift)
    # Connectivity of some people (a slice, as the teaching page and figures ask), and from
    # float64 draws (the calibration's stored populations).
    model.connectivity(slice(0, 5))
    p, c = model.params, model.cohort
    drift.connectivity(
        model.brain,
        p.brain,
        p.drift,
        c.baseline.astype(np.float64),
        c.idiosyncrasy.astype(np.float64),
        c.reversible + c.scar,
        model.current_pain(),
        model.age,
    )
    # Metrics of float64 edges (as from replays and NetworkX checks; runs keep float32), and the
    # onset hazard integral from one time for everyone.
    rng = np.random.default_rng(0)
    graph_metrics(rng.random((2, 5, 5)))
    brain, n = model.brain, len(model.brain.names)
    metrics_from_edges(rng.random((2, brain.n_edges)), brain.iu, n)
    # With fresh (writable) indices, and a batch large enough for the parallel twin (norms).
    metrics_from_edges(rng.random((PARALLEL_MIN_ROWS + 2, brain.n_edges)), np.triu_indices(n, 1), n)
    state = model.cohort.pain
    cumulative_onset_hazard(state, 0.5, np.full(state.end.size, 0.1), model.params.pain)
    two_level_bootstrap_interval(np.ones((2, 3)), np.random.default_rng(0), resamples=10)
    import matplotlib.font_manager  # noqa: F401 - builds the font cache if there is none

    return time.perf_counter() - start


if __name__ == "__main__":
    seconds = precompile()
    print(f"painsim: Numba kernels compiled and cached ({seconds:.0f} s)", file=sys.stderr)
