"""Specification of coping (sim.core.coping) and connectivity drift (sim.core.drift) dynamics."""

import numpy as np
import pytest

from sim.core import coping, drift
from sim.core.brain import BrainParams, build_brain
from sim.core.coping import CopingParams
from sim.core.drift import DriftParams
from sim.core.pain import Exposure


def _pain_for(years: float, intensity: float, n: int = 1, dt: float | None = None) -> Exposure:
    """One step of ``years`` in pain at constant intensity for ``n`` people."""
    dt = years if dt is None else dt
    duration = np.zeros((4, n))
    duration[0] = years
    duration[1] = dt - years
    pain = np.zeros((4, n))
    pain[0] = intensity
    return Exposure(dt=dt, rows=np.arange(n), duration=duration, intensity=pain)


def _free_for(years: float, n: int = 1) -> Exposure:
    return Exposure(
        dt=years, rows=np.arange(0), duration=np.zeros((4, 0)), intensity=np.zeros((4, 0))
    )


def test_coping_trait_has_the_community_mean_and_sd():
    rng = np.random.default_rng(0)
    trait = coping.draw_trait(rng.random(200_000), CopingParams())
    assert trait.mean() == pytest.approx(14.0, abs=0.1)
    assert trait.std() == pytest.approx(9.0, abs=0.1)
    assert trait.min() >= 0 and trait.max() <= 52


def test_coping_trait_is_the_scaled_beta_quantile_of_scipy_stats_bit_for_bit():
    """draw_trait avoids importing scipy.stats (slow) but returns exactly beta.ppf's numbers."""
    from scipy.stats import beta

    p = CopingParams()
    m, v = p.trait_mean / coping.PCS_MAX, (p.trait_sd / coping.PCS_MAX) ** 2
    k = m * (1 - m) / v - 1
    u = np.concatenate([[0.0, 1e-300, 0.5, 1 - 2**-53], np.random.default_rng(7).random(100_000)])
    expected = coping.PCS_MAX * beta.ppf(u, m * k, (1 - m) * k)
    np.testing.assert_array_equal(coping.draw_trait(u, p), expected)


def test_coping_state_follows_the_exact_solution_while_in_pain():
    p = CopingParams()
    s = coping.advance(np.zeros(1), _pain_for(5.0, 4.0), p)
    target = p.sensitization_rate * 0.4 / p.recovery_rate
    assert s[0] == pytest.approx(target * (1 - np.exp(-p.recovery_rate * 5.0)), rel=1e-12)


def test_coping_state_relaxes_toward_the_trait_when_pain_free():
    p = CopingParams()
    s = coping.advance(np.array([4.0]), _free_for(2.0), p)
    assert s[0] == pytest.approx(4.0 * np.exp(-2.0 * p.recovery_rate), rel=1e-12)


def test_adaptation_follows_the_exact_solution_and_ignores_the_step():
    p = DriftParams()
    one_step = drift.advance(np.zeros(1), np.zeros(1), _pain_for(10.0, 5.0), np.zeros(1), p)
    a_r, a_s = np.zeros(1), np.zeros(1)
    for _ in range(520):
        a_r, a_s = drift.advance(a_r, a_s, _pain_for(10.0 / 520, 5.0), np.zeros(1), p)
    expected = 1 - np.exp(-p.rate * 0.5 * 10.0)
    assert one_step[0][0] + one_step[1][0] == pytest.approx(expected, rel=1e-12)
    assert a_r[0] + a_s[0] == pytest.approx(expected, rel=1e-12)


def test_reversible_adaptation_halves_over_its_half_life_and_the_scar_stays():
    p = DriftParams()
    a_r, a_s = drift.advance(
        np.array([0.4]), np.array([0.1]), _free_for(p.relax_half_life), np.zeros(1), p
    )
    assert a_r[0] == pytest.approx(0.2, rel=1e-12)
    assert a_s[0] == pytest.approx(0.1, rel=1e-12)


def test_irreversible_share_of_drift_is_phi():
    p = DriftParams(irreversible_fraction=0.25)
    a_r, a_s = drift.advance(np.zeros(1), np.zeros(1), _pain_for(3.0, 6.0), np.zeros(1), p)
    assert a_s[0] / (a_r[0] + a_s[0]) == pytest.approx(0.25, rel=1e-12)


def test_maladaptive_copers_drift_faster_at_equal_pain():
    z = np.array([-1.0, 0.0, 1.0])
    a_r, a_s = drift.advance(np.zeros(3), np.zeros(3), _pain_for(5.0, 4.0, n=3), z, DriftParams())
    total = a_r + a_s
    assert total[0] < total[1] < total[2]


def test_connectivity_without_pain_or_drift_is_the_healthy_mean():
    brain = build_brain()
    zeros = np.zeros((1, brain.n_edges), np.float32)
    r = drift.connectivity(
        brain,
        BrainParams(),
        DriftParams(),
        zeros,
        zeros,
        np.zeros(1),
        np.zeros(1),
        np.array([45.0]),
    )
    assert np.allclose(r[0], np.tanh(brain.healthy_z), atol=1e-12)


def test_adaptation_weakens_mpfc_pcc_and_pain_strengthens_mpfc_insula():
    brain = build_brain()
    zeros = np.zeros((2, brain.n_edges), np.float32)
    r = drift.connectivity(
        brain,
        BrainParams(),
        DriftParams(),
        zeros,
        zeros,
        np.array([0.0, 1.0]),
        np.array([0.0, 8.0]),
        np.array([45.0, 45.0]),
    )
    sets = brain.edge_sets
    assert (r[1, sets["mpfc_pcc"]] < r[0, sets["mpfc_pcc"]]).all()
    assert (r[1, sets["mpfc_insula"]] > r[0, sets["mpfc_insula"]]).all()


def test_anterior_posterior_coupling_falls_with_age():
    brain = build_brain()
    zeros = np.zeros((2, brain.n_edges), np.float32)
    r = drift.connectivity(
        brain,
        BrainParams(),
        DriftParams(),
        zeros,
        zeros,
        np.zeros(2),
        np.zeros(2),
        np.array([25.0, 75.0]),
    )
    ap = brain.edge_sets["anterior_posterior"]
    assert ap.any()
    assert (r[1, ap] < r[0, ap]).all()
