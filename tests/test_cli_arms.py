"""The painsim command with treatment arms: per-arm tables, compare, and bad arm input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from support import assert_one_line_error, invoke

ARMS_TOML = """
[scenario]
name = "arms cli"
years = 3
dt_weeks = 4
replicates = 2
record_every_years = 1

[cohort]
size = 300

[[arms]]
name = "usual care"
[[arms.interventions]]
kind = "usual_care"
start_year = 1
eligible_stages = ["chronic", "subacute"]

[[arms]]
name = "CBT + TMS"
[[arms.interventions]]
kind = "cbt"
start_year = 1
eligible_stages = ["chronic", "subacute"]
[[arms.interventions]]
kind = "tms"
start_year = 1
eligible_stages = ["chronic", "subacute"]
"""

ONE_ARM = """
[scenario]
name = "bad arms"
years = 5
[[arms]]
name = "x"
"""

BAD_ARMS = {
    "unknown kind lists the kinds": (
        ONE_ARM + '[[arms.interventions]]\nkind = "hypnosis"\n',
        ("arms[0].interventions[0].kind", "usual_care, cbt, act, mindfulness, tms, prt"),
    ),
    "duplicate arm names": (ONE_ARM + '[[arms]]\nname = "X"\n', ("arms[1].name", "duplicate")),
    "start after the horizon": (
        ONE_ARM + '[[arms.interventions]]\nkind = "cbt"\nstart_year = 6\n',
        ("arms[0].interventions[0].start_year", "horizon"),
    ),
    "impossible eligibility": (
        ONE_ARM + '[[arms.interventions]]\nkind = "cbt"\nmin_years_with_pain = 5\n'
        "max_years_with_pain = 1\n",
        ("arms[0].interventions[0]", "impossible eligibility"),
    ),
    "negative dose": (
        ONE_ARM + '[[arms.interventions]]\nkind = "cbt"\npain_effect = -0.2\n',
        ("arms[0].interventions[0].pain_effect", "greater than or equal to 0"),
    ),
    "zero sessions": (
        ONE_ARM + '[[arms.interventions]]\nkind = "tms"\nsessions = 0\n',
        ("arms[0].interventions[0].sessions",),
    ),
    "unknown intervention key": (
        ONE_ARM + '[[arms.interventions]]\nkind = "cbt"\nsesions = 3\n',
        ("arms[0].interventions[0].sesions", "did you mean 'sessions'"),
    ),
    "path traversal in an arm name": (
        '[scenario]\nname = "bad"\n[[arms]]\nname = "../../etc"\n',
        ("arms[0].name",),
    ),
}


@pytest.mark.parametrize("text, fragments", BAD_ARMS.values(), ids=BAD_ARMS.keys())
def test_bad_arm_gives_one_line_naming_file_and_field(tmp_path, write_toml, text, fragments):
    path = write_toml(text)
    root = tmp_path / "results"
    assert_one_line_error(
        invoke("run", path, "--results-root", root, "--no-progress"), str(path), *fragments
    )
    assert not root.exists()


@pytest.fixture(scope="module")
def arms_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("arms")
    path = folder / "arms.toml"
    path.write_text(ARMS_TOML)
    # No figures: these tests read the printed table and compare the arms' records.
    result = invoke("run", path, "--out", folder / "run", "--no-progress", "--no-figures")
    assert result.exit_code == 0, result.output
    return folder / "run", result.stdout


def test_run_with_arms_prints_a_per_arm_table(arms_run):
    _, stdout = arms_run
    assert "arm: usual care" in stdout and "arm: CBT + TMS" in stdout
    table = stdout[stdout.index("at the horizon:") :].splitlines()
    assert table[2].startswith("usual care") and table[3].startswith("CBT + TMS")
    assert "% responders" in table[1]


def test_compare_writes_csv_and_markdown_against_the_reference(arms_run):
    folder, _ = arms_run
    result = invoke("compare", folder, "--years", "2", "--years", "3")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(folder / "comparison.csv")
    assert set(table["arm"]) == {"CBT + TMS"} and set(table["reference"]) == {"usual care"}
    assert sorted(table["year"].unique()) == [2.0, 3.0]
    assert "## CBT + TMS vs usual care, year 3" in (folder / "comparison.md").read_text()
    coping = table[(table["outcome"] == "coping") & (table["year"] == 3)].iloc[0]
    assert coping["difference"] < 0


def test_compare_rejects_unknown_reference_and_year(arms_run):
    folder, _ = arms_run
    assert_one_line_error(
        invoke("compare", folder, "--reference", "placebo"), "--reference", "placebo"
    )
    assert_one_line_error(invoke("compare", folder, "--years", "2.5"), "--years", "2.5")
    assert_one_line_error(invoke("compare", folder.parent / "nothing"), "not a painsim results")


def test_compare_can_restrict_to_enrolled_patients_and_their_twins(arms_run):
    folder, _ = arms_run
    result = invoke("compare", folder, "--enrolled")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(folder / "comparison.csv")
    everyone = invoke("compare", folder)
    assert everyone.exit_code == 0
    assert (table["n_pairs"] <= pd.read_csv(folder / "comparison.csv")["n_pairs"]).all()
    assert "Patients enrolled in the compared arm" in result.stdout
