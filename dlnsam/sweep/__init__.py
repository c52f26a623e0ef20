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

Backends: ``"inprocess"`` (a plain loop), ``"processes"`` (the default, the
package's process pool, ``dlnsam._pool``) and ``"dask"`` (``dask.distributed``
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
    rho = [0.01, 0.05]       # any option the algorithm takes (dlnsam.algorithms.option_names())
    lr = 0.05                # discrete: lr and steps required; lr_decay, loss_tol optional
    steps = 10000
    lr_decay = [5000]        # a list of steps, but never an axis
    # flow: the options of dlnsam.algorithms.FLOW_OPTIONS; rtol, t_max (defaults of
    # dlnsam.flow), loss_tol; lr, steps, lr_decay and the other options are errors

    [outputs]                # extra columns, all false by default (never axes)
    history = false          # history_steps, history_train, history_test
    beta = false             # the final beta
    path_alpha = false       # alpha_path, alpha_path_distance (hypentropy.closest_alpha)

``name``, ``mode``, ``lr_decay`` and everything in ``[sweep]`` and ``[outputs]``
are never grid axes; every other value is an axis when it is a list.

A cell holds the ``[outputs]`` flags as ``store_history``, ``store_beta`` and
``store_path_alpha`` (a row's column ``beta`` is the final β), so turning an
output on makes new cells rather than skipping rows that lack the column.

The algorithm options are read from :data:`dlnsam.ALGORITHMS`, so an option
added to dlnsam is a key, an axis and a column at once. Files written before
it existed stay valid: a row without its column has it None (the
algorithm's default), and :func:`cell_id` leaves an unset added option out,
so those rows are still the cells that do not set it.

The package's modules: ``values`` (key names and checks), ``config``
(:class:`SweepConfig`, the grid's cells), ``cells`` (:func:`cell_id`,
:func:`run_cell`), ``results_file`` (reading, checking and locking the
JSON-lines file), ``resume`` (which rows are cells of a configuration),
``backends`` and ``runner`` (:func:`run_sweep`).
"""

from __future__ import annotations

from dlnsam.sweep.cells import cell_id, run_cell
from dlnsam.sweep.config import AlgorithmGrid, SweepConfig, expand, iter_cells, load_config
from dlnsam.sweep.results_file import read_rows
from dlnsam.sweep.runner import SweepResult, run_sweep
from dlnsam.sweep.values import (
    ADDED_OPTIONS,
    ALGORITHM_KEYS,
    BACKENDS,
    CELL_KEYS,
    CONFIRM_ABOVE,
    METRIC_KEYS,
    MODES,
    OPTION_KEYS,
    OUTPUT_KEYS,
    PROBLEM_KEYS,
    STORE_KEYS,
)

__all__ = [
    "ADDED_OPTIONS",
    "ALGORITHM_KEYS",
    "BACKENDS",
    "CELL_KEYS",
    "CONFIRM_ABOVE",
    "METRIC_KEYS",
    "MODES",
    "OPTION_KEYS",
    "OUTPUT_KEYS",
    "PROBLEM_KEYS",
    "STORE_KEYS",
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
