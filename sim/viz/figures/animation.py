"""Figure 8 of a run: an animation of one patient's DMN over the run (GIF, MP4 with ffmpeg).

:func:`animate_patient` draws a :class:`PatientStory`; :func:`add_animation` tells the story of
the patient a :class:`~sim.viz.figures.people.Cast` chose, from its replay.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import animation
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection

from sim.viz import style as hs
from sim.viz.figures.brain import BrainLayout, change_scale, node_colors
from sim.viz.figures.common import FigureWriter
from sim.viz.figures.people import Cast

STAGE_WORDS = {
    "none": "No pain now",
    "acute": "Acute pain",
    "subacute": "Subacute pain",
    "chronic": "Chronic pain",
}
GIF_MAX_BYTES = 2_000_000
"""The GIF is written with fewer colours until it fits."""


@dataclass(frozen=True)
class PatientStory:
    """What the animation shows of one patient at each record time.

    Attributes
    ----------
    patient_id, arm
        Who.
    years
        (T,) record times, years since the start.
    years_with_pain
        (T,) years lived with pain then.
    stage
        (T,) pain stage then (``none``, ``acute``, ``subacute``, ``chronic``).
    perturbation
        (T,) DMN perturbation then (healthy SD).
    change
        (T, R, R) Δr from their own pain-free pattern.
    age0
        Age at the start, years.
    """

    patient_id: int
    arm: str
    years: np.ndarray
    years_with_pain: np.ndarray
    stage: np.ndarray
    perturbation: np.ndarray
    change: np.ndarray
    age0: float


class _GifWriter(animation.PillowWriter):
    """Pillow GIF writer that holds the last frame and writes a comment (provenance)."""

    def __init__(self, *args: Any, comment: str = "", hold_last_ms: int = 2500, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.comment = comment
        self.hold_last_ms = hold_last_ms

    def finish(self) -> None:
        durations = [int(1000 / self.fps)] * len(self._frames)
        durations[-1] += self.hold_last_ms
        for colors in (128, 64, 32):  # fewer colours until the file fits GIF_MAX_BYTES
            frames = [
                f.convert("RGB").quantize(colors=colors, method=2, dither=0) for f in self._frames
            ]
            frames[0].save(
                self.outfile,
                save_all=True,
                append_images=frames[1:],
                duration=durations,
                loop=0,
                optimize=True,
                comment=self.comment.encode("utf-8"),
            )
            if Path(self.outfile).stat().st_size <= GIF_MAX_BYTES:
                break


def animate_patient(
    story: PatientStory,
    layout: BrainLayout,
    path: Path,
    *,
    metadata: Mapping[str, str] | None = None,
    fps: float = 3.0,
    mp4: bool | None = None,
) -> list[Path]:
    """Figure 8: an animation of one patient's DMN over the run, for teaching (talk style).

    Each frame shows the glass brain with the edges that differ from the patient's own
    pain-free pattern (same colour scale in every frame), a clock of the year and of the
    years lived with pain, the current pain stage, and DMN perturbation so far.

    Parameters
    ----------
    story
        The patient's record times, stages and connectivity changes.
    layout
        Regions and coordinates.
    path
        File path without suffix; writes ``.gif`` (and ``.mp4`` when ffmpeg is present).
    metadata
        :func:`sim.viz.style.provenance`; written as the GIF comment and MP4 metadata.
    fps
        Frames per second.
    mp4
        Write an MP4 too; default: if ``ffmpeg`` is on the PATH.

    Returns
    -------
    list of pathlib.Path
    """
    from nilearn import plotting

    s = hs.get_style("talk")
    meta = dict(metadata or hs.provenance(None))
    iu = np.triu_indices(len(layout.names), 1)
    limit, threshold = change_scale(list(story.change), quantile=0.99, threshold_share=0.25)
    cmap, norm = hs.change_cmap(limit, threshold)
    with hs.use(s):
        fig = hs.new_figure(s, layout="none")
        brain_ax = fig.add_axes((0.0, 0.17, 0.64, 0.72))
        display = plotting.plot_connectome(
            np.zeros((len(layout.names),) * 2),
            layout.coords,
            node_color=node_colors(layout.subsystems),
            node_size=110,
            display_mode="xz",
            axes=brain_ax,
            colorbar=False,
            annotate=True,
            node_kwargs={"edgecolors": "#222222", "linewidths": 0.8},
        )
        for view in display.axes.values():
            for text in view.ax.texts:
                text.set_fontsize(s.small)
        collections, segments = {}, {}
        for key, view in display.axes.items():
            # nilearn's projection: drop the coordinate along the viewing direction.
            keep = [0, 1, 2]
            keep.remove({"x": 0, "y": 1, "z": 2, "l": 0, "r": 0}[view.direction])
            xy = layout.coords[:, keep]
            segments[key] = np.stack([xy[iu[0]], xy[iu[1]]], axis=1)
            lc = LineCollection(segments[key], linewidths=0, zorder=3)
            for nodes in view.ax.collections:
                nodes.set_zorder(10)  # nodes above edges
            view.ax.add_collection(lc)
            collections[key] = lc
        fig.text(
            0.02,
            0.95,
            "One patient's default mode network",
            fontsize=s.large,
            fontweight="bold",
            va="top",
        )
        fig.text(
            0.02,
            0.895,
            f"Patient {story.patient_id} ({story.arm}); edges: change from "
            "their own pain-free network",
            fontsize=s.small,
            va="top",
            color="#333333",
        )
        clock = fig.text(0.68, 0.93, "", fontsize=s.large * 1.5, fontweight="bold", va="top")
        ylp_text = fig.text(0.68, 0.82, "", fontsize=s.font * 1.2, va="top")
        stage_text = fig.text(
            0.68,
            0.73,
            "",
            fontsize=s.font * 1.2,
            va="top",
            bbox={"boxstyle": "round,pad=0.4", "facecolor": "white", "edgecolor": "none"},
        )
        trace = fig.add_axes((0.72, 0.2, 0.25, 0.38))
        trace.plot(story.years, story.perturbation, color="#BBBBBB", linewidth=2)
        (done,) = trace.plot([], [], color=hs.OKABE_ITO["vermillion"], linewidth=s.line)
        (dot,) = trace.plot(
            [], [], "o", color=hs.OKABE_ITO["vermillion"], markersize=s.marker * 1.4
        )
        trace.set_xlabel("Year of the run")
        trace.set_ylabel("DMN perturbation\n(healthy SD)")
        trace.set_xlim(story.years[0], story.years[-1])
        top = max(float(np.nanmax(story.perturbation)) * 1.1, 1.5)
        trace.set_ylim(0, top)
        trace.axhline(0.8, color=hs.NEUTRAL, linestyle=":", linewidth=1.5)
        trace.text(
            story.years[0], 0.8, " typical healthy", va="bottom", fontsize=s.small, color=hs.NEUTRAL
        )
        cax = fig.add_axes((0.06, 0.1, 0.5, 0.03))
        bar = fig.colorbar(
            ScalarMappable(norm, cmap), cax=cax, orientation="horizontal", extend="both"
        )
        bar.set_label(
            f"Change from own pain-free pattern, Δr (grey: |Δr| < {threshold:.3g}, not drawn)",
            fontsize=s.small,
        )
        bar.ax.locator_params(nbins=5)
        bar.ax.tick_params(labelsize=s.small)

        def draw(t: int) -> list[Any]:
            values = story.change[t][iu]
            shown = np.abs(values) >= threshold
            colors = cmap(norm(values))
            colors[~shown, 3] = 0.0
            widths = np.where(shown, 1.5 + 3.5 * np.minimum(np.abs(values) / limit, 1), 0.0)
            order = np.argsort(np.abs(values))  # strongest changes drawn on top
            for key, lc in collections.items():
                lc.set_segments(segments[key][order])
                lc.set_color(colors[order])
                lc.set_linewidth(widths[order])
            year = story.years[t]
            clock.set_text(f"Year {year:.0f}")
            ylp_text.set_text(
                f"{story.years_with_pain[t]:.1f} years lived with pain\nage {story.age0 + year:.0f}"
            )
            stage = str(story.stage[t])
            stage_text.set_text(STAGE_WORDS.get(stage, stage))
            stage_text.get_bbox_patch().set_facecolor(hs.STAGE_COLORS.get(stage, "white"))
            done.set_data(story.years[: t + 1], story.perturbation[: t + 1])
            dot.set_data([year], [story.perturbation[t]])
            return [*collections.values(), clock, ylp_text, stage_text, done, dot]

        movie = animation.FuncAnimation(fig, draw, frames=len(story.years), blit=False)
        stamp = f"painsim {meta['painsim_version']}; run id {meta['run_id']}"
        gif = Path(path).with_suffix(".gif")
        gif.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():  # axes are placed by hand; no layout to warn about
            warnings.filterwarnings("ignore", message="There are no gridspecs")
            movie.save(gif, writer=_GifWriter(fps=fps, comment=stamp), dpi=s.dpi * 2 / 3)
        written = [gif]
        if mp4 if mp4 is not None else shutil.which("ffmpeg"):
            target = Path(path).with_suffix(".mp4")
            writer = animation.FFMpegWriter(
                fps=fps,
                metadata={"title": meta.get("title", ""), "comment": stamp, "artist": "painsim"},
            )
            movie.save(target, writer=writer, dpi=s.dpi)
            written.append(target)
    hs.close(fig)
    return written


# -- from a run ---------------------------------------------------------------------------------
def patient_story(cast: Cast) -> PatientStory:
    """The story of the cast's animation patient, from the replay of their replicate."""
    track, arm, story_id = cast.track, cast.arms[0], cast.chosen.story
    k = cast.tracked_ids.index(story_id)
    patients = cast.result.patients
    rec = patients[
        (patients["arm"] == arm)
        & (patients["replicate"] == cast.replicate)
        & (patients["patient_id"] == story_id)
    ].set_index("year")
    years = track.years
    return PatientStory(
        patient_id=story_id,
        arm=arm,
        years=years,
        years_with_pain=rec.loc[years, "years_with_pain"].to_numpy(float),
        stage=rec.loc[years, "stage"].to_numpy(str),
        perturbation=rec.loc[years, "dmn_perturbation"].to_numpy(float),
        change=track.connectivity[:, k] - track.pain_free[:, k],
        age0=float(rec.loc[years[0], "age"]),
    )


def add_animation(cast: Cast, layout: BrainLayout, writer: FigureWriter) -> None:
    """Figure 8: the animation of the cast's story patient (needs the cast's replay)."""
    story = patient_story(cast)
    writer.add_files(
        "08_patient_animation",
        "Animation: one patient's DMN over the run",
        f"Patient {story.patient_id} ({story.arm}, replicate {cast.replicate}) over "
        f"{story.years[-1]:g} years: edges coloured by change from their own pain-free "
        "pattern, with years lived with pain, stage and DMN perturbation (teaching; rebuilt "
        "from manifest.json).",
        lambda path, meta: animate_patient(story, layout, path, metadata=meta),
    )
