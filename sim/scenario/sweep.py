"""The ``[sweep]`` section checked against the rest of its scenario, without running anything.

A sweep names the settings it varies ("targets"):

* model parameters by their dotted name, as in ``[parameters]`` (``drift.rate``);
* cohort fields, ``cohort.<field>`` (``cohort.coping_mean``);
* intervention fields of an arm, ``arms.<arm name>.<intervention index>.<field>``
  (``arms.CBT.0.start_year``; the index counts the arm's ``[[arms.interventions]]`` from 0).

:func:`resolve_target` turns a name into a :class:`Target` that reads and writes that setting;
:func:`check_sweep` (called when a scenario with ``[sweep]`` is validated) checks the outcomes,
the horizon, every name and every listed value or bound. Only the schema, the parameter table
and the outcome names are needed, so validating a sweep scenario never loads the model or the
sweep engine (``sim.experiments.sweep``), which plans and runs it.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import reduce
from numbers import Integral
from typing import Any, Literal

from sim.core.outcomes import HORIZON
from sim.core.parameters import ModelParams, parameter_table
from sim.scenario.schema import CohortSection, Scenario, ScenarioError, parse_scenario

OUTCOME_NAMES: tuple[str, ...] = HORIZON
"""Outcomes a sweep can record: means over patients at the horizon (as in ``summary.csv``)."""


@dataclass(frozen=True)
class Target:
    """One swept setting of a scenario.

    Attributes
    ----------
    name
        The name as written in ``[sweep]``, e.g. ``"arms.CBT.0.start_year"``.
    section
        ``"parameters"`` (a model parameter), ``"cohort"`` or ``"arms"``.
    field
        The parameter's dotted name, or the cohort or intervention field.
    arm, item
        For arm settings: index of the arm in ``[[arms]]`` and of the intervention in it.
    """

    name: str
    section: Literal["parameters", "cohort", "arms"]
    field: str
    arm: int | None = None
    item: int | None = None

    def set(self, data: dict[str, Any], value: Any) -> None:
        """Write ``value`` into a scenario dict (as made by ``Scenario.model_dump``)."""
        if self.section == "parameters":
            data.setdefault("parameters", {})[self.field] = value
        elif self.section == "cohort":
            data.setdefault("cohort", {})[self.field] = value
        else:
            data["arms"][self.arm]["interventions"][self.item][self.field] = value

    def get(self, scenario: Scenario) -> Any:
        """The value this setting has in ``scenario`` (defaults included)."""
        if self.section == "parameters":
            return reduce(getattr, self.field.split("."), scenario.params)
        if self.section == "cohort":
            return getattr(scenario.cohort, self.field)
        return getattr(scenario.arms[self.arm].interventions[self.item], self.field)


def suggest(name: str, candidates: Iterable[str]) -> str:
    """``"did you mean 'x'? "`` for the closest candidate, or ``""``.

    Examples
    --------
    >>> suggest("drift.rte", ["drift.rate", "pain.rate"])
    "did you mean 'drift.rate'? "
    """
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return f"did you mean '{close[0]}'? " if close else ""


def resolve_target(name: str, scenario: Scenario) -> Target:
    """The :class:`Target` a ``[sweep]`` name refers to.

    Raises
    ------
    ValueError
        Unknown parameter or cohort field (with the closest name suggested), unknown arm,
        intervention index out of range, unknown intervention field, or ``kind``.

    Examples
    --------
    >>> s = parse_scenario({"scenario": {"name": "demo"}})
    >>> resolve_target("drift.rate", s).section
    'parameters'
    """
    if name.startswith("cohort."):
        key = name.removeprefix("cohort.")
        if key not in CohortSection.model_fields:
            fields = list(CohortSection.model_fields)
            raise ValueError(
                f"unknown cohort field; {suggest(key, fields)}allowed: {', '.join(fields)}"
            )
        return Target(name, "cohort", key)
    if name.startswith("arms."):
        return _arm_target(name, scenario)
    valid = [row["name"] for row in parameter_table(ModelParams())]
    if name in valid:
        return Target(name, "parameters", name)
    hint = suggest(name, [*valid, *(f"cohort.{f}" for f in CohortSection.model_fields)])
    raise ValueError(
        f"unknown parameter; {hint}sweepable: model parameters (`painsim params`), "
        "cohort.<field>, arms.<arm name>.<intervention index>.<field>"
    )


def _arm_target(name: str, scenario: Scenario) -> Target:
    parts = name.removeprefix("arms.").rsplit(".", 2)
    if len(parts) != 3 or not all(parts):
        raise ValueError(
            "arm settings are named arms.<arm name>.<intervention index>.<field>, "
            "e.g. arms.CBT.0.start_year"
        )
    arm_name, index, key = parts
    names = [arm.name for arm in scenario.arms]
    if arm_name not in names:
        listed = ", ".join(names) if names else "none (the scenario has no [[arms]])"
        raise ValueError(f"unknown arm '{arm_name}'; {suggest(arm_name, names)}arms: {listed}")
    arm = names.index(arm_name)
    items = scenario.arms[arm].interventions
    if not index.isdigit() or int(index) >= len(items):
        have = f"indices 0-{len(items) - 1}" if items else "it has no interventions"
        raise ValueError(f"arm '{arm_name}' has no intervention {index}; {have}")
    spec = items[int(index)]
    if key == "kind":
        raise ValueError("the kind of an intervention cannot be swept; compare kinds as arms")
    fields = [f for f in type(spec).model_fields if f != "kind"]
    if key not in fields:
        raise ValueError(
            f"unknown field of intervention '{spec.kind}'; {suggest(key, fields)}"
            f"allowed: {', '.join(fields)}"
        )
    return Target(name, "arms", key, arm, int(index))


def base_dict(scenario: Scenario) -> dict[str, Any]:
    """The scenario as a dict without its ``[sweep]`` section: what every point starts from."""
    data = scenario.model_dump()
    data.pop("sweep", None)
    return data


def sampled_value(value: float, current: Any) -> float | int:
    """A sampled number as the setting takes it: rounded for integer settings.

    Examples
    --------
    >>> sampled_value(41.6, 40), sampled_value(0.25, 0.1)
    (42, 0.25)
    """
    is_integer = isinstance(current, Integral) and not isinstance(current, bool)
    return round(float(value)) if is_integer else float(value)


def target_values(scenario: Scenario) -> dict[str, list[Any]]:
    """Per swept name, its listed values (grid) or its ``[low, high]`` bounds (samples)."""
    sweep = scenario.sweep
    assert sweep is not None
    return dict(sweep.grid) if sweep.method == "grid" else dict(sweep.bounds)


def check_sweep(scenario: Scenario) -> None:
    """Check a scenario's ``[sweep]`` against the rest of it (called when it is validated).

    Outcomes must be known, the horizon inside the scenario, every target known, and every
    listed value (grid) or bound (samples) must give a valid scenario on its own. Combinations
    are checked when the sweep is planned (``sim.experiments.sweep.plan_sweep``).

    Raises
    ------
    ValueError
        ``"[sweep] <field>: <message>"``, which :func:`sim.scenario.parse_scenario` turns into
        a one-line :class:`~sim.scenario.ScenarioError` naming that field.
    """
    sweep = scenario.sweep
    if sweep is None:
        return
    for name in sweep.outcomes:
        if name not in OUTCOME_NAMES:
            raise ValueError(
                f"[sweep] sweep.outcomes: unknown outcome '{name}'; "
                f"{suggest(name, OUTCOME_NAMES)}allowed: {', '.join(OUTCOME_NAMES)}"
            )
    if len(set(sweep.outcomes)) < len(sweep.outcomes):
        raise ValueError("[sweep] sweep.outcomes: an outcome is listed twice")
    if sweep.horizon_years is not None and sweep.horizon_years > scenario.scenario.years:
        raise ValueError(
            f"[sweep] sweep.horizon_years: {sweep.horizon_years} is after the end "
            f"of the scenario ({scenario.scenario.years} years)"
        )
    section = "grid" if sweep.method == "grid" else "bounds"
    base = base_dict(scenario)
    for name, values in target_values(scenario).items():
        where = f"sweep.{section}.{name}"
        try:
            target = resolve_target(name, scenario)
        except ValueError as exc:
            raise ValueError(f"[sweep] {where}: {exc}") from None
        current = target.get(scenario)
        if section == "bounds":
            if isinstance(current, bool | str | list | dict):
                raise ValueError(
                    f"[sweep] {where}: not a number, so it cannot be sampled between "
                    "bounds; list its values in a grid instead"
                )
            values = [sampled_value(v, current) for v in values]
        for value in values:
            data = copy.deepcopy(base)
            target.set(data, value)
            try:
                parse_scenario(data)
            except ScenarioError as exc:
                raise ValueError(
                    f"[sweep] {where}: {value!r} gives an invalid scenario "
                    f"({exc.field}: {exc.message})"
                ) from None


__all__ = [
    "OUTCOME_NAMES",
    "Target",
    "base_dict",
    "check_sweep",
    "resolve_target",
    "sampled_value",
    "suggest",
    "target_values",
]
