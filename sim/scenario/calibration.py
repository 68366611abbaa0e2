"""``[calibration]``: which parameters to calibrate, from which priors, to which published targets.

Schema (``scenarios/README.md``)::

    [calibration]
    experiment = "natural_history"  # what one simulation is: natural_history, heukamp or
                                    # interventions (sim.core.targets.CATALOGUES)
    method = "abc"                  # ABC-SMC with pyabc
    population_size = 100           # particles per generation
    generations = 8                 # at most this many generations
    max_simulations = 3000          # stop after this many simulations in all
    max_minutes = 25                # ... or after this much wall time
    min_acceptance_rate = 0.02      # ... or when acceptance falls below this
    draws_for_fit = 40              # posterior draws simulated again for the fit table
    kernel_scaling = 1.5            # widen pyabc's Gaussian proposal kernel (keeps the ESS up)
    observation_noise = false       # add each published estimate's own error to the simulated
                                    # target statistics (noisy ABC; the targets' intervals)

    [calibration.design]            # one simulation; keys depend on the experiment
    population = 4000               # natural_history: sim.core.natural_history.Design
    incident = 1500                 # heukamp: HeukampDesign; interventions: TrialDesign
    history_dt_weeks = 4

    [calibration.priors]            # uniform priors [low, high] on model parameters,
    "pain.onset_rate" = [0.02, 0.2] # or log-uniform: [low, high, "log"]

    [calibration.targets]           # statistic = "published" or a table with a source
    median_recovery_days = "published"
    point_prevalence_20_69 = { value = 0.094, low = 0.0675, high = 0.127, source = "..." }

Every problem is one line: an unknown parameter or statistic (the closest name is suggested),
an empty or reversed prior, a prior outside the parameter's allowed range, a parameter the
experiment cannot vary, a target without a source or with its value outside its interval.
"""

from __future__ import annotations

import difflib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sim.core.intervention_params import intervention_parameters
from sim.core.interventions import KINDS
from sim.core.parameters import ModelParams, allowed_range, field_bounds, parameter_table
from sim.core.targets import CATALOGUES, PUBLISHED_BY_EXPERIMENT, Target

EXPERIMENTS: tuple[str, ...] = ("natural_history", "heukamp", "interventions")
"""What one calibration simulation is (docs/model.md, "Calibration")."""
REPLAYED_GROUPS: tuple[str, ...] = ("coping", "drift", "brain", "metrics")
"""Parameter groups the heukamp experiment can vary: pain is lived once and replayed."""


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


class HeukampDesign(_Strict):
    """``[calibration.design]`` of the ``heukamp`` experiment: the populations replayed.

    ``population`` people are simulated with the scenario's ``[study]`` design (from age 18,
    recruited as the study recruits) and every proposed parameter set is replayed on them
    (``sim.core.replay``). Coping parameters change the course of new episodes, so a prior on
    ``coping.recovery_rate`` gets ``nodes`` populations at log-spaced values over its prior;
    a proposal is replayed on the population whose value is nearest (in log).
    """

    population: int = Field(60_000, ge=1_000, le=5_000_000)
    nodes: int = Field(5, ge=1, le=50)
    predict_draws: int = Field(40, ge=0, le=10_000)
    predict_replications: int = Field(50, ge=1, le=10_000)


class TrialDesign(_Strict):
    """``[calibration.design]`` of the ``interventions`` experiment: one trial population.

    ``population`` adults aged ``age_min``-``age_max`` with simulated histories live to
    ``start_year``; everyone then in a chronic episode is followed in every arm (usual care,
    CBT, MBSR, ACT, PRT, TMS) for 52 weeks with ``dt_weeks`` steps, enrolled if they report
    pain >= ``min_pain`` (trial inclusion).
    """

    population: int = Field(40_000, ge=500, le=5_000_000)
    age_min: float = Field(20.0, ge=18, le=90)
    age_max: float = Field(60.0, ge=18, le=90)
    start_year: float = Field(10.0, ge=0, le=100)
    dt_weeks: float = Field(1.0, gt=0, le=4)
    min_pain: float = Field(4.0, ge=0, le=10)

    @model_validator(mode="after")
    def _ages(self) -> TrialDesign:
        if self.age_max <= self.age_min:
            raise ValueError("[calibration] design.age_max: must be greater than age_min")
        return self


DESIGNS: dict[str, type[_Strict]] = {
    "natural_history": DesignSection,
    "heukamp": HeukampDesign,
    "interventions": TrialDesign,
}
"""Experiment -> the schema of its ``[calibration.design]``."""


def _design(experiment: str, data: dict[str, Any]) -> _Strict:
    """Validate ``[calibration.design]`` for ``experiment``; one-line errors."""
    model = DESIGNS[experiment]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        field = f"calibration.design.{where}" if where else "calibration.design"
        if err["type"] == "extra_forbidden":
            allowed = list(model.model_fields)
            close = difflib.get_close_matches(str(err["loc"][-1]), allowed, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise ValueError(
                f"[calibration] {field}: unknown key for experiment '{experiment}'; {hint}"
                f"allowed: {', '.join(allowed)}"
            ) from None
        message = err["msg"].removeprefix("Value error, ")
        if message.startswith("[calibration] "):
            raise ValueError(message) from None
        raise ValueError(f"[calibration] {field}: {message}") from None


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

    experiment: Literal["natural_history", "heukamp", "interventions"] = "natural_history"
    method: Literal["abc"] = "abc"
    population_size: int = Field(100, ge=10, le=100_000)
    generations: int = Field(8, ge=1, le=100)
    max_simulations: int = Field(3000, ge=10, le=10_000_000)
    max_minutes: float = Field(25.0, gt=0, le=100_000)
    min_acceptance_rate: float = Field(0.02, ge=0, lt=1)
    draws_for_fit: int = Field(40, ge=2, le=10_000)
    kernel_scaling: float = Field(1.5, gt=0, le=10)
    observation_noise: bool = False
    design: dict[str, Any] = Field(default_factory=dict)
    priors: dict[str, list[float | str]] = Field(default_factory=dict)
    targets: dict[str, Literal["published"] | TargetSection] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> CalibrationSection:
        design = _design(self.experiment, self.design)
        object.__setattr__(self, "design", design.model_dump())
        model_names = [row["name"] for row in parameter_table(ModelParams())]
        trial_names = list(intervention_parameters())
        # The trial population is lived once: only intervention parameters can vary.
        names = trial_names if self.experiment == "interventions" else model_names
        statistics = CATALOGUES[self.experiment]
        published = PUBLISHED_BY_EXPERIMENT[self.experiment]
        if not self.priors:
            raise ValueError(
                "[calibration] calibration.priors: empty; give [low, high] for at least one "
                'parameter, e.g. "pain.onset_rate" = [0.02, 0.2]'
            )
        for name, pair in self.priors.items():
            where = f"[calibration] calibration.priors.{name}"
            if name not in names:
                hint = _closest(name, names)
                if name.split(".")[0] in KINDS and self.experiment != "interventions":
                    hint = "intervention parameters need experiment = 'interventions'"
                raise ValueError(f"{where}: unknown parameter; {hint}")
            group = name.split(".")[0]
            if self.experiment == "heukamp" and group not in REPLAYED_GROUPS:
                raise ValueError(
                    f"{where}: the heukamp experiment replays one lived pain history, so it can "
                    f"vary only {', '.join(g + '.*' for g in REPLAYED_GROUPS)} parameters"
                )
            scale = pair[2] if len(pair) == 3 else "uniform"
            numbers = pair[:2]
            if len(pair) not in (2, 3) or not all(
                isinstance(x, int | float) and not isinstance(x, bool) for x in numbers
            ):
                raise ValueError(
                    f'{where}: must be [low, high] or [low, high, "log"] (two numbers, then '
                    "optionally the scale)"
                )
            if scale not in ("uniform", "log"):
                raise ValueError(f"{where}: scale '{scale}' unknown (allowed: uniform, log)")
            low, high = numbers
            if scale == "log" and low <= 0:
                raise ValueError(f"{where}: a log-uniform prior needs low > 0, got {low}")
            if not low < high:
                raise ValueError(f"{where}: empty or reversed range [{low}, {high}]; low < high")
            lo, hi, lo_in, hi_in = _allowed(name)
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
            if name not in statistics:
                raise ValueError(
                    f"{where}: unknown statistic of experiment '{self.experiment}'; "
                    f"{_closest(name, list(statistics))}"
                )
            if spec == "published" and name not in published:
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

    def prior_specs(self) -> dict[str, tuple[float, float, str]]:
        """Each prior as (low, high, scale) with scale ``uniform`` or ``log``."""
        return {
            name: (float(pair[0]), float(pair[1]), str(pair[2]) if len(pair) == 3 else "uniform")
            for name, pair in self.priors.items()
        }

    def design_settings(self) -> _Strict:
        """The validated ``[calibration.design]`` of this experiment."""
        return DESIGNS[self.experiment].model_validate(self.design)

    def resolved_targets(self) -> dict[str, tuple[Target, float]]:
        """Each target as (Target, weight), with "published" ones filled in."""
        out = {}
        published = PUBLISHED_BY_EXPERIMENT[self.experiment]
        for name, spec in self.targets.items():
            if spec == "published":
                out[name] = (published[name], 1.0)
            else:
                target = Target(name, spec.value, spec.low, spec.high, spec.source)
                out[name] = (target, spec.weight)
        return out


def _allowed(name: str) -> tuple[float, float, bool, bool]:
    """The range a model or intervention parameter may take (from its validation)."""
    trial = intervention_parameters()
    if name in trial:
        kinds, field = trial[name]
        return field_bounds(KINDS[kinds[0]], field)
    return allowed_range(ModelParams(), name)
