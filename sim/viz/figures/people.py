"""Who the brain figures and the animation show, and where their connectivity comes from.

Figures 3, 4 and 8 need connectivity matrices. Figures 3 and 4 use the run's saved connectivity
(``RunResult.connectivity``, ``connectivity.npz``) when there is any; otherwise, and always for
the animation (which needs the network at every record time), the chosen people of one
replicate are replayed from the run's scenario (:mod:`sim.results.replay`; only they are
simulated) and checked against the recorded DMN perturbation, and figure 4's groups are rebuilt
from the recorded state of everyone at the horizon.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.results.folder import CONNECTIVITY, MANIFEST
from sim.results.replay import (
    ReplayError,
    Tracked,
    check_replay,
    connectivity_from_records,
    light_model,
    pain_free_pattern,
    rebuild,
)
from sim.viz.figures.common import FigureError

ANIMATION_FRAMES_MAX = 40
"""The animation shows at most this many record times (evenly thinned)."""
SAVED = CONNECTIVITY
"""Where connectivity came from, when saved (captions name ``connectivity.npz``)."""
REBUILT = f"rebuilt from {MANIFEST}"
"""... when replayed from the recorded scenario."""


@dataclass(frozen=True)
class Chosen:
    """The people figures 3 and 8 show (replicate 0, ids within it), and why.

    Attributes
    ----------
    replicate
        The replicate they come from.
    patient
        Figure 3: a typical long-pain patient (see :func:`choose_patients`).
    treatment
        Figure 3: the arm of the patient's treated twin, or None.
    story
        Figure 8: a patient whose DMN visibly changes over the run.
    treatment_effect
        Mean twin difference in DMN perturbation of the treatment arm's enrolled patients.
    twin_gain
        The chosen patient's own twin difference (arm minus reference; NaN without a twin).
    """

    replicate: int
    patient: int
    treatment: str | None
    story: int
    treatment_effect: float
    twin_gain: float = math.nan


PATIENT_RULE = (
    "a typical long-pain patient: among the reference arm's patients (enrolled in the "
    "treatment arm, when there is one) in the top quarter of years lived with pain at the "
    "horizon, those with DMN perturbation between the quartiles of that group; of them, the "
    "one whose virtual twin in the treatment arm ends furthest below them (the largest "
    "visible contrast), or, without a treatment arm, the one at the upper quartile"
)
"""How figure 3 picks its patient (captions and docs/figures.md quote it)."""
STORY_RULE = (
    "among people of the reference arm who start without any pain history and with DMN "
    "perturbation between the quartiles of such people at the start, and who gain years "
    "with pain in the top quarter of the gains, the one whose perturbation rises most from "
    "the start to the horizon"
)
"""How the animation picks its patient."""


def _between_quartiles(values: pd.Series) -> pd.Series:
    low, high = values.quantile([0.25, 0.75])
    return (values >= low) & (values <= high)


def _first(candidates: pd.Series, ascending: bool) -> int:
    """Patient id with the smallest (or largest) value; ties: lowest id."""
    order = pd.DataFrame({"v": candidates.to_numpy(), "id": candidates.index.to_numpy()})
    order = order.sort_values(["v", "id"], ascending=[ascending, True])
    return int(order["id"].iloc[0])


def _pick_story(rep0: pd.DataFrame, ref_arm: str) -> int | None:
    rows = rep0[rep0["arm"] == ref_arm]
    start = rows[rows["year"] == rows["year"].min()].set_index("patient_id")
    end = rows[rows["year"] == rows["year"].max()].set_index("patient_id")
    fresh = start[start["years_with_pain"] <= start["years_with_pain"].min() + 1e-9]
    if fresh.empty:
        return None
    typical = fresh[_between_quartiles(fresh["dmn_perturbation"])]
    pool = typical if len(typical) else fresh
    gain = end["years_with_pain"].reindex(pool.index) - pool["years_with_pain"]
    growers = gain[gain >= gain.quantile(0.75)].index
    growers = growers[gain.loc[growers] > 0] if (gain.loc[growers] > 0).any() else growers
    rise = end.loc[growers, "dmn_perturbation"] - start.loc[growers, "dmn_perturbation"]
    return _first(rise, ascending=False)


def choose_patients(patients: pd.DataFrame, arms: Sequence[str]) -> Chosen:
    """Choose the patients of figures 3 and 8 from the recorded results (replicate 0).

    The rules guarantee a visible contrast while staying typical (:data:`PATIENT_RULE`,
    :data:`STORY_RULE`):

    * Treatment arm: the arm (other than the reference) whose enrolled patients differ most
      from their reference twins in DMN perturbation at the horizon (most negative); none if
      no arm enrolled anybody.
    * Figure 3 patient: among the reference arm's people (enrolled in that treatment arm, if
      any) in the top quarter of years lived with pain at the horizon, those with perturbation
      between the group's quartiles; of them the one whose twin ends furthest below them
      (without a treatment arm: the one at the upper quartile of perturbation).
    * Animation patient: see :data:`STORY_RULE`; so the animation shows the change happen.
    """
    rep0 = patients[patients["replicate"] == patients["replicate"].min()]
    horizon = rep0[rep0["year"] == rep0["year"].max()]
    ref = horizon[horizon["arm"] == arms[0]].set_index("patient_id")
    treatment, enrolled_ids, twins = None, None, None
    best = 0.0
    for arm in arms[1:]:
        other = horizon[horizon["arm"] == arm].set_index("patient_id")
        if "enrolled_year" not in other or not other["enrolled_year"].notna().any():
            continue
        ids = other.index[other["enrolled_year"].notna()]
        gains = other.loc[ids, "dmn_perturbation"] - ref.loc[ids, "dmn_perturbation"]
        effect = float(gains.mean())
        if treatment is None or effect < best:
            treatment, best, enrolled_ids, twins = arm, effect, ids, gains
    pool = ref if enrolled_ids is None else ref.loc[enrolled_ids]
    long_pain = pool[pool["years_with_pain"] >= pool["years_with_pain"].quantile(0.75)]
    typical = long_pain[_between_quartiles(long_pain["dmn_perturbation"])]
    typical = typical if len(typical) else long_pain
    if twins is not None:
        patient = _first(twins.reindex(typical.index), ascending=True)
        gain = float(twins.loc[patient])
    else:
        upper = typical["dmn_perturbation"].quantile(0.75)
        patient = _first((typical["dmn_perturbation"] - upper).abs(), ascending=True)
        gain = math.nan
    story = _pick_story(rep0, arms[0])
    return Chosen(
        int(rep0["replicate"].iloc[0]),
        patient,
        treatment,
        patient if story is None else story,
        best,
        gain,
    )


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


def _rebuild(job: tuple[Any, ...]) -> Tracked:
    scenario, replicate, arm, people, frames, everyone = job
    return rebuild(scenario, replicate, arm, people, frames=frames, everyone=everyone)


class Replays:
    """Replays of a run's people, in background threads when asked.

    The model spends most of a step in NumPy and Numba code that releases the interpreter
    lock, so a replay in a thread overlaps with drawing the figures that need no
    connectivity (and two replays with each other). Results are the same either way (a
    replay depends only on its arguments).
    """

    def __init__(self, jobs: dict[str, tuple[Any, ...]], *, background: bool = False):
        self.jobs = dict(jobs)
        self.done: dict[str, Tracked] = {}
        self.futures: dict[str, Any] = {}
        self.pool: ThreadPoolExecutor | None = None
        if background and self.jobs:
            self.pool = ThreadPoolExecutor(max_workers=len(self.jobs), thread_name_prefix="replay")
            self.futures = {k: self.pool.submit(_rebuild, j) for k, j in self.jobs.items()}

    def __contains__(self, name: str) -> bool:
        return name in self.jobs

    def get(self, name: str) -> Tracked:
        """The replay called ``name`` (waits for it, or runs it now)."""
        if name not in self.done:
            future = self.futures.get(name)
            self.done[name] = future.result() if future is not None else _rebuild(self.jobs[name])
        return self.done[name]

    def close(self) -> None:
        """Let the threads finish (cancelling replays not started yet)."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


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
    background
        Replay in background threads (the figures that need no connectivity are drawn
        meanwhile); the replays are waited for when first needed.

    Raises
    ------
    FigureError
        The replay does not reproduce the recorded people (when first needed).
    """

    def __init__(
        self,
        result: Any,
        *,
        animation: bool = True,
        made_with: str | None = None,
        where: str = "run",
        background: bool = False,
    ):
        self.result = result
        self.arms: list[str] = list(result.arms)
        self.scenario = result.scenario
        patients = result.patients
        self.year = float(patients["year"].max())
        self._horizon: pd.DataFrame | None = None
        self.chosen = choose_patients(patients, self.arms)
        self.replicate = self.chosen.replicate
        self.saved: np.ndarray | None = result.connectivity
        self.source = SAVED if self.saved is not None else f"{REBUILT} (replicate {self.replicate})"
        self.tracked_ids = list(dict.fromkeys([self.chosen.patient, self.chosen.story]))
        self._made_with, self._where = made_with, where
        self._track: Tracked | None = None
        self._light: Any = None
        jobs: dict[str, tuple[Any, ...]] = {}
        if self.saved is None or animation:
            frames = animation_frames(patients["year"].to_numpy()) if animation else ()
            jobs["reference"] = (
                self.scenario,
                self.replicate,
                self.arms[0],
                self.tracked_ids,
                frames,
                False,
            )
        if self.saved is None and self.chosen.treatment is not None:
            jobs["twin"] = (
                self.scenario,
                self.replicate,
                self.chosen.treatment,
                [self.chosen.patient],
                (),
                False,
            )
        self._replays = Replays(jobs, background=background)

    @property
    def track(self) -> Tracked | None:
        """The replay of the reference arm (checked against the record), or None."""
        if self._track is None and "reference" in self._replays:
            track = self._replays.get("reference")
            recorded = (
                self.at_horizon(self.arms[0], self.replicate)
                .set_index("patient_id")
                .loc[self.tracked_ids, "dmn_perturbation"]
                .to_numpy(float)
            )
            try:
                check_replay(track, recorded, made_with=self._made_with, where=self._where)
            except ReplayError as exc:
                raise FigureError(str(exc)) from None
            self._track = track
        return self._track

    def close(self) -> None:
        """Stop any replay still running (after an error)."""
        self._replays.close()

    @property
    def horizon(self) -> pd.DataFrame:
        """Every patient row at the horizon."""
        if self._horizon is None:
            patients = self.result.patients
            self._horizon = patients[patients["year"] == self.year]
        return self._horizon

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
        if arm == self.chosen.treatment and patient == self.chosen.patient:
            return self._replays.get("twin").connectivity[-1, 0]
        return rebuild(self.scenario, self.replicate, arm, [patient]).connectivity[-1, 0]

    def pain_free(self, patient: int) -> np.ndarray:
        """(R, R) the patient's own pain-free pattern at their age at the horizon."""
        age = float(self.record(self.arms[0], patient)["age"])
        return pain_free_pattern(self.scenario, self.replicate, [patient], [age], self.light_model)[
            0
        ]

    @property
    def light_model(self) -> Any:
        """The cast's replicate as drawn at the start, without its history (made once)."""
        if self._light is None:
            self._light = light_model(self.scenario, self.replicate, self.arms[0])
        return self._light

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
                matrices = self.everyone(rows)
            healthy.append(matrices[(rows["years_with_pain"] == 0).to_numpy()].astype(float))
            chronic.append(matrices[(rows["stage"] == "chronic").to_numpy()].astype(float))
        return np.concatenate(healthy), np.concatenate(chronic)

    def everyone(self, rows: pd.DataFrame) -> np.ndarray:
        """(n, R, R) float32 connectivity of the reference arm's recorded ``rows`` at the horizon.

        From their recorded age, adaptation and pain (no simulation); an arm whose treatment
        acts on the network is replayed whole instead (its effect is not recorded).
        """
        self.track  # noqa: B018 (the replay of the chosen people checks the scenario first)
        ids = rows["patient_id"].to_numpy()
        try:
            return connectivity_from_records(
                self.scenario,
                self.replicate,
                self.arms[0],
                ids,
                ages=rows["age"].to_numpy(float),
                adaptation=rows["adaptation"].to_numpy(float),
                pain=rows["pain"].to_numpy(float),
                model=self.light_model,
            )
        except ValueError:
            whole = rebuild(
                self.scenario, self.replicate, self.arms[0], self.tracked_ids, everyone=True
            )
            return whole.everyone[ids]
