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
row are skipped. Rows carry all their parameters, so a file that several
configurations wrote to stays unambiguous (each configuration only skips its
own cells); read it with ``pandas.read_json(path, lines=True)``.

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
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
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

__all__ = [
    "BACKENDS",
    "CELL_KEYS",
    "METRIC_KEYS",
    "AlgorithmGrid",
    "SweepConfig",
    "SweepResult",
    "cell_id",
    "expand",
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
        seen: dict[str, int] = {}
        for cell, table in _cells(config):
            first = seen.setdefault(cell_id(cell), table)
            if first != table:
                raise ValueError(
                    f"[[algorithm]] #{first} and #{table} give the same cell {cell!r}: "
                    "each cell must appear once"
                )
        return config


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
    # Build every algorithm once, so that a bad option fails now, not mid-sweep.
    for options in grid.options():
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
        If the file is missing, is not valid TOML, or fails validation
        (see :meth:`SweepConfig.from_dict`).

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
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: invalid TOML: {exc}") from None
    try:
        return SweepConfig.from_dict(data, base_dir=path.resolve().parent)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


# --------------------------------------------------------------------------- cells


def _cells(config: SweepConfig) -> Iterator[tuple[dict[str, Any], int]]:
    """The cells with the (1-based) index of their [[algorithm]] table."""
    keys = [key for key, _ in config.problem]
    outputs = {
        "store_history": config.history,
        "store_beta": config.beta,
        "store_path_alpha": config.path_alpha,
    }
    for values in itertools.product(*(values for _, values in config.problem)):
        problem = dict(zip(keys, values, strict=True))
        for table, grid in enumerate(config.algorithms, start=1):
            for options in grid.options():
                cell = {
                    **problem,
                    "algorithm": grid.name,
                    "mode": grid.mode,
                    **{key: options.get(key) for key in ALGORITHM_KEYS},
                    "lr_decay": None if grid.lr_decay is None else list(grid.lr_decay),
                    **outputs,
                }
                yield {key: cell[key] for key in CELL_KEYS}, table


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
    return [cell for cell, _ in _cells(config)]


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
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise ValueError(
                    f"{path}: line {number} is not JSON ({exc}); is this a sweep results file?"
                ) from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}: line {number} is not a JSON object")
            rows.append(row)
    return rows, end, size


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Read a results file: one dict per complete line, in file order.

    A torn last line (no final newline: the writer was killed mid-write) is
    ignored; :func:`run_sweep` truncates it before resuming and reports it in
    :attr:`SweepResult.n_torn`. Any other line that is not a JSON object is a
    ``ValueError``.

    Examples
    --------
    >>> import os, tempfile
    >>> from dlnsam.sweep import read_rows
    >>> path = os.path.join(tempfile.mkdtemp(), "rows.jsonl")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write('{"cell_id": "a", "train_loss": null}\\n{"cell_id": "b", "tr')
    >>> read_rows(path)
    [{'cell_id': 'a', 'train_loss': None}]
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


def _worker_init() -> None:
    # Ctrl-C reaches the whole process group: the coordinator alone decides to
    # stop, then kills the workers with SIGTERM, whose default action is wanted.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


# --------------------------------------------------------------------------- backends


def _inprocess_rows(
    cells: list[dict[str, Any]], workers: int, scheduler: str | None
) -> Iterator[dict[str, Any]]:
    for cell in cells:
        yield run_cell(cell)


def _process_rows(
    cells: list[dict[str, Any]], workers: int, scheduler: str | None
) -> Iterator[dict[str, Any]]:
    if not cells:
        return
    # "spawn": fresh interpreters, safe whatever threads the coordinator runs
    # (tqdm's monitor, Dask); each worker pays one import of dlnsam.
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(cells)),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_init,
    )
    finished = False
    try:
        futures = [pool.submit(run_cell, cell) for cell in cells]
        for future in as_completed(futures):
            try:
                row = future.result()
            except BrokenProcessPool as exc:
                raise RuntimeError(
                    "a sweep worker process died (killed, out of memory or crashed); the rows "
                    "written so far are kept: run the sweep again to resume"
                ) from exc
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
    cells: list[dict[str, Any]], workers: int, scheduler: str | None
) -> Iterator[dict[str, Any]]:
    if not cells:
        return
    distributed = _import_distributed()
    with contextlib.ExitStack() as stack:
        if scheduler is not None:
            client = stack.enter_context(distributed.Client(scheduler))
        else:
            cluster = stack.enter_context(
                distributed.LocalCluster(
                    n_workers=min(workers, len(cells)),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",  # never collide with another cluster's port
                    preload=[_DASK_WORKER_PRELOAD],
                )
            )
            client = stack.enter_context(distributed.Client(cluster))
        futures = [client.submit(run_cell, cell, pure=False) for cell in cells]
        finished = False
        try:
            # with_results: rows are fetched by Dask's event loop, so the main
            # thread only ever waits here when a stop signal arrives.
            for _, row in distributed.as_completed(futures, with_results=True):
                yield row
            finished = True
        finally:
            if not finished:
                client.cancel(futures)
            del futures


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


def run_sweep(
    config: SweepConfig | str | Path,
    *,
    output: str | Path | None = None,
    backend: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
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
        Show a progress bar (done / total, rate, ETA) on stderr.

    Returns
    -------
    SweepResult

    Raises
    ------
    ValueError
        For an invalid configuration or setting, or a results file with a
        line that is not JSON (other than a torn last line).
    ImportError
        For the ``dask`` backend without ``dask.distributed`` installed.

    Notes
    -----
    Resume: cells whose :func:`cell_id` already has a row in ``output`` are
    skipped; a torn last line is truncated first. A different configuration
    may write to the same file: rows carry their parameters and identifiers,
    so nothing mixes up, and each configuration skips only its own cells.

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
    if not isinstance(config, SweepConfig):
        config = load_config(config)
    path, backend, workers, scheduler = _settings(config, output, backend, workers, scheduler)
    if backend == "dask":
        _import_distributed()  # fail before touching the results file
    cells = expand(config)
    ids = [cell_id(cell) for cell in cells]

    path.parent.mkdir(parents=True, exist_ok=True)
    existing: list[dict[str, Any]] = []
    n_torn = 0
    if path.exists():
        existing, end, size = _scan(path)
        if end < size:
            with path.open("r+b") as fh:
                fh.truncate(end)
                os.fsync(fh.fileno())
            n_torn = 1
    done = {row.get("cell_id") for row in existing}
    todo = [cell for cell, i in zip(cells, ids, strict=True) if i not in done]
    n_skipped = len(cells) - len(todo)

    new_rows: list[dict[str, Any]] = []
    interrupted = False
    with _StopSignals() as stop:
        try:
            with (
                path.open("ab") as fh,
                tqdm(
                    total=len(cells),
                    initial=n_skipped,
                    disable=not progress,
                    file=sys.stderr,
                    unit="cell",
                    desc="sweep",
                    dynamic_ncols=True,
                ) as bar,
                contextlib.closing(_BACKEND_ROWS[backend](todo, workers, scheduler)) as rows,
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
    first: dict[Any, dict[str, Any]] = {}
    for row in [*existing, *new_rows]:
        first.setdefault(row.get("cell_id"), row)
    ours = set(ids)
    table = [first[i] for i in ids if i in first]
    table += [row for key, row in first.items() if key not in ours]
    return SweepResult(
        path=path,
        rows=table,
        n_cells=len(cells),
        n_skipped=n_skipped,
        n_run=len(new_rows),
        n_failed=sum(first[i].get("status") in _FAILED for i in ids if i in first),
        interrupted=interrupted,
        seconds=time.perf_counter() - start,
        n_torn=n_torn,
    )
