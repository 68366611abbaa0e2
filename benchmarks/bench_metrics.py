"""Time the batched Numba graph metrics against the NetworkX reference.

Builds seeded random 17-node connectivity matrices, thresholds them with the
default absolute rule, times :func:`sim.core.metrics.graph_metrics` on all of them
(after a warm-up call that JIT-compiles or loads the kernel) and the
:func:`sim.core.metrics.networkx_metrics` reference on a subset, reported per graph. Also times
the record-time path, :func:`sim.core.metrics.metrics_from_edges` on the same graphs' edges
(four graphs at a time, ``sim.core.lane_metrics``), on one thread and on Numba's threads for
batches of ``PARALLEL_MIN_ROWS`` graphs or more, and checks that it gives the same numbers.

Usage, with painsim installed (``pip install -e .``) or ``PYTHONPATH=.``::

    python benchmarks/bench_metrics.py [--graphs 1000] [--reference-graphs 1000] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import networkx as nx
import numpy as np

from sim.core.metrics import (
    METRIC_NAMES,
    graph_metrics,
    metrics_from_edges,
    networkx_metrics,
    threshold_weights,
)

N_REGIONS = 17


def random_connectivity(n_graphs: int, n_regions: int, seed: int) -> np.ndarray:
    """(N, R, R) correlation matrices of random time series sharing a global signal.

    The shared signal makes most correlations positive, as in resting-state data,
    so thresholded graphs are neither empty nor complete.
    """
    rng = np.random.default_rng(seed)
    n_samples = 120
    shared = rng.standard_normal((n_graphs, 1, n_samples))
    loading = rng.uniform(0.2, 0.8, (n_graphs, n_regions, 1))
    series = loading * shared + rng.standard_normal((n_graphs, n_regions, n_samples))
    series -= series.mean(axis=2, keepdims=True)
    series /= np.linalg.norm(series, axis=2, keepdims=True)
    return series @ series.transpose(0, 2, 1)


def to_networkx(w: np.ndarray) -> nx.Graph:
    """Graph with every region as a node and an edge for each positive weight."""
    g = nx.Graph()
    g.add_nodes_from(range(w.shape[0]))
    rows, cols = np.nonzero(np.triu(w, 1))
    g.add_weighted_edges_from(
        zip(rows.tolist(), cols.tolist(), w[rows, cols].tolist(), strict=True)
    )
    return g


def best_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Fastest of ``repeats`` wall-clock runs; the minimum is least disturbed by other load."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run(n_graphs: int, n_reference: int, seed: int) -> dict[str, float | int | str]:
    """Benchmark results as a JSON-ready dict."""
    w = threshold_weights(random_connectivity(n_graphs, N_REGIONS, seed))
    graph_metrics(w[:2])  # JIT compilation or cache load is not part of the timing
    numba_s = best_seconds(lambda: graph_metrics(w), repeats=20)
    batched = graph_metrics(w)

    subset = w[:n_reference]
    graphs = [to_networkx(g) for g in subset]
    start = time.perf_counter()
    reference = [networkx_metrics(g) for g in graphs]
    networkx_s = time.perf_counter() - start

    max_abs_diff = max(
        float(np.nanmax(np.abs(batched[name][: len(subset)] - [r[name] for r in reference])))
        for name in METRIC_NAMES
    )
    iu = np.triu_indices(N_REGIONS, 1)
    edges = np.ascontiguousarray(w[:, iu[0], iu[1]])
    metrics_from_edges(edges[:2], iu, N_REGIONS, "absolute", 0.15)  # compile or load
    edges_s = best_seconds(
        lambda: metrics_from_edges(edges, iu, N_REGIONS, "absolute", 0.15), repeats=20
    )
    from_edges = metrics_from_edges(edges, iu, N_REGIONS, "absolute", 0.15)
    identical = all(
        np.array_equal(from_edges[name], batched[name], equal_nan=True) for name in METRIC_NAMES
    )
    numba_us = numba_s / n_graphs * 1e6
    networkx_us = networkx_s / len(subset) * 1e6
    return {
        "n_regions": N_REGIONS,
        "n_graphs": n_graphs,
        "n_reference_graphs": len(subset),
        "edge_density": float(np.count_nonzero(w[:, iu[0], iu[1]]) / (n_graphs * len(iu[0]))),
        "numba_us_per_graph": numba_us,
        "networkx_us_per_graph": networkx_us,
        "speedup": networkx_us / numba_us,
        "record_path_us_per_graph": edges_s / n_graphs * 1e6,
        "record_path_vs_graph_metrics": numba_s / edges_s,
        "record_path_identical": identical,
        "max_abs_diff": max_abs_diff,
        "note": "NetworkX timed once on the first n_reference_graphs graphs, scaled per graph; "
        "Numba is the best of 20 batched calls on all graphs after a warm-up call; the record "
        "path (metrics_from_edges) likewise, on the same graphs' edges.",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", type=int, default=1000, help="graphs timed with Numba")
    parser.add_argument(
        "--reference-graphs", type=int, default=1000, help="graphs timed with NetworkX"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write the results to this JSON file")
    args = parser.parse_args()

    results = run(args.graphs, args.reference_graphs, args.seed)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
