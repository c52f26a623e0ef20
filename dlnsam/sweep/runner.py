"""Running a sweep: :func:`run_sweep` and its :class:`SweepResult`."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from tqdm import tqdm

from dlnsam._pool import StopSignals
from dlnsam.results import Status
from dlnsam.sweep import results_file
from dlnsam.sweep.backends import BACKEND_ROWS, import_distributed
from dlnsam.sweep.config import SweepConfig, check_backend, iter_cells, load_config
from dlnsam.sweep.resume import CellPositions, foreign_message
from dlnsam.sweep.values import CONFIRM_ABOVE, FAILED


@dataclass(frozen=True)
class SweepResult:
    """The outcome of :func:`run_sweep`.

    Attributes
    ----------
    path : Path
        The results file.
    rows : list of dict
        Every row of the file: first this configuration's cells in cell
        order (the first row of each ``cell_id``), then rows of other
        configurations in file order.
    n_cells : int
        Cells of the configuration.
    n_skipped : int
        Cells that already had a row before this call (not recomputed).
    n_run : int
        Cells run and written by this call.
    n_failed : int
        Cells of the configuration whose row has status ``error``,
        ``diverged`` or ``step_size_underflow``.
    interrupted : bool
        Stopped by Ctrl-C or SIGTERM; run again to finish.
    seconds : float
        Wall time of this call.
    n_torn : int
        Torn last lines (0 or 1) removed from the file before resuming.

    Examples
    --------
    >>> from pathlib import Path
    >>> from dlnsam.sweep import SweepResult
    >>> SweepResult(Path("r.jsonl"), [], 4, 1, 3, 0, False, 2.5).n_done
    4
    """

    path: Path
    rows: list[dict[str, Any]]
    n_cells: int
    n_skipped: int
    n_run: int
    n_failed: int
    interrupted: bool
    seconds: float
    n_torn: int = 0

    @property
    def n_done(self) -> int:
        """Cells of the configuration that have a row."""
        return self.n_skipped + self.n_run

    def summary(self) -> str:
        """A one-paragraph account for the command line."""
        text = (
            f"Sweep of {self.n_cells} cells into {self.path}: {self.n_run} run in "
            f"{self.seconds:.1f} s, {self.n_skipped} skipped (already in the file), "
            f"{self.n_failed} failed (status error, diverged or step_size_underflow; "
            "see their message)."
        )
        if self.n_torn:
            text += " A torn last line left by a killed sweep was removed and its cell rerun."
        if self.interrupted:
            remaining = self.n_cells - self.n_done
            text += (
                f" Interrupted with {remaining} cells to go: every finished cell is saved; "
                "run the same command again to resume."
            )
        return text


def _settings(
    config: SweepConfig,
    output: str | Path | None,
    backend: str | None,
    workers: int | None,
    scheduler: str | None,
) -> tuple[Path, str, int, str | None]:
    """Resolve the run settings: arguments override the config's [sweep] table."""
    if scheduler is not None and backend is None:
        backend = "dask"  # a scheduler address means Dask
    backend = backend or config.backend or "processes"
    check_backend(backend, workers, scheduler, "")
    if workers is None and backend != "inprocess":
        workers = config.workers
    if scheduler is None and backend == "dask" and workers is None:
        scheduler = config.scheduler
    if output is None:
        if config.output is None:
            raise ValueError("output: give [sweep] output in the config or an output path")
        output = config.output
    return Path(output), backend, workers or os.cpu_count() or 1, scheduler


def _confirmed(confirm: bool | Callable[[int], bool], n_cells: int) -> bool:
    return confirm if isinstance(confirm, bool) else bool(confirm(n_cells))


def run_sweep(
    config: SweepConfig | str | Path,
    *,
    output: str | Path | None = None,
    backend: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    force: bool = False,
    confirm: bool | Callable[[int], bool] = False,
    label: str | None = None,
) -> SweepResult:
    """Run every cell of a sweep that is not yet in its results file.

    Parameters
    ----------
    config : SweepConfig, str or Path
        A configuration or the path of its TOML file.
    output : str or Path, optional
        Results file (JSON lines); overrides ``[sweep] output``. A relative
        path is relative to the working directory.
    backend : {'processes', 'inprocess', 'dask'}, optional
        Overrides ``[sweep] backend``; default ``"processes"``, or ``"dask"``
        when ``scheduler`` is given.
    workers : int, optional
        Worker processes (``processes``) or LocalCluster workers (``dask``);
        default ``[sweep] workers``, else ``os.cpu_count()``.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); its
        workers must be able to import this version of dlnsam.
    progress : bool, default True
        Print the cell count, then show a progress bar (done / total, rate,
        ETA), on stderr.
    force : bool, default False
        Resume into a results file that holds rows which are not cells of
        this configuration (the grid changed, or another configuration wrote
        to it): keep them and add this configuration's cells. Without it such
        a file is a ``ValueError``.
    confirm : bool or callable, default False
        Whether a grid of more than :data:`CONFIRM_ABOVE` cells may run:
        True runs it, False refuses it, and a callable is asked with the cell
        count (e.g. a prompt) and runs it if it returns True. Smaller grids
        always run.
    label : str, optional
        Name of the sweep on stderr (the progress bar); default the config
        file's stem, else the results file's stem.

    Returns
    -------
    SweepResult

    Raises
    ------
    ValueError
        Before any cell runs: for an invalid configuration or setting; an
        output that is a directory, lies under a file or cannot be written;
        an output in use by another sweep; a grid above
        :data:`CONFIRM_ABOVE` cells that was not confirmed; a results file
        with a line that is not a UTF-8 JSON object with the ``cell_id`` of
        its parameters (other than a torn last line), or with rows that are
        not cells of the configuration (unless ``force``).
    ImportError
        For the ``dask`` backend without ``dask.distributed`` installed.

    Warns
    -----
    RuntimeWarning
        When the file system does not support locks: the sweep runs unlocked.

    Notes
    -----
    Resume: cells whose :func:`cell_id` already has a row in ``output`` are
    skipped; a torn last line is truncated first. A row is the cell of this
    configuration that has its parameters, so a grid that grew (more seeds)
    resumes, and a grid that changed refuses the file (see ``force``). Cells
    are generated and submitted lazily: memory does not grow with the grid
    (only with the rows in the file).

    One sweep per file: the results file is locked with ``flock(2)`` for the
    whole call, and a second sweep on the same file refuses to start. On a
    local file system this holds between any two processes. On NFS, Linux
    (2.6.12 and later) turns ``flock`` into a whole-file POSIX lock that the
    server arbitrates, so it holds between machines only if the server
    supports locking and the share is not mounted with ``nolock`` or
    ``local_lock``; with those, a lock taken on one machine is not seen on
    another. Where the file system refuses locks (ENOLCK, EOPNOTSUPP,
    ENOSYS, e.g. Lustre mounted without ``flock``) the sweep warns and runs
    unlocked.

    Workers: worker processes of the ``processes`` backend exit when the
    coordinator dies, even by SIGKILL (at once on Linux, else within a
    second once their cell lets go of the GIL).

    Interruption: Ctrl-C (SIGINT) or SIGTERM stops the sweep promptly — the
    queue is cancelled, running cells are killed and the Dask cluster closed —
    and returns with ``interrupted=True``; every row written so far is kept.
    Rows are written only by this process, each with one ``write`` followed by
    ``flush`` and ``fsync``; a stop signal that arrives during a write waits
    for it to end. The signal handlers are installed only in the main thread
    and only for the duration of the call. A SIGINT that the process inherits
    as ignored (a background job, ``cmd &``, of a shell script) stays ignored;
    SIGTERM still stops the sweep.

    Examples
    --------
    >>> import os, tempfile
    >>> from dlnsam.sweep import SweepConfig, run_sweep
    >>> cfg = SweepConfig.from_dict({
    ...     "problem": {"n": 10, "d": 12, "k": 2, "alpha": 0.1, "seed": [0, 1]},
    ...     "algorithm": [{"name": "1-sam", "rho": 0.1, "lr": 0.05, "steps": 200}],
    ... })
    >>> out = os.path.join(tempfile.mkdtemp(), "results.jsonl")
    >>> res = run_sweep(cfg, output=out, backend="inprocess", progress=False)
    >>> res.n_run, res.n_failed, [row["seed"] for row in res.rows]
    (2, 0, [0, 1])
    >>> run_sweep(cfg, output=out, backend="inprocess", progress=False).n_skipped
    2
    """
    start = time.perf_counter()
    if not isinstance(confirm, bool) and not callable(confirm):
        raise ValueError(
            f"confirm must be True, False or a function of the cell count, got {confirm!r}"
        )
    if not isinstance(config, SweepConfig):
        if label is None:
            label = Path(config).stem
        config = load_config(config)
    path, backend, workers, scheduler = _settings(config, output, backend, workers, scheduler)
    if label is None:
        label = path.stem
    if backend == "dask":
        import_distributed()  # fail before touching the results file
    results_file.check_output(path)
    n_cells = config.size
    if n_cells > CONFIRM_ABOVE and not _confirmed(confirm, n_cells):
        raise ValueError(
            f"the grid has {n_cells:,} cells, more than {CONFIRM_ABOVE:,}: pass --yes "
            "(confirm=True) to run them all, or make the grid smaller"
        )
    position = CellPositions(config)
    with results_file.locked_output(path) as fh:
        if progress:
            print(f"{label}: {n_cells:,} cells, results in {path}", file=sys.stderr, flush=True)
        existing, n_torn = results_file.resume_rows(fh, path)
        done = {position(row) for row in existing}
        foreign = [row for row in existing if position(row) is None]
        if foreign and not force:
            raise ValueError(foreign_message(path, config, foreign, n_cells))
        done.discard(None)
        todo = (cell for i, cell in enumerate(iter_cells(config)) if i not in done)
        rows = BACKEND_ROWS[backend](todo, n_cells - len(done), workers, scheduler)
        bar = tqdm(
            total=n_cells,
            initial=len(done),
            disable=not progress,
            file=sys.stderr,
            unit="cell",
            desc=label,
            dynamic_ncols=True,
        )
        new_rows, interrupted = _write_rows(fh, rows, bar)
    table, n_failed = _table(position, [*existing, *new_rows])
    return SweepResult(
        path=path,
        rows=table,
        n_cells=n_cells,
        n_skipped=len(done),
        n_run=len(new_rows),
        n_failed=n_failed,
        interrupted=interrupted,
        seconds=time.perf_counter() - start,
        n_torn=n_torn,
    )


def _write_rows(
    fh: BinaryIO, rows: Generator[dict[str, Any], None, None], bar: tqdm
) -> tuple[list[dict[str, Any]], bool]:
    """Append each row of a backend as it comes; the rows written, and whether interrupted.

    A stop signal (Ctrl-C, SIGTERM) closes the backend, which stops its
    running cells; one that arrives during a write waits for the row.
    """
    written: list[dict[str, Any]] = []
    n_failed = 0
    with StopSignals() as stop:
        try:
            with bar, contextlib.closing(rows):
                for row in rows:
                    if row.get("status") == Status.INTERRUPTED.value:
                        # The run saw the Ctrl-C itself: a partial result, not a row.
                        raise KeyboardInterrupt
                    with stop.deferred():
                        results_file.write_row(fh, row)
                        written.append(row)
                        n_failed += row.get("status") in FAILED
                        bar.update(1)
                        if n_failed:
                            bar.set_postfix(failed=n_failed, refresh=False)
        except KeyboardInterrupt:
            return written, True
    return written, False


def _table(
    position: CellPositions, rows: Iterable[dict[str, Any]]
) -> tuple[list[dict[str, Any]], int]:
    """The rows of the result: this configuration's cells in cell order, then the others.

    Also the number of this configuration's cells that failed.
    """
    ours: dict[int, dict[str, Any]] = {}
    others: dict[Any, dict[str, Any]] = {}
    for row in rows:
        i = position(row)
        if i is None:
            others.setdefault(row.get("cell_id"), row)
        else:
            ours.setdefault(i, row)
    table = [ours[i] for i in sorted(ours)]
    n_failed = sum(row.get("status") in FAILED for row in table)
    return [*table, *others.values()], n_failed
