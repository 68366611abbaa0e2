"""The default mode network (DMN) as a NetworkX graph, and its healthy reference connectivity.

Regions carry name, abbreviation, hemisphere, Andrews-Hanna (2010) subsystem, MNI coordinates and
a *role* used by the pain signature (``mpfc``, ``posterior``, ``insula``). Edges are stored in one
canonical order, the upper triangle of the region-by-region matrix (``numpy.triu_indices``);
helpers convert between a graph, an (R, R) matrix, an (E,) edge vector and (N, R, R) batches.

Connectivity is Pearson r; the healthy reference and all person-level variation are defined on
Fisher z = arctanh(r), where between-person differences are close to normal.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Literal

import numpy as np

from sim.core.paramgroup import ParamGroup, param

if TYPE_CHECKING:
    import networkx as nx

# NetworkX is imported by the functions that build graphs: checking a scenario imports this
# module for its parameters and region names, and NetworkX takes longer to import than that.

SUBSYSTEMS = ("core", "dmpfc", "mtl", "salience")

# (abbreviation, full name, hemisphere, subsystem, role, MNI x, y, z, coordinate source)
# AH2010 = Andrews-Hanna et al. 2010 Neuron 65:550 ROI centres (left side; right mirrored in x);
# CONN = CONN toolbox networks atlas. See docs/model.md, "Brain network".
_DEFAULT_REGIONS = (
    ("aMPFC", "anterior medial prefrontal cortex", "M", "core", "mpfc", -6, 52, -2, "AH2010"),
    ("PCC", "posterior cingulate cortex", "M", "core", "posterior", -8, -56, 26, "AH2010"),
    ("PCu", "precuneus", "M", "core", "posterior", 1, -61, 38, "CONN"),
    ("dMPFC", "dorsal medial prefrontal cortex", "M", "dmpfc", "", 0, 52, 26, "AH2010"),
    ("vMPFC", "ventral medial prefrontal cortex", "M", "mtl", "", 0, 26, -18, "AH2010"),
    ("L.pIPL", "left posterior inferior parietal lobule", "L", "mtl", "", -44, -74, 32, "AH2010"),
    ("R.pIPL", "right posterior inferior parietal lobule", "R", "mtl", "", 44, -74, 32, "AH2010"),
    ("L.TPJ", "left temporo-parietal junction", "L", "dmpfc", "", -54, -54, 28, "AH2010"),
    ("R.TPJ", "right temporo-parietal junction", "R", "dmpfc", "", 54, -54, 28, "AH2010"),
    ("L.LTC", "left lateral temporal cortex", "L", "dmpfc", "", -60, -24, -18, "AH2010"),
    ("R.LTC", "right lateral temporal cortex", "R", "dmpfc", "", 60, -24, -18, "AH2010"),
    ("L.HF", "left hippocampal formation", "L", "mtl", "", -22, -20, -26, "AH2010"),
    ("R.HF", "right hippocampal formation", "R", "mtl", "", 22, -20, -26, "AH2010"),
    ("L.TempP", "left temporal pole", "L", "dmpfc", "", -50, 14, -40, "AH2010"),
    ("dACC", "dorsal anterior cingulate cortex", "M", "salience", "", 0, 22, 35, "CONN"),
    ("L.aIns", "left anterior insula", "L", "salience", "insula", -44, 13, 1, "CONN"),
    ("R.aIns", "right anterior insula", "R", "salience", "insula", 47, 14, 0, "CONN"),
)

REGION_NAMES: tuple[str, ...] = tuple(region[0] for region in _DEFAULT_REGIONS)
"""Abbreviations of the default atlas's regions, in matrix order."""

ATLAS_REGIONS: dict[str, int] = {"default": len(REGION_NAMES), "seitzman": 76}
"""Regions of each atlas (Seitzman 2018: 67 DefaultMode + 9 Salience ROIs), known without
building the atlas (which needs nilearn)."""

SALIENCE_STEM = "SAL"
"""Name stem of the Seitzman atlas's salience ROIs (its DMN ROIs take a default region's)."""


def is_region_name(name: str) -> bool:
    """Whether ``name`` names regions of an atlas: a default region, or Seitzman ROIs.

    Seitzman ROIs are called ``<stem>.<index>`` after the nearest default region (or
    ``SAL`` for salience ROIs); a stem alone names all its ROIs.

    Examples
    --------
    >>> [is_region_name(n) for n in ("aMPFC", "L.pIPL.12", "SAL", "mPFC")]
    [True, True, True, False]
    """
    stems = (*REGION_NAMES, SALIENCE_STEM)
    stem, _, index = name.rpartition(".")
    return name in stems or (index.isdigit() and stem in stems)


class BrainParams(ParamGroup):
    """Network layout and healthy resting-state connectivity (Pearson r, Fisher z spread)."""

    atlas: Literal["default", "seitzman"] = param(
        "default",
        unit="-",
        source="default: brief §6 suggested 14 DMN + 3 salience nodes; seitzman: Seitzman 2018",
        doc="'default' (17 regions) or 'seitzman' (67 DefaultMode + 9 Salience ROIs)",
    )
    r_core: float = param(
        0.50,
        unit="r",
        plausible="0.3-0.7",
        ge=-0.95,
        le=0.95,
        source="assumption (brief §6 [NF]): aMPFC-PCC r = 0.5",
        doc="coupling between midline-core regions",
    )
    r_within: float = param(
        0.35,
        unit="r",
        plausible="0.2-0.5",
        ge=-0.95,
        le=0.95,
        source="assumption (brief §6 [NF])",
        doc="coupling within a DMN subsystem",
    )
    r_core_subsystem: float = param(
        0.30,
        unit="r",
        plausible="0.2-0.4",
        ge=-0.95,
        le=0.95,
        source="assumption (brief §6 [NF])",
        doc="coupling between the core and a subsystem",
    )
    r_between: float = param(
        0.15,
        unit="r",
        plausible="0.05-0.25",
        ge=-0.95,
        le=0.95,
        source="assumption (brief §6 [NF])",
        doc="coupling between dMPFC and MTL subsystems",
    )
    r_salience: float = param(
        0.40,
        unit="r",
        plausible="0.3-0.6",
        ge=-0.95,
        le=0.95,
        source="assumption, chosen so that the salience nodes form a module of their own",
        doc="coupling among dACC and anterior insulae",
    )
    r_dmn_salience: float = param(
        0.0,
        unit="r",
        plausible="-0.15-0.15",
        ge=-0.95,
        le=0.95,
        source="assumption (brief §6: fc_DMN_aIns 0.0, range -0.15 to 0.15 [NF])",
        doc="coupling between DMN and salience regions",
    )
    sd_between_person: float = param(
        0.15,
        unit="Fisher z",
        plausible="0.1-0.2",
        gt=0,
        le=0.5,
        source="brief §6: inter-subject SD of r about 0.15 (taken on the z scale)",
        doc="between-person SD of each edge in a healthy population",
    )
    age_slope: float = param(
        -0.04,
        unit="Fisher z per decade",
        plausible="-0.08-0",
        ge=-0.3,
        le=0.3,
        source="direction: Andrews-Hanna 2007 (anterior-posterior coupling falls with age); "
        "size: assumption",
        doc="change of anterior-posterior DMN coupling per decade of age",
    )
    reference_age: float = param(
        45.0,
        unit="years",
        ge=18,
        le=90,
        source="assumption (centre of adult range)",
        doc="age at which the healthy reference means apply",
    )
    anterior_y_mm: float = param(
        20.0,
        unit="MNI y (mm)",
        plausible="10-30",
        ge=-100,
        le=100,
        source="assumption: splits the anterior DMN (aMPFC, dMPFC, vMPFC; y >= 26 [M]) from the "
        "rest; Andrews-Hanna 2007 [C] report the anterior-posterior decline with age",
        doc="DMN regions in front of this are anterior (age effect on anterior-posterior edges)",
    )
    posterior_y_mm: float = param(
        -45.0,
        unit="MNI y (mm)",
        plausible="-55--35",
        ge=-100,
        le=100,
        source="assumption: PCC, precuneus, TPJ and pIPL lie behind it (y <= -54 [M/C]); the "
        "temporal regions in between (y -24 to 14) are neither",
        doc="DMN regions behind this are posterior (age effect on anterior-posterior edges)",
    )


@dataclass(frozen=True, eq=False)
class Brain:
    """A brain network template: regions, canonical edge order, healthy reference, edge sets.

    Attributes
    ----------
    graph
        Template ``networkx.Graph``; node attributes describe regions, edge attributes
        ``weight`` (healthy mean r), ``z_mean`` and ``z_sd``.
    names
        Region abbreviations in matrix order.
    healthy_z, healthy_sd_z
        (E,) healthy mean and between-person SD of each edge, Fisher z.
    edge_sets
        Named boolean (E,) masks: ``mpfc_pcc``, ``mpfc_insula``, ``dmn``, ``anterior_posterior``.
    """

    graph: nx.Graph
    names: tuple[str, ...]
    healthy_z: np.ndarray
    healthy_sd_z: np.ndarray
    edge_sets: dict[str, np.ndarray]

    @property
    def n_regions(self) -> int:
        return len(self.names)

    @property
    def n_edges(self) -> int:
        return self.healthy_z.size

    @property
    def iu(self) -> tuple[np.ndarray, np.ndarray]:
        return edge_order(self.n_regions)

    @property
    def coords(self) -> np.ndarray:
        """(R, 3) MNI coordinates in matrix order."""
        return np.array([self.graph.nodes[n]["mni"] for n in self.names], dtype=float)

    @property
    def subsystems(self) -> tuple[str, ...]:
        return tuple(self.graph.nodes[n]["subsystem"] for n in self.names)


@cache
def edge_order(n_regions: int) -> tuple[np.ndarray, np.ndarray]:
    """Canonical edge order: row and column indices of the upper triangle.

    Parameters
    ----------
    n_regions
        Number of regions R.

    Returns
    -------
    (rows, cols)
        Two (E,) integer arrays, E = R(R-1)/2, in ``numpy.triu_indices(R, 1)`` order.

    Examples
    --------
    >>> rows, cols = edge_order(3)
    >>> list(zip(rows.tolist(), cols.tolist()))
    [(0, 1), (0, 2), (1, 2)]
    """
    rows, cols = np.triu_indices(n_regions, 1)
    rows.flags.writeable = False
    cols.flags.writeable = False
    return rows, cols


def n_regions_from_edges(n_edges: int) -> int:
    """Number of regions R such that R(R-1)/2 equals ``n_edges``; ValueError otherwise."""
    r = round((1 + np.sqrt(1 + 8 * n_edges)) / 2)
    if r * (r - 1) // 2 != n_edges:
        raise ValueError(f"{n_edges} is not a triangular number of edges")
    return r


def matrix_to_edges(matrix: np.ndarray) -> np.ndarray:
    """(..., R, R) symmetric matrices to (..., E) edge vectors in canonical order."""
    rows, cols = edge_order(matrix.shape[-1])
    return matrix[..., rows, cols]


def edges_to_matrix(edges: np.ndarray, diagonal: float = 0.0) -> np.ndarray:
    """(..., E) edge vectors to (..., R, R) symmetric matrices.

    Parameters
    ----------
    edges
        Edge values in canonical order; any leading batch shape.
    diagonal
        Value on the diagonal (0 for graph weights, 1 for correlation matrices).

    Returns
    -------
    numpy.ndarray
        Symmetric matrices with the dtype of ``edges``.

    Examples
    --------
    >>> edges_to_matrix(np.array([0.5, 0.1, 0.2]))
    array([[0. , 0.5, 0.1],
           [0.5, 0. , 0.2],
           [0.1, 0.2, 0. ]])
    """
    n = n_regions_from_edges(edges.shape[-1])
    rows, cols = edge_order(n)
    out = np.full((*edges.shape[:-1], n, n), diagonal, dtype=edges.dtype)
    out[..., rows, cols] = edges
    out[..., cols, rows] = edges
    return out


def graph_to_matrix(graph: nx.Graph, names: tuple[str, ...], weight: str = "weight") -> np.ndarray:
    """Weighted adjacency of ``graph`` in the order ``names`` (missing edges are 0)."""
    import networkx as nx

    return nx.to_numpy_array(graph, nodelist=list(names), weight=weight, nonedge=0.0)


def matrix_to_graph(matrix: np.ndarray, brain: Brain, weight: str = "weight") -> nx.Graph:
    """A graph with the brain's region attributes and one edge per non-zero matrix entry."""
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from((n, brain.graph.nodes[n]) for n in brain.names)
    rows, cols = edge_order(len(brain.names))
    for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
        if matrix[i, j] != 0:
            g.add_edge(brain.names[i], brain.names[j], **{weight: float(matrix[i, j])})
    return g


def _edge_class_r(a: dict, b: dict, p: BrainParams) -> float:
    """Healthy mean r of an edge, from the subsystems of its two regions (brief §6)."""
    sa, sb = a["subsystem"], b["subsystem"]
    if sa == "salience" and sb == "salience":
        return p.r_salience
    if "salience" in (sa, sb):
        return p.r_dmn_salience
    if sa == sb == "core":
        return p.r_core
    if sa == sb:
        return p.r_within
    if "core" in (sa, sb):
        return p.r_core_subsystem
    return p.r_between


def _default_regions() -> list[dict]:
    return [
        dict(abbrev=a, name=n, hemisphere=h, subsystem=s, role=r, mni=(x, y, z), coord_source=c)
        for a, n, h, s, r, x, y, z, c in _DEFAULT_REGIONS
    ]


def _seitzman_regions() -> list[dict]:
    """Seitzman 2018 DefaultMode and Salience ROIs, labelled via the nearest default region.

    nilearn ships these 300 coordinates with the package, so nothing is downloaded. DMN ROIs
    take the subsystem and role of the nearest default-atlas DMN centre; salience ROIs with
    |x| > 25 mm are insula (role ``insula``), the others medial salience.
    """
    from nilearn.datasets import fetch_coords_seitzman_2018

    atlas = fetch_coords_seitzman_2018()
    rois = atlas.rois[["x", "y", "z"]].to_numpy(dtype=float)
    networks = np.asarray(atlas.networks)
    default = [r for r in _default_regions() if r["subsystem"] != "salience"]
    centres = np.array([r["mni"] for r in default], dtype=float)
    regions = []
    for idx in np.flatnonzero(np.isin(networks, ["DefaultMode", "Salience"])):
        x, y, z = rois[idx]
        hemi = "L" if x < -4 else ("R" if x > 4 else "M")
        if networks[idx] == "DefaultMode":
            near = default[int(np.argmin(((centres - rois[idx]) ** 2).sum(axis=1)))]
            subsystem, role, stem = near["subsystem"], near["role"], near["abbrev"]
        else:
            lateral = abs(x) > 25
            subsystem, role, stem = "salience", "insula" if lateral else "", "SAL"
        regions.append(
            dict(
                abbrev=f"{stem}.{idx}",
                name=f"Seitzman ROI {idx} ({networks[idx]}, near {stem})",
                hemisphere=hemi,
                subsystem=subsystem,
                role=role,
                mni=(float(x), float(y), float(z)),
                coord_source="Seitzman2018",
            )
        )
    return regions


def build_brain(params: BrainParams | None = None) -> Brain:
    """Build the brain template for an atlas, with its healthy reference connectivity.

    Parameters
    ----------
    params
        Brain parameters; defaults when omitted.

    Returns
    -------
    Brain

    Examples
    --------
    >>> brain = build_brain()
    >>> brain.n_regions, brain.n_edges
    (17, 136)
    >>> brain.graph.nodes["PCC"]["subsystem"]
    'core'
    """
    import networkx as nx

    p = params or BrainParams()
    regions = _default_regions() if p.atlas == "default" else _seitzman_regions()
    g = nx.Graph(atlas=p.atlas)
    for r in regions:
        g.add_node(r["abbrev"], **r)
    names = tuple(r["abbrev"] for r in regions)
    rows, cols = edge_order(len(names))
    attrs = [g.nodes[n] for n in names]
    pairs = zip(rows.tolist(), cols.tolist(), strict=True)
    healthy_r = np.array([_edge_class_r(attrs[i], attrs[j], p) for i, j in pairs])
    healthy_z = np.arctanh(healthy_r)
    sd_z = np.full(healthy_z.shape, p.sd_between_person)
    for e, (i, j) in enumerate(zip(rows.tolist(), cols.tolist(), strict=True)):
        g.add_edge(
            names[i],
            names[j],
            weight=float(healthy_r[e]),
            z_mean=float(healthy_z[e]),
            z_sd=float(sd_z[e]),
        )
    return Brain(
        graph=g,
        names=names,
        healthy_z=healthy_z,
        healthy_sd_z=sd_z,
        edge_sets=_edge_sets(attrs, rows, cols, p.anterior_y_mm, p.posterior_y_mm),
    )


def _edge_sets(
    attrs: list[dict],
    rows: np.ndarray,
    cols: np.ndarray,
    anterior_y: float = 20.0,
    posterior_y: float = -45.0,
) -> dict[str, np.ndarray]:
    """Named edge masks. Anterior/posterior DMN regions: MNI y > ``anterior_y`` / <
    ``posterior_y`` (``brain.anterior_y_mm``, ``brain.posterior_y_mm``)."""
    role = np.array([a["role"] for a in attrs])
    dmn = np.array([a["subsystem"] != "salience" for a in attrs])
    y = np.array([a["mni"][1] for a in attrs])

    def pair(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a[rows] & b[cols]) | (b[rows] & a[cols])

    mpfc = role == "mpfc"
    return {
        "mpfc_pcc": pair(mpfc, role == "posterior"),
        "mpfc_insula": pair(mpfc, role == "insula"),
        "dmn": dmn[rows] & dmn[cols],
        "anterior_posterior": pair(dmn & (y > anterior_y), dmn & (y < posterior_y)),
    }
