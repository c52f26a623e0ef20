"""solve(): the minimum-hypentropy interpolator, on the fast path (Numba) or the robust one."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dlnsam import status as _status
from dlnsam._validation import alpha_vector, as_float_array, nonnegative_int
from dlnsam.hypentropy import kernel as _kernel
from dlnsam.hypentropy.design import (
    _ALPHA_RANGE,
    _check_alpha_range,
    _check_tol,
    _check_xy,
    _Design,
    _reduce,
    _y_shift,
)
from dlnsam.hypentropy.newton import (
    _TRUST_RADIUS,
    _log_two_alpha_sq,
    _newton,
    _NewtonOutcome,
    _terms,
)
from dlnsam.hypentropy.potential import _grad_phi, _null_space_residual
from dlnsam.hypentropy.records import HypentropyResult, _result
from dlnsam.status import SolveStatus

__all__ = ["solve"]

_F64 = np.dtype(np.float64)
# alpha_vec when alpha is a scalar (read-only, like the vectors the kernel gets).
_SCALAR = np.empty(0)
_SCALAR.setflags(write=False)
# The kernel's codes that end a solve; after any other the robust path continues.
_KERNEL_STATUS = {
    _status.NEWTON_CONVERGED: SolveStatus.CONVERGED,
    _status.NEWTON_MAX_ITER: SolveStatus.MAX_ITER,
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
        β*(α) (d,), λ (n,), both relative residuals, the iteration count and the status.

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
    .. math::

        \\beta^*(\\alpha) = \\operatorname{argmin}_{X\\beta = y} \\phi_\\alpha(\\beta)
        = 2\\alpha^2 \\odot \\sinh(X^\\top\\lambda),
        \\qquad \\lambda = \\operatorname{argmin}_\\lambda
        \\sum_i 2\\alpha_i^2 \\cosh((X^\\top\\lambda)_i) - y^\\top\\lambda .

    The dual is minimized by damped Newton (Armijo line search, trust radius on
    max|Δ(Xᵀλ)|), on a fast path (a Numba kernel with Cholesky solves) while that
    is safe and on a robust one (SVD whitening, QR solves) otherwise; the method,
    its handling of tiny α and its attainable accuracy are described in
    :mod:`dlnsam.hypentropy.newton` and :mod:`dlnsam.hypentropy.kernel`.

    Scaling y by c > 0 scales the solution: β*(α) for c y is c β*(α/√c) for y,
    with the same λ. A y with max|y| outside [2⁻¹²⁸, 2¹²⁸] is solved in that form,
    with c a power of 4 that brings max|y| to order 1, so α/√c must lie in
    [1e-100, 1e100] as well as α.

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
    Xa, ya, alpha, alpha_vec, tol, max_iter = _checked(X, y, alpha, tol, max_iter)
    n = Xa.shape[0]
    if lam0 is None:
        lam = np.zeros(n)
    else:
        lam0_arr = as_float_array(lam0, "lam0", 1)
        if lam0_arr.shape != (n,):
            raise ValueError(f"lam0 must have shape ({n},), got {lam0_arr.shape}")
        lam = lam0_arr.copy()
    shift = _y_shift(ya)
    if shift == 0:
        return _solve_validated(Xa, ya, alpha, alpha_vec, lam, tol, max_iter, [])
    # c = 2^shift: solve for y / c at α / √c, then scale β back (λ is the same).
    half = shift // 2
    if alpha_vec.size:
        alpha_vec = np.ldexp(alpha_vec, -half)
        low, high = float(np.min(alpha_vec)), float(np.max(alpha_vec))
    else:
        alpha = low = high = math.ldexp(alpha, -half)
    if low < _ALPHA_RANGE[0] or high > _ALPHA_RANGE[1]:
        raise ValueError(
            f"alpha must lie in [{math.ldexp(_ALPHA_RANGE[0], half):.3g}, "
            f"{math.ldexp(_ALPHA_RANGE[1], half):.3g}] for this y (max|y| = "
            f"{float(np.max(np.abs(ya))):.3g}): the solution for c*y at alpha is c times "
            "the one for y at alpha/sqrt(c), which must lie in "
            f"[{_ALPHA_RANGE[0]:g}, {_ALPHA_RANGE[1]:g}]"
        )
    res = _solve_validated(Xa, np.ldexp(ya, -shift), alpha, alpha_vec, lam, tol, max_iter, [])
    beta = np.ldexp(res.beta, shift)
    beta.setflags(write=False)
    return replace(res, beta=beta)


def _checked(
    X: ArrayLike, y: ArrayLike, alpha: ArrayLike, tol: float, max_iter: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], float, NDArray[np.float64], float, int]:
    """Validated (X, y, alpha, alpha_vec, tol, max_iter) of :func:`solve`.

    ``alpha_vec`` is the (d,) scale, or ``_SCALAR`` with the float ``alpha``. The
    common case (C-contiguous float64 arrays, float alpha and tol, int max_iter)
    is checked with as few NumPy calls as possible, since ``path`` and the fits
    call ``solve`` many times; anything else, or anything that fails, goes
    through the full checks and their messages.
    """
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
    if type(alpha) in (float, np.float64) and _ALPHA_RANGE[0] <= alpha <= _ALPHA_RANGE[1]:
        alpha_vec = _SCALAR
    else:
        alpha_vec = alpha_vector(alpha, Xa.shape[1])
        _check_alpha_range(alpha_vec, "alpha")
        alpha = 0.0
    if not (type(tol) is float and 0.0 < tol < 1.0):
        tol = _check_tol(tol)
    if not (type(max_iter) is int and max_iter >= 0):
        max_iter = nonnegative_int(max_iter, "max_iter")
    return Xa, ya, float(alpha), alpha_vec, float(tol), max_iter
