"""Plain-NumPy reference implementations of GD, SGD and SAM(ρ, m).

Written from the definitions the obvious way, without any of the algebra the
Numba kernels use: the SAM direction forms every perturbed copy
θ̃_j = θ + ρ_j ∇L_{S_j}(θ) explicitly and evaluates the gradient there, so
1-SAM is literally a loop over n perturbed networks. Slow, but obviously
right; the tests compare :func:`dlnsam.run` against it step by step in
float64, and the benchmarks use it as their NumPy baseline.

Conventions: L(β) = ‖Xβ − y‖²/(2n), ℓ_i(β) = ½(x_iᵀβ − y_i)²,
β = u ⊙ v, θ = (u, v). The "±" view has w₊ = (u + v)/2, w₋ = (u − v)/2 and
β = w₊² − w₋².

A micro-batch whose rows are a contiguous range is read from X by a slice (a
view), so that the reference pays for no copy of X's rows.

Examples
--------
>>> import numpy as np
>>> from dlnsam import reference
>>> X, y = np.eye(2), np.array([1.0, 2.0])
>>> traj = reference.reference_run(X, y, lr=0.1, steps=3, u0=np.ones(2), v0=np.ones(2))
>>> traj.a.shape, traj.train_loss.shape
((4, 2), (4,))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "Trajectory",
    "batch_rows",
    "grad_pm",
    "grad_uv",
    "grad_w",
    "learning_rates",
    "linear_reference_run",
    "loss",
    "per_example_losses",
    "pm_reference_run",
    "reference_run",
    "sam_direction",
    "subset_gradient_beta",
    "update",
]

Array = NDArray[np.float64]
Rows = NDArray[np.int64] | slice
Gradient = Callable[..., tuple[Array, Array]]


def loss(X: Array, y: Array, beta: Array) -> float:
    """L(β) = ‖Xβ − y‖² / (2n) for X (n, d), y (n,), β (d,)."""
    r = X @ beta - y
    return float(r @ r) / (2.0 * X.shape[0])


def per_example_losses(X: Array, y: Array, beta: Array) -> Array:
    """ℓ_i(β) = ½ (x_iᵀβ − y_i)² for every example i; (n,) ndarray."""
    return 0.5 * (X @ beta - y) ** 2


def _rows(rows: Rows | Sequence[int]) -> Rows:
    """``rows`` as a slice when it is a contiguous increasing range, else an index array."""
    if isinstance(rows, slice):
        return rows
    idx = np.asarray(rows, dtype=np.int64)
    if idx.size == 1:
        return slice(int(idx[0]), int(idx[0]) + 1)
    if idx.size and idx[-1] - idx[0] == idx.size - 1 and np.all(np.diff(idx) == 1):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


def _count(X: Array, rows: Rows) -> int:
    return len(range(*rows.indices(X.shape[0]))) if isinstance(rows, slice) else len(rows)


def subset_gradient_beta(X: Array, y: Array, beta: Array, rows: Rows | Sequence[int]) -> Array:
    """g_S(β) = X_Sᵀ r_S / |S|, the gradient of L_S = mean of ℓ_i over S.

    ``rows`` is an index array or a slice; a contiguous range is read by a slice.
    """
    rows = _rows(rows)
    if isinstance(rows, slice) and rows.start is not None and rows.stop == rows.start + 1:
        # One example (1-SAM): its row as a vector, the same numbers without 2-D temporaries.
        x = X[rows.start]
        return x * (x @ beta - y[rows.start])
    XS = X[rows]
    r = XS @ beta - y[rows]
    return XS.T @ r / _count(X, rows)


def grad_uv(
    X: Array,
    y: Array,
    u: Array,
    v: Array,
    rows: Rows | Sequence[int],
    residual_at: tuple[Array, Array] | None = None,
) -> tuple[Array, Array]:
    """∇_θ L_S(θ) for θ = (u, v): (g_S ⊙ v, g_S ⊙ u) with g_S at β = u ⊙ v.

    With ``residual_at`` = (u', v'), g_S is taken at β' = u' ⊙ v' instead and
    the factors (v, u) at θ: the loss-derivative-only gradient.
    """
    a, b = (u, v) if residual_at is None else residual_at
    g = subset_gradient_beta(X, y, a * b, rows)
    return g * v, g * u


def grad_pm(
    X: Array,
    y: Array,
    wp: Array,
    wm: Array,
    rows: Rows | Sequence[int],
    residual_at: tuple[Array, Array] | None = None,
) -> tuple[Array, Array]:
    """∇ L_S in the ± view: (2 g_S ⊙ w₊, −2 g_S ⊙ w₋) with g_S at β = w₊² − w₋².

    With ``residual_at`` = (w₊', w₋'), g_S is taken at w₊'² − w₋'² instead.
    """
    a, b = (wp, wm) if residual_at is None else residual_at
    g = subset_gradient_beta(X, y, a * a - b * b, rows)
    return 2.0 * g * wp, -2.0 * g * wm


def grad_w(
    X: Array,
    y: Array,
    w: Array,
    unused: Array,
    rows: Rows | Sequence[int],
    residual_at: tuple[Array, Array] | None = None,
) -> tuple[Array, Array]:
    """∇ L_S for least squares in w itself: (g_S(w), 0); the second block is not trained."""
    a = w if residual_at is None else residual_at[0]
    return subset_gradient_beta(X, y, a, rows), np.zeros_like(unused)


def sam_direction(
    grad: Gradient,
    X: Array,
    y: Array,
    a: Array,
    b: Array,
    rows: Sequence[int] | NDArray[np.int64],
    rho: float,
    m: int,
    normalize: bool = False,
    eps: float = 1e-12,
    loss_derivative_only: bool = False,
) -> tuple[Array, Array]:
    """The SAM(ρ, m) direction D = (1/k) Σ_j ∇L_{S_j}(θ + ρ_j ∇L_{S_j}(θ)).

    Parameters
    ----------
    grad : callable
        :func:`grad_uv` (θ = (a, b) = (u, v)) or :func:`grad_pm` (θ = (w₊, w₋)).
    X : (n, d) ndarray
    y : (n,) ndarray
    a, b : (d,) ndarray
        The two halves of θ.
    rows : (b,) int array
        The batch, split in the given order into contiguous micro-batches S_j
        of size m (k = b/m of them).
    rho : float
        ρ; ρ = 0 gives the plain batch gradient.
    m : int
        Micro-batch size; must divide len(rows).
    normalize : bool, default False
        ρ_j = ρ / (‖∇_θ L_{S_j}‖₂ + eps), the norm over both halves of θ.
    eps : float, default 1e-12
    loss_derivative_only : bool, default False
        Take only the residual at the perturbed point θ̃_j and the gradient
        factor at θ: ∇_u = g_{S_j}(β̃_j) ⊙ v, ∇_v = g_{S_j}(β̃_j) ⊙ u.

    Returns
    -------
    (da, db) : tuple of (d,) ndarray
    """
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) % m:
        raise ValueError(f"m = {m} does not divide the batch size {len(rows)}")
    k = len(rows) // m
    da = np.zeros_like(a)
    db = np.zeros_like(b)
    for j in range(k):
        S = _rows(rows[j * m : (j + 1) * m])
        ga, gb = grad(X, y, a, b, S)
        if rho == 0.0:  # θ̃ = θ: the plain gradient, without evaluating it twice
            da += ga
            db += gb
            continue
        radius = rho
        if normalize:
            radius = rho / (np.sqrt(ga @ ga + gb @ gb) + eps)
        a_tilde = a + radius * ga  # the perturbed network, formed explicitly
        b_tilde = b + radius * gb
        if loss_derivative_only:
            ga_tilde, gb_tilde = grad(X, y, a, b, S, residual_at=(a_tilde, b_tilde))
        else:
            ga_tilde, gb_tilde = grad(X, y, a_tilde, b_tilde, S)
        da += ga_tilde
        db += gb_tilde
    return da / k, db / k


def batch_rows(uniforms: Array, b: int) -> NDArray[np.int64]:
    """The batch of each step from its n uniforms: the first b of a stable argsort; (count, b)."""
    return np.argsort(uniforms, axis=1, kind="stable")[:, :b]


def learning_rates(lr: float | Array, steps: int, lr_decay: Sequence[int] = ()) -> Array:
    """γ_t for t = 0..steps−1: γ (or the given γ_t) halved once for every milestone ≤ t."""
    base = np.broadcast_to(np.asarray(lr, dtype=np.float64), (steps,))
    rates = np.empty(steps)
    for t in range(steps):
        rates[t] = base[t] * 0.5 ** sum(1 for s in lr_decay if s <= t)
    return rates


def update(
    a: Array,
    b: Array,
    da: Array,
    db: Array,
    gamma: float,
    *,
    weight_decay: float = 0.0,
    normalized_descent: bool = False,
) -> tuple[Array, Array]:
    """One step θ ← θ − γ D − λ θ, per parameter block.

    With ``normalized_descent`` each block of D is divided by its norm,
    D_a/‖D_a‖₂ and D_b/‖D_b‖₂, when both norms are > 0. ``weight_decay`` λ
    is not scaled by γ.
    """
    if normalized_descent:
        na, nb = np.sqrt(da @ da), np.sqrt(db @ db)
        if na > 0.0 and nb > 0.0:
            da, db = da / na, db / nb
    return a - gamma * da - weight_decay * a, b - gamma * db - weight_decay * b


@dataclass(frozen=True)
class Trajectory:
    """A reference run: every iterate, the loss at every iterate, Σ_t γ_t L(θ_t).

    Attributes
    ----------
    a, b : (steps + 1, d) ndarray
        (u, v) for the u⊙v reference, (w₊, w₋) for the ± reference.
    beta : (steps + 1, d) ndarray
    train_loss : (steps + 1,) ndarray
    integral_loss : float
    """

    a: Array
    b: Array
    beta: Array
    train_loss: Array
    integral_loss: float


def _run(
    grad: Gradient,
    to_beta: Callable[[Array, Array], Array],
    X: Array,
    y: Array,
    a0: Array,
    b0: Array,
    *,
    lr: float | Array,
    steps: int,
    rho: float | Array,
    m: int | None,
    normalize: bool,
    eps: float,
    batches: NDArray[np.int64] | None,
    lr_decay: Sequence[int],
    weight_decay: float,
    normalized_descent: bool,
    loss_derivative_only: bool,
) -> Trajectory:
    n, d = X.shape
    rates = learning_rates(lr, steps, lr_decay)
    radii = np.broadcast_to(np.asarray(rho, dtype=np.float64), (steps,))
    a_traj = np.empty((steps + 1, d))
    b_traj = np.empty((steps + 1, d))
    a = np.array(a0, dtype=np.float64)
    b = np.array(b0, dtype=np.float64)
    a_traj[0], b_traj[0] = a, b
    integral = 0.0
    for t in range(steps):
        rows = np.arange(n) if batches is None else np.asarray(batches[t])
        mm = len(rows) if m is None else m
        da, db = sam_direction(
            grad, X, y, a, b, rows, radii[t], mm, normalize, eps, loss_derivative_only
        )
        integral += rates[t] * loss(X, y, to_beta(a, b))
        a, b = update(
            a, b, da, db, rates[t], weight_decay=weight_decay,
            normalized_descent=normalized_descent,
        )  # fmt: skip
        a_traj[t + 1], b_traj[t + 1] = a, b
    beta = np.array([to_beta(a_traj[t], b_traj[t]) for t in range(steps + 1)])
    losses = np.array([loss(X, y, beta_t) for beta_t in beta])
    return Trajectory(a_traj, b_traj, beta, losses, integral)


def reference_run(
    X: Array,
    y: Array,
    *,
    lr: float | Array,
    steps: int,
    u0: Array,
    v0: Array,
    rho: float | Array = 0.0,
    m: int | None = None,
    normalize: bool = False,
    eps: float = 1e-12,
    batches: NDArray[np.int64] | None = None,
    lr_decay: Sequence[int] = (),
    weight_decay: float = 0.0,
    normalized_descent: bool = False,
    loss_derivative_only: bool = False,
) -> Trajectory:
    """Train β = u ⊙ v with θ ← θ − γ_t D(θ) − λ θ, D the SAM(ρ, m) direction.

    ρ = 0 is GD (``batches`` None: rows 0..n−1 in order every step) or SGD
    (``batches`` a (steps, b) array of row indices, row t used at step t).
    ``m`` None means one micro-batch holding the whole batch. ``lr`` and
    ``rho`` are constants or (steps,) arrays of γ_t and ρ_t. The options
    are those of :func:`sam_direction` and :func:`update`.

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam.reference import reference_run
    >>> X, y = np.eye(2), np.array([1.0, 2.0])
    >>> traj = reference_run(X, y, lr=0.1, steps=50, u0=np.ones(2), v0=np.ones(2), rho=0.1, m=1)
    >>> bool(traj.train_loss[-1] < traj.train_loss[0])
    True
    """
    return _run(
        grad_uv, lambda u, v: u * v, X, y, u0, v0, lr=lr, steps=steps, rho=rho, m=m,
        normalize=normalize, eps=eps, batches=batches, lr_decay=lr_decay,
        weight_decay=weight_decay, normalized_descent=normalized_descent,
        loss_derivative_only=loss_derivative_only,
    )  # fmt: skip


def linear_reference_run(
    X: Array,
    y: Array,
    *,
    lr: float | Array,
    steps: int,
    w0: Array,
    rho: float | Array = 0.0,
    m: int | None = None,
    normalize: bool = False,
    eps: float = 1e-12,
    batches: NDArray[np.int64] | None = None,
    lr_decay: Sequence[int] = (),
    weight_decay: float = 0.0,
) -> Trajectory:
    """Least squares in w itself with the same algorithms: w ← w − γ_t D(w) − λ w.

    D is the SAM(ρ, m) direction of :func:`sam_direction` with :func:`grad_w`
    (the perturbed point w + ρ_j g_{S_j}(w)); β = w, and ``Trajectory.b`` is 0.

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam.reference import linear_reference_run
    >>> X, y = np.eye(2), np.array([1.0, 2.0])
    >>> linear_reference_run(X, y, lr=1.0, steps=1, w0=np.zeros(2)).beta[-1]
    array([0.5, 1. ])
    """
    return _run(
        grad_w, lambda w, unused: w, X, y, w0, np.zeros_like(w0), lr=lr, steps=steps,
        rho=rho, m=m, normalize=normalize, eps=eps, batches=batches, lr_decay=lr_decay,
        weight_decay=weight_decay, normalized_descent=False, loss_derivative_only=False,
    )  # fmt: skip


def pm_reference_run(
    X: Array,
    y: Array,
    *,
    lr: float | Array,
    steps: int,
    wp0: Array,
    wm0: Array,
    rho: float | Array = 0.0,
    m: int | None = None,
    normalize: bool = False,
    eps: float = 1e-12,
    batches: NDArray[np.int64] | None = None,
    lr_decay: Sequence[int] = (),
    weight_decay: float = 0.0,
    normalized_descent: bool = False,
    loss_derivative_only: bool = False,
) -> Trajectory:
    """The same algorithms in the ± view: w ← w − γ_t D(w) − λ w, β = w₊² − w₋²."""
    return _run(
        grad_pm, lambda wp, wm: wp * wp - wm * wm, X, y, wp0, wm0, lr=lr, steps=steps,
        rho=rho, m=m, normalize=normalize, eps=eps, batches=batches, lr_decay=lr_decay,
        weight_decay=weight_decay, normalized_descent=normalized_descent,
        loss_derivative_only=loss_derivative_only,
    )  # fmt: skip
