"""Glass-brain views of a network: nilearn's brain schematics, painsim's nodes and edges.

:func:`glass_view` draws one view (sagittal ``x``, coronal ``y`` or axial ``z``) of regions at
their MNI coordinates with coloured edges, over the outline of the brain that nilearn draws in
its glass brains (:func:`nilearn.plotting.glass_brain.plot_brain_schematics`). The outline of
each view is made once per process and drawn as a single collection, and edges are one
:class:`~matplotlib.collections.LineCollection`; this is several times faster than a
``nilearn.plotting.plot_connectome`` display per view and lets the animation redraw only its
edges.

Importing ``nilearn.plotting`` loads scikit-learn and takes seconds; the schematics module only
needs matplotlib, so it is loaded on its own from the installed nilearn (and through
``nilearn.plotting`` if that ever fails).
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure

from sim.viz.figures.layout import NOT_DATA

VIEW_AXES: dict[str, tuple[int, int]] = {"x": (1, 2), "y": (0, 2), "z": (0, 1)}
"""MNI axes shown horizontally and vertically in each view (as nilearn's glass brains)."""


@cache
def _schematics() -> ModuleType:
    """nilearn's brain-schematics module, without importing all of ``nilearn.plotting``."""
    try:
        spec = importlib.util.find_spec("nilearn")
        path = Path(next(iter(spec.submodule_search_locations))) / "plotting" / "glass_brain.py"
        loaded = importlib.util.spec_from_file_location("_painsim_nilearn_glass_brain", path)
        module = importlib.util.module_from_spec(loaded)
        loaded.loader.exec_module(module)
        module.plot_brain_schematics  # noqa: B018 (the function this module is loaded for)
        return module
    except (AttributeError, ImportError, OSError, StopIteration, TypeError):
        from nilearn.plotting import glass_brain

        return glass_brain


@dataclass(frozen=True)
class Outline:
    """The brain outline of one view, in MNI millimetres."""

    paths: tuple[Any, ...]
    colors: tuple[Any, ...]
    widths: tuple[float, ...]
    bounds: tuple[float, float, float, float]


@cache
def outline(direction: str) -> Outline:
    """The outline nilearn draws for a view, as paths in MNI millimetres (made once)."""
    scratch = Figure()
    ax = scratch.add_subplot()
    bounds = _schematics().plot_brain_schematics(ax, direction)
    paths, colors, widths = [], [], []
    for patch in ax.patches:
        to_mm = patch.get_transform() - ax.transData  # the schematic's own affine
        paths.append(to_mm.transform_path(patch.get_path()))
        colors.append(patch.get_edgecolor())
        widths.append(float(patch.get_linewidth()))
    return Outline(tuple(paths), tuple(colors), tuple(widths), tuple(float(b) for b in bounds))


def edge_segments(coords: np.ndarray, direction: str) -> np.ndarray:
    """(E, 2, 2) projected segments of every region pair (upper triangle order)."""
    h, v = VIEW_AXES[direction]
    xy = np.asarray(coords, float)[:, [h, v]]
    rows, cols = np.triu_indices(len(xy), 1)
    return np.stack([xy[rows], xy[cols]], axis=1)


def edge_style(
    values: np.ndarray, cmap: Colormap, norm: Normalize, limit: float, widths: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Colours, line widths and drawing order of edges; zero edges are transparent.

    Returns
    -------
    (colors, widths, order)
        ``order`` puts the strongest edges last (on top).
    """
    values = np.asarray(values, float)
    shown = values != 0
    colors = cmap(norm(values))
    colors[~shown, 3] = 0.0
    thin, extra = widths
    scale = np.minimum(np.abs(values) / limit, 1) if limit > 0 else np.zeros_like(values)
    line = np.where(shown, thin + extra * scale, 0.0)
    return colors, line, np.argsort(np.abs(values), kind="stable")


def glass_view(
    ax: Axes,
    direction: str,
    coords: np.ndarray,
    node_colors: Sequence[Any],
    *,
    matrix: np.ndarray | None = None,
    cmap: Colormap | None = None,
    norm: Normalize | None = None,
    node_size: float = 90.0,
    edge_widths: tuple[float, float] = (1.5, 4.0),
    outline_scale: float = 1.0,
    label_size: float | None = None,
) -> LineCollection:
    """Draw one glass-brain view of a network into ``ax``.

    Parameters
    ----------
    ax
        Empty axes (turned off, equal aspect).
    direction
        ``x`` (sagittal), ``y`` (coronal) or ``z`` (axial).
    coords
        (R, 3) MNI coordinates of the regions, mm.
    node_colors
        Colour of each region.
    matrix
        (R, R) values of the edges; zeros are not drawn. None: no edges (yet).
    cmap, norm
        Colour of an edge value.
    node_size
        Marker area of the regions, points².
    edge_widths
        Width of the weakest drawn edge and the extra width of an edge at the colour limit,
        points.
    outline_scale
        Factor on the outline's line widths (thinner for small figures).
    label_size
        Font size of the "L" and "R" of axial and coronal views (None: none).

    Returns
    -------
    matplotlib.collections.LineCollection
        The edges (to restyle, e.g. frame by frame).
    """
    shape = outline(direction)
    ax.add_collection(
        PathCollection(
            list(shape.paths),
            facecolors="none",
            edgecolors=list(shape.colors),
            linewidths=[w * outline_scale for w in shape.widths],
            zorder=1,
        ),
        autolim=False,
    )
    segments = edge_segments(coords, direction)
    edges = LineCollection(segments, linewidths=0, zorder=3, capstyle="round")
    if matrix is not None and cmap is not None and norm is not None:
        values = np.asarray(matrix, float)[np.triu_indices(len(coords), 1)]
        limit = max(abs(norm.vmin), abs(norm.vmax))
        colors, widths, order = edge_style(values, cmap, norm, limit, edge_widths)
        edges.set_segments(segments[order])
        edges.set_color(colors[order])
        edges.set_linewidth(widths[order])
    ax.add_collection(edges, autolim=False)
    h, v = VIEW_AXES[direction]
    xy = np.asarray(coords, float)[:, [h, v]]
    ax.scatter(
        xy[:, 0],
        xy[:, 1],
        s=node_size,
        c=list(node_colors),
        edgecolors="#222222",
        linewidths=0.8 if node_size > 30 else 0.2,
        zorder=5,
    )
    xmin, xmax, ymin, ymax = shape.bounds
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_gid(NOT_DATA)  # brain outlines and edges: labels may sit beside or over them
    if label_size and direction in "yz":
        for x, text in ((0.02, "L"), (0.98, "R")):
            ax.text(
                x,
                0.98,
                text,
                transform=ax.transAxes,
                ha="left" if text == "L" else "right",
                va="top",
                fontsize=label_size,
                color="#555555",
            )
    return edges


def view_aspect(direction: str) -> float:
    """Width over height of a view's outline (to size its axes)."""
    xmin, xmax, ymin, ymax = outline(direction).bounds
    return (xmax - xmin) / (ymax - ymin) if ymax > ymin else math.nan
