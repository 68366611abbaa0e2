"""The plan of a timing experiment: one arm per treatment and start, and the usual-care twin arm.

``timing_plan`` turns a scenario with ``[timing]`` into the scenario that is simulated (treated
arms with their triggers, and :data:`TWIN`); ``with_parameters`` applies one parameter set of a
posterior to it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sim.scenario import Scenario, ScenarioError, TimingSection, parse_scenario

TWIN = "timing usual care"
"""Name of the generated usual-care arm (each treated patient's twin lives here)."""
START_KEYS: tuple[str, ...] = ("treatment", "start", "start_years_with_pain", "start_stage")
"""Columns that say which treatment and start a row is about."""


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
