"""Figures: every figure from small results, house style, provenance, formats, CLI and errors."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from figure_data import (
    longitudinal_table,
    sample_table,
    sensitivity_table,
    study_table,
    sweep_table,
    timing_table,
    treatment_scenario,
    variants_table,
)
from PIL import Image
from typer.testing import CliRunner

import sim
import sim.api
from sim.analysis.stats import (
    cluster_bootstrap_interval,
    cluster_normal_interval,
    mediation,
    path_intervals,
)
from sim.core.outcomes import VARIABLES, label
from sim.experiments.study import SUMMARY_COLUMNS, VARIANT_COLUMNS
from sim.experiments.study.findings import summarize_findings
from sim.interfaces.cli import app
from sim.results.manifest import build_manifest
from sim.results.replay import (
    ReplayError,
    Tracked,
    check_replay,
    rebuild,
    scenario_from_manifest,
)
from sim.scenario import parse_scenario
from sim.viz import figures as fg
from sim.viz import style as hs
from sim.viz.figures import animation as fanim
from sim.viz.figures import arms as farms
from sim.viz.figures import common as fcommon
from sim.viz.figures import evidence as fevidence
from sim.viz.figures import findings as ffind
from sim.viz.figures import people as fpeople
from sim.viz.figures import run as frun
from sim.viz.figures import study as fstudy
from sim.viz.figures import sweep as fsweep
from sim.viz.figures import timing as ftiming
from sim.viz.figures.layout import drawn_texts

runner = CliRunner()

TWO_ARMS = treatment_scenario()
"""Two arms, two replicates; the treated arm enrols about 50 patients at the subacute stage."""
RUN_FIGURES = (
    "00_headline",
    "01_perturbation_by_years",
    "01b_cohort_over_time",
    "02_arm_comparison",
    "02b_treatment_over_time",
    "03_connectomes",
    "04_connectivity_matrices",
    "05_metrics_by_years",
)
STUDY_FIGURES = (
    "00_headline",
    "06a_study_groups",
    "06b_study_years",
    "06c_study_mediation",
    "06d_study_power",
    "06e_published_vs_simulated",
    "06f_mechanism_check",
    "06g_study_variants",
    "06h_study_longitudinal",
)


def png_info(path: Path) -> tuple[tuple[int, int], dict[str, str]]:
    with Image.open(path) as image:
        return image.size, dict(image.text)


def write_manifest(folder: Path, kind: str, run_id: str, scenario: dict, **extra) -> None:
    """A manifest as painsim writes it, for a hand-made study or sweep folder."""
    resolved = parse_scenario(scenario, "test").resolved()
    manifest = build_manifest(
        kind,
        run_id=run_id,
        seed=resolved["scenario"]["seed"],
        scenario=resolved,
        started=None,
        finished=None,
        command=None,
        files=[p.name for p in folder.iterdir()],
        **extra,
    )
    (folder / "manifest.json").write_text(json.dumps(manifest))


def same_pixels(a: Path, b: Path) -> bool:
    with Image.open(a) as x, Image.open(b) as y:
        return np.array_equal(np.asarray(x.convert("RGB")), np.asarray(y.convert("RGB")))


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def arms_result():
    """Two arms, two replicates, with connectivity, in memory."""
    scenario = parse_scenario(TWO_ARMS, "figures test")
    return sim.api.run(scenario, connectivity=True, progress=False)


@pytest.fixture(scope="module")
def arms_run(arms_result, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same run's results folder, with connectivity.npz, compared with `painsim compare`
    (comparison.csv) before any figure is drawn from it."""
    folder = arms_result.save(results_root=tmp_path_factory.mktemp("results"))
    result = invoke("compare", folder)
    assert result.exit_code == 0, result.output
    assert (folder / "comparison.csv").is_file()
    return folder


@pytest.fixture(scope="module")
def arms_figures(arms_run: Path) -> fg.FigureSet:
    """The run folder's figures as slides (PNG) and the animation, in ``arms_run/figures``."""
    return fg.make_figures(arms_run, formats="png", style="talk")


@pytest.fixture(scope="module")
def run_data(arms_run: Path) -> dict:
    manifest = json.loads((arms_run / "manifest.json").read_text())
    patients = pd.read_parquet(arms_run / "patients.parquet")
    return {"manifest": manifest, "patients": patients, "arms": manifest["run"]["arms"]}


def full_table(table: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """A hand-made table with every column a study writes (those it lacks are empty)."""
    return table.reindex(columns=[*columns, *(c for c in table.columns if c not in columns)])


@pytest.fixture(scope="module")
def study_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A study folder with the documented study.csv columns and a per-replication power table,
    that also ran the variants and the longitudinal design (variants.csv, longitudinal.csv)."""
    rng = np.random.default_rng(1)
    folder = tmp_path_factory.mktemp("study")
    study_table(40, 1.0, rng).to_csv(folder / "study.csv", index=False)
    power = pd.concat([study_table(40, m, rng).assign(multiplier=m) for m in (0.5, 1.0, 2.0)])
    power.to_csv(folder / "power.csv", index=False)
    sample_table(rng).to_csv(folder / "sample.csv", index=False)
    study_table(40, 1.0, rng).assign(indirect_ci_low=-0.01).to_csv(
        folder / "counterfactual.csv", index=False
    )
    (folder / "findings.md").write_text("# findings\n")
    summarize_findings(pd.read_csv(folder / "study.csv"), 0.05).to_csv(
        folder / "findings.csv", index=False
    )
    write_manifest(
        folder,
        "study",
        "study-run-1",
        {"scenario": {"name": "figures study", "seed": 3}, "study": {"alpha": 0.05}},
    )
    full_table(variants_table(), VARIANT_COLUMNS).to_csv(folder / "variants.csv", index=False)
    full_table(longitudinal_table(), SUMMARY_COLUMNS).to_csv(
        folder / "longitudinal.csv", index=False
    )
    return folder


@pytest.fixture(scope="module")
def sweep_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sweep folder in the layout a sweep writes (sweep.parquet, sensitivity.csv)."""
    folder = tmp_path_factory.mktemp("sweep")
    sweep_table().to_parquet(folder / "sweep.parquet", index=False)
    sensitivity_table().to_csv(folder / "sensitivity.csv", index=False)
    write_manifest(
        folder,
        "sweep",
        "sweep-run-1",
        {
            "scenario": {"name": "figures sweep", "seed": 5, "years": 2},
            "sweep": {
                "method": "grid",
                "replicates": 2,
                "horizon_years": 2,
                "outcomes": ["dmn_perturbation"],
                "grid": {"drift.rate": [0.1, 0.2, 0.4], "drift.coping_weight": [0.0, 0.3, 0.6]},
            },
        },
        sweep={
            "method": "sobol",
            "targets": ["drift.rate", "drift.coping_weight"],
            "outcomes": ["dmn_perturbation"],
            "horizon_years": 2.0,
        },
    )
    (folder / "figures").mkdir()
    (folder / "figures" / "grid_dmn_perturbation.png").write_bytes(b"working plot")
    return folder


# -- a run --------------------------------------------------------------------------------------
@pytest.mark.slow  # draws a whole figure set (the quick tests draw single figures)
def test_run_folder_gets_every_run_figure_as_a_slide_and_the_animation(arms_figures, arms_run):
    names = [e.name for e in arms_figures.entries]
    assert names == [*RUN_FIGURES, "08_patient_animation"]
    for name in RUN_FIGURES:
        path = arms_run / "figures" / f"{name}.png"
        assert path.stat().st_size > 5_000, path
        assert png_info(path)[0] == (1920, 1080)


@pytest.mark.slow  # draws a whole figure set (the quick tests draw single figures)
def test_every_file_carries_version_and_run_id_in_its_metadata(arms_figures, arms_run):
    run_id = json.loads((arms_run / "manifest.json").read_text())["run_id"]
    for name in RUN_FIGURES:
        _, text = png_info(arms_run / "figures" / f"{name}.png")
        assert text["painsim version"] == sim.__version__
        assert text["painsim run id"] == run_id
    # SVGs: test_svgs_of_every_run_figure_..., PDFs: test_pdfs_..., GIF: test_animation_...


@pytest.mark.slow  # draws a whole figure set (the quick tests draw single figures)
def test_animation_is_a_small_multi_frame_gif_with_provenance(arms_figures, arms_run):
    gif = arms_run / "figures" / "08_patient_animation.gif"
    assert 0 < gif.stat().st_size <= fanim.GIF_MAX_BYTES
    run_id = json.loads((arms_run / "manifest.json").read_text())["run_id"]
    with Image.open(gif) as image:
        assert image.n_frames == 4  # record times 0, 1, 2, 3
        assert image.size == (1280, 720)  # 1920 x 1080 layout at 2/3 scale
        assert run_id.encode() in image.info["comment"]


@pytest.mark.slow  # draws a whole figure set (the quick tests draw single figures)
def test_index_lists_every_figure_with_a_caption(arms_figures, arms_run):
    text = (arms_run / "figures" / "index.html").read_text()
    for entry in arms_figures.entries:
        assert f'src="{entry.files[0].name}"' in text
        assert entry.caption and html_escaped(entry.caption) in text
    assert "connectivity.npz" in text  # says where the connectivity came from


@pytest.mark.slow  # draws a whole figure set (the quick tests draw single figures)
def test_captions_travel_as_data_into_the_files(arms_figures):
    for entry in arms_figures.entries:
        if entry.files[0].suffix == ".png":
            assert png_info(entry.files[0])[1]["Description"] == entry.caption


def html_escaped(text: str) -> str:
    import html

    return html.escape(text)


def test_rebuilt_patients_are_the_recorded_ones(small_run):
    manifest = json.loads((small_run / "manifest.json").read_text())
    scenario = scenario_from_manifest(manifest)
    with np.load(small_run / "connectivity.npz") as saved:
        block = np.flatnonzero(
            (saved["arm"] == manifest["run"]["arms"][0]) & (saved["replicate"] == 1)
        )[0]
        expected = saved["connectivity"][block, [3, 17]]
    tracked = rebuild(scenario, 1, manifest["run"]["arms"][0], [3, 17])
    np.testing.assert_allclose(tracked.connectivity[-1], expected, atol=1e-6)
    patients = pd.read_parquet(small_run / "patients.parquet")
    horizon = patients[
        (patients["year"] == patients["year"].max()) & (patients["replicate"] == 1)
    ].set_index("patient_id")
    np.testing.assert_allclose(tracked.perturbation, horizon.loc[[3, 17], "dmn_perturbation"])


def test_a_replay_that_differs_from_the_record_is_refused():
    tracked = Tracked(
        np.array([3.0]), np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 2)), None, np.array([1.0])
    )
    check_replay(tracked, np.array([1.0 + 1e-9]))
    with pytest.raises(ReplayError, match="does not reproduce the recorded results"):
        check_replay(tracked, np.array([1.1]), made_with="0.1", where="results/x")


# -- the paper style and other formats ----------------------------------------------------------
@pytest.fixture(scope="module")
def paper_figures(arms_run, tmp_path_factory) -> fg.FigureSet:
    """The run folder's figures in the paper style, as PNG and SVG (a copy of the folder)."""
    folder = tmp_path_factory.mktemp("paper") / "run"
    shutil.copytree(arms_run, folder, ignore=shutil.ignore_patterns("figures"))
    return fg.make_figures(folder, formats="png,svg", style="paper", animation=False)


@pytest.mark.slow
def test_paper_style_is_single_column_at_300_dpi(paper_figures):
    assert [e.name for e in paper_figures.entries] == list(RUN_FIGURES)
    for entry in paper_figures.entries:
        png = entry.files[0]
        if entry.name == "00_headline":  # a slide in every style
            assert png_info(png)[0] == (1920, 1080)
            continue
        with Image.open(png) as image:
            assert image.size[0] == 1050  # 3.5 in x 300 dpi
            assert 600 <= image.size[1] <= 2700  # at most 9 in tall
            assert round(image.info["dpi"][0]) == 300


@pytest.mark.slow
def test_svgs_of_every_run_figure_keep_text_as_text_and_carry_version_and_run_id(
    arms_run, paper_figures
):
    run_id = json.loads((arms_run / "manifest.json").read_text())["run_id"]
    for entry in paper_figures.entries:
        svg = entry.files[1]
        assert svg.suffix == ".svg" and svg.stat().st_size > 5_000, svg
        text = svg.read_text()
        assert f"run_id={run_id}" in text and f"painsim {sim.__version__}" in text
        assert text.count("<text") >= 5, entry.name  # editable text, not glyph paths


@pytest.mark.slow
def test_pdfs_carry_version_and_run_id_and_editable_truetype_text(timing_folder, tmp_path):
    # Embedding TrueType fonts takes about a second a figure: checked on the two figures of
    # a timing experiment (its slide and a paper figure), not on every figure of a run.
    run_id = json.loads((timing_folder / "manifest.json").read_text())["run_id"]
    made = fg.make_figures(timing_folder, tmp_path / "figures", formats="pdf", style="paper")
    assert [f.name for f in made.files] == ["00_headline.pdf", "09_timing.pdf"]
    for path in made.files:
        pdf = path.read_bytes()
        assert run_id.encode() in pdf and f"painsim {sim.__version__}".encode() in pdf
        assert b"/FontFile2" in pdf and b"/Type3" not in pdf, path.name  # TrueType (fonttype 42)


def test_svg_after_png_adds_svgs_and_keeps_pngs_and_their_thumbnails(
    sweep_folder, sweep_figures, tmp_path
):
    folder = tmp_path / "sweep"
    shutil.copytree(sweep_folder, folder)  # with the PNGs sweep_figures drew
    figures = folder / "figures"
    pngs = {f.name: (figures / f.name).read_bytes() for f in sweep_figures.files}
    result = invoke("figures", folder, "--format", "svg")
    assert result.exit_code == 0, result.output
    assert {n: (figures / n).read_bytes() for n in pngs} == pngs
    index = (figures / "index.html").read_text()
    for name in pngs:
        assert f'src="{name}"' in index
        svg = (figures / name).with_suffix(".svg").read_text()
        assert "run_id=sweep-run-1" in svg and f"painsim {sim.__version__}" in svg
        assert svg.count("<text") >= 5, name  # editable text, not glyph paths


# -- results in memory, earlier comparisons -----------------------------------------------------
def test_a_result_in_memory_needs_a_folder_to_draw_into(arms_result):
    with pytest.raises(fg.FigureError, match="needs a folder") as error:
        fg.make_figures(arms_result)
    assert error.value.option == "folder"


@pytest.fixture(scope="module")
def from_memory(arms_result, arms_figures, arms_run, tmp_path_factory):
    """The run's figures drawn again, as PNGs without the animation, from the result in memory
    (never compared) into a copy of the run folder and the figures drawn from it."""
    folder = tmp_path_factory.mktemp("memory") / "run"
    shutil.copytree(arms_run, folder)
    return folder, fg.make_figures(arms_result, folder / "figures", animation=False)


@pytest.mark.slow
def test_figures_of_a_result_in_memory_are_those_of_its_saved_folder(arms_figures, from_memory):
    _, in_memory = from_memory
    from_folder = [e for e in arms_figures.entries if e.name != "08_patient_animation"]
    assert [f.name for f in in_memory.files] == [f.name for e in from_folder for f in e.files]
    assert in_memory.skipped == arms_figures.skipped
    assert [e.caption for e in in_memory.entries] == [e.caption for e in from_folder]
    for mine, theirs in zip(in_memory.entries, from_folder, strict=True):
        assert same_pixels(mine.files[0], theirs.files[0]), mine.name


@pytest.mark.slow
def test_arm_comparison_is_the_same_with_or_without_an_earlier_compare(arms_run, from_memory):
    # arms_run was compared with `painsim compare` before its figures were drawn; the result
    # in memory never was.
    folder, made = from_memory
    name = "02_arm_comparison.png"
    assert folder / "figures" / name in made.files
    assert same_pixels(arms_run / "figures" / name, folder / "figures" / name)
    # The dots are the twin differences `painsim compare` reports.
    compared = pd.read_csv(arms_run / "comparison.csv").set_index("outcome")
    shown = farms.arm_differences(
        pd.read_parquet(arms_run / "patients.parquet"), ["usual care", "CBT + TMS"]
    )
    shown = shown[shown["who"] == "all"].set_index("outcome")
    for outcome in farms.COMPARED_OUTCOMES:
        assert shown.loc[outcome, "difference"] == pytest.approx(
            compared.loc[outcome, "twin_difference"], abs=1e-12
        )


@pytest.mark.slow
def test_drawing_without_the_animation_keeps_the_earlier_one(from_memory):
    # Other formats drawn earlier stay too: test_svg_after_png_adds_svgs_and_keeps_pngs_...
    folder, made = from_memory
    assert {f.suffix for f in made.files} == {".png"}
    names = {p.name for p in (folder / "figures").iterdir()}
    assert {f"{figure}.png" for figure in RUN_FIGURES} <= names
    assert "08_patient_animation.gif" in names  # not redrawn (no animation asked), not removed
    index = (folder / "figures" / "index.html").read_text()
    assert 'href="08_patient_animation.gif"' in index  # and still on the contact sheet


# -- house style --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run_built(run_data) -> dict:
    """The run's figures 1, 2 and 5 (talk), built once for the tests that read their artists,
    and the arm differences figure 2 shows."""
    patients, arms = run_data["patients"], run_data["arms"]
    differences = farms.arm_differences(patients, arms)
    horizon = patients[(patients["year"] == patients["year"].max()) & (patients["arm"] == arms[0])]
    return {
        "differences": differences,
        "01": frun.perturbation_by_years(patients, arms, "talk", min_people=10),
        "02": farms.arm_comparison(differences, arms, "talk"),
        "05": frun.metrics_by_years(horizon, "talk"),
    }


def test_arms_keep_their_colours_across_figures(run_data, run_built):
    colors = hs.arm_colors(run_data["arms"])
    assert colors == {"usual care": "#000000", "CBT + TMS": "#0072B2"}
    fig = run_built["01"]
    drawn = {line.get_color() for line in fig.axes[0].get_lines() if line.get_marker() == "o"}
    assert drawn and drawn <= set(colors.values())
    fig = run_built["02"]
    drawn = {
        line.get_color()
        for ax in fig.axes
        for line in ax.get_lines()
        if line.get_marker() in ("o", "D")
    }
    assert drawn == {colors["CBT + TMS"]}


def test_axis_labels_carry_units_from_the_outcome_registry(run_built):
    fig = run_built["01"]
    assert fig.axes[1].get_ylabel() == "DMN perturbation (healthy SD)"  # panel B: levels
    fig = run_built["02"]
    assert fig.axes[1].get_xlabel().startswith("Δ pain (NRS points)")
    assert fig.axes[2].get_xlabel().startswith("Δ catastrophizing (PCS points)")
    fig = run_built["05"]
    assert [ax.get_ylabel() for ax in fig.axes] == ["1/r", "edges per region", "r units", "r units"]


def test_a_label_that_capitalizing_would_spoil_is_given_in_the_registry():
    assert label("mpfc_pcc") == "mPFC–PCC connectivity (r)"  # not "MPFC–PCC"
    assert label("mpfc_insula") == "mPFC–insula connectivity (r)"
    assert VARIABLES["pain"].label == "Pain (NRS 0–10)"  # the rule, where it reads well


def test_save_writes_exact_pixels_and_rejects_unknown_formats(tmp_path):
    with hs.use("talk") as s:
        fig = hs.new_figure(s)
        fig.subplots().plot([0, 1], [0, 1])
    [png] = hs.save(fig, tmp_path / "line", ["png"], hs.provenance("rid"))
    assert png_info(png) == ((1920, 1080), png_info(png)[1])
    assert png_info(png)[1]["painsim run id"] == "rid"
    with pytest.raises(hs.StyleError, match="unknown format 'jpg'"):
        hs.parse_formats("png,jpg")
    with pytest.raises(hs.StyleError, match="unknown style 'poster'"):
        hs.get_style("poster")


# -- a study and a sweep ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def study_figures(study_folder) -> fg.FigureSet:
    return fg.make_figures(study_folder)


@pytest.mark.slow  # draws a whole figure set (the quick tests draw single figures)
def test_study_folder_gets_every_study_figure(study_figures):
    made = study_figures
    assert [e.name for e in made.entries] == list(STUDY_FIGURES)
    for entry in made.entries:
        size, text = png_info(entry.files[0])
        assert size == (1920, 1080) and text["painsim run id"] == "study-run-1"


def test_power_table_counts_each_finding_per_multiplier(study_folder):
    power = pd.read_csv(study_folder / "power.csv")
    table = fstudy.power_table(power, 0.05)
    assert sorted(table["multiplier"].unique()) == [0.5, 1.0, 2.0]
    assert set(table["key"]) == set(fstudy.PUBLISHED_FINDINGS)
    assert table["detection_rate"].between(0, 1).all()
    assert (table["replications"] == 40).all()


@pytest.fixture(scope="module")
def sweep_drawn(sweep_folder) -> tuple[fg.FigureSet, str]:
    """The sweep folder's figures, drawn with the progress bar shown at once, and the bar (what
    was written to stderr)."""
    stderr = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(stderr):
        patch.setattr(fcommon, "PROGRESS_DELAY_SECONDS", 0.0)
        made = fg.make_figures(sweep_folder, progress=True)
    return made, stderr.getvalue()


@pytest.fixture(scope="module")
def sweep_figures(sweep_drawn) -> fg.FigureSet:
    return sweep_drawn[0]


def test_sweep_folder_gets_heatmap_and_sensitivity_and_keeps_working_plots(
    sweep_folder, sweep_figures
):
    made = sweep_figures
    # A grid sweep has no sensitivity indices (figure 7b: tests/test_figure_layout.py).
    assert [e.name for e in made.entries] == ["00_headline", "07a_sweep_dmn_perturbation"]
    assert (sweep_folder / "figures" / "grid_dmn_perturbation.png").read_bytes() == b"working plot"
    assert "grid_dmn_perturbation.png" in (sweep_folder / "figures" / "index.html").read_text()


def test_sweep_heatmap_leaves_out_failed_runs():
    table = pd.DataFrame(
        {
            "drift.rate": [0.1, 0.1, 0.2, 0.2],
            "drift.coping_weight": [0, 1, 0, 1],
            "arm": "a",
            "dmn_perturbation": [1.0, 2.0, 3.0, 99.0],
            "status": ["ok", "ok", "ok", "failed"],
        }
    )
    fig = fsweep.sweep_heatmap(table, "dmn_perturbation", "talk")
    values = fig.axes[0].images[0].get_array()
    assert values[1, 1] is np.ma.masked or np.isnan(values[1, 1])
    assert float(values[0, 1]) == 3.0


# -- command line -------------------------------------------------------------------------------
def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("painsim: error: ")
    for fragment in fragments:
        assert fragment in line, line


def test_cli_figures_rejects_bad_input_in_one_line(arms_run, tmp_path):
    one_line_error(invoke("figures", arms_run, "--format", "png,gif"), "--format", "gif")
    one_line_error(invoke("figures", arms_run, "--style", "poster"), "--style", "poster")
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line_error(invoke("figures", empty), "nothing to plot")
    one_line_error(invoke("figures", tmp_path / "nowhere"), "no such results folder")
    assert not (empty / "figures").exists()


@pytest.mark.slow
def test_cli_figures_redraws_a_study_without_variants_or_longitudinal_design(
    study_folder, tmp_path
):
    folder = tmp_path / "study"
    ignored = shutil.ignore_patterns("figures", "variants.csv", "longitudinal.csv")
    shutil.copytree(study_folder, folder, ignore=ignored)  # a study that ran neither
    result = invoke("figures", folder, "--format", "svg", "--style", "paper")
    assert result.exit_code == 0, result.output
    assert "06c_study_mediation: 06c_study_mediation.svg" in result.stdout
    assert "06g" not in result.stdout and "06h" not in result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith("figures: ")


@pytest.mark.slow
def test_painsim_run_makes_figures_rebuilding_connectivity_unless_told_not_to(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text(
        '[scenario]\nname = "cli figs"\nyears = 2\ndt_weeks = 4\n[cohort]\nsize = 120\n'
    )
    result = invoke("run", toml, "--out", tmp_path / "with", "--no-progress")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == f"results: {tmp_path / 'with'}"
    assert re.fullmatch(r"figures: .*index\.html", lines[-3])
    # One arm, no connectivity.npz (not asked for): connectivity is rebuilt from the manifest
    # for figures 3, 4 and the animation, and there is nothing to compare.
    figures = tmp_path / "with" / "figures"
    assert not (tmp_path / "with" / "connectivity.npz").exists()
    two_arm_only = ("02_arm_comparison", "02b_treatment_over_time")
    drawn = sorted(p.stem for p in figures.glob("*.png"))
    assert drawn == [n for n in RUN_FIGURES if n not in two_arm_only]
    assert (figures / "08_patient_animation.gif").is_file()
    index = (figures / "index.html").read_text()
    assert "rebuilt from manifest.json" in index and "Not drawn" in index
    for name in two_arm_only:
        assert f"<li><code>{name}</code>: one arm only; nothing to compare</li>" in index
    result = invoke("run", toml, "--out", tmp_path / "without", "--no-progress", "--no-figures")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "without" / "figures").exists()


# -- what the figures say -------------------------------------------------------------------------
def synthetic_patients(replicates: int, people: int = 300, seed: int = 0) -> pd.DataFrame:
    """One arm's records: perturbation rising with years lived with pain, plus noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for rep in range(replicates):
        start = rng.gamma(1.0, 3.0, people)
        coping = rng.uniform(0, 40, people)
        for year in range(5):
            ylp = start + year * rng.uniform(0, 1, people)
            rows.append(
                pd.DataFrame(
                    {
                        "arm": "usual care",
                        "replicate": rep,
                        "patient_id": np.arange(people),
                        "year": float(year),
                        "years_with_pain": ylp,
                        "coping": coping,
                        "dmn_perturbation": 0.8 + 0.1 * ylp + rng.normal(0, 0.3, people),
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def test_bands_are_t_intervals_only_with_three_or_more_replicates():
    two, three = synthetic_patients(2), synthetic_patients(3)
    assert frun.binned_curve(three).method == "t interval over 3 replicate means"
    curve = frun.binned_curve(two)
    assert curve.method.startswith("normal interval over people")
    # Two replicates pooled: about 1.96 standard errors of the pooled mean, not t(1) = 12.7.
    rows = two[(two["years_with_pain"] >= 1) & (two["years_with_pain"] < 2)]
    people = rows.groupby(["replicate", "patient_id"])["dmn_perturbation"].mean()
    se = people.std() / np.sqrt(len(people))
    bin_1 = list(frun.YLP_BIN_EDGES).index(1)
    half = (curve.high - curve.low)[np.flatnonzero(curve.kept).tolist().index(bin_1)] / 2
    assert half == pytest.approx(1.96 * se, rel=0.35)


def test_bins_with_too_few_people_are_left_out_and_counted():
    rows = synthetic_patients(1, people=200)
    curve = frun.binned_curve(rows, min_people=30)
    assert (curve.people[curve.kept] >= 30).all()
    assert (curve.people[~curve.kept] < 30).all()
    assert curve.x.size == curve.kept.sum()
    fig = frun.perturbation_by_years(rows.assign(arm="usual care"), ["usual care"], "talk")
    strip = fig.axes[2]  # people per bin under panel A, dropped bins dotted grey
    assert strip.get_yscale() == "log" and "people" in strip.get_ylabel()
    assert any(line.get_linestyle() == ":" for line in strip.get_lines())


def test_y_limits_follow_the_means_not_a_wide_band():
    rows = synthetic_patients(1, people=400)
    # A sparse bin whose values scatter widely around an ordinary mean: a very wide band.
    wild = np.flatnonzero((rows["years_with_pain"] > 12).to_numpy())
    rows.loc[rows.index[wild], "dmn_perturbation"] += np.where(np.arange(wild.size) % 2, 30, -30)
    fig = frun.perturbation_by_years(rows, ["usual care"], "talk", min_people=5)
    curve = frun.binned_curve(rows, min_people=5)
    bottom, top = fig.axes[0].get_ylim()
    assert top < np.nanmax(curve.high)  # the band is cut at the axis ...
    assert bottom > np.nanmin(curve.low)
    assert top > np.nanmax(curve.mean) and bottom < np.nanmin(curve.mean)  # ... the means are not
    assert fcommon.data_limits([np.array([1.0, 2.0])], [np.array([-50.0, 50.0])]) == (0.55, 2.45)


def test_cluster_normal_interval_agrees_with_the_cluster_bootstrap():
    rng = np.random.default_rng(4)
    counts = rng.integers(1, 5, (400, 3)).astype(float)
    sums = counts * rng.normal(1.0, 0.5, (400, 1)) + rng.normal(0, 1, (400, 3)) * np.sqrt(counts)
    _, low, high = cluster_normal_interval(sums, counts)
    b_low, b_high = cluster_bootstrap_interval(sums, counts, np.random.default_rng(0), 2000)
    np.testing.assert_allclose(low, b_low, atol=0.15 * (high - low).max())
    np.testing.assert_allclose(high, b_high, atol=0.15 * (high - low).max())


def test_path_intervals_have_the_estimates_of_the_study_mediation():
    rng = np.random.default_rng(2)
    x = rng.gamma(2.0, 3.0, 108)
    age = rng.uniform(20, 70, (108, 1))
    m = 10 + 0.5 * x + rng.normal(0, 5, 108)
    y = 0.8 + 0.02 * m + 0.03 * x + rng.normal(0, 0.4, 108)
    reference = mediation(x, m, y, age, np.random.default_rng(0), resamples=200)
    paths = path_intervals(x, m, y, age, np.random.default_rng(0), resamples=200)
    assert paths["a"][0] == pytest.approx(reference["a_path"])
    assert paths["b"][0] == pytest.approx(reference["b_path"])
    assert paths["c"][0] == pytest.approx(reference["total"])
    assert paths["c_prime"][0] == pytest.approx(reference["direct"])
    assert paths["share_mediated"][0] == pytest.approx(reference["share_mediated"])
    for estimate, low, high in paths.values():
        assert low <= estimate <= high


def test_the_forest_plot_shows_the_enrolled_with_n_estimates_d_and_what_is_better(run_built):
    differences, fig = run_built["differences"], run_built["02"]
    assert farms.forest_who(differences) == "enrolled"
    texts = [t.get_text() for t in drawn_texts(fig)[0]]
    enrolled = differences[(differences["who"] == "enrolled") & (differences["outcome"] == "pain")]
    n = int(enrolled["n_pairs"].iloc[0])
    assert any(f"n = {n:,}" in t for t in texts)  # n per arm
    assert sum("d = " in t for t in texts) == 3  # Cohen's d in each block
    row = enrolled.iloc[0]
    assert any(
        fcommon.estimate_text(row.difference, row.ci_low, row.ci_high).split(" [")[0] in t
        for t in texts
    )
    assert all("← better" in ax.get_xlabel() for ax in fig.axes[:3])
    assert "normal 95 % CI" in fig.get_suptitle()
    pain = fig.axes[1]
    lines = [ln.get_xdata()[0] for ln in pain.get_lines() if ln.get_linestyle() == "--"]
    assert lines == [-1.0]  # the 1-point change (IMMPACT)
    markers = {ln.get_marker() for ax in fig.axes for ln in ax.get_lines()}
    assert "D" in markers and "o" not in markers  # the enrolled, not everyone (all zero)


def test_figure_2_intervals_are_normal_intervals_over_the_twin_pairs(run_data):
    patients, arms = run_data["patients"], run_data["arms"]
    at = patients[patients["year"] == patients["year"].max()]
    ref = at[at["arm"] == arms[0]].sort_values(["replicate", "patient_id"])
    other = at[at["arm"] == arms[1]].sort_values(["replicate", "patient_id"])
    twins = other["pain"].to_numpy(float) - ref["pain"].to_numpy(float)
    row = farms.arm_differences(patients, arms).query("who == 'all' and outcome == 'pain'")
    half = 1.959964 * twins.std(ddof=1) / np.sqrt(twins.size)
    assert float(row["ci_high"].iloc[0] - row["difference"].iloc[0]) == pytest.approx(half)


def test_the_effect_over_time_is_zero_before_enrolment_and_marks_the_course(run_data):
    patients, arms = run_data["patients"], run_data["arms"]
    course = farms.treatment_course(patients, arms, min_people=5)
    before = course[course["x"] < 0]
    assert len(before) and np.allclose(before["difference"], 0.0, atol=1e-6)
    after = course[(course["x"] > 0) & (course["outcome"] == "coping")]
    assert (after["difference"] < 0).any()  # CBT lowers catastrophizing after enrolment
    scenario = parse_scenario(
        {
            "scenario": {"name": "boosted", "years": 3},
            "arms": [
                {"name": "usual care"},
                {
                    "name": "CBT + boosters",
                    "interventions": [
                        {"kind": "cbt", "boosters": 2, "booster_every_weeks": 26, "sessions": 8}
                    ],
                },
            ],
        },
        "test",
    )
    plan = farms.schedules(scenario)["CBT + boosters"]
    assert plan["course"] == pytest.approx(8 / 52.1775, rel=1e-3)
    assert plan["boosters"] == pytest.approx([plan["course"] + 0.5 * k for k in (1, 2)], rel=0.01)


def test_the_connectome_patient_has_the_largest_twin_contrast_among_typical_long_pain_patients(
    run_data,
):
    patients, arms = run_data["patients"], run_data["arms"]
    chosen = fpeople.choose_patients(patients, arms)
    assert chosen.treatment == arms[1]
    rep0 = patients[(patients["replicate"] == 0) & (patients["year"] == patients["year"].max())]
    ref = rep0[rep0["arm"] == arms[0]].set_index("patient_id")
    other = rep0[rep0["arm"] == arms[1]].set_index("patient_id")
    enrolled = other.index[other["enrolled_year"].notna()]
    pool = ref.loc[enrolled]
    long = pool[pool["years_with_pain"] >= pool["years_with_pain"].quantile(0.75)]
    q1, q3 = long["dmn_perturbation"].quantile([0.25, 0.75])
    typical = long[long["dmn_perturbation"].between(q1, q3)]
    gains = other.loc[typical.index, "dmn_perturbation"] - typical["dmn_perturbation"]
    assert chosen.patient in typical.index
    assert chosen.twin_gain == pytest.approx(gains.min())


def test_the_animation_patient_starts_without_pain_history_and_changes_most(run_data):
    patients, arms = run_data["patients"], run_data["arms"]
    chosen = fpeople.choose_patients(patients, arms)
    rows = patients[(patients["replicate"] == 0) & (patients["arm"] == arms[0])]
    mine = rows[rows["patient_id"] == chosen.story].sort_values("year")
    assert mine["years_with_pain"].iloc[0] == rows["years_with_pain"].min()
    assert mine["years_with_pain"].iloc[-1] > mine["years_with_pain"].iloc[0]
    assert mine["dmn_perturbation"].iloc[-1] > mine["dmn_perturbation"].iloc[0]


@pytest.mark.slow  # draws a whole figure set (the quick tests draw single figures)
def test_every_kind_of_result_has_a_headline_slide(arms_figures, study_figures, sweep_figures):
    for made in (arms_figures, study_figures, sweep_figures):
        headline = made.entries[0]
        assert headline.name == "00_headline"
        assert png_info(headline.files[0])[0] == (1920, 1080)
        assert headline.caption.split(".")[0]  # the message is the caption's first sentence


def test_the_study_headline_states_how_many_findings_replicate(study_folder):
    study = pd.read_csv(study_folder / "study.csv")
    message = ffind.study_message(study, 0.05)
    assert message.startswith("The virtual study reproduces ")
    assert "of 4 published findings" in message and "40 replications" in message


def test_published_thresholds_are_those_the_study_states():
    from sim.experiments.study import FINDINGS

    stated = {f.key: f.published for f in FINDINGS}
    for key, published in ffind.PUBLISHED.items():
        numbers = [abs(v) for v in (published.low, published.high) if np.isfinite(v) and v]
        for number in numbers:
            assert f"{number:g}" in stated[key], (key, number)


def test_progress_is_shown_on_stderr_for_slow_figure_sets(sweep_drawn):
    _, stderr = sweep_drawn  # drawn with the bar's delay set to 0 s
    assert "figures" in stderr


@pytest.mark.slow  # draws a whole figure set (the quick tests draw single figures)
def test_captions_name_every_mark_and_interval(arms_figures):
    captions = {e.name: e.caption for e in arms_figures.entries}
    assert "normal 95 % confidence interval" in captions["02_arm_comparison"]
    assert "Dworkin" in captions["02_arm_comparison"]
    assert "enrolment" in captions["02b_treatment_over_time"]
    assert "booster" in captions["02b_treatment_over_time"]
    assert "people per bin" in captions["01_perturbation_by_years"]
    assert "own, finer colour scale" in captions["03_connectomes"]
    assert "timeseries.parquet" in captions["01b_cohort_over_time"]


# -- a timing experiment --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def timing_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small timing experiment (CBT and PRT started after 0 or 1 year with pain), saved."""
    scenario = parse_scenario(
        {
            "scenario": {"name": "figures timing", "years": 4, "dt_weeks": 4, "seed": 7},
            "cohort": {"size": 300, "history": "none"},
            "arms": [
                {"name": "CBT", "interventions": [{"kind": "cbt"}]},
                {"name": "PRT", "interventions": [{"kind": "prt"}]},
            ],
            "timing": {
                "start_years_with_pain": [0, 1],
                "follow_up_years": [1],
                "outcomes": ["pain", "dmn_perturbation"],
            },
        }
    )
    result = sim.api.timing(scenario, progress=False)
    return result.save(tmp_path_factory.mktemp("timing") / "t")


def test_a_timing_folder_gets_its_headline_and_the_timing_figure_in_the_index(timing_folder):
    made = sim.load(timing_folder).figures()  # TimingResult.figures: into its own folder
    assert [e.name for e in made.entries] == ["00_headline", "09_timing"]
    size, text = png_info(made.entries[1].files[0])
    assert size == (1920, 1080)
    assert (
        text["painsim run id"]
        == json.loads((timing_folder / "manifest.json").read_text())["run_id"]
    )
    index = (timing_folder / "figures" / "index.html").read_text()
    assert "09_timing.png" in index and "How late is too late" in index


def test_painsim_figures_draws_a_timing_folder_in_the_paper_style(timing_folder, tmp_path):
    folder = tmp_path / "timing"
    shutil.copytree(timing_folder, folder, ignore=shutil.ignore_patterns("figures"))
    result = invoke("figures", folder, "--style", "paper")
    assert result.exit_code == 0, result.output
    assert "00_headline: 00_headline.png" in result.stdout
    assert "09_timing: 09_timing.png" in result.stdout
    assert png_info(folder / "figures" / "09_timing.png")[0][0] == 1050  # 3.5 in x 300 dpi


def test_the_timing_figure_draws_every_difference_with_its_interval():
    table = timing_table(treatments=("CBT", "PRT"), outcomes=("pain",))
    fig = ftiming.timing_figure(table, "talk")
    [ax] = fig.axes
    colors = hs.arm_colors(["usual care", "CBT", "PRT"])
    for treatment in ("CBT", "PRT"):
        rows = table[table["treatment"] == treatment]
        [line] = [
            ln
            for ln in ax.lines
            if ln.get_color() == colors[treatment] and ln.get_linestyle() == "-"
        ]
        assert np.allclose(line.get_ydata(), rows["difference"])
        # the x position is the patients' mean years with pain at the start (nudged apart)
        assert np.allclose(line.get_xdata(), rows["years_with_pain_at_start"], atol=0.5)
    hollow = [ln for ln in ax.lines if ln.get_markerfacecolor() == "white"]
    assert len(hollow) == 2  # the start with 12 pairs, once per treatment, without interval
    assert "↓ better" in ax.get_ylabel()
    texts = " ".join(t.get_text() for t in drawn_texts(fig)[0])
    assert "20 y: 12" in texts and "0 y: 2,800" in texts  # pairs per start
    hs.close(fig)


def test_the_timing_headline_names_the_treatment_that_helps_most_early():
    table = timing_table(treatments=("CBT", "PRT"), outcomes=("pain", "coping"))
    message = ftiming.timing_message(table)
    early = table[(table["outcome"] == "pain") & (table["start"] == "0 y")]
    best = early.loc[early["difference"].idxmin()]
    assert message.startswith(f"{best.treatment} lowers pain by {-best.difference:.2f}")
    assert "first year of pain" in message and "after 20 years with pain" in message


# -- study variants and the longitudinal design -------------------------------------------------
class EvidenceStudy:
    """A study result in memory with the given variants and longitudinal tables."""

    kind = "study"
    scenario = None
    power = sample = counterfactual = None
    run_id = "evidence-1"

    def __init__(self, rng: np.random.Generator, variants, longitudinal):
        self.study = study_table(40, 1.0, rng)
        self.variants, self.longitudinal = variants, longitudinal


class AskedFor:
    """Stands in for the figure writer: records the figures asked for and draws none."""

    style = hs.get_style("talk")

    def __init__(self):
        self.names: list[str] = []

    def try_add(self, name, title, caption, make) -> None:
        self.names.append(name)


@pytest.mark.slow  # draws a whole figure set (the quick tests draw single figures)
def test_variant_and_longitudinal_figures_are_drawn_only_when_the_study_ran_them(study_figures):
    names = [e.name for e in study_figures.entries]  # a study folder with both tables
    assert "06g_study_variants" in names and "06h_study_longitudinal" in names
    # A folder without the files: test_cli_figures_redraws_a_study_without_variants_...; here
    # a study in memory with empty tables (or none, or only power variants: figure 6d's).
    rng = np.random.default_rng(4)
    variants, longitudinal = variants_table(), longitudinal_table()
    for tables, asked_for in (
        ((variants, longitudinal), ["06g_study_variants", "06h_study_longitudinal"]),
        ((variants.iloc[:0], longitudinal.iloc[:0]), []),
        ((None, None), []),
        ((variants[variants["analysis"] == "power"], None), []),
    ):
        writer = AskedFor()
        fevidence.add_evidence(EvidenceStudy(rng, *tables), writer)
        assert writer.names == asked_for


def test_the_variant_table_writes_every_rate_and_outlines_the_published_design():
    variants = variants_table()
    fig = fevidence.variant_rates(variants, "talk")
    ax = fig.axes[0]
    shown = variants[variants["analysis"] != "power"]  # the power curve is figure 6d
    labels = [t.get_text().replace("\n", " ") for t in ax.get_yticklabels()]
    assert labels[0] == "as designed (published)"
    assert len(labels) == len(shown)
    cells = [t.get_text() for t in ax.texts if t.get_text().replace("−", "").isdigit()]
    rates = shown[[c for c, _ in fevidence.FINDING_RATES]].to_numpy().ravel()
    assert cells == [f"{100 * r:.0f}" for r in rates]
    outlined = [p for p in ax.patches if not p.get_fill()]
    assert len(outlined) == 1 and outlined[0].get_y() < 0  # around the first row
    hs.close(fig)


def test_the_longitudinal_figure_draws_change_and_path_weight_by_years_with_pain():
    table = longitudinal_table()
    fig = fevidence.longitudinal_figure(table, "paper")
    top_pain, _, weight_pain, weight_cat = fig.axes[:4]
    assert np.allclose(top_pain.lines[-1].get_ydata(), table["pain_change"])
    assert np.allclose(weight_cat.lines[0].get_ydata(), table["catastrophizing_weight"])
    assert np.allclose(weight_cat.lines[0].get_xdata(), table["ylp_mean"])
    posters = {ln.get_ydata()[0] for ln in weight_pain.lines if ln.get_linestyle() == ":"}
    assert posters == {-0.694}
    hs.close(fig)
