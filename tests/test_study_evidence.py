"""Specification of the virtual study as evidence: design choices, mechanism checks, unmeasured
confounding, parameter uncertainty, index variants and the longitudinal design.

Populations are the cost, so they are simulated once per module and shared (read-only):
``evidence`` holds an 8,000-person population (to age 40, 4-week steps) with its drift-only
counterfactual views and 6-month follow-up, and two counterfactual populations (pain -> coping
off; pain -> coping and coping -> course off). Statements about expectations are checked on
every candidate of a pool (hundreds of patients), not on small study samples.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from support import LazyModule

import sim
from sim.analysis.stats import mediation, mediation_sensitivity
from sim.core.model import PainModel
from sim.core.pain import WEEKS_PER_YEAR
from sim.experiments.study import (
    CBP,
    HC,
    INDEXES,
    SBP,
    STUDY_COLUMNS,
    SUMMARY_COLUMNS,
    VARIANT_COLUMNS,
    Index,
    Recruitment,
    build_populations,
    eligible,
    parameter_sets,
    restrict,
)
from sim.experiments.study.analysis import ReplicationJob, run_task
from sim.experiments.study.indexes import mean_abs_z
from sim.experiments.study.longitudinal import LongitudinalJob, summarize_windows
from sim.experiments.study.variants import plan
from sim.scenario import ScenarioError, parse_scenario

sm = LazyModule("statsmodels.api")  # imported by the worker that runs these tests only

EVIDENCE = {
    "scenario": {"name": "evidence", "seed": 11, "dt_weeks": 4},
    "study": {
        "population": 8000,
        "age_max": 40,
        "n_healthy": 8,
        "n_subacute": 8,
        "n_chronic": 8,
        "replications": 4,
        "power_multipliers": [1.0],
        "mechanisms": True,
        "longitudinal": True,
        "longitudinal_subacute": 10,
        "longitudinal_chronic": 4,
        "window": 8,
    },
}
CHECKED = ("no_pain_coping", "no_coping_in_pain")
"""Counterfactual populations the tests simulate (the others are views or not needed)."""


@pytest.fixture(scope="module")
def scenario():
    return parse_scenario(EVIDENCE, "evidence")


@pytest.fixture(scope="module")
def evidence(scenario):
    """Population key -> view -> pool (every candidate, before recruitment rules)."""
    specs, _ = plan(scenario, pd.DataFrame())
    return build_populations({k: v for k, v in specs.items() if k in ("model", *CHECKED)})


def _patients(pool):
    return np.flatnonzero(pool.group != HC)


def _slope(y, x, covariates):
    """OLS slope of y on x given covariates, with its 99 % CI."""
    fit = sm.OLS(y, np.column_stack([np.ones(x.size), x, covariates])).fit()
    low, high = fit.conf_int(0.01)[1]
    return float(fit.params[1]), float(low), float(high)


# -- what the model reports for inclusion rules -------------------------------------------------
def test_observe_reports_sex_earlier_episodes_and_the_pain_free_gap():
    s = parse_scenario(
        {
            "scenario": {"name": "history", "years": 20, "dt_weeks": 4},
            "cohort": {"size": 3000, "history": "none"},
        }
    )
    model = PainModel(s, create_agents=False)
    model.run_until(20.0)
    state = model.observe(np.arange(3000))
    in_pain = ~np.isnan(state["episode_weeks"])
    never = state["episodes"] == 0
    assert state["female"].dtype == bool and 0.3 < state["female"].mean() < 0.7
    # Nobody before a first episode has a gap to count from or a finished episode.
    assert np.isinf(state["weeks_free_before"][never]).all()
    assert (state["longest_episode_weeks"][never] == 0).all()
    first = in_pain & (state["episodes"] == 1)
    assert np.isinf(state["weeks_free_before"][first]).all()
    assert (state["longest_episode_weeks"][first] == 0).all()
    # Later episodes: a finite pain-free gap before them, and finished episodes behind them.
    later = in_pain & (state["episodes"] > 1)
    assert later.sum() > 50
    gap = state["weeks_free_before"][later]
    assert np.isfinite(gap).all() and (gap >= 0).all()
    assert (state["longest_episode_weeks"][later] > 0).all()
    # Pain-free people with a history: the time since their last episode ended, up to 20 years.
    between = ~in_pain & ~never
    assert (state["weeks_free_before"][between] <= 20 * WEEKS_PER_YEAR + 1e-6).all()


# -- recruitment rules ----------------------------------------------------------------------------
def test_recruitment_rules_select_candidates_from_one_pool(evidence, scenario):
    pool = evidence["model"]["model"]
    base = Recruitment.from_study(scenario.study)
    chosen = restrict(pool, base)
    assert (chosen.episodes[chosen.group == HC] == 0).all()
    sbp = chosen.group == SBP
    assert np.mean(chosen.episodes[sbp] > 1) > 0.5  # most subacute patients had episodes before
    first = restrict(pool, base.replace(subacute_prior="first_episode"))
    assert (first.episodes[first.group == SBP] == 1).all()
    quiet = restrict(pool, base.replace(subacute_prior="none_in_12_months"))
    assert (quiet.weeks_free_before[quiet.group == SBP] >= WEEKS_PER_YEAR).all()
    assert (quiet.group == SBP).sum() > (first.group == SBP).sum()
    short = restrict(pool, base.replace(subacute_max_prior_years=1.0))
    assert (short.prior_years_with_pain[short.group == SBP] <= 1.0).all()
    controls = restrict(pool, base.replace(controls="no_chronic_history"))
    hc = controls.group == HC
    assert (controls.longest_episode_weeks[hc] <= scenario.study.chronic_min_weeks).all()
    assert (controls.episodes[hc] > 0).any() and hc.sum() > (chosen.group == HC).sum()
    young = restrict(pool, base.replace(age_min=18.0, age_max=30.0))
    assert young.age.max() <= 30.0 + 1 / 52
    # Chronic patients are the same under every subacute or control rule.
    for rule in (first, quiet, short, controls):
        np.testing.assert_array_equal(
            rule.person[rule.group == CBP], chosen.person[chosen.group == CBP]
        )
    assert eligible(pool, base).sum() == chosen.group.size


# -- mechanism checks -----------------------------------------------------------------------------
def test_without_pain_to_coping_and_coping_to_course_the_a_path_vanishes(evidence):
    """a = slope of catastrophizing on years with pain (age-adjusted), all patient candidates."""
    slopes = {}
    for key in ("model", *CHECKED):
        pool = evidence[key]["model"]
        rows = _patients(pool)
        slopes[key] = _slope(pool.coping[rows], pool.years_with_pain[rows], pool.age[rows])
    a_model, low_model, _ = slopes["model"]
    a_alpha, _, _ = slopes["no_pain_coping"]
    a_none, low_none, high_none = slopes["no_coping_in_pain"]
    assert low_model > 0
    # Neither link: years with pain and catastrophizing are unrelated in expectation.
    assert low_none < 0 < high_none and abs(a_none) < a_model / 4
    # Pain -> coping off alone: what is left is selection (trait -> persistent course -> years).
    assert 0 < a_alpha < a_model


def test_without_coping_in_the_drift_the_causal_b_path_goes(evidence):
    """b on the true adaptation (no measurement), same people: coping given years with pain."""
    views = evidence["model"]
    rows = _patients(views["model"])
    pool = views["model"]
    covariates = np.column_stack([pool.years_with_pain[rows], pool.age[rows]])
    b = {
        name: _slope(views[name].adaptation[rows], pool.coping[rows], covariates)[0]
        for name in ("model", "no_coping_drift")
    }
    assert b["model"] > 0
    assert b["no_coping_drift"] < b["model"] / 3


def test_without_relaxation_nobody_recovers_any_adaptation(evidence):
    views = evidence["model"]
    model, kept = views["model"], views["no_relaxation"]
    np.testing.assert_array_equal(model.person, kept.person)
    assert (kept.adaptation >= model.adaptation - 1e-12).all()
    had_pain = model.years_with_pain > 0
    assert kept.adaptation[had_pain].mean() > model.adaptation[had_pain].mean()


# -- unmeasured confounding ----------------------------------------------------------------------
def _confounded(b: float, rho: float, n: int = 40_000, seed: int = 0):
    """x -> m -> y with errors of m and y correlated rho (an unmeasured common cause)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    errors = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=n)
    m = 0.5 * x + errors[:, 0]
    y = b * m + 0.3 * x + errors[:, 1]
    return x, m, y, np.zeros((n, 0))


def test_confounding_sensitivity_recovers_a_known_error_correlation():
    """No mediation, errors correlated 0.4: the usual analysis finds a*b = 0.2; at the true
    rho the indirect effect is 0, and 0.4 is the rho at which it vanishes."""
    x, m, y, cov = _confounded(b=0.0, rho=0.4)
    out = mediation_sensitivity(x, m, y, cov, rho=np.array([0.0, 0.4]))
    assert out["indirect"][0] == pytest.approx(0.2, abs=0.02)
    assert out["indirect"][1] == pytest.approx(0.0, abs=0.01)
    assert out["rho_zero"] == pytest.approx(0.4, abs=0.02)


def test_confounding_sensitivity_gives_the_true_effect_at_the_true_rho():
    x, m, y, cov = _confounded(b=0.3, rho=0.4)
    out = mediation_sensitivity(x, m, y, cov, rho=0.4)
    assert out["indirect"] == pytest.approx(0.5 * 0.3, abs=0.015)
    # At rho = 0 it is the usual product of coefficients.
    usual = mediation(x[:2000], m[:2000], y[:2000], cov[:2000], np.random.default_rng(1))
    at_zero = mediation_sensitivity(x[:2000], m[:2000], y[:2000], cov[:2000])["indirect"]
    assert at_zero == pytest.approx(usual["indirect"], rel=1e-9)


# -- the longitudinal design ---------------------------------------------------------------------
def test_patients_are_seen_again_half_a_year_after_their_scan(evidence):
    pool = evidence["model"]["model"]
    patients = pool.group != HC
    weeks = pool.followup_weeks[patients]
    assert pool.has_follow_up and np.isfinite(weeks).all()
    assert weeks.min() >= 0.5 * WEEKS_PER_YEAR - 1e-6 and weeks.max() <= 0.5 * WEEKS_PER_YEAR + 4
    assert np.isnan(pool.followup_pain[~patients]).all()
    # Subacute episodes often end within 6 months; chronic ones mostly go on.
    recovered = pool.followup_pain == 0
    assert recovered[pool.group == SBP].mean() > recovered[pool.group == CBP].mean()


def test_longitudinal_design_returns_one_row_per_window(evidence, scenario):
    pool = restrict(evidence["model"]["model"], Recruitment.from_study(scenario.study))
    rows = LongitudinalJob("longitudinal", pool, scenario, 0, 3).run()
    table = summarize_windows(pd.DataFrame(rows), 0.05)
    windows = 10 + 4 - 8 + 1
    assert len(rows) == 3 * windows
    assert list(table.columns) == list(SUMMARY_COLUMNS)
    assert table["window"].tolist() == list(range(windows))
    assert (table["replications"] == 3).all()
    assert table["ylp_mean"].is_monotonic_increasing
    assert table["pain_weight"].between(-1, 1).all()
    assert (table["pain_ci_low"] <= table["pain_ci_high"]).all()


# -- indices and parameter sets -------------------------------------------------------------------
def test_a_registered_index_is_analysed_on_the_same_replications(evidence, scenario, monkeypatch):
    monkeypatch.setitem(INDEXES, "same_again", Index("same_again", "copy", mean_abs_z, "test"))
    monkeypatch.setitem(
        INDEXES, "negated", Index("negated", "minus", lambda s, c: -mean_abs_z(s, c), "test")
    )
    pool = restrict(evidence["model"]["model"], Recruitment.from_study(scenario.study))
    job = ReplicationJob(
        "x", pool, scenario, (8, 8, 8), 0, 3, ("mean_abs_z", "same_again", "negated")
    )
    _, _, (rows, draws) = run_task(job)
    first, same, negated = (pd.DataFrame(rows[k], columns=list(STUDY_COLUMNS)) for k in job.indices)
    pd.testing.assert_frame_equal(first, same)  # same people, noise and bootstrap resamples
    np.testing.assert_allclose(negated["d_cbp_hc"], -first["d_cbp_hc"])
    np.testing.assert_allclose(negated["r_ylp"], -first["r_ylp"])
    assert draws.sum() == 3 * 24


def test_parameter_sets_come_from_the_plausible_ranges_or_a_posterior(scenario):
    s = parse_scenario(
        {**EVIDENCE, "study": {**EVIDENCE["study"], "uncertainty_draws": 5}}, "evidence"
    )
    latin = parameter_sets(s)
    assert latin["set"].tolist() == list(range(5)) and set(latin["source"]) == {"latin hypercube"}
    rate = latin["drift.rate"]
    assert rate.between(0.05, 0.6).all() and rate.nunique() == 5
    # One point per fifth of the range: a Latin hypercube.
    assert sorted(np.floor((rate - 0.05) / 0.11).astype(int)) == [0, 1, 2, 3, 4]
    posterior = pd.DataFrame({"drift.rate": np.linspace(0.05, 0.09, 9), "drift.coping_weight": 0.5})
    sets = parameter_sets(s, posterior)
    assert set(sets["source"]) == {"posterior"}
    assert sets["drift.rate"].tolist() == pytest.approx([0.05, 0.06, 0.07, 0.08, 0.09])
    weighted = posterior.assign(weight=[0.0] * 8 + [1.0])
    assert parameter_sets(s, weighted)["drift.rate"].tolist() == pytest.approx([0.09] * 5)
    assert parameter_sets(scenario).empty  # uncertainty_draws = 0


@pytest.mark.parametrize(
    ("posterior", "fragment"),
    [
        (pd.DataFrame({"drift.rat": [0.1]}), "row 0: drift.rat: unknown parameter"),
        (pd.DataFrame({"drift.rate": [0.1, -1.0]}), "row 1: drift.rate"),
        (pd.DataFrame({"weight": [1.0]}), "no parameter columns"),
    ],
)
def test_a_bad_posterior_gives_one_line_naming_the_row(posterior, fragment):
    s = parse_scenario({**EVIDENCE, "study": {**EVIDENCE["study"], "uncertainty_draws": 2}}, "e")
    with pytest.raises(ScenarioError) as err:
        parameter_sets(s, posterior, "draws.csv")
    message = str(err.value)
    assert message.startswith("draws.csv: posterior: ") and fragment in message
    assert "\n" not in message


# -- the whole study with every analysis ----------------------------------------------------------
@pytest.fixture(scope="module")
def full_study(tmp_path_factory):
    data = {
        "scenario": {"name": "full", "seed": 3, "dt_weeks": 4},
        "study": {
            "population": 5000,
            "age_max": 40,
            "n_healthy": 8,
            "n_subacute": 8,
            "n_chronic": 8,
            "replications": 2,
            "power_multipliers": [1.0, 2.0],
            "design_sensitivity": True,
            "mechanisms": True,
            "uncertainty_draws": 1,
            "longitudinal": True,
            "longitudinal_subacute": 8,
            "longitudinal_chronic": 4,
            "window": 6,
        },
    }
    result = sim.study(data, backend="serial")
    return result, result.save(tmp_path_factory.mktemp("full") / "study")


@pytest.mark.slow
def test_the_full_study_reports_every_analysis_and_loads_back(full_study):
    result, folder = full_study
    variants = result.variants
    assert list(variants.columns) == list(VARIANT_COLUMNS)
    assert variants["variant"].is_unique and variants["variant"].iloc[0] == "base"
    counts = variants["analysis"].value_counts().to_dict()
    assert counts == {
        "base": 1,
        "power": 1,
        "mechanism": 6,  # five links, and coping -> drift at 2x
        "edge sign": 1,
        "design": 5,  # 2 subacute priors, 2 limits, controls (no age range fits in 18-40)
        "uncertainty": 1,
    }
    assert len(result.variant_replications) == 2 * len(variants)
    base = variants.iloc[0]
    assert base["rate_cbp_hc"] == pytest.approx(result.detection_rates()["cbp_hc"])
    assert len(result.longitudinal) == 12 - 6 + 1
    assert len(result.parameter_sets) == 1
    text = result.markdown()
    for heading in (
        "## Design choices",
        "## Mechanism checks",
        "## Mediation: adjustment and unmeasured confounding",
        "## Parameter uncertainty",
        "## Index and edge-sign variants",
        "## Longitudinal design",
    ):
        assert heading in text
    again = sim.load(folder)
    for name in (
        "variants",
        "variant_replications",
        "longitudinal",
        "longitudinal_replications",
        "parameter_sets",
    ):
        pd.testing.assert_frame_equal(
            getattr(again, name), getattr(result, name), check_dtype=False, obj=name
        )


@pytest.mark.slow
def test_every_backend_gives_the_same_study(full_study):
    """Bands and replications on worker processes: the same tables as in one process."""
    result, _ = full_study
    data = result.scenario.model_dump()
    again = sim.study(data, backend="process", workers=2)
    for name in ("study", "power", "counterfactual", "variants", "longitudinal", "sample"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(result, name), obj=name)


@pytest.mark.slow
def test_the_dask_backend_gives_the_same_study(full_study):
    result, _ = full_study
    again = sim.study(result.scenario.model_dump(), backend="dask", workers=2)
    for name in ("study", "variants", "longitudinal"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(result, name), obj=name)


@pytest.mark.slow
def test_mean_replications_and_candidates_are_reported_per_variant(full_study):
    variants = full_study[0].variants
    first = variants[variants["variant"] == "design:subacute_prior=first_episode"].iloc[0]
    base = variants.iloc[0]
    assert first["candidates_subacute"] < base["candidates_subacute"]
    assert first["subacute_share_earlier_episodes"] == 0.0
    assert math.isclose(first["subacute_median_prior_ylp"], 0.0)
    assert first["candidates_chronic"] == base["candidates_chronic"]
