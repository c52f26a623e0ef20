"""Right-hand sides of the flows: each owns its state layout and its extra states.

A term is a NamedTuple of arrays and scalars (the problem, the algorithm's
parameters and the work buffers of one right-hand-side evaluation), and the
functions below are what an integrator may ask of it: ż at a state, the
number of leading components ż depends on, the loss, and the records at an
output time. The integrators (:mod:`dlnsam.flows.dop853`,
:mod:`dlnsam.flows.bdf`) see the state only as a flat vector, so a new flow is
a new term and leaves them untouched: a NamedTuple, its rate function (its
fields in order, then z and ``out``) in ``_RATES``, and the functions below.

Terms travel as records rather than as jitted functions passed as arguments:
a kernel that takes a dispatcher argument is recompiled in every process (its
cache entry is not found again), and these kernels take tens of seconds to
compile.

The state of :class:`SamFlowTerm` is z = [u (d), v (d), ∫L (1), Δ (d), Δ⁽¹⁾ (d)]:

    u̇ = −D_u(θ),  v̇ = −D_v(θ),  (∫L)˙ = L(θ),
    Δ̇ = (1/k) Σ_j ρ_j g_j ⊙ g̃_j,   Δ̇⁽¹⁾ = (1/k) Σ_j ρ_j g_j ⊙ g_j,

with D the SAM(ρ, m) direction (the gradient for ρ = 0), g_j and g̃_j the
micro-batch gradients at θ and at the perturbed point.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit
from numba.core import cgutils
from numba.core.typing import signature
from numba.extending import intrinsic
from numpy.typing import NDArray

from dlnsam.algorithms import KernelParams
from dlnsam.kernels import FASTMATH, WORK_ROWS, direction, half_mse
from dlnsam.training import aligned_zeros

__all__ = [
    "FASTMATH",
    "FlowState",
    "SamFlowTerm",
    "dynamic_size",
    "initial_state",
    "layout",
    "record_output",
    "rhs",
    "sam_flow_term",
    "split_state",
    "state_atol",
    "train_loss",
]


class SamFlowTerm(NamedTuple):
    """The gradient flow or a full-batch SAM(ρ, m) flow, with its work buffers.

    Attributes
    ----------
    X : (n, d) ndarray
    y : (n,) ndarray
    rows : (n,) int ndarray
        The rows in micro-batch order (0..n−1).
    rho, m, normalize, eps
        The SAM(ρ, m) parameters (ρ = 0: the gradient flow).
    part : (chunks, PART_ROWS, d) ndarray or None
        The chunk buffer of the parallel direction kernel, or None (serial).
    work, r, du, dv : ndarray
        Scratch of one evaluation of the direction.
    """

    X: NDArray[np.float64]
    y: NDArray[np.float64]
    rows: NDArray[np.int64]
    rho: float
    m: int
    normalize: bool
    eps: float
    part: NDArray[np.float64] | None
    work: NDArray[np.float64]
    r: NDArray[np.float64]
    du: NDArray[np.float64]
    dv: NDArray[np.float64]


class Layout(NamedTuple):
    """Offsets of the blocks of the state z of a :class:`SamFlowTerm`, and its size."""

    u: int
    v: int
    integral_loss: int
    delta: int
    delta_first_order: int
    size: int


class FlowState(NamedTuple):
    """The blocks of a flow state z, as views (see :func:`split_state`)."""

    u: NDArray[np.float64]
    v: NDArray[np.float64]
    integral_loss: NDArray[np.float64]  # (1,)
    delta: NDArray[np.float64]
    delta_first_order: NDArray[np.float64]


def sam_flow_term(
    X: NDArray[np.float64],
    y: NDArray[np.float64],
    params: KernelParams,
    part: NDArray[np.float64] | None,
) -> SamFlowTerm:
    """The term of the flow of ``params`` (full batch) on (X, y), with fresh buffers.

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam import SAM
    >>> from dlnsam.flows.terms import sam_flow_term
    >>> term = sam_flow_term(np.ones((4, 3)), np.ones(4), SAM(0.1, m=1).kernel_params(4), None)
    >>> term.rho, term.m, term.work.shape
    (0.1, 1, (8, 3))
    """
    n, d = X.shape
    # Aligned scratch: the direction kernel's vectorized loops run along it.
    return SamFlowTerm(
        X, y, np.arange(n), float(params.rho), int(params.m), bool(params.normalize),
        float(params.eps), part, aligned_zeros((WORK_ROWS, d)), aligned_zeros(n),
        aligned_zeros(d), aligned_zeros(d),
    )  # fmt: skip


@njit(cache=True, inline="always")
def layout(d):
    """The block offsets of z for d coordinates: [u, v, ∫L, Δ, Δ⁽¹⁾], size 4d + 1.

    Examples
    --------
    >>> from dlnsam.flows.terms import layout
    >>> tuple(layout(3))
    (0, 3, 6, 7, 10, 13)
    """
    return Layout(0, d, 2 * d, 2 * d + 1, 3 * d + 1, 4 * d + 1)


def split_state(z: NDArray[np.float64], d: int) -> FlowState:
    """Views of the blocks of the state z of a flow in d coordinates.

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam.flows.terms import split_state
    >>> split_state(np.arange(9.0), 2).delta
    array([5., 6.])
    """
    at = layout(d)
    return FlowState(
        z[at.u : at.v],
        z[at.v : at.integral_loss],
        z[at.integral_loss : at.delta],
        z[at.delta : at.delta_first_order],
        z[at.delta_first_order : at.size],
    )


def initial_state(u: NDArray[np.float64], v: NDArray[np.float64]) -> NDArray[np.float64]:
    """The state z at θ_0 = (u, v): the integrals start at 0.

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam.flows.terms import initial_state
    >>> initial_state(np.ones(2), np.zeros(2))
    array([1., 1., 0., 0., 0., 0., 0., 0., 0.])
    """
    z = np.zeros(layout(u.shape[0]).size)
    at = split_state(z, u.shape[0])
    at.u[:] = u
    at.v[:] = v
    return z


def state_atol(
    u0: NDArray[np.float64], v0: NDArray[np.float64], rtol: float, atol: float
) -> NDArray[np.float64]:
    """The absolute tolerance of each component of the flow state z = [u, v, ∫L, Δ, Δ⁽¹⁾].

    ``atol`` everywhere, except on u_c and v_c: min(atol, rtol · s_c) with
    s_c = max(|u0_c|, |v0_c|) > 0. A coordinate that starts far below ``atol``
    (a small initialization scale α) is so integrated to relative accuracy
    rtol: with the absolute tolerance alone, its error would not be controlled
    at all until it grew past ``atol``, and the flow's limit depends on it
    through α. A coordinate with u0_c = v0_c = 0 stays at 0.

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam.flows import state_atol
    >>> state_atol(np.array([2e-60, 1.0]), np.zeros(2), 1e-10, 1e-14)[[0, 1, 2, 4]]
    array([2.e-70, 1.e-14, 2.e-70, 1.e-14])
    """
    out = np.full(layout(u0.shape[0]).size, atol)
    s = np.maximum(np.abs(u0), np.abs(v0))
    theta = np.where(s > 0.0, np.minimum(atol, rtol * s), atol)
    blocks = split_state(out, u0.shape[0])
    blocks.u[:] = theta
    blocks.v[:] = theta
    return out


@intrinsic
def rhs(typingctx, term, z, out):
    """Write ż into ``out`` (N,); return L(θ). Callable from compiled code only.

    Calls the term's rate function (``_RATES``) on the term's fields, taken out
    of the record in the generated code: a jitted ``rhs``, inlined or not,
    would copy the record and count a reference per array at every evaluation.
    """
    rates = typingctx.resolve_value_type(_RATES[term.instance_class])
    inner = typingctx.resolve_function_type(rates, (*term.types, z, out), {})

    def codegen(context, builder, sig, args):
        fields = cgutils.unpack_tuple(builder, args[0], len(term))
        return context.get_function(rates, inner)(builder, [*fields, args[1], args[2]])

    return signature(inner.return_type, term, z, out), codegen


@njit(cache=True, fastmath=FASTMATH)
def _sam_rates(X, y, rows, rho, m, normalize, eps, part, work, r, du, dv, z, out):
    """:func:`rhs` of :class:`SamFlowTerm`, on its fields.

    The only call of the SAM direction kernel in the flows. ``part`` is an
    argument so that ``part is None`` is resolved at compile time, and the
    fields are plain arguments because a record passed to a compiled call
    costs more than its fields do.
    """
    n, d = X.shape
    at = layout(d)
    k = rows.shape[0] // m
    sum_r2 = direction(
        X, y, rows, z[at.u : at.v], z[at.v : at.integral_loss],
        rho, m, normalize, eps, True, work, r, du, dv, part, False,
    )  # fmt: skip
    loss = sum_r2 / (2.0 * n)
    for c in range(d):
        out[at.u + c] = -du[c]
        out[at.v + c] = -dv[c]
    if rho == 0.0:  # gradient flow: Δ and Δ⁽¹⁾ stay 0
        for c in range(d):
            out[at.delta + c] = 0.0
            out[at.delta_first_order + c] = 0.0
    else:
        # Rows 3 and 6 of work: Σ_j ρ_j g_j ⊙ g̃_j and Σ_j ρ_j g_j ⊙ g_j.
        for c in range(d):
            out[at.delta + c] = work[3, c] / k
            out[at.delta_first_order + c] = work[6, c] / k
    out[at.integral_loss] = loss
    return loss


#: The rate function of each term: its fields, in order, then z and ``out``.
_RATES = {SamFlowTerm: _sam_rates}


@njit(cache=True)
def dynamic_size(term):
    """p: ż depends on z[:p] only (θ = (u, v)); the other components are quadratures."""
    return 2 * term.X.shape[1]


@njit(cache=True, fastmath=FASTMATH)
def train_loss(term, z, beta):
    """L(θ) at the state z, with β = u ⊙ v written into ``beta`` (d,)."""
    d = term.X.shape[1]
    for c in range(d):
        beta[c] = z[c] * z[d + c]
    return half_mse(term.X, term.y, beta)


@njit(cache=True, fastmath=FASTMATH)
def record_output(term, outputs, slot, theta, loss):
    """Record β and the losses of the state ``theta`` (z or its first p entries) at an output.

    ``loss`` is L(θ) when the caller has it, NaN to compute it from β.
    """
    d = term.X.shape[1]
    beta = outputs.beta[slot]
    for c in range(d):
        beta[c] = theta[c] * theta[d + c]
    if loss == loss:
        outputs.loss[slot, 0] = loss
    else:
        outputs.loss[slot, 0] = half_mse(term.X, term.y, beta)
    if outputs.X_test.shape[0] > 0:
        outputs.loss[slot, 1] = half_mse(outputs.X_test, outputs.y_test, beta)
