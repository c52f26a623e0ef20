"""The SAM(ρ, m) direction, serial and parallel, and the step loop around it.

GD, SGD and SAM(ρ, m) are one kernel family: GD is SAM with ρ = 0 and one
full batch, SGD is GD on random batches. The arrays and scalars crossing the
JIT boundary of :func:`run_chunk` are the named records of
:mod:`dlnsam.kernels.records`; validation lives in the Python layer
(:mod:`dlnsam.training`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from dlnsam.kernels.rows import (
    FASTMATH,
    _ascent,
    _micro_batch_direction,
    _one_sam_rows,
    _perturbed_pass,
    _residual_pass,
    _residuals,
    half_mse,
)
from dlnsam.status import CONVERGED, DIVERGED, RUNNING

#: Rows of the (WORK_ROWS, d) scratch buffer of :func:`direction`:
#: β, s, G, H, g, p, H1, G_j.
WORK_ROWS = 8
#: Rows of the per-chunk buffer of the parallel kernel: G, H, H1, g, p, G_j.
PART_ROWS = 6

#: Row chunks of the parallel kernel, at most. The count depends on the batch
#: size (:func:`dlnsam.training.parallel_chunks`), never on the thread count, so
#: that the summation order, hence every bit of the result, is the same on any
#: core count.
PARALLEL_CHUNKS = 8


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _start(u, v, work, rho):
    """β, s into work[0], work[1]; G, H, H1 (work[2], [3], [6]) to zero."""
    d = u.shape[0]
    for c in range(d):
        work[0, c] = u[c] * v[c]
        work[2, c] = 0.0
    if rho != 0.0:
        for c in range(d):
            work[1, c] = u[c] * u[c] + v[c] * v[c]
            work[3, c] = 0.0
            work[6, c] = 0.0


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _finish(u, v, G, H, rho, k, b, loss_derivative_only, du, dv):
    """D_u = (G ⊙ v + H ⊙ u)/k and D_v = (G ⊙ u + H ⊙ v)/k (k micro-batches).

    With ρ = 0, G holds the sum Σ_i x_i r_i over the b rows of the batch, so the
    gradient is D_u = (G ⊙ v)/b, D_v = (G ⊙ u)/b. With ``loss_derivative_only``
    the H terms, which come from the perturbed factor (ṽ, ũ), are left out:
    D_u = (G ⊙ v)/k, D_v = (G ⊙ u)/k.
    """
    d = u.shape[0]
    if rho == 0.0:
        inv_b = 1.0 / b
        for c in range(d):
            du[c] = G[c] * v[c] * inv_b
            dv[c] = G[c] * u[c] * inv_b
        return
    inv_k = 1.0 / k
    if loss_derivative_only:
        for c in range(d):
            du[c] = G[c] * v[c] * inv_k
            dv[c] = G[c] * u[c] * inv_k
        return
    for c in range(d):
        du[c] = (G[c] * v[c] + H[c] * u[c]) * inv_k
        dv[c] = (G[c] * u[c] + H[c] * v[c]) * inv_k


@njit(cache=True, fastmath=FASTMATH, inline="always")
def sam_direction(X, y, rows, u, v, rho, m, normalize, eps, first_order, work, r, du, dv,
                  loss_derivative_only):  # fmt: skip
    """Write the SAM(ρ, m) direction over the batch ``rows`` into (du, dv).

    With ρ = 0 this is the plain (mini-batch) gradient. ``work`` is a
    (WORK_ROWS, d) buffer and ``r`` a buffer of length ≥ len(rows), which
    receives the residuals r_i = x_iᵀβ − y_i of the batch. Returns Σ r_i² over
    the batch at the current point.

    On return, ``work[3]`` holds H = Σ_j ρ_j g̃_j ⊙ g_j, so that H / k is the
    rate of the exact effective-α exponent Δ of a SAM flow; with
    ``first_order`` also ``work[6]`` = Σ_j ρ_j g_j ⊙ g_j, the rate (times k)
    of its first-order approximation Δ⁽¹⁾. Neither is written when ρ = 0.
    ``loss_derivative_only`` drops the H terms from (du, dv) (see :func:`_finish`).

    The large problems are memory-bound, so every row is used once while it is
    in cache: 1-SAM makes a single pass over the rows of X, and each
    micro-batch of m ≥ 2 two passes (residuals and g_j, then r̃ and g̃_j).
    """
    b = rows.shape[0]
    _start(u, v, work, rho)
    beta, s, G, H, H1 = work[0], work[1], work[2], work[3], work[6]
    if m == 1 and rho != 0.0:
        # 1-SAM: per-example gradients x_i r_i, so the micro-batch products
        # reduce to elementwise powers of x_i (no loop over perturbed copies of θ).
        k = b
        sum_r2 = _one_sam_rows(X, y, rows, 0, b, beta, s, rho, normalize, eps, first_order,
                               G, H, H1, r)  # fmt: skip
    else:
        k = b // m
        # The plain gradient (ρ = 0) does not depend on m: one pass over the batch.
        width, groups = (b, 1) if rho == 0.0 else (m, k)
        sum_r2 = 0.0
        for j in range(groups):
            sum_r2 += _micro_batch_direction(
                X, y, rows, j, width, beta, s, rho, normalize, eps, first_order,
                work[4], work[5], work[7], G, H, H1, r,
            )  # fmt: skip
    _finish(u, v, G, H, rho, k, b, loss_derivative_only, du, dv)
    return sum_r2


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def sam_direction_parallel(X, y, rows, u, v, rho, m, normalize, eps, first_order,
                           work, r, du, dv, part, loss_derivative_only):  # fmt: skip
    """:func:`sam_direction` with the rows split into ``part.shape[0]`` chunks run in parallel.

    ``part`` is a (chunks, PART_ROWS, d) buffer of per-chunk partial sums (G,
    H, H1, g, p, G_j). 1-SAM and many small micro-batches (k ≥ chunks) are
    split by whole micro-batches; fewer, larger micro-batches (n-SAM) are
    split inside each micro-batch. Same results as the serial kernel up to
    summation order.
    """
    d = X.shape[1]
    b = rows.shape[0]
    T = part.shape[0]
    # Only the loops over rows run in parallel: the O(d) ones are too cheap to
    # pay for starting a parallel region.
    _start(u, v, work, rho)
    beta, s, G, H, g, p, H1 = work[0], work[1], work[2], work[3], work[4], work[5], work[6]
    # Σ r_i² per chunk, summed serially afterwards: a reduction inside prange would
    # group the chunks by thread, and the bits of the loss would depend on the thread count.
    chunk_r2 = np.zeros(T)
    one_sam = m == 1 and rho != 0.0
    k = b // m
    if one_sam or k >= T:
        # Whole micro-batches (single rows for 1-SAM) per chunk.
        for t in prange(T):
            Gt, Ht, H1t = part[t, 0], part[t, 1], part[t, 2]
            for c in range(d):
                Gt[c] = 0.0
                Ht[c] = 0.0
                H1t[c] = 0.0
            lo = t * k // T
            hi = (t + 1) * k // T
            local = 0.0
            if one_sam:
                local = _one_sam_rows(X, y, rows, lo, hi, beta, s, rho, normalize, eps,
                                      first_order, Gt, Ht, H1t, r)  # fmt: skip
            else:
                for j in range(lo, hi):
                    local += _micro_batch_direction(
                        X, y, rows, j, m, beta, s, rho, normalize, eps, first_order,
                        part[t, 3], part[t, 4], part[t, 5], Gt, Ht, H1t, r,
                    )  # fmt: skip
            chunk_r2[t] = local
        for t in range(T):
            for c in range(d):
                G[c] += part[t, 0, c]
        if rho != 0.0:
            for t in range(T):
                for c in range(d):
                    H[c] += part[t, 1, c]
                    H1[c] += part[t, 2, c]
    else:
        # Few large micro-batches: the rows of each one in parallel, in two passes.
        for j in range(k):
            base = j * m
            for t in prange(T):
                gt = part[t, 3]
                for c in range(d):
                    gt[c] = 0.0
                lo = base + t * m // T
                hi = base + (t + 1) * m // T
                chunk_r2[t] += _residual_pass(X, y, rows, lo, hi, beta, r, gt)
            if rho == 0.0:
                for c in range(d):
                    acc = 0.0
                    for t in range(T):
                        acc += part[t, 3, c]
                    G[c] += acc
                continue
            for c in range(d):
                acc = 0.0
                for t in range(T):
                    acc += part[t, 3, c]
                g[c] = acc / m
            rho_j = _ascent(g, 1.0, s, beta, rho, normalize, eps, first_order, p, H1)
            for t in prange(T):
                Gt = part[t, 5]
                for c in range(d):
                    Gt[c] = 0.0
                lo = base + t * m // T
                hi = base + (t + 1) * m // T
                _perturbed_pass(X, rows, lo, hi, p, r, Gt)
            inv_m = 1.0 / m
            for c in range(d):
                acc = 0.0
                for t in range(T):
                    acc += part[t, 5, c]
                acc *= inv_m
                G[c] += acc
                H[c] += rho_j * acc * g[c]
    sum_r2 = 0.0
    for t in range(T):
        sum_r2 += chunk_r2[t]
    _finish(u, v, G, H, rho, k, b, loss_derivative_only, du, dv)
    return sum_r2


@njit(cache=True, fastmath=FASTMATH, inline="always")
def direction(X, y, rows, u, v, rho, m, normalize, eps, first_order, work, r, du, dv, part,
              loss_derivative_only):  # fmt: skip
    """The SAM(ρ, m) direction: serial if ``part`` is None, else parallel over its chunks.

    ``part is None`` is resolved when the caller is compiled, so a serial
    caller never compiles the parallel kernel. Every argument is required: an
    omitted default is a type of its own to Numba, and would compile the
    kernels once more.
    """
    if part is None:
        return sam_direction(X, y, rows, u, v, rho, m, normalize, eps, first_order,
                             work, r, du, dv, loss_derivative_only)  # fmt: skip
    return sam_direction_parallel(X, y, rows, u, v, rho, m, normalize, eps, first_order,
                                  work, r, du, dv, part, loss_derivative_only)  # fmt: skip


# Not inlined: an inlined body is processed by every loop that names it, and
# the diagonal network's loops, where it is a dead branch, would pay for it.
@njit(cache=True, fastmath=FASTMATH)
def linear_direction(X, y, rows, w, rho, m, normalize, eps, work, r, dw):
    """The SAM(ρ, m) direction of least squares in w itself, into ``dw``.

    D(w) = (1/k) Σ_j g_{S_j}(w + ρ_j g_{S_j}(w)), g_S(w) = X_Sᵀ(X_S w − y_S)/|S|,
    with ρ_j = ρ, or ρ / (‖g_{S_j}‖ + ε) when normalized; ρ = 0 is the batch
    gradient. The row passes are those of :func:`sam_direction`: residuals
    and g_j, then the perturbed residuals r_i + x_i·(ρ_j g_j) and g̃_j. Writes
    β = w into ``work[0]``; returns Σ r_i² over the batch at w.
    """
    b = rows.shape[0]
    d = w.shape[0]
    beta, G, g, p, Gj = work[0], work[2], work[4], work[5], work[7]
    for c in range(d):
        beta[c] = w[c]
        G[c] = 0.0
    if rho == 0.0:
        total = _residual_pass(X, y, rows, 0, b, beta, r, G)
        inv_b = 1.0 / b
        for c in range(d):
            dw[c] = G[c] * inv_b
        return total
    k = b // m
    inv_m = 1.0 / m
    total = 0.0
    for j in range(k):
        lo = j * m
        for c in range(d):
            g[c] = 0.0
            Gj[c] = 0.0
        total += _residual_pass(X, y, rows, lo, lo + m, beta, r, g)
        rho_j = rho
        if normalize:
            norm2 = 0.0
            for c in range(d):
                norm2 += g[c] * g[c]
            rho_j = rho / (inv_m * np.sqrt(norm2) + eps)
        a = rho_j * inv_m
        for c in range(d):
            p[c] = a * g[c]
        _perturbed_pass(X, rows, lo, lo + m, p, r, Gj)
        for c in range(d):
            G[c] += Gj[c] * inv_m
    inv_k = 1.0 / k
    for c in range(d):
        dw[c] = G[c] * inv_k
    return total


@njit(cache=True, fastmath=FASTMATH)
def _descend_linear(w, w_prev, dw, gamma, wd):
    """w_prev ← w, then w ← w − γ D − λ w."""
    for c in range(w.shape[0]):
        wc = w[c]
        w_prev[c] = wc
        w[c] = wc - gamma * dw[c] - wd * wc


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _descend(u, v, u_prev, v_prev, du, dv, gamma, wd, normalized_descent):
    """θ_prev ← θ, then θ ← θ − γ D − λ θ (λ = ``wd``), D normalized per block if asked.

    Inlined: at small sizes a call per step, which passes every array as a
    struct, costs a noticeable part of a GD step.
    """
    d = u.shape[0]
    if normalized_descent:
        nu = 0.0
        nv = 0.0
        for c in range(d):
            nu += du[c] * du[c]
            nv += dv[c] * dv[c]
        if nu > 0.0 and nv > 0.0:  # as the paper's code: a zero block leaves D unscaled
            su = 1.0 / np.sqrt(nu)
            sv = 1.0 / np.sqrt(nv)
            for c in range(d):
                du[c] *= su
                dv[c] *= sv
    if wd == 0.0:
        for c in range(d):
            u_prev[c] = u[c]
            v_prev[c] = v[c]
            u[c] -= gamma * du[c]
            v[c] -= gamma * dv[c]
    else:
        for c in range(d):
            uc, vc = u[c], v[c]
            u_prev[c] = uc
            v_prev[c] = vc
            u[c] = uc - gamma * du[c] - wd * uc
            v[c] = vc - gamma * dv[c] - wd * vc


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _stop(state, t, rec_pos, integral, pending, code):
    """Write the loop's counters back to ``state`` and return ``code``."""
    state.step[0] = t
    state.record_pos[0] = rec_pos
    state.integral[0] = integral
    state.pending[0] = pending
    return code


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _run_steps(data, params, controls, state, lrs, rhos, batches, part, linear):
    """The step loop of :func:`run_chunk`, inlined there once per kind of algorithm.

    ``rhos`` None makes ρ a literal 0 and the loop GD's. ``linear`` None is the
    diagonal network; True makes the loop least squares in w = u, with v = 1
    held fixed, so that β = u ⊙ v = w.

    The fields of the records are read into locals once: values kept in
    locals stay in registers, where fields re-read through the records on
    every step would be reloaded from memory after each store to an array.
    """
    X, y, X_test, y_test = data.X, data.y, data.X_test, data.y_test
    u, v, u_prev, v_prev, hist = state.u, state.v, state.u_prev, state.v_prev, state.history
    m, normalize, eps = params.m, params.normalize, params.eps
    loss_derivative_only = params.loss_derivative_only
    weight_decay, normalized_descent = params.weight_decay, params.normalized_descent
    max_loss, stop_loss, record = controls.max_loss, controls.stop_loss, controls.record
    n = X.shape[0]
    d = u.shape[0]  # X may have zero columns beyond d (see run_chunk)
    b = batches.shape[1]
    full = batches.shape[0] == 1 and b == n
    has_test = X_test.shape[0] > 0
    all_rows = np.arange(n)
    # zeros: β, s, G, H of the padding columns of X are never written, and must be 0
    work = np.zeros((WORK_ROWS, X.shape[1]))
    r = np.empty(max(b, n))
    du = np.empty(d)
    dv = np.empty(d)
    t0 = state.step[0]
    rec_pos = state.record_pos[0]
    integral = state.integral[0]
    pending = state.pending[0]
    for j in range(lrs.shape[0]):
        t = t0 + j
        rows = batches[0] if full else batches[j]
        rho = 0.0 if rhos is None else rhos[j]
        if linear is None:
            sum_r2 = direction(X, y, rows, u, v, rho, m, normalize, eps, False, work, r, du, dv,
                               part, loss_derivative_only)  # fmt: skip
        else:
            sum_r2 = linear_direction(X, y, rows, u, rho, m, normalize, eps, work, r, du)
        if b == n:
            loss = sum_r2 / (2.0 * n)
        else:
            loss = _residuals(X, y, all_rows, work[0], r) / (2.0 * n)
        if not loss <= max_loss:  # also catches NaN
            for c in range(d):
                u[c] = u_prev[c]
                v[c] = v_prev[c]
            # the pending term belonged to the rejected update
            return _stop(state, t - 1, rec_pos, integral, 0.0, DIVERGED)
        integral += pending  # θ_t is accepted, and with it the update that made it
        pending = 0.0
        if rec_pos < record.shape[0] and record[rec_pos] == t:
            hist[rec_pos, 0] = loss
            if has_test:
                hist[rec_pos, 1] = half_mse(X_test, y_test, work[0])
            rec_pos += 1
        if loss <= stop_loss:
            return _stop(state, t, rec_pos, integral, pending, CONVERGED)
        gamma = lrs[j]
        pending = gamma * loss  # pending until θ_{t+1} passes its loss check
        if linear is None:
            _descend(u, v, u_prev, v_prev, du, dv, gamma, weight_decay, normalized_descent)
        else:
            _descend_linear(u, u_prev, du, gamma, weight_decay)
    return _stop(state, t0 + lrs.shape[0], rec_pos, integral, pending, RUNNING)


# nogil: dlnsam.run_many runs several of these loops at once, on threads.
@njit(cache=True, fastmath=FASTMATH, nogil=True)
def _run_chunk_plain(data, params, controls, state, lrs, batches, part, linear):
    """:func:`run_chunk` for ρ = 0 (GD, SGD): ρ is a compile-time 0 here."""
    return _run_steps(data, params, controls, state, lrs, None, batches, part, linear)


@njit(cache=True, fastmath=FASTMATH, nogil=True)
def _run_chunk_sam(data, params, controls, state, lrs, rhos, batches, part, linear):
    """:func:`run_chunk` for any ρ_t."""
    return _run_steps(data, params, controls, state, lrs, rhos, batches, part, linear)


def run_chunk(data, params, controls, state, lrs, rhos, batches, part, linear=False):
    """Advance ``state`` in place by ``len(lrs)`` steps from step ``state.step[0]``.

    Parameters
    ----------
    data : Data
        X (n, width), y (n,), and the test set (or (0, width), (0,) arrays).
    params : dlnsam.algorithms.KernelParams
        ρ, m, normalization and the step options; the step is
        θ ← θ − γ_t D(θ) − λ θ, D the SAM(ρ, m) direction (normalized per
        block with ``normalized_descent``).
    controls : Controls
        ``max_loss``, ``stop_loss`` and the sorted steps to ``record``.
    state : State
        The iterate and the bookkeeping, updated in place.
    lrs : (count,) ndarray
        γ_t of the steps of this call.
    rhos : (count,) ndarray
        ρ_t of the steps of this call (ignored when ``params.rho`` is 0, GD and SGD).
    batches : (count, b) or (1, n) int64 ndarray
        Row indices per step, or (1, n) for full batch (the same rows every step).
    part : (chunks, PART_ROWS, d) ndarray or None
        The chunk buffer of :func:`sam_direction_parallel`, or None for the
        serial kernel.
    linear : bool, default False
        The least-squares model in w (:func:`linear_direction`): u holds w and
        v stays 1 (serial kernel only).

    Returns
    -------
    int
        A status code of :mod:`dlnsam.status`: RUNNING when all steps were
        made, CONVERGED, or DIVERGED.

    Notes
    -----
    Before step t the kernel evaluates L(θ_t): it stops with DIVERGED if L
    is non-finite or above ``max_loss`` (then (u, v) hold θ_{t−1}, the last
    iterate with a finite, bounded loss), and with CONVERGED if
    L ≤ ``stop_loss``. At recorded steps it stores (L_train, L_test) in
    ``state.history``. ``state.integral`` accumulates Σ γ_t L(θ_t) over the
    updates that produced (u, v); ``state.pending`` holds the term of the last
    update until the caller has checked the loss of (u, v).

    X may carry zero columns after the first d of the problem: the serial
    kernel is given X padded to a multiple of ``COLUMN_BLOCK`` columns when it
    is small (:func:`dlnsam.training.kernel_design`), and (u, v) padded alike
    with zeros. The row passes then run over whole blocks of columns; β and s
    are 0 there and the columns of X are, so every term they add to a sum is
    an exact zero, G and H stay 0 there while the residuals are finite, and
    so do the padding entries of (u, v). The work on (u, v) runs over
    len(u) entries, which may also be fewer than X's columns.

    On the serial kernel, GD and SGD (ρ = 0) run the step loop compiled with
    ρ = 0 as a constant (``_run_chunk_plain``), so that none of the SAM code
    is on their path, where at small sizes its branches are a noticeable part
    of a step. Large problems (the parallel kernel) do not gain from it and
    always use the general loop. The choice is made here, in Python, so that
    each loop is compiled only when it is first used.
    """
    model = True if linear else None  # a type of its own: see _run_steps
    if linear:
        return _run_chunk_sam(data, params, controls, state, lrs, rhos, batches, None, model)
    if params.rho == 0.0 and part is None:
        return _run_chunk_plain(data, params, controls, state, lrs, batches, part, model)
    return _run_chunk_sam(data, params, controls, state, lrs, rhos, batches, part, model)

