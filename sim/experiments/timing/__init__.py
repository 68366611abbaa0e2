"""Treatment timing: how late is too late? (``painsim timing``, ``sim.timing``).

A scenario's ``[[arms]]`` are the treatments and its ``[timing]`` section the starting points
(years lived with pain, or stages). For every treatment and start, painsim makes an arm whose
interventions enrol a patient when their years with pain reach the start (within
``start_window_years``), and follows every enrolled patient for each of ``follow_up_years``.
Each treated patient is compared with their own usual-care twin: the same person, with the same
luck, in a run without treatment, at the same moment. Before enrolment the two are identical, so
each pair's difference is what the treatment did to that person (docs/model.md, "Treatment
timing").

One usual-care run serves every treatment and start: without treatment, nobody's life depends on
when they would have been offered it.

Intervals: with fixed parameters, people are independent (the model has no interactions and
replicates are new people with the same parameters), so the interval is the normal
approximation over all pairs. With ``parameter_sets`` (one parameter set per replicate, e.g.
draws from a calibration posterior) it is a two-level percentile bootstrap over replicates, then
pairs within them, so it includes parameter uncertainty.
"""

from sim.experiments.timing.engine import (
    PAIR_COLUMNS,
    Enrolled,
    follow_treated,
    follow_twins,
    measure,
    simulate_replicate,
    step_counts,
)
from sim.experiments.timing.plan import (
    START_KEYS,
    TWIN,
    Start,
    TimingArm,
    TimingError,
    starts,
    timing_design,
    timing_plan,
    with_parameters,
)
from sim.experiments.timing.result import TimingResult, run_timing
from sim.experiments.timing.table import NORMAL, TABLE_COLUMNS, TWO_LEVEL, summarize, to_markdown

__all__ = [
    "NORMAL",
    "PAIR_COLUMNS",
    "START_KEYS",
    "TABLE_COLUMNS",
    "TWIN",
    "TWO_LEVEL",
    "Enrolled",
    "Start",
    "TimingArm",
    "TimingError",
    "TimingResult",
    "follow_treated",
    "follow_twins",
    "measure",
    "run_timing",
    "simulate_replicate",
    "starts",
    "step_counts",
    "summarize",
    "timing_design",
    "timing_plan",
    "to_markdown",
    "with_parameters",
]
