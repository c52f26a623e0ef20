"""Damped Newton on the hypentropy dual: the method of :func:`dlnsam.hypentropy.solve`.

This module is the robust path of ``solve`` (NumPy and SciPy) and the
reference that the fast path, the Numba kernel :mod:`dlnsam.hypentropy.kernel`,
is tested against.

The problem. β*(α) = argmin {φ_α(β) : Xβ = y} has the optimality (KKT)
conditions β = 2α² ⊙ sinh(Xᵀλ), Xβ = y, and λ minimizes the smooth, strictly
convex dual (for X of full row rank)

    F(λ) = Σ_i 2α_i² (cosh((Xᵀλ)_i) − 1) − yᵀλ,

with gradient Xβ − y and Hessian X diag(2α² ⊙ cosh Xᵀλ) Xᵀ. Because β is
defined from λ by the KKT formula, stationarity holds by construction and the
relative primal residual ‖Xβ − y‖ / ‖y‖ is the stopping criterion. F is
shifted by its constant Σ 2α² so that the line search can compare values for
large α.

The iteration. Damped Newton: an Armijo backtracking line search on F, and a
trust radius on max|Δ(Xᵀλ)| that starts at 10 and widens while it binds, which
makes the iteration globally convergent and, near the solution, quadratically
convergent. Near the optimum the decrease of F drowns in its rounding error; a
step is then accepted if it reduces the residual, and "rounding steps" whose
Newton decrement is below that error are counted: more than 10 of them without
halving the residual is a stall (``SolveStatus.STALLED``).

Extreme α. The terms are evaluated from e^{−|z|} and e^{log 2α² + |z|}
(checked against overflow in log space, see :func:`_terms`), which lets α go
down to 1e-8 and far below, where |Xᵀλ| ≈ log(|β|/α²) is large.

The robust path (this module) whitens the system with the SVD X = UΣVᵀ
(λ = UΣ⁻¹μ, so that Xᵀλ = Vμ), which removes cond(X)² from the Newton systems
and the redundant rows of a rank-deficient X, and solves each Newton system by
QR of the row-sorted diag(√w) V (:func:`_newton_direction`): for small α the
weights w span hundreds of orders of magnitude, where Cholesky fails. The fast
path takes the same steps on λ directly with Cholesky solves while that is
safe, and hands over to this one, with its λ and iteration state, when it is
not (rank-deficient or ill-conditioned X, tiny α, α spanning many decades) or
for the end game; both give the same results to about 1e-12 relative to max|β|.

Attainable accuracy. Rounding in z = Xᵀλ, an error of ε‖X‖‖λ‖, changes β_i by
2α_i² cosh(z_i) times that. For a scalar α this stays near machine precision
over α ∈ [1e-8, 1e4]; for a per-coordinate α spanning many decades the floor
can exceed ``tol``, and the solver stops with status ``'stalled'``.

Reference: B. Woodworth, S. Gunasekar, J. D. Lee, E. Moroshko, P. Savarese,
I. Golan, D. Soudry, N. Srebro, "Kernel and rich regimes in overparametrized
models", COLT 2020 (the potential and its implicit-bias theorem).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import scipy.linalg
from numpy.typing import NDArray

from dlnsam.hypentropy.design import _Design
from dlnsam.hypentropy.potential import _LOG2
from dlnsam.status import SolveStatus

# exp() overflows just above 709; trial points whose largest term exceeds e^650
# are rejected outright, which also keeps sums of up to 1e26 terms finite.
_MAX_EXPONENT = 650.0
# Initial (and smallest) trust radius, a bound on max|Δz| per Newton step: the
# terms are exponential in z = Xᵀλ, so their quadratic model holds for moderate Δz.
_TRUST_RADIUS = 10.0
_ARMIJO = 1e-4
_MAX_BACKTRACKS = 60
# Steps whose predicted decrease of the dual is below its rounding error may
# still reduce the residual; this many of them without halving it is a stall.
_MAX_ROUNDING_STEPS = 10
_ROUNDING = 64 * np.finfo(np.float64).eps


class _Terms(NamedTuple):
    excess: NDArray[np.float64]  # 2α²(cosh z − 1) ≥ 0
    sinh: NDArray[np.float64]  # 2α² sinh z, i.e. β
    log_scale: float  # the Hessian weights 2α² cosh z are e^log_scale · weights
    weights: NDArray[np.float64]


def _terms(z: NDArray[np.float64], log_two_alpha_sq: NDArray[np.float64]) -> _Terms | None:
    """The dual's per-coordinate terms in log space, or None if one would overflow.

    With a = |z| and E = log(2α²) + a − log 2 (so that e^E = α² e^a):
    2α²(cosh z − 1) = e^E (1 − e^{−a})², 2α² sinh z = sign(z) e^E (1 − e^{−2a}),
    2α² cosh z = e^E (1 + e^{−2a}); accurate for tiny α (large a) and small a.
    The Hessian weights are kept relative to e^{max E}, which may under- or
    overflow on its own when α is extreme.
    """
    a = np.abs(z)
    exponent = log_two_alpha_sq + a - _LOG2
    top = float(np.max(exponent))
    if not top <= _MAX_EXPONENT:
        return None
    scale = np.exp(exponent)
    return _Terms(
        excess=scale * np.square(np.expm1(-a)),
        sinh=np.sign(z) * scale * -np.expm1(-2.0 * a),
        log_scale=top,
        weights=np.exp(exponent - top) * (1.0 + np.exp(-2.0 * a)),
    )


def _dual_objective(terms: _Terms | None, y_w: NDArray, mu: NDArray) -> tuple[float, float]:
    """Dual objective shifted by its constant Σ 2α², and the size of its parts (rounding scale)."""
    if terms is None:
        return np.inf, np.inf
    total = float(np.sum(terms.excess))
    linear = float(y_w @ mu)
    return total - linear, total + abs(linear)


def _newton_direction(
    V: NDArray[np.float64], weights: NDArray[np.float64], g: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Solve (Vᵀ diag(w) V) p = −g through a QR factorization of diag(√w) V.

    For small α the weights span hundreds of orders of magnitude and the
    Hessian is numerically singular, yet its weak directions are the ones the
    iteration must move along. Householder QR of the row-scaled matrix, with
    the rows sorted by decreasing weight, is accurate for such graded problems
    (Powell & Reid), where a Cholesky factorization of the product is not.
    """
    order = np.argsort(-weights, kind="stable")
    A = np.sqrt(weights[order])[:, None] * V[order]
    R = scipy.linalg.qr(A, mode="r", check_finite=False)[0][: V.shape[1]]
    try:
        u = scipy.linalg.solve_triangular(R, -g, trans="T", check_finite=False)
        return scipy.linalg.solve_triangular(R, u, check_finite=False)
    except np.linalg.LinAlgError:  # exactly singular: some weights underflowed to 0
        return -scipy.linalg.lstsq(A.T @ A, g, check_finite=False)[0]


def _log_decrement(g: NDArray[np.float64], p_rel: NDArray[np.float64]) -> float | None:
    """log(−gᵀp_rel), or None unless −gᵀp_rel > 0.

    Both vectors are scaled to a largest entry of 1 first: for a huge y
    (‖y‖ near 1e150) the plain product overflows, although its logarithm,
    all that the iteration needs, is in range.
    """
    g_max = float(np.max(np.abs(g)))
    p_max = float(np.max(np.abs(p_rel)))
    if not (0.0 < g_max < np.inf and 0.0 < p_max < np.inf):
        return None
    dot = -float((g / g_max) @ (p_rel / p_max))
    if not dot > 0.0:
        return None
    return math.log(dot) + math.log(g_max) + math.log(p_max)


class _NewtonOutcome(NamedTuple):
    mu: NDArray[np.float64]
    n_iter: int
    status: SolveStatus


def _newton(
    design: _Design,
    log_two_alpha_sq: NDArray[np.float64],
    mu: NDArray[np.float64],
    tol: float,
    max_iter: int,
    radius: float = _TRUST_RADIUS,
    rounding_steps: int = 0,
    reference_norm: float = np.inf,
) -> _NewtonOutcome:
    """Damped Newton on the dual, from ``mu``, with a backtracking Armijo line search.

    ``radius`` is the initial trust radius (at least ``_TRUST_RADIUS``) and
    ``rounding_steps``, ``reference_norm`` the state of the stall detector: other
    than their defaults when the iteration continues where the fast path stopped.
    """
    V, y_w = design.basis, design.y_w
    terms = _terms(V @ mu, log_two_alpha_sq)
    if terms is None:  # an overflowing warm start: fall back to λ = 0
        mu = np.zeros_like(mu)
        terms = _terms(V @ mu, log_two_alpha_sq)
        assert terms is not None
    n_iter = 0
    while True:
        g = V.T @ terms.sinh - y_w
        g_norm = design.residual_norm(g)
        if g_norm <= tol * design.y_norm:
            return _NewtonOutcome(mu, n_iter, SolveStatus.CONVERGED)
        if n_iter >= max_iter:
            return _NewtonOutcome(mu, n_iter, SolveStatus.MAX_ITER)
        # Newton step p = e^{−log_scale} p_rel, formed only once it is known to be
        # representable: far from the solution for extreme α it is not.
        p_rel = _newton_direction(V, terms.weights, g)
        value, size = _dual_objective(terms, y_w, mu)
        log_decrement = _log_decrement(g, p_rel)  # log of (Newton decrement)² e^{log_scale}
        if log_decrement is None:
            return _NewtonOutcome(mu, n_iter, SolveStatus.LINE_SEARCH_FAILED)
        in_rounding = size > 0 and (log_decrement - terms.log_scale <= math.log(_ROUNDING * size))
        if in_rounding:
            if g_norm <= 0.5 * reference_norm:
                rounding_steps, reference_norm = 0, g_norm
            rounding_steps += 1
            if rounding_steps > _MAX_ROUNDING_STEPS:
                return _NewtonOutcome(mu, n_iter, SolveStatus.STALLED)
        n_iter += 1
        dz_max = float(np.max(np.abs(V @ p_rel)))
        # The full step, or the one whose change of z = Xᵀλ is capped at the radius.
        log_length = -terms.log_scale
        capped = dz_max > 0.0 and math.log(radius / dz_max) < log_length
        if capped:
            log_length = math.log(radius / dz_max)
        p = math.exp(log_length) * p_rel
        slope = float(g @ p)
        step = 1.0
        for _ in range(_MAX_BACKTRACKS):
            trial = mu + step * p
            trial_terms = _terms(V @ trial, log_two_alpha_sq)
            trial_value, _ = _dual_objective(trial_terms, y_w, trial)
            if trial_value <= value + _ARMIJO * step * slope:
                break
            # Near the optimum the decrease drowns in rounding: accept on the gradient.
            if trial_terms is not None and abs(trial_value - value) <= _ROUNDING * size:
                if design.residual_norm(V.T @ trial_terms.sinh - y_w) < g_norm:
                    break
            step *= 0.5
        else:
            return _NewtonOutcome(mu, n_iter, SolveStatus.LINE_SEARCH_FAILED)
        assert trial_terms is not None
        # Far from the solution (tiny α) the cap binds step after step: widen it.
        if capped and step == 1.0:
            radius *= 4.0
        elif step < 1.0:
            radius = max(_TRUST_RADIUS, step * radius)
        mu, terms = trial, trial_terms


def _log_two_alpha_sq(alpha: NDArray[np.float64]) -> NDArray[np.float64]:
    return _LOG2 + 2.0 * np.log(alpha)
