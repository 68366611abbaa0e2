"""Specification of the pain process (sim.core.pain) and its natural history."""

import numpy as np
import pytest

from sim.core import pain
from sim.core.natural_history import (
    TARGETS,
    TRAJECTORY_TARGETS,
    consulter_trajectories,
    incident_cohort,
)
from sim.core.pain import WEEKS_PER_YEAR, PainParams, PainState, StepDraws
from sim.core.parameters import ModelParams

draws = StepDraws.from_uniforms


@pytest.fixture(scope="module")
def history():
    return incident_cohort(ModelParams(), n=20_000, seed=11)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_natural_history_falls_in_published_range(history, name):
    target = TARGETS[name]
    assert target.low <= history[name] <= target.high, target.source


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
    p = PainParams(recurrence_rate=20.0, recurrence_decay_years=100.0)
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


@pytest.fixture(scope="module")
def trajectories():
    return consulter_trajectories(ModelParams(), n=40_000, seed=3)


@pytest.mark.parametrize("name", sorted(TRAJECTORY_TARGETS))
def test_consulter_trajectories_match_dunn_2006_shares(trajectories, name):
    target = TRAJECTORY_TARGETS[name]
    assert target.low <= trajectories[name] <= target.high, target.source


def test_trajectory_shares_sum_to_one(trajectories):
    assert sum(trajectories.values()) == pytest.approx(1.0)
