"""The docs say what the code does: parameter table and scenario schema stay in sync."""

from pathlib import Path

import pytest

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


@pytest.mark.slow  # runs every example of docs/python.md
def test_python_guide_examples_run_as_written(monkeypatch):
    """docs/python.md is executed: its examples show what the code really prints."""
    import doctest

    import pandas as pd

    monkeypatch.chdir(ROOT)  # the examples use scenario paths relative to the repository
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        failures, tried = doctest.testfile(
            str(ROOT / "docs" / "python.md"),
            module_relative=False,
            optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        )
    assert tried > 10
    assert failures == 0


def refresh_python_guide() -> None:
    """Rewrite the outputs in docs/python.md from what the code prints now.

    For a deliberate model change: ``python tests/test_docs.py --update-python-guide``; review
    the diff before committing it.
    """
    import contextlib
    import doctest
    import io
    import os

    import pandas as pd

    path = ROOT / "docs" / "python.md"
    text = path.read_text(encoding="utf-8")
    parser = doctest.DocTestParser()
    namespace: dict = {}
    out, position = [], 0
    os.chdir(ROOT)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        for piece in parser.parse(text):
            if not isinstance(piece, doctest.Example):
                continue
            # find the example's source in the text, starting after the previous one
            lines = piece.source.rstrip("\n").split("\n")
            first = text.index(">>> " + lines[0], position)
            end = first
            for line in lines:
                end = text.index(line, end) + len(line)
            end += 1  # newline after the source
            old_end = end + len(piece.want)
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                code = compile(piece.source, "<guide>", "single")
                exec(code, namespace)  # our own documentation
            want = buffer.getvalue()
            indent = " " * piece.indent
            want = "".join(indent + line + "\n" if line else "\n" for line in want.splitlines())
            out.append(text[position:end] + want)
            position = old_end
    out.append(text[position:])
    path.write_text("".join(out), encoding="utf-8")


if __name__ == "__main__":
    import sys

    if "--update-python-guide" in sys.argv:
        refresh_python_guide()
        print("rewrote docs/python.md")


def test_readme_quick_start_is_two_commands_and_ci_runs_exactly_that_block():
    """The README promises two set-up commands; .ci/run runs the same block, not a copy."""
    readme = (ROOT / "README.md").read_text()
    block = _between(readme, "<!-- quickstart:begin -->", "<!-- quickstart:end -->")
    lines = [ln for ln in block.splitlines() if ln.strip() and not ln.startswith("```")]
    assert len(lines) == 2, lines
    assert lines[0].startswith("python3 -m venv .venv") and '".[test]"' in lines[0]
    assert lines[1].startswith(".venv/bin/python -m pytest")  # no activation, no bare painsim
    ci = (ROOT / ".ci" / "run").read_text()
    assert "<!-- quickstart:begin -->" in ci and "env -i" in ci
    assert 'bash -euo pipefail -c "$quickstart"' in ci
