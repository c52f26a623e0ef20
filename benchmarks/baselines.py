"""The baselines dlnsam is measured against: NumPy loops, ``solve_ivp`` and SLSQP.

The NumPy training loop and the ``solve_ivp`` right-hand side are built on
:mod:`dlnsam.reference`, the plain-NumPy reference the tests check dlnsam
against: the SAM(ρ, m) direction with every perturbed copy formed explicitly,
so 1-SAM is a Python loop over the n examples, the way a researcher first
writes it. The JAX baseline is :mod:`benchmarks.jax_baseline` (optional).

Conventions are those of dlnsam: ℓ_i(β) = ½ (x_iᵀβ − y_i)², L = mean of ℓ_i,
β = u ⊙ v, start at u₀ = 2α, v₀ = 0, update θ ← θ − γ D(θ).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.integrate
import scipy.optimize
from numpy.typing import NDArray

from dlnsam import reference

__all__ = ["IvpResult", "KKTResiduals", "direction", "kkt_residuals", "slsqp", "solve_ivp", "train"]

Array = NDArray[np.float64]
Direction = Callable[[Array, Array], tuple[Array, Array]]


#: The whole batch, read from X as a slice (an index array would copy X every call).
ALL = slice(None)


def direction(
    X: Array, y: Array, u: Array, v: Array, rho: float, m: int | None
) -> tuple[Array, Array]:
    """The SAM(ρ, m) direction of :mod:`dlnsam.reference` over all n rows.

    ρ = 0 is the gradient ∇L(θ); m None (or n) is n-SAM, ∇L(θ̃) at
    θ̃ = θ + ρ ∇L(θ); m = 1 is 1-SAM, ``reference.sam_direction``'s loop over
    the examples, each with its own perturbed copy θ̃_i = θ + ρ ∇ℓ_i(θ).
    """
    n = X.shape[0]
    if rho == 0.0:
        return reference.grad_uv(X, y, u, v, ALL)
    if m is not None and m != n:
        return reference.sam_direction(reference.grad_uv, X, y, u, v, np.arange(n), rho, m)
    gu, gv = reference.grad_uv(X, y, u, v, ALL)
    return reference.grad_uv(X, y, u + rho * gu, v + rho * gv, ALL)


def one_sam_flow_direction(X: Array, y: Array, rho: float) -> Direction:
    """The 1-SAM direction in closed form, vectorized: the solve_ivp right-hand side's.

    A Python loop over the examples at every evaluation would make the
    comparison one between a loop and a compiled formula rather than between
    integrators; so, as researchers do for flows, the per-example perturbed
    gradients are summed in closed form with the elementwise powers X², X³
    (five matrix–vector products). With s = u² + v²,
    r̃ = r + ρ r ⊙ (X² s) + ρ² r² ⊙ (X³ β) and
    D_u = (1/n)[(Xᵀr̃) ⊙ v + ρ (X²ᵀ(r̃ ⊙ r)) ⊙ u] (u ↔ v for D_v); the tests
    check it against :func:`direction` with m = 1.
    """
    n = X.shape[0]
    X2 = X * X
    X3 = X2 * X

    def one_sam(u: Array, v: Array) -> tuple[Array, Array]:
        beta = u * v
        r = X @ beta - y
        r_t = r + rho * r * (X2 @ (u * u + v * v)) + rho**2 * r * r * (X3 @ beta)
        G = X.T @ r_t / n
        H = rho * (X2.T @ (r_t * r)) / n
        return G * v + H * u, G * u + H * v

    return one_sam


def train(
    X: Array, y: Array, *, lr: float, steps: int, alpha: float, rho: float, m: int | None
) -> Array:
    """β after ``steps`` updates θ ← θ − γ D(θ) from u₀ = 2α, v₀ = 0 (D: :func:`direction`).

    Examples
    --------
    >>> X, y = np.eye(2), np.array([1.0, 0.0])
    >>> train(X, y, lr=0.1, steps=0, alpha=0.5, rho=0.0, m=None)
    array([0., 0.])
    """
    u, v = np.full(X.shape[1], 2.0 * alpha), np.zeros(X.shape[1])
    for _ in range(steps):
        du, dv = direction(X, y, u, v, rho, m)
        u, v = u - lr * du, v - lr * dv
    return u * v


class _BudgetSpent(Exception):
    """Raised from the right-hand side when the wall-clock budget is spent."""


@dataclass(frozen=True)
class IvpResult:
    """The outcome of :func:`solve_ivp` (NaN β and ∫L when the budget ran out)."""

    beta: Array  # β = u ⊙ v at t_end
    integral_loss: float  # ∫₀^{t_end} L ds
    t_reached: float  # t_end, or the latest time evaluated when the budget ran out
    finished: bool  # whether the whole interval was integrated within the budget
    # Right-hand-side evaluations, every call counted (solve_ivp's own nfev
    # leaves out those of the finite-difference Jacobians).
    nfev: int
    n_steps: int | None  # accepted steps (None when the budget ran out)
    seconds: float  # wall time


def solve_ivp(
    X: Array, y: Array, *, rho: float, m: int | None, alpha: float, t_end: float,
    rtol: float, atol: float, budget: float = float("inf"), method: str = "DOP853",
) -> IvpResult:  # fmt: skip
    """Integrate the flow θ̇ = −D(θ), İ = L(θ) from u₀ = 2α, v₀ = 0, I₀ = 0 over [0, t_end].

    The state is z = [u (d), v (d), I (1)], so ∫L ds comes out of the same
    integration; D is :func:`direction` (ρ = 0: the gradient flow; m = 1:
    :func:`one_sam_flow_direction`). The right-hand side raises once ``budget``
    seconds are spent, and the result then says how far the integration got.
    ``method`` is any method of ``scipy.integrate.solve_ivp``; the stiff ones
    approximate the Jacobian by finite differences.
    """
    d = X.shape[1]
    if rho != 0.0 and m == 1:
        flow_direction = one_sam_flow_direction(X, y, rho)
    else:
        flow_direction = lambda u, v: direction(X, y, u, v, rho, m)  # noqa: E731

    def rhs(t: float, z: Array) -> Array:
        if time.perf_counter() > deadline:
            raise _BudgetSpent
        reached[0], reached[1] = max(reached[0], t), reached[1] + 1
        u, v = z[:d], z[d : 2 * d]
        du, dv = flow_direction(u, v)
        return np.concatenate([-du, -dv, [reference.loss(X, y, u * v)]])

    z0 = np.concatenate([np.full(d, 2.0 * alpha), np.zeros(d), [0.0]])
    reached = [0.0, 0]  # [latest t evaluated, evaluations]
    start = time.perf_counter()
    deadline = start + budget
    try:
        sol = scipy.integrate.solve_ivp(rhs, (0.0, t_end), z0, method=method, rtol=rtol, atol=atol)
    except _BudgetSpent:
        seconds = time.perf_counter() - start
        return IvpResult(np.full(d, np.nan), np.nan, reached[0], False, reached[1], None, seconds)
    seconds = time.perf_counter() - start
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    z = sol.y[:, -1]
    beta = z[:d] * z[d : 2 * d]
    return IvpResult(beta, float(z[2 * d]), t_end, True, reached[1], sol.t.size - 1, seconds)


def hypentropy(beta: Array, alpha: float) -> float:
    """φ_α(β) = Σ_i α² q(β_i/α²), q(z) = 2 − √(4 + z²) + z arcsinh(z/2), from the formula."""
    z = beta / alpha**2
    return float(np.sum(alpha**2 * (2.0 - np.sqrt(4.0 + z * z) + z * np.arcsinh(z / 2.0))))


def hypentropy_gradient(beta: Array, alpha: float) -> Array:
    """∇φ_α(β) = arcsinh(β / (2α²))."""
    return np.arcsinh(beta / (2.0 * alpha**2))


def slsqp(
    X: Array,
    y: Array,
    alpha: float,
    *,
    ftol: float = 1e-6,
    maxiter: int = 100,
    callback: Callable[[scipy.optimize.OptimizeResult | np.ndarray], None] | None = None,
) -> scipy.optimize.OptimizeResult:
    """Minimize φ_α(β) subject to Xβ = y with SLSQP from β = 0 (``x`` of the result is β).

    The approach of public code on diagonal linear networks: the primal
    problem in d unknowns, with the analytic gradient and the constraint
    Jacobian X. ``ftol`` and ``maxiter`` default to SciPy's.
    """
    constraint = {"type": "eq", "fun": lambda b: X @ b - y, "jac": lambda b: X}
    return scipy.optimize.minimize(
        hypentropy,
        np.zeros(X.shape[1]),
        args=(alpha,),
        jac=hypentropy_gradient,
        constraints=[constraint],
        method="SLSQP",
        options={"ftol": ftol, "maxiter": maxiter},
        callback=callback,
    )


@dataclass(frozen=True)
class KKTResiduals:
    """How far β is from the minimum-hypentropy interpolator (relative residuals)."""

    primal: float  # ‖Xβ − y‖ / ‖y‖ (feasibility)
    dual: float  # ‖P_null(X) ∇φ_α(β)‖ / ‖∇φ_α(β)‖ (stationarity: ∇φ_α(β) ∈ row(X))

    @property
    def worst(self) -> float:
        """The larger of the two."""
        return max(self.primal, self.dual)


def kkt_residuals(X: Array, y: Array, beta: Array, alpha: float) -> KKTResiduals:
    """The relative primal and dual residuals of the optimality conditions at β.

    min φ_α(β) s.t. Xβ = y is solved when Xβ = y and ∇φ_α(β) = Xᵀλ for some λ;
    the dual residual is the part of ∇φ_α(β) outside the row space of X (an
    orthonormal basis of it from a QR factorization of Xᵀ).

    Examples
    --------
    >>> X, y = np.array([[1.0, 1.0]]), np.array([2.0])
    >>> kkt_residuals(X, y, np.array([1.0, 1.0]), 0.5).worst < 1e-15  # symmetric: optimal
    True
    """
    basis, _ = np.linalg.qr(X.T)
    grad = hypentropy_gradient(beta, alpha)
    grad_norm = np.linalg.norm(grad)
    outside = grad - basis @ (basis.T @ grad)
    return KKTResiduals(
        primal=float(np.linalg.norm(X @ beta - y) / np.linalg.norm(y)),
        dual=float(np.linalg.norm(outside) / grad_norm) if grad_norm > 0 else 0.0,
    )
