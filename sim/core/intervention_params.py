"""Intervention parameters by dotted name, for calibrations and posterior draws.

``<kind>.<field>`` (e.g. ``cbt.pain_effect``) names one intervention kind's default; a
calibration estimates these and a posterior draw sets them (:func:`with_defaults`), while any
field an arm sets itself in its scenario keeps the arm's value.
"""

from __future__ import annotations

from sim.core.interventions import KINDS, Intervention

PSYCHOLOGICAL: tuple[str, ...] = ("cbt", "act", "mindfulness")
"""Kinds that share one responsiveness spread (``psychological.response_shape``)."""
TUNABLE_FIELDS: tuple[str, ...] = (
    "uptake",
    "adherence",
    "dropout",
    "coping_effect",
    "pain_effect",
    "half_life_weeks",
    "dmn_effect",
    "dmn_half_life_weeks",
    "response_shape",
)
"""Intervention fields a calibration may estimate (delivery and effect, not trial design)."""


def intervention_parameters() -> dict[str, tuple[tuple[str, ...], str]]:
    """Dotted intervention parameter names -> (kinds they set, field).

    ``<kind>.<field>`` sets one kind's default, e.g. ``cbt.pain_effect``;
    ``psychological.response_shape`` sets the responsiveness spread CBT, ACT and mindfulness
    share.

    Examples
    --------
    >>> intervention_parameters()["psychological.response_shape"]
    (('cbt', 'act', 'mindfulness'), 'response_shape')
    """
    names: dict[str, tuple[tuple[str, ...], str]] = {}
    for kind in KINDS:
        if kind == "usual_care":
            continue
        for field in TUNABLE_FIELDS:
            names[f"{kind}.{field}"] = ((kind,), field)
    names["psychological.response_shape"] = (PSYCHOLOGICAL, "response_shape")
    return names


def with_defaults(spec: Intervention, values: dict[str, float]) -> Intervention:
    """``spec`` with new defaults from dotted ``values``; fields the scenario set stay.

    A posterior draw replaces what the model would otherwise assume; an arm that sets a field
    itself (e.g. a sweep of ``pain_effect``) keeps its own value.

    Raises
    ------
    ValueError
        A value the field cannot take (pydantic's message).
    """
    names = intervention_parameters()
    changes = {}
    for name, value in values.items():
        kinds, field = names[name]
        if spec.kind in kinds and field not in spec.model_fields_set:
            changes[field] = value
    if not changes:
        return spec
    data = spec.model_dump(exclude_unset=True)
    data.update(changes)
    updated = type(spec).model_validate(data)
    # Keep which fields the scenario set: posterior values are still defaults.
    object.__setattr__(updated, "__pydantic_fields_set__", set(spec.model_fields_set))
    return updated
