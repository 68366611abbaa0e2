"""Figures: every figure from small results, house style, provenance, formats, CLI and errors."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text
from PIL import Image
from typer.testing import CliRunner

import sim
import sim.api
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
from sim.viz.figures import brain as fbrain
from sim.viz.figures import run as frun
from sim.viz.figures import study as fstudy
from sim.viz.figures import sweep as fsweep

runner = CliRunner()

TWO_ARMS = {
    "scenario": {
        "name": "figures test",
        "seed": 5,
        "years": 3,
        "dt_weeks": 4,
        "replicates": 2,
        "record_every_years": 1,
    },
    "cohort": {"size": 150},
    "arms": [
        {"name": "usual care"},
        {
            "name": "CBT + TMS",
            "interventions": [
                {"kind": "cbt", "start_year": 1, "eligible_stages": ["chronic", "subacute"]},
                {"kind": "tms", "start_year": 1, "eligible_stages": ["chronic", "subacute"]},
            ],
        },
    ],
}
RUN_FIGURES = (
    "01_perturbation_by_years",
    "02_arm_comparison",
    "03_connectomes",
    "04_connectivity_matrices",
    "05_metrics_by_years",
)


def png_info(path: Path) -> tuple[tuple[int, int], dict[str, str]]:
    with Image.open(path) as image:
        return image.size, dict(image.text)


def visible_texts(fig) -> list[Text]:
    """Texts that are drawn: tick labels only for ticks inside the axis limits."""
    ticks, drawn = set(), []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            tol = (high - low) * 1e-9
            for tick, loc in zip(axis.get_major_ticks(), axis.get_majorticklocs(), strict=False):
                for label in (tick.label1, tick.label2):
                    ticks.add(id(label))
                    if low - tol <= loc <= high + tol and label.get_visible():
                        drawn.append(label)
    others = [t for t in fig.findobj(Text) if id(t) not in ticks]
    return [t for t in [*others, *drawn] if t.get_visible() and t.get_text().strip()]


def overlapping_texts(fig) -> list[tuple[str, str]]:
    """Pairs of visible texts whose drawn boxes intersect (a stumble for any viewer)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in visible_texts(fig)]
    return [
        (a, b)
        for (a, ba), (b, bb) in itertools.combinations(boxes, 2)
        if ba.overlaps(bb) and ba.width > 0 and bb.width > 0
    ]


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
    """The same run's results folder, with connectivity.npz."""
    return arms_result.save(results_root=tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module")
def arms_figures(arms_run: Path) -> fg.FigureSet:
    return fg.make_figures(arms_run, formats="png,svg,pdf", style="talk")


@pytest.fixture(scope="module")
def run_data(arms_run: Path) -> dict:
    manifest = json.loads((arms_run / "manifest.json").read_text())
    patients = pd.read_parquet(arms_run / "patients.parquet")
    return {"manifest": manifest, "patients": patients, "arms": manifest["run"]["arms"]}


@pytest.fixture(scope="module")
def study_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small finished study folder: 40 replications, power at 0.5x, 1x and 2x."""
    scenario = {
        "scenario": {"name": "figures study", "seed": 3, "dt_weeks": 4},
        "study": {
            "population": 5000,
            "age_max": 40,
            "n_healthy": 8,
            "n_subacute": 8,
            "n_chronic": 8,
            "replications": 40,
            "power_multipliers": [0.5, 1.0, 2.0],
            "counterfactual": False,
        },
    }
    return sim.api.study(scenario).save(tmp_path_factory.mktemp("study") / "study-run-1")


@pytest.fixture(scope="module")
def sweep_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small finished Sobol sweep folder, with another file already in its figures/."""
    scenario = {
        "scenario": {"name": "figures sweep", "seed": 5, "years": 2, "dt_weeks": 4},
        "cohort": {"size": 40},
        "sweep": {
            "method": "sobol",
            "samples": 4,
            "bounds": {"drift.rate": [0.1, 0.4], "drift.coping_weight": [0.0, 0.6]},
            "outcomes": ["dmn_perturbation"],
        },
    }
    result = sim.api.sweep(scenario, backend="serial")
    folder = result.save(tmp_path_factory.mktemp("sweep") / "sweep-run-1")
    (folder / "figures").mkdir()
    (folder / "figures" / "grid_dmn_perturbation.png").write_bytes(b"working plot")
    return folder


# -- a run --------------------------------------------------------------------------------------
def test_run_folder_gets_every_run_figure_in_every_format(arms_figures, arms_run):
    names = [e.name for e in arms_figures.entries]
    assert names == [*RUN_FIGURES, "08_patient_animation"]
    for name in RUN_FIGURES:
        for suffix in (".png", ".svg", ".pdf"):
            path = arms_run / "figures" / f"{name}{suffix}"
            assert path.is_file() and path.stat().st_size > 5_000, path
        assert png_info(arms_run / "figures" / f"{name}.png")[0] == (1920, 1080)


def test_every_file_carries_version_and_run_id_in_its_metadata(arms_figures, arms_run):
    run_id = json.loads((arms_run / "manifest.json").read_text())["run_id"]
    for name in RUN_FIGURES:
        _, text = png_info(arms_run / "figures" / f"{name}.png")
        assert text["painsim version"] == sim.__version__
        assert text["painsim run id"] == run_id
        svg = (arms_run / "figures" / f"{name}.svg").read_text()
        assert f"run_id={run_id}" in svg and f"painsim {sim.__version__}" in svg
        pdf = (arms_run / "figures" / f"{name}.pdf").read_bytes()
        assert run_id.encode() in pdf and f"painsim {sim.__version__}".encode() in pdf


def test_animation_is_a_small_multi_frame_gif_with_provenance(arms_figures, arms_run):
    gif = arms_run / "figures" / "08_patient_animation.gif"
    assert 0 < gif.stat().st_size <= fanim.GIF_MAX_BYTES
    run_id = json.loads((arms_run / "manifest.json").read_text())["run_id"]
    with Image.open(gif) as image:
        assert image.n_frames == 4  # record times 0, 1, 2, 3
        assert image.size == (1280, 720)  # 1920 x 1080 layout at 2/3 scale
        assert run_id.encode() in image.info["comment"]


def test_index_lists_every_figure_with_a_caption(arms_figures, arms_run):
    text = (arms_run / "figures" / "index.html").read_text()
    for entry in arms_figures.entries:
        assert f'src="{entry.files[0].name}"' in text
        assert entry.caption and html_escaped(entry.caption) in text
    assert "connectivity.npz" in text  # says where the connectivity came from


def test_captions_travel_as_data_into_the_files(arms_figures):
    for entry in arms_figures.entries:
        if entry.files[0].suffix == ".png":
            assert png_info(entry.files[0])[1]["Description"] == entry.caption


def html_escaped(text: str) -> str:
    import html

    return html.escape(text)


def test_run_without_connectivity_rebuilds_it_and_skips_comparison_for_one_arm(small_run, tmp_path):
    import shutil

    folder = tmp_path / "run"
    shutil.copytree(small_run, folder)
    (folder / "connectivity.npz").unlink()
    made = fg.make_figures(folder, animation=False)
    assert [e.name for e in made.entries] == [n for n in RUN_FIGURES if n != "02_arm_comparison"]
    assert made.skipped == [("02_arm_comparison", "one arm only; nothing to compare")]
    index = (folder / "figures" / "index.html").read_text()
    assert "rebuilt from manifest.json" in index
    assert "Not drawn" in index and "one arm only; nothing to compare" in index


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


@pytest.mark.slow
def test_paper_style_is_single_column_at_300_dpi(arms_run, tmp_path):
    import shutil

    folder = tmp_path / "paper"
    shutil.copytree(arms_run, folder, ignore=shutil.ignore_patterns("figures"))
    made = fg.make_figures(folder, formats="png", style="paper", animation=False)
    for entry in made.entries:
        with Image.open(entry.files[0]) as image:
            assert image.size[0] == 1050  # 3.5 in x 300 dpi
            assert 600 <= image.size[1] <= 2700  # at most 9 in tall
            assert round(image.info["dpi"][0]) == 300


# -- formats, earlier comparisons, results in memory ---------------------------------------------
@pytest.fixture(scope="module")
def redrawn(arms_figures, arms_run, tmp_path_factory) -> tuple[Path, fg.FigureSet]:
    """A copy of the run with its figures, compared with `painsim compare`, PNGs drawn again."""
    import shutil

    folder = tmp_path_factory.mktemp("redrawn") / "run"
    shutil.copytree(arms_run, folder)
    result = invoke("compare", folder)
    assert result.exit_code == 0, result.output
    assert (folder / "comparison.csv").is_file()
    return folder, fg.make_figures(folder, formats="png", animation=False)


def test_arm_comparison_is_the_same_with_or_without_an_earlier_compare(arms_run, redrawn):
    folder, made = redrawn
    name = "02_arm_comparison.png"
    assert folder / "figures" / name in made.files
    assert same_pixels(arms_run / "figures" / name, folder / "figures" / name)
    # The dots are the twin differences `painsim compare` reports.
    compared = pd.read_csv(folder / "comparison.csv").set_index("outcome")
    shown = frun.arm_differences(
        pd.read_parquet(folder / "patients.parquet"), ["usual care", "CBT + TMS"]
    )
    shown = shown[shown["who"] == "all"].set_index("outcome")
    for outcome in frun.COMPARED_OUTCOMES:
        assert shown.loc[outcome, "difference"] == pytest.approx(
            compared.loc[outcome, "twin_difference"], abs=1e-12
        )


def test_drawing_one_format_keeps_the_others_and_the_animation(redrawn):
    folder, made = redrawn
    assert {f.suffix for f in made.files} == {".png"}
    names = {p.name for p in (folder / "figures").iterdir()}
    for figure in RUN_FIGURES:
        assert {f"{figure}.png", f"{figure}.svg", f"{figure}.pdf"} <= names
    assert "08_patient_animation.gif" in names  # not redrawn (no animation asked), not removed
    index = (folder / "figures" / "index.html").read_text()
    assert 'href="01_perturbation_by_years.svg"' in index  # earlier formats stay linked
    assert 'href="08_patient_animation.gif"' in index


def test_svg_after_png_adds_svgs_and_keeps_pngs_and_their_thumbnails(study_folder, tmp_path):
    import shutil

    folder = tmp_path / "study"
    shutil.copytree(study_folder, folder, ignore=shutil.ignore_patterns("figures"))
    pngs = {f.name: f.read_bytes() for f in fg.make_figures(folder).files}
    result = invoke("figures", folder, "--format", "svg")
    assert result.exit_code == 0, result.output
    figures = folder / "figures"
    assert {n: (figures / n).read_bytes() for n in pngs} == pngs
    index = (figures / "index.html").read_text()
    for name in pngs:
        assert f'src="{name}"' in index
        assert (figures / name).with_suffix(".svg").is_file()


def test_a_result_in_memory_needs_a_folder_to_draw_into(arms_result):
    with pytest.raises(fg.FigureError, match="needs a folder") as error:
        fg.make_figures(arms_result)
    assert error.value.option == "folder"


@pytest.mark.slow
def test_figures_of_a_result_in_memory_are_those_of_its_saved_folder(
    arms_result, redrawn, tmp_path
):
    _, from_folder = redrawn
    in_memory = fg.make_figures(arms_result, tmp_path / "figures", formats="png", animation=False)
    assert [f.name for f in in_memory.files] == [f.name for f in from_folder.files]
    assert in_memory.skipped == from_folder.skipped
    assert [e.caption for e in in_memory.entries] == [e.caption for e in from_folder.entries]
    for mine, theirs in zip(in_memory.files, from_folder.files, strict=True):
        assert same_pixels(mine, theirs), mine.name


# -- house style --------------------------------------------------------------------------------
def test_arms_keep_their_colours_across_figures(run_data):
    arms = run_data["arms"]
    colors = hs.arm_colors(arms)
    assert colors == {"usual care": "#000000", "CBT + TMS": "#0072B2"}
    fig = frun.perturbation_by_years(run_data["patients"], arms, "talk")
    lines = {line.get_label(): line.get_color() for line in fig.axes[0].get_lines()}
    assert lines == colors
    diffs = frun.arm_differences(run_data["patients"], arms)
    fig = frun.arm_comparison(diffs, arms, "talk")
    drawn = {
        line.get_color()
        for ax in fig.axes
        for line in ax.get_lines()
        if line.get_marker() in ("o", "D")
    }
    assert drawn == {colors["CBT + TMS"]}


@pytest.fixture(scope="module")
def talk_figures(run_data):
    """The run figures drawn in talk style from the run's data, once for the module."""
    figs = draw_talk_figures(run_data)
    yield figs
    for fig in figs.values():
        hs.close(fig)


def draw_talk_figures(run_data) -> dict:
    patients, arms = run_data["patients"], run_data["arms"]
    scenario = scenario_from_manifest(run_data["manifest"])
    layout = fbrain.BrainLayout.from_scenario(scenario)
    horizon = patients[(patients["year"] == patients["year"].max()) & (patients["arm"] == arms[0])]
    sign = np.sign(np.arange(17) - 8.0)
    change = 0.06 * np.outer(sign, sign)  # symmetric: up within halves, down between
    return {
        "perturbation": frun.perturbation_by_years(patients, arms, "talk"),
        "comparison": frun.arm_comparison(frun.arm_differences(patients, arms), arms, "talk"),
        "matrices": fbrain.matrices_figure(
            layout,
            layout.healthy,
            layout.healthy - 0.05,
            "talk",
            titles=("Never in pain\nn = 10", "Chronic\nn = 12"),
        ),
        "metrics": frun.metrics_by_years(horizon, "talk"),
        "connectomes": fbrain.connectome_figure(
            layout, [("Patient", change), ("Twin", change / 2)], "talk"
        ),
    }


def test_talk_text_is_at_least_16_pt_and_labels_do_not_overlap(talk_figures):
    for name, fig in talk_figures.items():
        small = {
            t.get_text(): t.get_fontsize() for t in visible_texts(fig) if t.get_fontsize() < 16
        }
        assert not small, (name, small)
        if name != "connectomes":  # nilearn's glass-brain outlines have no text to collide
            assert not overlapping_texts(fig), (name, overlapping_texts(fig))


def test_axis_labels_carry_units(talk_figures):
    figs = talk_figures
    assert figs["perturbation"].axes[0].get_ylabel() == "DMN perturbation (healthy SD)"
    assert "(NRS points)" in figs["comparison"].axes[1].get_xlabel()
    assert "(PCS points)" in figs["comparison"].axes[2].get_xlabel()
    assert [ax.get_ylabel() for ax in figs["metrics"].axes] == [
        "1/r",
        "edges per region",
        "r units",
        "r units",
    ]


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
def test_study_folder_gets_groups_years_mediation_and_power(study_folder):
    made = fg.make_figures(study_folder)
    assert [e.name for e in made.entries] == [
        "06a_study_groups",
        "06b_study_years",
        "06c_study_mediation",
        "06d_study_power",
    ]
    for entry in made.entries:
        size, text = png_info(entry.files[0])
        run_id = json.loads((study_folder / "manifest.json").read_text())["run_id"]
        assert size == (1920, 1080) and text["painsim run id"] == run_id


def test_power_table_counts_each_finding_per_multiplier(study_folder):
    power = pd.read_csv(study_folder / "power.csv")
    table = fstudy.power_table(power, 0.05)
    assert sorted(table["multiplier"].unique()) == [0.5, 1.0, 2.0]
    assert set(table["key"]) == set(fstudy.PUBLISHED_FINDINGS)
    assert table["detection_rate"].between(0, 1).all()
    assert (table["replications"] == 40).all()


def test_sweep_folder_gets_heatmap_and_sensitivity_and_keeps_working_plots(sweep_folder):
    made = fg.make_figures(sweep_folder)
    assert [e.name for e in made.entries] == [
        "07a_sweep_dmn_perturbation",
        "07b_sensitivity_dmn_perturbation",
    ]
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


def test_cli_figures_redraws_a_study(study_folder):
    result = invoke("figures", study_folder, "--format", "svg", "--style", "paper")
    assert result.exit_code == 0, result.output
    assert "06c_study_mediation: 06c_study_mediation.svg" in result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith("figures: ")


@pytest.mark.slow
def test_painsim_run_makes_figures_unless_told_not_to(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text(
        '[scenario]\nname = "cli figs"\nyears = 2\ndt_weeks = 4\n[cohort]\nsize = 120\n'
    )
    result = invoke("run", toml, "--out", tmp_path / "with", "--no-progress")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == f"results: {tmp_path / 'with'}"
    assert re.fullmatch(r"figures: .*index\.html", lines[-3])
    assert (tmp_path / "with" / "figures" / "03_connectomes.png").is_file()
    result = invoke("run", toml, "--out", tmp_path / "without", "--no-progress", "--no-figures")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "without" / "figures").exists()
