"""Section 4: dlnsam's cost per step against the problem size n·d, and the memory floor."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from types import ModuleType

import numba
import numpy as np
from numba import njit, prange

import dlnsam
from benchmarks.report import Section, Table, Target, fmt_seconds, fmt_timing
from benchmarks.settings import Settings
from benchmarks.timing import calibrate_steps, measure, measure_rounds

__all__ = ["loglog_slope", "read_time", "section"]

LR, ALPHA, RHO = 0.01, 0.05, 0.1
ALGORITHMS: dict[str, dlnsam.Algorithm] = {
    "GD": dlnsam.GD(),
    "n-SAM": dlnsam.SAM(RHO),
    "1-SAM": dlnsam.SAM(RHO, m=1),
}
#: A per-step slope in n·d is about 1 in this range, or above it when no steeper
#: than one plain read of X plus SLOPE_OVER_READ (the noise of two fitted slopes):
#: the memory hierarchy alone bends the read upwards, and no step that reads X
#: scales better than reading it.
SLOPE_GOAL = (0.85, 1.15)
SLOPE_OVER_READ = 0.05
RATIO_GOAL = 1.5
#: Passes over X a step cannot do without: n-SAM's perturbed gradient needs
#: the whole gradient first (1-SAM perturbs each row by its own gradient: one pass).
READS = {"GD": 1, "n-SAM": 2, "1-SAM": 1}


@njit(cache=True, fastmath=True)
def _read_serial(X: np.ndarray, calls: int) -> float:
    flat = X.reshape(X.size)  # C-contiguous: one run of memory
    total = 0.0
    for _ in range(calls):
        for j in range(flat.shape[0]):
            total += flat[j]
    return total


@njit(cache=True, parallel=True, fastmath=True)
def _read_parallel(X: np.ndarray, chunks: int, calls: int) -> float:
    n = X.shape[0]
    sums = np.zeros(chunks)
    for _ in range(calls):
        for t in prange(chunks):
            # Inside prange an array argument has no known layout and a 1-D loop
            # over it becomes gathers; its rows, made contiguous (a view, checked
            # at run time), are read as one run of memory again.
            rows = np.ascontiguousarray(X[t * n // chunks : (t + 1) * n // chunks])
            flat = rows.reshape(rows.size)
            acc = 0.0
            for j in range(flat.shape[0]):
                acc += flat[j]
            sums[t] += acc
    return sums.sum()


def read_time(X: np.ndarray, repeats: int, calls: int | None = None) -> float:
    """Seconds of one streaming read of X (a sum of its entries): the floor of any pass over X.

    The faster of a serial read and one split by rows over Numba's threads,
    each the best of ``repeats`` loops of ``calls`` reads (by default as many
    as last about 20 ms) after a warm-up.
    """
    X = np.ascontiguousarray(X)
    threads = numba.get_num_threads()
    best = math.inf
    for read in (lambda k: _read_serial(X, k), lambda k: _read_parallel(X, threads, k)):
        read(1)
        count = calibrate_steps(read, 0.02, start=1) if calls is None else calls
        for _ in range(repeats):
            start = time.perf_counter()
            read(count)
            best = min(best, (time.perf_counter() - start) / count)
    return best


def _problem(n: int, d: int) -> dlnsam.Problem:
    # Unit-norm rows keep lr = 0.01 stable at every shape.
    problem = dlnsam.gaussian_problem(n=n, d=d, k=min(3, d), seed=0, n_test=0)
    return dlnsam.Problem(X=problem.X / np.sqrt(d), y=problem.y / np.sqrt(d))


def _calibrated(problem: dlnsam.Problem, algorithm: dlnsam.Algorithm,
                seconds: float) -> tuple[Callable[[], dlnsam.RunResult], int]:  # fmt: skip
    """A ``dlnsam.run`` call with enough steps to last about ``seconds``, and its steps."""

    def run(steps: int) -> dlnsam.RunResult:
        return dlnsam.run(problem, algorithm, lr=LR, steps=steps, alpha=ALPHA, record=[])

    run(1)  # load the kernels before calibrating
    steps = calibrate_steps(run, seconds)
    return lambda: run(steps), steps


def loglog_slope(sizes: list[float], times: list[float]) -> float:
    """Least-squares slope of log(time) against log(size) (NaN with fewer than 2 sizes).

    Examples
    --------
    >>> round(loglog_slope([1e3, 1e4, 1e5], [1.0, 10.0, 100.0]), 6)
    1.0
    """
    if len(set(sizes)) < 2:
        return math.nan
    return float(np.polyfit(np.log(sizes), np.log(times), 1)[0])


def _slope_targets(settings: Settings, shapes: list[tuple[int, int]], per_step: dict,
                   reads: dict) -> list[Target]:  # fmt: skip
    """The slope targets: each algorithm's log-log slope over the large shapes, and the read's."""
    large = [s for s in shapes if s[0] * s[1] >= settings.slope_min_size]
    sizes = [n * d for n, d in large]
    read_slope = loglog_slope(sizes, [reads[s] for s in large])
    lo, hi = SLOPE_GOAL
    ceiling = hi if math.isnan(read_slope) else max(hi, read_slope + SLOPE_OVER_READ)
    targets = []
    for name in ALGORITHMS:
        slope = loglog_slope(sizes, [per_step[s][name] for s in large])
        targets.append(Target(
            f"{name} per-step slope in n*d (n*d >= {settings.slope_min_size:.0e})",
            f"~1 ({lo}-{hi}, or <= the read's + {SLOPE_OVER_READ})",
            f"{slope:.2f} (one read of X: {read_slope:.2f})",
            None if math.isnan(slope) else bool(lo <= slope <= ceiling),
        ))  # fmt: skip
    return targets


def _sgd(settings: Settings, gd_step: float) -> Table:
    """SGD with a small batch against GD at the ratio shape: what a stochastic step costs."""
    n, d = settings.ratio_shape
    problem = _problem(n, d)
    rows = [("GD (full batch)", fmt_seconds(gd_step), "1.00")]
    for b in (max(1, n // 100), max(1, n // 10)):
        run, steps = _calibrated(problem, dlnsam.SGD(b), settings.scaling_seconds)
        timing = measure(run, repeats=settings.repeats)
        rows.append(
            (f"SGD(b={b})", fmt_timing(timing, steps), f"{timing.seconds / steps / gd_step:.2f}")
        )
    return Table(
        ("algorithm", "time/step", "vs GD"), tuple(rows),
        f"Stochastic steps at n={n}, d={d} (batch b of n rows)",
    )  # fmt: skip


def section(settings: Settings, jax: ModuleType | None = None) -> Section:
    """Per-step cost of GD, n-SAM and 1-SAM over a range of shapes (``jax`` is unused)."""
    shapes = sorted(set(settings.scaling_shapes) | {settings.ratio_shape},
                    key=lambda s: (s[0] * s[1], s))  # fmt: skip
    runs, steps = {}, {}
    for shape in shapes:
        problem = _problem(*shape)
        for name, algorithm in ALGORITHMS.items():
            runs[shape, name], steps[shape, name] = _calibrated(
                problem, algorithm, settings.scaling_seconds
            )
    # Every shape takes its turn in every round: a slow spell of the machine
    # falls on a round of every shape, not on a few shapes (and the slope).
    timed = measure_rounds(runs, rounds=settings.repeats)
    per_step = {s: {a: timed[s, a].seconds / steps[s, a] for a in ALGORITHMS} for s in shapes}
    reads = {(n, d): read_time(_problem(n, d).X, settings.repeats) for n, d in shapes}
    rows = []
    for n, d in shapes:
        t = per_step[n, d]
        rows.append(
            (str(n), str(d), f"{n * d:.0e}",
             *(fmt_timing(timed[(n, d), a], steps[(n, d), a]) for a in ALGORITHMS),
             f"{t['1-SAM'] / t['n-SAM']:.2f}", fmt_seconds(reads[n, d]),
             *(f"{t[a] / (READS[a] * reads[n, d]):.2f}" for a in ALGORITHMS))
        )  # fmt: skip
    targets = _slope_targets(settings, shapes, per_step, reads)
    n, d = settings.ratio_shape
    ratio = per_step[n, d]["1-SAM"] / per_step[n, d]["n-SAM"]
    targets.append(Target(f"1-SAM step / n-SAM step at n={n}, d={d}", f"<= {RATIO_GOAL:g}",
                          f"{ratio:.2f}", ratio <= RATIO_GOAL))  # fmt: skip
    gd = per_step[n, d]["GD"]
    problem = _problem(n, d)
    one_step = measure(
        lambda: dlnsam.run(problem, ALGORITHMS["GD"], lr=LR, steps=1, alpha=ALPHA, record=[]),
        repeats=settings.repeats,
    )
    table = Table(
        ("n", "d", "n*d", "GD/step", "n-SAM/step", "1-SAM/step", "1-SAM/n-SAM",
         "one read of X", "GD/read", "n-SAM/2 reads", "1-SAM/read"),
        tuple(rows),
        "dlnsam.run, time per step, against the memory floor",
    )  # fmt: skip
    setup = (
        "dlnsam.run(record=[]) on gaussian_problem(n, d, k=3, seed=0) with rows scaled by "
        f"1/sqrt(d); lr = {LR}, alpha = {ALPHA}, rho = {RHO}; Numba threads: "
        f"{numba.get_num_threads()}. The steps per run are calibrated so that a run takes "
        f"about {settings.scaling_seconds:g} s; every shape and algorithm takes its turn in "
        f"each of {settings.repeats} rounds, and a figure is the median run divided by its "
        "steps (the fixed cost of a run() call included). 'one read of X' is a compiled loop "
        "that only sums the entries of X, the faster of a serial read and one split over "
        "Numba's threads: the least time any pass over X takes. A step reads X once (GD, "
        "1-SAM) or twice (n-SAM); the last three columns divide each step by that floor."
    )
    notes = (
        "Small shapes are dominated by the fixed cost per step and per run() call, so the slopes "
        f"are fitted on n*d >= {settings.slope_min_size:.0e} only. There the read itself "
        "bends upwards as X leaves the caches; where a step stays within a small factor of the "
        "read, a slope above 1 is the memory's, not the kernel's. Hence the slope target: "
        f"{SLOPE_GOAL[0]}-{SLOPE_GOAL[1]}, or at most {SLOPE_OVER_READ} above the read's slope.",
        f"Fixed cost of one run() call at n={n}, d={d} (a 1-step GD run, minus one GD step): "
        f"{fmt_seconds(max(one_step.seconds - gd, 0.0))}, against {fmt_seconds(gd)} per GD step.",
    )
    tables = (table, _sgd(settings, gd))
    return Section("4. Scaling of the step cost with n*d", setup, tables, notes, tuple(targets))
