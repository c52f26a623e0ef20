"""Section 5: cells per second of the ``dlnsam verify`` grid, in one process and in several."""

from __future__ import annotations

from types import ModuleType

import numpy as np

import dlnsam
from benchmarks.report import Check, Section, Table, fmt_timing, relative_error
from benchmarks.settings import Settings
from benchmarks.timing import measure
from dlnsam.verify import theorem1

__all__ = ["section"]

#: The same grid must give the same numbers in one process and in several.
AGREEMENT = 1e-12


def section(settings: Settings, jax: ModuleType | None = None) -> Section:
    """Time ``dlnsam.verify.theorem1`` with 1 and more workers (``jax`` is unused)."""
    n, d, k = settings.sweep_problem
    problem = dlnsam.gaussian_problem(n, d, k, seed=0)
    kwargs = {} if settings.sweep_rhos is None else {"rhos": list(settings.sweep_rhos)}
    rows, checks = [], []
    first_rate = first_values = None
    for workers in settings.sweep_workers:
        # The warm-up call also loads the Numba cache into fresh worker processes.
        timing = measure(
            lambda w=workers: theorem1(problem, workers=w, **kwargs),
            repeats=settings.sweep_repeats,
        )
        report = timing.result
        rate = len(report.rows) / timing.seconds
        values = np.array([[r.integral_loss, r.delta_l1] for r in report.rows])
        if first_values is None:
            first_rate, first_values = rate, values
        else:
            checks.append(
                Check(
                    f"verify grid: workers={workers} vs workers={settings.sweep_workers[0]}, "
                    "int L and the l1 norm of Delta of every cell",
                    relative_error(values, first_values),
                    AGREEMENT,
                )
            )
        passed = sum(c.passed is True for c in report.claims)
        rows.append(
            (str(workers), str(len(report.rows)), fmt_timing(timing), f"{rate:.2f}",
             f"{rate / first_rate:.2f}", f"{passed}/{len(report.claims)} pass")
        )  # fmt: skip
    grid = (
        "the default grid of dlnsam verify"
        if settings.sweep_rhos is None
        else f"rhos = {list(settings.sweep_rhos)}"
    )
    setup = (
        f"dlnsam.verify.theorem1(gaussian_problem({n}, {d}, {k}), workers=w), {grid}: GF plus "
        "1-SAM and n-SAM flows at every radius (one cell = one flow), including the hypentropy "
        "solves and comparisons of the report. workers > 1 starts a fresh process pool on "
        "every call, and that start-up is part of the time."
    )
    table = Table(
        ("workers", "cells", "wall time", "cells/s", "vs 1 worker", "claims"),
        tuple(rows),
    )
    notes = (
        "claims: the PASS count of the verify report; a grid of a few radii (quick mode) is too "
        "small for some claims (e.g. the fitted slope).",
    )
    return Section("5. Sweeps: the verify grid", setup, (table,), notes, (), tuple(checks))
