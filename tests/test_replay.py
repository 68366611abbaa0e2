"""Specification of replaying lived pain (sim.core.replay) and of branching a model into arms."""

from __future__ import annotations

import numpy as np
import pytest

from sim.core.model import PainModel
from sim.core.replay import PainPaths, replay
from sim.scenario import ArmSection, parse_scenario

DRIFT = {
    "drift.rate": 0.3,
    "drift.coping_weight": 0.2,
    "drift.relax_half_life": 2.0,
    "drift.irreversible_fraction": 0.1,
}


def scenario(parameters: dict | None = None, history: str = "none"):
    return parse_scenario(
        {
            "scenario": {"name": "replay", "seed": 5, "years": 12, "dt_weeks": 2},
            "cohort": {"size": 1500, "age_min": 18, "age_max": 60, "history": history},
            "parameters": parameters or {},
        }
    )


@pytest.fixture(scope="module")
def lived():
    """A model run for 12 years with its pain logged from the start, observed at 6 and 12."""
    model = PainModel(scenario(), create_agents=False)
    log = model.log_exposures()
    rows = np.arange(1500)
    model.run_until(6.0)
    half = model.observe(rows)
    model.run_until(12.0)
    return model, log, half, model.observe(rows)


def test_replay_at_the_models_own_parameters_is_the_models_state(lived):
    model, log, half, end = lived
    rows = np.arange(1500)
    times = np.where(rows % 2 == 0, 6.0, 12.0)
    score, adaptation = replay(
        model.pain_paths(log, rows, times), model.params.coping, model.params.drift
    )
    expected = np.where(rows % 2 == 0, half["adaptation"], end["adaptation"])
    np.testing.assert_allclose(adaptation, expected, atol=1e-9)
    np.testing.assert_allclose(
        score, np.where(rows % 2 == 0, half["coping"], end["coping"]), atol=1e-9
    )
    assert adaptation.max() > 0.05  # something was lived


def test_replay_with_other_drift_parameters_is_a_run_with_them(lived):
    """Drift never feeds back on pain or coping: the same pain, other adaptation."""
    model, log, _, end = lived
    other = PainModel(scenario(DRIFT), create_agents=False)
    other.run_until(6.0)  # the same stops as the logged run: the same random path
    other.run_until(12.0)
    rows = np.arange(1500)
    s = scenario(DRIFT)
    score, adaptation = replay(
        model.pain_paths(log, rows, np.full(1500, 12.0)), s.params.coping, s.params.drift
    )
    np.testing.assert_allclose(adaptation, other.observe(rows)["adaptation"], atol=1e-9)
    np.testing.assert_allclose(score, end["coping"], atol=1e-9)


def test_paths_can_be_joined_and_reordered(lived):
    model, log, _, _ = lived
    a = model.pain_paths(log, np.arange(0, 10), np.full(10, 12.0))
    b = model.pain_paths(log, np.arange(10, 20), np.full(10, 12.0))
    joined = PainPaths.concatenate([a, b])
    whole = model.pain_paths(log, np.arange(20), np.full(20, 12.0))
    p = model.params
    np.testing.assert_array_equal(
        replay(joined, p.coping, p.drift)[1], replay(whole, p.coping, p.drift)[1]
    )
    order = np.arange(20)[::-1]
    np.testing.assert_array_equal(
        replay(whole.take(order), p.coping, p.drift)[1], replay(whole, p.coping, p.drift)[1][order]
    )


def test_a_log_keeps_nothing_after_a_persons_cut_off():
    model = PainModel(scenario(), create_agents=False)
    log = model.log_exposures(until=np.zeros(1500))
    model.run_until(2.0)
    assert log.records == 0


# -- branches ---------------------------------------------------------------------------------
def arm(kind: str) -> ArmSection:
    spec = {"kind": kind, "start_year": 3.0, "eligible_stages": ["chronic"], "min_pain": 4.0}
    return ArmSection(name=kind, interventions=[spec])


@pytest.fixture(scope="module")
def chronic_at_three():
    s = parse_scenario(
        {
            "scenario": {"name": "branch", "seed": 8, "years": 4, "dt_weeks": 2},
            "cohort": {"size": 4000, "age_min": 25, "age_max": 60},
        }
    )
    model = PainModel(s, create_agents=False)
    model.run_until(3.0)
    rows = np.flatnonzero(model.stages() == 3)
    return model, rows


def test_a_branch_keeps_the_peoples_state(chronic_at_three):
    model, rows = chronic_at_three
    branch = model.branch(rows)
    before, after = model.observe(rows), branch.observe(np.arange(rows.size))
    for key in ("age", "years_with_pain", "episodes", "pain", "coping", "adaptation"):
        np.testing.assert_array_equal(after[key], before[key])
    np.testing.assert_allclose(branch.connectivity(), model.connectivity(rows), atol=1e-12)


def test_branches_into_arms_are_virtual_twins(chronic_at_three):
    """Same people, same luck: identical until enrolment, and the same patients enrolled."""
    model, rows = chronic_at_three
    everyone = np.arange(rows.size)
    uc, cbt = (model.branch(rows, arm(kind), key=1) for kind in ("usual_care", "cbt"))
    for twin in (uc, cbt):
        twin.run_until(3.5)
    a, b = uc.trial_outcomes(), cbt.trial_outcomes()
    enrolled = np.isfinite(a["enrolled_year"])
    assert enrolled.sum() > 50
    np.testing.assert_array_equal(a["enrolled_year"], b["enrolled_year"])
    assert (b["coping"][enrolled] <= a["coping"][enrolled] + 1e-9).all()
    np.testing.assert_array_equal(a["coping"][~enrolled], b["coping"][~enrolled])
    assert uc.observe(everyone)["episodes"].sum() == cbt.observe(everyone)["episodes"].sum()
    other = model.branch(rows, arm("usual_care"), key=2)
    other.run_until(3.5)
    assert not np.array_equal(other.trial_outcomes()["pain_reported"], a["pain_reported"])
