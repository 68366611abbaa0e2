"""Recruitment rules: which candidates of a pool a study design may recruit.

The published inclusion rules of the Heukamp cohort are not known (brief §1 [NF]), so the rules
a reader would vary are settings (``[study]``; scenarios/README.md, "Design choices"):

``subacute_prior``
    ``"any"`` (default: any earlier back pain), ``"none_in_12_months"`` (no back pain in the 12
    months before the current episode, as Hashmi 2013 recruited [C]) or ``"first_episode"``.
``subacute_max_prior_years``
    Subacute patients with at most this many years lived with pain before the current episode.
``controls``
    ``"never_in_pain"`` (default: never an episode) or ``"no_chronic_history"`` (pain-free at
    the scan and never an episode longer than ``chronic_min_weeks``).
``age_min``, ``age_max``
    A narrower age range than the population's.

All of them act on the pool, so one simulated population serves every rule
(:func:`restrict`); candidates stay in pool order, so the default rules give exactly the pool
the study has always used.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from sim.core.pain import WEEKS_PER_YEAR
from sim.experiments.study.design import CBP, HC, SBP
from sim.experiments.study.pool import Pool
from sim.scenario import StudySection

RECRUITMENT_FIELDS: tuple[str, ...] = (
    "subacute_prior",
    "subacute_max_prior_years",
    "controls",
    "age_min",
    "age_max",
)
"""``[study]`` fields that only select candidates from the pool (no new population needed)."""
AGE_TOL_YEARS = 1.0 / 52
"""Candidates are met at the end of a model step, up to a step past an age limit."""


@dataclass(frozen=True)
class Recruitment:
    """The recruitment rules of one design (fields as in ``[study]``).

    ``population_ages`` is the age range the population was simulated for; an age rule inside
    it selects, one equal to it selects nobody out.

    Examples
    --------
    >>> rule = Recruitment.from_study(StudySection())
    >>> rule.replace(subacute_prior="first_episode").label()
    'subacute: first episode'
    """

    subacute_prior: str = "any"
    subacute_max_prior_years: float | None = None
    controls: str = "never_in_pain"
    age_min: float = 18.0
    age_max: float = 70.0
    chronic_min_weeks: float = 12.0
    population_ages: tuple[float, float] = (18.0, 70.0)

    @classmethod
    def from_study(cls, study: StudySection) -> Recruitment:
        """The rules of a ``[study]`` section."""
        return cls(
            subacute_prior=study.subacute_prior,
            subacute_max_prior_years=study.subacute_max_prior_years,
            controls=study.controls,
            age_min=study.age_min,
            age_max=study.age_max,
            chronic_min_weeks=study.chronic_min_weeks,
            population_ages=(study.age_min, study.age_max),
        )

    def replace(self, **changes: Any) -> Recruitment:
        """The same rules with some fields changed."""
        return replace(self, **changes)

    def settings(self) -> dict[str, Any]:
        """The rule's ``[study]`` fields (as a design row records them)."""
        values = asdict(self)
        return {key: values[key] for key in RECRUITMENT_FIELDS}

    def label(self, base: Recruitment | None = None) -> str:
        """What differs from ``base`` (default: the default rules), in words."""
        base = base or Recruitment(
            chronic_min_weeks=self.chronic_min_weeks,
            age_min=self.population_ages[0],
            age_max=self.population_ages[1],
            population_ages=self.population_ages,
        )
        parts = []
        if self.subacute_prior != base.subacute_prior:
            parts.append(f"subacute: {self.subacute_prior.replace('_', ' ')}")
        if self.subacute_max_prior_years != base.subacute_max_prior_years:
            limit = self.subacute_max_prior_years
            parts.append(
                "subacute: any prior years with pain"
                if limit is None
                else f"subacute: prior years with pain <= {limit:g}"
            )
        if self.controls != base.controls:
            parts.append(f"controls: {self.controls.replace('_', ' ')}")
        if (self.age_min, self.age_max) != (base.age_min, base.age_max):
            parts.append(f"ages {self.age_min:g}-{self.age_max:g}")
        return "; ".join(parts) or "as designed"


def eligible(pool: Pool, rule: Recruitment) -> np.ndarray:
    """(n,) which pool candidates the rules admit (controls, subacute and chronic patients)."""
    group = pool.group
    keep = np.ones(group.size, dtype=bool)
    low, high = rule.population_ages
    if rule.age_min > low:
        keep &= pool.age >= rule.age_min
    if rule.age_max < high:
        keep &= pool.age <= rule.age_max + AGE_TOL_YEARS
    healthy = group == HC
    if rule.controls == "never_in_pain":
        keep &= ~healthy | (pool.episodes == 0)
    else:  # no chronic history: no finished episode longer than the chronic threshold
        keep &= ~healthy | (pool.longest_episode_weeks <= rule.chronic_min_weeks)
    subacute = group == SBP
    if rule.subacute_prior == "first_episode":
        keep &= ~subacute | (pool.episodes == 1)
    elif rule.subacute_prior == "none_in_12_months":
        keep &= ~subacute | (pool.weeks_free_before >= WEEKS_PER_YEAR)
    if rule.subacute_max_prior_years is not None:
        keep &= ~subacute | (pool.prior_years_with_pain <= rule.subacute_max_prior_years)
    return keep & np.isin(group, (HC, SBP, CBP))


def restrict(pool: Pool, rule: Recruitment) -> Pool:
    """The pool of the candidates ``rule`` admits, in pool order."""
    keep = eligible(pool, rule)
    return pool if keep.all() else pool.take(keep)


def subacute_history(pool: Pool) -> dict[str, float]:
    """How much pain history the subacute candidates of a pool carry (the issue's numbers).

    Returns
    -------
    dict
        ``candidates``, ``share_with_earlier_episodes``, ``median_episodes`` (including the
        current one), ``median_prior_years_with_pain`` and ``share_first_episode``.
    """
    rows = pool.rows(SBP)
    if not rows.size:
        return {"candidates": 0} | dict.fromkeys(
            (
                "share_with_earlier_episodes",
                "median_episodes",
                "median_prior_years_with_pain",
                "share_first_episode",
            ),
            math.nan,
        )
    episodes = pool.episodes[rows]
    return {
        "candidates": int(rows.size),
        "share_with_earlier_episodes": float(np.mean(episodes > 1)),
        "median_episodes": float(np.median(episodes)),
        "median_prior_years_with_pain": float(np.median(pool.prior_years_with_pain[rows])),
        "share_first_episode": float(np.mean(episodes == 1)),
    }
