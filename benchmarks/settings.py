"""Problem sizes, repeats and budgets of the full and the quick suite."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FULL", "QUICK", "Settings"]

Shape = tuple[int, int]  # (n, d)


@dataclass(frozen=True)
class Settings:
    """Everything that differs between ``python -m benchmarks`` and ``--quick``.

    Attributes
    ----------
    quick : bool
        Which mode this is.
    repeats : int
        Timed calls after the warm-up call, for every figure.
    step_repeats : int
        Rounds of the discrete-step timings of dlnsam and JAX, which alternate
        (section 1).
    step_blocks : int
        Blocks those rounds are split into, the algorithms taking turns block
        by block (:func:`benchmarks.timing.measure_spread`).
    steps : int
        Discrete steps per dlnsam and JAX run (section 1).
    numpy_steps : int
        Steps of the NumPy GD and n-SAM loops.
    numpy_one_sam_steps : int
        Steps of the NumPy 1-SAM loop (a Python loop over the n examples per step).
    flow_t_end : float or None
        None: integrate the flows to convergence (section 2); a number: both
        integrators run to this fixed time instead.
    ivp_budget : float
        Seconds solve_ivp may take for one integration before its time is
        extrapolated instead of measured.
    slow_budget : float
        Seconds the timed calls of one slow figure may take together.
    hypentropy_repeats : int
        Timed calls of ``dlnsam.hypentropy.solve`` at n = 20, d = 100.
    hypentropy_n, hypentropy_d : tuple of int
        The grid of the hypentropy scaling table (pairs with n ≥ d are skipped).
    scaling_shapes : tuple of (n, d)
        Shapes of the per-step scaling table (section 4).
    ratio_shape : (n, d)
        Where the 1-SAM / n-SAM step ratio is measured.
    scaling_seconds : float
        Target duration of each timed ``dlnsam.run`` call in section 4.
    slope_min_size : int
        The log–log slope is also fitted on the shapes with n·d at least this.
    sweep_problem : (n, d, k)
        The problem of the ``theorem1`` grid (section 5).
    sweep_rhos : tuple of float or None
        Its radii; None is the default grid of ``dlnsam verify``.
    sweep_workers : tuple of int
        Process counts to compare.
    sweep_repeats : int
        Timed calls of the whole grid after the warm-up call.
    """

    quick: bool
    repeats: int
    step_repeats: int
    step_blocks: int
    steps: int
    numpy_steps: int
    numpy_one_sam_steps: int
    flow_t_end: float | None
    ivp_budget: float
    slow_budget: float
    hypentropy_repeats: int
    hypentropy_n: tuple[int, ...]
    hypentropy_d: tuple[int, ...]
    scaling_shapes: tuple[Shape, ...]
    ratio_shape: Shape
    scaling_seconds: float
    slope_min_size: int
    sweep_problem: tuple[int, int, int]
    sweep_rhos: tuple[float, ...] | None
    sweep_workers: tuple[int, ...]
    sweep_repeats: int


FULL = Settings(
    quick=False,
    repeats=5,
    step_repeats=21,
    step_blocks=3,
    steps=10_000,
    numpy_steps=10_000,
    numpy_one_sam_steps=1000,
    flow_t_end=None,
    ivp_budget=300.0,
    slow_budget=20.0,
    hypentropy_repeats=50,
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
)

QUICK = Settings(
    quick=True,
    repeats=3,
    step_repeats=3,
    step_blocks=1,
    steps=2000,
    numpy_steps=500,
    numpy_one_sam_steps=50,
    flow_t_end=200.0,
    ivp_budget=10.0,
    slow_budget=2.0,
    hypentropy_repeats=5,
    hypentropy_n=(20, 100),
    hypentropy_d=(100, 1000),
    # Below the 2^17 entries where dlnsam switches to its parallel kernel, so
    # that the quick run compiles nothing beyond the serial kernels.
    scaling_shapes=((100, 10), (100, 100), (100, 1000), (1000, 100)),
    ratio_shape=(100, 1000),
    scaling_seconds=0.02,
    slope_min_size=10_000,
    sweep_problem=(10, 14, 2),
    sweep_rhos=(0.02, 0.04),
    sweep_workers=(1, 2),
    sweep_repeats=1,
)
