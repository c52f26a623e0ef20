"""The package's one process pool: lazy, interruptible, and tied to its coordinator.

:func:`imap_unordered` runs a module-level function over an iterable of items
in worker processes and yields each result as it finishes, with the item's
position. It is what the sweep's ``processes`` backend and the flows of
``dlnsam verify`` run on. What it guarantees:

- Items are taken from the iterable lazily, a bounded backlog ahead of the
  free workers, so memory does not grow with the number of items.
- Workers are fresh interpreters (``spawn``): safe whatever threads the
  coordinator runs (tqdm's monitor, Dask, a GUI), and children of the
  coordinator, so that they can watch it.
- Workers die with their coordinator, even when it is killed by SIGKILL
  (``PR_SET_PDEATHSIG`` on Linux, else a thread that polls the parent).
- Ctrl-C reaches the whole process group, but only the coordinator acts on
  it: workers ignore SIGINT. On KeyboardInterrupt, an exception (raised by
  ``fn`` or by the consumer) or when the generator is closed, the running
  workers are killed and reaped before control returns.

:class:`StopSignals` turns SIGTERM (and SIGINT) into one KeyboardInterrupt,
deferred while the coordinator writes a result, for callers that must stop
cleanly on either signal.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from types import FrameType
from typing import Any, TypeVar

__all__ = ["BACKLOG_PER_WORKER", "StopSignals", "WorkerDiedError", "imap_unordered"]

T = TypeVar("T")
R = TypeVar("R")

#: Items handed to the pool ahead of the free workers, per worker: enough to
#: keep every worker busy, few enough that memory does not grow with the items.
BACKLOG_PER_WORKER = 2
# Seconds to wait for killed worker processes to exit.
_JOIN_TIMEOUT = 10.0
# Seconds between a worker's checks that its coordinator is still alive.
_PARENT_POLL = 1.0
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class WorkerDiedError(RuntimeError):
    """A worker process ended while running an item (killed, out of memory or crashed)."""


def imap_unordered(
    fn: Callable[[T], R],
    items: Iterable[T],
    workers: int,
    *,
    backlog: int = BACKLOG_PER_WORKER,
    isolate: bool = False,
) -> Iterator[tuple[int, R]]:
    """Run ``fn(item)`` for each item, in ``workers`` processes; yield results as they finish.

    Parameters
    ----------
    fn : callable
        A module-level (picklable) function of one item.
    items : iterable
        The items, consumed lazily: at most ``backlog * workers`` of them are
        submitted ahead of the results taken so far. Each item must pickle.
    workers : int
        Worker processes, >= 1. With 1 (and not ``isolate``), ``fn`` runs in
        this process, in item order, and no process is started. No more
        processes are started than there are items.
    backlog : int, default 2
        Items queued per worker, >= 1.
    isolate : bool, default False
        Run ``fn`` in a worker process even when ``workers`` is 1, so that an
        item that crashes the interpreter does not take this process with it.

    Yields
    ------
    (int, R)
        The position of the item in ``items`` (0-based) and ``fn(item)``, in
        the order in which the items finish.

    Raises
    ------
    ValueError
        For ``workers`` or ``backlog`` not an integer >= 1.
    WorkerDiedError
        When a worker process dies while running an item.
    Exception
        Whatever ``fn`` raises, after the other workers were stopped.

    Notes
    -----
    When the generator stops early (KeyboardInterrupt, an exception, the
    consumer breaking out of its loop or calling ``close()``), the running
    items are killed rather than awaited and the queued ones dropped; every
    worker has exited when control returns. On Linux a worker is killed by
    the kernel when the thread that started it ends, so consume the
    generator in a thread that lives as long as the work (the workers are
    started from the thread that iterates it).

    Examples
    --------
    >>> from math import sqrt
    >>> from dlnsam._pool import imap_unordered
    >>> sorted(imap_unordered(sqrt, [4.0, 9.0, 16.0], workers=1))
    [(0, 2.0), (1, 3.0), (2, 4.0)]
    """
    for value, name in ((workers, "workers"), (backlog, "backlog")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if workers == 1 and not isolate:
        return ((i, fn(item)) for i, item in enumerate(items))
    return _pooled(fn, items, workers, backlog)


def _pooled(
    fn: Callable[[T], R], items: Iterable[T], workers: int, backlog: int
) -> Iterator[tuple[int, R]]:
    numbered = enumerate(items)
    first = list(itertools.islice(numbered, backlog * workers))
    if not first:
        return
    # The pool starts processes as items are submitted, so it never starts
    # more than there are items.
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_init,
        initargs=(os.getpid(),),
    )
    pending: dict[Future[R], int] = {}

    def submit(batch: Iterable[tuple[int, T]]) -> None:
        for i, item in batch:
            pending[pool.submit(fn, item)] = i

    finished = False
    try:
        submit(first)
        del first
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                i = pending.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool as exc:
                    raise WorkerDiedError(
                        "a worker process died (killed, out of memory or crashed)"
                    ) from exc
                submit(itertools.islice(numbered, 1))
                yield i, result
        finished = True
    finally:
        if not finished:
            # Stopped early: kill the running items now rather than wait for
            # them; shutdown() then drops the queue.
            _terminate_workers(pool)
        pool.shutdown(wait=True, cancel_futures=True)


def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
        return
    # Earlier versions have no public way to stop a running task. The futures
    # are not cancelled here: on Python 3.11 the pool's manager thread fails on
    # a cancelled future when it finds the workers dead (InvalidStateError).
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(_JOIN_TIMEOUT)


def _worker_init(parent: int) -> None:
    # Ctrl-C reaches the whole process group: the coordinator alone decides to
    # stop, then kills the workers with SIGTERM, whose default action is wanted.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _exit_with_parent(parent)


def _exit_with_parent(parent: int) -> None:
    """End this worker process when its coordinator (process ``parent``) dies.

    A coordinator killed with SIGKILL cannot stop its workers, which would
    wait for work forever (and keep the resource tracker alive). On Linux the
    kernel sends SIGKILL when the thread that started the worker ends; the
    pool starts its workers from the thread that submits the items, the one
    that iterates :func:`imap_unordered`. Elsewhere (or if prctl fails) a
    daemon thread notices the new parent within ``_PARENT_POLL`` seconds,
    though only when the running item lets go of the GIL.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # died before prctl: no signal will come
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(_PARENT_POLL)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="dlnsam-parent-watch", daemon=True).start()


class StopSignals:
    """Turn SIGTERM (and SIGINT) into one KeyboardInterrupt while the block runs.

    Installed only in the main thread and restored on exit. SIGINT is taken
    over only if it has Python's default handler (an ignored SIGINT stays
    ignored). The first signal raises KeyboardInterrupt, unless the
    coordinator is inside :meth:`deferred` (writing a result), when it is
    raised right after that block; later signals are noted but do not
    interrupt the shutdown of the workers.

    Examples
    --------
    >>> from dlnsam._pool import StopSignals
    >>> with StopSignals() as stop:
    ...     with stop.deferred():
    ...         pass  # a write that a stop signal must not tear
    >>> stop.stopping
    False
    """

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}
        self._deferring = False
        self._pending = False
        self.stopping = False

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                if sig == signal.SIGINT and signal.getsignal(sig) is not signal.default_int_handler:
                    continue
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:
            return
        if self._deferring:
            self._pending = True
            return
        self.stopping = True
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Defer a stop signal until the block (e.g. one result's write) is done."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
        if self._pending and not self.stopping:
            self.stopping = True
            raise KeyboardInterrupt
