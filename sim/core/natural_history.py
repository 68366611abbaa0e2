"""Natural history of back pain in the model, side by side with the published figures.

The pain process (``sim.core.pain``) is calibrated to the course of back pain in primary-care
cohorts (brief §3). This module runs the pain process alone on an *incident cohort* (everyone
starts an episode at time 0, as in inception cohorts) and computes the statistics the studies
report, so that tests and docs/model.md can compare them with :data:`TARGETS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.core import coping, pain
from sim.core.pain import WEEKS_PER_YEAR, PainState, StepDraws
from sim.core.parameters import ModelParams


@dataclass(frozen=True)
class Target:
    """A published figure: accepted range and where it comes from."""

    low: float
    high: float
    source: str


TARGETS: dict[str, Target] = {
    "median_recovery_weeks": Target(
        6.0,
        12.0,
        "Henschke 2008: median 58 days (95 % CI 52-63) in acute LBP [C]; "
        "range widened to the subacute window",
    ),
    "recovered_by_12_weeks": Target(
        0.33, 0.72, "Itz 2013: 33 % recovered in 3 months [C]; Henschke 2008: 72 % by 12 months"
    ),
    "in_pain_at_52_weeks": Target(
        0.28, 0.71, "Henschke 2008 (28 % not recovered) to Itz 2013 (71 % strict) [C]"
    ),
    "subacute_persisting_26_weeks": Target(
        0.25, 0.51, "Misic 2024: 25-50 % of SBP develop CBP [C]; Hashmi 2013: 20/39 persist [C]"
    ),
    "recurrence_within_year": Target(
        0.24, 0.69, "Stanton 2008 24-33 %; Machado 2017 33 %; da Silva 2019 69 % [C]"
    ),
    "mean_pain_6_weeks": Target(1.8, 2.8, "Costa 2012 acute-onset cohorts: 2.3/10 [C]"),
    "mean_pain_26_weeks": Target(0.7, 1.7, "Costa 2012 acute-onset cohorts: 1.2/10 [C]"),
    "mean_pain_52_weeks": Target(0.3, 1.1, "Costa 2012 acute-onset cohorts: 0.6/10 [C]"),
    "persistent_pain_26_weeks": Target(
        2.0, 3.2, "Costa 2012 persistent cohorts: 2.6/10 at 26 weeks [C]"
    ),
    "persistent_pain_52_weeks": Target(
        1.7, 2.9, "Costa 2012 persistent cohorts: 2.3/10 at 52 weeks [C]"
    ),
}


def incident_cohort(
    params: ModelParams,
    n: int = 20_000,
    seed: int = 0,
    years: float = 3.0,
    dt_weeks: float = 1.0,
) -> dict[str, float]:
    """Follow ``n`` people from the onset of an episode and compute the published statistics.

    Parameters
    ----------
    params
        Model parameters (pain and coping groups are used).
    n
        Cohort size.
    seed
        Seed of the cohort's random numbers.
    years
        Follow-up (at least 2 years, so recurrences within a year of recovery are seen).
    dt_weeks
        Step of the pain process.

    Returns
    -------
    dict
        Statistic name (keys of :data:`TARGETS`) -> simulated value.

    Examples
    --------
    >>> stats = incident_cohort(ModelParams(), n=2000)
    >>> 0 < stats["in_pain_at_52_weeks"] < 1
    True
    """
    p = params.pain
    rng = np.random.default_rng(seed)
    trait = coping.draw_trait(rng.random(n), params.coping)
    cz = coping.z_score(trait, params.coping)
    female = rng.random(n) < 0.5
    state = PainState.new(pain.draw_severity(rng.random(n), p), female)
    pain.start_episodes(state, np.arange(n), np.zeros(n), rng.random((3, n)), cz, p)
    first_end = state.end.copy()
    second_onset = np.full(n, np.inf)

    dt = dt_weeks / WEEKS_PER_YEAR
    checkpoints = {w: None for w in (6, 12, 26, 38, 52, 64)}
    t = 0.0
    for step in range(round(years / dt)):
        pain.advance(state, t, dt, StepDraws.from_uniforms(rng.random((4, n))), cz, p)
        t = (step + 1) * dt
        second_onset = np.where(
            (state.episodes >= 2) & np.isinf(second_onset), state.onset, second_onset
        )
        for week in checkpoints:
            if checkpoints[week] is None and t * WEEKS_PER_YEAR >= week - 1e-9:
                checkpoints[week] = pain.current_intensity(state, t, p)

    weeks = first_end * WEEKS_PER_YEAR
    recovered = first_end < years - 1.0
    chronic_at_12 = checkpoints[12] > 0
    subacute = weeks > 6
    return {
        "median_recovery_weeks": float(np.median(weeks)),
        "recovered_by_12_weeks": float(np.mean(weeks <= 12)),
        "in_pain_at_52_weeks": float(np.mean(checkpoints[52] > 0)),
        "subacute_persisting_26_weeks": float(np.mean(weeks[subacute] > 26)),
        "recurrence_within_year": float(
            np.mean(second_onset[recovered] - first_end[recovered] <= 1.0)
        ),
        "mean_pain_6_weeks": float(checkpoints[6].mean()),
        "mean_pain_26_weeks": float(checkpoints[26].mean()),
        "mean_pain_52_weeks": float(checkpoints[52].mean()),
        "persistent_pain_26_weeks": float(checkpoints[38][chronic_at_12].mean()),
        "persistent_pain_52_weeks": float(checkpoints[64][chronic_at_12].mean()),
    }


TRAJECTORY_TARGETS: dict[str, Target] = {
    name: Target(
        share - 0.08,
        share + 0.08,
        f"Dunn 2006: {share:.0%} of consulters [C]; tolerance +/- 8 points",
    )
    for name, share in (
        ("recovering", 0.30),
        ("persistent_mild", 0.36),
        ("fluctuating", 0.13),
        ("severe_chronic", 0.21),
    )
}


def consulter_trajectories(
    params: ModelParams,
    n: int = 60_000,
    seed: int = 0,
    burn_in_years: float = 20.0,
    recent_weeks: float = 52.0,
    severe_pain: float = 4.0,
) -> dict[str, float]:
    """Shares of the four Dunn (2006) 12-month pain trajectories among simulated consulters.

    A population is simulated for ``burn_in_years``; *consulters* are the people in an episode
    that began within ``recent_weeks`` (people see a doctor for a new or recent episode). Their
    pain is read monthly for a year and classified: *recovering* (pain-free in the last three
    months, at most one change between pain and no pain), *severe chronic* (in pain every month
    with a mean of at least ``severe_pain``), *fluctuating* (two or more changes), *persistent
    mild* (the rest). Dunn et al. found these classes by latent class analysis; these rules are
    our reading of their descriptions.

    Returns
    -------
    dict
        Trajectory name (keys of :data:`TRAJECTORY_TARGETS`) -> share of consulters.
    """
    p = params.pain
    rng = np.random.default_rng(seed)
    cz = coping.z_score(coping.draw_trait(rng.random(n), params.coping), params.coping)
    state = PainState.new(pain.draw_severity(rng.random(n), p), rng.random(n) < 0.5)
    dt, t = 2 / WEEKS_PER_YEAR, 0.0
    for _ in range(round(burn_in_years / dt)):
        pain.advance(state, t, dt, StepDraws.from_uniforms(rng.random((4, n))), cz, p)
        t += dt
    consulters = state.in_pain & (t - state.onset <= recent_weeks / WEEKS_PER_YEAR)
    monthly = []
    for _ in range(12):
        for _ in range(2):
            pain.advance(state, t, dt, StepDraws.from_uniforms(rng.random((4, n))), cz, p)
            t += dt
        monthly.append(pain.current_intensity(state, t, p)[consulters])
    scores = np.array(monthly)
    in_pain = scores > 0
    changes = np.abs(np.diff(in_pain.astype(int), axis=0)).sum(axis=0)
    recovering = (~in_pain[-3:]).all(axis=0) & (changes <= 1)
    severe = in_pain.all(axis=0) & (scores.mean(axis=0) >= severe_pain)
    fluctuating = ~recovering & ~severe & (changes >= 2)
    return {
        "recovering": float(recovering.mean()),
        "persistent_mild": float((~recovering & ~severe & ~fluctuating).mean()),
        "fluctuating": float(fluctuating.mean()),
        "severe_chronic": float(severe.mean()),
    }
