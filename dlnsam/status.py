"""Every status code of dlnsam, its name and its meaning.

Two kinds live here:

- the integer codes that the Numba kernels return (plain module-level ints,
  which Numba compiles as constants), grouped by the kernel family that
  returns them;
- the public enums that results carry (:class:`Status` for runs and flows,
  :class:`SolveStatus` for the hypentropy solver), which compare equal to
  their string values and describe themselves in words.

The Python layer maps a kernel code to a public status in one place per
family, so a new code is added here and in that map only.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["SolveStatus", "Status"]

# Codes of the step loops (discrete runs) and of the flow integrators.
RUNNING = 0  # the budget of this call was used; call again to go on
CONVERGED = 1  # L ≤ stop_loss
DIVERGED = 2  # L above max_loss or not finite
STEP_UNDERFLOW = 3  # an adaptive step fell below the resolution of t
T_END = 4  # a flow reached t_max

# Codes of the hypentropy Newton kernel.
NEWTON_CONVERGED = 1
NEWTON_MAX_ITER = 2
NEWTON_UNSAFE = 3  # the fast path cannot evaluate the terms: hand over to the robust one
NEWTON_ROUNDING = 4  # the decrease is below rounding: hand over to the robust one
NEWTON_LINE_SEARCH_FAILED = 5


class Status(str, Enum):
    """How a run or a flow ended. Compares equal to its string value.

    Members
    -------
    CONVERGED
        The training loss fell below the requested tolerance.
    MAX_STEPS
        The step budget (or ``t_max`` of a flow) ran out first.
    DIVERGED
        The loss became non-finite or exploded; the returned parameters are the
        last iterate with a finite loss.
    INTERRUPTED
        Stopped by KeyboardInterrupt; the returned record holds everything
        computed up to then.
    STEP_SIZE_UNDERFLOW
        An adaptive integrator needed a step below the floating-point
        resolution of t (a stiff or blowing-up flow).
    """

    CONVERGED = "converged"
    MAX_STEPS = "max_steps"
    DIVERGED = "diverged"
    INTERRUPTED = "interrupted"
    STEP_SIZE_UNDERFLOW = "step_size_underflow"

    def __str__(self) -> str:
        return self.value

    @property
    def ok(self) -> bool:
        """True for a run that ended as asked (converged or used its budget)."""
        return self in (Status.CONVERGED, Status.MAX_STEPS)


class SolveStatus(str, Enum):
    """How :func:`dlnsam.hypentropy.solve` ended. Compares equal to its string value.

    Members
    -------
    CONVERGED
        The relative primal residual reached ``tol``.
    MAX_ITER
        ``max_iter`` Newton steps were taken first.
    STALLED
        The residual stopped decreasing at its rounding floor, above ``tol``:
        the predicted decrease of the dual objective was below its rounding
        error for several steps without progress (ask for a larger ``tol``).
    LINE_SEARCH_FAILED
        No step along the Newton direction decreased the dual objective or the
        residual.
    """

    CONVERGED = "converged"
    MAX_ITER = "max_iter"
    STALLED = "stalled"
    LINE_SEARCH_FAILED = "line_search_failed"

    def __str__(self) -> str:
        return self.value

    @property
    def description(self) -> str:
        """A sentence describing the status."""
        return _SOLVE_DESCRIPTIONS[self]


_SOLVE_DESCRIPTIONS = {
    SolveStatus.CONVERGED: "the relative primal residual reached tol",
    SolveStatus.MAX_ITER: "the Newton iteration budget max_iter ran out",
    SolveStatus.STALLED: (
        "the residual stopped decreasing at its rounding floor, above tol; try a larger tol"
    ),
    SolveStatus.LINE_SEARCH_FAILED: (
        "the line search found no step that decreases the dual objective or the residual"
    ),
}
