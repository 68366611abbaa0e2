"""Collection rules for the whole suite (the tests' own fixtures are in ``tests/conftest.py``).

``--doctest-modules`` imports every module under ``sim/`` to look for docstring examples. A
module without any (no ``>>>`` in its source) is not collected, so that collecting does not
import what only such modules need: with ``pytest -n``, every worker collects every file, and
an import that nothing in a worker's share of the tests uses is paid there for nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent / "sim"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Skip a ``sim/`` module whose source holds no docstring example."""
    path = Path(collection_path)
    if path.suffix != ".py" or PACKAGE not in path.resolve().parents:
        return None
    return ">>>" not in path.read_text(encoding="utf-8")
