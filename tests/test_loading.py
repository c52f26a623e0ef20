"""Loading user data: CSV parsing, .npz archives, the ``target`` column, bad files."""

from __future__ import annotations

import pathlib
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from dlnsam import load_problem
from dlnsam.cli import main

BOM = b"\xef\xbb\xbf"


def _csv(tmp_path: Path, content: str | bytes, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def _error(path: Path, *parts: str) -> str:
    """A pattern for a message that names ``path`` and then each of ``parts`` in order."""
    return re.escape(str(path)) + ".*" + ".*".join(re.escape(p) for p in parts)


@pytest.mark.parametrize(
    ("content", "parts"),
    [
        ("1,2,abc\n4,5,6\n7,8,9\n", ("line 1", "column 3", "'abc'")),
        ("1,2,3\n4,5,6\n7,x,9\n", ("line 3", "column 2", "'x'")),
        ("\n1,2,3\n\n4,5,6\n7,8,?\n", ("line 5", "column 3", "'?'")),  # blank lines count
        ("a,b,y\n1,2,3\n4,,6\n", ("line 3", "empty value in column 2")),
        ("1,2,3,\n4,5,6,\n", ("line 1", "empty value in column 4")),
        ("1,2,3\n4,5\n", ("line 2 has 2 columns", "line 1 (the first row) has 3")),
        ("a,b,y\n1,2,3\n4,5,6,7\n", ("line 3 has 4 columns", "line 1 (the header) has 3")),
        ("a,y\n1,2,3\n", ("line 2 has 3 columns", "line 1 (the header) has 2")),
        ("1;2;3\n4;5;6\n", ("line 2", "'4;5;6'", "separated by commas")),
        ("x1,2,y\n1,2,3\n", ("line 1", "column 1", "'x1'", "no numeric cell")),
    ],
    ids=[
        "stray-text-in-row-1",
        "stray-text-later",
        "line-numbers-count-blank-lines",
        "empty-cell",
        "trailing-comma",
        "ragged",
        "ragged-after-header",
        "header-narrower-than-data",
        "semicolons",
        "half-numeric-header",
    ],
)
def test_csv_never_drops_a_data_row(tmp_path: Path, content: str, parts: tuple[str, ...]) -> None:
    path = _csv(tmp_path, content)
    with pytest.raises(ValueError, match=_error(path, *parts)):
        load_problem(path)


@pytest.mark.parametrize(
    ("content", "parts"),
    [
        ("1,2,3\n4,nan,6\n", ("X contains 1 non-finite", "line 2 in column 2", "'nan'")),
        ("a,b,y\n1,2,3\n4,5,-inf\n", ("y contains 1 non-finite", "line 3 in column 3", "'-inf'")),
        ("1,1e999,3\n4,inf,6\n", ("X contains 2 non-finite", "line 1 in column 2", "'1e999'")),
    ],
    ids=["nan-in-X", "inf-in-y", "overflow"],
)
def test_csv_non_finite_cells_are_located(
    tmp_path: Path, content: str, parts: tuple[str, ...]
) -> None:
    path = _csv(tmp_path, content)
    with pytest.raises(ValueError, match=_error(path, *parts)):
        load_problem(path)


@pytest.mark.parametrize(
    "content",
    [
        b"a,b,y\n1,2,3\n4,5,6\n7,8,9\n",
        BOM + b"1,2,3\n4,5,6\n7,8,9\n",
        BOM + b"a,b,y\n1,2,3\n4,5,6\n7,8,9\n",
        b",b,y\r\n1,2,3\r\n4,5,6\r\n\r\n7,8,9\r\n",  # a header with an empty index cell, CRLF
        b'"x 1", " x2 ","y"\n 1, 2 ,3\n4,5,6\n7,8,9\n',
    ],
    ids=["header", "bom", "bom-and-header", "index-header-crlf", "quoted-header-spaces"],
)
def test_csv_keeps_every_data_row(tmp_path: Path, content: bytes) -> None:
    p = load_problem(_csv(tmp_path, content))
    np.testing.assert_array_equal(p.X, [[1.0, 2.0], [4.0, 5.0], [7.0, 8.0]])
    np.testing.assert_array_equal(p.y, [3.0, 6.0, 9.0])


def test_header_only_csv_says_there_is_no_data(tmp_path: Path) -> None:
    path = _csv(tmp_path, "a,b,y\n\n")
    with pytest.raises(ValueError, match=_error(path, "has a header line but no data rows")):
        load_problem(path)


@pytest.mark.parametrize(
    ("target", "match"),
    [
        (3, "target must be in [-3, 2], got 3: {path} has 3 columns"),
        (5, "target must be in [-3, 2], got 5: {path} has 3 columns"),
        (-4, "target must be in [-3, 2], got -4: {path} has 3 columns"),
        ("a", "target must be an integer column index, got 'a'"),
        (True, "target must be an integer column index, got True"),
        (1.0, "target must be an integer column index, got 1.0"),
    ],
)
def test_csv_target_is_validated(tmp_path: Path, target: object, match: str) -> None:
    path = _csv(tmp_path, "1,2,3\n4,5,6\n")
    with pytest.raises(ValueError, match=re.escape(match.format(path=path))):
        load_problem(path, target=target)  # type: ignore[arg-type]


@pytest.mark.parametrize(("target", "column"), [(0, 0), (2, 2), (-3, 0), (-1, 2), (np.int64(1), 1)])
def test_csv_target_picks_the_column(tmp_path: Path, target: int, column: int) -> None:
    data = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    p = load_problem(_csv(tmp_path, "1,2,3\n4,5,6\n"), target=target)
    np.testing.assert_array_equal(p.y, data[:, column])
    np.testing.assert_array_equal(p.X, np.delete(data, column, axis=1))


def test_npz_refuses_a_target(tmp_path: Path) -> None:
    path = tmp_path / "data.npz"
    np.savez(path, X=np.ones((2, 2)), y=np.ones(2))
    with pytest.raises(ValueError, match=_error(path, "target applies to CSV files only")):
        load_problem(path, target=0)


def _text_npz(path: Path) -> None:
    path.write_text("1,2,3\n4,5,6\n")


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _npy_named_npz(path: Path) -> None:
    with path.open("wb") as fh:
        np.save(fh, np.ones((2, 2)))


def _truncated_npz(path: Path) -> None:
    np.savez(path, X=np.ones((3, 2)), y=np.ones(3))
    path.write_bytes(path.read_bytes()[:100])


def _corrupt_npz(path: Path) -> None:
    np.savez(path, X=np.ones((30, 20)), y=np.ones(30))
    data = bytearray(path.read_bytes())
    data[200:260] = b"x" * 60
    path.write_bytes(bytes(data))


def _object_npz(path: Path) -> None:
    np.savez(path, X=np.array([[1, "a"]], dtype=object), y=np.ones(1))


def _foreign_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("X.npy", b"not an array")
        archive.writestr("y.npy", b"not an array")


def _wrong_shape_npz(path: Path) -> None:
    np.savez(path, X=np.ones(3), y=np.ones(3))


def _complex_npz(path: Path) -> None:
    np.savez(path, X=np.ones((2, 2)) * 1j, y=np.ones(2))


def _positional_npz(path: Path) -> None:
    np.savez(path, np.ones((2, 2)), np.ones(2))


def _binary_csv(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 4)


def _utf16_csv(path: Path) -> None:
    path.write_bytes("a,b,y\n1,2,3\n".encode("utf-16"))


def _latin1_csv(path: Path) -> None:
    path.write_bytes("größe,b,y\n1,2,3\n".encode("latin-1"))


def _directory(path: Path) -> None:
    path.mkdir()


BAD_FILES: list[tuple[str, Callable[[Path], None], str]] = [
    ("text.npz", _text_npz, "not a .npz file"),
    ("empty.npz", _empty, "the file is empty"),
    ("array.npz", _npy_named_npz, "not a .npz file"),
    ("truncated.npz", _truncated_npz, "not a readable .npz file"),
    ("corrupt.npz", _corrupt_npz, "cannot be read"),
    ("object.npz", _object_npz, "array 'X' cannot be read"),
    ("foreign.npz", _foreign_zip, "'X' in the archive is not a NumPy array"),
    ("shape.npz", _wrong_shape_npz, "X must be 2-D"),
    ("complex.npz", _complex_npz, "X must be real"),
    ("positional.npz", _positional_npz, "lacks array(s) ['X', 'y']"),
    ("binary.csv", _binary_csv, "not a CSV text file"),
    ("utf16.csv", _utf16_csv, "UTF-16"),
    ("latin1.csv", _latin1_csv, "not UTF-8 text (byte 0xf6 at offset 2)"),
    ("empty.csv", _empty, "the CSV file is empty"),
    ("folder.csv", _directory, "is a directory"),
    ("missing.csv", lambda path: None, "no such file"),
    ("data.txt", _latin1_csv, "must end in .npz or .csv"),
]


@pytest.mark.parametrize(
    ("name", "make", "problem"), BAD_FILES, ids=[name for name, _, _ in BAD_FILES]
)
def test_unreadable_files_name_the_path(
    tmp_path: Path, name: str, make: Callable[[Path], None], problem: str
) -> None:
    path = tmp_path / name
    make(path)
    with pytest.raises(ValueError, match=_error(path, problem)):
        load_problem(path)


def _deny(*args: object, **kwargs: object) -> bytes:
    raise PermissionError(13, "Permission denied")


@pytest.mark.parametrize("name", ["data.csv", "data.npz"])
def test_permission_errors_become_value_errors(tmp_path: Path, monkeypatch, name: str) -> None:
    path = tmp_path / name
    np.savez(tmp_path / "ok.npz", X=np.ones((2, 2)), y=np.ones(2))
    path.write_bytes((tmp_path / "ok.npz").read_bytes() if name.endswith(".npz") else b"1,2\n")
    # Tests may run as root, who reads any file: deny the read itself.
    monkeypatch.setattr(pathlib.Path, "read_bytes", _deny)
    monkeypatch.setattr(pathlib.Path, "open", _deny)
    with pytest.raises(ValueError, match=_error(path, "cannot read the file", "Permission denied")):
        load_problem(path)


@pytest.mark.parametrize(
    ("name", "make", "problem"),
    [BAD_FILES[0], BAD_FILES[10], BAD_FILES[14], BAD_FILES[15]],
    ids=["text.npz", "binary.csv", "directory", "missing"],
)
def test_cli_reports_a_bad_data_file_in_one_line(
    tmp_path: Path, capsys, name: str, make: Callable[[Path], None], problem: str
) -> None:
    path = tmp_path / name
    make(path)
    assert main(["run", "--data", str(path), "--steps", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("dlnsam run: error: ")
    assert re.search(_error(path, problem), err)


def test_cli_reports_an_unreadable_data_file_in_one_line(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    path = _csv(tmp_path, "1,2\n3,4\n")
    monkeypatch.setattr(pathlib.Path, "read_bytes", _deny)
    assert main(["run", "--data", str(path), "--steps", "5"]) == 2
    err = capsys.readouterr().err
    assert err == f"dlnsam run: error: {path}: cannot read the file (Permission denied)\n"
