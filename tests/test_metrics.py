"""Specification of sim.core.metrics: thresholding, batched graph metrics and perturbation index."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.core.jit import PARALLEL_MIN_ROWS
from sim.core.metrics import (
    METRIC_NAMES,
    PERTURBATION_METRICS,
    MetricReference,
    graph_metrics,
    metrics_from_edges,
    networkx_metrics,
    perturbation_index,
    threshold_weights,
)


def symmetric(upper: np.ndarray, n_regions: int, diagonal: float = 1.0) -> np.ndarray:
    """(N, R, R) symmetric matrices from (N, E) upper-triangle values."""
    iu = np.triu_indices(n_regions, 1)
    w = np.zeros((upper.shape[0], n_regions, n_regions))
    w[:, iu[0], iu[1]] = upper
    w[:, iu[1], iu[0]] = upper
    w[:, np.arange(n_regions), np.arange(n_regions)] = diagonal
    return w


def to_networkx(w: np.ndarray) -> nx.Graph:
    """Graph with every region as a node and an edge for each positive weight."""
    g = nx.Graph()
    g.add_nodes_from(range(w.shape[0]))
    for i, j in zip(*np.triu_indices(w.shape[0], 1), strict=True):
        if w[i, j] > 0:
            g.add_edge(int(i), int(j), weight=float(w[i, j]))
    return g


def n_edges(w: np.ndarray) -> np.ndarray:
    """Number of kept edges per graph of an (N, R, R) batch."""
    iu = np.triu_indices(w.shape[-1], 1)
    return np.count_nonzero(w[:, iu[0], iu[1]], axis=1)


@st.composite
def thresholded_graphs(draw: st.DrawFn) -> np.ndarray:
    """Thresholded (R, R) graphs, often disconnected or with isolated nodes."""
    # sampled_from spreads sizes evenly; integers(2, 20) draws R = 2 about a third of the time.
    n_regions = draw(st.sampled_from(range(2, 21)))
    rule = draw(st.sampled_from(["absolute", "proportional"]))
    # Continuous parameters come from a seeded generator: Hypothesis favours the bounds
    # of float ranges, which would make most graphs edgeless.
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_pairs = n_regions * (n_regions - 1) // 2
    upper = rng.uniform(-1.0, 1.0, n_pairs)
    upper[rng.random(n_pairs) < rng.uniform(0.0, 1.0)] = 0.0
    value = rng.uniform(0.0, 1.0) if rule == "absolute" else 1.0 - rng.uniform(0.0, 1.0)
    return threshold_weights(symmetric(upper[None], n_regions)[0], rule, value)


@settings(max_examples=200, deadline=None)
@given(thresholded_graphs())
def test_graph_metrics_agree_with_networkx_reference(w: np.ndarray) -> None:
    ours = graph_metrics(w)
    reference = networkx_metrics(to_networkx(w))
    for name in METRIC_NAMES:
        np.testing.assert_allclose(
            ours[name][0], reference[name], rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=name
        )


def test_complete_graph_with_unit_weights_has_unit_paths() -> None:
    n_regions = 6
    w = np.ones((n_regions, n_regions)) - np.eye(n_regions)
    m = graph_metrics(w)
    assert m["char_path_length"][0] == pytest.approx(1.0)
    assert m["global_efficiency"][0] == pytest.approx(1.0)
    assert m["closeness"][0] == pytest.approx(1.0)
    assert m["mean_degree"][0] == pytest.approx(n_regions - 1)
    assert m["mean_strength"][0] == pytest.approx(n_regions - 1)


def test_weighted_path_graph_matches_hand_computed_values() -> None:
    # 0 -(w=1, d=1)- 1 -(w=0.5, d=2)- 2, so d(0, 2) = 3.
    w = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.5], [0.0, 0.5, 0.0]])
    m = graph_metrics(w)
    assert m["char_path_length"][0] == pytest.approx((1 + 2 + 3) / 3)
    assert m["global_efficiency"][0] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    # Closeness of each node: 2 / (sum of its distances); all nodes reach the whole graph.
    assert m["closeness"][0] == pytest.approx((2 / 4 + 2 / 3 + 2 / 5) / 3)
    assert m["mean_degree"][0] == pytest.approx(4 / 3)
    assert m["mean_strength"][0] == pytest.approx(2 * 1.5 / 3)


def test_edgeless_graph_has_nan_path_length_and_zero_efficiency() -> None:
    m = graph_metrics(np.zeros((4, 4)))
    assert math.isnan(m["char_path_length"][0])
    assert m["global_efficiency"][0] == 0.0
    assert m["closeness"][0] == 0.0
    assert m["mean_degree"][0] == 0.0


def test_graph_metrics_of_single_matrix_returns_length_one_arrays() -> None:
    m = graph_metrics(np.ones((3, 3)))
    assert set(m) == set(METRIC_NAMES)
    assert all(v.shape == (1,) and v.dtype == np.float64 for v in m.values())


def test_graph_metrics_rejects_negative_weights() -> None:
    w = np.array([[0.0, -0.5], [-0.5, 0.0]])
    with pytest.raises(ValueError, match="non-negative"):
        graph_metrics(w)


def test_graph_metrics_rejects_nan_weights() -> None:
    w = np.array([[0.0, np.nan], [np.nan, 0.0]])
    with pytest.raises(ValueError, match="non-negative"):
        graph_metrics(w)


def test_proportional_threshold_keeps_round_value_times_e_edges() -> None:
    n_regions, value = 10, 0.2
    upper = np.random.default_rng(1).uniform(0.01, 1.0, (5, 45))
    w = threshold_weights(symmetric(upper, n_regions), "proportional", value)
    np.testing.assert_array_equal(n_edges(w), round(value * 45))


def test_proportional_threshold_keeps_the_strongest_edges() -> None:
    upper = np.array([[0.1, 0.9, 0.5, 0.7, 0.3, 0.2]])
    w = threshold_weights(symmetric(upper, 4), "proportional", 0.5)
    iu = np.triu_indices(4, 1)
    np.testing.assert_array_equal(w[0][iu], [0.0, 0.9, 0.5, 0.7, 0.0, 0.0])


def test_proportional_threshold_breaks_ties_in_upper_triangle_order() -> None:
    w = threshold_weights(symmetric(np.full((1, 6), 0.4), 4), "proportional", 0.5)
    iu = np.triu_indices(4, 1)
    np.testing.assert_array_equal(w[0][iu], [0.4, 0.4, 0.4, 0.0, 0.0, 0.0])


def test_proportional_threshold_never_keeps_non_positive_weights() -> None:
    upper = np.array([[0.8, -0.3, 0.0, -0.9, 0.2, -0.1]])
    w = threshold_weights(symmetric(upper, 4), "proportional", 1.0)
    iu = np.triu_indices(4, 1)
    np.testing.assert_array_equal(w[0][iu], [0.8, 0.0, 0.0, 0.0, 0.2, 0.0])


def test_absolute_threshold_drops_negative_and_weak_weights() -> None:
    upper = np.array([[0.15, -0.6, 0.149, 0.9, -0.15, 0.3]])
    w = threshold_weights(symmetric(upper, 4), "absolute", 0.15)
    iu = np.triu_indices(4, 1)
    np.testing.assert_array_equal(w[0][iu], [0.15, 0.0, 0.0, 0.9, 0.0, 0.3])


@pytest.mark.parametrize("rule", ["absolute", "proportional"])
def test_threshold_returns_symmetric_float64_with_zero_diagonal(rule: str) -> None:
    upper = np.random.default_rng(2).uniform(-1.0, 1.0, (3, 28))
    w = threshold_weights(symmetric(upper, 8).astype(np.float32), rule, 0.3)
    assert w.dtype == np.float64
    np.testing.assert_array_equal(w, w.transpose(0, 2, 1))
    assert not w[:, np.arange(8), np.arange(8)].any()


def test_threshold_of_single_matrix_keeps_its_shape() -> None:
    w = threshold_weights(symmetric(np.array([[0.5, 0.1, 0.7]]), 3)[0])
    assert w.shape == (3, 3)


@pytest.mark.parametrize(
    ("rule", "value"),
    [
        ("relative", 0.15),
        ("absolute", -0.1),
        ("absolute", 1.0),
        ("absolute", float("nan")),
        ("proportional", 0.0),
        ("proportional", 1.5),
    ],
)
def test_threshold_rejects_unknown_rule_or_out_of_range_value(rule: str, value: float) -> None:
    with pytest.raises(ValueError, match="threshold"):
        threshold_weights(np.eye(3), rule, value)


@pytest.mark.parametrize(("rule", "value"), [("absolute", 0.2), ("proportional", 0.3)])
def test_metrics_from_edges_matches_graph_metrics_across_chunks(rule: str, value: float) -> None:
    n_regions = 9
    iu = np.triu_indices(n_regions, 1)
    edges = np.random.default_rng(3).uniform(-0.5, 1.0, (50, len(iu[0])))
    expected = graph_metrics(threshold_weights(symmetric(edges, n_regions), rule, value))
    got = metrics_from_edges(edges, iu, n_regions, rule, value, chunk=7)
    assert set(got) == set(METRIC_NAMES)
    for name in METRIC_NAMES:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


def mixed_edges(n_graphs: int, n_regions: int, seed: int) -> np.ndarray:
    """(N, E) edges of every kind of graph: dense, sparse with isolated nodes, empty, with NaN."""
    rng = np.random.default_rng(seed)
    n_pairs = n_regions * (n_regions - 1) // 2
    edges = rng.uniform(-0.3, 1.0, (n_graphs, n_pairs))
    # Per graph, a share of edges below the threshold: from complete to empty graphs.
    edges[rng.random((n_graphs, n_pairs)) < rng.uniform(0.0, 1.0, (n_graphs, 1))] = 0.1
    edges[rng.random((n_graphs, n_pairs)) < 0.01] = np.nan
    edges[::97] = 0.0  # edgeless graphs
    return edges


@pytest.mark.parametrize(
    ("n_graphs", "n_regions"),
    [(1, 17), (7, 2), (2003, 17), (PARALLEL_MIN_ROWS + 3, 17), (PARALLEL_MIN_ROWS + 1, 5)],
)
def test_the_record_time_kernel_equals_graph_metrics_bit_for_bit(n_graphs, n_regions) -> None:
    # metrics_from_edges computes four graphs at a time (sim.core.lane_metrics), on Numba's
    # threads for large batches; every number must be graph_metrics' own.
    iu = np.triu_indices(n_regions, 1)
    edges = mixed_edges(n_graphs, n_regions, seed=n_graphs)
    expected = graph_metrics(threshold_weights(symmetric(edges, n_regions), "absolute", 0.15))
    got = metrics_from_edges(edges, iu, n_regions, "absolute", 0.15)
    if n_graphs > 100:  # the batch covers disconnected and empty graphs
        assert np.isnan(got["char_path_length"]).any()
        assert (got["global_efficiency"] < expected["global_efficiency"].max() / 2).any()
    for name in METRIC_NAMES:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


def test_metrics_from_edges_rejects_edges_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="edges"):
        metrics_from_edges(np.zeros((2, 5)), np.triu_indices(4, 1), 4)


def normal_cohort(n: int, seed: int) -> dict[str, np.ndarray]:
    """Synthetic metrics: independent normals with metric-specific mean and SD."""
    rng = np.random.default_rng(seed)
    return {
        name: rng.normal(loc=1.0 + i, scale=0.1 * (i + 1), size=n)
        for i, name in enumerate(PERTURBATION_METRICS)
    }


def test_z_scores_of_the_reference_sample_are_standardised() -> None:
    cohort = normal_cohort(1000, seed=4)
    z = MetricReference.from_metrics(cohort).z_scores(cohort)
    for name in PERTURBATION_METRICS:
        assert z[name].mean() == pytest.approx(0.0, abs=1e-12)
        assert z[name].std(ddof=1) == pytest.approx(1.0)


def test_healthy_people_score_about_sqrt_two_over_pi() -> None:
    reference = MetricReference.from_metrics(normal_cohort(2000, seed=5))
    index = perturbation_index(normal_cohort(20000, seed=6), reference)
    assert index.mean() == pytest.approx(math.sqrt(2 / math.pi), abs=0.05)


def test_reference_ignores_nan_values() -> None:
    cohort = normal_cohort(100, seed=7)
    with_nan = {**cohort, "char_path_length": np.append(cohort["char_path_length"], np.nan)}
    assert MetricReference.from_metrics(with_nan) == MetricReference.from_metrics(cohort)


def test_reference_rejects_zero_sd() -> None:
    cohort = {**normal_cohort(100, seed=8), "mean_degree": np.full(100, 4.0)}
    with pytest.raises(ValueError, match="mean_degree"):
        MetricReference.from_metrics(cohort)


def test_reference_rejects_fewer_than_two_values() -> None:
    cohort = {**normal_cohort(100, seed=9), "closeness": np.array([0.5] + [np.nan] * 99)}
    with pytest.raises(ValueError, match="closeness"):
        MetricReference.from_metrics(cohort)


def test_perturbation_index_averages_the_available_metrics_when_one_is_nan() -> None:
    reference = MetricReference(
        mean=dict.fromkeys(PERTURBATION_METRICS, 0.0), sd=dict.fromkeys(PERTURBATION_METRICS, 1.0)
    )
    person = {name: np.array([2.0]) for name in PERTURBATION_METRICS}
    person["char_path_length"] = np.array([np.nan])
    assert math.isnan(reference.z_scores(person)["char_path_length"][0])
    np.testing.assert_array_equal(perturbation_index(person, reference), [2.0])
