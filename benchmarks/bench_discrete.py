"""Section 1: discrete steps of GD, n-SAM and 1-SAM against a NumPy loop and JAX."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import numpy as np

import dlnsam
from benchmarks import baselines
from benchmarks.report import (
    Check,
    Section,
    Table,
    Target,
    fmt_ratio,
    fmt_rel,
    fmt_seconds,
    fmt_timing,
    relative_error,
    speedup_target,
)
from benchmarks.settings import Settings
from benchmarks.timing import Timing, measure, measure_rounds

__all__ = ["ALGORITHMS", "section"]

LR, ALPHA, RHO = 0.05, 0.05, 0.1
#: The algorithms compared: dlnsam's record and (ρ, m) of the baselines (m None: n-SAM).
ALGORITHMS: dict[str, tuple[dlnsam.Algorithm, float, int | None]] = {
    "GD": (dlnsam.GD(), 0.0, None),
    "n-SAM": (dlnsam.SAM(RHO), RHO, None),
    "1-SAM": (dlnsam.SAM(RHO, m=1), RHO, 1),
}
#: Speed-up targets over each baseline, by algorithm.
NUMPY_TARGETS = {"1-SAM": 1000.0}
JAX_TARGETS = {"GD": 2.0, "n-SAM": 2.0, "1-SAM": 2.0}
AGREEMENT = 1e-10


def _runs(
    problem: dlnsam.Problem, name: str, steps: int, jax: ModuleType | None, numpy_steps: int = 0
) -> dict[str, Callable[[], np.ndarray]]:
    """The runs compared, each returning the final β: dlnsam, JAX (if given), NumPy (if steps)."""
    algorithm, rho, m = ALGORITHMS[name]
    X, y = problem.X, problem.y
    runs = {
        "dlnsam": lambda: (
            dlnsam.run(problem, algorithm, lr=LR, steps=steps, alpha=ALPHA, record=[]).beta
        )
    }
    if jax is not None:
        runs["jax"] = lambda: jax.train(X, y, name, steps=steps, lr=LR, alpha=ALPHA, rho=rho)
    if numpy_steps:
        runs["numpy"] = lambda: baselines.train(
            X, y, lr=LR, steps=numpy_steps, alpha=ALPHA, rho=rho, m=m
        )
    return runs


def _compare(
    problem: dlnsam.Problem,
    name: str,
    settings: Settings,
    compiled: dict[str, Timing[np.ndarray]],
    jax_reason: str,
) -> tuple[tuple[str, ...], list[Target], list[Check], float]:
    """One algorithm's row: NumPy timed in rounds with dlnsam, JAX from ``compiled``."""
    steps = settings.steps
    np_steps = settings.numpy_one_sam_steps if name == "1-SAM" else settings.numpy_steps
    # NumPy takes turns with a dlnsam run of its own, so a slow spell slows both.
    paired = measure_rounds(
        {"": _runs(problem, name, steps, None, np_steps)}, rounds=settings.repeats
    )[""]
    ours, numpy = paired["dlnsam"].seconds / steps, paired["numpy"].seconds / np_steps
    reference = _runs(problem, name, np_steps, None)["dlnsam"]()
    checks = [
        Check(
            f"{name} {np_steps} steps: NumPy vs dlnsam, beta",
            relative_error(paired["numpy"].result, reference),
            AGREEMENT,
        )
    ]
    targets = []
    if name in NUMPY_TARGETS:
        label = f"{name} step vs NumPy"
        targets.append(speedup_target(label, NUMPY_TARGETS[name], ours, numpy, "/step"))
    jax = compiled.get("jax")
    dl = compiled["dlnsam"]
    jax_time = None if jax is None else jax.seconds / steps
    targets.append(
        speedup_target(f"{name} step vs JAX jit", JAX_TARGETS[name], dl.seconds / steps,
                       jax_time, "/step")
    )  # fmt: skip
    if jax is None or jax_time is None:
        jax_cells = (jax_reason, "-")
    else:
        checks.append(
            Check(f"{name} {steps} steps: JAX vs dlnsam, beta",
                  relative_error(jax.result, dl.result), AGREEMENT)
        )  # fmt: skip
        jax_cells = (fmt_timing(jax, steps), fmt_ratio(jax.seconds / dl.seconds))
    row = (
        name, fmt_timing(dl, steps), fmt_timing(paired["numpy"], np_steps),
        fmt_ratio(numpy / ours), *jax_cells, fmt_rel(max(c.error for c in checks)),
        "; ".join(f"{t.label.split(' step ')[1]} {t.goal}: {t.verdict}" for t in targets),
    )  # fmt: skip
    return row, targets, checks, ours


def section(settings: Settings, jax: ModuleType | None, jax_reason: str) -> Section:
    """Time per step of dlnsam, the NumPy loop and JAX on ``settings.problem``.

    ``jax`` is :mod:`benchmarks.jax_baseline`, or None: its cells then say ``jax_reason``.
    """
    n, d, k = settings.problem
    problem = dlnsam.gaussian_problem(n=n, d=d, k=k, seed=0)
    steps = settings.steps
    # dlnsam and JAX, the compiled loops, take turns round by round and
    # algorithm by algorithm, block by block, over the whole section.
    compiled = measure_rounds(
        {name: _runs(problem, name, steps, jax) for name in ALGORITHMS},
        rounds=settings.step_repeats,
        blocks=settings.step_blocks,
    )
    rows, targets, checks, paired = [], [], [], []
    for name in ALGORITHMS:
        row, row_targets, row_checks, ours = _compare(
            problem, name, settings, compiled[name], jax_reason
        )
        rows.append(row)
        targets += row_targets
        checks += row_checks
        paired.append(f"{name} {fmt_seconds(ours)}")
    gd = ALGORITHMS["GD"][0]
    overhead = measure(
        lambda: dlnsam.run(problem, gd, lr=LR, steps=1, alpha=ALPHA, record=[]),
        repeats=max(settings.repeats, 20),
    )
    table = Table(
        ("algorithm", "dlnsam/step", "NumPy/step", "NumPy/dlnsam", "JAX/step", "JAX/dlnsam",
         "max rel diff beta", "targets"),
        tuple(rows),
    )  # fmt: skip
    setup = (
        f"gaussian_problem(n={n}, d={d}, k={k}, seed=0); lr = {LR}, alpha = {ALPHA}, "
        f"rho = {RHO}. After a warm-up run each (Numba cache warm, JAX compiled), dlnsam and "
        f"JAX take turns in {settings.step_repeats} rounds, in {settings.step_blocks} "
        "block(s) per algorithm with the algorithms taking turns block by block, so that a "
        "slow spell of the machine slows both sides of a ratio alike. NumPy: "
        f"{settings.repeats} rounds taking turns with dlnsam runs of their own; NumPy/dlnsam "
        f"divides by those (dlnsam per step there: {', '.join(paired)}). Each figure is the "
        "median of its rounds divided by the steps, with the range of the rounds in brackets."
    )
    notes = (
        f"dlnsam and JAX: {steps} steps per run; NumPy GD and n-SAM: {settings.numpy_steps} "
        f"steps; NumPy 1-SAM: {settings.numpy_one_sam_steps} steps.",
        "NumPy: dlnsam.reference, the plain-NumPy reference the tests check dlnsam against "
        "(full-batch gradients by matrix-vector products; 1-SAM a Python loop over the n "
        "examples, each with its own perturbed copy of theta).",
        "JAX: jax.jit of a lax.scan over the steps, float64 on the CPU, gradients by jax.grad, "
        "1-SAM by jax.vmap over the examples; compilation is excluded (warm-up call) and the "
        "result is waited for (block_until_ready).",
        f"dlnsam's per-step time includes the fixed cost of one dlnsam.run call, "
        f"{fmt_seconds(overhead.seconds)} (a 1-step run), spread over the {steps} steps.",
        "Agreement: the final beta of each baseline against dlnsam.run after the same number "
        f"of steps, relative 2-norm, must be <= {AGREEMENT:g}.",
    )
    return Section(
        f"1. Discrete steps (n={n}, d={d})", setup, (table,), notes, tuple(targets), tuple(checks)
    )
