"""A calibration problem: priors, targets, one simulation, and the distance between them.

Everything here is plain Python and picklable, so any sampler (in-process, worker processes,
Dask) can run it. A simulation's seed is derived from the scenario seed and the parameter
values, so the same parameters always give the same statistics, on any worker.

What one simulation is depends on the ``[calibration] experiment``: a natural-history
simulation (``natural_history``), a replay of the virtual Heukamp study's candidate pool
(``heukamp``, :mod:`sim.experiments.calibrate.heukamp`) or a trial of every treatment
(``interventions``, :mod:`sim.experiments.calibrate.trial`).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.core.natural_history import Design, compute_statistics, simulate_natural_history
from sim.core.parameters import ModelParams, apply_overrides
from sim.core.targets import CATALOGUES, Target
from sim.scenario import Scenario

Z95 = 1.959963984540054
MODEL_GROUPS = ("brain", "pain", "coping", "drift", "metrics")
"""First parts of model parameter names (the rest are intervention parameters)."""


@dataclass(frozen=True)
class Problem:
    """What is calibrated against what.

    Attributes
    ----------
    base
        Model parameters the calibrated ones are set on (defaults with the scenario's
        ``[parameters]``).
    priors
        Dotted parameter name -> (low, high) of a uniform prior.
    targets
        Statistic name -> (published target, weight in the distance).
    design
        Size of one simulation (the experiment's design section).
    seed
        Scenario seed (simulation seeds are derived from it and the parameters).
    experiment
        What one simulation is (``sim.scenario.calibration.EXPERIMENTS``).
    scenario
        The calibration scenario (the study design of ``heukamp``).
    cache
        Folder of the simulated populations a ``heukamp`` problem replays (None: simulate them
        in the process that needs them).
    """

    base: ModelParams
    priors: dict[str, tuple[float, float]]
    targets: dict[str, tuple[Target, float]]
    design: Any
    seed: int
    experiment: str = "natural_history"
    scenario: Scenario | None = None
    cache: str | None = None
    scales: dict[str, str] | None = None
    observation_noise: bool = False

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> Problem:
        """The problem of a scenario with a ``[calibration]`` section."""
        section = scenario.calibration
        if section is None:
            raise ValueError("the scenario has no [calibration] section")
        settings = section.design_settings()
        design = (
            Design(**settings.model_dump()) if section.experiment == "natural_history" else settings
        )
        return cls(
            base=scenario.params,
            priors={name: (lo, hi) for name, (lo, hi, _) in section.prior_specs().items()},
            scales={name: scale for name, (_, _, scale) in section.prior_specs().items()},
            targets=section.resolved_targets(),
            design=design,
            seed=scenario.scenario.seed,
            experiment=section.experiment,
            scenario=scenario,
            observation_noise=section.observation_noise,
        )

    @property
    def statistics(self) -> list[str]:
        """Every statistic the experiment reports (targets first)."""
        names = list(CATALOGUES[self.experiment])
        return [*self.targets, *[n for n in names if n not in self.targets]]

    def prior_rv(self, name: str) -> tuple[str, float, float]:
        """(scipy distribution, arg 1, arg 2) of a parameter's prior."""
        low, high = self.priors[name]
        if (self.scales or {}).get(name) == "log":
            return "loguniform", low, high
        return "uniform", low, high - low

    @property
    def names(self) -> list[str]:
        return list(self.priors)

    def params(self, values: dict[str, float]) -> ModelParams:
        """Model parameters with the calibrated ones set (values by dotted name)."""
        model = {k: float(v) for k, v in values.items() if k.split(".")[0] in MODEL_GROUPS}
        return apply_overrides(self.base, model)

    def simulate(
        self, values: dict[str, float], replicate: int = 0, *, every: bool = False
    ) -> dict[str, float]:
        """Statistics of one simulation at ``values`` (every target's, or all with ``every``).

        ``replicate`` 0 is the calibration's own simulation; others give new random numbers
        for the same parameters (used to show the spread of the fit).
        """
        if self.experiment == "heukamp":
            from sim.experiments.calibrate import heukamp

            return heukamp.simulate(self, values, replicate)
        if self.experiment == "interventions":
            from sim.experiments.calibrate import trial

            return trial.simulate(self, values, replicate)
        seed = simulation_seed(self.seed, values, replicate)
        nh = simulate_natural_history(self.params(values), self.design, seed)
        return compute_statistics(nh, None if every else list(self.targets))

    def observe(
        self, simulated: dict[str, float], values: dict[str, float], replicate: int = 0
    ) -> dict[str, float]:
        """The targets' statistics as the published studies would have observed them.

        With ``observation_noise``, each target statistic gets a draw of the published
        estimate's own error: normal with the SD its 95 % interval implies (the interval's
        width / 3.92). ABC then accepts a parameter set as often as the published studies would
        have reported what they reported (noisy ABC, Wilkinson 2013), instead of forcing the
        simulated values onto the published point values as epsilon shrinks.
        """
        if not self.observation_noise:
            return simulated
        rng = np.random.default_rng(simulation_seed(self.seed, values, replicate) ^ 0x5EED)
        out = dict(simulated)
        for name, (target, _) in self.targets.items():
            sd = (target.high - target.low) / (2 * Z95)
            out[name] = simulated[name] + sd * rng.standard_normal()
        return out

    def distance(self, simulated: dict[str, float]) -> float:
        """Weighted RMS of standardized misfits: (x - value) / SD, SD from the interval side.

        The interval is read as a 95 % interval, so SD = (high - value) / 1.96 above the value
        and (value - low) / 1.96 below it; a missing statistic is infinitely far.
        """
        total, weights = 0.0, 0.0
        for name, (target, weight) in self.targets.items():
            if weight == 0:
                continue
            x = simulated.get(name, math.nan)
            if not math.isfinite(x):
                return math.inf
            z = standardized_misfit(target, x)
            total += weight * z * z
            weights += weight
        return math.sqrt(total / weights) if weights else 0.0


def standardized_misfit(target: Target, x: float) -> float:
    """(x - value) in SDs of the target's interval side (the interval read as 95 %).

    Examples
    --------
    >>> t = Target("median_recovery_days", 58, 52, 63, "Henschke 2008")
    >>> round(standardized_misfit(t, 63), 2), round(standardized_misfit(t, 52), 2)
    (1.96, -1.96)
    """
    side = (target.high - target.value) if x >= target.value else (target.value - target.low)
    sd = max(side, 1e-12 * max(abs(target.value), 1.0)) / Z95
    return (x - target.value) / sd


def simulation_seed(seed: int, values: dict[str, float], replicate: int = 0) -> int:
    """A seed derived from the scenario seed, the parameter values and a replicate number.

    Examples
    --------
    >>> simulation_seed(1, {"a": 0.5}) == simulation_seed(1, {"a": 0.5})
    True
    >>> simulation_seed(1, {"a": 0.5}) == simulation_seed(1, {"a": 0.5000001})
    False
    """
    text = repr((seed, replicate, sorted((k, float(v).hex()) for k, v in values.items())))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


ABC_STREAM = 0xABC
"""First part of the spawn key of evaluation seeds (other streams of the seed use 7 and 8)."""


def evaluation_seed(seed: int, t: int, j: int) -> np.ndarray:
    """Seed of NumPy's global generator for evaluation ``j`` of generation ``t``.

    ``t`` is -1 for pyabc's calibration sample from the prior (before generation 0).

    Examples
    --------
    >>> a = evaluation_seed(3, 0, 5)
    >>> bool((a == evaluation_seed(3, 0, 5)).all()), bool((a == evaluation_seed(3, 1, 5)).all())
    (True, False)
    """
    sequence = np.random.SeedSequence(seed, spawn_key=(ABC_STREAM, t + 1, j))
    return sequence.generate_state(4)


# pyabc names parameters with identifiers; dotted names are mapped both ways.
def to_key(name: str) -> str:
    """pyabc key of a dotted parameter name (``pain.onset_rate`` -> ``pain__onset_rate``)."""
    return name.replace(".", "__")


def from_key(key: str) -> str:
    return key.replace("__", ".")


class Simulator:
    """The model function handed to pyabc: parameters in, statistics out (picklable)."""

    def __init__(self, problem: Problem):
        self.problem = problem

    def __call__(self, parameters: Any) -> dict[str, float]:
        values = {from_key(k): float(v) for k, v in dict(parameters).items()}
        return self.problem.observe(self.problem.simulate(values), values)


class Distance:
    """The distance handed to pyabc (picklable); the observed data are the target values."""

    def __init__(self, problem: Problem):
        self.problem = problem

    def __call__(self, simulated: dict[str, float], observed: dict[str, float]) -> float:
        return self.problem.distance(simulated)


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Quantile ``q`` of ``values`` with ``weights`` (inverse of the weighted CDF, midpoints).

    Examples
    --------
    >>> weighted_quantile(np.array([1.0, 2.0, 3.0]), np.ones(3), 0.5)
    2.0
    """
    order = np.argsort(values)
    v, w = values[order], weights[order] / weights.sum()
    cdf = np.cumsum(w) - w / 2
    return float(np.interp(q, cdf, v))
