"""The interactive teaching page (``painsim app``, the ``sim.interfaces.app`` package).

Specification:

* the page runs the same model as the command line: its starting settings reproduce the
  scenario exactly, and every setting is a validated scenario change;
* one step is one simulated year; Play stops at the horizon; a treatment arm is stepped in
  lockstep with its usual-care twin;
* the page reads the model only through its public observation methods, and draws with the
  house colours and names (``sim.viz.style``, ``sim.core.outcomes``);
* the controls (Mesa's Reset/Play/Step and the settings) work headlessly (``solara.render``);
* text typed into the page is never executed, and a bad seed is reported, not fatal;
* ``painsim app`` validates the scenario and the host first (one line, exit 2) and serves on
  127.0.0.1 without opening a browser, checking versions or sending telemetry;
* the server runs the painsim the command came from: started in a folder holding packages
  named ``sim``, ``solara`` or ``mesa``, it imports none of them;
* in a real browser (Debian's Chromium through Playwright), Step, Play and a slider change the
  plot and the monitors, and the page loads nothing from outside the server.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import os
import shutil
import site
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_hex
from support import LazyModule
from typer.testing import CliRunner

from sim.core.model import PainModel
from sim.interfaces import app
from sim.interfaces.app import model as app_model
from sim.interfaces.cli import app as cli
from sim.scenario import ScenarioError, load_scenario, parse_scenario
from sim.viz import style as hs

# Only the worker that runs these tests imports Solara (tests/support.py).
solara = LazyModule("solara")
v = LazyModule("ipyvuetify")
ROOT = Path(__file__).resolve().parent.parent
CLASSROOM = ROOT / "scenarios" / "classroom.toml"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def classroom():
    return load_scenario(CLASSROOM)


@pytest.fixture
def short(classroom):
    """The classroom scenario cut to 2.5 years and 120 people: a fractional horizon."""
    data = classroom.model_dump(mode="json", exclude_none=True)
    data["scenario"]["years"] = 2.5
    data["cohort"]["size"] = 120
    return parse_scenario(data, "short")


# -- settings are scenario changes --------------------------------------------------------------
def test_starting_settings_reproduce_the_scenario_run_from_the_command_line(classroom):
    page = app.TeachingModel(base=classroom)
    for _ in range(3):
        page.step()
    reference = PainModel(classroom)
    for year in (1.0, 2.0, 3.0):  # as `painsim run` records this scenario: once a year
        reference.run_until(year)
    expected = reference.snapshot()
    assert page.scenario.cohort == classroom.cohort
    assert page.scenario.parameters == classroom.parameters
    # Same random path; step boundaries may differ in the last bit (1.0 + 1.0 vs 2.0).
    np.testing.assert_allclose(
        page.table["dmn_perturbation"], expected["dmn_perturbation"], rtol=1e-9
    )
    np.testing.assert_allclose(
        page.table["years_with_pain"], expected["years_with_pain"], rtol=1e-9
    )


@pytest.mark.parametrize("share", [0.05, 0.25, 0.6])
def test_share_of_maladaptive_copers_sets_the_coping_mean(share):
    mean = app.coping_mean_for_share(share, 9.0)
    assert app.maladaptive_share(mean, 9.0) == pytest.approx(share, abs=1e-6)


def test_the_cohort_has_the_chosen_share_of_maladaptive_copers(classroom):
    model = app.TeachingModel(cohort_size=3000, maladaptive_share=0.3, base=classroom)
    assert model.scenario.cohort.coping_mean == pytest.approx(app.coping_mean_for_share(0.3, 9))
    assert model.maladaptive.mean() == pytest.approx(0.3, abs=0.03)
    assert model.group_sizes["maladaptive"] == model.maladaptive.sum()


def test_pain_setting_is_the_plateau_of_long_episodes(classroom):
    scenario = app.TeachingModel(pain_intensity=5.5, base=classroom).scenario
    assert scenario.params.pain.long_plateau == 5.5
    assert scenario.parameters["pain.long_plateau"] == 5.5


@pytest.mark.parametrize(
    ("timing", "trigger"),
    [
        (app.EARLY, {"at_stage": "subacute", "at_years_with_pain": None}),
        (app.LATE, {"at_stage": None, "at_years_with_pain": app.LATE_YEARS_WITH_PAIN}),
    ],
)
def test_a_treatment_is_an_arm_with_its_usual_care_twin(classroom, timing, trigger):
    model = app.TeachingModel(intervention="ACT", timing=timing, base=classroom)
    usual, treated = model.scenario.arms
    assert usual.name == "usual care" and not usual.interventions
    (spec,) = treated.interventions
    assert spec.kind == "act"
    assert {key: getattr(spec, key) for key in trigger} == trigger
    assert model.pain_model.arm.name == treated.name and model.twin.arm.name == "usual care"


def test_no_treatment_means_no_arms_and_no_twin(classroom):
    model = app.TeachingModel(intervention="none", base=classroom)
    assert model.scenario.arms == [] and model.twin is None
    assert np.isnan(model.summary["untreated_adaptive"])


def test_the_scenarios_own_arms_are_replaced_by_the_setting():
    model = app.TeachingModel(
        cohort_size=100,
        intervention="TMS (M1)",
        base=load_scenario(ROOT / "scenarios" / "prevention.toml"),
    )
    assert [arm.name for arm in model.scenario.arms] == ["usual care", "TMS (M1) early"]


def test_settings_outside_the_scenario_format_are_rejected(classroom):
    with pytest.raises(ScenarioError, match=r"cohort\.size"):
        app.TeachingModel(cohort_size=0, base=classroom)
    with pytest.raises(ValueError, match="unknown intervention"):
        app.TeachingModel(intervention="__import__('os')", base=classroom)


@pytest.mark.parametrize(
    "text", ["forty-two", "1e3", "-1", "4.5", "9" * 20, "", "__import__('os').system('true')"]
)
def test_a_seed_that_is_not_a_whole_number_is_reported_and_replaced(classroom, text):
    model = app.TeachingModel(seed=text, base=classroom)
    assert model.scenario.scenario.seed == classroom.scenario.seed
    assert "not a whole number" in model.notice


def test_a_seed_typed_as_text_selects_the_random_numbers(classroom):
    model = app.TeachingModel(seed=" 42 ", base=classroom)
    assert model.scenario.scenario.seed == 42 and model.notice is None


# -- stepping -----------------------------------------------------------------------------------
def test_one_step_is_one_year_and_the_run_stops_at_the_horizon(short):
    model = app.TeachingModel(intervention="CBT", base=short)
    years = []
    while model.running:
        model.step()
        years.append(model.year)
        assert model.twin.time_years == model.year
    assert years == [1.0, 2.0, 2.5]
    data = model.datacollector.get_model_vars_dataframe()
    assert list(data["year"]) == [0.0, 1.0, 2.0, 2.5]
    assert set(app.SERIES) <= set(data.columns)
    assert data.filter(like="share_").sum(axis=1).to_numpy() == pytest.approx(1.0)


def test_treatment_arm_and_twin_are_identical_before_anyone_is_treated(short):
    model = app.TeachingModel(intervention="CBT", timing=app.LATE, base=short)
    first = model.datacollector.get_model_vars_dataframe().iloc[0]
    assert first["perturbation_adaptive"] == first["untreated_adaptive"]
    assert first["treated"] == 0


def test_the_drawn_patient_belongs_to_the_chosen_coping_group(classroom):
    for kind, maladaptive in ((app.MALADAPTIVE, True), (app.ADAPTIVE, False)):
        model = app.TeachingModel(maladaptive_share=0.3, patient=kind, base=classroom)
        assert model.maladaptive[model.patient_index] == maladaptive
        now, without = model.patient_networks()
        assert now.shape == without.shape == (model.brain.n_edges,)


def test_views_redraw_as_years_pass(short):
    model = app.TeachingModel(intervention="mindfulness", base=short)
    plot, brain = app.DriftView(model), app.BrainView(model)
    before = [plot.update() and plot.png(), brain.update() and brain.png()]
    model.step()
    after = [plot.update() and plot.png(), brain.update() and brain.png()]
    assert all(png.startswith(b"\x89PNG") for png in before + after)
    assert before[0] != after[0] and before[1] != after[1]


def test_the_page_reads_the_model_only_through_its_public_observation_api(short, monkeypatch):
    # PainModel.cohort holds the model's internal arrays: only sim.core may read them.
    readers: set[str] = set()

    class Watched(PainModel):
        def __getattribute__(self, name):
            if name == "cohort":
                readers.add(sys._getframe(1).f_globals.get("__name__", "?"))
            return super().__getattribute__(name)

    monkeypatch.setattr(app_model, "PainModel", Watched)
    model = app.TeachingModel(intervention="CBT", base=short)
    model.step()
    solara.render(app.Views(model), handle_error=False)
    assert isinstance(model.pain_model, Watched) and readers
    assert {name for name in readers if not name.startswith("sim.core.")} == set()
    for path in sorted((ROOT / "sim" / "interfaces" / "app").glob("*.py")):
        modules = {
            node.module
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.ImportFrom)
        }
        assert "sim.core.drift" not in modules, path.name  # connectivity comes from the model


def test_without_pain_is_the_patients_own_pain_free_network(classroom):
    model = app.TeachingModel(base=classroom)
    rows = np.array([model.patient_index])
    now, without = model.patient_networks()
    np.testing.assert_array_equal(without, model.pain_model.pain_free_connectivity(rows)[0])
    np.testing.assert_array_equal(now, model.pain_model.connectivity(rows)[0])
    assert np.abs(now - without).max() > 0.01  # the drawn patient starts with a pain history


def test_maladaptive_copers_are_those_with_a_trait_of_at_least_30(classroom):
    model = app.TeachingModel(maladaptive_share=0.3, base=classroom)
    trait = model.pain_model.coping_trait()
    np.testing.assert_array_equal(model.maladaptive, trait >= app.MALADAPTIVE_PCS)
    trait[:] = 0.0  # a copy: the model keeps its own
    assert model.pain_model.coping_trait().max() > 0


def test_views_use_the_house_colours_and_names(short):
    model = app.TeachingModel(intervention="CBT", base=short)
    plot, brain = app.DriftView(model), app.BrainView(model)
    brain.update()
    colours = {name: to_hex(line.get_color()).upper() for name, line in plot.lines.items()}
    assert colours["perturbation_maladaptive"] == colours["untreated_maladaptive"]
    assert colours["perturbation_maladaptive"] == hs.COPING_COLORS[2]  # dark: catastrophizing
    assert colours["perturbation_adaptive"] == hs.COPING_COLORS[1]
    assert plot.top.get_ylabel() == "DMN perturbation\n(healthy SD)"
    assert plot.bottom.get_ylabel() == "Δ DMN perturbation\n(healthy SD)"
    legends = [ax.get_legend() for ax in brain.figure.axes if ax.get_legend()]
    assert [t.get_text() for t in legends[0].get_texts()] == [
        hs.SUBSYSTEM_LABELS[name] for name in hs.SUBSYSTEMS_ORDER
    ]
    nodes = [to_hex(c).upper() for c in brain.overlay[0].get_facecolors()]
    assert nodes == [hs.SUBSYSTEM_COLORS[name] for name in model.brain.subsystems]
    assert "catastrophizing" in brain.caption.get_text()
    assert "PCS 0–52" in brain.caption.get_text()


# -- headless page ------------------------------------------------------------------------------
def test_settings_are_valid_solaraviz_model_parameters(classroom):
    from mesa.visualization.solara_viz import _check_model_params  # after the app: see there

    params = app.model_params(classroom)
    _check_model_params(app.TeachingModel.__init__, params)  # raises on a typo
    assert app.TeachingModel(**app.initial_settings(params)).settings["seed"] == "7"


def test_controls_step_and_reset_with_new_settings(classroom):
    params = app.model_params(classroom)
    model = solara.reactive(app.TeachingModel(**app.initial_settings(params)))
    settings = solara.reactive(app.initial_settings(params))
    _, rc = solara.render(app.Controls(model, params, settings), handle_error=False)
    assert [b.widget.children for b in rc.find(v.Btn)] == [["Reset"], ["▶"], ["Step"]]
    assert len(rc.find(v.Slider)) == 3 and len(rc.find(v.Select)) == 3
    rc.find(v.Btn, children=["Step"]).widget.click()
    assert model.value.year == 1.0
    assert not rc.find(v.Alert)
    rc.find(v.Slider).widgets[0].v_model = 500
    rc.find(v.Select, label="Treatment").widget.v_model = "TMS (M1)"
    seed = rc.find(v.TextField).widget
    seed.v_model = "123"
    seed.fire_event("keyup.enter")  # a typed seed counts on Enter or leaving the field
    assert "Press Reset" in rc.find(v.Alert).widget.children[0]
    rc.find(v.Btn, children=["Reset"]).widget.click()
    new = model.value
    assert (new.year, new.size, new.arm_label) == (0.0, 500, "TMS (M1) early")
    assert new.scenario.scenario.seed == 123
    assert not rc.find(v.Alert)


def test_views_show_monitors_that_follow_the_model(classroom):
    from mesa.visualization.utils import force_update

    model = app.TeachingModel(intervention="CBT", base=classroom)
    _, rc = solara.render(app.Views(model), handle_error=False)

    def monitors() -> dict[str, str]:
        sheets = rc.find(v.Sheet, class_="pa-2 ma-1 painsim-monitor").widgets
        return {s.attributes["data-monitor"]: s.children[1].children[0] for s in sheets}

    start = monitors()
    assert start["year"] == "0 of 20" and start["people"] == "300"
    assert {
        "none",
        "acute",
        "subacute",
        "chronic",
        "years_with_pain",
        "perturbation",
        "treated",
    } <= set(start)
    model.step()
    force_update()
    assert monitors()["year"] == "1 of 20"
    assert monitors()["years_with_pain"] != start["years_with_pain"]


# -- command line -------------------------------------------------------------------------------
def test_app_command_rejects_a_bad_scenario_in_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[scenario]\nname = 'x'\n[cohort]\nsize = -1\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["app", str(bad)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "cohort.size" in result.stderr


def test_app_command_serves_on_loopback_without_browser_version_check_or_telemetry():
    command = app.server_command("127.0.0.1", 8765)
    assert command[1:5] == ["-m", "solara", "run", "sim.interfaces.app"]
    assert {"--no-open", "--no-check-version"} <= set(command)
    assert command[command.index("--host") + 1] == "127.0.0.1"
    env = app.server_env(CLASSROOM)
    assert env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] == "False"
    assert env["MPLBACKEND"] == "Agg"
    assert env[app.SCENARIO_ENV] == str(CLASSROOM.resolve())
    help_text = CliRunner().invoke(cli, ["app", "--help"]).output
    assert "127.0.0.1" in help_text and "8765" in help_text


def test_solara_serves_the_package_as_one_page():
    import solara.autorouting

    for entry in ("sim.interfaces.app", "sim.interfaces.app.page"):  # package or module
        routes = solara.autorouting.generate_routes(importlib.import_module(entry))
        assert [route.path for route in routes] == ["/"], entry
        assert routes[0].component is app.Page


@pytest.mark.parametrize("host", ["no-such-host.invalid", "192.0.2.1"])  # 192.0.2.1: TEST-NET-1
def test_a_host_that_cannot_be_used_is_one_line_and_exit_2(host):
    result = CliRunner().invoke(cli, ["app", "--host", host])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"painsim: error: --host: '{host}' ")
    app.check_host("localhost")  # a name of this computer is fine


def test_the_server_never_looks_in_the_folder_it_is_started_in(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(["", "lib"]))
    env = app.server_env(None)
    assert env["PYTHONSAFEPATH"] == "1"  # no current folder on sys.path
    entries = env["PYTHONPATH"].split(os.pathsep)
    assert all(Path(entry).is_absolute() for entry in entries)  # "" would mean "here"
    assert str(tmp_path.resolve() / "lib") in entries  # as Python would have read it here
    root = app.package_root()  # this process's sim, first (an installed one is found anyway)
    assert entries[0] == str(root) or root in {Path(p).resolve() for p in site.getsitepackages()}
    assert app.SCENARIO_ENV not in env
    folder = app.server_folder()
    assert folder.is_dir() and not any(folder.iterdir()) and folder != tmp_path


# -- served page --------------------------------------------------------------------------------
def _browser_or_skip():
    """Playwright's sync API, or a skip (a failure where PAINSIM_REQUIRE_BROWSER=1, as in CI)."""
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "the playwright package is not installed"
    if reason is None and not CHROMIUM.exists():
        reason = f"{CHROMIUM} not found (Debian package 'chromium')"
    if reason is None:
        return sync_playwright
    if os.environ.get("PAINSIM_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser test required: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``painsim app`` started in a user's project folder that holds packages named ``sim``,
    ``solara`` and ``mesa``; yields the page's URL and the file those packages write to if
    anything imports them. One server for the module; each browser session has its own model.
    """
    project = tmp_path_factory.mktemp("project")
    marker = tmp_path_factory.mktemp("marker") / "imported.txt"
    for name in ("sim", "solara", "mesa"):
        (project / name).mkdir()
        (project / name / "__init__.py").write_text(
            f"open({str(marker)!r}, 'a').write('{name} from the project folder\\n')\n",
            encoding="utf-8",
        )
    port = _free_port()
    log_path = project.parent / f"{project.name}-server.log"
    log = log_path.open("w")
    # -P: the command itself imports painsim as the `painsim` script does, not from the folder.
    command = [sys.executable, "-P", "-m", "sim.interfaces.cli", "app", str(CLASSROOM)]
    command += ["--port", str(port)]
    server = subprocess.Popen(command, cwd=project, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"server did not start:\n{log_path.read_text()}")
                time.sleep(0.3)
        yield url, marker
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        log.close()


@pytest.mark.slow  # starts a server (several seconds); the page itself: the headless tests above
def test_the_page_runs_the_installed_painsim_wherever_it_is_started(served):
    url, marker = served
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200  # the server imported the page at start-up
    assert not marker.exists(), marker.read_text()


@pytest.mark.slow
def test_page_in_a_real_browser(request, tmp_path):
    sync_playwright = _browser_or_skip()  # before starting a server for nothing
    served, _ = request.getfixturevalue("served")
    outside: list[str] = []

    def record(request) -> None:
        if not request.url.startswith((served, "blob:", "data:")):
            outside.append(request.url)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("request", record)
            page.goto(served)
            year = page.locator("[data-monitor=year] .painsim-value")
            year.wait_for(timeout=60_000)
            assert page.get_by_role("tab").count() == 0  # one page, no tabs
            assert year.inner_text() == "0 of 20"
            plot = page.locator(".painsim-plot")

            def plot_hash() -> str:
                return hashlib.sha256(plot.screenshot()).hexdigest()

            def wait_for_year(text: str) -> None:
                page.wait_for_function(
                    "t => document.querySelector('[data-monitor=year] .painsim-value')"
                    "?.innerText === t",
                    arg=text,
                    timeout=30_000,
                )

            start_plot = plot_hash()
            start_ylp = page.locator("[data-monitor=years_with_pain] .painsim-value").inner_text()
            page.get_by_role("button", name="Step").click()
            wait_for_year("1 of 20")
            page.wait_for_timeout(500)  # the image arrives after the monitors
            assert plot_hash() != start_plot
            assert (
                page.locator("[data-monitor=years_with_pain] .painsim-value").inner_text()
                != start_ylp
            )

            page.get_by_role("button", name="▶").click()
            wait_for_year("4 of 20")
            page.get_by_role("button", name="❚❚").click()
            page.wait_for_timeout(800)
            played = year.inner_text()
            assert int(played.split()[0]) >= 4

            # Move the cohort-size slider with the keyboard, then start a new cohort.
            size_label = page.get_by_text("Cohort size:")
            assert size_label.inner_text() == "Cohort size: 300 people"
            page.locator(".v-slider__thumb-container").first.focus()
            page.keyboard.press("ArrowRight")
            page.keyboard.press("ArrowRight")
            page.get_by_text("Cohort size: 400 people").wait_for(timeout=10_000)
            page.get_by_text("Press Reset to start").wait_for(timeout=10_000)
            # Choose a treatment from the list, then start the new cohort.
            page.locator(".v-select").filter(has_text="Treatment").first.click()
            page.locator(".v-menu__content .v-list-item").filter(has_text="CBT").click()
            page.get_by_role("button", name="Reset").click()
            wait_for_year("0 of 20")
            page.locator("[data-monitor=treated]").wait_for(timeout=10_000)
            assert page.get_by_text("Press Reset to start").count() == 0
            for year in (1, 2, 3):
                page.get_by_role("button", name="Step").click()
                wait_for_year(f"{year} of 20")
            page.wait_for_timeout(800)
            people = page.locator("[data-monitor=people] .painsim-value").inner_text()
            assert people == "400"
            screenshot = tmp_path / "app.png"
            page.screenshot(path=str(screenshot), full_page=True)
            assert screenshot.stat().st_size > 50_000
            if os.environ.get("PAINSIM_SCREENSHOT"):
                shutil.copy(screenshot, os.environ["PAINSIM_SCREENSHOT"])
        finally:
            browser.close()
    assert outside == [], "the page must work offline"
