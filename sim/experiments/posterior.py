"""Parameter uncertainty in predictions: one parameter set per replicate, drawn from a posterior.

A calibration folder (``painsim calibrate``) holds weighted draws of the calibrated parameters.
:class:`Posterior` carries them (``sim.results.calibration.read_posterior`` reads a folder);
:meth:`Posterior.sample` draws one parameter set per replicate (weighted, with replacement,
seeded from the scenario seed), and :func:`apply_draw` gives the scenario each replicate runs:

* model parameters (``drift.rate``) replace the model's defaults; a value the scenario sets in
  its ``[parameters]`` stays (a scenario's explicit choice is not a default);
* intervention parameters (``cbt.pain_effect``, ``psychological.response_shape``) replace the
  defaults of every intervention of that kind in every arm, except fields an arm sets itself.

Intervals over replicates then include parameter uncertainty: ``summary.csv`` says so in its
``method`` column, and the manifest's ``posterior`` key names the folder, its run id and the
painsim version that made it.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sim.core.intervention_params import intervention_parameters
from sim.core.parameters import ModelParams, OverrideError, apply_overrides, parameter_table
from sim.scenario import Scenario, ScenarioError, parse_scenario

POSTERIOR_KEY = 31337
"""Spawn-key entry of the stream that draws parameter sets (apart from every model stream)."""


class PosteriorError(ValueError):
    """A posterior that cannot be used with a scenario; ``str()`` is one line."""

    def __init__(self, message: str, option: str = "posterior"):
        super().__init__(message)
        self.option, self.message = option, message


@dataclass(frozen=True)
class Posterior:
    """Weighted parameter draws from a calibration, and where they come from.

    Attributes
    ----------
    draws
        One column per parameter (dotted names) and ``weight`` (sums to 1).
    folder, run_id, painsim_version, scenario
        The calibration folder, its run id, the painsim version and scenario name that made it.
    """

    draws: pd.DataFrame
    folder: str = ""
    run_id: str = ""
    painsim_version: str = ""
    scenario: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def parameters(self) -> list[str]:
        return [c for c in self.draws.columns if c != "weight"]

    def sample(self, count: int, seed: int) -> list[dict[str, float]]:
        """``count`` weighted draws (with replacement), the same for the same ``seed``.

        Examples
        --------
        >>> p = Posterior(pd.DataFrame({"drift.rate": [0.1, 0.2], "weight": [0.0, 1.0]}))
        >>> p.sample(2, seed=1)
        [{'drift.rate': 0.2}, {'drift.rate': 0.2}]
        """
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(POSTERIOR_KEY,)))
        weights = self.draws["weight"].to_numpy(dtype=float)
        picks = rng.choice(len(self.draws), size=count, p=weights / weights.sum())
        return [{n: float(self.draws[n].iloc[i]) for n in self.parameters} for i in picks]

    def info(self, parameter_sets: list[dict[str, float]] | None = None) -> dict[str, Any]:
        """The manifest's ``posterior`` key."""
        out: dict[str, Any] = {
            "folder": self.folder,
            "run_id": self.run_id,
            "painsim_version": self.painsim_version,
            "scenario": self.scenario,
            "parameters": self.parameters,
            "draws_available": len(self.draws),
        }
        if parameter_sets is not None:
            out["parameter_sets"] = parameter_sets
        return out


def check_posterior(posterior: Posterior, scenario: Scenario) -> None:
    """Refuse a posterior the scenario cannot take (one line, naming the folder).

    Raises
    ------
    PosteriorError
        An unknown parameter (from another painsim version), a value a parameter cannot take,
        or a posterior none of whose parameters acts in this scenario.
    """
    where = posterior.folder or "posterior"
    model = [row["name"] for row in parameter_table(ModelParams())]
    trial = intervention_parameters()
    kinds = {spec.kind for arm in scenario.arm_list for spec in arm.interventions}
    acts = False
    for name in posterior.parameters:
        if name not in model and name not in trial:
            close = difflib.get_close_matches(name, [*model, *trial], n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            made = (
                f" (made by painsim {posterior.painsim_version})"
                if posterior.painsim_version
                else ""
            )
            raise PosteriorError(f"{where}: parameter '{name}' unknown to this painsim{made}{hint}")
        if name in model:
            acts = acts or name not in scenario.parameters
        else:
            acts = acts or bool(kinds & set(trial[name][0]))
    if not acts:
        raise PosteriorError(
            f"{where}: none of its parameters ({', '.join(posterior.parameters)}) acts in "
            f"scenario '{scenario.scenario.name}' (set by the scenario, or no such intervention)"
        )
    values = posterior.draws[posterior.parameters].to_numpy(dtype=float)
    if not np.isfinite(values).all() or not np.isfinite(posterior.draws["weight"]).all():
        raise PosteriorError(f"{where}: posterior draws contain missing or infinite values")
    # Every draw must be a value the scenario can run with: try the extremes of each.
    for row in (values.min(axis=0), values.max(axis=0)):
        apply_draw(scenario, dict(zip(posterior.parameters, row.tolist(), strict=True)), where)


def apply_draw(
    scenario: Scenario, values: Mapping[str, float], where: str = "posterior"
) -> Scenario:
    """The scenario one replicate runs: ``values`` as new defaults (module docstring).

    Raises
    ------
    PosteriorError
        A value a parameter cannot take.
    """
    trial = intervention_parameters()
    model = {k: float(v) for k, v in values.items() if k not in trial}
    interventions = {k: float(v) for k, v in values.items() if k in trial}
    data = scenario.model_dump(exclude_unset=True)
    try:
        apply_overrides(ModelParams(), {**model, **scenario.parameters})
    except OverrideError as exc:
        raise PosteriorError(f"{where}: {exc.name}: {exc.message}") from None
    data["parameters"] = {**model, **scenario.parameters}
    if interventions and scenario.arms:
        data["arms"] = [
            {
                **arm.model_dump(exclude_unset=True),
                "interventions": [
                    {**spec.model_dump(exclude_unset=True), **_changed(spec, interventions)}
                    for spec in arm.interventions
                ],
            }
            for arm in scenario.arms
        ]
    try:
        return parse_scenario(data, f"{scenario.scenario.name} (posterior draw)")
    except ScenarioError as exc:
        raise PosteriorError(f"{where}: {exc.field}: {exc.message}") from None


def _changed(spec: Any, values: Mapping[str, float]) -> dict[str, float]:
    """The fields of ``spec`` a draw sets (those the arm did not set itself)."""
    trial = intervention_parameters()
    out = {}
    for name, value in values.items():
        kinds, field_name = trial[name]
        if spec.kind in kinds and field_name not in spec.model_fields_set:
            out[field_name] = value
    return {"kind": spec.kind, **out} if out else {"kind": spec.kind}


# -- a virtual study under a posterior ------------------------------------------------------------
def study_under_posterior(
    scenario: Scenario,
    posterior: Posterior,
    draws: int,
    *,
    progress: bool = False,
    command: list[str] | None = None,
    backend: str = "serial",
    workers: int | None = None,
    scheduler: str | None = None,
) -> Any:
    """The virtual study with parameter uncertainty: ``draws`` parameter sets, one study each.

    The study's work is shared out: each draw simulates ``population / draws`` people (at least
    1,000) and runs ``ceil(replications / draws)`` replications (power and counterfactual
    likewise), with its own seed; the tables are joined and the findings recomputed over all
    replications, so detection rates and effect ranges are over parameter draws and samples
    together. Replication ``r`` ran draw ``r // replications_per_draw``.

    Returns
    -------
    sim.experiments.study.StudyResult
        With ``posterior`` (the manifest key: folder, run id, version, the sets, and how the
        study was shared out); ``sample`` and ``pool`` describe the first draw's population.
    """
    import math

    from sim.experiments.provenance import new_run_id, utc_now
    from sim.experiments.study import (
        StudyResult,
        override_study,
        simulate_study,
        study_design,
        summarize_findings,
    )

    study = study_design(scenario)
    check_posterior(posterior, scenario)
    seed = scenario.scenario.seed
    sets = posterior.sample(draws, seed)
    population = max(1000, math.ceil(study.population / draws))
    per_draw = math.ceil(study.replications / draws)
    started = utc_now()
    parts = []
    for g, values in enumerate(sets):
        drawn = apply_draw(scenario, values)
        drawn = override_study(drawn, {"population": population, "replications": per_draw})
        data = drawn.model_dump()
        data["scenario"]["seed"] = int(
            np.random.SeedSequence(seed, spawn_key=(POSTERIOR_KEY, g)).generate_state(1)[0]
        )
        parts.append(
            simulate_study(
                parse_scenario(data, "posterior draw"),
                progress=progress,
                backend=backend,
                workers=workers,
                scheduler=scheduler,
            )
        )

    def joined(name: str) -> pd.DataFrame:
        tables = []
        for g, part in enumerate(parts):
            table = getattr(part, name).copy()
            if "replication" in table and len(table):
                table["replication"] = table["replication"] + g * per_draw
            tables.append(table)
        return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()

    table = joined("study")
    seconds: dict[str, float] = {}
    for part in parts:
        for key, value in part.seconds.items():
            seconds[key] = seconds.get(key, 0.0) + value
    sharing = {
        key: float(np.mean([p.sharing.get(key, 0.0) for p in parts])) for key in parts[0].sharing
    }
    info = posterior.info(sets)
    info.update(draws=draws, population_per_draw=population, replications_per_draw=per_draw)
    return StudyResult(
        scenario=scenario,
        study=table,
        power=joined("power"),
        counterfactual=joined("counterfactual"),
        sample=parts[0].sample,
        findings=summarize_findings(table, study.alpha),
        pool=parts[0].pool,
        counterfactual_pool=parts[0].counterfactual_pool,
        sharing=sharing,
        seconds=seconds,
        run_id=new_run_id(started),
        started=started,
        finished=utc_now(),
        command=list(command) if command is not None else None,
        posterior=info,
    )
