"""Specification of the model (sim.core.model): cohort behaviour, agents, reproducibility."""

import numpy as np
import pandas as pd
import pytest

from sim.core.model import PainModel
from sim.scenario import Scenario


def scenario(size=400, years=10.0, dt_weeks=4.0, seed=5, cohort=None, parameters=None):
    return Scenario.model_validate(
        {
            "scenario": {"name": "test", "years": years, "dt_weeks": dt_weeks, "seed": seed},
            "cohort": {"size": size, **(cohort or {})},
            "parameters": parameters or {},
        }
    )


def run(s, year, replicate=0):
    model = PainModel(s, replicate, create_agents=False)
    model.run_until(year)
    return pd.DataFrame(model.snapshot())


def test_healthy_people_stay_at_the_healthy_baseline_as_they_age():
    s = scenario(
        size=3000,
        years=30,
        cohort={"history": "none", "age_min": 20, "age_max": 60},
        parameters={"pain.onset_rate": 0.0},
    )
    for year in (0.0, 30.0):
        df = run(s, year)
        assert df.years_with_pain.max() == 0
        assert df.dmn_perturbation.mean() == pytest.approx(np.sqrt(2 / np.pi), abs=0.05)


def test_perturbation_rises_with_years_lived_with_pain():
    s = scenario(size=3000, years=25, cohort={"age_min": 18, "age_max": 18, "history": "none"})
    df = run(s, 25.0)
    patients = df[df.years_with_pain > 0]
    low, high = patients.years_with_pain.quantile([1 / 3, 2 / 3])
    bottom = patients[patients.years_with_pain <= low].dmn_perturbation.mean()
    top = patients[patients.years_with_pain >= high].dmn_perturbation.mean()
    assert top > bottom + 0.12  # about 0.2 with the calibrated drift defaults
    assert (
        patients[["years_with_pain", "dmn_perturbation"]].corr("spearman").iloc[0, 1] > 0.1
    )  # 0.15


def test_maladaptive_copers_drift_faster_at_equal_years_with_pain():
    # Without the coping effect on the course, both cohorts live identical pain histories.
    params = {"pain.coping_odds_ratio": 1.0}
    low = run(scenario(cohort={"coping_mean": 8.0, "coping_sd": 5.0}, parameters=params), 10.0)
    high = run(scenario(cohort={"coping_mean": 30.0, "coping_sd": 5.0}, parameters=params), 10.0)
    assert np.array_equal(low.years_with_pain, high.years_with_pain)
    in_pain = low.years_with_pain > 0.5
    assert (high.adaptation[in_pain] > low.adaptation[in_pain]).all()
    assert high.dmn_perturbation[in_pain].mean() > low.dmn_perturbation[in_pain].mean()


def test_coping_worsens_with_years_lived_with_pain():
    df = run(scenario(size=2000, years=20, cohort={"history": "none"}), 20.0)
    assert df[["years_with_pain", "coping"]].corr("spearman").iloc[0, 1] > 0.1


def test_subacute_patients_can_have_lived_many_years_with_pain():
    df = run(
        scenario(size=5000, years=30, cohort={"age_min": 18, "age_max": 30, "history": "none"}),
        30.0,
    )
    assert (df[df.stage == "subacute"].years_with_pain > 2.0).any()


@pytest.mark.slow
def test_step_size_changes_mean_perturbation_at_ten_years_by_less_than_two_percent():
    weekly = run(scenario(size=30_000, dt_weeks=1.0), 10.0).dmn_perturbation.mean()
    monthly = run(scenario(size=30_000, dt_weeks=4.0), 10.0).dmn_perturbation.mean()
    assert monthly == pytest.approx(weekly, rel=0.02)


def test_same_scenario_and_seed_give_identical_results():
    s = scenario(size=200, years=3)
    pd.testing.assert_frame_equal(run(s, 3.0), run(s, 3.0))


def test_replicates_and_seeds_give_different_people():
    s = scenario(size=200, years=3)
    base = run(s, 3.0)
    assert not base.equals(run(s, 3.0, replicate=1))
    assert not base.equals(run(scenario(size=200, years=3, seed=6), 3.0))


def test_run_until_ends_exactly_on_the_requested_year():
    model = PainModel(scenario(size=10, years=2, dt_weeks=3), create_agents=False)
    model.run_until(1.0)
    assert model.time_years == pytest.approx(1.0, abs=1e-12)


def test_patients_are_mesa_agents_that_view_the_cohort_arrays():
    model = PainModel(scenario(size=50, years=5))
    model.run_until(5.0)
    assert len(model.agents) == 50
    snap = model.snapshot()
    for agent in model.agents:
        i = agent.index
        assert agent.years_with_pain == snap["years_with_pain"][i]
        assert agent.stage == snap["stage"][i]
        assert agent.pain == pytest.approx(snap["pain"][i])
        assert agent.coping == pytest.approx(snap["coping"][i])
    agent = model.patients[3]
    model.cohort.pain.years_with_pain[3] = 42.0
    assert agent.years_with_pain == 42.0


def test_agent_connectivity_matches_the_cohort_materialization():
    model = PainModel(scenario(size=20, years=2))
    model.run_until(2.0)
    assert np.array_equal(model.patients[7].connectivity(), model.connectivity()[7])


def test_agents_can_be_selected_with_mesa():
    model = PainModel(scenario(size=300, years=10))
    model.run_until(10.0)
    chronic = model.agents.select(lambda a: a.stage == "chronic")
    assert len(chronic) == int((model.stages() == 3).sum())


def test_a_cohort_starts_with_simulated_histories_and_current_episodes():
    model = PainModel(
        scenario(size=4000, cohort={"age_min": 20, "age_max": 70}), create_agents=False
    )
    ylp = model.cohort.pain.years_with_pain
    assert model.time_years == 0.0
    # Year 0 is the steady state: people are in episodes of every stage, older people have
    # lived longer with pain, and nobody has pain from before the start age.
    assert {"acute", "subacute", "chronic"} <= set(np.asarray(pain_stages(model)))
    age = model.cohort.age0
    assert ylp[age > 50].mean() > ylp[age < 30].mean()
    assert (ylp <= age - model.params.pain.history_start_age + 1e-9).all()


def test_a_cohort_without_history_starts_pain_free():
    model = PainModel(scenario(size=500, cohort={"history": "none"}), create_agents=False)
    assert model.cohort.pain.years_with_pain.max() == 0
    assert not model.cohort.pain.in_pain.any()


def pain_stages(model):
    from sim.core.pain import STAGES

    return [STAGES[c] for c in model.stages()]


def test_recording_inside_steps_does_not_change_the_random_path():
    s = scenario(size=500, years=3, dt_weeks=4)
    once = PainModel(s, create_agents=False)
    once.run_until(3.0)
    often = PainModel(s, create_agents=False)
    for year in (0.3, 1.0, 1.7, 2.0, 3.0):
        often.run_until(year)
    a, b = pd.DataFrame(once.snapshot()), pd.DataFrame(often.snapshot())
    assert np.array_equal(a.episodes, b.episodes)
    assert np.array_equal(a.stage, b.stage)
    # Same draws and events; a split step places onsets on each part's own constant-hazard line
    # and takes pain at each part's midpoint, so continuous values move in the 4th decimal.
    for column in ("years_with_pain", "coping", "adaptation", "dmn_perturbation"):
        np.testing.assert_allclose(a[column], b[column], rtol=1e-3, atol=1e-4)


def test_connectivity_of_an_earlier_observation_is_what_it_was_then():
    model = PainModel(scenario(size=200, years=4), create_agents=False)
    rows = np.arange(0, 200, 3)
    model.run_until(2.0)
    seen, then = model.observe(rows), model.connectivity(rows)
    model.run_until(4.0)
    later = model.connectivity_at(
        rows, ages=seen["age"], adaptation=seen["adaptation"], pain_now=seen["pain"]
    )
    assert np.array_equal(later, then)
    assert not np.array_equal(model.connectivity(rows), then)


def test_connectivity_of_an_earlier_observation_refuses_a_treatment_on_the_network():
    s = Scenario.model_validate(
        {
            "scenario": {"name": "tms", "years": 1, "dt_weeks": 4},
            "cohort": {"size": 20},
            "arms": [
                {
                    "name": "TMS",
                    "interventions": [
                        {"kind": "tms", "dmn_effect": 0.5, "target_weights": {"aMPFC": 1.0}}
                    ],
                }
            ],
        }
    )
    model = PainModel(s, arm="TMS", create_agents=False)
    with pytest.raises(ValueError, match="arm 'TMS': connectivity_at"):
        model.connectivity_at(
            np.arange(3), ages=np.full(3, 40.0), adaptation=np.zeros(3), pain_now=np.zeros(3)
        )


def test_removed_history_settings_say_what_replaced_them():
    from sim.scenario import ScenarioError, parse_scenario

    with pytest.raises(ScenarioError) as err:
        parse_scenario({"scenario": {"name": "x"}, "cohort": {"pain_history_share": 0.3}}, "s.toml")
    assert str(err.value).startswith("s.toml: cohort.pain_history_share: removed")
    assert 'history = "simulated"' in str(err.value)


@pytest.mark.parametrize(
    "arm", ["usual care", pytest.param("TMS with a posited DMN effect", marks=pytest.mark.slow)]
)
def test_a_snapshot_taken_now_and_finished_later_is_the_snapshot_of_now(arm):
    # A run finishes a record's network outcomes on another thread while the model steps on.
    from sim.scenario import load_scenario

    s = load_scenario("scenarios/treatments.toml")
    s = s.model_copy(update={"cohort": s.cohort.model_copy(update={"size": 9000})})
    model = PainModel(s, arm=arm, create_agents=False)
    model.run_until(10.5)  # treatment under way (the DMN arm acts on the network)
    expected = model.snapshot(labels=False)
    later = model.snapshot_later(labels=False)
    model.run_until(12.0)  # pain, coping and adaptation change meanwhile
    got = later()
    assert list(got) == list(expected)
    for name, values in expected.items():
        np.testing.assert_array_equal(got[name], values, err_msg=name)
    assert not np.array_equal(model.snapshot(labels=False)["adaptation"], got["adaptation"])


def test_network_outcomes_of_some_people_are_their_entries_of_the_snapshot():
    model = PainModel(scenario(size=300), create_agents=False)
    model.run_until(3.0)
    snapshot = model.snapshot()
    rows = np.array([3, 50, 299])
    for name, values in model.network_outcomes(rows).items():
        np.testing.assert_array_equal(values, snapshot[name][rows], err_msg=name)
