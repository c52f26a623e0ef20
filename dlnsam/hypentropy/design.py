"""Validation of a system Xβ = y, and its whitened, full-row-rank form."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dlnsam._validation import as_float_array, positive_float
from dlnsam.hypentropy.potential import _row_space

# Scales the solver accepts: beyond them the Hessian weights 2α² cosh z span more
# than the double range (tiny α) or λ ∝ 1/α² underflows (huge α).
_ALPHA_RANGE = (1e-100, 1e100)
# solve() rescales a y whose largest entry lies outside this range, where sums of
# squares of y or β would overflow or underflow.
_Y_MODERATE = (2.0**-128, 2.0**128)
# y may miss the range of a rank-deficient X by rounding, not by more.
_CONSISTENCY_RTOL = 1e-8


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


def _y_shift(y: NDArray[np.float64]) -> int:
    """An even k such that y / 2^k has its largest entry near 1, or 0 if y is moderate."""
    top = float(np.max(np.abs(y)))
    if top == 0.0 or _Y_MODERATE[0] <= top <= _Y_MODERATE[1]:
        return 0
    return 2 * (math.frexp(top)[1] // 2)
