"""The batch stream: compiled selection of the smallest uniforms against a stable sort."""

from __future__ import annotations

import numpy as np
import pytest

from dlnsam import kernels
from dlnsam import reference as ref
from dlnsam.training import _SELECT_UP_TO, draw_batches


@pytest.mark.parametrize(("n", "b"), [(1, 1), (7, 1), (7, 3), (7, 7), (50, 5), (200, 32)])
def test_selection_equals_the_stable_sort(n: int, b: int) -> None:
    U = np.random.default_rng(n + b).random((300, n))
    np.testing.assert_array_equal(kernels.smallest(U, b), ref.batch_rows(U, b))


def test_ties_keep_the_earlier_index_first() -> None:
    """Equal uniforms are ordered by index, as a stable sort orders them."""
    U = np.random.default_rng(0).integers(0, 3, size=(500, 12)).astype(float)
    for b in (1, 4, 12):
        np.testing.assert_array_equal(kernels.smallest(U, b), ref.batch_rows(U, b))


@pytest.mark.parametrize("b", [1, _SELECT_UP_TO, _SELECT_UP_TO + 1, 60])
def test_draw_batches_is_the_sorted_uniforms_on_both_sides_of_the_switch(b: int) -> None:
    n, count = 60, 40
    drawn = draw_batches(np.random.default_rng(5), n, b, count)
    expected = ref.batch_rows(np.random.default_rng(5).random((count, n)), b)
    np.testing.assert_array_equal(drawn, expected)
    assert drawn.dtype == np.int64 and drawn.flags.c_contiguous
    assert all(len(set(row)) == b for row in drawn.tolist())  # distinct rows in a batch


def test_the_stream_continues_across_calls() -> None:
    one = draw_batches(np.random.default_rng(9), 20, 4, 30)
    rng = np.random.default_rng(9)
    split = np.vstack([draw_batches(rng, 20, 4, 7), draw_batches(rng, 20, 4, 23)])
    np.testing.assert_array_equal(one, split)
