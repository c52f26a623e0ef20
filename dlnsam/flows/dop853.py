"""DOP853, Hairer's explicit Runge–Kutta method of order 8, as an integrator of any term.

Coefficients of E. Hairer and G. Wanner's DOP853 (Dormand–Prince 8(5,3);
Hairer, Nørsett & Wanner, *Solving Ordinary Differential Equations I*, 2nd
ed., Springer 1993, §II.10), the same numbers SciPy's
``solve_ivp(method="DOP853")`` uses: 12 stages, an 8th-order solution, and
5th- and 3rd-order error estimates combined as in the original code, with the
usual step-size controller. Only the 12 + 1 (FSAL) stages are needed; no
dense output: a step is shortened to land on each output time. Every
component of the state is error-controlled, so the integrals a term carries
are as accurate as θ.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from dlnsam.flows.inlining import ForwardingCompiler
from dlnsam.flows.stepping import initial_step, min_step, scaled_rms
from dlnsam.flows.terms import FASTMATH, record_output, rhs
from dlnsam.status import CONVERGED, DIVERGED, RUNNING, STEP_UNDERFLOW, T_END

__all__ = ["integrate", "new_memory", "step_flops"]

_SAFETY = 0.9
_MIN_FACTOR = 0.2
_MAX_FACTOR = 10.0
_ERROR_EXPONENT = -1.0 / 8.0  # the error estimate is of order 7
_ORDER = 7  # of the error estimate, for the first step

N_STAGES = 12

C = np.array(
    [
        0.0,
        0.526001519587677318785587544488e-01,
        0.789002279381515978178381316732e-01,
        0.118350341907227396726757197510,
        0.281649658092772603273242802490,
        0.333333333333333333333333333333,
        0.25,
        0.307692307692307692307692307692,
        0.651282051282051282051282051282,
        0.6,
        0.857142857142857142857142857142,
        1.0,
    ]
)

A = np.zeros((N_STAGES + 1, N_STAGES + 1))
A[1, 0] = 5.26001519587677318785587544488e-2
A[2, 0] = 1.97250569845378994544595329183e-2
A[2, 1] = 5.91751709536136983633785987549e-2
A[3, 0] = 2.95875854768068491816892993775e-2
A[3, 2] = 8.87627564304205475450678981324e-2
A[4, 0] = 2.41365134159266685502369798665e-1
A[4, 2] = -8.84549479328286085344864962717e-1
A[4, 3] = 9.24834003261792003115737966543e-1
A[5, 0] = 3.7037037037037037037037037037e-2
A[5, 3] = 1.70828608729473871279604482173e-1
A[5, 4] = 1.25467687566822425016691814123e-1
A[6, 0] = 3.7109375e-2
A[6, 3] = 1.70252211019544039314978060272e-1
A[6, 4] = 6.02165389804559606850219397283e-2
A[6, 5] = -1.7578125e-2
A[7, 0] = 3.70920001185047927108779319836e-2
A[7, 3] = 1.70383925712239993810214054705e-1
A[7, 4] = 1.07262030446373284651809199168e-1
A[7, 5] = -1.53194377486244017527936158236e-2
A[7, 6] = 8.27378916381402288758473766002e-3
A[8, 0] = 6.24110958716075717114429577812e-1
A[8, 3] = -3.36089262944694129406857109825
A[8, 4] = -8.68219346841726006818189891453e-1
A[8, 5] = 2.75920996994467083049415600797e1
A[8, 6] = 2.01540675504778934086186788979e1
A[8, 7] = -4.34898841810699588477366255144e1
A[9, 0] = 4.77662536438264365890433908527e-1
A[9, 3] = -2.48811461997166764192642586468
A[9, 4] = -5.90290826836842996371446475743e-1
A[9, 5] = 2.12300514481811942347288949897e1
A[9, 6] = 1.52792336328824235832596922938e1
A[9, 7] = -3.32882109689848629194453265587e1
A[9, 8] = -2.03312017085086261358222928593e-2
A[10, 0] = -9.3714243008598732571704021658e-1
A[10, 3] = 5.18637242884406370830023853209
A[10, 4] = 1.09143734899672957818500254654
A[10, 5] = -8.14978701074692612513997267357
A[10, 6] = -1.85200656599969598641566180701e1
A[10, 7] = 2.27394870993505042818970056734e1
A[10, 8] = 2.49360555267965238987089396762
A[10, 9] = -3.0467644718982195003823669022
A[11, 0] = 2.27331014751653820792359768449
A[11, 3] = -1.05344954667372501984066689879e1
A[11, 4] = -2.00087205822486249909675718444
A[11, 5] = -1.79589318631187989172765950534e1
A[11, 6] = 2.79488845294199600508499808837e1
A[11, 7] = -2.85899827713502369474065508674
A[11, 8] = -8.87285693353062954433549289258
A[11, 9] = 1.23605671757943030647266201528e1
A[11, 10] = 6.43392746015763530355970484046e-1
A[12, 0] = 5.42937341165687622380535766363e-2
A[12, 5] = 4.45031289275240888144113950566
A[12, 6] = 1.89151789931450038304281599044
A[12, 7] = -5.8012039600105847814672114227
A[12, 8] = 3.1116436695781989440891606237e-1
A[12, 9] = -1.52160949662516078556178806805e-1
A[12, 10] = 2.01365400804030348374776537501e-1
A[12, 11] = 4.47106157277725905176885569043e-2

B = A[N_STAGES, :N_STAGES].copy()

E3 = np.zeros(N_STAGES + 1)
E3[:-1] = B.copy()
E3[0] -= 0.244094488188976377952755905512
E3[8] -= 0.733846688281611857341361741547
E3[11] -= 0.220588235294117647058823529412e-1

E5 = np.zeros(N_STAGES + 1)
E5[0] = 0.1312004499419488073250102996e-1
E5[5] = -0.1225156446376204440720569753e1
E5[6] = -0.4957589496572501915214079952
E5[7] = 0.1664377182454986536961530415e1
E5[8] = -0.3503288487499736816886487290
E5[9] = 0.3341791187130174790297318841
E5[10] = 0.8192320648511571246570742613e-1
E5[11] = -0.2235530786388629525884427845e-1


def new_memory(size: int, p: int) -> None:
    """DOP853 keeps nothing between calls (its step size is in ``progress``)."""
    return None


def step_flops(p: int) -> float:
    """No step of DOP853 costs more than its right-hand sides: 0 (no cap on a call's steps)."""
    return 0.0


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


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _error_norm(h, K, z, z_new, rtol, atol, scale, err5, err3):
    """Hairer's combined 5th/3rd-order error estimate of the step z → z_new, scaled."""
    N = z.shape[0]
    for i in range(N):
        scale[i] = atol[i] + rtol * max(abs(z[i]), abs(z_new[i]))
    _combine(E5, K, 13, err5)
    _combine(E3, K, 13, err3)
    e5 = scaled_rms(err5, scale) ** 2
    e3 = scaled_rms(err3, scale) ** 2
    denom = e5 + 0.01 * e3
    return abs(h) * e5 / np.sqrt(denom) if denom > 0.0 else 0.0


@njit(cache=True, pipeline_class=ForwardingCompiler, fastmath=FASTMATH)
def integrate(term, z, progress, controls, outputs, memory):
    """Integrate ``term`` in place from ``progress.t`` until a stop or ``controls.max_steps`` steps.

    z (N,) and ``progress`` (see :data:`dlnsam.flows.records.PROGRESS`; h = 0:
    choose the first step) are updated in place, so the caller can resume.
    At each output time a step lands on it and the term's records are taken.
    ``memory`` (None, from :func:`new_memory`) is not read: the tableau is
    used as module constants, which Numba compiles in, so that the zero
    coefficients are skipped at compile time.
    Returns RUNNING (budget used), CONVERGED (L ≤ stop_loss), DIVERGED
    (L > max_loss or not finite, or ż not finite at the start of the call,
    before any step), STEP_UNDERFLOW, or T_END (t = t_max).
    """
    N = z.shape[0]
    K = np.empty((13, N))
    zs = np.empty(N)
    z_new = np.empty(N)
    scale = np.empty(N)
    err5 = np.empty(N)
    err3 = np.empty(N)
    acc = np.empty(N)
    n_out = outputs.times.shape[0]
    rtol, atol, t_max = controls.rtol, controls.atol, controls.t_max
    pr = progress[0]

    t = pr.t
    h = pr.h
    loss = rhs(term, z, K[0])
    pr.nfev += 1
    pr.loss = loss
    for i in range(N):
        if not np.isfinite(K[0, i]):
            return DIVERGED  # at the start of this call: no step can be taken
    if h <= 0.0:
        h, nfev = initial_step(term, z, K[0], rtol, atol, _ORDER, np.inf, scale, zs, K[1])
        pr.nfev += nfev

    for _ in range(controls.max_steps):
        if t >= t_max:
            pr.t = t
            pr.h = h
            return T_END
        target = t_max
        if pr.next_output < n_out and outputs.times[pr.next_output] < target:
            target = outputs.times[pr.next_output]
        h_step = h
        clipped = False
        if t + h_step >= target:
            h_step = target - t
            clipped = True
        if not h_step > min_step(t):  # also a NaN step
            pr.t = t
            pr.h = h
            return STEP_UNDERFLOW

        for s in range(1, 12):
            _combine(A[s], K, s, acc)
            for i in range(N):
                zs[i] = z[i] + h_step * acc[i]
            rhs(term, zs, K[s])
        _combine(B, K, 12, acc)
        for i in range(N):
            z_new[i] = z[i] + h_step * acc[i]
        loss_new = rhs(term, z_new, K[12])
        pr.nfev += 12

        err = _error_norm(h_step, K, z, z_new, rtol, atol, scale, err5, err3)
        if not np.isfinite(loss_new):
            # An overflowed z_new also inflates its own error scale: reject it here.
            err = np.nan

        if err < 1.0:  # NaN compares False: a non-finite step is rejected
            t = target if clipped else t + h_step
            for i in range(N):
                z[i] = z_new[i]
                K[0, i] = K[12, i]
            loss = loss_new
            pr.n_steps += 1
            factor = _MAX_FACTOR if err == 0.0 else min(_MAX_FACTOR, _SAFETY * err**_ERROR_EXPONENT)
            # A step shortened to land on an output time does not shrink h.
            h = max(h, h_step * factor) if clipped else h_step * factor
            while pr.next_output < n_out and outputs.times[pr.next_output] <= t:
                record_output(term, outputs, pr.next_output, z, loss)
                pr.next_output += 1
            pr.t = t
            pr.h = h
            pr.loss = loss
            if not loss <= controls.max_loss:
                return DIVERGED
            if loss <= controls.stop_loss:
                return CONVERGED
        else:
            pr.n_rejected += 1
            factor = _MIN_FACTOR
            if err == err:  # not NaN
                factor = max(_MIN_FACTOR, _SAFETY * err**_ERROR_EXPONENT)
            h = h_step * factor
    pr.t = t
    pr.h = h
    return RUNNING
