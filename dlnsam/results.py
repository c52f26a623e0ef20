"""Result records shared by discrete runs and continuous-time flows."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dlnsam.status import Status

__all__ = ["History", "Status", "json_safe"]


@dataclass(frozen=True, eq=False)
class History:
    """Losses recorded along a run.

    Attributes
    ----------
    steps : (R,) int ndarray
        Step indices t (0 is the initialization); for a flow, times.
    train_loss : (R,) ndarray
        L(θ_t) on the training set.
    test_loss : (R,) ndarray or None
        Loss on the test set, when the problem has one.
    """

    steps: NDArray[np.float64] | NDArray[np.int64]
    train_loss: NDArray[np.float64]
    test_loss: NDArray[np.float64] | None


def json_safe(value: Any) -> Any:
    """A JSON-safe copy: NumPy scalars and arrays to Python, NaN and ±inf to None.

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam.results import json_safe
    >>> json_safe({"a": np.float64("nan"), "b": np.arange(2), "c": (1.5, np.inf)})
    {'a': None, 'b': [0, 1], 'c': [1.5, None]}
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if value is None or isinstance(value, str):
        return value
    return str(value)
