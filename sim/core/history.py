"""A cohort's pain history before the simulation starts, simulated with the model's own equations.

Every person lives from ``pain.history_start_age`` (18) to their age at the start with the same
pain, coping and drift equations as during the run, so that year 0 holds the population's steady
state: the right share in an episode (with its stage, course and intensity), years lived with
pain, episode counts, the pain-driven coping state and the accumulated connectivity adaptation.

All people are simulated together on one clock that ends at time 0 (the start): the history runs
over negative times, from ``-(oldest age - start age)``, and a person younger than the start age
has no onset hazard (``sim.core.pain.onset_hazard_integral``), so each person's history begins
exactly at their 18th birthday. A step leaves such a person exactly as they are, so each step
runs only over the people whose history has begun (a reordered copy of the cohort, oldest first);
the work is proportional to the sum over people of (age - 18) / step, and the random numbers are
drawn for everyone as before (:class:`sim.core.uniforms.StepUniforms`), so nothing changes. An
adult cohort aged 25-55 costs about 22 simulated years per person (docs/model.md, "Initial pain
history").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from sim.core.pain import PainState
from sim.core.parameters import ModelParams
from sim.core.step import fused_step
from sim.core.uniforms import StepUniforms


@dataclass
class History:
    """What a simulated history leaves at time 0, besides the pain state (updated in place)."""

    coping_state: np.ndarray
    reversible: np.ndarray
    scar: np.ndarray


def history_years(age0: np.ndarray, params: ModelParams) -> float:
    """Years of history to simulate: from the start age of the oldest person to time 0.

    Examples
    --------
    >>> history_years(np.array([25.0, 55.0]), ModelParams())
    37.0
    """
    if age0.size == 0:
        return 0.0
    return max(0.0, float(age0.max()) - params.pain.history_start_age)


def simulate_history(
    state: PainState,
    coping_trait: np.ndarray,
    params: ModelParams,
    rng: np.random.Generator,
    dt_years: float,
    *,
    with_drift: bool = True,
) -> History:
    """Simulate everyone's pain history up to time 0 (``state`` is updated in place).

    Parameters
    ----------
    state
        Pain state of people without history (``PainState.new``), with their ``age0``.
    coping_trait
        (N,) coping trait (PCS points).
    params
        Model parameters.
    rng
        Generator of the history's random numbers (the model's ``"history"`` stream).
    dt_years
        Step of the history (the scenario's step); the last step ends exactly at time 0.
    with_drift
        Also accumulate connectivity adaptation (the calibration of the pain process does not
        need it).

    Returns
    -------
    History
        Coping state and adaptation at time 0.

    Examples
    --------
    >>> from sim.core.pain import draw_severity
    >>> n = 2000
    >>> rng = np.random.default_rng(1)
    >>> state = PainState.new(draw_severity(rng.random(n), ModelParams().pain),
    ...                       rng.random(n) < 0.5, rng.uniform(18, 70, n))
    >>> h = simulate_history(state, np.full(n, 14.0), ModelParams(), rng, 4 / 52.1775)
    >>> bool(state.years_with_pain.max() > 0), bool((state.onset[state.in_pain] <= 0).all())
    (True, True)
    """
    n = state.in_pain.size
    drifts = (params.drift,) if with_drift else ()
    steps = math.ceil(history_years(state.age0, params) / dt_years - 1e-9)
    oldest = float(state.age0.max()) if n else 0.0
    # People in order of the step their history starts (oldest first), so that each step runs
    # over a prefix (see _waiting_order); everything is put back in cohort order at the end.
    order, starts_at = _waiting_order(state, params, steps, dt_years)
    past = state.take(order)
    trait = coping_trait[order]
    coping_state = np.zeros(n)
    reversible, scar = np.zeros((len(drifts), n)), np.zeros((len(drifts), n))
    # One buffer (a new 4 x N array every step costs page faults); of each step's
    # rng.random((4, N)) only row 0 and the starters' entries of rows 1-3 are made.
    uniforms = StepUniforms(n)
    for k in range(steps):
        t = -(steps - k) * dt_years
        uniforms.draw(rng)
        m = int(np.searchsorted(starts_at, k, side="right"))  # everyone whose history runs
        if m == 0:
            continue
        fused_step(_prefix(past, m), t, dt_years, _Columns(uniforms, order[:m]), trait[:m],
                   coping_state[:m], reversible[:, :m], scar[:, :m], params, drifts=drifts,
                   oldest_age=oldest)  # fmt: skip
    for field in fields(PainState):
        getattr(state, field.name)[order] = getattr(past, field.name)
    back = np.empty(n, np.intp)
    back[order] = np.arange(n)
    coping_state = coping_state[back]
    reversible, scar = reversible[:, back], scar[:, back]
    if not with_drift:
        reversible, scar = np.zeros((1, n)), np.zeros((1, n))
    return History(coping_state=coping_state, reversible=reversible[0], scar=scar[0])


def _waiting_order(
    state: PainState, params: ModelParams, steps: int, dt_years: float
) -> tuple[np.ndarray, np.ndarray]:
    """People ordered by the first step of their history, and that step for each in order.

    Before a person's ``history_start_age`` the onset hazard is 0 (it is evaluated at the age
    at the start of a pain-free stretch: ``sim.core.pain.onset_hazard_integral``), so someone
    not in an episode and without an earlier one starts none, and a step leaves their coping
    state and adaptation, which are 0, exactly 0 (a decay of 0 is 0). Leaving such people out of
    a step therefore changes no number; only the step count is saved (about 40 % of a cohort
    aged 25-55's person-steps). A step is counted from one step early, which only includes
    someone a step too soon. People with an episode already (none, from ``PainState.new``) take
    part from the first step.

    Returns
    -------
    (order, first_step)
        ``order`` the stable order by ``first_step`` (ascending, i.e. oldest first), and
        ``first_step`` the sorted first steps (step ``k`` runs from ``-(steps - k) * dt``).

    Examples
    --------
    >>> from sim.core.pain import draw_severity
    >>> p = ModelParams()
    >>> state = PainState.new(np.ones(3), np.zeros(3, bool), np.array([20.0, 40.0, 19.0]))
    >>> order, first = _waiting_order(state, p, 1148, 1 / 52.1775)  # 22 years of steps
    >>> order.tolist(), first.tolist()
    ([1, 0, 2], [0, 1042, 1094])
    """
    start_age = params.pain.history_start_age
    # Step k starts at t = -(steps - k) * dt; age0 + t >= start_age from k >= steps - (age0 -
    # start_age) / dt on. One step early, and never before 0.
    first = np.floor(steps - (state.age0 - start_age) / dt_years) - 1.0
    fresh = ~state.in_pain & np.isneginf(state.end)
    first = np.where(fresh & np.isfinite(first), np.clip(first, 0, steps), 0).astype(np.int64)
    order = np.argsort(first, kind="stable")
    return order, first[order]


def _prefix(state: PainState, m: int) -> PainState:
    """The first ``m`` people of ``state`` (views: changes go to ``state``)."""
    return PainState(**{f.name: getattr(state, f.name)[:m] for f in fields(PainState)})


class _Columns:
    """Columns ``columns`` of a step's uniforms (:class:`StepUniforms`), as a block of its own."""

    def __init__(self, uniforms: StepUniforms, columns: np.ndarray):
        self.uniforms, self.columns = uniforms, columns
        self.first = uniforms.first[columns]

    def others(self, rows: np.ndarray) -> np.ndarray:
        return self.uniforms.others(self.columns[rows])
