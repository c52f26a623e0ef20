"""Gradient and SAM flows with ``scipy.integrate.solve_ivp`` (DOP853), vectorized NumPy.

The baseline a researcher writes for the flows: a NumPy right-hand side for
the state z = [u (d), v (d), I (1)] with İ = L(θ), so that ∫L ds comes out of
the same integration, handed to ``solve_ivp(method="DOP853")``. The 1-SAM
right-hand side is the closed form with the elementwise powers X², X³ (five
matrix–vector products), not a loop over examples, so that the comparison is
between integrators, not between a loop and a formula.

An optional wall-clock budget stops the integration early (the right-hand
side raises once the budget is spent); the result then says how far it got.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.integrate
from numpy.typing import NDArray

__all__ = ["IvpResult", "right_hand_side", "solve"]

Array = NDArray[np.float64]
RightHandSide = Callable[[float, Array], Array]


class _BudgetSpent(Exception):
    """Raised from the right-hand side when the wall-clock budget is spent."""


@dataclass(frozen=True)
class IvpResult:
    """The outcome of :func:`solve`.

    Attributes
    ----------
    beta : (d,) ndarray
        β = u ⊙ v at ``t_end`` (NaN if the budget ran out).
    integral_loss : float
        ∫₀^{t_end} L ds (NaN if the budget ran out).
    t_reached : float
        The end of the interval, or the latest time evaluated when the budget ran out.
    finished : bool
        Whether the whole interval was integrated within the budget.
    nfev : int
        Right-hand-side evaluations, every call counted (``solve_ivp``'s own
        ``nfev`` leaves out those of BDF's finite-difference Jacobians).
    n_steps : int or None
        Accepted steps (None when the budget ran out).
    seconds : float
        Wall time.
    """

    beta: Array
    integral_loss: float
    t_reached: float
    finished: bool
    nfev: int
    n_steps: int | None
    seconds: float


def right_hand_side(X: Array, y: Array, rho: float, m: int | None) -> RightHandSide:
    """ż for the state z = [u, v, ∫L] of the gradient flow (ρ = 0) or a SAM flow.

    Parameters
    ----------
    X : (n, d) ndarray
        Design.
    y : (n,) ndarray
        Targets.
    rho : float
        SAM radius; 0 is the gradient flow.
    m : {1, None}
        1 for the 1-SAM flow, None for the n-SAM flow (ignored when ρ = 0).

    Returns
    -------
    callable
        ``f(t, z) -> ż``.

    Notes
    -----
    n-SAM: u̇ = −g̃ ⊙ ṽ, v̇ = −g̃ ⊙ ũ with θ̃ = θ + ρ (g ⊙ v, g ⊙ u) and g̃ the
    gradient at β̃ = ũ ⊙ ṽ. 1-SAM, with s = u² + v²:
    r̃ = r + ρ r ⊙ (X² s) + ρ² r² ⊙ (X³ β) and
    u̇ = −(1/n)[(Xᵀr̃) ⊙ v + ρ (X²ᵀ(r̃ ⊙ r)) ⊙ u] (u ↔ v for v̇).
    """
    n, d = X.shape
    X2 = X * X
    X3 = X2 * X

    def gradient_flow(t: float, z: Array) -> Array:
        u, v = z[:d], z[d : 2 * d]
        r = X @ (u * v) - y
        g = X.T @ r / n
        return np.concatenate([-g * v, -g * u, [r @ r / (2 * n)]])

    def n_sam_flow(t: float, z: Array) -> Array:
        u, v = z[:d], z[d : 2 * d]
        r = X @ (u * v) - y
        g = X.T @ r / n
        u_t, v_t = u + rho * g * v, v + rho * g * u
        g_t = X.T @ (X @ (u_t * v_t) - y) / n
        return np.concatenate([-g_t * v_t, -g_t * u_t, [r @ r / (2 * n)]])

    def one_sam_flow(t: float, z: Array) -> Array:
        u, v = z[:d], z[d : 2 * d]
        beta = u * v
        r = X @ beta - y
        r_t = r + rho * r * (X2 @ (u * u + v * v)) + rho**2 * r * r * (X3 @ beta)
        G = X.T @ r_t / n
        H = rho * (X2.T @ (r_t * r)) / n
        return np.concatenate([-(G * v + H * u), -(G * u + H * v), [r @ r / (2 * n)]])

    if rho == 0.0:
        return gradient_flow
    return one_sam_flow if m == 1 else n_sam_flow


def solve(
    X: Array,
    y: Array,
    *,
    rho: float,
    m: int | None,
    alpha: float,
    t_end: float,
    rtol: float,
    atol: float,
    budget: float = float("inf"),
    method: str = "DOP853",
) -> IvpResult:
    """Integrate a flow from u₀ = 2α, v₀ = 0 over [0, t_end] with DOP853 (or ``method``).

    Parameters
    ----------
    X : (n, d) ndarray
        Design.
    y : (n,) ndarray
        Targets.
    rho : float
        SAM radius (0: gradient flow).
    m : {1, None}
        1-SAM or n-SAM.
    alpha : float
        Initialization scale.
    t_end : float
        End of the interval.
    rtol, atol : float
        Tolerances of ``solve_ivp``.
    budget : float, optional
        Seconds after which the integration is abandoned.
    method : str, optional
        The ``solve_ivp`` method; the stiff ones ('BDF', 'LSODA', 'Radau')
        approximate the Jacobian by finite differences.

    Returns
    -------
    IvpResult
        β and ∫L at ``t_end``, counters and time.
    """
    d = X.shape[1]
    rhs = right_hand_side(X, y, rho, m)
    z0 = np.concatenate([np.full(d, 2.0 * alpha), np.zeros(d), [0.0]])
    start = time.perf_counter()
    deadline = start + budget
    reached = [0.0, 0]  # [latest t evaluated, evaluations]

    def watched(t: float, z: Array) -> Array:
        if time.perf_counter() > deadline:
            raise _BudgetSpent
        reached[0] = max(reached[0], t)
        reached[1] += 1
        return rhs(t, z)

    try:
        sol = scipy.integrate.solve_ivp(
            watched, (0.0, t_end), z0, method=method, rtol=rtol, atol=atol
        )
    except _BudgetSpent:
        nan = np.full(d, np.nan)
        seconds = time.perf_counter() - start
        return IvpResult(nan, np.nan, float(reached[0]), False, int(reached[1]), None, seconds)
    seconds = time.perf_counter() - start
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    z = sol.y[:, -1]
    return IvpResult(
        z[:d] * z[d : 2 * d], float(z[2 * d]), t_end, True, int(reached[1]), sol.t.size - 1, seconds
    )
