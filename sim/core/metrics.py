"""Graph metrics of brain connectivity networks, batched over a cohort.

Connectivity matrices hold Pearson correlations between regions. They are
thresholded into weighted undirected graphs (:func:`threshold_weights`), and
every graph is summarised by five metrics (:data:`METRIC_NAMES`) computed by a
parallel Numba kernel (:func:`graph_metrics`). Edge length is ``1 / weight``,
so strongly coupled regions are close. :func:`networkx_metrics` is a slow,
independent reference for a single graph, used to test the kernel.

A cohort of healthy people defines a :class:`MetricReference`; the
:func:`perturbation_index` of a patient is the mean absolute z-score of the
:data:`PERTURBATION_METRICS` against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import model_validator

from sim.core.jit import njit, prange
from sim.core.lane_metrics import edge_metrics
from sim.core.paramgroup import ParamGroup, param

if TYPE_CHECKING:
    import networkx as nx

METRIC_NAMES: tuple[str, ...] = (
    "char_path_length",
    "mean_degree",
    "mean_strength",
    "closeness",
    "global_efficiency",
)
PERTURBATION_METRICS: tuple[str, ...] = (
    "char_path_length",
    "mean_degree",
    "closeness",
    "global_efficiency",
)

_RULES: tuple[str, ...] = ("absolute", "proportional")


class MetricParams(ParamGroup):
    """How connectivity becomes a graph, and how large the healthy norm sample is."""

    threshold_rule: Literal["absolute", "proportional"] = param(
        "absolute",
        unit="-",
        source="assumption: an absolute threshold keeps mean degree informative (with a "
        "proportional threshold every person has the same degree by construction)",
        doc="'absolute' (keep r >= threshold) or 'proportional' (keep the strongest share)",
    )
    threshold: float = param(
        0.15,
        unit="r or share of edges",
        plausible="0.1-0.3",
        gt=0,
        le=1,
        source="assumption, chosen so that healthy between-subsystem edges (r 0.15) are kept "
        "about half the time and DMN-salience edges (r 0) rarely",
        doc="r cut-off (absolute) or edge density (proportional)",
    )
    norms_per_age: int = param(
        500,
        unit="people",
        plausible="200-5000",
        ge=20,
        le=100_000,
        source="numerical choice: SD of the healthy norm estimated to about 3 %",
        doc="simulated healthy people per age point of the norms",
    )

    @model_validator(mode="after")
    def _absolute_below_one(self) -> MetricParams:
        if self.threshold_rule == "absolute" and self.threshold >= 1:
            raise ValueError("an absolute threshold must be below 1")
        return self


def _check_rule(rule: str, value: float) -> None:
    """Raise ValueError unless ``rule`` is known and ``value`` is in its range."""
    if rule == "absolute":
        if not 0.0 <= value < 1.0:
            raise ValueError(f"absolute threshold must be in [0, 1), got {value!r}")
    elif rule == "proportional":
        if not 0.0 < value <= 1.0:
            raise ValueError(f"proportional threshold must be in (0, 1], got {value!r}")
    else:
        raise ValueError(f"unknown threshold rule {rule!r}; expected one of {_RULES}")


def _threshold_edges(edges: np.ndarray, rule: str, value: float) -> np.ndarray:
    """Threshold (N, E) edge weights; dropped edges become 0. Assumes a checked rule."""
    edges = np.asarray(edges, dtype=np.float64)
    if rule == "absolute":
        # NaN compares False, so undefined correlations are dropped as well.
        return np.where(edges >= value, edges, 0.0)
    n_keep = round(value * edges.shape[-1])
    # Stable sort of the negated weights keeps ties in column (canonical) order;
    # NaN is mapped to 0 so it sorts with the non-positive weights that are never kept.
    order = np.argsort(-np.nan_to_num(edges, nan=0.0), axis=-1, kind="stable")
    kept = np.zeros(edges.shape, dtype=bool)
    np.put_along_axis(kept, order[..., :n_keep], True, axis=-1)
    return np.where(kept & (edges > 0.0), edges, 0.0)


def _edges_to_matrix(
    edges: np.ndarray, iu: tuple[np.ndarray, np.ndarray], n_regions: int
) -> np.ndarray:
    """Scatter (N, E) upper-triangle weights into symmetric (N, R, R) matrices."""
    w = np.zeros((edges.shape[0], n_regions, n_regions))
    w[:, iu[0], iu[1]] = edges
    w[:, iu[1], iu[0]] = edges
    return w


def _check_square(w: np.ndarray) -> None:
    """Raise ValueError unless ``w`` is one (R, R) matrix or a stack of them."""
    if w.ndim not in (2, 3) or w.shape[-1] != w.shape[-2]:
        raise ValueError(f"expected an (R, R) or (N, R, R) array, got shape {w.shape}")


def threshold_weights(w: np.ndarray, rule: str = "absolute", value: float = 0.15) -> np.ndarray:
    """Turn connectivity matrices into weighted graphs by dropping weak edges.

    Anticorrelations are not treated as connections, as in most resting-state
    graph studies: negative weights are always dropped.

    Parameters
    ----------
    w : np.ndarray
        (N, R, R) or (R, R) symmetric connectivity, e.g. Pearson r. Only the
        upper triangle is read; the diagonal is ignored.
    rule : {"absolute", "proportional"}
        ``"absolute"`` keeps weights ``>= value`` (``value`` in [0, 1)).
        ``"proportional"`` keeps, per graph, the ``round(value * E)`` strongest
        positive edges, ``E = R (R - 1) / 2`` and ``value`` in (0, 1]; ties are
        broken in ``np.triu_indices(R, 1)`` order. ``round`` is Python's
        (half to even). Fewer edges are kept if there are not enough positive ones.
    value : float
        Threshold for ``rule``.

    Returns
    -------
    np.ndarray
        float64 array of the shape of ``w``, symmetric, zero on the diagonal and
        wherever an edge was dropped.

    Raises
    ------
    ValueError
        If ``rule`` is unknown, ``value`` is out of range or ``w`` is not square.

    Examples
    --------
    >>> w = np.array([[1.0, 0.5, -0.4], [0.5, 1.0, 0.1], [-0.4, 0.1, 1.0]])
    >>> threshold_weights(w, "absolute", 0.15)
    array([[0. , 0.5, 0. ],
           [0.5, 0. , 0. ],
           [0. , 0. , 0. ]])
    """
    _check_rule(rule, value)
    w = np.asarray(w, dtype=np.float64)
    _check_square(w)
    n_regions = w.shape[-1]
    iu = np.triu_indices(n_regions, 1)
    stacked = w.reshape(-1, n_regions, n_regions)
    edges = _threshold_edges(stacked[:, iu[0], iu[1]], rule, value)
    return _edges_to_matrix(edges, iu, n_regions).reshape(w.shape)


@njit(cache=True, fastmath=False)
def _fill_distances(wg: np.ndarray, d: np.ndarray) -> tuple[float, float]:
    """Write edge lengths 1/w of one graph into ``d``; return (edge count, weight sum)."""
    n = wg.shape[0]
    n_edges = 0.0
    strength = 0.0
    for i in range(n):
        d[i, i] = 0.0
        for j in range(i + 1, n):
            wij = wg[i, j]
            if wij > 0.0:
                d[i, j] = 1.0 / wij
                n_edges += 1.0
                strength += wij
            else:
                d[i, j] = np.inf
            d[j, i] = d[i, j]
    return n_edges, strength


@njit(cache=True, fastmath=False)
def _floyd_warshall(d: np.ndarray) -> None:
    """All-pairs shortest path lengths, in place."""
    n = d.shape[0]
    for k in range(n):
        dk = d[k]
        for i in range(n):
            dik = d[i, k]
            # inf + anything never improves a path; skipping pays off on sparse graphs.
            if dik == np.inf:
                continue
            di = d[i]
            # Unconditional store of the minimum lets LLVM turn this loop into SIMD selects.
            for j in range(n):
                alt = dik + dk[j]
                di[j] = alt if alt < di[j] else di[j]


@njit(cache=True, fastmath=False)
def _path_metrics(d: np.ndarray) -> tuple[float, float, float]:
    """(char path length, global efficiency, mean closeness) from shortest paths ``d``."""
    n = d.shape[0]
    total_length = 0.0
    n_reachable = 0
    total_inverse = 0.0
    total_closeness = 0.0
    for i in range(n):
        node_length = 0.0
        node_reachable = 0
        for j in range(n):
            dij = d[i, j]
            if j != i and dij < np.inf:
                node_length += dij
                node_reachable += 1
                total_inverse += 1.0 / dij
        if node_reachable > 0:
            # NetworkX's wf_improved closeness: scaled by the reachable share of the graph.
            total_closeness += (node_reachable / node_length) * (node_reachable / (n - 1))
        total_length += node_length
        n_reachable += node_reachable
    char_path = total_length / n_reachable if n_reachable > 0 else np.nan
    return char_path, total_inverse / (n * (n - 1)), total_closeness / n


@njit(cache=True, fastmath=False)
def _store_metrics(out: np.ndarray, g: int, d: np.ndarray, n_edges: float, strength: float):
    """Shortest paths on edge lengths ``d`` (in place), then column ``g`` of the (5, N) output."""
    n = d.shape[0]
    _floyd_warshall(d)
    char_path, efficiency, closeness = _path_metrics(d)
    out[0, g] = char_path
    out[1, g] = 2.0 * n_edges / n
    out[2, g] = 2.0 * strength / n
    out[3, g] = closeness
    out[4, g] = efficiency


@njit(parallel=True, cache=True, fastmath=False)
def _metrics_kernel(w: np.ndarray) -> np.ndarray:
    """(5, N) metrics of (N, R, R) graphs; rows follow METRIC_NAMES."""
    n_graphs, n = w.shape[0], w.shape[1]
    out = np.empty((5, n_graphs))
    for g in prange(n_graphs):
        d = np.empty((n, n))
        n_edges, strength = _fill_distances(w[g], d)
        _store_metrics(out, g, d, n_edges, strength)
    return out


def graph_metrics(w: np.ndarray) -> dict[str, np.ndarray]:
    """Weighted graph metrics of every graph in a batch.

    Edge length is ``1 / weight``. Path metrics use weighted shortest paths
    between ordered pairs of distinct nodes.

    Parameters
    ----------
    w : np.ndarray
        (N, R, R) thresholded, symmetric, non-negative weights with ``R >= 2``;
        0 means no edge. Only the strict upper triangle is read. A single
        (R, R) graph is treated as a batch of one.

    Returns
    -------
    dict[str, np.ndarray]
        For each name in :data:`METRIC_NAMES` a float64 array of shape (N,),
        or (1,) for 2-D input:

        - ``char_path_length``: mean shortest-path length over reachable pairs
          (unreachable pairs excluded, like bctpy ``charpath`` with
          ``include_infinite=False``); NaN if no pair is reachable.
        - ``mean_degree``: mean number of edges per node.
        - ``mean_strength``: mean sum of incident weights per node.
        - ``closeness``: mean over nodes of NetworkX ``closeness_centrality``
          with ``wf_improved=True``: ``(n_u / S_u) * (n_u / (R - 1))`` for
          ``n_u`` reachable nodes at total distance ``S_u``, 0 if ``n_u == 0``.
        - ``global_efficiency``: mean of ``1 / d_ij`` over all pairs, 0 for
          unreachable pairs.

    Raises
    ------
    ValueError
        If ``w`` is not square, has fewer than 2 nodes, or holds negative,
        NaN or infinite weights.

    Examples
    --------
    >>> path = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.5], [0.0, 0.5, 0.0]])
    >>> m = graph_metrics(path)
    >>> m["char_path_length"], m["mean_degree"]
    (array([2.]), array([1.33333333]))
    """
    w = np.asarray(w, dtype=np.float64)
    _check_square(w)
    if w.shape[-1] < 2:
        raise ValueError("graphs need at least 2 nodes")
    # min/max are temporary-free reductions and propagate NaN, so NaN fails the check too.
    if w.size and not (w.min() >= 0.0 and w.max() < np.inf):
        raise ValueError("weights must be finite and non-negative; threshold them first")
    out = _metrics_kernel(np.ascontiguousarray(w.reshape(-1, w.shape[-1], w.shape[-1])))
    return dict(zip(METRIC_NAMES, out, strict=True))


def metrics_from_edges(
    edges: np.ndarray,
    iu: tuple[np.ndarray, np.ndarray],
    n_regions: int,
    rule: str = "absolute",
    value: float = 0.15,
    chunk: int = 4096,
) -> dict[str, np.ndarray]:
    """Threshold edge vectors and compute :func:`graph_metrics`, chunk by chunk.

    With the absolute rule a fused kernel reads the edges directly, four graphs at a time
    (:func:`sim.core.lane_metrics.edge_metrics`, the same numbers as :func:`graph_metrics`);
    with the proportional rule the work goes in chunks, which bounds memory: only ``chunk``
    dense matrices exist at once.

    Parameters
    ----------
    edges : np.ndarray
        (N, E) connectivity (e.g. Pearson r) in the upper-triangle order of ``iu``.
    iu : tuple of np.ndarray
        ``np.triu_indices(n_regions, 1)``; proportional ties are broken in its order.
    n_regions : int
        Number of regions R, with ``E = R (R - 1) / 2``.
    rule, value
        Threshold, as in :func:`threshold_weights`.
    chunk : int
        Number of graphs processed at once.

    Returns
    -------
    dict[str, np.ndarray]
        (N,) float64 array for each name in :data:`METRIC_NAMES`.

    Raises
    ------
    ValueError
        On a bad threshold, ``chunk < 1``, or shapes that do not match.

    Examples
    --------
    >>> iu = np.triu_indices(3, 1)
    >>> m = metrics_from_edges(np.array([[0.5, -0.2, 0.5]]), iu, 3)
    >>> m["char_path_length"]
    array([2.66666667])
    """
    _check_rule(rule, value)
    edges = np.asarray(edges, dtype=np.float64)
    n_edges = n_regions * (n_regions - 1) // 2
    if edges.ndim != 2 or edges.shape[1] != n_edges or len(iu[0]) != n_edges:
        raise ValueError(
            f"expected (N, {n_edges}) edges and matching iu for {n_regions} regions, "
            f"got edges {edges.shape} and {len(iu[0])} index pairs"
        )
    if chunk < 1:
        raise ValueError(f"chunk must be positive, got {chunk}")
    if rule == "absolute":
        rows, cols = (np.ascontiguousarray(a, dtype=np.int64) for a in iu)
        # Four graphs at a time, the same numbers as graph_metrics (sim.core.lane_metrics).
        out = edge_metrics(edges, rows, cols, n_regions, value)
        return dict(zip(METRIC_NAMES, out, strict=True))
    out = {name: np.empty(edges.shape[0]) for name in METRIC_NAMES}
    for start in range(0, edges.shape[0], chunk):
        part = _threshold_edges(edges[start : start + chunk], rule, value)
        metrics = graph_metrics(_edges_to_matrix(part, iu, n_regions))
        for name in METRIC_NAMES:
            out[name][start : start + len(part)] = metrics[name]
    return out


def networkx_metrics(g: nx.Graph, weight: str = "weight") -> dict[str, float]:
    """Reference metrics of one thresholded graph, computed with NetworkX.

    Slow but independent of :func:`graph_metrics`, which it is tested against.
    NetworkX's own ``global_efficiency`` is unweighted, so efficiency is
    computed here from weighted Dijkstra lengths.

    Parameters
    ----------
    g : nx.Graph
        Undirected graph holding all R >= 2 regions as nodes (isolated nodes
        count) and an edge for each kept connection, without self-loops.
    weight : str
        Edge attribute with the positive weight; edge length is ``1 / weight``.

    Returns
    -------
    dict[str, float]
        Value for each name in :data:`METRIC_NAMES`, defined as in :func:`graph_metrics`.

    Raises
    ------
    ValueError
        If the graph has fewer than 2 nodes, self-loops or a non-positive weight.

    Examples
    --------
    >>> import networkx as nx
    >>> g = nx.Graph()
    >>> g.add_weighted_edges_from([(0, 1, 1.0), (1, 2, 0.5)])
    >>> networkx_metrics(g)["char_path_length"]
    2.0
    """
    import networkx as nx  # only this test reference needs NetworkX

    n = g.number_of_nodes()
    if n < 2:
        raise ValueError("graphs need at least 2 nodes")
    if nx.number_of_selfloops(g) > 0:
        raise ValueError("self-loops are not connections between regions")
    if any(not w > 0 for _, _, w in g.edges(data=weight)):
        raise ValueError(f"every edge needs a positive {weight!r} attribute")

    dist = nx.Graph()
    dist.add_nodes_from(g)
    dist.add_weighted_edges_from(
        ((u, v, 1.0 / w) for u, v, w in g.edges(data=weight)), weight="distance"
    )
    lengths = [
        length
        for source, targets in nx.all_pairs_dijkstra_path_length(dist, weight="distance")
        for target, length in targets.items()
        if target != source
    ]
    closeness = nx.closeness_centrality(dist, distance="distance", wf_improved=True)
    return {
        "char_path_length": sum(lengths) / len(lengths) if lengths else float("nan"),
        "mean_degree": sum(d for _, d in g.degree()) / n,
        "mean_strength": sum(s for _, s in g.degree(weight=weight)) / n,
        "closeness": sum(closeness.values()) / n,
        "global_efficiency": sum(1.0 / length for length in lengths) / (n * (n - 1)),
    }


@dataclass(frozen=True)
class MetricReference:
    """Healthy-cohort mean and SD of each of the :data:`PERTURBATION_METRICS`.

    Attributes
    ----------
    mean, sd : dict[str, float]
        NaN-aware mean and sample SD (ddof=1) per metric.

    Examples
    --------
    >>> ref = MetricReference.from_metrics({m: np.array([1.0, 3.0]) for m in PERTURBATION_METRICS})
    >>> ref.z_scores({m: np.array([3.0]) for m in PERTURBATION_METRICS})["closeness"]
    array([0.70710678])
    """

    mean: dict[str, float]
    sd: dict[str, float]

    @classmethod
    def from_metrics(cls, metrics: dict[str, np.ndarray]) -> MetricReference:
        """Build the reference from the metrics of a healthy cohort.

        Parameters
        ----------
        metrics : dict[str, np.ndarray]
            Output of :func:`graph_metrics` or :func:`metrics_from_edges`; only
            the :data:`PERTURBATION_METRICS` are used. NaNs are ignored.

        Returns
        -------
        MetricReference

        Raises
        ------
        ValueError
            If a metric has fewer than 2 non-NaN values or an SD that is 0 or
            not finite (a z-score against it would be meaningless).
        """
        mean: dict[str, float] = {}
        sd: dict[str, float] = {}
        for name in PERTURBATION_METRICS:
            values = np.asarray(metrics[name], dtype=np.float64)
            values = values[~np.isnan(values)]
            if values.size < 2:
                raise ValueError(f"{name}: need at least 2 non-NaN values, got {values.size}")
            mean[name] = float(values.mean())
            sd[name] = float(values.std(ddof=1))
            if not (np.isfinite(sd[name]) and sd[name] > 0.0):
                raise ValueError(
                    f"{name}: reference SD must be positive and finite, got {sd[name]}"
                )
        return cls(mean=mean, sd=sd)

    def z_scores(self, metrics: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """z-scores of each of the :data:`PERTURBATION_METRICS`; NaN stays NaN.

        Parameters
        ----------
        metrics : dict[str, np.ndarray]
            Metrics of the people to score.

        Returns
        -------
        dict[str, np.ndarray]
            ``(value - mean) / sd`` per metric.
        """
        return {
            name: (np.asarray(metrics[name], dtype=np.float64) - self.mean[name]) / self.sd[name]
            for name in PERTURBATION_METRICS
        }


def perturbation_index(metrics: dict[str, np.ndarray], reference: MetricReference) -> np.ndarray:
    """Mean absolute z-score of the :data:`PERTURBATION_METRICS` against a healthy reference.

    For normally distributed healthy metrics the expected index of a healthy
    person is ``sqrt(2 / pi) ≈ 0.80``. A NaN metric (characteristic path length
    of a graph without any reachable pair) has a NaN z-score and is left out of
    that person's mean, so the index averages the metrics that are available.

    Parameters
    ----------
    metrics : dict[str, np.ndarray]
        Metrics of the people to score, each of shape (N,).
    reference : MetricReference
        Healthy reference.

    Returns
    -------
    np.ndarray
        (N,) perturbation index.

    Examples
    --------
    >>> ref = MetricReference.from_metrics({m: np.array([1.0, 3.0]) for m in PERTURBATION_METRICS})
    >>> perturbation_index({m: np.array([2.0, 2.0 + 2**0.5]) for m in PERTURBATION_METRICS}, ref)
    array([0., 1.])
    """
    z = reference.z_scores(metrics)
    return np.nanmean(np.abs(np.stack([z[name] for name in PERTURBATION_METRICS])), axis=0)
