"""Numba kernels: one family for GD, SGD and SAM(ρ, m) on β = u ⊙ v.

The kernels take arrays and scalars only; validation lives in the Python layer
(:mod:`dlnsam.training`). Everything is written with explicit loops over rows
so that a batch is a list of row indices and nothing is copied per step.

The SAM direction never forms perturbed copies of θ. For a micro-batch S with
gradient g_S = X_Sᵀ r_S / m, the perturbed predictor is

    β̃ = (u + ρ g⊙v) ⊙ (v + ρ g⊙u) = β + ρ g⊙s + ρ² g²⊙β,   s = u² + v²,

so the perturbed residuals are r̃_S = r_S + X_S (ρ g⊙s + ρ² g²⊙β), and
∇_u L_S(θ̃) = g̃ ⊙ (v + ρ g⊙u) with g̃ = X_Sᵀ r̃_S / m. For m = 1, g_i = x_i r_i
collapses the micro-batch products into elementwise powers of the row x_i:

    r̃_i = r_i + ρ r_i (x_i²·s) + ρ² r_i² (x_i³·β),
    D_u = (1/n)[(Xᵀ r̃) ⊙ v + ρ ((X²)ᵀ (r̃ ⊙ r)) ⊙ u]   (and u ↔ v for D_v),

one pass over the rows of X per step, with x_i² and x_i³ formed on the fly.

Speed. The row loops are compiled with ``fastmath={"reassoc", "contract"}``
(no other fast-math flag, so NaN and inf propagate and are detected), which
lets LLVM vectorize the dot products and fuse multiply–adds; rows are taken
four at a time, so that four independent dot products share each load of β
and the accumulations into the d-vectors are fused. Results therefore agree
with a plain loop to rounding (≈ 1e-16 relative per step), and are bitwise
reproducible for the same inputs on the same machine.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# Status codes returned by the kernels; the Python layer maps them to Status.
RUNNING = 0
CONVERGED = 1
DIVERGED = 2

#: LLVM fast-math flags of every kernel: reassociation (vectorized sums) and
#: fused multiply–add only, never the flags that assume finite values.
FASTMATH = {"reassoc", "contract"}

#: Rows of the (WORK_ROWS, d) scratch buffer of :func:`direction`:
#: β, s, G, H, g, p, H1, G_j.
WORK_ROWS = 8
#: Rows of the per-chunk buffer of the parallel kernel: G, H, H1, g, p, G_j.
PART_ROWS = 6

#: Small problems are run with X padded by zero columns to a multiple of this
#: width (a vector register of doubles): the vectorized loops over a row then
#: have no scalar remainder, which at d = 30 is about a quarter of a 1-SAM step.
COLUMN_BLOCK = 8

#: Row chunks of the parallel kernel, at most. The count depends on the batch
#: size (:func:`dlnsam.training.parallel_chunks`), never on the thread count, so
#: that the summation order, hence every bit of the result, is the same on any
#: core count.
PARALLEL_CHUNKS = 8


@njit(cache=True, fastmath=FASTMATH)
def _residuals(X, y, rows, beta, r):
    """r_i = x_{rows[i]}ᵀ β − y_{rows[i]}; returns Σ r_i²."""
    d = X.shape[1]
    total = 0.0
    for i in range(rows.shape[0]):
        row = rows[i]
        acc = -y[row]
        for c in range(d):
            acc += X[row, c] * beta[c]
        r[i] = acc
        total += acc * acc
    return total


@njit(cache=True, fastmath=FASTMATH)
def half_mse(X, y, beta):
    """L(β) = ‖Xβ − y‖² / (2n), without temporaries."""
    n, d = X.shape
    total = 0.0
    for i in range(n):
        acc = -y[i]
        for c in range(d):
            acc += X[i, c] * beta[c]
        total += acc * acc
    return total / (2.0 * n)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _residual_pass(X, y, rows, lo, hi, beta, r, g):
    """Rows lo..hi: residuals r_i = x_iᵀβ − y_i into r and g += Σ x_i r_i; returns Σ r_i²."""
    d = X.shape[1]
    total = 0.0
    i = lo
    while i + 4 <= hi:
        i0, i1, i2, i3 = rows[i], rows[i + 1], rows[i + 2], rows[i + 3]
        a0, a1, a2, a3 = -y[i0], -y[i1], -y[i2], -y[i3]
        for c in range(d):
            b = beta[c]
            a0 += X[i0, c] * b
            a1 += X[i1, c] * b
            a2 += X[i2, c] * b
            a3 += X[i3, c] * b
        r[i], r[i + 1], r[i + 2], r[i + 3] = a0, a1, a2, a3
        total += a0 * a0 + a1 * a1 + a2 * a2 + a3 * a3
        for c in range(d):
            g[c] += X[i0, c] * a0 + X[i1, c] * a1 + X[i2, c] * a2 + X[i3, c] * a3
        i += 4
    while i < hi:
        row = rows[i]
        a = -y[row]
        for c in range(d):
            a += X[row, c] * beta[c]
        r[i] = a
        total += a * a
        for c in range(d):
            g[c] += X[row, c] * a
        i += 1
    return total


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _perturbed_pass(X, rows, lo, hi, p, r, Gj):
    """Rows lo..hi: G_j += Σ x_i (r_i + x_i·p), i.e. m times the perturbed gradient.

    The 1/m is applied by the caller, on the d-vector: a scale of the row
    weights here would be moved into the inner loop under reassociation.
    """
    d = X.shape[1]
    i = lo
    while i + 4 <= hi:
        i0, i1, i2, i3 = rows[i], rows[i + 1], rows[i + 2], rows[i + 3]
        a0, a1, a2, a3 = r[i], r[i + 1], r[i + 2], r[i + 3]
        for c in range(d):
            pc = p[c]
            a0 += X[i0, c] * pc
            a1 += X[i1, c] * pc
            a2 += X[i2, c] * pc
            a3 += X[i3, c] * pc
        for c in range(d):
            Gj[c] += X[i0, c] * a0 + X[i1, c] * a1 + X[i2, c] * a2 + X[i3, c] * a3
        i += 4
    while i < hi:
        row = rows[i]
        a = r[i]
        for c in range(d):
            a += X[row, c] * p[c]
        for c in range(d):
            Gj[c] += X[row, c] * a
        i += 1


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _one_sam_weights(ri, a, q, rho, normalize, eps):
    """Per-example scalars of 1-SAM: (r̃_i, ρ_i r̃_i r_i, ρ_i r_i²) from r_i, x_i²·s, x_i³·β."""
    rho_i = rho
    if normalize:
        rho_i = rho / (abs(ri) * np.sqrt(a) + eps)
    rti = ri + rho_i * ri * a + rho_i * rho_i * ri * ri * q
    return rti, rho_i * rti * ri, rho_i * ri * ri


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _one_sam_rows(X, y, rows, lo, hi, beta, s, rho, normalize, eps, first_order, G, H, H1, r):
    """Rows lo..hi of 1-SAM in one pass (see :func:`sam_direction`); returns Σ r_i²."""
    d = X.shape[1]
    total = 0.0
    i = lo
    while i + 4 <= hi:
        i0, i1, i2, i3 = rows[i], rows[i + 1], rows[i + 2], rows[i + 3]
        r0, r1, r2, r3 = -y[i0], -y[i1], -y[i2], -y[i3]
        a0 = a1 = a2 = a3 = 0.0
        q0 = q1 = q2 = q3 = 0.0
        for c in range(d):
            b = beta[c]
            sc = s[c]
            x0, x1, x2, x3 = X[i0, c], X[i1, c], X[i2, c], X[i3, c]
            r0 += x0 * b
            r1 += x1 * b
            r2 += x2 * b
            r3 += x3 * b
            x0, x1, x2, x3 = x0 * x0, x1 * x1, x2 * x2, x3 * x3
            a0 += x0 * sc
            a1 += x1 * sc
            a2 += x2 * sc
            a3 += x3 * sc
            q0 += x0 * X[i0, c] * b
            q1 += x1 * X[i1, c] * b
            q2 += x2 * X[i2, c] * b
            q3 += x3 * X[i3, c] * b
        r[i], r[i + 1], r[i + 2], r[i + 3] = r0, r1, r2, r3
        total += r0 * r0 + r1 * r1 + r2 * r2 + r3 * r3
        t0, w0, f0 = _one_sam_weights(r0, a0, q0, rho, normalize, eps)
        t1, w1, f1 = _one_sam_weights(r1, a1, q1, rho, normalize, eps)
        t2, w2, f2 = _one_sam_weights(r2, a2, q2, rho, normalize, eps)
        t3, w3, f3 = _one_sam_weights(r3, a3, q3, rho, normalize, eps)
        for c in range(d):
            x0, x1, x2, x3 = X[i0, c], X[i1, c], X[i2, c], X[i3, c]
            G[c] += x0 * t0 + x1 * t1 + x2 * t2 + x3 * t3
            H[c] += x0 * x0 * w0 + x1 * x1 * w1 + x2 * x2 * w2 + x3 * x3 * w3
        if first_order:
            for c in range(d):
                x0, x1, x2, x3 = X[i0, c], X[i1, c], X[i2, c], X[i3, c]
                H1[c] += x0 * x0 * f0 + x1 * x1 * f1 + x2 * x2 * f2 + x3 * x3 * f3
        i += 4
    while i < hi:
        row = rows[i]
        ri = -y[row]
        a = 0.0
        q = 0.0
        for c in range(d):
            x = X[row, c]
            x2 = x * x
            ri += x * beta[c]
            a += x2 * s[c]
            q += x2 * x * beta[c]
        r[i] = ri
        total += ri * ri
        rti, w, f = _one_sam_weights(ri, a, q, rho, normalize, eps)
        for c in range(d):
            x = X[row, c]
            G[c] += x * rti
            H[c] += x * x * w
        if first_order:
            for c in range(d):
                x = X[row, c]
                H1[c] += x * x * f
        i += 1
    return total


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _ascent(g_sum, scale, s, beta, rho, normalize, eps, first_order, p, H1):
    """From a micro-batch gradient g = scale·g_sum: ρ_j, p = ρ_j g⊙s + ρ_j² g²⊙β, H1 += ρ_j g²."""
    d = g_sum.shape[0]
    rho_j = rho
    if normalize:
        norm2 = 0.0
        for c in range(d):
            norm2 += g_sum[c] * g_sum[c] * s[c]
        rho_j = rho / (scale * np.sqrt(norm2) + eps)
    a = rho_j * scale
    for c in range(d):
        gc = a * g_sum[c]
        p[c] = gc * s[c] + gc * gc * beta[c]
    if first_order:
        b = rho_j * scale * scale
        for c in range(d):
            H1[c] += b * g_sum[c] * g_sum[c]
    return rho_j


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _micro_batch_direction(X, y, rows, j, m, beta, s, rho, normalize, eps, first_order,
                           g, p, Gj, G, H, H1, r):  # fmt: skip
    """Micro-batch j whole (two passes); adds to G, H, H1; returns Σ r_i².

    G += g̃_j and H += ρ_j g̃_j ⊙ g_j, where m g̃_j = Σ_i x_i r̃_i is accumulated
    in ``Gj`` (H needs no pass of its own: g_j is the same for every row).
    With ρ = 0 it adds m g_j = Σ_i x_i r_i to G instead (see :func:`_finish`).
    """
    d = X.shape[1]
    lo = j * m
    if rho == 0.0:  # plain gradient: the rows' sum straight into G, scaled in _finish
        return _residual_pass(X, y, rows, lo, lo + m, beta, r, G)
    for c in range(d):
        g[c] = 0.0
        Gj[c] = 0.0
    total = _residual_pass(X, y, rows, lo, lo + m, beta, r, g)
    inv_m = 1.0 / m
    rho_j = _ascent(g, inv_m, s, beta, rho, normalize, eps, first_order, p, H1)
    _perturbed_pass(X, rows, lo, lo + m, p, r, Gj)
    w = rho_j * inv_m * inv_m
    for c in range(d):
        gt = Gj[c]
        G[c] += gt * inv_m
        H[c] += w * gt * g[c]
    return total


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
def _finish(u, v, G, H, rho, k, b, du, dv):
    """D_u = (G ⊙ v + H ⊙ u)/k and D_v = (G ⊙ u + H ⊙ v)/k (k micro-batches).

    With ρ = 0, G holds the sum Σ_i x_i r_i over the b rows of the batch, so the
    gradient is D_u = (G ⊙ v)/b, D_v = (G ⊙ u)/b.
    """
    d = u.shape[0]
    if rho == 0.0:
        inv_b = 1.0 / b
        for c in range(d):
            du[c] = G[c] * v[c] * inv_b
            dv[c] = G[c] * u[c] * inv_b
        return
    inv_k = 1.0 / k
    for c in range(d):
        du[c] = (G[c] * v[c] + H[c] * u[c]) * inv_k
        dv[c] = (G[c] * u[c] + H[c] * v[c]) * inv_k


@njit(cache=True, fastmath=FASTMATH, inline="always")
def sam_direction(X, y, rows, u, v, rho, m, normalize, eps, first_order, work, r, du, dv):
    """Write the SAM(ρ, m) direction over the batch ``rows`` into (du, dv).

    With ρ = 0 this is the plain (mini-batch) gradient. ``work`` is a
    (WORK_ROWS, d) buffer and ``r`` a buffer of length ≥ len(rows), which
    receives the residuals r_i = x_iᵀβ − y_i of the batch. Returns Σ r_i² over
    the batch at the current point.

    On return, ``work[3]`` holds H = Σ_j ρ_j g̃_j ⊙ g_j, so that H / k is the
    rate of the exact effective-α exponent Δ of a SAM flow; with
    ``first_order`` also ``work[6]`` = Σ_j ρ_j g_j ⊙ g_j, the rate (times k)
    of its first-order approximation Δ⁽¹⁾. Neither is written when ρ = 0.

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
    _finish(u, v, G, H, rho, k, b, du, dv)
    return sum_r2


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def sam_direction_parallel(X, y, rows, u, v, rho, m, normalize, eps, first_order,
                           work, r, du, dv, part):  # fmt: skip
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
    _finish(u, v, G, H, rho, k, b, du, dv)
    return sum_r2


@njit(cache=True, fastmath=FASTMATH, inline="always")
def direction(X, y, rows, u, v, rho, m, normalize, eps, first_order, work, r, du, dv, part):
    """The SAM(ρ, m) direction: serial if ``part`` is None, else parallel over its chunks.

    ``part is None`` is resolved when the caller is compiled, so a serial
    caller never compiles the parallel kernel.
    """
    if part is None:
        return sam_direction(X, y, rows, u, v, rho, m, normalize, eps, first_order,
                             work, r, du, dv)  # fmt: skip
    return sam_direction_parallel(X, y, rows, u, v, rho, m, normalize, eps, first_order,
                                  work, r, du, dv, part)  # fmt: skip


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _run_steps(X, y, X_test, y_test, u, v, u_prev, v_prev, lrs, batches, rho, m, normalize,
               eps, record, hist, progress, acc, max_loss, stop_loss, part):  # fmt: skip
    """The step loop of :func:`run_chunk`, inlined there once per kind of algorithm."""
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
    t0 = progress[0]
    rec_pos = progress[1]
    for j in range(lrs.shape[0]):
        t = t0 + j
        rows = batches[0] if full else batches[j]
        sum_r2 = direction(X, y, rows, u, v, rho, m, normalize, eps, False, work, r, du, dv, part)
        if b == n:
            loss = sum_r2 / (2.0 * n)
        else:
            loss = _residuals(X, y, all_rows, work[0], r) / (2.0 * n)
        if not loss <= max_loss:  # also catches NaN
            for c in range(d):
                u[c] = u_prev[c]
                v[c] = v_prev[c]
            acc[1] = 0.0  # the pending term belonged to the rejected update
            progress[0] = t - 1
            progress[1] = rec_pos
            return DIVERGED
        acc[0] += acc[1]  # θ_t is accepted, and with it the update that made it
        acc[1] = 0.0
        if rec_pos < record.shape[0] and record[rec_pos] == t:
            hist[rec_pos, 0] = loss
            if has_test:
                hist[rec_pos, 1] = half_mse(X_test, y_test, work[0])
            rec_pos += 1
        if loss <= stop_loss:
            progress[0] = t
            progress[1] = rec_pos
            return CONVERGED
        gamma = lrs[j]
        acc[1] = gamma * loss  # pending until θ_{t+1} passes its loss check
        for c in range(d):
            u_prev[c] = u[c]
            v_prev[c] = v[c]
            u[c] -= gamma * du[c]
            v[c] -= gamma * dv[c]
    progress[0] = t0 + lrs.shape[0]
    progress[1] = rec_pos
    return RUNNING


@njit(cache=True, fastmath=FASTMATH)
def _run_chunk_plain(X, y, X_test, y_test, u, v, u_prev, v_prev, lrs, batches, rho, m,
                     normalize, eps, record, hist, progress, acc, max_loss, stop_loss,
                     part):  # fmt: skip
    """:func:`run_chunk` for ρ = 0 (GD, SGD): ρ is a compile-time 0 here."""
    return _run_steps(X, y, X_test, y_test, u, v, u_prev, v_prev, lrs, batches, 0.0, m,
                      normalize, eps, record, hist, progress, acc, max_loss, stop_loss,
                      part)  # fmt: skip


@njit(cache=True, fastmath=FASTMATH)
def _run_chunk_sam(X, y, X_test, y_test, u, v, u_prev, v_prev, lrs, batches, rho, m,
                   normalize, eps, record, hist, progress, acc, max_loss, stop_loss,
                   part):  # fmt: skip
    """:func:`run_chunk` for any ρ."""
    return _run_steps(X, y, X_test, y_test, u, v, u_prev, v_prev, lrs, batches, rho, m,
                      normalize, eps, record, hist, progress, acc, max_loss, stop_loss,
                      part)  # fmt: skip


def run_chunk(X, y, X_test, y_test, u, v, u_prev, v_prev, lrs, batches, rho, m, normalize,
              eps, record, hist, progress, acc, max_loss, stop_loss, part):  # fmt: skip
    """Advance (u, v) in place by ``len(lrs)`` steps from step ``progress[0]``.

    ``batches`` is (len(lrs), b) row indices, or (1, n) for full batch (the
    same rows every step). Before step t the kernel evaluates L(θ_t): it stops
    with DIVERGED if L is non-finite or above ``max_loss`` (then u, v hold the
    last iterate with a finite, bounded loss, θ_{t−1}), and with CONVERGED if
    L ≤ ``stop_loss``. At steps listed in ``record`` (sorted) it stores
    (L_train, L_test) in ``hist``. ``acc[0]`` accumulates Σ γ_t L(θ_t) over the
    updates that produced the iterate in (u, v); ``acc[1]`` holds the term of
    the last update, pending until the caller has checked the loss of (u, v).

    ``part`` is the chunk buffer of :func:`sam_direction_parallel`, or None
    for the serial kernel.

    X may carry zero columns after the first d of the problem: the serial
    kernel is given X padded to a multiple of ``COLUMN_BLOCK`` columns when it
    is small (:func:`dlnsam.training.kernel_design`), and (u, v) padded alike
    with zeros. The row passes then run over whole blocks of columns; β and s
    are 0 there and the columns of X are, so every term they add to a sum is
    an exact zero, G and H stay 0 there while the residuals are finite, and
    so do the padding entries of (u, v). The work on (u, v) runs over
    len(u) entries, which may also be fewer than X's columns.

    ``progress`` = [step t of the iterate held in (u, v), next record
    position] is updated in place, so that the caller's bookkeeping is always
    consistent with (u, v), even if it is interrupted. Returns the status.

    On the serial kernel, GD and SGD (ρ = 0) run the step loop compiled with
    ρ = 0 as a constant (``_run_chunk_plain``), so that none of the SAM code
    is on their path: at small sizes the branches of the general loop
    (``_run_chunk_sam``) cost as much as a third of a GD step. Large problems
    (the parallel kernel) do not gain from it and always use the general
    loop. The choice is made here, in Python, so that each loop is compiled
    only when it is first used.
    """
    kernel = _run_chunk_plain if rho == 0.0 and part is None else _run_chunk_sam
    return kernel(X, y, X_test, y_test, u, v, u_prev, v_prev, lrs, batches, rho, m, normalize,
                  eps, record, hist, progress, acc, max_loss, stop_loss, part)  # fmt: skip
