"""Layout checks of a drawn figure: what a reader would stumble over, from the renderer's boxes.

:func:`layout_problems` draws a figure once with the Agg renderer and records every text the
renderer really draws (so tick labels outside the axis limits, hidden axes and empty strings do
not count), then reports:

* ``outside``: a text (or its background box) that is not wholly inside the canvas, e.g. a
  title cut at the edge;
* ``overlap``: two drawn texts whose boxes intersect, e.g. a colour-bar label over tick labels;
* ``legend``: a legend box over data (line vertices and the segments between them, markers,
  scatter points, error bars, arrows);
* ``covers``: a text or its background box over data, e.g. a label box over an arrow.

Reference lines drawn across an axis (``axhline``, ``axvline``: not in data coordinates on
both axes), shaded bands and images are not data here. Artists whose ``gid`` is
:data:`NOT_DATA` are left out too (glass-brain outlines, large background scatter clouds).
The tests run it on every figure kind in both styles; it is also useful when changing a figure::

    problems = layout_problems(fig)
    assert not problems, problems
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch
from matplotlib.text import Text
from matplotlib.transforms import Bbox

BEST = "best"
"""``gid`` :func:`best_legend` gives its legends (:func:`settle_legends` checks them)."""
NOT_DATA = "not-data"
"""``gid`` of artists that are context, not data: texts may lie over them."""
STEP_PX = 3.0
"""Line segments are sampled every this many pixels."""


@dataclass(frozen=True)
class Problem:
    """One layout problem: its kind and the texts (or artists) involved."""

    kind: str
    what: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.what}"


def _short(text: Text) -> str:
    words = " ".join(text.get_text().split())
    return repr(words if len(words) <= 40 else words[:37] + "...")


def drawn_texts(fig: Figure) -> tuple[list[Text], RendererAgg]:
    """Draw ``fig`` with Agg and return the texts that were drawn, and the renderer.

    Every :class:`~matplotlib.text.Text` whose ``draw`` runs and that is visible and not blank
    counts: tick labels beyond the axis limits and the labels of hidden axes are never drawn.
    """
    canvas = FigureCanvasAgg(fig)
    renderer = canvas.get_renderer()
    seen: dict[int, Text] = {}
    original = Text.draw

    def record(self: Text, renderer: RendererAgg) -> None:
        if self.get_visible() and self.get_text().strip():
            seen.setdefault(id(self), self)
        return original(self, renderer)

    Text.draw = record  # for this one draw (a class attribute: not thread safe)
    try:
        fig.draw(renderer)
    finally:
        Text.draw = original
    return list(seen.values()), renderer


def _boxes(text: Text, renderer: RendererAgg) -> list[Bbox]:
    """The text's box, and its background box (``bbox=``) when it has one."""
    boxes = [text.get_window_extent(renderer)]
    patch = text.get_bbox_patch()
    if patch is not None:
        boxes.append(patch.get_window_extent(renderer))
    return boxes


def _densify(xy: np.ndarray, joined: bool) -> np.ndarray:
    """Points along a display-space polyline, every :data:`STEP_PX` pixels."""
    xy = xy[np.isfinite(xy).all(axis=1)]
    if not joined or len(xy) < 2:
        return xy
    out = [xy[:1]]
    for a, b in itertools.pairwise(xy):
        steps = max(1, int(np.hypot(*(b - a)) // STEP_PX))
        t = np.linspace(0, 1, steps + 1)[1:, None]
        out.append(a + t * (b - a))
    return np.concatenate(out)


def _in_axes(ax: Axes, xy: np.ndarray) -> np.ndarray:
    """Points inside the axes box (what is clipped away is not drawn)."""
    box = ax.get_window_extent()
    inside = (
        (xy[:, 0] >= box.x0 - 1)
        & (xy[:, 0] <= box.x1 + 1)
        & (xy[:, 1] >= box.y0 - 1)
        & (xy[:, 1] <= box.y1 + 1)
    )
    return xy[inside]


def _line_points(ax: Axes, line: Line2D) -> np.ndarray:
    if not line.get_transform().contains_branch(ax.transData):
        return np.empty((0, 2))  # axhline / axvline: a reference, not data
    xy = line.get_transform().transform(np.asarray(line.get_xydata(), float))
    joined = line.get_linestyle() not in ("None", "", " ", "none")
    points = _densify(xy, joined)
    return _in_axes(ax, points) if line.get_clip_on() else points


def data_points(fig: Figure) -> Iterator[tuple[Axes, np.ndarray]]:
    """Display-space points of the data of every axes (see the module docstring)."""
    for ax in fig.axes:
        if not ax.get_visible() or ax.get_gid() == NOT_DATA:
            continue
        chunks = []
        for line in ax.lines:
            if line.get_visible() and line.get_gid() != NOT_DATA:
                chunks.append(_line_points(ax, line))
        for coll in ax.collections:
            if not coll.get_visible() or coll.get_gid() == NOT_DATA:
                continue
            if isinstance(coll, PathCollection) and len(coll.get_offsets()):
                xy = coll.get_offset_transform().transform(np.asarray(coll.get_offsets(), float))
                chunks.append(_in_axes(ax, xy))
            elif isinstance(coll, LineCollection):
                transform = coll.get_transform()
                if not transform.contains_branch(ax.transData):
                    continue
                for seg in coll.get_segments():
                    if len(seg):
                        chunks.append(_in_axes(ax, _densify(transform.transform(seg), True)))
        for patch in ax.patches:
            if isinstance(patch, FancyArrowPatch) and patch.get_visible():
                # The path is in data coordinates; polygons drop CLOSEPOLY's dummy vertices.
                path = patch.get_transform().transform_path(patch.get_path())
                for xy in path.to_polygons(closed_only=False):
                    chunks.append(_densify(np.asarray(xy, float), True))
        chunks = [c for c in chunks if len(c)]
        if chunks:
            yield ax, np.concatenate(chunks)


def _contains(box: Bbox, xy: np.ndarray, margin: float = 1.0) -> bool:
    if not len(xy):
        return False
    return bool(
        (
            (xy[:, 0] > box.x0 + margin)
            & (xy[:, 0] < box.x1 - margin)
            & (xy[:, 1] > box.y0 + margin)
            & (xy[:, 1] < box.y1 - margin)
        ).any()
    )


def _legends(fig: Figure) -> list[Legend]:
    found = [*fig.legends, *(ax.get_legend() for ax in fig.axes)]
    return [leg for leg in found if leg is not None and leg.get_visible()]


def _renderer(fig: Figure) -> RendererAgg:
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    return canvas.get_renderer()


def best_legend(ax: Axes, **kwargs: object) -> Legend:
    """An axes legend at matplotlib's "best" spot, to be checked by :func:`settle_legends`."""
    legend = ax.legend(loc="best", **kwargs)
    legend.set_gid(BEST)
    return legend


def settle_legends(fig: Figure, *, outside: str = "right") -> list[Legend]:
    """Move every axes legend placed "best" that hides data out of its axes (call it last).

    Matplotlib's "best" spot avoids data vertices but may still cover data. The figure is
    laid out once as it will be drawn; a "best" legend with data under it moves beside its
    axes (``outside="right"``), below it (``"below"``) or above it, under the title
    (``"above"``), keeping its entries, title and font size. Legends placed explicitly are
    left alone. Returns the legends moved.
    """
    axes_legends = [
        (ax, ax.get_legend())
        for ax in fig.axes
        if ax.get_legend() is not None and ax.get_legend().get_gid() == BEST
    ]
    if not axes_legends:
        return []
    renderer = _renderer(fig)
    fig.draw_without_rendering()
    points = list(data_points(fig))
    moved = []
    for ax, legend in axes_legends:
        box = legend.get_window_extent(renderer)
        if not any(_contains(box, xy) for _, xy in points):
            continue
        handles, labels = legend.legend_handles, [t.get_text() for t in legend.get_texts()]
        title = legend.get_title().get_text() or None
        size = legend.get_texts()[0].get_fontsize() if legend.get_texts() else None
        legend.remove()
        where = {
            "right": {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)},
            "below": {"loc": "upper center", "bbox_to_anchor": (0.5, -0.2)},
            "above": {"loc": "lower left", "bbox_to_anchor": (0.0, 1.02)},
        }[outside]
        moved.append(ax.legend(handles, labels, title=title, fontsize=size, **where))
    return moved


def layout_problems(fig: Figure, *, tolerance_px: float = 1.0) -> list[Problem]:
    """Everything in the figure's layout a reader would stumble over (empty: none).

    Parameters
    ----------
    fig
        A figure (drawn here with Agg; the figure is left drawn).
    tolerance_px
        Boxes may poke this far out of the canvas, or into each other, without counting.

    Returns
    -------
    list of Problem
        ``outside``, ``overlap``, ``legend`` and ``covers`` problems (see the module docstring).
    """
    texts, renderer = drawn_texts(fig)
    width, height = fig.bbox.width, fig.bbox.height
    problems: list[Problem] = []
    boxes = {id(t): _boxes(t, renderer) for t in texts}
    for t in texts:
        for box in boxes[id(t)]:
            if (
                box.x0 < -tolerance_px
                or box.y0 < -tolerance_px
                or box.x1 > width + tolerance_px
                or box.y1 > height + tolerance_px
            ):
                problems.append(Problem("outside", f"{_short(t)} is cut at the canvas edge"))
                break
    for a, b in itertools.combinations(texts, 2):
        ba, bb = boxes[id(a)][0], boxes[id(b)][0]
        if min(ba.width, bb.width, ba.height, bb.height) <= 0:
            continue
        dx = min(ba.x1, bb.x1) - max(ba.x0, bb.x0)
        dy = min(ba.y1, bb.y1) - max(ba.y0, bb.y0)
        if dx > tolerance_px and dy > tolerance_px:
            problems.append(Problem("overlap", f"{_short(a)} and {_short(b)}"))
    points = list(data_points(fig))
    legends = _legends(fig)
    legend_texts = {id(t) for leg in legends for t in leg.get_texts()}
    if leg_title := [leg.get_title() for leg in legends]:
        legend_texts |= {id(t) for t in leg_title}
    for leg in legends:
        box = leg.get_window_extent(renderer)
        for _ax, xy in points:
            if _contains(box, xy):
                name = leg.get_title().get_text() or (
                    leg.get_texts()[0].get_text() if leg.get_texts() else "legend"
                )
                problems.append(Problem("legend", f"legend {name!r} lies over data"))
                break
    for t in texts:
        if id(t) in legend_texts or t.get_gid() == NOT_DATA:
            continue
        for box in boxes[id(t)]:
            if any(_contains(box, xy) for _, xy in points):
                problems.append(Problem("covers", f"{_short(t)} lies over data"))
                break
    return problems
