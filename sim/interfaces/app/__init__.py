"""Interactive teaching page: watch the DMN drift with years of pain, change coping and treatment.

``painsim app [SCENARIO]`` serves this package with Solara (``solara run sim.interfaces.app``
works too: the package exposes the page's ``Page`` component). Laid out as a Mesa example:

* :mod:`~sim.interfaces.app.model`: :class:`TeachingModel` and how the page's settings become a
  validated scenario (:func:`teaching_scenario`, :func:`coping_mean_for_share`, ...);
* :mod:`~sim.interfaces.app.views`: the two figures (:class:`DriftView`, :class:`BrainView`);
* :mod:`~sim.interfaces.app.page`: the Solara components (:func:`Page`, :func:`Controls`,
  :func:`Views`, ...);
* :mod:`~sim.interfaces.app.serve`: the server command, its environment and :func:`serve`.

The page's components, the views and ``routes`` are imported when first used, so that
importing the model (:mod:`sim.interfaces.app.model`, used without a browser) or the server
command does not import Solara, ipyvuetify and the views; Solara finds ``routes`` and ``Page``
by attribute lookup, which imports them.
"""

from __future__ import annotations

import importlib
from typing import Any

from sim.interfaces.app.model import (
    ADAPTIVE,
    DEFAULT_SCENARIO,
    EARLY,
    INTERVENTIONS,
    LATE,
    LATE_YEARS_WITH_PAIN,
    MALADAPTIVE,
    MALADAPTIVE_PCS,
    PATIENTS,
    SCENARIO_ENV,
    SERIES,
    TIMINGS,
    TeachingModel,
    base_scenario,
    coping_mean_for_share,
    maladaptive_share,
    parse_seed,
    scenario_defaults,
    teaching_scenario,
)
from sim.interfaces.app.serve import (
    HostError,
    check_host,
    package_root,
    serve,
    server_command,
    server_env,
    server_folder,
)

_SUBMODULE = {
    **dict.fromkeys(
        ("INFO_HTML", "Controls", "Figures", "Monitors", "Page", "Settings", "Views"), "page"
    ),
    **dict.fromkeys(("initial_settings", "model_params"), "page"),
    **dict.fromkeys(
        ("BrainView", "DriftView", "brain_figure", "drift_figure", "figure_png"), "views"
    ),
}
"""Names imported from their submodule when first used."""


def __getattr__(name: str) -> Any:
    if name == "routes":
        # The page's one route. Solara serves a package's submodules as pages of their own
        # unless the package defines ``routes``; with this, ``solara run sim.interfaces.app``
        # shows one page.
        import solara

        page = importlib.import_module("sim.interfaces.app.page")
        value: Any = [solara.Route(path="/", component=page.Page, label="painsim")]
    elif name in _SUBMODULE:
        value = getattr(importlib.import_module(f"sim.interfaces.app.{_SUBMODULE[name]}"), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "ADAPTIVE",
    "DEFAULT_SCENARIO",
    "EARLY",
    "INFO_HTML",
    "INTERVENTIONS",
    "LATE",
    "LATE_YEARS_WITH_PAIN",
    "MALADAPTIVE",
    "MALADAPTIVE_PCS",
    "PATIENTS",
    "SCENARIO_ENV",
    "SERIES",
    "TIMINGS",
    "BrainView",
    "Controls",
    "DriftView",
    "Figures",
    "HostError",
    "Monitors",
    "Page",
    "Settings",
    "TeachingModel",
    "Views",
    "base_scenario",
    "brain_figure",
    "check_host",
    "coping_mean_for_share",
    "drift_figure",
    "figure_png",
    "initial_settings",
    "maladaptive_share",
    "model_params",
    "package_root",
    "parse_seed",
    "routes",
    "scenario_defaults",
    "serve",
    "server_command",
    "server_env",
    "server_folder",
    "teaching_scenario",
]
