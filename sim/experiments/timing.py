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

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pandas as pd

from sim.analysis.stats import (
    LEVEL,
    RESAMPLES,
    normal_interval,
    two_level_bootstrap_interval,
)
from sim.core.model import TIME_TOL, PainModel
from sim.core.outcomes import INDICES, NETWORK, VARIABLES
from sim.experiments.provenance import new_run_id, utc_now
from sim.scenario import Scenario, ScenarioError, TimingSection, parse_scenario

TWIN = "timing usual care"
"""Name of the generated usual-care arm (each treated patient's twin lives here)."""
START_KEYS: tuple[str, ...] = ("treatment", "start", "start_years_with_pain", "start_stage")
PAIR_COLUMNS: tuple[str, ...] = (
    "replicate",
    *START_KEYS,
    "patient_id",
    "enrolled_year",
    "years_with_pain_at_start",
    "age_at_start",
    "adaptation_at_start",
    "follow_up_years",
)
"""Key columns of ``pairs.parquet``; then ``<outcome>_treated`` and ``<outcome>_usual_care``."""
TABLE_COLUMNS: tuple[str, ...] = (
    *START_KEYS,
    "follow_up_years",
    "outcome",
    "n_pairs",
    "replicates",
    "treated_mean",
    "usual_care_mean",
    "difference",
    "ci_low",
    "ci_high",
    "method",
    "years_with_pain_at_start",
    "age_at_start",
    "adaptation_at_start",
)
"""Columns of ``timing.csv`` (one row per treatment, start, follow-up and outcome)."""
NORMAL = "normal over pairs"
TWO_LEVEL = "two-level bootstrap over parameter sets and pairs"


class TimingError(ValueError):
    """Bad input to a timing experiment; ``option`` names the argument at fault."""

    def __init__(self, message: str, option: str | None = None):
        super().__init__(f"{option}: {message}" if option else message)
        self.option, self.message = option, message


# -- the plan: one arm per treatment and start ----------------------------------------------------
@dataclass(frozen=True)
class Start:
    """A starting point: years with pain reached (``stage`` empty) or a stage reached."""

    label: str
    years_with_pain: float
    stage: str


@dataclass(frozen=True)
class TimingArm:
    """A generated arm: treatment ``treatment`` offered at ``start``."""

    name: str
    treatment: str
    start: Start


def starts(timing: TimingSection) -> list[Start]:
    """The starting points of a ``[timing]`` section, years with pain first.

    Examples
    --------
    >>> [s.label for s in starts(TimingSection(start_years_with_pain=[0, 2.5],
    ...                                        start_stages=["chronic"]))]
    ['0 y', '2.5 y', 'chronic']
    """
    out = [Start(f"{y:g} y", float(y), "") for y in timing.start_years_with_pain]
    return out + [Start(stage, math.nan, stage) for stage in timing.start_stages]


def timing_design(scenario: Scenario, source: str = "<scenario>") -> TimingSection:
    """The ``[timing]`` section, or a one-line error if the scenario has none.

    Raises
    ------
    sim.scenario.ScenarioError
        No ``[timing]`` section.
    """
    if scenario.timing is None:
        raise ScenarioError(source, "timing", "missing section; add [timing] (scenarios/README.md)")
    return scenario.timing


def timing_plan(scenario: Scenario) -> tuple[Scenario, list[TimingArm]]:
    """The scenario a timing experiment simulates, and what each of its arms is.

    Every intervention of treatment arm A offered at start s gets the trigger
    ``at_years_with_pain = s`` and ``max_years_with_pain = min(its own, s + window)`` (so only
    patients who reach s during the run are enrolled, not those already far beyond it), or
    ``at_stage = s`` for a stage start. The last arm, :data:`TWIN`, has no interventions.

    Returns
    -------
    (Scenario, list of TimingArm)
        The generated scenario (validated, without ``[timing]``) and one entry per treated arm,
        in treatment-then-start order.
    """
    timing = timing_design(scenario)
    data = scenario.model_dump(mode="json")
    for section in ("timing", "study", "sweep"):
        data.pop(section, None)
    arms, plan = [], []
    for treatment in scenario.arms:
        for k, start in enumerate(starts(timing)):
            name = f"{treatment.name} at {start.label}"
            if len(name) > 64:  # arm names are at most 64 characters
                name = f"{treatment.name[:50]} start {k}"
            interventions = []
            for item in treatment.interventions:
                spec = item.model_dump(mode="json")
                if start.stage:
                    spec["at_stage"] = start.stage
                else:
                    spec["at_years_with_pain"] = start.years_with_pain
                    spec["max_years_with_pain"] = min(
                        item.max_years_with_pain, start.years_with_pain + timing.start_window_years
                    )
                interventions.append(spec)
            arms.append({"name": name, "interventions": interventions})
            plan.append(TimingArm(name, treatment.name, start))
    arms.append({"name": TWIN, "description": "usual-care twins of every treated patient"})
    data["arms"] = arms
    return parse_scenario(data, "[timing] generated arms"), plan


def with_parameters(scenario: Scenario, parameters: Mapping[str, Any], where: str) -> Scenario:
    """``scenario`` with extra ``[parameters]`` overrides (one parameter set of a posterior).

    Raises
    ------
    TimingError
        An unknown parameter or an invalid value (``option`` = ``where``).
    """
    data = scenario.model_dump(mode="json")
    data["parameters"] = {**data["parameters"], **dict(parameters)}
    try:
        return parse_scenario(data, where)
    except ScenarioError as exc:
        raise TimingError(f"{exc.field}: {exc.message}", where) from None


# -- following people -----------------------------------------------------------------------------
NETWORK_OUTCOMES = frozenset(NETWORK) | {"healthy_range"}
INDEX_OUTCOMES = frozenset(INDICES[1:])
SMALL_BATCH = 512
"""Below this many people a measurement runs the Numba kernels on one thread: the follow-ups
measure a few dozen people per step, and starting the parallel threads then costs more (up to
ten times more on a busy machine) than the work."""


@contextmanager
def _threads_for(people: int) -> Iterator[None]:
    before = numba.get_num_threads()
    if people < SMALL_BATCH:
        numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def measure(model: PainModel, rows: np.ndarray, outcomes: Sequence[str]) -> dict[str, np.ndarray]:
    """The requested outcomes of ``rows`` now, treatment effects included.

    Examples
    --------
    >>> s = parse_scenario({"scenario": {"name": "demo", "years": 1}, "cohort": {"size": 5}})
    >>> m = PainModel(s, create_agents=False)
    >>> sorted(measure(m, np.array([0, 3]), ["pain", "healthy_range"]))
    ['healthy_range', 'pain']
    """
    wanted = set(outcomes)
    with _threads_for(rows.size):
        pain_now = model.current_pain(rows)
        values: dict[str, np.ndarray] = {"pain": pain_now}
        if "coping" in wanted:
            values["coping"] = model.coping_now(rows)
        if "adaptation" in wanted:
            values["adaptation"] = model.observe(rows)["adaptation"]
        if wanted & INDEX_OUTCOMES:
            # the indices include the mean |z| (dmn_perturbation): no second connectivity
            values.update(model.indices(rows, pain_now))
        if wanted & (NETWORK_OUTCOMES - {"dmn_perturbation", "healthy_range"}) or (
            wanted & {"dmn_perturbation", "healthy_range"} and "dmn_perturbation" not in values
        ):
            values.update(model.network_outcomes(rows, pain_now))
        if "healthy_range" in wanted:
            healthy = values["dmn_perturbation"] <= model.norms.healthy_upper
            values["healthy_range"] = healthy.astype(float)
    return {name: np.asarray(values[name], dtype=float) for name in outcomes}


@dataclass
class Enrolled:
    """Who a treated arm enrolled (and kept: followed up before the horizon), and their outcomes.

    ``outcomes[f][name]`` are the values ``follow_up_years[f]`` after enrolment.
    """

    rows: np.ndarray
    step: np.ndarray
    year: np.ndarray
    years_with_pain: np.ndarray
    age: np.ndarray
    adaptation: np.ndarray
    outcomes: list[dict[str, np.ndarray]]


def _steps(scenario: Scenario, follow_up_years: Sequence[float]) -> tuple[int, list[int]]:
    """Whole model steps within the horizon, and each follow-up in whole steps (at least one)."""
    run = scenario.scenario
    total = math.floor(run.years / run.dt_years + TIME_TOL)
    return total, [max(1, round(y / run.dt_years)) for y in follow_up_years]


def follow_treated(
    model: PainModel,
    total_steps: int,
    follow_steps: Sequence[int],
    outcomes: Sequence[str],
    tick: Callable[[int], object] | None = None,
) -> Enrolled:
    """Run a treated arm step by step; record enrolment and each follow-up of the enrolled.

    Patients enrolled too late to be followed for the longest follow-up before the horizon are
    left out (censored), so every follow-up describes the same patients.
    """
    last_enrolment = total_steps - max(follow_steps)
    known = np.zeros(model.cohort.size, dtype=bool)
    parts: list[dict[str, np.ndarray]] = []
    due: dict[int, list[tuple[int, int, np.ndarray]]] = {}  # step -> (part, follow-up, rows)
    measured: list[list[dict[str, np.ndarray]]] = []
    for step in range(1, total_steps + 1):
        model.step()
        if tick is not None:
            tick(1)
        if step <= last_enrolment:
            enrolled = np.isfinite(model.enrolled_year())
            new = np.flatnonzero(enrolled & ~known)
            known |= enrolled
            if new.size:
                state = model.observe(new)
                parts.append(
                    {
                        "rows": new,
                        "step": np.full(new.size, step),
                        "year": np.full(new.size, model.time_years),
                        "years_with_pain": state["years_with_pain"],
                        "age": state["age"],
                        "adaptation": state["adaptation"],
                    }
                )
                measured.append([{} for _ in follow_steps])
                for f, lag in enumerate(follow_steps):
                    due.setdefault(step + lag, []).append((len(parts) - 1, f, new))
        for part, f, rows in due.pop(step, []):
            measured[part][f] = measure(model, rows, outcomes)

    def joined(key: str, dtype: Any = float) -> np.ndarray:
        return np.concatenate([p[key] for p in parts]) if parts else np.empty(0, dtype)

    return Enrolled(
        rows=joined("rows", np.int64),
        step=joined("step", np.int64),
        year=joined("year"),
        years_with_pain=joined("years_with_pain"),
        age=joined("age"),
        adaptation=joined("adaptation"),
        outcomes=[
            {
                name: np.concatenate([m[f][name] for m in measured]) if measured else np.empty(0)
                for name in outcomes
            }
            for f in range(len(follow_steps))
        ],
    )


def follow_twins(
    model: PainModel,
    total_steps: int,
    requests: Sequence[tuple[np.ndarray, np.ndarray]],
    outcomes: Sequence[str],
    tick: Callable[[int], object] | None = None,
) -> list[dict[str, np.ndarray]]:
    """Run the usual-care arm and measure each request's people at their own steps.

    Parameters
    ----------
    requests
        ``(rows, steps)`` pairs of equal-length arrays: measure person ``rows[i]`` after step
        ``steps[i]``.

    Returns
    -------
    list of dict
        Per request, the outcomes in the order of its rows.
    """
    results = [{name: np.full(rows.size, np.nan) for name in outcomes} for rows, _ in requests]
    by_step: dict[int, list[tuple[int, np.ndarray]]] = {}
    for r, (_, steps) in enumerate(requests):
        for step in np.unique(steps):
            by_step.setdefault(int(step), []).append((r, np.flatnonzero(steps == step)))
    for step in range(1, total_steps + 1):
        model.step()
        if tick is not None:
            tick(1)
        wanted = by_step.pop(step, [])
        if not wanted:
            continue
        people = np.unique(np.concatenate([requests[r][0][idx] for r, idx in wanted]))
        values = measure(model, people, outcomes)
        for r, idx in wanted:
            where = np.searchsorted(people, requests[r][0][idx])
            for name in outcomes:
                results[r][name][idx] = values[name][where]
    return results


def simulate_replicate(
    scenario: Scenario,
    replicate: int,
    tick: Callable[[int], object] | None = None,
) -> pd.DataFrame:
    """Every pair (treated patient, usual-care twin) of one replicate (``pairs.parquet`` rows).

    Parameters
    ----------
    scenario
        A scenario with ``[timing]`` (already carrying this replicate's parameters).
    replicate
        Replicate index (selects the random streams; treated and twin share them).
    tick
        Called with 1 after every model step (progress).
    """
    timing = timing_design(scenario)
    generated, plan = timing_plan(scenario)
    outcomes = list(timing.outcomes)
    total, follow = _steps(generated, timing.follow_up_years)
    treated = []
    for arm in plan:
        model = PainModel(generated, replicate, arm=arm.name, create_agents=False)
        treated.append(follow_treated(model, total, follow, outcomes, tick))
    requests = [(e.rows, e.step + lag) for e in treated for lag in follow]
    twin = PainModel(generated, replicate, arm=TWIN, create_agents=False)
    twins = iter(follow_twins(twin, total, requests, outcomes, tick))
    tables = []
    for arm, enrolled in zip(plan, treated, strict=True):
        for f, years in enumerate(timing.follow_up_years):
            controls = next(twins)
            columns: dict[str, Any] = {
                "replicate": replicate,
                "treatment": arm.treatment,
                "start": arm.start.label,
                "start_years_with_pain": arm.start.years_with_pain,
                "start_stage": arm.start.stage,
                "patient_id": enrolled.rows,
                "enrolled_year": enrolled.year,
                "years_with_pain_at_start": enrolled.years_with_pain,
                "age_at_start": enrolled.age,
                "adaptation_at_start": enrolled.adaptation,
                "follow_up_years": float(years),
            }
            for name in outcomes:
                columns[f"{name}_treated"] = enrolled.outcomes[f][name]
                columns[f"{name}_usual_care"] = controls[name]
            tables.append(pd.DataFrame(columns, index=pd.RangeIndex(enrolled.rows.size)))
    return pd.concat(tables, ignore_index=True)


# -- the table ------------------------------------------------------------------------------------
def _interval(
    differences: np.ndarray, replicate: np.ndarray, two_level: bool, rng: np.random.Generator
) -> tuple[float, float]:
    if differences.size < 2:
        return math.nan, math.nan
    if not two_level:
        _, low, high = normal_interval(differences[:, None], LEVEL)
        return float(low[0]), float(high[0])
    groups = [differences[replicate == r] for r in np.unique(replicate)]
    padded = np.full((len(groups), max(g.size for g in groups)), np.nan)
    for i, g in enumerate(groups):
        padded[i, : g.size] = g
    return two_level_bootstrap_interval(padded, rng, RESAMPLES, LEVEL)


def summarize(
    pairs: pd.DataFrame, outcomes: Sequence[str], *, two_level: bool = False, seed: int = 0
) -> pd.DataFrame:
    """``timing.csv``: the mean twin difference per treatment, start, follow-up and outcome.

    Parameters
    ----------
    pairs
        Output of :func:`simulate_replicate` (all replicates).
    outcomes
        Outcome names (``<name>_treated`` and ``<name>_usual_care`` columns).
    two_level
        Two-level bootstrap over replicates (parameter sets) and pairs instead of the normal
        interval over pairs.
    seed
        Seed of the bootstrap.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TABLE_COLUMNS`; ``difference`` = mean over pairs of treated − twin
        (a pair without a value, e.g. NaN path length, is left out).
    """
    rng = np.random.default_rng(seed)
    rows = []
    keys = [*START_KEYS, "follow_up_years"]
    for key, group in pairs.groupby(keys, sort=False, dropna=False):
        replicate = group["replicate"].to_numpy()
        for name in outcomes:
            treated = group[f"{name}_treated"].to_numpy(dtype=float)
            control = group[f"{name}_usual_care"].to_numpy(dtype=float)
            diff = treated - control
            ok = ~np.isnan(diff)
            low, high = _interval(diff[ok], replicate[ok], two_level, rng)
            rows.append(
                {
                    **dict(zip(keys, key, strict=True)),
                    "outcome": name,
                    "n_pairs": int(ok.sum()),
                    "replicates": int(np.unique(replicate).size),
                    "treated_mean": float(treated[ok].mean()) if ok.any() else math.nan,
                    "usual_care_mean": float(control[ok].mean()) if ok.any() else math.nan,
                    "difference": float(diff[ok].mean()) if ok.any() else math.nan,
                    "ci_low": low,
                    "ci_high": high,
                    "method": TWO_LEVEL if two_level else NORMAL,
                    "years_with_pain_at_start": float(group["years_with_pain_at_start"].mean()),
                    "age_at_start": float(group["age_at_start"].mean()),
                    "adaptation_at_start": float(group["adaptation_at_start"].mean()),
                }
            )
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def to_markdown(table: pd.DataFrame) -> str:
    """``timing.md``: one table per outcome and follow-up, treatments by start."""
    lines = [
        "# Treatment timing",
        "",
        "Mean difference treated − usual-care twin (95 % interval) at each follow-up after "
        "enrolment, by when treatment started; n = pairs.",
        "",
    ]
    for (years, outcome), part in table.groupby(["follow_up_years", "outcome"], sort=False):
        label = VARIABLES[outcome].label
        starts_ = list(dict.fromkeys(part["start"]))
        lines += [
            f"## {label}, {years:g} years after enrolment",
            "",
            "| treatment | " + " | ".join(starts_) + " |",
            "|---|" + "---|" * len(starts_),
        ]
        for treatment, rows in part.groupby("treatment", sort=False):
            cells = {r.start: _cell(r) for r in rows.itertuples()}
            lines.append(
                f"| {treatment} | " + " | ".join(cells.get(s, "–") for s in starts_) + " |"
            )
        lines.append("")
    method = table["method"].iloc[0] if len(table) else NORMAL
    lines.append(f"Intervals: {method}.")
    return "\n".join(lines) + "\n"


def _cell(row: Any) -> str:
    if row.n_pairs == 0 or math.isnan(row.difference):
        return "–"
    interval = "" if math.isnan(row.ci_low) else f" ({row.ci_low:+.3f} to {row.ci_high:+.3f})"
    return f"{row.difference:+.3f}{interval}, n = {row.n_pairs}"


# -- the whole experiment -------------------------------------------------------------------------
class TimingResult:
    """What a timing experiment produced; :meth:`save` writes its results folder.

    Attributes
    ----------
    scenario
        The scenario (with ``[timing]``).
    table
        ``timing.csv``: columns :data:`TABLE_COLUMNS`.
    pairs
        ``pairs.parquet``: every treated patient and twin, columns :data:`PAIR_COLUMNS` then
        ``<outcome>_treated``, ``<outcome>_usual_care``.
    parameter_sets
        The parameter set of each replicate (None: the scenario's parameters throughout).
    run_id, started, finished, command, seconds, folder
        As for a run.
    """

    kind = "timing"

    def __init__(
        self,
        scenario: Scenario,
        table: pd.DataFrame,
        pairs: pd.DataFrame,
        *,
        parameter_sets: Sequence[Mapping[str, Any]] | None = None,
        run_id: str = "",
        started: datetime | None = None,
        finished: datetime | None = None,
        command: Sequence[str] | None = None,
        seconds: Mapping[str, float] | None = None,
        folder: Path | None = None,
    ):
        self.scenario = scenario
        self.table = table
        self.pairs = pairs
        self.parameter_sets = None if parameter_sets is None else [dict(p) for p in parameter_sets]
        self.run_id = run_id
        self.started = started
        self.finished = finished
        self.command = list(command) if command is not None else None
        self.seconds = dict(seconds or {})
        self.folder = folder

    def __repr__(self) -> str:
        return f"TimingResult(scenario={self.scenario.scenario.name!r}, run_id={self.run_id!r})"

    @property
    def timing(self) -> TimingSection:
        """The ``[timing]`` section."""
        return timing_design(self.scenario)

    def markdown(self) -> str:
        """The table as ``timing.md`` writes it."""
        return to_markdown(self.table)

    def save(
        self, folder: str | Path | None = None, *, results_root: str | Path = "results"
    ) -> Path:
        """Write the results folder (``timing.csv``, ``pairs.parquet``, ``timing.md``)."""
        from sim.results.timing import save_timing  # the results layer sits above experiments

        return save_timing(self, folder, results_root=results_root)

    def figures(self, folder: str | Path | None = None, **options: Any) -> Any:
        """Draw the timing figures (see :func:`sim.viz.figures.make_figures`)."""
        from sim.viz.figures import make_figures  # the figures layer sits above results

        return make_figures(self, folder, **options)


def _bar(total: int, desc: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="step", disable=not enabled, file=sys.stderr)


def run_timing(
    scenario: Scenario,
    *,
    parameter_sets: Sequence[Mapping[str, Any]] | None = None,
    progress: bool = False,
    command: Sequence[str] | None = None,
    run_id: str | None = None,
) -> TimingResult:
    """Run a timing experiment: every treatment at every start, each patient with their twin.

    Parameters
    ----------
    scenario
        A scenario with ``[timing]`` and treatment ``[[arms]]``.
    parameter_sets
        Optional: one mapping of dotted parameter names to values per replicate, applied on top
        of the scenario's ``[parameters]`` (e.g. draws from a calibration posterior). Their
        number sets the replicates, and the interval becomes a two-level bootstrap over
        replicates and pairs, so it includes parameter uncertainty. Default: the scenario's
        ``replicates`` with its own parameters, and the normal interval over pairs.
    progress
        Show a progress bar on stderr.
    command
        Command line, recorded when saved.
    run_id
        Id of the run (default: a new one).

    Raises
    ------
    sim.scenario.ScenarioError
        No ``[timing]`` section.
    TimingError
        An empty or invalid parameter set (``option`` = ``parameter_sets[i]``).

    Examples
    --------
    >>> s = parse_scenario({"scenario": {"name": "demo", "years": 3, "dt_weeks": 4},
    ...     "cohort": {"size": 200, "pain_history_share": 0},
    ...     "arms": [{"name": "PRT", "interventions": [{"kind": "prt"}]}],
    ...     "timing": {"start_years_with_pain": [0], "follow_up_years": [1],
    ...                "outcomes": ["pain"]}})
    >>> res = run_timing(s)
    >>> res.table[["treatment", "start", "outcome"]].values.tolist()
    [['PRT', '0 y', 'pain']]
    >>> bool(res.table["difference"].iloc[0] < 0)
    True
    """
    timing_design(scenario)
    started, clock = utc_now(), time.perf_counter()
    run = scenario.scenario
    if parameter_sets is not None:
        parameter_sets = list(parameter_sets)
        if not parameter_sets:
            raise TimingError("empty list; give one parameter set per replicate", "parameter_sets")
        replicas = [
            with_parameters(scenario, p, f"parameter_sets[{i}]")
            for i, p in enumerate(parameter_sets)
        ]
    else:
        replicas = [scenario] * run.replicates
    generated, plan = timing_plan(scenario)
    total, _ = _steps(generated, timing_design(scenario).follow_up_years)
    with _bar(len(replicas) * (len(plan) + 1) * total, run.slug, progress) as bar:
        pairs = pd.concat(
            [simulate_replicate(s, r, bar.update) for r, s in enumerate(replicas)],
            ignore_index=True,
        )
    simulated = time.perf_counter()
    table = summarize(
        pairs, timing_design(scenario).outcomes, two_level=parameter_sets is not None, seed=run.seed
    )
    return TimingResult(
        scenario,
        table,
        pairs,
        parameter_sets=parameter_sets,
        run_id=run_id or new_run_id(started),
        started=started,
        finished=utc_now(),
        command=command,
        seconds={"simulate": simulated - clock, "summarize": time.perf_counter() - simulated},
    )
