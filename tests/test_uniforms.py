"""Threaded and lazy uniform draws (sim.core.uniforms) give exactly the numbers of one draw.

A step's (4, N) uniforms are filled on two threads, the second half by a copy of the PCG64
generator jumped ahead by the first half's length; or only row 0 is drawn and the entries of rows
1-3 that a step needs are computed by jumping the generator's LCG (StepUniforms). The block and
every later draw of the stream must be the ones a single ``rng.random(out=...)`` gives.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.core.replay import ColumnStream
from sim.core.uniforms import THREADED_MIN_VALUES, StepUniforms, fill_uniforms


@pytest.mark.parametrize("shape", [(4, 100_001), (4, 3 * THREADED_MIN_VALUES + 1), (400_000,)])
def test_threaded_draw_equals_one_draw_and_leaves_the_same_state(shape):
    single, threaded = np.random.default_rng(11), np.random.default_rng(11)
    expected = single.random(shape)
    got = fill_uniforms(threaded, np.empty(shape))
    assert np.array_equal(got, expected)
    assert threaded.bit_generator.state == single.bit_generator.state
    # Later draws of every kind continue the same stream.
    assert np.array_equal(threaded.random(1000), single.random(1000))
    assert np.array_equal(threaded.standard_normal(7), single.standard_normal(7))
    assert np.array_equal(threaded.integers(0, 10**9, 5), single.integers(0, 10**9, 5))


def test_a_buffered_half_output_is_kept():
    # A 32-bit draw leaves half of a 64-bit output buffered; drawing doubles must keep it.
    single, threaded = np.random.default_rng(5), np.random.default_rng(5)
    single.integers(0, 10, dtype=np.uint32)
    threaded.integers(0, 10, dtype=np.uint32)
    expected = single.random((4, 40_000))
    assert np.array_equal(fill_uniforms(threaded, np.empty((4, 40_000))), expected)
    assert threaded.bit_generator.state == single.bit_generator.state
    assert threaded.integers(0, 10, 6, dtype=np.uint32).tolist() == (
        single.integers(0, 10, 6, dtype=np.uint32).tolist()
    )


def test_repeated_fills_of_one_buffer_follow_the_stream():
    single, threaded = np.random.default_rng(3), np.random.default_rng(3)
    buffer = np.empty((4, 30_000))
    for _ in range(5):
        fill_uniforms(threaded, buffer)
        assert np.array_equal(buffer, single.random((4, 30_000)))


@pytest.mark.parametrize(
    ("make", "shape"),
    [
        # MT19937 has no jump by a number of doubles: drawn in one piece.
        (lambda: np.random.Generator(np.random.MT19937(2)), (4, 50_000)),
        (lambda: np.random.default_rng(2), (4, 10)),  # a small block
        (lambda: ColumnStream(np.random.default_rng(2), np.arange(0, 9, 2), 9), (4, 5)),
    ],
)
def test_other_streams_and_small_blocks_draw_as_usual(make, shape):
    expected = make().random(shape)
    assert np.array_equal(fill_uniforms(make(), np.empty(shape)), expected)


def test_a_non_contiguous_block_draws_as_usual():
    expected = np.empty((40_000, 4)).T
    np.random.default_rng(8).random(out=expected)
    out = np.empty((40_000, 4)).T
    assert np.array_equal(fill_uniforms(np.random.default_rng(8), out), expected)


def _same_stream_after(rng, reference):
    """Every kind of later draw continues the same stream."""
    assert rng.bit_generator.state == reference.bit_generator.state
    assert np.array_equal(rng.random(100), reference.random(100))
    assert rng.integers(0, 10, 7, dtype=np.uint32).tolist() == (
        reference.integers(0, 10, 7, dtype=np.uint32).tolist()
    )


@pytest.mark.parametrize("n", [1, 2, 3, 17, 1000, THREADED_MIN_VALUES + 1, 100_001])
@pytest.mark.parametrize("seed", [0, 1, 7, 123_456_789])
@pytest.mark.parametrize("buffered", [False, True])
def test_lazy_rows_equal_the_entries_of_one_draw(n, seed, buffered):
    lazy, single = np.random.default_rng(seed), np.random.default_rng(seed)
    if buffered:  # a 32-bit draw leaves half of a 64-bit output buffered
        lazy.integers(0, 10, dtype=np.uint32)
        single.integers(0, 10, dtype=np.uint32)
    block = StepUniforms(n)
    block.draw(lazy)
    expected = single.random((4, n))
    assert np.array_equal(block.first, expected[0])
    picks = np.random.default_rng(seed + 1)
    columns = np.unique(picks.integers(0, n, min(n, 500)))
    columns = np.union1d(columns, [0, n - 1])  # the first and last person too
    assert np.array_equal(block.others(columns), expected[1:, columns])
    _same_stream_after(lazy, single)


def test_lazy_rows_in_any_order_with_repeats():
    block = StepUniforms(5000)
    block.draw(np.random.default_rng(9))
    expected = np.random.default_rng(9).random((4, 5000))
    columns = np.array([4999, 3, 3, 2500, 0, 17])
    assert np.array_equal(block.others(columns), expected[1:, columns])
    assert block.others(np.array([], dtype=np.intp)).shape == (3, 0)


def test_the_full_block_of_a_lazy_draw_is_the_one_draw_and_the_stream_is_not_moved():
    lazy, single = np.random.default_rng(21), np.random.default_rng(21)
    block = StepUniforms(70_000)
    for _ in range(3):  # steps follow each other in one buffer
        block.draw(lazy)
        expected = single.random((4, 70_000))
        assert np.array_equal(block.others(np.array([5, 69_999])), expected[1:, [5, 69_999]])
        assert np.array_equal(block.full(), expected)
        assert np.array_equal(block.full(), expected)  # drawn once
        assert np.array_equal(block.others(np.array([5, 6])), expected[1:, [5, 6]])
    _same_stream_after(lazy, single)


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.random.Generator(np.random.MT19937(2)),
        lambda: ColumnStream(np.random.default_rng(2), np.arange(0, 9, 2), 9),
    ],
)
def test_other_streams_draw_the_whole_block(make):
    expected = make().random((4, 5))
    block = StepUniforms(5)
    block.draw(make())
    assert np.array_equal(block.full(), expected)
    assert np.array_equal(block.others(np.array([1, 4])), expected[1:, [1, 4]])
