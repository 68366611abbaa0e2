"""Collection rules and thread shares for the whole suite (fixtures are in ``tests/conftest.py``).

``--doctest-modules`` imports every module under ``sim/`` to look for docstring examples. A
module without any (no ``>>>`` in its source) is not collected, so that collecting does not
import what only such modules need: with ``pytest -n``, every worker collects every file, and
an import that nothing in a worker's share of the tests uses is paid there for nothing.

With ``pytest -n``, each xdist worker takes its share of the cores for BLAS, as painsim's own
worker processes do (:func:`sim.experiments.backends.share_blas_threads`): OpenBLAS would
otherwise start a thread per core in every worker, and its idle threads spin for a while after
each call, taking the core from the other worker. Results do not depend on it (the golden
tables are the same either way).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent / "sim"

if os.environ.get("PYTEST_XDIST_WORKER"):  # set before NumPy loads BLAS, which reads it once
    from sim.experiments.backends import default_workers, share_blas_threads

    share_blas_threads(
        max(1, default_workers() // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Skip a ``sim/`` module whose source holds no docstring example."""
    path = Path(collection_path)
    if path.suffix != ".py" or PACKAGE not in path.resolve().parents:
        return None
    return ">>>" not in path.read_text(encoding="utf-8")
