"""The teaching page (Solara components): run controls and settings, monitors, figures, info.

The page is built from Mesa's SolaraViz parts and Solara: the sidebar has Mesa's
``ModelController`` (Reset, Play/Pause, Step) and the settings (specs in SolaraViz's
``model_params`` format, shown with their current values); the main area has NetLogo-style
monitors, a plot of DMN perturbation over the years, one patient's network drawn on the brain
next to the healthy reference (:mod:`sim.interfaces.app.views`), and a plain-language info
panel. :func:`Page` is the entry point Solara serves (``solara run sim.interfaces.app``).

Nothing typed into the page is executed: settings are numbers and choices from fixed lists,
validated as a scenario (:mod:`sim.interfaces.app.model`); Mesa's command console is not part
of the page.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from sim.core.outcomes import VARIABLES
from sim.core.pain import STAGES
from sim.interfaces.app.model import (
    COHORT_MAX,
    COHORT_MIN,
    COHORT_STEP,
    EARLY,
    INTERVENTIONS,
    MALADAPTIVE,
    PAIN_MAX,
    PAIN_MIN,
    PATIENTS,
    SHARE_MAX,
    SHARE_MIN,
    TIMINGS,
    TeachingModel,
    base_scenario,
    scenario_defaults,
)
from sim.interfaces.app.views import BrainView, DriftView
from sim.scenario import Scenario
from sim.viz import style as hs

with warnings.catch_warnings():
    # Mesa 3.3.1's ComponentsView trips Solara's hook linter at import; we do not use it.
    warnings.filterwarnings("ignore", message=".*ComponentsView", category=UserWarning)
    import solara
    from mesa.visualization.solara_viz import ModelController
    from mesa.visualization.utils import update_counter

PLAY_INTERVAL_MS = 250


def model_params(base: Scenario | None = None) -> dict[str, Any]:
    """The settings as SolaraViz parameter specs, starting at ``base``'s values.

    Keys are :class:`TeachingModel` keyword arguments (``base`` is a fixed value), so the dict
    passes Mesa's ``_check_model_params`` and could be handed to ``SolaraViz`` as it is.
    """
    base = base or base_scenario()
    d = scenario_defaults(base)
    return {
        "cohort_size": {
            "type": "SliderInt",
            "value": d.cohort_size,
            "min": COHORT_MIN,
            "max": COHORT_MAX,
            "step": COHORT_STEP,
            "label": "Cohort size",
        },
        "maladaptive_share": {
            "type": "SliderFloat",
            "value": d.maladaptive_share,
            "min": min(SHARE_MIN, d.maladaptive_share),
            "max": max(SHARE_MAX, d.maladaptive_share),
            "step": 0.01,
            "label": "Maladaptive copers (PCS ≥ 30)",
        },
        "pain_intensity": {
            "type": "SliderFloat",
            "value": d.pain_intensity,
            "min": PAIN_MIN,
            "max": PAIN_MAX,
            "step": 0.1,
            "label": "Pain in long-lasting episodes",
        },
        "intervention": {
            "type": "Select",
            "value": "none",
            "values": list(INTERVENTIONS),
            "label": "Treatment",
        },
        "timing": {
            "type": "Select",
            "value": EARLY,
            "values": list(TIMINGS),
            "label": "Treatment starts",
        },
        "seed": {"type": "InputText", "value": d.seed, "label": "Seed (whole number)"},
        "patient": {
            "type": "Select",
            "value": MALADAPTIVE,
            "values": list(PATIENTS),
            "label": "Patient drawn",
        },
        "base": base,
    }


VALUE_FORMATS: dict[str, str] = {
    "cohort_size": "{:,} people",
    "maladaptive_share": "{:.0%}",
    "pain_intensity": "{:.1f} / 10",
}


def initial_settings(params: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :class:`TeachingModel` at the specs' starting values."""
    return {k: v["value"] if isinstance(v, dict) and "type" in v else v for k, v in params.items()}


@solara.component
def Settings(params: dict[str, Any], settings: solara.Reactive[dict[str, Any]]) -> None:
    """The settings, each showing its current value; they apply at the next Reset."""

    def setter(name: str):
        def set_value(value: Any) -> None:
            settings.value = {**settings.value, name: value}

        return set_value

    for name, spec in params.items():
        if not (isinstance(spec, dict) and "type" in spec):
            continue
        value, kind = settings.value[name], spec["type"]
        if kind in ("SliderInt", "SliderFloat"):
            slider = solara.SliderInt if kind == "SliderInt" else solara.SliderFloat
            solara.Text(
                f"{spec['label']}: {VALUE_FORMATS[name].format(value)}",
                style={"font-size": "0.9rem"},
            )
            slider(
                "",
                value=value,
                min=spec["min"],
                max=spec["max"],
                step=spec["step"],
                on_value=setter(name),
                thumb_label=False,
            )
        elif kind == "Select":
            solara.Select(spec["label"], values=spec["values"], value=value, on_value=setter(name))
        else:
            solara.InputText(spec["label"], value=str(value), on_value=setter(name))


def monitor(label: str, value: str, name: str, accent: str | None = None) -> None:
    """One NetLogo-style monitor: a small label over a large value.

    ``name`` becomes the ``data-monitor`` attribute (what tests and screen readers find);
    ``accent`` colours the left edge (the house colour of what is counted, e.g. a stage).
    """
    border = f"border-left: 5px solid {accent}; " if accent else ""
    with solara.v.Sheet(
        class_="pa-2 ma-1 painsim-monitor",
        style_="min-width: 120px; background: #f3f6fa; "
        f"border: 1px solid #d5dde8; {border}border-radius: 6px",
        attributes={"data-monitor": name},
    ):
        solara.Text(label, style={"font-size": "0.75rem", "color": hs.NEUTRAL})
        solara.Div(
            children=[value],
            classes=["painsim-value"],
            style={"font-size": "1.25rem", "font-weight": "600"},
        )


@solara.component
def Monitors(model: TeachingModel) -> None:
    """NetLogo-style monitors: year, share in each stage, years with pain, perturbation."""
    update_counter.get()
    s = model.summary
    with solara.Row(gap="0px", style={"flex-wrap": "wrap"}):
        monitor("year", f"{s['year']:.0f} of {model.horizon:g}", "year")
        monitor("people", f"{model.size:,}", "people")
        for stage in STAGES:
            monitor(
                VARIABLES[f"share_{stage}"].short,
                f"{100 * s[f'share_{stage}']:.1f} %",
                stage,
                hs.STAGE_COLORS[stage],
            )
        monitor(
            f"mean {VARIABLES['years_with_pain'].short}",
            f"{s['mean_years_with_pain']:.2f}",
            "years_with_pain",
        )
        monitor(
            f"mean {VARIABLES['dmn_perturbation'].short}",
            f"{s['perturbation']:.2f}",
            "perturbation",
        )
        if model.twin is not None:
            share = s["treated"] / model.size
            monitor(
                f"offered {model.settings['intervention']} so far",
                f"{s['treated']:.0f} ({100 * share:.0f} %)",
                "treated",
            )


@solara.component
def Figures(model: TeachingModel) -> None:
    """The plot and the brain, redrawn once per simulated year."""
    update_counter.get()
    views = solara.use_memo(lambda: (DriftView(model), BrainView(model)), [model])
    key = [model, model.year]
    plot = solara.use_memo(lambda: _png(views[0]), key)
    brain = solara.use_memo(lambda: _png(views[1]), key)
    with solara.Columns([1, 1]):
        solara.Image(plot, width="100%", classes=["painsim-plot"])
        solara.Image(brain, width="100%", classes=["painsim-brain"])


def _png(view: DriftView | BrainView) -> bytes:
    view.update()
    return view.png()


INFO_HTML = """
<h3>What you are looking at</h3>
<p>Every simulated person lives through episodes of back pain. While someone is in pain, the
connections of their <b>default mode network (DMN)</b> &mdash; the brain network active when we
rest and think about ourselves &mdash; slowly change. <b>DMN perturbation</b> says how far a
person's network is from healthy people of the same age; a typical healthy person scores about
0.8.</p>
<ul>
<li><b>Years of pain:</b> press &#9654; (Play) and watch perturbation rise as the cohort lives
more years with pain. In the first years the lines can dip: people who start with a pain history
are between episodes, and part of the change fades while they are pain-free.</li>
<li><b>Coping:</b> people who catastrophize about pain (<i>maladaptive copers</i>, 30 or more of
52 points on the Pain Catastrophizing Scale) drift faster at the same pain &mdash; compare the
dark line (maladaptive) with the light one (adaptive).</li>
<li><b>Treatment and its timing:</b> choose a treatment and when it starts, press <b>Reset</b>,
then &#9654;. Dashed lines are the <i>same people without treatment</i> (virtual twins: same
people, same luck), so every gap between a solid and a dashed line is caused by the treatment.
Try early, then late, and watch how many people each reaches.</li>
<li><b>The brain:</b> one patient's network next to the healthy reference, seen from above and
from the left. Thicker lines are stronger connections; blue ones have weakened and red ones
strengthened because of pain, grey ones have hardly changed. Dots are brain regions, coloured by
the part of the network they belong to.</li>
</ul>
<p>Settings take effect when you press <b>Reset</b> (a new cohort); <b>Step</b> adds one year.
This is a teaching simulation of a scientific hypothesis (Heukamp et al., <i>Pain</i> 2025), not
a diagnosis: the sizes of the effects are assumptions, documented in <code>docs/model.md</code>.
</p>
"""


@solara.component
def Controls(
    model: solara.Reactive[TeachingModel],
    params: dict[str, Any],
    settings: solara.Reactive[dict[str, Any]],
) -> None:
    """The sidebar: Mesa's Reset, Play/Pause and Step, then the settings."""
    play_interval = solara.use_reactive(PLAY_INTERVAL_MS)
    render_interval = solara.use_reactive(1)
    use_threads = solara.use_reactive(False)
    with solara.Card("Run"):
        ModelController(
            model,
            model_parameters=settings,
            play_interval=play_interval,
            render_interval=render_interval,
            use_threads=use_threads,
        )
        solara.Text("Step and ▶ add one simulated year at a time.", style={"font-size": "0.8rem"})
    with solara.Card("Settings"):
        Settings(params, settings)
        if _changed(settings.value, model.value.settings):
            solara.Info("Press Reset to start a new cohort with these settings.", dense=True)


@solara.component
def Views(model: TeachingModel) -> None:
    """The main area: notice, monitors, plot and brain, info panel."""
    with solara.Column(gap="8px"):
        if model.notice:
            solara.Warning(model.notice, dense=True)
        Monitors(model)
        Figures(model)
        with solara.Card(classes=["painsim-info"]):
            # A fixed text of this module; solara.Markdown would fetch KaTeX from a CDN.
            solara.HTML(tag="div", unsafe_innerHTML=INFO_HTML)


@solara.component
def Page() -> None:
    """The teaching page: run controls and settings in the sidebar, views in the main area.

    Each browser session builds its own model, so several students stepping at once do not
    share a cohort.
    """
    params = solara.use_memo(lambda: model_params(base_scenario()), [])
    initial = solara.use_memo(lambda: TeachingModel(**initial_settings(params)), [])
    model = solara.use_reactive(initial)
    settings = solara.use_reactive(initial_settings(params))
    solara.Title("painsim: the brain and years of pain")
    with solara.AppBar():
        solara.AppBarTitle("painsim — how the brain adapts to years of pain")
    with solara.Sidebar(), solara.Column():
        Controls(model, params, settings)
    Views(model.value)


def _changed(chosen: Mapping[str, Any], running: Mapping[str, Any]) -> bool:
    """Whether the sidebar settings differ from those of the running cohort."""
    return any(key in running and str(value) != str(running[key]) for key, value in chosen.items())
