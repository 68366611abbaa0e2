"""The painsim command: run, validate, params, --version, and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import assert_one_line_error, invoke

from sim import __version__
from sim.core.parameters import ModelParams, parameter_table
from sim.scenario import ScenarioError, parse_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"

SMALL_TOML = """
[scenario]
name = "small cli"
years = 2
dt_weeks = 4
record_every_years = 1

[cohort]
size = 30
"""


# -- commands that work -------------------------------------------------------------------------
def test_run_classroom_prints_decade_table_and_writes_results_folder(tmp_path):
    root = tmp_path / "results"
    # --no-figures: figures are drawn by default (tests/test_figures.py,
    # test_painsim_run_makes_figures_unless_told_not_to); here they would take most of the time.
    result = invoke(
        "run", SCENARIOS / "classroom.toml", "--results-root", root, "--no-progress", "--no-figures"
    )
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if line.startswith("year"))
    assert "% chronic" in header and "DMN perturbation" in header
    assert [
        line.split()[0] for line in result.stdout.splitlines() if line[:4].strip().isdigit()
    ] == ["0", "10", "20"]
    folder = Path(result.stdout.strip().splitlines()[-1].removeprefix("results: "))
    assert folder.parent == root / "classroom"
    assert (folder / "manifest.json").is_file()


def test_run_records_overrides_and_command_line_in_manifest(tmp_path, write_toml):
    out = tmp_path / "out"
    args = [
        "run",
        write_toml(SMALL_TOML),
        "--out",
        out,
        "--seed",
        "5",
        "--replicates",
        "2",
        "--no-progress",
        "--no-figures",  # not about figures, which would take most of the time
    ]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["seed"], manifest["run"]["replicates"]) == (5, 2)
    assert manifest["command"] == ["painsim", *map(str, args)]


def test_run_saves_connectivity_on_request(tmp_path, write_toml):
    out = tmp_path / "out"
    result = invoke(
        "run",
        write_toml(SMALL_TOML),
        *("--out", out, "--save-connectivity", "--no-progress", "--no-figures"),
    )
    assert result.exit_code == 0, result.output
    assert (out / "connectivity.npz").is_file()


@pytest.mark.slow
def test_console_script_runs_a_scenario(tmp_path, write_toml):
    # The script pip installed beside this Python (the venv's bin/), whether or not the venv
    # is activated: the README runs the tests as .venv/bin/python -m pytest.
    painsim = Path(sys.executable).parent / ("painsim.exe" if os.name == "nt" else "painsim")
    assert painsim.is_file(), (
        f"console script not installed beside {sys.executable} (pip install -e .)"
    )
    root = tmp_path / "results"
    # --no-figures: drawing them took most of this test's time; that `painsim run` draws them by
    # default is tests/test_figures.py, test_painsim_run_makes_figures_unless_told_not_to.
    done = subprocess.run(
        [
            str(painsim),
            "run",
            str(write_toml(SMALL_TOML)),
            "--results-root",
            str(root),
            "--no-figures",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "results: " in done.stdout
    assert len(list((root / "small-cli").iterdir())) == 1


def test_validate_accepts_every_shipped_scenario():
    files = sorted(SCENARIOS.glob("*.toml"))
    assert files
    result = invoke("validate", *files)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"{f}: ok" for f in files]


def test_validate_reports_each_invalid_file_and_exits_2(write_toml):
    good = write_toml(SMALL_TOML, "good.toml")
    bad = write_toml('[scenario]\nname = "x"\nyears = 0\n', "bad.toml")
    result = invoke("validate", good, bad)
    assert_one_line_error(result, str(bad), "scenario.years")
    assert result.stdout.splitlines() == [f"{good}: ok"]


def test_params_lists_every_model_parameter_with_unit_and_source():
    result = invoke("params")
    assert result.exit_code == 0, result.output
    table, _, legend = result.stdout.partition("\n\n")
    lines = table.splitlines()
    assert lines[0].split() == ["name", "default", "unit", "source"]
    # Long sources continue on indented lines; each parameter's line starts with its name.
    names = [line.split()[0] for line in lines[1:] if not line.startswith(" ")]
    assert names == [row["name"] for row in parameter_table(ModelParams())]
    assert "[NF]" in legend


def test_version_prints_package_version():
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"painsim {__version__}"


# -- bad input: one line, exit 2, nothing written -----------------------------------------------
VALID_HEAD = '[scenario]\nname = "bad"\n'
BAD_FILES = {
    "malformed TOML": ("[scenario\nname = 'x'\n", ["malformed TOML"]),
    "unknown key": (
        VALID_HEAD + "yeras = 3\n",
        ["scenario.yeras", "unknown key", "did you mean 'years'", "allowed: name"],
    ),
    "wrong type": (VALID_HEAD + 'years = "ten"\n', ["scenario.years"]),
    "negative cohort size": (VALID_HEAD + "[cohort]\nsize = -5\n", ["cohort.size"]),
    "zero cohort size": (VALID_HEAD + "[cohort]\nsize = 0\n", ["cohort.size"]),
    "zero years": (VALID_HEAD + "years = 0\n", ["scenario.years"]),
    "negative dt": (VALID_HEAD + "dt_weeks = -1\n", ["scenario.dt_weeks"]),
    "probability above 1": (VALID_HEAD + "[cohort]\nfemale_share = 1.5\n", ["cohort.female_share"]),
    "NaN": (VALID_HEAD + "years = nan\n", ["scenario.years", "finite"]),
    "infinity": (VALID_HEAD + "years = inf\n", ["scenario.years", "finite"]),
    "NaN parameter": (
        VALID_HEAD + '[parameters]\n"drift.rate" = nan\n',
        ["parameters.drift.rate", "finite"],
    ),
    "unknown parameter": (
        VALID_HEAD + '[parameters]\n"drift.rte" = 0.1\n',
        ["parameters.drift.rte", "did you mean 'drift.rate'"],
    ),
    "empty name": ('[scenario]\nname = ""\n', ["scenario.name"]),
    "missing section": ("[cohort]\nsize = 10\n", ["scenario", "missing"]),
}


@pytest.mark.parametrize("text, fragments", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_scenario_file_gives_one_line_naming_file_and_field(
    tmp_path, write_toml, text, fragments
):
    path = write_toml(text)
    root = tmp_path / "results"
    result = invoke("run", path, "--results-root", root, "--no-progress")
    assert_one_line_error(result, str(path), *fragments)
    assert not root.exists()


def test_missing_scenario_file_gives_one_line_naming_it(tmp_path):
    path = tmp_path / "nowhere.toml"
    result = invoke("run", path, "--results-root", tmp_path / "results")
    assert_one_line_error(result, str(path), "file not found")
    assert not (tmp_path / "results").exists()


BAD_OPTIONS = {
    "zero replicates": (["--replicates", "0"], ["--replicates 0", "scenario.replicates"]),
    "negative seed": (["--seed", "-1"], ["--seed -1", "scenario.seed"]),
    "seed not a number": (["--seed", "abc"], ["--seed"]),
    "unknown option": (["--bogus"], ["--bogus"]),
}


@pytest.mark.parametrize("options, fragments", BAD_OPTIONS.values(), ids=BAD_OPTIONS.keys())
def test_bad_option_value_gives_one_line_and_writes_nothing(
    tmp_path, write_toml, options, fragments
):
    root = tmp_path / "results"
    result = invoke("run", write_toml(SMALL_TOML), "--results-root", root, *options)
    assert_one_line_error(result, *fragments)
    assert not root.exists()


def test_existing_non_empty_out_folder_gives_one_line_and_is_left_alone(tmp_path, write_toml):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    result = invoke("run", write_toml(SMALL_TOML), "--out", out, "--no-progress")
    assert_one_line_error(result, str(out), "not empty")
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_results_root_that_is_a_file_gives_one_line(tmp_path, write_toml):
    root = write_toml("", "not-a-folder")
    result = invoke("run", write_toml(SMALL_TOML), "--results-root", root, "--no-progress")
    assert_one_line_error(result, str(root), "cannot create folder")


# -- any TOML-ish input is either valid or a one-line ScenarioError -----------------------------
KNOWN_KEYS = [
    "name",
    "description",
    "seed",
    "years",
    "dt_weeks",
    "replicates",
    "record_every_years",
    "size",
    "age_min",
    "age_max",
    "female_share",
    "history",
    "coping_mean",
    "coping_sd",
    "drift.rate",
    "pain.onset_rate",
    "brain.atlas",
]
toml_scalars = (
    st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.dates()
    | st.datetimes()
    | st.times()
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
# Quoted TOML keys may hold any character; whitespace and line breaks are the risky ones.
toml_keys = (
    st.sampled_from(KNOWN_KEYS)
    | st.text(max_size=12)
    | st.text(alphabet="ab._ \t\n\r\u2028", min_size=1, max_size=6)
)
toml_sections = st.dictionaries(toml_keys, toml_values, max_size=6) | toml_values
arbitrary_documents = st.dictionaries(
    st.sampled_from(["scenario", "cohort", "parameters"]) | st.text(max_size=8),
    toml_sections,
    max_size=4,
)
# A few random fields on top of a valid scenario, so that checks behind the first error run too.
few_fields = st.dictionaries(toml_keys, toml_values, max_size=2)
near_valid_documents = st.builds(
    lambda run, cohort, parameters: {
        "scenario": {"name": "fuzz", **run},
        "cohort": cohort,
        "parameters": parameters,
    },
    few_fields,
    few_fields,
    few_fields,
)
toml_documents = arbitrary_documents | near_valid_documents


@pytest.mark.slow  # 300 generated documents; the quick tests: tests/test_bad_input.py
@settings(max_examples=300, deadline=None)
@given(toml_documents)
def test_parse_scenario_accepts_or_raises_one_line_scenario_error(data):
    try:
        parse_scenario(data, "fuzz.toml")
    except ScenarioError as exc:
        assert len(str(exc).splitlines()) == 1
        assert str(exc).startswith("fuzz.toml")
