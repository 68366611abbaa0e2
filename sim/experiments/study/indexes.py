"""DMN perturbation indices the virtual study can use: a registry of pluggable functions.

The paper's perturbation measure is not known (brief §1 [NF]), so the study runs with every
index listed in ``[study] indices`` and reports whether the findings depend on the choice. An
index is a function ``index(scans, controls) -> scores``: :class:`Scans` holds one replication's
measured connectivity and graph metrics (with :meth:`Scans.metrics_z` against the controls),
``controls`` marks the replication's healthy controls (the reference, as in the paper), and the
result is one score per participant, higher = more perturbed.

To add an index (e.g. the variants of ``sim.core.indices``: signed score, shrinkage Mahalanobis,
trait/state split), write a function with this signature here and add an :class:`Index` to
:data:`INDEXES`; ``[study] indices`` then accepts its key, the study analyses every replication
with it (same people, same noise, same bootstrap resamples as the first index) and
``variants.csv`` / ``findings.md`` report its detection rates (``docs/model.md``, "Index
variants"). The first listed index is the study's primary one (``study.csv``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.core.brain import Brain
from sim.core.metrics import (
    PERTURBATION_METRICS,
    MetricReference,
    metrics_from_edges,
    perturbation_index,
)
from sim.core.parameters import ModelParams


@dataclass(frozen=True)
class Scans:
    """One replication's scans as measured, for every participant.

    Attributes
    ----------
    edges
        (n, E) measured connectivity (Pearson r, canonical edge order ``brain.iu``).
    metrics
        Graph metrics of the thresholded connectivity (``sim.core.metrics.metrics_from_edges``):
        name -> (n,).
    brain, params
        The network template and the model parameters (threshold rule, signature sets).
    """

    edges: np.ndarray
    metrics: dict[str, np.ndarray]
    brain: Brain
    params: ModelParams

    @classmethod
    def measure(cls, edges: np.ndarray, brain: Brain, params: ModelParams) -> Scans:
        """Graph metrics of measured connectivity, thresholded as ``params.metrics`` says."""
        m = params.metrics
        metrics = metrics_from_edges(
            edges, brain.iu, brain.n_regions, rule=m.threshold_rule, value=m.threshold
        )
        return cls(edges=edges, metrics=metrics, brain=brain, params=params)

    def reference(self, controls: np.ndarray) -> MetricReference:
        """Mean and SD of the perturbation metrics among the ``controls``."""
        return MetricReference.from_metrics({k: v[controls] for k, v in self.metrics.items()})

    def metrics_z(self, controls: np.ndarray) -> dict[str, np.ndarray]:
        """Each of the four perturbation metrics as a z-score against the ``controls``."""
        z = self.reference(controls).z_scores(self.metrics)
        return {name: z[name] for name in PERTURBATION_METRICS}


IndexFunction = Callable[[Scans, np.ndarray], np.ndarray]
"""``index(scans, controls) -> (n,) scores``; ``controls`` is an (n,) boolean mask."""


@dataclass(frozen=True)
class Index:
    """A registered perturbation index."""

    key: str
    label: str
    function: IndexFunction
    doc: str

    def __call__(self, scans: Scans, controls: np.ndarray) -> np.ndarray:
        return self.function(scans, controls)


def mean_abs_z(scans: Scans, controls: np.ndarray) -> np.ndarray:
    """Mean |z| of the four poster metrics against the controls (healthy people score ~0.8)."""
    return perturbation_index(scans.metrics, scans.reference(controls))


INDEXES: dict[str, Index] = {
    "mean_abs_z": Index(
        "mean_abs_z",
        "mean |z| of four graph metrics",
        mean_abs_z,
        "mean absolute z-score of mean shortest path, mean degree, closeness and global "
        "efficiency against the study's controls (brief §1 suggested operationalization)",
    ),
}
"""Every index a study can use, by ``[study] indices`` key; the lead adds the variants here."""


def index(key: str) -> Index:
    """The registered index ``key``.

    Raises
    ------
    KeyError
        ``key`` is not in :data:`INDEXES` (the message lists those that are).
    """
    try:
        return INDEXES[key]
    except KeyError:
        raise KeyError(f"unknown index '{key}' (registered: {', '.join(INDEXES)})") from None
