"""Regression problems: the data a diagonal linear network is trained on.

A :class:`Problem` holds a design ``X`` of shape (n, d) and targets ``y`` of
shape (n,), with an optional test set and planted vector. The training loss of
a linear predictor β is

.. math:: L(\\beta) = \\frac{1}{2n} \\lVert X\\beta - y \\rVert_2^2 ,

the mean of the per-example losses ℓ_i(β) = ½ (x_iᵀβ − y_i)².
"""

from __future__ import annotations

import csv
import io
import zipfile
import zlib
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dlnsam._validation import as_float_array, nonnegative_int, positive_float

__all__ = ["Problem", "gaussian_problem", "load_problem"]


def _mean_squared_half(X: NDArray[np.float64], y: NDArray[np.float64], beta: ArrayLike) -> float:
    b = np.asarray(beta, dtype=np.float64)
    if b.shape != (X.shape[1],):
        raise ValueError(f"beta must have shape ({X.shape[1]},), got {b.shape}")
    r = X @ b - y
    return float(r @ r) / (2.0 * X.shape[0])


@dataclass(frozen=True, eq=False)
class Problem:
    """A least-squares regression problem for a diagonal linear network.

    Parameters
    ----------
    X : (n, d) array_like
        Training design, finite real numbers (booleans count as 0 and 1).
    y : (n,) array_like
        Training targets, finite real numbers.
    X_test : (n_test, d) array_like, optional
        Test design, needed for :meth:`test_loss`.
    y_test : (n_test,) array_like, optional
        Test targets; given together with ``X_test``.
    beta_star : (d,) array_like, optional
        The planted predictor, when the data were generated from one.

    Raises
    ------
    ValueError
        If a field is not real-valued (complex, strings, other objects), has
        the wrong number of dimensions, mismatched lengths, or a NaN or inf;
        the message names the field.

    Notes
    -----
    The fields are float64 copies of the arrays given, made read-only: the
    caller's arrays stay writeable, and editing them later leaves the problem
    unchanged.

    Training and test losses use the same convention as the rest of dlnsam,

    .. math:: L(\\beta) = \\frac{1}{2n} \\lVert X\\beta - y \\rVert_2^2 .

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam import Problem
    >>> p = Problem(X=np.eye(2), y=np.array([1.0, -1.0]))
    >>> p.n, p.d
    (2, 2)
    >>> p.train_loss(np.zeros(2))
    0.5
    """

    X: NDArray[np.float64]
    y: NDArray[np.float64]
    X_test: NDArray[np.float64] | None = None
    y_test: NDArray[np.float64] | None = None
    beta_star: NDArray[np.float64] | None = field(default=None)

    def __post_init__(self) -> None:
        # Copies, so that freezing them below never touches the caller's arrays
        # and the caller's later edits never reach the problem.
        X = as_float_array(self.X, "X", 2, copy=True)
        y = as_float_array(self.y, "y", 1, copy=True)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"y has {y.shape[0]} entries but X has {X.shape[0]} rows")
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)
        if (self.X_test is None) != (self.y_test is None):
            raise ValueError("X_test and y_test must be given together")
        if self.X_test is not None:
            X_test = as_float_array(self.X_test, "X_test", 2, copy=True)
            y_test = as_float_array(self.y_test, "y_test", 1, copy=True)
            if X_test.shape[1] != X.shape[1]:
                raise ValueError(f"X_test has {X_test.shape[1]} columns but X has {X.shape[1]}")
            if y_test.shape[0] != X_test.shape[0]:
                raise ValueError(
                    f"y_test has {y_test.shape[0]} entries but X_test has {X_test.shape[0]} rows"
                )
            object.__setattr__(self, "X_test", X_test)
            object.__setattr__(self, "y_test", y_test)
        if self.beta_star is not None:
            beta_star = as_float_array(self.beta_star, "beta_star", 1, copy=True)
            if beta_star.shape != (X.shape[1],):
                raise ValueError(
                    f"beta_star must have shape ({X.shape[1]},), got {beta_star.shape}"
                )
            object.__setattr__(self, "beta_star", beta_star)
        self._freeze()

    def _freeze(self) -> None:
        for name in ("X", "y", "X_test", "y_test", "beta_star"):
            arr = getattr(self, name)
            if arr is not None:
                arr.setflags(write=False)

    def __setstate__(self, state: dict[str, object]) -> None:
        # Unpickled arrays come back writable, a Numba signature other than the
        # read-only one: a worker process would compile (and run) its own copy
        # of every kernel instead of loading the one its parent cached.
        self.__dict__.update(state)
        self._freeze()

    @property
    def n(self) -> int:
        """Number of training examples."""
        return int(self.X.shape[0])

    @property
    def d(self) -> int:
        """Dimension of the predictor."""
        return int(self.X.shape[1])

    @property
    def has_test(self) -> bool:
        """Whether a test set is attached."""
        return self.X_test is not None

    def train_loss(self, beta: ArrayLike) -> float:
        """Training loss ‖Xβ − y‖² / (2n) of the predictor ``beta`` (shape (d,))."""
        return _mean_squared_half(self.X, self.y, beta)

    def test_loss(self, beta: ArrayLike) -> float:
        """Test loss ‖X_test β − y_test‖² / (2 n_test); requires a test set."""
        if self.X_test is None or self.y_test is None:
            raise ValueError("this problem has no test set (X_test, y_test)")
        return _mean_squared_half(self.X_test, self.y_test, beta)


def _design(
    rng: np.random.Generator, rows: int, d: int, chol: NDArray[np.float64] | None
) -> NDArray[np.float64]:
    Z = rng.standard_normal((rows, d))
    return Z if chol is None else Z @ chol.T


def gaussian_problem(
    n: int,
    d: int,
    k: int,
    *,
    n_test: int = 1000,
    noise: float = 0.0,
    seed: int = 0,
    correlation: float = 0.0,
    beta_scale: float = 1.0,
) -> Problem:
    """Sparse regression with a Gaussian design and a k-sparse planted predictor.

    Parameters
    ----------
    n, d : int
        Number of training examples and dimension.
    k : int
        Number of non-zero entries of the planted β*, ``0 <= k <= d``.
    n_test : int, default 1000
        Number of test examples (0 for no test set).
    noise : float, default 0.0
        Standard deviation σ of the Gaussian label noise on the training set.
    seed : int, default 0
        Seed of the ``numpy.random.Generator`` that draws everything; a
        non-negative integer (``None`` is refused: the data must be
        reproducible).
    correlation : float, default 0.0
        ρ_X in [0, 1): rows are N(0, Σ) with Toeplitz covariance
        Σ_ij = ρ_X^|i−j|. 0 gives the isotropic design N(0, I_d).
    beta_scale : float, default 1.0
        Magnitude of the non-zero entries of β*.

    Returns
    -------
    Problem
        ``X`` (n, d), ``y = X β* + σ ξ`` (n,), ``X_test`` (n_test, d) from the
        same distribution, noiseless ``y_test = X_test β*`` (so the test loss
        is the excess risk ½ ‖β − β*‖²_Σ up to sampling error), and
        ``beta_star`` (d,).

    Raises
    ------
    ValueError
        If an argument has the wrong type (a float or bool where an integer is
        due, ``None`` as ``seed``) or is out of range; the message names it.

    Notes
    -----
    β* has its support drawn uniformly at random among the d coordinates, and
    its non-zero entries are ``beta_scale`` times independent random signs ±1.
    Draw order from ``numpy.random.default_rng(seed)``: X, support, signs,
    noise, X_test — so changing ``n_test`` never changes the training data.

    Examples
    --------
    >>> from dlnsam import gaussian_problem
    >>> p = gaussian_problem(n=20, d=30, k=3, seed=0)
    >>> p.X.shape, p.y.shape, int((p.beta_star != 0).sum())
    ((20, 30), (20,), 3)
    """
    n = nonnegative_int(n, "n", minimum=1)
    d = nonnegative_int(d, "d", minimum=1)
    k = nonnegative_int(k, "k")
    if k > d:
        raise ValueError(f"k must be <= d = {d}, got {k}")
    n_test = nonnegative_int(n_test, "n_test")
    seed = nonnegative_int(seed, "seed")
    noise = positive_float(noise, "noise", allow_zero=True)
    beta_scale = positive_float(beta_scale, "beta_scale")
    correlation = positive_float(correlation, "correlation", allow_zero=True)
    if correlation >= 1.0:
        raise ValueError(f"correlation must be in [0, 1), got {correlation}")

    chol = None
    if correlation > 0:
        idx = np.arange(d)
        cov = correlation ** np.abs(idx[:, None] - idx[None, :])
        chol = np.linalg.cholesky(cov)

    rng = np.random.default_rng(seed)
    X = _design(rng, n, d, chol)
    support = rng.choice(d, size=k, replace=False)
    signs = rng.choice(np.array([-1.0, 1.0]), size=k)
    beta_star = np.zeros(d)
    beta_star[support] = beta_scale * signs
    y = X @ beta_star + noise * rng.standard_normal(n)
    if n_test == 0:
        return Problem(X=X, y=y, beta_star=beta_star)
    X_test = _design(rng, n_test, d, chol)
    return Problem(X=X, y=y, X_test=X_test, y_test=X_test @ beta_star, beta_star=beta_star)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _target_column(target: int | None, ncols: int, path: Path) -> int:
    if target is None:
        return ncols - 1
    if not -ncols <= target < ncols:
        raise ValueError(
            f"target must be in [{-ncols}, {ncols - 1}], got {target}: {path} has {ncols} columns"
        )
    return target % ncols


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValueError(f"{path}: the file is UTF-16 text; save the CSV file as UTF-8")
    if b"\x00" in data:
        raise ValueError(f"{path}: not a CSV text file (it holds NUL bytes, as binary files do)")
    try:
        # utf-8-sig drops a byte-order mark, which would otherwise glue itself
        # to the first cell and make a numeric first row look like a header.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path}: not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start}); "
            "save the CSV file as UTF-8"
        ) from exc


def _read_csv(path: Path, target: int | None) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    reader = csv.reader(io.StringIO(_read_text(path), newline=""))
    rows: list[tuple[int, list[str]]] = []  # (line number in the file, stripped cells)
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                rows.append((reader.line_num, [cell.strip() for cell in row]))
    except csv.Error as exc:
        raise ValueError(f"{path}: line {reader.line_num} is not valid CSV ({exc})") from exc
    if not rows:
        raise ValueError(f"{path}: the CSV file is empty (no rows)")

    first_line, first = rows[0]
    ncols = len(first)
    # A header must have no numeric cell, so that a data row with a stray
    # non-number is reported rather than silently dropped.
    if any(_is_number(cell) for cell in first):
        reference = f"line {first_line} (the first row)"
    else:
        reference = f"line {first_line} (the header)"
        rows = rows[1:]
        if not rows:
            raise ValueError(f"{path}: the CSV file has a header line but no data rows")

    values = np.empty((len(rows), ncols))
    for r, (line, row) in enumerate(rows):
        if len(row) != ncols:
            raise ValueError(
                f"{path}: line {line} has {len(row)} columns but {reference} has {ncols}; "
                "every row needs the same number of comma-separated columns"
            )
        for c, cell in enumerate(row):
            if not cell:
                raise ValueError(f"{path}: line {line} has an empty value in column {c + 1}")
            try:
                values[r, c] = float(cell)
            except ValueError:
                hint = ""
                if any(sep in cell for sep in ";\t "):
                    hint = " (columns must be separated by commas)"
                elif line == first_line:
                    hint = " (a header line must have no numeric cell)"
                raise ValueError(
                    f"{path}: line {line} has a non-numeric value in column {c + 1}: {cell!r}{hint}"
                ) from None
    if ncols < 2:
        raise ValueError(f"{path}: need at least one feature column and one target column")
    col = _target_column(target, ncols, path)

    finite = np.isfinite(values)
    if not finite.all():
        r, c = (int(i) for i in np.argwhere(~finite)[0])
        in_y = c == col
        count = int(np.count_nonzero(~finite[:, col]))
        if not in_y:
            count = int(np.count_nonzero(~finite)) - count
        line, row = rows[r]
        raise ValueError(
            f"{path}: {'y' if in_y else 'X'} contains {count} non-finite value(s) (NaN or inf), "
            f"the first on line {line} in column {c + 1}: {row[c]!r}"
        )
    return np.delete(values, col, axis=1), values[:, col]


_NPZ_ARRAYS = ("X", "y", "X_test", "y_test", "beta_star")


# Errors NumPy and zipfile raise on a damaged or foreign archive.
_NPZ_ERRORS = (ValueError, EOFError, OSError, zipfile.BadZipFile, zlib.error)


def _read_npz(path: Path) -> Problem:
    arrays: dict[str, NDArray[np.generic]] = {}
    # Opened here rather than by np.load, which leaves the file open when the
    # archive turns out to be damaged.
    with path.open("rb") as fh:
        magic = fh.read(4)
        if not magic:
            raise ValueError(f"{path}: the file is empty")
        if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
            raise ValueError(
                f"{path}: not a .npz file (a .npz file is the zip archive numpy.savez writes)"
            )
        fh.seek(0)
        try:
            archive = np.load(fh, allow_pickle=False)
        except _NPZ_ERRORS as exc:
            raise ValueError(f"{path}: not a readable .npz file ({exc})") from exc
        with archive:
            keys = set(archive.files)
            missing = {"X", "y"} - keys
            if missing:
                raise ValueError(
                    f"{path}: the .npz file lacks array(s) {sorted(missing)}; "
                    "save it with numpy.savez(path, X=X, y=y)"
                )
            unknown = keys - set(_NPZ_ARRAYS)
            if unknown:
                raise ValueError(f"{path}: unknown array(s) {sorted(unknown)} in the .npz file")
            for key in sorted(keys):
                try:
                    value = archive[key]
                except _NPZ_ERRORS as exc:
                    raise ValueError(f"{path}: array {key!r} cannot be read ({exc})") from exc
                if not isinstance(value, np.ndarray):
                    raise ValueError(f"{path}: {key!r} in the archive is not a NumPy array")
                arrays[key] = value
    try:
        return Problem(**arrays)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def load_problem(path: str | Path, *, target: int | None = None) -> Problem:
    """Load a user's regression data from a ``.npz`` or ``.csv`` file.

    Parameters
    ----------
    path : str or Path
        ``.npz``: arrays ``X`` (n, d) and ``y`` (n,), and optionally
        ``X_test``, ``y_test`` and ``beta_star`` (as written by
        ``numpy.savez``; object arrays are never unpickled). ``.csv``: UTF-8
        text (a byte-order mark is allowed), one example per row, comma
        separated, every row with the same number of columns; the column
        ``target`` is y and the others are X.
    target : int, optional
        Index of the target column of a CSV file, in ``[-ncols, ncols - 1]``
        (negative counts from the end); by default the last column. A
        ``.npz`` file names its target array ``y``, so giving ``target`` with
        one is an error.

    Returns
    -------
    Problem
        The validated problem.

    Raises
    ------
    ValueError
        If the file is missing, unreadable or malformed, or its data are
        invalid; the message names the path and, for a CSV file, the line and
        column at fault. Also if ``target`` is not an integer in range.

    Notes
    -----
    The first non-blank line of a CSV file is a header if none of its cells is
    a number, and is then skipped. Any other non-numeric, empty or non-finite
    (NaN, inf) cell is an error, so no row is ever dropped silently. Blank
    lines are ignored.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from dlnsam import load_problem
    >>> f = os.path.join(tempfile.mkdtemp(), "data.npz")
    >>> np.savez(f, X=np.eye(3), y=np.ones(3))
    >>> load_problem(f).n
    3
    """
    if target is not None and (isinstance(target, bool) or not isinstance(target, Integral)):
        raise ValueError(f"target must be an integer column index, got {target!r}")
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if not path.exists():
            raise ValueError(f"{path}: no such file")
        if path.is_dir():
            raise ValueError(f"{path}: is a directory, not a data file")
        if suffix not in (".npz", ".csv"):
            raise ValueError(f"{path}: the file name must end in .npz or .csv")
        if suffix == ".npz":
            if target is not None:
                raise ValueError(
                    f"{path}: target applies to CSV files only (the target of a .npz "
                    f"file is its array y), got target={target!r}"
                )
            return _read_npz(path)
        X, y = _read_csv(path, None if target is None else int(target))
    except OSError as exc:
        # Missing permissions and the like: a user mistake, reported like the others.
        raise ValueError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    try:
        return Problem(X=X, y=y)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
