"""A pyabc sampler whose populations do not depend on where or in what order simulations run.

pyabc's parallel samplers keep the particles that happen to finish first and draw proposals from
an unseeded generator in every worker, so their populations change with the backend, the number
of workers and the load of the machine. :class:`OrderedSampler` numbers the evaluations of a
generation 0, 1, 2, ... and makes each one a function of its number alone:

- evaluation ``j`` of generation ``t`` runs with NumPy's global generator (which pyabc proposes
  from) seeded from (scenario seed, ``t``, ``j``) (:func:`evaluation_seed`), in whatever process
  runs it; the simulation itself is seeded from the proposed parameters
  (:func:`~sim.experiments.calibrate.problem.simulation_seed`);
- evaluations run in batches of consecutive numbers on a :class:`~sim.experiments.backends.Pool`
  (in this process, local worker processes or Dask), a few batches per worker in flight;
- the population is the first ``n`` accepted particles *by number*, with the rejected ones
  before them; results past the ``n``-th acceptance are discarded, whenever they arrived.

The population and its evaluation count (the number of the ``n``-th acceptance + 1) are then
the same for every backend, worker count and batch size, bit for bit. Parallel throughput is
kept: workers always have the next batches to run while earlier ones finish; what is lost is
the work in flight when a generation ends.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator
from contextlib import closing
from numbers import Real
from typing import Any

import numpy as np
from pyabc.sampler import Sampler

from sim.experiments.backends import Pool
from sim.experiments.calibrate.problem import evaluation_seed

BATCHES_PER_SLOT = 2
"""Batches in flight per worker: one running and one waiting, so no worker idles."""

_function: tuple[bytes, Callable[[], Any]] | None = None  # last simulate_one of this process


def _simulate_one(payload: bytes) -> Callable[[], Any]:
    """pyabc's ``simulate_one`` of a generation, unpickled once per process and generation."""
    import cloudpickle

    global _function
    digest = hashlib.blake2b(payload, digest_size=16).digest()
    if _function is None or _function[0] != digest:
        _function = (digest, cloudpickle.loads(payload))
    return _function[1]


def evaluate_batch(task: tuple[bytes, int, int, int, int]) -> tuple[int, list[Any]]:
    """Run evaluations ``start`` to ``stop - 1`` of a generation: (start, their particles).

    ``task`` is (pickled ``simulate_one``, seed, t, start, stop). NumPy's global generator is
    seeded for each evaluation and restored afterwards (this may be the calling process).
    """
    payload, seed, t, start, stop = task
    simulate_one = _simulate_one(payload)
    saved = np.random.get_state()  # noqa: NPY002 - pyabc draws from the legacy global generator
    try:
        particles = []
        for j in range(start, stop):
            np.random.seed(evaluation_seed(seed, t, j))  # noqa: NPY002
            particles.append(simulate_one())
    finally:
        np.random.set_state(saved)  # noqa: NPY002
    return start, particles


class OrderedSampler(Sampler):
    """Sample a generation as numbered evaluations; keep the first ``n`` accepted by number.

    Parameters
    ----------
    pool
        Where the evaluations run (kept for the whole calibration).
    seed
        Scenario seed; evaluation seeds derive from it (:func:`evaluation_seed`).
    batch_size
        Consecutive evaluations per task: larger batches cost less per task, but more work is
        in flight (and discarded) when a generation ends. Never changes the result.
    check_max_eval
        Stop a generation after ``max_eval`` evaluations (as pyabc's samplers' option of that
        name; the sample is then not ok and pyabc stops). Default: run until ``n`` are accepted.
    """

    def __init__(
        self, pool: Pool, seed: int, batch_size: int = 1, check_max_eval: bool = False
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.pool, self.seed = pool, int(seed)
        self.batch_size, self.check_max_eval = int(batch_size), check_max_eval

    def _tasks(self, payload: bytes, t: int, limit: int | None) -> Iterator[tuple]:
        start = 0
        while limit is None or start < limit:
            stop = start + self.batch_size if limit is None else min(start + self.batch_size, limit)
            yield payload, self.seed, t, start, stop
            start = stop

    def sample_until_n_accepted(
        self,
        n: int,
        simulate_one: Callable[[], Any],
        t: int,
        *,
        max_eval: Real = np.inf,
        all_accepted: bool = False,
        ana_vars: Any = None,  # unused: no look-ahead sampling
    ) -> Any:
        """Evaluations in order of number until ``n`` are accepted (pyabc's sampler interface).

        ``all_accepted`` (every evaluation is accepted: the calibration sample from the prior)
        runs exactly ``n``; with ``check_max_eval``, at most ``max_eval``.
        """
        import cloudpickle
        from jabbar import jabbar

        limit = None
        if all_accepted:
            limit = n
        elif self.check_max_eval and math.isfinite(max_eval):
            limit = math.ceil(max_eval)
        payload = cloudpickle.dumps(simulate_one)
        sample = self._create_empty_sample()
        arrived: dict[int, list[Any]] = {}
        evaluated = accepted = 0
        window = BATCHES_PER_SLOT * self.pool.slots
        results = self.pool.execute(
            evaluate_batch, self._tasks(payload, t, limit), label="abc", window=window
        )
        with closing(results), jabbar(total=n, enable=self.show_progress, keep=False) as bar:
            for start, particles in results:
                arrived[start] = particles
                # Take batches in order of number only: a later batch waits for earlier ones.
                while accepted < n and evaluated in arrived:
                    for particle in arrived.pop(evaluated):
                        sample.append(particle)
                        evaluated += 1
                        if particle.accepted:
                            accepted += 1
                            bar.inc()
                            if accepted == n:
                                break
                if accepted == n:
                    break  # closing the results cancels the batches still waiting
        self.nr_evaluations_ = evaluated
        if accepted < n:
            sample.ok = False
        return sample
