"""The docs say what the code does: parameter table and scenario schema stay in sync."""

from pathlib import Path

from sim.core.parameters import ModelParams, parameter_markdown, parameter_table

ROOT = Path(__file__).resolve().parents[1]


def _between(text: str, begin: str, end: str) -> str:
    return text[text.index(begin) + len(begin) : text.index(end)].strip()


def test_model_card_parameter_table_matches_the_code():
    text = (ROOT / "docs" / "model.md").read_text()
    table = _between(text, "<!-- parameters:begin -->", "<!-- parameters:end -->")
    assert table == parameter_markdown(), (
        "docs/model.md is out of date: regenerate the table with "
        "sim.core.parameters.parameter_markdown()"
    )


def test_every_parameter_has_a_unit_and_a_source():
    for row in parameter_table(ModelParams()):
        assert row["unit"], row["name"]
        assert row["source"], row["name"]


def test_results_readme_column_table_matches_the_code():
    from sim.experiments.run import patients_markdown

    text = (ROOT / "results" / "README.md").read_text()
    table = _between(text, "<!-- patients:begin -->", "<!-- patients:end -->")
    assert table == patients_markdown(), (
        "results/README.md is out of date: regenerate the patients table with "
        "sim.experiments.run.patients_markdown()"
    )
