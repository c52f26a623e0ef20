"""The inverse problems: the scale α̂ that explains a given interpolator.

:func:`fit_alpha` asks for which α the point β itself has the hypentropy form;
:func:`closest_alpha` asks which point of the path {β*(α) : α > 0} is nearest to β.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import scipy.optimize
from numpy.typing import ArrayLike, NDArray

from dlnsam._validation import as_float_array, nonnegative_int, positive_float
from dlnsam.hypentropy.design import _check_alpha_range, _check_xy
from dlnsam.hypentropy.paths import path
from dlnsam.hypentropy.potential import _LOG2, _grad_phi, _null_space_residual, _row_space
from dlnsam.hypentropy.records import AlphaFit, ClosestAlpha
from dlnsam.hypentropy.solver import solve

__all__ = ["closest_alpha", "fit_alpha"]

# distinct minimizers both count as exact (β not identifiable).
_GAUSS_NEWTON_STEPS = 8
_RIVAL_ATOL = 1e-12
_DISTINCT_LOG_ALPHA = 1e-3
# fit_alpha: a grid minimum must undercut its neighbours by this much to be refined.
_DIP_RTOL = 1e-8


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
    rivals: list[float] = []  # other log α that fit as well, distinct from the best
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
