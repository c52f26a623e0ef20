"""Discrete-time training of the diagonal linear network β = u ⊙ v."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np
from numpy.typing import ArrayLike, NDArray

from dlnsam import kernels
from dlnsam._validation import (
    alpha_vector,
    as_float_array,
    nonnegative_int,
    positive_float,
    schedule,
)
from dlnsam.algorithms import GD, SAM, SGD, Algorithm, KernelParams
from dlnsam.problems import Problem
from dlnsam.results import History, Status, outcome
from dlnsam.status import DIVERGED, RUNNING

__all__ = ["RunResult", "default_record_steps", "initial_point", "run", "run_schedule"]

#: A per-step value: a constant, an array of one value per step, or a function of the step t.
Schedule = float | ArrayLike | Callable[[int], float]

#: A loss above this multiple of the loss scale max(L(θ_0), L(0)) is a divergence.
DIVERGENCE_FACTOR = 1e10

# Steps per kernel call. Between calls the Python layer draws the next batches
# and can be interrupted without losing what was computed. The batch stream
# does not depend on this size (tested).
_CHUNK_STEPS = 8192
_CHUNK_FLOATS = 1 << 22
# Batches up to this size are selected (O(n + b² log(n/b)) per step), larger
# ones sorted (O(n log n)).
_SELECT_UP_TO = 32


@dataclass(frozen=True, eq=False)
class RunResult:
    """The outcome of :func:`run`.

    Attributes
    ----------
    u, v : (d,) ndarray
        Final parameters (the last iterate with a finite loss if diverged).
    beta : (d,) ndarray
        Final predictor u ⊙ v.
    train_loss : float
        L(β) = ‖Xβ − y‖² / (2n) at the final iterate.
    test_loss : float or None
        Test loss at the final iterate, when the problem has a test set.
    history : History
        Train (and test) loss at the recorded step indices.
    integral_loss : float
        Σ_t γ_t L(θ_t) over the steps taken, the discrete ∫ L ds in the time
        of the u ⊙ v parametrization.
    status : Status
        ``converged`` (loss below ``loss_tol``), ``max_steps``, ``diverged``
        or ``interrupted``.
    message : str
        A readable account of the status.
    n_steps : int
        Number of updates applied to reach (u, v).
    algorithm : Algorithm
        The algorithm that was run.
    wall_time : float
        Seconds spent in :func:`run`.
    """

    u: NDArray[np.float64]
    v: NDArray[np.float64]
    beta: NDArray[np.float64]
    train_loss: float
    test_loss: float | None
    history: History
    integral_loss: float
    status: Status
    message: str
    n_steps: int
    algorithm: Algorithm
    wall_time: float


def initial_point(
    d: int,
    alpha: ArrayLike | None = None,
    u0: ArrayLike | None = None,
    v0: ArrayLike | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Resolve the initialization θ_0 = (u_0, v_0).

    Either ``alpha`` (scalar or (d,), > 0) giving u_0 = 2α, v_0 = 0 — the
    initialization w₊ = w₋ = α of the ± parametrization, so α is the scale of
    the hypentropy potential — or both explicit arrays ``u0``, ``v0`` of shape
    (d,). Giving neither, or both, is a ``ValueError``.

    Examples
    --------
    >>> from dlnsam import initial_point
    >>> initial_point(2, alpha=0.5)
    (array([1., 1.]), array([0., 0.]))
    """
    if alpha is not None and (u0 is not None or v0 is not None):
        raise ValueError("give either alpha or (u0, v0), not both")
    if alpha is not None:
        return 2.0 * alpha_vector(alpha, d), np.zeros(d)
    if u0 is None or v0 is None:
        raise ValueError("give alpha (u0 = 2*alpha, v0 = 0) or both u0 and v0")
    u = as_float_array(u0, "u0", 1).copy()
    v = as_float_array(v0, "v0", 1).copy()
    for name, arr in (("u0", u), ("v0", v)):
        if arr.shape != (d,):
            raise ValueError(f"{name} must have shape ({d},), got {arr.shape}")
    return u, v


def default_record_steps(steps: int, dense: int = 100, n_log: int = 200) -> NDArray[np.int64]:
    """Every step up to ``dense``, then about ``n_log`` log-spaced steps to ``steps``.

    Examples
    --------
    >>> from dlnsam import default_record_steps
    >>> default_record_steps(5).tolist()
    [0, 1, 2, 3, 4, 5]
    """
    head = np.arange(min(steps, dense) + 1)
    if steps <= dense:
        return head
    tail = np.unique(np.geomspace(dense, steps, n_log).round().astype(np.int64))
    return np.union1d(head, np.append(tail, steps)).astype(np.int64)


def _step_indices(
    value: ArrayLike, name: str, low: int, high: int, *, unique: bool
) -> NDArray[np.int64]:
    """A sorted 1-D array of integer steps in [low, high] (empty is fine)."""
    arr = np.asarray(value)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be a 1-D sequence of integer step indices")
    if arr.min() < low or arr.max() > high:
        raise ValueError(f"{name} entries must lie in [{low}, steps = {high}]")
    return (np.unique(arr) if unique else np.sort(arr)).astype(np.int64)


#: Work per step (batch size x d) from which the parallel kernel is used.
PARALLEL_MIN_WORK = 1 << 18

#: Fewest rows of the batch per chunk of the parallel kernel. A chunk costs a
#: few passes over d-vectors of its own (zeroing and summing its partial sums),
#: so a wide batch (d large, few rows) is split into fewer chunks, and one of
#: fewer than 2 * PARALLEL_MIN_ROWS rows is run serially, where chunking a
#: handful of rows costs more than it saves.
PARALLEL_MIN_ROWS = 50


def parallel_chunks(batch_size: int, d: int) -> NDArray[np.float64] | None:
    """The chunk buffer that selects the kernel: None for serial, else parallel.

    Parallel when a step touches at least ``PARALLEL_MIN_WORK`` entries of X
    and the batch fills at least two chunks of ``PARALLEL_MIN_ROWS`` rows;
    small or wide batches stay serial, where threads cost more than they save
    (and the parallel kernel is then never compiled). The choice and the chunk
    count, at most ``kernels.PARALLEL_CHUNKS``, depend on the shape only,
    never on the thread count: with one thread the chunked kernel still runs,
    its chunks one after another, so that the summation order, hence every bit
    of a run or a flow, is the same on any number of cores (on the same
    machine and build).

    Parameters
    ----------
    batch_size : int
        Rows of X per step.
    d : int
        Columns of X.

    Returns
    -------
    ndarray, shape (chunks, kernels.PART_ROWS, d), or None
        Zeros: the per-chunk partial sums of the parallel kernel.

    Examples
    --------
    >>> from dlnsam.training import parallel_chunks
    >>> parallel_chunks(20, 30) is None
    True
    """
    # numba.get_num_threads() comes first: it starts numba's threads, which a
    # parallel kernel reached through a cached serial caller does not do. Its
    # value is deliberately unused (see above).
    numba.get_num_threads()
    chunks = min(kernels.PARALLEL_CHUNKS, batch_size // PARALLEL_MIN_ROWS)
    if chunks >= 2 and batch_size * d >= PARALLEL_MIN_WORK:
        return np.zeros((chunks, kernels.PART_ROWS, d))
    return None


#: The serial kernel is given X padded to a multiple of ``kernels.COLUMN_BLOCK``
#: columns when the padded copy has at most this many entries (8 MiB).
PAD_MAX_ENTRIES = 1 << 20

#: Bytes to which the padded copies start: a cache line, and a 512-bit vector.
#: A row then never straddles more cache lines than it must, which the
#: memory-bound GD and n-SAM steps feel at small d.
ALIGNMENT = 64


def aligned_zeros(shape: int | tuple[int, ...]) -> NDArray[np.float64]:
    """Zeros, C-contiguous, starting at a multiple of ``ALIGNMENT`` bytes.

    Examples
    --------
    >>> from dlnsam.training import ALIGNMENT, aligned_zeros
    >>> a = aligned_zeros((3, 8))
    >>> a.shape, a.ctypes.data % ALIGNMENT, a.flags.c_contiguous
    ((3, 8), 0, True)
    """
    size = math.prod(shape) if isinstance(shape, tuple) else int(shape)
    per = ALIGNMENT // 8
    buffer = np.zeros(size + per)
    start = (-(_address(buffer) % ALIGNMENT) // 8) % per
    return buffer[start : start + size].reshape(shape)


def _address(a: NDArray[np.float64]) -> int:
    # The array interface, not ``a.ctypes``, which builds a ctypes object per call.
    return int(a.__array_interface__["data"][0])


def _is_aligned(a: NDArray[np.float64]) -> bool:
    return a.flags.c_contiguous and _address(a) % ALIGNMENT == 0


def kernel_design(X: NDArray[np.float64], part: NDArray[np.float64] | None) -> NDArray[np.float64]:
    """X as the training kernel takes it: padded with zero columns when that is faster.

    For the serial kernel (``part`` None) on a small X, zero columns are
    appended up to a multiple of ``kernels.COLUMN_BLOCK``, so that the
    vectorized loops over a row have no scalar remainder, into a copy that
    starts at a multiple of ``ALIGNMENT`` bytes; the result is the same up to
    rounding. Otherwise, or when X already has whole blocks of columns and is
    so aligned, X itself is returned.

    Parameters
    ----------
    X : ndarray, shape (n, d)
        The design matrix of the run.
    part : ndarray or None
        The chunk buffer of :func:`parallel_chunks` (None: the serial kernel).

    Returns
    -------
    ndarray, shape (n, d) or (n, d')
        X, or a padded aligned copy with d' the next multiple of
        ``COLUMN_BLOCK`` (d' = d when d already is one).

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam.training import kernel_design
    >>> kernel_design(np.ones((20, 30)), None).shape
    (20, 32)
    >>> kernel_design(np.ones((20, 32)), None).shape
    (20, 32)
    """
    n, d = X.shape
    width = -(-d // kernels.COLUMN_BLOCK) * kernels.COLUMN_BLOCK
    if part is not None or n * width > PAD_MAX_ENTRIES or (width == d and _is_aligned(X)):
        return X
    padded = aligned_zeros((n, width))
    padded[:, :d] = X
    return padded


def kernel_vector(a: NDArray[np.float64], width: int) -> NDArray[np.float64]:
    """A copy of the d-vector ``a`` padded with zeros to ``width`` entries, aligned as X.

    The serial kernel runs its work on (u, v) over len(u) entries: given u and
    v padded alike with X's zero columns, those loops have no remainder
    either. The padding entries stay exactly 0 (their β, s and gradient are 0).
    """
    out = aligned_zeros(width)
    out[: a.shape[0]] = a
    return out


class KernelInputs(NamedTuple):
    """Arrays shared by the training and flow kernels, prepared once per call."""

    X: NDArray[np.float64]
    y: NDArray[np.float64]
    X_test: NDArray[np.float64]  # (0, d) when there is no test set
    y_test: NDArray[np.float64]
    loss0: float  # L(θ_0)
    max_loss: float  # a loss above this is a divergence


def kernel_inputs(problem: Problem, u: NDArray[np.float64], v: NDArray[np.float64]) -> KernelInputs:
    """The test set (or empty arrays), L(θ_0) and the divergence threshold for a run from (u, v)."""
    X, y = problem.X, problem.y
    if problem.X_test is not None and problem.y_test is not None:
        X_test, y_test = problem.X_test, problem.y_test
    else:
        X_test, y_test = np.zeros((0, problem.d)), np.zeros(0)
    loss0 = float(kernels.half_mse(X, y, u * v))
    if not np.isfinite(loss0):
        raise ValueError(
            "the initial loss L(u0 * v0) is not finite; rescale X, y or the initialization"
        )
    scale = max(loss0, float(y @ y) / (2 * problem.n), np.finfo(np.float64).tiny)
    return KernelInputs(X, y, X_test, y_test, loss0, DIVERGENCE_FACTOR * scale)


def draw_batches(rng: np.random.Generator, n: int, b: int, count: int) -> NDArray[np.int64]:
    """Draw ``count`` batches of ``b`` distinct rows out of ``n``, each in random order.

    Row t is the first b entries of a uniform random permutation of range(n)
    (a stable argsort of n uniforms), so consecutive calls continue one stream.
    Small batches are selected in compiled code (:func:`dlnsam.kernels.smallest`),
    with the same result as the sort.

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam.training import draw_batches
    >>> draw_batches(np.random.default_rng(0), 5, 2, 3).shape
    (3, 2)
    """
    uniforms = rng.random((count, n))
    if b <= _SELECT_UP_TO:
        return kernels.smallest(uniforms, b)
    return np.ascontiguousarray(np.argsort(uniforms, axis=1, kind="stable")[:, :b])


#: The models :func:`run` trains: β = u ⊙ v, or β = w.
MODELS = ("diagonal", "linear")


def _check_model(
    model: object, params: KernelParams, alpha: ArrayLike | None, v0: ArrayLike | None
) -> bool:
    """Whether the model is least squares in w; its options must make sense there."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(map(repr, MODELS))}, got {model!r}")
    if model == "diagonal":
        return False
    if alpha is not None or v0 is not None:
        raise ValueError(
            "model='linear' trains w alone, started at u0 (default 0): alpha and v0 do not apply"
        )
    for option in ("normalized_descent", "loss_derivative_only"):
        if getattr(params, option):
            raise ValueError(
                f"{option} acts on the factors (u, v) of the diagonal network, "
                "not on the linear model"
            )
    return True


def _check_algorithm(algorithm: object) -> Algorithm:
    if not isinstance(algorithm, (GD, SGD, SAM)):
        raise ValueError(
            f"algorithm must be GD(), SGD(batch_size) or SAM(rho, ...), got {algorithm!r}"
        )
    return algorithm


def _divergence_cause(
    X: NDArray[np.float64], lr: float, rho: float, alpha: ArrayLike | None, scale: float
) -> str:
    """Name what made a run diverge: the initialization when it alone makes lr unstable.

    Near θ_0 the curvature of L along (u, v) is about max(|u0|, |v0|)² ‖X‖²/n, so
    a gradient step is unstable from the start once lr exceeds 2 over it.
    """
    n = X.shape[0]
    w = np.ones(X.shape[1]) / np.sqrt(X.shape[1])
    top = 0.0
    for _ in range(30):  # power iteration: a lower bound on ‖X‖², enough to name a cause
        w = X.T @ (X @ w)
        top = float(np.linalg.norm(w))
        if not top > 0.0:
            break
        w /= top
    with np.errstate(over="ignore"):
        curvature = scale * scale * top / n
    step = f"lr = {lr:g}" if rho == 0.0 else f"lr = {lr:g} or rho = {rho:g}"
    # Below unit scale the initialization is not what limits lr.
    if scale > 1.0 and lr * curvature > 2.0:
        init = (
            f"alpha = {float(np.max(alpha)):g}"
            if alpha is not None
            else f"max(|u0|, |v0|) = {scale:g}"
        )
        bound = (
            f"the largest stable lr is about {2.0 / curvature:.3g}"
            if np.isfinite(curvature) and curvature > 0.0
            else "no lr is stable in floating point"
        )
        return (
            f"{init} is too large for lr = {lr:g}: near the initialization the curvature "
            f"of the loss grows as alpha^2, and here {bound}"
        )
    return f"{step} is too large for this problem"


class _RunSetup(NamedTuple):
    """Everything :func:`run` has validated and built before its first step."""

    problem: Problem
    algorithm: Algorithm
    params: KernelParams
    data: kernels.Data
    controls: kernels.Controls
    state: kernels.State
    milestones: NDArray[np.int64]
    part: NDArray[np.float64] | None
    loss0: float
    u0_scale: float
    lr: float | NDArray[np.float64]  # γ, or γ_t per step
    rho: float | NDArray[np.float64]  # the algorithm's ρ, or ρ_t per step
    steps: int
    seed: int
    linear: bool  # least squares in w = u (v = 1, not trained)


def _prepare_run(
    problem: Problem,
    algorithm: Algorithm,
    lr: Schedule,
    steps: int,
    alpha: ArrayLike | None,
    u0: ArrayLike | None,
    v0: ArrayLike | None,
    lr_decay: Sequence[int] | None,
    record: ArrayLike | None,
    seed: int,
    loss_tol: float | None,
    rho: Schedule | None,
    model: str = "diagonal",
) -> _RunSetup:
    """Validate the arguments of :func:`run` and build the kernel's records."""
    if not isinstance(problem, Problem):
        raise ValueError(f"problem must be a dlnsam.Problem, got {type(problem).__name__}")
    algorithm = _check_algorithm(algorithm)
    steps = nonnegative_int(steps, "steps")
    lr = schedule(lr, steps, "lr")
    if rho is not None and not isinstance(algorithm, SAM):
        raise ValueError(f"rho: a radius per step needs a SAM algorithm, got {algorithm!r}")
    seed = nonnegative_int(seed, "seed")
    if loss_tol is not None:
        loss_tol = positive_float(loss_tol, "loss_tol", allow_zero=True)
        if loss_tol >= 1.0:
            raise ValueError(
                f"loss_tol must be < 1, got {loss_tol:g}: the run stops once "
                "L <= loss_tol x L(0), so it would stop before its first step"
            )
    params = algorithm.kernel_params(problem.n)
    rho = params.rho if rho is None else schedule(rho, steps, "rho", allow_zero=True)
    linear = _check_model(model, params, alpha, v0)
    if linear:
        u = np.zeros(problem.d) if u0 is None else as_float_array(u0, "u0", 1, copy=True)
        if u.shape != (problem.d,):
            raise ValueError(f"u0 must have shape ({problem.d},), got {u.shape}")
        v = np.ones(problem.d)
        u0_scale = 0.0  # no initialization scale to blame for a divergence
    else:
        u, v = initial_point(problem.d, alpha, u0, v0)
        u0_scale = float(np.max(np.maximum(np.abs(u), np.abs(v))))
    rec = (
        default_record_steps(steps)
        if record is None
        else _step_indices(record, "record", 0, steps, unique=True)
    )
    milestones = (
        np.zeros(0, dtype=np.int64)
        if lr_decay is None
        else _step_indices(lr_decay, "lr_decay", 1, steps, unique=False)
    )
    inputs = kernel_inputs(problem, u, v)
    stop_loss = -1.0 if loss_tol is None else loss_tol * inputs.loss0
    part = None if linear else parallel_chunks(params.batch_size, problem.d)
    X_kernel = kernel_design(inputs.X, part)
    width = X_kernel.shape[1]
    if X_kernel is inputs.X:
        u_prev, v_prev = u.copy(), v.copy()
    else:  # (u, v) padded and aligned as X; sliced back by _final_iterate
        u, v = kernel_vector(u, width), kernel_vector(v, width)
        u_prev, v_prev = kernel_vector(u, width), kernel_vector(v, width)
    return _RunSetup(
        problem=problem,
        algorithm=algorithm,
        params=params,
        data=kernels.Data(X_kernel, inputs.y, inputs.X_test, inputs.y_test),
        controls=kernels.Controls(inputs.max_loss, stop_loss, rec),
        state=kernels.new_state(u, v, u_prev, v_prev, rec.size),
        milestones=milestones,
        part=part,
        loss0=inputs.loss0,
        u0_scale=u0_scale,
        lr=lr,
        rho=rho,
        steps=steps,
        seed=seed,
        linear=linear,
    )


def _per_step(value: float | NDArray[np.float64], t: int, count: int) -> NDArray[np.float64]:
    """The values of steps t, ..., t + count − 1 of a constant or a per-step array."""
    if isinstance(value, np.ndarray):
        return value[t : t + count]
    return np.full(count, value)


def chunk_rates(
    setup: _RunSetup, t: int, count: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(γ_t, ρ_t) of steps t, ..., t + count − 1: the schedules, with ``lr_decay``'s halvings."""
    lrs = _per_step(setup.lr, t, count)
    if setup.milestones.size:
        halvings = np.searchsorted(setup.milestones, np.arange(t, t + count), side="right")
        lrs = lrs * 0.5**halvings
    return lrs, _per_step(setup.rho, t, count)


def _step_chunks(setup: _RunSetup, stop: threading.Event | None = None) -> tuple[int, bool]:
    """Run the kernel chunk by chunk up to ``steps``; returns (status code, interrupted).

    A set ``stop`` interrupts the run between two chunks, as Ctrl-C does.
    """
    n, b = setup.problem.n, setup.params.batch_size
    steps, seed = setup.steps, setup.seed
    rng = np.random.default_rng(seed)
    full_rows = np.arange(n, dtype=np.int64)[None, :]
    chunk = max(1, min(_CHUNK_STEPS, _CHUNK_FLOATS // n))
    state = setup.state
    code = RUNNING
    try:
        while state.step[0] < steps and code == RUNNING:
            if stop is not None and stop.is_set():
                return code, True
            t = int(state.step[0])
            count = min(chunk, steps - t)
            full = setup.params.full_batch
            batches = full_rows if full else draw_batches(rng, n, b, count)
            lrs, rhos = chunk_rates(setup, t, count)
            code = kernels.run_chunk(setup.data, setup.params, setup.controls, state, lrs, rhos,
                                     batches, setup.part, setup.linear)  # fmt: skip
    except KeyboardInterrupt:
        return code, True
    return code, False


class _FinalIterate(NamedTuple):
    code: int
    n_steps: int
    u: NDArray[np.float64]
    v: NDArray[np.float64]
    beta: NDArray[np.float64]
    train_loss: float
    integral: float


def _final_iterate(setup: _RunSetup, code: int) -> _FinalIterate:
    """The iterate to return: (u, v) unpadded, or θ_{t−1} if the last update blew up."""
    d = setup.problem.d
    X, y = setup.problem.X, setup.problem.y
    state = setup.state
    n_steps = int(state.step[0])
    u, v = state.u[:d].copy(), state.v[:d].copy()
    beta = u * v
    train_loss = float(kernels.half_mse(X, y, beta))
    integral = float(state.integral[0])
    if not train_loss <= setup.controls.max_loss:
        # The last update blew up (the kernel checks a loss before each update).
        code = DIVERGED
        u, v = state.u_prev[:d].copy(), state.v_prev[:d].copy()
        beta = u * v
        train_loss = float(kernels.half_mse(X, y, beta))
        n_steps -= 1
    else:
        integral += float(state.pending[0])  # the last update is accepted
    return _FinalIterate(code, n_steps, u, v, beta, train_loss, integral)


def _history(
    setup: _RunSetup, n_steps: int, train_loss: float, test_loss: float | None
) -> History:
    """The recorded losses, ending with those of the returned iterate."""
    rec_pos = int(setup.state.record_pos[0])
    steps_rec = setup.controls.record[:rec_pos]
    hist_rec = setup.state.history[:rec_pos]
    if rec_pos == 0 or steps_rec[-1] != n_steps:
        steps_rec = np.append(steps_rec, n_steps)
        hist_rec = np.vstack([hist_rec, [train_loss, np.nan if test_loss is None else test_loss]])
    return History(
        steps=steps_rec,
        train_loss=hist_rec[:, 0].copy(),
        test_loss=hist_rec[:, 1].copy() if setup.problem.has_test else None,
    )


def run(
    problem: Problem,
    algorithm: Algorithm,
    *,
    lr: Schedule,
    steps: int,
    alpha: ArrayLike | None = None,
    u0: ArrayLike | None = None,
    v0: ArrayLike | None = None,
    lr_decay: Sequence[int] | None = None,
    record: ArrayLike | None = None,
    seed: int = 0,
    loss_tol: float | None = None,
    rho: Schedule | None = None,
    model: str = "diagonal",
) -> RunResult:
    """Train β = u ⊙ v (or least squares in β = w) with GD, SGD or SAM(ρ, m).

    Parameters
    ----------
    problem : Problem
        Data X (n, d), y (n,), optional test set.
    algorithm : GD, SGD or SAM
        The update rule, see :mod:`dlnsam.algorithms`.
    lr : float, (steps,) array_like or callable
        Step size γ > 0, or γ_t per step: an array, or a function ``t -> γ_t``
        called at t = 0, ..., steps − 1 before any step (a schedule).
    steps : int
        Maximum number of updates.
    alpha : float or (d,) array_like, optional
        Initialization scale: u_0 = 2α, v_0 = 0 (the hypentropy scale).
    u0, v0 : (d,) array_like, optional
        Explicit initialization instead of ``alpha`` (give both).
    lr_decay : sequence of int, optional
        Steps at which γ is halved: the update from θ_t uses
        γ · 2^(−#{milestones ≤ t}) (a step listed twice halves twice).
    record : sequence of int, optional
        Steps t at which L(θ_t) (and the test loss) are stored. Default: every
        step up to 100, then about 200 log-spaced steps.
    seed : int, default 0
        Seed of the batch sampler (stochastic algorithms only).
    loss_tol : float, optional
        Stop with status ``converged`` once L(θ_t) ≤ loss_tol · L(θ_0); must
        be < 1. By default all ``steps`` updates are made.
    rho : float, (steps,) array_like or callable, optional
        SAM only: the radius ρ_t ≥ 0 of each step, in place of the
        algorithm's ρ; given as ``lr`` is.
    model : {"diagonal", "linear"}, default "diagonal"
        ``"linear"``: least squares in w itself, β = w, with the same
        algorithms (ℓ_i(w) = ½(x_iᵀw − y_i)²). The result's ``u`` holds w and
        ``v`` is 1; ``u0`` is the start w_0 (default 0) and ``alpha``, ``v0``
        do not apply, nor do ``normalized_descent`` and ``loss_derivative_only``.

    Returns
    -------
    RunResult
        Final u, v, β, losses, history, ``integral_loss`` = Σ_t γ_t L(θ_t),
        status and message.

    Raises
    ------
    ValueError
        For invalid arguments, before any kernel runs.

    Notes
    -----
    With θ = (u, v), β = u ⊙ v and L(β) = ‖Xβ − y‖²/(2n), each update is
    θ ← θ − γ D(θ), with D the gradient of L on the batch (GD, SGD) or the
    SAM(ρ, m) direction averaged over the micro-batches S_j of the batch,

    .. math:: D = \\frac{1}{k} \\sum_j \\nabla L_{S_j}(\\theta + \\rho \\nabla L_{S_j}(\\theta)).

    The algorithms' step options change the update: ``weight_decay`` λ makes it
    θ ← θ − γ D − λ θ, ``normalized_descent`` divides each block of D by its
    norm, and SAM's ``loss_derivative_only`` keeps only the residual of the
    perturbed point in D (see :class:`dlnsam.SAM`).

    A loss that becomes non-finite or exceeds 1e10 times max(L(θ_0), L(0))
    stops the run with status ``diverged`` at once.

    Examples
    --------
    >>> from dlnsam import SAM, gaussian_problem, run
    >>> p = gaussian_problem(n=20, d=30, k=3, seed=0)
    >>> res = run(p, SAM(rho=0.1, m=1), lr=0.05, steps=2000, alpha=0.05)
    >>> res.status.value, res.train_loss < 1e-3
    ('max_steps', True)

    Schedules: γ_t = 0.1/√(t + 1) and ρ_t = 0.1 γ_t,

    >>> res = run(p, SAM(rho=0.1, m=1), lr=lambda t: 0.1 / (t + 1) ** 0.5, steps=100,
    ...           rho=lambda t: 0.01 / (t + 1) ** 0.5, alpha=0.05)
    >>> res.n_steps
    100
    """
    start = time.perf_counter()
    setup = _prepare_run(problem, algorithm, lr, steps, alpha, u0, v0, lr_decay, record, seed,
                         loss_tol, rho, model)  # fmt: skip
    code, interrupted = _step_chunks(setup)
    return _result(setup, code, interrupted, alpha, start)


def _result(
    setup: _RunSetup, code: int, interrupted: bool, alpha: ArrayLike | None, start: float
) -> RunResult:
    """The :class:`RunResult` of a run whose kernel stopped with status ``code``."""
    problem = setup.problem
    end = _final_iterate(setup, code)
    code, n_steps, beta, train_loss = end.code, end.n_steps, end.beta, end.train_loss
    test_loss = problem.test_loss(beta) if problem.has_test else None
    diverged = code == DIVERGED and not interrupted
    lr, rho = (float(np.max(x, initial=0.0)) for x in (setup.lr, setup.rho))  # the largest
    status, message = outcome(
        "run", code, interrupted, n_steps=n_steps, next_step=n_steps + 1, steps=setup.steps,
        train_loss=train_loss, max_loss=setup.controls.max_loss,
        cause=_divergence_cause(problem.X, lr, rho, alpha, setup.u0_scale) if diverged else "",
    )  # fmt: skip
    return RunResult(
        u=end.u,
        v=end.v,
        beta=beta,
        train_loss=train_loss,
        test_loss=test_loss,
        history=_history(setup, n_steps, train_loss, test_loss),
        integral_loss=end.integral,
        status=status,
        message=message,
        n_steps=n_steps,
        algorithm=setup.algorithm,
        wall_time=time.perf_counter() - start,
    )


def run_schedule(
    problem: Problem,
    schedule: Sequence[tuple[Algorithm, int]],
    *,
    lr: float,
    alpha: ArrayLike | None = None,
    u0: ArrayLike | None = None,
    v0: ArrayLike | None = None,
    seed: int = 0,
) -> RunResult:
    """Train with a sequence of algorithms, each continuing from where the last stopped.

    Parameters
    ----------
    problem : Problem
        The data.
    schedule : sequence of (Algorithm, int)
        Each phase's algorithm and number of steps, e.g.
        ``[(GD(), 5000), (SAM(0.2, m=1), 5000)]`` to fine-tune ERM with 1-SAM.
    lr, alpha, u0, v0, seed
        As in :func:`run`; phase j draws its batches from seed ``seed + j``.

    Returns
    -------
    RunResult
        The final state; ``history`` concatenates the phases' histories on the
        global step count (each phase recorded on the default grid of its own
        length, shifted), ``integral_loss`` and ``n_steps`` add up, and
        ``algorithm`` is the last phase's. A phase that does not end in
        ``max_steps`` (e.g. diverged) ends the schedule.

    Examples
    --------
    >>> from dlnsam import GD, SAM, gaussian_problem, run_schedule
    >>> p = gaussian_problem(n=20, d=30, k=3, seed=0)
    >>> res = run_schedule(p, [(GD(), 500), (SAM(0.1, m=1), 500)], lr=0.05, alpha=0.05)
    >>> res.n_steps, int(res.history.steps[-1])
    (1000, 1000)
    """
    if len(schedule) == 0:
        raise ValueError("schedule must hold at least one (algorithm, steps) phase")
    start = time.perf_counter()
    u, v = initial_point(problem.d, alpha, u0, v0)
    offset, integral = 0, 0.0
    steps_parts, train_parts, test_parts = [], [], []
    res: RunResult | None = None
    for j, (algorithm, steps) in enumerate(schedule):
        res = run(problem, algorithm, lr=lr, steps=steps, u0=u, v0=v, seed=seed + j)
        h = res.history
        keep = slice(1, None) if j else slice(None)  # step 0 of a phase = end of the last
        steps_parts.append(h.steps[keep] + offset)
        train_parts.append(h.train_loss[keep])
        if h.test_loss is not None:
            test_parts.append(h.test_loss[keep])
        offset += res.n_steps
        integral += res.integral_loss
        u, v = res.u, res.v
        if res.status != Status.MAX_STEPS:
            break
    assert res is not None
    history = History(
        steps=np.concatenate(steps_parts),
        train_loss=np.concatenate(train_parts),
        test_loss=np.concatenate(test_parts) if test_parts else None,
    )
    return RunResult(
        u=res.u,
        v=res.v,
        beta=res.beta,
        train_loss=res.train_loss,
        test_loss=res.test_loss,
        history=history,
        integral_loss=integral,
        status=res.status,
        message=f"phase {j + 1}/{len(schedule)} ({res.algorithm.name}): {res.message}",
        n_steps=offset,
        algorithm=res.algorithm,
        wall_time=time.perf_counter() - start,
    )
