"""All model parameters in one tree, with tables for the docs and dotted-name overrides.

:class:`ModelParams` gathers the parameter groups declared beside their equations;
:func:`apply_overrides` changes any parameter by dotted name (``"drift.rate"``), which is what
scenario files and sweeps use; :func:`parameter_table` lists name, default, unit, plausible
range and source of every parameter (``painsim params`` prints it).
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from sim.core.brain import BrainParams
from sim.core.coping import CopingParams
from sim.core.drift import DriftParams
from sim.core.metrics import MetricParams
from sim.core.pain import PainParams
from sim.core.paramgroup import ParamGroup, type_error_message


def parameter_table(params: BaseModel, prefix: str = "") -> list[dict[str, Any]]:
    """Flatten a parameter tree into rows of name, value, unit, plausible range, source, doc.

    Parameters
    ----------
    params
        A :class:`ModelParams` or any parameter group.
    prefix
        Dotted prefix for nested names.

    Returns
    -------
    list of dict
        One row per leaf parameter, in declaration order.

    Examples
    --------
    >>> rows = parameter_table(ModelParams())
    >>> any(r["name"] == "drift.rate" for r in rows)
    True
    """
    rows = []
    for name, field in type(params).model_fields.items():
        value = getattr(params, name)
        dotted = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            rows.extend(parameter_table(value, prefix=f"{dotted}."))
            continue
        extra = field.json_schema_extra or {}
        rows.append(
            {
                "name": dotted,
                "value": value,
                "unit": extra.get("unit", ""),
                "plausible": extra.get("plausible", ""),
                "source": extra.get("source", ""),
                "doc": field.description or "",
            }
        )
    return rows


_RANGE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*-\s*(-?\d+(?:\.\d+)?)\s*$")


def plausible_bounds(name: str, params: BaseModel | None = None) -> tuple[float, float] | None:
    """(low, high) of a parameter's documented plausible range, or None if it has none.

    Examples
    --------
    >>> plausible_bounds("drift.rate"), plausible_bounds("brain.r_dmn_salience")
    ((0.05, 0.6), (-0.15, 0.15))
    >>> plausible_bounds("brain.atlas") is None
    True
    """
    for row in parameter_table(params or ModelParams()):
        if row["name"] == name:
            match = _RANGE.match(str(row["plausible"]))
            if match is None or isinstance(row["value"], bool | str):
                return None
            low, high = float(match.group(1)), float(match.group(2))
            return (low, high) if low < high else None
    raise KeyError(name)


class OverrideError(ValueError):
    """An override names an unknown parameter or gives it a value it cannot take."""

    def __init__(self, name: str, message: str):
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def apply_overrides(params: BaseModel, overrides: dict[str, Any]) -> BaseModel:
    """Return a copy of ``params`` with dotted-name overrides applied and validated.

    Parameters
    ----------
    params
        The parameter tree to start from (not modified).
    overrides
        Mapping of dotted names to new values, e.g. ``{"drift.rate": 0.05}``.

    Returns
    -------
    pydantic.BaseModel
        A new, validated tree of the same type.

    Raises
    ------
    OverrideError
        Unknown name (with the closest valid name suggested) or invalid value. Values are
        checked strictly against the parameter's type: ``True`` or ``"0.3"`` is not a number,
        ``2.0`` is not a whole number; an integer is accepted where a number is expected.

    Examples
    --------
    >>> p = apply_overrides(ModelParams(), {"drift.rate": 0.1})
    >>> p.drift.rate
    0.1
    """
    valid = [row["name"] for row in parameter_table(params)]
    data = params.model_dump()
    for name, value in overrides.items():
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
            hint = f"did you mean '{close[0]}'?" if close else "see `painsim params` for the list"
            raise OverrideError(name, f"unknown parameter; {hint}")
        node = data
        *path, leaf = name.split(".")
        for part in path:
            node = node[part]
        node[leaf] = value
    try:
        # Strict: a boolean or a string is not a number (an integer is a fine float).
        return type(params).model_validate(data, strict=True)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise OverrideError(loc, type_error_message(err) or err["msg"]) from None


def allowed_range(params: BaseModel, name: str) -> tuple[float, float, bool, bool]:
    """(low, high, low inclusive, high inclusive) a parameter may take, from its validation.

    Examples
    --------
    >>> allowed_range(ModelParams(), "pain.p_persistent")
    (0, 1, True, True)
    """
    *path, leaf = name.split(".")
    node: Any = params
    for part in path:
        node = getattr(node, part)
    return field_bounds(type(node), leaf)


def field_bounds(model: type, field: str) -> tuple[float, float, bool, bool]:
    """(low, high, low inclusive, high inclusive) from a pydantic field's ge/gt/le/lt.

    Examples
    --------
    >>> from sim.core.drift import DriftParams
    >>> field_bounds(DriftParams, "irreversible_fraction")
    (0, 1, True, True)
    """
    low, high, low_in, high_in = -float("inf"), float("inf"), True, True
    for meta in model.model_fields[field].metadata:
        if getattr(meta, "ge", None) is not None:
            low, low_in = meta.ge, True
        if getattr(meta, "gt", None) is not None:
            low, low_in = meta.gt, False
        if getattr(meta, "le", None) is not None:
            high, high_in = meta.le, True
        if getattr(meta, "lt", None) is not None:
            high, high_in = meta.lt, False
    return low, high, low_in, high_in


class ModelParams(ParamGroup):
    """All model parameters, grouped by the module that owns the equations."""

    brain: BrainParams = Field(default_factory=BrainParams)
    pain: PainParams = Field(default_factory=PainParams)
    coping: CopingParams = Field(default_factory=CopingParams)
    drift: DriftParams = Field(default_factory=DriftParams)
    metrics: MetricParams = Field(default_factory=MetricParams)


def parameter_markdown(params: BaseModel | None = None) -> str:
    """The parameter table of docs/model.md, generated from the code.

    Examples
    --------
    >>> parameter_markdown().splitlines()[0]
    '| parameter | default | unit | plausible | meaning | source |'
    """
    rows = parameter_table(params or ModelParams())
    lines = [
        "| parameter | default | unit | plausible | meaning | source |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [
            f"`{r['name']}`",
            f"{r['value']}",
            r["unit"],
            r["plausible"],
            r["doc"],
            r["source"],
        ]
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)
