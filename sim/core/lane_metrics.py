"""Graph metrics of four graphs at a time: the record-time kernel of :mod:`sim.core.metrics`.

A run computes the five metrics of every person's thresholded 17-region graph at every record
(3.1 million graphs for 100,000 people over 30 years). Done one graph at a time, the shortest
paths vectorize badly (rows of 17) and the path sums are chains of dependent additions. Here four
graphs share a block: entry ``(i, j)`` of graph ``l`` sits at ``(i * n + j) * 4 + l``, so every
operation acts on four independent graphs at once, as one 4-wide SIMD instruction, and the four
sums run side by side.

Every graph gets exactly the operations, in the same order, that the one-graph kernels of
:mod:`sim.core.metrics` apply to it, so the numbers are the same, bit for bit
(``tests/test_metrics.py`` compares them on graphs with isolated nodes, empty graphs and NaN
edges):

* Floyd-Warshall runs on the upper triangle only. Its matrix stays symmetric (``a + b == b + a``
  in IEEE arithmetic), and step ``k`` never changes row or column ``k``, so row ``k`` is copied
  once per step and each pair is updated once, with the value the full algorithm gives it; the
  lower triangle is copied from the upper one at the end. The one-graph kernel skips rows with
  an infinite ``d[i, k]``; here they are computed: ``inf + x`` is never below the current value.
* Dropped edges and unreachable pairs add ``0.0`` to a sum instead of being skipped; the sums
  start at ``+0.0`` and only grow, so adding zero changes no bit.

Indices are unsigned so that Numba emits no negative-index wraparound, which would hide from
LLVM that the four lanes are consecutive.
"""

from __future__ import annotations

import numpy as np

from sim.core.jit import PARALLEL_MIN_ROWS, njit, prange

LANES = 4
"""Graphs per block (four float64 fill one AVX2 register)."""

GRAPHS_PER_TASK = 256
"""Graphs per task of the parallel kernel (each task allocates its scratch once)."""

_U1, _U2, _U3, _U4 = np.uint64(1), np.uint64(2), np.uint64(3), np.uint64(4)


def edge_metrics(
    edges: np.ndarray, rows: np.ndarray, cols: np.ndarray, n_regions: int, threshold: float
) -> np.ndarray:
    """(5, N) metrics (rows in :data:`sim.core.metrics.METRIC_NAMES` order) of (N, E) edges.

    An edge is kept when its weight is ``>= threshold`` and positive (NaN is dropped); edge
    length is ``1 / weight``. ``rows``/``cols`` are the int64 upper-triangle indices of the E
    edges. Batches of ``sim.core.jit.PARALLEL_MIN_ROWS`` graphs or more use Numba's threads.

    Examples
    --------
    >>> rows, cols = (np.int64(a) for a in np.triu_indices(3, 1))
    >>> edge_metrics(np.array([[0.5, -0.2, 0.5]]), rows, cols, 3, 0.15)[0]  # char path length
    array([2.66666667])
    """
    edges = np.ascontiguousarray(edges)
    n_graphs = edges.shape[0]
    whole = n_graphs - n_graphs % LANES
    out = np.empty((5, n_graphs))
    if whole:
        kernel = _lanes_parallel if whole >= PARALLEL_MIN_ROWS else _lanes_serial
        kernel(edges, rows, cols, n_regions, threshold, out, whole)
    if whole < n_graphs:
        # The last one to three graphs, in a block padded with empty graphs.
        block = np.zeros((LANES, edges.shape[1]), dtype=edges.dtype)
        block[: n_graphs - whole] = edges[whole:]
        rest = np.empty((5, LANES))
        _lanes_serial(block, rows, cols, n_regions, threshold, rest, LANES)
        out[:, whole:] = rest[:, : n_graphs - whole]
    return out


@njit(nogil=True, cache=True, fastmath=False)
def _lanes_serial(edges, rows, cols, n, threshold, out, n_graphs):
    """Columns ``0 .. n_graphs - 1`` of ``out`` (``n_graphs`` a multiple of four), one thread."""
    d = np.empty(n * n * LANES)
    row_k = np.empty(n * LANES)
    for g0 in range(0, n_graphs, LANES):
        _block(edges, rows, cols, n, threshold, out, g0, d, row_k)


@njit(nogil=True, parallel=True, cache=True, fastmath=False)
def _lanes_parallel(edges, rows, cols, n, threshold, out, n_graphs):
    """:func:`_lanes_serial` on Numba's threads, in tasks of :data:`GRAPHS_PER_TASK` graphs."""
    tasks = (n_graphs + GRAPHS_PER_TASK - 1) // GRAPHS_PER_TASK
    for task in prange(tasks):
        d = np.empty(n * n * LANES)
        row_k = np.empty(n * LANES)
        first = task * GRAPHS_PER_TASK
        for g0 in range(first, min(first + GRAPHS_PER_TASK, n_graphs), LANES):
            _block(edges, rows, cols, n, threshold, out, g0, d, row_k)


@njit(cache=True, fastmath=False)
def _block(edges, rows, cols, n, threshold, out, g0, d, row_k):
    """Graphs ``g0 .. g0 + 3``: edge lengths, shortest paths, metrics."""
    _fill(edges, rows, cols, n, threshold, out, g0, d)
    _shortest_paths(d, n, row_k)
    _path_metrics(d, n, out, g0)


@njit(cache=True, fastmath=False)
def _fill(edges, rows, cols, n, threshold, out, g0, d):
    """Edge lengths of four graphs into ``d`` (inf: no edge); their mean degree and strength."""
    for i in range(n):
        for j in range(n):
            value = 0.0 if i == j else np.inf
            for lane in range(LANES):
                d[(i * n + j) * LANES + lane] = value
    e0 = e1 = e2 = e3 = 0.0  # kept edges
    s0 = s1 = s2 = s3 = 0.0  # their weight
    for e in range(rows.size):
        ij = np.uint64((rows[e] * n + cols[e]) * LANES)
        ji = np.uint64((cols[e] * n + rows[e]) * LANES)
        w0, w1 = np.float64(edges[g0, e]), np.float64(edges[g0 + 1, e])
        w2, w3 = np.float64(edges[g0 + 2, e]), np.float64(edges[g0 + 3, e])
        # NaN compares False, so undefined correlations are dropped.
        k0, k1 = w0 >= threshold and w0 > 0.0, w1 >= threshold and w1 > 0.0
        k2, k3 = w2 >= threshold and w2 > 0.0, w3 >= threshold and w3 > 0.0
        v0, v1 = 1.0 / w0 if k0 else np.inf, 1.0 / w1 if k1 else np.inf
        v2, v3 = 1.0 / w2 if k2 else np.inf, 1.0 / w3 if k3 else np.inf
        d[ij], d[ij + _U1], d[ij + _U2], d[ij + _U3] = v0, v1, v2, v3
        d[ji], d[ji + _U1], d[ji + _U2], d[ji + _U3] = v0, v1, v2, v3
        e0, e1 = e0 + (1.0 if k0 else 0.0), e1 + (1.0 if k1 else 0.0)
        e2, e3 = e2 + (1.0 if k2 else 0.0), e3 + (1.0 if k3 else 0.0)
        s0, s1 = s0 + (w0 if k0 else 0.0), s1 + (w1 if k1 else 0.0)
        s2, s3 = s2 + (w2 if k2 else 0.0), s3 + (w3 if k3 else 0.0)
    out[1, g0], out[1, g0 + 1] = 2.0 * e0 / n, 2.0 * e1 / n
    out[1, g0 + 2], out[1, g0 + 3] = 2.0 * e2 / n, 2.0 * e3 / n
    out[2, g0], out[2, g0 + 1] = 2.0 * s0 / n, 2.0 * s1 / n
    out[2, g0 + 2], out[2, g0 + 3] = 2.0 * s2 / n, 2.0 * s3 / n


@njit(cache=True, fastmath=False)
def _shortest_paths(d, n, row_k):
    """Floyd-Warshall on the upper triangles of four graphs, in place; then mirrored."""
    nu = np.uint64(n)
    for k in range(nu):
        # Row k of the symmetric matrix, read from the upper triangle; it is constant in step k.
        for j in range(nu):
            src = (min(j, k) * nu + max(j, k)) * _U4
            dst = j * _U4
            row_k[dst], row_k[dst + _U1] = d[src], d[src + _U1]
            row_k[dst + _U2], row_k[dst + _U3] = d[src + _U2], d[src + _U3]
        for i in range(nu):
            if i == k:
                continue  # d[k, j] = min(d[k, j], 0 + d[k, j]): unchanged
            ik = i * _U4
            a0, a1, a2, a3 = row_k[ik], row_k[ik + _U1], row_k[ik + _U2], row_k[ik + _U3]
            for j in range(i + _U1, nu):
                ij = (i * nu + j) * _U4
                kj = j * _U4
                b0, b1 = a0 + row_k[kj], a1 + row_k[kj + _U1]
                b2, b3 = a2 + row_k[kj + _U2], a3 + row_k[kj + _U3]
                c0, c1, c2, c3 = d[ij], d[ij + _U1], d[ij + _U2], d[ij + _U3]
                d[ij] = b0 if b0 < c0 else c0
                d[ij + _U1] = b1 if b1 < c1 else c1
                d[ij + _U2] = b2 if b2 < c2 else c2
                d[ij + _U3] = b3 if b3 < c3 else c3
    for i in range(n):
        for j in range(i + 1, n):
            for lane in range(LANES):
                d[(j * n + i) * LANES + lane] = d[(i * n + j) * LANES + lane]


@njit(cache=True, fastmath=False)
def _path_metrics(d, n, out, g0):
    """Characteristic path length, closeness and global efficiency of four graphs.

    The sums run over ordered pairs in row order, as ``sim.core.metrics``'s one-graph kernel.
    """
    nu = np.uint64(n)
    length0 = length1 = length2 = length3 = 0.0  # sum of reachable distances
    pairs0 = pairs1 = pairs2 = pairs3 = 0.0  # reachable ordered pairs
    inverse0 = inverse1 = inverse2 = inverse3 = 0.0  # sum of 1 / d (0 when unreachable)
    close0 = close1 = close2 = close3 = 0.0  # sum of node closeness
    others = n - 1
    for i in range(nu):
        nl0 = nl1 = nl2 = nl3 = 0.0  # node i's total distance
        nr0 = nr1 = nr2 = nr3 = 0.0  # and reachable nodes
        for j in range(nu):
            if j == i:
                continue
            ij = (i * nu + j) * _U4
            x0, x1, x2, x3 = d[ij], d[ij + _U1], d[ij + _U2], d[ij + _U3]
            f0, f1, f2, f3 = x0 < np.inf, x1 < np.inf, x2 < np.inf, x3 < np.inf
            nl0, nl1 = nl0 + (x0 if f0 else 0.0), nl1 + (x1 if f1 else 0.0)
            nl2, nl3 = nl2 + (x2 if f2 else 0.0), nl3 + (x3 if f3 else 0.0)
            nr0, nr1 = nr0 + (1.0 if f0 else 0.0), nr1 + (1.0 if f1 else 0.0)
            nr2, nr3 = nr2 + (1.0 if f2 else 0.0), nr3 + (1.0 if f3 else 0.0)
            # 1 / inf is 0.0: an unreachable pair adds nothing.
            inverse0, inverse1 = inverse0 + 1.0 / x0, inverse1 + 1.0 / x1
            inverse2, inverse3 = inverse2 + 1.0 / x2, inverse3 + 1.0 / x3
        # NetworkX's wf_improved closeness: scaled by the reachable share of the graph.
        close0 += (nr0 / nl0) * (nr0 / others) if nr0 > 0.0 else 0.0
        close1 += (nr1 / nl1) * (nr1 / others) if nr1 > 0.0 else 0.0
        close2 += (nr2 / nl2) * (nr2 / others) if nr2 > 0.0 else 0.0
        close3 += (nr3 / nl3) * (nr3 / others) if nr3 > 0.0 else 0.0
        length0, length1, length2, length3 = (
            length0 + nl0,
            length1 + nl1,
            length2 + nl2,
            length3 + nl3,
        )
        pairs0, pairs1, pairs2, pairs3 = pairs0 + nr0, pairs1 + nr1, pairs2 + nr2, pairs3 + nr3
    out[0, g0] = length0 / pairs0 if pairs0 > 0.0 else np.nan
    out[0, g0 + 1] = length1 / pairs1 if pairs1 > 0.0 else np.nan
    out[0, g0 + 2] = length2 / pairs2 if pairs2 > 0.0 else np.nan
    out[0, g0 + 3] = length3 / pairs3 if pairs3 > 0.0 else np.nan
    out[3, g0], out[3, g0 + 1] = close0 / n, close1 / n
    out[3, g0 + 2], out[3, g0 + 3] = close2 / n, close3 / n
    ordered = n * (n - 1)
    out[4, g0], out[4, g0 + 1] = inverse0 / ordered, inverse1 / ordered
    out[4, g0 + 2], out[4, g0 + 3] = inverse2 / ordered, inverse3 / ordered
