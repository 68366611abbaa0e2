"""The pool: everyone a study population could recruit, with their state when met.

Built by ``sim.experiments.study.population``; recruitment rules select from it
(``sim.experiments.study.eligibility``) and replications draw their samples from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np

from sim.core.pain import WEEKS_PER_YEAR
from sim.experiments.study.design import GROUPS

STATE_COLUMNS: tuple[str, ...] = (
    "age",
    "female",
    "years_with_pain",
    "episodes",
    "pain",
    "coping",
    "adaptation",
    "episode_weeks",
    "weeks_free_before",
    "longest_episode_weeks",
)
"""What is kept of each candidate's true state when they are met (``PainModel.observe``)."""
FOLLOW_UP_COLUMNS: tuple[str, ...] = ("followup_pain", "followup_coping", "followup_weeks")
"""Pain, coping and weeks since the scan at the follow-up of a patient candidate (else NaN)."""


@dataclass(frozen=True)
class Pool:
    """Everyone the study could recruit, with their true state when they were met.

    Attributes
    ----------
    person
        (n,) index of the person in the simulated population (each appears at most once).
    group
        (n,) candidate group code: :data:`HC` (met in the cross-section, pain-free; which of
        them are controls is a recruitment rule), :data:`SBP` or :data:`CBP`.
    age, female, years_with_pain, episodes, pain, coping, adaptation
        (n,) true values at the moment of the scan.
    episode_weeks
        (n,) weeks since the onset of the current episode (NaN if not in pain).
    weeks_free_before
        (n,) pain-free weeks before the current episode (before the scan if not in pain); inf
        if there was no earlier episode.
    longest_episode_weeks
        (n,) longest finished episode before the scan (0 if none).
    edges_z
        (n, E) float32 true connectivity in Fisher z (canonical edge order).
    population
        Number of people simulated.
    followup_pain, followup_coping, followup_weeks
        (n,) true pain and coping at the follow-up scan of patient candidates and the weeks
        since their scan (NaN without follow-up).
    """

    person: np.ndarray
    group: np.ndarray
    age: np.ndarray
    female: np.ndarray
    years_with_pain: np.ndarray
    episodes: np.ndarray
    pain: np.ndarray
    coping: np.ndarray
    adaptation: np.ndarray
    episode_weeks: np.ndarray
    weeks_free_before: np.ndarray
    longest_episode_weeks: np.ndarray
    edges_z: np.ndarray
    population: int
    followup_pain: np.ndarray = field(default_factory=lambda: np.zeros(0))
    followup_coping: np.ndarray = field(default_factory=lambda: np.zeros(0))
    followup_weeks: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def rows(self, group: int) -> np.ndarray:
        """Pool rows of one candidate group."""
        return np.flatnonzero(self.group == group)

    @property
    def prior_years_with_pain(self) -> np.ndarray:
        """(n,) years with pain before the current episode (all of them if not in pain)."""
        current = np.where(np.isnan(self.episode_weeks), 0.0, self.episode_weeks)
        return np.maximum(self.years_with_pain - current / WEEKS_PER_YEAR, 0.0)

    @property
    def has_follow_up(self) -> bool:
        """Whether patient candidates were followed up (the longitudinal design)."""
        return self.followup_pain.size == self.group.size and self.group.size > 0

    def take(self, keep: np.ndarray) -> Pool:
        """The candidates selected by a boolean mask or index array, in pool order."""
        values = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray) and value.shape[:1] == self.group.shape:
                value = value[keep]
            values[f.name] = value
        return Pool(**values)

    def summary(self) -> dict[str, dict[str, float]]:
        """Candidates per group: median age, years with pain, mean true coping and adaptation."""
        out = {}
        for code, name in enumerate(GROUPS):
            rows = self.rows(code)
            ylp = self.years_with_pain[rows]
            out[name] = {
                "candidates": int(rows.size),
                "median_age": float(np.median(self.age[rows])) if rows.size else math.nan,
                "median_years_with_pain": float(np.median(ylp)) if rows.size else math.nan,
                "p01_years_with_pain": float(np.percentile(ylp, 1)) if rows.size else math.nan,
                "p99_years_with_pain": float(np.percentile(ylp, 99)) if rows.size else math.nan,
                "max_years_with_pain": float(ylp.max()) if rows.size else math.nan,
                "mean_coping": float(self.coping[rows].mean()) if rows.size else math.nan,
                "mean_adaptation": float(self.adaptation[rows].mean()) if rows.size else math.nan,
            }
        return out
