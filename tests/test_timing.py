"""Specification of the treatment-timing experiment (sim.experiments.timing, painsim timing).

Small seeded cohorts: a treatment without effect gives a flat curve of exact zeros; a treatment
whose benefit must shrink as adaptation accumulates (strong, irreversible drift; everyone in
constant pain) gives a monotone curve; every pair is checked against an ordinary run of the same
people; the [timing] section, the results folder and the command behave as documented.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import sim
from sim.experiments.run import simulate
from sim.experiments.timing import (
    TABLE_COLUMNS,
    TWIN,
    TimingError,
    run_timing,
    timing_plan,
)
from sim.interfaces.cli import app
from sim.results.io import load
from sim.scenario import ScenarioError, parse_scenario

STRONG_DRIFT: dict[str, Any] = {
    # Everyone falls ill within months and stays in one persistent episode at constant pain.
    "pain.onset_rate": 5.0,
    "pain.p_persistent": 1.0,
    "pain.coping_odds_ratio": 1.0,
    "pain.long_median_years": 100.0,
    "pain.long_sigma": 0.01,
    "pain.onset_intensity": 5.0,
    "pain.long_plateau": 5.0,
    "pain.severity_sigma": 0.0,
    "pain.episode_sigma": 0.0,
    # Fast, fully irreversible drift that does not depend on coping: the room left to drift,
    # 1 - a, shrinks with every year of pain, and so does what a treatment can prevent.
    "drift.rate": 0.5,
    "drift.irreversible_fraction": 1.0,
    "drift.coping_weight": 0.0,
    "drift.individual_sd": 0.0,
}


def timing_scenario(
    arms: list[dict[str, Any]],
    timing: dict[str, Any],
    parameters: dict[str, Any] | None = None,
    size: int = 300,
    **run: Any,
) -> dict[str, Any]:
    return {
        "scenario": {"name": "timing test", "seed": 7, "years": 10, "dt_weeks": 4, **run},
        "cohort": {"size": size, "age_min": 20, "age_max": 30, "history": "none"},
        "parameters": parameters or {},
        "arms": arms,
        "timing": timing,
    }


def curve(table: pd.DataFrame, outcome: str, treatment: str) -> pd.DataFrame:
    rows = table[(table["outcome"] == outcome) & (table["treatment"] == treatment)]
    return rows.sort_values("start_years_with_pain")


def test_a_treatment_without_effect_gives_a_flat_curve_of_exact_zeros() -> None:
    no_effect = {"kind": "cbt", "coping_effect": 0.0, "pain_effect": 0.0}
    scenario = parse_scenario(
        timing_scenario(
            [{"name": "inert", "interventions": [no_effect]}],
            {
                "start_years_with_pain": [0, 0.5, 1, 2],
                "follow_up_years": [0.5, 1],
                "outcomes": ["dmn_perturbation", "healthy_range", "pain", "coping"],
            },
            size=1500,
            years=6,
        )
    )
    result = run_timing(scenario)
    table = result.table
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert len(table) == 4 * 2 * 4
    assert (table["n_pairs"] > 20).all()
    np.testing.assert_array_equal(table["difference"], 0.0)
    np.testing.assert_array_equal(table["ci_low"], 0.0)
    np.testing.assert_array_equal(table["ci_high"], 0.0)
    assert (table["method"] == "normal over pairs").all()


def test_benefit_shrinks_monotonically_when_drift_is_strong_and_irreversible() -> None:
    relief = {
        "kind": "prt",
        "pain_effect": 0.9,
        "coping_effect": 0.0,
        "uptake": 1.0,
        "adherence": 1.0,
        "response_shape": 1000.0,
    }
    scenario = parse_scenario(
        timing_scenario(
            [{"name": "relief", "interventions": [relief]}],
            {
                "start_years_with_pain": [0, 1, 2, 4, 8],
                "follow_up_years": [1],
                "outcomes": [
                    "adaptation",
                    "signature_score",
                    "signature_score_trait",
                    "dmn_perturbation_state",
                    "pain",
                ],
            },
            STRONG_DRIFT,
        )
    )
    table = run_timing(scenario).table
    # The graph-metric indices are not linear in adaptation (mean |z| barely moves for small
    # shifts), so only the measures linear in adaptation must be monotone.
    for outcome in ("adaptation", "signature_score", "signature_score_trait"):
        rows = curve(table, outcome, "relief")
        benefit = -rows["difference"].to_numpy()
        assert (benefit > 0).all(), outcome
        # strictly smaller at every later start, by more than the intervals' half-widths
        half = (rows["ci_high"] - rows["ci_low"]).to_numpy() / 2
        drops = -np.diff(benefit)
        assert (drops > half[:-1] + half[1:]).all(), (outcome, benefit, half)
    # the mechanism: the benefit in adaptation is the room left, 1 - a, times a constant
    adaptation = curve(table, "adaptation", "relief")
    room = 1.0 - adaptation["adaptation_at_start"].to_numpy()
    ratio = -adaptation["difference"].to_numpy() / room
    np.testing.assert_allclose(ratio, ratio.mean(), rtol=0.05)
    # relieving pain removes its mPFC-insula coupling, which raises the mean |z| (state part)
    assert (curve(table, "dmn_perturbation_state", "relief")["difference"] > 0).all()
    # pain relief itself does not depend on when treatment starts
    pain = curve(table, "pain", "relief")["difference"]
    assert pain.max() - pain.min() < 0.05 * abs(pain.mean())


@pytest.mark.slow  # an ordinary run per pair
def test_every_pair_matches_an_ordinary_run_of_the_same_people() -> None:
    data = timing_scenario(
        [{"name": "PRT", "interventions": [{"kind": "prt"}]}],
        {"start_years_with_pain": [0, 1], "follow_up_years": [0.5], "outcomes": ["pain"]},
        size=600,
        years=4,
    )
    scenario = parse_scenario(data)
    pairs = run_timing(scenario).pairs
    generated, plan = timing_plan(scenario)
    assert [a.name for a in generated.arm_list] == ["PRT at 0 y", "PRT at 1 y", TWIN]
    # record every step in an ordinary run of the generated arms (no [timing] involved)
    recorded = generated.model_dump(mode="json")
    recorded["scenario"]["record_every_years"] = generated.scenario.dt_years
    patients = simulate(parse_scenario(recorded)).patients
    follow = round(0.5 / generated.scenario.dt_years) * generated.scenario.dt_years
    for arm in plan:
        mine = pairs[(pairs["start"] == arm.start.label)].set_index("patient_id")
        assert len(mine) > 15
        treated = patients[patients["arm"] == arm.name]
        enrolled = treated.groupby("patient_id")["enrolled_year"].first().dropna()
        # everyone enrolled early enough to be followed up is a pair, with that enrolment year
        early = enrolled[enrolled + follow <= generated.scenario.years + 1e-9]
        assert sorted(early.index) == sorted(mine.index)
        np.testing.assert_allclose(mine.loc[early.index, "enrolled_year"], early, atol=1e-9)
        for who in mine.index[:15]:
            due = mine.loc[who, "enrolled_year"] + follow
            for name, column in ((arm.name, "pain_treated"), (TWIN, "pain_usual_care")):
                row = patients[
                    (patients["arm"] == name)
                    & (patients["patient_id"] == who)
                    & np.isclose(patients["year"], due, atol=1e-6)
                ]
                assert len(row) == 1
                assert mine.loc[who, column] == pytest.approx(row["pain"].iloc[0], rel=1e-5)


def test_parameter_sets_make_replicates_and_a_two_level_interval() -> None:
    data = timing_scenario(
        [{"name": "CBT", "interventions": [{"kind": "cbt"}]}],
        {"start_years_with_pain": [0, 1], "follow_up_years": [0.5], "outcomes": ["coping"]},
        years=3,
    )
    sets = [{"drift.rate": 0.05}, {"drift.rate": 0.1}, {"drift.rate": 0.2}]
    result = run_timing(parse_scenario(data), parameter_sets=sets)
    assert result.pairs["replicate"].nunique() == 3
    assert (result.table["replicates"] == 3).all()
    assert result.table["method"].str.startswith("two-level bootstrap").all()
    assert (result.table["ci_low"] < result.table["difference"]).all()
    with pytest.raises(TimingError, match=r"parameter_sets\[1\]: parameters.drift.rat"):
        run_timing(parse_scenario(data), parameter_sets=[{}, {"drift.rat": 1.0}])
    with pytest.raises(TimingError, match="parameter_sets: empty"):
        run_timing(parse_scenario(data), parameter_sets=[])


def test_stage_starts_enrol_at_that_stage() -> None:
    data = timing_scenario(
        [{"name": "CBT", "interventions": [{"kind": "cbt"}]}],
        {"start_years_with_pain": [], "start_stages": ["acute", "chronic"], "outcomes": ["pain"]},
        years=6,
    )
    table = run_timing(parse_scenario(data)).table
    assert table["start"].tolist() == ["acute", "chronic"]
    assert table["start_years_with_pain"].isna().all()
    acute, chronic = table["years_with_pain_at_start"]
    assert acute < chronic


BASE = timing_scenario([{"name": "CBT", "interventions": [{"kind": "cbt"}]}], {})


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"timing": {"outcomes": ["pian"]}}, "timing.outcomes", "unknown outcome 'pian'"),
        ({"timing": {"follow_up_years": [12]}}, "timing.follow_up_years", "no time to enrol"),
        ({"timing": {"start_years_with_pain": [1, 1]}}, "timing.start_years_with_pain", "twice"),
        ({"timing": {"start_window_years": 0}}, "timing.start_window_years", "greater than 0"),
        ({"timing": {"typo": 1}}, "timing.typo", "unknown key"),
        ({"arms": []}, "arms", "no treatment arm"),
        ({"arms": [{"name": "x"}]}, "arms[0].interventions", "has no intervention"),
        (
            {"arms": [{"name": "x", "interventions": [{"kind": "cbt", "at_stage": "acute"}]}]},
            "arms[0].interventions[0].at_stage",
            "set by [timing]",
        ),
        (
            {"arms": [{"name": "x", "interventions": [{"kind": "cbt", "max_years_with_pain": 5}]}]},
            "timing.start_years_with_pain",
            "outside arms[0].interventions[0]'s eligibility",
        ),
    ],
)
def test_bad_timing_sections_give_one_line_errors(change, field, message) -> None:
    data = copy.deepcopy(BASE)
    for section, value in change.items():
        if isinstance(value, dict):
            data[section].update(value)
        else:
            data[section] = value
    with pytest.raises(ScenarioError) as err:
        parse_scenario(data, "t.toml")
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(f"t.toml: {field}: ")
    assert message in text


def test_results_folder_round_trip_and_command(tmp_path, write_toml) -> None:
    toml = """
[scenario]
name = "timing cli"
seed = 3
years = 3
dt_weeks = 4

[cohort]
size = 120
history = "none"

[[arms]]
name = "PRT"
interventions = [{ kind = "prt" }]

[timing]
start_years_with_pain = [0, 1]
follow_up_years = [0.5]
outcomes = ["pain", "healthy_range"]
"""
    path = write_toml(toml)
    result = sim.timing(path, out=tmp_path / "api")
    again = load(tmp_path / "api")
    assert again.kind == "timing"
    pd.testing.assert_frame_equal(again.table, result.table)
    manifest = json.loads((tmp_path / "api" / "manifest.json").read_text())
    assert manifest["kind"] == "timing"
    assert manifest["timing"]["treatments"] == ["PRT"]
    assert sorted(manifest["files"]) == [
        "manifest.json",
        "pairs.parquet",
        "timing.csv",
        "timing.md",
    ]
    runner = CliRunner()
    out = tmp_path / "cli"
    done = runner.invoke(
        app, ["timing", str(path), "--out", str(out), "--no-progress", "--no-figures"]
    )
    assert done.exit_code == 0, done.output
    assert "Δ pain (NRS points), 0.5 y after start" in done.output
    assert pd.read_csv(out / "timing.csv").equals(pd.read_csv(tmp_path / "api" / "timing.csv"))
    again = runner.invoke(app, ["timing", str(path), "--out", str(out), "--no-progress"])
    assert again.exit_code == 2
    assert "not empty" in again.output
    no_timing = write_toml(toml.split("[timing]")[0], "plain.toml")
    missing = runner.invoke(app, ["timing", str(no_timing), "--no-progress"])
    assert missing.exit_code == 2
    assert "timing: missing section" in missing.output
