"""Specification of the pain process (sim.core.pain) and its natural history."""

import numpy as np
import pytest

from sim.core import pain
from sim.core.natural_history import (
    STATISTICS,
    Design,
    compute_statistics,
    simulate_natural_history,
)
from sim.core.pain import WEEKS_PER_YEAR, PainParams, PainState, StepDraws
from sim.core.parameters import ModelParams
from sim.core.targets import PUBLISHED

draws = StepDraws.from_uniforms

# Targets the shipped defaults miss (reported in docs/model.md, "Natural history"): each is
# expected to fail until the model can reach it, and a strict xfail notices when it does.
MISFITS: dict[str, str] = {
    "in_pain_52_weeks": "Itz 2013 counts low-level pain between episodes, not modelled (0.36)",
    "not_recovered_52_weeks": "0.247 just below Henschke's 0.25-0.31 since coping recovers faster "
    "(coping.recovery_rate 0.218, calibrated to Heukamp findings 1-3, after this calibration)",
    "acute_pain_52_weeks": "Costa's 0.6 conflicts with 25 % persisting at about 2.3 (1.4)",
    "point_prevalence_20_69": "13 % (GBD-derived upper bound 12.7 %) with the course targets",
}


@pytest.fixture(scope="module")
def natural_history():
    nh = simulate_natural_history(ModelParams(), Design(population=20_000, incident=6000), 11)
    return compute_statistics(nh)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_defaults_meet_every_published_natural_history_target(natural_history, name, request):
    if name in MISFITS:
        request.applymarker(pytest.mark.xfail(strict=True, reason=MISFITS[name]))
    target = PUBLISHED[name]
    assert target.low <= natural_history[name] <= target.high, target.source


def test_every_target_names_a_statistic_and_has_a_source():
    for name, target in PUBLISHED.items():
        assert name in STATISTICS
        assert target.low <= target.value <= target.high
        assert target.source


def _mixed_state(n: int = 200, seed: int = 0) -> PainState:
    rng = np.random.default_rng(seed)
    state = PainState.new(np.ones(n), rng.random(n) < 0.5, rng.uniform(20, 80, n))
    ended = rng.random(n) < 0.7
    state.end[ended] = -rng.exponential(2.0, ended.sum())
    state.episodes[:] = np.where(ended, rng.integers(1, 8, n), 0)
    return state


def test_cumulative_hazard_integrates_the_hazard_exactly():
    p = PainParams(onset_age_ratio=1.0)  # the age factor is held over a step by design
    state = _mixed_state()
    years = np.full(state.end.size, 0.7)
    grid = np.linspace(0.0, 0.7, 2001)
    rates = np.array([pain.onset_hazard(state, t, p) for t in grid])
    numeric = np.trapezoid(rates, grid, axis=0)
    np.testing.assert_allclose(
        pain.cumulative_onset_hazard(state, 0.0, years, p), numeric, rtol=1e-5
    )


def test_machado_odds_ratio_becomes_a_hazard_ratio_of_about_2_35():
    assert pain.hazard_ratio_from_odds_ratio(3.18, 0.33) == pytest.approx(2.35, abs=0.005)
    assert PainParams().many_episodes_ratio == pytest.approx(2.35, abs=0.005)


def test_many_episodes_risk_fades_back_to_the_background():
    p = PainParams()
    state = _one_episode(0.1)
    state.in_pain[:] = False
    state.episodes[:] = p.many_episodes_count
    just_after = pain.onset_hazard(state, 0.1, p)[0]
    few = _one_episode(0.1)
    few.in_pain[:] = False
    assert just_after == pytest.approx(
        p.many_episodes_ratio * pain.onset_hazard(few, 0.1, p)[0], rel=1e-12
    )
    long_after = pain.onset_hazard(state, 0.1 + 50 * p.many_episodes_fade_years, p)[0]
    background = p.onset_rate * np.exp(
        np.log(p.onset_age_ratio) * (45 + 0.1 + 50 * p.many_episodes_fade_years - 45) / 10
    )
    assert long_after == pytest.approx(background, rel=1e-6)


def test_onset_hazard_rises_with_age_and_is_zero_before_the_start_age():
    p = PainParams()
    state = PainState.new(np.ones(3), np.zeros(3, bool), np.array([17.0, 45.0, 55.0]))
    young, ref, older = pain.onset_hazard(state, 0.0, p)
    assert young == 0.0
    assert ref == pytest.approx(p.onset_rate)
    assert older / ref == pytest.approx(p.onset_age_ratio)


def test_women_have_the_onset_ratio_of_the_parameter_table():
    p = PainParams()
    state = PainState.new(np.ones(2), np.array([False, True]))
    men, women = pain.onset_hazard(state, 0.0, p)
    assert women / men == pytest.approx(p.female_onset_ratio)


def _one_episode(duration_years: float, n: int = 1) -> PainState:
    state = PainState.new(np.ones(n), np.zeros(n, bool))
    state.in_pain[:] = True
    state.onset[:] = 0.0
    state.end[:] = duration_years
    state.episodes[:] = 1
    return state


def test_years_with_pain_count_exactly_the_time_in_an_episode():
    p = PainParams(onset_rate=0.0, recurrence_rate=0.0)
    state = _one_episode(0.3)
    t = 0.0
    for _ in range(30):
        pain.advance(state, t, 1 / WEEKS_PER_YEAR, draws(np.full((4, 1), 0.5)), np.zeros(1), p)
        t += 1 / WEEKS_PER_YEAR
    assert state.years_with_pain[0] == pytest.approx(0.3, abs=1e-12)
    assert not state.in_pain[0]


def test_years_with_pain_accumulate_across_episodes():
    p = PainParams(recurrence_rate=20.0, recurrence_decay_years=100.0, p_persistent=0.0)
    state = _one_episode(0.1)
    t, dt = 0.0, 1 / WEEKS_PER_YEAR
    rng = np.random.default_rng(0)
    in_pain_time = 0.0
    for _ in range(200):
        exposure = pain.advance(state, t, dt, draws(rng.random((4, 1))), np.zeros(1), p)
        in_pain_time += exposure.duration[list(exposure.PAIN_SEGMENTS)].sum()
        t += dt
    assert state.episodes[0] > 3
    assert state.years_with_pain[0] == pytest.approx(in_pain_time, rel=1e-12)


@pytest.mark.parametrize(("weeks", "expected"), [(3, "acute"), (8, "subacute"), (20, "chronic")])
def test_stage_follows_duration_of_the_current_episode(weeks, expected):
    state = _one_episode(10.0)
    code = pain.stage(state, weeks / WEEKS_PER_YEAR, PainParams())
    assert pain.STAGES[code[0]] == expected


def test_stage_is_none_between_episodes():
    state = _one_episode(0.1)
    state.in_pain[:] = False
    assert pain.STAGES[pain.stage(state, 1.0, PainParams())[0]] == "none"


@pytest.mark.parametrize("dt_weeks", [1.0, 4.0, 13.0])
def test_first_onsets_follow_the_hazard_whatever_the_step(dt_weeks):
    p = PainParams(onset_rate=0.5, long_median_years=100.0, p_persistent=1.0)
    n = 40_000
    state = PainState.new(np.ones(n), np.zeros(n, bool))
    rng = np.random.default_rng(3)
    t, dt = 0.0, dt_weeks / WEEKS_PER_YEAR
    while t < 1.0 - 1e-9:
        step = min(dt, 1.0 - t)
        pain.advance(state, t, step, draws(rng.random((4, n))), np.zeros(n), p)
        t += step
    assert (state.episodes > 0).mean() == pytest.approx(1 - np.exp(-0.5), abs=0.01)


def test_intensity_course_matches_costa_anchors():
    p = PainParams()
    weeks = np.array([0.0, 6.0]) / WEEKS_PER_YEAR
    short = pain.course_intensity(np.zeros(2, bool), weeks, np.ones(2), p)
    assert short[0] == pytest.approx(p.onset_intensity)
    assert short[1] < short[0]


def test_maladaptive_coping_makes_the_persistent_course_more_likely():
    p = PainParams()
    low, mid, high = pain.persistent_probability(np.array([-1.0, 0.0, 1.0]), p)
    assert low < mid < high
    assert mid == pytest.approx(p.p_persistent)


def test_population_prevalence_rises_with_age(natural_history):
    bands = [natural_history[f"point_prevalence_{a}_{a + 9}"] for a in range(20, 70, 10)]
    assert bands[-1] > bands[0]


def test_dunn_trajectory_shares_sum_to_one():
    nh = simulate_natural_history(ModelParams(), Design(population=2000, incident=200), 3)
    stats = compute_statistics(
        nh, [f"dunn_{k}" for k in ("recovering", "persistent_mild", "fluctuating", "severe")]
    )
    assert sum(stats.values()) == pytest.approx(1.0)
