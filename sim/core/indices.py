"""Variants of the DMN perturbation index, beside the mean |z| of :mod:`sim.core.metrics`.

The Heukamp-style index (:func:`sim.core.metrics.perturbation_index`, mean |z| of four graph
metrics) has a floor near 0.8 in healthy people, cannot say in which direction a network moved,
and mixes current pain with accumulated change. This module adds (equations and reasons in
``docs/model.md``, "Perturbation index variants"):

``signature_score``
    signed projection of a person's connectivity change (Fisher z, each edge in healthy-SD
    units) onto the model's pain signature Δ: 0 on average and SD 1 in healthy people, positive
    toward the pain-adapted pattern, linear in the adaptation ``a``.
``mahalanobis``
    distance of the four-metric z-vector from healthy people, with a Ledoit-Wolf shrinkage
    estimate of the healthy covariance (:func:`ledoit_wolf`).
``<index>_trait``, ``<index>_state``
    the index of the same person's connectivity without current pain (accumulated adaptation
    only; ``PainModel.connectivity(rows, with_pain=False)``), and the rest,
    ``state = total - trait``: what current pain adds.

Two entry points compute every variant: :func:`model_indices` for people in a
:class:`~sim.core.model.PainModel` (against the model's exact healthy distribution at each
person's age) and :func:`indices_vs_controls` for measured connectivity in a study (against the
study's own healthy controls). Both use :func:`index_variants`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.core.brain import Brain, BrainParams
from sim.core.drift import signature
from sim.core.metrics import (
    PERTURBATION_METRICS,
    MetricReference,
    metrics_from_edges,
    perturbation_index,
)
from sim.core.outcomes import INDICES as OUTCOME_INDICES

if TYPE_CHECKING:  # types only: the model imports this module's callers, not the reverse
    from sim.core.model import PainModel
    from sim.core.parameters import ModelParams

INDICES: tuple[str, ...] = ("dmn_perturbation", "signature_score", "mahalanobis")
"""The index variants, in table order."""
INDEX_COLUMNS: tuple[str, ...] = OUTCOME_INDICES
"""Every column :func:`model_indices` returns: the indices, then their trait and state parts
(names, units and labels in ``sim.core.outcomes``)."""
R_LIMIT = 1.0 - 1e-12
"""Correlations are clipped to ±R_LIMIT before ``arctanh``, so r = ±1 stays finite."""


def fisher_z(edges: np.ndarray) -> np.ndarray:
    """Fisher z = arctanh(r) of (N, E) correlations (clipped to stay finite), as float64."""
    return np.arctanh(np.clip(np.asarray(edges, dtype=np.float64), -R_LIMIT, R_LIMIT))


# -- healthy references --------------------------------------------------------------------------
@dataclass(frozen=True)
class EdgeReference:
    """Healthy mean and SD of every edge on the Fisher-z scale.

    Attributes
    ----------
    mean
        (E,) or (N, E): one healthy mean per edge, or one per person and edge (age-specific).
    sd
        (E,) healthy between-person SD per edge.
    """

    mean: np.ndarray
    sd: np.ndarray

    @classmethod
    def from_edges(cls, edges: np.ndarray) -> EdgeReference:
        """The reference of a healthy group from its (N, E) connectivity (Pearson r).

        Raises
        ------
        ValueError
            Fewer than 2 people, or an edge whose SD is 0 or not finite.
        """
        z = fisher_z(edges)
        if z.ndim != 2 or z.shape[0] < 2:
            raise ValueError(f"need (N >= 2, E) healthy connectivity, got shape {z.shape}")
        sd = z.std(axis=0, ddof=1)
        if not np.all(np.isfinite(sd) & (sd > 0)):
            raise ValueError("every edge needs a positive, finite SD among the healthy people")
        return cls(mean=z.mean(axis=0), sd=sd)

    @classmethod
    def healthy(cls, brain: Brain, params: BrainParams, age: np.ndarray) -> EdgeReference:
        """The model's exact healthy distribution at each age (no pain, no adaptation).

        Healthy Fisher z of edge e at age x is normal with mean
        ``mu_e + age_slope * (x - reference_age) / 10 * AP_e`` and SD ``sd_e``
        (``sim.core.drift.connectivity`` with a = 0 and no pain).
        """
        shift = params.age_slope * (np.asarray(age, dtype=float) - params.reference_age) / 10.0
        ap = brain.edge_sets["anterior_posterior"].astype(float)
        mean = brain.healthy_z[None, :] + shift[:, None] * ap[None, :]
        return cls(mean=mean, sd=np.asarray(brain.healthy_sd_z, dtype=float))

    def z_scores(self, edges: np.ndarray) -> np.ndarray:
        """(N, E) edge z-scores: (Fisher z − healthy mean) / healthy SD."""
        return (fisher_z(edges) - self.mean) / self.sd


def signature_score(edges: np.ndarray, reference: EdgeReference, delta: np.ndarray) -> np.ndarray:
    """Signed perturbation along the pain signature, in healthy-SD units.

    With edge z-scores ``z_e = (arctanh r_e − m_e) / s_e`` against healthy people and the
    signature in the same units, ``u_e = Δ_e / s_e``, the score is ``Σ_e z_e u_e / ||u||``:
    the projection of the person's change onto the unit signature direction. If healthy edges
    are independent normal (as in the model), healthy people score N(0, 1); a person with
    adaptation ``a`` and no pain scores ``a · ||u||`` on average.

    Parameters
    ----------
    edges
        (N, E) connectivity (Pearson r).
    reference
        Healthy edge reference.
    delta
        (E,) pain signature Δ on the Fisher-z scale (``sim.core.drift.signature``); its sign
        fixes which direction counts as positive.

    Returns
    -------
    numpy.ndarray
        (N,) scores; NaN for everyone if the signature is zero (no direction to project on).

    Examples
    --------
    >>> ref = EdgeReference(mean=np.zeros(2), sd=np.array([0.5, 0.5]))
    >>> signature_score(np.tanh([[0.5, 0.0]]), ref, np.array([1.0, 0.0]))
    array([1.])
    """
    u = np.asarray(delta, dtype=float) / reference.sd
    norm = float(np.linalg.norm(u))
    z = reference.z_scores(edges)
    if norm == 0.0:
        return np.full(z.shape[0], np.nan)
    return z @ (u / norm)


# -- shrinkage covariance and Mahalanobis distance ----------------------------------------------
@dataclass(frozen=True)
class ShrunkCovariance:
    """A covariance estimate shrunk toward a scaled identity.

    ``covariance = (1 − shrinkage) · S + shrinkage · (tr S / p) · I`` with S the sample
    covariance (ddof = 1) of ``n`` observations of ``p`` variables.
    """

    covariance: np.ndarray
    shrinkage: float
    n: int

    @property
    def precision(self) -> np.ndarray:
        """The inverse covariance."""
        return np.linalg.inv(self.covariance)


def ledoit_wolf(x: np.ndarray, shrinkage: float | None = None) -> ShrunkCovariance:
    """Ledoit-Wolf shrinkage estimate of the covariance of the rows of ``x``.

    The intensity is Ledoit & Wolf's (2004, J Multivariate Anal 88:365) closed form: with the
    centred data X (n × p), S_n = X'X/n, m = tr(S_n)/p, the normalised Frobenius norm
    ||A||² = tr(AA')/p, d² = ||S_n − mI||² and b̄² = n⁻² Σ_k ||x_k x_k' − S_n||²,
    the intensity is min(b̄², d²) / d² (0 if d² = 0). It is scale-free, so it is applied to the
    unbiased S = n/(n − 1) · S_n; with ``shrinkage=0`` the result is exactly ``np.cov(x.T)``.

    Parameters
    ----------
    x
        (n, p) observations, n >= 2; rows with any NaN are left out.
    shrinkage
        A fixed intensity in [0, 1] instead of the estimate (0: the sample covariance).

    Returns
    -------
    ShrunkCovariance

    Raises
    ------
    ValueError
        Fewer than 2 complete rows, or ``shrinkage`` outside [0, 1].

    Examples
    --------
    >>> x = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 4.0], [4.0, 3.0]])
    >>> est = ledoit_wolf(x, shrinkage=0.0)
    >>> bool(np.allclose(est.covariance, np.cov(x.T)))
    True
    """
    x = np.asarray(x, dtype=float)
    x = x[~np.isnan(x).any(axis=1)]
    n, p = x.shape
    if n < 2:
        raise ValueError(f"need at least 2 complete observations, got {n}")
    if shrinkage is not None and not 0.0 <= shrinkage <= 1.0:
        raise ValueError(f"shrinkage must be in [0, 1], got {shrinkage}")
    centred = x - x.mean(axis=0)
    s_n = centred.T @ centred / n
    mu = np.trace(s_n) / p
    if shrinkage is None:
        d2 = np.sum((s_n - mu * np.eye(p)) ** 2) / p
        # n⁻² Σ_k ||x_k x_k' − S_n||² = n⁻¹ (n⁻¹ Σ_k ||x_k||⁴ − ||S_n||²)
        b2 = (np.sum(np.sum(centred**2, axis=1) ** 2) / n - np.sum(s_n**2)) / (n * p)
        shrinkage = 0.0 if d2 <= 0.0 else float(min(b2, d2) / d2)
    s = s_n * n / (n - 1)
    target = np.trace(s) / p * np.eye(p)
    return ShrunkCovariance((1.0 - shrinkage) * s + shrinkage * target, float(shrinkage), n)


def mahalanobis(z: np.ndarray, covariance: ShrunkCovariance | np.ndarray) -> np.ndarray:
    """Mahalanobis distance sqrt(z' Σ⁻¹ z) of each row of (N, p) ``z`` from 0.

    Rows with missing values use the sub-matrix of the variables they have (the distance in
    the space that is observed); a row with none is NaN.

    Examples
    --------
    >>> mahalanobis(np.array([[3.0, 4.0], [np.nan, 2.0]]), np.eye(2))
    array([5., 2.])
    """
    z = np.asarray(z, dtype=float)
    cov = covariance.covariance if isinstance(covariance, ShrunkCovariance) else covariance
    present = ~np.isnan(z)
    if present.all():  # the usual case: one solve for everyone
        solved = np.linalg.solve(cov, z.T).T
        return np.sqrt(np.maximum(np.sum(z * solved, axis=1), 0.0))
    out = np.full(z.shape[0], np.nan)
    patterns, which = np.unique(present, axis=0, return_inverse=True)
    for k, keep in enumerate(patterns):
        rows = which.ravel() == k
        if not keep.any():
            continue
        sub = z[np.ix_(rows, keep)]
        solved = np.linalg.solve(cov[np.ix_(keep, keep)], sub.T).T
        out[rows] = np.sqrt(np.maximum(np.sum(sub * solved, axis=1), 0.0))
    return out


def metric_z(metrics: dict[str, np.ndarray], reference: MetricReference) -> np.ndarray:
    """(N, 4) z-scores of the :data:`~sim.core.metrics.PERTURBATION_METRICS`, in that order."""
    z = reference.z_scores(metrics)
    return np.column_stack([z[name] for name in PERTURBATION_METRICS])


# -- all variants at once -------------------------------------------------------------------------
@dataclass(frozen=True)
class IndexReference:
    """Everything the index variants compare a person with.

    Attributes
    ----------
    metrics
        Healthy mean and SD of each graph metric (per person for age-specific norms).
    edges
        Healthy mean and SD of each edge (Fisher z).
    covariance
        Healthy covariance of the metric z-vector (:func:`ledoit_wolf`).
    delta
        (E,) the pain signature Δ that fixes the sign of ``signature_score``.
    """

    metrics: MetricReference
    edges: EdgeReference
    covariance: ShrunkCovariance
    delta: np.ndarray

    @classmethod
    def from_controls(
        cls,
        edges: np.ndarray,
        metrics: dict[str, np.ndarray],
        delta: np.ndarray,
        shrinkage: float | None = None,
    ) -> IndexReference:
        """The reference of a study's healthy controls: their connectivity and graph metrics.

        Parameters
        ----------
        edges
            (n, E) measured connectivity (Pearson r) of the controls.
        metrics
            Their graph metrics (:func:`~sim.core.metrics.metrics_from_edges`).
        delta
            (E,) pain signature.
        shrinkage
            Fixed Ledoit-Wolf intensity (default: estimated).
        """
        reference = MetricReference.from_metrics(metrics)
        return cls(
            metrics=reference,
            edges=EdgeReference.from_edges(edges),
            covariance=ledoit_wolf(metric_z(metrics, reference), shrinkage),
            delta=np.asarray(delta, dtype=float),
        )


def index_variants(
    edges: np.ndarray, metrics: dict[str, np.ndarray], reference: IndexReference
) -> dict[str, np.ndarray]:
    """The three index variants (:data:`INDICES`) of people with the given connectivity.

    Parameters
    ----------
    edges
        (N, E) connectivity (Pearson r).
    metrics
        Their graph metrics.
    reference
        The healthy reference.

    Returns
    -------
    dict
        (N,) arrays ``dmn_perturbation`` (mean |z|), ``signature_score``, ``mahalanobis``.
    """
    return {
        "dmn_perturbation": perturbation_index(metrics, reference.metrics),
        "signature_score": signature_score(edges, reference.edges, reference.delta),
        "mahalanobis": mahalanobis(metric_z(metrics, reference.metrics), reference.covariance),
    }


def with_parts(total: dict[str, np.ndarray], trait: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Indices with their trait parts and state parts (``state = total − trait``).

    Examples
    --------
    >>> with_parts({"x": np.array([1.0])}, {"x": np.array([0.75])})["x_state"]
    array([0.25])
    """
    out = dict(total)
    for name, value in total.items():
        out[f"{name}_trait"] = trait[name]
        out[f"{name}_state"] = value - trait[name]
    return out


def _metrics(edges: np.ndarray, brain: Brain, params: ModelParams) -> dict[str, np.ndarray]:
    m = params.metrics
    return metrics_from_edges(
        edges, brain.iu, brain.n_regions, rule=m.threshold_rule, value=m.threshold
    )


def indices_vs_controls(
    edges: np.ndarray,
    healthy: np.ndarray,
    brain: Brain,
    params: ModelParams,
    *,
    edges_pain_free: np.ndarray | None = None,
    shrinkage: float | None = None,
) -> dict[str, np.ndarray]:
    """Every index variant of a study's participants against the study's own healthy controls.

    The counterpart of ``perturbation_vs_controls`` in the virtual study: graph metrics from
    thresholded measured connectivity, z-scored against the controls' mean and SD (mean |z|),
    their covariance shrunk by Ledoit-Wolf (Mahalanobis), and edges z-scored against the
    controls for the signed score along ``sim.core.drift.signature`` (so a study run with
    ``drift.mpfc_pcc_direction = "kucyi2014"`` projects on the Kucyi direction).

    Parameters
    ----------
    edges
        (N, E) measured connectivity (Pearson r) of every participant.
    healthy
        (N,) True for the healthy controls (the reference group).
    brain, params
        Network and model parameters (threshold rule, signature).
    edges_pain_free
        Optional (N, E) connectivity of the same scans without the current-pain term (e.g.
        ``PainModel.connectivity(rows, with_pain=False)`` plus the same measurement noise);
        adds ``<index>_trait`` and ``<index>_state`` columns.
    shrinkage
        Fixed Ledoit-Wolf intensity (default: estimated from the controls).

    Returns
    -------
    dict
        (N,) arrays :data:`INDICES` (and their parts with ``edges_pain_free``); controls score
        ``signature_score`` 0 on average.
    """
    healthy = np.asarray(healthy, dtype=bool)
    metrics = _metrics(edges, brain, params)
    reference = IndexReference.from_controls(
        np.asarray(edges)[healthy],
        {k: v[healthy] for k, v in metrics.items()},
        signature(brain, params.drift),
        shrinkage,
    )
    total = index_variants(edges, metrics, reference)
    if edges_pain_free is None:
        return total
    trait = index_variants(edges_pain_free, _metrics(edges_pain_free, brain, params), reference)
    return with_parts(total, trait)


def model_reference(model: PainModel, ages: np.ndarray) -> IndexReference:
    """The model's healthy reference for people of the given ages (norms and exact edges)."""
    norms = model.norms
    return IndexReference(
        metrics=norms.at(ages),
        edges=EdgeReference.healthy(model.brain, model.params.brain, ages),
        covariance=norms.metric_covariance,
        delta=signature(model.brain, model.params.drift),
    )


def model_indices(
    model: PainModel, rows: np.ndarray | slice = slice(None), pain_now: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Every index variant and its trait and state parts for people in a model, now.

    The total uses the person's connectivity now (:meth:`PainModel.connectivity`), the trait
    part the same person without current pain (``with_pain=False``: accumulated adaptation and
    any treatment's effect on its expression), and ``state = total − trait``. The reference is
    the model's healthy distribution at each person's age: the healthy norms for the graph
    metrics (``sim.core.norms``; the covariance of their z-vector from the same norm sample)
    and the exact healthy edge distribution for the signed score.

    Parameters
    ----------
    model
        A :class:`~sim.core.model.PainModel` at the time of interest.
    rows
        Whom to score (index array or slice).
    pain_now
        Their current pain, if already computed (default: ``model.current_pain(rows)``).

    Returns
    -------
    dict
        (n,) arrays, keys :data:`INDEX_COLUMNS`.

    Examples
    --------
    >>> from sim.scenario import parse_scenario
    >>> from sim.core.model import PainModel
    >>> s = parse_scenario({"scenario": {"name": "demo", "years": 1}, "cohort": {"size": 5}})
    >>> out = model_indices(PainModel(s, create_agents=False))
    >>> list(out) == list(INDEX_COLUMNS), out["signature_score"].shape
    (True, (5,))
    """
    ages = model.age[rows]
    reference = model_reference(model, ages)
    if pain_now is None:
        pain_now = model.current_pain(rows)
    total_edges = model.connectivity(rows, pain_now)
    trait_edges = model.connectivity(rows, with_pain=False)
    total = index_variants(total_edges, _metrics(total_edges, model.brain, model.params), reference)
    trait = index_variants(trait_edges, _metrics(trait_edges, model.brain, model.params), reference)
    parts = with_parts(total, trait)
    return {name: parts[name] for name in INDEX_COLUMNS}
