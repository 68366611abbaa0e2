"""Who the brain figures and the animation show, and where their connectivity comes from.

Figures 3, 4 and 8 need connectivity matrices. Figures 3 and 4 use the run's saved connectivity
(``RunResult.connectivity``, ``connectivity.npz``) when there is any; otherwise, and always for
the animation (which needs the network at every record time), replicate 0 of the reference arm
is replayed from the run's scenario (:mod:`sim.results.replay`) and checked against the
recorded DMN perturbation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.results.folder import CONNECTIVITY, MANIFEST
from sim.results.replay import ReplayError, Tracked, check_replay, pain_free_pattern, rebuild
from sim.viz.figures.common import FigureError

ANIMATION_FRAMES_MAX = 40
"""The animation shows at most this many record times (evenly thinned)."""
SAVED = CONNECTIVITY
"""Where connectivity came from, when saved (captions name ``connectivity.npz``)."""
REBUILT = f"rebuilt from {MANIFEST}"
"""... when replayed from the recorded scenario."""


@dataclass(frozen=True)
class Chosen:
    """The people figures 3 and 8 show (replicate 0, ids within it).

    Attributes
    ----------
    replicate
        The replicate they come from.
    patient
        Figure 3: a typical patient after many years of pain.
    treatment
        Figure 3: the arm of the patient's treated twin, or None.
    story
        Figure 8: a patient who gains years of pain during the run.
    treatment_effect
        Mean twin difference in DMN perturbation of the treatment arm's enrolled patients.
    """

    replicate: int
    patient: int
    treatment: str | None
    story: int
    treatment_effect: float


def _pick_typical(candidates: pd.DataFrame, value: str = "dmn_perturbation") -> int:
    """Patient id whose ``value`` is closest to the candidates' median (ties: lowest id)."""
    median = candidates[value].median()
    ranked = candidates.assign(_d=(candidates[value] - median).abs()).sort_values(
        ["_d", "patient_id"]
    )
    return int(ranked["patient_id"].iloc[0])


def choose_patients(patients: pd.DataFrame, arms: Sequence[str]) -> Chosen:
    """Choose the patients of figures 3 and 8 from the recorded results (replicate 0).

    * Treatment arm: the arm (other than the reference) whose enrolled patients differ most
      from their reference twins in DMN perturbation at the horizon (most negative); none if
      no arm enrolled anybody.
    * Figure 3 patient: among the reference arm's people (enrolled in that treatment arm, if
      any) in the top quarter of years lived with pain at the horizon, the one with median
      perturbation: a typical patient after many years of pain.
    * Animation patient: among people who start with the fewest years of pain and gain the
      most during the run (top quarter of the gain), the one with median perturbation at the
      horizon, so the animation shows the change happen.
    """
    rep0 = patients[patients["replicate"] == patients["replicate"].min()]
    horizon = rep0[rep0["year"] == rep0["year"].max()]
    start = rep0[rep0["year"] == rep0["year"].min()].set_index("patient_id")
    ref = horizon[horizon["arm"] == arms[0]].set_index("patient_id")
    treatment, enrolled_ids = None, None
    best = 0.0
    for arm in arms[1:]:
        other = horizon[horizon["arm"] == arm].set_index("patient_id")
        if "enrolled_year" not in other or not other["enrolled_year"].notna().any():
            continue
        ids = other.index[other["enrolled_year"].notna()]
        effect = float(
            (other.loc[ids, "dmn_perturbation"] - ref.loc[ids, "dmn_perturbation"]).mean()
        )
        if treatment is None or effect < best:
            treatment, best, enrolled_ids = arm, effect, ids
    pool = ref if enrolled_ids is None else ref.loc[enrolled_ids]
    long_pain = pool[pool["years_with_pain"] >= pool["years_with_pain"].quantile(0.75)]
    patient = _pick_typical(long_pain.reset_index())
    first = start[start["arm"] == arms[0]]
    gain = ref["years_with_pain"] - first["years_with_pain"].reindex(ref.index)
    fresh = first["years_with_pain"] <= first["years_with_pain"].min() + 1e-9
    growers = ref.loc[fresh[fresh].index.intersection(ref.index)]
    growers = growers[gain.reindex(growers.index) >= gain.reindex(growers.index).quantile(0.75)]
    story = _pick_typical(growers.reset_index()) if len(growers) else patient
    return Chosen(int(rep0["replicate"].iloc[0]), patient, treatment, story, best)


def animation_frames(years: np.ndarray, most: int = ANIMATION_FRAMES_MAX) -> tuple[float, ...]:
    """Record times the animation shows: all of them, or every k-th so at most ``most``.

    Examples
    --------
    >>> animation_frames(np.arange(0.0, 5.0))
    (0.0, 1.0, 2.0, 3.0, 4.0)
    >>> len(animation_frames(np.arange(0.0, 100.0)))
    34
    """
    times = np.sort(np.unique(years))
    step = max(1, math.ceil(len(times) / most))
    return tuple(float(t) for t in times[::step])


class Cast:
    """The chosen people of a run with their connectivity, saved or replayed.

    Parameters
    ----------
    result
        A :class:`~sim.experiments.run.RunResult`.
    animation
        The animation will be drawn (replicate 0 of the reference arm is replayed through
        every frame).
    made_with
        painsim version that made the run (for the message if a replay differs).
    where
        What the run is (its folder), for messages.

    Raises
    ------
    FigureError
        The replay does not reproduce the recorded people.
    """

    def __init__(
        self,
        result: Any,
        *,
        animation: bool = True,
        made_with: str | None = None,
        where: str = "run",
    ):
        self.result = result
        self.arms: list[str] = list(result.arms)
        self.scenario = result.scenario
        patients = result.patients
        self.year = float(patients["year"].max())
        self.horizon = patients[patients["year"] == self.year]
        self.chosen = choose_patients(patients, self.arms)
        self.replicate = self.chosen.replicate
        self.saved: np.ndarray | None = result.connectivity
        self.source = SAVED if self.saved is not None else f"{REBUILT} (replicate {self.replicate})"
        self.tracked_ids = list(dict.fromkeys([self.chosen.patient, self.chosen.story]))
        self.track: Tracked | None = None
        if self.saved is None or animation:
            frames = animation_frames(patients["year"].to_numpy()) if animation else ()
            self.track = rebuild(
                self.scenario,
                self.replicate,
                self.arms[0],
                self.tracked_ids,
                frames=frames,
                everyone=self.saved is None,
            )
            recorded = (
                self.at_horizon(self.arms[0], self.replicate)
                .set_index("patient_id")
                .loc[self.tracked_ids, "dmn_perturbation"]
                .to_numpy(float)
            )
            try:
                check_replay(self.track, recorded, made_with=made_with, where=where)
            except ReplayError as exc:
                raise FigureError(str(exc)) from None

    def at_horizon(self, arm: str, replicate: int | None = None) -> pd.DataFrame:
        """Patient rows of one arm (and replicate) at the horizon."""
        rows = self.horizon[self.horizon["arm"] == arm]
        return rows if replicate is None else rows[rows["replicate"] == replicate]

    def record(self, arm: str, patient: int) -> pd.Series:
        """One patient's row at the horizon (replicate of the cast)."""
        rows = self.at_horizon(arm, self.replicate)
        return rows[rows["patient_id"] == patient].iloc[0]

    def _block(self, arm: str, replicate: int) -> np.ndarray:
        """(N, R, R) saved connectivity of one arm and replicate (blocks: arms, then replicates)."""
        replicates = self.saved.shape[0] // len(self.arms)
        return self.saved[self.arms.index(arm) * replicates + replicate]

    def matrix(self, arm: str, patient: int) -> np.ndarray:
        """(R, R) connectivity of one patient of the cast's replicate at the horizon."""
        if self.saved is not None:
            return self._block(arm, self.replicate)[patient].astype(float)
        if arm == self.arms[0]:
            return self.track.connectivity[-1, self.tracked_ids.index(patient)]
        return rebuild(self.scenario, self.replicate, arm, [patient]).connectivity[-1, 0]

    def pain_free(self, patient: int) -> np.ndarray:
        """(R, R) the patient's own pain-free pattern at their age at the horizon."""
        age = float(self.record(self.arms[0], patient)["age"])
        return pain_free_pattern(self.scenario, self.replicate, [patient], [age])[0]

    def groups(self) -> tuple[np.ndarray, np.ndarray]:
        """(n, R, R) connectivity of the reference arm's never-in-pain and chronic people.

        All replicates from saved connectivity; the cast's replicate when replayed.
        """
        ref = self.at_horizon(self.arms[0])
        if self.saved is not None:
            replicates = sorted(int(r) for r in ref["replicate"].unique())
        else:
            replicates = [self.replicate]
        healthy, chronic = [], []
        for replicate in replicates:
            rows = ref[ref["replicate"] == replicate].sort_values("patient_id")
            if self.saved is not None:
                matrices = self._block(self.arms[0], replicate)[rows["patient_id"].to_numpy()]
            else:
                matrices = self.track.everyone[rows["patient_id"].to_numpy()]
            healthy.append(matrices[(rows["years_with_pain"] == 0).to_numpy()].astype(float))
            chronic.append(matrices[(rows["stage"] == "chronic").to_numpy()].astype(float))
        return np.concatenate(healthy), np.concatenate(chronic)
