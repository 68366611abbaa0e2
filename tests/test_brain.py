"""Specification of the brain network template (sim.core.brain)."""

import networkx as nx
import numpy as np
import pytest

from sim.core.brain import (
    BrainParams,
    build_brain,
    edge_order,
    edges_to_matrix,
    graph_to_matrix,
    matrix_to_edges,
    matrix_to_graph,
)


@pytest.fixture(scope="module")
def brain():
    return build_brain()


def test_default_network_has_14_dmn_and_3_salience_regions(brain):
    subsystems = [brain.graph.nodes[n]["subsystem"] for n in brain.names]
    assert brain.n_regions == 17
    assert subsystems.count("salience") == 3
    assert {"core", "dmpfc", "mtl"} <= set(subsystems)


def test_regions_carry_name_hemisphere_subsystem_and_mni_coordinates(brain):
    node = brain.graph.nodes["R.aIns"]
    assert node["hemisphere"] == "R"
    assert node["subsystem"] == "salience"
    assert node["mni"] == (47, 14, 0)
    assert node["name"] == "right anterior insula"


def test_graph_is_complete_with_healthy_reference_weights(brain):
    assert brain.graph.number_of_edges() == brain.n_edges == 136
    assert brain.graph.edges["aMPFC", "PCC"]["weight"] == pytest.approx(0.50)
    assert brain.graph.edges["aMPFC", "L.aIns"]["weight"] == pytest.approx(0.0)
    assert brain.graph.edges["L.aIns", "R.aIns"]["weight"] == pytest.approx(0.40)


def test_signature_edge_sets_pick_the_published_pairs(brain):
    rows, cols = brain.iu
    pairs = {
        name: {
            frozenset((brain.names[i], brain.names[j]))
            for i, j in zip(rows[mask], cols[mask], strict=True)
        }
        for name, mask in brain.edge_sets.items()
    }
    assert pairs["mpfc_pcc"] == {frozenset(("aMPFC", "PCC")), frozenset(("aMPFC", "PCu"))}
    assert pairs["mpfc_insula"] == {frozenset(("aMPFC", "L.aIns")), frozenset(("aMPFC", "R.aIns"))}


def test_edge_order_is_the_upper_triangle():
    rows, cols = edge_order(4)
    assert list(zip(rows.tolist(), cols.tolist(), strict=True)) == [
        (0, 1),
        (0, 2),
        (0, 3),
        (1, 2),
        (1, 3),
        (2, 3),
    ]


def test_matrix_edges_round_trip_for_batches():
    rng = np.random.default_rng(0)
    edges = rng.uniform(-1, 1, size=(5, 3, 136))
    matrices = edges_to_matrix(edges)
    assert matrices.shape == (5, 3, 17, 17)
    assert np.allclose(matrices, np.swapaxes(matrices, -1, -2))
    assert np.array_equal(matrix_to_edges(matrices), edges)


def test_graph_matrix_round_trip_keeps_weights_and_attributes(brain):
    matrix = graph_to_matrix(brain.graph, brain.names)
    g = matrix_to_graph(matrix, brain)
    assert nx.utils.graphs_equal(
        nx.Graph((u, v, {"weight": d["weight"]}) for u, v, d in g.edges(data=True)),
        nx.Graph(
            (u, v, {"weight": d["weight"]})
            for u, v, d in brain.graph.edges(data=True)
            if d["weight"] != 0
        ),
    )
    assert g.nodes["PCC"]["mni"] == brain.graph.nodes["PCC"]["mni"]


def test_seitzman_option_has_every_default_mode_and_salience_roi():
    brain = build_brain(BrainParams(atlas="seitzman"))
    subsystems = [brain.graph.nodes[n]["subsystem"] for n in brain.names]
    assert brain.n_regions == 76
    assert subsystems.count("salience") == 9
    assert brain.edge_sets["mpfc_pcc"].any()
    assert brain.edge_sets["mpfc_insula"].any()
