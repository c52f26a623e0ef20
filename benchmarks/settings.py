"""Problem sizes, repeats and budgets of the full and the quick suite."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FULL", "QUICK", "Settings"]

Shape = tuple[int, int]  # (n, d)


@dataclass(frozen=True)
class Settings:
    """Everything that differs between ``python -m benchmarks`` and ``--quick``."""

    quick: bool  # which mode this is
    repeats: int  # timed calls after the warm-up call, for most figures
    step_repeats: int  # rounds of the step timings of section 1 (dlnsam, NumPy and JAX)
    problem: tuple[int, int, int]  # (n, d, k) of gaussian_problem in sections 1 and 2
    steps: int  # discrete steps per dlnsam and JAX run
    numpy_steps: int  # steps of the NumPy GD and n-SAM loops
    numpy_one_sam_steps: int  # steps of the NumPy 1-SAM loop (a loop over the examples)
    flow_t_end: float | None  # None: flows to convergence; else every integrator to this time
    ivp_budget: float  # seconds one solve_ivp integration may take before it is extrapolated
    slow_budget: float  # seconds the timed calls of one slow figure may take together
    hypentropy_problem: Shape  # where hypentropy.solve is compared with SLSQP
    hypentropy_batch: int  # dlnsam solves per round there (one solve is too short to time)
    hypentropy_n: tuple[int, ...]  # the grid of the hypentropy scaling table (n < d only)
    hypentropy_d: tuple[int, ...]
    scaling_shapes: tuple[Shape, ...]  # shapes of the per-step scaling table (section 4)
    ratio_shape: Shape  # where the 1-SAM / n-SAM ratio and the SGD steps are measured
    scaling_seconds: float  # target duration of each timed dlnsam.run call in section 4
    slope_min_size: int  # the slope is also fitted on the shapes with n*d at least this
    sweep_problem: tuple[int, int, int]  # (n, d, k) of the theorem1 grid (section 5)
    sweep_rhos: tuple[float, ...] | None  # its radii; None: the default grid of dlnsam verify
    sweep_workers: tuple[int, ...]  # process counts to compare
    sweep_repeats: int  # timed calls of the whole grid after the warm-up call
    many_problem: Shape  # (n, d) of the many-seeds section (section 6)
    many_runs: int  # seeds R
    many_steps: int  # steps per run
    many_batch: int  # batch size b (= the micro-batch size m)
    many_repeats: int  # rounds of its timed calls


FULL = Settings(
    quick=False,
    repeats=5,
    step_repeats=21,
    problem=(20, 30, 3),
    steps=10_000,
    numpy_steps=10_000,
    numpy_one_sam_steps=1000,
    flow_t_end=None,
    ivp_budget=300.0,
    slow_budget=20.0,
    hypentropy_problem=(20, 100),
    hypentropy_batch=10,
    hypentropy_n=(20, 100, 1000),
    hypentropy_d=(100, 10_000, 100_000),
    # n = 100 over n*d = 1e3 ... 1e7, and other shapes of the same sizes.
    scaling_shapes=(
        *((100, d) for d in (10, 100, 1000, 10_000, 100_000)),
        *((1000, d) for d in (100, 1000, 10_000)),
        (10, 100_000),
    ),
    ratio_shape=(1000, 10_000),
    scaling_seconds=0.2,
    slope_min_size=100_000,
    sweep_problem=(20, 30, 3),
    sweep_rhos=None,
    sweep_workers=(1, 2),
    sweep_repeats=3,
    many_problem=(50, 10),
    many_runs=1000,
    many_steps=10_000,
    many_batch=5,
    many_repeats=3,
)

QUICK = Settings(
    quick=True,
    repeats=3,
    step_repeats=3,
    problem=(20, 30, 3),
    steps=2000,
    numpy_steps=500,
    numpy_one_sam_steps=50,
    flow_t_end=200.0,
    ivp_budget=10.0,
    slow_budget=2.0,
    hypentropy_problem=(20, 100),
    hypentropy_batch=2,
    hypentropy_n=(20, 100),
    hypentropy_d=(100, 1000),
    # Below the size where dlnsam switches to its parallel kernel, so that the
    # quick run compiles nothing beyond the serial kernels.
    scaling_shapes=((100, 10), (100, 100), (100, 1000), (1000, 100)),
    ratio_shape=(100, 1000),
    scaling_seconds=0.02,
    slope_min_size=10_000,
    sweep_problem=(10, 14, 2),
    sweep_rhos=(0.02, 0.04),
    sweep_workers=(1, 2),
    sweep_repeats=1,
    many_problem=(50, 10),
    many_runs=50,
    many_steps=1000,
    many_batch=5,
    many_repeats=1,
)
