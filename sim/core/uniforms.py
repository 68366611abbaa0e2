"""Fill a large block of uniforms on two threads, with exactly the numbers of one draw.

A model step draws (4, N) uniforms from its pain stream (``rng.random(out=buffer)``); for a
cohort of 100,000 people this is about a fifth of a run's stepping and of its pain history.
NumPy's ``Generator.random(out=...)`` releases the GIL while it fills, and a PCG64 generator
(NumPy's default) makes one 64-bit output per double and can jump ahead in constant time
(``PCG64.advance``), so the second half of the block can be filled at the same time by a copy of
the generator moved on by the first half's length. The block holds the same numbers as one
draw, and the stream is left where one draw leaves it, so every later draw is unchanged too
(``tests/test_uniforms.py``).

Most of a fused step's block is never read: rows 1-3 (an episode's course, duration and
intensity) only for the few people who start an episode in the step. :class:`StepUniforms`
draws row 0 and computes just those entries of rows 1-3 by jumping the generator's 128-bit LCG
to their positions (NumPy's PCG64 makes each double from one 64-bit output: its top 53 bits
times 2**-53), with the same numbers and the same stream afterwards.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from sim.core.jit import njit

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


class StepUniforms:
    """A step's (4, N) uniforms, exactly as ``rng.random((4, N))`` draws them, made lazily.

    Row 0 (everyone's onset uniform) is drawn at once; rows 1-3 (the course, duration and
    intensity of an episode starting in the step) are needed only by the few people who start
    one. For a Generator on an exact PCG64 bit generator, :meth:`draw` draws row 0, notes the
    stream's state and moves the stream on to where a whole (4, N) draw leaves it; the entries
    of rows 1-3 that are asked for (:meth:`others`) are then computed by jumping the generator's
    LCG to their positions, and :meth:`full` draws the whole block from the noted state if a
    caller needs it. Other streams draw the whole block at once. Either way the numbers and
    the stream's later draws are those of one ``rng.random(out=...)`` (``tests/test_uniforms.py``).

    Parameters
    ----------
    n
        Columns of the block (people).

    Examples
    --------
    >>> block = StepUniforms(50_000)
    >>> rng = np.random.default_rng(4)
    >>> block.draw(rng)
    >>> whole = np.random.default_rng(4).random((4, 50_000))
    >>> bool(np.array_equal(block.first, whole[0]))
    True
    >>> bool(np.array_equal(block.others(np.array([3, 17, 49_999])), whole[1:, [3, 17, 49_999]]))
    True
    >>> bool(np.array_equal(block.full(), whole))
    True
    >>> rng.random() == np.random.default_rng(4).random(200_001)[-1]  # the stream goes on
    np.True_
    """

    def __init__(self, n: int):
        self.block = np.empty((4, n))
        self._start: dict | None = None  # PCG64 state before the block, while rows 1-3 wait

    @property
    def first(self) -> np.ndarray:
        """(N,) row 0 of the block."""
        return self.block[0]

    def draw(self, rng: object) -> None:
        """Draw the next block of ``rng`` (a Generator, or anything with ``random(out=...)``)."""
        bits = getattr(rng, "bit_generator", None)
        n = self.block.shape[1]
        if type(rng) is not np.random.Generator or type(bits) is not np.random.PCG64 or n == 0:
            fill_uniforms(rng, self.block)
            self._start = None
            return
        start = bits.state
        # One thread: handing half a row to another thread saved less than it cost when the
        # machine was busy (0.9 ms of waiting per step of 100,000 people, at load 3 on 2 cores).
        rng.random(out=self.block[0])
        # Where the whole block leaves the stream; advance() drops a buffered 32-bit
        # half-output, which drawing doubles never touches, so it is put back.
        bits.advance(3 * n)
        end = bits.state
        end["has_uint32"], end["uinteger"] = start["has_uint32"], start["uinteger"]
        bits.state = end
        self._start = start

    def others(self, columns: np.ndarray) -> np.ndarray:
        """(3, k) rows 1-3 of the block at ``columns`` (an index array)."""
        columns = np.asarray(columns, dtype=np.int64)
        if self._start is None:
            return self.block[1:, columns]
        out = np.empty((3, columns.size))
        if columns.size == 0:
            return out
        order = None if np.all(columns[1:] >= columns[:-1]) else np.argsort(columns, kind="stable")
        ascending = columns if order is None else columns[order]
        state, inc = self._start["state"]["state"], self._start["state"]["inc"]
        values = out if order is None else np.empty_like(out)
        _block_values(np.uint64(state >> 64), np.uint64(state & (2**64 - 1)),
                      np.uint64(inc >> 64), np.uint64(inc & (2**64 - 1)),
                      self.block.shape[1], ascending, values)  # fmt: skip
        if order is not None:
            out[:, order] = values
        return out

    def full(self) -> np.ndarray:
        """The whole (4, N) block (rows 1-3 drawn from the noted state if still missing)."""
        if self._start is not None:
            bits = np.random.PCG64(0)
            bits.state = self._start
            bits.advance(self.block.shape[1])
            fill_uniforms(np.random.Generator(bits), self.block[1:])
            self._start = None
        return self.block


# -- PCG64 jump-ahead: the few values a step needs from rows 1-3 ---------------------------------
# NumPy's PCG64 is a 128-bit LCG, state' = A * state + inc (mod 2**128), whose k-th output (after
# k + 1 steps) goes through the XSL-RR permutation; a double is its top 53 bits times 2**-53.
# Jumping k steps is the affine map state -> A**k * state + inc * (1 + A + ... + A**(k-1)); the
# maps for k = 2**j are tabulated below (as 64-bit halves) and composed bit by bit.
_MULTIPLIER = (2549297995355413924 << 64) + 4865540595714422341
_MASK128 = (1 << 128) - 1


def _jump_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A**(2**j) and 1 + A + ... + A**(2**j - 1) (mod 2**128), j = 0..63, as hi/lo uint64."""
    power, geometric = _MULTIPLIER, 1
    powers, sums = [], []
    for _ in range(64):
        powers.append(power)
        sums.append(geometric)
        geometric = (geometric * (1 + power)) & _MASK128
        power = (power * power) & _MASK128
    halves = [np.array([v >> 64 for v in x], np.uint64) for x in (powers, sums)]
    lows = [np.array([v & (2**64 - 1) for v in x], np.uint64) for x in (powers, sums)]
    return halves[0], lows[0], halves[1], lows[1]


_POWER_HI, _POWER_LO, _SUM_HI, _SUM_LO = _jump_tables()
_M32 = np.uint64(0xFFFFFFFF)
_S32, _S58, _S11, _S63, _S64 = (np.uint64(s) for s in (32, 58, 11, 63, 64))
_ONE, _ZERO = np.uint64(1), np.uint64(0)


@njit(cache=True)
def _mul64(x, y):
    """The 128-bit product of two uint64 as (high, low) halves."""
    x0, x1, y0, y1 = x & _M32, x >> _S32, y & _M32, y >> _S32
    w0 = x0 * y0
    t = x1 * y0 + (w0 >> _S32)
    w1 = (t & _M32) + x0 * y1
    return x1 * y1 + (t >> _S32) + (w1 >> _S32), x * y


@njit(cache=True)
def _mul128(ah, al, bh, bl):
    """a * b mod 2**128, in halves."""
    hi, lo = _mul64(al, bl)
    return hi + ah * bl + al * bh, lo


@njit(cache=True)
def _add128(ah, al, bh, bl):
    """a + b mod 2**128, in halves."""
    lo = al + bl
    return ah + bh + (_ONE if lo < bl else _ZERO), lo


@njit(cache=True)
def _double(hi, lo):
    """NumPy's next_double of the PCG64 state (hi, lo): XSL-RR output, top 53 bits."""
    xored = hi ^ lo
    rot = hi >> _S58
    out = (xored >> rot) | (xored << ((_S64 - rot) & _S63))
    return np.float64(out >> _S11) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def _block_values(state_hi, state_lo, inc_hi, inc_lo, n, columns, out):
    """Entries ``(r, columns[m])`` of a (R + 1, n) block, r = 1..R, into ``out[r - 1, m]``.

    The block is what a PCG64 in state ``state`` (before the block) draws, row by row;
    ``columns`` ascending.
    """
    plus_hi, plus_lo = np.empty(64, np.uint64), np.empty(64, np.uint64)
    for j in range(64):
        plus_hi[j], plus_lo[j] = _mul128(inc_hi, inc_lo, _SUM_HI[j], _SUM_LO[j])
    # The map of a jump by one row (n steps), composed from the power-of-two maps.
    row_mh, row_ml, row_ph, row_pl = _ZERO, _ONE, _ZERO, _ZERO
    for j in range(64):
        if (n >> j) & 1:
            row_mh, row_ml = _mul128(_POWER_HI[j], _POWER_LO[j], row_mh, row_ml)
            row_ph, row_pl = _mul128(_POWER_HI[j], _POWER_LO[j], row_ph, row_pl)
            row_ph, row_pl = _add128(row_ph, row_pl, plus_hi[j], plus_lo[j])
    hi, lo = state_hi, state_lo
    done = 0  # steps taken from the start state
    for m in range(columns.size):
        jump = columns[m] + 1 - done  # to the state that gives entry (0, column)
        j = 0
        while jump:
            if jump & 1:
                hi, lo = _mul128(_POWER_HI[j], _POWER_LO[j], hi, lo)
                hi, lo = _add128(hi, lo, plus_hi[j], plus_lo[j])
            jump >>= 1
            j += 1
        done = columns[m] + 1
        at_hi, at_lo = hi, lo
        for r in range(out.shape[0]):  # the same column one row further on
            at_hi, at_lo = _mul128(row_mh, row_ml, at_hi, at_lo)
            at_hi, at_lo = _add128(at_hi, at_lo, row_ph, row_pl)
            out[r, m] = _double(at_hi, at_lo)
