"""The outcome vocabulary: every recorded variable's name, unit and labels, declared once.

Tables, figures, the command line and the teaching page all take names, units and labels from
:data:`VARIABLES`, so "pain" is "Pain (NRS 0–10)" everywhere. A :class:`Variable` says what a
column *is*; the groups below say which columns each table carries.

Examples
--------
>>> VARIABLES["pain"].label
'Pain (NRS 0–10)'
>>> VARIABLES["share_chronic"].kind
'share'
>>> VARIABLES["mpfc_pcc"].label
'mPFC–PCC connectivity (r)'
>>> label("dmn_perturbation", difference=True)
'Δ DMN perturbation (healthy SD)'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["continuous", "share", "count", "category", "id", "time"]


@dataclass(frozen=True)
class Variable:
    """One recorded variable.

    Attributes
    ----------
    name
        Column name in every table (``patients.parquet``, ``summary.csv``, sweeps, ...).
    unit
        Unit as printed after a label: ``"NRS 0–10"``, ``"healthy SD"``; ``""`` for none.
        A share is a fraction 0–1 (tables that print per cent say so in their header).
    short
        Short name for table headers, e.g. ``"pain"``.
    kind
        ``"continuous"``; ``"share"`` (a 0/1 indicator per person, whose mean is a share);
        ``"count"``; ``"category"``; ``"id"``; ``"time"``.
    description
        One sentence: what it measures (the column documentation in ``results/README.md``).
    better
        ``"lower"`` or ``"higher"`` when one direction is clinically better, else ``None``
        (figures draw a "better" cue from it).
    label
        Axis label: the short name capitalized, with the unit, e.g. ``"Pain (NRS 0–10)"``.
        Give it explicitly where capitalizing reads badly (``"mPFC–PCC connectivity (r)"``,
        not ``"MPFC–..."``); left out, it is made from ``short`` and ``unit``.
    """

    name: str
    unit: str
    short: str
    kind: Kind
    description: str
    better: Literal["lower", "higher"] | None = None
    label: str = ""

    def __post_init__(self) -> None:
        if not self.label:
            text = self.short[:1].upper() + self.short[1:]
            object.__setattr__(self, "label", f"{text} ({self.unit})" if self.unit else text)

    @property
    def difference_unit(self) -> str:
        """Unit of a difference between two values (a scale's range is not a difference)."""
        if self.kind == "share":
            return "share"
        return {"NRS 0–10": "NRS points", "PCS 0–52": "PCS points"}.get(self.unit, self.unit)


def _v(
    name: str,
    unit: str,
    short: str,
    kind: Kind,
    description: str,
    better: Literal["lower", "higher"] | None = None,
    label: str = "",
) -> Variable:
    return Variable(name, unit, short, kind, description, better, label)


VARIABLES: dict[str, Variable] = {
    v.name: v
    for v in (
        _v(
            "patient_id",
            "",
            "patient",
            "id",
            "0 … N−1 within a replicate; the same id is the "
            "same person at every record time and in every arm (virtual twins)",
        ),
        _v("arm", "", "arm", "category", "arm name"),
        _v(
            "replicate",
            "",
            "replicate",
            "id",
            "0 … replicates−1; each replicate is a new cohort with its own random streams",
        ),
        _v("year", "years", "year", "time", "time since the start of the run"),
        _v("age", "years", "age", "continuous", "age"),
        _v("sex", "", "sex", "category", "F or M"),
        _v("stage", "", "pain stage", "category", "pain stage now: none, acute, subacute, chronic"),
        _v(
            "episodes",
            "",
            "episodes",
            "count",
            "pain episodes so far, including those before the start",
        ),
        _v(
            "years_with_pain",
            "years",
            "years lived with pain",
            "continuous",
            "years lived with pain so far, including before the start",
        ),
        _v("pain", "NRS 0–10", "pain", "continuous", "current pain intensity", "lower"),
        _v(
            "coping",
            "PCS 0–52",
            "catastrophizing",
            "continuous",
            "catastrophizing score (higher = worse coping)",
            "lower",
        ),
        _v(
            "adaptation",
            "0–1",
            "adaptation",
            "continuous",
            "connectivity adaptation a (0 = own healthy pattern)",
        ),
        _v(
            "dmn_perturbation",
            "healthy SD",
            "DMN perturbation",
            "continuous",
            "mean absolute z-score of char_path_length, mean_degree, closeness and "
            "global_efficiency against healthy people of the same age (a healthy person "
            "scores about 0.8)",
            "lower",
        ),
        _v(
            "char_path_length",
            "1/r",
            "characteristic path length",
            "continuous",
            "mean weighted shortest path over reachable region pairs, edge length = 1/r; NaN "
            "if no pair is reachable",
        ),
        _v(
            "mean_degree",
            "edges per region",
            "mean degree",
            "continuous",
            "mean number of kept edges per region (edges with r ≥ threshold)",
        ),
        _v(
            "mean_strength",
            "r",
            "mean strength",
            "continuous",
            "mean sum of kept edge weights per region",
        ),
        _v(
            "closeness",
            "r units",
            "closeness centrality",
            "continuous",
            "mean weighted closeness centrality (Wasserman–Faust scaling)",
        ),
        _v(
            "global_efficiency",
            "r units",
            "global efficiency",
            "continuous",
            "mean of 1 / shortest path over all region pairs (0 for unreachable pairs)",
        ),
        _v(
            "mpfc_pcc",
            "r",
            "mPFC–PCC connectivity",
            "continuous",
            "mean connectivity of mPFC–PCC/precuneus edges (Pearson r)",
            label="mPFC–PCC connectivity (r)",
        ),
        _v(
            "mpfc_insula",
            "r",
            "mPFC–insula connectivity",
            "continuous",
            "mean connectivity of mPFC–insula edges (Pearson r)",
            label="mPFC–insula connectivity (r)",
        ),
        _v(
            "healthy_range",
            "",
            "DMN in the healthy range",
            "share",
            "DMN perturbation at or below the 95th percentile of healthy people",
            "higher",
        ),
        _v(
            "pain_reported",
            "NRS 0–10",
            "reported pain",
            "continuous",
            "pain as reported (true pain + reporting noise, pain.report_sd)",
            "lower",
        ),
        _v(
            "enrolled_year",
            "years",
            "year of enrolment",
            "time",
            "year of enrolment in the arm's first intervention; NaN if never enrolled",
        ),
        _v(
            "baseline_pain",
            "NRS 0–10",
            "reported pain at enrolment",
            "continuous",
            "reported pain at enrolment; NaN if never enrolled",
        ),
        _v(
            "responder",
            "",
            "responders",
            "share",
            "1 if reported pain is >= 30 % below baseline_pain, else 0; NaN before or without "
            "enrolment (its mean is the responder rate among the enrolled)",
            "higher",
        ),
        _v("share_none", "", "no pain now", "share", "in no pain episode now"),
        _v("share_acute", "", "in an acute episode", "share", "in an acute episode now"),
        _v("share_subacute", "", "in a subacute episode", "share", "in a subacute episode now"),
        _v(
            "share_chronic",
            "",
            "in a chronic episode",
            "share",
            "in a chronic episode now",
            "lower",
        ),
        _v(
            "signature_score",
            "healthy SD",
            "signature score",
            "continuous",
            "signed DMN perturbation: connectivity change projected onto the pain signature, "
            "edges in healthy-SD units (healthy people score 0 on average, SD 1; positive = "
            "toward the pain-adapted pattern)",
            "lower",
        ),
        _v(
            "mahalanobis",
            "healthy SD",
            "Mahalanobis distance",
            "continuous",
            "distance of the four-metric z-vector from healthy people, with a Ledoit-Wolf "
            "shrinkage estimate of their covariance",
            "lower",
        ),
        *(
            _v(
                f"{name}_{part}",
                "healthy SD",
                f"{short}, {part} part",
                "continuous",
                f"{short} of the same connectivity without current pain (accumulated adaptation)"
                if part == "trait"
                else f"{short} minus its trait part: what current pain adds",
                "lower" if part == "trait" else None,
            )
            for name, short in (
                ("dmn_perturbation", "DMN perturbation"),
                ("signature_score", "signature score"),
                ("mahalanobis", "Mahalanobis distance"),
            )
            for part in ("trait", "state")
        ),
    )
}
"""Every recorded variable, in the column order of ``patients.parquet`` where they appear."""

STAGE_SHARES: tuple[str, ...] = ("share_none", "share_acute", "share_subacute", "share_chronic")
"""Per-stage indicators, in the order of ``sim.core.pain.STAGES``."""
METRICS: tuple[str, ...] = (
    "char_path_length",
    "mean_degree",
    "mean_strength",
    "closeness",
    "global_efficiency",
)
"""The graph metrics, in the order of ``sim.core.metrics.METRIC_NAMES``."""
NETWORK: tuple[str, ...] = ("dmn_perturbation", *METRICS, "mpfc_pcc", "mpfc_insula")
"""What :meth:`sim.core.model.PainModel.network_outcomes` computes per person."""
TRIAL: tuple[str, ...] = (
    "healthy_range",
    "pain_reported",
    "enrolled_year",
    "baseline_pain",
    "responder",
)
"""Per-person trial columns (enrolment, reports, responder status)."""
SNAPSHOT: tuple[str, ...] = (
    "age",
    "sex",
    "stage",
    "episodes",
    "years_with_pain",
    "pain",
    "coping",
    "adaptation",
    *NETWORK,
    *TRIAL,
)
"""Columns of one patient record (``patients.parquet`` after its key columns)."""
PATIENT_KEYS: tuple[str, ...] = ("patient_id", "arm", "replicate", "year")
PATIENT_COLUMNS: tuple[str, ...] = (*PATIENT_KEYS, *SNAPSHOT)
"""Columns of ``patients.parquet``, in order."""
TIMESERIES: tuple[str, ...] = (
    *NETWORK,
    "pain",
    "coping",
    "years_with_pain",
    "healthy_range",
    "responder",
)
"""Variables summarized as mean and SD in ``timeseries.parquet``."""
HORIZON: tuple[str, ...] = (*TIMESERIES, *STAGE_SHARES)
"""Outcomes of ``summary.csv`` (and of sweeps): means over patients at the horizon."""
INDICES: tuple[str, ...] = (
    "dmn_perturbation",
    "signature_score",
    "mahalanobis",
    *(
        f"{n}_{p}"
        for n in ("dmn_perturbation", "signature_score", "mahalanobis")
        for p in ("trait", "state")
    ),
)
"""The perturbation index variants and their parts (``sim.core.indices.INDEX_COLUMNS``)."""


def variable(name: str) -> Variable:
    """The :class:`Variable` called ``name``.

    Raises
    ------
    KeyError
        Unknown name (the message lists the closest known name).
    """
    try:
        return VARIABLES[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(VARIABLES), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise KeyError(f"unknown outcome '{name}'{hint}") from None


def label(name: str, *, difference: bool = False) -> str:
    """Axis label of a variable (or of a difference in it); unknown names are returned as-is.

    Examples
    --------
    >>> label("coping")
    'Catastrophizing (PCS 0–52)'
    >>> label("pain", difference=True)
    'Δ pain (NRS points)'
    """
    v = VARIABLES.get(name)
    if v is None:
        return name
    if not difference:
        return v.label
    return f"Δ {v.short} ({v.difference_unit})"
