"""Connectivity drift: each person's DMN moves from their own healthy baseline toward a
pain-adapted pattern, at a rate that grows with pain and with maladaptive coping.

The weekly state is small: an adaptation level split into a reversible part ``a_r`` and an
irreversible part ``a_s`` (``a = a_r + a_s`` in [0, 1]). Edge-level connectivity is materialized
only when it is recorded, exactly, from fixed per-person draws. Equations (docs/model.md)::

    in pain:    da/dt = kappa * (I / 10) * exp(gamma * z_c) * (1 - a)
                a share phi of each increment is irreversible
    pain-free:  da_r/dt = -rho * a_r,   rho = ln 2 / half-life
    z_ij = mu_ij + sd_ij * eps_ij + beta_age * (age - age_ref) / 10 * AP_ij
           + a * (Delta_ij + tau * eta_ij) + lambda * (I / 10) * MI_ij
    r_ij = tanh(z_ij)

``Delta`` is the pain signature (mPFC-PCC/precuneus coupling falls, other DMN coupling weakens,
mPFC-insula coupling rises; Baliki 2014), ``AP`` marks anterior-posterior DMN edges (age effect,
Andrews-Hanna 2007) and ``MI`` mPFC-insula edges (coupling with current pain, Baliki 2014).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from sim.core.brain import Brain, BrainParams
from sim.core.jit import PARALLEL_MIN_ROWS, njit, prange
from sim.core.pain import Exposure
from sim.core.paramgroup import ParamGroup, param


class DriftParams(ParamGroup):
    """Rate, reversibility and pattern of pain-driven connectivity change."""

    rate: float = param(
        0.106,
        unit="1/year at pain 10",
        plausible="0.05-0.6",
        ge=0,
        le=52,
        source="calibrated: ABC posterior median (95 % CrI 0.053 to 0.55, prior 0.05-0.6, log-"
        "uniform); targets: Heukamp findings 1-3 as effect sizes (docs/model.md, Calibration "
        "to the Heukamp findings)",
        doc="adaptation rate kappa at pain 10 for an average coper",
    )
    coping_weight: float = param(
        0.564,
        unit="log-rate per coping SD",
        plausible="0-1",
        ge=-3,
        le=3,
        source="calibrated: ABC posterior median (95 % CrI 0.033 to 1.0, prior 0-1); targets: "
        "Heukamp findings 1-3 as effect sizes (docs/model.md, Calibration to the Heukamp "
        "findings)",
        doc="gamma: how much maladaptive coping speeds the drift",
    )
    relax_half_life: float = param(
        2.94,
        unit="years",
        plausible="1-10",
        gt=0,
        le=1000,
        source="calibrated: ABC posterior median (95 % CrI 1.06 to 9.4, prior 1-10 years, log-"
        "uniform); targets: Heukamp findings 1-3 as effect sizes (docs/model.md, Calibration "
        "to the Heukamp findings)",
        doc="half-life of the reversible adaptation while pain-free",
    )
    irreversible_fraction: float = param(
        0.199,
        unit="-",
        plausible="0-0.5",
        ge=0,
        le=1,
        source="calibrated: ABC posterior median (95 % CrI 0.015 to 0.45, prior 0-0.5); targets: "
        "Heukamp findings 1-3 as effect sizes (docs/model.md, Calibration to the Heukamp "
        "findings)",
        doc="phi: share of drift that never relaxes",
    )
    mpfc_pcc: float = param(
        -0.27,
        unit="Fisher z at full adaptation",
        plausible="-0.6-0",
        ge=-3,
        le=3,
        source="calibrated: ABC posterior median (95 % CrI -0.59 to -0.035, prior -0.6-0; "
        "direction: Baliki 2014 mPFC-precuneus falls in CBP [C]); targets: Heukamp findings 1-3 as "
        "effect sizes (docs/model.md, Calibration to the Heukamp findings)",
        doc="signature change of mPFC-PCC/precuneus edges",
    )
    mpfc_pcc_direction: Literal["baliki2014", "kucyi2014"] = param(
        "baliki2014",
        unit="-",
        source="baliki2014: mPFC-precuneus coupling falls in chronic back pain (Baliki 2014 "
        "[C]); kucyi2014: mPFC-PCC/precuneus coupling is higher in TMD and rises with pain "
        "rumination (Kucyi 2014 [C]); the two studies disagree in sign",
        doc="which study sets the sign of the mPFC-PCC signature: 'baliki2014' uses "
        "drift.mpfc_pcc as given, 'kucyi2014' flips its sign",
    )
    dmn: float = param(
        -0.0905,
        unit="Fisher z at full adaptation",
        plausible="-0.3-0",
        ge=-3,
        le=3,
        source="calibrated: ABC posterior median (95 % CrI -0.21 to -0.050, prior -0.3-0; "
        "direction assumed: weaker integration); targets: Heukamp findings 1-3 as effect sizes "
        "(docs/model.md, Calibration to the Heukamp findings)",
        doc="signature change of the other within-DMN edges",
    )
    mpfc_insula: float = param(
        0.191,
        unit="Fisher z at full adaptation",
        plausible="0-0.4",
        ge=-3,
        le=3,
        source="calibrated: ABC posterior median (95 % CrI 0.021 to 0.39, prior 0-0.4; direction: "
        "Baliki 2014, Loggia 2013 [C]); targets: Heukamp findings 1-3 as effect sizes "
        "(docs/model.md, Calibration to the Heukamp findings)",
        doc="signature change of mPFC-anterior insula edges",
    )
    pain_mpfc_insula: float = param(
        0.3,
        unit="Fisher z at pain 10",
        plausible="0-0.6",
        ge=-3,
        le=3,
        source="direction: Baliki 2014 mPFC-insula tracks pain intensity, r = 0.75 [C]; "
        "size: assumption",
        doc="lambda: state coupling of mPFC-insula edges with current pain",
    )
    individual_sd: float = param(
        0.05,
        unit="Fisher z",
        plausible="0-0.15",
        ge=0,
        le=1,
        source="assumption: people differ in where their network drifts",
        doc="tau: SD of each person's idiosyncratic drift direction per edge",
    )


MPFC_PCC_SIGN: dict[str, float] = {"baliki2014": 1.0, "kucyi2014": -1.0}
"""Factor on ``drift.mpfc_pcc`` for each ``drift.mpfc_pcc_direction``."""


def signature(brain: Brain, p: DriftParams) -> np.ndarray:
    """(E,) pain signature Delta in Fisher z at full adaptation.

    The mPFC-PCC/precuneus edges get ``p.mpfc_pcc`` (Baliki 2014 direction, default) or its
    negative (``mpfc_pcc_direction = "kucyi2014"``).

    Examples
    --------
    >>> from sim.core.brain import build_brain
    >>> brain = build_brain()
    >>> pcc = brain.edge_sets["mpfc_pcc"]
    >>> float(signature(brain, DriftParams())[pcc][0])
    -0.27
    >>> float(signature(brain, DriftParams(mpfc_pcc_direction="kucyi2014"))[pcc][0])
    0.27
    """
    sets = brain.edge_sets
    delta = np.where(sets["dmn"], p.dmn, 0.0)
    mpfc_pcc = MPFC_PCC_SIGN[p.mpfc_pcc_direction] * p.mpfc_pcc
    delta = np.where(sets["mpfc_pcc"], mpfc_pcc, delta)
    return np.where(sets["mpfc_insula"], p.mpfc_insula, delta)


def advance(
    reversible: np.ndarray,
    scar: np.ndarray,
    exposure: Exposure,
    coping_z: np.ndarray,
    p: DriftParams,
) -> tuple[np.ndarray, np.ndarray]:
    """Adaptation after one step of pain exposure, exact per constant-pain segment.

    Parameters
    ----------
    reversible, scar
        (N,) reversible and irreversible adaptation before the step.
    exposure
        The step's pain timeline from :func:`sim.core.pain.advance`.
    coping_z
        (N,) coping z-score during the step.
    p
        Drift parameters.

    Returns
    -------
    (reversible, scar)
        Adaptation after the step.
    """
    relax = np.log(2.0) / p.relax_half_life
    rows = exposure.rows
    out_r = reversible * np.exp(-relax * exposure.dt)
    a_r, a_s = reversible[rows], scar[rows]
    speed = p.rate * np.exp(p.coping_weight * coping_z[rows]) / 10.0
    for k, (duration, intensity) in enumerate(
        zip(exposure.duration, exposure.intensity, strict=True)
    ):
        if k in Exposure.PAIN_SEGMENTS:
            gain = (1.0 - a_r - a_s) * -np.expm1(-speed * intensity * duration)
            a_r = a_r + (1.0 - p.irreversible_fraction) * gain
            a_s = a_s + p.irreversible_fraction * gain
        else:
            a_r = a_r * np.exp(-relax * duration)
    out_r[rows] = a_r
    out_s = scar.copy()
    out_s[rows] = a_s
    return out_r, out_s


def connectivity(
    brain: Brain,
    brain_params: BrainParams,
    p: DriftParams,
    baseline: np.ndarray,
    idiosyncrasy: np.ndarray,
    adaptation: np.ndarray,
    pain: np.ndarray,
    age: np.ndarray,
    expression: np.ndarray | None = None,
) -> np.ndarray:
    """Materialize (N, E) connectivity (Pearson r) from the compact per-person state.

    Parameters
    ----------
    brain
        Network template (healthy means, SDs, edge sets).
    brain_params, p
        Brain and drift parameters.
    baseline, idiosyncrasy
        (N, E) standard-normal draws fixed per person: healthy deviation ``eps`` and drift
        direction ``eta``.
    adaptation
        (N,) total adaptation ``a``.
    pain
        (N,) current pain intensity (NRS 0-10).
    age
        (N,) age in years.
    expression
        Optional (N, E) factor on the expressed drift of each edge (1 = fully expressed); a
        brain-stimulation treatment lowers it on its target edges while it lasts.

    Returns
    -------
    numpy.ndarray
        (N, E) float64 Pearson r in canonical edge order.
    """
    sets = brain.edge_sets
    # Numba's threads cost more than they save on small batches (a study's participants).
    kernel = (
        _connectivity_kernel if np.shape(baseline)[0] >= PARALLEL_MIN_ROWS else _connectivity_serial
    )
    return kernel(
        brain.healthy_z,
        brain.healthy_sd_z,
        np.asarray(baseline),
        np.asarray(idiosyncrasy),
        brain_params.age_slope * (np.asarray(age, float) - brain_params.reference_age) / 10.0,
        sets["anterior_posterior"].astype(np.float64),
        np.asarray(adaptation, float),
        signature(brain, p),
        p.individual_sd,
        p.pain_mpfc_insula * np.asarray(pain, float) / 10.0,
        sets["mpfc_insula"].astype(np.float64),
        np.empty((0, 0)) if expression is None else np.ascontiguousarray(expression, float),
    )


@njit(nogil=True, parallel=True, cache=True)
def _connectivity_kernel(mu, sd, eps, eta, age_shift, ap, a, delta, tau, pain_shift, mi, expr):
    """r_ij = tanh(mu + sd*eps + age_shift*AP + a*(Delta + tau*eta)*X + pain_shift*MI)."""
    out = np.empty(eps.shape)
    for i in prange(eps.shape[0]):
        _connectivity_row(i, out, mu, sd, eps, eta, age_shift, ap, a, delta, tau, pain_shift,
                          mi, expr)  # fmt: skip
    return out


@njit(nogil=True, cache=True)
def _connectivity_serial(mu, sd, eps, eta, age_shift, ap, a, delta, tau, pain_shift, mi, expr):
    """:func:`_connectivity_kernel` on one thread."""
    out = np.empty(eps.shape)
    for i in range(eps.shape[0]):
        _connectivity_row(i, out, mu, sd, eps, eta, age_shift, ap, a, delta, tau, pain_shift,
                          mi, expr)  # fmt: skip
    return out


@njit(cache=True)
def _connectivity_row(i, out, mu, sd, eps, eta, age_shift, ap, a, delta, tau, pain_shift, mi,
                      expr):  # fmt: skip
    scaled = expr.shape[0] > 0
    for e in range(eps.shape[1]):
        drift = a[i] * (delta[e] + tau * eta[i, e])
        if scaled:
            drift *= expr[i, e]
        z = mu[e] + sd[e] * eps[i, e] + age_shift[i] * ap[e] + drift + pain_shift[i] * mi[e]
        # tanh via exp: LLVM vectorizes exp but calls libm's tanh element by element;
        # the two agree to ~4e-16.
        out[i, e] = 1.0 - 2.0 / (np.exp(2.0 * z) + 1.0)
