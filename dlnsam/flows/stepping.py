"""What the integrators share: the error norm, the first step and the step floor."""

from __future__ import annotations

import numpy as np
from numba import njit

from dlnsam.flows.terms import FASTMATH, rhs

__all__ = ["initial_step", "min_step", "scaled_rms"]


@njit(cache=True, fastmath=FASTMATH)
def scaled_rms(vec, scale):
    """RMS of vec / scale: the error norm of both integrators."""
    total = 0.0
    for i in range(vec.shape[0]):
        q = vec[i] / scale[i]
        total += q * q
    return np.sqrt(total / vec.shape[0])


@njit(cache=True, inline="always")
def initial_step(term, z, f, rtol, atol, order, interval, scale, zs, fs):
    """Hairer's starting step for a method of ``order``, capped at ``interval``.

    ``f`` = ż at z; ``scale``, ``zs`` and ``fs`` are (N,) scratch. One explicit
    Euler trial, as SciPy's ``select_initial_step``; returns (h, evaluations).
    Inlined, so that it takes the floating-point flags of its integrator
    (DOP853's fast-math, BDF's exact arithmetic).
    """
    N = z.shape[0]
    for i in range(N):
        scale[i] = atol[i] + rtol * abs(z[i])
    d0 = scaled_rms(z, scale)
    d1 = scaled_rms(f, scale)
    h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
    h0 = min(h0, interval)
    for i in range(N):
        zs[i] = z[i] + h0 * f[i]
    rhs(term, zs, fs)
    for i in range(N):
        fs[i] = fs[i] - f[i]
    d2 = scaled_rms(fs, scale) / h0
    if max(d1, d2) <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = (0.01 / max(d1, d2)) ** (1.0 / (order + 1))
    return min(100.0 * h0, h1, interval), 1


@njit(cache=True, inline="always")
def min_step(t):
    """SciPy's step floor: ten units in the last place of t.

    An absolute floor would stop flows whose whole time scale is tiny (a large α).
    """
    return 10.0 * (np.nextafter(t, np.inf) - t)
