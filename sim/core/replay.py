"""Replay people's pain with other coping and drift parameters, without simulating them again.

Connectivity adaptation never feeds back on pain or coping, and coping feeds back on pain in
one place only: the course a new episode takes (``pain.coping_odds_ratio``). So once a model has
lived a cohort's pain, the coping score and the adaptation of any person at any time follow
exactly from the pain they lived (the segments of every step, :class:`sim.core.pain.Exposure`)
for *any* drift parameters, and for any coping parameters up to the course choices made along
the way. :meth:`sim.core.model.PainModel.log_exposures` keeps those segments
(:class:`ExposureLog`); :meth:`ExposureLog.paths` cuts them per person up to a time
(:class:`PainPaths`); :func:`replay` integrates coping and drift along them with the same exact
per-segment solutions as ``sim.core.coping.advance`` and ``sim.core.drift.advance`` (tested:
equal to the model's own state to 1e-9 at the model's parameters).

The calibration of drift and coping to the Heukamp findings uses it: a study population is
simulated once and every parameter set proposed by ABC is replayed on it in milliseconds
(docs/model.md, "Calibration to the Heukamp findings").

:func:`people_model` replays a few people of a cohort exactly as they live in the whole cohort,
without simulating the others (:class:`ColumnStream` gives them their own columns of each
random stream): the figures use it for the people they show (``sim.results.replay.rebuild``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numba import njit, prange

from sim.core import coping
from sim.core.coping import CopingParams
from sim.core.drift import DriftParams
from sim.core.pain import Exposure

if TYPE_CHECKING:  # the model imports this module; only its types are needed here
    from sim.core.model import PainModel
    from sim.scenario import Scenario

TIME_TOL = 1e-9
"""Records that start less than this before a cut-off time (years) are after it."""


@dataclass(frozen=True)
class PainPaths:
    """The pain some people lived, step by step, up to a time each (one row per person).

    Attributes
    ----------
    time
        (n,) time (years) up to which the path runs (e.g. a scan).
    trait
        (n,) coping trait (PCS points).
    coping_state0, reversible0, scar0
        (n,) coping state and adaptation when the log started.
    start
        (n,) time (years) the log started.
    offsets
        (n + 1,) record ``offsets[i]:offsets[i + 1]`` belong to person i, in time order.
    step_start, step_length
        (m,) start and length (years) of each record's step (or part of a step).
    duration
        (m, 4) segment lengths pain / free / pain / free (years).
    intensity
        (m, 2) pain of the two pain segments (NRS 0-10).
    baseline, idiosyncrasy
        (n, E) float32 fixed connectivity draws (healthy deviation, drift direction).
    """

    time: np.ndarray
    trait: np.ndarray
    coping_state0: np.ndarray
    reversible0: np.ndarray
    scar0: np.ndarray
    start: np.ndarray
    offsets: np.ndarray
    step_start: np.ndarray
    step_length: np.ndarray
    duration: np.ndarray
    intensity: np.ndarray
    baseline: np.ndarray
    idiosyncrasy: np.ndarray

    @property
    def size(self) -> int:
        return self.time.size

    @staticmethod
    def concatenate(parts: list[PainPaths]) -> PainPaths:
        """Paths of several groups of people, one after the other."""
        counts = np.cumsum([0, *(p.offsets[-1] for p in parts)])
        offsets = np.concatenate(
            [[0], *(p.offsets[1:] + shift for p, shift in zip(parts, counts, strict=False))]
        )
        joined = {
            name: np.concatenate([getattr(p, name) for p in parts])
            for name in PainPaths.__dataclass_fields__
            if name != "offsets"
        }
        return PainPaths(offsets=offsets.astype(np.int64), **joined)

    def take(self, order: np.ndarray) -> PainPaths:
        """The paths of people ``order`` (an index array), in that order."""
        order = np.asarray(order, dtype=np.int64)
        lengths = np.diff(self.offsets)[order]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        records = (
            np.concatenate([np.arange(self.offsets[i], self.offsets[i + 1]) for i in order])
            if order.size
            else np.zeros(0, np.int64)
        )
        per_person = {
            name: getattr(self, name)[order]
            for name in (
                "time",
                "trait",
                "coping_state0",
                "reversible0",
                "scar0",
                "start",
                "baseline",
                "idiosyncrasy",
            )
        }
        return PainPaths(
            offsets=offsets,
            step_start=self.step_start[records],
            step_length=self.step_length[records],
            duration=self.duration[records],
            intensity=self.intensity[records],
            **per_person,
        )


class ExposureLog:
    """Every step's pain segments of a model's people, from the moment logging starts.

    Parameters
    ----------
    start
        Model time (years) at which logging starts.
    coping_state0, reversible0, scar0
        (N,) everyone's coping state and adaptation at ``start``.
    until
        (N,) time after which a person's steps are not kept (default: keep everything); a
        study that meets each person once keeps only what comes before the meeting.
    """

    def __init__(
        self,
        start: float,
        coping_state0: np.ndarray,
        reversible0: np.ndarray,
        scar0: np.ndarray,
        until: np.ndarray | None = None,
    ):
        self.start = float(start)
        self.coping_state0 = np.array(coping_state0, dtype=float)
        self.reversible0 = np.array(reversible0, dtype=float)
        self.scar0 = np.array(scar0, dtype=float)
        self.until = None if until is None else np.asarray(until, dtype=float)
        self._parts: list[tuple[float, float, np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, t: float, exposure: Exposure) -> None:
        """Keep one step (or part of a step) that starts at ``t``."""
        rows = exposure.rows
        keep = slice(None) if self.until is None else (t < self.until[rows] - TIME_TOL)
        rows = rows[keep]
        if not rows.size:
            return
        pain = exposure.intensity[list(Exposure.PAIN_SEGMENTS)][:, keep]
        self._parts.append(
            (float(t), float(exposure.dt), rows.astype(np.int32), exposure.duration[:, keep], pain)
        )

    @property
    def records(self) -> int:
        """Person-steps with pain kept so far."""
        return sum(part[2].size for part in self._parts)

    def paths(
        self,
        rows: np.ndarray,
        times: np.ndarray,
        *,
        trait: np.ndarray,
        baseline: np.ndarray,
        idiosyncrasy: np.ndarray,
    ) -> PainPaths:
        """The paths of people ``rows`` (model rows) up to ``times`` (years), one each.

        A person may appear once only. ``trait``, ``baseline`` and ``idiosyncrasy`` are their
        per-person values (:meth:`sim.core.model.PainModel.pain_paths` passes the model's).
        """
        rows = np.asarray(rows, dtype=np.int64)
        times = np.asarray(times, dtype=float)
        slot = np.full(self.coping_state0.size, -1, dtype=np.int64)
        slot[rows] = np.arange(rows.size)
        who, start, length, duration, intensity = [], [], [], [], []
        for t, dt, part_rows, part_duration, part_pain in self._parts:
            mine = slot[part_rows]
            keep = mine >= 0
            if not keep.any():
                continue
            mine = mine[keep]
            keep_idx = np.flatnonzero(keep)[t < times[mine] - TIME_TOL]
            if not keep_idx.size:
                continue
            who.append(slot[part_rows[keep_idx]])
            start.append(np.full(keep_idx.size, t))
            length.append(np.full(keep_idx.size, dt))
            duration.append(part_duration[:, keep_idx].T)
            intensity.append(part_pain[:, keep_idx].T)
        if who:
            person = np.concatenate(who)
            order = np.argsort(person, kind="stable")  # parts are in time order already
            person = person[order]
            step_start = np.concatenate(start)[order]
            step_length = np.concatenate(length)[order]
            seg_duration = np.concatenate(duration)[order]
            seg_intensity = np.concatenate(intensity)[order]
        else:
            person = np.zeros(0, np.int64)
            step_start = step_length = np.zeros(0)
            seg_duration, seg_intensity = np.zeros((0, 4)), np.zeros((0, 2))
        offsets = np.concatenate([[0], np.cumsum(np.bincount(person, minlength=rows.size))])
        return PainPaths(
            time=times,
            trait=np.asarray(trait, dtype=float),
            coping_state0=self.coping_state0[rows],
            reversible0=self.reversible0[rows],
            scar0=self.scar0[rows],
            start=np.full(rows.size, self.start),
            offsets=offsets.astype(np.int64),
            step_start=step_start,
            step_length=step_length,
            duration=np.ascontiguousarray(seg_duration),
            intensity=np.ascontiguousarray(seg_intensity),
            baseline=np.asarray(baseline),
            idiosyncrasy=np.asarray(idiosyncrasy),
        )


def replay(
    paths: PainPaths, coping_params: CopingParams, drift_params: DriftParams
) -> tuple[np.ndarray, np.ndarray]:
    """Coping score and adaptation of every path at its end, under the given parameters.

    The same exact per-segment solutions as the model's step: per record, the coping z-score
    at the start of the step sets the drift speed; pain segments add adaptation, pain-free
    time relaxes its reversible part and the coping state. Between records the person was
    pain-free for whole steps.

    Returns
    -------
    (coping, adaptation)
        (n,) PCS score (0-52) and adaptation a = a_r + a_s at ``paths.time``.
    """
    c, d = coping_params, drift_params
    return _replay_kernel(
        paths.offsets,
        paths.step_start,
        paths.step_length,
        paths.duration,
        paths.intensity,
        paths.time,
        paths.start,
        paths.trait,
        paths.coping_state0,
        paths.reversible0,
        paths.scar0,
        c.sensitization_rate,
        c.recovery_rate,
        c.trait_mean,
        c.trait_sd,
        coping.PCS_MAX,
        d.rate,
        d.coping_weight,
        np.log(2.0) / d.relax_half_life,
        d.irreversible_fraction,
    )


@njit(parallel=True, cache=True)
def _replay_kernel(
    offsets,
    step_start,
    step_length,
    duration,
    intensity,
    time,
    start,
    trait,
    s0,
    r0,
    scar0,
    alpha,
    beta,
    mu,
    sd,
    pcs_max,
    kappa,
    gamma,
    relax,
    phi,
):
    n = time.size
    score = np.empty(n)
    adaptation = np.empty(n)
    for i in prange(n):
        s, a_r, a_s, t_prev = s0[i], r0[i], scar0[i], start[i]
        for k in range(offsets[i], offsets[i + 1]):
            gap = step_start[k] - t_prev
            s *= np.exp(-beta * gap)
            a_r *= np.exp(-relax * gap)
            c = min(max(trait[i] + s, 0.0), pcs_max)
            speed = kappa * np.exp(gamma * (c - mu) / sd) / 10.0
            for seg in range(4):
                length = duration[k, seg]
                pain = intensity[k, seg // 2] if seg % 2 == 0 else 0.0
                if seg % 2 == 0:
                    gain = (1.0 - a_r - a_s) * -np.expm1(-speed * pain * length)
                    a_r += (1.0 - phi) * gain
                    a_s += phi * gain
                else:
                    a_r *= np.exp(-relax * length)
                target = alpha * pain / 10.0 / beta
                s = target + (s - target) * np.exp(-beta * length)
            t_prev = step_start[k] + step_length[k]
        gap = time[i] - t_prev
        s *= np.exp(-beta * gap)
        a_r *= np.exp(-relax * gap)
        score[i] = min(max(trait[i] + s, 0.0), pcs_max)
        adaptation[i] = a_r + a_s
    return score, adaptation


# -- some people of a cohort, exactly as they live in the whole cohort --------------------------
class ColumnStream:
    """What a whole cohort draws from a random stream, for some of its people only.

    The model draws (m, N) uniforms at once for its N people (``rng.random((4, N))`` each
    step), so person ``i``'s draw in row ``j`` is the stream's ``j * N + i``-th number. A PCG64
    generator (NumPy's default) makes one 64-bit output per double and can jump ahead in
    constant time, so the other people's numbers are skipped rather than drawn: a step costs
    the same for a few people of 100,000 as of 100.

    Parameters
    ----------
    rng
        The stream as the whole cohort would use it (fresh).
    columns
        People to keep (sorted, distinct row indices).
    size
        The whole cohort's size N.

    Examples
    --------
    >>> whole = np.random.default_rng(7).random((4, 1000))
    >>> some = ColumnStream(np.random.default_rng(7), np.array([3, 998]), 1000)
    >>> bool(np.array_equal(some.random((4, 2)), whole[:, [3, 998]]))
    True
    """

    def __init__(self, rng: np.random.Generator, columns: np.ndarray, size: int):
        self.rng = rng
        self.columns = np.asarray(columns, dtype=np.int64)
        self.size = int(size)
        if np.any(np.diff(self.columns) <= 0) or (
            self.columns.size and not 0 <= self.columns[0] <= self.columns[-1] < self.size
        ):
            raise ValueError("columns must be sorted, distinct and within the cohort")
        # Without a jump-ahead (another bit generator), draw everyone and keep the columns.
        self.skips = isinstance(rng.bit_generator, np.random.PCG64)

    def random(
        self, shape: int | tuple[int, ...] | None = None, *, out: np.ndarray | None = None
    ) -> np.ndarray:
        """The kept people's columns of ``random((m, N))`` (``shape``: (m, k) or (k,)).

        With ``out`` (as ``numpy.random.Generator.random``), fills it and returns it.
        """
        if out is not None:
            out[...] = self.random(out.shape)
            return out
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        rows = int(np.prod(shape[:-1], dtype=np.int64))
        if shape[-1] != self.columns.size:
            raise ValueError(f"asked for {shape[-1]} people, keeping {self.columns.size}")
        if not self.skips:
            return self.rng.random((rows, self.size))[:, self.columns].reshape(shape)
        out = np.empty(rows * self.columns.size)
        bits, draw, done, k = self.rng.bit_generator, self.rng.random, 0, 0
        for j in range(rows):
            for target in (j * self.size + self.columns).tolist():
                if target > done:
                    bits.advance(target - done)
                out[k] = draw()
                done, k = target + 1, k + 1
        if rows * self.size > done:
            bits.advance(rows * self.size - done)
        return out.reshape(shape)


def people_model(
    scenario: Scenario, replicate: int, people: Sequence[int], *, arm: str | None = None
) -> tuple[PainModel, np.ndarray]:
    """A model of some people of a cohort, who live exactly as they do in the whole cohort.

    Every random number a person meets is theirs alone (their column of each stream's draw),
    and nothing in a person's pain, coping, adaptation or treatment depends on anybody else,
    so a model of a few people reproduces them exactly, in a fraction of the time: the pain
    history before the start (``sim.core.history``) and the run are simulated for them only.
    The cohort's oldest person is kept too: the history starts at their 18th birthday.

    Parameters
    ----------
    scenario
        The run's scenario (``sim.scenario.Scenario``).
    replicate, arm
        Which cohort and arm (default: the first).
    people
        Row indices (patient ids) in the whole cohort.

    Returns
    -------
    (model, rows)
        A :class:`sim.core.model.PainModel` of the kept people, and where ``people`` are in it
        (``model.connectivity(rows)``, ``model.network_outcomes(rows)``...). Step it with
        ``model.iter_times`` as a whole cohort would be (the record times decide where steps
        are split).
    """
    from dataclasses import replace

    from sim.core.history import simulate_history
    from sim.core.interventions import ArmEffects
    from sim.core.model import PainModel, stream

    history = scenario.cohort.history == "simulated"
    # Everyone's draws at the start are cheap; the history is simulated below for the kept
    # people only (it comes from a stream of its own, so skipping it changes no other draw).
    light = scenario.model_copy(
        update={"cohort": scenario.cohort.model_copy(update={"history": "none"})}
    )
    model = PainModel(light, replicate, arm=arm, create_agents=False)
    whole = model.cohort
    people = np.asarray(people, dtype=np.int64)
    keep = np.unique(np.append(people, np.argmax(whole.age0) if whole.size else people))
    cohort = whole.take(keep)
    seed, n = scenario.scenario.seed, whole.size
    if history:
        rng = ColumnStream(stream(seed, replicate, "history"), keep, n)
        past = simulate_history(cohort.pain, cohort.coping_trait, model.params, rng, model.dt_years)
        cohort.coping_state, cohort.reversible, cohort.scar = (
            past.coping_state,
            past.reversible,
            past.scar,
        )
    model.scenario = scenario
    model.cohort = cohort
    # The model draws each step's uniforms from its pain stream for all its people: the kept
    # people's columns of the whole cohort's draw instead.
    model._pain_rng = ColumnStream(stream(seed, replicate, "pain"), keep, n)
    model.effects = ArmEffects(
        [
            replace(
                d,
                enrolled_at=d.enrolled_at[keep].copy(),
                dose=d.dose[keep],
                response=d.response[keep],
                baseline_pain=d.baseline_pain[keep].copy(),
                report_noise=d.report_noise[keep],
            )
            for d in model.effects.deliveries
        ]
    )
    return model, np.searchsorted(keep, people)
