"""Result records shared by discrete runs and continuous-time flows."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dlnsam import status as codes
from dlnsam.status import Status

__all__ = ["MESSAGES", "History", "Status", "json_safe", "outcome"]

#: (kind, case) -> (status, message template) for :func:`outcome`: every
#: message of :func:`dlnsam.run` ("run") and :func:`dlnsam.flow` ("flow").
MESSAGES: dict[tuple[str, str], tuple[Status, str]] = {
    ("run", "interrupted"): (
        Status.INTERRUPTED,
        "interrupted after {n_steps} of {steps} steps; results are those of step {n_steps}",
    ),
    ("run", "diverged"): (
        Status.DIVERGED,
        "diverged at step {next_step}: the loss became non-finite or exceeded {max_loss:.3g} "
        "(1e10 x the initial loss scale); {cause}. "
        "Returned the iterate of step {n_steps}, the last with a finite loss",
    ),
    ("run", "converged"): (
        Status.CONVERGED,
        "training loss {train_loss:.3e} <= loss_tol x L(0) at step {n_steps}",
    ),
    ("run", "running"): (
        Status.MAX_STEPS,
        "ran all {steps} steps; final training loss {train_loss:.3e}",
    ),
    ("flow", "interrupted"): (Status.INTERRUPTED, "interrupted at t = {t_end:.6g}"),
    ("flow", "converged"): (
        Status.CONVERGED,
        "L = {loss:.3e} <= loss_tol x L(0) at t = {t_end:.6g}",
    ),
    ("flow", "diverged_at_start"): (
        Status.DIVERGED,
        "{what} at theta_0 is not finite (it overflows): the flow cannot start; "
        "rescale X, y or the initialization{remedy}",
    ),
    ("flow", "diverged"): (Status.DIVERGED, "the flow blew up at t = {t_end:.6g}: {what}; {why}"),
    ("flow", "step_underflow"): (
        Status.STEP_SIZE_UNDERFLOW,
        "the step size fell below the resolution of t = {t_end:.6g} (L = {loss:.3e}); "
        "the flow is {blowing}too stiff for these tolerances{hint}",
    ),
    ("flow", "t_end"): (
        Status.MAX_STEPS,
        "not converged by t_max = {t_max:g}: L = {loss:.3e} > loss_tol x L(0) = {target:.3e}",
    ),
    ("flow", "running"): (
        Status.MAX_STEPS,
        "not converged by {max_steps} steps: L = {loss:.3e} > loss_tol x L(0) = {target:.3e}{hint}",
    ),
}

_CASES = {
    codes.RUNNING: "running",
    codes.CONVERGED: "converged",
    codes.DIVERGED: "diverged",
    codes.STEP_UNDERFLOW: "step_underflow",
    codes.T_END: "t_end",
}


def outcome(
    kind: str, code: int, interrupted: bool = False, case: str | None = None, **context: Any
) -> tuple[Status, str]:
    """The public status and message of a run or a flow that stopped with a kernel ``code``.

    Parameters
    ----------
    kind : {'run', 'flow'}
    code : int
        The code the kernel returned (:mod:`dlnsam.status`; RUNNING: the
        step budget ran out).
    interrupted : bool
        Stopped by KeyboardInterrupt (overrides ``code``).
    case : str, optional
        A finer case than the code's own, e.g. ``'diverged_at_start'``.
    **context
        The fields of the message template (see :data:`MESSAGES`).

    Examples
    --------
    >>> from dlnsam.results import outcome
    >>> from dlnsam.status import CONVERGED
    >>> outcome("flow", CONVERGED, loss=1e-20, t_end=12.5)
    (<Status.CONVERGED: 'converged'>, 'L = 1.000e-20 <= loss_tol x L(0) at t = 12.5')
    """
    name = "interrupted" if interrupted else (case or _CASES[code])
    status, template = MESSAGES[(kind, name)]
    return status, template.format(**context)


@dataclass(frozen=True, eq=False)
class History:
    """Losses recorded along a run.

    Attributes
    ----------
    steps : (R,) int ndarray
        Step indices t (0 is the initialization); for a flow, times.
    train_loss : (R,) ndarray
        L(θ_t) on the training set.
    test_loss : (R,) ndarray or None
        Loss on the test set, when the problem has one.
    """

    steps: NDArray[np.float64] | NDArray[np.int64]
    train_loss: NDArray[np.float64]
    test_loss: NDArray[np.float64] | None


def json_safe(value: Any) -> Any:
    """A JSON-safe copy: NumPy scalars and arrays to Python, NaN and ±inf to None.

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam.results import json_safe
    >>> json_safe({"a": np.float64("nan"), "b": np.arange(2), "c": (1.5, np.inf)})
    {'a': None, 'b': [0, 1], 'c': [1.5, None]}
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if value is None or isinstance(value, str):
        return value
    return str(value)
