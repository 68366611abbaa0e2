"""Base of every parameter group: a frozen pydantic model whose fields carry unit and source.

Each module that owns equations (``pain``, ``coping``, ``drift``, ``brain``, ``metrics``) declares
its parameters with :func:`param`, so the default, the unit, the plausible range and the source
sit together, as in Covasim's ``parameters.py``. ``sim.core.parameters`` gathers the groups.
"""

from __future__ import annotations

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
