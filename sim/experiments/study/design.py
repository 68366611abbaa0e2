"""The study's design: its ``[study]`` section, group sizes, the scenarios it simulates.

Also the vocabulary the other modules of the study share: candidate group codes, the columns of
``study.csv`` and the study's random streams.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from sim.core import coping
from sim.core.parameters import ModelParams
from sim.scenario import Scenario, ScenarioError, StudySection, parse_scenario

ADULT_AGE = 18.0
"""Age at which the study population starts, without any pain history."""
STUDY_KEY = 20240710
"""First spawn-key entry of the study's random streams; model replicates use keys < 10,000."""
POOL_STREAM, REPLICATION_STREAM = 0, 1
"""Second spawn-key entry: the recruitment plan, and the replications (one stream each)."""

GROUPS: tuple[str, ...] = ("healthy", "subacute", "chronic")
"""Candidate group names, in the order of their codes :data:`HC`, :data:`SBP`, :data:`CBP`."""
HC, SBP, CBP = range(3)

STUDY_COLUMNS: tuple[str, ...] = (
    "replication",
    "n_hc",
    "n_sbp",
    "n_cbp",
    "d_cbp_hc",
    "t_cbp_hc",
    "p_cbp_hc",
    "d_cbp_sbp",
    "t_cbp_sbp",
    "p_cbp_sbp",
    "d_sbp_hc",
    "t_sbp_hc",
    "p_sbp_hc",
    "r_ylp",
    "p_ylp",
    "beta_ylp",
    "p_beta_ylp",
    "a_path",
    "p_a_path",
    "b_path",
    "p_b_path",
    "direct",
    "total",
    "indirect",
    "indirect_ci_low",
    "indirect_ci_high",
    "share_mediated",
    "mean_ylp_sbp",
    "mean_ylp_cbp",
    "mean_age_hc",
    "mean_age_patients",
    "indirect_age_sex",
    "indirect_age_sex_ci_low",
    "indirect_age_sex_ci_high",
    "rho_zero",
    "mean_prior_ylp_sbp",
)
"""Columns of ``study.csv`` (one row per replication; meanings in ``results/README.md``)."""
ADDED_STUDY_COLUMNS: tuple[str, ...] = STUDY_COLUMNS[31:]
"""Columns added after the first study folders were written (optional when a folder is read)."""


class PoolTooSmallError(ValueError):
    """The simulated population holds too few candidates for a requested group."""


def study_rng(seed: int, *key: int) -> np.random.Generator:
    """The study's random stream ``key`` of ``seed`` (see :data:`STUDY_KEY`)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(STUDY_KEY, *key)))


def study_design(scenario: Scenario, source: str = "<scenario>") -> StudySection:
    """The scenario's ``[study]`` section.

    Raises
    ------
    sim.scenario.ScenarioError
        The scenario has no ``[study]`` section.
    """
    if scenario.study is None:
        raise ScenarioError(
            source,
            "study",
            "section missing; a study needs a [study] section (see scenarios/heukamp2024.toml)",
        )
    return scenario.study


def override_study(
    scenario: Scenario, changes: Mapping[str, Any], source: str = "<scenario>"
) -> Scenario:
    """Return ``scenario`` with ``[study]`` fields replaced and everything validated again.

    Examples
    --------
    >>> s = parse_scenario({"scenario": {"name": "demo"}, "study": {}})
    >>> override_study(s, {"replications": 5}).study.replications
    5
    """
    data = scenario.model_dump()
    data["study"] = {**(data.get("study") or {}), **changes}
    return parse_scenario(data, source)


def group_sizes(study: StudySection, multiplier: float = 1.0) -> tuple[int, int, int]:
    """(healthy, subacute, chronic) sample sizes at ``multiplier`` times the design, >= 2 each.

    Halves are rounded up, so half of the Heukamp design is 20 / 39 / 16.

    Examples
    --------
    >>> group_sizes(StudySection(), 0.5)
    (20, 39, 16)
    """
    sizes = (study.n_healthy, study.n_subacute, study.n_chronic)
    return tuple(max(2, math.floor(n * multiplier + 0.5)) for n in sizes)


def population_scenario(
    scenario: Scenario, size: int | None = None, years: float | None = None
) -> Scenario:
    """The scenario of (part of) the study population: people from age 18 without history.

    Parameters
    ----------
    scenario
        A scenario with a ``[study]`` section.
    size, years
        Number of people and horizon; default ``population`` people up to ``age_max``.

    ``[cohort]`` keeps its sex ratio and coping distribution; treatment arms are dropped (the
    study observes usual care).
    """
    study = study_design(scenario)
    data = scenario.model_dump()
    years = study.age_max - ADULT_AGE if years is None else years
    data["scenario"].update(years=years, replicates=1, record_every_years=years)
    data["cohort"].update(
        size=study.population if size is None else size,
        age_min=ADULT_AGE,
        age_max=ADULT_AGE,
        history="none",
    )
    data.pop("arms", None)
    return parse_scenario(data, f"{scenario.scenario.name} (study population)")


def mean_coping_factor(params: ModelParams, points: int = 100_000) -> float:
    """Community mean of the drift's coping factor exp(gamma * z_c), over the trait distribution.

    Examples
    --------
    >>> from sim.core.parameters import apply_overrides
    >>> mean_coping_factor(apply_overrides(ModelParams(), {"drift.coping_weight": 0.0}))
    1.0
    """
    u = (np.arange(points) + 0.5) / points
    z = coping.z_score(coping.draw_trait(u, params.coping), params.coping)
    return float(np.exp(params.drift.coping_weight * z).mean())


def counterfactual_scenario(scenario: Scenario) -> Scenario:
    """The same scenario in a model where coping does not feed the drift.

    ``drift.coping_weight`` is set to 0 and ``drift.rate`` multiplied by the community mean of
    exp(gamma * z_c) (:func:`mean_coping_factor`), so the drift is as fast on average as in
    the model, only no longer faster for people who catastrophize. Pain and coping histories
    do not depend on the drift, so the counterfactual population lives exactly the same lives;
    only connectivity differs.
    """
    params = scenario.params
    rate = params.drift.rate * mean_coping_factor(params)
    data = scenario.model_dump()
    data["parameters"] = {
        **data["parameters"],
        "drift.coping_weight": 0.0,
        "drift.rate": min(rate, 52.0),
    }
    return parse_scenario(data, f"{scenario.scenario.name} (counterfactual)")
