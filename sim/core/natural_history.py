"""Natural history of back pain in the model: one simulation and the statistics studies report.

:func:`simulate_natural_history` runs the pain process (with coping, which steers the course)
the way the published studies observed back pain:

* a **population** of adults in its steady state (histories simulated from
  ``pain.history_start_age``, :mod:`sim.core.history`), seen in a cross-section at time 0
  (point and lifetime prevalence, GBD);
* an **inception cohort**: people with a new episode, drawn from that population in proportion
  to their onset hazard at time 0 (so recurrent episodes and people with many earlier
  episodes are represented as they are among new episodes), followed weekly for 70 weeks
  (Henschke 2008, Itz 2013, Costa 2012, Machado 2017, da Silva 2019);
* **consulters**: people of the population in an episode that began within the last year,
  followed monthly for a year (Dunn 2006).

:data:`STATISTICS` names every statistic computed from the result; the published values they
are compared with live in :mod:`sim.core.targets`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.core import coping, pain
from sim.core.history import simulate_history
from sim.core.pain import WEEKS_PER_YEAR, PainState, StepDraws
from sim.core.parameters import ModelParams

FOLLOW_WEEKS = 70
"""Follow-up of the inception cohort: recovery within 6 weeks, a pain-free month, one year."""
CHECK_WEEKS = (6, 12, 18, 26, 38, 52, 64)
"""Weeks after onset at which the inception cohort's pain is read (Costa 2012 time points)."""
WHO_STANDARD = {
    20: 8.22,
    25: 7.93,
    30: 7.61,
    35: 7.15,
    40: 6.59,
    45: 6.04,
    50: 5.37,
    55: 4.55,
    60: 3.72,
    65: 2.96,
}
"""WHO world standard population (Ahmad 2001), per cent in each 5-year band 20-69 [M].

Used to age-standardize the simulated prevalence over ages 20-69, as GBD age-standardizes."""


@dataclass(frozen=True)
class Design:
    """Sizes and steps of one natural-history simulation.

    Attributes
    ----------
    population
        Adults in the cross-section (ages uniform in ``age_min``-``age_max``).
    incident
        Size of the inception cohort (drawn with replacement from the population's new
        episodes: each draw lives its own future).
    history_dt_weeks
        Step of the simulated histories (at most one onset per step).
    age_min, age_max
        Ages of the population at time 0.
    female_share
        Share of women.
    """

    population: int = 5000
    incident: int = 2000
    history_dt_weeks: float = 4.0
    age_min: float = 18.0
    age_max: float = 70.0
    female_share: float = 0.5


@dataclass
class NaturalHistory:
    """What one natural-history simulation observed (arrays; see the module docstring)."""

    age: np.ndarray
    female: np.ndarray
    in_pain: np.ndarray
    ever: np.ndarray
    first_weeks: np.ndarray
    prior_episodes: np.ndarray
    pain_at: dict[int, np.ndarray]
    next_onset_years: np.ndarray
    consulter_monthly: np.ndarray


def simulate_natural_history(
    params: ModelParams, design: Design = Design(), seed: int = 0
) -> NaturalHistory:
    """Simulate a population, an inception cohort and consulters (module docstring).

    Parameters
    ----------
    params
        Model parameters (pain and coping groups are used).
    design
        Sizes and steps.
    seed
        Seed; the population, its history, the inception cohort and the follow-up of the
        population each draw from their own ``SeedSequence`` child.

    Returns
    -------
    NaturalHistory

    Examples
    --------
    >>> nh = simulate_natural_history(ModelParams(), Design(population=800, incident=200))
    >>> nh.first_weeks.size, bool(0 < nh.in_pain.mean() < 1)
    (200, True)
    """
    p = params.pain
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)]
    cohort_rng, history_rng, incident_rng, follow_rng = streams
    n = design.population
    u = cohort_rng.random((4, n))
    age0 = design.age_min + (design.age_max - design.age_min) * u[0]
    female = u[1] < design.female_share
    trait = coping.draw_trait(u[2], params.coping)
    state = PainState.new(pain.draw_severity(u[3], p), female, age0)
    dt_history = design.history_dt_weeks / WEEKS_PER_YEAR
    past = simulate_history(state, trait, params, history_rng, dt_history, with_drift=False)

    inception = _inception_cohort(state, trait, past.coping_state, params, design, incident_rng)
    consulters = _consulters(state, trait, past.coping_state, params, follow_rng)
    return NaturalHistory(
        age=age0,
        female=female,
        in_pain=state.in_pain.copy(),
        ever=state.episodes > 0,
        consulter_monthly=consulters,
        **inception,
    )


def _inception_cohort(
    population: PainState,
    trait: np.ndarray,
    coping_state: np.ndarray,
    params: ModelParams,
    design: Design,
    rng: np.random.Generator,
) -> dict:
    """New episodes starting at time 0, drawn in proportion to the onset hazard, followed."""
    p = params.pain
    hazard = pain.onset_hazard(population, 0.0, p) * ~population.in_pain
    rows = rng.choice(hazard.size, size=design.incident, p=hazard / hazard.sum())
    state = population.take(rows)
    trait, coping_state = trait[rows], coping_state[rows]
    k = rows.size
    prior = state.episodes.copy()
    cz = coping.z_score(coping.score(trait, coping_state), params.coping)
    pain.start_episodes(state, np.arange(k), np.zeros(k), rng.random((3, k)), cz, p)
    first_end = state.end.copy()
    next_onset = np.full(k, np.inf)
    pain_at: dict[int, np.ndarray] = {}
    dt = 1 / WEEKS_PER_YEAR
    for week in range(1, FOLLOW_WEEKS + 1):
        t = (week - 1) * dt
        cz = coping.z_score(coping.score(trait, coping_state), params.coping)
        exposure = pain.advance(state, t, dt, StepDraws.from_uniforms(rng.random((4, k))), cz, p)
        coping_state = coping.advance(coping_state, exposure, params.coping)
        new = (state.episodes >= prior + 2) & np.isinf(next_onset)
        next_onset[new] = state.onset[new]
        if week in CHECK_WEEKS:
            pain_at[week] = pain.current_intensity(state, week * dt, p)
    return {
        "first_weeks": first_end * WEEKS_PER_YEAR,
        "prior_episodes": prior,
        "pain_at": pain_at,
        "next_onset_years": next_onset - first_end,
    }


def _consulters(
    population: PainState,
    trait: np.ndarray,
    coping_state: np.ndarray,
    params: ModelParams,
    rng: np.random.Generator,
) -> np.ndarray:
    """(12, k) monthly pain over a year of people in an episode that began within a year."""
    p = params.pain
    rows = np.flatnonzero(population.in_pain & (-population.onset <= 1.0))
    state = population.take(rows)
    trait, coping_state = trait[rows], coping_state[rows]
    monthly = np.zeros((12, rows.size))
    dt = 1 / 12
    for month in range(12):
        cz = coping.z_score(coping.score(trait, coping_state), params.coping)
        draws = StepDraws.from_uniforms(rng.random((4, rows.size)))
        exposure = pain.advance(state, month * dt, dt, draws, cz, p)
        coping_state = coping.advance(coping_state, exposure, params.coping)
        monthly[month] = pain.current_intensity(state, (month + 1) * dt, p)
    return monthly


# -- statistics --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Statistic:
    """A named statistic of a natural-history simulation."""

    name: str
    unit: str
    description: str
    compute: Callable[[NaturalHistory], float]


def _standardized(nh: NaturalHistory, values: np.ndarray, sex: bool | None = None) -> float:
    """Mean of ``values`` over ages 20-69, age-standardized with :data:`WHO_STANDARD`."""
    total, weight = 0.0, 0.0
    for low, w in WHO_STANDARD.items():
        band = (nh.age >= low) & (nh.age < low + 5)
        if sex is not None:
            band &= nh.female == sex
        if band.any():
            total += w * values[band].mean()
            weight += w
    return float(total / weight) if weight else float("nan")


def _band(nh: NaturalHistory, low: int, high: int) -> float:
    band = (nh.age >= low) & (nh.age < high)
    return float(nh.in_pain[band].mean()) if band.any() else float("nan")


def _recovered(nh: NaturalHistory) -> np.ndarray:
    """Machado 2017's recovered: index episode over within 6 weeks, then a pain-free month."""
    return (nh.first_weeks <= 6.0) & (nh.next_onset_years > 30 / 365.25)


def _recurred(nh: NaturalHistory) -> np.ndarray:
    return nh.next_onset_years <= 1.0


def _recurrence_odds_ratio(nh: NaturalHistory) -> float:
    rec, again = _recovered(nh), _recurred(nh)
    many = nh.prior_episodes > 2  # Machado: more than 2 previous episodes
    a, b = (again & rec & many).sum() + 0.5, (~again & rec & many).sum() + 0.5
    c, d = (again & rec & ~many).sum() + 0.5, (~again & rec & ~many).sum() + 0.5
    return float(a * d / (b * c))  # Haldane's 0.5 keeps small simulations finite


def _median_days_to_recurrence(nh: NaturalHistory) -> float:
    days = nh.next_onset_years[_recovered(nh) & _recurred(nh)] * 365.25
    return float(np.median(days)) if days.size else float("nan")


def _costa_persistent(week: int) -> Callable[[NaturalHistory], float]:
    # Costa's persistent cohorts: in pain at inclusion (here: 12 weeks after onset).
    return lambda nh: float(nh.pain_at[week][nh.pain_at[12] > 0].mean())


def _dunn(nh: NaturalHistory) -> dict[str, float]:
    """Dunn 2006 trajectory shares among consulters, by our reading of the classes.

    *Recovering*: pain-free in the last three months, at most one change between pain and no
    pain; *severe chronic*: in pain every month with a mean of at least 4; *fluctuating*: two or
    more changes; *persistent mild*: the rest. Dunn et al. found the classes by latent class
    analysis; these rules are painsim's reading of their descriptions.
    """
    scores = nh.consulter_monthly
    if scores.shape[1] == 0:
        return dict.fromkeys(("recovering", "persistent_mild", "fluctuating", "severe"), np.nan)
    in_pain = scores > 0
    changes = np.abs(np.diff(in_pain.astype(int), axis=0)).sum(axis=0)
    recovering = (~in_pain[-3:]).all(axis=0) & (changes <= 1)
    severe = in_pain.all(axis=0) & (scores.mean(axis=0) >= 4.0)
    fluctuating = ~recovering & ~severe & (changes >= 2)
    return {
        "recovering": float(recovering.mean()),
        "persistent_mild": float((~recovering & ~severe & ~fluctuating).mean()),
        "fluctuating": float(fluctuating.mean()),
        "severe": float(severe.mean()),
    }


def _statistics() -> dict[str, Statistic]:
    s: list[Statistic] = [
        Statistic(
            "median_recovery_days",
            "days",
            "inception cohort: median duration of the index episode",
            lambda nh: float(np.median(nh.first_weeks) * 7),
        ),
        Statistic(
            "not_recovered_52_weeks",
            "share",
            "inception cohort: index episode still running 52 weeks after onset",
            lambda nh: float(np.mean(nh.first_weeks > 52)),
        ),
        Statistic(
            "recovered_3_months",
            "share",
            "inception cohort: index episode over within 13 weeks",
            lambda nh: float(np.mean(nh.first_weeks <= 13)),
        ),
        Statistic(
            "in_pain_52_weeks",
            "share",
            "inception cohort: in an episode (the index one or a new one) 52 weeks after onset",
            lambda nh: float(np.mean(nh.pain_at[52] > 0)),
        ),
        Statistic(
            "subacute_persisting_26_weeks",
            "share",
            "inception cohort: of index episodes lasting over 6 weeks, the share lasting over 26",
            lambda nh: float(np.mean(nh.first_weeks[nh.first_weeks > 6] > 26)),
        ),
        Statistic(
            "recurrence_1_year",
            "share",
            "recovered (index episode over within 6 weeks, then a pain-free month): new episode "
            "within a year of recovery",
            lambda nh: float(np.mean(_recurred(nh)[_recovered(nh)])),
        ),
        Statistic(
            "recurrence_odds_ratio_many_episodes",
            "odds ratio",
            "recovered: odds ratio of recurrence within a year, more than 2 previous episodes "
            "vs fewer",
            _recurrence_odds_ratio,
        ),
        Statistic(
            "median_days_to_recurrence",
            "days",
            "recovered who recur within a year: median days from recovery to the new episode",
            _median_days_to_recurrence,
        ),
    ]
    for week in (6, 26, 52):
        s.append(
            Statistic(
                f"acute_pain_{week}_weeks",
                "NRS 0-10",
                f"inception cohort: mean pain {week} weeks after onset (0 if not in pain)",
                lambda nh, w=week: float(nh.pain_at[w].mean()),
            )
        )
        s.append(
            Statistic(
                f"persistent_pain_{week}_weeks",
                "NRS 0-10",
                f"people still in pain 12 weeks after onset: mean pain {week} weeks later",
                _costa_persistent(12 + week),
            )
        )
    s += [
        Statistic(
            "point_prevalence_20_69",
            "share",
            "cross-section: in an episode, ages 20-69, WHO-standardized",
            lambda nh: _standardized(nh, nh.in_pain),
        ),
        Statistic(
            "point_prevalence_women_20_69",
            "share",
            "cross-section: women in an episode, ages 20-69, WHO-standardized",
            lambda nh: _standardized(nh, nh.in_pain, True),
        ),
        Statistic(
            "point_prevalence_men_20_69",
            "share",
            "cross-section: men in an episode, ages 20-69, WHO-standardized",
            lambda nh: _standardized(nh, nh.in_pain, False),
        ),
        Statistic(
            "lifetime_prevalence_20_69",
            "share",
            "cross-section: ever had an episode, ages 20-69, WHO-standardized",
            lambda nh: _standardized(nh, nh.ever),
        ),
        Statistic(
            "prevalence_ratio_60s_to_20s",
            "ratio",
            "cross-section: point prevalence at 60-69 over that at 20-29",
            lambda nh: _band(nh, 60, 70) / _band(nh, 20, 30),
        ),
    ]
    for low in range(20, 70, 10):
        s.append(
            Statistic(
                f"point_prevalence_{low}_{low + 9}",
                "share",
                f"cross-section: in an episode, ages {low}-{low + 9}",
                lambda nh, a=low: _band(nh, a, a + 10),
            )
        )
    for name in ("recovering", "persistent_mild", "fluctuating", "severe"):
        s.append(
            Statistic(
                f"dunn_{name}",
                "share",
                f"consulters (episode began within a year), 12 monthly readings: '{name}' "
                "trajectory (rules in sim.core.natural_history._dunn)",
                lambda nh, k=name: _dunn(nh)[k],
            )
        )
    return {stat.name: stat for stat in s}


STATISTICS: dict[str, Statistic] = _statistics()
"""Every statistic painsim computes from a natural-history simulation, by name."""


def compute_statistics(nh: NaturalHistory, names: list[str] | None = None) -> dict[str, float]:
    """The named statistics (default: all) of a natural-history simulation.

    Examples
    --------
    >>> nh = simulate_natural_history(ModelParams(), Design(population=800, incident=200))
    >>> stats = compute_statistics(nh, ["point_prevalence_20_69"])
    >>> 0 < stats["point_prevalence_20_69"] < 1
    True
    """
    return {name: STATISTICS[name].compute(nh) for name in (names or list(STATISTICS))}
