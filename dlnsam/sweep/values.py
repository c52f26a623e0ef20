"""The names of a sweep's values and their checks: config keys, cell parameters, columns.

The algorithm options are those of :data:`dlnsam.ALGORITHMS` (read by
:func:`dlnsam.algorithms.option_names`), and a flow takes those of
:data:`dlnsam.algorithms.FLOW_OPTIONS`: an option added to an algorithm is a
sweep key, an axis and a column with no edit here. The four options of the
first results files (rho, m, batch_size, normalize) keep their place and
their identifiers; see :data:`ADDED_OPTIONS` for how later ones are read.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dlnsam._validation import nonnegative_int, positive_float
from dlnsam.algorithms import ALGORITHMS, FLOW_OPTIONS, option_names
from dlnsam.flows import flow
from dlnsam.problems import gaussian_problem
from dlnsam.results import Status

BACKENDS = ("processes", "inprocess", "dask")
MODES = ("discrete", "flow")

#: Problem keys, in the order of the grid (outermost first) and of a cell.
PROBLEM_KEYS = ("n", "d", "k", "seed", "noise", "alpha", "correlation", "n_test")
# The options of the first results files, in their grid and column order.
_FIRST_OPTIONS = ("rho", "m", "batch_size", "normalize")
#: Every algorithm option, in grid and column order: those of the first
#: results files, then any other of :func:`dlnsam.algorithms.option_names`.
OPTION_KEYS = (
    *(key for key in _FIRST_OPTIONS if key in option_names()),
    *(key for key in option_names() if key not in _FIRST_OPTIONS),
)
#: Options added since the first results files. A row that lacks one of these
#: columns was written before the option existed and means None (the
#: algorithm's default), and a None value is left out of :func:`cell_id`, so
#: adding an option changes neither the identifiers nor the cells of files
#: already written.
ADDED_OPTIONS = tuple(key for key in OPTION_KEYS if key not in _FIRST_OPTIONS)
_RUN_KEYS = ("lr", "steps", "loss_tol", "rtol", "t_max")
#: Algorithm options and run settings, in grid order.
ALGORITHM_KEYS = (*OPTION_KEYS, *_RUN_KEYS)
OUTPUT_KEYS = ("history", "beta", "path_alpha")
#: The [outputs] flags as cell parameters ("beta" is the column of the final β).
STORE_KEYS = ("store_history", "store_beta", "store_path_alpha")
#: The parameters of a cell, in order; None where a setting does not apply.
CELL_KEYS = (
    *PROBLEM_KEYS,
    "algorithm",
    "mode",
    *OPTION_KEYS,
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
OPTIONAL_METRICS = {
    "store_path_alpha": ("alpha_path", "alpha_path_distance"),
    "store_history": ("history_steps", "history_train", "history_test"),
    "store_beta": ("beta",),
}
# A status that means the numbers are not to be trusted (Status.ok is False).
FAILED = {"error", Status.DIVERGED.value, Status.STEP_SIZE_UNDERFLOW.value}

SECTIONS = ("sweep", "problem", "algorithm", "outputs")
SWEEP_KEYS = ("output", "backend", "workers", "scheduler")
REQUIRED_PROBLEM_KEYS = ("n", "d", "k", "alpha")
#: The keys of an [[algorithm]] table, by mode.
MODE_KEYS = {
    "discrete": ("name", "mode", *OPTION_KEYS, "lr", "steps", "lr_decay", "loss_tol"),
    "flow": (
        "name",
        "mode",
        *(key for key in OPTION_KEYS if key in FLOW_OPTIONS),
        "rtol",
        "t_max",
        "loss_tol",
    ),
}

# The defaults of the functions a cell calls, read from their signatures so
# that a row records the value that was used and there is one source of truth.
PROBLEM_DEFAULTS = {
    key: p.default
    for key, p in inspect.signature(gaussian_problem).parameters.items()
    if key in PROBLEM_KEYS and p.default is not inspect.Parameter.empty
}
FLOW_DEFAULTS = {key: inspect.signature(flow).parameters[key].default for key in ("rtol", "t_max")}
#: A grid of more cells than this runs only when confirmed (``confirm`` / ``--yes``).
CONFIRM_ABOVE = 100_000


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


def boolean(value: Any, name: str) -> bool:
    """``value`` if it is a bool, else a ``ValueError`` naming ``name``."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return value


def _scalar(value: Any, name: str) -> Any:
    if not isinstance(value, (bool, int, float, str)):
        raise ValueError(f"{name} must be a number, a string or true/false, got {value!r}")
    return _number(value, name) if isinstance(value, float) else value


def _option_check(key: str) -> Callable[[Any, str], Any]:
    """The check of an added option, from the type of its default in the constructors.

    Only the type is checked here (and ints made floats where the default is
    a float, so that 0 and 0.0 are one cell); the range is the algorithm's to
    check, and every algorithm of a configuration is built when it is loaded.
    """
    for build in ALGORITHMS.values():
        parameter = inspect.signature(build).parameters.get(key)
        if parameter is None or parameter.default in (None, inspect.Parameter.empty):
            continue
        default = parameter.default
        if isinstance(default, bool):
            return boolean
        if isinstance(default, float):
            return _number
        if isinstance(default, int):
            return _whole
    return _scalar


CHECKS: dict[str, Callable[[Any, str], Any]] = {
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
    "normalize": boolean,
    **{key: _option_check(key) for key in ADDED_OPTIONS},
    "lr": _real(allow_zero=False),
    "steps": _integer(0),
    "loss_tol": _real(allow_zero=True),
    "rtol": _real(allow_zero=False, at_least=1e-15),
    "t_max": _real(allow_zero=False),
}


def axis(value: Any, key: str, where: str) -> tuple[Any, ...]:
    """The checked values of the grid axis ``key``: a scalar is an axis of one value."""
    name = f"{where} {key}"
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ValueError(f"{name} is an empty list: a grid axis needs at least one value")
    out = tuple(CHECKS[key](v, name) for v in values)
    if len(set(out)) != len(out):
        raise ValueError(f"{name} lists a value twice: {value!r}")
    return out


def as_table(data: Any, where: str) -> dict[str, Any]:
    """``data`` if it is a TOML table, else a ``ValueError`` naming ``where``."""
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be a table, got {type(data).__name__}")
    return data


def check_keys(table: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    """Refuse a key of ``table`` that is not in ``allowed``, naming it and ``where``."""
    for key in table:
        if key not in allowed:
            raise ValueError(f"unknown key {key!r} in {where}; allowed: {', '.join(allowed)}")
