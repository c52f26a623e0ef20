"""Theorem 2's non-convex bound on the diagonal network, with its constants measured.

On β = u ⊙ v the assumptions of Theorem 2 hold only on bounded sets: the
per-example Hessian ∇²ℓ_i(θ) = g_i g_iᵀ + r_i A_i (g_i = (x_i ⊙ v, x_i ⊙ u),
r_i = x_iᵀβ − y_i, A_i = [[0, diag x_i], [diag x_i, 0]]) grows with θ and with
the residual. So this module measures the constants along the points the runs
visit, the iterates θ_t and the perturbed points θ̃_t = θ_t + ρ ∇L_{I_t}(θ_t):

- β: the largest ‖∇²ℓ_i‖₂ over every example i and every visited point;
- σ²: the largest E_i‖∇ℓ_i − ∇L‖² over the visited points;
- μ: the smallest ‖∇L(θ_t)‖² / (2(L(θ_t) − L*)) over the iterates (the PL
  constant along the path; the non-convex bound does not use it).

The schedule γ = 1/(√T β), ρ = 1/(T^{1/4} β) needs β before the runs, and the
runs decide β. :func:`measure_network` therefore iterates: it starts from β
at θ_0 and reruns with the measured β until the β the schedule used is at
least the β measured along its own paths.

The runs are simulated here in NumPy, all seeds at once, with the batches
``dlnsam.run(..., seed=s)`` draws (:func:`dlnsam.training.draw_batches`), so
that every iterate is at hand (the tests compare them with
:mod:`dlnsam.reference` step by step, and their end points with
:func:`dlnsam.run`'s).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from dlnsam.problems import Problem
from dlnsam.training import draw_batches, initial_point

__all__ = [
    "MAX_ROUNDS",
    "NetworkMeasurement",
    "NetworkPath",
    "hessian_norm_bound",
    "hessian_norm_bracket",
    "measure_network",
    "per_example_hessian_norms",
    "simulate_network",
]

#: Rounds of the fixed point on β before :func:`measure_network` gives up.
MAX_ROUNDS = 8
# Bisection steps of the norm bracket: a first cut, then to rounding.
_COARSE, _FINE = 8, 64


def hessian_norm_bound(
    X: NDArray[np.float64], y: NDArray[np.float64], u: NDArray[np.float64], v: NDArray[np.float64]
) -> NDArray[np.float64]:
    """An upper bound of ‖∇²ℓ_i(u, v)‖₂ for every example i at every point (a row of u, v).

    ‖g_i g_iᵀ + r_i A_i‖₂ ≤ ‖g_i‖² + |r_i| max_j |x_ij|, with
    ‖g_i‖² = Σ_j x_ij² (u_j² + v_j²).

    Parameters
    ----------
    X : (n, d) ndarray
    y : (n,) ndarray
    u, v : (P, d) ndarray
        P points.

    Returns
    -------
    (P, n) ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam.verify.theorem2_network import hessian_norm_bound
    >>> X, y = np.array([[1.0, 2.0]]), np.array([1.0])
    >>> hessian_norm_bound(X, y, np.ones((1, 2)), np.zeros((1, 2)))
    array([[7.]])
    """
    r = (u * v) @ X.T - y
    return (u**2 + v**2) @ (X**2).T + np.abs(r) * np.abs(X).max(axis=1)


def per_example_hessian_norms(
    X: NDArray[np.float64],
    y: NDArray[np.float64],
    u: NDArray[np.float64],
    v: NDArray[np.float64],
    rows: NDArray[np.int64],
) -> NDArray[np.float64]:
    """‖∇²ℓ_i(u, v)‖₂ exactly, for the example ``rows[k]`` at the point (u[k], v[k]).

    The 2d × 2d Hessian g_i g_iᵀ + r_i A_i (module docstring) is formed and its
    extreme eigenvalues taken by ``numpy.linalg.eigvalsh``.

    Parameters
    ----------
    X : (n, d) ndarray
    y : (n,) ndarray
    u, v : (K, d) ndarray
    rows : (K,) int ndarray

    Returns
    -------
    (K,) ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam.verify.theorem2_network import per_example_hessian_norms
    >>> X, y = np.array([[1.0, 2.0]]), np.array([1.0])
    >>> per_example_hessian_norms(X, y, np.ones((1, 2)), np.zeros((1, 2)), np.array([0])).round(6)
    array([5.614182])
    """
    x = X[rows]  # (K, d)
    d = X.shape[1]
    g = np.concatenate([x * v, x * u], axis=1)  # (K, 2d)
    r = np.einsum("kd,kd->k", u * v, x) - y[rows]
    H = g[:, :, None] * g[:, None, :]
    idx = np.arange(d)
    H[:, idx, d + idx] += r[:, None] * x
    H[:, d + idx, idx] += r[:, None] * x
    eig = np.linalg.eigvalsh(H)
    return np.maximum(eig[:, -1], -eig[:, 0])


def hessian_norm_bracket(
    X: NDArray[np.float64],
    y: NDArray[np.float64],
    u: NDArray[np.float64],
    v: NDArray[np.float64],
    rows: NDArray[np.int64],
    iterations: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Lower and upper bounds of ‖∇²ℓ_i(u, v)‖₂, for the example ``rows[k]`` at (u[k], v[k]).

    Rotating each pair (u_j, v_j) by 45° makes r_i A_i diagonal, δ = (r_i x_ij, −r_i x_ij)_j,
    and the Hessian D + c cᵀ with c = (x_ij (v_j + u_j), x_ij (v_j − u_j))_j / √2. A
    positive rank-one update raises every eigenvalue, so λ_min ≥ −max δ and
    λ_max ≥ max δ: the norm is λ_max, the root above max δ of Σ_k c_k²/(λ − δ_k) = 1.
    ``iterations`` bisection steps on [max δ, max δ + ‖c‖²] halve the bracket
    each time; about 60 reach rounding.

    Returns
    -------
    lo, hi : (K,) ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam.verify.theorem2_network import hessian_norm_bracket
    >>> X, y = np.array([[1.0, 2.0]]), np.array([1.0])
    >>> lo, hi = hessian_norm_bracket(X, y, np.ones((1, 2)), np.zeros((1, 2)), np.array([0]), 60)
    >>> hi.round(6)
    array([5.614182])
    """
    x = X[rows]
    r = np.einsum("kd,kd->k", u * v, x) - y[rows]
    c2 = 0.5 * np.concatenate([(x * (v + u)) ** 2, (x * (v - u)) ** 2], axis=1)
    delta = np.concatenate([r[:, None] * x, -r[:, None] * x], axis=1)
    lo = delta.max(axis=1)
    hi = lo + c2.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(iterations):
            mid = 0.5 * (lo + hi)
            above = (c2 / (mid[:, None] - delta)).sum(axis=1) > 1.0  # the root lies above mid
            lo = np.where(above, mid, lo)
            hi = np.where(above, hi, mid)
    return lo, hi


@dataclass(frozen=True)
class NetworkPath:
    """What the R runs of one horizon T visited (:func:`simulate_network`).

    Attributes
    ----------
    left : (R,) ndarray
        (1/T) Σ_{t<T} ‖∇L(θ_t)‖² of each run.
    u, v : (R, d) ndarray
        The end points θ_T.
    smoothness : float
        The largest ‖∇²ℓ_i‖₂ over the examples and the visited points, to
        rounding (from above): solved by :func:`hessian_norm_bracket` wherever
        the bounds do not place it below the largest found before.
    evaluated : int
        How many norms were solved to rounding.
    sigma2 : float
        The largest E_i‖∇ℓ_i − ∇L‖² over the visited points.
    mu : float
        The smallest ‖∇L‖² / (2(L − L*)) over the iterates with L > L*.
    """

    left: NDArray[np.float64]
    u: NDArray[np.float64]
    v: NDArray[np.float64]
    smoothness: float
    evaluated: int
    sigma2: float
    mu: float


def _gradients(X, y, u, v):
    """r (P, n), ‖∇L‖² (P,), E_i‖∇ℓ_i − ∇L‖² (P,) and L (P,) at each point (a row of u, v)."""
    n = X.shape[0]
    r = (u * v) @ X.T - y
    g_beta = r @ X / n
    gu, gv = g_beta * v, g_beta * u
    grad2 = np.einsum("pd,pd->p", gu, gu) + np.einsum("pd,pd->p", gv, gv)
    per_example = (r**2 * ((u**2 + v**2) @ (X**2).T)).mean(axis=1)  # E_i ‖∇ℓ_i‖²
    return r, grad2, per_example - grad2, 0.5 * (r**2).mean(axis=1)


def simulate_network(
    problem: Problem,
    *,
    steps: int,
    smoothness: float,
    b: int,
    seeds: Sequence[int],
    alpha: float,
    loss_star: float,
) -> NetworkPath:
    """Run SAM(ρ, m=b, batch_size=b) on β = u ⊙ v with the non-convex schedule, every seed at once.

    γ = 1/(√T β), ρ = 1/(T^{1/4} β) with β = ``smoothness``; θ_0 from
    ``initial_point(d, alpha)``; seed s draws the batches of
    ``dlnsam.run(..., seed=s)``. The step is

        θ̃ = θ_t + ρ ∇L_{I_t}(θ_t),   θ_{t+1} = θ_t − γ ∇L_{I_t}(θ̃).

    Examples
    --------
    >>> from dlnsam.verify.theorem2 import least_squares_instance
    >>> from dlnsam.verify.theorem2_network import simulate_network
    >>> p = least_squares_instance(20, 4)
    >>> path = simulate_network(p, steps=50, smoothness=40.0, b=2, seeds=[0, 1], alpha=0.5,
    ...                         loss_star=0.0)
    >>> path.left.shape, path.smoothness > 0
    ((2,), True)
    """
    X, y = problem.X, problem.y
    n, d = X.shape
    gamma = 1.0 / (math.sqrt(steps) * smoothness)
    rho = 1.0 / (steps**0.25 * smoothness)
    batches = np.stack([draw_batches(np.random.default_rng(s), n, b, steps) for s in seeds])
    R = len(seeds)
    u0, v0 = initial_point(d, alpha)
    u, v = np.tile(u0, (R, 1)), np.tile(v0, (R, 1))
    runs = np.arange(R)
    sum_grad2 = np.zeros(R)
    sigma2, mu = 0.0, math.inf
    best, evaluated = 0.0, 0
    for t in range(steps + 1):
        r, grad2, var, loss = _gradients(X, y, u, v)
        sigma2 = max(sigma2, float(var.max()))
        gap = loss - loss_star
        ok = gap > 1e-12 * max(1.0, loss_star)
        if ok.any():
            mu = min(mu, float((grad2[ok] / (2.0 * gap[ok])).min()))
        if t == steps:
            break
        sum_grad2 += grad2
        rows = batches[:, t, :]  # (R, b)
        xb = X[rows]  # (R, b, d)
        g_beta = np.einsum("rb,rbd->rd", r[runs[:, None], rows], xb) / b
        ut, vt = u + rho * g_beta * v, v + rho * g_beta * u
        rt = np.einsum("rd,rbd->rb", ut * vt, xb) - y[rows]
        gt = np.einsum("rb,rbd->rd", rt, xb) / b
        var_t = _gradients(X, y, ut, vt)[2]
        sigma2 = max(sigma2, float(var_t.max()))
        for pu, pv in ((u, v), (ut, vt)):
            # Bracket the norm wherever its bound exceeds the largest norm so far; then
            # solve it to rounding wherever the bracket still does.
            run, row = np.nonzero(hessian_norm_bound(X, y, pu, pv) > best)
            lo, hi = hessian_norm_bracket(X, y, pu[run], pv[run], row, _COARSE)
            best = max(best, float(lo.max(initial=0.0)))
            keep = hi > best
            evaluated += int(keep.sum())
            lo, hi = hessian_norm_bracket(X, y, pu[run[keep]], pv[run[keep]], row[keep], _FINE)
            best = max(best, float(hi.max(initial=0.0)))
        u, v = u - gamma * gt * vt, v - gamma * gt * ut
    return NetworkPath(
        left=sum_grad2 / steps, u=u, v=v, smoothness=best, evaluated=evaluated, sigma2=sigma2,
        mu=mu,
    )  # fmt: skip


@dataclass(frozen=True)
class NetworkMeasurement:
    """The outcome of :func:`measure_network`.

    Attributes
    ----------
    alpha : float
        Initialization scale: u_0 = 2α, v_0 = 0.
    loss_init, loss_star : float
        L(θ_0) and L* (the least-squares minimum: every β is some u ⊙ v).
    smoothness : float
        β of the schedules and of the bound: the last round's.
    measured_smoothness : float
        The largest per-example Hessian norm along the last round's paths.
    evaluated : int
        Exact Hessian norms computed in the last round (the others were
        below the largest by their upper bound).
    sigma2, mu : float
        σ² and μ measured along the last round's paths.
    rounds : int
        Rounds of the fixed point on β.
    converged : bool
        Whether ``smoothness`` >= ``measured_smoothness`` (the schedule's β
        is valid along its own paths).
    steps : tuple of int
        Horizons T.
    batch_sizes : tuple of int
    left : dict
        (b, T) → (R,) array of (1/T) Σ_{t<T} ‖∇L(θ_t)‖².
    """

    alpha: float
    loss_init: float
    loss_star: float
    smoothness: float
    measured_smoothness: float
    evaluated: int
    sigma2: float
    mu: float
    rounds: int
    converged: bool
    steps: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    left: dict[tuple[int, int], NDArray[np.float64]]


def measure_network(
    problem: Problem,
    *,
    steps: Sequence[int],
    batch_sizes: Sequence[int],
    seeds: Sequence[int],
    alpha: float,
    loss_star: float,
) -> NetworkMeasurement:
    """The non-convex runs on β = u ⊙ v at every (b, T), with β iterated to a fixed point.

    Round k runs every setting with β_k and measures β̂_k along all the paths;
    it stops when β̂_k <= β_k, else β_{k+1} = β̂_k. β_0 is the bound
    :func:`hessian_norm_bound` at θ_0 (at least the exact norm there).

    Examples
    --------
    >>> from dlnsam.verify.theorem2 import least_squares_instance
    >>> from dlnsam.verify.theorem2_network import measure_network
    >>> p = least_squares_instance(20, 4)
    >>> m = measure_network(p, steps=[20, 40], batch_sizes=[1, 2], seeds=[0, 1], alpha=0.5,
    ...                     loss_star=0.0)
    >>> m.converged, sorted(m.left)
    (True, [(1, 20), (1, 40), (2, 20), (2, 40)])
    """
    X, y = problem.X, problem.y
    u0, v0 = initial_point(problem.d, alpha)
    smoothness = float(hessian_norm_bound(X, y, u0[None], v0[None]).max())
    rounds = 0
    while True:
        rounds += 1
        used = smoothness
        paths = {
            (b, T): simulate_network(problem, steps=T, smoothness=smoothness, b=b, seeds=seeds,
                                     alpha=alpha, loss_star=loss_star)
            for b in batch_sizes for T in steps
        }  # fmt: skip
        measured = max(p.smoothness for p in paths.values())
        if measured <= used or rounds == MAX_ROUNDS:
            break
        smoothness = measured
    return NetworkMeasurement(
        alpha=alpha,
        loss_init=problem.train_loss(u0 * v0),
        loss_star=loss_star,
        smoothness=used,
        measured_smoothness=measured,
        evaluated=sum(p.evaluated for p in paths.values()),
        sigma2=max(p.sigma2 for p in paths.values()),
        mu=min(p.mu for p in paths.values()),
        rounds=rounds,
        converged=measured <= used,
        steps=tuple(steps),
        batch_sizes=tuple(batch_sizes),
        left={key: p.left for key, p in paths.items()},
    )
