"""Every kind of bad input fails fast and cleanly: one line on stderr, exit 2, nothing written.

One case of each failure class (the classes are fixed, so variations of a case fail the same
way): scenario files that are not regular small UTF-8 TOML files, lax types, work beyond the
budget, damaged results folders, operating-system faults, a scenario made for another command,
start-up imports, and the help texts.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sim.core.brain import ATLAS_REGIONS, REGION_NAMES
from sim.interfaces.cli import app
from sim.scenario import budget, files

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
runner = CliRunner()

SMALL = """
[scenario]
name = "small bad input"
years = 2
dt_weeks = 4
record_every_years = 1

[cohort]
size = 30
"""
HEAD = '[scenario]\nname = "bad"\n'


def invoke(*args: object, env: dict[str, str] | None = None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def assert_one_line_error(result, *fragments: str) -> str:
    """Exit 2, exactly one stderr line naming every fragment, and no traceback."""
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("painsim: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return lines[0]


def visible(root: Path) -> list[Path]:
    """Everything under ``root`` a person would see (no hidden entries)."""
    if not root.exists():
        return []
    return [p for p in root.rglob("*") if not any(part.startswith(".") for part in p.parts)]


# -- 1. scenario files: type, size, encoding, what the TOML parser chokes on --------------------
@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A folder with a short path (Unix socket paths are limited to about 100 characters)."""
    folder = Path(tempfile.mkdtemp(prefix="painsim-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _fifo(folder: Path) -> Path:
    path = folder / "pipe.toml"
    os.mkfifo(path)
    return path


def _socket(folder: Path) -> Path:
    path = folder / "sock.toml"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()
    return path


def _folder(folder: Path) -> Path:
    path = folder / "folder.toml"
    path.mkdir()
    return path


def _write(name: str, data: bytes):
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    return make


BAD_FILES = {
    # A FIFO with no writer would block a plain open() forever.
    "fifo": (_fifo, "not a regular file"),
    "socket": (_socket, "not a regular file"),
    "folder": (_folder, "not a regular file"),
    "/dev/zero": (lambda folder: Path("/dev/zero"), "not a regular file"),
    "/dev/urandom": (lambda folder: Path("/dev/urandom"), "not a regular file"),
    "too large": (
        _write("big.toml", (HEAD + "# padding\n" * (files.MAX_SCENARIO_BYTES // 10)).encode()),
        "file too large",
    ),
    "UTF-16": (_write("u16.toml", HEAD.encode("utf-16")), "not a UTF-8 TOML file"),
    "UTF-16 without BOM": (_write("u16le.toml", HEAD.encode("utf-16-le")), "not a UTF-8 TOML"),
    "UTF-8 BOM": (_write("bom.toml", b"\xef\xbb\xbf" + HEAD.encode()), "not a UTF-8 TOML file"),
    "binary": (_write("bin.toml", bytes(range(256)) * 8), "not a UTF-8 TOML file"),
    "Latin-1": (
        _write("latin.toml", (HEAD + "description = 'caf\xe9'\n").encode("latin-1")),
        "UTF-8",
    ),
    "integer of 5000 digits": (
        _write("digits.toml", (HEAD + "seed = " + "9" * 5000).encode()),
        "digits",
    ),
    "arrays nested 100000 deep": (
        _write(
            "deep.toml", (HEAD + '[parameters]\n"a" = ' + "[" * 100_000 + "]" * 100_000).encode()
        ),
        "nested too deeply",
    ),
    "inline tables nested 5000 deep": (
        _write(
            "deeptable.toml",
            (HEAD + '[parameters]\n"a" = ' + "{a=" * 5000 + "1" + "}" * 5000).encode(),
        ),
        "nested too deeply",
    ),
}


@pytest.mark.parametrize("make, fragment", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_unreadable_scenario_file_gives_one_line_in_validate(short_dir, make, fragment):
    path = make(short_dir)
    result = invoke("validate", path)
    assert_one_line_error(result, str(path), fragment)


@pytest.mark.parametrize("command", ["run", "study", "sweep", "app"])
def test_every_command_that_reads_scenarios_refuses_a_fifo_in_one_line(short_dir, command):
    path = _fifo(short_dir)
    root = short_dir / "results"
    options = [] if command == "app" else ["--results-root", root, "--no-progress"]
    result = invoke(command, path, *options)
    assert_one_line_error(result, str(path), "not a regular file")
    assert not root.exists()


def test_a_file_that_turns_into_a_fifo_after_stat_is_opened_without_blocking(short_dir):
    # O_NONBLOCK: a FIFO opened for reading returns at once even without a writer.
    path = _fifo(short_dir)
    with pytest.raises(ValueError, match="not a regular file"):
        files.read_scenario_bytes(path)


# -- 2. lax types: booleans are not numbers, strings are not numbers ----------------------------
ARM = '\n[[arms]]\nname = "treated"\n[[arms.interventions]]\nkind = "{kind}"\n{line}\n'
LAX = {
    "size = true": (HEAD + "[cohort]\nsize = true\n", "cohort.size", "boolean"),
    "years = true": (HEAD + "years = true\n", "scenario.years", "boolean"),
    'seed = "5"': (HEAD + 'seed = "5"\n', "scenario.seed", "string"),
    'years = "2"': (HEAD + 'years = "2"\n', "scenario.years", "string"),
    "parameter = true": (
        HEAD + '[parameters]\n"drift.rate" = true\n',
        "parameters.drift.rate",
        "boolean",
    ),
    'parameter = "0.3"': (
        HEAD + '[parameters]\n"drift.rate" = "0.3"\n',
        "parameters.drift.rate",
        "string",
    ),
    "whole-number parameter = 500.0": (
        HEAD + '[parameters]\n"metrics.norms_per_age" = 500.0\n',
        "parameters.metrics.norms_per_age",
        "whole number",
    ),
    "intervention sessions = true": (
        HEAD + ARM.format(kind="cbt", line="sessions = true"),
        "arms[0].interventions[0].sessions",
        "boolean",
    ),
    'intervention uptake = "0.5"': (
        HEAD + ARM.format(kind="cbt", line='uptake = "0.5"'),
        "arms[0].interventions[0].uptake",
        "string",
    ),
    "unknown target region": (
        HEAD + ARM.format(kind="tms", line="target_weights = { aMPF = 1.0 }"),
        "arms[0].interventions[0].target_weights",
        "did you mean 'aMPFC'",
    ),
    "grid value = true where a number belongs": (
        HEAD + '[sweep]\n[sweep.grid]\n"drift.rate" = [0.1, true]\n',
        "sweep.grid.drift.rate",
        "",
    ),
}


@pytest.mark.parametrize("text, field, fragment", LAX.values(), ids=LAX.keys())
def test_lax_types_are_errors_naming_the_field(tmp_path, write_toml, text, field, fragment):
    path = write_toml(text)
    root = tmp_path / "results"
    result = invoke("run", path, "--results-root", root, "--no-progress")
    assert_one_line_error(result, f"{path}: {field}", fragment)
    assert not root.exists()


def test_an_integer_where_a_number_is_expected_stays_fine(write_toml):
    text = HEAD + 'years = 2\n[cohort]\nsize = 30\n[parameters]\n"drift.rate" = 1\n'
    result = invoke("validate", write_toml(text))
    assert result.exit_code == 0, result.output


def test_seitzman_region_names_are_accepted_as_targets(write_toml):
    text = HEAD + ARM.format(kind="tms", line="target_weights = { SAL = 1.0, 'PCC.12' = 0.5 }")
    assert invoke("validate", write_toml(text)).exit_code == 0


def test_region_names_and_atlas_sizes_match_the_built_brain():
    from sim.core.brain import build_brain

    brain = build_brain()
    assert brain.names == REGION_NAMES
    assert ATLAS_REGIONS["default"] == brain.n_regions


# -- 3. the work budget -------------------------------------------------------------------------
SOBOL_MILLIONS = (
    HEAD
    + '[sweep]\nmethod = "sobol"\nsamples = 524288\n[sweep.bounds]\n'
    + '"drift.rate" = [0.1, 0.2]\n"drift.coping_weight" = [0.0, 1.0]\n'
)
GRID_MILLIONS = (
    HEAD
    + "years = 2\n[sweep]\n[sweep.grid]\n"
    + "".join(
        f'"{name}" = [{", ".join(str(0.01 * (i + 1)) for i in range(40))}]\n'
        for name in ("drift.rate", "drift.coping_weight", "pain.p_persistent", "coping.trait_sd")
    )
)
WORK = {
    "person-steps": (
        HEAD + "replicates = 1000\n[cohort]\nsize = 1000000\n",
        ["work:", "person-steps", "PAINSIM_MAX_WORK=388"],
    ),
    "patients table": (
        HEAD + "record_every_years = 0.01\n[cohort]\nsize = 100000\n",
        ["scenario.record_every_years", "table cells", "PAINSIM_MAX_WORK="],
    ),
    "Sobol design of millions of points": (
        SOBOL_MILLIONS,
        ["sweep:", "2097152 design points", "PAINSIM_MAX_WORK=329"],
    ),
    "grid of millions of points": (GRID_MILLIONS, ["sweep:", "2560000 design points"]),
    "study population": (
        HEAD + "[study]\npopulation = 5000000\n",
        ["study.population", "person-steps", "PAINSIM_MAX_WORK=3"],
    ),
    "study resampling": (
        HEAD + "[study]\nreplications = 10000\nbootstrap_resamples = 100000\n",
        ["study.replications", "resampled people"],
    ),
}


@pytest.mark.parametrize("text, fragments", WORK.values(), ids=WORK.keys())
def test_work_beyond_the_budget_fails_at_validation(write_toml, text, fragments, monkeypatch):
    monkeypatch.delenv(budget.ENVIRONMENT, raising=False)
    path = write_toml(text)
    assert_one_line_error(invoke("validate", path), str(path), *fragments)


def test_the_documented_large_run_is_well_inside_the_budget():
    from sim.scenario import parse_scenario

    arms = [{"name": f"arm {i}"} for i in range(6)]
    big = parse_scenario(
        {"scenario": {"name": "big", "years": 30}, "cohort": {"size": 100_000}, "arms": arms}
    )
    work = budget.run_work(big)
    assert work.person_steps < budget.MAX_PERSON_STEPS / 5
    assert work.table_cells < budget.MAX_TABLE_CELLS / 4


def test_every_shipped_scenario_is_inside_the_budget(monkeypatch):
    monkeypatch.delenv(budget.ENVIRONMENT, raising=False)
    result = invoke("validate", *sorted(SCENARIOS.glob("*.toml")))
    assert result.exit_code == 0, result.output


def test_painsim_max_work_allows_a_larger_job(write_toml):
    path = write_toml(WORK["person-steps"][0])
    assert invoke("validate", path, env={budget.ENVIRONMENT: "388"}).exit_code == 0
    assert invoke("validate", path, env={budget.ENVIRONMENT: "inf"}).exit_code == 0


def test_a_bad_painsim_max_work_is_one_line(write_toml):
    result = invoke("validate", write_toml(SMALL), env={budget.ENVIRONMENT: "lots"})
    assert_one_line_error(result, budget.ENVIRONMENT, "positive number")


def test_an_override_is_checked_against_the_budget_too(tmp_path, write_toml):
    text = HEAD + "[cohort]\nsize = 1000000\n"
    root = tmp_path / "results"
    result = invoke("run", write_toml(text), "--replicates", "1000", "--results-root", root)
    assert_one_line_error(result, "--replicates 1000", "person-steps")
    assert not root.exists()


def test_keeping_connectivity_is_checked_against_the_memory_budget(tmp_path, write_toml):
    text = HEAD + 'years = 1\n[cohort]\nsize = 1000000\n[parameters]\n"brain.atlas" = "seitzman"\n'
    root = tmp_path / "results"
    result = invoke("run", write_toml(text), "--save-connectivity", "--results-root", root)
    assert_one_line_error(result, "connectivity", "memory budget")
    assert not root.exists()


# -- 4. damaged results folders for compare and figures -----------------------------------------
@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    scenario = tmp_path_factory.mktemp("scenario") / "small.toml"
    scenario.write_text(
        SMALL + '\n[[arms]]\nname = "usual care"\n[[arms]]\nname = "cbt"\n'
        '[[arms.interventions]]\nkind = "cbt"\n'
    )
    folder = tmp_path_factory.mktemp("runs") / "good"
    result = invoke("run", scenario, "--out", folder, "--no-progress", "--no-figures")
    assert result.exit_code == 0, result.output
    return folder


def _manifest(edit):
    def damage(folder: Path) -> str:
        path = folder / "manifest.json"
        data = json.loads(path.read_text())
        path.write_text(json.dumps(edit(data)))
        return str(path)

    return damage


def _drop_run_arms(data: dict) -> dict:
    del data["run"]["arms"]
    data["scenario"]["arms"] = []
    return data


def _truncate(name: str):
    def damage(folder: Path) -> str:
        path = folder / name
        path.write_bytes(path.read_bytes()[:300])
        return str(path)

    return damage


def _patients(edit):
    def damage(folder: Path) -> str:
        path = folder / "patients.parquet"
        edit(pd.read_parquet(path)).to_parquet(path)
        return str(path)

    return damage


DAMAGE = {
    "manifest {}": (_manifest(lambda d: {}), "scenario"),
    "manifest is a list": (_manifest(lambda d: [d]), "JSON object"),
    "manifest without arms": (_manifest(_drop_run_arms), "run.arms"),
    "manifest not JSON": (
        lambda f: (f / "manifest.json").write_text("{") and "manifest.json",
        "JSON",
    ),
    "truncated patients.parquet": (_truncate("patients.parquet"), "truncated"),
    "truncated timeseries.parquet": (_truncate("timeseries.parquet"), "truncated"),
    "patients without a column": (
        _patients(lambda t: t.drop(columns="dmn_perturbation")),
        "dmn_perturbation",
    ),
    "patients with text years": (_patients(lambda t: t.assign(year="x")), "year"),
    "patients without rows": (_patients(lambda t: t.iloc[:0]), "no rows"),
    "summary.csv missing": (
        lambda f: (f / "summary.csv").unlink() or str(f / "summary.csv"),
        "missing",
    ),
}


@pytest.mark.parametrize("command", ["compare", "figures"])
@pytest.mark.parametrize("damage, fragment", DAMAGE.values(), ids=DAMAGE.keys())
def test_damaged_results_folder_gives_one_line_naming_the_file(
    tmp_path, run_folder, command, damage, fragment
):
    folder = tmp_path / "damaged"
    shutil.copytree(run_folder, folder)
    named = damage(folder)
    before = sorted(p.name for p in folder.iterdir())
    assert_one_line_error(invoke(command, folder), named, fragment)
    assert sorted(p.name for p in folder.iterdir()) == before


def test_compare_refuses_a_folder_of_another_kind(tmp_path, run_folder):
    folder = tmp_path / "study"
    shutil.copytree(run_folder, folder)
    _manifest(lambda d: {**d, "kind": "study"})(folder)
    assert_one_line_error(invoke("compare", folder), str(folder), "a study folder")


# -- 5. operating-system faults -----------------------------------------------------------------
def test_a_full_disk_during_the_run_is_one_line_and_leaves_nothing(
    tmp_path, write_toml, monkeypatch
):
    real = pd.DataFrame.to_parquet

    def disk_full(self, path, *args, **kwargs):
        real(self.head(1), path, *args, **kwargs)  # a partly written file, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(pd.DataFrame, "to_parquet", disk_full)
    root = tmp_path / "results"
    result = invoke("run", write_toml(SMALL), "--results-root", root, "--no-progress")
    assert_one_line_error(result, str(root), "No space left on device", "nothing was written")
    assert not root.exists()


def test_empty_results_root_is_refused(tmp_path, write_toml):
    result = invoke("run", write_toml(SMALL), "--results-root", "", "--no-progress")
    assert_one_line_error(result, "--results-root", "empty")


def test_staging_folder_of_a_killed_run_is_removed_by_the_next_run_of_that_destination(
    tmp_path, write_toml
):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid now belongs to no process
    out = tmp_path / "results" / "mine"
    stale = out.parent / f".{out.name}.tmp-{dead.pid}"
    stale.mkdir(parents=True)
    (stale / "patients.parquet").write_bytes(b"half written")
    result = invoke("run", write_toml(SMALL), "--out", out, "--no-progress", "--no-figures")
    assert result.exit_code == 0, result.output
    assert not stale.exists()
    assert sorted(p.name for p in out.parent.iterdir()) == ["mine"]


def test_workers_refused_by_the_sweep_backend_are_one_line(tmp_path):
    # The backends decide how many workers make sense; the command reports their verdict.
    root = tmp_path / "results"
    scenario = SCENARIOS / "sweep_drift_coping.toml"
    result = invoke("sweep", scenario, "--workers", "100000000", "--results-root", root)
    assert_one_line_error(result, "--workers", "100000000")
    assert not root.exists()


def test_any_painsim_error_escaping_a_command_is_one_line(tmp_path, monkeypatch, write_toml):
    # Errors of painsim's own ValueError subclasses that a command does not catch itself.
    import sim.api

    class BackendError(ValueError):
        pass

    BackendError.__module__ = "sim.experiments.backends"

    def refuse(*args, **kwargs):
        raise BackendError("--workers: 100000000 workers cannot be started")

    monkeypatch.setattr(sim.api, "run", refuse)
    result = invoke("run", write_toml(SMALL), "--results-root", tmp_path / "results")
    assert_one_line_error(result, "--workers: 100000000")


# -- 6. a scenario made for another command -----------------------------------------------------
@pytest.mark.parametrize(
    "section, command",
    [
        ("[study]\nreplications = 2\n", "painsim study"),
        ('[sweep]\n[sweep.grid]\n"drift.rate" = [0.1]\n', "painsim sweep"),
    ],
)
def test_run_of_a_study_or_sweep_file_says_so_and_runs_a_plain_run(
    tmp_path, write_toml, section, command
):
    path = write_toml(SMALL + section)
    result = invoke("run", path, "--results-root", tmp_path, "--no-progress", "--no-figures")
    assert result.exit_code == 0, result.output
    notes = result.stderr.splitlines()
    assert len(notes) == 1 and notes[0].startswith("painsim: note: ")
    assert f"{command} {path}" in notes[0]
    assert "results: " in result.stdout


# -- 7. start-up: checking a scenario loads no heavy package ------------------------------------
HEAVY = ("numba", "scipy", "pandas", "mesa", "networkx", "matplotlib", "statsmodels")


def _imported(code: str) -> list[str]:
    probe = f"{code}; import sys; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().replace("'", '"'))


def test_loading_a_scenario_imports_no_heavy_package():
    code = "import sim.scenario; sim.scenario.load_scenario('scenarios/classroom.toml')"
    assert _imported(code) == []


def test_the_command_module_imports_no_heavy_package():
    assert _imported("import sim.interfaces.cli") == []


# -- 8. help texts ------------------------------------------------------------------------------
def test_help_keeps_section_names_and_shows_no_bool_metavars():
    text = invoke("--help").stdout
    assert "[sweep]" in text and "[study]" in text
    assert "()" not in text
    for command in ("run", "study", "sweep", "compare", "figures", "validate", "params", "app"):
        help_text = invoke(command, "--help").stdout
        assert "<bool>" not in help_text, command
        assert "{" not in help_text.splitlines()[0], command  # usage: run [OPTIONS] SCENARIO


def test_params_fits_100_columns_and_explains_its_flags():
    result = invoke("params", env={"COLUMNS": "100"})
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= 100
    legend = " ".join(lines[lines.index("") + 1 :])
    for flag in ("[C]", "[M]", "[NF]", "brief §"):
        assert flag in legend
