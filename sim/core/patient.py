"""Patients: the cohort's state as NumPy arrays, and Mesa agents that are views onto one row.

The model owns a :class:`Cohort` (one array entry per person); every step is whole-cohort array
work. A :class:`Patient` agent holds only its row index, so ``model.agents`` can be used to
inspect, select and script per-person events without copying any state.
"""

from __future__ import annotations

from dataclasses import dataclass

import mesa
import numpy as np

from sim.core import coping, pain
from sim.core.pain import STAGES, PainState


@dataclass
class Cohort:
    """State of every simulated person; arrays of length N unless noted.

    Attributes
    ----------
    age0
        Age in years at simulation start.
    female
        Sex (True = female).
    coping_trait, coping_state
        Stable and pain-driven parts of the catastrophizing score (PCS points).
    pain
        Episode state (:class:`sim.core.pain.PainState`).
    reversible, scar
        Reversible and irreversible connectivity adaptation (``sim.core.drift``).
    baseline, idiosyncrasy
        (N, E) float32 standard-normal draws fixed per person: healthy edge deviations and
        individual drift direction.
    """

    age0: np.ndarray
    female: np.ndarray
    coping_trait: np.ndarray
    coping_state: np.ndarray
    pain: PainState
    reversible: np.ndarray
    scar: np.ndarray
    baseline: np.ndarray
    idiosyncrasy: np.ndarray

    @property
    def size(self) -> int:
        return self.age0.size

    def take(self, rows: np.ndarray | slice) -> Cohort:
        """The state of a subset of people (copies of their entries)."""
        return Cohort(
            age0=self.age0[rows].copy(),
            female=self.female[rows].copy(),
            coping_trait=self.coping_trait[rows].copy(),
            coping_state=self.coping_state[rows].copy(),
            pain=self.pain.take(rows),
            reversible=self.reversible[rows].copy(),
            scar=self.scar[rows].copy(),
            baseline=self.baseline[rows].copy(),
            idiosyncrasy=self.idiosyncrasy[rows].copy(),
        )

    @property
    def coping(self) -> np.ndarray:
        """Observed coping score (PCS 0-52)."""
        return coping.score(self.coping_trait, self.coping_state)

    @property
    def adaptation(self) -> np.ndarray:
        """Total connectivity adaptation a in [0, 1]."""
        return self.reversible + self.scar


class Patient(mesa.Agent):
    """A person in the cohort: a thin, read-only view onto row ``index`` of the model's arrays.

    Examples
    --------
    >>> from sim.core.model import PainModel
    >>> from sim.scenario import Scenario
    >>> model = PainModel(Scenario.model_validate({"scenario": {"name": "demo", "years": 1},
    ...                                            "cohort": {"size": 3, "history": "none"}}))
    >>> p = model.patients[0]
    >>> p.stage, p.years_with_pain
    ('none', 0.0)
    """

    def __init__(self, model: mesa.Model, index: int):
        super().__init__(model)
        self.index = index

    @property
    def _cohort(self) -> Cohort:
        return self.model.cohort

    @property
    def age(self) -> float:
        return float(self._cohort.age0[self.index] + self.model.time_years)

    @property
    def female(self) -> bool:
        return bool(self._cohort.female[self.index])

    @property
    def in_pain(self) -> bool:
        return bool(self._cohort.pain.in_pain[self.index])

    def _pain_row(self) -> PainState:
        row = slice(self.index, self.index + 1)
        return PainState(**{k: v[row] for k, v in vars(self._cohort.pain).items()})

    @property
    def stage(self) -> str:
        code = pain.stage(self._pain_row(), self.model.time_years, self.model.params.pain)
        return STAGES[int(code[0])]

    @property
    def episodes(self) -> int:
        return int(self._cohort.pain.episodes[self.index])

    @property
    def years_with_pain(self) -> float:
        return float(self._cohort.pain.years_with_pain[self.index])

    @property
    def pain(self) -> float:
        """Current pain intensity, NRS 0-10."""
        now = pain.current_intensity(
            self._pain_row(), self.model.time_years, self.model.params.pain
        )
        factor = self.model.effects.pain_factor(self.model.time_years)
        return float(now[0] * (factor[self.index] if isinstance(factor, np.ndarray) else factor))

    @property
    def coping(self) -> float:
        """Current catastrophizing score, PCS 0-52, after any treatment effect."""
        c = self._cohort
        score = coping.score(c.coping_trait[self.index], c.coping_state[self.index])
        relief = self.model.effects.coping_relief(self.model.time_years)
        relief = relief[self.index] if isinstance(relief, np.ndarray) else relief
        return float(max(score - relief, 0.0))

    @property
    def adaptation(self) -> float:
        return float(self._cohort.adaptation[self.index])

    def connectivity(self) -> np.ndarray:
        """This patient's current (E,) connectivity (Pearson r), materialized on demand."""
        return self.model.connectivity(np.array([self.index]))[0]
