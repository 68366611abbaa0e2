"""painsim: how the brain's default mode network adapts to years lived with pain.

The package is layered; data flows one way, from the model up to the interfaces:

``sim.core``
    the model: parameters with sources, the DMN graph, graph metrics, the pain, coping and
    drift equations, interventions, the outcome vocabulary, and the Mesa model.
``sim.scenario``
    scenario files: the TOML schema, validated, with one-line errors.
``sim.analysis``
    statistics (intervals, bootstraps, tests, mediation).
``sim.experiments``
    what is done with a scenario: run, compare, the virtual study, sweeps.
``sim.results``
    results folders: writing, manifests, loading, replaying people.
``sim.viz``
    the house style and the figures.
``sim.interfaces``
    the ``painsim`` command and the teaching page.

The public API (``docs/python.md``) is imported lazily, so ``import sim`` stays fast:
:func:`run`, :func:`study`, :func:`sweep`, :func:`timing`, :func:`load`, :func:`load_scenario`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("painsim")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

_API = {
    "run": "sim.api",
    "sweep": "sim.api",
    "study": "sim.api",
    "calibrate": "sim.api",
    "load": "sim.api",
    "timing": "sim.api",
    "as_scenario": "sim.api",
    "load_scenario": "sim.scenario",
    "parse_scenario": "sim.scenario",
    "Scenario": "sim.scenario",
    "ScenarioError": "sim.scenario",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        import importlib

        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sim' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(__all__)
