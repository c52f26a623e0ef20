"""Wall-clock measurements: medians with their spread, after a warm-up call.

A busy machine slows some calls and not others. Two habits keep ratios fair
without measuring the machine itself: the calls compared with each other take
turns round by round (:func:`measure_rounds`), so a slow spell falls on both
sides of a ratio, and every figure is a median reported with the range of its
calls (:attr:`Timing.spread`).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Timing", "calibrate_steps", "measure", "measure_rounds"]

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Timing(Generic[T]):
    """A measured duration, with what the last call returned."""

    seconds: float  # median wall time of one call
    low: float  # the fastest call
    high: float  # the slowest call
    runs: int  # calls the median is taken over
    result: T  # the return value of the last call
    warm: bool = True  # False: the warm-up call was so long that it is the measurement

    @classmethod
    def of(cls, times: list[float], result: T, warm: bool = True) -> Timing[T]:
        """The median and range of ``times``."""
        return cls(statistics.median(times), min(times), max(times), len(times), result, warm)

    @property
    def spread(self) -> float:
        """(high − low) / median: 0 for a single call.

        Examples
        --------
        >>> round(Timing.of([1.0, 1.1, 1.3], None).spread, 2)
        0.27
        """
        return (self.high - self.low) / self.seconds if self.seconds > 0 else 0.0


def measure(fn: Callable[[], T], *, repeats: int, budget: float = math.inf) -> Timing[T]:
    """Time ``fn()``: one warm-up call, then the median of up to ``repeats`` calls.

    ``budget`` is the seconds the timed calls may take together: fewer calls
    are made (at least one) when the warm-up call says they would exceed it,
    and when the warm-up call alone exceeds it, that call is the measurement.

    Examples
    --------
    >>> measure(lambda: sum(range(100)), repeats=3).runs
    3
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    start = time.perf_counter()
    result = fn()
    first = time.perf_counter() - start
    if first > budget:
        return Timing.of([first], result, warm=False)
    runs = repeats
    if math.isfinite(budget):
        runs = max(1, min(repeats, int(budget // max(first, 1e-9))))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return Timing.of(times, result)


def measure_rounds(fns: Mapping[K, Callable[[], T]], *, rounds: int) -> dict[K, Timing[T]]:
    """Time calls side by side: one warm-up call each, then ``rounds`` rounds of one call each.

    Every other round runs in reverse order, so that no call always runs right
    after another; a slow spell of the machine then falls on a round of every
    call, not on all the calls of one.

    Examples
    --------
    >>> order = []
    >>> timed = measure_rounds({k: (lambda k=k: order.append(k)) for k in "xyz"}, rounds=2)
    >>> order[3:], timed["y"].runs  # after the warm-up calls
    (['x', 'y', 'z', 'z', 'y', 'x'], 2)
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    results = {key: fn() for key, fn in fns.items()}
    times: dict[K, list[float]] = {key: [] for key in fns}
    order = list(fns.items())
    for round_ in range(rounds):
        for key, fn in order if round_ % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            results[key] = fn()
            times[key].append(time.perf_counter() - start)
    return {key: Timing.of(times[key], results[key]) for key in fns}


def calibrate_steps(
    run_steps: Callable[[int], object],
    seconds: float,
    *,
    start: int = 10,
    limit: int = 10**8,
    clock: Callable[[], float] = time.perf_counter,
) -> int:
    """The number of steps for which ``run_steps(steps)`` takes about ``seconds``.

    Grows the step count tenfold until a call takes at least a tenth of the
    target, then scales it linearly.

    Examples
    --------
    >>> now = [0.0]  # a fake clock, advanced by a fixed amount per call
    >>> def run(steps):
    ...     now[0] += steps * 2**-10
    >>> calibrate_steps(run, 2**-4, start=1, clock=lambda: now[0])
    64
    """
    steps = start
    while True:
        t0 = clock()
        run_steps(steps)
        elapsed = clock() - t0
        if elapsed >= 0.1 * seconds or steps >= limit:
            break
        steps *= 10
    return int(min(limit, max(1, round(steps * seconds / max(elapsed, 1e-9)))))
