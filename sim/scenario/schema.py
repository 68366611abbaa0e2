"""Scenario files: TOML, validated with pydantic, with one-line errors that name file and field.

A scenario has three sections (schema in ``scenarios/README.md``)::

    [scenario]    name, description, seed, years, dt_weeks, replicates, record_every_years
    [cohort]      size, age range, female share, pain history (simulated or none), coping
    [parameters]  any model parameter by dotted name, e.g. "drift.rate" = 0.05
    [study]       optional: design of a virtual study (``painsim study``)
    [sweep]       optional: a sweep or sensitivity analysis (``painsim sweep``)
    [timing]      optional: when treatment starts and what it changes (``painsim timing``)

Bad input raises :class:`ScenarioError`, whose message is a single line
``FILE: FIELD: what is wrong (what is allowed)``; the command line prints it and exits with 2.
"""

from __future__ import annotations

import difflib
import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sim.core.interventions import KINDS, AnyIntervention
from sim.core.pain import WEEKS_PER_YEAR
from sim.core.parameters import ModelParams, OverrideError, apply_overrides, plausible_bounds
from sim.core.paramgroup import describe_value, type_error_message
from sim.scenario.budget import check_work
from sim.scenario.calibration import CalibrationSection, DesignSection
from sim.scenario.files import read_scenario_file
from sim.scenario.timing import TimingSection, check_timing

_NAME = r"^[A-Za-z0-9][A-Za-z0-9 _.+()\-]{0,63}$"


class _Section(BaseModel):
    # Strict: a boolean is not a number and "5" is not 5 (an integer is a fine float).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class RunSection(_Section):
    """``[scenario]``: identity, horizon, time step and replication."""

    name: str = Field(pattern=_NAME, description="letters, digits, space, _ - . + ( )")
    description: str = ""
    seed: int = Field(1, ge=0, lt=2**63)
    years: float = Field(30.0, gt=0, le=200)
    dt_weeks: float = Field(1.0, gt=0, le=52)
    replicates: int = Field(1, ge=1, le=10_000)
    record_every_years: float = Field(1.0, gt=0, le=200)

    @model_validator(mode="after")
    def _record_grid(self) -> RunSection:
        if self.record_every_years > self.years:
            raise ValueError("record_every_years must not exceed years")
        if self.dt_weeks / WEEKS_PER_YEAR > self.years:
            raise ValueError("dt_weeks must be shorter than the horizon (years)")
        return self

    @property
    def dt_years(self) -> float:
        return self.dt_weeks / WEEKS_PER_YEAR

    @property
    def slug(self) -> str:
        return slugify(self.name)


class CohortSection(_Section):
    """``[cohort]``: who is simulated."""

    size: int = Field(1000, ge=1, le=10_000_000)
    age_min: float = Field(25.0, ge=18, le=90)
    age_max: float = Field(55.0, ge=18, le=90)
    female_share: float = Field(0.5, ge=0, le=1)
    history: Literal["simulated", "none"] = Field(
        "simulated",
        description="'simulated': everyone lives from pain.history_start_age to their age at "
        "the start with the model's equations (the population's steady state); 'none': "
        "everyone starts without any pain history",
    )
    coping_mean: float | None = Field(None, gt=0, lt=52)
    coping_sd: float | None = Field(None, gt=0, lt=26)

    @model_validator(mode="after")
    def _ages(self) -> CohortSection:
        if self.age_max < self.age_min:
            raise ValueError("age_max must be at least age_min")
        return self


class StudySection(_Section):
    """``[study]``: design of a virtual cross-sectional study (``painsim study``).

    Defaults are the Heukamp et al. (Pain 2025) design; ``scenarios/README.md`` explains every
    field and ``docs/model.md`` ("Virtual Heukamp study") the method.
    """

    n_healthy: int = Field(39, ge=4, le=100_000)
    n_subacute: int = Field(77, ge=4, le=100_000)
    n_chronic: int = Field(31, ge=4, le=100_000)
    age_min: float = Field(18.0, ge=18, le=90)
    age_max: float = Field(70.0, gt=18, le=90)
    subacute_min_weeks: float = Field(6.0, gt=0, le=520)
    subacute_max_weeks: float = Field(12.0, gt=0, le=520)
    chronic_min_weeks: float = Field(12.0, gt=0, le=520)
    population: int = Field(400_000, ge=1_000, le=5_000_000)
    recruitment_years: float = Field(0.5, gt=0, le=20)
    # Share of the population watched for subacute recruitment (the rest form the cross-section
    # of healthy and chronic candidates): a design choice that balances candidates (subacute
    # ones are scarce); it changes how many candidates there are, not who they are.
    watched_share: float = Field(0.75, gt=0, lt=1)
    match_age: bool = True
    # Width of the age strata controls are frequency-matched in (assumption: 5-year strata,
    # a common choice in case-control matching; the paper's matching was not found).
    age_stratum_years: float = Field(5.0, gt=0, le=50)
    connectivity_reliability: float = Field(0.29, gt=0, le=1)
    coping_reliability: float = Field(0.75, gt=0, le=1)
    alpha: float = Field(0.05, gt=0, lt=0.5)
    bootstrap_resamples: int = Field(1000, ge=1000, le=100_000)
    replications: int = Field(200, ge=1, le=10_000)
    power_multipliers: list[Annotated[float, Field(gt=0, le=20)]] = Field(
        default_factory=lambda: [0.5, 1.0, 2.0, 4.0], max_length=10
    )
    counterfactual: bool = True
    # Recruitment rules (design choices; scenarios/README.md, "Design choices").
    subacute_prior: Literal["any", "none_in_12_months", "first_episode"] = "any"
    subacute_max_prior_years: float | None = Field(None, ge=0, le=70)
    controls: Literal["never_in_pain", "no_chronic_history"] = "never_in_pain"
    # What else the study reports (docs/model.md, "Virtual Heukamp study").
    design_sensitivity: bool = False
    mechanisms: bool = False
    uncertainty_draws: int = Field(0, ge=0, le=64)
    uncertainty_parameters: list[str] | None = Field(None, min_length=1, max_length=100)
    indices: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]] = Field(
        default_factory=lambda: ["mean_abs_z"], min_length=1, max_length=20
    )
    longitudinal: bool = False
    follow_up_years: float = Field(0.5, gt=0, le=5)
    longitudinal_subacute: int = Field(40, ge=2, le=10_000)
    longitudinal_chronic: int = Field(17, ge=0, le=10_000)
    window: int = Field(25, ge=5, le=10_000)

    @field_validator("indices")
    @classmethod
    def _distinct(cls, names: list[str]) -> list[str]:
        if len(set(names)) < len(names):
            raise ValueError("each index may be listed once")
        return names

    @field_validator("uncertainty_parameters")
    @classmethod
    def _sampled(cls, names: list[str] | None) -> list[str] | None:
        for i, name in enumerate(names or []):
            try:
                bounds = plausible_bounds(name)
            except KeyError:
                raise ValueError(
                    f"[{i}] '{name}' is not a model parameter (see `painsim params`)"
                ) from None
            if bounds is None:
                raise ValueError(f"[{i}] '{name}' has no numeric plausible range to sample")
        return names

    @model_validator(mode="after")
    def _windows(self) -> StudySection:
        if self.age_max <= self.age_min:
            raise ValueError("age_max must be greater than age_min")
        if self.window > self.longitudinal_subacute + self.longitudinal_chronic:
            raise ValueError(
                "window must not exceed longitudinal_subacute + longitudinal_chronic (the "
                "patients of the longitudinal design)"
            )
        if self.subacute_max_weeks <= self.subacute_min_weeks:
            raise ValueError("subacute_max_weeks must be greater than subacute_min_weeks")
        if self.chronic_min_weeks < self.subacute_max_weeks:
            raise ValueError(
                "chronic_min_weeks must be at least subacute_max_weeks (the groups "
                "must not overlap)"
            )
        return self


class SweepSection(_Section):
    """``[sweep]``: a parameter sweep or a sensitivity analysis (``painsim sweep``).

    This class checks the design's shape; :func:`sim.scenario.sweep.check_sweep` checks the
    swept names (model parameters, ``cohort.<field>``, ``arms.<arm>.<index>.<field>``), their
    values and the outcomes against the rest of the scenario. Schema in ``scenarios/README.md``.
    """

    method: Literal["grid", "latin", "sobol", "morris"] = "grid"
    grid: dict[str, list[float | int | bool | str]] = Field(default_factory=dict)
    bounds: dict[str, list[float]] = Field(default_factory=dict)
    samples: int = Field(64, ge=2, le=1_000_000)
    levels: int = Field(4, ge=2, le=64)
    outcomes: list[str] = Field(
        default_factory=lambda: ["dmn_perturbation"], min_length=1, max_length=50
    )
    horizon_years: float | None = Field(None, gt=0, le=200)
    replicates: int = Field(1, ge=1, le=10_000)
    common_random_numbers: bool = False

    @model_validator(mode="after")
    def _design(self) -> SweepSection:
        if self.method == "grid":
            if self.bounds:
                raise ValueError(
                    "[sweep] sweep.bounds: a grid takes lists of values in "
                    "[sweep.grid]; bounds need method latin, sobol or morris"
                )
            if not self.grid:
                raise ValueError(
                    "[sweep] sweep.grid: empty; give values for at least one "
                    'parameter, e.g. "drift.rate" = [0.1, 0.25]'
                )
            for name, values in self.grid.items():
                if not values:
                    raise ValueError(f"[sweep] sweep.grid.{name}: empty list of values")
            return self
        if self.grid:
            raise ValueError(
                f"[sweep] sweep.grid: method '{self.method}' samples between "
                '[sweep.bounds]; a grid needs method = "grid"'
            )
        if not self.bounds:
            raise ValueError(
                f"[sweep] sweep.bounds: empty; method '{self.method}' needs "
                '[low, high] for at least one parameter, e.g. "drift.rate" = '
                "[0.1, 0.4]"
            )
        for name, pair in self.bounds.items():
            if len(pair) != 2:
                raise ValueError(
                    f"[sweep] sweep.bounds.{name}: must be [low, high] (two "
                    f"numbers), got {len(pair)}"
                )
            if not pair[0] < pair[1]:
                raise ValueError(
                    f"[sweep] sweep.bounds.{name}: empty range [{pair[0]}, "
                    f"{pair[1]}]; low must be below high"
                )
        n = self.samples
        if self.method == "sobol" and n & (n - 1):
            low = 1 << (n.bit_length() - 1)
            raise ValueError(
                f"[sweep] sweep.samples: {n} is not a power of 2; SALib's Sobol "
                f"(Saltelli) sample needs N = 2^k, e.g. {low} or {2 * low}"
            )
        return self


USUAL_CARE = "usual care"


class ArmSection(_Section):
    """``[[arms]]``: a named arm and the interventions its patients receive."""

    name: str = Field(pattern=_NAME, description="letters, digits, space, _ - . + ( )")
    description: str = ""
    interventions: list[AnyIntervention] = Field(default_factory=list)

    @property
    def slug(self) -> str:
        return slugify(self.name)


class Scenario(_Section):
    """A validated scenario.

    Examples
    --------
    >>> s = Scenario.model_validate({"scenario": {"name": "demo"},
    ...                              "parameters": {"drift.rate": 0.1}})
    >>> s.params.drift.rate, s.cohort.size
    (0.1, 1000)
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)

    scenario: RunSection
    cohort: CohortSection = Field(default_factory=CohortSection)
    parameters: dict[str, float | int | bool | str] = Field(default_factory=dict)
    arms: list[ArmSection] = Field(default_factory=list)
    study: StudySection | None = None
    sweep: SweepSection | None = None
    timing: TimingSection | None = None
    calibration: CalibrationSection | None = None

    @model_validator(mode="after")
    def _overrides(self) -> Scenario:
        try:
            apply_overrides(ModelParams(), self.parameters)
        except OverrideError as exc:
            raise ValueError(f"[parameters] {exc.name}: {exc.message}") from None
        return self

    @model_validator(mode="after")
    def _arms(self) -> Scenario:
        slugs: dict[str, str] = {}
        for i, arm in enumerate(self.arms):
            if arm.slug in slugs:
                raise ValueError(
                    f"[arms] arms[{i}].name: duplicate arm name '{arm.name}' "
                    f"(same file name as '{slugs[arm.slug]}')"
                )
            slugs[arm.slug] = arm.name
            for j, item in enumerate(arm.interventions):
                if item.start_year >= self.scenario.years:
                    raise ValueError(
                        f"[arms] arms[{i}].interventions[{j}].start_year: {item.start_year} is "
                        f"not before the horizon ({self.scenario.years} years)"
                    )
        return self

    @model_validator(mode="after")
    def _timing(self) -> Scenario:
        check_timing(self)
        return self

    @model_validator(mode="after")
    def _work(self, info: ValidationInfo) -> Scenario:
        # Before the sweep's checks, so a design of millions of points fails at once; results
        # folders read back skip it (they were allowed when they were made).
        if (info.context or {}).get("check_work", True):
            check_work(self)
        return self

    @model_validator(mode="after")
    def _sweep(self) -> Scenario:
        if self.sweep is not None:
            # sim.scenario.sweep imports this module: imported here, when a sweep is checked.
            from sim.scenario.sweep import check_sweep

            check_sweep(self)
        return self

    @property
    def arm_list(self) -> list[ArmSection]:
        """The arms; a scenario without ``[[arms]]`` has one, usual care."""
        return list(self.arms) or [ArmSection(name=USUAL_CARE)]

    def arm(self, name: str | None = None) -> ArmSection:
        """The arm called ``name`` (default: the first)."""
        arms = self.arm_list
        if name is None:
            return arms[0]
        for arm in arms:
            if arm.name == name:
                return arm
        raise KeyError(f"no arm named '{name}'; arms: {', '.join(a.name for a in arms)}")

    @cached_property
    def params(self) -> ModelParams:
        """Model parameters with the scenario's overrides applied."""
        return apply_overrides(ModelParams(), self.parameters)

    def resolved(self) -> dict[str, Any]:
        """The scenario with every default filled in, including all model parameters."""
        data = self.model_dump(mode="json")
        data["parameters"] = self.params.model_dump(mode="json")
        return data


class ScenarioError(ValueError):
    """Invalid scenario; ``str()`` is one line: ``FILE: FIELD: message``."""

    def __init__(self, source: str, field: str, message: str):
        # Keys may contain line breaks in TOML; escape them so the message stays one line.
        field = field.encode("unicode_escape").decode("ascii")
        message = " ".join(message.split())
        self.source, self.field, self.message = source, field, message
        where = f"{source}: {field}" if field else source
        super().__init__(f"{where}: {message}")


def slugify(name: str) -> str:
    """A safe folder name: lower case, letters, digits, '-', '_' and '.' only; never '..'.

    Examples
    --------
    >>> slugify("CBT + TMS (early)")
    'cbt-tms-early'
    >>> slugify("../../etc")
    'etc'
    """
    slug = re.sub(r"[^a-z0-9_.]+", "-", name.lower())
    slug = re.sub(r"\.{2,}", ".", slug).strip("-.")
    return slug or "unnamed"


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names allowed at the section that ``loc`` points into."""
    if loc[:1] == ("study",):
        return list(StudySection.model_fields)
    if loc[:1] == ("sweep",):
        return list(SweepSection.model_fields)
    if loc[:1] == ("timing",):
        return list(TimingSection.model_fields)
    if loc[:1] == ("calibration",):
        if len(loc) >= 3 and loc[1] == "design":
            return list(DesignSection.model_fields)
        if len(loc) >= 4 and loc[1] == "targets":
            return ["value", "low", "high", "source", "weight"]
        return list(CalibrationSection.model_fields)
    if loc[:1] == ("arms",):
        if len(loc) >= 6 and loc[2] == "interventions":
            return list(KINDS[loc[4]].model_fields) if loc[4] in KINDS else []
        return list(ArmSection.model_fields)
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None) if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


_SCALAR_TAGS = ("float", "int", "bool", "str")
"""Members of the scalar union that parameter and grid values take, as pydantic names them."""


def _field_name(loc: tuple) -> str:
    """Dotted field name with list indices as ``[i]`` and union tags left out."""
    if loc[:1] == ("parameters",):
        # A parameter value's location ends in the union member tried (".float"); drop it.
        loc = loc[:2]
    if loc and loc[-1] in _SCALAR_TAGS:  # the same in a sweep grid's list of values
        loc = loc[:-1]
    if len(loc) >= 5 and loc[:1] == ("arms",) and loc[2] == "interventions" and loc[4] in KINDS:
        loc = (*loc[:4], *loc[5:])
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


REMOVED_COHORT_KEYS = {
    key: "removed: the pain history before the start is now simulated from "
    'pain.history_start_age (history = "simulated", the default, or "none")'
    for key in ("pain_history_share", "history_median_years")
}


def _describe(err: dict[str, Any]) -> tuple[str, str]:
    """(field, message) for the first pydantic error, phrased for people."""
    loc = tuple(err["loc"])
    if loc[:2] == ("calibration", "targets") and len(loc) >= 4:
        # A target is "published" or a table: drop the union member's tag from the location.
        loc = tuple(part for part in loc if part != "TargetSection" and "literal[" not in str(part))
    field = _field_name(loc)
    kind, msg = err["type"], err["msg"]
    if loc[:2] == ("calibration", "targets") and len(loc) >= 3:
        if kind == "missing":
            return field, "required field is missing (a target needs value, low, high, source)"
        if loc[-1] == "source" and kind == "string_too_short":
            return field, "empty; a target needs its source"
        if kind in ("literal_error", "model_type") or len(loc) == 3:
            return field, 'must be "published" or a table { value, low, high, source }'
    if kind == "extra_forbidden" and loc[-1] in REMOVED_COHORT_KEYS and loc[0] == "cohort":
        return field, REMOVED_COHORT_KEYS[str(loc[-1])]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(Scenario, loc)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return field, f"unknown key; {hint}allowed: {', '.join(allowed)}"
    if kind == "missing":
        return field, "required field is missing"
    for section in ("parameters", "arms", "sweep", "timing", "calibration", "work"):
        prefix = f"Value error, [{section}] "
        if kind == "value_error" and msg.startswith(prefix):
            name, _, rest = msg.removeprefix(prefix).partition(": ")
            return (f"parameters.{name}" if section == "parameters" else name), rest
    if loc and loc[-1] in _SCALAR_TAGS and kind.endswith("_type"):
        # Parameter values and grid values may be any scalar; each is checked against its
        # parameter's own type later.
        return (
            field,
            f"must be a number, true/false or a string, got {describe_value(err.get('input'))}",
        )
    typed = type_error_message(err)
    if typed is not None:
        return field, typed
    if kind == "union_tag_invalid":
        return f"{field}.kind", f"unknown intervention kind; allowed: {', '.join(KINDS)}"
    if kind == "string_pattern_mismatch":
        return field, (
            "must be 1-64 letters, digits, spaces or _ - . + ( ) (first a letter or digit)"
        )
    return field, msg.removeprefix("Value error, ")


def parse_scenario(
    data: dict[str, Any], source: str = "<scenario>", *, check_work: bool = True
) -> Scenario:
    """Validate a scenario given as a dict (e.g. parsed TOML).

    Parameters
    ----------
    data
        The scenario's sections.
    source
        File or description named in error messages.
    check_work
        Check the work it asks for against the budget (:mod:`sim.scenario.budget`);
        off for scenarios read back from results folders.

    Raises
    ------
    ScenarioError
        With a one-line message naming ``source`` and the offending field.
    """
    if not isinstance(data, dict):
        raise ScenarioError(
            source, "", f"a scenario is a table of sections, not {type(data).__name__}"
        )
    try:
        return Scenario.model_validate(data, context={"check_work": check_work})
    except ValidationError as exc:
        errors = exc.errors()
        # A calibration target given as a table: its own problem, not that it isn't "published".
        tabled = [
            e
            for e in errors
            if not (e["type"] == "literal_error" and isinstance(e.get("input"), dict))
        ]
        field, message = _describe((tabled or errors)[0])
        raise ScenarioError(source, field, message) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file.

    Parameters
    ----------
    path
        Path to the ``.toml`` file.

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        Missing, unreadable, not a regular file, too large, not UTF-8, malformed TOML
        (:mod:`sim.scenario.files`), invalid content, or more work than the budget
        (:mod:`sim.scenario.budget`).
    """
    return parse_scenario(read_scenario_file(path), str(path))


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def scenario_from_resolved(data: dict[str, Any], source: str = "manifest.json") -> Scenario:
    """The scenario a results folder was made from, from its resolved form (``resolved()``).

    The resolved form keeps ``parameters`` as a tree by group; scenarios take dotted names.

    Raises
    ------
    ScenarioError
        The data is not a valid scenario (e.g. written by another painsim version).

    Examples
    --------
    >>> s = parse_scenario({"scenario": {"name": "demo"}, "parameters": {"drift.rate": 0.1}})
    >>> scenario_from_resolved(s.resolved()).params.drift.rate
    0.1
    """
    if not isinstance(data, dict):
        raise ScenarioError(source, "scenario", "not an object")
    data = dict(data)
    parameters = data.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ScenarioError(source, "scenario.parameters", "not an object")
    data["parameters"] = _flatten(parameters)
    for section in ("study", "sweep", "timing", "calibration"):
        if data.get(section) is None:
            data.pop(section, None)
    return parse_scenario(data, source, check_work=False)
