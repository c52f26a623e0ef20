"""Where the time of a step goes: dlnsam's kernels timed piece by piece.

The discrete and flow sections use these figures to show what bounds the
speed-up over a baseline: each driver below calls one piece of the kernel in a
compiled loop, so the figure is the cost of that piece alone, with no Python
and no per-call overhead.

- ``row_passes``: the passes over the rows of X of one step, nothing else
  (1-SAM: the single pass of ``_one_sam_rows``; n-SAM: the residual pass and
  the perturbed pass; GD: the residual pass). This is the floor of a step that
  reads X.
- ``direction``: the whole SAM(ρ, m) direction (``sam_direction``): the row
  passes plus the O(d) vector work around them.
- ``run_chunk``: the training kernel per step (direction, loss check, update),
  called directly, without :func:`dlnsam.run`.
- ``flow_rhs``: one evaluation of the flow's right-hand side
  (``_flow_kernel.flow_rhs``: direction with the Δ rates, the loss).
- ``read``: one streaming read of X that only sums its entries, with the
  threads and row chunks the training kernel would use: the floor of any pass
  over X on this machine, which the scaling section compares steps with.

The discrete pieces are timed on X and (u, v) as :func:`dlnsam.run` gives
them to the kernel: padded with zero columns, and aligned, when X is small
(:func:`dlnsam.training.kernel_design`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from numba import njit, prange

import dlnsam
from dlnsam import _flow_kernel, _kernels, training

__all__ = ["direction_time", "flow_rhs_time", "read_time", "row_passes_time", "run_chunk_time"]

FASTMATH = _kernels.FASTMATH


@njit(cache=True, fastmath=FASTMATH)
def _row_passes_loop(X, y, rows, u, v, rho, m, calls):
    n, d = X.shape
    work = np.zeros((_kernels.WORK_ROWS, d))
    r = np.empty(n)
    beta, s, G, H, H1, p = work[0], work[1], work[2], work[3], work[6], work[5]
    for c in range(d):
        beta[c] = u[c] * v[c]
        s[c] = u[c] * u[c] + v[c] * v[c]
        p[c] = 1e-3 * beta[c]
    total = 0.0
    for _ in range(calls):
        if rho == 0.0:
            total += _kernels._residual_pass(X, y, rows, 0, n, beta, r, G)
        elif m == 1:
            total += _kernels._one_sam_rows(
                X, y, rows, 0, n, beta, s, rho, False, 0.0, False, G, H, H1, r
            )
        else:
            total += _kernels._residual_pass(X, y, rows, 0, n, beta, r, G)
            _kernels._perturbed_pass(X, rows, 0, n, p, r, H)
    return total


@njit(cache=True, fastmath=FASTMATH)
def _direction_loop(X, y, rows, u, v, rho, m, calls):
    n, d = X.shape
    work = np.zeros((_kernels.WORK_ROWS, d))
    r = np.empty(n)
    du = np.empty(d)
    dv = np.empty(d)
    total = 0.0
    for _ in range(calls):
        if rho == 0.0:  # as in run_chunk: GD's copy compiled with ρ = 0 a constant
            total += _kernels.sam_direction(
                X, y, rows, u, v, 0.0, m, False, 0.0, False, work, r, du, dv
            )
        else:
            total += _kernels.sam_direction(
                X, y, rows, u, v, rho, m, False, 0.0, False, work, r, du, dv
            )
    return total


@njit(cache=True, fastmath=FASTMATH)
def _flow_rhs_loop(X, y, rows, z, rho, m, calls):
    n, d = X.shape
    work = np.zeros((_kernels.WORK_ROWS, d))
    r = np.empty(n)
    du = np.empty(d)
    dv = np.empty(d)
    out = np.empty(z.shape[0])
    total = 0.0
    for _ in range(calls):
        total += _flow_kernel.flow_rhs(
            X, y, rows, z, rho, m, False, 0.0, work, r, du, dv, None, out
        )
    return total


@njit(cache=True, fastmath=FASTMATH)
def _read_serial(X, calls):
    flat = X.reshape(X.size)  # X is C-contiguous: one run of memory, no per-row sums
    total = 0.0
    for _ in range(calls):
        acc = 0.0
        for j in range(flat.shape[0]):
            acc += flat[j]
        total += acc
    return total


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def _read_parallel(X, chunks, calls):
    n = X.shape[0]
    sums = np.zeros(chunks)
    for _ in range(calls):
        for t in prange(chunks):  # rows split as in _kernels.sam_direction_parallel
            # Inside prange an array argument has no known layout, and a 1-D loop
            # over it becomes gathers; its rows lo..hi, made contiguous here (a
            # view, checked at run time), are read as one run of memory again.
            rows = np.ascontiguousarray(X[t * n // chunks : (t + 1) * n // chunks])
            flat = rows.reshape(rows.size)
            acc = 0.0
            for j in range(flat.shape[0]):
                acc += flat[j]
            sums[t] += acc
    return sums.sum()


def _best_per_call(run: Callable[[int], object], calls: int, repeats: int) -> float:
    """Seconds per call: the fastest of ``repeats`` loops of ``calls`` calls (after a warm-up)."""
    run(1)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        run(calls)
        best = min(best, time.perf_counter() - start)
    return best / calls


def _point(problem: dlnsam.Problem, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """An interior point (u, v) of the flow from α, so no coordinate is exactly 0."""
    u, v = training.initial_point(problem.d, alpha)
    rng = np.random.default_rng(0)
    return u + 0.01 * rng.standard_normal(problem.d), v + 0.01 * rng.standard_normal(problem.d)


def _rho_m(algorithm: dlnsam.Algorithm, n: int) -> tuple[float, int]:
    params = algorithm.kernel_params(n)
    return params.rho, params.m


def _full_batch_time(loop, problem: dlnsam.Problem, algorithm: dlnsam.Algorithm, calls: int,
                     repeats: int) -> float:  # fmt: skip
    """Seconds per call of one of the compiled loops above at an interior point, full batch."""
    rho, m = _rho_m(algorithm, problem.n)
    # X as dlnsam.run gives it to the kernel, (u, v) padded alike with zeros
    X = training.kernel_design(problem.X, None)
    u, v = (training.kernel_vector(a, X.shape[1]) for a in _point(problem, 0.05))
    rows = np.arange(problem.n)
    return _best_per_call(lambda k: loop(X, problem.y, rows, u, v, rho, m, k), calls, repeats)


def row_passes_time(problem: dlnsam.Problem, algorithm: dlnsam.Algorithm, calls: int,
                    repeats: int) -> float:  # fmt: skip
    """Seconds of the passes over the rows of X of one full-batch step (see the module doc)."""
    return _full_batch_time(_row_passes_loop, problem, algorithm, calls, repeats)


def direction_time(problem: dlnsam.Problem, algorithm: dlnsam.Algorithm, calls: int,
                   repeats: int) -> float:  # fmt: skip
    """Seconds of one full-batch SAM(ρ, m) direction (``_kernels.sam_direction``)."""
    return _full_batch_time(_direction_loop, problem, algorithm, calls, repeats)


def run_chunk_time(problem: dlnsam.Problem, algorithm: dlnsam.Algorithm, lr: float, alpha: float,
                 steps: int, repeats: int) -> float:  # fmt: skip
    """Seconds per step of the training kernel ``_kernels.run_chunk`` called directly."""
    params = algorithm.kernel_params(problem.n)
    u0, v0 = training.initial_point(problem.d, alpha)
    data = training.kernel_inputs(problem, u0, v0)
    rows = np.arange(problem.n)[None, :]
    no_record = np.zeros(0, dtype=np.int64)
    hist = np.zeros((0, 2))

    X = training.kernel_design(data.X, None)

    def run(count: int) -> None:
        # (u, v) and their previous values padded and aligned as X, as run() does
        u, v, u_prev, v_prev = (training.kernel_vector(a, X.shape[1]) for a in (u0, v0, u0, v0))
        _kernels.run_chunk(
            X, data.y, data.X_test, data.y_test, u, v, u_prev, v_prev,
            np.full(count, lr), rows, params.rho, params.m, params.normalize, params.eps,
            no_record, hist, np.zeros(2, dtype=np.int64), np.zeros(2), data.max_loss, -1.0,
            None,
        )  # fmt: skip

    return _best_per_call(run, steps, repeats)


def flow_rhs_time(problem: dlnsam.Problem, algorithm: dlnsam.Algorithm, calls: int,
                repeats: int) -> float:  # fmt: skip
    """Seconds of one evaluation of the flow's right-hand side (``_flow_kernel.flow_rhs``)."""
    rho, m = _rho_m(algorithm, problem.n)
    u, v = _point(problem, 0.05)
    d = problem.d
    z = np.zeros(4 * d + 1)
    z[:d], z[d : 2 * d] = u, v
    rows = np.arange(problem.n)
    return _best_per_call(
        lambda k: _flow_rhs_loop(problem.X, problem.y, rows, z, rho, m, k), calls, repeats
    )


def read_time(X: np.ndarray, repeats: int, calls: int | None = None) -> float:
    """Seconds of one streaming read of X (a sum of its entries), as the kernel would read it.

    Serial or parallel over the same row chunks as the training kernel for a
    full batch (:func:`dlnsam.training.parallel_chunks`), on X as the kernel
    is given it (:func:`dlnsam.training.kernel_design`).
    """
    n, d = X.shape
    part = training.parallel_chunks(n, d)  # first: it also starts numba's threads
    X = np.ascontiguousarray(training.kernel_design(X, part))
    calls = max(3, 50_000_000 // X.size) if calls is None else calls
    if part is None:
        return _best_per_call(lambda k: _read_serial(X, k), calls, repeats)
    chunks = part.shape[0]
    return _best_per_call(lambda k: _read_parallel(X, chunks, k), calls, repeats)
