"""Maladaptive pain coping (catastrophizing) on the Pain Catastrophizing Scale, 0-52.

A person's score is a stable trait plus a state that grows while they live with pain and relaxes
while they are pain-free (assumption: no longitudinal study of untreated PCS change with years of
pain was found, brief §4). Treatments (``sim.core.interventions``) lower the state. The score feeds
back on the brain through the drift rate (``sim.core.drift``) and on the course of new episodes
(``sim.core.pain``), which is how coping can carry part of the effect of years with pain.

Equations (symbols as in docs/model.md)::

    c = clip(theta + s, 0, 52)
    ds/dt = alpha * I / 10 - beta * s          (exact solution per constant-pain segment)
    z_c = (c - mu_c) / sd_c
"""

from __future__ import annotations

import numpy as np

from sim.core.pain import Exposure
from sim.core.paramgroup import ParamGroup, param

PCS_MAX = 52.0


class CopingParams(ParamGroup):
    """Trait distribution and pain-driven dynamics of the catastrophizing score (PCS)."""

    trait_mean: float = param(
        14.0,
        unit="PCS points",
        plausible="10-21",
        gt=0,
        lt=PCS_MAX,
        source="Fernandes 2012: primary/secondary-care LBP 13.6 (SD 9.2) [C]",
        doc="population mean of the coping trait",
    )
    trait_sd: float = param(
        9.0,
        unit="PCS points",
        plausible="8-11",
        gt=0,
        lt=26,
        source="Fernandes 2012 [C]",
        doc="population SD of the coping trait",
    )
    sensitization_rate: float = param(
        3.0,
        unit="PCS points/year at pain 10",
        plausible="0-6",
        ge=0,
        le=52,
        source="assumption [NF], chosen so that after ten years of typical chronic pain the "
        "score is about 4 points above the trait (clinic means of 30 reflect selection)",
        doc="growth of the coping state while in pain (alpha)",
    )
    recovery_rate: float = param(
        0.218,
        unit="1/year",
        plausible="0.05-1",
        gt=0,
        le=52,
        source="calibrated: ABC posterior median (95 % CrI 0.057 to 0.94, prior 0.05-1 /year, log-"
        "uniform); targets: Heukamp findings 1-3 as effect sizes (docs/model.md, Calibration "
        "to the Heukamp findings)",
        doc="relaxation of the coping state toward the trait (beta)",
    )


def draw_trait(u: np.ndarray, p: CopingParams) -> np.ndarray:
    """Coping trait on 0-52 from uniforms: a scaled Beta with the given mean and SD.

    Examples
    --------
    >>> t = draw_trait(np.linspace(0.001, 0.999, 999), CopingParams())
    >>> round(float(t.mean()), 0), round(float(t.std()), 0)
    (14.0, 9.0)
    """
    m = p.trait_mean / PCS_MAX
    v = (p.trait_sd / PCS_MAX) ** 2
    k = m * (1 - m) / v - 1
    if k <= 0:
        raise ValueError("coping trait SD too large for its mean on a 0-52 scale")
    # The Beta quantile function itself: scipy.stats.beta.ppf returns exactly these numbers
    # (tests/test_coping.py), but importing scipy.stats costs every run most of a second.
    from scipy.special import betaincinv

    return PCS_MAX * betaincinv(m * k, (1 - m) * k, u)


def score(trait: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Observed coping score, clipped to the PCS range."""
    return np.clip(trait + state, 0.0, PCS_MAX)


def z_score(coping: np.ndarray, p: CopingParams) -> np.ndarray:
    """Coping score in population-SD units (positive = more catastrophizing)."""
    return (coping - p.trait_mean) / p.trait_sd


def advance(state: np.ndarray, exposure: Exposure, p: CopingParams) -> np.ndarray:
    """Coping state after one step of pain exposure (exact per segment).

    Parameters
    ----------
    state
        (N,) coping state s before the step.
    exposure
        The step's pain timeline from :func:`sim.core.pain.advance`.
    p
        Coping parameters.

    Returns
    -------
    numpy.ndarray
        (N,) coping state after the step.
    """
    out = state * np.exp(-p.recovery_rate * exposure.dt)
    s = state[exposure.rows]
    for duration, intensity in zip(exposure.duration, exposure.intensity, strict=True):
        target = p.sensitization_rate * intensity / 10.0 / p.recovery_rate
        s = target + (s - target) * np.exp(-p.recovery_rate * duration)
    out[exposure.rows] = s
    return out
