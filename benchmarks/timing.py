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

    def describe(self) -> str:
        """How the figure was obtained, e.g. ``'median of 5 (range 4%)'``."""
        if not self.warm:
            return "1 run (no warm-up)"
        if self.runs == 1:
            return "1 run after a warm-up run"
        return f"median of {self.runs} (range {100 * self.spread:.0f}%)"


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


def measure_rounds(
    groups: Mapping[K, Mapping[str, Callable[[], T]]], *, rounds: int, blocks: int = 1
) -> dict[K, dict[str, Timing[T]]]:
    """Time groups of calls side by side, in interleaved rounds.

    After one warm-up call of every function, each round calls every function
    of a group once, in turn, in reverse order every other round (so that none
    always runs right after another). The ``rounds`` rounds of each group are
    split into ``blocks`` blocks and the groups take turns block by block (A's
    first block, B's first, ..., A's second, ...): a slow spell of the machine
    then falls on a block of every group, not on all the rounds of one.

    Returns, per group, the :class:`Timing` of each function.

    Examples
    --------
    >>> order = []
    >>> fns = {g: {f: (lambda k=g + f: order.append(k)) for f in "xy"} for g in "AB"}
    >>> timed = measure_rounds(fns, rounds=2, blocks=2)
    >>> order[4:]  # after the warm-up calls: A's first round, B's, A's second (reversed), B's
    ['Ax', 'Ay', 'Bx', 'By', 'Ay', 'Ax', 'By', 'Bx']
    >>> timed["B"]["y"].runs
    2
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    if not 1 <= blocks <= rounds:
        raise ValueError(f"blocks must be between 1 and rounds = {rounds}, got {blocks}")
    results = {g: {name: fn() for name, fn in fns.items()} for g, fns in groups.items()}
    times: dict[K, dict[str, list[float]]] = {
        g: {name: [] for name in fns} for g, fns in groups.items()
    }
    bounds = [rounds * b // blocks for b in range(blocks + 1)]
    for b in range(blocks):
        for g, fns in groups.items():
            order = list(fns.items())
            for round_ in range(bounds[b], bounds[b + 1]):
                for name, fn in order if round_ % 2 == 0 else order[::-1]:
                    start = time.perf_counter()
                    results[g][name] = fn()
                    times[g][name].append(time.perf_counter() - start)
    return {
        g: {name: Timing.of(times[g][name], results[g][name]) for name in fns}
        for g, fns in groups.items()
    }


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
