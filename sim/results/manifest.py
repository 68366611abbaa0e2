"""``manifest.json``: how a results folder was made, built by one function for every kind.

Every folder painsim writes has a manifest with the same core keys (:data:`CORE_KEYS`), the
folder's ``kind`` (run, study, sweep, calibration) and kind-specific keys after them; the layout
is documented in ``results/README.md``. :func:`read_manifest` reads one back and checks it, so a
damaged or foreign folder gives a one-line error instead of a traceback.
"""

from __future__ import annotations

import json
import platform
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import sim
from sim.results.folder import MANIFEST

KINDS: tuple[str, ...] = ("run", "study", "sweep", "calibration", "timing")
"""The kinds of results folder."""
KEY_PACKAGES: tuple[str, ...] = (
    "numpy",
    "pandas",
    "pyarrow",
    "mesa",
    "networkx",
    "scipy",
    "pydantic",
    "numba",
)
"""Packages whose versions every manifest records (a kind may add more)."""
EXTRA_PACKAGES: dict[str, tuple[str, ...]] = {
    "study": ("statsmodels",),
    "sweep": ("SALib", "dask", "distributed", "matplotlib"),
    "calibration": ("pyabc", "dask", "distributed"),
}
CORE_KEYS: tuple[str, ...] = (
    "kind",
    "run_id",
    "painsim_version",
    "git_commit",
    "git_dirty",
    "seed",
    "command",
    "started",
    "finished",
    "python",
    "platform",
    "packages",
    "files",
    "scenario",
)
"""Keys every manifest has, whatever its kind."""


MAX_MANIFEST_BYTES = 64 << 20
"""Largest ``manifest.json`` read (64 MiB; real ones are a few kilobytes)."""


class ManifestError(ValueError):
    """A manifest is missing, unreadable or lacks what its kind needs; ``str()`` is one line."""


def _git(root: Path, *args: str) -> str | None:
    """Output of a git command in ``root``, or None if that fails for any reason."""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def source_version() -> dict[str, Any]:
    """Git commit and dirty flag of the painsim source tree; nulls unless it is a checkout."""
    root = Path(sim.__file__).resolve().parent.parent
    # Only the tree painsim itself lives in: an installed copy inside some other repository
    # (say, a virtualenv in a project folder) must not report that project's commit.
    if not (root / ".git").exists():
        return {"git_commit": None, "git_dirty": None}
    commit = _git(root, "rev-parse", "HEAD") or None
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": None if status is None else bool(status)}


def package_versions(names: Iterable[str] = KEY_PACKAGES) -> dict[str, str | None]:
    """Installed version of each package (None if not installed)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def build_manifest(
    kind: str,
    *,
    run_id: str,
    seed: int,
    scenario: Mapping[str, Any],
    started: datetime | str | None,
    finished: datetime | str | None,
    command: Sequence[str] | None,
    files: Iterable[str],
    **extra: Any,
) -> dict[str, Any]:
    """The manifest of a results folder: core keys (:data:`CORE_KEYS`), then ``extra``.

    Parameters
    ----------
    kind
        One of :data:`KINDS`.
    run_id, seed, command
        Identity of the run; ``command`` is the command line (None from Python).
    scenario
        The resolved scenario (``Scenario.resolved()``).
    started, finished
        UTC times (datetimes or ISO strings).
    files
        Names of the files in the folder; ``manifest.json`` is added.
    extra
        Kind-specific keys (e.g. ``replicates`` and ``arms`` for a run).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown results kind '{kind}'; kinds: {', '.join(KINDS)}")

    def iso(t: datetime | str | None) -> str | None:
        return t.isoformat(timespec="seconds") if isinstance(t, datetime) else t

    packages = (*KEY_PACKAGES, *EXTRA_PACKAGES.get(kind, ()))
    return {
        "kind": kind,
        "run_id": run_id,
        "painsim_version": sim.__version__,
        **source_version(),
        "seed": seed,
        "command": list(command) if command is not None else None,
        "started": iso(started),
        "finished": iso(finished),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(packages),
        "files": sorted({*files, MANIFEST}),
        "scenario": dict(scenario),
        **extra,
    }


def result_manifest(
    kind: str,
    result: Any,
    staging: Path,
    *,
    more_files: Iterable[str] = (),
    posterior: Mapping[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """:func:`build_manifest` for a result object being written to ``staging``.

    Identity and provenance come from the result (``run_id``, ``scenario``, ``started``,
    ``finished``, ``command``); ``posterior`` (the draws a run used) is kept when given;
    ``files`` are those in ``staging`` plus ``more_files`` (written after the manifest);
    ``extra`` as for :func:`build_manifest`.
    """
    scenario = result.scenario
    return build_manifest(
        kind,
        run_id=result.run_id,
        seed=scenario.scenario.seed,
        scenario=scenario.resolved(),
        started=result.started,
        finished=result.finished,
        command=result.command,
        files=[*(p.name for p in staging.iterdir()), *more_files],
        **extra,
        **({"posterior": posterior} if posterior is not None else {}),
    )


def write_manifest(folder: Path, manifest: Mapping[str, Any]) -> None:
    """Write ``manifest.json`` into ``folder`` (inside a staged folder: no atomic rename needed)."""
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def kind_of(manifest: Mapping[str, Any]) -> str:
    """The kind of a manifest; folders written before manifests had a kind are recognized.

    Examples
    --------
    >>> kind_of({"kind": "sweep"}), kind_of({"command_kind": "study"}), kind_of({"arms": []})
    ('sweep', 'study', 'run')
    """
    if manifest.get("kind") in KINDS:
        return str(manifest["kind"])
    if manifest.get("command_kind") == "study":
        return "study"
    if "sweep" in manifest and isinstance(manifest.get("sweep"), Mapping):
        return "sweep"
    return "run"


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """Read and check ``folder/manifest.json``.

    Raises
    ------
    ManifestError
        No folder, no manifest, not JSON, not an object, or without a resolved scenario.
    """
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise ManifestError(f"{folder}: not a painsim results folder (no such folder)")
    # A FIFO or device must not block or flood the reader; manifests are a few kilobytes.
    if path.exists() and not path.is_file():
        raise ManifestError(f"{path}: not a regular file")
    if path.is_file() and path.stat().st_size > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{path}: too large for a manifest ({path.stat().st_size} bytes)")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{folder}: not a painsim results folder (no {MANIFEST})") from None
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: not a UTF-8 JSON file") from None
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise ManifestError(f"{path}: cannot read ({reason})") from None
    try:
        manifest = json.loads(text)
    except ValueError as exc:
        raise ManifestError(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise ManifestError(f"{path}: not a manifest (JSON nested too deeply)") from None
    if not isinstance(manifest, dict):
        raise ManifestError(f"{path}: must be a JSON object, not {type(manifest).__name__}")
    scenario = manifest.get("scenario")
    if not isinstance(scenario, dict) or not isinstance(scenario.get("scenario"), dict):
        raise ManifestError(f"{path}: scenario: missing or not an object (the resolved scenario)")
    return manifest
