"""Figures 3 and 4 of a run: glass-brain connectomes and connectivity matrices by subsystem.

:func:`connectome_figure` and :func:`matrices_figure` take a :class:`BrainLayout` and (R, R)
matrices; :func:`add_connectomes` and :func:`add_matrices` draw them for the people of a
:class:`~sim.viz.figures.people.Cast`, with their captions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize, TwoSlopeNorm, to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sim.core.brain import build_brain, edges_to_matrix
from sim.viz import style as hs
from sim.viz.figures.common import FigureWriter, chars_across, fmt, wrap
from sim.viz.figures.glass import glass_view
from sim.viz.figures.people import PATIENT_RULE, Cast


@dataclass(frozen=True)
class BrainLayout:
    """What the brain figures need to know about the regions.

    Attributes
    ----------
    names
        Region names.
    coords
        (R, 3) MNI coordinates, mm.
    subsystems
        Subsystem of each region (``core``, ``dmpfc``, ``mtl``, ``salience``).
    healthy
        (R, R) healthy reference connectivity (Pearson r), diagonal 1.
    """

    names: tuple[str, ...]
    coords: np.ndarray
    subsystems: tuple[str, ...]
    healthy: np.ndarray

    @classmethod
    def from_scenario(cls, scenario: Any = None) -> BrainLayout:
        """The layout of a scenario's brain (default parameters without a scenario)."""
        brain = build_brain(scenario.params.brain if scenario is not None else None)
        return cls(
            brain.names,
            brain.coords,
            brain.subsystems,
            edges_to_matrix(np.tanh(brain.healthy_z), diagonal=1.0),
        )


def node_colors(subsystems: Sequence[str]) -> list[str]:
    """Colour of each region by its subsystem."""
    return [hs.SUBSYSTEM_COLORS.get(x, hs.NEUTRAL) for x in subsystems]


def upper(matrix: np.ndarray) -> np.ndarray:
    """Upper-triangle entries (edges) of an (..., R, R) matrix, flattened."""
    rows, cols = np.triu_indices(matrix.shape[-1], 1)
    return np.asarray(matrix)[..., rows, cols].ravel()


def change_scale(
    changes: Sequence[np.ndarray],
    *,
    quantile: float = 0.95,
    threshold: float | None = None,
    threshold_share: float = 1 / 3,
) -> tuple[float, float]:
    """Colour limit and drawing threshold for edge changes (Δr) shared by several networks.

    The limit is the ``quantile`` of |Δr| over all edges of all networks, rounded up to 0.05
    (larger changes take the end colour); edges below ``threshold`` (default:
    ``threshold_share`` of the limit) are not drawn.

    Examples
    --------
    >>> change_scale([np.array([[0.0, 0.12], [0.12, 0.0]])])
    (0.15, 0.05)
    """
    values = np.concatenate([np.abs(upper(m)) for m in changes]) if changes else np.zeros(1)
    limit = max(math.ceil(float(np.quantile(values, quantile)) * 20 - 1e-9) / 20, 0.05)
    if threshold is None:
        threshold = round(limit * threshold_share, 3)
    return limit, float(threshold)


def _glass(
    fig: Figure,
    rect: tuple[float, float, float, float],
    matrix: np.ndarray,
    layout: BrainLayout,
    modes: str,
    cmap: Any,
    norm: Normalize,
    s: hs.Style,
    *,
    stacked: bool = False,
) -> None:
    """Glass-brain views (``modes``, e.g. ``"zx"``) of ``matrix`` side by side (or stacked) in
    ``rect`` (figure fraction); zeros are not drawn."""
    left, bottom, width, height = rect
    n = len(modes)
    for i, mode in enumerate(modes):
        box = (
            (left, bottom + height * (n - 1 - i) / n, width, height / n)
            if stacked
            else (left + width * i / n, bottom, width / n, height)
        )
        glass_view(
            fig.add_axes(box),
            mode,
            layout.coords,
            node_colors(layout.subsystems),
            matrix=matrix,
            cmap=cmap,
            norm=norm,
            node_size=90 if s.talk else 6,
            edge_widths=(2.0, 4.5) if s.talk else (0.35, 0.9),
            outline_scale=1.0 if s.talk else 0.5,
            label_size=s.small,
        )


def _subsystem_legend(fig: Figure, subsystems: Sequence[str], s: hs.Style) -> None:
    handles = [
        Line2D(
            [],
            [],
            marker="o",
            linestyle="none",
            markersize=s.marker * 1.2,
            markerfacecolor=hs.SUBSYSTEM_COLORS[x],
            markeredgecolor="#222222",
            label=hs.SUBSYSTEM_LABELS[x],
        )
        for x in hs.SUBSYSTEMS_ORDER
        if x in set(subsystems)
    ]
    fig.legend(
        handles=handles,
        loc="lower center",
        ncols=len(handles) if s.talk else 2,
        bbox_to_anchor=(0.5, 0.0),
        frameon=False,
        fontsize=s.small,
        handletextpad=0.3,
        columnspacing=1.5,
    )


def _colorbar(
    fig: Figure,
    cax: Axes,
    norm: Normalize,
    cmap: Any,
    text: str,
    s: hs.Style,
    *,
    extend: str = "neither",
    bins: int = 5,
) -> None:
    bar = fig.colorbar(ScalarMappable(norm, cmap), cax=cax, orientation="horizontal", extend=extend)
    bar.set_label(text, fontsize=s.small)
    bar.ax.tick_params(labelsize=s.small)
    bar.ax.locator_params(nbins=bins)


def connectome_figure(
    layout: BrainLayout,
    panels: Sequence[tuple[str, np.ndarray]],
    style: str | hs.Style = "talk",
    *,
    threshold: float | None = None,
    healthy_threshold: float = 0.2,
    difference: tuple[str, np.ndarray] | None = None,
) -> Figure:
    """Figure 3: glass-brain connectomes; healthy reference, then changes from pain-free.

    Parameters
    ----------
    layout
        Regions, MNI coordinates, subsystems and the healthy reference.
    panels
        (title, change) pairs: (R, R) change in connectivity (Δr) from the person's own
        pain-free pattern, e.g. the patient and the treated twin. Drawn with one shared
        colour scale and threshold, so fewer or paler edges mean less change.
    threshold
        Smallest |Δr| drawn; default from :func:`change_scale`.
    healthy_threshold
        Smallest healthy r drawn in the reference panel.
    difference
        (title, matrix) of a last panel on its own colour scale (its own colour bar), e.g.
        the twin minus the patient: smaller than the changes, it would vanish on theirs.

    Returns
    -------
    matplotlib.figure.Figure
        One column (talk) or row (paper) per network, healthy reference first; sagittal and
        axial views.
    """
    s = hs.get_style(style)
    changes = [np.asarray(m, float) for _, m in panels]
    limit, threshold = change_scale(changes, threshold=threshold)
    change_map, change_norm = hs.change_cmap(limit, threshold)
    level_norm = Normalize(healthy_threshold, float(max(0.5, upper(layout.healthy).max())))
    columns = [
        (
            "Healthy reference",
            np.where(layout.healthy >= healthy_threshold, layout.healthy, 0.0),
            hs.CONNECTIVITY_CMAP,
            level_norm,
        )
    ]
    # A network with no edge past the threshold says so: an empty brain is a result, not a bug.
    columns += [
        (
            title
            if (upper(np.abs(m)) >= threshold).any() or not s.talk  # print: the caption says
            else f"{title}\n(no edge changed by {threshold:.2g} or more)",
            np.where(np.abs(m) >= threshold, m, 0.0),
            change_map,
            change_norm,
        )
        for (title, _), m in zip(panels, changes, strict=True)
    ]
    diff_scale = None
    if difference is not None:
        matrix = np.asarray(difference[1], float)
        diff_limit, diff_threshold = change_scale([matrix])
        diff_map, diff_norm = hs.change_cmap(diff_limit, diff_threshold)
        diff_scale = (diff_map, diff_norm, diff_threshold)
        shown = np.where(np.abs(matrix) >= diff_threshold, matrix, 0.0)
        columns.append((difference[0], shown, diff_map, diff_norm))
    k = len(columns)
    n_change = len(panels)
    bars = 1 + (n_change > 0) + (diff_scale is not None)
    with hs.use(s):
        fig = hs.new_figure(s, paper_height=1.6 + 0.55 * bars + 1.4 * k, layout="none")
        cax: list[Axes] = []
        if s.talk:
            left, right, bottom = 0.01, 0.99, 0.2
            col_w = (right - left) / k
            titles = [wrap(c[0], chars_across(0.98 * col_w * s.width, s.font)) for c in columns]
            lines = max(t.count("\n") + 1 for t in titles)
            top = 0.96 - lines * s.font * 1.3 / 72 / s.height  # room for the longest title
            for j, (_title, matrix, cmap, norm) in enumerate(columns):
                rect = (left + j * col_w, bottom, col_w, top - bottom)
                # Wide columns: the two views side by side; narrow ones: one above the other.
                _glass(fig, rect, matrix, layout, "xz", cmap, norm, s, stacked=k > 2)
                fig.text(
                    left + (j + 0.5) * col_w,
                    top + 0.01,
                    titles[j],
                    ha="center",
                    va="bottom",
                    fontsize=s.font,
                    fontweight="bold",
                )
            # One colour bar under the columns it belongs to.
            spans = [(0, 1)]
            if n_change:
                spans.append((1, 1 + n_change))
            if diff_scale is not None:
                spans.append((k - 1, k))
            for a, b in spans:
                cax.append(
                    fig.add_axes((left + col_w * (a + 0.1), 0.135, col_w * (b - a - 0.2), 0.025))
                )
        else:
            height = 1.6 + 0.55 * bars + 1.4 * k
            top, bottom = 1 - 0.12 / height, (1.0 + 0.55 * bars) / height
            h = (top - bottom) / k
            for j, (title, matrix, cmap, norm) in enumerate(columns):
                rect = (0.0, top - (j + 1) * h, 1.0, h * 0.84)
                _glass(fig, rect, matrix, layout, "xz", cmap, norm, s)
                fig.text(
                    0.02,
                    top - j * h,
                    wrap(title.replace("\n", " "), chars_across(3.3, s.small)),
                    ha="left",
                    va="top",
                    fontsize=s.small,
                    fontweight="bold",
                )
            # Colour bars one above the other, full width: their labels never meet.
            for i in range(bars):
                y = (0.95 + 0.55 * (bars - 1 - i)) / height
                cax.append(fig.add_axes((0.1, y, 0.8, 0.06 / height)))
        _colorbar(
            fig,
            cax[0],
            level_norm,
            hs.CONNECTIVITY_CMAP,
            f"Healthy connectivity, r (r ≥ {healthy_threshold:g} drawn)",
            s,
            bins=4,
        )
        if n_change:
            _colorbar(
                fig,
                cax[1],
                change_norm,
                change_map,
                (
                    "Change from own pain-free pattern, Δr"
                    if s.talk
                    else "Δr from own pain-free pattern"
                )
                + f" (grey: |Δr| < {threshold:.3g}, not drawn)",
                s,
                extend="both",
            )
        if diff_scale is not None:
            diff_map, diff_norm, diff_threshold = diff_scale
            _colorbar(
                fig,
                cax[-1],
                diff_norm,
                diff_map,
                f"Twin minus patient, Δr (|Δr| < {diff_threshold:.3g} not drawn)"
                if not s.talk
                else f"Δr, |Δr| < {diff_threshold:.3g} not drawn",
                s,
                extend="both",
                bins=3,
            )
        _subsystem_legend(fig, layout.subsystems, s)
    return fig


def subsystem_order(subsystems: Sequence[str]) -> np.ndarray:
    """Region order grouped by subsystem (core, dmPFC, MTL, salience), stable within groups.

    Examples
    --------
    >>> subsystem_order(["mtl", "core", "salience", "core"]).tolist()
    [1, 3, 0, 2]
    """
    rank = {name: i for i, name in enumerate(hs.SUBSYSTEMS_ORDER)}
    return np.array(
        sorted(range(len(subsystems)), key=lambda i: (rank.get(subsystems[i], len(rank)), i))
    )


def _darker(color: str, factor: float = 0.75) -> tuple[float, float, float]:
    r, g, b = to_rgb(color)
    return r * factor, g * factor, b * factor


def _group_centres(subs: Sequence[str]) -> dict[str, float]:
    centres: dict[str, list[int]] = {}
    for i, x in enumerate(subs):
        centres.setdefault(x, []).append(i)
    return {k: float(np.mean(v)) for k, v in centres.items()}


def matrices_figure(
    layout: BrainLayout,
    healthy: np.ndarray,
    chronic: np.ndarray,
    style: str | hs.Style = "talk",
    *,
    titles: Sequence[str] = ("Healthy", "Chronic pain"),
) -> Figure:
    """Figure 4: connectivity matrices (healthy, chronic, difference) ordered by subsystem.

    Parameters
    ----------
    layout
        Region names and subsystems.
    healthy, chronic
        (R, R) mean connectivity (Pearson r) of the two groups.
    titles
        Titles of the two group panels (e.g. with group sizes).

    Returns
    -------
    matplotlib.figure.Figure
        Region labels coloured by subsystem, white lines between subsystems; with more than
        30 regions, subsystem names replace region names.
    """
    s = hs.get_style(style)
    order = subsystem_order(layout.subsystems)
    names = [layout.names[i] for i in order]
    subs = [layout.subsystems[i] for i in order]
    mats = [np.array(m, float)[np.ix_(order, order)] for m in (healthy, chronic)]
    diff = mats[1] - mats[0]
    for m in (*mats, diff):
        np.fill_diagonal(m, np.nan)
    level_norm = Normalize(-0.2, 0.8)
    peak = max(math.ceil(float(np.nanmax(np.abs(diff))) * 20) / 20, 0.05)
    diff_norm = TwoSlopeNorm(0.0, -peak, peak)
    show_names = len(names) <= 30
    boundaries = [i for i in range(1, len(subs)) if subs[i] != subs[i - 1]]
    label_size = max(s.tiny, s.small * 0.8)
    with hs.use(s):
        fig = hs.new_figure(s, paper_height=8.0)
        axes = list(fig.subplots(1, 3) if s.talk else fig.subplots(3, 1))
        panels = [
            (mats[0], titles[0], hs.LEVEL_CMAP, level_norm),
            (mats[1], titles[1], hs.LEVEL_CMAP, level_norm),
            (
                diff,
                "Difference\n(chronic − never in pain)"
                if s.talk
                else "Difference (chronic − never)",
                hs.CHANGE_CMAP,
                diff_norm,
            ),
        ]
        images = []
        for idx, (ax, (m, title, cmap, norm)) in enumerate(zip(axes, panels, strict=True)):
            images.append(ax.imshow(m, cmap=cmap, norm=norm, interpolation="nearest"))
            for b in boundaries:
                ax.axhline(b - 0.5, color="white", linewidth=3 if s.talk else 0.8)
                ax.axvline(b - 0.5, color="white", linewidth=3 if s.talk else 0.8)
            ticks = np.arange(len(names))
            show_y = idx == 0 or not s.talk
            if show_names:
                ax.set_xticks(ticks, names, rotation=90, fontsize=label_size)
                ax.set_yticks(ticks, names if show_y else [], fontsize=label_size)
                for axis_labels in (ax.get_xticklabels(), ax.get_yticklabels()):
                    for text, sub in zip(axis_labels, subs, strict=False):
                        text.set_color(_darker(hs.SUBSYSTEM_COLORS.get(sub, hs.NEUTRAL)))
            else:
                centres = _group_centres(subs)
                labels = [hs.SUBSYSTEM_LABELS.get(c, c) for c in centres]
                ax.set_xticks(list(centres.values()), labels, rotation=90)
                ax.set_yticks(list(centres.values()), labels if show_y else [])
            ax.tick_params(length=0)
            for spine in ax.spines.values():
                spine.set_visible(False)
            ax.set_title(title, loc="center", fontsize=s.font)
        bar = fig.colorbar(images[0], ax=axes[:2], shrink=0.6 if s.talk else 0.8, aspect=25)
        bar.set_label("Connectivity (Pearson r)")
        bar = fig.colorbar(images[2], ax=axes[2], shrink=0.6 if s.talk else 0.8, aspect=25)
        bar.set_label("Difference, Δr")
        handles = [
            Patch(color=hs.SUBSYSTEM_COLORS[x], label=hs.SUBSYSTEM_LABELS[x])
            for x in hs.SUBSYSTEMS_ORDER
            if x in set(subs)
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles) if s.talk else 2)
    return fig


# -- from a run ---------------------------------------------------------------------------------
def add_connectomes(cast: Cast, layout: BrainLayout, writer: FigureWriter) -> None:
    """Figure 3: the healthy reference, a typical long-pain patient, their treated twin and
    the difference between the two (if there is a treatment arm)."""
    talk = writer.style.talk
    arms, chosen = cast.arms, cast.chosen
    patient = chosen.patient
    row = cast.record(arms[0], patient)
    own = cast.pain_free(patient)
    ylp, perturbation = row["years_with_pain"], row["dmn_perturbation"]
    mine = cast.matrix(arms[0], patient) - own
    panels = [
        (
            f"Patient {patient}, {arms[0]}\n{ylp:.0f} years with pain\n"
            f"perturbation {perturbation:.2f} SD"
            if talk
            else f"Patient {patient} ({arms[0]}), {ylp:.0f} y "
            f"with pain, perturbation {perturbation:.2f} SD",
            mine,
        )
    ]
    treatment = chosen.treatment
    if treatment is not None:
        twin = cast.record(treatment, patient)["dmn_perturbation"]
        theirs = cast.matrix(treatment, patient) - own
        panels.append(
            (
                f"Same patient, {treatment}\n(virtual twin)\nperturbation {twin:.2f} SD"
                if talk
                else f"Same patient with {treatment}, perturbation {twin:.2f} SD",
                theirs,
            )
        )
        difference = (
            f"Twin minus patient\n({treatment} − {arms[0]})\n"
            f"Δ perturbation {fmt(twin - perturbation, '+.2f')} SD"
            if talk
            else f"Twin minus patient ({treatment} − {arms[0]}): "
            f"{fmt(twin - perturbation, '+.2f')} SD",
            theirs - mine,
        )
    else:
        difference = None
    _, threshold = change_scale([np.asarray(m, float) for _, m in panels])
    twin_note = (
        f"; third: their virtual twin in the {treatment} arm (the arm whose enrolled "
        "patients improved most), same colour scale; right: the twin minus the patient on its "
        "own, finer colour scale (blue: connectivity the treatment lowered, red: raised)"
        if treatment
        else "; the run has no treatment arm (no twin is invented)"
    )
    writer.add(
        "03_connectomes",
        "Glass-brain connectomes",
        f"Year {cast.year:g}, axial and sagittal glass brains, regions at their MNI "
        "coordinates coloured by subsystem. Left: healthy reference connectivity (grey to "
        "black: population mean r, r ≥ 0.2 drawn). Next: "
        f"{PATIENT_RULE}; edges coloured by the change from their own pain-free pattern "
        f"(adaptation 0, no pain, same age; blue lower, red higher; |Δr| < {threshold:.2f} not "
        f"drawn, grey on the colour bar){twin_note}. {cast.source}.",
        lambda: connectome_figure(
            layout, panels, writer.style, threshold=threshold, difference=difference
        ),
    )


def add_matrices(cast: Cast, layout: BrainLayout, writer: FigureWriter) -> None:
    """Figure 4: mean connectivity of never-in-pain and chronic people (reference arm)."""
    healthy, chronic = cast.groups()
    if not (len(healthy) and len(chronic)):
        writer.skip(
            "04_connectivity_matrices", "no never-in-pain or no chronic people at the horizon"
        )
        return
    n_h, n_c = len(healthy), len(chronic)
    mean_h, mean_c = healthy.mean(axis=0), chronic.mean(axis=0)
    writer.add(
        "04_connectivity_matrices",
        "Connectivity matrices by subsystem",
        f"Mean connectivity (Pearson r) at year {cast.year:g} in {cast.arms[0]} of people "
        f"who never had pain (n = {n_h:,}) and people in a chronic episode (n = {n_c:,}), "
        f"and their difference; regions grouped by subsystem. {cast.source}.",
        lambda: matrices_figure(
            layout,
            mean_h,
            mean_c,
            writer.style,
            titles=(f"Never in pain\nn = {n_h:,}", f"Chronic pain now\nn = {n_c:,}"),
        ),
    )
