"""Specification of intervention arms: interventions, arms in the model, and the comparison."""

import numpy as np
import pandas as pd
import pytest

from sim.core.brain import build_brain
from sim.core.interventions import CBT, TMS, Delivery, effect_level
from sim.core.model import PainModel
from sim.core.pain import WEEKS_PER_YEAR
from sim.core.targets import TRIAL_PUBLISHED
from sim.experiments.calibrate import trial as trial_experiment
from sim.experiments.compare import compare_arms
from sim.experiments.run import simulate_replicate
from sim.scenario import load_scenario, parse_scenario

START = 10.0
TRIAL = {"start_year": START, "eligible_stages": ["chronic"], "min_pain": 4.0}


def trial(kind: str, size: int = 20_000, seed: int = 4, **extra) -> object:
    """A trial-like scenario: usual care vs one treatment for chronic patients at year 10."""
    return parse_scenario(
        {
            "scenario": {"name": "trial", "years": START + 1.1, "dt_weeks": 2, "seed": seed},
            "cohort": {"size": size, "age_min": 20, "age_max": 60},
            "arms": [
                {"name": "usual care", "interventions": [{"kind": "usual_care", **TRIAL}]},
                {"name": kind, "interventions": [{"kind": kind, **TRIAL, **extra}]},
            ],
        },
        "trial",
    )


def snapshots(scenario, arm: str, weeks: list[float]) -> dict[float, pd.DataFrame]:
    model = PainModel(scenario, arm=arm, create_agents=False)
    out = {}
    for week in weeks:
        model.run_until(START + week / WEEKS_PER_YEAR)
        out[week] = pd.DataFrame(model.snapshot())
    return out


def smd(treated: pd.Series, control: pd.Series) -> float:
    pooled = np.sqrt((treated.var() + control.var()) / 2)
    return float((treated.mean() - control.mean()) / pooled)


@pytest.fixture(scope="module")
def cbt_trial():
    # 10,000 adults enrol about 600 chronic patients at year 10 (seeds 4-6: 601-626), enough for
    # "more than 500" and for the twin means; half the time of the 20,000-person default.
    s = trial("cbt", size=10_000)
    return snapshots(s, "usual care", [8, 26]), snapshots(s, "cbt", [8, 26])


def test_arms_are_identical_before_the_intervention_starts():
    s = trial("cbt", size=2000)
    before = {arm: snapshots(s, arm, [-4])[-4] for arm in ("usual care", "cbt")}
    pd.testing.assert_frame_equal(before["usual care"], before["cbt"])


def test_the_same_patients_are_enrolled_in_every_arm(cbt_trial):
    uc, cbt = cbt_trial
    pd.testing.assert_series_equal(uc[8]["enrolled_year"], cbt[8]["enrolled_year"])
    assert uc[8]["enrolled_year"].notna().sum() > 500


def test_patients_never_enrolled_are_untouched_by_the_intervention(cbt_trial):
    uc, cbt = cbt_trial
    never = uc[26]["enrolled_year"].isna()
    columns = ["pain", "coping", "years_with_pain", "dmn_perturbation"]
    pd.testing.assert_frame_equal(uc[26].loc[never, columns], cbt[26].loc[never, columns])


def test_twin_differences_are_available_after_the_start(cbt_trial):
    uc, cbt = cbt_trial
    enrolled = uc[8]["enrolled_year"].notna()
    twin = cbt[8].loc[enrolled, "coping"] - uc[8].loc[enrolled, "coping"]
    assert (twin <= 1e-9).all()
    assert twin.mean() < -3.0


def test_cbt_adherence_matches_cherkin_share_attending_six_of_eight():
    rng = np.random.default_rng(0)
    d = Delivery.new(CBT(), rng, np.zeros(50_000), build_brain())
    assert (d.dose >= 6 / 8).mean() == pytest.approx(0.57, abs=0.04)
    assert (d.dose > 0).mean() == pytest.approx(0.88, abs=0.01)


def test_tms_connectivity_effect_falls_below_a_quarter_three_months_after_the_course():
    spec = TMS()
    enrolled, dose = np.zeros(1), np.ones(1)
    hl = spec.dmn_half_life_weeks / WEEKS_PER_YEAR

    def level(t, boosters=0):
        return effect_level(
            t,
            enrolled,
            dose,
            spec.course_years,
            hl,
            boosters,
            spec.booster_every_weeks / WEEKS_PER_YEAR,
        )[0]

    peak = level(spec.course_years)
    later = spec.course_years + 13 / WEEKS_PER_YEAR
    assert peak == pytest.approx(1.0)
    assert level(later) < 0.25 * peak
    assert level(later, boosters=4) > 0.25 * peak  # maintenance sessions keep it up


POSITED_DMN = {"dmn_effect": 0.5, "target_weights": {"aMPFC": 1.0, "dMPFC": 1.0, "vMPFC": 1.0}}


def test_tms_acts_on_pain_only_unless_a_dmn_effect_is_posited():
    """rTMS evidence is for M1 and left DLPFC, with no DMN effect found (brief §5)."""
    spec = TMS()
    assert spec.target == "M1" and spec.dmn_effect == 0.0 and spec.target_weights == {}
    s = trial("tms", size=2000)
    model = PainModel(s, arm="tms", create_agents=False)
    model.run_until(START + 4 / WEEKS_PER_YEAR)
    assert model.effects.drift_factor(model.time_years, slice(None)) is None
    with pytest.raises(ValueError, match="dmn_effect > 0 needs target_weights"):
        TMS(dmn_effect=0.5)


def test_a_posited_tms_dmn_effect_pulls_connectivity_toward_healthy_while_it_lasts():
    s = trial("tms", size=3000, **POSITED_DMN)
    uc, tms = snapshots(s, "usual care", [4, 40]), snapshots(s, "tms", [4, 40])
    enrolled = uc[4]["enrolled_year"].notna()
    during = tms[4].loc[enrolled, "mpfc_pcc"] - uc[4].loc[enrolled, "mpfc_pcc"]
    after = tms[40].loc[enrolled, "mpfc_pcc"] - uc[40].loc[enrolled, "mpfc_pcc"]
    assert during.mean() > 0.01  # drift weakened mPFC-PCC; TMS restores some of it
    assert abs(after.mean()) < 0.25 * during.mean()


def test_more_sessions_attended_give_a_larger_effect():
    levels = effect_level(0.5, np.zeros(3), np.array([0.25, 0.5, 1.0]), 0.15, 0.5, 0, 0.25)
    assert levels[0] < levels[1] < levels[2]


def test_no_effect_before_enrolment():
    assert effect_level(0.5, np.full(3, np.nan), np.ones(3), 0.15, 0.5, 0, 0.25).sum() == 0
    assert effect_level(0.5, np.full(3, 0.6), np.ones(3), 0.15, 0.5, 0, 0.25).sum() == 0


def test_stage_triggered_arm_enrols_patients_as_they_reach_the_stage():
    s = parse_scenario(
        {
            "scenario": {"name": "early", "years": 5, "dt_weeks": 1, "seed": 3},
            "cohort": {"size": 3000},
            "arms": [
                {
                    "name": "early CBT",
                    "interventions": [
                        {"kind": "cbt", "at_stage": "subacute", "eligible_stages": ["subacute"]}
                    ],
                }
            ],
        },
        "early",
    )
    model = PainModel(s, create_agents=False)
    model.run_until(5.0)
    enrolled = model.effects.deliveries[0].enrolled_at
    assert np.isfinite(enrolled).sum() > 50
    assert len(np.unique(enrolled[np.isfinite(enrolled)])) > 20  # spread over time


@pytest.mark.slow  # compare end to end (the quick tests: tests/test_cli_arms.py)
def test_compare_reports_twin_differences_with_intervals():
    s = trial("cbt", size=1500)
    patients = pd.concat([simulate_replicate(s, 0, arm) for arm in ("usual care", "cbt")])
    table = compare_arms(patients, "usual care", [START + 1.1], seed=1).set_index("outcome")
    coping = table.loc["coping"]
    assert coping["difference"] < 0
    assert coping["ci_low"] <= coping["twin_difference"] <= coping["ci_high"]
    assert coping["twin_difference"] == pytest.approx(coping["difference"])
    assert np.isfinite(table.loc["responder", "difference"])


# -- the calibrated defaults against the published trials -------------------------------------
# Targets the calibrated defaults (the posterior medians) miss, as strict expected failures so
# that a model change that meets one is noticed. None today; PRT's pain-free share is met by the
# medians (54 %) but missed by the posterior predictive (51 %): docs/model.md, "Calibration of
# the interventions".
TRIAL_MISFITS: dict[str, str] = {}


@pytest.fixture(scope="module")
def trial_statistics() -> dict[str, float]:
    """The calibration's trial design with the defaults (20,000 adults, ~1,000 enrolled)."""
    scenario = load_scenario("scenarios/calibration_interventions.toml")
    design = scenario.calibration.design_settings()
    population = trial_experiment.trial_population(scenario, design)
    return trial_experiment.trial_statistics(trial_experiment.run_arms(population, design, {}))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TRIAL_PUBLISHED))
def test_intervention_defaults_meet_every_published_trial_target(trial_statistics, name, request):
    if name in TRIAL_MISFITS:
        request.applymarker(pytest.mark.xfail(strict=True, reason=TRIAL_MISFITS[name]))
    target = TRIAL_PUBLISHED[name]
    assert target.low <= trial_statistics[name] <= target.high, target.source


@pytest.mark.slow
def test_usual_care_responders_come_from_reporting_noise_and_natural_recovery(trial_statistics):
    """Cherkin 2016: 26.6 % of usual-care patients respond; no treatment parameter can change it."""
    assert trial_statistics["responders_usual_care_26_weeks"] == pytest.approx(0.266, abs=0.08)
    assert trial_statistics["cbt_responder_gap_52_weeks"] > 0  # still better at 52 weeks [M]


def test_calibrated_defaults_are_the_posterior_medians_the_model_card_reports():
    """Every prior of calibration_interventions.toml names a default that docs/model.md lists
    as its posterior median, and the code's default is that number."""
    from pathlib import Path

    from sim.core.intervention_params import intervention_parameters
    from sim.core.interventions import KINDS

    scenario = load_scenario("scenarios/calibration_interventions.toml")
    card = (Path(__file__).resolve().parents[1] / "docs" / "model.md").read_text()
    section = card[card.index("### Calibration of the interventions") :]
    section = section[: section.index("\n## ")]
    medians = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`") and "." in cells[0]:
            medians[cells[0].strip("`").split(" ")[0].strip("`")] = float(cells[2])
    assert set(medians) == set(scenario.calibration.priors)
    for name, median in medians.items():
        kinds, field = intervention_parameters()[name]
        for kind in kinds:
            assert KINDS[kind].model_fields[field].default == median, (name, kind)
