"""Results folders: names, atomic staging, flushing to disk, and the file names they hold.

Every results folder painsim writes (run, study, sweep, calibration, figures) goes through this
module, so they share one set of rules (``results/README.md``):

* a folder is written into a hidden staging folder beside its destination and renamed into
  place in one step after every file is flushed to disk (:func:`staged_folder`); a folder
  without a leading dot is always complete;
* the leftovers of a killed writer (hidden staging folders whose process is gone) are removed
  the next time the same destination is written (:func:`remove_stale_staging`);
* single files inside a folder are replaced atomically too (:func:`write_atomic`).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

# File names shared by writers and readers.
MANIFEST = "manifest.json"
PATIENTS = "patients.parquet"
TIMESERIES = "timeseries.parquet"
SUMMARY = "summary.csv"
CONNECTIVITY = "connectivity.npz"
COMPARISON_CSV, COMPARISON_MD = "comparison.csv", "comparison.md"
STUDY_TABLE, SAMPLE, FINDINGS_CSV, FINDINGS_MD = (
    "study.csv",
    "sample.csv",
    "findings.csv",
    "findings.md",
)
POWER, COUNTERFACTUAL = "power.csv", "counterfactual.csv"
VARIANTS, VARIANT_REPLICATIONS = "variants.csv", "variant_replications.csv"
LONGITUDINAL, LONGITUDINAL_REPLICATIONS = "longitudinal.csv", "longitudinal_replications.csv"
PARAMETER_SETS = "parameter_sets.csv"
SWEEP_TABLE, SENSITIVITY = "sweep.parquet", "sensitivity.csv"
TIMING_TABLE, TIMING_PAIRS, TIMING_MD = "timing.csv", "pairs.parquet", "timing.md"
FIGURES_DIR = "figures"

_STAGING = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)$")


class OutputFolderError(ValueError):
    """A results folder cannot be written where asked (not empty, not a folder, no access).

    ``option`` names the argument at fault (``"out"``, ``"results_root"``) when there is one.
    """

    def __init__(self, message: str, option: str | None = None):
        super().__init__(f"{option}: {message}" if option else message)
        self.option, self.message = option, message


def destination(out: str | Path | None, results_root: str | Path, slug: str, run_id: str) -> Path:
    """Where a results folder goes: ``out`` if given, else ``results_root/<slug>/<run id>``.

    Raises
    ------
    OutputFolderError
        ``out`` or ``results_root`` is an empty string (it would mean the current folder).
    """
    if out is not None and str(out) == "":
        raise OutputFolderError("empty path; give a folder name", "out")
    if str(results_root) == "":
        raise OutputFolderError("empty path; give a folder name", "results_root")
    return Path(out) if out is not None else Path(results_root) / slug / run_id


def check_destination(path: Path) -> None:
    """Refuse a destination that exists and is a file, or a folder that is not empty.

    Raises
    ------
    OutputFolderError
        With a one-line message naming the path.
    """
    if path.exists() and not path.is_dir():
        raise OutputFolderError(f"{path}: output path exists and is not a folder")
    if path.is_dir() and any(path.iterdir()):
        raise OutputFolderError(
            f"{path}: output folder exists and is not empty; choose another folder or remove it"
        )


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_staging(parent: Path, name: str | None = None) -> list[Path]:
    """Remove hidden staging folders in ``parent`` whose writing process no longer exists.

    Parameters
    ----------
    parent
        Folder to clean.
    name
        Only staging folders of this destination name (default: all).

    Returns
    -------
    list of Path
        The folders removed.
    """
    removed = []
    if not parent.is_dir():
        return removed
    for path in parent.iterdir():
        match = _STAGING.match(path.name)
        if not match or (name is not None and match["name"] != name):
            continue
        if path.is_dir() and not _pid_alive(int(match["pid"])):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def fsync_path(path: Path) -> None:
    """Flush one file or folder to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def fsync_tree(folder: Path) -> None:
    """Flush every file and folder below ``folder`` (and itself), deepest first."""
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        fsync_path(path)
    fsync_path(folder)


def write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Write a file through a hidden temporary name, flush it, then rename it into place.

    ``write`` is called with the temporary path (e.g. ``lambda p: table.to_csv(p)``). On any
    error the temporary file is removed and ``path`` is left as it was.
    """
    temporary = path.parent / f".{path.name}.tmp-{os.getpid()}"
    try:
        write(temporary)
        fsync_path(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """:func:`write_atomic` for a UTF-8 text file."""
    write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


@contextmanager
def staged_folder(destination: Path) -> Iterator[Path]:
    """Yield a hidden temporary folder that becomes ``destination`` only if the block succeeds.

    The staging folder ``.<name>.tmp-<pid>`` sits beside ``destination`` so the final rename is
    one atomic step on the same file system. On any exception, including KeyboardInterrupt, it
    is removed together with any parent folders this call created; a process killed outright
    leaves only the hidden folder, which the next write of the same destination removes.

    Raises
    ------
    OutputFolderError
        The destination is not empty, or the staging folder (or its parents) cannot be made.
    """
    destination = Path(os.path.abspath(destination))
    check_destination(destination)
    created = [p for p in (destination.parent, *destination.parent.parents) if not p.exists()]
    remove_stale_staging(destination.parent, destination.name)
    staging = destination.parent / f".{destination.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)  # same pid: a leftover of this very process
    try:
        staging.mkdir(parents=True)
    except OSError as exc:
        raise OutputFolderError(
            f"{staging.parent}: cannot create folder ({exc.strerror})"
        ) from None
    try:
        yield staging
        fsync_tree(staging)
        os.replace(staging, destination)  # also replaces an empty folder, atomically
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in created:  # deepest first
            try:
                folder.rmdir()
            except OSError:
                break
        raise
