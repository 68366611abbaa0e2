"""Specification of sim.core.indices: the perturbation index variants.

Every variant is recomputed independently, from NetworkX graph metrics and numpy/scipy, on a few
hundred simulated people; then the properties the definitions promise are checked: healthy
people score about 0 along the signature, zero shrinkage gives the plain Mahalanobis distance,
trait + state = total, and the trait part does not jump when pain is relieved.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import mahalanobis as scipy_mahalanobis

from sim.core.brain import build_brain
from sim.core.drift import DriftParams, signature
from sim.core.indices import (
    INDEX_COLUMNS,
    EdgeReference,
    fisher_z,
    indices_vs_controls,
    ledoit_wolf,
    mahalanobis,
    signature_score,
)
from sim.core.metrics import PERTURBATION_METRICS, metrics_from_edges, networkx_metrics
from sim.core.model import PainModel
from sim.core.norms import healthy_edges
from sim.core.pain import WEEKS_PER_YEAR
from sim.core.parameters import ModelParams
from sim.scenario import parse_scenario


def cohort_model(seed: int = 3, size: int = 300, years: float = 4.0, **parameters) -> PainModel:
    """A cohort with pain histories, run for a few years (some people in pain now)."""
    scenario = parse_scenario(
        {
            "scenario": {"name": "indices", "seed": seed, "years": years, "dt_weeks": 4},
            "cohort": {
                "size": size,
                "age_min": 25,
                "age_max": 70,
            },
            "parameters": parameters,
        }
    )
    model = PainModel(scenario, create_agents=False)
    model.run_until(years)
    return model


def networkx_graph(edges: np.ndarray, threshold: float, n_regions: int) -> nx.Graph:
    """The thresholded graph of one person, built edge by edge (absolute rule)."""
    g = nx.Graph()
    g.add_nodes_from(range(n_regions))
    for (i, j), r in zip(zip(*np.triu_indices(n_regions, 1), strict=True), edges, strict=True):
        if r >= threshold and r > 0:
            g.add_edge(int(i), int(j), weight=float(r))
    return g


def independent_indices(model: PainModel, rows: np.ndarray, edges: np.ndarray) -> dict:
    """The three variants from NetworkX metrics and numpy/scipy, person by person."""
    brain, params, norms = model.brain, model.params, model.norms
    age = model.age[rows]
    precision = np.linalg.inv(norms.metric_covariance.covariance)
    delta = signature(brain, params.drift)
    sd = brain.healthy_sd_z
    unit = (delta / sd) / np.linalg.norm(delta / sd)
    ap = brain.edge_sets["anterior_posterior"]
    out = {"dmn_perturbation": [], "mahalanobis": [], "signature_score": []}
    for k in range(rows.size):
        metrics = networkx_metrics(
            networkx_graph(edges[k], params.metrics.threshold, brain.n_regions)
        )
        z = np.array(
            [
                (metrics[m] - np.interp(age[k], norms.ages, norms.mean[m]))
                / np.interp(age[k], norms.ages, norms.sd[m])
                for m in PERTURBATION_METRICS
            ]
        )
        out["dmn_perturbation"].append(np.mean(np.abs(z)))
        out["mahalanobis"].append(scipy_mahalanobis(z, np.zeros(4), precision))
        healthy_mean = brain.healthy_z + params.brain.age_slope * (age[k] - 45.0) / 10.0 * ap
        out["signature_score"].append(((np.arctanh(edges[k]) - healthy_mean) / sd) @ unit)
    return {name: np.array(values) for name, values in out.items()}


@pytest.fixture(scope="module")
def model() -> PainModel:
    return cohort_model()


@pytest.mark.slow  # recomputes every index with NetworkX
def test_every_variant_matches_an_independent_networkx_recomputation(model: PainModel) -> None:
    rows = np.arange(model.cohort.size)
    ours = model.indices(rows)
    assert list(ours) == list(INDEX_COLUMNS)
    for part, edges in (
        ("", model.connectivity(rows)),
        ("_trait", model.connectivity(rows, with_pain=False)),
    ):
        theirs = independent_indices(model, rows, edges)
        for name, values in theirs.items():
            np.testing.assert_allclose(ours[f"{name}{part}"], values, rtol=1e-9, atol=1e-9)


def test_the_mean_abs_z_variant_is_the_recorded_perturbation_index(model: PainModel) -> None:
    np.testing.assert_array_equal(
        model.indices()["dmn_perturbation"], model.network_outcomes()["dmn_perturbation"]
    )


def test_trait_plus_state_is_the_total_and_pain_free_people_have_no_state_part(
    model: PainModel,
) -> None:
    out = model.indices()
    for name in ("dmn_perturbation", "signature_score", "mahalanobis"):
        # state = total - trait, so the sum is the total to the last bit or two
        np.testing.assert_allclose(
            out[f"{name}_trait"] + out[f"{name}_state"], out[name], rtol=1e-15, atol=1e-15
        )
    free = model.current_pain() == 0
    assert 0 < free.sum() < free.size
    for name in ("dmn_perturbation", "signature_score", "mahalanobis"):
        np.testing.assert_array_equal(out[f"{name}_state"][free], 0.0)


def test_healthy_people_score_zero_on_average_along_the_signature_with_unit_sd() -> None:
    params = ModelParams()
    brain = build_brain(params.brain)
    age = np.random.default_rng(1).uniform(18, 90, 20_000)
    edges = healthy_edges(params.brain, age, np.random.default_rng(2))
    score = signature_score(
        edges, EdgeReference.healthy(brain, params.brain, age), signature(brain, params.drift)
    )
    # exactly N(0, 1) by construction: mean within 4 standard errors, SD within 2 %
    assert abs(score.mean()) < 4 / np.sqrt(score.size)
    assert score.std() == pytest.approx(1.0, rel=0.02)
    assert stats.kstest(score, "norm").pvalue > 0.001


def test_the_signature_score_grows_linearly_with_adaptation_in_pain_free_people() -> None:
    """Without pain and idiosyncrasy, score = a · ||Δ / σ||, exactly, for everyone."""
    params = ModelParams()
    brain = build_brain(params.brain)
    p = DriftParams(individual_sd=0.0)
    n = 50
    rng = np.random.default_rng(4)
    a = rng.uniform(0, 1, n)
    age = rng.uniform(20, 80, n)
    eps = np.zeros((n, brain.n_edges))
    from sim.core.drift import connectivity

    edges = connectivity(brain, params.brain, p, eps, eps, a, np.zeros(n), age)
    delta = signature(brain, p)
    score = signature_score(edges, EdgeReference.healthy(brain, params.brain, age), delta)
    np.testing.assert_allclose(score, a * np.linalg.norm(delta / brain.healthy_sd_z), rtol=1e-9)


def test_ledoit_wolf_intensity_matches_the_per_observation_formula() -> None:
    rng = np.random.default_rng(5)
    x = rng.multivariate_normal(
        np.zeros(4), [[1, 0.9, 0, 0], [0.9, 1, 0, 0], [0, 0, 1, 0.3], [0, 0, 0.3, 2]], size=40
    )
    n, p = x.shape
    xc = x - x.mean(axis=0)
    s = xc.T @ xc / n
    mu = np.trace(s) / p
    d2 = np.sum((s - mu * np.eye(p)) ** 2) / p
    b2 = sum(np.sum((np.outer(row, row) - s) ** 2) / p for row in xc) / n**2
    expected = min(b2, d2) / d2
    est = ledoit_wolf(x)
    assert est.shrinkage == pytest.approx(expected, rel=1e-12)
    target = np.trace(np.cov(x.T)) / p * np.eye(p)
    np.testing.assert_allclose(
        est.covariance, (1 - expected) * np.cov(x.T) + expected * target, rtol=1e-12
    )


def test_ledoit_wolf_agrees_with_scikit_learn_up_to_the_ddof_scale() -> None:
    covariance = pytest.importorskip("sklearn.covariance")
    x = np.random.default_rng(6).standard_normal((30, 4)) @ np.diag([1.0, 2.0, 0.5, 1.0])
    theirs, shrinkage = covariance.ledoit_wolf(x)
    ours = ledoit_wolf(x)
    assert ours.shrinkage == pytest.approx(shrinkage, rel=1e-10)
    np.testing.assert_allclose(ours.covariance * (29 / 30), theirs, rtol=1e-10)


def test_shrinkage_falls_as_the_healthy_sample_grows() -> None:
    rng = np.random.default_rng(7)
    cov = [[1, 0.95, -0.5, 0], [0.95, 1, -0.5, 0], [-0.5, -0.5, 1, 0.2], [0, 0, 0.2, 1]]
    small, large = (ledoit_wolf(rng.multivariate_normal(np.zeros(4), cov, n)) for n in (39, 4000))
    assert 0 < large.shrinkage < small.shrinkage <= 1


def test_mahalanobis_with_zero_shrinkage_is_the_plain_distance() -> None:
    rng = np.random.default_rng(8)
    healthy = rng.multivariate_normal([0, 0, 0, 0], np.eye(4) + 0.6, 50)
    people = rng.normal(0.5, 1.0, (20, 4))
    plain = np.linalg.inv(np.cov(healthy.T))
    expected = [scipy_mahalanobis(z, np.zeros(4), plain) for z in people]
    np.testing.assert_allclose(
        mahalanobis(people, ledoit_wolf(healthy, shrinkage=0.0)), expected, rtol=1e-10
    )
    shrunk = ledoit_wolf(healthy)
    assert shrunk.shrinkage > 0
    assert not np.allclose(mahalanobis(people, shrunk), expected)


def test_mahalanobis_uses_the_observed_metrics_when_one_is_missing() -> None:
    cov = np.array([[2.0, 0.5], [0.5, 1.0]])
    np.testing.assert_allclose(
        mahalanobis(np.array([[np.nan, 3.0], [np.nan, np.nan]]), cov), [3.0, np.nan]
    )


def test_study_indices_are_centred_on_the_study_controls() -> None:
    params = ModelParams()
    brain = build_brain(params.brain)
    rng = np.random.default_rng(9)
    age = rng.uniform(20, 70, 200)
    edges = healthy_edges(params.brain, age, rng)
    # the second half drifts along the signature
    edges[100:] = np.tanh(fisher_z(edges[100:]) + 0.3 * signature(brain, params.drift))
    healthy = np.arange(200) < 100
    out = indices_vs_controls(edges, healthy, brain, params)
    assert abs(out["signature_score"][healthy].mean()) < 1e-12
    # 0.3 signatures in z: well beyond the controls (about 1.8 healthy SDs with the defaults)
    assert out["signature_score"][~healthy].mean() > 1.5
    metrics = metrics_from_edges(edges, brain.iu, brain.n_regions)
    z = np.column_stack(
        [
            (metrics[m] - metrics[m][healthy].mean()) / metrics[m][healthy].std(ddof=1)
            for m in PERTURBATION_METRICS
        ]
    )
    # the study's mean |z| against its own controls, as the virtual Heukamp study computes it
    np.testing.assert_allclose(out["dmn_perturbation"], np.abs(z).mean(axis=1), rtol=1e-12)
    plain = np.linalg.inv(np.cov(z[healthy].T))
    zero = indices_vs_controls(edges, healthy, brain, params, shrinkage=0.0)
    np.testing.assert_allclose(
        zero["mahalanobis"], [scipy_mahalanobis(row, np.zeros(4), plain) for row in z]
    )
    parts = indices_vs_controls(edges, healthy, brain, params, edges_pain_free=edges)
    np.testing.assert_array_equal(parts["signature_score_state"], 0.0)


def test_pain_relief_raises_the_index_through_its_state_part_only() -> None:
    """PRT at 8 weeks: the mean |z| rises (the documented artefact); its trait part does not."""
    scenario = parse_scenario(
        {
            "scenario": {"name": "relief", "years": 6, "seed": 5, "dt_weeks": 2},
            "cohort": {
                "size": 8000,
                "age_min": 30,
                "age_max": 60,
            },
            "arms": [
                {
                    "name": "usual care",
                    "interventions": [
                        {"kind": "usual_care", "start_year": 3, "eligible_stages": ["chronic"]}
                    ],
                },
                {
                    "name": "PRT",
                    "interventions": [
                        {"kind": "prt", "start_year": 3, "eligible_stages": ["chronic"]}
                    ],
                },
            ],
        }
    )
    out = {}
    for arm in ("usual care", "PRT"):
        m = PainModel(scenario, arm=arm, create_agents=False)
        m.run_until(3 + 8 / WEEKS_PER_YEAR)
        rows = np.flatnonzero(np.isfinite(m.enrolled_year()))
        out[arm] = rows, m.indices(rows), m.current_pain(rows)
    (rows_uc, uc, pain_uc), (rows_prt, prt, pain_prt) = out["usual care"], out["PRT"]
    np.testing.assert_array_equal(rows_uc, rows_prt)  # virtual twins: the same people enrolled
    assert rows_uc.size > 200
    assert pain_prt.mean() < 0.6 * pain_uc.mean()
    diff = {k: float(np.nanmean(prt[k] - uc[k])) for k in uc}
    assert diff["dmn_perturbation"] > 0.05  # relief of mPFC-insula coupling raises mean |z|
    assert diff["dmn_perturbation_trait"] <= 0.0  # slower drift: never higher
    assert abs(diff["dmn_perturbation_trait"]) < 0.2 * diff["dmn_perturbation"]
    assert diff["signature_score"] < 0  # the signed score moves toward healthy
    assert abs(diff["signature_score_trait"]) < abs(diff["signature_score"])


def test_kucyi_direction_flips_the_coping_correlation_of_mpfc_pcc_in_chronic_patients() -> None:
    r = {}
    for direction in ("baliki2014", "kucyi2014"):
        m = cohort_model(seed=12, size=6000, years=6.0, **{"drift.mpfc_pcc_direction": direction})
        chronic = np.flatnonzero(m.stages() == 3)
        assert chronic.size > 300
        r[direction] = np.corrcoef(m.coping_now(chronic), m.network_outcomes(chronic)["mpfc_pcc"])[
            0, 1
        ]
    # Opposite signs, each clearly away from 0 (-0.35 and +0.29 with the calibrated defaults).
    assert r["baliki2014"] < -0.2
    assert r["kucyi2014"] > 0.2
