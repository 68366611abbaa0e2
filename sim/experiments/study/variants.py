"""Versions of the study: the design as planned and every row of its sensitivity analyses.

A :class:`Variant` is the study with one thing changed: the sample size (``power``), a
recruitment rule (``design``), a causal link switched off (``mechanism``), a parameter set
(``uncertainty``), the perturbation index (``index``) or the sign of a signature edge
(``edge sign``). :func:`plan` lists the variants a scenario asks for and the populations they
need: every recruitment rule and index reuses the model's population, drift-only
counterfactuals are views of it (the same people), the rest simulate their own.
:func:`summarize` makes ``variants.csv`` (one row per variant).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.experiments.study.design import GROUPS, SBP, group_sizes, study_design
from sim.experiments.study.eligibility import Recruitment, subacute_history
from sim.experiments.study.findings import FINDINGS, detection_rates
from sim.experiments.study.indexes import index as registered_index
from sim.experiments.study.mechanisms import COUNTERFACTUAL, EDGE_SIGNS, MECHANISMS
from sim.experiments.study.pool import Pool
from sim.experiments.study.population import PopulationSpec, follow_up_years
from sim.experiments.study.uncertainty import set_scenario, set_values
from sim.scenario import Scenario

MODEL = "model"
"""Key of the scenario's own population, and of the model's view of any population."""
AGE_RANGES: tuple[tuple[float, float], ...] = ((18.0, 50.0), (30.0, 60.0), (40.0, 70.0))
"""Age ranges of the design sensitivity (those inside the population's range are used)."""
MAX_PRIOR_YEARS: tuple[float, ...] = (1.0, 5.0)
"""Limits on subacute patients' prior years with pain in the design sensitivity."""
MEDIANS: tuple[str, ...] = (
    "d_cbp_hc",
    "d_cbp_sbp",
    "d_sbp_hc",
    "r_ylp",
    "a_path",
    "b_path",
    "indirect",
    "share_mediated",
    "rho_zero",
    "mean_ylp_sbp",
    "mean_prior_ylp_sbp",
)
"""``study.csv`` columns whose median over replications ``variants.csv`` reports."""
VARIANT_COLUMNS: tuple[str, ...] = (
    "analysis",
    "variant",
    "label",
    "population",
    "view",
    "index",
    "multiplier",
    "n_hc",
    "n_sbp",
    "n_cbp",
    "replications",
    "candidates_healthy",
    "candidates_subacute",
    "candidates_chronic",
    "subacute_share_earlier_episodes",
    "subacute_median_prior_ylp",
    "replications_per_subacute",
    *(f"rate_{f.key}" for f in FINDINGS),
    *(f"median_{c}" for c in MEDIANS),
)
"""Columns of ``variants.csv`` (meanings in ``results/README.md``)."""


@dataclass(frozen=True)
class Variant:
    """One version of the study.

    Attributes
    ----------
    analysis
        ``base``, ``power``, ``design``, ``mechanism``, ``uncertainty``, ``index`` or
        ``edge sign``.
    key
        Unique name (``variant`` column of ``variants.csv`` and
        ``variant_replications.csv``).
    label
        What differs, in words.
    population, view
        Which population and which of its views (``model`` or a drift-only counterfactual)
        the variant recruits from.
    rule
        Its recruitment rules.
    multiplier
        Sample size relative to the design.
    index
        Its perturbation index.
    """

    analysis: str
    key: str
    label: str
    population: str
    view: str
    rule: Recruitment
    multiplier: float = 1.0
    index: str = "mean_abs_z"

    @property
    def job(self) -> tuple[str, str, Recruitment, float]:
        """Variants with the same job share their replications (they differ only by index)."""
        return (self.population, self.view, self.rule, self.multiplier)


def design_rules(base: Recruitment) -> list[tuple[str, Recruitment]]:
    """The recruitment rules of the design sensitivity: each choice varied from ``base``."""
    rules: list[tuple[str, Recruitment]] = []
    for prior in ("any", "none_in_12_months", "first_episode"):
        if prior != base.subacute_prior:
            rules.append((f"subacute_prior={prior}", base.replace(subacute_prior=prior)))
    limits: list[float | None] = [*MAX_PRIOR_YEARS, None]
    for limit in limits:
        if limit != base.subacute_max_prior_years and not (
            limit is None and base.subacute_max_prior_years is None
        ):
            name = "none" if limit is None else f"{limit:g}"
            rules.append(
                (f"subacute_max_prior_years={name}", base.replace(subacute_max_prior_years=limit))
            )
    for controls in ("never_in_pain", "no_chronic_history"):
        if controls != base.controls:
            rules.append((f"controls={controls}", base.replace(controls=controls)))
    low, high = base.population_ages
    for age_min, age_max in AGE_RANGES:
        inside = low <= age_min < age_max <= high
        if inside and (age_min, age_max) != (base.age_min, base.age_max):
            rules.append(
                (f"ages={age_min:g}-{age_max:g}", base.replace(age_min=age_min, age_max=age_max))
            )
    return rules


def plan(scenario: Scenario, sets: pd.DataFrame) -> tuple[dict[str, PopulationSpec], list[Variant]]:
    """The populations and variants a scenario's ``[study]`` section asks for.

    Returns
    -------
    (populations, variants)
        Population key -> what to simulate (the model's own population first), and the
        variants in report order (the first is the design as planned).
    """
    study, params = study_design(scenario), scenario.params
    base = Recruitment.from_study(study)
    primary = study.indices[0]
    variants = [Variant("base", "base", "as designed", MODEL, MODEL, base, 1.0, primary)]
    for m in dict.fromkeys(study.power_multipliers):
        if m != 1.0:
            variants.append(
                Variant("power", f"power:{m:g}x", f"{m:g} x the design", MODEL, MODEL, base, m)
            )
    views, populations = {}, {}
    checks = list(MECHANISMS) if study.mechanisms else []
    if study.counterfactual and COUNTERFACTUAL not in checks:
        checks.insert(0, COUNTERFACTUAL)
    for mech in checks:
        if mech.is_view(params):
            views[mech.key] = mech.drift(params)
            where = (MODEL, mech.key)
        else:
            populations[mech.key] = PopulationSpec(mech.scenario(scenario))
            where = (mech.key, MODEL)
        label = f"{mech.link} off: {mech.label}"
        variants.append(Variant("mechanism", f"mechanism:{mech.key}", label, *where, base))
    if study.mechanisms:
        for m in dict.fromkeys(study.power_multipliers):
            if m != 1.0 and COUNTERFACTUAL.is_view(params):
                variants.append(
                    Variant(
                        "mechanism",
                        f"mechanism:{COUNTERFACTUAL.key}:{m:g}x",
                        f"{COUNTERFACTUAL.link} off, {m:g} x the design",
                        MODEL,
                        COUNTERFACTUAL.key,
                        base,
                        m,
                    )
                )
        for sign in EDGE_SIGNS:
            views[sign.key] = sign.drift(params)
            variants.append(
                Variant("edge sign", f"edge:{sign.key}", sign.label, MODEL, sign.key, base)
            )
    if study.design_sensitivity:
        for name, rule in design_rules(base):
            variants.append(
                Variant("design", f"design:{name}", rule.label(base), MODEL, MODEL, rule)
            )
    for i in range(len(sets)):
        source = sets["source"].iloc[i]
        populations[f"set{i}"] = PopulationSpec(set_scenario(scenario, set_values(sets, i), i))
        variants.append(
            Variant(
                "uncertainty", f"set:{i}", f"parameter set {i} ({source})", f"set{i}", MODEL, base
            )
        )
    for key in study.indices[1:]:
        label = registered_index(key).label
        variants.append(Variant("index", f"index:{key}", label, MODEL, MODEL, base, 1.0, key))
    model = PopulationSpec(scenario, views=views, follow_up=follow_up_years(study))
    return {MODEL: model, **populations}, variants


def job_indices(variants: list[Variant], primary: str) -> dict[tuple, tuple[str, ...]]:
    """Per job, the indices its replications are analysed with (primary first)."""
    jobs: dict[tuple, list[str]] = {}
    for v in variants:
        jobs.setdefault(v.job, [primary])
        if v.index not in jobs[v.job]:
            jobs[v.job].append(v.index)
    return {job: tuple(keys) for job, keys in jobs.items()}


def sharing(pool: Pool, draws: np.ndarray) -> dict[str, float]:
    """Per group, mean number of replications a recruited person appears in."""
    out = {}
    for code, name in enumerate(GROUPS):
        used = draws[pool.group == code]
        used = used[used > 0]
        out[name] = float(used.mean()) if used.size else 0.0
    return out


def summary_row(
    variant: Variant,
    table: pd.DataFrame,
    pool: Pool,
    draws: np.ndarray,
    scenario: Scenario,
) -> dict[str, object]:
    """One row of ``variants.csv``."""
    study = study_design(scenario)
    n_hc, n_sbp, n_cbp = group_sizes(study, variant.multiplier)
    history = subacute_history(pool)
    counts = np.bincount(pool.group, minlength=3)
    rates = detection_rates(table, study.alpha)
    return {
        "analysis": variant.analysis,
        "variant": variant.key,
        "label": variant.label,
        "population": variant.population,
        "view": variant.view,
        "index": variant.index,
        "multiplier": variant.multiplier,
        "n_hc": n_hc,
        "n_sbp": n_sbp,
        "n_cbp": n_cbp,
        "replications": len(table),
        "candidates_healthy": int(counts[0]),
        "candidates_subacute": int(counts[SBP]),
        "candidates_chronic": int(counts[2]),
        "subacute_share_earlier_episodes": history["share_with_earlier_episodes"],
        "subacute_median_prior_ylp": history["median_prior_years_with_pain"],
        "replications_per_subacute": sharing(pool, draws)["subacute"],
        **{f"rate_{key}": value for key, value in rates.items()},
        **{f"median_{c}": float(table[c].median()) for c in MEDIANS},
    }


def summarize(rows: list[dict[str, object]]) -> pd.DataFrame:
    """``variants.csv`` from :func:`summary_row` rows."""
    return pd.DataFrame(rows, columns=list(VARIANT_COLUMNS))
