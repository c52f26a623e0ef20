"""Section 1: discrete steps of GD, n-SAM and 1-SAM against a NumPy loop and JAX."""

from __future__ import annotations

from functools import partial
from types import ModuleType

import numpy as np

import dlnsam
from benchmarks import baselines
from benchmarks.report import (
    Check,
    Section,
    Table,
    fmt_ratio,
    fmt_rel,
    fmt_timing,
    relative_error,
    speedup_target,
)
from benchmarks.settings import Settings
from benchmarks.timing import measure_rounds

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


def _dlnsam_beta(problem: dlnsam.Problem, name: str, steps: int) -> np.ndarray:
    algorithm = ALGORITHMS[name][0]
    return dlnsam.run(problem, algorithm, lr=LR, steps=steps, alpha=ALPHA, record=[]).beta


def section(settings: Settings, jax: ModuleType | None) -> Section:
    """Time per step of dlnsam, the NumPy loop and JAX on ``settings.problem``.

    ``jax`` is :mod:`benchmarks.jax_baseline`, or None to skip the JAX cells.
    """
    n, d, k = settings.problem
    problem = dlnsam.gaussian_problem(n=n, d=d, k=k, seed=0)
    X, y, steps = problem.X, problem.y, settings.steps
    np_steps = {name: settings.numpy_steps for name in ALGORITHMS}
    np_steps["1-SAM"] = settings.numpy_one_sam_steps  # a Python loop over the examples
    runs = {}
    for name, (_, rho, m) in ALGORITHMS.items():
        runs[name, "dlnsam"] = partial(_dlnsam_beta, problem, name, steps)
        runs[name, "numpy"] = partial(
            baselines.train, X, y, lr=LR, steps=np_steps[name], alpha=ALPHA, rho=rho, m=m
        )
        if jax is not None:
            runs[name, "jax"] = partial(
                jax.train, X, y, name, steps=steps, lr=LR, alpha=ALPHA, rho=rho
            )
    timed = measure_rounds(runs, rounds=settings.step_repeats)
    rows, targets, checks = [], [], []
    for name in ALGORITHMS:
        ours, numpy, theirs = (timed.get((name, tool)) for tool in ("dlnsam", "numpy", "jax"))
        numpy_beta = _dlnsam_beta(problem, name, np_steps[name])
        agreement = [
            Check(f"{name} {np_steps[name]} steps: NumPy vs dlnsam, beta",
                  relative_error(numpy.result, numpy_beta), AGREEMENT)
        ]  # fmt: skip
        numpy_step, ours_step = numpy.seconds / np_steps[name], ours.seconds / steps
        if name in NUMPY_TARGETS:
            targets.append(speedup_target(
                f"{name} step vs NumPy", NUMPY_TARGETS[name], ours_step, numpy_step
            ))  # fmt: skip
        targets.append(speedup_target(
            f"{name} step vs JAX jit", JAX_TARGETS[name], ours.seconds,
            None if theirs is None else theirs.seconds,
        ))  # fmt: skip
        jax_cells = ("skipped", "-")
        if theirs is not None:
            agreement.append(
                Check(f"{name} {steps} steps: JAX vs dlnsam, beta",
                      relative_error(theirs.result, ours.result), AGREEMENT)
            )  # fmt: skip
            jax_cells = (fmt_timing(theirs, steps), fmt_ratio(theirs.seconds / ours.seconds))
        checks += agreement
        rows.append(
            (name, fmt_timing(ours, steps), fmt_timing(numpy, np_steps[name]),
             fmt_ratio(numpy_step / ours_step), *jax_cells,
             fmt_rel(max(c.error for c in agreement)))
        )  # fmt: skip
    table = Table(
        ("algorithm", "dlnsam/step", "NumPy/step", "NumPy/dlnsam", "JAX/step", "JAX/dlnsam",
         "max rel diff beta"),
        tuple(rows),
    )  # fmt: skip
    setup = (
        f"gaussian_problem(n={n}, d={d}, k={k}, seed=0); lr = {LR}, alpha = {ALPHA}, "
        f"rho = {RHO}. dlnsam and JAX run {steps} steps per call, NumPy "
        f"{settings.numpy_steps} (1-SAM: {settings.numpy_one_sam_steps}). After a warm-up call "
        f"each, all the calls of the section take turns in {settings.step_repeats} rounds; a "
        "figure is the median of its rounds divided by the steps, the fixed cost of a call "
        "included."
    )
    notes = (
        "NumPy: dlnsam.reference, the plain-NumPy reference the tests check dlnsam against "
        "(1-SAM a Python loop over the n examples, each with its own perturbed copy of theta). "
        "JAX: jax.jit of a lax.scan over the steps, float64 on the CPU, 1-SAM by jax.vmap over "
        "the examples; compilation is excluded and the result is waited for.",
        "max rel diff beta: the final beta of each baseline against dlnsam.run after the same "
        f"number of steps (relative 2-norm, agreement <= {AGREEMENT:g}).",
    )
    return Section(
        f"1. Discrete steps (n={n}, d={d})", setup, (table,), notes, tuple(targets), tuple(checks)
    )
