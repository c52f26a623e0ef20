"""Where a sweep's cells run: in this process, in the package's process pool, or on Dask.

A backend is a generator of result rows, in the order the cells finish, from
an iterable of cells that it consumes lazily (a bounded backlog ahead of the
free workers). Closing it early stops the running cells.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any

from dlnsam import _pool
from dlnsam.sweep import cells


def _inprocess_rows(
    todo: Iterable[dict[str, Any]], n_cells: int, workers: int, scheduler: str | None
) -> Iterator[dict[str, Any]]:
    for cell in todo:
        yield cells.run_cell(cell)


def _process_rows(
    todo: Iterable[dict[str, Any]], n_cells: int, workers: int, scheduler: str | None
) -> Iterator[dict[str, Any]]:
    if not n_cells:
        return
    # Even one worker is a process of its own (isolate): that is the backend's
    # promise, as against "inprocess".
    rows = _pool.imap_unordered(cells.run_cell, todo, workers, isolate=True)
    with contextlib.closing(rows):
        try:
            for _, row in rows:
                yield row
        except _pool.WorkerDiedError as exc:
            raise RuntimeError(
                "a sweep worker process died (killed, out of memory or crashed); the "
                "rows written so far are kept: run the sweep again to resume"
            ) from exc


# Run by each LocalCluster worker at start (Dask takes the text of a script):
# as in the process pool's workers, Ctrl-C is for the coordinator alone.
_DASK_WORKER_PRELOAD = """
import signal


def dask_setup(worker):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
"""


def import_distributed() -> Any:
    """The ``distributed`` module, or an ImportError that says what to install."""
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(
            "the dask backend needs dask.distributed: pip install 'dlnsam[dask]'"
        ) from exc
    return distributed


def _dask_rows(
    todo: Iterable[dict[str, Any]], n_cells: int, workers: int, scheduler: str | None
) -> Iterator[dict[str, Any]]:
    if not n_cells:
        return
    distributed = import_distributed()
    with contextlib.ExitStack() as stack:
        if scheduler is not None:
            client = stack.enter_context(distributed.Client(scheduler))
        else:
            cluster = stack.enter_context(
                distributed.LocalCluster(
                    n_workers=min(workers, n_cells),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",  # never collide with another cluster's port
                    preload=[_DASK_WORKER_PRELOAD],
                )
            )
            client = stack.enter_context(distributed.Client(cluster))
        remaining = iter(todo)
        # with_results: rows are fetched by Dask's event loop, so the main
        # thread only ever waits here when a stop signal arrives.
        queue = distributed.as_completed(with_results=True)
        pending: set[Any] = set()

        def submit(count: int) -> None:
            for cell in itertools.islice(remaining, count):
                future = client.submit(cells.run_cell, cell, pure=False)
                pending.add(future)
                queue.add(future)

        # Cells are submitted as workers free up, never the whole grid at once.
        n_workers = len(client.scheduler_info().get("workers", ())) or workers
        finished = False
        try:
            submit(_pool.BACKLOG_PER_WORKER * max(n_workers, 1))
            for future, row in queue:
                pending.discard(future)
                submit(1)
                yield row
            finished = True
        finally:
            if not finished:
                client.cancel(list(pending))
            pending.clear()


#: The generator of rows of each backend, called as (cells, n_cells, workers, scheduler).
BACKEND_ROWS: dict[str, Callable[..., Generator[dict[str, Any], None, None]]] = {
    "inprocess": _inprocess_rows,
    "processes": _process_rows,
    "dask": _dask_rows,
}
