"""Healthy norms: the age-specific healthy distribution of the DMN graph metrics.

DMN coupling changes with age (Andrews-Hanna 2007), so a 70-year-old should be compared with
healthy 70-year-olds. The norms are built once per parameter set from a large simulated healthy
sample at a grid of ages (no pain, no adaptation), and interpolated linearly in age, as normative
modelling does. The sample uses its own fixed seed, so every run, replicate and arm of a
scenario is scored against the same norms.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from sim.core import drift
from sim.core.brain import BrainParams, build_brain
from sim.core.indices import ShrunkCovariance, ledoit_wolf, metric_z
from sim.core.metrics import (
    PERTURBATION_METRICS,
    MetricParams,
    MetricReference,
    metrics_from_edges,
    perturbation_index,
)
from sim.core.parameters import ModelParams

NORMS_SEED = 20240710  # Heukamp et al.'s epub date; any fixed number would do
NORMS_AGES = np.arange(18.0, 95.0, 4.0)


@dataclass(frozen=True)
class HealthyNorms:
    """Healthy mean and SD of each perturbation metric at a grid of ages.

    Attributes
    ----------
    ages
        (A,) ages in years.
    mean, sd
        Metric name -> (A,) healthy mean and SD at those ages.
    healthy_upper
        95th percentile of the perturbation index among the healthy norm sample: a DMN at or
        below it is "in the healthy range".
    metric_covariance
        Ledoit-Wolf estimate of the covariance of the healthy metric z-vector (the norm sample
        z-scored against its own age's norms, pooled over ages), for the Mahalanobis index
        (``sim.core.indices``).
    """

    ages: np.ndarray
    mean: dict[str, np.ndarray]
    sd: dict[str, np.ndarray]
    healthy_upper: float
    metric_covariance: ShrunkCovariance | None = None

    def at(self, age: np.ndarray) -> MetricReference:
        """The healthy reference for people of the given ages (linear interpolation)."""
        age = np.asarray(age, dtype=float)
        return MetricReference(
            mean={m: np.interp(age, self.ages, self.mean[m]) for m in PERTURBATION_METRICS},
            sd={m: np.interp(age, self.ages, self.sd[m]) for m in PERTURBATION_METRICS},
        )


def healthy_edges(
    brain_params: BrainParams, age: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """(N, E) connectivity of healthy people of the given ages (no pain, no adaptation)."""
    brain = build_brain(brain_params)
    zeros = np.zeros(age.size)
    eps = rng.standard_normal((age.size, brain.n_edges))
    return drift.connectivity(
        brain, brain_params, drift.DriftParams(), eps, np.zeros_like(eps), zeros, zeros, age
    )


@lru_cache(maxsize=16)
def _norms(brain_json: str, metrics_json: str) -> HealthyNorms:
    brain_params = BrainParams.model_validate_json(brain_json)
    metric_params = MetricParams.model_validate_json(metrics_json)
    rng = np.random.default_rng(NORMS_SEED)
    age = np.repeat(NORMS_AGES, metric_params.norms_per_age)
    brain = build_brain(brain_params)
    metrics = metrics_from_edges(
        healthy_edges(brain_params, age, rng),
        brain.iu,
        brain.n_regions,
        rule=metric_params.threshold_rule,
        value=metric_params.threshold,
    )
    refs = [
        MetricReference.from_metrics({m: metrics[m][age == a] for m in PERTURBATION_METRICS})
        for a in NORMS_AGES
    ]
    norms = HealthyNorms(
        ages=NORMS_AGES,
        mean={m: np.array([r.mean[m] for r in refs]) for m in PERTURBATION_METRICS},
        sd={m: np.array([r.sd[m] for r in refs]) for m in PERTURBATION_METRICS},
        healthy_upper=np.inf,
    )
    reference = norms.at(age)
    upper = np.percentile(perturbation_index(metrics, reference), 95)
    covariance = ledoit_wolf(metric_z(metrics, reference))
    return replace(norms, healthy_upper=float(upper), metric_covariance=covariance)


def healthy_norms(params: ModelParams) -> HealthyNorms:
    """Age-specific healthy norms for a parameter set (cached).

    Parameters
    ----------
    params
        Model parameters; only the brain and metric settings matter.

    Returns
    -------
    HealthyNorms

    Examples
    --------
    >>> norms = healthy_norms(ModelParams())
    >>> sorted(norms.mean) == sorted(PERTURBATION_METRICS)
    True
    """
    return _norms(params.brain.model_dump_json(), params.metrics.model_dump_json())
