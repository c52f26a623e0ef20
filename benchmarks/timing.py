"""Wall-clock measurements: the median of several calls after a warm-up call."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Timing", "calibrate_steps", "measure", "measure_interleaved", "measure_spread"]


T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Timing(Generic[T]):
    """A measured duration, with what the last call returned.

    Attributes
    ----------
    seconds : float
        Median wall time of one call.
    runs : int
        Calls the median is taken over.
    result : object
        The return value of the last call.
    warm : bool
        Whether a warm-up call preceded them (False when the warm-up call was
        itself so long that it is the measurement).
    """

    seconds: float
    runs: int
    result: T
    warm: bool = True

    def describe(self) -> str:
        """How the figure was obtained, e.g. ``'median of 5'``."""
        if not self.warm:
            return "1 run (no warm-up)"
        if self.runs == 1:
            return "1 run after a warm-up run"
        return f"median of {self.runs}"


def measure(fn: Callable[[], T], *, repeats: int, budget: float = math.inf) -> Timing[T]:
    """Time ``fn()``: one warm-up call, then the median of up to ``repeats`` calls.

    Parameters
    ----------
    fn : callable
        The work to time, called without arguments.
    repeats : int
        Timed calls after the warm-up, ≥ 1.
    budget : float, optional
        Seconds the timed calls may take together. Fewer calls are made (at
        least one) when the warm-up call says they would exceed it; when the
        warm-up call alone exceeds it, that call is the measurement.

    Returns
    -------
    Timing
        The median, the number of calls and the last call's return value.

    Examples
    --------
    >>> measure(lambda: sum(range(100)), repeats=3).runs
    3
    """
    start = time.perf_counter()
    result = fn()
    first = time.perf_counter() - start
    if first > budget:
        return Timing(first, 1, result, warm=False)
    runs = repeats
    if math.isfinite(budget):
        runs = max(1, min(repeats, int(budget // max(first, 1e-9))))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return Timing(statistics.median(times), runs, result)


def measure_interleaved(
    fns: Mapping[str, Callable[[], T]], *, repeats: int
) -> dict[str, Timing[T]]:
    """Time several calls side by side: one warm-up call each, then ``repeats`` rounds.

    Each round calls every function once, in turn (in reverse order every
    other round, so that none always runs right after another), so a burst of
    load on the machine slows all of them alike and their ratios stay fair.

    Parameters
    ----------
    fns : mapping of str to callable
        The work to time, by name.
    repeats : int
        Rounds after the warm-up, ≥ 1.

    Returns
    -------
    dict of str to Timing
        The median of each function's calls and its last return value.

    Examples
    --------
    >>> timings = measure_interleaved({"a": lambda: 1, "b": lambda: 2}, repeats=3)
    >>> timings["b"].runs, timings["b"].result
    (3, 2)
    """
    return measure_spread({"": fns}, rounds=repeats, blocks=1)[""]


def measure_spread(
    groups: Mapping[K, Mapping[str, Callable[[], T]]], *, rounds: int, blocks: int
) -> dict[K, dict[str, Timing[T]]]:
    """Time groups of calls side by side, each group's rounds spread over the whole run.

    Within a group the calls alternate as in :func:`measure_interleaved`. The
    ``rounds`` rounds of each group are split into ``blocks`` blocks, and the
    groups take turns block by block (group A's first block, group B's first,
    ..., then A's second, ...). A slow spell of the machine that lasts a while
    then falls on a block of each group, not on every round of one group, and
    the median of each function over all its rounds stays unmoved by it.

    Parameters
    ----------
    groups : mapping of hashable to mapping of str to callable
        The work to time: groups of functions compared with each other.
    rounds : int
        Rounds per group after one warm-up call of every function, ≥ 1.
    blocks : int
        Blocks the rounds are split into, 1 ≤ blocks ≤ rounds.

    Returns
    -------
    dict of hashable to dict of str to Timing
        Per group, the median of each function's calls and its last result.

    Examples
    --------
    >>> order = []
    >>> fns = {g: {f: (lambda k=g + f: order.append(k)) for f in "xy"} for g in "AB"}
    >>> timed = measure_spread(fns, rounds=2, blocks=2)
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
        g: {
            name: Timing(statistics.median(times[g][name]), rounds, results[g][name])
            for name in fns
        }
        for g, fns in groups.items()
    }


def calibrate_steps(
    run_steps: Callable[[int], object], seconds: float, *, start: int = 10, limit: int = 10**8
) -> int:
    """The number of steps for which ``run_steps(steps)`` takes about ``seconds``.

    Grows the step count tenfold until a call takes at least a tenth of the
    target, then scales it linearly.

    Examples
    --------
    >>> 50 <= calibrate_steps(lambda s: time.sleep(1e-4 * s), 0.01, start=1) <= 100
    True
    """
    steps = start
    while True:
        t0 = time.perf_counter()
        run_steps(steps)
        elapsed = time.perf_counter() - t0
        if elapsed >= 0.1 * seconds or steps >= limit:
            break
        steps *= 10
    return int(min(limit, max(1, round(steps * seconds / max(elapsed, 1e-9)))))
