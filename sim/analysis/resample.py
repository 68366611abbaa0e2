"""Bootstrap resampling counts, drawn exactly as NumPy's ``Generator.integers`` draws them.

A percentile bootstrap over patients draws, for each of 1,000 resamples, ``n`` patient numbers
with ``rng.integers(0, n, n)`` and counts how often each patient was drawn. Each such call
costs about 10 µs before it draws anything, and the two-level bootstrap of a comparison makes
three per resample, so a comparison table spent most of its time in these calls.
:func:`two_level_counts` makes every draw of a bootstrap in one Numba loop and gives exactly
the numbers, and leaves the generator exactly where, the calls would have: it reads the raw
64-bit outputs of a copy of the generator and applies NumPy's own algorithm for bounded
integers (Lemire's multiply-and-reject on 32-bit halves, the upper half of each output kept for
the next draw), then moves the generator on by the outputs it used. Only a ``Generator`` on a
``PCG64`` bit generator is handled (NumPy's default, and what painsim's streams are);
:func:`exact_draws` says whether a generator is one.

``tests/test_stats.py`` checks the draws against ``Generator.integers`` on many seeds, bounds
and starting states (including a buffered half-output), and the intervals built on them against
the one-call-per-draw definition, bit for bit.
"""

from __future__ import annotations

import numpy as np

from sim.core.jit import njit

_LOW32 = np.uint64(0xFFFFFFFF)
_SHIFT = np.uint64(32)


def exact_draws(rng: object) -> bool:
    """Whether :func:`two_level_counts` can stand in for ``rng.integers`` (a PCG64 Generator).

    Examples
    --------
    >>> mersenne = np.random.Generator(np.random.MT19937(1))
    >>> exact_draws(np.random.default_rng(1)), exact_draws(mersenne)
    (True, False)
    """
    return type(rng) is np.random.Generator and type(rng.bit_generator) is np.random.PCG64


def two_level_counts(
    rng: np.random.Generator, present: np.ndarray, resamples: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The draws of ``resamples`` two-level bootstrap resamples of (R, N) values.

    Resample ``b`` is, in this order, ``reps = rng.integers(0, R, R)`` and then, for each drawn
    replicate, ``rng.integers(0, N, N)`` patient numbers (drawing from one replicate, or one
    patient, takes no random numbers).

    Parameters
    ----------
    rng
        A ``numpy.random.Generator`` on ``PCG64`` (see :func:`exact_draws`); moved on exactly
        as the calls would move it.
    present
        (R, N) bool: which values exist (the rest are left out of the means).
    resamples
        Number of resamples.

    Returns
    -------
    reps : numpy.ndarray
        (resamples, R) int64 drawn replicates.
    weights : numpy.ndarray
        (resamples * R, N) int64: row ``b * R + k`` counts how often each patient of replicate
        ``reps[b, k]`` was drawn (``np.bincount`` of the patient numbers).
    counts : numpy.ndarray
        (resamples, R) int64: ``weights[b * R + k] @ present[reps[b, k]]``.

    Examples
    --------
    >>> present = np.ones((2, 5), bool)
    >>> rng, again = np.random.default_rng(7), np.random.default_rng(7)
    >>> reps, weights, counts = two_level_counts(rng, present, 1)
    >>> first = again.integers(0, 2, 2)
    >>> bool((reps[0] == first).all())
    True
    >>> bool((weights[0] == np.bincount(again.integers(0, 5, 5), minlength=5)).all())
    True
    >>> _ = again.integers(0, 5, 5)  # the second replicate's patients
    >>> rng.random() == again.random()  # the stream goes on from the same place
    True
    """
    r, n = present.shape
    bits = rng.bit_generator
    start = bits.state
    # 32-bit draws, with a rare rejection; most draws use half of a 64-bit output.
    halves = resamples * ((r if r > 1 else 0) + (r * n if n > 1 else 0))
    need = halves // 2 + 64 + halves // 1_000_000
    while True:
        copy = np.random.PCG64(0)
        copy.state = start
        raw = copy.random_raw(need)
        reps = np.empty((resamples, r), np.int64)
        weights = np.empty((resamples * r, n), np.int64)
        counts = np.empty((resamples, r), np.int64)
        used, has_half, half = _two_level(
            raw, bool(start["has_uint32"]), np.uint64(start["uinteger"]), r, n, resamples,
            present, reps, weights, counts,
        )  # fmt: skip
        if used >= 0:
            break
        need *= 2  # ran out of raw outputs (rejections): draw again with more
    end = np.random.PCG64(0)
    end.state = start
    end.advance(used)  # advance() clears the buffered half; set it as the draws left it
    state = end.state
    state["has_uint32"], state["uinteger"] = int(has_half), int(half)
    bits.state = state
    return reps, weights, counts


@njit(cache=True)
def _two_level(raw, has_half, half, r, n, resamples, present, reps, weights, counts):
    """Fill ``reps``, ``weights``, ``counts``; return (outputs used, has_half, half), or -1
    as the first entry if ``raw`` is too short."""
    pos = 0
    for b in range(resamples):
        for k in range(r):
            if r > 1:
                value, pos, has_half, half = _bounded(raw, pos, has_half, half, np.uint64(r - 1))
                if pos < 0:
                    return -1, has_half, half
                reps[b, k] = value
            else:
                reps[b, k] = 0
        for k in range(r):
            row = b * r + k
            for j in range(n):
                weights[row, j] = 0
            for _ in range(n):
                if n > 1:
                    value, pos, has_half, half = _bounded(
                        raw, pos, has_half, half, np.uint64(n - 1)
                    )
                    if pos < 0:
                        return -1, has_half, half
                else:
                    value = 0
                weights[row, value] += 1
            total = 0
            rep = reps[b, k]
            for j in range(n):
                if present[rep, j]:
                    total += weights[row, j]
            counts[b, k] = total
    return pos, has_half, half


@njit(cache=True)
def _bounded(raw, pos, has_half, half, bound):
    """One ``integers(0, bound + 1)`` draw (0 < bound < 2**32 - 1): NumPy's Lemire method.

    Returns (value, position in ``raw``, has_half, half); position -1 if ``raw`` ran out.
    """
    excl = bound + np.uint64(1)
    x, pos, has_half, half = _next32(raw, pos, has_half, half)
    if pos < 0:
        return 0, pos, has_half, half
    m = x * excl
    leftover = m & _LOW32
    if leftover < excl:
        threshold = (_LOW32 - bound) % excl
        while leftover < threshold:
            x, pos, has_half, half = _next32(raw, pos, has_half, half)
            if pos < 0:
                return 0, pos, has_half, half
            m = x * excl
            leftover = m & _LOW32
    return np.int64(m >> _SHIFT), pos, has_half, half


@njit(cache=True)
def _next32(raw, pos, has_half, half):
    """PCG64's next 32-bit output: the kept upper half, or the lower half of a new output."""
    if has_half:
        return half, pos, False, half
    if pos >= raw.size:
        return np.uint64(0), -1, has_half, half
    out = raw[pos]
    return out & _LOW32, pos + 1, True, out >> _SHIFT
