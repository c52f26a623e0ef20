"""Numba kernels: one family for GD, SGD and SAM(ρ, m) on β = u ⊙ v.

- :mod:`dlnsam.kernels.records`: the named records crossing the JIT boundary;
- :mod:`dlnsam.kernels.rows`: the passes over the rows of X;
- :mod:`dlnsam.kernels.batches`: the rows of each step's random batch;
- :mod:`dlnsam.kernels.steps`: the SAM direction (serial and parallel) and
  the step loop :func:`run_chunk`.

Each kernel has a plain-NumPy counterpart in :mod:`dlnsam.reference`, and the
tests compare them step by step.
"""

from dlnsam.kernels.batches import smallest
from dlnsam.kernels.records import Controls, Data, State, new_state
from dlnsam.kernels.rows import COLUMN_BLOCK, FASTMATH, half_mse
from dlnsam.kernels.steps import (
    PARALLEL_CHUNKS,
    PART_ROWS,
    WORK_ROWS,
    direction,
    run_chunk,
    sam_direction,
    sam_direction_parallel,
)
from dlnsam.status import CONVERGED, DIVERGED, RUNNING

__all__ = [
    "COLUMN_BLOCK",
    "CONVERGED",
    "DIVERGED",
    "FASTMATH",
    "PARALLEL_CHUNKS",
    "PART_ROWS",
    "RUNNING",
    "WORK_ROWS",
    "Controls",
    "Data",
    "State",
    "direction",
    "half_mse",
    "new_state",
    "run_chunk",
    "sam_direction",
    "sam_direction_parallel",
    "smallest",
]
