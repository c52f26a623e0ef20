"""A sweep's configuration: the TOML file, its validation, and the cells of its grid."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlnsam._validation import nonnegative_int
from dlnsam.algorithms import ALGORITHMS, algorithm_from_name
from dlnsam.sweep.values import (
    ALGORITHM_KEYS,
    BACKENDS,
    CELL_KEYS,
    FLOW_DEFAULTS,
    MODE_KEYS,
    MODES,
    OPTION_KEYS,
    OUTPUT_KEYS,
    PROBLEM_DEFAULTS,
    PROBLEM_KEYS,
    REQUIRED_PROBLEM_KEYS,
    SECTIONS,
    SWEEP_KEYS,
    as_table,
    axis,
    boolean,
    check_keys,
)

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    try:
        import tomli as tomllib
    except ModuleNotFoundError:
        tomllib = None


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
        data = as_table(data, "the configuration")
        for key in data:
            if key not in SECTIONS:
                raise ValueError(
                    f"unknown section or top-level key {key!r}; "
                    "allowed: [sweep], [problem], [[algorithm]], [outputs]"
                )
        sweep = as_table(data.get("sweep", {}), "[sweep]")
        check_keys(sweep, SWEEP_KEYS, "[sweep]")
        output = sweep.get("output")
        if output is not None:
            if not isinstance(output, str) or not output:
                raise ValueError(f"[sweep] output must be a path string, got {output!r}")
            output = Path(output).expanduser()
            if base_dir is not None and not output.is_absolute():
                output = Path(base_dir) / output
        backend, workers, scheduler = check_backend(
            sweep.get("backend"), sweep.get("workers"), sweep.get("scheduler"), "[sweep] "
        )

        if "problem" not in data:
            raise ValueError("missing section [problem]")
        problem_table = as_table(data["problem"], "[problem]")
        check_keys(problem_table, PROBLEM_KEYS, "[problem]")
        missing = [key for key in REQUIRED_PROBLEM_KEYS if key not in problem_table]
        if missing:
            raise ValueError(f"[problem] needs key(s) {missing}")
        problem = tuple(
            (key, axis(problem_table.get(key, PROBLEM_DEFAULTS.get(key)), key, "[problem]"))
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

        outputs = as_table(data.get("outputs", {}), "[outputs]")
        check_keys(outputs, OUTPUT_KEYS, "[outputs]")
        flags = {key: boolean(outputs.get(key, False), f"[outputs] {key}") for key in OUTPUT_KEYS}

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
    table = as_table(table, where)
    name = table.get("name")
    if not isinstance(name, str) or name.lower() not in ALGORITHMS:
        raise ValueError(f"{where}: name must be one of {sorted(ALGORITHMS)}, got {name!r}")
    name = name.lower()
    where = f"{where} (name = {name!r})"
    mode = table.get("mode", "discrete")
    if mode not in MODES:
        raise ValueError(f"{where}: mode must be one of {list(MODES)}, got {mode!r}")
    allowed = MODE_KEYS[mode]
    for key in table:
        if key in allowed:
            continue
        if any(key in keys for keys in MODE_KEYS.values()):
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
        values = {**FLOW_DEFAULTS, **values}
    axes = tuple((key, axis(values[key], key, where)) for key in ALGORITHM_KEYS if key in values)
    lr_decay = None
    if "lr_decay" in table:
        steps = table["lr_decay"]
        if not isinstance(steps, list):
            raise ValueError(f"{where} lr_decay must be a list of step indices, got {steps!r}")
        lr_decay = tuple(nonnegative_int(s, f"{where} lr_decay", minimum=1) for s in steps) or None
    grid = AlgorithmGrid(name=name, mode=mode, axes=axes, lr_decay=lr_decay)
    # Build every algorithm once, so that a bad option fails now, not mid-sweep
    # (only the algorithm's own options, not the run settings, need building).
    option_axes = [(key, values) for key, values in axes if key in OPTION_KEYS]
    for values in itertools.product(*(values for _, values in option_axes)):
        options = dict(zip((key for key, _ in option_axes), values, strict=True))
        try:
            algorithm_from_name(name, **{k: options.get(k) for k in OPTION_KEYS})
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    return grid


def check_backend(
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
