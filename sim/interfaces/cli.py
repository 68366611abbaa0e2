"""The ``painsim`` command: a thin layer over the Python API (:mod:`sim.api`).

Bad input of any kind (scenario files, option values, output folders, damaged results folders,
command-line usage, a full disk) ends with exactly one line on stderr, ``painsim: error:
<message>``, and exit code 2, with nothing visible written.

Start-up is kept short: this module imports only Typer; every command imports what it needs
(``painsim --help`` never loads NumPy, pandas or the model).
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperCommand, TyperGroup

from sim import __version__

if TYPE_CHECKING:
    from sim.scenario import Scenario

from sim.interfaces.tables import (
    format_arms,
    format_decades,
    format_findings,
    format_timing,
    output_width,
    plain_table,
    wrapped_table,
)

USAGE_ERROR = 2
INTERRUPTED = 130


def report(message: str) -> None:
    """Print ``painsim: error: <message>`` as one line on stderr."""
    # One line even if a message embeds a newline (e.g. a quoted TOML key containing "\n").
    typer.echo(f"painsim: error: {' '.join(message.splitlines())}", err=True)


def fail(message: str) -> NoReturn:
    """Report ``message`` and exit with code 2."""
    report(message)
    raise SystemExit(USAGE_ERROR)


def is_input_error(exc: BaseException) -> bool:
    """Whether ``exc`` is one of painsim's own errors about bad input (one-line message).

    By convention every such error (``ScenarioError``, ``OutputFolderError``, ``ManifestError``,
    ``ResultsError``, ...) subclasses ``ValueError`` and is defined in the ``sim`` package; a
    plain ``ValueError`` from a library is a bug and keeps its traceback.
    """
    return isinstance(exc, ValueError) and any(
        cls.__module__.startswith("sim.") for cls in type(exc).__mro__ if cls is not ValueError
    )


def os_error_message(exc: OSError, what: str = "") -> str:
    """One line for an operating-system error, e.g. a full disk: file, reason, errno."""
    reason = exc.strerror or " ".join(str(exc).split()) or exc.__class__.__name__
    code = f" (errno {exc.errno})" if exc.errno else ""
    where = what or (str(exc.filename) if exc.filename else "")
    return f"{where}: {reason}{code}" if where else f"{reason}{code}"


class _OneLineErrors(TyperGroup):
    """Report usage errors, painsim's input errors and OS errors as one line, exit 2.

    Commands may catch errors to add context; whatever escapes them is reported here, so no
    input a user can give ends in a traceback.
    """

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
            # Click turns Ctrl-C into Abort; results are written through a staging folder, so
            # nothing half-written is visible.
            report("interrupted; nothing was written")
            raise SystemExit(INTERRUPTED) from None
        except OSError as exc:
            fail(os_error_message(exc))
        except ValueError as exc:
            if not is_input_error(exc):
                raise
            report(str(exc))
            raise SystemExit(getattr(exc, "exit_code", USAGE_ERROR)) from None
        # Commands return None; an int is the code of an exit (--help, --version, Ctrl-C).
        if standalone_mode:
            raise SystemExit(result if isinstance(result, int) else 0)
        return result


class _PlainCommand(TyperCommand):
    """Help in the usual Unix style: ``run [OPTIONS] SCENARIO``, arguments by their metavar.

    (Typer writes required arguments as ``{SCENARIO}`` and adds ``<path>`` after them.)
    """

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = param.metavar or str(param.name).upper()
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx: typer.Context, formatter: Any) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                name = param.metavar or str(param.name).upper()
                arguments.append((name, record[1]))
            else:
                options.append(record)
        for title, records in (("Arguments", arguments), ("Options", options)):
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)


app = typer.Typer(
    name="painsim",
    cls=_OneLineErrors,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: Rich markup would swallow "[sweep]" and "[study]", show "<bool>" for every
    # flag, and importing Rich costs a tenth of a second.
    rich_markup_mode=None,
    context_settings={"max_content_width": 100},
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


def folder_path(value: str) -> Path:
    """A folder option's value; an empty string is refused (it would mean "here")."""
    if not value:
        raise typer.BadParameter("empty path; give a folder name")
    return Path(value)


# Options shared by the commands that write a results folder. Every option that takes a value
# has a metavar saying what kind of value (plain help shows it after the option).
OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        metavar="DIR",
        parser=folder_path,
        help="Exact results folder (must be new or empty).",
    ),
]
ResultsRootOption = Annotated[
    Path,
    typer.Option(
        "--results-root",
        metavar="DIR",
        parser=folder_path,
        help="Parent folder of <scenario slug>/<run id>/.",
    ),
]
SeedOption = Annotated[int | None, typer.Option(metavar="N", help="Override the scenario's seed.")]
FiguresOption = Annotated[
    bool, typer.Option("--figures/--no-figures", help="Draw figures into <results>/figures/.")
]
BackendOption = Annotated[
    str,
    typer.Option(
        metavar="NAME", help="process (local worker processes), serial (one process) or dask."
    ),
]
WorkersOption = Annotated[
    int | None, typer.Option(metavar="N", help="Worker processes (default: usable cores).")
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        metavar="ADDRESS", help="Address of a running Dask scheduler, e.g. tcp://host:8786 (dask)."
    ),
]
PosteriorOption = Annotated[
    Path | None,
    typer.Option(
        "--posterior",
        metavar="DIR",
        help="Calibration results folder: each replicate (study: each share of the study) runs "
        "its own weighted draw of the calibrated parameters, so intervals include parameter "
        "uncertainty. For a study with [study] uncertainty_draws, also a CSV or Parquet file "
        "of draws.",
    ),
]


def _posterior_errors() -> tuple[type[Exception], ...]:
    """Errors about a --posterior folder (imported only when one is raised)."""
    from sim.experiments.posterior import PosteriorError
    from sim.results.manifest import ManifestError
    from sim.results.run import ResultsError

    return (PosteriorError, ManifestError, ResultsError)


def _posterior_failure(exc: Exception) -> NoReturn:
    """One line for a posterior folder that cannot be used."""
    fail(f"--posterior: {getattr(exc, 'message', None) or exc}")


def _flags(options: Mapping[str, Any]) -> str:
    return " ".join(f"--{name} {value}" for name, value in options.items())


@app.command()
def run(
    ctx: typer.Context,
    scenario: Annotated[Path, typer.Argument(metavar="SCENARIO", help="Scenario TOML file.")],
    out: OutOption = None,
    seed: SeedOption = None,
    replicates: Annotated[
        int | None,
        typer.Option(metavar="N", help="Override the scenario's number of replicates."),
    ] = None,
    save_connectivity: Annotated[
        bool,
        typer.Option("--save-connectivity", help="Also write connectivity.npz (at the horizon)."),
    ] = False,
    results_root: ResultsRootOption = Path("results"),
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    figures: FiguresOption = True,
    posterior: PosteriorOption = None,
) -> None:
    """Run a scenario and write its results folder.

    Prints the per-decade table of each arm and the per-arm outcomes at the horizon.
    """
    import sim.api
    from sim.experiments.run import override_run
    from sim.results.folder import destination

    loaded = sim.api.as_scenario(scenario)
    _note_other_purpose(loaded, scenario)
    changes = {k: v for k, v in {"seed": seed, "replicates": replicates}.items() if v is not None}
    if changes:  # validated again, work budget included
        loaded = override_run(loaded, changes, f"{scenario} ({_flags(changes)})")
    # The default folder is new (a fresh run id); an --out folder must be new or empty. The
    # run writes its folder while it runs, staged and renamed into place only when complete.
    planned = destination(out, results_root, loaded.scenario.slug, "<run id>")
    try:
        result = sim.api.run(
            loaded,
            connectivity=save_connectivity,
            progress=progress,
            command=ctx.obj["argv"],
            out=out,
            results_root=results_root,
            posterior=posterior,
        )
    except OSError as exc:  # e.g. a full disk; the staging folder is already removed
        reason = os_error_message(exc, "cannot write the results folder")
        fail(f"{planned}: {reason}; nothing was written")
    except _posterior_errors() as exc:
        _posterior_failure(exc)
    folder = result.folder
    arms = result.arms
    typer.echo(format_decades(result.decades(), arms))
    typer.echo(f"\n{format_arms(result.summary, arms)}")
    if figures:
        _figures_after(folder)
    typer.echo(f"\nresults: {folder}")


PURPOSES: dict[str, str] = {"study": "painsim study", "sweep": "painsim sweep"}
"""Scenario sections that belong to another command, and that command."""


def _note_other_purpose(scenario: Scenario, path: Path) -> None:
    """Say on stderr (one line) that ``painsim run`` ignores a [study] or [sweep] section."""
    for section, command in PURPOSES.items():
        if getattr(scenario, section) is not None:
            typer.echo(
                f"painsim: note: {path} has a [{section}] section, which `painsim run` ignores: "
                f"running it as a plain run; for the {section} use `{command} {path}`",
                err=True,
            )
            return


@app.command()
def study(
    ctx: typer.Context,
    scenario: Annotated[
        Path,
        typer.Argument(metavar="SCENARIO", help="Scenario TOML file with a [study] section."),
    ],
    replications: Annotated[
        int | None,
        typer.Option(metavar="N", help="Override the study's number of replications."),
    ] = None,
    seed: SeedOption = None,
    backend: BackendOption = "process",
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    out: OutOption = None,
    results_root: ResultsRootOption = Path("results"),
    progress: Annotated[bool, typer.Option(help="Show progress bars on stderr.")] = True,
    figures: FiguresOption = True,
    posterior: PosteriorOption = None,
    draws: Annotated[
        int,
        typer.Option(
            metavar="N", help="Posterior draws a study under --posterior is shared out over."
        ),
    ] = 10,
) -> None:
    """Run the virtual study of a [study] section.

    E.g. the Heukamp 2024 replication; writes study.csv, findings.md, power.csv and
    counterfactual.csv.
    """
    # Imported here: statsmodels is only needed by this command.
    from sim.api import study as run_virtual_study
    from sim.experiments.backends import BackendError, check_options
    from sim.experiments.study import PoolTooSmallError, check_indices, study_design
    from sim.results.folder import OutputFolderError, check_destination, destination
    from sim.scenario import ScenarioError, load_scenario

    try:
        declared = load_scenario(scenario)
        study_design(declared, str(scenario))
        check_indices(declared, str(scenario))
        check_options(backend, workers, scheduler)
        # Refuse a bad destination before simulating, not after.
        planned = destination(out, results_root, "", "")
        if out is not None:
            check_destination(planned)
        result = run_virtual_study(
            scenario,
            seed=seed,
            replications=replications,
            progress=progress,
            command=ctx.obj["argv"],
            backend=backend,
            workers=workers,
            scheduler=scheduler,
            posterior=posterior,
            draws=draws,
        )
        folder = result.save(out, results_root=results_root)
    except (ScenarioError, OutputFolderError) as exc:
        fail(str(exc))
    except BackendError as exc:
        fail(f"--{exc.option}: {exc.message}")
    except _posterior_errors() as exc:
        if getattr(exc, "option", None) == "draws":
            fail(f"--draws: {exc.message}")
        _posterior_failure(exc)
    except PoolTooSmallError as exc:
        fail(f"{scenario}: study.population: {exc}")
    typer.echo(format_findings(result.findings))
    if figures:
        _figures_after(folder)
    typer.echo(f"\nresults: {folder}")


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="Scenario TOML files.")],
) -> None:
    """Check scenario files without running them.

    Checks the files, their values and the work they ask for; one line per invalid file, and
    exit status 2 if any is invalid.
    """
    from sim.scenario import ScenarioError, load_scenario

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
    folder: Annotated[
        Path, typer.Argument(metavar="RESULTS_DIR", help="Results folder of `painsim run`.")
    ],
    reference: Annotated[
        str | None,
        typer.Option(metavar="ARM", help="Reference arm (default: the scenario's first arm)."),
    ] = None,
    years: Annotated[
        list[float] | None,
        typer.Option(
            "--years",
            metavar="YEAR",
            help="Record year to compare at (repeatable; default: horizon).",
        ),
    ] = None,
    enrolled: Annotated[
        bool, typer.Option("--enrolled", help="Only patients enrolled in the compared arm.")
    ] = False,
) -> None:
    """Compare each arm of a run with the reference arm.

    Writes comparison.csv and comparison.md into the run's folder.
    """
    from sim.experiments.compare import CompareError, to_markdown
    from sim.results.manifest import kind_of, read_manifest
    from sim.results.run import load_run, write_comparison

    manifest = read_manifest(folder)
    kind = kind_of(manifest)
    if kind != "run":
        fail(f"{folder}: a {kind} folder; `painsim compare` compares the arms of a run folder")
    result = load_run(folder, manifest)
    try:
        table = result.compare(reference, years, enrolled=enrolled)
    except CompareError as exc:
        fail(f"{folder}: --{exc.option}: {exc.message}" if exc.option else f"{folder}: {exc}")
    markdown = to_markdown(table, enrolled)
    try:
        written = write_comparison(folder, table, markdown)
    except OSError as exc:  # each file is replaced atomically: nothing half-written is left
        fail(f"{folder}: {os_error_message(exc, 'cannot write the comparison')}")
    typer.echo(markdown)
    typer.echo(f"written: {', '.join(str(p) for p in written)}")


@app.command()
def sweep(
    ctx: typer.Context,
    scenario: Annotated[
        Path,
        typer.Argument(metavar="SCENARIO", help="Scenario TOML file with a [sweep] section."),
    ],
    backend: BackendOption = "process",
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the interrupted sweep of this scenario.")
    ] = False,
    out: OutOption = None,
    results_root: ResultsRootOption = Path("results"),
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    figures: FiguresOption = True,
    posterior: PosteriorOption = None,
) -> None:
    """Run the sweep or sensitivity analysis of a [sweep] section."""
    from sim.api import sweep as run_sweep
    from sim.experiments.backends import BackendError
    from sim.experiments.sweep import SweepError, SweepInterrupted, summary_text
    from sim.results.folder import OutputFolderError
    from sim.scenario import ScenarioError

    resume_command = f"painsim sweep {scenario} --resume"
    if out is not None:
        resume_command += f" --out {out}"
    elif results_root != Path("results"):
        resume_command += f" --results-root {results_root}"
    if posterior is not None:
        resume_command += f" --posterior {posterior}"
    try:
        result = run_sweep(
            scenario,
            backend=backend,
            workers=workers,
            scheduler=scheduler,
            resume=resume,
            out=out,
            results_root=results_root,
            progress=progress,
            command=ctx.obj["argv"],
            posterior=posterior,
        )
    except (ScenarioError, OutputFolderError) as exc:
        fail(str(exc))
    except _posterior_errors() as exc:
        _posterior_failure(exc)
    except BackendError as exc:
        fail(f"--{exc.option}: {exc.message}")
    except SweepError as exc:
        message = f"--{exc.option}: {exc.message}" if exc.option else exc.message
        report(f"{message}; continue with: {resume_command}" if exc.resumable else message)
        raise SystemExit(exc.exit_code) from None
    except SweepInterrupted as exc:
        typer.echo(f"painsim: {exc}; continue with: {resume_command}", err=True)
        raise SystemExit(130) from None
    except KeyboardInterrupt:
        typer.echo("painsim: interrupted before any run started; nothing was written", err=True)
        raise SystemExit(130) from None
    for note in result.notes:
        typer.echo(f"painsim: note: {note}", err=True)
    if figures:
        _figures_after(result.folder)
    typer.echo(summary_text(result))


@app.command()
def timing(
    ctx: typer.Context,
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file with a [timing] section.")],
    seed: SeedOption = None,
    replicates: Annotated[
        int | None, typer.Option(metavar="N", help="Override the scenario's number of replicates.")
    ] = None,
    out: OutOption = None,
    results_root: ResultsRootOption = Path("results"),
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    figures: FiguresOption = True,
    posterior: PosteriorOption = None,
) -> None:
    """How late is too late: each treatment ([[arms]]) at each start ([timing]) vs usual care."""
    from sim.api import timing as run_timing
    from sim.experiments.timing import TimingError
    from sim.results.folder import OutputFolderError
    from sim.scenario import ScenarioError

    try:
        result = run_timing(
            scenario,
            seed=seed,
            replicates=replicates,
            progress=progress,
            command=ctx.obj["argv"],
            out=out,
            results_root=results_root,
            posterior=posterior,
        )
    except (ScenarioError, OutputFolderError, TimingError) as exc:
        option = getattr(exc, "option", None)
        fail(f"--{option.replace('_', '-')}: {exc.message}" if option else str(exc))
    except _posterior_errors() as exc:
        _posterior_failure(exc)
    typer.echo(format_timing(result.table))
    typer.echo("\n95 % intervals and numbers of pairs: timing.md")
    if figures:
        _figures_after(result.folder, result)
    typer.echo(f"\nresults: {result.folder}")


@app.command()
def calibrate(
    ctx: typer.Context,
    scenario: Annotated[
        Path, typer.Argument(help="Scenario TOML file with a [calibration] section.")
    ],
    backend: BackendOption = "process",
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue the interrupted calibration of this scenario."),
    ] = False,
    out: OutOption = None,
    results_root: ResultsRootOption = Path("results"),
    progress: Annotated[bool, typer.Option(help="Show progress on stderr.")] = True,
) -> None:
    """Calibrate model parameters to published targets ([calibration]); write a results folder."""
    try:
        from sim.experiments.calibrate import CalibrationError
        from sim.experiments.calibrate import calibrate as run_calibration
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the installation
        fail(
            f"painsim calibrate needs pyabc ({exc.name} is missing): pip install -e '.[calibrate]'"
        )
    from sim.results.folder import OutputFolderError, check_destination, destination
    from sim.scenario import ScenarioError, load_scenario

    try:
        loaded = load_scenario(scenario)
        if loaded.calibration is None:
            fail(f"{scenario}: calibration: missing; this command needs a [calibration] section")
        if out is not None:
            check_destination(destination(out, results_root, loaded.scenario.slug, ""))
        result = run_calibration(
            loaded,
            backend=backend,
            workers=workers,
            scheduler=scheduler,
            resume=resume,
            out=out,
            results_root=results_root,
            progress=progress,
            command=ctx.obj["argv"],
        )
        folder = result.save(out, results_root=results_root)
    except ModuleNotFoundError as exc:
        fail(
            f"painsim calibrate needs pyabc ({exc.name} is missing): pip install -e '.[calibrate]'"
        )
    except (ScenarioError, OutputFolderError) as exc:
        fail(str(exc))
    except CalibrationError as exc:
        fail(f"{scenario}: --{exc.option}: {exc}" if exc.option else f"{scenario}: {exc}")
    except KeyboardInterrupt:
        typer.echo(
            "painsim: interrupted; finished generations are kept; continue with --resume",
            err=True,
        )
        raise SystemExit(130) from None
    table = result.targets[result.targets["role"] == "target"]
    rows = [
        [
            r.statistic,
            f"{r.published:.3g} ({r.low:.3g}-{r.high:.3g})",
            f"{r.simulated_median:.3g} ({r.simulated_low:.3g}-{r.simulated_high:.3g})",
            "yes" if r.met else "NO",
        ]
        for r in table.itertuples()
    ]
    typer.echo(plain_table(["target", "published", "simulated", "met"], rows))
    medians = [[name, value] for name, value in result.medians.items()]
    typer.echo("\nposterior median:\n" + plain_table(["parameter", "median"], medians, digits=4))
    typer.echo(f"\nresults: {folder}")


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


def _check_results_folder(folder: Path) -> None:
    """Read a run folder's manifest and tables first, so that damage is one line, up front.

    Folders of other kinds (a study, a sweep) are left to their own loaders.

    Raises
    ------
    sim.results.manifest.ManifestError, sim.results.run.ResultsError
        Naming the damaged file.
    """
    from sim.results.folder import MANIFEST, PATIENTS
    from sim.results.manifest import read_manifest
    from sim.results.run import load_run

    path = folder / MANIFEST
    if not path.exists():
        return  # not a results folder at all: make_figures says what it looks for
    declared = _declared_kind(path)
    if declared == "run" or (declared is None and (folder / PATIENTS).exists()):
        load_run(folder, read_manifest(folder))


def _declared_kind(path: Path) -> str | None:
    """The kind a manifest declares (or implies), or None if it says none or is unreadable."""
    import json

    from sim.results.manifest import MAX_MANIFEST_BYTES, kind_of

    try:
        if not path.is_file() or path.stat().st_size > MAX_MANIFEST_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    kind = kind_of(data)
    return None if kind == "run" and data.get("kind") != "run" else kind


@app.command()
def figures(
    folder: Annotated[
        Path,
        typer.Argument(metavar="RESULTS_DIR", help="Run, study, sweep or timing results folder."),
    ],
    format: Annotated[
        str,
        typer.Option("--format", metavar="LIST", help="Comma-separated: png, svg, pdf."),
    ] = "png",
    style: Annotated[
        str,
        typer.Option(metavar="NAME", help="talk (1920 x 1080 px slides) or paper (single column)."),
    ] = "talk",
    animation: Annotated[
        bool, typer.Option("--animation/--no-animation", help="Also make the GIF of a patient.")
    ] = True,
) -> None:
    """Draw the figures of a run, study, sweep or timing folder.

    Into RESULTS_DIR/figures/, with an index.html contact sheet.

    Files of the formats drawn are replaced; others stay (--format svg adds SVGs to PNGs).
    """
    from sim.viz.figures import FigureError, make_figures
    from sim.viz.style import StyleError

    _check_results_folder(folder)
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


SOURCE_FLAGS = (
    "Source flags: [C] confirmed from an abstract or figure; [M] recalled, not checked against "
    "the paper; [NF] looked for and not found, so the value is an assumption. "
    '"brief §N" is section N of the science brief the model was specified from. '
    "docs/model.md explains every parameter."
)
"""The legend printed under ``painsim params``."""


@app.command()
def params() -> None:
    """List every model parameter with its default, unit and source."""
    from sim.core.parameters import ModelParams, parameter_table

    width = output_width()
    rows = [
        [r["name"], str(r["value"]), r["unit"], r["source"]] for r in parameter_table(ModelParams())
    ]
    typer.echo(wrapped_table(["name", "default", "unit", "source"], rows, width))
    typer.echo("")
    typer.echo(textwrap.fill(SOURCE_FLAGS, width))


@app.command("app")
def serve_app(
    scenario: Annotated[
        Path | None,
        typer.Argument(
            metavar="SCENARIO",
            help="Scenario file to start from (default: scenarios/classroom.toml).",
        ),
    ] = None,
    port: Annotated[
        int, typer.Option(metavar="N", min=1, max=65535, help="Port to listen on.")
    ] = 8765,
    host: Annotated[
        str,
        typer.Option(
            metavar="ADDRESS",
            help="Address to listen on; 127.0.0.1 keeps the page on this computer.",
        ),
    ] = "127.0.0.1",
) -> None:
    """Serve the interactive teaching page.

    At http://HOST:PORT; Ctrl-C stops it.
    """
    from sim.scenario import ScenarioError, load_scenario

    try:
        if scenario is not None:
            load_scenario(scenario)
        try:
            # Solara loads only for this command
            from sim.interfaces.app import HostError, check_host, serve
        except ModuleNotFoundError as exc:
            fail(
                f"painsim app needs the page's packages ({exc.name} is missing): "
                "pip install -e '.[app]'"
            )
        try:
            check_host(host)
        except HostError as exc:
            fail(f"--{exc.option}: {exc.message}")
        typer.echo(f"painsim app: open http://{host}:{port} in a browser; Ctrl-C stops.", err=True)
        code = serve(scenario, host=host, port=port)
    except ScenarioError as exc:
        fail(str(exc))
    if code:
        raise SystemExit(code)


# Every command, including ones added later, gets the plain help layout (Typer fills in its
# own TyperCommand when a command names no class).
for _command in app.registered_commands:
    if _command.cls in (None, TyperCommand):
        _command.cls = _PlainCommand

if __name__ == "__main__":
    app()
