"""Hypentropy: the implicit-bias potential of diagonal linear networks.

A diagonal linear network β = u ⊙ v trained by gradient flow from the scale α
(u₀ = 2α, v₀ = 0) converges to the interpolator that minimizes the hypentropy
potential

.. math::

    \\phi_\\alpha(\\beta) = \\sum_i \\alpha_i^2\\, q(\\beta_i / \\alpha_i^2), \\qquad
    q(z) = 2 - \\sqrt{4 + z^2} + z \\operatorname{arcsinh}(z/2),

among all β with Xβ = y (Woodworth et al., COLT 2020). SAM flows converge to the
same kind of minimizer with a smaller, per-coordinate effective scale
(Andriushchenko & Flammarion, ICML 2022). This module solves that problem
(:func:`solve`, :func:`path`) and its inverse, the scale α̂ that explains a given
interpolator (:func:`fit_alpha`).

α → 0 gives the minimum-ℓ1 interpolator (basis pursuit, the "rich" regime),
α → ∞ the minimum-ℓ2 one (the pseudo-inverse, the "kernel" regime).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
import scipy.linalg
import scipy.optimize
from numpy.typing import ArrayLike, NDArray

from dlnsam import _hypentropy_kernel as _kernel
from dlnsam._validation import alpha_vector, as_float_array, nonnegative_int, positive_float
from dlnsam.status import SolveStatus

__all__ = [
    "AlphaFit",
    "ClosestAlpha",
    "HypentropyResult",
    "SolveStatus",
    "closest_alpha",
    "fit_alpha",
    "path",
    "phi",
    "q",
    "q_prime",
    "solve",
]

_LOG2 = float(np.log(2.0))
# exp() overflows just above 709; trial points whose largest term exceeds e^650
# are rejected outright, which also keeps sums of up to 1e26 terms finite.
_MAX_EXPONENT = 650.0
# For |w| > e^40, arcsinh(w) = log(2|w|) and the corrections (< 1e-34) vanish in float64.
_ASYMPTOTIC_LOG = 40.0
# Initial (and smallest) trust radius, a bound on max|Δz| per Newton step: the
# terms are exponential in z = Xᵀλ, so their quadratic model holds for moderate Δz.
_TRUST_RADIUS = 10.0
_ARMIJO = 1e-4
_MAX_BACKTRACKS = 60
# Steps whose predicted decrease of the dual is below its rounding error may
# still reduce the residual; this many of them without halving it is a stall.
_MAX_ROUNDING_STEPS = 10
_ROUNDING = 64 * np.finfo(np.float64).eps
# fit_alpha: polishing steps after Brent, and the residual below which two
# distinct minimizers both count as exact (β not identifiable).
_GAUSS_NEWTON_STEPS = 8
_RIVAL_ATOL = 1e-12
_DISTINCT_LOG_ALPHA = 1e-3
# fit_alpha: a grid minimum must undercut its neighbours by this much to be refined.
_DIP_RTOL = 1e-8
# Scales the solver accepts: beyond them the Hessian weights 2α² cosh z span more
# than the double range (tiny α) or λ ∝ 1/α² underflows (huge α).
_ALPHA_RANGE = (1e-100, 1e100)
# solve() rescales a y whose largest entry lies outside this range, where sums of
# squares of y or β would overflow or underflow.
_Y_MODERATE = (2.0**-128, 2.0**128)
# y may miss the range of a rank-deficient X by rounding, not by more.
_CONSISTENCY_RTOL = 1e-8


# --------------------------------------------------------------------------- potential


def q(z: ArrayLike) -> NDArray[np.float64] | np.float64:
    """The scalar hypentropy function q.

    Parameters
    ----------
    z : array_like
        Points, any shape.

    Returns
    -------
    ndarray or float
        q(z), same shape as ``z``.

    Notes
    -----
    .. math:: q(z) = 2 - \\sqrt{4 + z^2} + z \\operatorname{arcsinh}(z/2)

    q is even, convex, q ≥ 0, q(0) = 0, q'(z) = arcsinh(z/2) and q''(z) = 1/√(4 + z²);
    q(z) ≈ z²/4 near 0 and q(z) = |z| log|z| − |z| + 2 + O(1/|z|) for large |z|.
    It is evaluated as |z| (arcsinh(|z|/2) − |z| / (2 + √(4 + z²))), which has no
    cancellation near 0 and no overflow of z².

    Examples
    --------
    >>> from dlnsam.hypentropy import q
    >>> float(q(0.0))
    0.0
    >>> bool(abs(q(1e-3) / (1e-3**2 / 4) - 1) < 1e-6)
    True
    """
    a = np.abs(np.asarray(z, dtype=np.float64))
    return a * (np.arcsinh(0.5 * a) - a / (2.0 + np.hypot(2.0, a)))


def q_prime(z: ArrayLike) -> NDArray[np.float64] | np.float64:
    """Derivative of :func:`q`, q'(z) = arcsinh(z/2).

    Parameters
    ----------
    z : array_like
        Points, any shape.

    Returns
    -------
    ndarray or float
        arcsinh(z/2), same shape as ``z``.

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam.hypentropy import q_prime
    >>> bool(np.isclose(q_prime(2.0), np.log(1 + np.sqrt(2))))
    True
    """
    return np.arcsinh(0.5 * np.asarray(z, dtype=np.float64))


def _log_abs(beta: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """log|β| where β ≠ 0 (0 elsewhere) and the mask of nonzeros, without warnings."""
    a = np.abs(beta)
    nonzero = a > 0
    return np.log(np.where(nonzero, a, 1.0)), nonzero


def _alpha_sq_q(
    beta: NDArray[np.float64], log_alpha_sq: NDArray[np.float64]
) -> NDArray[np.float64]:
    """α² q(β/α²) elementwise, computed from log α² so that tiny or huge α cannot overflow."""
    log_abs, nonzero = _log_abs(beta)
    t = log_abs - log_alpha_sq  # log |β|/α²
    w = np.exp(np.minimum(t, _ASYMPTOTIC_LOG))
    # α² q(β/α²) = |β| (arcsinh(w/2) − w/(2 + √(4 + w²))) with w = |β|/α²,
    # and the bracket is log w − 1 + 2/w + O(1/w²) for large w.
    bracket = np.where(
        t > _ASYMPTOTIC_LOG,
        t - 1.0 + 2.0 * np.exp(-np.maximum(t, _ASYMPTOTIC_LOG)),
        np.arcsinh(0.5 * w) - w / (2.0 + np.hypot(2.0, w)),
    )
    return np.where(nonzero, np.abs(beta) * bracket, 0.0)


def _grad_phi(
    beta: NDArray[np.float64], log_two_alpha_sq: NDArray[np.float64]
) -> NDArray[np.float64]:
    """∇φ_α(β) = arcsinh(β / (2α²)), from log(2α²) so that no ratio overflows."""
    log_abs, nonzero = _log_abs(beta)
    t = log_abs - log_two_alpha_sq
    magnitude = np.where(
        t > _ASYMPTOTIC_LOG,
        t + _LOG2,
        np.arcsinh(np.exp(np.minimum(t, _ASYMPTOTIC_LOG))),
    )
    return np.where(nonzero, np.sign(beta) * magnitude, 0.0)


def phi(beta: ArrayLike, alpha: ArrayLike) -> NDArray[np.float64] | float:
    """The hypentropy potential φ_α(β).

    Parameters
    ----------
    beta : (..., d) array_like
        One predictor, or a stack of predictors along the leading axes.
    alpha : float or (d,) array_like
        Scale, scalar or per coordinate, every entry finite and > 0.

    Returns
    -------
    float or (...) ndarray
        φ_α(β), summed over the last axis.

    Raises
    ------
    ValueError
        If ``beta`` is not at least 1-D or is not finite, or if ``alpha`` is not a
        positive scalar or (d,) array.

    Notes
    -----
    .. math:: \\phi_\\alpha(\\beta) = \\sum_{i=1}^d \\alpha_i^2\\, q(\\beta_i/\\alpha_i^2),
              \\qquad \\nabla\\phi_\\alpha(\\beta) = \\operatorname{arcsinh}(\\beta/(2\\alpha^2)).

    For large α, φ_α(β) ≈ ‖β/α‖²/4; for small α, φ_α(β) ≈ Σ|β_i| (log(|β_i|/α_i²) − 1),
    i.e. ‖β‖₁ log(1/α²) to leading order. The terms are computed from log α², so
    any positive float α is accepted.

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam.hypentropy import phi, q
    >>> beta = np.array([1.0, -2.0])
    >>> bool(np.isclose(phi(beta, 0.5), 0.25 * (q(4.0) + q(-8.0))))
    True
    >>> phi(np.zeros(3), 1e-8)
    0.0
    """
    b = np.asarray(beta, dtype=np.float64)
    if b.ndim < 1 or b.size == 0:
        raise ValueError(f"beta must be an array of at least 1 dimension, got shape {b.shape}")
    if not np.all(np.isfinite(b)):
        raise ValueError("beta contains non-finite values (NaN or inf)")
    a = alpha_vector(alpha, b.shape[-1])
    total = np.sum(_alpha_sq_q(b, 2.0 * np.log(a)), axis=-1)
    return float(total) if total.ndim == 0 else total


# --------------------------------------------------------------------------- records


_MESSAGE_PREFIXES = {status: f"{status.value}: {status.description} (" for status in SolveStatus}


@dataclass(frozen=True, eq=False)
class HypentropyResult:
    """The minimizer of the hypentropy over the interpolators, from :func:`solve`.

    Attributes
    ----------
    beta : (d,) ndarray
        β*(α) = 2α² ⊙ sinh(Xᵀλ), read-only.
    lam : (n,) ndarray
        Dual variable λ with β = 2α² ⊙ sinh(Xᵀλ), read-only; for a
        rank-deficient X, the one of minimum norm.
    primal_residual : float
        ‖Xβ − y‖₂ / ‖y‖₂; this is also the relative gradient of the dual.
    dual_residual : float
        ‖P_null(X) ∇φ_α(β)‖₂ / ‖∇φ_α(β)‖₂ with ∇φ_α(β) = arcsinh(β/(2α²))
        recomputed from ``beta``: how far β is from stationarity ∇φ_α(β) ∈ row(X),
        independently of ``lam``. Zero when y = 0.
    n_iter : int
        Newton steps taken.
    success : bool
        Whether ``status`` is ``SolveStatus.CONVERGED``.
    status : SolveStatus
        Why the iteration stopped.
    message : str
        A readable summary.
    """

    beta: NDArray[np.float64]
    lam: NDArray[np.float64]
    primal_residual: float
    dual_residual: float
    n_iter: int
    success: bool
    status: SolveStatus
    message: str


@dataclass(frozen=True)
class AlphaFit:
    """The scalar scale α̂ that best explains an interpolator, from :func:`fit_alpha`.

    Attributes
    ----------
    alpha : float
        The minimizer α̂ of the normalized null-space residual.
    residual : float
        ‖P_null(X) z‖₂ / ‖z‖₂ at α̂, with z = arcsinh(β/(2α̂²)): ≈ 0 (rounding)
        when β is a hypentropy interpolator β*(α̂), clearly positive otherwise.
    success : bool
        False when the minimum lies at an end of ``bounds`` (α̂ may lie outside),
        when β is explained as well by α → ∞ (it is the minimum-ℓ2 interpolator),
        or when the 1-D minimization did not converge.
    message : str
        A readable summary.
    """

    alpha: float
    residual: float
    success: bool
    message: str


# --------------------------------------------------------------------------- validation


class _Design(NamedTuple):
    """A validated system Xβ = y in whitened form.

    With the thin SVD X = U_r Σ_r V_rᵀ (r = rank X), Xβ = y is equivalent to
    V_rᵀβ = y_w := Σ_r⁻¹ U_rᵀ y (y in the range of X), and the dual variable of
    the whitened system is μ = Σ_r U_rᵀ λ. Newton on μ has the Hessian
    V_rᵀ diag(2α² cosh z) V_r, whose conditioning no longer contains cond(X)².
    """

    X: NDArray[np.float64]
    y: NDArray[np.float64]
    basis: NDArray[np.float64]  # V_r, (d, r): orthonormal basis of the row space of X
    singular: NDArray[np.float64]  # Σ_r, (r,)
    U_r: NDArray[np.float64]  # (n, r)
    y_w: NDArray[np.float64]  # (r,)
    y_norm: float

    def lam(self, mu: NDArray[np.float64]) -> NDArray[np.float64]:
        """λ = U_r Σ_r⁻¹ μ, the minimum-norm dual variable of the original system."""
        return self.U_r @ (mu / self.singular)

    def mu(self, lam: NDArray[np.float64]) -> NDArray[np.float64]:
        return self.singular * (self.U_r.T @ lam)

    def residual_norm(self, g_w: NDArray[np.float64]) -> float:
        """‖Xβ − y‖ (for y in the range of X) from the whitened residual V_rᵀβ − y_w."""
        return float(np.linalg.norm(self.singular * g_w))


def _row_space(X: NDArray[np.float64]) -> tuple[NDArray, NDArray, NDArray, int]:
    """Thin SVD of X and its numerical rank (NumPy's matrix_rank threshold)."""
    U, s, Vt = scipy.linalg.svd(X, full_matrices=False)
    threshold = (s[0] if s.size else 0.0) * max(X.shape) * np.finfo(np.float64).eps
    rank = int(np.count_nonzero(s > threshold))
    return U, s, Vt, rank


def _check_xy(X: ArrayLike, y: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    Xa = as_float_array(X, "X", 2)
    ya = as_float_array(y, "y", 1)
    if ya.shape[0] != Xa.shape[0]:
        raise ValueError(f"y has {ya.shape[0]} entries but X has {Xa.shape[0]} rows")
    return Xa, ya


def _reduce(Xa: NDArray[np.float64], ya: NDArray[np.float64]) -> _Design:
    """Check that Xβ = y is consistent and put it in whitened, full-row-rank form."""
    n = Xa.shape[0]
    U, s, Vt, rank = _row_space(Xa)
    y_norm = float(np.linalg.norm(ya))
    U_r = U[:, :rank]
    projected = U_r.T @ ya
    if rank < n:
        miss = float(np.linalg.norm(ya - U_r @ projected))
        if miss > _CONSISTENCY_RTOL * y_norm:
            raise ValueError(
                f"y is not in the range of X: X has rank {rank} < {n} rows and the "
                f"least-squares residual is {miss / y_norm:.2e} relative to ||y||, so "
                "the system X beta = y is inconsistent and has no interpolator"
            )
    return _Design(
        X=Xa,
        y=ya,
        basis=np.ascontiguousarray(Vt[:rank].T),
        singular=s[:rank],
        U_r=U_r,
        y_w=projected / s[:rank],
        y_norm=y_norm,
    )


def _check_alpha_range(alpha: NDArray[np.float64], name: str) -> None:
    """Keep α where the dual's terms and their ratios stay inside double range."""
    low, high = float(np.min(alpha)), float(np.max(alpha))
    if low < _ALPHA_RANGE[0] or high > _ALPHA_RANGE[1]:
        raise ValueError(
            f"{name} must lie in [{_ALPHA_RANGE[0]:g}, {_ALPHA_RANGE[1]:g}], "
            f"got values in [{low:g}, {high:g}]"
        )


def _check_tol(tol: float) -> float:
    out = positive_float(tol, "tol")
    if out >= 1.0:
        raise ValueError(f"tol must be < 1, got {out}")
    return out


# --------------------------------------------------------------------------- Newton


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


def _finish(
    design: _Design,
    log_two_alpha_sq: NDArray[np.float64],
    outcome: _NewtonOutcome,
) -> HypentropyResult:
    terms = _terms(design.basis @ outcome.mu, log_two_alpha_sq)
    assert terms is not None
    beta = terms.sinh
    lam = design.lam(outcome.mu)
    if design.y_norm == 0.0:
        primal, dual = 0.0, 0.0
    else:
        primal = float(np.linalg.norm(design.X @ beta - design.y)) / design.y_norm
        dual = _null_space_residual(_grad_phi(beta, log_two_alpha_sq), design.basis)
    return _result(beta, np.array(lam, dtype=np.float64), primal, dual, outcome.n_iter,
                   outcome.status)  # fmt: skip


def _result(
    beta: NDArray[np.float64],
    lam: NDArray[np.float64],
    primal: float,
    dual: float,
    n_iter: int,
    status: SolveStatus,
) -> HypentropyResult:
    """The HypentropyResult of either path, with read-only arrays (which it takes over)."""
    beta.setflags(write=False)
    lam.setflags(write=False)
    message = (
        f"{_MESSAGE_PREFIXES[status]}{n_iter} Newton steps, "
        f"relative primal residual {primal:.2e}, dual residual {dual:.2e})"
    )
    return HypentropyResult(
        beta=beta, lam=lam, primal_residual=primal, dual_residual=dual, n_iter=n_iter,
        success=status is SolveStatus.CONVERGED, status=status, message=message,
    )  # fmt: skip


def _null_space_residual(z: NDArray[np.float64], row_basis: NDArray[np.float64]) -> float:
    """‖P_null z‖ / ‖z‖ for z (d,) or (k, d) stacked along the first axis."""
    off = z - (z @ row_basis) @ row_basis.T
    z_norm = np.linalg.norm(z, axis=-1)
    ratio = np.linalg.norm(off, axis=-1) / np.where(z_norm > 0, z_norm, 1.0)
    return ratio if ratio.ndim else float(ratio)


# --------------------------------------------------------------------------- the two paths

_F64 = np.dtype(np.float64)
# alpha_vec when alpha is a scalar (read-only, like the vectors the kernel gets).
_SCALAR = np.empty(0)
_SCALAR.setflags(write=False)
_KERNEL_STATUS = {
    _kernel.CONVERGED: SolveStatus.CONVERGED,
    _kernel.MAX_ITER: SolveStatus.MAX_ITER,
}


def _readonly(a: NDArray[np.float64]) -> NDArray[np.float64]:
    """``a`` or a read-only view of it: the kernel is compiled for read-only inputs only."""
    if a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


def _solve_validated(
    Xa: NDArray[np.float64],
    ya: NDArray[np.float64],
    alpha: float,
    alpha_vec: NDArray[np.float64],
    lam: NDArray[np.float64],
    tol: float,
    max_iter: int,
    designs: list[_Design],
) -> HypentropyResult:
    """Solve validated input: the Cholesky kernel while it is safe, then the robust path.

    ``alpha_vec`` is the (d,) scale, or ``_SCALAR`` with the scalar ``alpha``;
    ``lam`` (n,) is the start, a writable array that the result takes over;
    ``designs`` caches the whitened system (``[]`` or one _Design) across calls.
    """
    d = Xa.shape[1]
    beta = np.empty(d)
    code, n_iter, radius, rounding_steps, reference_norm, primal, dual = _kernel.newton(
        _readonly(Xa), _readonly(ya), alpha, _readonly(alpha_vec), tol, max_iter, lam, beta
    )
    status = _KERNEL_STATUS.get(code)
    if status is not None:
        return _result(beta, lam, primal, dual, n_iter, status)
    # Not safe for Cholesky (rank-deficient or ill-conditioned X, Hessian weights
    # spanning too many decades), the end game in rounding, or a failed line search:
    # continue on the robust path from the last λ, in the same iteration state.
    full = np.full(d, alpha) if alpha_vec.size == 0 else alpha_vec
    state = (n_iter, radius, rounding_steps, reference_norm)
    return _solve_robust(Xa, ya, full, lam, tol, max_iter, designs, *state)


def _solve_robust(
    Xa: NDArray[np.float64],
    ya: NDArray[np.float64],
    alpha: NDArray[np.float64],
    lam: NDArray[np.float64],
    tol: float,
    max_iter: int,
    designs: list[_Design],
    n_done: int = 0,
    radius: float = _TRUST_RADIUS,
    rounding_steps: int = 0,
    reference_norm: float = np.inf,
) -> HypentropyResult:
    """The robust path (SVD whitening, QR Newton systems) from λ = ``lam``, α (d,).

    The other arguments continue an iteration begun on the fast path: ``n_done``
    Newton steps were taken (they count against ``max_iter``), with the trust
    radius and stall-detector state ``radius``, ``rounding_steps``, ``reference_norm``.
    """
    if not designs:
        designs.append(_reduce(Xa, ya))
    design = designs[0]
    log_two_alpha_sq = _log_two_alpha_sq(alpha)
    state = (radius, rounding_steps, reference_norm)
    outcome = _newton(design, log_two_alpha_sq, design.mu(lam), tol, max_iter - n_done, *state)
    if n_done:
        outcome = outcome._replace(n_iter=outcome.n_iter + n_done)
    return _finish(design, log_two_alpha_sq, outcome)


# --------------------------------------------------------------------------- public solvers


def solve(
    X: ArrayLike,
    y: ArrayLike,
    alpha: ArrayLike,
    *,
    tol: float = 1e-12,
    max_iter: int = 200,
    lam0: ArrayLike | None = None,
) -> HypentropyResult:
    """Minimize the hypentropy φ_α over the interpolators of (X, y).

    Parameters
    ----------
    X : (n, d) array_like
        Design, finite. Usually n < d with full row rank; a rank-deficient X is
        accepted when y lies in its range (redundant rows are reduced away).
    y : (n,) array_like
        Targets, finite.
    alpha : float or (d,) array_like
        Hypentropy scale, scalar or per coordinate, every entry in [1e-100, 1e100]
        (for a y whose largest entry is far from 1, see Notes).
    tol : float, optional
        Stop when ‖Xβ − y‖₂ ≤ tol ‖y‖₂; 0 < tol < 1.
    max_iter : int, optional
        Maximum number of Newton steps.
    lam0 : (n,) array_like, optional
        Starting dual variable (a warm start, e.g. the ``lam`` of a nearby α).
        Default 0, whose first full Newton step is the α²-weighted minimum-ℓ2
        interpolator.

    Returns
    -------
    HypentropyResult
        β*(α), λ, both relative residuals, the iteration count and the status.

    Raises
    ------
    ValueError
        If an input has the wrong shape or a NaN or inf, if ``alpha`` is not > 0
        or outside [1e-100, 1e100], if ``tol`` or ``max_iter`` is out of range,
        or if y is not in the range of X (then no interpolator exists). The
        message names the argument.

    See Also
    --------
    path : β*(α) for many α with warm starts.
    fit_alpha : the inverse problem.

    Notes
    -----
    The problem and its optimality (KKT) conditions are

    .. math::

        \\beta^*(\\alpha) = \\operatorname{argmin}_{X\\beta = y} \\phi_\\alpha(\\beta),
        \\qquad \\beta = 2\\alpha^2 \\odot \\sinh(X^\\top\\lambda),\\quad X\\beta = y .

    λ minimizes the smooth, strictly convex dual (for X of full row rank)

    .. math:: F(\\lambda) = \\sum_i 2\\alpha_i^2 \\cosh((X^\\top\\lambda)_i) - y^\\top\\lambda,

    with gradient X(2α² ⊙ sinh Xᵀλ) − y = Xβ − y and Hessian
    X diag(2α² ⊙ cosh Xᵀλ) Xᵀ. Because β is defined from λ by the KKT formula,
    stationarity holds by construction and the relative primal residual is the
    stopping criterion.

    The dual is minimized by damped Newton: an Armijo backtracking line search
    on F, and a trust radius on max|Δ(Xᵀλ)| that starts at 10 and widens while
    it binds, which makes the iteration globally convergent and, near the
    solution, quadratically convergent. F is shifted by its constant Σ 2α², so
    that the line search can compare values for large α, and its terms are
    evaluated from e^{−|z|} and e^{log 2α² + |z|} (checked against overflow in
    log space), which is what lets α go down to 1e-8 and far below, where
    |Xᵀλ| ≈ log(|β|/α²) is large. Two implementations take this iteration:

    - a fast path, a Numba kernel that works on λ directly and solves each
      Newton system by a Cholesky factorization of the n×n Hessian. Cholesky
      is accurate while the Hessian is well conditioned, so the kernel
      requires a 1-norm condition estimate κ of XXᵀ (Hager–Higham, as LAPACK's
      dpocon) of at most 1e3, and before every step κ · max w / min w ≤ 1e10
      for the Hessian weights w = 2α² cosh z. In practice: a well-conditioned
      X with a scalar α down to about 1e-4 (for |β| of order 1) or a
      per-coordinate α within a few decades. The residuals it reports are
      computed as below, the projection with the Cholesky factor of XXᵀ;
    - the robust path, which whitens the system with the SVD X = UΣVᵀ
      (λ = UΣ⁻¹μ, so that Xᵀλ = Vμ), removing cond(X)² from the Newton
      systems and the redundant rows of a rank-deficient X, and solves them by
      QR of the row-sorted diag(√w) V: for small α the weights span hundreds
      of orders of magnitude, where Cholesky fails. It takes over from the
      fast path, with its λ and iteration state, as soon as that is not safe
      (rank-deficient or ill-conditioned X, tiny α, α spanning many decades:
      at once or midway), and for the end game when the residual reaches its
      rounding floor above ``tol`` (after two such steps; the robust floor can
      be lower).

    Both take the same steps up to rounding, and give the same results to
    about 1e-12 (relative to max|β|).

    Scaling y by c > 0 scales the solution: β*(α) for c y is c β*(α/√c) for y,
    with the same λ. When max|y| lies outside [2⁻¹²⁸, 2¹²⁸], where sums of
    squares would overflow or underflow, the problem is solved in that form,
    with c a power of 4 that brings max|y| to order 1 (exact in floating
    point); then α/√c must lie in [1e-100, 1e100] as well as α.

    The attainable residual is limited by rounding in z = Xᵀλ: an error of
    ε‖X‖‖λ‖ in z changes β_i by 2α_i² cosh(z_i) times that. For a scalar α this
    stays near machine precision over the whole range α ∈ [1e-8, 1e4]; for a
    per-coordinate α that spans many decades (large ‖λ‖ from the small α_i,
    large weights from the large ones) the floor can exceed ``tol``, and the
    solver then stops with status ``'stalled'``.

    References
    ----------
    B. Woodworth, S. Gunasekar, J. D. Lee, E. Moroshko, P. Savarese, I. Golan,
    D. Soudry, N. Srebro, "Kernel and rich regimes in overparametrized models",
    COLT 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam.hypentropy import solve
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((8, 12))
    >>> y = X @ np.r_[1.0, -1.0, np.zeros(10)]
    >>> res = solve(X, y, 1e-6)
    >>> res.success, res.primal_residual < 1e-12
    (True, True)
    >>> np.round(res.beta[:4], 4) + 0.0  # small alpha: the sparse, minimum-l1 interpolator
    array([ 1., -1.,  0.,  0.])
    """
    # The common case (C-contiguous float64 arrays, float alpha and tol, int
    # max_iter) is checked with as few NumPy calls as possible; anything else, or
    # anything that fails, goes through the full checks and their messages.
    if (
        type(X) is np.ndarray
        and type(y) is np.ndarray
        and X.dtype is _F64
        and y.dtype is _F64
        and X.ndim == 2
        and y.ndim == 1
        and X.size
        and y.shape[0] == X.shape[0]
        and X.flags.c_contiguous
        and y.flags.c_contiguous
        and np.isfinite(X).all()
        and np.isfinite(y).all()
    ):
        Xa, ya = X, y
    else:
        Xa, ya = _check_xy(X, y)
    n, d = Xa.shape
    if type(alpha) in (float, np.float64) and _ALPHA_RANGE[0] <= alpha <= _ALPHA_RANGE[1]:
        alpha_vec = _SCALAR
    else:
        alpha_vec = alpha_vector(alpha, d)
        _check_alpha_range(alpha_vec, "alpha")
        alpha = 0.0
    if not (type(tol) is float and 0.0 < tol < 1.0):
        tol = _check_tol(tol)
    if not (type(max_iter) is int and max_iter >= 0):
        max_iter = nonnegative_int(max_iter, "max_iter")
    if lam0 is None:
        lam = np.zeros(n)
    else:
        lam0_arr = as_float_array(lam0, "lam0", 1)
        if lam0_arr.shape != (n,):
            raise ValueError(f"lam0 must have shape ({n},), got {lam0_arr.shape}")
        lam = lam0_arr.copy()
    shift = _y_shift(ya)
    if shift == 0:
        return _solve_validated(Xa, ya, float(alpha), alpha_vec, lam, float(tol), max_iter, [])
    # c = 2^shift: solve for y / c at α / √c, then scale β back (λ is the same).
    half = shift // 2
    if alpha_vec.size:
        alpha_vec = np.ldexp(alpha_vec, -half)
        low, high = float(np.min(alpha_vec)), float(np.max(alpha_vec))
    else:
        alpha = low = high = math.ldexp(float(alpha), -half)
    if low < _ALPHA_RANGE[0] or high > _ALPHA_RANGE[1]:
        raise ValueError(
            f"alpha must lie in [{math.ldexp(_ALPHA_RANGE[0], half):.3g}, "
            f"{math.ldexp(_ALPHA_RANGE[1], half):.3g}] for this y (max|y| = "
            f"{float(np.max(np.abs(ya))):.3g}): the solution for c*y at alpha is c times "
            "the one for y at alpha/sqrt(c), which must lie in "
            f"[{_ALPHA_RANGE[0]:g}, {_ALPHA_RANGE[1]:g}]"
        )
    res = _solve_validated(Xa, np.ldexp(ya, -shift), float(alpha), alpha_vec, lam, float(tol),
                           max_iter, [])  # fmt: skip
    beta = np.ldexp(res.beta, shift)
    beta.setflags(write=False)
    return replace(res, beta=beta)


def _y_shift(y: NDArray[np.float64]) -> int:
    """An even k such that y / 2^k has its largest entry near 1, or 0 if y is moderate."""
    top = float(np.max(np.abs(y)))
    if top == 0.0 or _Y_MODERATE[0] <= top <= _Y_MODERATE[1]:
        return 0
    return 2 * (math.frexp(top)[1] // 2)


def path(
    X: ArrayLike,
    y: ArrayLike,
    alphas: ArrayLike,
    *,
    tol: float = 1e-12,
    max_iter: int = 200,
) -> NDArray[np.float64]:
    """β*(α) for a sequence of scalar scales, solved with warm starts.

    Parameters
    ----------
    X : (n, d) array_like
        Design, as in :func:`solve`.
    y : (n,) array_like
        Targets, as in :func:`solve`.
    alphas : (m,) array_like
        Scalar scales in [1e-100, 1e100], in any order (repeats allowed).
    tol, max_iter
        As in :func:`solve`, for each α.

    Returns
    -------
    (m, d) ndarray
        Row k is β*(alphas[k]).

    Raises
    ------
    ValueError
        As in :func:`solve`; also if ``alphas`` is not a non-empty 1-D array.
    RuntimeError
        If the solve for some α does not reach ``tol``, even from a cold start
        (e.g. a residual floor above ``tol``; pass a larger ``tol``).

    Notes
    -----
    The scales are solved from the largest down: for large α the dual variable
    scales like 1/α², for small α it grows like log(1/α²) along a fixed
    direction, so each solve starts from the best (lowest dual objective) of
    the previous λ, the previous λ rescaled by (α_prev/α)², and the secant
    extrapolation in log α of the previous two.

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam.hypentropy import path
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((5, 12))
    >>> y = X @ np.r_[1.0, -1.0, np.zeros(10)]
    >>> betas = path(X, y, [1e-6, 1.0, 1e3])
    >>> betas.shape
    (3, 12)
    >>> l1 = np.abs(betas).sum(axis=1)   # the l1 norm grows with alpha
    >>> bool(l1[0] < l1[1] < l1[2])
    True
    """
    Xa, ya = _check_xy(X, y)
    a = as_float_array(alphas, "alphas", 1)
    if np.any(a <= 0):
        raise ValueError(f"alphas must be > 0 everywhere, got min {float(a.min())}")
    _check_alpha_range(a, "alphas")
    tol = _check_tol(tol)
    max_iter = nonnegative_int(max_iter, "max_iter")
    n, d = Xa.shape
    designs: list[_Design] = []  # the whitened system, if the robust path needs it
    betas = np.empty((a.size, d))
    history: list[tuple[float, NDArray[np.float64]]] = []  # (log α, λ) of past solves
    for k in np.argsort(-a, kind="stable"):
        alpha = float(a[k])
        log_two_alpha_sq = np.full(d, _LOG2 + 2.0 * np.log(alpha))
        log_alpha = math.log(alpha)
        candidates = [np.zeros(n)]
        if history:
            log_prev, lam_prev = history[-1]
            candidates += [lam_prev, lam_prev * np.exp(2.0 * (log_prev - log_alpha))]
            if len(history) >= 2:
                log_prev2, lam_prev2 = history[-2]
                if log_prev2 != log_prev:
                    slope = (log_alpha - log_prev) / (log_prev - log_prev2)
                    candidates.append(lam_prev + slope * (lam_prev - lam_prev2))
        values = [
            _dual_objective(_terms(Xa.T @ lam, log_two_alpha_sq), ya, lam)[0] for lam in candidates
        ]
        start = candidates[int(np.argmin(values))]
        res = _solve_validated(Xa, ya, alpha, _SCALAR, np.array(start), tol, max_iter, designs)
        if not res.success:
            res = _solve_validated(Xa, ya, alpha, _SCALAR, np.zeros(n), tol, max_iter, designs)
        if not res.success:
            raise RuntimeError(
                f"the hypentropy solve for alpha = {alpha:g} did not converge: "
                f"{res.status.description}"
            )
        if not history or history[-1][0] != log_alpha:
            history.append((log_alpha, res.lam))
        betas[k] = res.beta
    return betas


# --------------------------------------------------------------------------- inverse problem


def fit_alpha(
    X: ArrayLike,
    beta: ArrayLike,
    *,
    bounds: tuple[float, float] = (1e-12, 1e8),
    points_per_decade: int = 20,
) -> AlphaFit:
    """The scalar scale α̂ for which β is (closest to) the hypentropy interpolator β*(α̂).

    Parameters
    ----------
    X : (n, d) array_like
        Design, finite, with a nontrivial null space (rank < d).
    beta : (d,) array_like
        An interpolator (e.g. the limit of a simulated run), finite, not all 0.
    bounds : (float, float), optional
        Search interval for α, 0 < low < high.
    points_per_decade : int, optional
        Density of the coarse log-spaced grid that precedes the 1-D refinement.

    Returns
    -------
    AlphaFit
        α̂, the normalized null-space residual at α̂, success flag and message.

    Raises
    ------
    ValueError
        If ``X`` or ``beta`` has the wrong shape or a NaN or inf, if ``beta`` is
        zero, if ``bounds`` is not an increasing pair of positive floats, or if X
        has full column rank (then every α explains β equally well).

    Notes
    -----
    β = β*(α) exactly when ∇φ_α(β) = arcsinh(β/(2α²)) lies in the row space of X,
    so α̂ minimizes over log α the normalized residual

    .. math:: r(\\alpha) = \\frac{\\lVert P_{\\mathrm{null}(X)}\\, z(\\alpha) \\rVert_2}
                               {\\lVert z(\\alpha) \\rVert_2},
              \\qquad z(\\alpha) = \\operatorname{arcsinh}\\bigl(\\beta / (2\\alpha^2)\\bigr),

    (without the normalization α → ∞ would always win, since z → 0). P_null
    uses an orthonormal basis of the row space from the SVD of X.

    r is evaluated on a log-spaced grid over ``bounds``; around every local
    minimum of the grid that stands out of the rounding noise, ``r²`` is
    minimized by bounded Brent between the grid neighbours (and on both sides of
    the minimizer found) and the result polished by Gauss–Newton on the vector
    P_null z / ‖z‖, so that an exact hypentropy interpolator gives r at rounding
    level and α̂ to about 1e-12 relative. With a small null space the curve
    α ↦ β*(α) can pass through the same β at several α; the message then lists
    the other minimizers that explain β as well (as far as the grid resolves
    them: β*(α) may also be nearly constant over a range of α, and then α̂
    reproduces β without being unique).

    α is identifiable only while β/(2α²) is not tiny: for α ≫ √|β| the
    hypentropy is ‖β‖²/(4α²) to relative O(β²/α⁴), whose minimizer does not
    depend on α, and r flattens out.

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam.hypentropy import fit_alpha, solve
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((5, 12))
    >>> y = rng.standard_normal(5)
    >>> fit = fit_alpha(X, solve(X, y, 0.1).beta)
    >>> fit.success, round(fit.alpha, 8), fit.residual < 1e-10
    (True, 0.1, True)
    """
    Xa = as_float_array(X, "X", 2)
    b = as_float_array(beta, "beta", 1)
    d = Xa.shape[1]
    if b.shape != (d,):
        raise ValueError(f"beta must have shape ({d},) to match X, got {b.shape}")
    if not np.any(b):
        raise ValueError("beta must not be identically zero (its scale is then undefined)")
    try:
        low, high = (float(v) for v in bounds)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bounds must be a pair of floats, got {bounds!r}") from exc
    if not (np.isfinite(low) and np.isfinite(high) and 0 < low < high):
        raise ValueError(f"bounds must satisfy 0 < low < high (finite), got {bounds!r}")
    points_per_decade = nonnegative_int(points_per_decade, "points_per_decade", minimum=1)
    _, _, Vt, rank = _row_space(Xa)
    if rank == d:
        raise ValueError(
            "X has full column rank: every beta is then a hypentropy interpolator "
            "for every alpha, so alpha cannot be identified"
        )
    row_basis = Vt[:rank].T

    def residual(log_alpha: NDArray[np.float64] | float) -> NDArray[np.float64] | float:
        la = np.asarray(log_alpha, dtype=np.float64)[..., None]
        return _null_space_residual(_grad_phi(b, _LOG2 + 2.0 * la), row_basis)

    lo, hi = np.log(low), np.log(high)
    n_grid = max(3, int(np.ceil((hi - lo) / np.log(10.0) * points_per_decade)) + 1)
    grid = np.linspace(lo, hi, n_grid)
    on_grid = residual(grid)
    # r can have several local minima: with a small null space the curve α ↦ β*(α)
    # may pass through β more than once. Far out r has a flat tail whose rounding
    # noise makes spurious minima, so only dips above the noise are refined
    # (and the smallest grid value in any case).
    padded = np.concatenate(([np.inf], on_grid, [np.inf]))
    neighbours = np.minimum(padded[:-2], padded[2:])
    local = set(np.flatnonzero(on_grid < (1.0 - _DIP_RTOL) * neighbours).tolist())
    local.add(int(np.argmin(on_grid)))
    ks = sorted(local)
    minima = [(m, k) for k in ks for m in _refine(residual, b, row_basis, grid, k)]
    best = min(range(len(minima)), key=lambda i: minima[i][0][1])
    (log_alpha, res, converged), k_best = minima[best]
    alpha_hat = float(np.exp(log_alpha))
    at_edge = k_best in (0, n_grid - 1)
    success = converged and not at_edge
    if at_edge:
        side = "lower" if k_best == 0 else "upper"
        message = (
            f"the residual is smallest at the {side} end of bounds; alpha may lie "
            f"outside [{low:g}, {high:g}] (alpha = {alpha_hat:.6g}, residual {res:.2e})"
        )
    elif not converged:
        message = "the 1-D minimization around the best grid point did not converge"
    else:
        message = f"alpha = {alpha_hat:.10g} with normalized null-space residual {res:.2e}"
    # As α → ∞, z(α) → β/(2α²): the residual tends to that of β itself, zero for
    # the minimum-ℓ2 interpolator, whose α is then only bounded below.
    at_infinity = _null_space_residual(b, row_basis)
    if success and at_infinity <= 10.0 * res + _RIVAL_ATOL:
        success = False
        message = (
            f"beta is explained as well by alpha -> infinity (residual {at_infinity:.2e}): "
            f"it is numerically the minimum-l2 interpolator and alpha is only bounded below, "
            f"by about {alpha_hat:.6g}"
        )
    rivals: list[float] = []  # distinct log α (0.1% apart) that fit as well
    for (t, r, _), _k in sorted(minima):
        if r <= 10.0 * res + _RIVAL_ATOL and all(
            abs(t - u) > _DISTINCT_LOG_ALPHA for u in [log_alpha, *rivals]
        ):
            rivals.append(t)
    if rivals:
        message += "; not identifiable: beta is explained as well by alpha = " + ", ".join(
            f"{np.exp(t):.10g}" for t in rivals
        )
    return AlphaFit(alpha=alpha_hat, residual=res, success=success, message=message)


def _refine(
    residual: Callable[[float], float],
    beta: NDArray[np.float64],
    row_basis: NDArray[np.float64],
    grid: NDArray[np.float64],
    k: int,
) -> list[tuple[float, float, bool]]:
    """Minimizers of r between the grid neighbours of grid[k]: [(log α, r, converged)].

    The best one in the cell, then one on each side of it, because two zeros of
    r can share a grid cell.
    """
    low, high = float(grid[max(k - 1, 0)]), float(grid[min(k + 1, grid.size - 1)])
    main = _minimize_between(residual, beta, row_basis, low, high, start=float(grid[k]))
    found = [main]
    for a, b in ((low, main[0]), (main[0], high)):
        if b - a > 1e-9:
            found.append(_minimize_between(residual, beta, row_basis, a, b))
    return found


def _minimize_between(
    residual: Callable[[float], float],
    beta: NDArray[np.float64],
    row_basis: NDArray[np.float64],
    low: float,
    high: float,
    start: float | None = None,
) -> tuple[float, float, bool]:
    """Minimize r on [low, high]: (log α, r, converged).

    Bounded Brent on r² (smooth at a zero of r), then Gauss–Newton on the vector
    residual R(t) = P_null z / ‖z‖, which finds a zero of r (an exact hypentropy
    interpolator) to rounding accuracy where Brent stops at √ε.
    """
    opt = scipy.optimize.minimize_scalar(
        lambda t: float(residual(t)) ** 2,
        bounds=(low, high),
        method="bounded",
        options={"xatol": 1e-12},
    )
    t, r = float(opt.x), float(residual(float(opt.x)))
    if start is not None:
        r_start = float(residual(start))
        if r_start < r:  # never return worse than the grid point
            t, r = start, r_start
    for _ in range(_GAUSS_NEWTON_STEPS):
        z = _grad_phi(beta, _LOG2 + 2.0 * t)
        dz = -2.0 * np.tanh(z)  # d/dt arcsinh(β e^{−2t} / 2)
        z_norm = float(np.linalg.norm(z))
        if z_norm == 0.0:
            break
        off = z - row_basis @ (row_basis.T @ z)
        d_off = dz - row_basis @ (row_basis.T @ dz)
        dR = (d_off - off * float(z @ dz) / z_norm**2) / z_norm
        curvature = float(dR @ dR)
        if curvature == 0.0:
            break
        t_new = min(max(t - float(off @ dR) / z_norm / curvature, low), high)
        r_new = float(residual(t_new))
        if not r_new < r:
            break
        t, r = t_new, r_new
    return t, r, bool(opt.success)


@dataclass(frozen=True)
class ClosestAlpha:
    """The point of the hypentropy path nearest to a given interpolator, from
    :func:`closest_alpha`.

    Attributes
    ----------
    alpha : float
        α̂ = argmin_α ‖β*(α) − β‖₂ / ‖β‖₂ over scalar α.
    distance : float
        The relative distance ‖β*(α̂) − β‖₂ / ‖β‖₂ (0 when β lies on the path).
    success : bool
        False when the minimum lies at an end of ``bounds``.
    message : str
        A readable summary.
    """

    alpha: float
    distance: float
    success: bool
    message: str


def closest_alpha(
    X: ArrayLike,
    y: ArrayLike,
    beta: ArrayLike,
    *,
    bounds: tuple[float, float] = (1e-8, 1e4),
    points_per_decade: int = 4,
) -> ClosestAlpha:
    """Place an interpolator on the hypentropy path: the scalar α whose β*(α) is nearest.

    Parameters
    ----------
    X : (n, d) array_like
        Design.
    y : (n,) array_like
        Targets.
    beta : (d,) array_like
        A predictor to place, e.g. the solution reached by SGD or SAM; not 0.
    bounds : (float, float), optional
        Search interval for α, inside [1e-100, 1e100].
    points_per_decade : int, optional
        Density of the coarse grid (warm-started along :func:`path`) that
        precedes the bounded 1-D refinement in log α.

    Returns
    -------
    ClosestAlpha
        α̂ and the relative distance ‖β*(α̂) − β‖ / ‖β‖.

    Notes
    -----
    Unlike :func:`fit_alpha`, which asks for which α the point β itself has the
    hypentropy form (a question with no good answer when the per-coordinate
    scales of β differ), this asks which point of the path
    {β*(α) : α > 0} is nearest to β. Both agree when β = β*(α).

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam.hypentropy import closest_alpha, solve
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.standard_normal((5, 12)), rng.standard_normal(5)
    >>> fit = closest_alpha(X, y, solve(X, y, 0.2).beta)
    >>> round(fit.alpha, 6), fit.distance < 1e-8
    (0.2, True)
    """
    Xa, ya = _check_xy(X, y)
    b = as_float_array(beta, "beta", 1)
    if b.shape != (Xa.shape[1],):
        raise ValueError(f"beta must have shape ({Xa.shape[1]},), got {b.shape}")
    norm = float(np.linalg.norm(b))
    if norm == 0.0:
        raise ValueError("beta must not be zero")
    lo, hi = (positive_float(v, "bounds") for v in bounds)
    if not lo < hi:
        raise ValueError(f"bounds must be an increasing pair, got {bounds}")
    _check_alpha_range(np.array([lo, hi]), "bounds")
    decades = math.log10(hi / lo)
    grid = np.geomspace(lo, hi, max(3, math.ceil(decades * points_per_decade) + 1))
    betas = path(Xa, ya, grid)
    dist = np.linalg.norm(betas - b, axis=1) / norm
    i = int(np.argmin(dist))
    lam = {"lam": None}

    def objective(log_alpha: float) -> float:
        sol = solve(Xa, ya, math.exp(log_alpha), lam0=lam["lam"])
        lam["lam"] = sol.lam
        return float(np.linalg.norm(sol.beta - b) / norm)

    left, right = math.log(grid[max(i - 1, 0)]), math.log(grid[min(i + 1, grid.size - 1)])
    res = scipy.optimize.minimize_scalar(objective, bounds=(left, right), method="bounded",
                          options={"xatol": 1e-9})  # fmt: skip
    alpha_hat, distance = math.exp(res.x), float(res.fun)
    if dist[i] < distance:  # the grid point beats the refinement (flat valley)
        alpha_hat, distance = float(grid[i]), float(dist[i])
    at_edge = i in (0, grid.size - 1)
    message = f"alpha^ = {alpha_hat:.6g}, relative distance {distance:.3e}"
    if at_edge:
        message += f"; the minimum is at an end of bounds {bounds}, alpha^ may lie outside"
    return ClosestAlpha(alpha=alpha_hat, distance=distance, success=not at_edge, message=message)
