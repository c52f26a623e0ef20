"""path(): the minimum-hypentropy interpolators β*(α) for many scalar α, warm-started."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dlnsam._validation import as_float_array, nonnegative_int
from dlnsam.hypentropy.design import _check_alpha_range, _check_tol, _check_xy, _Design
from dlnsam.hypentropy.newton import _dual_objective, _terms
from dlnsam.hypentropy.potential import _LOG2
from dlnsam.hypentropy.solver import _SCALAR, _solve_validated

__all__ = ["path"]

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
