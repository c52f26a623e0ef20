"""Section 1: discrete steps of GD, n-SAM and 1-SAM against NumPy and JAX."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType

import numpy as np

import dlnsam
from benchmarks import machine, numpy_baseline, profile
from benchmarks.report import (
    Check,
    Section,
    Table,
    Target,
    fmt_ratio,
    fmt_rel,
    fmt_seconds,
    relative_error,
)
from benchmarks.settings import Settings
from benchmarks.timing import Timing, measure, measure_interleaved, measure_spread

__all__ = [
    "ALGORITHMS",
    "StepTimes",
    "compiled_runs",
    "measure_algorithm",
    "profile_table",
    "run_overhead",
    "section",
]

LR, ALPHA, RHO = 0.05, 0.05, 0.1
#: The algorithms compared, by their name in the baselines.
ALGORITHMS: dict[str, dlnsam.Algorithm] = {
    "GD": dlnsam.GD(),
    "n-SAM": dlnsam.SAM(RHO),
    "1-SAM": dlnsam.SAM(RHO, m=1),
}
#: Speed-up targets over each baseline, by algorithm.
NUMPY_TARGETS = {"1-SAM": 1000.0}
JAX_TARGETS = {"GD": 2.0, "n-SAM": 2.0, "1-SAM": 2.0}
AGREEMENT = 1e-10


def dlnsam_beta(problem: dlnsam.Problem, name: str, steps: int) -> np.ndarray:
    """β after ``steps`` updates of dlnsam's kernel."""
    res = dlnsam.run(problem, ALGORITHMS[name], lr=LR, steps=steps, alpha=ALPHA, record=[])
    return res.beta


def run_overhead(problem: dlnsam.Problem, repeats: int) -> float:
    """Seconds of one ``dlnsam.run`` call that makes a single step (the fixed cost per call)."""
    algorithm = ALGORITHMS["GD"]
    timing = measure(
        lambda: dlnsam.run(problem, algorithm, lr=LR, steps=1, alpha=ALPHA, record=[]),
        repeats=max(repeats, 20),
    )
    return timing.seconds


def _speedup_target(label: str, goal: float, ours: float, theirs: float | None) -> Target:
    if theirs is None:
        return Target(label, f">= {goal:g}x", "skipped", None)
    ratio = theirs / ours
    needed = f"dlnsam <= {fmt_seconds(theirs / goal)}/step"
    return Target(label, f">= {goal:g}x", fmt_ratio(ratio), ratio >= goal, needed)


@dataclass(frozen=True)
class StepTimes:
    """Seconds per step of one algorithm in dlnsam and the baselines, and their agreement."""

    name: str
    dlnsam: float
    #: dlnsam's seconds per step timed in rounds alternating with the NumPy
    #: runs: the denominator of NumPy / dlnsam.
    dlnsam_with_numpy: float
    numpy: float
    numpy_steps: int
    numpy_error: float
    jax: float | None
    jax_error: float | None


def compiled_runs(
    problem: dlnsam.Problem, name: str, steps: int, jax_baseline: ModuleType | None
) -> dict[str, Callable[[], np.ndarray]]:
    """The compiled runs timed side by side: dlnsam and (if given) JAX, each returning β."""
    X, y = problem.X, problem.y
    kwargs = {"lr": LR, "alpha": ALPHA, "rho": RHO}
    runs: dict[str, Callable[[], np.ndarray]] = {
        "dlnsam": lambda: dlnsam_beta(problem, name, steps)
    }
    if jax_baseline is not None:
        runs["jax"] = lambda: jax_baseline.train(X, y, name, steps=steps, **kwargs)
    return runs


def measure_algorithm(
    problem: dlnsam.Problem,
    name: str,
    settings: Settings,
    jax_baseline: ModuleType | None,
    timed: Mapping[str, Timing[np.ndarray]],
) -> StepTimes:
    """Time one algorithm's NumPy loop against dlnsam; with the JAX timings, compare final β.

    Parameters
    ----------
    problem : Problem
        The data.
    name : {'GD', 'n-SAM', '1-SAM'}
        The algorithm.
    settings : Settings
        Steps and repeats.
    jax_baseline : module or None
        :mod:`benchmarks.jax_baseline`, or None to skip JAX.
    timed : mapping
        The timings of :func:`compiled_runs`, measured by :func:`section`
        (alternating rounds spread over the section).

    Returns
    -------
    StepTimes
        Seconds per step and relative differences of β against dlnsam.
    """
    X, y = problem.X, problem.y
    steps, repeats = settings.steps, settings.repeats
    kwargs = {"lr": LR, "alpha": ALPHA, "rho": RHO}
    ours = timed["dlnsam"]

    np_steps = settings.numpy_one_sam_steps if name == "1-SAM" else settings.numpy_steps
    # The NumPy loop takes turns with dlnsam too, so that a slow spell of the
    # machine slows both sides of that ratio (not pinned: BLAS threads).
    paired = measure_interleaved(
        {
            "dlnsam": lambda: dlnsam_beta(problem, name, steps),
            "numpy": lambda: numpy_baseline.train(X, y, name, steps=np_steps, **kwargs),
        },
        repeats=repeats,
    )
    numpy = paired["numpy"]
    numpy_error = relative_error(numpy.result, dlnsam_beta(problem, name, np_steps))

    jax_time = jax_error = None
    if jax_baseline is not None:
        jax = timed["jax"]
        jax_time, jax_error = jax.seconds / steps, relative_error(jax.result, ours.result)
    return StepTimes(
        name, ours.seconds / steps, paired["dlnsam"].seconds / steps, numpy.seconds / np_steps,
        np_steps, numpy_error, jax_time, jax_error,
    )  # fmt: skip


def _row(times: StepTimes, jax_reason: str) -> tuple[tuple[str, ...], list[Target]]:
    ratio_np = times.numpy / times.dlnsam_with_numpy
    ratio_jax = None if times.jax is None else times.jax / times.dlnsam
    targets, verdicts = [], []
    if times.name in NUMPY_TARGETS:
        goal = NUMPY_TARGETS[times.name]
        label = f"{times.name} step vs NumPy"
        targets.append(_speedup_target(label, goal, times.dlnsam_with_numpy, times.numpy))
        verdicts.append(f"vs NumPy >= {goal:g}x: {targets[-1].verdict}")
    goal = JAX_TARGETS[times.name]
    label = f"{times.name} step vs JAX jit"
    targets.append(_speedup_target(label, goal, times.dlnsam, times.jax))
    verdicts.append(f"vs JAX >= {goal:g}x: {targets[-1].verdict}")
    if times.jax is None or ratio_jax is None:
        jax_cells = (jax_reason, "-")
    else:
        jax_cells = (fmt_seconds(times.jax), fmt_ratio(ratio_jax))
    worst = max(times.numpy_error, times.jax_error or 0.0)
    row = (
        times.name, fmt_seconds(times.dlnsam), fmt_seconds(times.numpy), fmt_ratio(ratio_np),
        *jax_cells, fmt_rel(worst), "; ".join(verdicts),
    )  # fmt: skip
    return row, targets


def profile_table(
    problem: dlnsam.Problem, all_times: list[StepTimes], settings: Settings
) -> tuple[Table, list[str]]:
    """Where a dlnsam step's time goes, and the speed-ups that bounds.

    Each kernel piece is timed alone in a compiled loop (:mod:`benchmarks.profile`):
    the passes over the rows of X, the whole direction, and the training
    kernel per step. A step cannot cost less than its row passes, so
    baseline / (row passes) bounds what this kernel could reach against it.
    """
    calls = settings.steps * 10
    rows = []
    row_passes = {}
    for times in all_times:
        algorithm = ALGORITHMS[times.name]
        passes = profile.row_passes_time(problem, algorithm, calls, settings.repeats)
        row_passes[times.name] = passes
        direction = profile.direction_time(problem, algorithm, calls, settings.repeats)
        kernel = profile.run_chunk_time(
            problem, algorithm, LR, ALPHA, settings.steps, settings.repeats
        )
        bound_jax = "-" if times.jax is None else fmt_ratio(times.jax / passes)
        rows.append(
            (times.name, fmt_seconds(passes), fmt_seconds(direction), fmt_seconds(kernel),
             fmt_seconds(times.dlnsam), fmt_ratio(times.numpy / passes), bound_jax)
        )  # fmt: skip
    table = Table(
        ("algorithm", "row passes", "direction", "run_chunk/step", "dlnsam.run/step",
         "NumPy / row passes", "JAX / row passes"),
        tuple(rows),
        "Profile: a dlnsam step taken apart (each piece timed alone, best of "
        f"{settings.repeats} compiled loops)",
    )  # fmt: skip
    notes = [
        "Profile: 'row passes' is the part of a step that reads X (1-SAM: one pass computing "
        "x.beta, x^2.s, x^3.beta and accumulating G, H; n-SAM: the residual pass and the "
        "perturbed pass; GD: the residual pass); 'direction' adds the O(d) vector work of "
        "the SAM direction; 'run_chunk/step' adds the loss check and the update. These three "
        "are the best of compiled loops; 'dlnsam.run/step' is the figure of the table above "
        "(a median of rounds that alternate with JAX), so its gap to 'run_chunk/step' is the "
        "set-up of a run() call (measured above) plus the difference between best and "
        "median under the machine's load. The last two columns are the speed-ups a step "
        "would reach if it cost only its row passes: the bound of this kernel against each "
        "baseline.",
    ]
    one_sam = next((t for t in all_times if t.name == "1-SAM"), None)
    if one_sam is not None and "GD" in row_passes:
        gd, own, goal = row_passes["GD"], row_passes["1-SAM"], NUMPY_TARGETS["1-SAM"]
        notes.append(
            f"The limit of 1-SAM against the NumPy loop: {goal:g}x needs a whole 1-SAM step of "
            f"at most {fmt_seconds(one_sam.numpy / goal)}, while its pass over X alone takes "
            f"{fmt_seconds(own)} (the bound {fmt_ratio(one_sam.numpy / own)} above). That pass "
            f"costs {own / gd:.2f} times GD's residual pass ({fmt_seconds(gd)}, the bare "
            "X^T (X beta - y)) for 4 times its arithmetic: per entry of X, three dot products "
            "(x.beta, x^2.s, x^3.beta) and two accumulations (G, H), 8 floating-point "
            "operations, against GD's one dot product and one accumulation, 2. So the pass runs "
            "faster per operation than GD's; the target would need 1-SAM's arithmetic done in "
            f"{one_sam.numpy / goal / gd:.2f} times the time of GD's bare gradient pass, "
            "everything else in the step included."
        )
    return table, notes


def _spread(settings: Settings) -> str:
    if settings.step_blocks == 1:
        return ""
    per = settings.step_repeats / settings.step_blocks
    return (
        f"The rounds of the three algorithms run in {settings.step_blocks} blocks of about "
        f"{per:.0f} each, in turn (GD, n-SAM, 1-SAM, GD, ...), so that a slow spell of the "
        "machine falls on one block of each algorithm rather than on all the rounds of one. "
    )


def section(settings: Settings, jax_baseline: ModuleType | None, jax_reason: str) -> Section:
    """Time per step of dlnsam, the NumPy loop and JAX on gaussian_problem(20, 30, 3).

    Parameters
    ----------
    settings : Settings
        Steps and repeats.
    jax_baseline : module or None
        :mod:`benchmarks.jax_baseline`, or None when JAX is not available.
    jax_reason : str
        Why JAX rows are skipped (shown when ``jax_baseline`` is None).

    Returns
    -------
    Section
        The table, the targets and the agreement checks.
    """
    problem = dlnsam.gaussian_problem(n=20, d=30, k=3, seed=0)
    steps, repeats = settings.steps, settings.repeats
    rows, targets, checks, all_times = [], [], [], []
    # dlnsam's kernel is serial here, and JAX runs its loop on a thread of its own:
    # pinned, both share one core (see machine.one_core). The NumPy loop is not
    # pinned: its BLAS threads would wait on each other on a single core.
    with machine.one_core():
        timed = measure_spread(
            {name: compiled_runs(problem, name, steps, jax_baseline) for name in ALGORITHMS},
            rounds=settings.step_repeats,
            blocks=settings.step_blocks,
        )
    for name in ALGORITHMS:
        times = measure_algorithm(problem, name, settings, jax_baseline, timed[name])
        all_times.append(times)
        row, row_targets = _row(times, jax_reason)
        rows.append(row)
        targets += row_targets
        checks.append(
            Check(f"{name} {times.numpy_steps} steps: NumPy vs dlnsam, beta", times.numpy_error,
                  AGREEMENT)
        )  # fmt: skip
        if times.jax_error is not None:
            checks.append(
                Check(f"{name} {steps} steps: JAX vs dlnsam, beta", times.jax_error, AGREEMENT)
            )

    overhead = run_overhead(problem, repeats)
    profile_rows, profile_notes = profile_table(problem, all_times, settings)
    table = Table(
        ("algorithm", "dlnsam/step", "NumPy/step", "NumPy/dlnsam", "JAX/step", "JAX/dlnsam",
         "max rel diff beta", "targets"),
        tuple(rows),
    )  # fmt: skip
    notes = (
        f"dlnsam and JAX: {steps} steps per run; NumPy GD and n-SAM: {settings.numpy_steps} "
        f"steps; NumPy 1-SAM (a Python loop over the n examples): "
        f"{settings.numpy_one_sam_steps} steps. All figures are times per step: the median "
        "run time divided by its step count.",
        "JAX: jax.jit of a lax.scan over the steps, float64 on the CPU, gradients by jax.grad, "
        "1-SAM by jax.vmap over the examples; compilation is excluded (warm-up call) and the "
        "result is waited for (block_until_ready).",
        f"dlnsam's per-step time includes the fixed cost of one dlnsam.run call, "
        f"{fmt_seconds(overhead)} (a 1-step run), spread over the {steps} steps.",
        "Agreement: the final beta of each baseline against dlnsam.run after the same number "
        f"of steps, relative 2-norm, must be <= {AGREEMENT:g}.",
        *profile_notes,
    )
    setup = (
        f"gaussian_problem(n=20, d=30, k=3, seed=0); lr = {LR}, alpha = {ALPHA}, rho = {RHO}; "
        "after a warm-up run each (Numba cache warm, JAX compiled), dlnsam and JAX are timed "
        f"in {settings.step_repeats} alternating rounds, so that a burst of load slows both "
        "alike, and each figure is the median of its rounds; meanwhile every thread of the "
        "process is pinned to one core, which dlnsam's serial kernel and JAX's compiled loop "
        f"share. {_spread(settings)}NumPy: the median of {repeats} runs, not pinned, which "
        f"alternate with {repeats} more runs of dlnsam; NumPy/dlnsam divides by the median of "
        "those (dlnsam per step there: "
        + ", ".join(f"{t.name} {fmt_seconds(t.dlnsam_with_numpy)}" for t in all_times)
        + ")."
    )
    return Section(
        "1. Discrete steps (n=20, d=30)",
        setup,
        (table, profile_rows),
        notes,
        tuple(targets),
        tuple(checks),
    )
