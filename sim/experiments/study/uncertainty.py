"""Parameter uncertainty: the study under a list of plausible parameter sets.

Detection rates depend on parameters that are assumptions (docs/model.md, parameter table). The
study is repeated in a population per parameter set, from one of two sources:

* a calibration posterior (``posterior=``: a DataFrame with one column per dotted parameter
  name and one row per draw; e.g. the accepted particles of ``painsim calibrate``): the study
  uses ``[study] uncertainty_draws`` rows spread evenly over it (first and last included, so a
  sorted or chained posterior is covered end to end), or, if it has a ``weight`` column (an
  importance-weighted sample such as ABC-SMC particles), that many rows drawn in proportion to
  the weights by systematic resampling;
* otherwise a small Latin hypercube over the documented plausible range of each parameter in
  ``[study] uncertainty_parameters`` (default: :func:`default_parameters`), uniform within each
  range, drawn from the study's own random stream.

Every set keeps the scenario's seed, so populations differ only through the parameters (common
random numbers).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import qmc

from sim.core.parameters import (
    ModelParams,
    OverrideError,
    apply_overrides,
    parameter_table,
    plausible_bounds,
)
from sim.experiments.study.design import study_design, study_rng
from sim.scenario import Scenario, ScenarioError, parse_scenario

UNCERTAINTY_STREAM = 2
"""Second spawn-key entry of the Latin hypercube's random stream."""
NOT_SAMPLED: tuple[str, ...] = (
    "metrics.norms_per_age",
    "pain.acute_max_weeks",
    "pain.chronic_min_weeks",
    "pain.report_sd",
)
"""Parameters with a plausible range that are not model uncertainty: a numerical setting, the
stage definitions (the study has its own windows) and the pain-report noise (not used by the
cross-sectional study)."""
SET_COLUMNS: tuple[str, ...] = ("set", "source")
"""First columns of ``parameter_sets.csv``; one column per parameter follows."""


def default_parameters() -> list[str]:
    """Every model parameter with a numeric plausible range, except :data:`NOT_SAMPLED`.

    Examples
    --------
    >>> names = default_parameters()
    >>> "drift.coping_weight" in names, "metrics.norms_per_age" in names
    (True, False)
    """
    return [
        row["name"]
        for row in parameter_table(ModelParams())
        if row["name"] not in NOT_SAMPLED and plausible_bounds(row["name"]) is not None
    ]


def latin_hypercube(names: list[str], draws: int, seed: int) -> pd.DataFrame:
    """``draws`` parameter sets, one Latin-hypercube point each, within the plausible ranges.

    Examples
    --------
    >>> sets = latin_hypercube(["drift.rate", "drift.coping_weight"], 4, seed=1)
    >>> sets.shape, bool(sets["drift.rate"].between(0.05, 0.6).all())
    ((4, 2), True)
    """
    rng = study_rng(seed, UNCERTAINTY_STREAM)
    unit = qmc.LatinHypercube(d=len(names), seed=rng).random(draws)
    bounds = np.array([plausible_bounds(name) for name in names])
    return pd.DataFrame(qmc.scale(unit, bounds[:, 0], bounds[:, 1]), columns=names)


def thin(posterior: pd.DataFrame, draws: int) -> pd.DataFrame:
    """``draws`` rows spread evenly over ``posterior`` (all rows if it has no more).

    Examples
    --------
    >>> thin(pd.DataFrame({"drift.rate": np.arange(10.0)}), 3)["drift.rate"].tolist()
    [0.0, 4.0, 9.0]
    """
    if len(posterior) <= draws:
        return posterior.reset_index(drop=True)
    rows = np.linspace(0, len(posterior) - 1, draws).round().astype(int)
    return posterior.iloc[rows].reset_index(drop=True)


def resample(
    posterior: pd.DataFrame, weights: np.ndarray, draws: int, rng: np.random.Generator
) -> pd.DataFrame:
    """``draws`` rows of a weighted posterior by systematic resampling (Kitagawa 1996).

    Examples
    --------
    >>> post = pd.DataFrame({"drift.rate": [0.1, 0.2, 0.3]})
    >>> picked = resample(post, np.array([0.0, 1.0, 0.0]), 2, np.random.default_rng(0))
    >>> picked["drift.rate"].tolist()
    [0.2, 0.2]
    """
    cumulative = np.cumsum(weights / weights.sum())
    positions = (rng.random() + np.arange(draws)) / draws
    rows = np.minimum(np.searchsorted(cumulative, positions, side="right"), len(posterior) - 1)
    return posterior.iloc[rows].reset_index(drop=True)


def parameter_sets(
    scenario: Scenario, posterior: pd.DataFrame | None = None, source: str = "posterior"
) -> pd.DataFrame:
    """The parameter sets of the uncertainty analysis (``parameter_sets.csv``).

    Returns
    -------
    pandas.DataFrame
        Columns ``set`` (0, 1, ...), ``source`` (``"posterior"`` or ``"latin hypercube"``) and
        one per parameter; no rows if ``[study] uncertainty_draws`` is 0.

    Raises
    ------
    sim.scenario.ScenarioError
        A posterior column is not a model parameter, or a row is not a valid parameter set
        (field ``posterior``; one line).
    """
    study = study_design(scenario)
    draws = study.uncertainty_draws
    if draws == 0:
        return pd.DataFrame(columns=list(SET_COLUMNS))
    if posterior is not None:
        checked = _checked(posterior, source)
        if "weight" in posterior:
            rng = study_rng(scenario.scenario.seed, UNCERTAINTY_STREAM)
            sets = resample(checked, posterior["weight"].to_numpy(dtype=float), draws, rng)
        else:
            sets = thin(checked, draws)
        kind = "posterior"
    else:
        names = study.uncertainty_parameters or default_parameters()
        sets, kind = latin_hypercube(names, draws, scenario.scenario.seed), "latin hypercube"
    return pd.concat(
        [pd.DataFrame({"set": range(len(sets)), "source": kind}), sets.astype(float)], axis=1
    )


def _checked(posterior: pd.DataFrame, source: str) -> pd.DataFrame:
    numeric = posterior.drop(columns=[c for c in ("weight",) if c in posterior])
    if numeric.empty or not len(numeric.columns):
        raise ScenarioError(source, "posterior", "no parameter columns (one per dotted name)")
    for i, row in enumerate(numeric.to_dict("records")):
        try:
            apply_overrides(ModelParams(), {str(k): float(v) for k, v in row.items()})
        except (OverrideError, TypeError, ValueError) as exc:
            what = exc.message if isinstance(exc, OverrideError) else str(exc)
            name = exc.name if isinstance(exc, OverrideError) else "value"
            raise ScenarioError(source, "posterior", f"row {i}: {name}: {what}") from None
    return numeric


def set_scenario(scenario: Scenario, values: dict[str, float], index: int) -> Scenario:
    """The scenario with one parameter set's values as parameter overrides."""
    data = scenario.model_dump()
    data["parameters"] = {**data["parameters"], **values}
    return parse_scenario(data, f"{scenario.scenario.name} (parameter set {index})")


def set_values(sets: pd.DataFrame, index: int) -> dict[str, float]:
    """Parameter values (dotted name -> value) of row ``index`` of :func:`parameter_sets`."""
    row = sets.iloc[index].drop(list(SET_COLUMNS))
    return {str(k): float(v) for k, v in row.items()}
