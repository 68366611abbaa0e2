"""The virtual Heukamp study: a cross-sectional imaging study run on simulated people.

Heukamp et al. (Pain 2025, epub 2024) scanned 39 healthy controls (HC), 77 patients with subacute
(SBP) and 31 with chronic back pain (CBP) and reported (1) DMN perturbation in CBP vs HC, (2) no
difference between CBP and SBP, (3) perturbation rising with years lived with pain (YLP) across
all patients and (4) that link mediated by cognitive pain coping. This package runs the same
study on painsim's people, many times, and counts how often each finding comes out
(docs/model.md, "Virtual Heukamp study"). One module per step:

``design``
    the ``[study]`` section, group sizes, the population and counterfactual scenarios.
``population``
    the study population, simulated from age 18, and everyone it could recruit (:class:`Pool`).
``measurement``
    recruitment with age-matched controls, scanner and questionnaire noise, perturbation
    against the study's own controls.
``analysis``
    the paper's analysis of one sample (:func:`analyze`) and many replications.
``findings``
    the published findings and their detection rates; ``report``: ``findings.md``.
``simulate``, ``result``
    the whole study (:func:`simulate_study`) into a :class:`StudyResult`, which ``.save()``
    writes as the folder ``painsim study`` writes (``sim.results.study``).

Nothing here forces a finding: the analysis sees only what a scanner and a questionnaire would.

Examples
--------
>>> from sim.scenario import parse_scenario
>>> s = parse_scenario({"scenario": {"name": "tiny", "seed": 3}, "study": {
...     "population": 2000, "age_max": 30, "n_healthy": 4, "n_subacute": 4, "n_chronic": 4,
...     "replications": 2, "power_multipliers": [], "counterfactual": False}})
>>> res = simulate_study(s)
>>> res.kind, len(res.replications), res.findings["key"].tolist()[:2]
('study', 2, ['cbp_hc', 'cbp_sbp'])
"""

from sim.experiments.study.analysis import analyze, replicate_study, run_replications
from sim.experiments.study.design import (
    ADULT_AGE,
    CBP,
    GROUPS,
    HC,
    SBP,
    STUDY_COLUMNS,
    STUDY_KEY,
    PoolTooSmallError,
    counterfactual_scenario,
    group_sizes,
    mean_coping_factor,
    override_study,
    population_scenario,
    study_design,
)
from sim.experiments.study.findings import (
    FINDINGS,
    FINDINGS_COLUMNS,
    Finding,
    detection_rates,
    power_summary,
    summarize_findings,
)
from sim.experiments.study.measurement import (
    AGE_BIN_YEARS,
    measure,
    noise_sd,
    observe_connectivity,
    observe_coping,
    perturbation_vs_controls,
    recruit,
    sample_table,
)
from sim.experiments.study.population import (
    POPULATION_BANDS,
    SUBACUTE_ARM_SHARE,
    Pool,
    population_steps,
    simulate_population,
)
from sim.experiments.study.report import findings_markdown
from sim.experiments.study.result import StudyResult
from sim.experiments.study.simulate import simulate_study

__all__ = [
    "ADULT_AGE",
    "AGE_BIN_YEARS",
    "CBP",
    "FINDINGS",
    "FINDINGS_COLUMNS",
    "GROUPS",
    "HC",
    "POPULATION_BANDS",
    "SBP",
    "STUDY_COLUMNS",
    "STUDY_KEY",
    "SUBACUTE_ARM_SHARE",
    "Finding",
    "Pool",
    "PoolTooSmallError",
    "StudyResult",
    "analyze",
    "counterfactual_scenario",
    "detection_rates",
    "findings_markdown",
    "group_sizes",
    "mean_coping_factor",
    "measure",
    "noise_sd",
    "observe_connectivity",
    "observe_coping",
    "override_study",
    "perturbation_vs_controls",
    "population_scenario",
    "population_steps",
    "power_summary",
    "recruit",
    "replicate_study",
    "run_replications",
    "sample_table",
    "simulate_population",
    "simulate_study",
    "study_design",
    "summarize_findings",
]
