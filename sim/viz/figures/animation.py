"""Figure 8 of a run: an animation of one patient's DMN over the run (GIF, MP4 with ffmpeg).

:func:`animate_patient` draws a :class:`PatientStory`; :func:`add_animation` tells the story of
the patient a :class:`~sim.viz.figures.people.Cast` chose, from its replay.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import animation
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from PIL import Image

from sim.viz import style as hs
from sim.viz.figures.brain import BrainLayout, change_scale, node_colors
from sim.viz.figures.common import FigureWriter
from sim.viz.figures.glass import edge_segments, edge_style, glass_view, view_aspect
from sim.viz.figures.people import STORY_RULE, Cast

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
    healthy
        Median DMN perturbation of people never in pain (the dotted reference line).
    """

    patient_id: int
    arm: str
    years: np.ndarray
    years_with_pain: np.ndarray
    stage: np.ndarray
    perturbation: np.ndarray
    change: np.ndarray
    age0: float
    healthy: float = 0.8


def write_gif(
    frames: list[Image.Image], path: Path, fps: float, comment: str, hold_last_ms: int = 2500
) -> Path:
    """Write RGB(A) frames as a looping GIF that holds the last frame, with a comment.

    Fewer colours are used until the file fits :data:`GIF_MAX_BYTES`.
    """
    durations = [int(1000 / fps)] * len(frames)
    durations[-1] += hold_last_ms
    for colors in (128, 64, 32):
        quantized = [f.convert("RGB").quantize(colors=colors, method=2, dither=0) for f in frames]
        quantized[0].save(
            path,
            save_all=True,
            append_images=quantized[1:],
            duration=durations,
            loop=0,
            optimize=True,
            comment=comment.encode("utf-8"),
        )
        if Path(path).stat().st_size <= GIF_MAX_BYTES:
            break
    return Path(path)


def render_frames(fig: Any, dynamic: list[Any], update: Any, count: int) -> list[Image.Image]:
    """Frames of an animation, drawing the still parts once (blitting with Agg).

    ``update(t)`` changes the ``dynamic`` artists for frame ``t``; only they are drawn again
    over a copy of the still background, in the order given (later ones on top).
    """
    canvas = FigureCanvasAgg(fig)
    for artist in dynamic:
        artist.set_visible(False)
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    for artist in dynamic:
        artist.set_visible(True)
    renderer = canvas.get_renderer()
    frames = []
    for t in range(count):
        update(t)
        canvas.restore_region(background)
        for artist in dynamic:
            artist.draw(renderer)
        frames.append(Image.fromarray(np.asarray(canvas.buffer_rgba()).copy()))
    return frames


@dataclass
class Frames:
    """The animation's figure, the artists that change, and how to set frame ``t``."""

    fig: Figure
    dynamic: list[Any]
    draw: Callable[[int], None]
    count: int


def animation_figure(story: PatientStory, layout: BrainLayout) -> Frames:
    """The animation's figure (talk layout) at its first frame; ``draw(t)`` sets frame ``t``."""
    s = hs.get_style("talk")
    iu = np.triu_indices(len(layout.names), 1)
    limit, threshold = change_scale(list(story.change), quantile=0.99, threshold_share=0.25)
    cmap, norm = hs.change_cmap(limit, threshold)
    with hs.use(s):
        fig = hs.new_figure(s, layout="none")
        collections, segments, views = {}, {}, {}
        # The two views share the brain's area in proportion to their outlines' widths.
        widths = {mode: view_aspect(mode) for mode in "xz"}
        left = 0.0
        for mode in "xz":
            share = 0.64 * widths[mode] / sum(widths.values())
            ax = fig.add_axes((left, 0.17, share, 0.66))
            left += share
            views[mode] = ax
            collections[mode] = glass_view(
                ax,
                mode,
                layout.coords,
                node_colors(layout.subsystems),
                node_size=110,
                label_size=s.small,
            )
            segments[mode] = edge_segments(layout.coords, mode)
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
        clock = fig.text(0.68, 0.95, "Year 0", fontsize=s.large * 1.5, fontweight="bold", va="top")
        ylp_text = fig.text(0.68, 0.84, "", fontsize=s.font * 1.2, va="top")
        stage_text = fig.text(
            0.68,
            0.69,
            "",
            fontsize=s.font * 1.2,
            va="top",
            bbox={"boxstyle": "round,pad=0.4", "facecolor": "white", "edgecolor": "none"},
        )
        trace = fig.add_axes((0.72, 0.2, 0.25, 0.36))
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
        trace.axhline(story.healthy, color=hs.NEUTRAL, linestyle=":", linewidth=1.5)
        trace.text(
            story.years[-1],
            story.healthy - 0.02 * top,
            "never in pain (median) ",
            ha="right",
            va="top",
            fontsize=s.small,
            color=hs.NEUTRAL,
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

        def draw(t: int) -> None:
            values = story.change[t][iu]
            values = np.where(np.abs(values) >= threshold, values, 0.0)
            colors, widths, order = edge_style(values, cmap, norm, limit, (1.5, 3.5))
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
            fill = hs.STAGE_COLORS.get(stage, "white")
            stage_text.get_bbox_patch().set_facecolor(fill)
            stage_text.set_color("white" if sum(to_rgb(fill)) < 1.2 else "black")
            done.set_data(story.years[: t + 1], story.perturbation[: t + 1])
            dot.set_data([year], [story.perturbation[t]])

        draw(0)
        nodes = [c for ax in views.values() for c in ax.collections[2:]]  # above the edges
        dynamic = [*collections.values(), *nodes, done, dot, clock, ylp_text, stage_text]
    return Frames(fig, dynamic, draw, len(story.years))


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
    s = hs.get_style("talk")
    meta = dict(metadata or hs.provenance(None))
    made = animation_figure(story, layout)
    fig, draw = made.fig, made.draw
    with hs.use(s):
        stamp = f"painsim {meta['painsim_version']}; run id {meta['run_id']}"
        gif = Path(path).with_suffix(".gif")
        gif.parent.mkdir(parents=True, exist_ok=True)
        fig.set_dpi(s.dpi * 2 / 3)  # 1280 x 720 px: the GIF stays small
        frames = render_frames(fig, made.dynamic, draw, made.count)
        written = [write_gif(frames, gif, fps, stamp)]
        if mp4 if mp4 is not None else shutil.which("ffmpeg"):
            fig.set_dpi(s.dpi)
            movie = animation.FuncAnimation(fig, draw, frames=made.count, blit=False)
            target = Path(path).with_suffix(".mp4")
            writer = animation.FFMpegWriter(
                fps=fps,
                metadata={"title": meta.get("title", ""), "comment": stamp, "artist": "painsim"},
            )
            with warnings.catch_warnings():  # axes are placed by hand; no layout to warn about
                warnings.filterwarnings("ignore", message="There are no gridspecs")
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
    ref = patients[patients["arm"] == arm]
    never = ref.loc[ref["years_with_pain"] <= 0, "dmn_perturbation"]
    return PatientStory(
        patient_id=story_id,
        arm=arm,
        years=years,
        years_with_pain=rec.loc[years, "years_with_pain"].to_numpy(float),
        stage=rec.loc[years, "stage"].to_numpy(str),
        perturbation=rec.loc[years, "dmn_perturbation"].to_numpy(float),
        change=track.connectivity[:, k] - track.pain_free[:, k],
        age0=float(rec.loc[years[0], "age"]),
        healthy=float(never.median()) if len(never) else 0.8,
    )


def add_animation(cast: Cast, layout: BrainLayout, writer: FigureWriter) -> None:
    """Figure 8: the animation of the cast's story patient (needs the cast's replay)."""
    story = patient_story(cast)
    writer.add_files(
        "08_patient_animation",
        "Animation: one patient's DMN over the run",
        f"Patient {story.patient_id} ({story.arm}, replicate {cast.replicate}) over "
        f"{story.years[-1]:g} years, chosen {STORY_RULE}. Edges: change from their own "
        "pain-free pattern (blue lower, red higher, one colour scale for every frame); right: "
        "year, years lived with pain, age, pain stage now, and DMN perturbation so far (red) "
        "against the median of people never in pain (dotted). For teaching; rebuilt from "
        "manifest.json.",
        lambda path, meta: animate_patient(story, layout, path, metadata=meta),
    )
