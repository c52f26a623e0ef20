"""The compiler pipeline that inlines records without copying them (dlnsam.flows.inlining)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from dlnsam.flows.inlining import ForwardingCompiler


class _Pair(NamedTuple):
    a: np.ndarray
    b: np.ndarray


@njit(inline="always")
def _partial_dot(pair, i):
    s = 0.0
    for j in range(i):
        s += pair.a[j] * pair.b[j]
    return s


def _sum_of_partial_dots(pair, n):
    s = 0.0
    for i in range(n):
        s += _partial_dot(pair, i)
    return s


def _first_double(xs):
    for i in range(xs.shape[0]):
        b = 2.0 * xs[i]
        if i == 0:
            a = b  # a copy of a variable that changes at every iteration
    return a


def test_the_inlined_record_is_passed_without_a_copy() -> None:
    forwarding = njit(pipeline_class=ForwardingCompiler)(_sum_of_partial_dots)
    pair = _Pair(np.arange(4.0), np.full(4, 0.5))
    assert forwarding(pair, 4) == njit(_sum_of_partial_dots)(pair, 4) == 2.0
    # The parameters of _partial_dot (pair, i) and the return of its result.
    assert forwarding.overloads[forwarding.signatures[0]].metadata["forwarded_copies"] >= 2


def test_a_copy_of_a_changing_variable_keeps_its_value() -> None:
    xs = np.arange(1.0, 4.0)
    assert njit(pipeline_class=ForwardingCompiler)(_first_double)(xs) == 2.0
