"""Row passes of the step kernels: residuals, gradients and 1-SAM, four rows at a time.

Everything is written with explicit loops over rows, so that a batch is a list
of row indices and nothing is copied per step. The SAM direction never forms
perturbed copies of θ. For a micro-batch S with gradient g_S = X_Sᵀ r_S / m,
the perturbed predictor is

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
with a plain loop to rounding, and are bitwise reproducible for the same
inputs on the same machine.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: LLVM fast-math flags of every kernel: reassociation (vectorized sums) and
#: fused multiply–add only, never the flags that assume finite values.
FASTMATH = {"reassoc", "contract"}

#: Small problems are run with X padded by zero columns to a multiple of this
#: width (a vector register of doubles): the vectorized loops over a row then
#: have no scalar remainder.
COLUMN_BLOCK = 8


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
