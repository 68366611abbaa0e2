"""The virtual Heukamp study: a cross-sectional imaging study run on simulated people.

Heukamp et al. (Pain 2025, epub 2024) scanned 39 healthy controls (HC), 77 patients with subacute
(SBP) and 31 with chronic back pain (CBP) and reported (1) DMN perturbation in CBP vs HC, (2) no
difference between CBP and SBP, (3) perturbation rising with years lived with pain (YLP) across
all patients and (4) that link mediated by cognitive pain coping. This package runs the same
study on painsim's people, many times, and counts how often each finding comes out
(docs/model.md, "Virtual Heukamp study"). One module per step:

``design``
    the ``[study]`` section, group sizes, the population and counterfactual scenarios.
``population``, ``pool``
    the study population, simulated from age 18 band by band on any backend, and everyone it
    could recruit (:class:`Pool`), with follow-up for the longitudinal design.
``eligibility``
    recruitment rules on the pool (subacute history, controls, ages): :class:`Recruitment`.
``measurement``, ``indexes``
    recruitment with age-matched controls, scanner and questionnaire noise; the registry of
    perturbation indices (:data:`INDEXES`), each against the study's own controls.
``analysis``
    the paper's analysis of one sample (:func:`analyze`) and many replications.
``findings``
    the published findings and their detection rates.
``mechanisms``, ``uncertainty``, ``variants``
    counterfactual models (one causal link off), parameter sets (Latin hypercube or a
    calibration posterior), and every version of the study a scenario asks for.
``longitudinal``
    the 6-month follow-up design of the WCP 2024 poster, in sliding windows of years with pain.
``report``, ``report_variants``
    ``findings.md``.
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
    ADDED_STUDY_COLUMNS,
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
from sim.experiments.study.eligibility import Recruitment, eligible, restrict
from sim.experiments.study.findings import (
    FINDINGS,
    FINDINGS_COLUMNS,
    Finding,
    detection_rates,
    power_summary,
    summarize_findings,
)
from sim.experiments.study.indexes import INDEXES, Index, Scans
from sim.experiments.study.longitudinal import SUMMARY_COLUMNS, WINDOW_COLUMNS
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
from sim.experiments.study.mechanisms import EDGE_SIGNS, MECHANISMS, Mechanism
from sim.experiments.study.pool import Pool
from sim.experiments.study.population import (
    POPULATION_BANDS,
    SUBACUTE_ARM_SHARE,
    PopulationSpec,
    build_populations,
    population_steps,
    simulate_population,
)
from sim.experiments.study.report import findings_markdown
from sim.experiments.study.result import StudyResult
from sim.experiments.study.simulate import check_indices, simulate_study
from sim.experiments.study.uncertainty import parameter_sets
from sim.experiments.study.variants import VARIANT_COLUMNS, Variant

__all__ = [
    "ADDED_STUDY_COLUMNS",
    "ADULT_AGE",
    "AGE_BIN_YEARS",
    "CBP",
    "EDGE_SIGNS",
    "FINDINGS",
    "FINDINGS_COLUMNS",
    "GROUPS",
    "HC",
    "INDEXES",
    "MECHANISMS",
    "POPULATION_BANDS",
    "SBP",
    "STUDY_COLUMNS",
    "STUDY_KEY",
    "SUBACUTE_ARM_SHARE",
    "SUMMARY_COLUMNS",
    "VARIANT_COLUMNS",
    "WINDOW_COLUMNS",
    "Finding",
    "Index",
    "Mechanism",
    "Pool",
    "PoolTooSmallError",
    "PopulationSpec",
    "Recruitment",
    "Scans",
    "StudyResult",
    "Variant",
    "analyze",
    "build_populations",
    "check_indices",
    "counterfactual_scenario",
    "detection_rates",
    "eligible",
    "findings_markdown",
    "group_sizes",
    "mean_coping_factor",
    "measure",
    "noise_sd",
    "observe_connectivity",
    "observe_coping",
    "override_study",
    "parameter_sets",
    "perturbation_vs_controls",
    "population_scenario",
    "population_steps",
    "power_summary",
    "recruit",
    "replicate_study",
    "restrict",
    "run_replications",
    "sample_table",
    "simulate_population",
    "simulate_study",
    "study_design",
    "summarize_findings",
]
