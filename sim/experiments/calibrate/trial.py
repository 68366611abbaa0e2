"""The ``interventions`` calibration experiment: one trial population, every treatment at once.

A population of adults with simulated pain histories lives to ``start_year``; everyone then in
a chronic episode is kept (:func:`trial_population`). Each parameter set sends these same people
through every arm, usual care, CBT, MBSR, ACT, PRT and TMS, as branches of the one population
with the same random numbers (``PainModel.branch``: virtual twins), enrolled if they report
pain >= ``min_pain`` (a trial's inclusion). What the published trials measured is then read off
(:func:`trial_statistics`):

* Williams 2012: SMD of reported pain and of catastrophizing, CBT vs usual care, at the end of
  the course (8 weeks after enrolment); Hwang 2019: the same pain SMD for ACT;
* Cherkin 2016: responders (>= 30 % less reported pain than at enrolment) at 26 (and 52)
  weeks, CBT and MBSR minus usual care;
* Ashar 2022: PRT patients reporting pain 0-1 (rounded) after the 4-week course, and their
  mean reported pain over their mean at enrolment;
* rTMS meta-analysis: TMS minus usual care, mean reported pain 4, 6 and 8 weeks after
  enrolment.

Every time is counted from enrolment, as trials count from randomization.

The population is lived once per calibration (a pickle in the calibration's cache folder);
a parameter set costs six branches of about two thousand people over 52 weekly steps.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.core.intervention_params import with_defaults
from sim.core.interventions import KINDS
from sim.core.model import PainModel
from sim.core.pain import STAGES, WEEKS_PER_YEAR
from sim.scenario import ArmSection, Scenario, parse_scenario

if TYPE_CHECKING:
    from sim.experiments.backends import Pool as WorkerPool
    from sim.experiments.calibrate.problem import Problem

ARMS: dict[str, str] = {
    "usual care": "usual_care",
    "CBT": "cbt",
    "MBSR": "mindfulness",
    "ACT": "act",
    "PRT": "prt",
    "TMS": "tms",
}
"""Arm name -> intervention kind of the trial."""
WEEKS: tuple[int, ...] = (4, 6, 8, 26, 52)
"""Weeks after enrolment at which the trial is read (trials count from randomization)."""
POST_WEEKS: dict[str, int] = {"cbt": 8, "act": 8, "mindfulness": 8, "prt": 4}
"""End of each course (weeks): CBT, ACT and MBSR 8 weekly sessions; PRT 9 sessions in 4 weeks."""
PAIN_FREE = 1.5
"""Reported pain below this rounds to 0 or 1 of 10: Ashar's "pain-free or nearly"."""


def trial_scenario(scenario: Scenario, design: Any) -> Scenario:
    """The population of the trial: the calibration scenario's parameters, the design's size."""
    data = scenario.model_dump()
    data["scenario"].update(years=design.start_year + 1.1, dt_weeks=design.dt_weeks, replicates=1)
    data["cohort"].update(
        size=design.population, age_min=design.age_min, age_max=design.age_max, history="simulated"
    )
    for section in ("arms", "calibration", "study", "sweep", "timing"):
        data.pop(section, None)
    return parse_scenario(data, f"{scenario.scenario.name} (trial population)")


def trial_population(scenario: Scenario, design: Any) -> PainModel:
    """Everyone in a chronic episode at ``start_year``, as a model ready to branch."""
    model = PainModel(trial_scenario(scenario, design), create_agents=False)
    model.run_until(design.start_year)
    chronic = np.flatnonzero(model.stages() == STAGES.index("chronic"))
    return model.branch(chronic)


def arm(name: str, design: Any, values: dict[str, float] | None = None) -> ArmSection:
    """One trial arm; ``values`` are calibrated intervention parameters (as new defaults)."""
    kind = ARMS[name]
    spec = KINDS[kind](
        start_year=design.start_year, eligible_stages=["chronic"], min_pain=design.min_pain
    )
    if values:
        spec = with_defaults(spec, values)
    return ArmSection(name=name, interventions=[spec])


def smd(treated: np.ndarray, control: np.ndarray) -> float:
    """Standardized mean difference with the average of the two variances (as the trials)."""
    pooled = np.sqrt((treated.var(ddof=1) + control.var(ddof=1)) / 2)
    return float((treated.mean() - control.mean()) / pooled)


def run_arms(
    population: PainModel, design: Any, values: dict[str, float], key: int = 0
) -> dict[str, dict[int, dict[str, np.ndarray]]]:
    """Every arm's trial outcomes at :data:`WEEKS` after enrolment (arm -> week -> arrays).

    Patients are enrolled at the end of the branch's first step (``start_year + dt``), when
    the interventions first look; a course then runs from there, so "after treatment" is
    enrolment plus the course length.
    """
    out: dict[str, dict[int, dict[str, np.ndarray]]] = {}
    everyone = np.arange(population.cohort.size)
    enrolment = design.start_year + design.dt_weeks / WEEKS_PER_YEAR
    for name in ARMS:
        model = population.branch(everyone, arm(name, design, values), key=key)
        out[name] = {}
        for week in WEEKS:
            model.run_until(enrolment + week / WEEKS_PER_YEAR)
            out[name][week] = model.trial_outcomes()
        enrolled = out[name][WEEKS[0]]["enrolled_year"]
        assert np.allclose(enrolled[np.isfinite(enrolled)], enrolment)  # read from enrolment
    return out


def trial_statistics(outcomes: dict[str, dict[int, dict[str, np.ndarray]]]) -> dict[str, float]:
    """The published trials' measures (module docstring) from :func:`run_arms`."""
    uc = outcomes["usual care"]
    enrolled = np.isfinite(uc[52]["enrolled_year"])

    def values(name: str, week: int, column: str) -> np.ndarray:
        return np.asarray(outcomes[name][week][column], dtype=float)[enrolled]

    def responders(name: str, week: int) -> float:
        return float(np.nanmean(values(name, week, "responder")))

    stats = {
        "cbt_pain_smd_post": smd(
            values("CBT", 8, "pain_reported"), values("usual care", 8, "pain_reported")
        ),
        "cbt_coping_smd_post": smd(values("CBT", 8, "coping"), values("usual care", 8, "coping")),
        "act_pain_smd_post": smd(
            values("ACT", 8, "pain_reported"), values("usual care", 8, "pain_reported")
        ),
        "responders_usual_care_26_weeks": responders("usual care", 26),
        "responders_cbt_26_weeks": responders("CBT", 26),
        "responders_mbsr_26_weeks": responders("MBSR", 26),
    }
    for weeks in (26, 52):
        base = responders("usual care", weeks)
        stats[f"cbt_responder_gap_{weeks}_weeks"] = responders("CBT", weeks) - base
        stats[f"mbsr_responder_gap_{weeks}_weeks"] = responders("MBSR", weeks) - base
    baseline = values("PRT", 4, "baseline_pain")
    stats["prt_pain_free_post"] = float(np.mean(values("PRT", 4, "pain_reported") < PAIN_FREE))
    stats["usual_care_pain_free_post"] = float(
        np.mean(values("usual care", 4, "pain_reported") < PAIN_FREE)
    )
    stats["prt_pain_ratio_post"] = float(values("PRT", 4, "pain_reported").mean() / baseline.mean())
    stats["prt_pain_ratio_1_year"] = float(
        values("PRT", 52, "pain_reported").mean() / baseline.mean()
    )
    stats["tms_pain_difference_4_8_weeks"] = float(
        np.mean(
            [
                values("TMS", w, "pain_reported").mean()
                - values("usual care", w, "pain_reported").mean()
                for w in (4, 6, 8)
            ]
        )
    )
    stats["enrolled"] = float(enrolled.sum())
    return stats


# -- the population, lived once and shared with workers -----------------------------------------
_POPULATIONS: dict[str, PainModel] = {}


def population_file(cache: Path) -> Path:
    return Path(cache) / "trial-population.pkl"


def prepare_trial(problem: Problem, cache: Path, pool: WorkerPool | None = None, say=None) -> None:
    """Live the trial population once into ``cache`` (kept if already there).

    One population, lived in this process; ``pool`` (the calibration's workers) is not needed.
    """
    path = population_file(cache)
    if path.is_file():
        return
    Path(cache).mkdir(parents=True, exist_ok=True)
    if say:
        say(f"simulating the trial population of {problem.design.population:,} adults")
    population = trial_population(problem.scenario, problem.design)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(pickle.dumps(population, protocol=pickle.HIGHEST_PROTOCOL))
    tmp.replace(path)


def population_of(problem: Problem) -> PainModel:
    """The trial population of a problem: from its cache, or lived here (kept per process)."""
    key = str(problem.cache) if problem.cache else f"memory:{id(problem)}"
    if key not in _POPULATIONS:
        if problem.cache:
            _POPULATIONS[key] = pickle.loads(population_file(Path(problem.cache)).read_bytes())
        else:
            _POPULATIONS[key] = trial_population(problem.scenario, problem.design)
    return _POPULATIONS[key]


def simulate(problem: Problem, values: dict[str, float], replicate: int = 0) -> dict[str, float]:
    """Statistics of one parameter set (``replicate`` selects the branches' random streams)."""
    model_values = {k: v for k, v in values.items() if k.split(".")[0] not in _MODEL_GROUPS}
    if len(model_values) != len(values):
        raise ValueError("the interventions experiment calibrates intervention parameters only")
    outcomes = run_arms(population_of(problem), problem.design, values, key=replicate)
    return trial_statistics(outcomes)


_MODEL_GROUPS = ("brain", "pain", "coping", "drift", "metrics")
