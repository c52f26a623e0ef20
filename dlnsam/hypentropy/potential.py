"""The hypentropy potential φ_α, its gradient, and the stationarity residual.

φ_α(β) = Σ_i α_i² q(β_i/α_i²) with q(z) = 2 − √(4 + z²) + z arcsinh(z/2), and
∇φ_α(β) = arcsinh(β/(2α²)). β is the minimum-hypentropy interpolator exactly
when ∇φ_α(β) lies in the row space of X, which :func:`identity_residual`
measures. Everything is computed from log α, so that any positive float α (and
a shrunk α₀ e^{−Δ} that underflows) is accepted.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike, NDArray

from dlnsam._validation import alpha_vector, as_float_array

__all__ = ["identity_residual", "phi", "q", "q_prime"]

_LOG2 = float(np.log(2.0))
# For |w| > e^t with t = 40, arcsinh(w) is taken as log(2|w|) (and α² q(β/α²) by
# its expansion). The dropped terms are O(e^{−2t}), below rounding for any t above
# about 20, so the cut-off does not change the values; 40 is the one the solver's
# results were established with, and one constant serves φ, ∇φ and identity_residual.
_ASYMPTOTIC_LOG = 40.0


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


def _null_space_residual(z: NDArray[np.float64], row_basis: NDArray[np.float64]) -> float:
    """‖P_null z‖ / ‖z‖ for z (d,) or (k, d) stacked along the first axis."""
    off = z - (z @ row_basis) @ row_basis.T
    z_norm = np.linalg.norm(z, axis=-1)
    ratio = np.linalg.norm(off, axis=-1) / np.where(z_norm > 0, z_norm, 1.0)
    return ratio if ratio.ndim else float(ratio)


def _row_space(X: NDArray[np.float64]) -> tuple[NDArray, NDArray, NDArray, int]:
    """Thin SVD of X and its numerical rank (NumPy's matrix_rank threshold)."""
    U, s, Vt = scipy.linalg.svd(X, full_matrices=False)
    threshold = (s[0] if s.size else 0.0) * max(X.shape) * np.finfo(np.float64).eps
    rank = int(np.count_nonzero(s > threshold))
    return U, s, Vt, rank


def identity_residual(
    X: ArrayLike, beta: ArrayLike, log_alpha: ArrayLike, null_basis: NDArray | None = None
) -> float:
    """How far β is from the form 2α² ⊙ sinh(Xᵀλ): ‖P_null z‖ / ‖z‖, z = arcsinh(β / (2α²)).

    Parameters
    ----------
    X : (n, d) array_like
        Design.
    beta : (d,) array_like
        A predictor, e.g. the state of a flow at some time t; finite.
    log_alpha : float or (d,) array_like
        log α, finite. Taken in log space so that α = α₀ e^{−Δ} with a large Δ,
        which underflows as a float, is still accepted.
    null_basis : (d, k) ndarray, optional
        Orthonormal basis of the null space of X, if already computed (e.g.
        ``scipy.linalg.null_space(X)``); otherwise it is found from the SVD of X.

    Returns
    -------
    float
        0 (up to rounding) exactly when z = ∇φ_α(β) lies in the row space of X,
        i.e. when β = 2α² ⊙ sinh(Xᵀλ) for some λ; NaN if β = 0.

    Raises
    ------
    ValueError
        If ``X``, ``beta``, ``log_alpha`` or ``null_basis`` has the wrong shape or
        a NaN or inf.

    Notes
    -----
    .. math:: r = \\frac{\\lVert P_{\\mathrm{null}(X)}\\, z \\rVert_2}{\\lVert z \\rVert_2},
              \\qquad z = \\operatorname{arcsinh}\\bigl(\\beta / (2\\alpha^2)\\bigr),

    the stationarity condition of the minimum-hypentropy interpolator (the
    quantity :func:`dlnsam.hypentropy.fit_alpha` minimizes over a scalar α, and the dual
    residual of :class:`dlnsam.hypentropy.HypentropyResult`); z is computed from
    log|β| − log(2α²).

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam.hypentropy import identity_residual
    >>> X = np.array([[1.0, 2.0, 0.0]])
    >>> beta = 2 * 0.3**2 * np.sinh(X.T @ np.array([0.7]))
    >>> bool(identity_residual(X, beta, np.log(0.3)) < 1e-15)
    True
    >>> bool(identity_residual(X, beta, np.log([0.3, 0.5, 0.3])) > 1e-3)
    True
    """
    Xa = as_float_array(X, "X", 2)
    b = as_float_array(beta, "beta", 1)
    d = Xa.shape[1]
    if b.shape != (d,):
        raise ValueError(f"beta must have shape ({d},) to match X, got {b.shape}")
    la = np.asarray(log_alpha, dtype=np.float64)
    if la.shape not in ((), (d,)):
        raise ValueError(f"log_alpha must be a scalar or have shape ({d},), got {la.shape}")
    if not np.all(np.isfinite(la)):
        raise ValueError("log_alpha contains non-finite values (NaN or inf)")
    z = _grad_phi(b, _LOG2 + 2.0 * la)
    z_norm = float(np.linalg.norm(z))
    if z_norm == 0.0:
        return math.nan
    if null_basis is None:
        _, _, Vt, rank = _row_space(Xa)
        return _null_space_residual(z, np.ascontiguousarray(Vt[:rank].T))
    N = np.asarray(null_basis, dtype=np.float64)
    if N.ndim != 2 or N.shape[0] != d or not np.all(np.isfinite(N)):
        raise ValueError(f"null_basis must be a finite ({d}, k) array, got shape {N.shape}")
    return float(np.linalg.norm(N.T @ z)) / z_norm
