"""Section 4: dlnsam's cost per step against the problem size n·d."""

from __future__ import annotations

import math
from collections.abc import Callable

import numba
import numpy as np

import dlnsam
from benchmarks import profile
from benchmarks.report import Section, Table, Target, fmt_seconds
from benchmarks.settings import Settings
from benchmarks.timing import calibrate_steps, measure, measure_spread
from dlnsam import training

__all__ = ["calibrated_run", "loglog_slope", "run_call_seconds", "section", "time_per_step"]

LR, ALPHA, RHO = 0.01, 0.05, 0.1
ALGORITHMS: dict[str, dlnsam.Algorithm] = {
    "GD": dlnsam.GD(),
    "n-SAM": dlnsam.SAM(RHO),
    "1-SAM": dlnsam.SAM(RHO, m=1),
}
#: A per-step slope in n·d is about 1 when it lies in this range, or, above
#: it, when it is no steeper than the slope of one plain read of X plus
#: SLOPE_OVER_READ: the memory hierarchy alone bends the read upwards (X
#: leaves the caches), and no step that reads X can scale better than reading
#: it. The margin is the noise of two fitted slopes: over nine full runs the
#: read's slope ranged over 1.10-1.21.
SLOPE_GOAL = (0.85, 1.15)
SLOPE_OVER_READ = 0.05
RATIO_GOAL = 1.5
#: Passes over X that a step of each algorithm cannot do without: the gradient
#: reads X once; n-SAM's perturbed gradient needs the whole gradient first,
#: so a second pass (1-SAM perturbs each row by its own gradient: one pass).
READS = {"GD": 1, "n-SAM": 2, "1-SAM": 1}


def _problem(n: int, d: int) -> dlnsam.Problem:
    # Unit-norm rows keep lr = 0.01 stable at every shape.
    problem = dlnsam.gaussian_problem(n=n, d=d, k=min(3, d), seed=0, n_test=0)
    scale = 1.0 / np.sqrt(d)
    return dlnsam.Problem(X=problem.X * scale, y=problem.y * scale)


def calibrated_run(
    problem: dlnsam.Problem, algorithm: dlnsam.Algorithm, seconds: float
) -> tuple[Callable[[], dlnsam.RunResult], int]:
    """A ``dlnsam.run`` call with enough steps to last about ``seconds``, and its steps."""

    def run(steps: int) -> dlnsam.RunResult:
        return dlnsam.run(problem, algorithm, lr=LR, steps=steps, alpha=ALPHA, record=[])

    run(1)  # load the kernels before calibrating
    steps = calibrate_steps(run, seconds, start=10)
    return lambda: run(steps), steps


def time_per_step(
    problem: dlnsam.Problem, algorithm: dlnsam.Algorithm, seconds: float, repeats: int
) -> tuple[float, int]:
    """Median seconds per step of ``dlnsam.run`` with enough steps to last ``seconds``.

    Returns the time per step and the number of steps per timed run.
    """
    run, steps = calibrated_run(problem, algorithm, seconds)
    return measure(run, repeats=repeats).seconds / steps, steps


def run_call_seconds(problem: dlnsam.Problem, repeats: int) -> float:
    """Median seconds of a 1-step GD ``dlnsam.run`` call (its fixed cost plus one step)."""
    algorithm = ALGORITHMS["GD"]
    timing = measure(
        lambda: dlnsam.run(problem, algorithm, lr=LR, steps=1, alpha=ALPHA, record=[]),
        repeats=repeats,
    )
    return timing.seconds


def loglog_slope(sizes: list[float], times: list[float]) -> float:
    """Least-squares slope of log(time) against log(size).

    Examples
    --------
    >>> round(loglog_slope([1e3, 1e4, 1e5], [1.0, 10.0, 100.0]), 6)
    1.0
    """
    if len(set(sizes)) < 2:
        return math.nan
    return float(np.polyfit(np.log(sizes), np.log(times), 1)[0])


def section(settings: Settings) -> Section:
    """Per-step cost of GD, n-SAM and 1-SAM over a range of shapes, its slope and ratios.

    Parameters
    ----------
    settings : Settings
        Shapes, the seconds per timed run and repeats.

    Returns
    -------
    Section
        The per-shape table, the fitted slopes and the 1-SAM / n-SAM ratio.
    """
    shapes = sorted(
        set(settings.scaling_shapes) | {settings.ratio_shape}, key=lambda s: (s[0] * s[1], s)
    )
    problems = {shape: _problem(*shape) for shape in shapes}
    runs: dict[tuple[int, int], dict[str, Callable[[], dlnsam.RunResult]]] = {}
    steps: dict[tuple[int, int], dict[str, int]] = {}
    for shape, problem in problems.items():
        runs[shape], steps[shape] = {}, {}
        for name, algorithm in ALGORITHMS.items():
            runs[shape][name], steps[shape][name] = calibrated_run(
                problem, algorithm, settings.scaling_seconds
            )
    # Every shape once per sweep, in repeats sweeps: a slow spell of the machine
    # falls on a sweep of every shape, not on a few shapes, and so on the slope.
    timed = measure_spread(runs, rounds=settings.repeats, blocks=settings.repeats)
    per_step = {
        shape: {name: timed[shape][name].seconds / steps[shape][name] for name in ALGORITHMS}
        for shape in shapes
    }
    reads: dict[tuple[int, int], float] = {}
    rows, floor_rows = [], []
    for n, d in shapes:
        problem = problems[n, d]
        cells = [fmt_seconds(per_step[n, d][name]) for name in ALGORITHMS]
        reads[n, d] = read = profile.read_time(problem.X, settings.repeats)
        part = training.parallel_chunks(n, d)
        floor_rows.append(
            (str(n), str(d), _mib((n, d)),
             "serial" if part is None else f"{part.shape[0]} chunks",
             fmt_seconds(read), f"{_rate((n, d), reads):.3g} GB/s",
             *(f"{per_step[n, d][name] / (READS[name] * read):.2f}" for name in ALGORITHMS))
        )  # fmt: skip
        t_gd = per_step[n, d]["GD"]
        rows.append(
            (str(n), str(d), f"{n * d:.0e}", *cells,
             f"{per_step[n, d]['n-SAM'] / t_gd:.2f}", f"{per_step[n, d]['1-SAM'] / t_gd:.2f}",
             f"{per_step[n, d]['1-SAM'] / per_step[n, d]['n-SAM']:.2f}",
             f"{t_gd / (n * d) * 1e9:.2f}")
        )  # fmt: skip

    targets = []
    slope_rows = []
    large_size = settings.slope_min_size
    large = [s for s in shapes if s[0] * s[1] >= large_size]
    sizes, large_sizes = [n * d for n, d in shapes], [n * d for n, d in large]
    read_slope = loglog_slope(large_sizes, [reads[s] for s in large])
    for name in ALGORITHMS:
        all_slope = loglog_slope(sizes, [per_step[s][name] for s in shapes])
        large_slope = loglog_slope(large_sizes, [per_step[s][name] for s in large])
        lo, hi = SLOPE_GOAL
        ceiling = hi if math.isnan(read_slope) else max(hi, read_slope + SLOPE_OVER_READ)
        met = None if math.isnan(large_slope) else bool(lo <= large_slope <= ceiling)
        target = Target(f"{name} per-step slope in n*d (n*d >= {large_size:.0e})",
                        f"~1 ({lo}-{hi}, or <= the read's + {SLOPE_OVER_READ})",
                        f"{large_slope:.2f} (one read of X: {read_slope:.2f})", met)  # fmt: skip
        targets.append(target)
        slope_rows.append((name, f"{all_slope:.2f}", f"{large_slope:.2f}", target.verdict))
    slope_rows.append(
        ("one read of X (the floor)", f"{loglog_slope(sizes, [reads[s] for s in shapes]):.2f}",
         f"{read_slope:.2f}", "-")
    )  # fmt: skip
    slopes = Table(
        ("algorithm", "slope (all shapes)", f"slope (n*d >= {large_size:.0e})", "target ~1"),
        tuple(slope_rows),
        "Log-log slope of the time per step against n*d",
    )
    floor = Table(
        ("n", "d", "X", "kernel", "one read of X", "read rate", "GD / read",
         "n-SAM / 2 reads", "1-SAM / read"),
        tuple(floor_rows),
        "The memory floor: one streaming read of X, against the steps of the table above",
    )  # fmt: skip
    fitted = large or shapes
    big, small = max(fitted, key=lambda s: s[0] * s[1]), min(fitted, key=lambda s: s[0] * s[1])

    n, d = settings.ratio_shape
    ratio = per_step[n, d]["1-SAM"] / per_step[n, d]["n-SAM"]
    targets.append(
        Target(
            f"1-SAM step / n-SAM step at n={n}, d={d}",
            f"<= {RATIO_GOAL:g}",
            f"{ratio:.2f}",
            ratio <= RATIO_GOAL,
        )
    )
    sgd_rows = _sgd_rows(settings, per_step)
    fixed = run_call_seconds(_problem(n, d), settings.repeats)

    table = Table(
        ("n", "d", "n*d", "GD/step", "n-SAM/step", "1-SAM/step", "n-SAM/GD", "1-SAM/GD",
         "1-SAM/n-SAM", "GD ns per entry"),
        tuple(rows),
        "dlnsam.run, time per step",
    )  # fmt: skip
    setup = (
        "dlnsam.run(record=[]) on gaussian_problem(n, d, k=3, seed=0) with rows scaled by "
        f"1/sqrt(d); lr = {LR}, alpha = {ALPHA}, rho = {RHO}. Each figure: the steps per run "
        f"are calibrated so that one run takes about {settings.scaling_seconds:g} s, then the "
        f"median of {settings.repeats} runs after a warm-up run, divided by the steps (the fixed "
        f"cost of a run() call is included, not subtracted). The runs are taken in "
        f"{settings.repeats} sweeps over every shape and algorithm, so that a slow spell of the "
        "machine falls on one run of each shape rather than on the few shapes measured during "
        "it, and bends no slope. Numba threads: "
        f"{numba.get_num_threads()}."
    )
    notes = (
        f"Target: 1-SAM step / n-SAM step <= {RATIO_GOAL:g} at n={n}, d={d}: measured "
        f"{ratio:.2f} ({'met' if ratio <= RATIO_GOAL else 'MISSED'}).",
        "Small shapes are dominated by the fixed cost per step and per run() call, so the slope "
        f"is fitted on n*d >= {large_size:.0e} as well as on all shapes.",
        "The memory floor: 'one read of X' is a compiled loop that only sums the entries of X, "
        "with the threads and row chunks the training kernel uses at that shape "
        "(benchmarks/profile.py), the least time any pass over X takes. A step reads X at least "
        "once (GD, 1-SAM) or twice (n-SAM: the perturbed gradient needs the whole gradient "
        "first); the last three columns divide each step by that floor. X holds 8*n*d bytes: "
        f"the read runs at {_rate(small, reads):.3g} GB/s at n={small[0]}, d={small[1]} "
        f"({_mib(small)}) and at {_rate(big, reads):.3g} GB/s at n={big[0]}, d={big[1]} "
        f"({_mib(big)}), as X moves down the memory hierarchy (caches, then main memory), so "
        f"the read alone scales with slope {read_slope:.2f} over n*d >= {large_size:.0e}. No "
        "step costs less than its reads of X, so where a step stays within a small factor of "
        "the floor at the largest shapes, a slope above 1 is the memory's, not the kernel's. "
        f"The slope target is therefore {SLOPE_GOAL[0]}-{SLOPE_GOAL[1]}, or, where the read "
        f"itself is steep, at most {SLOPE_OVER_READ} above the read's slope (the noise of two "
        "fitted slopes).",
        f"Fixed cost of one run() call at n={n}, d={d} (a 1-step GD run, minus one GD step): "
        f"{fmt_seconds(max(fixed - per_step[n, d]['GD'], 0.0))}, against "
        f"{fmt_seconds(per_step[n, d]['GD'])} per GD step; it is part of every figure above, "
        f"spread over the steps of a {settings.scaling_seconds:g} s run.",
    )
    return Section(
        "4. Scaling of the step cost with n*d",
        setup,
        (table, floor, slopes, sgd_rows),
        notes,
        tuple(targets),
    )


def _mib(shape: tuple[int, int]) -> str:
    """The size of a float64 X of this shape."""
    return f"{8 * shape[0] * shape[1] / 2**20:.3g} MiB"


def _rate(shape: tuple[int, int], reads: dict[tuple[int, int], float]) -> float:
    """GB/s of the timed read of X at this shape."""
    return 8 * shape[0] * shape[1] / reads[shape] / 1e9


def _sgd_rows(settings: Settings, per_step: dict[tuple[int, int], dict[str, float]]) -> Table:
    """SGD with a small batch against GD at the ratio shape: what a stochastic step costs."""
    n, d = settings.ratio_shape
    problem = _problem(n, d)
    rows = [("GD (full batch)", fmt_seconds(per_step[n, d]["GD"]), "1.00")]
    for b in (max(1, n // 100), max(1, n // 10)):
        t, _ = time_per_step(problem, dlnsam.SGD(b), settings.scaling_seconds, settings.repeats)
        rows.append((f"SGD(b={b})", fmt_seconds(t), f"{t / per_step[n, d]['GD']:.2f}"))
    return Table(
        ("algorithm", "time/step", "vs GD"),
        tuple(rows),
        f"Stochastic steps at n={n}, d={d} (batch b of n rows)",
    )
