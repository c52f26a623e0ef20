"""Numba BDF/NDF integrator for the gradient flow and the SAM(ρ, m) flows.

A faithful port of SciPy's variable-order BDF method
(``scipy/integrate/_ivp/bdf.py``: orders 1–5 with the NDF coefficients κ,
the backward-difference array D rescaled by ``change_D`` on step changes,
simplified Newton iterations with a reused LU factorization of I − cJ,
SciPy's error estimate and order/step selection) applied to the same
augmented ODE as :func:`dlnsam._flow_kernel.integrate`, with the same
contract (in-place ``z``, ``clock``, ``counters``, output times, status
codes), plus a caller-owned ``state`` array that holds the method's memory so
that a call that returns RUNNING can be resumed exactly.

The state is z = [θ = (u, v) (2d), I (1), Δ (d), Δ⁽¹⁾ (d)]. The right-hand side
depends on θ only, so the Jacobian is J = [[J_θθ, 0], [J_qθ, 0]] (q = the other
2d + 1 components) and

    I − cJ = [[I − c J_θθ, 0], [−c J_qθ, I]]:

only the 2d × 2d block is factored (LU with partial pivoting), and a solve is
x_θ = (I − c J_θθ)⁻¹ b_θ, x_q = b_q + c J_qθ x_θ. The Jacobian columns of θ
are forward differences of :func:`dlnsam._flow_kernel.flow_rhs` computed
exactly as SciPy's dense ``num_jac`` does (threshold atol): step
h_j = factor_j · sign(f_j) · max(|θ_j|, atol_j), with the relative steps factor_j
(initially √ε) kept in ``state`` and adapted after each Jacobian, and a column
whose difference is lost in rounding retried with a 10× larger step. (A fixed
step √ε · max(|θ_j|, floor) is much less accurate on very stiff flows: more
Newton failures and Jacobians.) Every component of z is error-controlled with
the scale atol_i + rtol·|z_i|, as in SciPy with an array ``atol``.

Output times are recorded by evaluating the BDF interpolating polynomial
(SciPy's dense output), so they never shorten a step; the step is shortened
(with ``change_D``) only to land on ``t_max``, as SciPy does at ``t_bound``.

Counters: ``counters[0]`` counts *every* right-hand-side evaluation,
including the 2d + 1 per finite-difference Jacobian (SciPy's ``nfev`` leaves
those out); ``counters[2]`` counts rejected attempts (error test failures and
Newton failures). The number of Jacobians and LU factorizations is kept in
``state[NJEV]`` and ``state[NLU]``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from dlnsam._flow_kernel import MAX_STEPS, STEP_UNDERFLOW, flow_rhs, scaled_rms
from dlnsam._kernels import CONVERGED, DIVERGED, FASTMATH, RUNNING, WORK_ROWS, half_mse

__all__ = [
    "MAX_STEPS",
    "STEP_UNDERFLOW",
    "bdf_state",
    "bdf_state_size",
    "integrate_bdf",
]

MAX_ORDER = 5
NEWTON_MAXITER = 4
MIN_FACTOR = 0.2
MAX_FACTOR = 10.0
_EPS = float(np.finfo(np.float64).eps)
_SQRT_EPS = float(np.sqrt(_EPS))
_ROWS_D = MAX_ORDER + 3
_NUM_JAC_DIFF_REJECT = _EPS**0.875
_NUM_JAC_DIFF_SMALL = _EPS**0.75
_NUM_JAC_DIFF_BIG = _EPS**0.25
_NUM_JAC_MIN_FACTOR = 1e3 * _EPS
_NUM_JAC_FACTOR_INCREASE = 10.0
_NUM_JAC_FACTOR_DECREASE = 0.1

#: Header slots of the state array.
INIT = 0  # 1.0 once the method has been started
ORDER = 1  # current order (1..5)
N_EQUAL = 2  # steps taken with the current step size and order
H_ABS = 3  # next step size
HAVE_LU = 4  # 1.0 if the stored LU factorization is valid
C_LU = 5  # the c of the stored factorization of I − cJ
NJEV = 6  # Jacobian evaluations (cumulative)
NLU = 7  # LU factorizations (cumulative)
HEADER = 16


def bdf_state_size(N: int) -> int:
    """Length of the ``state`` array of :func:`integrate_bdf` for a state z of size N = 4d + 1.

    Layout (float64): a header of ``HEADER`` slots (see the module constants
    INIT, ORDER, N_EQUAL, H_ABS, HAVE_LU, C_LU, NJEV, NLU), then the
    difference array D (MAX_ORDER + 3, N), the Jacobian columns of θ
    (N, 2d), the LU factors of I − c J_θθ (2d, 2d), the pivots (2d) and
    the relative finite-difference steps (2d).
    """
    p = (N - 1) // 2
    return HEADER + _ROWS_D * N + N * p + p * p + 2 * p


def bdf_state(N: int) -> np.ndarray:
    """A fresh (zeroed) ``state`` array: the first call starts the method."""
    return np.zeros(bdf_state_size(N))


@njit(cache=True, fastmath=FASTMATH)
def _rms(vec, count):
    total = 0.0
    for i in range(count):
        total += vec[i] * vec[i]
    return np.sqrt(total / count)


@njit(cache=True)
def _compute_R(order, factor, R):
    """SciPy's ``compute_R`` into R[:order + 1, :order + 1]."""
    n1 = order + 1
    for j in range(n1):
        R[0, j] = 1.0
    for i in range(1, n1):
        R[i, 0] = 0.0
        for j in range(1, n1):
            R[i, j] = R[i - 1, j] * ((i - 1 - factor * j) / i)


@njit(cache=True)
def _change_D(D, order, factor, R, U, RU, tmp):
    """D[:order + 1] = (R U)ᵀ D[:order + 1] (SciPy's ``change_D``)."""
    n1 = order + 1
    N = D.shape[1]
    _compute_R(order, factor, R)
    _compute_R(order, 1.0, U)
    for i in range(n1):
        for j in range(n1):
            s = 0.0
            for k in range(n1):
                s += R[i, k] * U[k, j]
            RU[i, j] = s
    for j in range(n1):
        for c in range(N):
            tmp[j, c] = 0.0
        for i in range(n1):
            a = RU[i, j]
            for c in range(N):
                tmp[j, c] += a * D[i, c]
    for j in range(n1):
        for c in range(N):
            D[j, c] = tmp[j, c]


@njit(cache=True)
def _lu_factor(J, c, LU, piv):
    """LU with partial pivoting of I − c J[:p, :p] (p = LU.shape[0]), in place in LU."""
    p = LU.shape[0]
    for i in range(p):
        for j in range(p):
            LU[i, j] = -c * J[i, j]
        LU[i, i] += 1.0
    for k in range(p):
        best = k
        big = abs(LU[k, k])
        for i in range(k + 1, p):
            a = abs(LU[i, k])
            if a > big:
                big = a
                best = i
        piv[k] = best
        if best != k:
            for j in range(p):
                tmp = LU[k, j]
                LU[k, j] = LU[best, j]
                LU[best, j] = tmp
        pivot = LU[k, k]
        if pivot != 0.0:
            for i in range(k + 1, p):
                LU[i, k] /= pivot
                lik = LU[i, k]
                if lik != 0.0:
                    for j in range(k + 1, p):
                        LU[i, j] -= lik * LU[k, j]


@njit(cache=True, fastmath=FASTMATH)
def _dot_row(A, i, x, start, stop):
    s = 0.0
    for j in range(start, stop):
        s += A[i, j] * x[j]
    return s


@njit(cache=True)
def _solve(LU, piv, J, c, b, x):
    """x = (I − cJ)⁻¹ b with J = [[J_θθ, 0], [J_qθ, 0]] and LU = lu(I − c J_θθ)."""
    p = LU.shape[0]
    N = b.shape[0]
    for i in range(N):
        x[i] = b[i]
    for k in range(p):  # row interchanges, in factorization order
        j = piv[k]
        if j != k:
            tmp = x[k]
            x[k] = x[j]
            x[j] = tmp
    for i in range(1, p):  # L (unit lower)
        x[i] -= _dot_row(LU, i, x, 0, i)
    for i in range(p - 1, -1, -1):  # U
        x[i] = (x[i] - _dot_row(LU, i, x, i + 1, p)) / LU[i, i]
    for i in range(p, N):
        x[i] += c * _dot_row(J, i, x, 0, p)


@njit(cache=True, inline="always")
def _largest_difference(f0, f1):
    """max_i |f1_i − f0_i| and max(|f0_i|, |f1_i|) at that i (SciPy's num_jac test)."""
    max_ind = 0
    max_diff = -1.0
    for i in range(f0.shape[0]):
        a = abs(f1[i] - f0[i])
        if a > max_diff:
            max_diff = a
            max_ind = i
    return max_diff, max(abs(f0[max_ind]), abs(f1[max_ind]))


@njit(cache=True)
def _num_jac(
    X,
    y,
    rows,
    z,
    f0,
    rho,
    m,
    normalize,
    eps,
    threshold,
    work,
    r,
    du,
    dv,
    part,
    J,
    factor,
    zc,
    fj,
    fk,
):
    """Forward-difference Jacobian columns of θ into J (N, 2d): SciPy's dense ``num_jac``.

    The relative steps ``factor`` (2d) persist between calls and adapt as in
    SciPy (a column whose difference is lost in rounding is retried with a
    10× larger step). Returns the number of right-hand-side evaluations.
    """
    N = z.shape[0]
    p = J.shape[1]
    nfev = 0
    for i in range(N):
        zc[i] = z[i]
    for j in range(p):
        zj = z[j]
        y_scale = max(threshold[j], abs(zj))
        if not f0[j] >= 0.0:
            y_scale = -y_scale
        hj = (zj + factor[j] * y_scale) - zj
        while hj == 0.0:
            factor[j] *= 10.0
            hj = (zj + factor[j] * y_scale) - zj
        zc[j] = zj + hj
        flow_rhs(X, y, rows, zc, rho, m, normalize, eps, work, r, du, dv, part, fj)
        nfev += 1
        max_diff, scale = _largest_difference(f0, fj)
        if max_diff < _NUM_JAC_DIFF_REJECT * scale:
            new_factor = _NUM_JAC_FACTOR_INCREASE * factor[j]
            h_new = (zj + new_factor * y_scale) - zj
            zc[j] = zj + h_new
            flow_rhs(X, y, rows, zc, rho, m, normalize, eps, work, r, du, dv, part, fk)
            nfev += 1
            max_diff_new, scale_new = _largest_difference(f0, fk)
            if max_diff * scale_new < max_diff_new * scale:
                factor[j] = new_factor
                hj = h_new
                for i in range(N):
                    fj[i] = fk[i]
                scale = scale_new
                max_diff = max_diff_new
        for i in range(N):
            J[i, j] = (fj[i] - f0[i]) / hj
        zc[j] = zj
        if max_diff < _NUM_JAC_DIFF_SMALL * scale:
            factor[j] *= _NUM_JAC_FACTOR_INCREASE
        elif max_diff > _NUM_JAC_DIFF_BIG * scale:
            factor[j] *= _NUM_JAC_FACTOR_DECREASE
        factor[j] = max(factor[j], _NUM_JAC_MIN_FACTOR)
    return nfev


@njit(cache=True)
def integrate_bdf(
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
    state,
):
    """Integrate the flow in place from ``clock[0]`` until a stop or ``max_steps`` accepted steps.

    Same contract as :func:`dlnsam._flow_kernel.integrate` (``atol`` an
    (N,) array) without the DOP853 tableau, plus ``state`` (float64, size
    :func:`bdf_state_size` (z.size), zeroed before the first call, then
    passed unchanged to every resumed call). The method (re)starts from z
    when ``state[INIT] == 0`` or ``clock[1] <= 0``. ``clock`` = [t, h, L(z)] and ``counters`` =
    [nfev, accepted steps, rejected steps, next output slot] are updated in
    place. At each time in ``out_times`` (sorted, > 0) the train and test
    loss go to ``out_loss`` and β to ``out_beta`` (from the BDF
    interpolating polynomial). Returns RUNNING (budget used), CONVERGED
    (L ≤ stop_loss after an accepted step), DIVERGED (L > max_loss or not
    finite, or ż not finite at the start, before any step), STEP_UNDERFLOW,
    or MAX_STEPS (t = t_max).
    """
    n, d = X.shape
    N = z.shape[0]
    p = 2 * d
    rows = np.arange(n)
    work = np.empty((WORK_ROWS, d))
    r = np.empty(n)
    du = np.empty(d)
    dv = np.empty(d)
    f = np.empty(N)
    fj = np.empty(N)
    zc = np.empty(N)
    y_predict = np.empty(N)
    y_new = np.empty(N)
    psi = np.empty(N)
    scale = np.empty(N)
    dcorr = np.empty(N)
    dy = np.empty(N)
    rhs = np.empty(N)
    beta = np.empty(d)
    zi = np.empty(p)
    R = np.empty((MAX_ORDER + 1, MAX_ORDER + 1))
    U = np.empty((MAX_ORDER + 1, MAX_ORDER + 1))
    RU = np.empty((MAX_ORDER + 1, MAX_ORDER + 1))
    tmpD = np.empty((MAX_ORDER + 1, N))
    piv = np.empty(p, dtype=np.int64)
    has_test = X_test.shape[0] > 0
    n_out = out_times.shape[0]

    o = HEADER
    D = state[o : o + _ROWS_D * N].reshape((_ROWS_D, N))
    o += _ROWS_D * N
    J = state[o : o + N * p].reshape((N, p))
    o += N * p
    LU = state[o : o + p * p].reshape((p, p))
    o += p * p
    pivf = state[o : o + p]
    o += p
    jac_factor = state[o : o + p]
    fk = np.empty(N)

    kappa = np.array([0.0, -0.1850, -1.0 / 9.0, -0.0823, -0.0415, 0.0])
    gamma = np.zeros(MAX_ORDER + 1)
    for i in range(1, MAX_ORDER + 1):
        gamma[i] = gamma[i - 1] + 1.0 / i
    alpha = np.empty(MAX_ORDER + 1)
    error_const = np.empty(MAX_ORDER + 1)
    for i in range(MAX_ORDER + 1):
        alpha[i] = (1.0 - kappa[i]) * gamma[i]
        error_const[i] = kappa[i] * gamma[i] + 1.0 / (i + 1)
    newton_tol = max(10.0 * _EPS / rtol, min(0.03, rtol**0.5))

    t = clock[0]
    if t >= t_max:
        return MAX_STEPS

    if state[INIT] == 0.0 or clock[1] <= 0.0:
        loss = flow_rhs(X, y, rows, z, rho, m, normalize, eps, work, r, du, dv, part, f)
        counters[0] += 1
        clock[2] = loss
        for i in range(N):
            if not np.isfinite(f[i]):
                return DIVERGED  # at the start: no step can be taken
        h_abs = clock[1]
        if h_abs <= 0.0:
            # SciPy's select_initial_step with order 1.
            interval = t_max - t
            for i in range(N):
                scale[i] = atol[i] + abs(z[i]) * rtol
            d0 = scaled_rms(z, scale)
            d1 = scaled_rms(f, scale)
            h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
            h0 = min(h0, interval)
            for i in range(N):
                zc[i] = z[i] + h0 * f[i]
            flow_rhs(X, y, rows, zc, rho, m, normalize, eps, work, r, du, dv, part, fj)
            counters[0] += 1
            for i in range(N):
                rhs[i] = fj[i] - f[i]
            d2 = scaled_rms(rhs, scale) / h0
            if d1 <= 1e-15 and d2 <= 1e-15:
                h1 = max(1e-6, h0 * 1e-3)
            else:
                h1 = (0.01 / max(d1, d2)) ** 0.5
            h_abs = min(100.0 * h0, h1, interval)
        for i in range(N):
            D[0, i] = z[i]
            D[1, i] = f[i] * h_abs
        for i in range(p):
            jac_factor[i] = _SQRT_EPS
        counters[0] += _num_jac(
            X, y, rows, z, f, rho, m, normalize, eps, atol,
            work, r, du, dv, part, J, jac_factor, zc, fj, fk,
        )  # fmt: skip
        state[NJEV] += 1.0
        order = 1
        n_equal_steps = 0
        have_lu = False
        c_lu = 0.0
        state[INIT] = 1.0
    else:
        loss = clock[2]
        order = int(state[ORDER])
        n_equal_steps = int(state[N_EQUAL])
        h_abs = state[H_ABS]
        have_lu = state[HAVE_LU] != 0.0
        c_lu = state[C_LU]
        for i in range(p):
            piv[i] = int(pivf[i])

    code = RUNNING
    for _ in range(max_steps):
        if t >= t_max:
            code = MAX_STEPS
            break
        min_step = 10.0 * (np.nextafter(t, np.inf) - t)
        if h_abs < min_step:
            _change_D(D, order, min_step / h_abs, R, U, RU, tmpD)
            h_abs = min_step
            n_equal_steps = 0

        step_accepted = False
        underflow = False
        t_new = t
        n_iter = 0
        error_norm = 0.0
        safety = 0.0
        # As SciPy: at most one new Jacobian per step, however often the step is retried.
        current_jac = False
        while not step_accepted:
            if not h_abs >= min_step:  # also a NaN step
                underflow = True
                break
            h = h_abs
            t_new = t + h
            if t_new - t_max > 0.0:
                t_new = t_max
                _change_D(D, order, abs(t_new - t) / h_abs, R, U, RU, tmpD)
                n_equal_steps = 0
                have_lu = False
            h = t_new - t
            h_abs = abs(h)

            for i in range(N):
                s = D[0, i]
                for j in range(1, order + 1):
                    s += D[j, i]
                y_predict[i] = s
                scale[i] = atol[i] + rtol * abs(s)
                q = 0.0
                for j in range(1, order + 1):
                    q += D[j, i] * gamma[j]
                psi[i] = q / alpha[order]

            converged = False
            c = h / alpha[order]
            while not converged:
                if not have_lu:
                    _lu_factor(J, c, LU, piv)
                    c_lu = c
                    have_lu = True
                    state[NLU] += 1.0

                # SciPy's solve_bdf_system (simplified Newton iterations).
                for i in range(N):
                    y_new[i] = y_predict[i]
                    dcorr[i] = 0.0
                dy_norm_old = -1.0
                k = 0
                for k in range(NEWTON_MAXITER):
                    flow_rhs(X, y, rows, y_new, rho, m, normalize, eps, work, r, du, dv, part, f)
                    counters[0] += 1
                    finite = True
                    for i in range(N):
                        if not np.isfinite(f[i]):
                            finite = False
                            break
                    if not finite:
                        break
                    for i in range(N):
                        rhs[i] = c * f[i] - psi[i] - dcorr[i]
                    _solve(LU, piv, J, c_lu, rhs, dy)
                    dy_norm = scaled_rms(dy, scale)
                    has_rate = dy_norm_old >= 0.0
                    rate = dy_norm / dy_norm_old if has_rate else 0.0
                    if has_rate and (
                        rate >= 1.0
                        or rate ** (NEWTON_MAXITER - k) / (1.0 - rate) * dy_norm > newton_tol
                    ):
                        break
                    for i in range(N):
                        y_new[i] += dy[i]
                        dcorr[i] += dy[i]
                    if dy_norm == 0.0 or (has_rate and rate / (1.0 - rate) * dy_norm < newton_tol):
                        converged = True
                        break
                    dy_norm_old = dy_norm
                n_iter = k + 1

                if not converged:
                    if current_jac:
                        break
                    flow_rhs(
                        X, y, rows, y_predict, rho, m, normalize, eps, work, r, du, dv, part, fj
                    )
                    counters[0] += 1
                    for i in range(N):
                        rhs[i] = fj[i]
                    counters[0] += _num_jac(
                        X, y, rows, y_predict, rhs, rho, m, normalize, eps, atol,
                        work, r, du, dv, part, J, jac_factor, zc, fj, fk,
                    )  # fmt: skip
                    state[NJEV] += 1.0
                    have_lu = False
                    current_jac = True

            if not converged:
                counters[2] += 1
                h_abs *= 0.5
                _change_D(D, order, 0.5, R, U, RU, tmpD)
                n_equal_steps = 0
                have_lu = False
                continue

            safety = 0.9 * (2 * NEWTON_MAXITER + 1) / (2 * NEWTON_MAXITER + n_iter)
            for i in range(N):
                scale[i] = atol[i] + rtol * abs(y_new[i])
            error_norm = abs(error_const[order]) * scaled_rms(dcorr, scale)
            if not error_norm <= 1.0:  # NaN counts as a failure
                counters[2] += 1
                factor = MIN_FACTOR
                if error_norm == error_norm:
                    factor = max(MIN_FACTOR, safety * error_norm ** (-1.0 / (order + 1)))
                h_abs *= factor
                _change_D(D, order, factor, R, U, RU, tmpD)
                n_equal_steps = 0
                # As in SciPy, the LU is kept: Newton converged.
            else:
                step_accepted = True

        if underflow:
            code = STEP_UNDERFLOW
            break

        n_equal_steps += 1
        t = t_new
        for i in range(N):
            z[i] = y_new[i]
        counters[1] += 1

        # Update the differences (SciPy): D^{j+1} y_n = D^j y_n − D^j y_{n−1}.
        for i in range(N):
            D[order + 2, i] = dcorr[i] - D[order + 1, i]
            D[order + 1, i] = dcorr[i]
        for j in range(order, -1, -1):
            for i in range(N):
                D[j, i] += D[j + 1, i]

        if n_equal_steps >= order + 1:
            error_m_norm = np.inf
            if order > 1:
                error_m_norm = abs(error_const[order - 1]) * scaled_rms(D[order], scale)
            error_p_norm = np.inf
            if order < MAX_ORDER:
                error_p_norm = abs(error_const[order + 1]) * scaled_rms(D[order + 2], scale)
            best = -1
            best_factor = -1.0
            for j in range(3):
                e = error_m_norm if j == 0 else (error_norm if j == 1 else error_p_norm)
                if e == 0.0:
                    fac = np.inf
                elif e == np.inf:
                    fac = 0.0
                else:
                    fac = e ** (-1.0 / (order + j))
                if fac > best_factor:  # first maximum, as np.argmax
                    best_factor = fac
                    best = j
            order += best - 1
            factor = min(MAX_FACTOR, safety * best_factor)
            h_abs *= factor
            _change_D(D, order, factor, R, U, RU, tmpD)
            n_equal_steps = 0
            have_lu = False

        for c_ in range(d):
            beta[c_] = z[c_] * z[d + c_]
        loss = half_mse(X, y, beta)

        while counters[3] < n_out and out_times[counters[3]] <= t:
            slot = counters[3]
            ts = out_times[slot]
            if ts == t:
                for i in range(p):
                    zi[i] = z[i]
                out_loss[slot, 0] = loss
            else:
                # SciPy's BdfDenseOutput with the current (order, h, D).
                for i in range(p):
                    zi[i] = D[0, i]
                prod = 1.0
                for j in range(order):
                    prod *= (ts - (t - h_abs * j)) / (h_abs * (1 + j))
                    for i in range(p):
                        zi[i] += D[j + 1, i] * prod
            for c_ in range(d):
                out_beta[slot, c_] = zi[c_] * zi[d + c_]
            if ts != t:
                out_loss[slot, 0] = half_mse(X, y, out_beta[slot])
            if has_test:
                out_loss[slot, 1] = half_mse(X_test, y_test, out_beta[slot])
            counters[3] += 1

        clock[0] = t
        clock[2] = loss
        if not loss <= max_loss:
            code = DIVERGED
            break
        if loss <= stop_loss:
            code = CONVERGED
            break

    clock[0] = t
    clock[1] = h_abs
    state[ORDER] = order
    state[N_EQUAL] = n_equal_steps
    state[H_ABS] = h_abs
    state[HAVE_LU] = 1.0 if have_lu else 0.0
    state[C_LU] = c_lu
    for i in range(p):
        pivf[i] = piv[i]
    return code
