"""Treatments as small classes: when a patient gets one, how much of it, and what it does.

Every intervention shares one delivery model and one effect model; the classes differ in their
validated, sourced defaults (brief §5) and documented mechanism.

*Who and when.* Without a trigger, everyone eligible at ``start_year`` is enrolled then, once
(a trial's recruitment). With a trigger, patients are enrolled from ``start_year`` on, at the
end of the first step in which it holds (``at_stage``: the current episode is in that stage;
``at_years_with_pain``: years lived with pain have reached the value). Eligibility filters:
stage, years-with-pain range, coping score and reported pain. Each patient is enrolled at most
once per intervention.
Enrolled patients take up treatment with probability ``uptake``; every one of the ``sessions``
is attended with probability ``adherence`` until the patient drops out (probability
``dropout`` after each session). The dose is the share of sessions attended.

*What it does.* With dose q, enrolment at t₀ and a course of length L, the effect level is

    ℓ(t) = q · (t − t₀)/L                     during the course,
    ℓ(t) = q · 2^(−(t − t_last)/T½)           afterwards,

where t_last is the end of the course or the latest booster (``boosters`` sessions every
``booster_every_weeks``, each restoring the post-course level). The level scales three
mechanisms:

* ``coping_effect`` (PCS points): ρ · coping_effect · ℓ is subtracted from the catastrophizing
  score, where ρ is the patient's responsiveness (Gamma with mean 1 and shape
  ``response_shape``: patients differ widely in how much a treatment helps them);
* ``pain_effect`` (fraction): pain intensity is multiplied by
  (1 − min(ρ · pain_effect · ℓ, max_relief)) (``max_relief``, 0.95 by default: no treatment
  removes all of anyone's pain);
* ``dmn_effect`` (fraction, own half-life ``dmn_half_life_weeks``): the expressed connectivity
  drift on each edge is multiplied by (1 − dmn_effect · ℓ_dmn · w_edge), with per-edge weights
  from per-region ``target_weights`` — a stimulus, as a time profile times per-region weights.

Lower catastrophizing and pain slow the drift too, because both enter the drift rate.
All random draws (uptake, attendance, baseline pain report) are made once per patient from a
stream of their own, so arms that share an intervention share its luck (common random numbers).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
from pydantic import ConfigDict, Field, field_validator, model_validator

from sim.core.brain import REGION_NAMES, SALIENCE_STEM, Brain, is_region_name
from sim.core.pain import STAGES, WEEKS_PER_YEAR
from sim.core.paramgroup import ParamGroup, param

Stage = Literal["acute", "subacute", "chronic"]
CALIBRATED = (
    "calibrated jointly to the trials: posterior median of scenarios/calibration_interventions.toml"
)
"""Source note of the intervention effects fitted by ABC (docs/model.md, "Calibration of the
interventions": the targets, the fit and the misfits)."""
MAX_RELIEF = 0.95
"""Default ``max_relief``: no treatment removes all of anyone's pain (assumption)."""
STAGE_CODE = {name: code for code, name in enumerate(STAGES)}


class Intervention(ParamGroup):
    """Timing, eligibility and delivery shared by every intervention (base class)."""

    kind: str
    start_year: float = param(
        0.0,
        unit="years",
        ge=0,
        source="scenario design",
        doc="earliest simulation year of enrolment",
    )
    at_stage: Stage | None = param(
        None,
        unit="-",
        source="scenario design",
        doc="enrol when the current episode is in this stage",
    )
    at_years_with_pain: float | None = param(
        None,
        unit="years",
        ge=0,
        source="scenario design",
        doc="enrol once years lived with pain reach this value",
    )
    eligible_stages: list[Stage] = param(
        ["acute", "subacute", "chronic"],
        unit="-",
        source="scenario design",
        doc="stages in which a patient can be enrolled",
    )
    min_years_with_pain: float = param(
        0.0,
        unit="years",
        ge=0,
        source="scenario design",
        doc="eligibility: at least this many years with pain",
    )
    max_years_with_pain: float = param(
        200.0,
        unit="years",
        ge=0,
        source="scenario design",
        doc="eligibility: at most this many years with pain",
    )
    min_coping: float = param(
        0.0,
        unit="PCS points",
        ge=0,
        le=52,
        source="scenario design",
        doc="eligibility: catastrophizing at least this",
    )
    min_pain: float = param(
        0.0,
        unit="NRS 0-10",
        ge=0,
        le=10,
        source="scenario design",
        doc="eligibility: reported pain at least this",
    )
    uptake: float = param(
        1.0,
        unit="probability",
        ge=0,
        le=1,
        source="scenario design",
        doc="probability that an enrolled patient starts treatment",
    )
    sessions: int = param(1, unit="sessions", ge=1, le=500, source="-", doc="course length")
    sessions_per_week: float = param(
        1.0, unit="1/week", gt=0, le=14, source="-", doc="session frequency"
    )
    adherence: float = param(
        1.0, unit="probability", ge=0, le=1, source="-", doc="probability of attending each session"
    )
    dropout: float = param(
        0.0,
        unit="probability",
        ge=0,
        le=1,
        source="-",
        doc="probability of stopping after each session",
    )
    boosters: int = param(
        0,
        unit="sessions",
        ge=0,
        le=500,
        source="scenario design",
        doc="booster or maintenance sessions after the course",
    )
    booster_every_weeks: float = param(
        12.0, unit="weeks", gt=0, le=520, source="scenario design", doc="interval between boosters"
    )
    coping_effect: float = param(
        0.0,
        unit="PCS points at full dose",
        ge=0,
        le=52,
        source="-",
        doc="reduction of the catastrophizing score",
    )
    pain_effect: float = param(
        0.0,
        unit="fraction at full dose",
        ge=0,
        lt=1,
        source="-",
        doc="relative reduction of pain intensity",
    )
    max_relief: float = param(
        MAX_RELIEF,
        unit="fraction",
        gt=0,
        le=1,
        plausible="0.8-1",
        source="assumption: no treatment removes all of anyone's pain, however strongly they "
        "respond (caps responsiveness x effect x level)",
        doc="largest relative pain relief one treatment can give a patient",
    )
    half_life_weeks: float = param(
        17.0,
        unit="weeks",
        gt=0,
        le=52_000,
        source="-",
        doc="fading of the coping and pain effects after the course",
    )
    dmn_effect: float = param(
        0.0,
        unit="fraction at full dose",
        ge=0,
        le=1,
        source="-",
        doc="share of expressed drift removed on fully targeted edges",
    )
    dmn_half_life_weeks: float = param(
        3.0,
        unit="weeks",
        gt=0,
        le=52_000,
        source="-",
        doc="fading of the DMN effect after the course",
    )
    target_weights: dict[str, float] = param(
        {},
        unit="0-1 per region",
        source="-",
        doc="per-region stimulus weights (abbreviation -> weight); others get other_weight",
    )
    other_weight: float = param(
        1.0,
        unit="0-1",
        ge=0,
        le=1,
        source="-",
        doc="stimulus weight of regions not in target_weights",
    )
    response_shape: float = param(
        1.0,
        unit="-",
        gt=0,
        le=1000,
        plausible="0.2-5",
        source="assumption, calibrated so that small mean effects (Williams 2012 SMDs) and "
        "large responder differences (Cherkin 2016) hold together",
        doc="Gamma shape of each patient's responsiveness (mean 1; small = heterogeneous)",
    )

    # Strict, as scenario sections are: a boolean or a quoted number is not a number.
    model_config = ConfigDict(strict=True)

    @field_validator("target_weights")
    @classmethod
    def _known_regions(cls, weights: dict[str, float]) -> dict[str, float]:
        for name in weights:
            if not is_region_name(name):
                close = difflib.get_close_matches(name, REGION_NAMES, n=1, cutoff=0.5)
                hint = f"did you mean '{close[0]}'? " if close else ""
                raise ValueError(
                    f"unknown region '{name}'; {hint}regions: {', '.join(REGION_NAMES)} "
                    f"(Seitzman atlas: <region>.<index> or {SALIENCE_STEM})"
                )
        return weights

    @model_validator(mode="after")
    def _possible(self) -> Intervention:
        if self.min_years_with_pain > self.max_years_with_pain:
            raise ValueError("impossible eligibility: min_years_with_pain > max_years_with_pain")
        if not self.eligible_stages:
            raise ValueError("impossible eligibility: eligible_stages is empty")
        if self.at_stage is not None and self.at_stage not in self.eligible_stages:
            raise ValueError(
                f"impossible eligibility: at_stage '{self.at_stage}' is not in "
                f"eligible_stages {self.eligible_stages}"
            )
        if self.at_years_with_pain is not None and not (
            self.min_years_with_pain <= self.at_years_with_pain <= self.max_years_with_pain
        ):
            raise ValueError(
                "impossible eligibility: at_years_with_pain is outside "
                "[min_years_with_pain, max_years_with_pain]"
            )
        bad = [w for w in self.target_weights.values() if not 0 <= w <= 1]
        if bad:
            raise ValueError(f"target_weights must lie in [0, 1], got {bad[0]}")
        return self

    @property
    def course_years(self) -> float:
        return self.sessions / self.sessions_per_week / WEEKS_PER_YEAR


def _psychological_response_shape() -> float:
    """The responsiveness spread shared by CBT, ACT and mindfulness (one calibration)."""
    return param(
        0.311,
        unit="-",
        gt=0,
        le=1000,
        plausible="0.2-5",
        source=f"{CALIBRATED} (95 % CI 0.22-2.7): small pain SMDs after treatment "
        "(Williams 2012) and large responder gaps (Cherkin 2016) hold together only if "
        "responses are heterogeneous",
        doc="Gamma shape of each patient's responsiveness (mean 1; small = heterogeneous)",
    )


class UsualCare(Intervention):
    """Usual care: enrolment with the same rules as a treatment arm, and no added effect.

    It marks who would have been treated, so trial outcomes (responders) can be computed in
    the control arm exactly as in the treatment arms.
    """

    kind: Literal["usual_care"] = "usual_care"


class CBT(Intervention):
    """Cognitive behavioural therapy: 8 weekly sessions; mainly lowers catastrophizing.

    Catastrophizing SMD -0.53 and pain SMD -0.21 after treatment vs usual care; the effects
    fade over months (Williams 2012 Cochrane [C]); responders at 26 weeks 45 % vs usual care
    27 % (Cherkin 2016 [C]). Full-dose effects are calibrated so that the trial-like scenarios
    reproduce these figures after uptake and adherence (docs/model.md, Interventions).
    """

    kind: Literal["cbt"] = "cbt"
    sessions: int = param(
        8,
        unit="sessions",
        ge=1,
        le=500,
        source="Cherkin 2016: 8 weekly 2-h groups [C]",
        doc="course length",
    )
    uptake: float = param(
        0.88,
        unit="probability",
        ge=0,
        le=1,
        source="Cherkin 2016: 88 % attended >= 1 class [C]",
        doc="probability that an enrolled patient starts treatment",
    )
    adherence: float = param(
        0.75,
        unit="probability",
        ge=0,
        le=1,
        source="calibrated: 57 % attend >= 6 of 8 classes (Cherkin 2016 [C])",
        doc="probability of attending each session",
    )
    coping_effect: float = param(
        16.3,
        unit="PCS points at full dose",
        ge=0,
        le=52,
        source=f"{CALIBRATED} (95 % CI 1.3-23): catastrophizing SMD -0.53 after treatment "
        "(Williams 2012 [C])",
        doc="reduction of the catastrophizing score",
    )
    pain_effect: float = param(
        0.184,
        unit="fraction at full dose",
        ge=0,
        lt=1,
        source=f"{CALIBRATED} (95 % CI 0.042-0.37): pain SMD -0.21 (-0.37 to -0.05) after "
        "treatment (Williams 2012 [C]) and Cherkin 2016 responders at 26 weeks [C]",
        doc="relative reduction of pain intensity",
    )
    response_shape: float = _psychological_response_shape()
    half_life_weeks: float = param(
        52.9,
        unit="weeks",
        gt=0,
        le=52_000,
        source=f"{CALIBRATED} (95 % CI 16-97; prior 13-104 weeks between Williams 2012, "
        "pain effect near zero at 6-12 months [C], and Cherkin 2016, still better than usual "
        "care at 52 weeks [M]; conflict noted in docs/model.md)",
        doc="fading of the coping and pain effects after the course",
    )


class ACT(Intervention):
    """Acceptance and commitment therapy: acceptance-based; effects better maintained.

    Pain g about -0.40 (Hwang 2019, 11 RCTs [C]); small effects maintained at follow-up
    (Veehof 2016 [C]).
    """

    kind: Literal["act"] = "act"
    sessions: int = param(
        8,
        unit="sessions",
        ge=1,
        le=500,
        source="typically 4-8 sessions (brief §5)",
        doc="course length",
    )
    uptake: float = param(
        0.88,
        unit="probability",
        ge=0,
        le=1,
        source="assumption: as CBT in Cherkin 2016",
        doc="probability that an enrolled patient starts treatment",
    )
    adherence: float = param(
        0.75,
        unit="probability",
        ge=0,
        le=1,
        source="assumption: as CBT in Cherkin 2016",
        doc="probability of attending each session",
    )
    coping_effect: float = param(
        10.0,
        unit="PCS points at full dose",
        ge=0,
        le=52,
        source="assumption: acceptance g 1.24 (Hwang 2019 [C]) is not "
        "PCS; taken a little below CBT",
        doc="reduction of the catastrophizing score",
    )
    pain_effect: float = param(
        0.63,
        unit="fraction at full dose",
        ge=0,
        lt=1,
        source=f"{CALIBRATED} (95 % CI 0.16-0.79): pain g -0.40 after treatment (Hwang 2019 [C])",
        doc="relative reduction of pain intensity",
    )
    response_shape: float = _psychological_response_shape()
    half_life_weeks: float = param(
        78.0,
        unit="weeks",
        gt=0,
        le=52_000,
        source=("assumption: better maintained than CBT (Veehof 2016 [C])"),
        doc="fading of the coping and pain effects after the course",
    )


class Mindfulness(Intervention):
    """Mindfulness-based stress reduction: 8 weekly sessions; response rates like CBT.

    Responders at 26 weeks 44 % vs usual care 27 % (Cherkin 2016 [C]); small pain effects in
    meta-analyses (Hilton 2017 [C]). An optional direct DMN effect (default small; meditation
    is thought to quiet the DMN) is exposed for sweeping.
    """

    kind: Literal["mindfulness"] = "mindfulness"
    sessions: int = param(
        8, unit="sessions", ge=1, le=500, source="Cherkin 2016 [C]", doc="course length"
    )
    uptake: float = param(
        0.89,
        unit="probability",
        ge=0,
        le=1,
        source="Cherkin 2016: 89 % attended >= 1 class [C]",
        doc="probability that an enrolled patient starts treatment",
    )
    adherence: float = param(
        0.72,
        unit="probability",
        ge=0,
        le=1,
        source="calibrated: 51 % attend >= 6 of 8 classes (Cherkin 2016 [C])",
        doc="probability of attending each session",
    )
    coping_effect: float = param(
        8.0,
        unit="PCS points at full dose",
        ge=0,
        le=52,
        source="assumption: smaller than CBT's",
        doc="reduction of the catastrophizing score",
    )
    pain_effect: float = param(
        0.432,
        unit="fraction at full dose",
        ge=0,
        lt=1,
        source=f"{CALIBRATED} (95 % CI 0.081-0.85): MBSR responders at 26 weeks, Cherkin 2016 [C]",
        doc="relative reduction of pain intensity",
    )
    half_life_weeks: float = param(
        52.0,
        unit="weeks",
        gt=0,
        le=52_000,
        source=("assumption: as CBT (Cherkin 2016)"),
        doc="fading of the coping and pain effects after the course",
    )
    response_shape: float = _psychological_response_shape()
    dmn_effect: float = param(
        0.05,
        unit="fraction at full dose",
        ge=0,
        le=1,
        source="assumption: optional direct DMN effect, default small",
        doc="share of expressed drift removed on fully targeted edges",
    )
    dmn_half_life_weeks: float = param(
        26.0, unit="weeks", gt=0, le=52_000, source="assumption", doc="fading of the DMN effect"
    )


class TMS(Intervention):
    """Repetitive transcranial magnetic stimulation over M1 or the left DLPFC: pain relief.

    The rTMS evidence for chronic pain is for high-frequency stimulation of the motor cortex
    (M1; O'Connell 2018 Cochrane [C]) and of the left DLPFC (meta-analysis, brief §5 [C]):
    about 0.8 points less pain than sham at 4-8 weeks (2017 meta-analysis [C]), fading within
    weeks unless maintenance sessions continue. No effect of TMS on the default mode network
    was found (brief §5 [NF]), and neither site is a node of painsim's DMN graph, so by default
    TMS acts on pain only (``dmn_effect = 0``). A scenario can posit a DMN effect: it sets
    ``dmn_effect`` and names the DMN regions the stimulation reaches in ``target_weights``.
    """

    kind: Literal["tms"] = "tms"
    target: Literal["M1", "left DLPFC"] = param(
        "M1",
        unit="-",
        source="O'Connell 2018 Cochrane: high-frequency motor-cortex (M1) rTMS [C]; left DLPFC "
        "meta-analysis (brief §5) [C]; neither site is in the DMN graph",
        doc="cortical site stimulated (the evidence painsim's pain effect rests on)",
    )
    sessions: int = param(
        15,
        unit="sessions",
        ge=1,
        le=500,
        source="5-20 sessions (Ambriz-Tututi 2016; Freigang 2021 [C])",
        doc="course length",
    )
    sessions_per_week: float = param(
        5.0,
        unit="1/week",
        gt=0,
        le=14,
        source="daily sessions on weekdays (Ambriz-Tututi 2016 [C])",
        doc="session frequency",
    )
    adherence: float = param(
        0.95,
        unit="probability",
        ge=0,
        le=1,
        source="assumption",
        doc="probability of attending each session",
    )
    pain_effect: float = param(
        0.345,
        unit="fraction at full dose",
        ge=0,
        lt=1,
        source=f"{CALIBRATED} (95 % CI 0.027-0.69): 0.79/10 less pain than sham 4-8 weeks "
        "after the start (2017 meta-analysis [C])",
        doc="relative reduction of pain intensity",
    )
    half_life_weeks: float = param(
        4.0,
        unit="weeks",
        gt=0,
        le=52_000,
        source="O'Connell 2018: effects mostly short-term [M]",
        doc="fading of the pain effect after the course",
    )
    dmn_effect: float = param(
        0.0,
        unit="fraction at full dose",
        ge=0,
        le=1,
        source="no DMN effect of rTMS in pain was found (brief §5 [NF]); the evidence is for M1 "
        "and left DLPFC, outside the DMN graph; a scenario may posit one (with target_weights)",
        doc="share of expressed drift removed on fully targeted edges",
    )
    dmn_half_life_weeks: float = param(
        3.0,
        unit="weeks",
        gt=0,
        le=52_000,
        source="assumption: an effect on connectivity, if posited, fades within weeks without "
        "maintenance",
        doc="fading of the DMN effect after the course",
    )
    target_weights: dict[str, float] = param(
        {},
        unit="0-1 per region",
        source="none by default (M1 and DLPFC are not DMN regions); a scenario positing a DMN "
        "effect names the regions, e.g. {aMPFC = 1, dMPFC = 1, vMPFC = 1}",
        doc="per-region stimulus weights of a posited DMN effect",
    )
    other_weight: float = param(
        0.0,
        unit="0-1",
        ge=0,
        le=1,
        source="assumption: a posited DMN effect reaches only the regions named in target_weights",
        doc="stimulus weight of regions not in target_weights",
    )

    @model_validator(mode="after")
    def _posited(self) -> TMS:
        if self.dmn_effect > 0 and not self.target_weights and self.other_weight == 0:
            raise ValueError(
                "dmn_effect > 0 needs target_weights: the DMN regions the stimulation reaches "
                "(TMS over M1 or the left DLPFC has no node in the DMN graph)"
            )
        return self


class PRT(Intervention):
    """Pain reprocessing therapy: a large-effect example arm (Ashar 2022).

    1 telehealth + 8 sessions over 4 weeks; pain 4.22 -> 1.18 vs usual care 3.91 -> 3.13, 66 %
    pain-free or nearly vs 10 %; largely maintained at one year (1.51 vs 3.00) [C]. The effect
    was mediated by reduced beliefs that pain means damage (modelled on the coping score).
    Critics call the effect too good to be true (brief §5).
    """

    kind: Literal["prt"] = "prt"
    sessions: int = param(
        9, unit="sessions", ge=1, le=500, source="Ashar 2022 [C]", doc="course length"
    )
    sessions_per_week: float = param(
        2.25,
        unit="1/week",
        gt=0,
        le=14,
        source="Ashar 2022: 9 sessions in 4 weeks [C]",
        doc="session frequency",
    )
    adherence: float = param(
        0.95,
        unit="probability",
        ge=0,
        le=1,
        source="assumption",
        doc="probability of attending each session",
    )
    coping_effect: float = param(
        10.0,
        unit="PCS points at full dose",
        ge=0,
        le=52,
        source="assumption: large change in pain beliefs (Ashar 2022)",
        doc="reduction of the catastrophizing score",
    )
    pain_effect: float = param(
        0.894,
        unit="fraction at full dose",
        ge=0,
        lt=1,
        source=f"{CALIBRATED} (95 % CI 0.65-0.94): pain 4.22 -> 1.18 and 66 % pain-free or "
        "nearly after treatment (Ashar 2022 [C])",
        doc="relative reduction of pain intensity",
    )
    half_life_weeks: float = param(
        520.0,
        unit="weeks",
        gt=0,
        le=52_000,
        source="Ashar 2022: largely maintained at 1 year [C]",
        doc="fading of the coping and pain effects after the course",
    )
    response_shape: float = param(
        2.58,
        unit="-",
        gt=0,
        le=1000,
        plausible="0.2-5",
        source=f"{CALIBRATED} (95 % CI 0.97-4.8): 66 % pain-free or nearly (Ashar 2022 [C]) "
        "means most respond",
        doc="Gamma shape of each patient's responsiveness (mean 1; small = heterogeneous)",
    )


KINDS: dict[str, type[Intervention]] = {
    cls.model_fields["kind"].default: cls for cls in (UsualCare, CBT, ACT, Mindfulness, TMS, PRT)
}
AnyIntervention = Annotated[
    UsualCare | CBT | ACT | Mindfulness | TMS | PRT, Field(discriminator="kind")
]


def effect_level(
    t: float,
    enrolled_at: np.ndarray,
    dose: np.ndarray,
    course_years: float,
    half_life_years: float,
    boosters: int,
    booster_every_years: float,
) -> np.ndarray:
    """Effect level ℓ(t) per patient (see module docstring); 0 before enrolment or untreated."""
    since = t - enrolled_at
    course_end = enrolled_at + course_years
    after = t - course_end
    done = np.clip(np.floor(np.maximum(after, 0.0) / booster_every_years), 0, boosters)
    last = course_end + done * booster_every_years
    ramp = np.clip(since / course_years, 0.0, 1.0)
    level = np.where(after > 0, 2.0 ** (-(t - last) / half_life_years), ramp)
    return np.where(since >= 0, dose * level, 0.0)  # NaN enrolment compares False


def edge_weights(brain: Brain, spec: Intervention) -> np.ndarray:
    """(E,) stimulus weight of each edge: the mean of its two regions' weights."""

    def weight(abbrev: str) -> float:
        for key, w in spec.target_weights.items():
            if abbrev == key or abbrev.startswith(f"{key}."):
                return w
        return spec.other_weight

    region = np.array([weight(a) for a in brain.names])
    rows, cols = brain.iu
    return (region[rows] + region[cols]) / 2.0


@dataclass
class Delivery:
    """One intervention in one model run: who was enrolled when, and the dose they received."""

    spec: Intervention
    enrolled_at: np.ndarray
    dose: np.ndarray
    response: np.ndarray
    baseline_pain: np.ndarray
    report_noise: np.ndarray
    edge_weights: np.ndarray
    recruited: bool = False

    @classmethod
    def new(
        cls, spec: Intervention, rng: np.random.Generator, report_noise: np.ndarray, brain: Brain
    ) -> Delivery:
        """Draw every patient's uptake, attendance and responsiveness once (common numbers).

        ``report_noise`` (N,) is the noise of each patient's pain report at enrolment; it is
        shared by all interventions and arms, so eligibility on reported pain picks the same
        patients everywhere.
        """
        n = report_noise.size
        took_up = rng.random(n) < spec.uptake
        attend = rng.random((spec.sessions, n)) < spec.adherence
        stays = np.cumprod(
            np.vstack([np.ones((1, n), bool), rng.random((spec.sessions - 1, n)) >= spec.dropout]),
            axis=0,
        ).astype(bool)
        dose = np.where(took_up, (attend & stays).mean(axis=0), 0.0)
        response = rng.gamma(spec.response_shape, 1.0 / spec.response_shape, n)
        return cls(
            spec=spec,
            enrolled_at=np.full(n, np.nan),
            dose=dose,
            response=response,
            baseline_pain=np.full(n, np.nan),
            report_noise=report_noise,
            edge_weights=edge_weights(brain, spec),
        )

    def is_open(self, t: float) -> bool:
        """Whether anyone can be enrolled at time ``t`` (before the start or after a one-off
        recruitment nobody can)."""
        s = self.spec
        triggered = s.at_stage is not None or s.at_years_with_pain is not None
        return t >= s.start_year - 1e-9 and (triggered or not self.recruited)

    def enroll(
        self,
        t: float,
        stage: np.ndarray,
        years_with_pain: np.ndarray,
        coping: Callable[[], np.ndarray],
        pain_now: Callable[[], np.ndarray],
        report_sd: float,
    ) -> None:
        """Enrol the patients for whom trigger and eligibility hold at time ``t`` (in place).

        ``coping`` and ``pain_now`` give everyone's (N,) catastrophizing score and pain now;
        they are called only if someone passes the other rules (in most steps of a triggered
        intervention nobody does, and they cost most of a small cohort's enrolment).
        """
        s = self.spec
        if not self.is_open(t):
            return
        self.recruited = True
        eligible = np.isnan(self.enrolled_at)
        allowed = np.zeros(len(STAGES), bool)
        allowed[[STAGE_CODE[x] for x in s.eligible_stages]] = True
        eligible &= allowed[stage]
        eligible &= (years_with_pain >= s.min_years_with_pain) & (
            years_with_pain <= s.max_years_with_pain
        )
        if s.at_stage is not None:
            eligible &= stage == STAGE_CODE[s.at_stage]
        if s.at_years_with_pain is not None:
            eligible &= years_with_pain >= s.at_years_with_pain
        if not eligible.any():
            return
        eligible &= coping() >= s.min_coping
        reported = reported_pain(pain_now(), self.report_noise, report_sd)
        eligible &= reported >= s.min_pain
        self.enrolled_at[eligible] = t
        self.baseline_pain[eligible] = reported[eligible]

    def level(self, t: float, half_life_weeks: float) -> np.ndarray:
        s = self.spec
        return effect_level(
            t,
            self.enrolled_at,
            self.dose,
            s.course_years,
            half_life_weeks / WEEKS_PER_YEAR,
            s.boosters,
            s.booster_every_weeks / WEEKS_PER_YEAR,
        )


def reported_pain(pain: np.ndarray, noise: np.ndarray, report_sd: float) -> np.ndarray:
    """Pain as a patient reports it on the 0-10 scale: true pain plus reporting noise."""
    return np.clip(pain + report_sd * noise, 0.0, 10.0)


@dataclass
class ArmEffects:
    """The combined effect of an arm's interventions on one cohort at a time t."""

    deliveries: list[Delivery]

    def coping_relief(self, t: float) -> np.ndarray | float:
        """PCS points subtracted from each patient's catastrophizing score."""
        return sum(
            (
                d.spec.coping_effect * d.response * d.level(t, d.spec.half_life_weeks)
                for d in self.deliveries
                if d.spec.coping_effect > 0
            ),
            0.0,
        )

    def pain_factor(self, t: float) -> np.ndarray | float:
        """Factor on each patient's pain intensity (1 = no relief)."""
        factor: np.ndarray | float = 1.0
        for d in self.deliveries:
            if d.spec.pain_effect > 0:
                relief = d.spec.pain_effect * d.response * d.level(t, d.spec.half_life_weeks)
                factor = factor * (1.0 - np.minimum(relief, d.spec.max_relief))
        return factor

    def drift_factor(self, t: float, rows: slice | np.ndarray) -> np.ndarray | None:
        """(n, E) factor on the expressed drift of each edge, or None when nothing acts."""
        factor = None
        for d in self.deliveries:
            if d.spec.dmn_effect > 0:
                pull = d.spec.dmn_effect * d.level(t, d.spec.dmn_half_life_weeks)[rows]
                part = 1.0 - pull[:, None] * d.edge_weights[None, :]
                factor = part if factor is None else factor * part
        return factor

    def enrolled(self) -> np.ndarray | None:
        """Time of each patient's first enrolment in this arm (NaN if never), or None."""
        if not self.deliveries:
            return None
        return np.fmin.reduce([d.enrolled_at for d in self.deliveries])

    def baseline_pain(self) -> np.ndarray | None:
        """Reported pain at the first enrolment (NaN if never enrolled), or None."""
        if not self.deliveries:
            return None
        first = np.argmin(
            np.stack([np.nan_to_num(d.enrolled_at, nan=np.inf) for d in self.deliveries]), axis=0
        )
        stacked = np.stack([d.baseline_pain for d in self.deliveries])
        return stacked[first, np.arange(stacked.shape[1])]
