"""The teaching page's model: page settings -> a validated scenario -> :class:`PainModel`.

There is no second model: :class:`TeachingModel` turns the page's settings into a
:class:`sim.scenario.Scenario` (re-validated by :func:`sim.scenario.parse_scenario`) and runs
:class:`sim.core.model.PainModel` on it, reading it only through the model's observation methods
(``snapshot``, ``connectivity``, ``pain_free_connectivity``, ``coping_trait``).

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
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import mesa
import numpy as np
from scipy.optimize import brentq, minimize_scalar
from scipy.stats import beta as beta_dist

from sim.core.brain import Brain
from sim.core.coping import PCS_MAX
from sim.core.model import PainModel
from sim.core.pain import STAGES
from sim.scenario import USUAL_CARE, Scenario, load_scenario, parse_scenario

SCENARIO_ENV = "PAINSIM_APP_SCENARIO"
DEFAULT_SCENARIO = Path(__file__).resolve().parents[3] / "scenarios" / "classroom.toml"
MALADAPTIVE_PCS = 30.0  # PCS >= 30: clinically relevant catastrophizing (Sullivan 1995 manual)
COHORT_MIN, COHORT_MAX, COHORT_STEP = 50, 3000, 50
SHARE_MIN, SHARE_MAX = 0.05, 0.60
PAIN_MIN, PAIN_MAX = 1.0, 8.0
LATE_YEARS_WITH_PAIN = 10.0

INTERVENTIONS: dict[str, str | None] = {
    "none": None,
    "CBT": "cbt",
    "ACT": "act",
    "mindfulness": "mindfulness",
    # rTMS over M1 (the pain trials' site): pain relief for weeks, no DMN effect of its own
    # (none was found; science brief §5). The label says so, since the page shows the DMN.
    "TMS (M1)": "tms",
}
EARLY = "early (subacute stage)"
LATE = f"late (after {LATE_YEARS_WITH_PAIN:g} years with pain)"
TIMINGS: dict[str, dict[str, Any]] = {
    EARLY: {"at_stage": "subacute", "eligible_stages": ["subacute"]},
    LATE: {"at_years_with_pain": LATE_YEARS_WITH_PAIN},
}
MALADAPTIVE, ADAPTIVE = "maladaptive coper", "adaptive coper"
PATIENTS = (MALADAPTIVE, ADAPTIVE)
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

    With an intervention, the treatment arm (:attr:`pain_model`) and its usual-care virtual
    twin (:attr:`twin`, else None) are stepped in lockstep. Both are read only through
    :class:`PainModel`'s observation methods. A ``DataCollector`` records the plotted series
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
        self.pain_model = PainModel(self.scenario, arm=self.arm_label)
        self.twin = PainModel(self.scenario, arm=USUAL_CARE) if treated else None
        self.maladaptive = self.pain_model.coping_trait() >= MALADAPTIVE_PCS
        self.summary: dict[str, float] = {}
        self.table: dict[str, np.ndarray] = {}
        self.datacollector = mesa.DataCollector(
            model_reporters={name: _reporter(name) for name in SERIES}
        )
        self._observe()
        self.patient_index = self._pick_patient(patient)
        self.patient_kind = patient
        self.datacollector.collect(self)

    @property
    def year(self) -> float:
        """Simulated years since the start."""
        return self.pain_model.time_years

    @property
    def size(self) -> int:
        """Number of people in the cohort."""
        return int(self.maladaptive.size)

    @property
    def brain(self) -> Brain:
        """The brain network template (regions, coordinates, edges, healthy reference)."""
        return self.pain_model.brain

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
        ylp = self.table["years_with_pain"]  # at the start: the history before it
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
        self.pain_model.run_until(target)
        if self.twin is not None:
            self.twin.run_until(target)
        self._observe()
        self.datacollector.collect(self)
        self.running = self.year < self.horizon - 1e-9

    def _observe(self) -> None:
        """Snapshot the cohort (and twin) and reduce it to the plotted numbers."""
        table = self.pain_model.snapshot()
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
        now = self.pain_model.connectivity(rows)[0]
        without = self.pain_model.pain_free_connectivity(rows)[0]
        return now, without


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else math.nan


def _reporter(name: str):
    def report(model: TeachingModel) -> float:
        return model.summary[name]

    report.__name__ = f"report_{name}"
    return report
