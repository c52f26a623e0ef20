"""The result records of the hypentropy solvers and fits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from dlnsam.status import SolveStatus

__all__ = ["AlphaFit", "ClosestAlpha", "HypentropyResult"]

_MESSAGE_PREFIXES = {status: f"{status.value}: {status.description} (" for status in SolveStatus}


@dataclass(frozen=True, eq=False)
class HypentropyResult:
    """The minimizer of the hypentropy over the interpolators, from :func:`dlnsam.hypentropy.solve`.

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
    """The scalar scale α̂ that best explains an interpolator.

    Returned by :func:`dlnsam.hypentropy.fit_alpha`.

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


@dataclass(frozen=True)
class ClosestAlpha:
    """The point of the hypentropy path nearest to a given interpolator, from
    :func:`dlnsam.hypentropy.closest_alpha`.

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
