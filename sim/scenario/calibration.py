"""``[calibration]``: which parameters to calibrate, from which priors, to which published targets.

Schema (``scenarios/README.md``)::

    [calibration]
    method = "abc"                  # ABC-SMC with pyabc
    population_size = 100           # particles per generation
    generations = 8                 # at most this many generations
    max_simulations = 3000          # stop after this many simulations in all
    max_minutes = 25                # ... or after this much wall time
    min_acceptance_rate = 0.02      # ... or when acceptance falls below this
    draws_for_fit = 40              # posterior draws simulated again for the fit table
    kernel_scaling = 1.5            # widen pyabc's Gaussian proposal kernel (keeps the ESS up)

    [calibration.design]            # one simulation (sim.core.natural_history.Design)
    population = 4000
    incident = 1500
    history_dt_weeks = 4

    [calibration.priors]            # uniform priors [low, high] on model parameters
    "pain.onset_rate" = [0.02, 0.2]

    [calibration.targets]           # statistic = "published" or a table with a source
    median_recovery_days = "published"
    point_prevalence_20_69 = { value = 0.094, low = 0.0675, high = 0.127, source = "..." }

Every problem is one line: an unknown parameter or statistic (the closest name is suggested),
an empty or reversed prior, a prior outside the parameter's allowed range, a target without a
source or with its value outside its interval.
"""

from __future__ import annotations

import difflib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sim.core.natural_history import STATISTICS
from sim.core.parameters import ModelParams, allowed_range, parameter_table
from sim.core.targets import PUBLISHED, Target


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DesignSection(_Strict):
    """``[calibration.design]``: the size of one natural-history simulation."""

    population: int = Field(4000, ge=200, le=1_000_000)
    incident: int = Field(1500, ge=50, le=1_000_000)
    history_dt_weeks: float = Field(4.0, gt=0, le=13)
    age_min: float = Field(18.0, ge=0, le=100)
    age_max: float = Field(70.0, ge=0, le=120)
    female_share: float = Field(0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _ages(self) -> DesignSection:
        if self.age_max <= self.age_min:
            raise ValueError("[calibration] design.age_max: must be greater than age_min")
        return self


class TargetSection(_Strict):
    """A published target given in the scenario: value, 95 % interval and source."""

    value: float
    low: float
    high: float
    source: str = Field(min_length=1)
    weight: float = Field(1.0, ge=0, le=100)


def _closest(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.5)
    return f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(sorted(options))}"


class CalibrationSection(_Strict):
    """``[calibration]``: method, budget, design, priors and targets (module docstring)."""

    method: Literal["abc"] = "abc"
    population_size: int = Field(100, ge=10, le=100_000)
    generations: int = Field(8, ge=1, le=100)
    max_simulations: int = Field(3000, ge=10, le=10_000_000)
    max_minutes: float = Field(25.0, gt=0, le=100_000)
    min_acceptance_rate: float = Field(0.02, ge=0, lt=1)
    draws_for_fit: int = Field(40, ge=2, le=10_000)
    kernel_scaling: float = Field(1.5, gt=0, le=10)
    design: DesignSection = Field(default_factory=DesignSection)
    priors: dict[str, list[float]] = Field(default_factory=dict)
    targets: dict[str, Literal["published"] | TargetSection] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> CalibrationSection:
        names = [row["name"] for row in parameter_table(ModelParams())]
        if not self.priors:
            raise ValueError(
                "[calibration] calibration.priors: empty; give [low, high] for at least one "
                'parameter, e.g. "pain.onset_rate" = [0.02, 0.2]'
            )
        for name, pair in self.priors.items():
            where = f"[calibration] calibration.priors.{name}"
            if name not in names:
                raise ValueError(f"{where}: unknown parameter; {_closest(name, names)}")
            if len(pair) != 2:
                raise ValueError(f"{where}: must be [low, high] (two numbers), got {len(pair)}")
            low, high = pair
            if not low < high:
                raise ValueError(f"{where}: empty or reversed range [{low}, {high}]; low < high")
            lo, hi, lo_in, hi_in = allowed_range(ModelParams(), name)
            if low < lo or (low == lo and not lo_in) or high > hi or (high == hi and not hi_in):
                allowed = f"{'[' if lo_in else '('}{lo}, {hi}{']' if hi_in else ')'}"
                raise ValueError(
                    f"{where}: [{low}, {high}] leaves the parameter's allowed range {allowed}"
                )
        if not self.targets:
            raise ValueError(
                "[calibration] calibration.targets: empty; name at least one statistic, e.g. "
                'median_recovery_days = "published"'
            )
        for name, spec in self.targets.items():
            where = f"[calibration] calibration.targets.{name}"
            if name not in STATISTICS:
                raise ValueError(f"{where}: unknown statistic; {_closest(name, list(STATISTICS))}")
            if spec == "published" and name not in PUBLISHED:
                raise ValueError(
                    f"{where}: painsim has no published value for this statistic; give "
                    "{ value, low, high, source }"
                )
            if isinstance(spec, TargetSection):
                if not spec.source.strip():
                    raise ValueError(f"{where}.source: empty; a target needs its source")
                if not spec.low <= spec.value <= spec.high:
                    raise ValueError(
                        f"{where}: value {spec.value} outside [low, high] = "
                        f"[{spec.low}, {spec.high}]"
                    )
                if spec.low == spec.high:
                    raise ValueError(f"{where}: empty interval [{spec.low}, {spec.high}]")
        return self

    def resolved_targets(self) -> dict[str, tuple[Target, float]]:
        """Each target as (Target, weight), with "published" ones filled in."""
        out = {}
        for name, spec in self.targets.items():
            if spec == "published":
                out[name] = (PUBLISHED[name], 1.0)
            else:
                target = Target(name, spec.value, spec.low, spec.high, spec.source)
                out[name] = (target, spec.weight)
        return out
