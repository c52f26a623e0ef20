"""GD, n-SAM and 1-SAM on β = u ⊙ v in JAX: ``jax.jit`` over a ``lax.scan`` of the steps.

The way a JAX user writes it: gradients by ``jax.grad`` of the loss, n-SAM as
the gradient at the perturbed point, 1-SAM as ``jax.vmap`` over the examples
of the per-example SAM gradient, the whole training loop compiled once. Runs in
float64 on the CPU. Importing this module fails with ``ImportError`` when JAX
is not installed. Conventions are those of :mod:`benchmarks.baselines`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import NDArray

jax.config.update("jax_enable_x64", True)

__all__ = ["ALGORITHMS", "device", "sam_many", "train"]

Params = tuple[jax.Array, jax.Array]  # θ = (u, v)


def loss(theta: Params, X: jax.Array, y: jax.Array) -> jax.Array:
    """L(θ) = ‖X(u ⊙ v) − y‖² / (2n)."""
    u, v = theta
    return 0.5 * jnp.mean((X @ (u * v) - y) ** 2)


def example_loss(theta: Params, x: jax.Array, y: jax.Array) -> jax.Array:
    """ℓ_i(θ) = ½ (xᵀ(u ⊙ v) − y)² for one example."""
    u, v = theta
    return 0.5 * (x @ (u * v) - y) ** 2


def _ascend(theta: Params, grad: Params, rho: float) -> Params:
    return jax.tree.map(lambda p, g: p + rho * g, theta, grad)


def gd_direction(theta: Params, X: jax.Array, y: jax.Array, rho: float) -> Params:
    """The gradient ∇L(θ) (``rho`` is unused)."""
    return jax.grad(loss)(theta, X, y)


def n_sam_direction(theta: Params, X: jax.Array, y: jax.Array, rho: float) -> Params:
    """n-SAM: ∇L(θ̃) at θ̃ = θ + ρ ∇L(θ)."""
    grad = jax.grad(loss)
    return grad(_ascend(theta, grad(theta, X, y), rho), X, y)


def one_sam_direction(theta: Params, X: jax.Array, y: jax.Array, rho: float) -> Params:
    """1-SAM: the mean over examples of ∇ℓ_i(θ̃_i), θ̃_i = θ + ρ ∇ℓ_i(θ), vmapped."""
    grad = jax.grad(example_loss)

    def per_example(x: jax.Array, y_i: jax.Array) -> Params:
        return grad(_ascend(theta, grad(theta, x, y_i), rho), x, y_i)

    return jax.tree.map(lambda g: jnp.mean(g, axis=0), jax.vmap(per_example)(X, y))


#: The update directions by name.
ALGORITHMS: dict[str, Callable[[Params, jax.Array, jax.Array, float], Params]] = {
    "GD": gd_direction,
    "n-SAM": n_sam_direction,
    "1-SAM": one_sam_direction,
}


@partial(jax.jit, static_argnames=("algorithm", "steps"))
def _train(X, y, u0, v0, lr, rho, *, algorithm: str, steps: int) -> jax.Array:
    direction = ALGORITHMS[algorithm]

    def step(theta: Params, _: None) -> tuple[Params, None]:
        du, dv = direction(theta, X, y, rho)
        u, v = theta
        return (u - lr * du, v - lr * dv), None

    (u, v), _ = jax.lax.scan(step, (u0, v0), None, length=steps)
    return u * v


def train(
    X: NDArray[np.float64], y: NDArray[np.float64], algorithm: str, *, lr: float, steps: int,
    alpha: float, rho: float = 0.0,
) -> NDArray[np.float64]:  # fmt: skip
    """β after ``steps`` updates from u₀ = 2α, v₀ = 0, waited for.

    ``algorithm`` is a key of :data:`ALGORITHMS`; a new ``steps`` compiles a new loop.
    """
    d = X.shape[1]
    beta = _train(
        jnp.asarray(X), jnp.asarray(y), jnp.full(d, 2.0 * alpha), jnp.zeros(d), lr, rho,
        algorithm=algorithm, steps=steps,
    )  # fmt: skip
    return np.asarray(beta.block_until_ready())


@jax.jit
def _sam_many(X, y, batches, lr, rho) -> jax.Array:
    b = batches.shape[2]

    def one_run(rows_per_step: jax.Array) -> jax.Array:
        def step(w: jax.Array, rows: jax.Array) -> tuple[jax.Array, None]:
            XB, yB = X[rows], y[rows]
            g = XB.T @ (XB @ w - yB) / b
            w_tilde = w + rho * g
            return w - lr * (XB.T @ (XB @ w_tilde - yB) / b), None

        w, _ = jax.lax.scan(step, jnp.zeros(X.shape[1]), rows_per_step)
        return w

    return jax.vmap(one_run)(batches)


def device(*arrays: NDArray) -> tuple[jax.Array, ...]:
    """The arrays on the device, once (row indices as int32)."""
    return tuple(
        jnp.asarray(a, dtype=jnp.int32) if a.dtype.kind == "i" else jnp.asarray(a) for a in arrays
    )


def sam_many(X: jax.Array, y: jax.Array, batches: jax.Array, *, lr: float, rho: float):
    """Stochastic SAM(ρ, m = b) on least squares in w for R runs: ``vmap`` over the runs.

    ``batches`` (R, T, b) holds the rows of run r at step t; returns the (R, d)
    final w, waited for. Arguments are device arrays (:func:`device`).
    """
    return np.asarray(_sam_many(X, y, batches, lr, rho).block_until_ready())
