"""Section 6: many seeds of stochastic SAM at once, dlnsam.run_many against batched baselines.

The Monte-Carlo estimates of Theorem 2 need R independent runs of stochastic
SAM(ρ, m = b, batch b) on a small least-squares problem. A researcher without
``run_many`` would batch the R runs in NumPy (one array of R iterates, a step
of all runs at once) or in JAX (``jax.vmap`` over the runs of a compiled
``lax.scan``). Both baselines are given the batches that ``run_many`` draws,
precomputed and left out of their time, so that the results agree and the
comparison favours the baselines.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

import dlnsam
from benchmarks.report import Check, Section, Table, Target, fmt_ratio, fmt_timing
from benchmarks.settings import Settings
from benchmarks.timing import measure_rounds
from dlnsam.training import draw_batches

__all__ = ["numpy_many", "section"]

LR, RHO = 0.01, 0.05
#: The target of the project: R = 1000 runs of 10⁴ steps on a 50 × 10 problem.
TARGET_SECONDS = 10.0
AGREEMENT = 1e-10


def numpy_many(
    X: np.ndarray, y: np.ndarray, batches: np.ndarray, *, lr: float, rho: float
) -> np.ndarray:
    """Stochastic SAM(ρ, m = b) on least squares in w for R runs at once; (R, d) final w.

    ``batches`` is (R, T, b): the rows of run r at step t. Each step forms the
    R batch gradients g_r = X_Bᵀ(X_B w_r − y_B)/b, the perturbed points
    w_r + ρ g_r and the gradients there, with one vectorized operation each.
    """
    runs, steps, b = batches.shape
    w = np.zeros((runs, X.shape[1]))
    for t in range(steps):
        XB = X[batches[:, t]]  # (R, b, d)
        yB = y[batches[:, t]]
        g = np.einsum("rbd,rb->rd", XB, np.einsum("rbd,rd->rb", XB, w) - yB) / b
        w_tilde = w + rho * g
        g_tilde = np.einsum("rbd,rb->rd", XB, np.einsum("rbd,rd->rb", XB, w_tilde) - yB) / b
        w = w - lr * g_tilde
    return w


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    """The largest relative 2-norm difference of a run's w."""
    return float(np.max(np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)))


def section(settings: Settings, jax: ModuleType | None = None) -> Section:
    """Time R runs of stochastic SAM with run_many, a loop of run, NumPy and JAX."""
    n, d = settings.many_problem
    runs, steps, b = settings.many_runs, settings.many_steps, settings.many_batch
    problem = dlnsam.gaussian_problem(n, d, k=d, noise=0.5, seed=0, n_test=0)
    X, y = problem.X / np.sqrt(d), problem.y / np.sqrt(d)  # rows of norm about 1
    problem = dlnsam.Problem(X=X, y=y)
    algorithm = dlnsam.SAM(RHO, m=b, batch_size=b)
    kwargs = {"lr": LR, "steps": steps, "model": "linear", "record": []}
    seeds = range(runs)
    batches = np.stack([draw_batches(np.random.default_rng(s), n, b, steps) for s in seeds])
    calls = {
        "dlnsam.run_many": lambda: dlnsam.run_many(problem, algorithm, seeds=seeds, **kwargs).beta,
        "dlnsam.run, one seed after another": lambda: np.stack(
            [dlnsam.run(problem, algorithm, seed=s, **kwargs).beta for s in seeds]
        ),
        "NumPy, the runs batched": lambda: numpy_many(X, y, batches, lr=LR, rho=RHO),
    }
    if jax is not None:
        on_device = jax.device(X, y, batches)
        calls["JAX, jit(vmap(scan))"] = lambda: jax.sam_many(*on_device, lr=LR, rho=RHO)
    timed = measure_rounds(calls, rounds=settings.many_repeats)
    ours = timed["dlnsam.run_many"]
    rows, checks = [], []
    for label, timing in timed.items():
        rows.append((label, fmt_timing(timing), fmt_ratio(timing.seconds / ours.seconds)))
        if label != "dlnsam.run_many":
            error = _relative(timing.result, ours.result)
            checks.append(Check(f"many seeds: {label} vs run_many, final w", error, AGREEMENT))
    full_size = (runs, steps, n, d) == (1000, 10_000, 50, 10)
    target = Target(
        f"run_many: {runs} runs x {steps} steps, {n} x {d}",
        f"< {TARGET_SECONDS:g} s" if full_size else "(full mode only)",
        fmt_timing(ours),
        (ours.seconds < TARGET_SECONDS) if full_size else None,
    )
    setup = (
        f"Stochastic SAM(rho = {RHO}, m = b = {b}, batch {b}) on least squares in w "
        f"(model='linear'), gaussian_problem({n}, {d}, k={d}, noise=0.5, seed=0) with rows "
        f"scaled by 1/sqrt(d), lr = {LR}, {steps} steps, seeds 0..{runs - 1}. NumPy and JAX get "
        "the batches run_many draws, precomputed outside their time; run_many draws its own. "
        f"The calls take turns in {settings.many_repeats} rounds after a warm-up call each."
    )
    table = Table(("method", "time for all runs", "vs run_many"), tuple(rows))
    notes = (
        "dlnsam.run, one seed after another: what a user writes without run_many (the same "
        "compiled step loop, on one core).",
        "Agreement: the final w of every run, relative 2-norm, at most "
        f"{AGREEMENT:g} against run_many's.",
    )
    return Section(
        f"6. Many seeds ({runs} runs, n={n}, d={d})", setup, (table,), notes, (target,),
        tuple(checks),
    )  # fmt: skip
