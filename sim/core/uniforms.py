"""Fill a large block of uniforms on two threads, with exactly the numbers of one draw.

A model step draws (4, N) uniforms from its pain stream (``rng.random(out=buffer)``); for a
cohort of 100,000 people this is about a fifth of a run's stepping and of its pain history.
NumPy's ``Generator.random(out=...)`` releases the GIL while it fills, and a PCG64 generator
(NumPy's default) makes one 64-bit output per double and can jump ahead in constant time
(``PCG64.advance``), so the second half of the block can be filled at the same time by a copy of
the generator moved on by the first half's length. The block holds the same numbers as one
draw, and the stream is left where one draw leaves it, so every later draw is unchanged too
(``tests/test_uniforms.py``).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

THREADED_MIN_VALUES = 1 << 16
"""Smaller blocks are drawn in one piece: handing work to a thread costs tens of microseconds,
filling 65,536 doubles about 0.2 ms."""

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="uniforms")
        return _POOL


def fill_uniforms(rng: object, out: np.ndarray) -> np.ndarray:
    """``rng.random(out=out)``, on two threads when that gives the same numbers.

    Parameters
    ----------
    rng
        A ``numpy.random.Generator`` or anything with a ``random(out=...)`` method (such as
        :class:`sim.core.replay.ColumnStream`). Only a Generator on an exact PCG64 bit
        generator, filling a C-contiguous float64 block of at least
        :data:`THREADED_MIN_VALUES` values, is split; the rest draw as usual.
    out
        The block to fill (modified in place).

    Returns
    -------
    numpy.ndarray
        ``out``.

    Examples
    --------
    >>> one = np.random.default_rng(4).random((4, 50_000))
    >>> rng = np.random.default_rng(4)
    >>> two = fill_uniforms(rng, np.empty((4, 50_000)))
    >>> bool(np.array_equal(one, two))
    True
    >>> rng.random() == np.random.default_rng(4).random(200_001)[-1]  # the stream goes on
    np.True_
    """
    bits = getattr(rng, "bit_generator", None)
    if (
        type(rng) is not np.random.Generator
        or type(bits) is not np.random.PCG64
        or out.size < THREADED_MIN_VALUES
        or out.dtype != np.float64
        or not out.flags.c_contiguous
    ):
        rng.random(out=out)  # type: ignore[attr-defined]
        return out
    flat = out.reshape(-1)
    half = flat.size // 2
    start = bits.state
    ahead = np.random.PCG64(0)
    ahead.state = start
    ahead.advance(half)  # one 64-bit output per double (PCG64's next_double)
    second = _pool().submit(np.random.Generator(ahead).random, out=flat[half:])
    try:
        rng.random(out=flat[:half])
    finally:
        second.result()
    # Where one draw leaves the stream. advance() drops a buffered 32-bit half-output, which
    # drawing doubles never touches, so it is carried over from the start.
    end = ahead.state
    end["has_uint32"], end["uinteger"] = start["has_uint32"], start["uinteger"]
    bits.state = end
    return out
