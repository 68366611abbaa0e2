"""Replaying the people the figures show: a few people of a cohort live exactly as in the whole.

Figures 3, 4 and 8 need connectivity a run did not save. Only the people they show are
replayed (:func:`sim.core.replay.people_model`): every random number a person meets is their
own column of each stream's draw, so a model of a few people must reproduce them exactly,
pain history, treatment and all. Figure 4's groups come from the recorded state instead
(:func:`sim.results.replay.connectivity_from_records`).
"""

from __future__ import annotations

import numpy as np
import pytest
from figure_data import treatment_scenario

from sim.core.model import PainModel
from sim.core.replay import ColumnStream, people_model
from sim.results.replay import (
    connectivity_from_records,
    pain_free_pattern,
    rebuild,
)
from sim.scenario import parse_scenario


def scenario(record_every_years: float = 1.0, history: str = "simulated"):
    """Two arms (the second enrols subacute patients); record times fall inside steps."""
    spec = treatment_scenario()
    spec["scenario"].update(years=3, record_every_years=record_every_years)
    spec["cohort"].update(size=300, history=history)
    return parse_scenario(spec)


def test_a_column_stream_gives_the_columns_of_the_whole_draw_and_goes_on_in_step():
    whole = np.random.default_rng(11)
    some = ColumnStream(np.random.default_rng(11), np.array([0, 5, 299]), 300)
    for _ in range(3):
        expected = whole.random((4, 300))[:, [0, 5, 299]]
        assert np.array_equal(some.random((4, 3)), expected)
    assert np.array_equal(some.random(3), whole.random(300)[[0, 5, 299]])
    assert some.rng.random() == whole.random()  # the stream is where the whole cohort's is


def test_a_column_stream_of_another_generator_draws_everyone_and_keeps_the_columns():
    whole = np.random.Generator(np.random.MT19937(3))
    some = ColumnStream(np.random.Generator(np.random.MT19937(3)), np.array([2, 7]), 10)
    assert not some.skips
    assert np.array_equal(some.random((4, 2)), whole.random((4, 10))[:, [2, 7]])
    with pytest.raises(ValueError, match="sorted"):
        ColumnStream(np.random.default_rng(0), np.array([7, 2]), 10)


@pytest.mark.parametrize("history", ["simulated", "none"])
@pytest.mark.parametrize("arm", ["usual care", "CBT + TMS"])
def test_a_model_of_some_people_reproduces_them_exactly(arm, history):
    s = scenario(record_every_years=0.7, history=history)  # 0.7 years: inside 4-week steps
    whole = PainModel(s, 1, arm=arm, create_agents=False)
    # The treated arm enrols at the subacute stage: take people it enrols, and some it does not.
    probe = PainModel(s, 1, arm="CBT + TMS", create_agents=False)
    for _ in probe.iter_times():
        pass
    enrolled = np.flatnonzero(np.isfinite(probe.enrolled_year()))
    assert enrolled.size >= 3
    people = np.array([*enrolled[:3], 0, 299, 150])
    few, rows = people_model(s, 1, people, arm=arm)
    assert few.cohort.size < 10
    for t_whole, t_few in zip(whole.iter_times(), few.iter_times(), strict=True):
        assert t_whole == t_few
        a, b = whole.observe(people), few.observe(rows)
        for key in a:
            assert np.array_equal(a[key], b[key], equal_nan=True), (t_whole, key)
        assert np.array_equal(whole.enrolled_year()[people], few.enrolled_year()[rows], True)
        assert np.array_equal(whole.connectivity(people), few.connectivity(rows))
        assert np.array_equal(
            whole.network_outcomes(people)["dmn_perturbation"],
            few.network_outcomes(rows)["dmn_perturbation"],
        )


def test_a_replay_of_some_people_is_the_replay_of_everyone():
    s = scenario()
    arm = "CBT + TMS"
    few = rebuild(s, 0, arm, [4, 123], frames=(0.0, 2.0))
    whole = rebuild(s, 0, arm, [4, 123], frames=(0.0, 2.0), everyone=True)
    assert np.array_equal(few.years, whole.years)
    assert np.array_equal(few.connectivity, whole.connectivity)
    assert np.array_equal(few.pain_free, whole.pain_free)
    assert np.array_equal(few.perturbation, whole.perturbation)
    assert few.everyone is None and whole.everyone.shape[0] == 300


def test_connectivity_from_records_is_the_replayed_network_to_float32_precision():
    s = scenario()
    model = PainModel(s, 0, create_agents=False)
    for _ in model.iter_times():
        pass
    snap = model.snapshot()
    ids = np.arange(300)
    rebuilt = connectivity_from_records(
        s,
        0,
        "usual care",
        ids,
        ages=snap["age"].astype(np.float32),  # as stored in patients.parquet
        adaptation=snap["adaptation"].astype(np.float32),
        pain=snap["pain"].astype(np.float32),
    )
    replayed = rebuild(s, 0, "usual care", [0], everyone=True).everyone
    assert rebuilt.dtype == np.float32 and rebuilt.shape == replayed.shape
    np.testing.assert_allclose(rebuilt, replayed, atol=2e-6)
    tms = parse_scenario(
        {
            **treatment_scenario("TMS with a DMN effect"),
            "arms": [
                {
                    "name": "TMS with a DMN effect",
                    "interventions": [
                        {"kind": "tms", "dmn_effect": 0.3, "target_weights": {"aMPFC": 1.0}}
                    ],
                }
            ],
        }
    )
    with pytest.raises(ValueError, match="treatment effects on the network"):
        connectivity_from_records(
            tms, 0, "TMS with a DMN effect", [0], ages=[40.0], adaptation=[0.1], pain=[0.0]
        )


def test_a_pain_free_pattern_needs_no_history():
    s = scenario()
    whole = PainModel(s, 1, create_agents=False)
    ages = np.array([33.0, 61.5])
    expected = whole.pain_free_connectivity(np.array([7, 250]), ages)
    got = pain_free_pattern(s, 1, [7, 250], ages)
    iu = np.triu_indices(got.shape[1], 1)
    assert np.array_equal(got[:, iu[0], iu[1]], expected)
