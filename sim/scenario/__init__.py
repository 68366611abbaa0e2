"""Scenario files: the TOML schema, validated with pydantic, with one-line errors."""

from sim.scenario.calibration import CalibrationSection, DesignSection, TargetSection
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
from sim.scenario.timing import TIMING_OUTCOMES, TimingSection

__all__ = [
    "TIMING_OUTCOMES",
    "USUAL_CARE",
    "ArmSection",
    "CalibrationSection",
    "CohortSection",
    "DesignSection",
    "RunSection",
    "Scenario",
    "ScenarioError",
    "StudySection",
    "SweepSection",
    "TargetSection",
    "TimingSection",
    "load_scenario",
    "parse_scenario",
    "scenario_from_resolved",
    "slugify",
]
