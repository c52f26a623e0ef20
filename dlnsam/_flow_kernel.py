"""Numba DOP853 integrator for the gradient flow and the SAM(ρ, m) flows.

The ODE state is z = [u (d), v (d), I (1), Δ (d), Δ⁽¹⁾ (d)]:

    u̇ = −D_u(θ),  v̇ = −D_v(θ),  İ = L(θ),
    Δ̇ = (1/k) Σ_j ρ_j g_j ⊙ g̃_j,   Δ̇⁽¹⁾ = (1/k) Σ_j ρ_j g_j ⊙ g_j,

with D the SAM(ρ, m) direction of :func:`dlnsam._kernels.sam_direction`
(the gradient for ρ = 0). Steps follow Hairer's DOP853 with its combined
5th/3rd-order error estimate and the usual step-size controller; every
component of z is error-controlled, so the integrals are as accurate as θ.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from dlnsam._kernels import CONVERGED, DIVERGED, FASTMATH, RUNNING, WORK_ROWS, direction, half_mse

STEP_UNDERFLOW = 3
MAX_STEPS = 4

_SAFETY = 0.9
_MIN_FACTOR = 0.2
_MAX_FACTOR = 10.0
_ERROR_EXPONENT = -1.0 / 8.0  # the error estimate is of order 7


@njit(cache=True, fastmath=FASTMATH)
def flow_rhs(X, y, rows, z, rho, m, normalize, eps, work, r, du, dv, part, out):
    """Write ż into ``out``; return L(θ)."""
    n, d = X.shape
    k = rows.shape[0] // m
    sum_r2 = direction(
        X, y, rows, z[:d], z[d : 2 * d], rho, m, normalize, eps, True, work, r, du, dv, part
    )
    loss = sum_r2 / (2.0 * n)
    for c in range(d):
        out[c] = -du[c]
        out[d + c] = -dv[c]
    if rho == 0.0:  # gradient flow: Δ and Δ⁽¹⁾ stay 0
        for c in range(d):
            out[2 * d + 1 + c] = 0.0
            out[3 * d + 1 + c] = 0.0
    else:
        for c in range(d):
            out[2 * d + 1 + c] = work[3, c] / k
            out[3 * d + 1 + c] = work[6, c] / k
    out[2 * d] = loss
    return loss


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _combine(coef, K, stages, acc):
    """acc = Σ_{j < stages} coef[j] K[j], skipping zero coefficients.

    The loops run along the contiguous state vectors, one stage at a time, so
    they vectorize.
    """
    N = acc.shape[0]
    for i in range(N):
        acc[i] = 0.0
    for j in range(stages):
        a = coef[j]
        if a != 0.0:
            for i in range(N):
                acc[i] += a * K[j, i]


@njit(cache=True, fastmath=FASTMATH)
def scaled_rms(vec, scale):
    """RMS of vec / scale: the error norm of both integrators."""
    total = 0.0
    for i in range(vec.shape[0]):
        q = vec[i] / scale[i]
        total += q * q
    return np.sqrt(total / vec.shape[0])


@njit(cache=True, fastmath=FASTMATH)
def integrate(
    X,
    y,
    X_test,
    y_test,
    z,
    clock,
    rho,
    m,
    normalize,
    eps,
    A,
    B,
    C,
    E3,
    E5,
    rtol,
    atol,
    t_max,
    stop_loss,
    max_loss,
    out_times,
    out_loss,
    out_beta,
    counters,
    max_steps,
    part,
):
    """Integrate the flow in place from ``clock[0]`` until a stop or ``max_steps`` steps.

    ``atol`` is an array of one absolute tolerance per component of z (the
    error scale of z_i is atol_i + rtol·|z_i|). ``part`` selects the serial
    or parallel right-hand side (see
    :func:`dlnsam._kernels.direction`). ``clock`` = [t, h, L(z)] (h = 0: choose
    the first step) and ``counters`` =
    [nfev, accepted steps, rejected steps, next output slot] are updated in
    place, so the caller can resume. At each time in ``out_times`` (sorted,
    > 0) the train and test loss go to ``out_loss`` and β to ``out_beta``.
    Returns RUNNING (budget used), CONVERGED (L ≤ stop_loss), DIVERGED
    (L > max_loss or not finite, or ż not finite at the start of the call,
    before any step), STEP_UNDERFLOW, or MAX_STEPS (t = t_max).
    """
    n, d = X.shape
    N = z.shape[0]
    rows = np.arange(n)
    work = np.empty((WORK_ROWS, d))
    r = np.empty(n)
    du = np.empty(d)
    dv = np.empty(d)
    K = np.empty((13, N))
    zs = np.empty(N)
    z_new = np.empty(N)
    scale = np.empty(N)
    err5 = np.empty(N)
    err3 = np.empty(N)
    acc = np.empty(N)
    has_test = X_test.shape[0] > 0
    n_out = out_times.shape[0]

    t = clock[0]
    h = clock[1]
    loss = flow_rhs(X, y, rows, z, rho, m, normalize, eps, work, r, du, dv, part, K[0])
    counters[0] += 1
    clock[2] = loss
    for i in range(N):
        if not np.isfinite(K[0, i]):
            return DIVERGED  # at the start of this call: no step can be taken

    if h <= 0.0:
        # Hairer's starting step: one explicit Euler trial.
        for i in range(N):
            scale[i] = atol[i] + rtol * abs(z[i])
        d0 = scaled_rms(z, scale)
        d1 = scaled_rms(K[0], scale)
        h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
        for i in range(N):
            zs[i] = z[i] + h0 * K[0, i]
        flow_rhs(X, y, rows, zs, rho, m, normalize, eps, work, r, du, dv, part, K[1])
        counters[0] += 1
        for i in range(N):
            err5[i] = K[1, i] - K[0, i]
        d2 = scaled_rms(err5, scale) / h0
        if max(d1, d2) <= 1e-15:
            h1 = max(1e-6, h0 * 1e-3)
        else:
            h1 = (0.01 / max(d1, d2)) ** (1.0 / 8.0)
        h = min(100.0 * h0, h1)

    for _ in range(max_steps):
        if t >= t_max:
            clock[0] = t
            clock[1] = h
            return MAX_STEPS
        target = t_max
        if counters[3] < n_out and out_times[counters[3]] < target:
            target = out_times[counters[3]]
        h_step = h
        clipped = False
        if t + h_step >= target:
            h_step = target - t
            clipped = True
        # SciPy's floor: ten units in the last place of t. An absolute floor
        # would stop flows whose whole time scale is tiny (a large α).
        if not h_step > 10.0 * (np.nextafter(t, np.inf) - t):  # also a NaN step
            clock[0] = t
            clock[1] = h
            return STEP_UNDERFLOW

        for s in range(1, 12):
            _combine(A[s], K, s, acc)
            for i in range(N):
                zs[i] = z[i] + h_step * acc[i]
            flow_rhs(X, y, rows, zs, rho, m, normalize, eps, work, r, du, dv, part, K[s])
        _combine(B, K, 12, acc)
        for i in range(N):
            z_new[i] = z[i] + h_step * acc[i]
        loss_new = flow_rhs(X, y, rows, z_new, rho, m, normalize, eps, work, r, du, dv, part, K[12])
        counters[0] += 12

        for i in range(N):
            scale[i] = atol[i] + rtol * max(abs(z[i]), abs(z_new[i]))
        _combine(E5, K, 13, err5)
        _combine(E3, K, 13, err3)
        e5 = scaled_rms(err5, scale) ** 2
        e3 = scaled_rms(err3, scale) ** 2
        denom = e5 + 0.01 * e3
        err = abs(h_step) * e5 / np.sqrt(denom) if denom > 0.0 else 0.0
        if not np.isfinite(loss_new):
            # An overflowed z_new also inflates its own error scale: reject it here.
            err = np.nan

        if err < 1.0:  # NaN compares False: a non-finite step is rejected
            t = target if clipped else t + h_step
            for i in range(N):
                z[i] = z_new[i]
                K[0, i] = K[12, i]
            loss = loss_new
            counters[1] += 1
            factor = _MAX_FACTOR if err == 0.0 else min(_MAX_FACTOR, _SAFETY * err**_ERROR_EXPONENT)
            # A step shortened to land on an output time does not shrink h.
            h = max(h, h_step * factor) if clipped else h_step * factor
            while counters[3] < n_out and out_times[counters[3]] <= t:
                slot = counters[3]
                out_loss[slot, 0] = loss
                for c in range(d):
                    out_beta[slot, c] = z[c] * z[d + c]
                if has_test:
                    out_loss[slot, 1] = half_mse(X_test, y_test, out_beta[slot])
                counters[3] += 1
            clock[0] = t
            clock[1] = h
            clock[2] = loss
            if not loss <= max_loss:
                return DIVERGED
            if loss <= stop_loss:
                return CONVERGED
        else:
            counters[2] += 1
            factor = _MIN_FACTOR
            if err == err:  # not NaN
                factor = max(_MIN_FACTOR, _SAFETY * err**_ERROR_EXPONENT)
            h = h_step * factor
    clock[0] = t
    clock[1] = h
    return RUNNING
