"""The package's process pool: results with positions, laziness, errors, stopping."""

from __future__ import annotations

import itertools
import math
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from dlnsam._pool import StopSignals, WorkerDiedError, imap_unordered


def _sleep_then_touch(item: tuple[float, str]) -> float:
    """Sleep, then create a file: the file proves that the item ran to its end."""
    seconds, path = item
    time.sleep(seconds)
    Path(path).touch()
    return seconds


def _pid(_: object) -> int:
    return os.getpid()


@pytest.mark.parametrize("workers", [1, 2])
def test_every_item_is_run_once_and_yielded_with_its_position(workers: int) -> None:
    items = [4.0, 9.0, 16.0, 25.0, 36.0]
    out = list(imap_unordered(math.sqrt, items, workers))
    assert sorted(out) == [(i, math.sqrt(x)) for i, x in enumerate(items)]


def test_one_worker_runs_in_this_process_in_order() -> None:
    assert list(imap_unordered(lambda _: os.getpid(), "abc", 1)) == [
        (0, os.getpid()),
        (1, os.getpid()),
        (2, os.getpid()),
    ]


def test_items_are_consumed_lazily() -> None:
    # An endless iterable: only a bounded backlog is ever taken from it.
    results = imap_unordered(float, itertools.count(), 2)
    got = [next(results) for _ in range(3)]
    results.close()
    assert {i for i, _ in got} <= set(range(3 + 2 * 2))
    assert not multiprocessing.active_children()


def test_no_items_start_no_process() -> None:
    assert list(imap_unordered(math.sqrt, [], 4)) == []
    assert not multiprocessing.active_children()


@pytest.mark.parametrize("workers", [1, 2])
def test_an_exception_in_fn_propagates_and_stops_the_workers(workers: int) -> None:
    with pytest.raises(ValueError, match="math domain error"):
        list(imap_unordered(math.sqrt, [1.0, -1.0, 4.0, 9.0], workers))
    assert not multiprocessing.active_children()


def test_a_dying_worker_is_reported() -> None:
    with pytest.raises(WorkerDiedError, match="worker process died"):
        list(imap_unordered(os._exit, [3, 3], 2))
    assert not multiprocessing.active_children()


def test_closing_early_kills_the_running_items(tmp_path: Path) -> None:
    quick = (0.0, str(tmp_path / "quick"))
    slow = [(60.0, str(tmp_path / f"slow{i}")) for i in range(3)]
    results = imap_unordered(_sleep_then_touch, [quick, *slow], 2)
    assert next(results) == (0, 0.0)
    results.close()
    assert not multiprocessing.active_children()
    assert (tmp_path / "quick").exists()
    assert not any((tmp_path / f"slow{i}").exists() for i in range(3))


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "2"])
def test_bad_workers_name_the_argument(value: object) -> None:
    with pytest.raises(ValueError, match="workers must be an integer >= 1"):
        imap_unordered(math.sqrt, [1.0], value)  # type: ignore[arg-type]


def test_bad_backlog_names_the_argument() -> None:
    with pytest.raises(ValueError, match="backlog must be an integer >= 1"):
        imap_unordered(math.sqrt, [1.0], 2, backlog=0)


def test_sigterm_becomes_one_keyboard_interrupt() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), StopSignals():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler runs at the next bytecode; never reached
    assert signal.getsignal(signal.SIGTERM) is previous


def test_a_stop_signal_waits_for_a_deferred_block() -> None:
    finished = []
    with pytest.raises(KeyboardInterrupt), StopSignals() as stop:
        with stop.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)
            finished.append(True)
    assert finished == [True] and stop.stopping


def test_isolate_runs_one_worker_in_a_process_of_its_own() -> None:
    [(position, pid)] = imap_unordered(_pid, [None], 1, isolate=True)
    assert position == 0 and pid != os.getpid()
    assert not multiprocessing.active_children()
