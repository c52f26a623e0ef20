"""Running the flows of a verification: the pool, the progress bar, the compile notice."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from numba.core.dispatcher import Dispatcher
from tqdm import tqdm

from dlnsam._pool import imap_unordered
from dlnsam.algorithms import Algorithm
from dlnsam.flows import FlowResult, flow
from dlnsam.problems import Problem

# Seconds the first kernel call may take before the user is told it compiles
# (loading the cached kernels takes a few seconds at most, even on a busy machine).
_COMPILE_NOTICE_AFTER = 5.0
# What a cold compilation of the kernels of theorem1 takes (2 cores), for the notice.
_COMPILE_SECONDS = "about 25 s on 2 cores"

#: One flow to run: the problem, the algorithm, α and the keyword arguments of ``flow``.
FlowJob = tuple[Problem, Algorithm, float, dict[str, Any]]


def check_workers(workers: object) -> int:
    """``workers`` as a count of processes: all cores for None, else an integer >= 1."""
    if workers is None:
        return os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(
            f"workers must be a positive integer (or None for all cores), got {workers!r}"
        )
    return int(workers)


def run_flow(job: FlowJob) -> FlowResult:
    """Run one flow (module level, so that worker processes can import it)."""
    problem, algorithm, alpha, kwargs = job
    return flow(problem, algorithm, alpha=alpha, **kwargs)


def run_flows(
    jobs: Sequence[FlowJob], order: Sequence[int], workers: int, progress: bool
) -> list[FlowResult]:
    """Run ``jobs`` (started in ``order``) on the package's pool; results in job order."""
    bar = tqdm(total=len(jobs), disable=not progress, file=sys.stderr, unit="flow", desc="verify")
    done: dict[int, FlowResult] = {}
    with bar:
        for position, result in imap_unordered(run_flow, [jobs[i] for i in order], workers):
            done[order[position]] = result
            bar.update()
    return [done[i] for i in range(len(jobs))]


@contextmanager
def compile_notice(enabled: bool) -> Iterator[None]:
    """Tell stderr about a long first kernel call (Numba compiling), and its time."""
    if not enabled:
        yield
        return
    start = time.perf_counter()
    told = threading.Event()

    def tell() -> None:
        told.set()
        print(
            "compiling Numba kernels on first use "
            f"({_COMPILE_SECONDS}, once; cached afterwards)...",
            file=sys.stderr,
            flush=True,
        )

    misses = _compilations()
    timer = threading.Timer(_COMPILE_NOTICE_AFTER, tell)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        if told.is_set():
            seconds = time.perf_counter() - start
            what = "compiled" if _compilations() > misses else "loaded the cached kernels"
            print(f"{what} in {seconds:.0f} s", file=sys.stderr, flush=True)


def _compilations() -> int:
    """How many signatures the kernels of dlnsam compiled (Numba cache misses) so far."""
    kernels: dict[int, Dispatcher] = {}
    # Every module of the package: kernels live in private modules and in
    # subpackages, and one kernel may be imported into several modules.
    for name, module in list(sys.modules.items()):
        if name.startswith("dlnsam.") and module is not None:
            for obj in list(vars(module).values()):
                if isinstance(obj, Dispatcher) and getattr(obj, "stats", None) is not None:
                    kernels[id(obj)] = obj
    return sum(sum(k.stats.cache_misses.values()) for k in kernels.values())
