"""Reading a scenario file safely: what kind of file it is, how big, how encoded, then TOML.

:func:`read_scenario_file` never blocks and never reads more than :data:`MAX_SCENARIO_BYTES`:
it looks at the file type before opening (a FIFO, a device such as ``/dev/zero``, a socket or a
folder is refused, and the file is opened non-blocking in case it is swapped meanwhile), it
refuses anything but UTF-8 text, and it turns every way the TOML parser can fail (malformed
text, integers with thousands of digits, nesting deep enough to exhaust the stack) into a
:class:`~sim.scenario.schema.ScenarioError` with a one-line message naming the file.

Examples
--------
>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "demo.toml"
>>> _ = path.write_text('[scenario]\\nname = "demo"\\n', encoding="utf-8")
>>> read_scenario_file(path)
{'scenario': {'name': 'demo'}}
>>> _ = path.write_bytes("[scenario]".encode("utf-16"))
>>> try:
...     read_scenario_file(path)
... except ValueError as exc:
...     print(exc.message)
not a UTF-8 TOML file (UTF-16 byte-order mark); save it as UTF-8
"""

from __future__ import annotations

import errno
import os
import stat
import tomllib
from pathlib import Path
from typing import Any

MAX_SCENARIO_BYTES = 1 << 20
"""Largest scenario file read, in bytes (1 MiB).

Shipped scenarios are under 5 KiB; a sweep grid with thousands of listed values still fits.
The cap keeps a mistaken path (a log, a data file, ``/dev/zero``) from being read whole.
"""

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _error(source: str, message: str) -> Exception:
    # Imported here: schema imports this module.
    from sim.scenario.schema import ScenarioError

    return ScenarioError(source, "", message)


def _file_kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a file"


def _check_mode(source: str, mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise _error(source, f"not a regular file ({_file_kind(mode)}); give a .toml file")


def _too_large(source: str, size: str) -> Exception:
    limit = MAX_SCENARIO_BYTES // 1024
    return _error(source, f"file too large ({size}; scenario files are at most {limit} KiB)")


def read_scenario_bytes(path: str | Path) -> bytes:
    """The bytes of a scenario file, after checking that it is a regular, small file.

    Raises
    ------
    sim.scenario.ScenarioError
        Missing or unreadable file, not a regular file, or larger than
        :data:`MAX_SCENARIO_BYTES`.
    """
    source = str(path)
    if source == "":
        raise _error("''", "empty file name; give a .toml file")
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise _error(source, "file not found") from None
    except OSError as exc:
        raise _error(
            source, f"cannot read file ({exc.strerror or exc.__class__.__name__})"
        ) from None
    _check_mode(source, info.st_mode)
    if info.st_size > MAX_SCENARIO_BYTES:
        raise _too_large(source, f"{info.st_size} bytes")
    # Non-blocking: if the path became a FIFO since stat(), open() must not wait for a writer.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise _error(source, "file not found") from None
        raise _error(
            source, f"cannot read file ({exc.strerror or exc.__class__.__name__})"
        ) from None
    try:
        _check_mode(source, os.fstat(descriptor).st_mode)
        chunks, size = [], 0
        while size <= MAX_SCENARIO_BYTES:
            chunk = os.read(descriptor, MAX_SCENARIO_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise _error(
            source, f"cannot read file ({exc.strerror or exc.__class__.__name__})"
        ) from None
    finally:
        os.close(descriptor)
    if size > MAX_SCENARIO_BYTES:
        raise _too_large(source, "it grew while being read")
    return b"".join(chunks)


def decode_scenario_text(data: bytes, source: str) -> str:
    """UTF-8 text of a scenario file; anything else (binary, UTF-16, a BOM) is refused.

    Raises
    ------
    sim.scenario.ScenarioError
        ``not a UTF-8 TOML file (...)``, saying what was found instead.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        reason = "UTF-16 byte-order mark"
    elif data.startswith(b"\xef\xbb\xbf"):
        reason = "it starts with a byte-order mark"
    elif b"\x00" in data:
        reason = f"NUL byte at offset {data.index(0)}: binary data or UTF-16"
    else:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            reason = f"invalid UTF-8 at byte {exc.start}"
    raise _error(source, f"not a UTF-8 TOML file ({reason}); save it as UTF-8")


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """Parse TOML text; every failure of the parser becomes one line naming ``source``.

    Raises
    ------
    sim.scenario.ScenarioError
        Malformed TOML, a number too long to convert, or nesting too deep.
    """
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _error(source, f"malformed TOML: {exc}") from None
    except RecursionError:
        raise _error(source, "malformed TOML: arrays or tables nested too deeply") from None
    except ValueError as exc:
        # Python refuses to convert integers of more than sys.get_int_max_str_digits() digits.
        if "digits" in str(exc):
            raise _error(source, "malformed TOML: an integer with thousands of digits") from None
        raise _error(source, f"malformed TOML: {' '.join(str(exc).split())}") from None


def read_scenario_file(path: str | Path) -> dict[str, Any]:
    """Read a scenario file into a dict: checked type and size, UTF-8, TOML.

    Raises
    ------
    sim.scenario.ScenarioError
        With a one-line message naming the file and what is wrong with it.
    """
    source = str(path)
    return parse_toml(decode_scenario_text(read_scenario_bytes(path), source), source)
