"""painsim's house style for figures: palette, arm colours, talk and paper sizes, saving.

One module decides how every painsim figure looks, so a talk or a paper built from several
runs looks like one piece of work:

* **Palette**: Okabe & Ito (2008), distinguishable with every common colour-vision deficiency.
  Arms take colours by their position in the scenario's arm order (:func:`arm_colors`): the
  first arm (the reference, usually usual care) is always black, the second always blue, and so
  on, in every figure of a run and of any run with the same arm order.
* **Styles**: ``talk`` draws 1920 x 1080 pixel figures (16:9 slides) with no text below 16 pt;
  ``paper`` draws single-column journal figures, 3.5 in (89 mm) wide at 300 dpi, with 7-9 pt
  text. Both use :func:`use` (matplotlib rcParams) and :func:`new_figure` (size by style).
* **Saving**: :func:`save` writes PNG, SVG and/or PDF at the exact pixel size of the style and
  stamps painsim's version and the run id into each file's metadata (PNG text chunks, SVG
  Dublin Core, PDF document info), never onto the canvas.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LinearSegmentedColormap, ListedColormap, Normalize
from matplotlib.figure import Figure

import sim

# -- colours ------------------------------------------------------------------------------------
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
}
"""The eight Okabe-Ito colours (Okabe & Ito 2008, "Color Universal Design")."""

ARM_PALETTE: tuple[str, ...] = (
    OKABE_ITO["black"],
    OKABE_ITO["blue"],
    OKABE_ITO["vermillion"],
    OKABE_ITO["bluish green"],
    OKABE_ITO["reddish purple"],
    OKABE_ITO["orange"],
    OKABE_ITO["sky blue"],
    OKABE_ITO["yellow"],
)
"""Arm colours in arm order: reference arm black, then the most distinct colours first (yellow,
hard to see on white, last)."""

SUBSYSTEM_COLORS: dict[str, str] = {
    "core": OKABE_ITO["orange"],
    "dmpfc": OKABE_ITO["sky blue"],
    "mtl": OKABE_ITO["bluish green"],
    "salience": OKABE_ITO["reddish purple"],
}
"""Colours of the DMN subsystems (Andrews-Hanna 2010) and the salience nodes."""

SUBSYSTEMS_ORDER: tuple[str, ...] = ("core", "dmpfc", "mtl", "salience")
"""Order of subsystems in matrices and legends."""

SUBSYSTEM_LABELS: dict[str, str] = {
    "core": "midline core",
    "dmpfc": "dorsomedial PFC subsystem",
    "mtl": "medial temporal subsystem",
    "salience": "salience nodes",
}

STAGE_COLORS: dict[str, str] = {
    "none": "#BBBBBB",
    "acute": OKABE_ITO["yellow"],
    "subacute": OKABE_ITO["orange"],
    "chronic": "#7F2704",
}
"""Pain stages, pale to strong; chronic is a dark brown so it differs from subacute in lightness
as well as hue (orange and vermillion were too close side by side)."""

COPING_COLORS: tuple[str, ...] = ("#C2A5CF", "#9970AB", "#40004B")
"""Coping groups, ordered light (little catastrophizing) to dark (much): a lightness ramp that
reads in grey scale and is kept apart from the arm colours."""

NEUTRAL = "#555555"
"""Reference lines, zero lines, annotations."""

CHANGE_CMAP = "RdBu_r"
"""Diverging map for changes and differences (blue = lower, red = higher; ColorBrewer RdBu is
colour-blind safe)."""

CONNECTIVITY_CMAP = LinearSegmentedColormap.from_list(
    "painsim_connectivity", ["#BDBDBD", "#737373", "#000000"]
)
"""Grey to black for connectivity levels on glass brains (kept apart from the change map)."""

LEVEL_CMAP = "viridis"
"""Sequential map for levels (perceptually uniform, colour-blind safe)."""


def change_cmap(limit: float, threshold: float, n: int = 512) -> tuple[ListedColormap, Normalize]:
    """Diverging map for edge changes on glass brains, grey where edges are not drawn.

    Values from -``limit`` to ``limit`` (clipped beyond); |values| below ``threshold`` are not
    drawn and show as light grey on the colour bar; drawn values start at a clearly visible
    blue or red, so that no drawn edge is white on a white brain.

    Returns
    -------
    (cmap, norm)
    """
    base = mpl.colormaps[CHANGE_CMAP]
    values = np.linspace(-limit, limit, n)
    strength = np.clip((np.abs(values) - threshold) / max(limit - threshold, 1e-12), 0, 1)
    position = 0.5 + np.sign(values) * (0.17 + 0.33 * strength)
    colors = base(position)
    colors[np.abs(values) < threshold] = (0.87, 0.87, 0.87, 1.0)
    return ListedColormap(colors, name="painsim_change"), Normalize(-limit, limit, clip=True)


def arm_colors(arms: Sequence[str]) -> dict[str, str]:
    """Colour of each arm, by its position in the scenario's arm order.

    Parameters
    ----------
    arms
        Arm names in the scenario's order (``manifest.json`` ``arms``); the first is the
        reference.

    Returns
    -------
    dict
        Arm name -> hex colour. More than eight arms reuse the palette from the start.

    Examples
    --------
    >>> arm_colors(["usual care", "CBT"])
    {'usual care': '#000000', 'CBT': '#0072B2'}
    """
    return {arm: ARM_PALETTE[i % len(ARM_PALETTE)] for i, arm in enumerate(arms)}


# -- styles -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Style:
    """Sizes of one house style.

    Attributes
    ----------
    name
        ``talk`` or ``paper``.
    width, height
        Default figure size, inches.
    dpi
        Pixels per inch of raster output (PNG, GIF).
    font, small, large, tiny
        Body, tick/legend, title and smallest allowed font sizes, points.
    line, marker
        Line width (points) and marker size (points).
    """

    name: str
    width: float
    height: float
    dpi: int
    font: float
    small: float
    large: float
    line: float
    marker: float
    tiny: float

    @property
    def pixels(self) -> tuple[int, int]:
        """(width, height) in pixels of a figure of the default size."""
        return round(self.width * self.dpi), round(self.height * self.dpi)

    @property
    def talk(self) -> bool:
        return self.name == "talk"


STYLES: dict[str, Style] = {
    # 19.2 x 10.8 in at 100 dpi = 1920 x 1080 px; 16 pt = 22 px there.
    "talk": Style(
        "talk", 19.2, 10.8, 100, font=22, small=18, large=26, line=3.0, marker=9, tiny=16
    ),
    # Single journal column: 89 mm = 3.5 in; 300 dpi is the usual print requirement.
    "paper": Style("paper", 3.5, 2.8, 300, font=8, small=7, large=9, line=1.2, marker=3.5, tiny=6),
}
"""The two house styles."""


class StyleError(ValueError):
    """Unknown style name or file format; ``option`` is ``"style"`` or ``"formats"``."""

    def __init__(self, message: str, option: str):
        super().__init__(f"{option}: {message}")
        self.option, self.message = option, message


def get_style(name: str | Style) -> Style:
    """The :class:`Style` called ``name``; StyleError for an unknown name."""
    if isinstance(name, Style):
        return name
    try:
        return STYLES[name]
    except KeyError:
        raise StyleError(
            f"unknown style '{name}'; choose one of: {', '.join(STYLES)}", "style"
        ) from None


def rc_params(style: str | Style) -> dict[str, Any]:
    """matplotlib rcParams of a style: fonts, lines, no chart junk (no top/right spines).

    Examples
    --------
    >>> rc_params("talk")["font.size"]
    22
    """
    s = get_style(style)
    return {
        "figure.dpi": s.dpi,
        "savefig.dpi": s.dpi,
        "figure.facecolor": "white",
        "savefig.facecolor": "white",
        "figure.constrained_layout.use": True,
        "figure.constrained_layout.h_pad": 0.08 if s.talk else 0.03,
        "figure.constrained_layout.w_pad": 0.08 if s.talk else 0.03,
        "font.family": "DejaVu Sans",
        "font.size": s.font,
        "axes.titlesize": s.large,
        "axes.titleweight": "bold",
        "axes.titlelocation": "left",
        "axes.labelsize": s.font,
        "xtick.labelsize": s.small,
        "ytick.labelsize": s.small,
        "legend.fontsize": s.small,
        "legend.title_fontsize": s.small,
        "legend.frameon": False,
        "figure.titlesize": s.large,
        "figure.titleweight": "bold",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.linewidth": 1.5 if s.talk else 0.6,
        "axes.edgecolor": "#333333",
        "axes.labelcolor": "#111111",
        "axes.grid": False,
        "axes.prop_cycle": mpl.cycler(color=list(ARM_PALETTE)),
        "xtick.major.width": 1.5 if s.talk else 0.6,
        "ytick.major.width": 1.5 if s.talk else 0.6,
        "xtick.major.size": 7 if s.talk else 3,
        "ytick.major.size": 7 if s.talk else 3,
        "lines.linewidth": s.line,
        "lines.markersize": s.marker,
        "patch.linewidth": 0.0,
        "image.cmap": LEVEL_CMAP,
        "svg.fonttype": "none",  # text stays text in SVG: editable, searchable
        "pdf.fonttype": 42,  # TrueType in PDF: editable in Illustrator/Inkscape
        "axes.unicode_minus": True,
    }


@contextlib.contextmanager
def use(style: str | Style) -> Iterator[Style]:
    """Context manager: draw with a house style's rcParams; yields the :class:`Style`."""
    s = get_style(style)
    with mpl.rc_context(rc_params(s)):
        yield s


def new_figure(style: str | Style, *, paper_height: float | None = None, **kwargs: Any) -> Figure:
    """A new figure at the style's size (call inside :func:`use`).

    Parameters
    ----------
    style
        ``talk`` (always 1920 x 1080 px) or ``paper`` (3.5 in wide at 300 dpi).
    paper_height
        Height in inches for the ``paper`` style, for figures that need a taller single
        column; ignored for ``talk``.
    **kwargs
        Passed to :class:`matplotlib.figure.Figure`.
    """
    s = get_style(style)
    height = paper_height if (paper_height and not s.talk) else s.height
    # pyplot-free Figure: nothing is kept alive by pyplot's figure manager.
    return Figure(figsize=(s.width, height), dpi=s.dpi, **kwargs)


def figure_pixels(style: str | Style, paper_height: float | None = None) -> tuple[int, int]:
    """(width, height) in pixels that :func:`save` gives a PNG of :func:`new_figure`.

    Examples
    --------
    >>> figure_pixels("talk")
    (1920, 1080)
    >>> figure_pixels("paper", 4.0)
    (1050, 1200)
    """
    s = get_style(style)
    height = paper_height if (paper_height and not s.talk) else s.height
    return round(s.width * s.dpi), round(height * s.dpi)


# -- saving -------------------------------------------------------------------------------------
FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
EXPORT_RC: dict[str, Any] = {
    "svg.fonttype": "none",  # <text> elements: editable and searchable in an SVG editor
    "svg.hashsalt": "painsim",  # stable ids: the same figure gives the same SVG
    "pdf.fonttype": 42,  # TrueType: text stays editable in Illustrator or Inkscape
}
"""rcParams :func:`save` applies whatever style is active when it is called."""


def parse_formats(text: str | Iterable[str]) -> tuple[str, ...]:
    """Formats from ``"png,svg"`` (or a list), in the order given, without repeats.

    Raises
    ------
    StyleError
        An unknown or empty format.

    Examples
    --------
    >>> parse_formats("png, pdf,png")
    ('png', 'pdf')
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    formats = tuple(dict.fromkeys(f.strip().lower().lstrip(".") for f in items))
    if not formats or "" in formats:
        raise StyleError(f"empty format in '{text}'; choose from {', '.join(FORMATS)}", "formats")
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise StyleError(
            f"unknown format '{unknown[0]}'; choose from {', '.join(FORMATS)}", "formats"
        )
    return formats


def provenance(run_id: str | None, title: str = "", description: str = "") -> dict[str, str]:
    """Metadata painsim writes into every figure file (see :func:`save`)."""
    return {
        "painsim_version": sim.__version__,
        "run_id": run_id or "unknown",
        "title": title,
        "description": description,
    }


def _format_metadata(fmt: str, meta: Mapping[str, str]) -> dict[str, Any]:
    """The ``metadata=`` argument of ``savefig`` for one format."""
    version, run_id = meta["painsim_version"], meta["run_id"]
    stamp = f"painsim {version}; run id {run_id}"
    if fmt == "png":
        # Arbitrary tEXt keys are allowed; "Software" is the registered PNG keyword.
        return {
            "Software": f"painsim {version}",
            "Title": meta.get("title", ""),
            "Description": meta.get("description", ""),
            "painsim version": version,
            "painsim run id": run_id,
        }
    if fmt == "svg":
        # Dublin Core keys; Date=None keeps files byte-identical between saves.
        return {
            "Creator": f"painsim {version}",
            "Identifier": f"painsim run id {run_id}",
            "Title": meta.get("title", ""),
            "Description": meta.get("description", ""),
            "Keywords": [f"painsim_version={version}", f"run_id={run_id}"],
            "Date": None,
        }
    return {
        "Creator": f"painsim {version}",
        "Title": meta.get("title", ""),
        "Subject": meta.get("description", ""),
        "Keywords": stamp,
        "CreationDate": None,
    }


def save(
    fig: Figure,
    path: str | Path,
    formats: Iterable[str] = ("png",),
    metadata: Mapping[str, str] | None = None,
) -> list[Path]:
    """Write ``fig`` in each format, at its exact size, with provenance in the file metadata.

    Parameters
    ----------
    fig
        The figure (its size and dpi set the pixel size; no tight bounding box).
    path
        File path without suffix (a suffix given is replaced), e.g. ``figures/arm_comparison``.
    formats
        Any of :data:`FORMATS`.
    metadata
        From :func:`provenance`: ``painsim_version``, ``run_id``, ``title``, ``description``.

    Returns
    -------
    list of pathlib.Path
        The files written, in the order of ``formats``.
    """
    meta = dict(metadata or provenance(None))
    meta.setdefault("painsim_version", sim.__version__)
    meta.setdefault("run_id", "unknown")
    stem = Path(path)
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in parse_formats(list(formats)):
        target = stem.with_suffix(f".{fmt}")
        # Figures are drawn inside use() but saved after it: the export settings are read at
        # save time, so they are set here (text stays text in SVG and PDF).
        with mpl.rc_context(EXPORT_RC):
            fig.savefig(target, format=fmt, dpi=fig.dpi, metadata=_format_metadata(fmt, meta))
        written.append(target)
    return written


def close(fig: Figure) -> None:
    """Release a figure (figures from :func:`new_figure` are not tracked by pyplot)."""
    plt.close(fig)
