"""The records an integrator kernel takes and updates, shared by every integrator.

- ``progress``: a one-element structured array (see :data:`PROGRESS`), updated
  in place, so that a kernel call that returns RUNNING (its step budget used)
  or is interrupted leaves the time, step size and counters where it stopped;
- :class:`Controls`: tolerances and stopping rules of one kernel call;
- :class:`Outputs`: the times at which to record, and the records.

Integrator-specific memory (the DOP853 tableau, the BDF differences and LU)
is the integrator's own record (:mod:`dlnsam.flows.dop853`,
:mod:`dlnsam.flows.bdf`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

__all__ = ["PROGRESS", "Controls", "Outputs", "new_outputs", "new_progress"]

#: Fields of the progress record: time t, next step size h (0: choose the
#: first step), L at t, right-hand-side evaluations, accepted and rejected
#: steps, and the next output slot.
PROGRESS = np.dtype(
    [
        ("t", np.float64),
        ("h", np.float64),
        ("loss", np.float64),
        ("nfev", np.int64),
        ("n_steps", np.int64),
        ("n_rejected", np.int64),
        ("next_output", np.int64),
    ]
)


class Controls(NamedTuple):
    """Error control and stopping rules of a kernel call.

    Attributes
    ----------
    rtol : float
    atol : (N,) ndarray
        One absolute tolerance per state component: the error scale of z_i is
        atol_i + rtol · |z_i|.
    t_max : float
        Stop (T_END) at this time.
    stop_loss : float
        Stop (CONVERGED) once L ≤ stop_loss after an accepted step.
    max_loss : float
        Stop (DIVERGED) once L > max_loss or L is not finite.
    max_steps : int
        Accepted steps of this call (RUNNING once they are used).
    """

    rtol: float
    atol: NDArray[np.float64]
    t_max: float
    stop_loss: float
    max_loss: float
    max_steps: int


class Outputs(NamedTuple):
    """Output times (sorted, > 0) and what is recorded there.

    Attributes
    ----------
    times : (R,) ndarray
    loss : (R, 2) ndarray
        Train and test loss (NaN until recorded).
    beta : (R, d) ndarray
        β at each time.
    X_test, y_test : ndarray
        The test set, (0, d) and (0,) when there is none.
    """

    times: NDArray[np.float64]
    loss: NDArray[np.float64]
    beta: NDArray[np.float64]
    X_test: NDArray[np.float64]
    y_test: NDArray[np.float64]


def new_progress(loss0: float) -> np.ndarray:
    """A progress record at t = 0 with L(θ_0) = ``loss0``.

    Examples
    --------
    >>> from dlnsam.flows.records import new_progress
    >>> p = new_progress(0.5)
    >>> float(p["loss"][0]), int(p["n_steps"][0])
    (0.5, 0)
    """
    progress = np.zeros(1, dtype=PROGRESS)
    progress["loss"] = loss0
    return progress


def new_outputs(
    times: NDArray[np.float64], d: int, X_test: NDArray[np.float64], y_test: NDArray[np.float64]
) -> Outputs:
    """Empty records (NaN) for the output ``times``.

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam.flows.records import new_outputs
    >>> new_outputs(np.array([1.0, 2.0]), 3, np.zeros((0, 3)), np.zeros(0)).beta.shape
    (2, 3)
    """
    return Outputs(
        times, np.full((times.size, 2), np.nan), np.full((times.size, d), np.nan), X_test, y_test
    )
