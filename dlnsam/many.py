"""Many independent runs at once: Monte-Carlo estimates over seeds.

:func:`run_many` runs R seeds of one stochastic algorithm on one problem, in
parallel over the seeds, and gives stacked arrays of the final values and the
histories on one grid of steps. Run r is the run ``run(..., seed=seeds[r])``
to the bit: the same compiled step loop on the same batch stream.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dlnsam import kernels
from dlnsam._validation import nonnegative_int
from dlnsam.algorithms import Algorithm
from dlnsam.problems import Problem
from dlnsam.results import Status
from dlnsam.training import (
    RunResult,
    Schedule,
    _prepare_run,
    _result,
    _RunSetup,
    _step_chunks,
    aligned_zeros,
)

__all__ = ["RunManyResult", "run_many"]


@dataclass(frozen=True, eq=False)
class RunManyResult:
    """The outcome of :func:`run_many`: R runs, stacked.

    Attributes
    ----------
    seeds : (R,) int ndarray
        The seed of each run.
    u, v, beta : (R, d) ndarray
        Final parameters and predictor of each run.
    train_loss, integral_loss : (R,) ndarray
        L at the final iterate and Σ_t γ_t L(θ_t), per run.
    test_loss : (R,) ndarray or None
        Test loss at the final iterate, when the problem has a test set.
    n_steps : (R,) int ndarray
        Updates applied per run.
    status : tuple of Status
        Each run's status.
    record_steps : (K,) int ndarray
        The steps t at which the losses were recorded, shared by every run.
    history_train, history_test : (R, K) ndarray
        L(θ_t) (and the test loss, or None) at ``record_steps``; NaN after a
        run stopped (converged or diverged).
    runs : tuple of RunResult
        Run r as :func:`dlnsam.run` returns it (``runs[r]`` is also ``result[r]``).
    wall_time : float
        Seconds spent in :func:`run_many`.
    """

    seeds: NDArray[np.int64]
    u: NDArray[np.float64]
    v: NDArray[np.float64]
    beta: NDArray[np.float64]
    train_loss: NDArray[np.float64]
    integral_loss: NDArray[np.float64]
    test_loss: NDArray[np.float64] | None
    n_steps: NDArray[np.int64]
    status: tuple[Status, ...]
    record_steps: NDArray[np.int64]
    history_train: NDArray[np.float64]
    history_test: NDArray[np.float64] | None
    runs: tuple[RunResult, ...]
    wall_time: float

    def __len__(self) -> int:
        return len(self.runs)

    def __getitem__(self, r: int) -> RunResult:
        return self.runs[r]


def _check_seeds(seeds: object) -> NDArray[np.int64]:
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, (Sequence, np.ndarray, range)):
        raise ValueError(f"seeds must be a sequence of integers, got {type(seeds).__name__}")
    out = np.array([nonnegative_int(s, "seeds") for s in seeds], dtype=np.int64)
    if out.size == 0:
        raise ValueError("seeds must hold at least one seed, got none")
    return out


def _usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _check_workers(workers: object, runs: int) -> int:
    if workers is None:
        return max(1, min(runs, _usable_cores()))
    return max(1, min(runs, nonnegative_int(workers, "workers", minimum=1)))


def _seed_setup(setup: _RunSetup, seed: int) -> _RunSetup:
    """The prepared run with its own copy of the start and its own seed."""
    one = setup.state

    def copy(a: NDArray[np.float64]) -> NDArray[np.float64]:
        out = aligned_zeros(a.shape[0])  # aligned as run() aligns a padded start
        out[:] = a
        return out

    state = kernels.new_state(copy(one.u), copy(one.v), copy(one.u_prev), copy(one.v_prev),
                              one.history.shape[0])  # fmt: skip
    return setup._replace(seed=seed, state=state)


def _run_all(setups: list[_RunSetup], workers: int) -> list[tuple[int, bool]]:
    """(status code, interrupted) of every run, ``workers`` runs at a time on threads.

    The step loop releases the GIL, so the threads run in parallel. On Ctrl-C
    every run stops at its next chunk boundary and keeps what it computed.
    """
    stop = threading.Event()
    if workers == 1:
        out = []
        for setup in setups:
            out.append(_step_chunks(setup, stop))  # it returns on Ctrl-C
            if out[-1][1]:
                stop.set()  # the runs after it are interrupted before their first step
        return out
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_step_chunks, setup, stop) for setup in setups]
        try:
            wait(futures)
        except KeyboardInterrupt:
            stop.set()
            wait(futures)
    return [future.result() for future in futures]


def run_many(
    problem: Problem,
    algorithm: Algorithm,
    *,
    seeds: Sequence[int] | NDArray[np.int64] | range,
    lr: Schedule,
    steps: int,
    alpha: ArrayLike | None = None,
    u0: ArrayLike | None = None,
    v0: ArrayLike | None = None,
    lr_decay: Sequence[int] | None = None,
    record: ArrayLike | None = None,
    loss_tol: float | None = None,
    rho: Schedule | None = None,
    model: str = "diagonal",
    workers: int | None = None,
) -> RunManyResult:
    """Run one algorithm from one start with many seeds, in parallel over the seeds.

    Parameters
    ----------
    problem : Problem
        Data X (n, d), y (n,), optional test set.
    algorithm : GD, SGD or SAM
        The update rule; the seed draws its batches (stochastic algorithms).
    seeds : sequence of int
        One run per seed, R in all.
    lr, steps, alpha, u0, v0, lr_decay, record, loss_tol, rho, model
        As in :func:`dlnsam.run`, shared by every run.
    workers : int, optional
        Runs at a time, on threads (default: the usable cores).

    Returns
    -------
    RunManyResult
        Stacked final values ((R, d) and (R,) arrays), histories (R, K) on the
        shared grid of recorded steps, and each run's :class:`~dlnsam.RunResult`.

    Raises
    ------
    ValueError
        For invalid arguments, before any kernel runs.

    Notes
    -----
    Run r makes the updates θ ← θ − γ_t D(θ) of :func:`dlnsam.run` on the batch
    stream of ``numpy.random.default_rng(seeds[r])``, and equals
    ``run(..., seed=seeds[r])`` to the bit: it is the same compiled step loop.
    On problems small enough for the serial step loop, ``workers`` runs go at
    once, on threads; on larger ones each run uses the parallel kernel of
    :func:`dlnsam.run` (all cores), one run after the other.

    Examples
    --------
    >>> from dlnsam import SAM, gaussian_problem, run, run_many
    >>> p = gaussian_problem(n=20, d=30, k=3, seed=0)
    >>> many = run_many(p, SAM(0.1, m=2, batch_size=4), seeds=range(8), lr=0.05, steps=500,
    ...                 alpha=0.05)
    >>> many.beta.shape, many.history_train.shape[0]
    ((8, 30), 8)
    >>> one = run(p, SAM(0.1, m=2, batch_size=4), lr=0.05, steps=500, alpha=0.05, seed=3)
    >>> bool((one.beta == many.beta[3]).all())
    True
    """
    start = time.perf_counter()
    seeds = _check_seeds(seeds)
    setup = _prepare_run(problem, algorithm, lr, steps, alpha, u0, v0, lr_decay, record,
                         int(seeds[0]), loss_tol, rho, model)  # fmt: skip
    workers = _check_workers(workers, seeds.size)
    if setup.part is not None:
        workers = 1  # each run's kernel uses every core already
    setups = [_seed_setup(setup, int(s)) for s in seeds]
    ends = _run_all(setups, workers)
    runs = tuple(
        _result(one, code, interrupted, alpha, start)
        for one, (code, interrupted) in zip(setups, ends, strict=True)
    )
    history = np.stack([one.state.history for one in setups])
    return _stack(seeds, runs, setup.controls.record, history, problem.has_test, start)


def _stack(
    seeds: NDArray[np.int64],
    runs: tuple[RunResult, ...],
    grid: NDArray[np.int64],
    history: NDArray[np.float64],
    has_test: bool,
    start: float,
) -> RunManyResult:
    def stacked(get: Callable[[RunResult], object], dtype: type = np.float64) -> NDArray:
        return np.array([get(res) for res in runs], dtype=dtype)

    return RunManyResult(
        seeds=seeds,
        u=stacked(lambda r: r.u),
        v=stacked(lambda r: r.v),
        beta=stacked(lambda r: r.beta),
        train_loss=stacked(lambda r: r.train_loss),
        integral_loss=stacked(lambda r: r.integral_loss),
        test_loss=stacked(lambda r: r.test_loss) if has_test else None,
        n_steps=stacked(lambda r: r.n_steps, np.int64),
        status=tuple(res.status for res in runs),
        record_steps=grid.copy(),
        history_train=history[:, :, 0].copy(),
        history_test=history[:, :, 1].copy() if has_test else None,
        runs=runs,
        wall_time=time.perf_counter() - start,
    )
