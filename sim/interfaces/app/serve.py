"""Serving the teaching page: the ``solara run`` command, its environment, and the checks first.

``painsim app`` runs Solara's server in a new Python process. That process must run the
painsim the command came from, whatever folder the command is started in: a user's own
project may hold a ``sim/`` package (or ``solara/``, ``mesa/``, a ``.env`` that Solara reads),
and none of it may be imported or read. So the server

* gets ``PYTHONSAFEPATH=1``, so Python puts neither the current folder nor a script's folder
  on ``sys.path``;
* runs in an empty private folder (:func:`server_folder`), not the folder it was started in,
  so nothing found by a relative path (Solara's ``.env``, relative ``PYTHONPATH`` entries) comes
  from there;
* finds ``sim`` where this process found it: the folder holding the imported ``sim`` package
  is put first on ``PYTHONPATH`` unless it is a site-packages folder (an installed painsim),
  and relative ``PYTHONPATH`` entries are made absolute against the folder the command was
  started in, as Python itself would have read them.

The host is checked before the server starts (:func:`check_host`), so a typing error is one
line instead of a server traceback.
"""

from __future__ import annotations

import os
import site
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

from sim.interfaces.app.model import DEFAULT_SCENARIO, SCENARIO_ENV
from sim.scenario import load_scenario

ENTRY = "sim.interfaces.app"
"""What Solara serves: this package, whose ``Page`` component is the page."""


class HostError(ValueError):
    """The address to listen on cannot be used; ``option`` is ``"host"``."""

    option = "host"

    def __init__(self, message: str):
        super().__init__(f"{self.option}: {message}")
        self.message = message


def check_host(host: str) -> None:
    """Check that ``host`` resolves to an address this computer can listen on.

    Parameters
    ----------
    host
        A name (``localhost``) or an IPv4/IPv6 address (``127.0.0.1``, ``0.0.0.0``, ``::1``).

    Raises
    ------
    HostError
        If the name does not resolve, or none of its addresses belongs to this computer.

    Examples
    --------
    >>> check_host("127.0.0.1")
    >>> check_host("no-such-host.invalid")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sim.interfaces.app.serve.HostError: host: 'no-such-host.invalid' does not resolve ...
    """
    try:
        addresses = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise HostError(
            f"'{host}' does not resolve to an address "
            "(a name of this computer, or an address such as 127.0.0.1)"
        ) from None
    for family, kind, protocol, _, address in addresses:
        # Binding port 0 (any free port) asks the system whether the address is ours.
        try:
            with socket.socket(family, kind, protocol) as probe:
                probe.bind(address)
            return
        except OSError:
            continue
    shown = ", ".join(sorted({str(a[4][0]) for a in addresses}))
    raise HostError(
        f"'{host}' ({shown}) is not an address of this computer "
        "(use 127.0.0.1 for this computer only, 0.0.0.0 for every network)"
    )


def server_command(host: str, port: int) -> list[str]:
    """The ``solara run`` command line for this page (no browser, no version check)."""
    return [
        sys.executable,
        "-m",
        "solara",
        "run",
        ENTRY,
        "--host",
        host,
        "--port",
        str(port),
        "--no-open",
        "--no-check-version",
        "--production",
    ]


def package_root() -> Path:
    """The folder holding the ``sim`` package this process runs (what the server must import)."""
    import sim

    return Path(sim.__file__).resolve().parent.parent


def _site_folders() -> set[Path]:
    folders = list(getattr(site, "getsitepackages", list)())
    if site.ENABLE_USER_SITE:
        folders.append(site.getusersitepackages())
    return {Path(folder).resolve() for folder in folders}


def server_env(scenario: Path | None) -> dict[str, str]:
    """Environment for the server process.

    No telemetry, headless matplotlib, the scenario to start from (absolute), and the import
    path described in the module docstring: no current folder, this process's ``sim`` first.
    """
    env = dict(os.environ)
    env.update(
        {
            "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",
            "MPLBACKEND": "Agg",
            "SOLARA_THEME_SHOW_BANNER": "False",
            "PYTHONSAFEPATH": "1",
        }
    )
    # An empty entry means the current folder to Python; the server must not have it.
    entries = [
        str(Path(entry).resolve())
        for entry in env.get("PYTHONPATH", "").split(os.pathsep)
        if entry.strip()
    ]
    root = package_root()
    if root not in _site_folders():
        entries = [str(root), *(entry for entry in entries if entry != str(root))]
    if entries:
        env["PYTHONPATH"] = os.pathsep.join(entries)
    else:
        env.pop("PYTHONPATH", None)
    if scenario is not None:
        env[SCENARIO_ENV] = str(Path(scenario).resolve())
    else:
        env.pop(SCENARIO_ENV, None)
    return env


def server_folder() -> Path:
    """An empty folder, private to this user, for the server to run in (POSIX).

    One folder per user in the system's temporary folder, made once and reused (nothing is
    ever written into it). If that path is not an empty private folder of this user (a link,
    someone else's, open to others, not empty), a new temporary folder is made instead.
    """
    uid = os.getuid()
    folder = Path(tempfile.gettempdir()) / f"painsim-app-{uid}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
        if (
            stat.S_ISDIR(info.st_mode)
            and info.st_uid == uid
            and not info.st_mode & 0o077
            and not any(folder.iterdir())
        ):
            return folder
    except OSError:
        pass
    return Path(tempfile.mkdtemp(prefix="painsim-app-"))


def serve(scenario: Path | None, host: str = "127.0.0.1", port: int = 8765) -> int:
    """Run the Solara server for the page in the foreground.

    On POSIX systems the current process becomes the server (``os.execve``), so signals such
    as Ctrl-C or a test's terminate reach it directly; elsewhere it runs as a child process and
    its exit code is returned.

    Parameters
    ----------
    scenario
        Scenario file to start from, or None for ``scenarios/classroom.toml``.
    host, port
        Where to listen; loopback by default, so nobody else on the network can reach it.

    Raises
    ------
    ScenarioError
        If the scenario file is missing or invalid (checked before the server starts).
    HostError
        If ``host`` does not resolve or is not an address of this computer.
    """
    load_scenario(scenario if scenario is not None else DEFAULT_SCENARIO)
    check_host(host)
    command, env = server_command(host, port), server_env(scenario)
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        os.chdir(server_folder())
        os.execve(command[0], command, env)
    with tempfile.TemporaryDirectory(prefix="painsim-app-") as folder:
        try:
            return subprocess.call(command, env=env, cwd=folder)
        except KeyboardInterrupt:
            return 0
