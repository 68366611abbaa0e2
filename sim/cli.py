"""The ``painsim`` command: run scenarios, validate scenario files, list model parameters.

Bad input of any kind (scenario files, option values, output folders, command-line usage) ends
with exactly one line on stderr, ``painsim: error: <message>``, and exit code 2, before anything
is written.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn

import pandas as pd
import typer
from typer.core import TyperGroup

from sim import __version__
from sim.compare import CompareError, compare_folder, to_markdown
from sim.parameters import ModelParams, parameter_table
from sim.runner import OutputFolderError, decade_table, override_run, run_scenario
from sim.scenario import ScenarioError, load_scenario

USAGE_ERROR = 2


def report(message: str) -> None:
    """Print ``painsim: error: <message>`` as one line on stderr."""
    # One line even if a message embeds a newline (e.g. a quoted TOML key containing "\n").
    typer.echo(f"painsim: error: {' '.join(message.splitlines())}", err=True)


def fail(message: str) -> NoReturn:
    """Report ``message`` and exit with code 2."""
    report(message)
    raise SystemExit(USAGE_ERROR)


class _OneLineErrors(TyperGroup):
    """Report usage errors (bad option values, unknown options) as one line, exit 2."""

    def main(
        self, args: Sequence[str] | None = None, *rest: Any, standalone_mode: bool = True,
        **kwargs: Any,
    ) -> Any:
        args = list(sys.argv[1:] if args is None else args)
        # The command line as typed, for the manifest; sys.argv is wrong under CliRunner.
        kwargs.setdefault("obj", {"argv": ["painsim", *args]})
        try:
            result = super().main(args, *rest, standalone_mode=False, **kwargs)
        except typer.TyperException as exc:
            fail(exc.format_message())
        except typer.Abort:
            fail("aborted")
        # Commands return None; an int is the code of an exit (--help, --version, Ctrl-C).
        if standalone_mode:
            raise SystemExit(result if isinstance(result, int) else 0)
        return result


app = typer.Typer(
    name="painsim",
    cls=_OneLineErrors,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Simulate how the brain's default mode network adapts to years lived with pain.",
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"painsim {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Simulate how the brain's default mode network adapts to years lived with pain."""


def plain_table(header: Sequence[str], rows: Sequence[Sequence[Any]], digits: int = 2) -> str:
    """Columns separated by two spaces; numbers right-aligned with ``digits`` decimals.

    Examples
    --------
    >>> print(plain_table(["name", "value"], [["a", 1.5], ["bb", 10]]))
    name  value
    a      1.50
    bb       10
    """

    def cell(value: Any) -> tuple[str, bool]:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return str(value), False
        return (f"{value:.{digits}f}" if isinstance(value, float) else str(value)), True

    cells = [[(str(h), False) for h in header], *[[cell(v) for v in row] for row in rows]]
    numeric = [any(c[i][1] for c in cells[1:]) for i in range(len(header))]
    widths = [max(len(c[i][0]) for c in cells) for i in range(len(header))]
    lines = [
        "  ".join(
            text.rjust(width) if right else text.ljust(width)
            for (text, _), width, right in zip(row, widths, numeric, strict=True)
        ).rstrip()
        for row in cells
    ]
    return "\n".join(lines)


def _year(year: float) -> int | float:
    return int(year) if float(year).is_integer() else year


def format_decades(table: pd.DataFrame, arms: Sequence[str] | None = None) -> str:
    """The decade table as plain text, one block per arm (in the order ``arms``)."""
    blocks = []
    for arm in arms or sorted(table["arm"].unique()):
        body = table[table["arm"] == arm].drop(columns="arm")
        rows = [[_year(row[0]), *row[1:]] for row in body.itertuples(index=False)]
        blocks.append(f"arm: {arm}\n{plain_table(list(body.columns), rows, digits=2)}")
    return "\n\n".join(blocks)


ARM_COLUMNS: dict[str, str] = {
    "dmn_perturbation": "DMN perturbation",
    "pain": "pain",
    "coping": "coping (PCS)",
    "share_chronic": "% chronic",
    "healthy_range": "% DMN healthy",
    "responder": "% responders",
}


def format_arms(summary: pd.DataFrame, arms: Sequence[str]) -> str:
    """Per-arm outcomes at the horizon (means over replicates), in the order ``arms``."""
    table = summary.pivot(index="arm", columns="outcome", values="mean")
    table = table.loc[list(arms), list(ARM_COLUMNS)]
    for column in ("share_chronic", "healthy_range", "responder"):
        table[column] *= 100
    rows = [[arm, *("–" if pd.isna(v) else v for v in values)]
            for arm, values in zip(table.index, table.to_numpy(), strict=True)]
    return "at the horizon:\n" + plain_table(["arm", *ARM_COLUMNS.values()], rows, digits=2)


def _flags(options: Mapping[str, Any]) -> str:
    return " ".join(f"--{name} {value}" for name, value in options.items())


@app.command()
def run(
    ctx: typer.Context,
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file.")],
    out: Annotated[
        Path | None, typer.Option(help="Exact results folder (must be new or empty).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed.")] = None,
    replicates: Annotated[
        int | None, typer.Option(help="Override the scenario's number of replicates.")
    ] = None,
    save_connectivity: Annotated[
        bool,
        typer.Option("--save-connectivity", help="Also write connectivity.npz (at the horizon)."),
    ] = False,
    results_root: Annotated[
        Path, typer.Option(help="Parent folder of <scenario slug>/<run id>/.")
    ] = Path("results"),
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
) -> None:
    """Run a scenario, write its results folder, print the per-decade table."""
    try:
        loaded = load_scenario(scenario)
        options = {"seed": seed, "replicates": replicates}
        changes = {name: value for name, value in options.items() if value is not None}
        if changes:
            loaded = override_run(loaded, changes, f"{scenario} ({_flags(changes)})")
        folder = run_scenario(loaded, out=out, results_root=results_root,
                              save_connectivity=save_connectivity, progress=progress,
                              argv=ctx.obj["argv"])
    except (ScenarioError, OutputFolderError) as exc:
        fail(str(exc))
    arms = [arm.name for arm in loaded.arm_list]
    typer.echo(format_decades(decade_table(pd.read_parquet(folder / "timeseries.parquet")), arms))
    typer.echo(f"\n{format_arms(pd.read_csv(folder / 'summary.csv'), arms)}")
    typer.echo(f"\nresults: {folder}")


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Scenario TOML files.")],
) -> None:
    """Check scenario files without running them; exit 2 if any is invalid."""
    invalid = False
    for file in files:
        try:
            load_scenario(file)
        except ScenarioError as exc:
            invalid = True
            report(str(exc))
        else:
            typer.echo(f"{file}: ok")
    if invalid:
        raise SystemExit(USAGE_ERROR)


@app.command()
def compare(
    folder: Annotated[Path, typer.Argument(help="Results folder of `painsim run`.")],
    reference: Annotated[
        str | None, typer.Option(help="Reference arm (default: the scenario's first arm).")
    ] = None,
    years: Annotated[
        list[float] | None,
        typer.Option("--years", help="Record year to compare at (repeatable; default: horizon)."),
    ] = None,
    enrolled: Annotated[
        bool, typer.Option("--enrolled", help="Only patients enrolled in the compared arm.")
    ] = False,
) -> None:
    """Compare each arm with the reference arm; write comparison.csv and comparison.md."""
    try:
        table = compare_folder(folder, reference, years, enrolled_only=enrolled)
    except CompareError as exc:
        fail(str(exc))
    typer.echo(to_markdown(table, enrolled))
    typer.echo(f"written: {folder / 'comparison.csv'}, {folder / 'comparison.md'}")


@app.command()
def params() -> None:
    """List every model parameter: name, default, unit and source."""
    rows = [[r["name"], str(r["value"]), r["unit"], r["source"]]
            for r in parameter_table(ModelParams())]
    typer.echo(plain_table(["name", "default", "unit", "source"], rows))


if __name__ == "__main__":
    app()
