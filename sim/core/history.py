"""A cohort's pain history before the simulation starts, simulated with the model's own equations.

Every person lives from ``pain.history_start_age`` (18) to their age at the start with the same
pain, coping and drift equations as during the run, so that year 0 holds the population's steady
state: the right share in an episode (with its stage, course and intensity), years lived with
pain, episode counts, the pain-driven coping state and the accumulated connectivity adaptation.

All people are simulated together on one clock that ends at time 0 (the start): the history runs
over negative times, from ``-(oldest age - start age)``, and a person younger than the start age
has no onset hazard (``sim.core.pain.onset_hazard``), so each person's history begins exactly at
their 18th birthday. The work is proportional to people x (oldest age - 18) / step: an adult
cohort aged 25-55 costs 37 simulated years before a 30-year run (docs/model.md, "Initial pain
history").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.core.pain import PainState
from sim.core.parameters import ModelParams
from sim.core.step import fused_step
from sim.core.uniforms import fill_uniforms


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
    coping_state = np.zeros(n)
    drifts = (params.drift,) if with_drift else ()
    reversible, scar = np.zeros((len(drifts), n)), np.zeros((len(drifts), n))
    steps = math.ceil(history_years(state.age0, params) / dt_years - 1e-9)
    oldest = float(state.age0.max()) if n else 0.0
    uniforms = np.empty((4, n))  # one buffer: a new 4 x N array every step costs page faults
    for k in range(steps):
        t = -(steps - k) * dt_years
        fill_uniforms(rng, uniforms)  # rng.random(out=uniforms), on two threads
        fused_step(state, t, dt_years, uniforms, coping_trait, coping_state, reversible, scar,
                   params, drifts=drifts, oldest_age=oldest)  # fmt: skip
    if not with_drift:
        reversible, scar = np.zeros((1, n)), np.zeros((1, n))
    return History(coping_state=coping_state, reversible=reversible[0], scar=scar[0])
