"""Back-pain episodes in continuous time, advanced over a whole cohort one step at a time.

A person alternates between pain-free spells and episodes. Onsets arrive with a constant hazard
(first onset, or recurrence after an earlier episode); at onset the episode draws a *course*
(self-limiting or persistent), a duration and an intensity scale. Because onset times are drawn
exactly inside the step (inverse of the exponential waiting time) and durations are continuous,
the process does not depend on the step length except that at most one new episode can start per
step. Each step is returned as up to four :class:`Exposure` segments (pain, free, pain, free) so
coping and connectivity can integrate their exact solutions over the same timeline.

Stage of the current episode: none, acute (< 6 weeks), subacute (6-12 weeks), chronic (> 12 weeks).
Years lived with pain count every week in pain over a life, across episodes.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy.special import expit, logit, ndtri

from sim.core.paramgroup import ParamGroup, param

WEEKS_PER_YEAR = 52.1775
STAGES = ("none", "acute", "subacute", "chronic")
N_SEGMENTS = 4


class PainParams(ParamGroup):
    """Episode onset, course, duration and intensity (NRS 0-10)."""

    acute_max_weeks: float = param(
        6.0,
        unit="weeks",
        plausible="4-6",
        gt=0,
        source="Wales GP CPD definitions [C]",
        doc="end of the acute stage",
    )
    chronic_min_weeks: float = param(
        12.0,
        unit="weeks",
        plausible="12-26",
        gt=0,
        source="Wales GP CPD [C]; Misic eLife 2024 SBP = 6-12 weeks [C]",
        doc="start of the chronic stage",
    )
    onset_rate: float = param(
        0.06,
        unit="1/year",
        plausible="0.03-0.15",
        ge=0,
        le=5,
        source="assumption, chosen so that about 70 % of adults have had an episode by age 40 "
        "(lifetime prevalence of low back pain is commonly put at 60-80 %)",
        doc="baseline onset hazard (first episodes; recurrence decays back to it)",
    )
    female_onset_ratio: float = param(
        1.2,
        unit="-",
        plausible="1.0-1.4",
        gt=0,
        le=5,
        source="assumption (women report back pain somewhat more often)",
        doc="onset hazard ratio, women vs men",
    )
    recurrence_rate: float = param(
        0.8,
        unit="1/year",
        plausible="0.4-2",
        ge=0,
        le=20,
        source="calibrated: with recurrence_decay_years, 24-69 % recur within a year of "
        "recovery (Stanton 2008, Machado 2017, da Silva 2019 [C]); median 139 days among those "
        "who recur (da Silva 2019 [C])",
        doc="hazard of a new episode right after an episode has ended",
    )
    recurrence_decay_years: float = param(
        1.0,
        unit="years",
        plausible="0.5-5",
        gt=0,
        le=100,
        source="assumption: recurrence studies follow people for 1 year after an episode; "
        "over decades the hazard must fall back or nearly everyone would be in pain",
        doc="time constant of the decay of the recurrence hazard back to the baseline",
    )
    many_episodes_ratio: float = param(
        1.9,
        unit="-",
        plausible="1.0-3.0",
        gt=0,
        le=10,
        source="Machado 2017: > 2 prior episodes OR 3.18 for recurrence [C]; "
        "as a hazard ratio at a 33 % base rate",
        doc="onset and recurrence hazard ratio after three or more episodes",
    )
    p_persistent: float = param(
        0.25,
        unit="probability",
        plausible="0.2-0.5",
        ge=0,
        le=1,
        source="calibrated: gives 25-50 % of subacute episodes still present at 6 months "
        "(Misic 2024 [C]; Hashmi 2013 20/39 [C]) and Itz 2013 share in pain at 12 months",
        doc="probability that an episode takes the persistent course (average coper)",
    )
    coping_odds_ratio: float = param(
        1.4,
        unit="per coping SD",
        plausible="1.0-2.0",
        gt=0,
        le=10,
        source="assumption: catastrophizing predicts chronification; odds ratio per "
        "SD of the coping score",
        doc="odds ratio of the persistent course per SD of maladaptive coping",
    )
    short_median_weeks: float = param(
        5.5,
        unit="weeks",
        plausible="3-7",
        gt=0,
        source="calibrated to Henschke 2008 median recovery 58 days [C] (with persistent share)",
        doc="median duration of a self-limiting episode",
    )
    short_sigma: float = param(
        0.7,
        unit="log",
        plausible="0.4-1.0",
        gt=0,
        le=3,
        source="assumption, chosen so that about 20 % of self-limiting episodes pass 6 weeks",
        doc="log-SD of self-limiting episode duration",
    )
    long_median_years: float = param(
        2.0,
        unit="years",
        plausible="1-5",
        gt=0,
        source="assumption, chosen so that chronic patients reach the 10-29 years with pain "
        "seen in the Heukamp cohort (WCP 2024 poster [C])",
        doc="median duration of a persistent episode",
    )
    long_sigma: float = param(
        1.3,
        unit="log",
        plausible="0.8-1.6",
        gt=0,
        le=3,
        source="assumption (wide: persistent back pain lasts months to decades)",
        doc="log-SD of persistent episode duration",
    )
    onset_intensity: float = param(
        5.2,
        unit="NRS 0-10",
        plausible="4.5-5.7",
        ge=0,
        le=10,
        source="Costa 2012 (52/100 at baseline) [C]; Mehling 2012 5.6 [C]",
        doc="pain at episode onset",
    )
    short_plateau: float = param(
        0.6,
        unit="NRS 0-10",
        plausible="0-1.5",
        ge=0,
        le=10,
        source="calibrated to Costa 2012 acute-onset course 5.2 -> 2.3 at 6 weeks [C]",
        doc="level a self-limiting episode decays toward",
    )
    long_plateau: float = param(
        3.2,
        unit="NRS 0-10",
        plausible="2.3-4.5",
        ge=0,
        le=10,
        source="Costa 2012 persistent cohorts 2.6 at 26 weeks [C]; trial samples (Ashar 2022 4.2) "
        "select the more severe",
        doc="level a persistent episode settles at",
    )
    short_tau_weeks: float = param(
        5.0,
        unit="weeks",
        plausible="2-8",
        gt=0,
        source="calibrated to Costa 2012 / Pengel 2003 (58 % drop within a month) [C]",
        doc="time constant of early improvement, self-limiting course",
    )
    long_tau_weeks: float = param(
        6.0,
        unit="weeks",
        plausible="3-12",
        gt=0,
        source="calibrated to Costa 2012 persistent course 5.1 -> 3.3 at 6 weeks [C]",
        doc="time constant of early improvement, persistent course",
    )
    severity_sigma: float = param(
        0.45,
        unit="log",
        plausible="0.2-0.6",
        ge=0,
        le=2,
        source="assumption, chosen so that about a fifth of persistent pain is severe "
        "(Dunn 2006 severe chronic 21 % [C])",
        doc="between-person log-SD of pain intensity",
    )
    report_sd: float = param(
        1.0,
        unit="NRS 0-10",
        plausible="0.5-1.5",
        ge=0,
        le=5,
        source="assumption, calibrated so that 27 % of usual-care patients in a Cherkin-2016-"
        "like trial 'respond' (>= 30 % less reported pain at 26 weeks) [C for the 27 %]",
        doc="SD of the noise in a single pain report (day-to-day variation, recall)",
    )
    episode_sigma: float = param(
        0.2,
        unit="log",
        plausible="0-0.4",
        ge=0,
        le=2,
        source="assumption",
        doc="between-episode log-SD of pain intensity",
    )


@dataclass
class PainState:
    """Pain state of a cohort, one array entry per person (times in years of simulation).

    ``end`` is the end of the current (or, between episodes, the last) episode;
    ``previous_end`` the end of the episode before the current or last one (-inf if none) and
    ``longest`` the longest duration (years) of the episodes before it (0 if none), so that a
    study can apply inclusion rules on pain history (``PainModel.observe``).
    """

    in_pain: np.ndarray
    onset: np.ndarray
    end: np.ndarray
    persistent: np.ndarray
    scale: np.ndarray
    severity: np.ndarray
    episodes: np.ndarray
    years_with_pain: np.ndarray
    female: np.ndarray
    previous_end: np.ndarray
    longest: np.ndarray

    def take(self, rows: np.ndarray | slice) -> PainState:
        """The pain state of a subset of people (copies of their entries)."""
        return PainState(**{f.name: getattr(self, f.name)[rows].copy() for f in fields(self)})

    @classmethod
    def new(cls, severity: np.ndarray, female: np.ndarray) -> PainState:
        n = severity.size
        return cls(
            in_pain=np.zeros(n, bool),
            onset=np.full(n, np.nan),
            end=np.full(n, -np.inf),
            persistent=np.zeros(n, bool),
            scale=np.ones(n),
            severity=severity,
            episodes=np.zeros(n, np.int32),
            years_with_pain=np.zeros(n),
            female=female,
            previous_end=np.full(n, -np.inf),
            longest=np.zeros(n),
        )


@dataclass
class Exposure:
    """Pain exposure over one step of length ``dt`` (years).

    Only people with some pain during the step are listed (``rows``); everyone else was
    pain-free for the whole step. For listed people the step splits into four segments in time
    order, pain / free / pain / free: ``duration`` (4, k) in years, ``intensity`` (4, k) on
    NRS 0-10 (zero in the free segments); unused segments have zero duration.
    """

    dt: float
    rows: np.ndarray
    duration: np.ndarray
    intensity: np.ndarray

    PAIN_SEGMENTS = (0, 2)


@dataclass
class StepDraws:
    """The random numbers of one model step, for everyone (common random numbers).

    ``budget`` (N,) is each person's remaining Exp(1) onset budget for the step: an episode
    starts when the cumulative hazard since the step began reaches it. Carrying the rest of it
    over when a step is split (a record time inside a step) makes the random path independent of
    when the model is observed. ``episode`` (3, N) are uniforms for the course, duration and
    intensity scale of an episode starting in the step.
    """

    budget: np.ndarray
    episode: np.ndarray

    @classmethod
    def from_uniforms(cls, uniforms: np.ndarray) -> StepDraws:
        """From (4, N) uniforms in [0, 1): onset, course, duration, episode intensity."""
        return cls(budget=-np.log1p(-uniforms[0]), episode=uniforms[1:])


def draw_severity(u: np.ndarray, p: PainParams) -> np.ndarray:
    """Personal pain-intensity multiplier (median 1) from uniforms."""
    return np.exp(p.severity_sigma * ndtri(u))


def course_intensity(
    persistent: np.ndarray, years_since_onset: np.ndarray, level: np.ndarray, p: PainParams
) -> np.ndarray:
    """Pain (NRS) of an episode ``years_since_onset`` after onset; ``level`` scales the course.

    The course falls exponentially from the onset intensity toward its plateau:
    I(tau) = level * (I_plateau + (I_onset - I_plateau) * exp(-tau / tau_course)), clipped to 0-10.
    """
    plateau = np.where(persistent, p.long_plateau, p.short_plateau)
    tau = np.where(persistent, p.long_tau_weeks, p.short_tau_weeks) / WEEKS_PER_YEAR
    base = plateau + (p.onset_intensity - plateau) * np.exp(-years_since_onset / tau)
    return np.clip(level * base, 0.0, 10.0)


def onset_hazard(state: PainState, t: np.ndarray, p: PainParams) -> tuple[np.ndarray, np.ndarray]:
    """Hazard of a new episode per person: (baseline hazard, extra hazard at time ``t``).

    The hazard at time ``t + w`` is ``base + extra * exp(-w / tau)``: people who have never had
    an episode have only the (sex-specific) first-onset hazard; after an episode the recurrence
    hazard starts high and decays back toward the baseline. Multiplying by 0/1 masks instead of
    ``np.where`` keeps this hot function cheap.
    """
    history = 1.0 + (p.many_episodes_ratio - 1.0) * (state.episodes >= 3)
    base = p.onset_rate * (1.0 + (p.female_onset_ratio - 1.0) * state.female) * history
    peak = p.recurrence_rate * history
    # end is -inf until a first episode has ended, so the extra hazard is then exactly 0.
    decay = np.exp(np.minimum(state.end - t, 0.0) / p.recurrence_decay_years)
    return base, np.maximum(peak - base, 0.0) * decay


def cumulative_hazard(
    base: np.ndarray, extra: np.ndarray, years: np.ndarray, p: PainParams
) -> np.ndarray:
    """Integral of the onset hazard from now over the next ``years``."""
    tau = p.recurrence_decay_years
    return base * years - extra * tau * np.expm1(-years / tau)


def persistent_probability(coping_z: np.ndarray, p: PainParams) -> np.ndarray:
    """Probability of the persistent course: logit-linear in the coping z-score."""
    base = logit(np.clip(p.p_persistent, 1e-12, 1 - 1e-12))
    return expit(base + np.log(p.coping_odds_ratio) * coping_z)


def draw_duration(persistent: np.ndarray, u: np.ndarray, p: PainParams) -> np.ndarray:
    """Episode duration in years from uniforms (lognormal by course)."""
    median = np.where(persistent, p.long_median_years, p.short_median_weeks / WEEKS_PER_YEAR)
    sigma = np.where(persistent, p.long_sigma, p.short_sigma)
    return median * np.exp(sigma * ndtri(u))


def stage(state: PainState, t: float, p: PainParams) -> np.ndarray:
    """Stage code of the current episode at time ``t``: 0 none, 1 acute, 2 subacute, 3 chronic."""
    weeks = (t - state.onset) * WEEKS_PER_YEAR
    code = np.where(weeks < p.acute_max_weeks, 1, np.where(weeks <= p.chronic_min_weeks, 2, 3))
    return np.where(state.in_pain, code, 0).astype(np.int8)


def current_intensity(state: PainState, t: float, p: PainParams) -> np.ndarray:
    """Pain (NRS 0-10) at time ``t``; 0 for people not in an episode."""
    level = state.severity * state.scale
    pain = course_intensity(state.persistent, t - state.onset, level, p)
    return np.where(state.in_pain, pain, 0.0)


def start_episodes(
    state: PainState,
    rows: np.ndarray,
    onset: np.ndarray,
    uniforms: np.ndarray,
    coping_z: np.ndarray,
    p: PainParams,
) -> None:
    """Start a new episode at time ``onset`` for the people ``rows`` (in place).

    ``uniforms`` are (3, k): course, duration and intensity scale of each new episode;
    ``coping_z`` (k,) the coping z-scores of those people.
    """
    persistent = uniforms[0] < persistent_probability(coping_z, p)
    # The episode that ended before this onset becomes history (none before a first onset).
    ended = state.end[rows] - state.onset[rows]
    state.longest[rows] = np.where(
        np.isfinite(ended), np.maximum(state.longest[rows], ended), state.longest[rows]
    )
    state.previous_end[rows] = state.end[rows]
    state.episodes[rows] += 1
    state.onset[rows] = onset
    state.end[rows] = onset + draw_duration(persistent, uniforms[1], p)
    state.persistent[rows] = persistent
    state.scale[rows] = np.exp(p.episode_sigma * ndtri(uniforms[2]))
    state.in_pain[rows] = True


def _episode_part(
    state: PainState, rows: np.ndarray, start: np.ndarray, t_end: float, p: PainParams
) -> tuple[np.ndarray, np.ndarray]:
    """Length and mid-segment intensity of the running episodes of ``rows`` from ``start``
    until they end or the step does; episodes that end are closed (in place)."""
    stop = np.minimum(state.end[rows], t_end)
    level = state.severity[rows] * state.scale[rows]
    pain = course_intensity(
        state.persistent[rows], (start + stop) / 2 - state.onset[rows], level, p
    )
    state.in_pain[rows[state.end[rows] <= t_end]] = False
    return stop - start, pain


def advance(
    state: PainState,
    t: float,
    dt: float,
    draws: StepDraws,
    coping_z: np.ndarray,
    p: PainParams,
) -> Exposure:
    """Advance every person's pain process from ``t`` to ``t + dt`` (years), in place.

    Parameters
    ----------
    state
        Cohort pain state, modified in place.
    t, dt
        Start and length in years (a whole model step or part of one).
    draws
        The step's random numbers; the onset budget is used up in place, so the rest of a
        split step continues with what is left. At most one episode starts per step.
    coping_z
        (N,) maladaptive-coping z-score, used for the course of a new episode.
    p
        Pain parameters.

    Returns
    -------
    Exposure
        The step's pain timeline of everyone with some pain in it.
    """
    t_end = t + dt
    n = state.in_pain.size

    # Segment 1: episodes running at the start of the step, until they end or the step does.
    rows1 = np.flatnonzero(state.in_pain)
    len1, pain1 = _episode_part(state, rows1, np.full(rows1.size, t), t_end, p)

    # Segment 2: pain-free time until an onset. An onset happens when the cumulative hazard
    # reaches an Exp(1) draw; inside the step the hazard is taken as constant to place it.
    free_from = np.full(n, t)
    free_from[rows1] += len1
    exposure = np.where(state.in_pain, 0.0, t_end - free_from)
    base, extra = onset_hazard(state, free_from, p)
    total = cumulative_hazard(base, extra, exposure, p)
    needed = draws.budget
    rows3 = np.flatnonzero(needed < total)
    onset = free_from[rows3] + exposure[rows3] * needed[rows3] / total[rows3]
    start_episodes(state, rows3, onset, draws.episode[:, rows3], coping_z[rows3], p)
    needed -= total
    needed[rows3] = np.inf

    # Segment 3: the new episodes, which may end inside the step; segment 4: the rest.
    len3, pain3 = _episode_part(state, rows3, onset, t_end, p)
    state.years_with_pain[rows1] += len1
    state.years_with_pain[rows3] += len3
    return _exposure(n, dt, t, rows1, len1, pain1, rows3, onset, len3, pain3)


def _exposure(n, dt, t, rows1, len1, pain1, rows3, onset, len3, pain3) -> Exposure:
    """Assemble the four segments of everyone with pain in the step."""
    # A mask is much cheaper than np.union1d's hashing on 100,000 people.
    with_pain = np.zeros(n, bool)
    with_pain[rows1] = True
    with_pain[rows3] = True
    rows = np.flatnonzero(with_pain)
    slot = np.empty(n, np.intp)
    slot[rows] = np.arange(rows.size)
    at1, at3 = slot[rows1], slot[rows3]
    duration = np.zeros((4, rows.size))
    intensity = np.zeros((4, rows.size))
    duration[0, at1], intensity[0, at1] = len1, pain1
    duration[2, at3], intensity[2, at3] = len3, pain3
    duration[1] = dt - duration[0]
    duration[1, at3] = onset - t - duration[0, at3]
    duration[3, at3] = dt - duration[0, at3] - duration[1, at3] - len3
    return Exposure(dt=dt, rows=rows, duration=duration, intensity=intensity)
