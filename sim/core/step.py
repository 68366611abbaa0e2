"""One model step of the whole cohort, fused: pain, coping and drift in two passes.

:func:`sim.core.pain.advance`, :func:`sim.core.coping.advance` and
:func:`sim.core.drift.advance` are the model's equations, written as vectorized functions that
make about 40 passes over the cohort per step. :func:`fused_step` computes exactly the same step
in two per-person loops (Numba): every expression keeps the operation order of those functions,
so its results are identical to theirs, bit for bit (``tests/test_step.py`` checks this on
cohorts with many episodes, treatment relief and every step length). Change both together.

It is used where a step needs nothing but the new state: every step of a pain history
(:mod:`sim.core.history`) and the whole steps of a run (:class:`sim.core.model.PainModel`).
Steps split by a record time, and runs that keep each step's exposure (for replays), use the
vectorized functions. Shadow drift parameter sets (a study's counterfactual views) are advanced
in the same pass.

Two shortcuts keep the results unchanged. An episode starts when a person's Exp(1) budget
``-log(1 - u)`` falls below the step's cumulative hazard; since the budget is at least ``u``,
people whose ``u`` exceeds an upper bound of anyone's hazard in the step (most people in most
steps) need neither the budget's logarithm nor their hazard. And only the few people who start
an episode go through :func:`sim.core.pain.start_episodes` (with its SciPy draws).

Cohorts of at least ``sim.core.jit.PARALLEL_MIN_ROWS`` people run the two loops on Numba's
threads, in blocks of people (:func:`_onsets_parallel`, :func:`_exposure_parallel`); nobody's
update depends on anyone else's, and the starters are listed in row order as in the serial loop,
so the numbers are the same (``tests/test_step.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sim.core import coping, pain
from sim.core.drift import DriftParams
from sim.core.jit import PARALLEL_MIN_ROWS, njit, prange
from sim.core.pain import PainState, onset_hazard_integral
from sim.core.parameters import ModelParams
from sim.core.uniforms import StepUniforms


def fused_step(
    state: PainState,
    t: float,
    dt: float,
    uniforms: np.ndarray | StepUniforms,
    coping_trait: np.ndarray,
    coping_state: np.ndarray,
    reversible: np.ndarray,
    scar: np.ndarray,
    params: ModelParams,
    *,
    drifts: Sequence[DriftParams] | None = None,
    relief: np.ndarray | None = None,
    coping_relief: np.ndarray | None = None,
    oldest_age: float | None = None,
) -> None:
    """Advance everyone by one whole step from ``t`` to ``t + dt`` (years), in place.

    Parameters
    ----------
    state
        Cohort pain state (modified in place).
    t, dt
        Start and length of the step in years.
    uniforms
        (4, N) the step's uniforms, as for :meth:`sim.core.pain.StepDraws.from_uniforms`, or a
        :class:`sim.core.uniforms.StepUniforms` holding them (only the entries of rows 1-3 of
        the people who start an episode are then made).
    coping_trait
        (N,) coping trait (PCS points).
    coping_state
        (N,) coping state, modified in place. With the trait it gives the coping z-score of
        the step (:func:`sim.core.coping.z_score` of the score at the start of the step).
    reversible, scar
        (D, N) reversible and irreversible adaptation under each of D drift parameter sets
        (the model's and any shadows'; D may be 0), modified in place.
    params
        Model parameters.
    drifts
        The D drift parameter sets (default: the model's, for D = 1).
    relief
        (N,) factor on everyone's pain during the step (treatment relief), or None.
    coping_relief
        (N,) PCS points taken off everyone's coping score during the step (treatment), or None.
    oldest_age
        Age of the oldest person at time 0 (computed if not given).

    Examples
    --------
    >>> from sim.core.pain import draw_severity
    >>> rng = np.random.default_rng(3)
    >>> n, p = 500, ModelParams()
    >>> state = PainState.new(draw_severity(rng.random(n), p.pain), rng.random(n) < 0.5)
    >>> z, s, r, a = np.full(n, 14.0), np.zeros(n), np.zeros((1, n)), np.zeros((1, n))
    >>> for week in range(52):
    ...     fused_step(state, week / 52.1775, 1 / 52.1775, rng.random((4, n)), z, s, r, a, p)
    >>> bool(state.episodes.sum() > 0), bool((r + a).max() > 0)
    (True, True)
    """
    pp, cp = params.pain, params.coping
    n = state.in_pain.size
    if oldest_age is None:
        oldest_age = float(state.age0.max()) if n else 0.0
    hazard = pain.hazard_arguments(pp)
    weeks = pain.WEEKS_PER_YEAR
    course = (pp.onset_intensity, pp.long_plateau, pp.short_plateau,
              pp.long_tau_weeks / weeks, pp.short_tau_weeks / weeks)  # fmt: skip
    drifts = (params.drift,) if drifts is None else tuple(drifts)
    if reversible.shape != scar.shape or reversible.shape != (len(drifts), n):
        raise ValueError(f"adaptation must be ({len(drifts)}, {n}) arrays")
    relax = np.array([np.log(2.0) / d.relax_half_life for d in drifts])
    coping_rates = (cp.recovery_rate, cp.sensitization_rate, np.exp(-cp.recovery_rate * dt))
    drift_rates = (
        relax, np.array([np.exp(-r * dt) for r in relax]), np.array([d.rate for d in drifts]),
        np.array([d.coping_weight for d in drifts]),
        np.array([d.irreversible_fraction for d in drifts]),
    )  # fmt: skip
    ceiling = hazard_ceiling(oldest_age + max(t + dt, 0.0), pp) * dt
    coping_z, len1, pain1, onset = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    has_coping_relief = coping_relief is not None
    coping_minus = coping_relief if has_coping_relief else np.zeros(1)
    running = np.empty(n, bool)  # in an episode at the start of the step
    starts = np.empty(n, np.intp)
    # Numba's threads cost more than they save on small cohorts (a study's workers).
    parallel = n >= PARALLEL_MIN_ROWS
    onsets = _onsets_parallel if parallel else _onsets
    lazy = not isinstance(uniforms, np.ndarray)  # a StepUniforms, or columns of one
    first = uniforms.first if lazy else uniforms[0]
    started = onsets(0, n, t, dt, first, state.in_pain, state.onset, state.end,
                     state.persistent, state.scale, state.severity, state.episodes,
                     state.female, state.age0, coping_trait, coping_state, has_coping_relief,
                     coping_minus, cp.trait_mean, cp.trait_sd, coping.PCS_MAX, coping_z,
                     *course, *hazard, ceiling, running, len1, pain1, onset,
                     starts)  # fmt: skip
    rows = starts[:started]
    episode = uniforms.others(rows) if lazy else uniforms[1:, rows]
    pain.start_episodes(state, rows, onset[rows], episode, coping_z[rows], pp)
    has_relief = relief is not None
    factor = relief if has_relief else np.ones(1)
    exposure = _exposure_parallel if parallel else _exposure
    exposure(0, n, t, dt, state.in_pain, state.onset, state.end, state.persistent, state.scale,
             state.severity, state.years_with_pain, coping_z, running, len1, pain1, onset,
             has_relief, factor, coping_state, reversible, scar, *course, *coping_rates,
             *drift_rates)  # fmt: skip


def hazard_ceiling(oldest_age: float, p: pain.PainParams) -> float:
    """An upper bound (1/year) of anyone's onset hazard up to ``oldest_age``.

    The age factor is largest at one end of the adult ages (``history_start_age`` to the oldest
    age; no onset hazard before), and the recurrence and many-episodes extras are largest right
    after an episode. A relative margin of 1e-9 covers rounding.

    Examples
    --------
    >>> p = ModelParams().pain
    >>> bool(hazard_ceiling(70.0, p) >= hazard_ceiling(40.0, p))
    True
    """
    h0, log_age, age_ref, start_age, sex_ratio, rate_r, _, many, _, _ = pain.hazard_arguments(p)
    age_factor = max(
        np.exp(log_age * (age - age_ref) / 10.0) for age in (start_age, max(oldest_age, start_age))
    )
    base = h0 * age_factor * max(1.0, sex_ratio)
    return float((base + rate_r) * (1.0 + max(many, 0.0)) * (1.0 + 1e-9))


@njit(cache=True)
def _course(persistent, since_onset, level, onset_intensity, long_plateau, short_plateau,
            long_tau, short_tau):  # fmt: skip
    """pain.course_intensity for one person (``long_tau``/``short_tau`` in years)."""
    plateau = long_plateau if persistent else short_plateau
    tau = long_tau if persistent else short_tau
    base = plateau + (onset_intensity - plateau) * np.exp(-since_onset / tau)
    return min(max(level * base, 0.0), 10.0)


@njit(nogil=True, cache=True)
def _onsets(
    lo, hi, t, dt, budget_uniform, in_pain, onset_time, end, persistent, scale, severity, episodes,
    female, age0, trait, coping_state, has_coping_relief, coping_relief, trait_mean, trait_sd,
    pcs_max, coping_z, onset_intensity, long_plateau, short_plateau, long_tau, short_tau,
    h0, log_age, age_ref, start_age, sex_ratio, rate_r, tau_r, many, many_count, tau_m, ceiling,
    running, len1, pain1, onset, starts,
):  # fmt: skip
    """Segment 1 (running episodes) and the onset time of a new episode (NaN if none).

    For people ``lo`` to ``hi - 1``. Returns how many of them start an episode; their rows are
    the first entries of ``starts``.
    """
    t_end = t + dt
    started = 0
    for i in range(lo, hi):
        # coping.z_score of coping.score, less any treatment effect (PainModel.coping_now).
        score = min(max(trait[i] + coping_state[i], 0.0), pcs_max)
        if has_coping_relief:
            score = min(max(score - coping_relief[i], 0.0), pcs_max)
        coping_z[i] = (score - trait_mean) / trait_sd
        free_from = t
        running[i] = in_pain[i]
        len1[i] = 0.0
        pain1[i] = 0.0
        onset[i] = np.nan
        if in_pain[i]:
            stop = min(end[i], t_end)
            level = severity[i] * scale[i]
            pain1[i] = _course(persistent[i], (t + stop) / 2 - onset_time[i], level,
                               onset_intensity, long_plateau, short_plateau, long_tau,
                               short_tau)  # fmt: skip
            len1[i] = stop - t
            if end[i] > t_end:
                continue  # in pain for the whole step: no onset
            in_pain[i] = False
            free_from = t + len1[i]
        # The budget -log(1 - u) is at least u (see the module docstring).
        if budget_uniform[i] * (1.0 - 1e-12) >= ceiling:
            continue
        exposure = t_end - free_from
        total = onset_hazard_integral(
            free_from, exposure, age0[i], female[i], end[i], episodes[i], h0, log_age, age_ref,
            start_age, sex_ratio, rate_r, tau_r, many, many_count, tau_m,
        )  # fmt: skip
        needed = -np.log1p(-budget_uniform[i])
        if needed < total:
            onset[i] = free_from + exposure * needed / total
            starts[started] = i
            started += 1
    return started


@njit(nogil=True, cache=True)
def _exposure(
    lo, hi, t, dt, in_pain, onset_time, end, persistent, scale, severity, years_with_pain, coping_z,
    running, len1, pain1, onset, has_relief, relief, coping_state, reversible, scar,
    onset_intensity, long_plateau, short_plateau, long_tau, short_tau, recovery, sensitization,
    coping_decay, relax, relax_decay, rate, coping_weight, irreversible,
):  # fmt: skip
    """Segment 3 (new episodes), years with pain, and coping and drift over the four segments.

    For people ``lo`` to ``hi - 1``, on one thread: a parallel loop's start-up per call costs
    more than it saves for the small cohorts of studies and tests, and worker processes already
    use every core. Large cohorts use :func:`_exposure_parallel`.
    """
    t_end = t + dt
    for i in range(lo, hi):
        started = not np.isnan(onset[i])
        if not (running[i] or started):
            coping_state[i] = coping_state[i] * coping_decay
            for d in range(relax.size):
                reversible[d, i] = reversible[d, i] * relax_decay[d]
            continue
        len3, pain3 = 0.0, 0.0
        if started:
            stop = min(end[i], t_end)
            level = severity[i] * scale[i]
            pain3 = _course(persistent[i], (onset[i] + stop) / 2 - onset_time[i], level,
                            onset_intensity, long_plateau, short_plateau, long_tau,
                            short_tau)  # fmt: skip
            len3 = stop - onset[i]
            if end[i] <= t_end:
                in_pain[i] = False
        if running[i]:
            years_with_pain[i] += len1[i]
        if started:
            years_with_pain[i] += len3
        # The four segments pain / free / pain / free (pain.Exposure).
        d0, p0 = len1[i], pain1[i]
        d1 = dt - d0
        d2, p2, d3 = 0.0, 0.0, 0.0
        if started:
            d1 = onset[i] - t - d0
            d2, p2 = len3, pain3
            d3 = dt - d0 - d1 - len3
        if has_relief:
            p0, p2 = p0 * relief[i], p2 * relief[i]
        s = _coping_part(coping_state[i], d0, p0, recovery, sensitization)
        s = _coping_part(s, d1, 0.0, recovery, sensitization)
        s = _coping_part(s, d2, p2, recovery, sensitization)
        coping_state[i] = _coping_part(s, d3, 0.0, recovery, sensitization)
        for d in range(relax.size):  # the same exposure under each drift parameter set
            speed = rate[d] * np.exp(coping_weight[d] * coping_z[i]) / 10.0
            a_r, a_s = _drift_pain(reversible[d, i], scar[d, i], d0, p0, speed, irreversible[d])
            a_r = _drift_free(a_r, d1, relax[d])
            a_r, a_s = _drift_pain(a_r, a_s, d2, p2, speed, irreversible[d])
            reversible[d, i], scar[d, i] = _drift_free(a_r, d3, relax[d]), a_s


# Parallel twins for large cohorts: separate functions (Numba's on-disk cache keeps one
# compilation per function), each running the serial kernel on blocks of people. Every person's
# update is independent of the others', so the results are the serial ones, bit for bit.
BLOCK = 2048
"""People per block of a parallel twin (a call per block; Numba splits the blocks among threads)."""


@njit(nogil=True, parallel=True, cache=True)
def _onsets_parallel(
    lo, hi, t, dt, budget_uniform, in_pain, onset_time, end, persistent, scale, severity, episodes,
    female, age0, trait, coping_state, has_coping_relief, coping_relief, trait_mean, trait_sd,
    pcs_max, coping_z, onset_intensity, long_plateau, short_plateau, long_tau, short_tau,
    h0, log_age, age_ref, start_age, sex_ratio, rate_r, tau_r, many, many_count, tau_m, ceiling,
    running, len1, pain1, onset, starts,
):  # fmt: skip
    """:func:`_onsets` on Numba's threads; the starters' rows come out in the same order."""
    blocks = (hi - lo + BLOCK - 1) // BLOCK
    counts = np.empty(blocks, np.int64)
    for b in prange(blocks):
        first = lo + b * BLOCK
        counts[b] = _onsets(
            first, min(first + BLOCK, hi), t, dt, budget_uniform, in_pain, onset_time, end,
            persistent, scale, severity, episodes, female, age0, trait, coping_state,
            has_coping_relief, coping_relief, trait_mean, trait_sd, pcs_max, coping_z,
            onset_intensity, long_plateau, short_plateau, long_tau, short_tau, h0, log_age,
            age_ref, start_age, sex_ratio, rate_r, tau_r, many, many_count, tau_m, ceiling,
            running, len1, pain1, onset, starts[first - lo :],
        )  # fmt: skip
    # Each block wrote its starters at its own offset: close the gaps, in row order.
    started = 0
    for b in range(blocks):
        for k in range(counts[b]):
            starts[started] = starts[b * BLOCK + k]
            started += 1
    return started


@njit(nogil=True, parallel=True, cache=True)
def _exposure_parallel(
    lo, hi, t, dt, in_pain, onset_time, end, persistent, scale, severity, years_with_pain, coping_z,
    running, len1, pain1, onset, has_relief, relief, coping_state, reversible, scar,
    onset_intensity, long_plateau, short_plateau, long_tau, short_tau, recovery, sensitization,
    coping_decay, relax, relax_decay, rate, coping_weight, irreversible,
):  # fmt: skip
    """:func:`_exposure` on Numba's threads."""
    blocks = (hi - lo + BLOCK - 1) // BLOCK
    for b in prange(blocks):
        first = lo + b * BLOCK
        _exposure(
            first, min(first + BLOCK, hi), t, dt, in_pain, onset_time, end, persistent, scale,
            severity, years_with_pain, coping_z, running, len1, pain1, onset, has_relief, relief,
            coping_state, reversible, scar, onset_intensity, long_plateau, short_plateau, long_tau,
            short_tau, recovery, sensitization, coping_decay, relax, relax_decay, rate,
            coping_weight, irreversible,
        )  # fmt: skip


# An empty segment without pain leaves a state exactly as it is (its exp is 1 and its target 0),
# so it is skipped: most people in pain have one segment only.


@njit(cache=True)
def _coping_part(s, duration, pain_nrs, recovery, sensitization):
    """coping.advance over one segment."""
    if duration == 0.0 and pain_nrs == 0.0:
        return s
    target = sensitization * pain_nrs / 10.0 / recovery
    return target + (s - target) * np.exp(-recovery * duration)


@njit(cache=True)
def _drift_pain(a_r, a_s, duration, pain_nrs, speed, irreversible):
    """drift.advance over one pain segment."""
    if duration == 0.0 and pain_nrs == 0.0:
        return a_r, a_s
    gain = (1.0 - a_r - a_s) * -np.expm1(-speed * pain_nrs * duration)
    return a_r + (1.0 - irreversible) * gain, a_s + irreversible * gain


@njit(cache=True)
def _drift_free(a_r, duration, relax):
    """drift.advance over one pain-free segment."""
    if duration == 0.0:
        return a_r
    return a_r * np.exp(-relax * duration)
