"""What a virtual study produced, in memory: :class:`StudyResult`.

``sim.study`` and :func:`~sim.experiments.study.simulate_study` return one;
:meth:`StudyResult.save` writes the folder ``painsim study`` writes, and ``sim.load`` reads it
back (``sim.results.study``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from sim.experiments.provenance import utc_now
from sim.experiments.study.design import study_design
from sim.experiments.study.findings import detection_rates, power_summary
from sim.experiments.study.report import findings_markdown
from sim.scenario import Scenario


@dataclass(frozen=True, eq=False)
class StudyResult:
    """Everything a study produced; :meth:`save` writes it as ``painsim study`` does.

    Attributes
    ----------
    scenario
        The scenario that was studied (after any seed or replications override).
    study
        One row per replication at the design's sample sizes (``study.csv``; columns
        :data:`~sim.experiments.study.STUDY_COLUMNS`). Also available as :attr:`replications`.
    power
        The same for every power multiplier, with the column ``multiplier`` first
        (``power.csv``; empty without power multipliers).
    counterfactual
        The study in the model without coping -> drift (``counterfactual.csv``; empty if
        switched off).
    sample
        The participants of replication 0 as measured (``sample.csv``).
    findings
        Per published finding: median effect, central 95 % range and detection rate
        (``findings.csv``).
    pool, counterfactual_pool
        Candidate counts and ranges per group (:meth:`Pool.summary`; empty without
        counterfactual).
    sharing
        Per group, mean number of replications a recruited person appears in.
    seconds
        Wall time of each phase (population, replications, power, counterfactual, total).
    run_id, started, finished
        Identity and UTC times of the study.
    command
        The command line that made it (None from Python).
    posterior
        With parameter uncertainty: the manifest's ``posterior`` key (calibration folder, run
        id, painsim version, one parameter set per group of replications); None otherwise.
    variants
        One row per version of the study (``variants.csv``): the design, each power
        multiplier, and every design choice, mechanism check, parameter set, index and edge
        sign asked for, with detection rates and median effects.
    variant_replications
        One row per variant and replication (``variant_replications.csv``).
    longitudinal, longitudinal_replications
        The longitudinal design (``longitudinal.csv``: one row per window;
        ``longitudinal_replications.csv``: one per replication and window); None without it.
    parameter_sets
        The parameter sets of the uncertainty analysis (``parameter_sets.csv``; no rows
        without it).
    """

    scenario: Scenario
    study: pd.DataFrame
    power: pd.DataFrame
    counterfactual: pd.DataFrame
    sample: pd.DataFrame
    findings: pd.DataFrame
    pool: dict[str, dict[str, float]]
    counterfactual_pool: dict[str, dict[str, float]] = field(default_factory=dict)
    sharing: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    run_id: str = ""
    started: datetime | None = field(default_factory=utc_now)
    finished: datetime | None = field(default_factory=utc_now)
    command: list[str] | None = None
    posterior: dict[str, Any] | None = None
    variants: pd.DataFrame | None = None
    variant_replications: pd.DataFrame | None = None
    longitudinal: pd.DataFrame | None = None
    longitudinal_replications: pd.DataFrame | None = None
    parameter_sets: pd.DataFrame | None = None

    @property
    def kind(self) -> str:
        return "study"

    @property
    def replications(self) -> pd.DataFrame:
        """One row per replication (the same table as :attr:`study`, ``study.csv``)."""
        return self.study

    @property
    def alpha(self) -> float:
        """The study's significance level."""
        return study_design(self.scenario).alpha

    def detection_rates(self) -> dict[str, float]:
        """Finding key -> share of replications in which it comes out as published."""
        return detection_rates(self.study, self.alpha)

    def power_summary(self) -> pd.DataFrame:
        """Detection rate of every finding per sample-size multiplier (one row each)."""
        return power_summary(self.power, self.alpha)

    def markdown(self) -> str:
        """The report ``findings.md`` (:func:`~sim.experiments.study.findings_markdown`)."""
        return findings_markdown(self)

    def save(
        self, folder: str | Path | None = None, *, results_root: str | Path = "results"
    ) -> Path:
        """Write the results folder ``painsim study`` writes; return its path.

        ``folder`` must be new or empty; default ``results_root/<scenario slug>/<run id>/``.
        """
        from sim.results.study import save_study  # the results layer sits above experiments

        return save_study(self, folder, results_root=results_root)

    def figures(self, folder: str | Path, **options: Any) -> Any:
        """Draw the study's figures into ``folder`` (see :func:`sim.viz.make_figures`)."""
        from sim.viz.figures import make_figures  # the figures layer sits above results

        return make_figures(self, folder, **options)
