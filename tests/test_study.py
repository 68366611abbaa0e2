"""Specification of the virtual Heukamp study (`painsim study`, `sim.study`, the [study] section).

The expensive part is the study population. It is simulated once per module and shared, so
treat the fixtures as read-only: ``small_pool`` (40,000 people, for the statistics of the
published pattern; its tests are marked slow), ``tiny_pools`` (5,000 people to age 40 in
4-week steps, model and counterfactual) and ``tiny_study`` (a whole tiny study with power and
counterfactual, saved once as ``tiny_folder``). The mechanism check (a 40,000-person
population in the corner of the prior where the mediation shows, with its counterfactual as a
view) is marked slow.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from support import LazyModule
from typer.testing import CliRunner

import sim
from sim.analysis.stats import batched_ols, count_weighted_ols, mediation
from sim.analysis.stats import welch_test as compare_groups
from sim.core.brain import build_brain
from sim.core.parameters import ModelParams
from sim.experiments.study import (
    CBP,
    HC,
    SBP,
    STUDY_COLUMNS,
    Pool,
    PoolTooSmallError,
    PopulationSpec,
    Recruitment,
    StudyResult,
    build_populations,
    counterfactual_scenario,
    detection_rates,
    group_sizes,
    observe_connectivity,
    observe_coping,
    override_study,
    recruit,
    restrict,
    run_replications,
    sample_table,
    simulate_population,
    study_design,
)
from sim.interfaces.cli import app
from sim.results.manifest import read_manifest
from sim.results.run import ResultsError
from sim.scenario import ScenarioError, StudySection, parse_scenario

sm = LazyModule("statsmodels.api")  # imported by the worker that runs these tests only

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
runner = CliRunner()

# A population big enough for a few dozen replications of the published design.
SMALL_STUDY = {
    "scenario": {"name": "small study", "seed": 20240710},
    "study": {"population": 40_000, "replications": 40, "power_multipliers": [1.0]},
}
TINY_TOML = """
[scenario]
name = "tiny study"
seed = 3
dt_weeks = 4

[study]
population = 5000
age_max = 40
n_healthy = 8
n_subacute = 8
n_chronic = 8
replications = 3
power_multipliers = [0.5, 1.0]
counterfactual = false
"""


# A whole study in a few seconds: young adults, small groups, 4-week steps.
TINY = {
    "scenario": {"name": "tiny study", "seed": 3, "dt_weeks": 4},
    "study": {
        "population": 5000,
        "age_max": 40,
        "n_healthy": 8,
        "n_subacute": 8,
        "n_chronic": 8,
        "replications": 3,
        "power_multipliers": [0.5, 1.0],
        "counterfactual": True,
    },
}


SMALL_POOL = pytest.mark.slow
"""Tests of ``small_pool`` (40,000 people, the published design's statistics; about a quarter
of a minute to simulate): slow. The inner loop checks the study on the tiny pools and study."""


@pytest.fixture(scope="module")
def small_scenario():
    return parse_scenario(SMALL_STUDY, "small study")


@pytest.fixture(scope="module")
def small_pool(small_scenario) -> Pool:
    return simulate_population(small_scenario)


@pytest.fixture(scope="module")
def tiny_pools() -> tuple[Pool, Pool]:
    """The tiny study's population in the model and in the counterfactual model."""
    scenario = parse_scenario(TINY, "tiny")
    return simulate_population(scenario), simulate_population(counterfactual_scenario(scenario))


@pytest.fixture(scope="module")
def tiny_study() -> StudyResult:
    return sim.study(TINY, command=["painsim", "study", "tiny.toml"], backend="serial")


@pytest.fixture(scope="module")
def tiny_folder(tiny_study, tmp_path_factory) -> Path:
    return tiny_study.save(tmp_path_factory.mktemp("studies") / "tiny")


@pytest.fixture(scope="module")
def small_study(small_scenario, small_pool) -> pd.DataFrame:
    return run_replications(
        small_pool,
        small_scenario,
        group_sizes(small_scenario.study),
        small_scenario.study.replications,
    )[0]


# -- the [study] section ------------------------------------------------------------------------
def test_study_defaults_are_the_published_design():
    s = StudySection()
    assert (s.n_healthy, s.n_subacute, s.n_chronic) == (39, 77, 31)
    assert (s.subacute_min_weeks, s.subacute_max_weeks, s.chronic_min_weeks) == (6, 12, 12)
    assert s.replications == 200 and s.bootstrap_resamples >= 1000 and s.alpha == 0.05
    assert s.power_multipliers == [0.5, 1.0, 2.0, 4.0]


def test_shipped_scenario_describes_the_heukamp_design():
    from sim.scenario import load_scenario

    study = load_scenario(SCENARIOS / "heukamp2024.toml").study
    assert study == StudySection(**study.model_dump())
    assert (study.n_healthy, study.n_subacute, study.n_chronic, study.replications) == (
        39,
        77,
        31,
        200,
    )


@pytest.mark.parametrize(
    ("study", "field", "fragment"),
    [
        ({"n_healty": 39}, "study.n_healty", "did you mean 'n_healthy'"),
        ({"connectivity_reliability": float("nan")}, "study.connectivity_reliability", "finite"),
        ({"connectivity_reliability": 0}, "study.connectivity_reliability", "greater than 0"),
        ({"bootstrap_resamples": 500}, "study.bootstrap_resamples", "1000"),
        ({"n_chronic": 2}, "study.n_chronic", "greater than or equal to 4"),
        ({"power_multipliers": [1.0, -2.0]}, "study.power_multipliers[1]", "greater than 0"),
        ({"age_min": 60, "age_max": 40}, "study", "age_max must be greater than age_min"),
        ({"chronic_min_weeks": 8}, "study", "must not overlap"),
        ({"subacute_prior": "never"}, "study.subacute_prior", "'first_episode'"),
        ({"subacute_max_prior_years": -1}, "study.subacute_max_prior_years", "greater than"),
        ({"controls": "healthy"}, "study.controls", "'no_chronic_history'"),
        ({"uncertainty_draws": 65}, "study.uncertainty_draws", "less than or equal to 64"),
        ({"uncertainty_parameters": ["drift.rat"]}, "study.uncertainty_parameters", "[0]"),
        ({"uncertainty_parameters": ["brain.atlas"]}, "study.uncertainty_parameters", "range"),
        ({"indices": ["mean_abs_z", "mean_abs_z"]}, "study.indices", "listed once"),
        ({"indices": ["Mean"]}, "study.indices[0]", "letters, digits"),
        ({"window": 60}, "study", "window must not exceed"),
        ({"follow_up_years": 0}, "study.follow_up_years", "greater than 0"),
    ],
)
def test_bad_study_settings_give_one_line_naming_file_and_field(study, field, fragment):
    with pytest.raises(ScenarioError) as err:
        parse_scenario({"scenario": {"name": "x"}, "study": study}, "bad.toml")
    message = str(err.value)
    assert message.startswith(f"bad.toml: {field}: ") and fragment in message
    assert "\n" not in message


def test_a_scenario_without_study_section_cannot_be_studied():
    with pytest.raises(ScenarioError, match=r"^f.toml: study: section missing"):
        study_design(parse_scenario({"scenario": {"name": "x"}}), "f.toml")


def test_half_the_design_rounds_half_up_and_never_below_two():
    assert group_sizes(StudySection(), 0.5) == (20, 39, 16)
    assert group_sizes(StudySection(), 4.0) == (156, 308, 124)
    assert group_sizes(StudySection(n_healthy=4, n_subacute=4, n_chronic=4), 0.1) == (2, 2, 2)


# -- population and recruitment -----------------------------------------------------------------
@pytest.mark.parametrize(
    "which", [pytest.param("small", marks=SMALL_POOL), "tiny"], ids=["small_pool", "tiny_pool"]
)
def test_candidates_meet_the_inclusion_rules(which, request):
    if which == "small":
        s, p = (
            request.getfixturevalue("small_scenario").study,
            request.getfixturevalue("small_pool"),
        )
    else:  # the quick check: 5,000 people to age 40
        s, p = parse_scenario(TINY, "tiny").study, request.getfixturevalue("tiny_pools")[0]
    assert np.unique(p.person).size == p.person.size  # nobody is a candidate twice
    assert ((p.age >= s.age_min) & (p.age <= s.age_max + 1 / 52)).all()
    hc, sbp, cbp = (p.group == g for g in (HC, SBP, CBP))
    assert (p.episodes[hc] == 0).all() and (p.years_with_pain[hc] == 0).all()
    assert np.isnan(p.episode_weeks[hc]).all()
    weeks = p.episode_weeks
    assert ((weeks[sbp] >= s.subacute_min_weeks) & (weeks[sbp] <= s.subacute_max_weeks)).all()
    assert (weeks[cbp] > s.chronic_min_weeks).all()
    assert (p.pain[sbp | cbp] > 0).all()


@SMALL_POOL
def test_years_with_pain_span_what_the_study_saw(small_pool):
    """About 0.1 to 29 years; subacute patients include people with many earlier episodes."""
    ylp, g = small_pool.years_with_pain, small_pool.group
    patients = ylp[g != HC]
    assert patients.min() < 0.15
    assert np.percentile(ylp[g == CBP], 99) > 25
    assert np.mean(ylp[g == SBP] > 1.0) > 0.3
    assert np.median(small_pool.episodes[g == SBP]) >= 3


@SMALL_POOL
def test_each_replication_recruits_distinct_people_with_age_matched_controls(small_pool):
    rng = np.random.default_rng(0)
    rows = recruit(small_pool, (39, 77, 31), rng, match_age=True)
    assert rows.size == 147 and np.unique(small_pool.person[rows]).size == 147
    groups = small_pool.group[rows]
    assert [(groups == g).sum() for g in (HC, SBP, CBP)] == [39, 77, 31]
    ages = [small_pool.age[rows[groups == HC]].mean(), small_pool.age[rows[groups != HC]].mean()]
    assert ages[0] == pytest.approx(ages[1], abs=4.0)


# -- measurement --------------------------------------------------------------------------------
def test_connectivity_noise_gives_the_stated_test_retest_reliability():
    brain = build_brain()
    rng = np.random.default_rng(1)
    true = brain.healthy_z + brain.healthy_sd_z * rng.standard_normal((20_000, brain.n_edges))
    scans = [np.arctanh(observe_connectivity(true, brain, 0.29, rng)) for _ in range(2)]
    icc = np.mean([np.corrcoef(scans[0][:, e], scans[1][:, e])[0, 1] for e in range(10)])
    assert icc == pytest.approx(0.29, abs=0.02)
    np.testing.assert_allclose(observe_connectivity(true[:5], brain, 1.0, rng), np.tanh(true[:5]))


def test_coping_questionnaire_has_the_stated_reliability_and_stays_on_the_scale():
    rng = np.random.default_rng(2)
    true = 30 + 9.0 * rng.standard_normal(50_000)  # far from the floor, so clipping is rare
    a, b = (observe_coping(true, ModelParams(), 0.75, rng) for _ in range(2))
    assert np.corrcoef(a, b)[0, 1] == pytest.approx(0.75, abs=0.02)
    low = observe_coping(np.zeros(1000), ModelParams(), 0.5, rng)
    assert low.min() >= 0.0 and low.max() <= 52.0


# -- analysis -----------------------------------------------------------------------------------
def test_group_comparison_is_welch_t_with_pooled_sd_cohens_d():
    rng = np.random.default_rng(3)
    x, y = rng.normal(1.0, 2.0, 31), rng.normal(0.0, 1.0, 39)
    t, p, d = compare_groups(x, y)
    welch = stats.ttest_ind(x, y, equal_var=False)
    assert (t, p) == pytest.approx((welch.statistic, welch.pvalue))
    pooled = math.sqrt((30 * x.var(ddof=1) + 38 * y.var(ddof=1)) / 68)
    assert d == pytest.approx((x.mean() - y.mean()) / pooled)


def test_batched_least_squares_agrees_with_statsmodels():
    rng = np.random.default_rng(4)
    design = np.concatenate([np.ones((3, 50, 1)), rng.normal(size=(3, 50, 2))], axis=2)
    y = rng.normal(size=(3, 50))
    coefs = batched_ols(design, y)
    for b in range(3):
        np.testing.assert_allclose(coefs[b], sm.OLS(y[b], design[b]).fit().params, atol=1e-10)


def test_count_weighted_regressions_are_the_resamples_regressions_and_nan_when_rank_deficient():
    rng = np.random.default_rng(8)
    n = 40
    design = np.column_stack([np.ones(n), rng.normal(size=n), rng.random(n) < 0.1])
    y = design @ np.array([1.0, 2.0, -0.5]) + rng.normal(size=n)
    counts = rng.integers(0, 3, size=(300, n)).astype(float)
    counts[:5, design[:, 2] == 1] = 0.0  # no one with the rare trait: a constant column
    counts[5, :] = 0.0
    counts[5, :2] = 1.0  # two people, three coefficients

    coefs = count_weighted_ols(counts, design, y)

    for b in range(counts.shape[0]):
        rows = np.repeat(np.arange(n), counts[b].astype(int))
        if np.linalg.matrix_rank(design[rows]) < 3:
            assert np.isnan(coefs[b]).all(), b
        else:
            expected = np.linalg.lstsq(design[rows], y[rows], rcond=None)[0]
            np.testing.assert_allclose(coefs[b], expected, atol=1e-9)
    assert np.isnan(coefs[:6]).all() and np.isfinite(coefs[6:, 0]).sum() > 280


def test_mediation_recovers_a_known_indirect_effect_and_not_a_missing_one():
    rng = np.random.default_rng(5)
    n = 400
    x, age = rng.normal(size=n), rng.normal(size=n)
    m = 0.5 * x + rng.normal(size=n)
    y_mediated = 0.4 * m + 0.3 * x + rng.normal(size=n)
    y_direct = 0.5 * x + rng.normal(size=n)
    with_m = mediation(x, m, y_mediated, age[:, None], rng, resamples=1000)
    assert with_m["indirect"] == pytest.approx(0.2, abs=0.08)
    assert with_m["indirect_ci_low"] > 0
    assert with_m["total"] == pytest.approx(with_m["direct"] + with_m["indirect"], abs=1e-9)
    without = mediation(x, m, y_direct, age[:, None], rng, resamples=1000)
    assert without["indirect_ci_low"] < 0 < without["indirect_ci_high"]


# -- the study ----------------------------------------------------------------------------------
@SMALL_POOL
def test_study_table_has_one_row_per_replication_with_the_documented_columns(small_study):
    assert list(small_study.columns) == list(STUDY_COLUMNS)
    assert small_study["replication"].tolist() == list(range(40))
    assert (small_study[["n_hc", "n_sbp", "n_cbp"]] == [39, 77, 31]).all().all()
    assert (small_study["indirect_ci_low"] <= small_study["indirect_ci_high"]).all()


@SMALL_POOL
def test_the_same_seed_gives_the_same_study(small_pool, small_scenario, small_study):
    again, _ = run_replications(small_pool, small_scenario, (39, 77, 31), 3)
    pd.testing.assert_frame_equal(again, small_study.iloc[:3])


@SMALL_POOL
def test_seeded_study_shows_the_calibrated_pattern(small_study):
    """A small, seeded study with the calibrated defaults (docs/model.md, "Calibration to the
    Heukamp findings"): findings 2 and 3 come out, finding 1 less often than published, and
    the mediation (predicted, not fitted) rarely: the documented misfit."""
    rates = detection_rates(small_study, 0.05)
    assert 0.15 <= rates["cbp_hc"] <= 0.6  # 1. chronic > healthy: below the 70 % aim
    assert rates["cbp_sbp"] >= 0.6  # 2. chronic vs subacute not significant
    assert rates["ylp"] >= 0.6  # 3. perturbation rises with years lived with pain
    assert rates["mediation"] <= 0.25  # 4. predicted about 8 %: not reproduced
    assert small_study["d_cbp_hc"].median() > small_study["d_cbp_sbp"].median() > 0
    assert small_study["r_ylp"].median() > 0.15
    assert small_study["share_mediated"].median() == pytest.approx(0.07, abs=0.07)


@SMALL_POOL
def test_restricting_subacute_history_makes_chronic_and_subacute_patients_differ(
    small_pool, small_scenario, small_study
):
    """First-episode subacute patients lack the earlier years with pain that keep them close to
    chronic patients: finding 2 (no significant difference) then rarely holds."""
    rule = Recruitment.from_study(small_scenario.study).replace(subacute_prior="first_episode")
    first = restrict(small_pool, rule)
    assert (first.episodes[first.group == SBP] == 1).all()
    table, _ = run_replications(first, small_scenario, (39, 77, 31), 20)
    restricted, base = (detection_rates(t, 0.05)["cbp_sbp"] for t in (table, small_study))
    assert restricted <= base - 0.3
    assert table["d_cbp_sbp"].median() > small_study["d_cbp_sbp"].median() + 0.15
    # no earlier years with pain (to rounding: prior = years with pain minus the current episode)
    assert table["mean_prior_ylp_sbp"].max() == pytest.approx(0.0, abs=1e-9)
    assert small_study["mean_prior_ylp_sbp"].min() > 0.1


def test_a_drift_only_counterfactual_integrated_alongside_is_the_separate_simulation(tiny_pools):
    """The counterfactual as a view of the model's population (one simulation) is exactly
    the counterfactual population simulated on its own."""
    model, counter = tiny_pools
    scenario = parse_scenario(TINY, "tiny")
    views = {"no_coping_drift": counterfactual_scenario(scenario).params.drift}
    pools = build_populations({"model": PopulationSpec(scenario, views=views)})["model"]
    base = Recruitment.from_study(scenario.study)
    for got, want in ((pools["model"], model), (pools["no_coping_drift"], counter)):
        got = restrict(got, base)
        np.testing.assert_array_equal(got.person, want.person)
        np.testing.assert_array_equal(got.adaptation, want.adaptation)
        np.testing.assert_array_equal(got.edges_z, want.edges_z)


def test_counterfactual_people_live_the_same_lives(tiny_pools):
    model, counter = tiny_pools
    for name in ("person", "group", "age", "years_with_pain", "episodes", "pain", "coping"):
        np.testing.assert_array_equal(getattr(model, name), getattr(counter, name))
    assert not np.allclose(model.adaptation, counter.adaptation)


# The corner of the prior in which the mediation is detected (the tuned defaults before the
# calibration): the mechanism check needs a mechanism strong enough to show.
CORNER = {
    "drift.rate": 0.06,
    "drift.coping_weight": 1.0,
    "drift.relax_half_life": 10.0,
    "drift.irreversible_fraction": 0.5,
    "coping.recovery_rate": 0.1,
    "drift.mpfc_pcc": -0.35,
    "drift.dmn": -0.15,
    "drift.mpfc_insula": 0.15,
}


@pytest.fixture(scope="module")
def corner_scenario():
    return parse_scenario({**SMALL_STUDY, "parameters": CORNER}, "corner")


@pytest.fixture(scope="module")
def corner_pools(corner_scenario) -> tuple[Pool, Pool]:
    """The corner population and its counterfactual from one simulation: the drift-only
    counterfactual as a view is exactly the counterfactual simulated on its own (shown above by
    ``test_a_drift_only_counterfactual_integrated_alongside_is_the_separate_simulation``), at
    half the cost of two 40,000-person simulations."""
    views = {"no_coping_drift": counterfactual_scenario(corner_scenario).params.drift}
    pools = build_populations({"model": PopulationSpec(corner_scenario, views=views)})["model"]
    base = Recruitment.from_study(corner_scenario.study)
    return restrict(pools["model"], base), restrict(pools["no_coping_drift"], base)


@pytest.fixture(scope="module")
def corner_study(corner_scenario, corner_pools) -> pd.DataFrame:
    return run_replications(corner_pools[0], corner_scenario, (39, 77, 31), 40)[0]


@pytest.fixture(scope="module")
def counterfactual_study(corner_scenario, corner_pools) -> pd.DataFrame:
    scenario = counterfactual_scenario(corner_scenario)
    return run_replications(corner_pools[1], scenario, (39, 77, 31), 40)[0]


@pytest.mark.slow
def test_without_coping_in_the_drift_the_mediation_goes_and_years_with_pain_stay(
    corner_study, counterfactual_study
):
    """Where the mechanism produces the mediation, taking coping out of the drift removes it."""
    small_study = corner_study
    model, counter = (detection_rates(t, 0.05) for t in (small_study, counterfactual_study))
    assert counter["mediation"] <= 0.15 < model["mediation"]
    assert counter["ylp"] >= 0.65
    assert counterfactual_study["r_ylp"].median() == pytest.approx(
        small_study["r_ylp"].median(), abs=0.1
    )
    assert abs(counterfactual_study["indirect"].median()) < small_study["indirect"].median() / 3


@SMALL_POOL
def test_sample_table_lists_one_replications_participants(small_pool, small_scenario):
    sample = sample_table(small_pool, small_scenario, (39, 77, 31))
    assert sample["group"].value_counts().to_dict() == {
        "subacute": 77,
        "healthy": 39,
        "chronic": 31,
    }
    healthy = sample.loc[sample["group"] == "healthy", "dmn_perturbation"]
    assert healthy.mean() == pytest.approx(math.sqrt(2 / math.pi), abs=0.15)


# -- the command --------------------------------------------------------------------------------
def _invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("painsim: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_study_command_writes_results_and_prints_the_findings(tmp_path, write_toml):
    out = tmp_path / "out"
    result = _invoke(
        "study",
        write_toml(TINY_TOML),
        "--out",
        out,
        "--replications",
        "4",
        "--seed",
        "5",
        "--no-progress",
        "--backend",
        "serial",
        "--no-figures",  # the study figures: tests/test_figures.py
    )
    assert result.exit_code == 0, result.output
    assert "chronic > healthy" in result.stdout and f"results: {out}" in result.stdout
    for name in (
        "study.csv",
        "findings.csv",
        "findings.md",
        "power.csv",
        "sample.csv",
        "manifest.json",
    ):
        assert (out / name).is_file(), name
    study = pd.read_csv(out / "study.csv")
    assert len(study) == 4 and set(STUDY_COLUMNS) <= set(study.columns)
    assert sorted(pd.read_csv(out / "power.csv")["multiplier"].unique()) == [0.5, 1.0]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "study" and manifest["seed"] == 5
    assert manifest["study"]["replications"] == 4 and manifest["command"][:2] == [
        "painsim",
        "study",
    ]
    assert manifest["scenario"]["study"]["replications"] == 4
    assert "| finding | published | target |" in (out / "findings.md").read_text()


def test_study_command_rejects_bad_input_with_one_line_and_writes_nothing(tmp_path, write_toml):
    out = tmp_path / "out"
    plain = write_toml('[scenario]\nname = "plain"\n', "plain.toml")
    _one_line_error(_invoke("study", plain, "--out", out), "plain.toml", "study", "section missing")
    tiny = write_toml(TINY_TOML)
    _one_line_error(
        _invoke("study", tiny, "--out", out, "--replications", "0"), "study.replications"
    )
    crowded = write_toml(TINY_TOML.replace("n_subacute = 8", "n_subacute = 4000"), "big.toml")
    _one_line_error(
        _invoke("study", crowded, "--out", out, "--no-progress", "--backend", "serial"),
        "big.toml",
        "study.population",
        "subacute",
    )
    assert not out.exists()
    assert not list(tmp_path.glob(".out.tmp-*"))
    out.mkdir()
    (out / "keep.txt").write_text("x")
    _one_line_error(_invoke("study", tiny, "--out", out), "not empty")
    fresh = tmp_path / "fresh"
    _one_line_error(
        _invoke("study", tiny, "--out", fresh, "--workers", "0"), "--workers", "out of range"
    )
    _one_line_error(_invoke("study", tiny, "--out", fresh, "--backend", "gpu"), "--backend", "gpu")
    unknown = write_toml(TINY_TOML + 'indices = ["mean_abs_z", "made_up"]\n', "index.toml")
    _one_line_error(
        _invoke("study", unknown, "--out", fresh), "index.toml", "study.indices[1]", "made_up"
    )
    assert not fresh.exists()


def test_replications_override_keeps_everything_else(small_scenario):
    changed = override_study(small_scenario, {"replications": 7})
    assert changed.study.replications == 7
    assert changed.study.model_dump(exclude={"replications"}) == small_scenario.study.model_dump(
        exclude={"replications"}
    )


@pytest.fixture(scope="module")
def mid_rates() -> dict[str, float]:
    """Detection rates with the defaults: 200,000 people, 100 replications (~1-5 min).

    Not the shared 40,000-person ``small_pool``: on it, CBP > HC came out at 25 % with this seed
    but at 43 % with seed 2 (outside 27 +- 12 %), so the documented numbers need the size.
    """
    scenario = parse_scenario(
        {
            "scenario": {"name": "mid study", "seed": 20240710},
            "study": {"population": 200_000, "replications": 100},
        },
        "mid",
    )
    pool = simulate_population(scenario)
    table, _ = run_replications(pool, scenario, group_sizes(scenario.study), 100)
    return detection_rates(table, 0.05)


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="documented misfit (docs/model.md, Calibration to the Heukamp findings): calibrated "
    "to findings 1-3 only, the defaults detect CBP > HC in about 27 %, the YLP correlation in "
    "about 66 % and the mediation (predicted, not fitted) in about 6 % of studies",
)
def test_published_pattern_at_the_published_sample_sizes_meets_the_targets(mid_rates):
    """The targets themselves (>= 70 / 60 / 70 / 60 %), on 200,000 people and 100 replications."""
    assert mid_rates["cbp_hc"] >= 0.70
    assert mid_rates["cbp_sbp"] >= 0.60
    assert mid_rates["ylp"] >= 0.70
    assert mid_rates["mediation"] >= 0.60


@pytest.mark.slow
def test_the_calibrated_defaults_miss_the_pattern_as_documented(mid_rates):
    """The documented misfit, number by number (seed 20240710; docs/model.md)."""
    assert mid_rates["cbp_sbp"] >= 0.60  # 2. met
    assert mid_rates["cbp_hc"] == pytest.approx(0.27, abs=0.12)  # 1. below 70 %
    assert mid_rates["ylp"] == pytest.approx(0.66, abs=0.12)  # 3. just below 70 %
    assert mid_rates["mediation"] <= 0.15  # 4. predicted, not reproduced


# -- the Python API and the results folder ------------------------------------------------------
def test_sim_study_returns_every_table_of_the_study(tiny_study):
    res = tiny_study
    assert res.kind == "study" and res.scenario.scenario.name == "tiny study"
    assert res.replications is res.study and list(res.study.columns) == list(STUDY_COLUMNS)
    assert res.study["replication"].tolist() == [0, 1, 2]
    assert sorted(res.power["multiplier"].unique()) == [0.5, 1.0]
    assert res.power.loc[res.power["multiplier"] == 0.5, "n_hc"].unique().tolist() == [4]
    assert list(res.counterfactual.columns) == list(STUDY_COLUMNS) and len(res.counterfactual) == 3
    assert res.sample["group"].value_counts().to_dict() == {
        "healthy": 8,
        "subacute": 8,
        "chronic": 8,
    }
    assert res.findings["key"].tolist() == [
        "cbp_hc",
        "cbp_sbp",
        "ylp",
        "mediation",
        "sbp_hc",
        "mediation_age_sex",
        "all",
    ]
    assert res.detection_rates() == pytest.approx(
        dict(zip(res.findings["key"], res.findings["detection_rate"], strict=True))
    )
    assert res.power_summary()["multiplier"].tolist() == [0.5, 1.0]
    assert set(res.pool) == set(res.counterfactual_pool) == {"healthy", "subacute", "chronic"}
    assert res.command == ["painsim", "study", "tiny.toml"] and res.run_id
    assert res.started <= res.finished and res.seconds["total"] > 0


def test_sim_study_overrides_seed_and_replications_and_rejects_bad_ones():
    with pytest.raises(
        ScenarioError, match=r"^<scenario> \(replications=0\): study.replications: "
    ):
        sim.study(TINY, replications=0)
    with pytest.raises(ScenarioError, match=r"^<scenario>: study: section missing"):
        sim.study({"scenario": {"name": "plain"}})
    small = {"population": 1000, "age_max": 25, "n_subacute": 4000}  # quick to simulate
    crowded = {**TINY, "study": {**TINY["study"], **small}}
    with pytest.raises(PoolTooSmallError, match="subacute candidates for 4000 places"):
        sim.study(crowded, backend="serial")


def test_a_saved_study_loads_back_with_identical_tables(tiny_study, tiny_folder):
    again = sim.load(tiny_folder)
    assert isinstance(again, StudyResult) and again.kind == "study"
    for name in ("study", "power", "counterfactual", "sample", "findings"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(tiny_study, name), obj=name)
    assert again.pool == tiny_study.pool
    assert again.counterfactual_pool == tiny_study.counterfactual_pool
    assert again.sharing == tiny_study.sharing
    assert again.scenario.resolved() == tiny_study.scenario.resolved()
    assert (again.run_id, again.command) == (tiny_study.run_id, tiny_study.command)
    assert again.started == tiny_study.started.replace(microsecond=0)
    assert again.markdown() == (tiny_folder / "findings.md").read_text(encoding="utf-8")


def test_a_study_manifest_has_the_core_keys_and_a_study_object(tiny_folder):
    manifest = read_manifest(tiny_folder)
    assert manifest["kind"] == "study" and manifest["seed"] == 3
    assert manifest["command"] == ["painsim", "study", "tiny.toml"]
    assert manifest["packages"]["statsmodels"]
    assert manifest["files"] == sorted(
        [
            "counterfactual.csv",
            "findings.csv",
            "findings.md",
            "manifest.json",
            "power.csv",
            "sample.csv",
            "study.csv",
            "variant_replications.csv",
            "variants.csv",
        ]
    )
    section = manifest["study"]
    assert section["replications"] == 3
    assert set(section["seconds"]) == {"population", "analyses", "total"}
    assert section["population"]["subacute"]["candidates"] > 8
    assert set(section["counterfactual_population"]) == {"healthy", "subacute", "chronic"}
    assert set(section["mean_replications_per_recruited_person"]) == {
        "healthy",
        "subacute",
        "chronic",
    }


def test_a_study_folder_written_before_the_study_object_still_loads(tiny_folder, tmp_path):
    folder = tmp_path / "old"
    shutil.copytree(tiny_folder, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["kind"]
    manifest.update(command_kind="study", **manifest.pop("study"))
    (folder / "manifest.json").write_text(json.dumps(manifest))
    again = sim.load(folder)
    assert again.kind == "study" and len(again.study) == 3
    assert again.pool == manifest["population"]


def _damaged(tiny_folder: Path, tmp_path: Path, name: str, damage) -> Path:
    folder = tmp_path / "damaged"
    shutil.copytree(tiny_folder, folder)
    path = folder / name
    path.write_text(damage(path.read_text()))
    return folder


@pytest.mark.parametrize(
    ("name", "damage", "fragment"),
    [
        ("study.csv", lambda text: text[: text.rindex("\n") - 5], "truncated"),
        ("study.csv", lambda text: text[: text.rindex("\n", 0, -1) + 1], "2 rows, the manifest"),
        ("study.csv", lambda text: text.replace("d_cbp_hc", "d"), "missing columns d_cbp_hc"),
        ("power.csv", lambda text: text.replace("multiplier,", ""), "missing columns multiplier"),
        ("sample.csv", lambda text: "", "cannot be read"),
        ("findings.csv", lambda text: text[: len(text) // 2], "truncated"),
    ],
)
def test_a_damaged_study_folder_gives_one_line_naming_the_file(
    tiny_folder, tmp_path, name, damage, fragment
):
    folder = _damaged(tiny_folder, tmp_path, name, damage)
    with pytest.raises(ResultsError) as err:
        sim.load(folder)
    message = str(err.value)
    assert message.startswith(f"{folder / name}: ") and fragment in message
    assert "\n" not in message


def test_a_missing_study_table_is_named(tiny_folder, tmp_path):
    folder = tmp_path / "gone"
    shutil.copytree(tiny_folder, folder)
    (folder / "study.csv").unlink()
    with pytest.raises(ResultsError, match=r"study\.csv: missing$"):
        sim.load(folder)


def test_a_variant_replication_that_cannot_fill_its_sample_is_skipped_not_fatal(tiny_pools):
    """A sensitivity variant whose population runs short in some replications keeps the others
    (and reports how many it kept); the study itself still fails with one line."""
    from sim.experiments.study.analysis import ReplicationJob

    model, _ = tiny_pools
    scenario = parse_scenario(TINY, "tiny")
    too_many = (10_000, 4, 4)  # more healthy places than candidates
    strict = ReplicationJob("v", model, scenario, too_many, 0, 2)
    with pytest.raises(PoolTooSmallError):
        strict.run()
    rows, draws = ReplicationJob("v", model, scenario, too_many, 0, 2, skip_short=True).run()
    assert rows == {"mean_abs_z": []} and draws.sum() == 0
    rows, _ = ReplicationJob("v", model, scenario, (4, 4, 4), 0, 2, skip_short=True).run()
    assert len(rows["mean_abs_z"]) == 2
