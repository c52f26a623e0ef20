"""Resuming a sweep: which rows of a results file are cells of a configuration."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dlnsam.sweep.config import SweepConfig
from dlnsam.sweep.values import ADDED_OPTIONS, ALGORITHM_KEYS, CELL_KEYS

# The parameters that every row has; the added options may be missing.
_REQUIRED = tuple(key for key in CELL_KEYS if key not in ADDED_OPTIONS)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


class CellPositions:
    """The index in :func:`iter_cells` order of the cell that a row is the result of.

    Computed from the axes (a mixed-radix number), without expanding or
    hashing the grid. None for a row that is not a cell of the configuration:
    values are compared as JSON text, so a match has the same :func:`cell_id`.
    A row without the column of an option added since it was written
    (``ADDED_OPTIONS``) has that option None, the algorithm's default.
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
            i = index.get(_json(row.get(key)))
            if i is None:
                return None
            out = out * size + i
        return out

    def __call__(self, row: Mapping[str, Any]) -> int | None:
        if any(key not in row for key in _REQUIRED):
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


def foreign_message(
    path: Path, config: SweepConfig, foreign: list[Mapping[str, Any]], n_cells: int
) -> str:
    """Why a results file with rows of another configuration is refused, with an example."""
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
