"""Interactive teaching page: watch the DMN drift with years of pain, change coping and treatment.

``painsim app [SCENARIO]`` serves this module with Solara (``solara run sim.interfaces.app``). The
page is built from Mesa's SolaraViz parts and Solara: the sidebar has Mesa's ``ModelController``
(Reset, Play/Pause, Step) and the settings (specs in SolaraViz's ``model_params`` format, shown with
their current values); the main area has NetLogo-style monitors, a plot of DMN perturbation over the
years, one patient's network drawn on the brain next to the healthy reference, and a plain-language
info panel. There is no second model: :class:`TeachingModel` turns the settings into a
:class:`sim.scenario.Scenario` (re-validated by :func:`sim.scenario.parse_scenario`) and runs
:class:`sim.core.model.PainModel` on it.

How the settings map onto the scenario (documented in the README, "Interactive teaching page"):

* cohort size -> ``[cohort] size`` (50-3000);
* share of maladaptive copers -> ``[cohort] coping_mean``: a *maladaptive coper* has a
  catastrophizing trait of at least ``MALADAPTIVE_PCS`` = 30 PCS points (the PCS manual's
  "clinically relevant" level, Sullivan 1995); the trait is 52 x Beta with the scenario's SD
  (``coping_sd``, else the norm, 9 points), and the mean is solved so that the expected share at
  or above 30 equals the setting. The setting starts at the scenario's own share rounded to
  1 %, and at that value the scenario's coping distribution is used unchanged;
* pain in long-lasting episodes -> ``[parameters] "pain.long_plateau"`` (NRS 0-10, the level a
  persistent episode settles at);
* intervention and timing -> two ``[[arms]]``: "usual care" and the treatment, the treatment
  arm with ``at_stage = "subacute"`` (early) or ``at_years_with_pain = 10`` (late); the usual-care
  arm is simulated in lockstep as the treated patients' virtual twins (same people, same luck);
* seed (typed as text) -> ``[scenario] seed``; text that is not a whole number in range keeps
  the scenario's seed and says so on the page.

Every other field (horizon, time step, ages, parameters) comes from the scenario file; its own
``[[arms]]`` are replaced by the intervention setting, and ``[study]`` and ``[sweep]`` (designs
for other commands) are left out. One step of the page is one simulated year
(:meth:`sim.core.model.PainModel.run_until`); the last step is shorter if the horizon is not a whole
number of years. Settings take effect when Reset starts a new cohort, as NetLogo's setup
button does; the page says so when they differ from the running cohort's.

Nothing typed into the page is executed: settings are numbers and choices from fixed lists,
validated as a scenario; Mesa's command console is not part of the page.
"""

from __future__ import annotations

import io
import math
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import matplotlib as mpl
import mesa
import numpy as np
import PIL.Image
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.figure import Figure
from scipy.optimize import brentq, minimize_scalar
from scipy.stats import beta as beta_dist

from sim.core import drift
from sim.core.coping import PCS_MAX
from sim.core.model import PainModel
from sim.core.pain import STAGES
from sim.scenario import USUAL_CARE, Scenario, ScenarioError, load_scenario, parse_scenario

with warnings.catch_warnings():
    # Mesa 3.3.1's ComponentsView trips Solara's hook linter at import; we do not use it.
    warnings.filterwarnings("ignore", message=".*ComponentsView", category=UserWarning)
    import solara
    from mesa.visualization.solara_viz import ModelController
    from mesa.visualization.utils import update_counter

SCENARIO_ENV = "PAINSIM_APP_SCENARIO"
DEFAULT_SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "classroom.toml"
MALADAPTIVE_PCS = 30.0  # PCS >= 30: clinically relevant catastrophizing (Sullivan 1995 manual)
COHORT_MIN, COHORT_MAX, COHORT_STEP = 50, 3000, 50
SHARE_MIN, SHARE_MAX = 0.05, 0.60
PAIN_MIN, PAIN_MAX = 1.0, 8.0
LATE_YEARS_WITH_PAIN = 10.0
HEALTHY_LEVEL = math.sqrt(2.0 / math.pi)  # mean |z| of healthy people, docs/model.md
PLAY_INTERVAL_MS = 250
CHANGE_LIMIT = 0.3  # colour scale of connectivity change, Pearson r

INTERVENTIONS: dict[str, str | None] = {
    "none": None,
    "CBT": "cbt",
    "ACT": "act",
    "mindfulness": "mindfulness",
    "TMS": "tms",
}
EARLY = "early (subacute stage)"
LATE = f"late (after {LATE_YEARS_WITH_PAIN:g} years with pain)"
TIMINGS: dict[str, dict[str, Any]] = {
    EARLY: {"at_stage": "subacute", "eligible_stages": ["subacute"]},
    LATE: {"at_years_with_pain": LATE_YEARS_WITH_PAIN},
}
MALADAPTIVE, ADAPTIVE = "maladaptive coper", "adaptive coper"
PATIENTS = (MALADAPTIVE, ADAPTIVE)
GROUP_COLOURS = {"maladaptive": "#c0392b", "adaptive": "#1f6fb2"}
SUBSYSTEM_COLOURS = {"core": "#444444", "dmpfc": "#7b4fa0", "mtl": "#2e8b57", "salience": "#d68910"}
SUBSYSTEM_NAMES = {
    "core": "DMN core",
    "dmpfc": "DMN dorsal-medial",
    "mtl": "DMN medial-temporal",
    "salience": "salience",
}
STAGE_LABELS = {
    "none": "no pain now",
    "acute": "acute",
    "subacute": "subacute",
    "chronic": "chronic",
}
SERIES = (
    "year",
    "perturbation",
    "perturbation_adaptive",
    "perturbation_maladaptive",
    "untreated_adaptive",
    "untreated_maladaptive",
    "years_with_pain_adaptive",
    "years_with_pain_maladaptive",
    "mean_years_with_pain",
    "treated",
    *(f"share_{stage}" for stage in STAGES),
)


# -- settings -> scenario ---------------------------------------------------------------------
def maladaptive_share(coping_mean: float, coping_sd: float) -> float:
    """Expected share of people whose coping trait is at least ``MALADAPTIVE_PCS``.

    The trait is ``52 x Beta`` with the given mean and SD (``sim.core.coping.draw_trait``).

    Examples
    --------
    >>> round(maladaptive_share(14.0, 9.0), 2)
    0.06
    """
    m, v = coping_mean / PCS_MAX, (coping_sd / PCS_MAX) ** 2
    k = m * (1 - m) / v - 1
    return float(beta_dist.sf(MALADAPTIVE_PCS / PCS_MAX, m * k, (1 - m) * k))


def coping_mean_for_share(share: float, coping_sd: float) -> float:
    """Trait mean (PCS points) whose expected share of maladaptive copers is ``share``.

    Parameters
    ----------
    share
        Wanted share of people with a trait of at least ``MALADAPTIVE_PCS``, in (0, 1).
    coping_sd
        Trait SD in PCS points (kept as it is).

    Returns
    -------
    float
        The mean. Shares below the smallest one this SD allows (about 3.5 % at the norm's
        9 points: a low mean with that SD still has a long tail) give that smallest share.

    Examples
    --------
    >>> mean = coping_mean_for_share(0.25, 9.0)
    >>> round(maladaptive_share(mean, 9.0), 6)
    0.25
    """
    # A Beta with this SD exists for m (1 - m) > v. Near the lower end it turns U-shaped and
    # the share rises again, so solve between the mean of the smallest share and the top.
    v = (coping_sd / PCS_MAX) ** 2
    half_width = math.sqrt(max(0.25 - v, 0.0))
    lo = PCS_MAX * (0.5 - half_width) + 1e-6
    hi = PCS_MAX * (0.5 + half_width) - 1e-6
    lo = float(
        minimize_scalar(
            lambda mean: maladaptive_share(mean, coping_sd), bounds=(lo, hi), method="bounded"
        ).x
    )
    share = min(max(share, maladaptive_share(lo, coping_sd)), maladaptive_share(hi, coping_sd))
    return float(
        brentq(lambda mean: maladaptive_share(mean, coping_sd) - share, lo, hi, xtol=1e-10)
    )


def parse_seed(text: str | int, default: int) -> tuple[int, str | None]:
    """A seed from what a person typed: a whole number 0 <= seed < 2**63, else ``default``.

    Returns the seed and, when the text was not usable, a one-line notice for the page.

    Examples
    --------
    >>> parse_seed(" 42 ", 7)
    (42, None)
    >>> parse_seed("forty-two", 7)[0]
    7
    """
    raw = str(text).strip()
    if re.fullmatch(r"\d{1,19}", raw) and int(raw) < 2**63:
        return int(raw), None
    shown = raw if len(raw) <= 24 else raw[:21] + "..."
    return default, (
        f"Seed '{shown}' is not a whole number from 0 to 2^63 - 1; "
        f"using the scenario's seed {default}."
    )


@dataclass(frozen=True)
class Defaults:
    """The settings that reproduce a scenario (the page's starting values)."""

    cohort_size: int
    maladaptive_share: float
    pain_intensity: float
    seed: str


def scenario_defaults(base: Scenario) -> Defaults:
    """Starting values of the settings for ``base`` (cohort size clipped to the page's range)."""
    coping = base.params.coping
    mean = base.cohort.coping_mean or coping.trait_mean
    sd = base.cohort.coping_sd or coping.trait_sd
    size = min(max(base.cohort.size, COHORT_MIN), COHORT_MAX)
    # Rounded to the slider's 1 % steps; at this value the scenario's coping is kept as it is.
    share = round(maladaptive_share(mean, sd), 2)
    return Defaults(
        cohort_size=size,
        maladaptive_share=share,
        pain_intensity=float(base.params.pain.long_plateau),
        seed=str(base.scenario.seed),
    )


def arm_name(intervention: str, timing: str) -> str:
    """Name of the treatment arm, e.g. ``"CBT early"``."""
    return f"{intervention} {'early' if timing == EARLY else 'late'}"


def teaching_scenario(
    base: Scenario,
    *,
    cohort_size: int,
    maladaptive_share: float,
    pain_intensity: float,
    intervention: str,
    timing: str,
    seed: int,
) -> Scenario:
    """The scenario for a set of page settings (see the module docstring for the mapping).

    Raises
    ------
    ScenarioError
        If a setting is outside what the scenario format allows (one-line message).
    ValueError
        For an unknown intervention or timing.
    """
    if intervention not in INTERVENTIONS:
        raise ValueError(
            f"unknown intervention '{intervention}'; allowed: {', '.join(INTERVENTIONS)}"
        )
    if timing not in TIMINGS:
        raise ValueError(f"unknown timing '{timing}'; allowed: {', '.join(TIMINGS)}")
    data = base.model_dump(mode="json", exclude_none=True)
    for unused in ("study", "sweep"):  # designs for other commands; a sweep may name arms
        data.pop(unused, None)
    data["scenario"]["seed"] = int(seed)
    data["scenario"]["replicates"] = 1
    cohort = data["cohort"]
    cohort["size"] = int(cohort_size)
    defaults = scenario_defaults(base)
    if not math.isclose(maladaptive_share, defaults.maladaptive_share, abs_tol=1e-9):
        sd = base.cohort.coping_sd or base.params.coping.trait_sd
        cohort["coping_mean"] = coping_mean_for_share(maladaptive_share, sd)
    if pain_intensity != base.params.pain.long_plateau:
        data["parameters"] = {
            **data.get("parameters", {}),
            "pain.long_plateau": float(pain_intensity),
        }
    kind = INTERVENTIONS[intervention]
    data["arms"] = (
        []
        if kind is None
        else [
            {"name": USUAL_CARE},
            {
                "name": arm_name(intervention, timing),
                "interventions": [{"kind": kind, **TIMINGS[timing]}],
            },
        ]
    )
    return parse_scenario(data, "page settings")


@lru_cache(maxsize=1)
def base_scenario() -> Scenario:
    """The scenario the page starts from: ``$PAINSIM_APP_SCENARIO`` or ``classroom.toml``."""
    return load_scenario(os.environ.get(SCENARIO_ENV) or DEFAULT_SCENARIO)


# -- the model the page steps -----------------------------------------------------------------
class TeachingModel(mesa.Model):
    """A :class:`sim.core.model.PainModel` built from page settings, stepped one year at a time.

    With an intervention, the treatment arm (:attr:`cohort`) and its usual-care virtual twin
    (:attr:`twin`) are stepped in lockstep. A ``DataCollector`` records the plotted series
    (``SERIES``) at the start and after every step.

    Parameters
    ----------
    cohort_size, maladaptive_share, pain_intensity, intervention, timing, seed
        Page settings (see the module docstring); ``None`` keeps the base scenario's value.
        ``seed`` may be text, as typed into the page.
    patient
        Whose network is drawn: ``"maladaptive coper"`` or ``"adaptive coper"`` (the group
        member with the median years lived with pain at the start among those with a history).
    base
        Scenario to start from (default: :func:`base_scenario`).

    Examples
    --------
    >>> from sim.scenario import Scenario
    >>> base = Scenario.model_validate({"scenario": {"name": "demo", "years": 2, "dt_weeks": 4},
    ...                                 "cohort": {"size": 60}})
    >>> model = TeachingModel(intervention="CBT", base=base)
    >>> model.step()
    >>> model.year, model.running, model.twin is not None
    (1.0, True, True)
    """

    def __init__(
        self,
        *,
        cohort_size: int | None = None,
        maladaptive_share: float | None = None,
        pain_intensity: float | None = None,
        intervention: str = "none",
        timing: str = EARLY,
        seed: str | int | None = None,
        patient: str = MALADAPTIVE,
        base: Scenario | None = None,
    ):
        base = base or base_scenario()
        defaults = scenario_defaults(base)
        seed_value, self.notice = parse_seed(
            defaults.seed if seed is None else seed, base.scenario.seed
        )
        super().__init__(rng=seed_value)
        self.settings: dict[str, Any] = {
            "cohort_size": int(defaults.cohort_size if cohort_size is None else cohort_size),
            "maladaptive_share": float(
                defaults.maladaptive_share if maladaptive_share is None else maladaptive_share
            ),
            "pain_intensity": float(
                defaults.pain_intensity if pain_intensity is None else pain_intensity
            ),
            "intervention": intervention,
            "timing": timing,
            "seed": str(defaults.seed if seed is None else seed),
            "patient": patient,
        }
        self.scenario = teaching_scenario(
            base,
            cohort_size=self.settings["cohort_size"],
            maladaptive_share=self.settings["maladaptive_share"],
            pain_intensity=self.settings["pain_intensity"],
            intervention=intervention,
            timing=timing,
            seed=seed_value,
        )
        self.horizon = float(self.scenario.scenario.years)
        treated = INTERVENTIONS[intervention] is not None
        self.arm_label = arm_name(intervention, timing) if treated else USUAL_CARE
        self.cohort = PainModel(self.scenario, arm=self.arm_label)
        self.twin = PainModel(self.scenario, arm=USUAL_CARE) if treated else None
        self.maladaptive = self.cohort.cohort.coping_trait >= MALADAPTIVE_PCS
        self.patient_index = self._pick_patient(patient)
        self.patient_kind = patient
        self.summary: dict[str, float] = {}
        self.table: dict[str, np.ndarray] = {}
        self.datacollector = mesa.DataCollector(
            model_reporters={name: _reporter(name) for name in SERIES}
        )
        self._observe()
        self.datacollector.collect(self)

    @property
    def year(self) -> float:
        """Simulated years since the start."""
        return self.cohort.time_years

    @property
    def group_sizes(self) -> dict[str, int]:
        """Number of maladaptive and adaptive copers."""
        n_mal = int(self.maladaptive.sum())
        return {"maladaptive": n_mal, "adaptive": self.maladaptive.size - n_mal}

    def _pick_patient(self, kind: str) -> int:
        """Index of the patient to draw: the median pain history in the chosen coping group."""
        if kind not in PATIENTS:
            raise ValueError(f"unknown patient '{kind}'; allowed: {', '.join(PATIENTS)}")
        in_group = self.maladaptive if kind == MALADAPTIVE else ~self.maladaptive
        ylp = self.cohort.cohort.pain.years_with_pain
        members = np.flatnonzero(in_group & (ylp > 0))
        if members.size == 0:
            members = np.flatnonzero(in_group)
        if members.size == 0:
            return 0
        order = members[np.argsort(ylp[members], kind="stable")]
        return int(order[(order.size - 1) // 2])

    def step(self) -> None:
        """Advance both arms by one simulated year (less at a fractional horizon)."""
        target = min(self.year + 1.0, self.horizon)
        self.cohort.run_until(target)
        if self.twin is not None:
            self.twin.run_until(target)
        self._observe()
        self.datacollector.collect(self)
        self.running = self.year < self.horizon - 1e-9

    def _observe(self) -> None:
        """Snapshot the cohort (and twin) and reduce it to the plotted numbers."""
        table = self.cohort.snapshot()
        self.table = table
        mal = self.maladaptive
        perturbation, ylp = table["dmn_perturbation"], table["years_with_pain"]
        s: dict[str, float] = {
            "year": self.year,
            "perturbation": float(perturbation.mean()),
            "perturbation_adaptive": _mean(perturbation[~mal]),
            "perturbation_maladaptive": _mean(perturbation[mal]),
            "years_with_pain_adaptive": _mean(ylp[~mal]),
            "years_with_pain_maladaptive": _mean(ylp[mal]),
            "mean_years_with_pain": float(ylp.mean()),
            "untreated_adaptive": math.nan,
            "untreated_maladaptive": math.nan,
            "treated": math.nan,
        }
        for stage in STAGES:
            s[f"share_{stage}"] = float(np.mean(table["stage"] == stage))
        if self.twin is not None:
            twin = self.twin.snapshot()["dmn_perturbation"]
            s["untreated_adaptive"] = _mean(twin[~mal])
            s["untreated_maladaptive"] = _mean(twin[mal])
            s["treated"] = float(np.isfinite(table["enrolled_year"]).sum())
        self.summary = s

    def patient_networks(self) -> tuple[np.ndarray, np.ndarray]:
        """The drawn patient's (E,) connectivity now and without pain (same person, same age).

        "Without pain" is the same baseline and age with no adaptation and no current pain, so
        the difference is what pain has done to each connection.
        """
        rows = np.array([self.patient_index])
        now = self.cohort.connectivity(rows)[0]
        c, p = self.cohort.cohort, self.cohort.params
        zero = np.zeros(1)
        without = drift.connectivity(
            self.cohort.brain,
            p.brain,
            p.drift,
            c.baseline[rows],
            c.idiosyncrasy[rows],
            zero,
            zero,
            self.cohort.age[rows],
        )[0]
        return now, without


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else math.nan


def _reporter(name: str):
    def report(model: TeachingModel) -> float:
        return model.summary[name]

    report.__name__ = f"report_{name}"
    return report


# -- drawing ----------------------------------------------------------------------------------
# Each view owns one matplotlib Figure for the life of a model. Axes, text, outlines and legends
# are drawn once and kept as a bitmap; every year only the changing artists are drawn on top of
# it (blitting). A full redraw happens only when an axis range changes. Building axes and
# laying out text would otherwise cost most of the half second a year may take.
class _BlitView:
    """A figure whose ``dynamic`` artists are redrawn on a cached background."""

    figure: Figure
    dynamic: list[Any]

    def _start(self) -> None:
        self.canvas = FigureCanvasAgg(self.figure)
        for artist in self.dynamic:
            artist.set_animated(True)
        self._background = None
        self._limits: Any = None

    def _limits_now(self) -> Any:
        """Anything that, when it changes, needs a full redraw (e.g. axis ranges)."""
        return None

    def png(self) -> bytes:
        """The figure as PNG bytes, as it is now (call ``update`` first)."""
        limits = self._limits_now()
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


class DriftView(_BlitView):
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
            colour = GROUP_COLOURS[group]
            if treated:
                self.lines[f"untreated_{group}"] = top.plot([], [], color=colour, ls="--", lw=1.5)[
                    0
                ]
            self.lines[f"perturbation_{group}"] = top.plot(
                [], [], color=colour, lw=2.2, marker="o", ms=3
            )[0]
            self.lines[f"lower_{group}"] = bottom.plot(
                [], [], color=colour, lw=2, marker="o", ms=3, label=f"{group} copers"
            )[0]
            handles.append(
                mpl.lines.Line2D(
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
            handles[1:1] = [
                mpl.lines.Line2D(
                    [], [], color="0.25", lw=2.2, label=f"with {model.settings['intervention']}"
                )
            ]
            handles.append(
                mpl.lines.Line2D(
                    [], [], color="0.25", lw=1.5, ls="--", label="without (same people)"
                )
            )
        top.axhline(HEALTHY_LEVEL, color="0.5", lw=1, ls=":")
        top.text(
            0.2, HEALTHY_LEVEL, "typical healthy person", color="0.35", fontsize=8, va="bottom"
        )
        top.set_ylabel("DMN perturbation\n(healthy-SD units)")
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
            bottom.axhline(0.0, color="0.5", lw=1)
            bottom.set_ylabel("difference\n(with − without)")
            bottom.set_title(f"Effect of {model.arm_label} (below 0: brain protected)", fontsize=10)
        else:
            bottom.set_ylabel("years lived\nwith pain")
            bottom.set_title("Years lived with pain (mean per person)", fontsize=10)
        bottom.legend(fontsize=8, loc="upper left", frameon=False)
        bottom.set_xlabel("simulated years since the start")
        bottom.set_xlim(0, max(model.horizon, 1.0))
        bottom.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
        for ax in (top, bottom):
            ax.grid(alpha=0.25)
            ax.spines[["top", "right"]].set_visible(False)
        self.dynamic = list(self.lines.values())
        self._start()

    def _limits_now(self) -> Any:
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
        low = min(0.6, _step_floor(float(values.min()) - 0.05, 0.2)) if values.size else 0.6
        high = max(1.4, _step_ceil(float(values.max()) + 0.05, 0.2)) if values.size else 1.4
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
            self.bottom.set_ylim(0, max(2.0, _step_ceil(top_value * 1.1, 2.0)))
        return self.figure


def _step_floor(value: float, step: float) -> float:
    return math.floor(value / step + 1e-9) * step


def _step_ceil(value: float, step: float) -> float:
    return math.ceil(value / step - 1e-9) * step


@lru_cache(maxsize=2)
def _brain_outline(view: str) -> tuple[list, list[float]]:
    """Outline paths of nilearn's glass-brain schematic in MNI millimetres (cached)."""
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


class BrainView(_BlitView):
    """The healthy reference next to one patient's network, from above and from the side.

    Edge width is connection strength (r, edges at or above the graph threshold; in the
    patient's network also those pain pushed below it). In the patient's network the colour is
    how much pain has changed each connection compared with the same person without pain
    (:meth:`TeachingModel.patient_networks`). Regions are placed at their MNI coordinates.

    Parameters
    ----------
    model
        The model whose drawn patient (``patient_index``) is shown.
    """

    VIEWS: ClassVar[dict[str, tuple[int, int]]] = {"z": (0, 1), "x": (1, 2)}  # above; left side

    def __init__(self, model: TeachingModel):
        self.model = model
        brain = model.cohort.brain
        self.threshold = model.cohort.params.metrics.threshold
        self.cmap = mpl.colormaps["RdBu_r"]
        self.norm = mpl.colors.Normalize(-CHANGE_LIMIT, CHANGE_LIMIT)
        self.figure = fig = Figure(figsize=(5.6, 5.2), dpi=100)
        grid = fig.add_gridspec(
            3,
            3,
            width_ratios=[1, 1, 0.06],
            height_ratios=[1.15, 1, 0.12],
            left=0.02,
            right=0.88,
            top=0.83,
            bottom=0.02,
            wspace=0.05,
            hspace=0.08,
        )
        healthy = np.tanh(brain.healthy_z)
        self.patient_edges: list[LineCollection] = []
        self.overlay: list[Any] = []  # nodes and labels, drawn again over the patient's edges
        for row, view in enumerate(self.VIEWS):
            left = fig.add_subplot(grid[row, 0])
            edges, _ = self._network_axes(left, view)
            keep = healthy >= self.threshold
            edges.set_segments(self._segments(view)[keep])
            edges.set_linewidths(self._widths(healthy[keep]))
            edges.set_color("#8a8a8a")
            edges, overlay = self._network_axes(fig.add_subplot(grid[row, 1]), view)
            self.patient_edges.append(edges)
            self.overlay.extend(overlay)
        fig.text(
            0.25,
            0.86,
            "Healthy reference\n(average healthy adult)",
            ha="center",
            fontsize=9,
            weight="bold",
        )
        fig.text(0.66, 0.86, "This patient now", ha="center", fontsize=9, weight="bold")
        fig.text(0.01, 0.815, "seen from above", fontsize=7, color="0.4")
        fig.text(0.01, 0.37, "seen from the left side", fontsize=7, color="0.4")
        self.caption = fig.text(0.5, 0.99, "", ha="center", va="top", fontsize=8)
        bar = fig.colorbar(
            mpl.cm.ScalarMappable(self.norm, self.cmap), cax=fig.add_subplot(grid[0:2, 2])
        )
        bar.set_label("change caused by pain (r)\nblue: weaker · red: stronger", fontsize=7.5)
        bar.ax.tick_params(labelsize=7)
        legend_ax = fig.add_subplot(grid[2, 0:2])
        legend_ax.axis("off")
        handles = [
            mpl.lines.Line2D([], [], marker="o", ls="", color=colour, label=SUBSYSTEM_NAMES[s])
            for s, colour in SUBSYSTEM_COLOURS.items()
        ]
        legend_ax.legend(
            handles=handles,
            loc="center",
            ncol=4,
            fontsize=7,
            frameon=False,
            handletextpad=0.2,
            columnspacing=1.0,
        )
        self.dynamic = [*self.patient_edges, *self.overlay, self.caption]
        self._start()

    def _segments(self, view: str) -> np.ndarray:
        brain = self.model.cohort.brain
        h, v = self.VIEWS[view]
        rows, cols = brain.iu
        coords = brain.coords
        return np.stack([coords[rows][:, [h, v]], coords[cols][:, [h, v]]], axis=1)

    @staticmethod
    def _widths(r: np.ndarray) -> np.ndarray:
        return 0.4 + 3.5 * np.clip(r, 0.03, 1.0)

    def _network_axes(self, ax, view: str) -> tuple[LineCollection, list[Any]]:
        """Outline, nodes and labels of one view; returns its (empty) edges, nodes and labels."""
        brain = self.model.cohort.brain
        h, v = self.VIEWS[view]
        coords = brain.coords
        paths, widths = _brain_outline(view)
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
                c=[SUBSYSTEM_COLOURS[s] for s in brain.subsystems],
                edgecolors="white",
                linewidths=0.6,
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
        self.caption.set_text(_patient_caption(self.model))
        return self.figure


def drift_figure(model: TeachingModel) -> Figure:
    """A new figure of the plotted series (see :class:`DriftView`)."""
    return DriftView(model).update()


def brain_figure(model: TeachingModel) -> Figure:
    """A new figure of the drawn patient's network (see :class:`BrainView`)."""
    return BrainView(model).update()


def _patient_caption(model: TeachingModel) -> str:
    i, t = model.patient_index, model.table
    enrolled = t["enrolled_year"][i]
    treatment = (
        f" · {model.settings['intervention']} in year {enrolled:.0f}"
        if np.isfinite(enrolled)
        else ""
    )
    stage = str(t["stage"][i])
    now = "no pain" if stage == "none" else f"{stage} pain, {t['pain'][i]:.1f}/10"
    return (
        f"Patient {i} ({model.patient_kind}): age {t['age'][i]:.0f}, "
        f"catastrophizing {t['coping'][i]:.0f}/52\n"
        f"{t['years_with_pain'][i]:.1f} years lived with pain · now: {now} · "
        f"DMN perturbation {t['dmn_perturbation'][i]:.2f}{treatment}"
    )


def figure_png(fig: Figure) -> bytes:
    """A figure as PNG bytes (a full draw, e.g. for a file; the page uses ``png()``)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


# -- page -------------------------------------------------------------------------------------
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


def _monitor(label: str, value: str, name: str) -> None:
    with solara.v.Sheet(
        class_="pa-2 ma-1 painsim-monitor",
        style_="min-width: 120px; background: #f3f6fa; "
        "border: 1px solid #d5dde8; border-radius: 6px",
        attributes={"data-monitor": name},
    ):
        solara.Text(label, style={"font-size": "0.75rem", "color": "#555"})
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
        _monitor("year", f"{s['year']:.0f} of {model.horizon:g}", "year")
        _monitor("people", f"{model.maladaptive.size:,}", "people")
        for stage in STAGES:
            _monitor(f"{STAGE_LABELS[stage]}", f"{100 * s[f'share_{stage}']:.1f} %", stage)
        _monitor(
            "mean years lived with pain", f"{s['mean_years_with_pain']:.2f}", "years_with_pain"
        )
        _monitor("mean DMN perturbation", f"{s['perturbation']:.2f}", "perturbation")
        if model.twin is not None:
            share = s["treated"] / model.maladaptive.size
            _monitor(
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
red and the blue line.</li>
<li><b>Treatment and its timing:</b> choose a treatment and when it starts, press <b>Reset</b>,
then &#9654;. Dashed lines are the <i>same people without treatment</i> (virtual twins: same
people, same luck), so every gap between a solid and a dashed line is caused by the treatment.
Try early, then late, and watch how many people each reaches.</li>
<li><b>The brain:</b> one patient's network next to the healthy reference, seen from above and
from the left. Thicker lines are stronger connections; blue ones have weakened and red ones
strengthened because of pain.</li>
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


# -- serving ----------------------------------------------------------------------------------
def server_command(host: str, port: int) -> list[str]:
    """The ``solara run`` command line for this page (no browser, no version check)."""
    return [
        sys.executable,
        "-m",
        "solara",
        "run",
        "sim.interfaces.app",
        "--host",
        host,
        "--port",
        str(port),
        "--no-open",
        "--no-check-version",
        "--production",
    ]


def server_env(scenario: Path | None) -> dict[str, str]:
    """Environment for the server: no telemetry, headless matplotlib, the scenario to start."""
    env = dict(os.environ)
    env.update(
        {
            "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",
            "MPLBACKEND": "Agg",
            "SOLARA_THEME_SHOW_BANNER": "False",
        }
    )
    if scenario is not None:
        env[SCENARIO_ENV] = str(Path(scenario).resolve())
    else:
        env.pop(SCENARIO_ENV, None)
    return env


def serve(scenario: Path | None, host: str = "127.0.0.1", port: int = 8765) -> int:
    """Run the Solara server for the page in the foreground.

    On POSIX systems the current process becomes the server (``os.execve``), so signals such
    as Ctrl-C or a test's terminate reach it directly; elsewhere it runs as a child process and
    its exit code is returned.

    Parameters
    ----------
    scenario
        Scenario file to start from, or None for ``scenarios/classroom.toml``.
    host, port
        Where to listen; loopback by default, so nobody else on the network can reach it.

    Raises
    ------
    ScenarioError
        If the scenario file is missing or invalid (checked before the server starts).
    """
    load_scenario(scenario if scenario is not None else DEFAULT_SCENARIO)
    command, env = server_command(host, port), server_env(scenario)
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        os.execve(command[0], command, env)
    try:
        return subprocess.call(command, env=env)
    except KeyboardInterrupt:
        return 0


__all__ = [
    "EARLY",
    "INTERVENTIONS",
    "LATE",
    "MALADAPTIVE_PCS",
    "TIMINGS",
    "Page",
    "ScenarioError",
    "TeachingModel",
    "brain_figure",
    "coping_mean_for_share",
    "drift_figure",
    "maladaptive_share",
    "model_params",
    "parse_seed",
    "serve",
    "teaching_scenario",
]
