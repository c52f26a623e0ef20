"""The named records that cross the JIT boundary of the step kernels.

Numba compiles a field access of a ``typing.NamedTuple`` to a plain load, so
``run_chunk(data, params, controls, state, ...)`` costs what its positional
arguments would, and each value is read by name. Records are immutable: the
values a kernel updates in place (the iterate, the history, the step counter,
the running integral) are arrays, one-element ones for the scalars, so that
the caller's view of them is consistent with (u, v) whenever control returns
to Python, even on an interrupt.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

__all__ = ["Controls", "Data", "State", "new_state"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


class Data(NamedTuple):
    """The training set (X may carry zero padding columns) and the test set.

    ``X_test`` is (0, d) and ``y_test`` (0,) when there is no test set.
    """

    X: FloatArray
    y: FloatArray
    X_test: FloatArray
    y_test: FloatArray


class Controls(NamedTuple):
    """When to stop and what to record.

    ``max_loss``: a loss above it (or not finite) is a divergence; ``stop_loss``:
    a loss at or below it is convergence; ``record``: the sorted steps t at
    which (L_train, L_test) of θ_t are written to ``State.history``.
    """

    max_loss: float
    stop_loss: float
    record: IntArray


class State(NamedTuple):
    """What the step loop updates in place.

    Attributes
    ----------
    u, v : (width,) ndarray
        The iterate θ_t (zero beyond the problem's d when X is padded).
    u_prev, v_prev : (width,) ndarray
        θ_{t−1}, to return to if θ_t's loss diverged.
    history : (len(record), 2) ndarray
        (L_train, L_test) at the recorded steps.
    step : (1,) int64 ndarray
        t, the step of the iterate held in (u, v).
    record_pos : (1,) int64 ndarray
        The next position in ``Controls.record``.
    integral : (1,) ndarray
        Σ γ_s L(θ_s) over the accepted updates that produced (u, v).
    pending : (1,) ndarray
        The term of the last update, pending until the loss of (u, v) is checked.
    """

    u: FloatArray
    v: FloatArray
    u_prev: FloatArray
    v_prev: FloatArray
    history: FloatArray
    step: IntArray
    record_pos: IntArray
    integral: FloatArray
    pending: FloatArray


def new_state(
    u: FloatArray, v: FloatArray, u_prev: FloatArray, v_prev: FloatArray, n_record: int
) -> State:
    """A :class:`State` at step 0 with an empty (NaN) history of ``n_record`` rows."""
    return State(
        u, v, u_prev, v_prev, np.full((n_record, 2), np.nan),
        np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64), np.zeros(1), np.zeros(1),
    )  # fmt: skip
