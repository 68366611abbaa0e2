"""Back-pain episodes in continuous time, advanced over a whole cohort one step at a time.

A person alternates between pain-free spells and episodes. Onsets arrive with a hazard that
depends on age and sex (from ``history_start_age`` on), rises right after an episode
(recurrence) and for people with many episodes, both extras fading with time since the last
episode (:func:`onset_hazard`); at onset the episode draws a *course*
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

from sim.core.jit import njit
from sim.core.paramgroup import ParamGroup, param

# SciPy's special functions are imported where they are used: checking a scenario imports this
# module for its parameters, and SciPy takes longer to import than the check itself.

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
        0.055,
        unit="1/year",
        plausible="0.02-0.2",
        ge=0,
        le=5,
        source="calibrated: ABC posterior median (95 % CrI 0.0259-0.118, prior 0.02-0.2); "
        "targets: point prevalence (GBD 2010/2017 [C]), lifetime prevalence "
        "60-80 % [C] (docs/model.md, Natural history)",
        doc="background onset hazard of a man at the reference age (first and later episodes)",
    )
    female_onset_ratio: float = param(
        1.2,
        unit="-",
        plausible="1.0-1.4",
        gt=0,
        le=5,
        source="direction: GBD 2017 and 2019 age-standardized prevalence higher in women "
        "(Wu 2020, Chen 2021 [C]; GBD 2010 found the reverse, Hoy 2014 [C]); size: assumption, "
        "not identified by the calibration targets (sex-specific rates [NF])",
        doc="background onset hazard ratio, women vs men",
    )
    onset_age_ratio: float = param(
        1.1,
        unit="per decade",
        plausible="1.0-1.3",
        gt=0,
        le=5,
        source="direction: GBD prevalence rises with age up to 80-89 years (Wu 2020, Chen 2021 "
        "[C]); size: assumption (age-specific rates [NF])",
        doc="background onset hazard ratio per decade of age",
    )
    onset_reference_age: float = param(
        45.0,
        unit="years",
        plausible="",
        ge=0,
        le=120,
        source="assumption (centre of the adult range; only fixes the meaning of onset_rate)",
        doc="age at which the background onset hazard equals onset_rate",
    )
    history_start_age: float = param(
        18.0,
        unit="years",
        plausible="15-20",
        ge=0,
        le=120,
        source="assumption: the model covers adult back pain; no episode starts before this "
        "age (a cohort's history is simulated from it)",
        doc="age from which episodes can start",
    )
    recurrence_rate: float = param(
        0.301,
        unit="1/year",
        plausible="0.1-3",
        ge=0,
        le=20,
        source="calibrated: ABC posterior median (95 % CrI 0.13-0.734, prior 0.1-3.0); "
        "target: 1-year recurrence after recovery 33 % (Machado 2017 [C])",
        doc="extra onset hazard right after an episode has ended (decays to 0)",
    )
    recurrence_decay_years: float = param(
        1.15,
        unit="years",
        plausible="0.25-3",
        gt=0,
        le=100,
        source="calibrated: ABC posterior median (95 % CrI 0.306-2.79, prior 0.25-3.0); "
        "targets: Machado 2017, da Silva 2019 [C]; over decades the extra hazard "
        "must fade",
        doc="time constant of the decay of the extra recurrence hazard",
    )
    many_episodes_count: int = param(
        3,
        unit="episodes",
        plausible="",
        ge=1,
        le=100,
        source="Machado 2017: 'more than 2 previous episodes' [C]",
        doc="episodes so far from which the many-episodes hazard ratio applies",
    )
    many_episodes_ratio: float = param(
        2.35,
        unit="-",
        plausible="1.78-3.02",
        ge=1,
        le=10,
        source="derived [D]: Machado 2017 OR 3.18 (2.11-4.78) [C] for 1-year recurrence at a "
        "33 % base rate as a hazard ratio, ln(1 - p1) / ln(1 - p0) "
        "(sim.core.pain.hazard_ratio_from_odds_ratio); range from the OR's CI",
        doc="onset hazard ratio right after an episode once many_episodes_count is reached",
    )
    many_episodes_fade_years: float = param(
        9.23,
        unit="years",
        plausible="1-20",
        gt=0,
        le=1000,
        source="calibrated: ABC posterior median (95 % CrI 1.15-18, prior 1.0-20.0); "
        "Machado measured 1 year; a permanent ratio makes prevalence climb without "
        "limit with age (issue 11), so the extra risk fades",
        doc="time constant over which the many-episodes hazard ratio fades back to 1",
    )
    p_persistent: float = param(
        0.326,
        unit="probability",
        plausible="0.2-0.5",
        ge=0,
        le=1,
        source="calibrated: ABC posterior median (95 % CrI 0.21-0.446, prior 0.2-0.5); "
        "targets: Henschke 2008, Itz 2013, Misic 2024, Hashmi 2013 [C]",
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
        5.36,
        unit="weeks",
        plausible="3-7",
        gt=0,
        source="calibrated: ABC posterior median (95 % CrI 3.53-6.87, prior 3.0-7.0); "
        "target: Henschke 2008 median recovery 58 days [C]",
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
        2.43,
        unit="years",
        plausible="1-5",
        gt=0,
        source="calibrated: ABC posterior median (95 % CrI 1.06-4.66, prior 1.0-5.0); "
        "targets: Henschke 2008 not recovered at 12 months [C], Costa 2012 [C]",
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
        0.835,
        unit="NRS 0-10",
        plausible="0-1.5",
        ge=0,
        le=10,
        source="calibrated: ABC posterior median (95 % CrI 0.0953-1.4, prior 0.0-1.5); "
        "target: Costa 2012 acute-onset course [C]",
        doc="level a self-limiting episode decays toward",
    )
    long_plateau: float = param(
        3.4,
        unit="NRS 0-10",
        plausible="2.3-4.5",
        ge=0,
        le=10,
        source="calibrated: ABC posterior median (95 % CrI 2.45-4.45, prior 2.3-4.5); "
        "target: Costa 2012 persistent cohorts [C]; trial samples (Ashar 2022 4.2) "
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
        8.02,
        unit="weeks",
        plausible="3-12",
        gt=0,
        source="calibrated: ABC posterior median (95 % CrI 3.42-11.8, prior 3.0-12.0); "
        "target: Costa 2012 persistent course [C]",
        doc="time constant of early improvement, persistent course",
    )
    severity_sigma: float = param(
        0.428,
        unit="log",
        plausible="0.2-0.6",
        ge=0,
        le=2,
        source="calibrated: ABC posterior median (95 % CrI 0.203-0.566, prior 0.2-0.6); "
        "target: Dunn 2006 severe chronic 21 % [C]",
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

    ``age0`` is each person's age at simulation time 0, so the age at time t is ``age0 + t``
    (a pain history is simulated at negative times, see :mod:`sim.core.history`).
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
    age0: np.ndarray
    previous_end: np.ndarray
    longest: np.ndarray

    def take(self, rows: np.ndarray | slice) -> PainState:
        """The pain state of a subset of people (copies of their entries)."""
        return PainState(**{f.name: getattr(self, f.name)[rows].copy() for f in fields(self)})

    @classmethod
    def new(
        cls, severity: np.ndarray, female: np.ndarray, age0: np.ndarray | float = 45.0
    ) -> PainState:
        """People without any pain history (age 45 unless given: the default reference age)."""
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
            age0=np.broadcast_to(np.asarray(age0, dtype=float), (n,)).copy(),
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
    from scipy.special import ndtri

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


def hazard_ratio_from_odds_ratio(odds_ratio: float, base_probability: float) -> float:
    """Hazard ratio that turns an odds ratio of an event within a period into hazards.

    With constant hazards over the period, P = 1 - exp(-H): the exposed group's probability is
    p1 = OR * o0 / (1 + OR * o0) with o0 = p0 / (1 - p0), and HR = ln(1 - p1) / ln(1 - p0).

    Examples
    --------
    >>> round(hazard_ratio_from_odds_ratio(3.18, 0.33), 2)  # Machado 2017 at a 33 % base rate
    2.35
    """
    odds = odds_ratio * base_probability / (1.0 - base_probability)
    p1 = odds / (1.0 + odds)
    return float(np.log1p(-p1) / np.log1p(-base_probability))


def onset_hazard(state: PainState, t: np.ndarray | float, p: PainParams) -> np.ndarray:
    """Instantaneous hazard of a new episode per person at time ``t`` (1/year).

    h = h0 * A(age) * S * M(s) + R * exp(-s / tau_r) * M(s), where s is the time since the last
    episode ended, A(age) = ratio_age ** ((age - age_ref) / 10) (0 below the start age),
    S = the women's ratio and M(s) = 1 + (HR_many - 1) * exp(-s / tau_many) once a person has
    had ``many_episodes_count`` episodes (else 1). This is the reference form of the hazard
    that :func:`cumulative_onset_hazard` integrates exactly.
    """
    age = state.age0 + t
    ratio_age = np.exp(np.log(p.onset_age_ratio) * (age - p.onset_reference_age) / 10.0)
    adult = age >= p.history_start_age
    sex = 1.0 + (p.female_onset_ratio - 1.0) * state.female
    since = np.maximum(t - state.end, 0.0)  # inf before a first episode has ended
    many = (p.many_episodes_ratio - 1.0) * (state.episodes >= p.many_episodes_count)
    factor = 1.0 + many * np.exp(-since / p.many_episodes_fade_years)
    recurrence = p.recurrence_rate * np.exp(-since / p.recurrence_decay_years)
    return factor * (p.onset_rate * ratio_age * sex * adult + recurrence)


def cumulative_onset_hazard(
    state: PainState, t: np.ndarray, years: np.ndarray, p: PainParams
) -> np.ndarray:
    """Integral of :func:`onset_hazard` from ``t`` over the next ``years``, per person.

    The age factor is taken at ``t`` and held for the interval (one step at most); the fading
    parts are integrated exactly. Written as one fused loop (Numba) because it runs for the
    whole cohort every step.
    """
    return _cumulative_kernel(
        np.broadcast_to(np.asarray(t, dtype=float), state.end.shape),
        np.asarray(years, dtype=float),
        state.age0,
        state.female,
        state.end,
        state.episodes,
        *hazard_arguments(p),
    )


@njit(cache=True)
def _cumulative_kernel(
    t, years, age0, female, end, episodes, h0, log_age, age_ref, start_age, sex_ratio, rate_r,
    tau_r, many, many_count, tau_m,
):  # fmt: skip
    n = years.size
    out = np.zeros(n)
    for i in range(n):
        out[i] = onset_hazard_integral(
            t[i], years[i], age0[i], female[i], end[i], episodes[i], h0, log_age, age_ref,
            start_age, sex_ratio, rate_r, tau_r, many, many_count, tau_m,
        )  # fmt: skip
    return out


@njit(cache=True)
def onset_hazard_integral(
    t, years, age0, female, end, episodes, h0, log_age, age_ref, start_age, sex_ratio, rate_r,
    tau_r, many, many_count, tau_m,
):  # fmt: skip
    """One person's :func:`cumulative_onset_hazard` (a Numba kernel for fused loops).

    Arguments are that person's state and the hazard's parameters in the order
    :func:`cumulative_onset_hazard` passes them.
    """
    w = years
    if w <= 0.0:
        return 0.0
    age = age0 + t
    base = 0.0
    if age >= start_age:
        base = h0 * np.exp(log_age * (age - age_ref) / 10.0)
        if female:
            base *= sex_ratio
    total = base * w
    since = t - end
    if since < np.inf:  # an earlier episode has ended: the fading parts
        since = max(since, 0.0)
        m = many if episodes >= many_count else 0.0
        rec = rate_r * np.exp(-since / tau_r)
        total += rec * tau_r * -np.expm1(-w / tau_r)
        if m > 0.0:
            tau_rm = 1.0 / (1.0 / tau_r + 1.0 / tau_m)
            fade = m * np.exp(-since / tau_m)
            total += base * fade * tau_m * -np.expm1(-w / tau_m)
            total += rec * fade * tau_rm * -np.expm1(-w / tau_rm)
    return total


def hazard_arguments(p: PainParams) -> tuple[float, ...]:
    """The hazard's parameters in the order :func:`onset_hazard_integral` takes them."""
    return (
        p.onset_rate,
        float(np.log(p.onset_age_ratio)),
        p.onset_reference_age,
        p.history_start_age,
        p.female_onset_ratio,
        p.recurrence_rate,
        p.recurrence_decay_years,
        p.many_episodes_ratio - 1.0,
        p.many_episodes_count,
        p.many_episodes_fade_years,
    )


def persistent_probability(coping_z: np.ndarray, p: PainParams) -> np.ndarray:
    """Probability of the persistent course: logit-linear in the coping z-score."""
    from scipy.special import expit, logit

    base = logit(np.clip(p.p_persistent, 1e-12, 1 - 1e-12))
    return expit(base + np.log(p.coping_odds_ratio) * coping_z)


def draw_duration(persistent: np.ndarray, u: np.ndarray, p: PainParams) -> np.ndarray:
    """Episode duration in years from uniforms (lognormal by course)."""
    from scipy.special import ndtri

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
    from scipy.special import ndtri

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
    total = cumulative_onset_hazard(state, free_from, exposure, p)
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
