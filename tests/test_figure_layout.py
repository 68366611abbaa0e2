"""Figure layout: what the renderer drew fits, in both styles, on every kind of figure.

``sim.viz.figures.layout.layout_problems`` reads the boxes of every text the renderer draws
(multi-line texts included), legends and data. Every figure kind is checked in the talk and
the paper style with an arm name long enough to wrap: every text inside the canvas, no two
texts overlapping, no legend or label over data, no text too small for its style; a paper
figure is one journal column wide and at most nine inches tall. The checker itself is tested
first against a figure broken on purpose in each of the ways the figures used to be broken.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from figure_data import (
    LONG_ARM,
    longitudinal_table,
    sample_table,
    sensitivity_table,
    study_table,
    sweep_table,
    timing_table,
    treatment_scenario,
    variants_table,
)
from matplotlib.patches import FancyArrowPatch
from matplotlib.text import Text

import sim.api
from sim.scenario import parse_scenario
from sim.viz import style as hs
from sim.viz.figures import animation as fanim
from sim.viz.figures import arms as farms
from sim.viz.figures import brain as fbrain
from sim.viz.figures import cohort as fcohort
from sim.viz.figures import evidence as fevidence
from sim.viz.figures import findings as ffind
from sim.viz.figures import headline as fhead
from sim.viz.figures import layout
from sim.viz.figures import run as frun
from sim.viz.figures import study as fstudy
from sim.viz.figures import sweep as fsweep
from sim.viz.figures import timing as ftiming
from sim.viz.figures.layout import drawn_texts, layout_problems


# -- the checker ----------------------------------------------------------------------------------
def broken_figure():
    """A paper figure with each layout fault the issue listed, once."""
    with hs.use("paper") as s:
        fig = hs.new_figure(s)
        ax = fig.subplots()
        ax.plot([0, 1, 2, 3], [0, 1, 2, 3], "o-", label="data")
        ax.legend(loc="center")  # a legend over data points
        ax.set_title("A title far too long for a single journal column, so it runs off the edge")
        ax.text(0.05, 0.9, "first\nlabel", transform=ax.transAxes)  # two lines
        ax.text(0.08, 0.85, "second", transform=ax.transAxes)  # over the first
        ax.add_patch(FancyArrowPatch((0, 3), (3, 0), arrowstyle="-|>"))
        ax.text(1.5, 1.5, "label box", ha="center", bbox={"facecolor": "white"})  # on the arrow
    return fig


def test_the_layout_check_finds_each_fault_of_a_figure_broken_on_purpose():
    problems = layout_problems(broken_figure())
    kinds = {(p.kind, p.what.split(" ")[0]) for p in problems}
    assert ("outside", "'A") in kinds  # the title cut at the canvas edge
    assert any(p.kind == "overlap" and "'first label'" in p.what for p in problems)
    assert any(p.kind == "legend" for p in problems)
    assert any(p.kind == "covers" and "'label box'" in p.what for p in problems)


def test_the_layout_check_sees_multi_line_texts_and_skips_hidden_ones():
    fig = broken_figure()
    fig.axes[0].set_xlim(0.5, 2.5)  # the tick labels at 0 and 3 are not drawn
    texts = [t.get_text() for t in drawn_texts(fig)[0]]
    assert "first\nlabel" in texts  # drawn line by line, without its artist: once missed
    assert "0" not in texts and "3" not in texts


def test_a_clean_figure_has_no_layout_problems():
    with hs.use("talk") as s:
        fig = hs.new_figure(s)
        ax = fig.subplots()
        ax.plot([0, 1], [0, 1], label="line")
        ax.legend(loc="upper left")
        ax.set_title("Fine")
    assert layout_problems(fig) == []


# -- every figure kind ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def long_run():
    """A two-arm run whose treated arm has a very long name, with connectivity."""
    scenario = parse_scenario(treatment_scenario(LONG_ARM), "layout test")
    return sim.api.run(scenario, connectivity=True, progress=False)


@pytest.fixture(scope="module")
def kinds(long_run) -> dict:
    """Figure kind -> function(style) -> Figure, from the run and hand-made tables."""
    res = long_run
    patients, arms = res.patients, res.arms
    layout = fbrain.BrainLayout.from_scenario(res.scenario)
    rng = np.random.default_rng(3)
    study = study_table(40, 1.0, rng)
    counter = study_table(40, 1.0, rng).assign(indirect_ci_low=-0.01)
    power = pd.concat([study_table(40, m, rng).assign(multiplier=m) for m in (0.5, 1.0, 2.0)])
    sample = sample_table(rng)
    sweep, sens = sweep_table(), sensitivity_table()
    differences = farms.arm_differences(patients, arms)
    course = farms.treatment_course(patients, arms, min_people=5)
    plans = farms.schedules(res.scenario)
    sign = np.sign(np.arange(len(layout.names)) - 8.0)
    change = 0.06 * np.outer(sign, sign)
    horizon = frun.horizon_rows(res)
    story = fanim.PatientStory(
        patient_id=7,
        arm=LONG_ARM,
        years=np.arange(4.0),
        years_with_pain=np.array([0.0, 0.5, 1.5, 2.5]),
        stage=np.array(["none", "acute", "subacute", "chronic"]),
        perturbation=np.array([0.8, 1.1, 1.9, 2.6]),
        change=np.stack([change * f for f in (0.0, 0.3, 0.7, 1.0)]),
        age0=40.0,
    )
    ref = frun.arm_rows(patients, arms[0])
    many = ["usual care", LONG_ARM, "CBT subacute + boosters", "CBT after 10 years", "TMS"]
    many_differences = pd.DataFrame(
        [
            {
                "arm": arm,
                "outcome": outcome,
                "who": "enrolled",
                "difference": -0.1 * i * scale,
                "ci_low": -0.1 * i * scale - 0.05 * scale,
                "ci_high": -0.1 * i * scale + 0.05 * scale,
                "n_pairs": 1000 * i,
                "effect_size": -0.05 * i,
                "year": 30.0,
            }
            for i, arm in enumerate(many[1:], start=1)
            for outcome, scale in (("dmn_perturbation", 0.1), ("pain", 1.0), ("coping", 5.0))
        ]
    )
    timing = timing_table(
        treatments=("CBT", LONG_ARM, "mindfulness", "PRT"),
        outcomes=("dmn_perturbation", "healthy_range", "pain", "coping", "signature_score"),
    )
    variants = variants_table()
    variants.loc[2, "label"] = f"subacute: {LONG_ARM}, first episode only (no earlier episodes)"
    return {
        "00_timing": lambda s: ftiming.timing_headline(timing)[0](),
        "09_timing": lambda s: ftiming.timing_figure(timing, s),
        "06g": lambda s: fevidence.variant_rates(variants, s),
        "06h": lambda s: fevidence.longitudinal_figure(longitudinal_table(), s),
        "02_many_arms": lambda s: farms.arm_comparison(many_differences, many, s),
        "00_run_forest": lambda s: farms.arm_comparison(
            differences, arms, fhead.SLIDE, title=fhead.treatment_message(differences, arms)
        ),
        "00_run_coping": lambda s: fhead.coping_headline_figure(ref, "A message", min_people=5),
        "00_study": lambda s: ffind.study_headline(study)[0](),
        "00_sweep": lambda s: fsweep.sweep_headline(
            fsweep.sweep_tables(
                type("R", (), {"table": sweep, "sensitivity": sens, "plan": None})()
            )
        )[0](),
        "01": lambda s: frun.perturbation_by_years(patients, arms, s, min_people=10),
        "01b": lambda s: fcohort.cohort_over_time(res.timeseries, arms, s),
        "02": lambda s: farms.arm_comparison(differences, arms, s),
        "02b": lambda s: farms.treatment_over_time(course, arms, s, plans=plans),
        "03": lambda s: fbrain.connectome_figure(
            layout,
            [
                ("Patient 12, usual care\n13 years with pain", change),
                (f"Same patient, {LONG_ARM}", change / 2),
            ],
            s,
            difference=(f"Twin minus patient ({LONG_ARM} − usual care)", -change / 2),
        ),
        "04": lambda s: fbrain.matrices_figure(
            layout,
            layout.healthy,
            layout.healthy - 0.05,
            s,
            titles=("Never\nn = 10", "Chronic\nn = 9"),
        ),
        "05": lambda s: frun.metrics_by_years(horizon, s),
        "06a_sample": lambda s: fstudy.study_groups(study, s, sample=sample),
        "06a_replications": lambda s: fstudy.study_groups(study, s),
        "06b_sample": lambda s: fstudy.study_years(study, s, sample=sample),
        "06b_replications": lambda s: fstudy.study_years(study, s),
        "06c_sample": lambda s: ffind.study_mediation(study, s, sample=sample),
        "06c_replications": lambda s: ffind.study_mediation(study, s),
        "06d": lambda s: fstudy.study_power(power, s),
        "06e": lambda s: ffind.published_vs_simulated(study, s),
        "06f": lambda s: ffind.mechanism_check(study, counter, s),
        "07a": lambda s: fsweep.sweep_heatmap(sweep, "dmn_perturbation", s),
        "07b": lambda s: fsweep.sensitivity_bars(sens, "dmn_perturbation", s),
        "08_frame": lambda s: fanim.animation_figure(story, layout).fig,
    }


SLIDES_ONLY = {
    "00_run_forest", "00_run_coping", "00_study", "00_sweep", "00_timing", "08_frame"
}  # fmt: skip
"""Kinds drawn in one layout whatever the style (slides and the animation)."""
KINDS = [
    "00_run_forest", "00_run_coping", "00_study", "00_sweep", "00_timing", "01", "01b", "02",
    "02_many_arms", "02b", "03",
    "04", "05", "06a_sample", "06a_replications", "06b_sample", "06b_replications",
    "06c_sample", "06c_replications", "06d", "06e", "06f", "06g", "06h", "07a", "07b",
    "08_frame", "09_timing",
]  # fmt: skip


QUICK = {("00_run_forest", "talk"), ("01", "paper"), ("02_many_arms", "paper"), ("03", "paper"),
         ("06e", "paper"), ("06g", "paper"), ("09_timing", "paper")}  # fmt: skip
"""Checked in every test run (the kinds and styles that used to break); the others are slow."""


def cases():
    for kind in KINDS:
        for style in ("talk",) if kind in SLIDES_ONLY else ("talk", "paper"):
            marks = () if (kind, style) in QUICK else (pytest.mark.slow,)
            yield pytest.param(kind, style, id=f"{kind}-{style}", marks=marks)


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Text]:
    """The texts of the draw ``layout_problems`` makes, to check their sizes too.

    A draw of a figure takes about a second: the font sizes are read from that one draw
    instead of drawing the figure again.
    """
    texts: list[Text] = []

    def recorded(fig):
        found, renderer = drawn_texts(fig)
        texts.extend(found)
        return found, renderer

    monkeypatch.setattr(layout, "drawn_texts", recorded)
    return texts


@pytest.mark.parametrize(("kind", "style"), list(cases()))
def test_every_figure_kind_fits_its_canvas_without_overlaps(kinds, kind, style, drawn):
    fig = kinds[kind](style)
    try:
        if os.environ.get("PAINSIM_FIGURE_DIR"):  # to look at them: PAINSIM_FIGURE_DIR=/tmp/x
            hs.save(fig, Path(os.environ["PAINSIM_FIGURE_DIR"]) / f"{kind}-{style}", ["png"])
        problems = layout.layout_problems(fig)
        assert not problems, [str(p) for p in problems]
        assert drawn  # the sizes below are those of the texts layout_problems saw drawn
        s = hs.get_style("talk" if kind in SLIDES_ONLY else style)
        small = {t.get_text(): t.get_fontsize() for t in drawn if t.get_fontsize() < s.tiny}
        assert not small, small  # talk: no text under 16 pt; paper: under 6 pt
        if s.name == "paper":  # one journal column, at most 9 in tall
            width, height = fig.get_size_inches()
            assert width == pytest.approx(3.5) and height <= 9.0, height
    finally:
        hs.close(fig)
