"""The fused step (sim.core.step) gives exactly what the model's vectorized equations give.

``sim.core.step.fused_step`` computes pain.advance, coping.advance and drift.advance in two
per-person Numba loops; the pain history and the whole steps of a run use it. These tests run
the vectorized functions themselves over the same random numbers and require the same state,
bit for bit: in a history, and in runs with treatment arms, record times that split steps and
twins.
"""

from __future__ import annotations

import math
from dataclasses import fields

import numpy as np
import pytest

from sim.core import coping, drift, pain, step
from sim.core.history import history_years, simulate_history
from sim.core.model import PainModel
from sim.core.pain import PainState, draw_severity
from sim.core.parameters import ModelParams, apply_overrides
from sim.scenario import load_scenario


def reference_history(state, trait, params, rng, dt_years, with_drift=True):
    """The history written with the vectorized step functions, as the run uses them."""
    n = state.in_pain.size
    coping_state, reversible, scar = np.zeros(n), np.zeros(n), np.zeros(n)
    steps = math.ceil(history_years(state.age0, params) / dt_years - 1e-9)
    for k in range(steps):
        t = -(steps - k) * dt_years
        cz = coping.z_score(coping.score(trait, coping_state), params.coping)
        draws = pain.StepDraws.from_uniforms(rng.random((4, n)))
        exposure = pain.advance(state, t, dt_years, draws, cz, params.pain)
        coping_state = coping.advance(coping_state, exposure, params.coping)
        if with_drift:
            reversible, scar = drift.advance(reversible, scar, exposure, cz, params.drift)
    return coping_state, reversible, scar


def cohort(n: int, seed: int, params: ModelParams):
    rng = np.random.default_rng(seed)
    state = PainState.new(
        draw_severity(rng.random(n), params.pain), rng.random(n) < 0.5, rng.uniform(18, 60, n)
    )
    trait = coping.draw_trait(rng.random(n), params.coping)
    return state, trait


@pytest.mark.parametrize(
    ("dt_weeks", "with_drift", "changes"),
    [
        pytest.param(1.0, True, {}, marks=pytest.mark.slow),  # the quick tests: the one below
        (4.0, False, {}),
        # A strong recurrence and many-episodes hazard: several episodes per step window.
        pytest.param(
            2.0,
            True,
            {"pain.recurrence_rate": 8.0, "pain.many_episodes_ratio": 3.0},
            marks=pytest.mark.slow,
        ),
    ],
)
def test_fused_history_equals_the_vectorized_equations_bit_for_bit(dt_weeks, with_drift, changes):
    params = apply_overrides(ModelParams(), changes)
    dt_years = dt_weeks / pain.WEEKS_PER_YEAR
    fused_state, trait = cohort(3000, 5, params)
    reference_state, _ = cohort(3000, 5, params)

    fused = simulate_history(
        fused_state, trait, params, np.random.default_rng(9), dt_years, with_drift=with_drift
    )
    expected = reference_history(
        reference_state, trait, params, np.random.default_rng(9), dt_years, with_drift
    )

    assert fused_state.episodes.sum() > 3000  # the check covers many episodes
    for field in fields(PainState):
        np.testing.assert_array_equal(
            getattr(fused_state, field.name), getattr(reference_state, field.name), field.name
        )
    np.testing.assert_array_equal(fused.coping_state, expected[0])
    np.testing.assert_array_equal(fused.reversible, expected[1])
    np.testing.assert_array_equal(fused.scar, expected[2])


def test_a_history_that_leaves_out_people_before_their_start_age_changes_nothing():
    # simulate_history runs each step over the people whose history has started (oldest
    # first, in a reordered copy). Here: big enough for the parallel kernels, people younger
    # than the start age even at time 0, and young people already in an episode (they take
    # part from the first step).
    params = ModelParams()
    n, dt_years = 6000, 4.0 / pain.WEEKS_PER_YEAR
    states, traits = [], []
    for _ in range(2):
        rng = np.random.default_rng(17)
        state = PainState.new(
            draw_severity(rng.random(n), params.pain), rng.random(n) < 0.5, rng.uniform(16, 75, n)
        )
        young = np.flatnonzero(state.age0 < 20)[:40]
        begin = -history_years(state.age0, params)
        state.in_pain[young] = True
        state.onset[young] = begin - 0.1
        state.end[young] = begin + rng.uniform(0.05, 3.0, young.size)
        state.episodes[young] = 1
        states.append(state)
        traits.append(coping.draw_trait(rng.random(n), params.coping))

    fused = simulate_history(states[0], traits[0], params, np.random.default_rng(4), dt_years)
    expected = reference_history(states[1], traits[1], params, np.random.default_rng(4), dt_years)

    for field in fields(PainState):
        np.testing.assert_array_equal(
            getattr(states[0], field.name), getattr(states[1], field.name), field.name
        )
    np.testing.assert_array_equal(fused.coping_state, expected[0])
    np.testing.assert_array_equal(fused.reversible, expected[1])
    np.testing.assert_array_equal(fused.scar, expected[2])
    untouched = states[0].age0 < 18
    untouched[young] = False
    assert untouched.sum() > 100 and (fused.coping_state[untouched] == 0).all()
    assert (fused.reversible > 0).mean() > 0.5


def vectorized_steps(monkeypatch):
    """Make PainModel take every whole step through the vectorized functions."""
    monkeypatch.setattr(PainModel, "_advance_step", lambda self, dt: self._advance_part(dt))


@pytest.mark.parametrize(
    "arm",
    [
        "CBT + TMS",  # the quick tests (-m "not slow") check the arm with most going on
        pytest.param("usual care", marks=pytest.mark.slow),
        pytest.param("TMS with a posited DMN effect", marks=pytest.mark.slow),
    ],
)
def test_a_run_with_fused_steps_equals_the_vectorized_run(monkeypatch, arm):
    scenario = load_scenario("scenarios/treatments.toml")
    scenario = scenario.model_copy(
        update={"cohort": scenario.cohort.model_copy(update={"size": 1500})}
    )

    def records(model):
        out = []
        # Treatment starts at year 10; record times off the 2-week grid split steps.
        for year in (0.5, 10.3, 11.0, 12.75):
            model.run_until(year)
            out.append(model.snapshot(labels=False))
            out.append({"shadows": model.shadow_adaptation(np.arange(1500))})
        out.append({"enrolled_year": model.enrolled_year()})
        twin = model.branch(np.arange(0, 1500, 3))  # a twin goes on with its own draws
        twin.run_until(14.0)
        for _ in range(20):  # stepping by time + dt, as the study does: parts an ulp off dt
            twin.run_until(twin.time_years + twin.dt_years)
        out.append(twin.snapshot(labels=False))
        return out

    # Two shadow drift sets (a study's counterfactual views) ride along.
    drift = scenario.params.drift
    shadows = (
        drift.model_copy(update={"coping_weight": 0.0}),
        drift.model_copy(update={"relax_half_life": 2.0, "irreversible_fraction": 0.5}),
    )
    fused = records(PainModel(scenario, arm=arm, create_agents=False, shadow_drift=shadows))
    vectorized_steps(monkeypatch)
    expected = records(PainModel(scenario, arm=arm, create_agents=False, shadow_drift=shadows))

    assert fused[-4]["episodes"].sum() > 1500
    if arm != "usual care":
        assert np.isfinite(fused[-2]["enrolled_year"]).sum() > 20  # relief is exercised
    for got, want in zip(fused, expected, strict=True):
        assert got.keys() == want.keys()
        for key in want:
            np.testing.assert_array_equal(got[key], want[key], key)


@pytest.mark.parametrize("treated", [False, True])
def test_the_parallel_step_of_a_large_cohort_equals_the_serial_step(monkeypatch, treated):
    # Large cohorts run the kernels' parallel twins (blocks of people on Numba's threads); the
    # starters must come out in the same order and every number must be the serial one.
    n = 3 * step.PARALLEL_MIN_ROWS + 17  # not a whole number of blocks
    params = apply_overrides(ModelParams(), {"pain.recurrence_rate": 8.0})
    drifts = (params.drift, params.drift.model_copy(update={"relax_half_life": 2.0}))
    rng = np.random.default_rng(4)
    relief = rng.uniform(0.5, 1.0, n) if treated else None
    coping_relief = rng.uniform(0.0, 5.0, n) if treated else None
    uniforms = rng.random((40, 4, n))

    def run(parallel):
        monkeypatch.setattr(step, "PARALLEL_MIN_ROWS", 1 if parallel else n + 1)
        state, trait = cohort(n, 6, params)
        coping_state, reversible, scar = np.zeros(n), np.zeros((2, n)), np.zeros((2, n))
        for k, block in enumerate(uniforms):
            step.fused_step(state, k / 26.0, 1 / 26.0, block, trait, coping_state, reversible,
                            scar, params, drifts=drifts, relief=relief,
                            coping_relief=coping_relief)  # fmt: skip
        return state, coping_state, reversible, scar

    parallel, serial = run(True), run(False)
    assert serial[0].episodes.sum() > 2000  # about 10 starters per block and step
    for field in fields(PainState):
        np.testing.assert_array_equal(
            getattr(parallel[0], field.name), getattr(serial[0], field.name), field.name
        )
    for got, want in zip(parallel[1:], serial[1:], strict=True):
        np.testing.assert_array_equal(got, want)
