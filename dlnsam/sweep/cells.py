"""A sweep's cells: their identifier, and running one into a result row."""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from dlnsam import hypentropy
from dlnsam.algorithms import algorithm_from_name
from dlnsam.flows import flow
from dlnsam.metrics import support_recovery
from dlnsam.problems import gaussian_problem
from dlnsam.results import json_safe
from dlnsam.sweep.values import (
    ADDED_OPTIONS,
    CELL_KEYS,
    FLOW_DEFAULTS,
    METRIC_KEYS,
    MODES,
    OPTION_KEYS,
    OPTIONAL_METRICS,
)
from dlnsam.training import run

# Flow histories: this many log-spaced record times per decade, from 1e-2 to t_max.
_FLOW_RECORDS_PER_DECADE = 25
_FLOW_FIRST_RECORD = 1e-2


def cell_id(cell: Mapping[str, Any]) -> str:
    """A stable identifier of a cell: the first 16 hex digits of the SHA-1 of its parameters.

    The parameters (the keys of ``CELL_KEYS`` that the cell has) are hashed
    as canonical JSON (sorted keys, no spaces), so the identifier is the same
    in every process and Python session and changes with any parameter. An
    option added since the first results files (``ADDED_OPTIONS``) is hashed
    only when it is set, so that a cell without it keeps its identifier.

    Examples
    --------
    >>> from dlnsam.sweep import cell_id
    >>> cell_id({"n": 20, "rho": 0.1}) == cell_id({"rho": 0.1, "n": 20})
    True
    >>> len(cell_id({"n": 20}))
    16
    """
    params = {
        key: cell[key]
        for key in CELL_KEYS
        if key in cell and not (cell[key] is None and key in ADDED_OPTIONS)
    }
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
    options = {key: cell.get(key) for key in OPTION_KEYS}
    algorithm = algorithm_from_name(cell["algorithm"], **options)
    out: dict[str, Any] = dict.fromkeys(METRIC_KEYS)
    if cell["mode"] == "flow":
        settings = {key: cell.get(key) for key in ("rtol", "t_max", "loss_tol")}
        settings = {key: value for key, value in settings.items() if value is not None}
        times = _flow_times(settings.get("t_max", FLOW_DEFAULTS["t_max"]))
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
    correlation=)``, the algorithm ``algorithm_from_name(algorithm,
    **options)`` with the cell's options (``OPTION_KEYS``; None ones are
    dropped), and the run ``dlnsam.run(problem, algorithm, lr=, steps=,
    alpha=, seed=, lr_decay=, loss_tol=)`` or
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
        for flag, keys in OPTIONAL_METRICS.items():
            if isinstance(cell, Mapping) and cell.get(flag):
                row.update(dict.fromkeys(keys))
        row.update(status="error", message=f"{type(exc).__name__}: {exc}")
    row["seconds"] = time.perf_counter() - start
    return json_safe(row)
