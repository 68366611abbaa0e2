"""Scenario files: the TOML schema, validated with pydantic, with one-line errors."""

from sim.scenario.schema import (
    USUAL_CARE,
    ArmSection,
    CohortSection,
    RunSection,
    Scenario,
    ScenarioError,
    StudySection,
    SweepSection,
    load_scenario,
    parse_scenario,
    scenario_from_resolved,
    slugify,
)

__all__ = [
    "USUAL_CARE",
    "ArmSection",
    "CohortSection",
    "RunSection",
    "Scenario",
    "ScenarioError",
    "StudySection",
    "SweepSection",
    "load_scenario",
    "parse_scenario",
    "scenario_from_resolved",
    "slugify",
]
