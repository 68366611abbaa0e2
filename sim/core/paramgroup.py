"""Base of every parameter group: a frozen pydantic model whose fields carry unit and source.

Each module that owns equations (``pain``, ``coping``, ``drift``, ``brain``, ``metrics``) declares
its parameters with :func:`param`, so the default, the unit, the plausible range and the source
sit together, as in Covasim's ``parameters.py``. ``sim.core.parameters`` gathers the groups.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ParamGroup(BaseModel):
    """Base of all parameter groups: unknown keys, NaN and infinity are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def param(
    default: Any,
    *,
    unit: str,
    source: str,
    plausible: str = "",
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    doc: str = "",
) -> Any:
    """Declare a model parameter with its unit, plausible range and source.

    Parameters
    ----------
    default
        Default value.
    unit
        Physical unit, e.g. ``"1/year"``; ``"-"`` for dimensionless.
    source
        Citation, or an honest label such as ``"assumption, chosen so that ..."``.
    plausible
        Range worth sweeping, as text (e.g. ``"0.1-0.5"``).
    ge, gt, le, lt
        Validation bounds.
    doc
        One-line meaning of the parameter.

    Returns
    -------
    pydantic.fields.FieldInfo
    """
    return Field(
        default,
        ge=ge,
        gt=gt,
        le=le,
        lt=lt,
        description=doc,
        json_schema_extra={"unit": unit, "source": source, "plausible": plausible},
    )


_EXPECTED = {
    "float_type": "must be a number",
    "int_type": "must be a whole number",
    "bool_type": "must be true or false",
    "string_type": "must be a string (in quotes)",
    "list_type": "must be a list",
    "dict_type": "must be a table",
    "model_type": "must be a table",
}


def describe_value(value: Any) -> str:
    """A short description of a value as it was written in a file (never longer than a line).

    Examples
    --------
    >>> describe_value(True), describe_value("0.3"), describe_value([1, 2])
    ('the boolean true', 'the string "0.3"', 'a list')
    """
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f'the string "{value[:30]}{"..." if len(value) > 30 else ""}"'
    if isinstance(value, int):
        # str() of an integer with thousands of digits is slow or refused: describe it instead.
        return (
            str(value)
            if abs(value) < 10**30
            else f"an integer of about 10^{value.bit_length() * 3 // 10}"
        )
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


def type_error_message(error: Mapping[str, Any]) -> str | None:
    """A plain message for a pydantic error about the type of a value, or None if it is not one.

    Strict validation refuses booleans where numbers are expected and numbers written as
    strings; the message says what was found, e.g. ``must be a number, got the boolean true``.
    """
    expected = _EXPECTED.get(error["type"])
    if expected is None:
        return None
    value = error.get("input")
    hint = ""
    if isinstance(value, bool) and "number" in expected:
        hint = " (booleans are not numbers)"
    elif isinstance(value, str) and "number" in expected:
        hint = " (write numbers without quotes)"
    return f"{expected}, got {describe_value(value)}{hint}"
