"""Flatness of the loss at a point of the diagonal network: Hessian, trace, λ_max.

For θ = (u, v) ∈ R^{2d}, β = u ⊙ v and L(θ) = ‖Xβ − y‖²/(2n), write
r = Xβ − y for the residual, g = Xᵀr/n for the gradient in β,
J = [X diag(v), X diag(u)] (n × 2d) for the Jacobian of Xβ in θ and
c = diag(XᵀX)/n for the mean squared column norms. Then

.. math::

    \\nabla^2 L(\\theta) = \\tfrac1n J^\\top J
        + \\begin{pmatrix} 0 & \\operatorname{diag}(g) \\\\
                           \\operatorname{diag}(g) & 0 \\end{pmatrix},
    \\qquad
    \\operatorname{tr} \\nabla^2 L(\\theta) = \\sum_j c_j (u_j^2 + v_j^2).

The second (residual) term vanishes where the network interpolates, and has
zero trace everywhere. Along gradient flow and every SAM(ρ, m) flow started at
u₀ = 2α, v₀ = 0, u² − v² = 4α_t² exactly (α_t of Theorem 1's exact form), so
u² + v² = √(4β² + 16α_t⁴) and the trace is a closed-form function of
(β, α_eff) at a flow's limit (:func:`limit_trace`). As α_eff → 0 it falls to
the weighted ℓ1 norm 2 Σ_j c_j |β_j| (:func:`trace_floor`): flatness in trace
and sparsity are one picture.

References
----------
M. Andriushchenko, N. Flammarion, "Towards understanding sharpness-aware
minimization", ICML 2022.
K. Wen, T. Ma, Z. Li, "How sharpness-aware minimization minimizes sharpness",
ICLR 2023.

Examples
--------
>>> import numpy as np
>>> from dlnsam import Problem, flatness
>>> p = Problem(X=np.array([[1.0, 2.0], [1.0, 0.0]]), y=np.array([1.0, 1.0]))
>>> u, v = np.array([1.0, 1.0]), np.array([1.0, 0.0])
>>> flatness.hessian_trace(p, u, v)
4.0
>>> float(np.trace(flatness.hessian(p, u, v)))
4.0
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dlnsam._validation import as_float_array
from dlnsam.problems import Problem

__all__ = ["hessian", "hessian_lambda_max", "hessian_trace", "limit_trace", "trace_floor"]


def _check_problem(problem: object) -> Problem:
    if not isinstance(problem, Problem):
        raise ValueError(f"problem must be a dlnsam.Problem, got {type(problem).__name__}")
    return problem


def _vector(value: ArrayLike, name: str, d: int) -> NDArray[np.float64]:
    arr = as_float_array(value, name, 1)
    if arr.shape != (d,):
        raise ValueError(
            f"{name} must have shape ({d},) for a problem with d = {d}, got {arr.shape}"
        )
    return arr


def _point(
    problem: object, u: ArrayLike, v: ArrayLike
) -> tuple[Problem, NDArray[np.float64], NDArray[np.float64]]:
    p = _check_problem(problem)
    return p, _vector(u, "u", p.d), _vector(v, "v", p.d)


def _alpha_eff(alpha_eff: ArrayLike, d: int) -> NDArray[np.float64]:
    """α_eff as a (d,) array of finite entries ≥ 0 (0 is the limit α_eff → 0)."""
    try:
        ndim = np.ndim(alpha_eff)
    except (TypeError, ValueError):
        ndim = 1  # let as_float_array name the argument in its error
    if ndim == 0:
        arr = np.full(d, as_float_array(alpha_eff, "alpha_eff", 0)[()])
    else:
        arr = as_float_array(alpha_eff, "alpha_eff", 1)
        if arr.shape != (d,):
            raise ValueError(
                f"alpha_eff must be a scalar or have shape ({d},) for a problem with "
                f"d = {d}, got shape {arr.shape}"
            )
    if np.any(arr < 0):
        raise ValueError(f"alpha_eff must be >= 0 everywhere, got min {float(arr.min())}")
    return arr


def _column_weights(X: NDArray[np.float64]) -> NDArray[np.float64]:
    """c = diag(XᵀX)/n, without forming XᵀX."""
    return np.einsum("ij,ij->j", X, X) / X.shape[0]


def hessian(problem: Problem, u: ArrayLike, v: ArrayLike) -> NDArray[np.float64]:
    """The full Hessian of the training loss in θ = (u, v), residual term included.

    Parameters
    ----------
    problem : Problem
        Data X (n, d), y (n,).
    u, v : (d,) array_like
        The point θ = (u, v); β = u ⊙ v.

    Returns
    -------
    (2d, 2d) ndarray
        ∇²L(θ), symmetric, ordered as θ = (u, v): the first d rows and columns
        belong to u.

    Raises
    ------
    ValueError
        If ``problem`` is not a :class:`~dlnsam.Problem`, or ``u`` or ``v`` is not
        a finite (d,) array; the message names the argument.

    Notes
    -----
    With r = Xβ − y, g = Xᵀr/n and J = [X diag(v), X diag(u)],

    .. math::

        \\nabla^2 L(\\theta) = \\tfrac1n J^\\top J
            + \\begin{pmatrix} 0 & \\operatorname{diag}(g) \\\\
                               \\operatorname{diag}(g) & 0 \\end{pmatrix} .

    The first term is the Gauss–Newton part, positive semi-definite; the
    second comes from ∂(g_j v_j)/∂v_j = g_j + … and vanishes at an
    interpolating point (r = 0). It costs O(n d²) time and O(d²) memory; for
    the trace or λ_max use :func:`hessian_trace` or :func:`hessian_lambda_max`.

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam import Problem
    >>> from dlnsam.flatness import hessian
    >>> p = Problem(X=np.array([[1.0, 2.0]]), y=np.array([0.0]))
    >>> hessian(p, u=np.array([1.0, 0.0]), v=np.array([1.0, 0.0]))
    array([[1., 0., 2., 0.],
           [0., 0., 0., 2.],
           [2., 0., 1., 0.],
           [0., 2., 0., 0.]])
    """
    p, u, v = _point(problem, u, v)
    X, n, d = p.X, p.n, p.d
    g = X.T @ (X @ (u * v) - p.y) / n
    J = np.hstack([X * v, X * u])
    H = J.T @ J / n
    # The product may round its two triangles differently; the Hessian is symmetric.
    H = 0.5 * (H + H.T)
    idx = np.arange(d)
    H[idx, d + idx] += g
    H[d + idx, idx] += g
    return H


def hessian_trace(problem: Problem, u: ArrayLike, v: ArrayLike) -> float:
    """The trace of the Hessian of the training loss at θ = (u, v).

    Parameters
    ----------
    problem : Problem
        Data X (n, d), y (n,).
    u, v : (d,) array_like
        The point θ = (u, v).

    Returns
    -------
    float
        tr ∇²L(θ) = Σ_j c_j (u_j² + v_j²), c = diag(XᵀX)/n.

    Raises
    ------
    ValueError
        If ``problem`` is not a :class:`~dlnsam.Problem`, or ``u`` or ``v`` is not
        a finite (d,) array; the message names the argument.

    Notes
    -----
    The residual term of :func:`hessian` has a zero diagonal, so this is the
    trace of the full Hessian at every point, interpolating or not, and equals
    that of the Gauss–Newton part (1/n) JᵀJ. It costs O(n d) and forms no
    matrix.

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam import Problem
    >>> from dlnsam.flatness import hessian_trace
    >>> p = Problem(X=np.array([[1.0, 2.0], [1.0, 0.0]]), y=np.zeros(2))
    >>> hessian_trace(p, u=np.array([1.0, 1.0]), v=np.array([1.0, 0.0]))
    4.0
    """
    p, u, v = _point(problem, u, v)
    return float(_column_weights(p.X) @ (u * u + v * v))


def hessian_lambda_max(problem: Problem, u: ArrayLike, v: ArrayLike) -> float:
    """The largest eigenvalue of the Gauss–Newton part of the Hessian at θ = (u, v).

    Parameters
    ----------
    problem : Problem
        Data X (n, d), y (n,).
    u, v : (d,) array_like
        The point θ = (u, v).

    Returns
    -------
    float
        λ_max((1/n) JᵀJ) = λ_max((1/n) X diag(u² + v²) Xᵀ), ≥ 0.

    Raises
    ------
    ValueError
        If ``problem`` is not a :class:`~dlnsam.Problem`, or ``u`` or ``v`` is not
        a finite (d,) array; the message names the argument.

    Notes
    -----
    JᵀJ (2d × 2d) and JJᵀ = X diag(v²) Xᵀ + X diag(u²) Xᵀ (n × n) have the same
    non-zero eigenvalues, so the eigenvalue problem is solved on the n × n
    form, which is the smaller one on an overparametrized problem (n < 2d).

    At an interpolating point (r = Xβ − y = 0) the residual term of
    :func:`hessian` vanishes and this is λ_max of the full Hessian. Elsewhere
    it is the Gauss–Newton part's only: the full Hessian's top eigenvalue
    differs by up to ‖Xᵀr‖_∞/n.

    All eigenvalues are computed by a symmetric solver (``numpy.linalg.eigvalsh``),
    backward stable, so the result is accurate to a few ulps of the largest
    eigenvalue; selecting only the top one would save little, since reducing
    the matrix to tridiagonal form dominates the cost.

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam import Problem
    >>> from dlnsam.flatness import hessian_lambda_max
    >>> p = Problem(X=np.eye(2), y=np.array([2.0, 0.0]))
    >>> round(hessian_lambda_max(p, u=np.array([2.0, 1.0]), v=np.array([1.0, 0.0])), 12)
    2.5
    """
    p, u, v = _point(problem, u, v)
    # X diag(s) Xᵀ as a Gram matrix B Bᵀ, B = X diag(√s): positive semi-definite by construction.
    B = p.X * np.sqrt(u * u + v * v)
    return float(np.linalg.eigvalsh(B @ B.T / p.n)[-1])


def limit_trace(problem: Problem, beta: ArrayLike, alpha_eff: ArrayLike) -> float:
    """The Hessian trace at a flow's limit, in closed form from (β, α_eff).

    Parameters
    ----------
    problem : Problem
        Data X (n, d), y (n,).
    beta : (d,) array_like
        The limit β = u ⊙ v.
    alpha_eff : float or (d,) array_like
        The effective scale α_eff = α ⊙ exp(−Δ(∞)) of the flow (``FlowResult.alpha_eff``),
        every entry ≥ 0.

    Returns
    -------
    float
        Σ_j c_j √(4β_j² + 16 α_eff,j⁴), c = diag(XᵀX)/n.

    Raises
    ------
    ValueError
        If ``problem`` is not a :class:`~dlnsam.Problem`, ``beta`` is not a finite
        (d,) array, or ``alpha_eff`` is not a finite scalar or (d,) array with
        entries ≥ 0; the message names the argument.

    Notes
    -----
    Along gradient flow and every SAM(ρ, m) flow started at u₀ = 2α, v₀ = 0,
    a = u + v and b = u − v evolve multiplicatively, and u² − v² = a ⊙ b = 4α_t²
    exactly, with α_t = α ⊙ exp(−Δ(t)) (Theorem 1's exact form). With
    u ⊙ v = β, (u² + v²)² = (u² − v²)² + 4β², so

    .. math::

        \\operatorname{tr} \\nabla^2 L(\\theta_t)
            = \\sum_j c_j \\sqrt{4\\beta_j^2 + 16\\alpha_{t,j}^4} ,

    evaluated as 2 Σ_j c_j hypot(β_j, 2α_j²), which neither overflows nor
    underflows. The identity holds at every time of the flow; at the limit,
    α_t = α_eff. It is bounded below by :func:`trace_floor`, reached as
    α_eff → 0.

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam import Problem
    >>> from dlnsam.flatness import limit_trace
    >>> p = Problem(X=np.eye(2), y=np.array([1.5, 0.0]))
    >>> limit_trace(p, beta=np.array([1.5, 0.0]), alpha_eff=1.0)
    4.5
    """
    p = _check_problem(problem)
    beta = _vector(beta, "beta", p.d)
    alpha = _alpha_eff(alpha_eff, p.d)
    return float(2.0 * (_column_weights(p.X) @ np.hypot(beta, 2.0 * alpha * alpha)))


def trace_floor(problem: Problem, beta: ArrayLike) -> float:
    """The least Hessian trace of any θ with u ⊙ v = β: a weighted ℓ1 norm of β.

    Parameters
    ----------
    problem : Problem
        Data X (n, d), y (n,).
    beta : (d,) array_like
        The predictor β.

    Returns
    -------
    float
        2 Σ_j c_j |β_j|, c = diag(XᵀX)/n.

    Raises
    ------
    ValueError
        If ``problem`` is not a :class:`~dlnsam.Problem` or ``beta`` is not a finite
        (d,) array; the message names the argument.

    Notes
    -----
    Since u_j² + v_j² ≥ 2|u_j v_j|, every θ with u ⊙ v = β has
    tr ∇²L(θ) ≥ 2 Σ_j c_j |β_j|, with equality where |u| = |v|. It is the limit of
    :func:`limit_trace` as α_eff → 0, where the flow's solution tends to the
    minimum-ℓ1 interpolator: in that limit the trace at the flow's limit is
    a (c-weighted) ℓ1 norm of its β.

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam import Problem
    >>> from dlnsam.flatness import limit_trace, trace_floor
    >>> p = Problem(X=np.eye(2), y=np.array([1.5, 0.0]))
    >>> trace_floor(p, beta=np.array([1.5, 0.0]))
    1.5
    >>> limit_trace(p, beta=np.array([1.5, 0.0]), alpha_eff=0.0)
    1.5
    """
    p = _check_problem(problem)
    beta = _vector(beta, "beta", p.d)
    return float(2.0 * (_column_weights(p.X) @ np.abs(beta)))
