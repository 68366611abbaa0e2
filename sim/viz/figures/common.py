"""What every figure module shares: the entries of a figure set, the writer, drawing helpers.

* :class:`Entry` is one figure on the contact sheet: name, title, its caption (as data, written
  into the files' metadata and ``index.html``) and the files written.
* :class:`FigureSet` is what :func:`sim.viz.figures.make_figures` returns.
* :class:`FigureWriter` draws into a hidden staging folder beside ``figures/`` and moves the
  files into place at the end, replacing only files of the formats it redrew: drawing SVGs
  after PNGs adds the SVGs and keeps the PNGs.
* Small drawing helpers in the house style (:mod:`sim.viz.style`), and labels from the outcome
  vocabulary (:mod:`sim.core.outcomes`).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sim.core.outcomes import VARIABLES, label
from sim.results.folder import FIGURES_DIR, fsync_path, remove_stale_staging
from sim.viz import style as hs

__all__ = [
    "ANIMATION_FORMATS",
    "FIGURES_DIR",
    "OWN_FILES",
    "Entry",
    "FigureError",
    "FigureSet",
    "FigureWriter",
]

ANIMATION_FORMATS: tuple[str, ...] = ("gif", "mp4")
"""Formats of the animation (figure 8); GIF always, MP4 when ffmpeg is present."""
OWN_FILES = re.compile(r"^(\d\d[a-z]?_[\w.-]+\.(png|svg|pdf|gif|mp4)|index\.html)$")
"""Files :func:`~sim.viz.figures.make_figures` writes (and may replace) in ``figures/``."""


class FigureError(ValueError):
    """A source or table cannot be drawn (nothing to plot, missing columns, bad options).

    ``option`` names the argument at fault (``folder``, ``formats``, ``style``), or None.
    """

    def __init__(self, message: str, option: str | None = None):
        super().__init__(message)
        self.option = option


@dataclass
class Entry:
    """One figure on the contact sheet.

    Attributes
    ----------
    name
        File stem, e.g. ``01_perturbation_by_years``.
    title
        Short title (index and file metadata).
    caption
        One-paragraph caption (index and file metadata).
    files
        The files written, in the order of the formats.
    seconds
        Time taken to draw and save.
    """

    name: str
    title: str
    caption: str
    files: list[Path] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class FigureSet:
    """Everything :func:`~sim.viz.figures.make_figures` drew.

    Attributes
    ----------
    folder
        The figures folder.
    entries
        Figures drawn, in order.
    skipped
        (name, reason) of figures that fit the source but were not drawn.
    index
        ``index.html``.
    """

    folder: Path
    entries: list[Entry]
    skipped: list[tuple[str, str]]
    index: Path

    @property
    def files(self) -> list[Path]:
        """Every file drawn, figure by figure."""
        return [f for e in self.entries for f in e.files]


class FigureWriter:
    """Saves the figures of one figure set into a staging folder, then moves them into place.

    Parameters
    ----------
    folder
        The figures folder (created if needed).
    formats
        Formats of the still figures.
    style
        House style.
    run_id
        Written into every file's metadata.
    log
        Called with one line per figure (name and seconds), e.g. ``print``.
    """

    def __init__(
        self,
        folder: Path,
        formats: Sequence[str],
        style: hs.Style,
        run_id: str,
        log: Callable[[str], None] | None = None,
        progress: bool = False,
    ):
        self.folder = Path(folder)
        self.formats = tuple(formats)
        self.style = style
        self.run_id = run_id
        self.log = log
        self.entries: list[Entry] = []
        self.skipped: list[tuple[str, str]] = []
        self.redrawn: set[str] = set(self.formats)
        """Formats whose earlier files are replaced when the set is finished."""
        self.notes: list[str] = []
        """Lines for the head of the contact sheet (e.g. where connectivity came from)."""
        self.bar = _progress_bar(progress)
        remove_stale_staging(self.folder.parent, self.folder.name)
        self.staging = self.folder.parent / f".{self.folder.name}.tmp-{os.getpid()}"
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir(parents=True)

    def expect(self, figures: int) -> None:
        """Tell the progress bar how many figures (and slow steps) to expect."""
        if self.bar is not None:
            self.bar.total = figures
            self.bar.refresh()

    def step(self, what: str) -> None:
        """Name the step under way on the progress bar (shown only for slow figure sets)."""
        if self.bar is not None:
            self.bar.set_postfix_str(what, refresh=True)

    def done(self, what: str = "") -> None:
        """Count a finished step on the progress bar."""
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        """Close the progress bar."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def add(self, name: str, title: str, caption: str, make: Callable[[], Figure]) -> Entry:
        """Draw one figure with ``make`` and save it in every format."""
        clock = time.perf_counter()
        self.step(name)
        fig = make()
        try:
            meta = hs.provenance(self.run_id, title, caption)
            files = hs.save(fig, self.staging / name, self.formats, meta)
        finally:
            hs.close(fig)
        return self._record(Entry(name, title, caption, files, time.perf_counter() - clock))

    def add_files(
        self, name: str, title: str, caption: str, write: Callable[[Path, dict], list[Path]]
    ) -> Entry:
        """Record a figure that writes its own files (the animation).

        ``write`` is called with the path without suffix and the provenance metadata, and
        returns the files it wrote.
        """
        clock = time.perf_counter()
        self.step(name)
        files = write(self.staging / name, hs.provenance(self.run_id, title, caption))
        return self._record(Entry(name, title, caption, files, time.perf_counter() - clock))

    def try_add(self, name: str, title: str, caption: str, make: Callable[[], Figure]) -> None:
        """:meth:`add`, or :meth:`skip` with the reason if the data cannot be drawn."""
        try:
            self.add(name, title, caption, make)
        except (FigureError, KeyError) as exc:
            self.skip(name, str(exc).strip("'\""))

    def skip(self, name: str, reason: str) -> None:
        """Record a figure that fits the source but is not drawn, with the reason."""
        self.skipped.append((name, reason))
        self.done()
        if self.log:
            self.log(f"{name}: skipped ({reason})")

    def _record(self, entry: Entry) -> Entry:
        self.entries.append(entry)
        self.done()
        if self.log:
            self.log(f"{entry.name}: {entry.seconds:.1f} s")
        return entry

    def listing(self) -> list[str]:
        """Names of the files ``figures/`` will hold after :meth:`finish` (index.html aside)."""
        staged = {p.name for p in self.staging.iterdir() if p.is_file()}
        kept = set()
        if self.folder.is_dir():
            kept = {p.name for p in self.folder.iterdir() if p.is_file()}
            kept = {n for n in kept if not self._replaced(n)}
        return sorted((kept | staged) - {"index.html"})

    def _replaced(self, name: str) -> bool:
        """An earlier painsim figure of a redrawn format, or the contact sheet."""
        if not OWN_FILES.match(name):
            return False
        return name == "index.html" or Path(name).suffix[1:] in self.redrawn

    def finish(self) -> None:
        """Replace earlier files of the redrawn formats and move the new files into place."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for new in self.staging.iterdir():
            fsync_path(new)
        for old in self.folder.iterdir():
            if old.is_file() and self._replaced(old.name):
                old.unlink()
        for new in self.staging.iterdir():
            os.replace(new, self.folder / new.name)
        self.staging.rmdir()
        for entry in self.entries:
            entry.files = [self.folder / f.name for f in entry.files]

    def abandon(self) -> None:
        """Remove the staging folder (after an error); ``figures/`` is left as it was."""
        self.close()
        shutil.rmtree(self.staging, ignore_errors=True)


PROGRESS_DELAY_SECONDS = 2.0
"""The progress bar appears only for figure sets that take longer than this."""


def _progress_bar(enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(
        total=None,
        desc="figures",
        unit="figure",
        file=sys.stderr,
        delay=PROGRESS_DELAY_SECONDS,
        leave=False,
    )


# -- labels -------------------------------------------------------------------------------------
def name_of(variable: str) -> str:
    """A variable's label without its unit, e.g. ``"Years lived with pain"``.

    Examples
    --------
    >>> name_of("dmn_perturbation"), name_of("unknown column")
    ('DMN perturbation', 'unknown column')
    """
    return label(variable).split(" (")[0]


def in_sentence(text: str) -> str:
    """A label inside a sentence: first letter lower case unless it starts an acronym.

    Examples
    --------
    >>> in_sentence("Pain"), in_sentence("DMN perturbation")
    ('pain', 'DMN perturbation')
    """
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].lower() + text[1:]


def unit_of(variable: str) -> str:
    """A variable's unit, e.g. ``"edges per region"`` (``""`` when unknown or unitless)."""
    v = VARIABLES.get(variable)
    return v.unit if v is not None else ""


def better_cue(variable: str) -> str:
    """Which way is better on an axis of differences, from ``Variable.better``.

    Examples
    --------
    >>> better_cue("pain"), better_cue("healthy_range"), better_cue("age")
    ('← better · worse →', '← worse · better →', '')
    """
    v = VARIABLES.get(variable)
    if v is None or v.better is None:
        return ""
    return "← better · worse →" if v.better == "lower" else "← worse · better →"


def wrap(text: str, width: float) -> str:
    """``text`` wrapped to ``width`` characters per line (existing line breaks kept).

    Examples
    --------
    >>> wrap("CBT subacute + boosters", 12).split("\\n")
    ['CBT subacute', '+ boosters']
    """
    width = max(int(width), 6)
    return "\n".join(
        textwrap.fill(line, width, break_long_words=False) or line for line in text.split("\n")
    )


def chars_across(width_inches: float, fontsize: float) -> float:
    """About how many characters of a DejaVu Sans text fit in ``width_inches``."""
    return width_inches * 72 / (0.6 * fontsize)


def fit_title(ax: Axes, text: str, fontsize: float | None = None, **kwargs: object) -> None:
    """A left-aligned axes title wrapped to the axes' width (titles never run off the canvas)."""
    fig = ax.get_figure()
    size = fontsize or float(ax.title.get_fontsize())
    # Constrained layout narrows the axes after this: wrap for 85 % of today's width.
    width = 0.85 * ax.get_position().width * fig.get_figwidth()
    ax.set_title(wrap(text, chars_across(width, size)), loc="left", fontsize=size, **kwargs)


def fit_suptitle(fig: Figure, text: str, fontsize: float, **kwargs: object) -> None:
    """A figure title wrapped to the figure's width."""
    width = chars_across(fig.get_figwidth() * 0.96, fontsize)
    kwargs.setdefault("fontweight", "bold")
    fig.suptitle(wrap(text, width), fontsize=fontsize, **kwargs)


def data_limits(
    values: Iterable[np.ndarray], bands: Iterable[np.ndarray] = (), *, reach: float = 0.35
) -> tuple[float, float]:
    """y limits from the data: the means with a margin, bands only as far as ``reach`` of the
    means' span beyond them (a wide band is cut at the axis rather than squashing the data).

    Examples
    --------
    >>> data_limits([np.array([1.0, 2.0])], [np.array([0.0, 14.0])])
    (0.55, 2.45)
    """
    means = np.concatenate([np.ravel(v) for v in values] or [np.zeros(1)])
    means = means[np.isfinite(means)]
    if not means.size:
        return 0.0, 1.0
    low, high = float(means.min()), float(means.max())
    span = max(high - low, 0.05 * max(abs(high), abs(low)), 1e-6)
    bottom, top = low - 0.1 * span, high + 0.1 * span
    for band in bands:
        band = np.ravel(band)
        band = band[np.isfinite(band)]
        if band.size:
            bottom = min(bottom, max(float(band.min()), low - (0.1 + reach) * span))
            top = max(top, min(float(band.max()), high + (0.1 + reach) * span))
    return round(bottom, 10), round(top, 10)


def estimate_text(value: float, low: float, high: float) -> str:
    """An estimate with its interval, digits by the interval's width.

    Examples
    --------
    >>> estimate_text(-0.5234, -0.581, -0.466), estimate_text(-0.132, -0.150, -0.114)
    ('−0.52 [−0.58, −0.47]', '−0.13 [−0.15, −0.11]')
    """
    width = abs(high - low) if np.isfinite(high - low) and high != low else abs(value) or 1.0
    # Two significant digits of the interval's width.
    digits = int(min(3, max(1, round(-math.log10(width)) + 1)))
    return f"{fmt(value, f'.{digits}f')} [{fmt(low, f'.{digits}f')}, {fmt(high, f'.{digits}f')}]"


# -- numbers ------------------------------------------------------------------------------------
def nice(value: float) -> float:
    """The largest 1, 2 or 5 times a power of ten not above ``value``.

    Examples
    --------
    >>> nice(0.37), nice(7.0)
    (0.2, 5.0)
    """
    power = 10 ** math.floor(math.log10(value))
    return float(max(m * power for m in (1, 2, 5) if m * power <= value))


def fmt(value: float | None, spec: str = ".2f") -> str:
    """A number for a label; a dash when undefined.

    Examples
    --------
    >>> fmt(0.1234, ".3f"), fmt(float("nan")), fmt(-1.5, ".1f")
    ('0.123', '–', '−1.5')
    """
    if value is None or not np.isfinite(value):
        return "–"
    text = format(value, spec)
    if text.startswith("-") and not any(c in "123456789" for c in text.split("e")[0]):
        text = text[1:]  # no "−0.00"
    return text.replace("-", "−")  # a true minus sign


def pct(share: float) -> str:
    """A share as per cent in the house style (a space before %).

    Examples
    --------
    >>> pct(0.835), pct(float("nan"))
    ('84 %', '–')
    """
    return "–" if share is None or not np.isfinite(share) else f"{100 * share:.0f} %"


def require(table: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise :class:`FigureError` naming the columns ``table`` lacks."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise FigureError(f"{what}: missing column(s) {', '.join(missing)}")


# -- drawing ------------------------------------------------------------------------------------
def despine_numbers(ax: Axes) -> None:
    """Ticks out and axes set off from the data, so the two zeros at the corner never touch."""
    ax.tick_params(axis="both", which="both", direction="out")
    ax.spines[["left", "bottom"]].set_position(("outward", 8))


def panel_letter(ax: Axes, letter: str) -> None:
    """Bold panel letter in the title line (left-aligned titles are the house style)."""
    title = ax.get_title(loc="left")
    ax.set_title(f"{letter}  {title}" if title else letter, loc="left")


def band(
    ax: Axes,
    x: np.ndarray,
    mean: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    color: str,
    name: str,
    s: hs.Style,
    marker: str = "o",
    linestyle: str = "-",
) -> None:
    """A mean line with markers over its shaded 95 % band."""
    ax.fill_between(x, low, high, color=color, alpha=0.18, linewidth=0)
    ax.plot(
        x,
        mean,
        color=color,
        marker=marker,
        label=name,
        linestyle=linestyle,
        markersize=s.marker * 0.8,
        markeredgecolor="white",
        markeredgewidth=0.8 if s.talk else 0.3,
    )
