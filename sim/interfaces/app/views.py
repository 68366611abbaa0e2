"""The teaching page's two figures: DMN perturbation over the years, and one patient's brain.

Colours and names follow painsim's house style (:mod:`sim.viz.style`): coping groups take the
coping ramp (light = adaptive, dark = maladaptive), subsystems their house colours and names,
changes in connectivity the house change map (blue weaker, red stronger, grey unchanged),
healthy connectivity the grey-to-black level map; outcome labels come from
:mod:`sim.core.outcomes`.

Each view owns one matplotlib Figure for the life of a model. Axes, text, outlines and legends
are drawn once and kept as a bitmap; every year only the changing artists are drawn on top of
it (blitting). A full redraw happens only when an axis range changes. Building axes and laying
out text would otherwise cost most of the half second a year may take.
"""

from __future__ import annotations

import io
import math
from functools import lru_cache
from typing import Any, ClassVar

import matplotlib as mpl
import numpy as np
import PIL.Image
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from sim.core.outcomes import VARIABLES, label
from sim.interfaces.app.model import TeachingModel
from sim.viz import style as hs

HEALTHY_LEVEL = math.sqrt(2.0 / math.pi)  # mean |z| of healthy people, docs/model.md
CHANGE_LIMIT = 0.3  # end of the colour scale of connectivity change, Pearson r
CHANGE_SHOWN = 0.02  # smaller changes are drawn grey ("unchanged")
GROUP_COLORS: dict[str, str] = {
    # The house coping ramp runs light (little catastrophizing) to dark (much).
    "adaptive": hs.COPING_COLORS[1],
    "maladaptive": hs.COPING_COLORS[2],
}
NODE_EDGE = "#222222"  # node outlines, as in the report's glass brains


def two_lines(text: str) -> str:
    """An axis label with its unit on a second line: ``"Pain\\n(NRS 0–10)"``."""
    return text.replace(" (", "\n(", 1)


class BlitView:
    """A figure whose ``dynamic`` artists are redrawn on a cached background.

    Subclasses build ``figure`` and the list ``dynamic``, then call :meth:`start`; they may
    override :meth:`limits` with anything whose change needs a full redraw (e.g. axis ranges).
    """

    figure: Figure
    dynamic: list[Any]

    def start(self) -> None:
        """Attach a canvas and mark the dynamic artists (call at the end of ``__init__``)."""
        self.canvas = FigureCanvasAgg(self.figure)
        for artist in self.dynamic:
            artist.set_animated(True)
        self._background = None
        self._limits: Any = None

    def limits(self) -> Any:
        """Anything that, when it changes, needs a full redraw (e.g. axis ranges)."""
        return None

    def png(self) -> bytes:
        """The figure as PNG bytes, as it is now (call ``update`` first)."""
        limits = self.limits()
        if self._background is None or limits != self._limits:
            self.canvas.draw()  # everything except the dynamic artists
            self._background = self.canvas.copy_from_bbox(self.figure.bbox)
            self._limits = limits
        else:
            self.canvas.restore_region(self._background)
        for artist in self.dynamic:
            self.figure.draw_artist(artist)
        width, height = self.canvas.get_width_height()
        image = PIL.Image.frombuffer(
            "RGBA", (width, height), self.canvas.buffer_rgba(), "raw", "RGBA", 0, 1
        )
        buffer = io.BytesIO()
        image.save(buffer, format="png", compress_level=1)
        return buffer.getvalue()


class DriftView(BlitView):
    """DMN perturbation by coping group over the years, and below it the treatment's effect
    (with an intervention) or the mean years lived with pain (without).

    Parameters
    ----------
    model
        The model whose ``datacollector`` series are drawn.
    """

    def __init__(self, model: TeachingModel):
        self.model = model
        sizes = model.group_sizes
        treated = model.twin is not None
        self.figure = fig = Figure(figsize=(5.6, 5.2), dpi=100)
        fig.subplots_adjust(
            left=0.16, right=0.97, top=0.88 if treated else 0.91, bottom=0.09, hspace=0.32
        )
        self.top, self.bottom = top, bottom = fig.subplots(
            2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]}
        )
        self.lines: dict[str, Any] = {}
        handles = []
        for group in ("maladaptive", "adaptive"):
            colour = GROUP_COLORS[group]
            if treated:
                (self.lines[f"untreated_{group}"],) = top.plot(
                    [], [], color=colour, ls="--", lw=1.5
                )
            (self.lines[f"perturbation_{group}"],) = top.plot(
                [], [], color=colour, lw=2.2, marker="o", ms=3
            )
            (self.lines[f"lower_{group}"],) = bottom.plot(
                [], [], color=colour, lw=2, marker="o", ms=3, label=f"{group} copers"
            )
            handles.append(
                Line2D(
                    [],
                    [],
                    color=colour,
                    lw=2.2,
                    marker="o",
                    ms=3,
                    label=f"{group} copers (n = {sizes[group]})",
                )
            )
        if treated:  # line style legend: with (solid) and without (dashed) treatment
            intervention = model.settings["intervention"]
            handles[1:1] = [Line2D([], [], color=hs.NEUTRAL, lw=2.2, label=f"with {intervention}")]
            handles.append(
                Line2D([], [], color=hs.NEUTRAL, lw=1.5, ls="--", label="without (same people)")
            )
        top.axhline(HEALTHY_LEVEL, color=hs.NEUTRAL, lw=1, ls=":")
        top.text(
            0.2, HEALTHY_LEVEL, "typical healthy person", color=hs.NEUTRAL, fontsize=8, va="bottom"
        )
        top.set_ylabel(two_lines(label("dmn_perturbation")))
        # The legend sits between the title and the plot, where it never hides a line.
        rows = (len(handles) + 1) // 2
        top.set_title(
            "How far the brain network is from healthy, by coping style",
            fontsize=10,
            pad=4 + 12 * rows,
        )
        top.legend(
            handles=handles,
            fontsize=8,
            ncol=2,
            loc="lower left",
            bbox_to_anchor=(0.0, 1.0),
            frameon=False,
            borderaxespad=0.2,
            handlelength=2.2,
            columnspacing=1.2,
        )
        if treated:
            bottom.axhline(0.0, color=hs.NEUTRAL, lw=1)
            bottom.set_ylabel(two_lines(label("dmn_perturbation", difference=True)))
            bottom.set_title(
                f"Effect of {model.arm_label}: with − without (below 0: brain protected)",
                fontsize=10,
            )
        else:
            bottom.set_ylabel(two_lines(label("years_with_pain")))
            bottom.set_title(
                f"{label('years_with_pain').split(' (')[0]} (mean per person)", fontsize=10
            )
        bottom.legend(fontsize=8, loc="upper left", frameon=False)
        bottom.set_xlabel("simulated years since the start")
        bottom.set_xlim(0, max(model.horizon, 1.0))
        bottom.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
        for ax in (top, bottom):
            ax.grid(alpha=0.25)
            ax.spines[["top", "right"]].set_visible(False)
        self.dynamic = list(self.lines.values())
        self.start()

    def limits(self) -> Any:
        return self.top.get_ylim(), self.bottom.get_ylim()

    def update(self) -> Figure:
        """Draw the series collected so far; returns the figure."""
        data = self.model.datacollector.get_model_vars_dataframe()
        years = data["year"].to_numpy()
        treated = self.model.twin is not None
        shown = []
        for group in ("maladaptive", "adaptive"):
            names = [f"perturbation_{group}"] + ([f"untreated_{group}"] if treated else [])
            for name in names:
                self.lines[name].set_data(years, data[name].to_numpy())
                shown.append(data[name].to_numpy())
            lower = (
                data[f"perturbation_{group}"] - data[f"untreated_{group}"]
                if treated
                else data[f"years_with_pain_{group}"]
            ).to_numpy()
            self.lines[f"lower_{group}"].set_data(years, lower)
        # Ranges grow in round steps, so that most years need no full redraw.
        values = np.concatenate(shown)
        values = values[np.isfinite(values)]
        low = min(0.6, step_floor(float(values.min()) - 0.05, 0.2)) if values.size else 0.6
        high = max(1.4, step_ceil(float(values.max()) + 0.05, 0.2)) if values.size else 1.4
        self.top.set_ylim(low, high)
        lower = np.concatenate(
            [line.get_ydata() for name, line in self.lines.items() if name.startswith("lower_")]
        ).astype(float)
        lower = lower[np.isfinite(lower)]
        if treated:
            largest = float(np.abs(lower).max()) * 1.1 if lower.size else 0.0
            lim = next((x for x in (0.02, 0.05, 0.1, 0.2, 0.5, 1.0) if x >= largest), 2.0)
            self.bottom.set_ylim(-lim, lim)
        else:
            top_value = float(lower.max()) if lower.size else 0.0
            self.bottom.set_ylim(0, max(2.0, step_ceil(top_value * 1.1, 2.0)))
        return self.figure


def step_floor(value: float, step: float) -> float:
    """``value`` rounded down to a multiple of ``step`` (``step_floor(0.59, 0.2)`` is 0.4)."""
    return math.floor(value / step + 1e-9) * step


def step_ceil(value: float, step: float) -> float:
    """``value`` rounded up to a multiple of ``step`` (``step_ceil(1.41, 0.2)`` is 1.6)."""
    return math.ceil(value / step - 1e-9) * step


@lru_cache(maxsize=2)
def brain_outline(view: str) -> tuple[list, list[float]]:
    """Outline paths of nilearn's glass-brain schematic in MNI millimetres (cached).

    ``view`` is nilearn's display mode: ``"z"`` (from above) or ``"x"`` (from the side).
    """
    from nilearn.plotting.glass_brain import plot_brain_schematics

    fig = Figure()
    ax = fig.add_subplot()
    plot_brain_schematics(ax, view)
    paths = [
        (patch.get_transform() - ax.transData).transform_path(patch.get_path())
        for patch in ax.patches
    ]
    widths = [0.5 * patch.get_linewidth() for patch in ax.patches]
    return paths, widths


class BrainView(BlitView):
    """The healthy reference next to one patient's network, from above and from the side.

    Edge width is connection strength (r, edges at or above the graph threshold; in the
    patient's network also those pain pushed below it). In the healthy reference the colour is
    the strength as well (grey to black); in the patient's network it is how much pain has
    changed each connection compared with the same person without pain
    (:meth:`TeachingModel.patient_networks`): blue weaker, red stronger, grey unchanged.
    Regions are placed at their MNI coordinates and coloured by subsystem.

    Parameters
    ----------
    model
        The model whose drawn patient (``patient_index``) is shown.
    """

    VIEWS: ClassVar[dict[str, tuple[int, int]]] = {"z": (0, 1), "x": (1, 2)}  # above; left side

    def __init__(self, model: TeachingModel):
        self.model = model
        brain = model.brain
        self.threshold = model.pain_model.params.metrics.threshold
        self.cmap, self.norm = hs.change_cmap(CHANGE_LIMIT, CHANGE_SHOWN)
        self.figure = fig = Figure(figsize=(5.6, 5.2), dpi=100)
        grid = fig.add_gridspec(
            3,
            3,
            width_ratios=[1, 1, 0.06],
            height_ratios=[1.15, 1, 0.12],
            left=0.02,
            right=0.86,
            top=0.83,
            bottom=0.02,
            wspace=0.05,
            hspace=0.08,
        )
        healthy = np.tanh(brain.healthy_z)
        keep = healthy >= self.threshold
        level = Normalize(self.threshold, max(0.5, float(healthy.max())))
        self.patient_edges: list[LineCollection] = []
        self.overlay: list[Any] = []  # nodes and labels, drawn again over the patient's edges
        for row, view in enumerate(self.VIEWS):
            edges, _ = self._network_axes(fig.add_subplot(grid[row, 0]), view)
            edges.set_segments(self._segments(view)[keep])
            edges.set_linewidths(self._widths(healthy[keep]))
            edges.set_color(hs.CONNECTIVITY_CMAP(level(healthy[keep])))
            edges, overlay = self._network_axes(fig.add_subplot(grid[row, 1]), view)
            self.patient_edges.append(edges)
            self.overlay.extend(overlay)
        fig.text(
            0.24,
            0.86,
            "Healthy reference\n(average healthy adult)",
            ha="center",
            fontsize=9,
            weight="bold",
        )
        fig.text(0.64, 0.86, "This patient now", ha="center", fontsize=9, weight="bold")
        fig.text(0.01, 0.815, "seen from above", fontsize=7, color=hs.NEUTRAL)
        fig.text(0.01, 0.37, "seen from the left side", fontsize=7, color=hs.NEUTRAL)
        self.caption = fig.text(0.5, 0.99, "", ha="center", va="top", fontsize=8)
        bar = fig.colorbar(
            mpl.cm.ScalarMappable(self.norm, self.cmap),
            cax=fig.add_subplot(grid[0:2, 2]),
            extend="both",
        )
        bar.set_label(
            "change caused by pain, Δr\n"
            f"blue: weaker · red: stronger · grey: |Δr| < {CHANGE_SHOWN:g}",
            fontsize=7.5,
        )
        bar.ax.tick_params(labelsize=7)
        legend_ax = fig.add_subplot(grid[2, 0:2])
        legend_ax.axis("off")
        present = set(brain.subsystems)
        handles = [
            Line2D(
                [],
                [],
                marker="o",
                ls="",
                markerfacecolor=hs.SUBSYSTEM_COLORS[s],
                markeredgecolor=NODE_EDGE,
                markeredgewidth=0.5,
                label=hs.SUBSYSTEM_LABELS[s],
            )
            for s in hs.SUBSYSTEMS_ORDER
            if s in present
        ]
        legend_ax.legend(
            handles=handles,
            loc="center",
            ncol=2,
            fontsize=7,
            frameon=False,
            handletextpad=0.2,
            columnspacing=1.0,
        )
        self.dynamic = [*self.patient_edges, *self.overlay, self.caption]
        self.start()

    def _segments(self, view: str) -> np.ndarray:
        brain = self.model.brain
        h, v = self.VIEWS[view]
        rows, cols = brain.iu
        coords = brain.coords
        return np.stack([coords[rows][:, [h, v]], coords[cols][:, [h, v]]], axis=1)

    @staticmethod
    def _widths(r: np.ndarray) -> np.ndarray:
        return 0.4 + 3.5 * np.clip(r, 0.03, 1.0)

    def _network_axes(self, ax, view: str) -> tuple[LineCollection, list[Any]]:
        """Outline, nodes and labels of one view; returns its (empty) edges, nodes and labels."""
        brain = self.model.brain
        h, v = self.VIEWS[view]
        coords = brain.coords
        paths, widths = brain_outline(view)
        ax.add_collection(
            PathCollection(
                paths, facecolors="none", edgecolors="#cfcfcf", linewidths=widths, zorder=0
            )
        )
        edges = LineCollection([], zorder=2, capstyle="round")
        ax.add_collection(edges)
        small = brain.n_regions > 20
        overlay = [
            ax.scatter(
                coords[:, h],
                coords[:, v],
                s=10 if small else 28,
                zorder=3,
                c=[hs.SUBSYSTEM_COLORS.get(s, hs.NEUTRAL) for s in brain.subsystems],
                edgecolors=NODE_EDGE,
                linewidths=0.5,
            )
        ]
        # Each region is labelled once: lateral ones from above, midline ones from the side.
        for name, (x, y, z) in zip(brain.names, coords, strict=True):
            if small or (view == "x") != (abs(x) <= 10):
                continue
            inward = brain.graph.nodes[name]["subsystem"] == "salience"
            right = view == "x" or (x > 0) != inward
            overlay.append(
                ax.annotate(
                    name,
                    (x, y) if view == "z" else (y, z),
                    xytext=(4 if right else -4, 2),
                    textcoords="offset points",
                    ha="left" if right else "right",
                    fontsize=6.5,
                    zorder=4,
                )
            )
        ax.set_aspect("equal")
        ax.update_datalim(np.concatenate([p.vertices for p in paths]))
        ax.autoscale_view()
        ax.axis("off")
        return edges, overlay

    def update(self) -> Figure:
        """Draw the patient's network as it is now; returns the figure."""
        now, without = self.model.patient_networks()
        change = now - without
        shown = (now >= self.threshold) | (without >= self.threshold)
        colours = self.cmap(self.norm(change[shown]))
        for view, edges in zip(self.VIEWS, self.patient_edges, strict=True):
            edges.set_segments(self._segments(view)[shown])
            edges.set_linewidths(self._widths(now[shown]))
            edges.set_color(colours)
        self.caption.set_text(patient_caption(self.model))
        return self.figure


def drift_figure(model: TeachingModel) -> Figure:
    """A new figure of the plotted series (see :class:`DriftView`)."""
    return DriftView(model).update()


def brain_figure(model: TeachingModel) -> Figure:
    """A new figure of the drawn patient's network (see :class:`BrainView`)."""
    return BrainView(model).update()


def patient_caption(model: TeachingModel) -> str:
    """Two lines about the drawn patient: who, how long in pain, how they are now."""
    i, t = model.patient_index, model.table
    enrolled = t["enrolled_year"][i]
    treatment = (
        f" · {model.settings['intervention']} in year {enrolled:.0f}"
        if np.isfinite(enrolled)
        else ""
    )
    stage = str(t["stage"][i])
    pain, coping = VARIABLES["pain"], VARIABLES["coping"]
    now = "no pain" if stage == "none" else f"{stage} pain, {t['pain'][i]:.1f} ({pain.unit})"
    return (
        f"Patient {i} ({model.patient_kind}): age {t['age'][i]:.0f}, "
        f"{coping.short} {t['coping'][i]:.0f} ({coping.unit})\n"
        f"{VARIABLES['years_with_pain'].short} {t['years_with_pain'][i]:.1f} · now: {now} · "
        f"{VARIABLES['dmn_perturbation'].short} {t['dmn_perturbation'][i]:.2f}{treatment}"
    )


def figure_png(fig: Figure) -> bytes:
    """A figure as PNG bytes (a full draw, e.g. for a file; the page uses ``BlitView.png``)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
