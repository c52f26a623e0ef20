"""BDF/NDF, SciPy's variable-order implicit method, as an integrator of any term.

A faithful port of SciPy's ``scipy/integrate/_ivp/bdf.py``: orders 1–5 with
the NDF coefficients κ, the backward-difference array D rescaled by
``change_D`` on step changes, simplified Newton iterations with a reused LU
factorization of I − cJ, SciPy's error estimate and order/step selection. Its
memory (the differences, Jacobian, LU, order and step size) is a caller-owned
:class:`BdfMemory`, so that a call that returns RUNNING is resumed exactly.

The term's right-hand side depends on the first p components of z only (θ;
:func:`dlnsam.flows.terms.dynamic_size`), the others being quadratures, so the
Jacobian is J = [[J_θθ, 0], [J_qθ, 0]] and

    I − cJ = [[I − c J_θθ, 0], [−c J_qθ, I]]:

only the p × p block is factored (LU with partial pivoting), and a solve is
x_θ = (I − c J_θθ)⁻¹ b_θ, x_q = b_q + c J_qθ x_θ. The Jacobian columns of θ
are forward differences computed exactly as SciPy's dense ``num_jac`` does
(threshold atol): step h_j = factor_j · sign(f_j) · max(|θ_j|, atol_j), with
the relative steps factor_j (initially √ε) kept in the memory and adapted
after each Jacobian, and a column whose difference is lost in rounding
retried with a 10× larger step. (A fixed step √ε · max(|θ_j|, floor) is much
less accurate on very stiff flows: more Newton failures and Jacobians.) Every
component of z is error-controlled with the scale atol_i + rtol·|z_i|, as in
SciPy with an array ``atol``.

Output times are recorded by evaluating the BDF interpolating polynomial
(SciPy's dense output), so they never shorten a step; the step is shortened
(with ``change_D``) only to land on ``t_max``, as SciPy does at ``t_bound``.

Counters: ``progress.nfev`` counts *every* right-hand-side evaluation,
including the p + 1 or so per finite-difference Jacobian (SciPy's ``nfev``
leaves those out); ``progress.n_rejected`` counts rejected attempts (error
test failures and Newton failures). The memory's header counts Jacobians and
LU factorizations.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit
from numpy.typing import NDArray

from dlnsam.flows.inlining import ForwardingCompiler
from dlnsam.flows.stepping import initial_step, min_step, scaled_rms
from dlnsam.flows.terms import FASTMATH, record_output, rhs, train_loss
from dlnsam.status import CONVERGED, DIVERGED, RUNNING, STEP_UNDERFLOW, T_END

__all__ = ["HEADER", "MAX_ORDER", "BdfMemory", "integrate", "new_memory", "step_flops"]

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

#: The scalar memory of the method, one structured record.
HEADER = np.dtype(
    [
        ("started", np.bool_),  # the method has been started (D and J hold data)
        ("order", np.int64),  # current order (1..5)
        ("n_equal", np.int64),  # steps taken with the current step size and order
        ("h_abs", np.float64),  # next step size
        ("have_lu", np.bool_),  # the stored LU factorization is valid
        ("c_lu", np.float64),  # the c of the stored factorization of I − cJ
        ("njev", np.int64),  # Jacobian evaluations (cumulative)
        ("nlu", np.int64),  # LU factorizations (cumulative)
    ]
)


def _coefficients() -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """SciPy's γ, α = (1 − κ) γ and error constants κ γ + 1/(q + 1), for orders 0..5."""
    kappa = np.array([0.0, -0.1850, -1.0 / 9.0, -0.0823, -0.0415, 0.0])
    gamma = np.zeros(MAX_ORDER + 1)
    for i in range(1, MAX_ORDER + 1):
        gamma[i] = gamma[i - 1] + 1.0 / i
    alpha = (1.0 - kappa) * gamma
    error_const = kappa * gamma + 1.0 / np.arange(1, MAX_ORDER + 2)
    return gamma, alpha, error_const


class BdfMemory(NamedTuple):
    """What BDF keeps between calls, and its scratch.

    Attributes
    ----------
    header : (1,) structured ndarray of :data:`HEADER`
    D : (MAX_ORDER + 3, N) ndarray
        Backward differences of the solution.
    J : (N, p) ndarray
        Jacobian columns of θ.
    LU : (p, p) ndarray
        LU factors of I − c J_θθ, with the row interchanges ``piv`` (p,).
    jac_factor : (p,) ndarray
        Relative finite-difference steps.
    gamma, alpha, error_const : (MAX_ORDER + 1,) ndarray
        The method's coefficients.
    f, fj, fk, zc, y_predict, y_new, psi, scale, dcorr, dy, b : (N,) ndarray
    zi : (p,) ndarray
    beta : (d,) ndarray
    R, U, RU : (MAX_ORDER + 1, MAX_ORDER + 1) ndarray
    tmpD : (MAX_ORDER + 1, N) ndarray
        Scratch.
    """

    header: np.ndarray
    D: NDArray[np.float64]
    J: NDArray[np.float64]
    LU: NDArray[np.float64]
    piv: NDArray[np.int64]
    jac_factor: NDArray[np.float64]
    gamma: NDArray[np.float64]
    alpha: NDArray[np.float64]
    error_const: NDArray[np.float64]
    f: NDArray[np.float64]
    fj: NDArray[np.float64]
    fk: NDArray[np.float64]
    zc: NDArray[np.float64]
    y_predict: NDArray[np.float64]
    y_new: NDArray[np.float64]
    psi: NDArray[np.float64]
    scale: NDArray[np.float64]
    dcorr: NDArray[np.float64]
    dy: NDArray[np.float64]
    b: NDArray[np.float64]
    zi: NDArray[np.float64]
    beta: NDArray[np.float64]
    R: NDArray[np.float64]
    U: NDArray[np.float64]
    RU: NDArray[np.float64]
    tmpD: NDArray[np.float64]


def new_memory(size: int, p: int) -> BdfMemory:
    """A fresh memory for a state of ``size`` components of which the first ``p`` are θ.

    The first call of :func:`integrate` with it starts the method.

    Examples
    --------
    >>> from dlnsam.flows.bdf import new_memory
    >>> m = new_memory(9, 4)
    >>> m.J.shape, bool(m.header[0]["started"])
    ((9, 4), False)
    """
    q = MAX_ORDER + 1
    vec = [np.zeros(size) for _ in range(11)]
    return BdfMemory(
        np.zeros(1, dtype=HEADER), np.zeros((_ROWS_D, size)), np.zeros((size, p)),
        np.zeros((p, p)), np.zeros(p, dtype=np.int64), np.zeros(p), *_coefficients(),
        *vec, np.zeros(p), np.zeros(p // 2), np.zeros((q, q)), np.zeros((q, q)),
        np.zeros((q, q)), np.zeros((q, size)),
    )  # fmt: skip


def step_flops(p: int) -> float:
    """The order of the flops of a step that factors the dense p × p matrix: p³."""
    return float(p) ** 3


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


@njit(cache=True, inline="always")
def _num_jac(term, z, f0, threshold, J, factor, zc, fj, fk):
    """Forward-difference Jacobian columns of θ into J (N, p): SciPy's dense ``num_jac``.

    The relative steps ``factor`` (p) persist between calls and adapt as in
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
        rhs(term, zc, fj)
        nfev += 1
        max_diff, scale = _largest_difference(f0, fj)
        if max_diff < _NUM_JAC_DIFF_REJECT * scale:
            new_factor = _NUM_JAC_FACTOR_INCREASE * factor[j]
            h_new = (zj + new_factor * y_scale) - zj
            zc[j] = zj + h_new
            rhs(term, zc, fk)
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


@njit(cache=True, inline="always")
def _start(term, z, progress, controls, mem):
    """Start the method at z: ż, the first step, D and the Jacobian. Returns L(z), or NaN.

    NaN means ż is not finite at z: no step can be taken.
    """
    pr, hd = progress[0], mem.header[0]
    N = z.shape[0]
    f = mem.f
    loss = rhs(term, z, f)
    pr.nfev += 1
    pr.loss = loss
    for i in range(N):
        if not np.isfinite(f[i]):
            return np.nan
    h_abs = pr.h
    if h_abs <= 0.0:
        h_abs, nfev = initial_step(
            term, z, f, controls.rtol, controls.atol, 1, controls.t_max - pr.t,
            mem.scale, mem.zc, mem.fj,
        )  # fmt: skip
        pr.nfev += nfev
    for i in range(N):
        mem.D[0, i] = z[i]
        mem.D[1, i] = f[i] * h_abs
    mem.jac_factor[:] = _SQRT_EPS
    pr.nfev += _num_jac(term, z, f, controls.atol, mem.J, mem.jac_factor, mem.zc, mem.fj, mem.fk)
    hd.njev += 1
    hd.order = 1
    hd.n_equal = 0
    hd.h_abs = h_abs
    hd.have_lu = False
    hd.c_lu = 0.0
    hd.started = True
    return loss


@njit(cache=True, inline="always")
def _rescale(mem, factor):
    """Change the step size by ``factor``: rescale D (SciPy's change_D) and restart the count."""
    hd = mem.header[0]
    _change_D(mem.D, hd.order, factor, mem.R, mem.U, mem.RU, mem.tmpD)
    hd.n_equal = 0


@njit(cache=True, inline="always")
def _predict(mem, rtol, atol):
    """The predictor y_predict = Σ_{j ≤ q} D_j, its error scale and ψ of the corrector."""
    order = mem.header[0].order
    D = mem.D
    for i in range(D.shape[1]):
        s = D[0, i]
        for j in range(1, order + 1):
            s += D[j, i]
        mem.y_predict[i] = s
        mem.scale[i] = atol[i] + rtol * abs(s)
        q = 0.0
        for j in range(1, order + 1):
            q += D[j, i] * mem.gamma[j]
        mem.psi[i] = q / mem.alpha[order]


@njit(cache=True, inline="always")
def _newton(term, progress, mem, c, newton_tol):
    """SciPy's solve_bdf_system: simplified Newton iterations from the predictor.

    Leaves the iterate in ``y_new`` and its correction in ``dcorr``; returns
    (converged, iterations).
    """
    pr = progress[0]
    N = mem.y_new.shape[0]
    y_new, dcorr, dy, f, b = mem.y_new, mem.dcorr, mem.dy, mem.f, mem.b
    for i in range(N):
        y_new[i] = mem.y_predict[i]
        dcorr[i] = 0.0
    dy_norm_old = -1.0
    k = 0
    for k in range(NEWTON_MAXITER):
        rhs(term, y_new, f)
        pr.nfev += 1
        for i in range(N):
            if not np.isfinite(f[i]):
                return False, k + 1
        for i in range(N):
            b[i] = c * f[i] - mem.psi[i] - dcorr[i]
        _solve(mem.LU, mem.piv, mem.J, mem.header[0].c_lu, b, dy)
        dy_norm = scaled_rms(dy, mem.scale)
        has_rate = dy_norm_old >= 0.0
        rate = dy_norm / dy_norm_old if has_rate else 0.0
        if has_rate and (
            rate >= 1.0 or rate ** (NEWTON_MAXITER - k) / (1.0 - rate) * dy_norm > newton_tol
        ):
            return False, k + 1
        for i in range(N):
            y_new[i] += dy[i]
            dcorr[i] += dy[i]
        if dy_norm == 0.0 or (has_rate and rate / (1.0 - rate) * dy_norm < newton_tol):
            return True, k + 1
        dy_norm_old = dy_norm
    return False, k + 1


@njit(cache=True, inline="always")
def _solve_implicit(term, progress, controls, mem, c, newton_tol, current_jac):
    """Newton on the implicit step, with a fresh Jacobian if it fails on an older one.

    ``current_jac`` says whether J was computed during this step already (as
    SciPy: at most one new Jacobian per step, however often it is retried).
    Returns (converged, iterations, current_jac).
    """
    pr, hd = progress[0], mem.header[0]
    while True:
        if not hd.have_lu:
            _lu_factor(mem.J, c, mem.LU, mem.piv)
            hd.c_lu = c
            hd.have_lu = True
            hd.nlu += 1
        converged, n_iter = _newton(term, progress, mem, c, newton_tol)
        if converged or current_jac:
            return converged, n_iter, current_jac
        rhs(term, mem.y_predict, mem.fj)
        pr.nfev += 1
        for i in range(mem.b.shape[0]):
            mem.b[i] = mem.fj[i]
        pr.nfev += _num_jac(
            term, mem.y_predict, mem.b, controls.atol, mem.J, mem.jac_factor,
            mem.zc, mem.fj, mem.fk,
        )  # fmt: skip
        hd.njev += 1
        hd.have_lu = False
        current_jac = True


@njit(cache=True, inline="always")
def _step(term, t, progress, controls, mem, floor, newton_tol):
    """Try steps from t, shrinking h, until one passes Newton and the error test.

    Returns (t_new, error_norm, safety), or t_new = NaN when h fell below ``floor``.
    The accepted state is in ``y_new``, its correction in ``dcorr``.
    """
    pr, hd = progress[0], mem.header[0]
    rtol, atol, t_max = controls.rtol, controls.atol, controls.t_max
    current_jac = False
    while True:
        if not hd.h_abs >= floor:  # also a NaN step
            return np.nan, 0.0, 0.0
        t_new = t + hd.h_abs
        if t_new - t_max > 0.0:
            t_new = t_max
            _rescale(mem, abs(t_new - t) / hd.h_abs)
            hd.have_lu = False
        h = t_new - t
        hd.h_abs = abs(h)
        _predict(mem, rtol, atol)
        converged, n_iter, current_jac = _solve_implicit(
            term, progress, controls, mem, h / mem.alpha[hd.order], newton_tol, current_jac
        )
        if not converged:
            pr.n_rejected += 1
            hd.h_abs *= 0.5
            _rescale(mem, 0.5)
            hd.have_lu = False
            continue
        safety = 0.9 * (2 * NEWTON_MAXITER + 1) / (2 * NEWTON_MAXITER + n_iter)
        for i in range(mem.scale.shape[0]):
            mem.scale[i] = atol[i] + rtol * abs(mem.y_new[i])
        error_norm = abs(mem.error_const[hd.order]) * scaled_rms(mem.dcorr, mem.scale)
        if error_norm <= 1.0:
            return t_new, error_norm, safety
        pr.n_rejected += 1  # NaN counts as a failure
        factor = MIN_FACTOR
        if error_norm == error_norm:
            factor = max(MIN_FACTOR, safety * error_norm ** (-1.0 / (hd.order + 1)))
        hd.h_abs *= factor
        _rescale(mem, factor)
        # As in SciPy, the LU is kept: Newton converged.


@njit(cache=True, inline="always")
def _adapt(mem, error_norm, safety):
    """After an accepted step: update D, then choose order and step size (SciPy)."""
    hd = mem.header[0]
    D, dcorr, order = mem.D, mem.dcorr, hd.order
    # D^{j+1} y_n = D^j y_n − D^j y_{n−1}.
    for i in range(D.shape[1]):
        D[order + 2, i] = dcorr[i] - D[order + 1, i]
        D[order + 1, i] = dcorr[i]
    for j in range(order, -1, -1):
        for i in range(D.shape[1]):
            D[j, i] += D[j + 1, i]
    if hd.n_equal < order + 1:
        return
    error_m_norm = np.inf
    if order > 1:
        error_m_norm = abs(mem.error_const[order - 1]) * scaled_rms(D[order], mem.scale)
    error_p_norm = np.inf
    if order < MAX_ORDER:
        error_p_norm = abs(mem.error_const[order + 1]) * scaled_rms(D[order + 2], mem.scale)
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
    hd.order = order + best - 1
    factor = min(MAX_FACTOR, safety * best_factor)
    hd.h_abs *= factor
    _rescale(mem, factor)
    hd.have_lu = False


@njit(cache=True, inline="always")
def _dense_output(term, z, t, loss, progress, outputs, mem):
    """Record every output time ≤ t from the interpolating polynomial (SciPy's BdfDenseOutput)."""
    pr, hd = progress[0], mem.header[0]
    p = mem.zi.shape[0]
    while pr.next_output < outputs.times.shape[0] and outputs.times[pr.next_output] <= t:
        ts = outputs.times[pr.next_output]
        if ts == t:
            record_output(term, outputs, pr.next_output, z, loss)
        else:
            zi = mem.zi
            for i in range(p):
                zi[i] = mem.D[0, i]
            prod = 1.0
            for j in range(hd.order):
                prod *= (ts - (t - hd.h_abs * j)) / (hd.h_abs * (1 + j))
                for i in range(p):
                    zi[i] += mem.D[j + 1, i] * prod
            record_output(term, outputs, pr.next_output, zi, np.nan)
        pr.next_output += 1


@njit(cache=True, pipeline_class=ForwardingCompiler)
def integrate(term, z, progress, controls, outputs, mem):
    """Integrate ``term`` in place from ``progress.t`` until a stop or ``controls.max_steps`` steps.

    The contract of :func:`dlnsam.flows.dop853.integrate`, with ``mem`` a
    :class:`BdfMemory` from :func:`new_memory` passed unchanged to every
    resumed call. The method (re)starts from z when it has not started or
    ``progress.h <= 0``. Output times are evaluated on the interpolating
    polynomial. Returns RUNNING (budget used), CONVERGED (L ≤ stop_loss after
    an accepted step), DIVERGED (L > max_loss or not finite, or ż not finite
    at the start, before any step), STEP_UNDERFLOW, or T_END (t = t_max).
    """
    pr, hd = progress[0], mem.header[0]
    N = z.shape[0]
    newton_tol = max(10.0 * _EPS / controls.rtol, min(0.03, controls.rtol**0.5))
    t = pr.t
    if t >= controls.t_max:
        return T_END
    if not hd.started or pr.h <= 0.0:
        loss = _start(term, z, progress, controls, mem)
        if loss != loss:
            return DIVERGED  # at the start: no step can be taken
    else:
        loss = pr.loss
    code = RUNNING
    for _ in range(controls.max_steps):
        if t >= controls.t_max:
            code = T_END
            break
        floor = min_step(t)
        if hd.h_abs < floor:
            _rescale(mem, floor / hd.h_abs)
            hd.h_abs = floor
        t_new, error_norm, safety = _step(term, t, progress, controls, mem, floor, newton_tol)
        if t_new != t_new:
            code = STEP_UNDERFLOW
            break
        hd.n_equal += 1
        t = t_new
        for i in range(N):
            z[i] = mem.y_new[i]
        pr.n_steps += 1
        _adapt(mem, error_norm, safety)
        loss = train_loss(term, z, mem.beta)
        _dense_output(term, z, t, loss, progress, outputs, mem)
        pr.t = t
        pr.loss = loss
        if not loss <= controls.max_loss:
            code = DIVERGED
            break
        if loss <= controls.stop_loss:
            code = CONVERGED
            break
    pr.t = t
    pr.h = hd.h_abs
    return code
