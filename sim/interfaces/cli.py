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
from sim.core.parameters import ModelParams, parameter_table
from sim.experiments.compare import CompareError, to_markdown
from sim.experiments.run import override_run
from sim.results.folder import OutputFolderError
from sim.results.manifest import ManifestError
from sim.results.run import ResultsError
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
        self,
        args: Sequence[str] | None = None,
        *rest: Any,
        standalone_mode: bool = True,
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
    rows = [
        [arm, *("–" if pd.isna(v) else v for v in values)]
        for arm, values in zip(table.index, table.to_numpy(), strict=True)
    ]
    return "at the horizon:\n" + plain_table(["arm", *ARM_COLUMNS.values()], rows, digits=2)


# Options shared by the commands that write a results folder.
OutOption = Annotated[
    Path | None, typer.Option("--out", help="Exact results folder (must be new or empty).")
]
ResultsRootOption = Annotated[
    Path, typer.Option("--results-root", help="Parent folder of <scenario slug>/<run id>/.")
]
FiguresOption = Annotated[
    bool, typer.Option("--figures/--no-figures", help="Draw figures into <results>/figures/.")
]


def _flags(options: Mapping[str, Any]) -> str:
    return " ".join(f"--{name} {value}" for name, value in options.items())


@app.command()
def run(
    ctx: typer.Context,
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file.")],
    out: OutOption = None,
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed.")] = None,
    replicates: Annotated[
        int | None, typer.Option(help="Override the scenario's number of replicates.")
    ] = None,
    save_connectivity: Annotated[
        bool,
        typer.Option("--save-connectivity", help="Also write connectivity.npz (at the horizon)."),
    ] = False,
    results_root: ResultsRootOption = Path("results"),
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    figures: FiguresOption = True,
) -> None:
    """Run a scenario, write its results folder, print the per-decade table."""
    try:
        loaded = load_scenario(scenario)
        options = {"seed": seed, "replicates": replicates}
        changes = {name: value for name, value in options.items() if value is not None}
        if changes:
            loaded = override_run(loaded, changes, f"{scenario} ({_flags(changes)})")
        from sim.api import run as run_scenario

        result = run_scenario(
            loaded,
            connectivity=save_connectivity,
            progress=progress,
            command=ctx.obj["argv"],
            out=out,
            results_root=results_root,
        )
        folder = result.folder
    except (ScenarioError, OutputFolderError) as exc:
        fail(str(exc))
    arms = result.arms
    typer.echo(format_decades(result.decades(), arms))
    typer.echo(f"\n{format_arms(result.summary, arms)}")
    if figures:
        _figures_after(folder)
    typer.echo(f"\nresults: {folder}")


def format_findings(findings: pd.DataFrame) -> str:
    """The findings of a virtual study as plain text (one row per finding)."""
    rows = []
    for row in findings.to_dict("records"):
        target = "-" if pd.isna(row["target"]) else f">= {100 * row['target']:.0f} %"
        met = "-" if pd.isna(row["met"]) else ("yes" if row["met"] else "NO")
        digits = 3 if row["effect"] == "a*b" else 2
        effect = (
            "-"
            if row["key"] == "all"
            else (
                f"{row['effect']} {row['median']:.{digits}f} "
                f"({row['low']:.{digits}f} to {row['high']:.{digits}f})"
            )
        )
        rows.append([row["finding"], effect, f"{100 * row['detection_rate']:.0f} %", target, met])
    return plain_table(
        ["finding", "effect: median (95 % range)", "detected", "target", "met"], rows
    )


@app.command()
def study(
    ctx: typer.Context,
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file with a [study] section.")],
    replications: Annotated[
        int | None, typer.Option(help="Override the study's number of replications.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed.")] = None,
    out: OutOption = None,
    results_root: ResultsRootOption = Path("results"),
    progress: Annotated[bool, typer.Option(help="Show progress bars on stderr.")] = True,
    figures: FiguresOption = True,
) -> None:
    """Run a virtual study (e.g. Heukamp 2024); write study.csv and findings.md."""
    # Imported here: statsmodels is only needed by this command.
    from sim.experiments.study import PoolTooSmallError, override_study, run_study, study_design

    try:
        loaded = load_scenario(scenario)
        study_design(loaded, str(scenario))
        if seed is not None:
            loaded = override_run(loaded, {"seed": seed}, f"{scenario} (--seed {seed})")
        if replications is not None:
            loaded = override_study(
                loaded,
                {"replications": replications},
                f"{scenario} (--replications {replications})",
            )
        folder = run_study(
            loaded, out=out, results_root=results_root, progress=progress, argv=ctx.obj["argv"]
        )
    except (ScenarioError, OutputFolderError) as exc:
        fail(str(exc))
    except PoolTooSmallError as exc:
        fail(f"{scenario}: study.population: {exc}")
    typer.echo(format_findings(pd.read_csv(folder / "findings.csv")))
    if figures:
        _figures_after(folder)
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
    from sim.results.run import load_run, write_comparison

    try:
        result = load_run(folder)
        table = result.compare(reference, years, enrolled=enrolled)
    except (ManifestError, ResultsError) as exc:
        fail(str(exc))
    except CompareError as exc:
        fail(f"{folder}: --{exc.option}: {exc.message}" if exc.option else f"{folder}: {exc}")
    markdown = to_markdown(table, enrolled)
    written = write_comparison(folder, table, markdown)
    typer.echo(markdown)
    typer.echo(f"written: {', '.join(str(p) for p in written)}")


@app.command()
def sweep(
    ctx: typer.Context,
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file with a [sweep] section.")],
    backend: Annotated[
        str, typer.Option(help="process (local worker processes), serial (one process) or dask.")
    ] = "process",
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default: usable cores).")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Address of a running Dask scheduler, e.g. tcp://host:8786 (dask)."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the interrupted sweep of this scenario.")
    ] = False,
    out: OutOption = None,
    results_root: ResultsRootOption = Path("results"),
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    figures: FiguresOption = True,
) -> None:
    """Run a parameter sweep or sensitivity analysis ([sweep]); write a results folder."""
    from sim.experiments.sweep import SweepError, SweepInterrupted, run_sweep, summary_text

    try:
        loaded = load_scenario(scenario)
        result = run_sweep(
            loaded,
            backend=backend,
            workers=workers,
            scheduler=scheduler,
            resume=resume,
            out=out,
            results_root=results_root,
            progress=progress,
            argv=ctx.obj["argv"],
            source=str(scenario),
        )
    except (ScenarioError, OutputFolderError) as exc:
        fail(str(exc))
    except SweepError as exc:
        report(str(exc))
        raise SystemExit(exc.exit_code) from None
    except SweepInterrupted as exc:
        typer.echo(f"painsim: {exc}", err=True)
        raise SystemExit(130) from None
    except KeyboardInterrupt:
        typer.echo("painsim: interrupted before any run started; nothing was written", err=True)
        raise SystemExit(130) from None
    for note in result.notes:
        typer.echo(f"painsim: note: {note}", err=True)
    if figures:
        _figures_after(result.folder)
    typer.echo(summary_text(result))


def _figures_after(folder: Path, result: Any = None) -> None:
    """Draw a new results folder's figures; a failure is a warning (the results stand).

    ``result`` is the folder's result object when in memory (saves reading the folder back).
    """
    from sim.results.folder import FIGURES_DIR
    from sim.viz.figures import make_figures

    try:
        source = folder if result is None else result
        made = make_figures(source, Path(folder) / FIGURES_DIR, progress=True)
    except Exception as exc:  # the results are written: say why, and go on
        typer.echo(f"painsim: warning: figures not made: {' '.join(str(exc).split())}", err=True)
    else:
        typer.echo(f"\nfigures: {made.index}")


FIGURE_OPTIONS = {"formats": "--format", "style": "--style"}
"""Library argument -> command-line name, for ``painsim figures`` messages."""


@app.command()
def figures(
    folder: Annotated[Path, typer.Argument(help="Results folder of run, study or sweep.")],
    format: Annotated[
        str, typer.Option("--format", help="Comma-separated: png, svg, pdf.")
    ] = "png",
    style: Annotated[
        str, typer.Option(help="talk (1920 x 1080 px slides) or paper (single column).")
    ] = "talk",
    animation: Annotated[
        bool, typer.Option("--animation/--no-animation", help="Also make the GIF of a patient.")
    ] = True,
) -> None:
    """Draw the figures that fit a results folder into FOLDER/figures/ with an index.html.

    Files of the formats drawn are replaced; others stay (--format svg adds SVGs to PNGs).
    """
    from sim.viz.figures import FigureError, make_figures
    from sim.viz.style import StyleError

    try:
        made = make_figures(folder, formats=format, style=style, animation=animation, progress=True)
    except StyleError as exc:
        fail(f"{FIGURE_OPTIONS.get(exc.option, exc.option)}: {exc.message}")
    except FigureError as exc:
        fail(str(exc))
    for entry in made.entries:
        typer.echo(f"{entry.name}: {', '.join(f.name for f in entry.files)}")
    for name, reason in made.skipped:
        typer.echo(f"{name}: not drawn ({reason})")
    typer.echo(f"figures: {made.index}")


@app.command()
def params() -> None:
    """List every model parameter: name, default, unit and source."""
    rows = [
        [r["name"], str(r["value"]), r["unit"], r["source"]] for r in parameter_table(ModelParams())
    ]
    typer.echo(plain_table(["name", "default", "unit", "source"], rows))


@app.command("app")
def serve_app(
    scenario: Annotated[
        Path | None,
        typer.Argument(help="Scenario file to start from (default: scenarios/classroom.toml)."),
    ] = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8765,
    host: Annotated[
        str, typer.Option(help="Address to listen on; 127.0.0.1 keeps the page on this computer.")
    ] = "127.0.0.1",
) -> None:
    """Serve the interactive teaching page at http://HOST:PORT (Ctrl-C stops it)."""
    try:
        if scenario is not None:
            load_scenario(scenario)
        try:
            from sim.interfaces.app import serve  # Solara loads only for this command
        except ModuleNotFoundError as exc:
            fail(
                f"painsim app needs the page's packages ({exc.name} is missing): "
                "pip install -e '.[app]'"
            )
        typer.echo(f"painsim app: open http://{host}:{port} in a browser; Ctrl-C stops.", err=True)
        code = serve(scenario, host=host, port=port)
    except ScenarioError as exc:
        fail(str(exc))
    if code:
        raise SystemExit(code)


if __name__ == "__main__":
    app()
