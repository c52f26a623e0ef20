"""A sweep's results file: JSON lines, read and checked, appended to under a lock.

One row per line, written by the coordinating process with one ``write`` +
``flush`` + ``fsync``: a killed sweep leaves at most a torn last line, which
:func:`scan` reports and the next run truncates.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from dlnsam.sweep.cells import cell_id

try:  # POSIX
    import fcntl
except ModuleNotFoundError:  # pragma: no cover - Windows
    fcntl = None


def scan(path: Path) -> tuple[list[dict[str, Any]], int, int]:
    """The rows of the complete lines, their length in bytes and the file's size."""
    rows: list[dict[str, Any]] = []
    end = size = 0
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            size += len(line)
            if not line.endswith(b"\n"):
                break  # a torn last line: the writer was killed mid-write
            end = size
            if not line.strip():
                continue
            # Decoded here: json.loads would guess an encoding from the bytes
            # and blame a codec (UTF-32) for what is binary data in the file.
            if b"\0" in line:
                raise ValueError(
                    f"{path}: line {number} contains a NUL byte (binary data); "
                    "is this a sweep results file?"
                )
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(
                    f"{path}: line {number} is not valid UTF-8 text; is this a sweep results file?"
                ) from None
            try:
                row = json.loads(text)
            except ValueError as exc:
                raise ValueError(
                    f"{path}: line {number} is not JSON ({exc}); is this a sweep results file?"
                ) from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}: line {number} is not a JSON object")
            _check_row_id(row, path, number)
            rows.append(row)
    return rows, end, size


def _check_row_id(row: Mapping[str, Any], path: Path, number: int) -> None:
    """A row must carry the :func:`cell_id` of its own parameters."""
    given = row.get("cell_id")
    if not isinstance(given, str) or not given:
        raise ValueError(
            f"{path}: line {number} has no cell_id (got {given!r}); is this a sweep results file?"
        )
    try:
        expected = cell_id(row)
    except ValueError:  # a parameter that JSON cannot hold, so not written by a sweep
        expected = None
    if given != expected:
        raise ValueError(
            f"{path}: line {number} has cell_id {given!r}, which is not the identifier of its "
            f"parameters ({expected!r}): the line was edited or not written by a sweep"
        )


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Read a results file: one dict per complete line, in file order.

    A torn last line (no final newline: the writer was killed mid-write) is
    ignored; :func:`run_sweep` truncates it before resuming and reports it in
    :attr:`SweepResult.n_torn`. Any other line that is not a UTF-8 JSON
    object whose ``cell_id`` is the :func:`cell_id` of its parameters is a
    ``ValueError`` naming the file and the line. Blank lines are skipped.

    It needs only the standard library; unlike a plain
    ``[json.loads(line) for line in open(path)]`` it skips a torn last line and
    checks each row.

    Examples
    --------
    >>> import json, os, tempfile
    >>> from dlnsam.sweep import cell_id, read_rows
    >>> path = os.path.join(tempfile.mkdtemp(), "rows.jsonl")
    >>> row = {"n": 10, "cell_id": cell_id({"n": 10}), "train_loss": None}
    >>> with open(path, "w") as fh:
    ...     _ = fh.write(json.dumps(row) + '\\n{"n": 11, "cell_id": "b", "tr')
    >>> read_rows(path) == [row]
    True
    """
    return scan(Path(path))[0]


def resume_rows(fh: BinaryIO, path: Path) -> tuple[list[dict[str, Any]], int]:
    """The rows of ``path`` (open as ``fh``), after truncating a torn last line.

    Also the number of torn lines removed (0 or 1).
    """
    rows, end, size = scan(path)
    if end == size:
        return rows, 0
    fh.truncate(end)
    os.fsync(fh.fileno())
    return rows, 1


def write_row(fh: BinaryIO, row: Mapping[str, Any]) -> None:
    """Append ``row`` as one JSON line, flushed and synced to disk."""
    line = json.dumps(row, allow_nan=False) + "\n"
    fh.write(line.encode())  # one write per row; a kill leaves at most a torn last line
    fh.flush()
    os.fsync(fh.fileno())


def check_output(path: Path) -> None:
    """Refuse, before any work, a results path that cannot be created or appended to."""
    if path.is_dir():
        raise ValueError(f"output {str(path)!r} is a directory; give the path of a results file")
    folder = path.absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ValueError(f"output {str(path)!r}: {str(folder)!r} is a file, not a directory")
    target = path if path.exists() else folder
    if not os.access(target, os.W_OK):
        raise ValueError(f"output {str(path)!r}: {str(target)!r} is not writable")


@contextlib.contextmanager
def locked_output(path: Path) -> Iterator[BinaryIO]:
    """The results file opened for appending (created if missing) and locked.

    The lock is ``flock(LOCK_EX | LOCK_NB)`` on the results file itself, held
    until the file is closed (on any exit; the kernel drops it if the process
    dies). A file locked by another sweep is a ``ValueError``; a file system
    that refuses locks gives a ``RuntimeWarning`` and the sweep runs unlocked.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = path.open("ab")
    except OSError as exc:
        raise ValueError(f"output {str(path)!r} cannot be written: {exc.strerror or exc}") from None
    with fh:
        _lock(fh, path)
        yield fh


def _lock(fh: BinaryIO, path: Path) -> None:
    unlocked = (
        "so nothing stops another sweep from writing to the same file at the same time: "
        "run one sweep per results file"
    )
    if fcntl is None:  # pragma: no cover - Windows
        warnings.warn(f"cannot lock {path} on this platform, {unlocked}", RuntimeWarning, 3)
        return
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise ValueError(
                f"output {str(path)!r} is in use by another sweep (the file is locked): "
                "wait for that sweep to end, or write to another file"
            ) from None
        # ENOLCK, EOPNOTSUPP, ENOSYS: a network or cluster file system without
        # lock support. Refusing would make sweeps impossible there.
        warnings.warn(
            f"cannot lock {path} ({exc.strerror}): the file system does not support locks, "
            + unlocked,
            RuntimeWarning,
            3,
        )
