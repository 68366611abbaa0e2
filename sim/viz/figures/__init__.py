"""Figures for talks and papers, drawn from a result in painsim's house style.

:func:`make_figures` takes a result object (``RunResult``, ``StudyResult``, ``SweepResult``) or
a results folder, draws every figure that fits into ``figures/`` and writes ``index.html``, a
contact sheet with a caption per figure. What a result is decides what is drawn:

* every kind: 00 a headline slide that states the message in its title
  (:mod:`~sim.viz.figures.headline`);
* a run: 1 perturbation vs years lived with pain, 1b the cohort over the run
  (``timeseries.parquet``), 2 forest plot of the arms, 2b treatment effect over time since
  enrolment, 3 glass-brain connectomes, 4 connectivity matrices, 5 graph metrics vs years lived
  with pain, 8 animation of one patient (:mod:`~sim.viz.figures.run`,
  :mod:`~sim.viz.figures.cohort`, :mod:`~sim.viz.figures.arms`, :mod:`~sim.viz.figures.brain`,
  :mod:`~sim.viz.figures.animation`; who is shown: :mod:`~sim.viz.figures.people`);
* a study: 6a groups, 6b years with pain, 6c mediation, 6d power curve, 6e published vs
  simulated, 6f mechanism check, 6g findings in every version of the study, 6h longitudinal
  design (:mod:`~sim.viz.figures.study`, :mod:`~sim.viz.figures.findings`,
  :mod:`~sim.viz.figures.evidence`);
* a sweep: 7a outcome over the swept settings, 7b sensitivity indices
  (:mod:`~sim.viz.figures.sweep`);
* a timing experiment: 9 treatment benefit by years with pain at the start
  (:mod:`~sim.viz.figures.timing`).

Each figure is one function that takes plain data and returns a matplotlib ``Figure``; styles,
colours and saving (painsim's version and the run id in each file's metadata) are in
:mod:`sim.viz.style`; :mod:`~sim.viz.figures.layout` checks what the renderer drew (texts in
the canvas, no overlaps, no legend or label over data). Figures read results and never change
them.

Examples
--------
A timing experiment gets its headline slide and figure 9 (``docs/python.md`` draws a run's
figures, and shows what a run with one arm skips):

>>> import tempfile
>>> import sim
>>> timing = sim.timing({"scenario": {"name": "demo", "years": 3},
...                      "cohort": {"size": 100, "history": "none"},
...                      "arms": [{"name": "CBT", "interventions": [{"kind": "cbt"}]}],
...                      "timing": {"start_years_with_pain": [0, 1], "follow_up_years": [1]}})
>>> made = make_figures(timing, tempfile.mkdtemp() + "/figures")
>>> [e.name for e in made.entries], made.skipped
(['00_headline', '09_timing'], [])
>>> [f.name for f in made.files], made.index.name
(['00_headline.png', '09_timing.png'], 'index.html')
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sim.results.folder import FIGURES_DIR
from sim.viz import style as hs
from sim.viz.figures.common import ANIMATION_FORMATS, Entry, FigureError, FigureSet, FigureWriter
from sim.viz.figures.index import index_html, write_index
from sim.viz.figures.sources import Source, load_source, result_source

__all__ = ["Entry", "FigureError", "FigureSet", "make_figures"]


def _draw_run(source: Source, writer: FigureWriter, animation: bool) -> None:
    from sim.viz.figures.animation import add_animation
    from sim.viz.figures.arms import add_comparison, add_treatment_over_time
    from sim.viz.figures.brain import BrainLayout, add_connectomes, add_matrices
    from sim.viz.figures.cohort import add_cohort
    from sim.viz.figures.headline import add_headline, run_headline
    from sim.viz.figures.people import Cast
    from sim.viz.figures.run import add_metrics, add_perturbation, reference_coping

    result = source.result
    writer.expect(9 + animation)
    writer.step("reading patient rows")
    where = str(source.folder) if source.folder is not None else "run"
    result.patients  # noqa: B018 (a folder's rows are read here, once)
    # Only the people figures 3, 4 and 8 show are replayed (seconds even for 100,000 people),
    # in the background while the figures that need no connectivity are drawn.
    cast = Cast(
        result,
        animation=animation,
        made_with=source.made_with,
        where=where,
        background=True,
    )
    writer.done()
    try:
        differences = add_comparison(result, writer)
        coping = reference_coping(result)  # figure 1 B and the headline without treatment
        add_headline(writer, run_headline(result, differences, coping))
        add_perturbation(result, writer, coping)
        add_cohort(result, writer)
        add_treatment_over_time(result, writer)
        add_metrics(result, writer)
        writer.notes.append(
            f"Connectivity for figures 3 and 4: {cast.source}."
            + (" Animation: rebuilt from manifest.json." if animation else "")
        )
        layout = BrainLayout.from_scenario(result.scenario)
        add_connectomes(cast, layout, writer)
        add_matrices(cast, layout, writer)
        if animation:
            add_animation(cast, layout, writer)
    finally:
        cast.close()


def _draw_study(source: Source, writer: FigureWriter, animation: bool) -> None:
    from sim.viz.figures.study import add_study

    writer.expect(9)
    add_study(source.result, writer)


def _draw_sweep(source: Source, writer: FigureWriter, animation: bool) -> None:
    from sim.viz.figures.sweep import add_sweep

    add_sweep(source.result, writer)


def _draw_timing(source: Source, writer: FigureWriter, animation: bool) -> None:
    from sim.viz.figures.timing import add_timing

    add_timing(source.result, writer)


DRAW: dict[str, Callable[[Source, FigureWriter, bool], None]] = {
    "run": _draw_run,
    "study": _draw_study,
    "sweep": _draw_sweep,
    "timing": _draw_timing,
}


def make_figures(
    source: Any,
    folder: str | Path | None = None,
    *,
    formats: str | Iterable[str] = ("png",),
    style: str | hs.Style = "talk",
    animation: bool = True,
    log: Callable[[str], None] | None = None,
    progress: bool = False,
) -> FigureSet:
    """Draw every figure that fits a result into a figures folder, with ``index.html``.

    Files of the formats drawn replace those of an earlier call; files of other formats (and
    other files) stay, so drawing SVGs after PNGs adds the SVGs.

    Parameters
    ----------
    source
        A ``RunResult``, ``StudyResult``, ``SweepResult`` or ``TimingResult``, or a results
        folder (read with
        :func:`sim.results.io.load`).
    folder
        Where the figures go; default ``<results folder>/figures``.
    formats
        ``"png,svg,pdf"`` or a list; the animation is always GIF (+ MP4 with ffmpeg).
    style
        ``talk`` (1920 x 1080 px) or ``paper`` (single column, 300 dpi).
    animation
        Also make the animation of one patient (runs).
    log
        Called with one line per figure (name and seconds), e.g. ``print``.
    progress
        Show a progress bar on stderr when drawing takes more than a couple of seconds.

    Returns
    -------
    FigureSet
        The figures drawn, those skipped with the reason, and the contact sheet.

    Raises
    ------
    FigureError
        Not a results folder, nothing to plot, or no folder for a result only in memory
        (``option`` names the argument).
    sim.viz.style.StyleError
        An unknown format or style.
    """
    formats = hs.parse_formats(formats)
    s = hs.get_style(style)
    found = load_source(source) if isinstance(source, str | Path) else result_source(source)
    if folder is None:
        if found.folder is None:
            raise FigureError(
                "folder: a result that was not saved needs a folder to draw into", "folder"
            )
        folder = found.folder / FIGURES_DIR
    writer = FigureWriter(Path(folder), formats, s, found.run_id, log, progress)
    if found.kind == "run" and animation:
        writer.redrawn.update(ANIMATION_FORMATS)
    try:
        DRAW[found.kind](found, writer, animation)
        writer.entries.sort(key=lambda e: e.name)  # the headline first, then by number
        writer.skipped.sort()
        if not writer.entries:
            reasons = "; ".join(f"{n}: {r}" for n, r in writer.skipped) or "no data"
            where = found.folder if found.folder is not None else found.kind
            raise FigureError(f"{where}: nothing to plot ({reasons})")
        text = index_html(
            writer.entries,
            writer.skipped,
            writer.listing(),
            title=found.title,
            run_id=found.run_id,
            style=s,
            notes=writer.notes,
        )
        write_index(writer.staging, text)
        writer.finish()
        writer.close()
    except BaseException:
        writer.abandon()
        raise
    return FigureSet(writer.folder, writer.entries, writer.skipped, writer.folder / "index.html")
