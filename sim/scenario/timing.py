"""``[timing]``: when treatment starts, and what it changes a few years later (``painsim timing``).

A timing experiment takes the scenario's ``[[arms]]`` as the treatments and offers each of them
at several starting points: when a patient's years lived with pain reach each of
``start_years_with_pain`` (or when their episode reaches each of ``start_stages``). Every
treated patient is compared with their own usual-care twin ``follow_up_years`` after
enrolment (docs/model.md, "Treatment timing"; schema in scenarios/README.md).

:class:`TimingSection` checks the section's shape; :func:`check_timing` checks it against the
rest of the scenario (arms, eligibility, horizon). Both raise ``ValueError`` messages that
:func:`sim.scenario.schema.parse_scenario` turns into one line ``FILE: FIELD: message``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sim.core.outcomes import INDICES, METRICS

if TYPE_CHECKING:
    from sim.scenario.schema import Scenario

TIMING_OUTCOMES: tuple[str, ...] = (
    "dmn_perturbation",
    "healthy_range",
    "pain",
    "coping",
    "adaptation",
    *METRICS,
    "mpfc_pcc",
    "mpfc_insula",
    *INDICES[1:],
)
"""Outcomes a timing experiment can compare (names in ``sim.core.outcomes``)."""

Stage = Literal["acute", "subacute", "chronic"]


class TimingSection(BaseModel):
    """``[timing]``: starting points, follow-up and outcomes of a treatment-timing experiment."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    start_years_with_pain: list[Annotated[float, Field(ge=0, le=100)]] = Field(
        default_factory=lambda: [0.0, 1.0, 2.0, 5.0, 10.0, 15.0, 20.0], max_length=50
    )
    start_stages: list[Stage] = Field(default_factory=list, max_length=3)
    start_window_years: float = Field(0.5, gt=0, le=20)
    follow_up_years: list[Annotated[float, Field(gt=0, le=100)]] = Field(
        default_factory=lambda: [2.0], min_length=1, max_length=10
    )
    outcomes: list[str] = Field(
        default_factory=lambda: ["dmn_perturbation", "healthy_range", "pain", "coping"],
        min_length=1,
        max_length=len(TIMING_OUTCOMES),
    )

    @model_validator(mode="after")
    def _shape(self) -> TimingSection:
        if not self.start_years_with_pain and not self.start_stages:
            raise ValueError(
                "[timing] timing.start_years_with_pain: no starting point; give years with "
                'pain (e.g. [0, 5, 10]) or start_stages (e.g. ["subacute", "chronic"])'
            )
        for name in ("start_years_with_pain", "start_stages", "follow_up_years", "outcomes"):
            values = getattr(self, name)
            repeated = sorted({v for v in values if values.count(v) > 1}, key=str)
            if repeated:
                value = repeated[0]
                shown = f"{value:g}" if isinstance(value, float) else f"'{value}'"
                raise ValueError(f"[timing] timing.{name}: {shown} is listed twice")
        unknown = [o for o in self.outcomes if o not in TIMING_OUTCOMES]
        if unknown:
            raise ValueError(
                f"[timing] timing.outcomes: unknown outcome '{unknown[0]}'; allowed: "
                f"{', '.join(TIMING_OUTCOMES)}"
            )
        return self


def check_timing(scenario: Scenario) -> None:
    """Check ``[timing]`` against the scenario's arms and horizon.

    Raises
    ------
    ValueError
        ``"[timing] FIELD: message"``: no treatment arm, an arm without interventions, an
        intervention that sets its own trigger, a start outside an intervention's eligibility,
        or a follow-up that leaves no time to enrol before the horizon.
    """
    timing = scenario.timing
    if timing is None:
        return
    if not scenario.arms:
        raise ValueError(
            "[timing] arms: no treatment arm; list the treatments as [[arms]] (each "
            "treated patient's usual-care twin is made by painsim timing itself)"
        )
    for i, arm in enumerate(scenario.arms):
        if not arm.interventions:
            raise ValueError(
                f"[timing] arms[{i}].interventions: arm '{arm.name}' has no intervention; "
                "every arm of a timing experiment is a treatment (the usual-care twin is "
                "made for you)"
            )
        for j, item in enumerate(arm.interventions):
            where = f"arms[{i}].interventions[{j}]"
            for trigger in ("at_stage", "at_years_with_pain"):
                if getattr(item, trigger) is not None:
                    raise ValueError(
                        f"[timing] {where}.{trigger}: set by [timing] for every start; leave it out"
                    )
            for start in timing.start_years_with_pain:
                if not item.min_years_with_pain <= start <= item.max_years_with_pain:
                    raise ValueError(
                        f"[timing] timing.start_years_with_pain: {start:g} is outside "
                        f"{where}'s eligibility (min_years_with_pain "
                        f"{item.min_years_with_pain:g}, max_years_with_pain "
                        f"{item.max_years_with_pain:g})"
                    )
            for stage in timing.start_stages:
                if stage not in item.eligible_stages:
                    raise ValueError(
                        f"[timing] timing.start_stages: '{stage}' is not in {where}."
                        f"eligible_stages {item.eligible_stages}"
                    )
    run = scenario.scenario
    longest = max(timing.follow_up_years)
    # as the engine counts: whole steps within the horizon, follow-ups rounded to whole steps
    steps = math.floor(run.years / run.dt_years + 1e-9)
    if steps - max(1, round(longest / run.dt_years)) < 1:
        raise ValueError(
            f"[timing] timing.follow_up_years: {longest:g} years leave no time to enrol "
            f"anyone before the horizon ({run.years:g} years); lengthen [scenario] years"
        )
