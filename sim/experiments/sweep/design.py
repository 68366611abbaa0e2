"""What a sweep runs: its points, the seed of every run, and the SALib samples.

A scenario's ``[sweep]`` section (schema in ``scenarios/README.md``) names the settings to vary
(targets, :mod:`sim.scenario.sweep`) and how: a full grid of listed values, or a sample between
bounds drawn with SALib (Latin hypercube, Sobol/Saltelli, Morris). :func:`plan_sweep` writes the
target values of every point into the scenario and validates it again, exactly like a scenario
file, and returns a :class:`SweepPlan`.

Each (point, replicate) is one *run*: all arms of the point simulated with one seed (virtual
twins), the seed derived from the scenario seed as
``SeedSequence(seed, spawn_key=(SWEEP_KEY, RUN_STREAM, point, replicate))`` (:func:`run_seed`),
so tables are identical whatever the backend, worker count or order of completion, and after a
resume.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

import sim
from sim.scenario import Scenario, ScenarioError, SweepSection, parse_scenario
from sim.scenario.sweep import (
    Target,
    base_dict,
    resolve_target,
    sampled_value,
    target_values,
)

SWEEP_KEY = 5_777
"""First spawn-key entry of every seed a sweep derives from the scenario seed."""
RUN_STREAM, SAMPLE_STREAM, ANALYSIS_STREAM = 0, 1, 2
"""Second spawn-key entry: seeds of runs, of SALib's sample, of the sensitivity bootstrap."""


def run_seed(seed: int, point: int, replicate: int) -> int:
    """The scenario seed of one run: derived from the sweep's seed, point and replicate.

    Examples
    --------
    >>> run_seed(1, 0, 0) == run_seed(1, 0, 0) != run_seed(1, 0, 1)
    True
    """
    sequence = np.random.SeedSequence(seed, spawn_key=(SWEEP_KEY, RUN_STREAM, point, replicate))
    return int(sequence.generate_state(1, np.uint64)[0] >> np.uint64(1))


def stream_seed(seed: int, stream: int) -> int:
    """A 32-bit seed for SALib's sampling or bootstrap, derived from the scenario seed."""
    sequence = np.random.SeedSequence(seed, spawn_key=(SWEEP_KEY, stream))
    return int(sequence.generate_state(1, np.uint32)[0])


def sample_design(
    method: str, problem: Mapping[str, Any], samples: int, levels: int, seed: int
) -> np.ndarray:
    """Draw a SALib sample: one row per point, one column per parameter.

    Parameters
    ----------
    method
        ``"latin"`` (``samples`` points), ``"sobol"`` (Saltelli scheme without second-order
        terms: ``samples * (D + 2)`` points; ``samples`` a power of 2) or ``"morris"``
        (``samples`` trajectories of ``D + 1`` points on a ``levels``-level grid).
    problem
        SALib problem: ``num_vars``, ``names``, ``bounds``.
    samples, levels
        As in ``[sweep]``.
    seed
        Seed of the sample.
    """
    if method == "latin":
        from SALib.sample import latin

        return latin.sample(dict(problem), samples, seed=seed)
    if method == "sobol":
        from SALib.sample import sobol

        return sobol.sample(dict(problem), samples, calc_second_order=False, seed=seed)
    if method == "morris":
        from SALib.sample import morris

        return morris.sample(dict(problem), samples, num_levels=levels, seed=seed)
    raise ValueError(f"unknown sampling method '{method}'")


@dataclass(frozen=True)
class SweepTask:
    """One run: every arm of one point and replicate, with its scenario (seed included)."""

    point: int
    replicate: int
    scenario: Scenario
    horizon: float
    outcomes: tuple[str, ...]
    threads: int | None = None

    @property
    def seed(self) -> int:
        return self.scenario.scenario.seed


@dataclass(frozen=True, eq=False)
class SweepPlan:
    """A validated sweep: the targets and the value of every target at every point.

    Attributes
    ----------
    scenario
        The scenario, ``[sweep]`` included.
    source
        Named in error messages (the scenario file).
    targets
        The swept settings, in the order of ``[sweep]``.
    design
        Per point, the value of each target as the validated point scenario holds it.
    matrix
        The SALib sample the design was made from (sample methods only; integer settings are
        rounded in ``design`` but not here).
    posterior
        With parameter uncertainty: the manifest's ``posterior`` key, whose
        ``parameter_sets`` hold one draw per replicate; replicate r of every point runs draw r
        as new defaults (``sim.experiments.posterior.apply_draw``; swept values win).
    """

    scenario: Scenario
    source: str
    targets: tuple[Target, ...]
    design: tuple[tuple[Any, ...], ...]
    matrix: np.ndarray | None = None
    base: dict[str, Any] = field(default_factory=dict, repr=False)
    posterior: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def sweep(self) -> SweepSection:
        assert self.scenario.sweep is not None
        return self.scenario.sweep

    @property
    def method(self) -> str:
        return self.sweep.method

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.targets]

    @property
    def horizon(self) -> float:
        return float(self.sweep.horizon_years or self.scenario.scenario.years)

    @property
    def outcomes(self) -> tuple[str, ...]:
        return tuple(self.sweep.outcomes)

    @property
    def arms(self) -> list[str]:
        return [arm.name for arm in self.scenario.arm_list]

    @property
    def replicates(self) -> int:
        return self.sweep.replicates

    @property
    def n_points(self) -> int:
        return len(self.design)

    @property
    def n_runs(self) -> int:
        return self.n_points * self.replicates

    @property
    def problem(self) -> dict[str, Any]:
        """The SALib problem of a sample method."""
        bounds = self.sweep.bounds
        return {
            "num_vars": len(self.targets),
            "names": self.names,
            "bounds": [list(map(float, bounds[n])) for n in self.names],
        }

    def runs(self) -> Iterator[tuple[int, int]]:
        """Every (point, replicate), in table order."""
        return itertools.product(range(self.n_points), range(self.replicates))

    def seed(self, point: int, replicate: int) -> int:
        """Seed of a run; with common random numbers every point uses point 0's seeds."""
        shared = self.sweep.common_random_numbers
        return run_seed(self.scenario.scenario.seed, 0 if shared else point, replicate)

    def point_scenario(self, point: int, seed: int | None = None) -> Scenario:
        """The scenario of one point (validated again), optionally with another seed."""
        values = dict(zip(self.names, self.design[point], strict=True))
        return point_scenario(self.base, self.targets, values, self.source, point, seed)

    def task(self, point: int, replicate: int, threads: int | None = None) -> SweepTask:
        """The run of one point and replicate (``threads``: Numba threads it may use)."""
        scenario = self.point_scenario(point, self.seed(point, replicate))
        if self.posterior is not None:
            from sim.experiments.posterior import apply_draw

            scenario = apply_draw(scenario, self.posterior["parameter_sets"][replicate])
        return SweepTask(point, replicate, scenario, self.horizon, self.outcomes, threads)

    def fingerprint(self) -> str:
        """Hash of everything that decides the table: scenario, sweep and painsim version."""
        text = json.dumps(
            {
                "scenario": self.scenario.model_dump(mode="json"),
                "painsim": sim.__version__,
                **({"posterior": self.posterior} if self.posterior is not None else {}),
            },
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()

    def frame(self, rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        """Rows of one run as a table with the sweep's columns and fixed types."""
        point = int(rows[0]["point"])
        values = dict(zip(self.names, self.design[point], strict=True))
        data: dict[str, Any] = {
            "point": np.array([r["point"] for r in rows], dtype=np.int64),
            "replicate": np.array([r["replicate"] for r in rows], dtype=np.int64),
            "arm": [str(r["arm"]) for r in rows],
            "seed": np.array([r["seed"] for r in rows], dtype=np.int64),
            **{name: [value] * len(rows) for name, value in values.items()},
            "year": np.full(len(rows), self.horizon),
            **{name: np.array([r[name] for r in rows], dtype=float) for name in self.outcomes},
            "run_seconds": np.array([r["run_seconds"] for r in rows], dtype=float),
            "status": [str(r["status"]) for r in rows],
            "error": [str(r["error"]) for r in rows],
        }
        return pd.DataFrame(data)


def _assignments(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in values.items())


def point_scenario(
    base: dict[str, Any],
    targets: Sequence[Target],
    values: Mapping[str, Any],
    source: str,
    point: int,
    seed: int | None = None,
) -> Scenario:
    """``base`` with the targets set to ``values`` (and the seed, if given), validated again.

    Raises
    ------
    ScenarioError
        The combination is not a valid scenario; the message names the point and its values.
    """
    data = copy.deepcopy(base)
    for target in targets:
        target.set(data, values[target.name])
    if seed is not None:
        data["scenario"]["seed"] = seed
    return parse_scenario(data, f"{source} (sweep point {point}: {_assignments(values)})")


def _raw_design(
    scenario: Scenario, targets: Sequence[Target]
) -> tuple[list[dict[str, Any]], np.ndarray | None]:
    """Target values of every point before validation, and the SALib sample if any."""
    sweep = scenario.sweep
    assert sweep is not None
    names = [t.name for t in targets]
    if sweep.method == "grid":
        combos = itertools.product(*(sweep.grid[name] for name in names))
        return [dict(zip(names, combo, strict=True)) for combo in combos], None
    problem = {
        "num_vars": len(names),
        "names": names,
        "bounds": [list(map(float, sweep.bounds[n])) for n in names],
    }
    matrix = sample_design(
        sweep.method,
        problem,
        sweep.samples,
        sweep.levels,
        stream_seed(scenario.scenario.seed, SAMPLE_STREAM),
    )
    current = [t.get(scenario) for t in targets]
    raw = [
        {name: sampled_value(x, base) for name, x, base in zip(names, row, current, strict=True)}
        for row in matrix
    ]
    return raw, matrix


def plan_sweep(
    scenario: Scenario, source: str = "<scenario>", posterior: dict[str, Any] | None = None
) -> SweepPlan:
    """Validate every point of a scenario's sweep and return the plan.

    ``posterior``: the manifest key of posterior draws, one parameter set per replicate
    (:attr:`SweepPlan.posterior`).

    Raises
    ------
    ScenarioError
        No ``[sweep]`` section, or a point whose combination of values is not a valid scenario
        (the message names the point and its values).

    Examples
    --------
    >>> s = parse_scenario({"scenario": {"name": "demo", "years": 2},
    ...                     "sweep": {"grid": {"drift.rate": [0.1, 0.2], "cohort.size": [5]}}})
    >>> plan = plan_sweep(s)
    >>> plan.names, plan.design, plan.n_runs
    (['drift.rate', 'cohort.size'], ((0.1, 5), (0.2, 5)), 2)
    """
    if scenario.sweep is None:
        raise ScenarioError(source, "sweep", "no [sweep] section; see scenarios/README.md")
    # Every point is validated like a scenario file: combinations no single value rules out
    # (e.g. min_years_with_pain above max_years_with_pain) are caught before anything runs.
    targets = tuple(resolve_target(name, scenario) for name in target_values(scenario))
    base = base_dict(scenario)
    raw, matrix = _raw_design(scenario, targets)
    design = []
    for point, values in enumerate(raw):
        validated = point_scenario(base, targets, values, source, point)
        design.append(tuple(t.get(validated) for t in targets))
    if (
        posterior is not None
        and len(posterior.get("parameter_sets") or []) != scenario.sweep.replicates
    ):
        raise ValueError("give one posterior parameter set per replicate of the sweep")
    return SweepPlan(scenario, source, targets, tuple(design), matrix, base, posterior)


__all__ = [
    "ANALYSIS_STREAM",
    "RUN_STREAM",
    "SAMPLE_STREAM",
    "SWEEP_KEY",
    "SweepPlan",
    "SweepTask",
    "Target",
    "plan_sweep",
    "point_scenario",
    "resolve_target",
    "run_seed",
    "sample_design",
    "stream_seed",
]
