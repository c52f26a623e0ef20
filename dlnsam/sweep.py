"""Experiment sweeps: grids of problems × algorithms × hyperparameters.

A sweep is described by a TOML file (see ``experiments/example_sweep.toml``)
and expands into independent *cells*. Each cell is a flat dict of JSON values
(problem, algorithm, hyperparameters, requested outputs) and :func:`run_cell`
is a pure function of it: randomness enters only through the cell's ``seed``
(the seed of the Gaussian problem and of the batch sampler), so a cell gives
the same numbers on every backend and every machine with the same libraries.

Results go to a JSON-lines file, one row per cell, written by the coordinating
process with one ``write`` + ``flush`` + ``fsync`` per row: a killed sweep
leaves at most a torn last line, which the next run truncates. Running the
same configuration again resumes it: cells whose :func:`cell_id` already has a
row are skipped. Every row carries its parameters and their ``cell_id``, so
the file itself records which cells it holds: a configuration whose grid no
longer contains some of them refuses the file unless forced (``force=True``,
``--force``), so that two grids never mix by accident. The file is locked
while a sweep writes to it (see :func:`run_sweep` for what holds on NFS).
Read it with :func:`read_rows` (standard library only), or as a table with
``pandas.read_json(path, lines=True)`` if pandas is installed.

Backends: ``"inprocess"`` (a plain loop), ``"processes"`` (the default, a
``concurrent.futures.ProcessPoolExecutor``) and ``"dask"`` (``dask.distributed``
on a ``LocalCluster`` or an existing scheduler; ``pip install "dlnsam[dask]"``).

The configuration file::

    [sweep]                  # all optional; run_sweep / CLI arguments override them
    output = "results/example.jsonl"   # relative to the config file's folder
    backend = "processes"    # "processes" | "inprocess" | "dask"
    workers = 2              # processes or LocalCluster workers (default: all cores)
    scheduler = "tcp://host:8786"      # dask only: use this scheduler

    [problem]                # gaussian_problem; every value may be a list (a grid axis)
    n = 20                   # required
    d = 30                   # required
    k = 3                    # required
    alpha = 0.05             # required: initialization scale, u0 = 2 alpha, v0 = 0
    seed = [0, 1, 2]         # default 0; also seeds the batch sampler of SGD / stochastic SAM
    noise = 0.0              # default 0.0
    correlation = 0.0        # default 0.0
    n_test = 1000            # default 1000

    [[algorithm]]            # one table per algorithm; list values are grid axes
    name = "1-sam"           # gd, sgd, n-sam, 1-sam or m-sam (never an axis)
    mode = "discrete"        # or "flow" (never an axis)
    rho = [0.01, 0.05]       # the options the algorithm takes: rho, m, batch_size, normalize
    lr = 0.05                # discrete: lr and steps required; lr_decay, loss_tol optional
    steps = 10000
    lr_decay = [5000]        # a list of steps, but never an axis
    # flow: rtol, t_max (defaults of dlnsam.flow), loss_tol; lr, steps, lr_decay are errors

    [outputs]                # extra columns, all false by default (never axes)
    history = false          # history_steps, history_train, history_test
    beta = false             # the final beta
    path_alpha = false       # alpha_path, alpha_path_distance (hypentropy.closest_alpha)

``name``, ``mode``, ``lr_decay`` and everything in ``[sweep]`` and ``[outputs]``
are never grid axes; every other value is an axis when it is a list.

A cell holds the ``[outputs]`` flags as ``store_history``, ``store_beta`` and
``store_path_alpha`` (a row's column ``beta`` is the final β), so turning an
output on makes new cells rather than skipping rows that lack the column.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import inspect
import itertools
import json
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, BinaryIO

import numpy as np
from tqdm import tqdm

from dlnsam import hypentropy
from dlnsam._validation import nonnegative_int, positive_float
from dlnsam.algorithms import ALGORITHMS, algorithm_from_name
from dlnsam.flows import flow
from dlnsam.metrics import support_recovery
from dlnsam.problems import gaussian_problem
from dlnsam.results import Status, json_safe
from dlnsam.training import run

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    try:
        import tomli as tomllib
    except ModuleNotFoundError:
        tomllib = None

try:  # POSIX
    import fcntl
except ModuleNotFoundError:  # pragma: no cover - Windows
    fcntl = None

__all__ = [
    "BACKENDS",
    "CELL_KEYS",
    "CONFIRM_ABOVE",
    "METRIC_KEYS",
    "AlgorithmGrid",
    "SweepConfig",
    "SweepResult",
    "cell_id",
    "expand",
    "iter_cells",
    "load_config",
    "read_rows",
    "run_cell",
    "run_sweep",
]

BACKENDS = ("processes", "inprocess", "dask")
MODES = ("discrete", "flow")

#: Problem keys, in the order of the grid (outermost first) and of a cell.
PROBLEM_KEYS = ("n", "d", "k", "seed", "noise", "alpha", "correlation", "n_test")
#: Algorithm options and run settings, in grid order.
ALGORITHM_KEYS = ("rho", "m", "batch_size", "normalize", "lr", "steps", "loss_tol", "rtol", "t_max")
OUTPUT_KEYS = ("history", "beta", "path_alpha")
#: The [outputs] flags as cell parameters ("beta" is the column of the final β).
STORE_KEYS = ("store_history", "store_beta", "store_path_alpha")
#: The parameters of a cell, in order; None where a setting does not apply.
CELL_KEYS = (
    *PROBLEM_KEYS,
    "algorithm",
    "mode",
    "rho",
    "m",
    "batch_size",
    "normalize",
    "lr",
    "steps",
    "lr_decay",
    "loss_tol",
    "rtol",
    "t_max",
    *STORE_KEYS,
)
#: Result columns of every row, after the parameters and ``cell_id``.
METRIC_KEYS = (
    "status",
    "message",
    "train_loss",
    "test_loss",
    "l1_norm",
    "support",
    "dist_beta_star",
    "integral_loss",
    "n_steps",
    "t_end",
    "delta_l1",
    "alpha_eff_geomean",
)
_OPTIONAL_METRICS = {
    "store_path_alpha": ("alpha_path", "alpha_path_distance"),
    "store_history": ("history_steps", "history_train", "history_test"),
    "store_beta": ("beta",),
}
# A status that means the numbers are not to be trusted (Status.ok is False).
_FAILED = {"error", Status.DIVERGED.value, Status.STEP_SIZE_UNDERFLOW.value}

_SECTIONS = ("sweep", "problem", "algorithm", "outputs")
_SWEEP_KEYS = ("output", "backend", "workers", "scheduler")
_REQUIRED_PROBLEM_KEYS = ("n", "d", "k", "alpha")
_ALGORITHM_OPTION_KEYS = ("rho", "m", "batch_size", "normalize")
_MODE_KEYS = {
    "discrete": ("name", "mode", *_ALGORITHM_OPTION_KEYS, "lr", "steps", "lr_decay", "loss_tol"),
    "flow": ("name", "mode", "rho", "m", "normalize", "rtol", "t_max", "loss_tol"),
}

# The defaults of the functions a cell calls, read from their signatures so
# that a row records the value that was used and there is one source of truth.
_PROBLEM_DEFAULTS = {
    key: p.default
    for key, p in inspect.signature(gaussian_problem).parameters.items()
    if key in PROBLEM_KEYS and p.default is not inspect.Parameter.empty
}
_FLOW_DEFAULTS = {key: inspect.signature(flow).parameters[key].default for key in ("rtol", "t_max")}
# Flow histories: this many log-spaced record times per decade, from 1e-2 to t_max.
_FLOW_RECORDS_PER_DECADE = 25
_FLOW_FIRST_RECORD = 1e-2
# Seconds to wait for killed worker processes to exit.
_JOIN_TIMEOUT = 10.0
#: A grid of more cells than this runs only when confirmed (``confirm`` / ``--yes``).
CONFIRM_ABOVE = 100_000
# Cells handed to the backend ahead of the free workers, per worker: enough to
# keep every worker busy, few enough that memory does not grow with the grid.
_QUEUED_PER_WORKER = 2
# Seconds between a worker's checks that its coordinator is still alive.
_PARENT_POLL = 1.0
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


# --------------------------------------------------------------------------- values


def _integer(minimum: int) -> Callable[[Any, str], int]:
    def check(value: Any, name: str) -> int:
        return nonnegative_int(value, name, minimum=minimum)

    return check


def _real(
    *, allow_zero: bool, below: float | None = None, at_least: float | None = None
) -> Callable[[Any, str], float]:
    def check(value: Any, name: str) -> float:
        out = positive_float(value, name, allow_zero=allow_zero)
        if below is not None and out >= below:
            raise ValueError(f"{name} must be < {below:g}, got {out}")
        if at_least is not None and out < at_least:
            raise ValueError(f"{name} must be >= {at_least:g}, got {out}")
        return out

    return check


def _boolean(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "n": _integer(1),
    "d": _integer(1),
    "k": _integer(0),
    "seed": _integer(0),
    "noise": _real(allow_zero=True),
    "alpha": _real(allow_zero=False),
    "correlation": _real(allow_zero=True, below=1.0),
    "n_test": _integer(0),
    "rho": _real(allow_zero=True),
    "m": _integer(1),
    "batch_size": _integer(1),
    "normalize": _boolean,
    "lr": _real(allow_zero=False),
    "steps": _integer(0),
    "loss_tol": _real(allow_zero=True),
    "rtol": _real(allow_zero=False, at_least=1e-15),
    "t_max": _real(allow_zero=False),
}


def _axis(value: Any, key: str, where: str) -> tuple[Any, ...]:
    """The checked values of the grid axis ``key``: a scalar is an axis of one value."""
    name = f"{where} {key}"
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ValueError(f"{name} is an empty list: a grid axis needs at least one value")
    out = tuple(_CHECKS[key](v, name) for v in values)
    if len(set(out)) != len(out):
        raise ValueError(f"{name} lists a value twice: {value!r}")
    return out


def _table(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be a table, got {type(data).__name__}")
    return data


def _check_keys(table: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise ValueError(f"unknown key {key!r} in {where}; allowed: {', '.join(allowed)}")


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class AlgorithmGrid:
    """One ``[[algorithm]]`` table: an algorithm and the axes of its options.

    Attributes
    ----------
    name : str
        A key of :data:`dlnsam.ALGORITHMS`.
    mode : {'discrete', 'flow'}
        :func:`dlnsam.run` or :func:`dlnsam.flow`.
    axes : tuple of (str, tuple)
        The options and run settings that were given, each with its values
        (one value for a scalar), in the order of ``ALGORITHM_KEYS``. For
        flows ``rtol`` and ``t_max`` are always present (the defaults of
        :func:`dlnsam.flow` when not given).
    lr_decay : tuple of int or None
        Steps at which the step size is halved; a list, but not an axis.

    Examples
    --------
    >>> from dlnsam.sweep import AlgorithmGrid
    >>> grid = AlgorithmGrid("gd", "discrete", (("lr", (0.05, 0.1)), ("steps", (100,))))
    >>> grid.size
    2
    """

    name: str
    mode: str
    axes: tuple[tuple[str, tuple[Any, ...]], ...]
    lr_decay: tuple[int, ...] | None = None

    @property
    def size(self) -> int:
        """Number of option combinations."""
        return math.prod(len(values) for _, values in self.axes)

    def options(self) -> Iterator[dict[str, Any]]:
        """The option combinations, last axis fastest."""
        keys = [key for key, _ in self.axes]
        for values in itertools.product(*(values for _, values in self.axes)):
            yield dict(zip(keys, values, strict=True))


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep configuration; build it with :func:`load_config` or :meth:`from_dict`.

    Attributes
    ----------
    problem : tuple of (str, tuple)
        Every key of ``PROBLEM_KEYS`` with its values (defaults filled in).
    algorithms : tuple of AlgorithmGrid
        The ``[[algorithm]]`` tables, in file order.
    history, beta, path_alpha : bool
        The ``[outputs]`` flags.
    output : Path or None
        Results file (relative paths already resolved against the config's folder).
    backend : str or None
        One of ``BACKENDS``; None means the default ``"processes"``.
    workers : int or None
        Processes or LocalCluster workers; None means ``os.cpu_count()``.
    scheduler : str or None
        Address of a Dask scheduler (backend ``"dask"`` only).

    Examples
    --------
    >>> from dlnsam.sweep import SweepConfig
    >>> cfg = SweepConfig.from_dict({
    ...     "problem": {"n": 10, "d": 12, "k": 2, "alpha": 0.1, "seed": [0, 1]},
    ...     "algorithm": [{"name": "1-sam", "rho": [0.01, 0.1], "lr": 0.05, "steps": 100}],
    ... })
    >>> cfg.size, dict(cfg.problem)["seed"]
    (4, (0, 1))
    """

    problem: tuple[tuple[str, tuple[Any, ...]], ...]
    algorithms: tuple[AlgorithmGrid, ...]
    history: bool = False
    beta: bool = False
    path_alpha: bool = False
    output: Path | None = None
    backend: str | None = None
    workers: int | None = None
    scheduler: str | None = None

    @property
    def size(self) -> int:
        """Number of cells of the grid."""
        n_problems = math.prod(len(values) for _, values in self.problem)
        return n_problems * sum(grid.size for grid in self.algorithms)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base_dir: str | Path | None = None) -> SweepConfig:
        """Validate a parsed TOML document.

        Parameters
        ----------
        data : mapping
            The document, as ``tomllib`` returns it.
        base_dir : str or Path, optional
            Folder against which a relative ``[sweep] output`` is resolved
            (the config file's folder); None leaves it relative to the
            working directory.

        Raises
        ------
        ValueError
            For an unknown section or key, a wrong type or range, an option
            the algorithm does not take, a duplicate or an empty grid; the
            message names the section and the key.

        Examples
        --------
        >>> from dlnsam.sweep import SweepConfig
        >>> SweepConfig.from_dict({"problem": {"n": 10, "d": 12, "k": 2, "alpha": 0.1},
        ...                        "algorithm": [{"name": "gd", "rho": 0.1, "lr": 0.1,
        ...                                       "steps": 10}]})
        Traceback (most recent call last):
        ...
        ValueError: [[algorithm]] #1 (name = 'gd'): algorithm 'gd' does not take option(s) ['rho']
        """
        data = _table(data, "the configuration")
        for key in data:
            if key not in _SECTIONS:
                raise ValueError(
                    f"unknown section or top-level key {key!r}; "
                    "allowed: [sweep], [problem], [[algorithm]], [outputs]"
                )
        sweep = _table(data.get("sweep", {}), "[sweep]")
        _check_keys(sweep, _SWEEP_KEYS, "[sweep]")
        output = sweep.get("output")
        if output is not None:
            if not isinstance(output, str) or not output:
                raise ValueError(f"[sweep] output must be a path string, got {output!r}")
            output = Path(output).expanduser()
            if base_dir is not None and not output.is_absolute():
                output = Path(base_dir) / output
        backend, workers, scheduler = _check_backend(
            sweep.get("backend"), sweep.get("workers"), sweep.get("scheduler"), "[sweep] "
        )

        if "problem" not in data:
            raise ValueError("missing section [problem]")
        problem_table = _table(data["problem"], "[problem]")
        _check_keys(problem_table, PROBLEM_KEYS, "[problem]")
        missing = [key for key in _REQUIRED_PROBLEM_KEYS if key not in problem_table]
        if missing:
            raise ValueError(f"[problem] needs key(s) {missing}")
        problem = tuple(
            (key, _axis(problem_table.get(key, _PROBLEM_DEFAULTS.get(key)), key, "[problem]"))
            for key in PROBLEM_KEYS
        )

        tables = data.get("algorithm")
        if tables is None:
            raise ValueError("empty grid: no [[algorithm]] table")
        if not isinstance(tables, list):
            raise ValueError("algorithm must be an array of tables, written [[algorithm]]")
        algorithms = tuple(_algorithm_grid(table, i + 1) for i, table in enumerate(tables))
        if not algorithms:
            raise ValueError("empty grid: no [[algorithm]] table")

        outputs = _table(data.get("outputs", {}), "[outputs]")
        _check_keys(outputs, OUTPUT_KEYS, "[outputs]")
        flags = {key: _boolean(outputs.get(key, False), f"[outputs] {key}") for key in OUTPUT_KEYS}

        config = cls(
            problem=problem,
            algorithms=algorithms,
            output=output,
            backend=backend,
            workers=workers,
            scheduler=scheduler,
            **flags,
        )
        duplicate = _duplicate_cell(config)
        if duplicate is not None:
            first, second, cell = duplicate
            raise ValueError(
                f"[[algorithm]] #{first} and #{second} give the same cell {cell!r}: "
                "each cell must appear once"
            )
        return config


def _duplicate_cell(config: SweepConfig) -> tuple[int, int, dict[str, Any]] | None:
    """Two [[algorithm]] tables that share a cell, and that cell; None if they share none.

    Decided from the axes, without expanding the grid: two tables share a cell
    when they agree on name, mode and lr_decay and every option axis of one
    has a value in common with the other's (a missing option is None).
    """
    problem = {key: values[0] for key, values in config.problem}
    grids = config.algorithms
    for i, a in enumerate(grids):
        for j in range(i + 1, len(grids)):
            b = grids[j]
            if (a.name, a.mode, a.lr_decay) != (b.name, b.mode, b.lr_decay):
                continue
            axes_a, axes_b = dict(a.axes), dict(b.axes)
            common: dict[str, Any] = {}
            for key in ALGORITHM_KEYS:
                values_b = axes_b.get(key, (None,))
                shared = [value for value in axes_a.get(key, (None,)) if value in values_b]
                if not shared:
                    break
                common[key] = shared[0]
            else:
                return i + 1, j + 1, _make_cell(config, problem, a, common)
    return None


def _algorithm_grid(table: Any, index: int) -> AlgorithmGrid:
    where = f"[[algorithm]] #{index}"
    table = _table(table, where)
    name = table.get("name")
    if not isinstance(name, str) or name.lower() not in ALGORITHMS:
        raise ValueError(f"{where}: name must be one of {sorted(ALGORITHMS)}, got {name!r}")
    name = name.lower()
    where = f"{where} (name = {name!r})"
    mode = table.get("mode", "discrete")
    if mode not in MODES:
        raise ValueError(f"{where}: mode must be one of {list(MODES)}, got {mode!r}")
    allowed = _MODE_KEYS[mode]
    for key in table:
        if key in allowed:
            continue
        if any(key in keys for keys in _MODE_KEYS.values()):
            raise ValueError(
                f"key {key!r} is not allowed with mode = {mode!r} in {where}; "
                f"allowed: {', '.join(allowed)}"
            )
        raise ValueError(f"unknown key {key!r} in {where}; allowed: {', '.join(allowed)}")
    if mode == "flow" and name == "sgd":
        raise ValueError(f"{where}: a flow is deterministic; use gd or a full-batch SAM")
    if mode == "discrete":
        missing = [key for key in ("lr", "steps") if key not in table]
        if missing:
            raise ValueError(f"{where} needs key(s) {missing}")

    values = {key: table[key] for key in ALGORITHM_KEYS if key in table}
    if mode == "flow":
        values = {**_FLOW_DEFAULTS, **values}
    axes = tuple((key, _axis(values[key], key, where)) for key in ALGORITHM_KEYS if key in values)
    lr_decay = None
    if "lr_decay" in table:
        steps = table["lr_decay"]
        if not isinstance(steps, list):
            raise ValueError(f"{where} lr_decay must be a list of step indices, got {steps!r}")
        lr_decay = tuple(nonnegative_int(s, f"{where} lr_decay", minimum=1) for s in steps) or None
    grid = AlgorithmGrid(name=name, mode=mode, axes=axes, lr_decay=lr_decay)
    # Build every algorithm once, so that a bad option fails now, not mid-sweep
    # (only the algorithm's own options, not the run settings, need building).
    option_axes = [(key, values) for key, values in axes if key in _ALGORITHM_OPTION_KEYS]
    for values in itertools.product(*(values for _, values in option_axes)):
        options = dict(zip((key for key, _ in option_axes), values, strict=True))
        try:
            algorithm_from_name(name, **{k: options.get(k) for k in _ALGORITHM_OPTION_KEYS})
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    return grid


def _check_backend(
    backend: Any, workers: Any, scheduler: Any, where: str
) -> tuple[str | None, int | None, str | None]:
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"{where}backend must be one of {list(BACKENDS)}, got {backend!r}")
    if workers is not None:
        workers = nonnegative_int(workers, f"{where}workers", minimum=1)
        if backend == "inprocess":
            raise ValueError(f"{where}workers: the inprocess backend runs one cell at a time")
    if scheduler is not None:
        if not isinstance(scheduler, str) or "://" not in scheduler:
            raise ValueError(
                f"{where}scheduler must be an address like 'tcp://host:8786', got {scheduler!r}"
            )
        if backend != "dask":
            raise ValueError(f'{where}scheduler needs backend = "dask", got backend = {backend!r}')
        if workers is not None:
            raise ValueError(
                f"{where}workers: a Dask scheduler brings its own workers; give one of the two"
            )
    return backend, workers, scheduler


def load_config(path: str | Path) -> SweepConfig:
    """Read and validate a sweep configuration (TOML).

    Parameters
    ----------
    path : str or Path
        The ``.toml`` file; a relative ``[sweep] output`` is taken relative
        to its folder.

    Returns
    -------
    SweepConfig

    Raises
    ------
    ValueError
        If the file is missing, is a directory, cannot be read, is not valid
        TOML, or fails validation (see :meth:`SweepConfig.from_dict`).

    Examples
    --------
    >>> import os, tempfile
    >>> from dlnsam.sweep import load_config
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "sweep.toml")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write('''
    ... [sweep]
    ... output = "out.jsonl"
    ... [problem]
    ... n = 10
    ... d = 12
    ... k = 2
    ... alpha = 0.1
    ... [[algorithm]]
    ... name = "gd"
    ... lr = [0.05, 0.1]
    ... steps = 100
    ... ''')
    >>> cfg = load_config(path)
    >>> cfg.size, cfg.output.name, cfg.output.parent == load_config(path).output.parent
    (2, 'out.jsonl', True)
    """
    path = Path(path)
    if tomllib is None:  # pragma: no cover - Python 3.10 without tomli
        raise ValueError("reading sweep configs needs Python >= 3.11 or the tomli package")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"config: no such file {str(path)!r}") from None
    except IsADirectoryError:
        raise ValueError(f"config: {str(path)!r} is a directory, not a TOML file") from None
    except UnicodeDecodeError:
        raise ValueError(f"config: {str(path)!r} is not UTF-8 text (not a TOML file?)") from None
    except OSError as exc:
        raise ValueError(f"config: cannot read {str(path)!r}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: invalid TOML: {exc}") from None
    try:
        return SweepConfig.from_dict(data, base_dir=path.resolve().parent)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


# --------------------------------------------------------------------------- cells


def _make_cell(
    config: SweepConfig, problem: Mapping[str, Any], grid: AlgorithmGrid, options: Mapping[str, Any]
) -> dict[str, Any]:
    cell = {
        **problem,
        "algorithm": grid.name,
        "mode": grid.mode,
        **{key: options.get(key) for key in ALGORITHM_KEYS},
        "lr_decay": None if grid.lr_decay is None else list(grid.lr_decay),
        "store_history": config.history,
        "store_beta": config.beta,
        "store_path_alpha": config.path_alpha,
    }
    return {key: cell[key] for key in CELL_KEYS}


def iter_cells(config: SweepConfig) -> Iterator[dict[str, Any]]:
    """The cells of the grid one at a time, in the order of :func:`expand`.

    Memory does not grow with the grid: use this rather than :func:`expand`
    for large grids.

    Examples
    --------
    >>> from dlnsam.sweep import SweepConfig, iter_cells
    >>> cfg = SweepConfig.from_dict({
    ...     "problem": {"n": 10, "d": 12, "k": 2, "alpha": 0.1, "seed": list(range(10**6))},
    ...     "algorithm": [{"name": "gd", "lr": 0.05, "steps": 100}],
    ... })
    >>> cells = iter_cells(cfg)
    >>> cfg.size, next(cells)["seed"], next(cells)["seed"]
    (1000000, 0, 1)
    """
    keys = [key for key, _ in config.problem]
    for values in itertools.product(*(values for _, values in config.problem)):
        problem = dict(zip(keys, values, strict=True))
        for grid in config.algorithms:
            for options in grid.options():
                yield _make_cell(config, problem, grid, options)


def expand(config: SweepConfig) -> list[dict[str, Any]]:
    """The cells of the grid, in a deterministic order.

    Problems vary slowest (``PROBLEM_KEYS`` order, last key fastest), then
    the ``[[algorithm]]`` tables in file order, then each table's options.

    Parameters
    ----------
    config : SweepConfig

    Returns
    -------
    list of dict
        One flat dict per cell with the keys ``CELL_KEYS``, JSON values only;
        None where a setting does not apply (e.g. ``rho`` for GD, ``lr`` for
        a flow) or was not given (the algorithm's default is used). The
        ``[outputs]`` flags are ``store_history``, ``store_beta`` and
        ``store_path_alpha``, since a row's column ``beta`` is the final β.

    Examples
    --------
    >>> from dlnsam.sweep import SweepConfig, expand
    >>> cfg = SweepConfig.from_dict({
    ...     "problem": {"n": 10, "d": 12, "k": 2, "alpha": 0.1, "seed": [0, 1]},
    ...     "algorithm": [{"name": "n-sam", "rho": [0.01, 0.1], "lr": 0.05, "steps": 100}],
    ... })
    >>> [(c["seed"], c["rho"]) for c in expand(cfg)]
    [(0, 0.01), (0, 0.1), (1, 0.01), (1, 0.1)]
    """
    return list(iter_cells(config))


def cell_id(cell: Mapping[str, Any]) -> str:
    """A stable identifier of a cell: the first 16 hex digits of the SHA-1 of its parameters.

    The parameters (the keys of ``CELL_KEYS`` that the cell has) are hashed
    as canonical JSON (sorted keys, no spaces), so the identifier is the same
    in every process and Python session and changes with any parameter.

    Examples
    --------
    >>> from dlnsam.sweep import cell_id
    >>> cell_id({"n": 20, "rho": 0.1}) == cell_id({"rho": 0.1, "n": 20})
    True
    >>> len(cell_id({"n": 20}))
    16
    """
    params = {key: cell[key] for key in CELL_KEYS if key in cell}
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _flow_times(t_max: float) -> np.ndarray:
    """Record times of a flow's history: log-spaced from 1e-2 to t_max."""
    first = min(_FLOW_FIRST_RECORD, t_max)
    count = max(1, math.ceil(_FLOW_RECORDS_PER_DECADE * math.log10(t_max / first))) + 1
    return np.geomspace(first, t_max, count)


def _measure(cell: Mapping[str, Any]) -> dict[str, Any]:
    """Run one cell and compute its metrics (may raise)."""
    problem = gaussian_problem(
        cell["n"],
        cell["d"],
        cell["k"],
        n_test=cell["n_test"],
        noise=cell["noise"],
        seed=cell["seed"],
        correlation=cell["correlation"],
    )
    options = {key: cell.get(key) for key in _ALGORITHM_OPTION_KEYS}
    algorithm = algorithm_from_name(cell["algorithm"], **options)
    out: dict[str, Any] = dict.fromkeys(METRIC_KEYS)
    if cell["mode"] == "flow":
        settings = {key: cell.get(key) for key in ("rtol", "t_max", "loss_tol")}
        settings = {key: value for key, value in settings.items() if value is not None}
        times = _flow_times(settings.get("t_max", _FLOW_DEFAULTS["t_max"]))
        res = flow(
            problem,
            algorithm,
            alpha=cell["alpha"],
            times=times if cell.get("store_history") else None,
            **settings,
        )
        out["t_end"] = res.t_end
        out["delta_l1"] = float(np.abs(res.delta).sum())
        if res.alpha is not None:
            out["alpha_eff_geomean"] = res.alpha_eff_geomean
    elif cell["mode"] == "discrete":
        res = run(
            problem,
            algorithm,
            lr=cell["lr"],
            steps=cell["steps"],
            alpha=cell["alpha"],
            seed=cell["seed"],
            lr_decay=cell.get("lr_decay"),
            loss_tol=cell.get("loss_tol"),
        )
        out["n_steps"] = res.n_steps
    else:
        raise ValueError(f"mode must be one of {list(MODES)}, got {cell['mode']!r}")

    beta, beta_star = res.beta, problem.beta_star
    assert beta_star is not None  # gaussian_problem plants one
    star_norm = float(np.linalg.norm(beta_star))
    out.update(
        status=res.status.value,
        message=res.message,
        train_loss=res.train_loss,
        test_loss=res.test_loss,
        l1_norm=float(np.abs(beta).sum()),
        support=support_recovery(beta, beta_star),
        dist_beta_star=float(np.linalg.norm(beta - beta_star)) / star_norm if star_norm else None,
        integral_loss=res.integral_loss,
    )
    if cell.get("store_path_alpha"):
        out["alpha_path"] = out["alpha_path_distance"] = math.nan
        if np.any(beta != 0.0):
            try:
                fit = hypentropy.closest_alpha(problem.X, problem.y, beta)
                out["alpha_path"], out["alpha_path_distance"] = fit.alpha, fit.distance
            except (ValueError, ArithmeticError, np.linalg.LinAlgError):
                pass  # no point of the path to report: recorded as null
    if cell.get("store_history"):
        hist = res.history
        steps, train = hist.steps.tolist(), hist.train_loss.tolist()
        test = None if hist.test_loss is None else hist.test_loss.tolist()
        if cell["mode"] == "flow" and steps[-1] < res.t_end:
            # A flow records only the requested times; end with the final state.
            steps.append(res.t_end)
            train.append(res.train_loss)
            if test is not None:
                test.append(res.test_loss)
        out.update(history_steps=steps, history_train=train, history_test=test)
    if cell.get("store_beta"):
        out["beta"] = beta.tolist()
    return out


def run_cell(cell: Mapping[str, Any]) -> dict[str, Any]:
    """Run one cell and return its result row; never raises an ``Exception``.

    Parameters
    ----------
    cell : dict
        A cell from :func:`expand`.

    Returns
    -------
    dict
        The cell's parameters, ``cell_id``, then the metrics: ``status`` (the
        run's status, or ``"error"`` if an exception was raised), ``message``
        (for errors ``"ExceptionType: text"``), ``train_loss``, ``test_loss``,
        ``l1_norm`` ‖β‖₁, ``support`` (:func:`dlnsam.support_recovery`),
        ``dist_beta_star`` ‖β − β*‖₂ / ‖β*‖₂, ``integral_loss``, ``n_steps``
        (discrete) or ``t_end`` (flow), for flows ``delta_l1`` ‖Δ‖₁ and
        ``alpha_eff_geomean`` (geometric mean of α_eff), then the requested
        extras (``alpha_path``, ``alpha_path_distance``; ``history_steps``,
        ``history_train``, ``history_test``; ``beta``) and ``seconds``, the
        wall time of the cell. Metrics that do not apply are None, and so
        are NaN and ±inf, so the row is valid JSON.

    Notes
    -----
    The problem is ``gaussian_problem(n, d, k, n_test=, noise=, seed=,
    correlation=)``, the algorithm ``algorithm_from_name(algorithm, rho=, m=,
    batch_size=, normalize=)``, and the run ``dlnsam.run(problem, algorithm,
    lr=, steps=, alpha=, seed=, lr_decay=, loss_tol=)`` or
    ``dlnsam.flow(problem, algorithm, alpha=, rtol=, t_max=, loss_tol=)``.
    A cell whose parameters only clash at run time (m not dividing n, k > d,
    an lr_decay step beyond steps) is an ``"error"`` row, not an exception.
    With ``store_history`` a flow is given record times, 25 per decade from
    1e-2 to ``t_max``, on which the integrator lands exactly; its steps, and
    so its numbers at the level of ``rtol``, differ from a flow without them.

    Examples
    --------
    >>> from dlnsam.sweep import SweepConfig, expand, run_cell
    >>> cfg = SweepConfig.from_dict({
    ...     "problem": {"n": 10, "d": 12, "k": 2, "alpha": 0.1},
    ...     "algorithm": [{"name": "m-sam", "m": [2, 3], "rho": 0.1, "lr": 0.05, "steps": 100}],
    ... })
    >>> rows = [run_cell(cell) for cell in expand(cfg)]
    >>> [row["status"] for row in rows]
    ['max_steps', 'error']
    >>> rows[1]["message"]
    'ValueError: m = 3 does not divide the batch: n = 10'
    """
    start = time.perf_counter()
    row: dict[str, Any] = {}
    try:
        row.update(cell)
        row["cell_id"] = cell_id(cell)
        row.update(_measure(cell))
    except Exception as exc:  # a failing cell is a row, the sweep goes on
        row.setdefault("cell_id", None)
        row.update(dict.fromkeys(METRIC_KEYS))
        for flag, keys in _OPTIONAL_METRICS.items():
            if isinstance(cell, Mapping) and cell.get(flag):
                row.update(dict.fromkeys(keys))
        row.update(status="error", message=f"{type(exc).__name__}: {exc}")
    row["seconds"] = time.perf_counter() - start
    return json_safe(row)


# --------------------------------------------------------------------------- results file


def _scan(path: Path) -> tuple[list[dict[str, Any]], int, int]:
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
    return _scan(Path(path))[0]


def _write_row(fh: BinaryIO, row: Mapping[str, Any]) -> None:
    line = json.dumps(row, allow_nan=False) + "\n"
    fh.write(line.encode())  # one write per row; a kill leaves at most a torn last line
    fh.flush()
    os.fsync(fh.fileno())


# --------------------------------------------------------------------------- interruption


class _StopSignals:
    """Turn SIGTERM (and SIGINT) into one KeyboardInterrupt while a sweep runs.

    Installed only in the main thread and restored afterwards. SIGINT is taken
    over only if it has Python's default handler (an ignored SIGINT stays
    ignored). The first signal raises KeyboardInterrupt, unless a row is being
    written, when it is raised right after the write; later signals are noted
    but do not interrupt the shutdown of the workers.
    """

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}
        self._writing = False
        self._pending = False
        self.stopping = False

    def __enter__(self) -> _StopSignals:
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
        if self._writing:
            self._pending = True
            return
        self.stopping = True
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Defer a stop signal until the block (one row's write) is done."""
        self._writing = True
        try:
            yield
        finally:
            self._writing = False
        if self._pending and not self.stopping:
            self.stopping = True
            raise KeyboardInterrupt


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
    pool starts its workers from the thread that submits the cells, which
    runs the whole sweep. Elsewhere (or if prctl fails) a daemon thread
    notices the new parent within ``_PARENT_POLL`` seconds, though only when
    the running cell lets go of the GIL.
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


# --------------------------------------------------------------------------- backends


def _inprocess_rows(
    cells: Iterable[dict[str, Any]], n_cells: int, workers: int, scheduler: str | None
) -> Iterator[dict[str, Any]]:
    for cell in cells:
        yield run_cell(cell)


def _process_rows(
    cells: Iterable[dict[str, Any]], n_cells: int, workers: int, scheduler: str | None
) -> Iterator[dict[str, Any]]:
    if not n_cells:
        return
    workers = min(workers, n_cells)
    # "spawn": fresh interpreters, safe whatever threads the coordinator runs
    # (tqdm's monitor, Dask); each worker pays one import of dlnsam.
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_init,
        initargs=(os.getpid(),),
    )
    todo = iter(cells)
    pending: set[Future[dict[str, Any]]] = set()

    def submit(count: int) -> None:
        for cell in itertools.islice(todo, count):
            pending.add(pool.submit(run_cell, cell))

    finished = False
    try:
        # Cells are submitted as workers free up, never the whole grid at once.
        submit(_QUEUED_PER_WORKER * workers)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                try:
                    row = future.result()
                except BrokenProcessPool as exc:
                    raise RuntimeError(
                        "a sweep worker process died (killed, out of memory or crashed); the "
                        "rows written so far are kept: run the sweep again to resume"
                    ) from exc
                submit(1)
                yield row
        finished = True
    finally:
        if not finished:
            # Interrupted (or a worker died): kill the running cells now rather
            # than wait for them; shutdown() then drops the queue.
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


# Run by each LocalCluster worker at start (Dask takes the text of a script):
# as in _worker_init, Ctrl-C is for the coordinator alone.
_DASK_WORKER_PRELOAD = """
import signal


def dask_setup(worker):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
"""


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(
            "the dask backend needs dask.distributed: pip install 'dlnsam[dask]'"
        ) from exc
    return distributed


def _dask_rows(
    cells: Iterable[dict[str, Any]], n_cells: int, workers: int, scheduler: str | None
) -> Iterator[dict[str, Any]]:
    if not n_cells:
        return
    distributed = _import_distributed()
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
        todo = iter(cells)
        # with_results: rows are fetched by Dask's event loop, so the main
        # thread only ever waits here when a stop signal arrives.
        queue = distributed.as_completed(with_results=True)
        pending: set[Any] = set()

        def submit(count: int) -> None:
            for cell in itertools.islice(todo, count):
                future = client.submit(run_cell, cell, pure=False)
                pending.add(future)
                queue.add(future)

        # Cells are submitted as workers free up, never the whole grid at once.
        n_workers = len(client.scheduler_info().get("workers", ())) or workers
        finished = False
        try:
            submit(_QUEUED_PER_WORKER * max(n_workers, 1))
            for future, row in queue:
                pending.discard(future)
                submit(1)
                yield row
            finished = True
        finally:
            if not finished:
                client.cancel(list(pending))
            pending.clear()


_BACKEND_ROWS = {"inprocess": _inprocess_rows, "processes": _process_rows, "dask": _dask_rows}


# --------------------------------------------------------------------------- sweep


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
    _check_backend(backend, workers, scheduler, "")
    if workers is None and backend != "inprocess":
        workers = config.workers
    if scheduler is None and backend == "dask" and workers is None:
        scheduler = config.scheduler
    if output is None:
        if config.output is None:
            raise ValueError("output: give [sweep] output in the config or an output path")
        output = config.output
    return Path(output), backend, workers or os.cpu_count() or 1, scheduler


def _check_output(path: Path) -> None:
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
def _locked_output(path: Path) -> Iterator[BinaryIO]:
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


def _confirmed(confirm: bool | Callable[[int], bool], n_cells: int) -> bool:
    return confirm if isinstance(confirm, bool) else bool(confirm(n_cells))


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


class _CellPositions:
    """The index in :func:`iter_cells` order of the cell that a row is the result of.

    Computed from the axes (a mixed-radix number), without expanding or
    hashing the grid. None for a row that is not a cell of the configuration:
    values are compared as JSON text, so a match has the same :func:`cell_id`.
    """

    def __init__(self, config: SweepConfig) -> None:
        def digits(
            axes: Iterable[tuple[str, Sequence[Any]]],
        ) -> list[tuple[str, dict[str, int], int]]:
            return [(key, {_json(v): i for i, v in enumerate(vs)}, len(vs)) for key, vs in axes]

        self._flags = {
            "store_history": _json(config.history),
            "store_beta": _json(config.beta),
            "store_path_alpha": _json(config.path_alpha),
        }
        self._problem = digits(config.problem)
        self._grids = []
        offset = 0
        for grid in config.algorithms:
            lr_decay = None if grid.lr_decay is None else list(grid.lr_decay)
            head = (_json(grid.name), _json(grid.mode), _json(lr_decay))
            axes = dict(grid.axes)
            options = digits((key, axes.get(key, (None,))) for key in ALGORITHM_KEYS)
            self._grids.append((head, options, offset))
            offset += grid.size
        self._per_problem = offset

    @staticmethod
    def _number(
        row: Mapping[str, Any], digits: list[tuple[str, dict[str, int], int]]
    ) -> int | None:
        out = 0
        for key, index, size in digits:
            i = index.get(_json(row[key]))
            if i is None:
                return None
            out = out * size + i
        return out

    def __call__(self, row: Mapping[str, Any]) -> int | None:
        if any(key not in row for key in CELL_KEYS):
            return None
        if any(_json(row[key]) != text for key, text in self._flags.items()):
            return None
        problem = self._number(row, self._problem)
        if problem is None:
            return None
        head = (_json(row["algorithm"]), _json(row["mode"]), _json(row["lr_decay"]))
        for grid_head, options, offset in self._grids:
            if grid_head == head:
                option = self._number(row, options)
                if option is not None:
                    return problem * self._per_problem + offset + option
        return None


def _config_values(config: SweepConfig) -> dict[str, set[str]]:
    """Every value of each cell parameter in the grid, as canonical JSON text."""
    values: dict[str, set[str]] = {key: set() for key in CELL_KEYS}

    def add(key: str, items: Iterable[Any]) -> None:
        values[key].update(json.dumps(item, sort_keys=True) for item in items)

    for key, items in config.problem:
        add(key, items)
    for grid in config.algorithms:
        add("algorithm", [grid.name])
        add("mode", [grid.mode])
        add("lr_decay", [None if grid.lr_decay is None else list(grid.lr_decay)])
        axes = dict(grid.axes)
        for key in ALGORITHM_KEYS:
            add(key, axes.get(key, (None,)))
    add("store_history", [config.history])
    add("store_beta", [config.beta])
    add("store_path_alpha", [config.path_alpha])
    return values


def _foreign_message(
    path: Path, config: SweepConfig, foreign: list[Mapping[str, Any]], n_cells: int
) -> str:
    values = _config_values(config)
    row = foreign[0]
    for key in CELL_KEYS:
        if json.dumps(row.get(key), sort_keys=True) not in values[key]:
            example = f"a row has {key} = {json.dumps(row.get(key))}, which the configuration lacks"
            break
    else:
        example = "a row combines values that no [[algorithm]] table of the configuration does"
    return (
        f"{path} holds {len(foreign)} row(s) that are not cells of this configuration of "
        f"{n_cells} cells ({example}): the grid changed since they were written, or another "
        "configuration wrote to the file. Resuming would leave them beside this "
        "configuration's rows. Write to a new output file, or pass --force (force=True) "
        "to keep them and add this configuration's cells to the file"
    )


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
        _import_distributed()  # fail before touching the results file
    _check_output(path)
    n_cells = config.size
    if n_cells > CONFIRM_ABOVE and not _confirmed(confirm, n_cells):
        raise ValueError(
            f"the grid has {n_cells:,} cells, more than {CONFIRM_ABOVE:,}: pass --yes "
            "(confirm=True) to run them all, or make the grid smaller"
        )
    new_rows: list[dict[str, Any]] = []
    interrupted = False
    with _locked_output(path) as fh:
        if progress:
            print(f"{label}: {n_cells:,} cells, results in {path}", file=sys.stderr, flush=True)
        existing, end, size = _scan(path)
        n_torn = 0
        if end < size:
            fh.truncate(end)
            os.fsync(fh.fileno())
            n_torn = 1
        position = _CellPositions(config)
        done = {position(row) for row in existing}
        foreign = [row for row in existing if position(row) is None]
        if foreign and not force:
            raise ValueError(_foreign_message(path, config, foreign, n_cells))
        done.discard(None)
        n_skipped = len(done)
        todo = (cell for i, cell in enumerate(iter_cells(config)) if i not in done)

        with _StopSignals() as stop:
            try:
                with (
                    tqdm(
                        total=n_cells,
                        initial=n_skipped,
                        disable=not progress,
                        file=sys.stderr,
                        unit="cell",
                        desc=label,
                        dynamic_ncols=True,
                    ) as bar,
                    contextlib.closing(
                        _BACKEND_ROWS[backend](todo, n_cells - n_skipped, workers, scheduler)
                    ) as rows,
                ):
                    n_failed = 0
                    for row in rows:
                        if row.get("status") == Status.INTERRUPTED.value:
                            # The run saw the Ctrl-C itself: a partial result, not a row.
                            raise KeyboardInterrupt
                        with stop.writing():
                            _write_row(fh, row)
                            new_rows.append(row)
                            n_failed += row.get("status") in _FAILED
                            bar.update(1)
                            if n_failed:
                                bar.set_postfix(failed=n_failed, refresh=False)
            except KeyboardInterrupt:
                interrupted = True

    # The table: this configuration's cells in cell order, then the others.
    ours: dict[int, dict[str, Any]] = {}
    others: dict[Any, dict[str, Any]] = {}
    for row in [*existing, *new_rows]:
        i = position(row)
        if i is None:
            others.setdefault(row.get("cell_id"), row)
        else:
            ours.setdefault(i, row)
    table = [ours[i] for i in sorted(ours)]
    n_failed = sum(row.get("status") in _FAILED for row in table)
    table += others.values()
    return SweepResult(
        path=path,
        rows=table,
        n_cells=n_cells,
        n_skipped=n_skipped,
        n_run=len(new_rows),
        n_failed=n_failed,
        interrupted=interrupted,
        seconds=time.perf_counter() - start,
        n_torn=n_torn,
    )
