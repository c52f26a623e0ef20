"""Input checks shared by the public API.

Every public function validates here, in Python, before any JIT kernel runs, so
that bad input gives a ``ValueError`` naming the argument instead of a NaN.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray


def as_float_array(
    value: ArrayLike, name: str, ndim: int, *, copy: bool = False
) -> NDArray[np.float64]:
    """Return ``value`` as a C-contiguous float64 array of ``ndim`` dimensions.

    Raises ``ValueError`` naming ``name`` if the value is not real-valued
    (complex, strings, dates or other non-numbers), has the wrong number of
    dimensions, is empty, or holds NaN or inf. Booleans count as 0 and 1.
    With ``copy`` the result never shares memory with ``value``, so the caller
    may go on mutating its own array.
    """
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array, got {type(value).__name__}") from exc
    if raw.dtype.kind == "c":
        # Casting would silently drop the imaginary part.
        raise ValueError(f"{name} must be real, got a complex array ({raw.dtype})")
    if raw.dtype.kind not in "biufO":
        raise ValueError(f"{name} must be a numeric array, got an array of dtype {raw.dtype}")
    if raw.dtype.kind == "O":
        # Casting would turn None into NaN and fail on complex with a bare TypeError.
        for item in raw.flat:
            if not isinstance(item, (numbers.Real, np.bool_)):
                raise ValueError(f"{name} must hold real numbers, got an entry {item!r}")
    try:
        arr = raw.astype(np.float64, copy=False)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{name} must hold real numbers that fit a float64: {exc}") from exc
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got an array of shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} non-finite value(s) (NaN or inf)")
    out = np.ascontiguousarray(arr)
    if copy and (out is value or not out.flags.owndata):
        out = out.copy()
    return out


def positive_float(value: Any, name: str, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a finite float that is > 0 (or >= 0 with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    out = float(value)
    if not np.isfinite(out):
        raise ValueError(f"{name} must be finite, got {out}")
    if out < 0 or (out == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {out}")
    return out


def nonnegative_int(value: Any, name: str, *, minimum: int = 0) -> int:
    """Return ``value`` as an int that is at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    out = int(value)
    if out < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {out}")
    return out


def alpha_vector(alpha: ArrayLike, d: int, name: str = "alpha") -> NDArray[np.float64]:
    """Return the hypentropy scale as a (d,) vector of positive floats.

    ``alpha`` may be a scalar or a (d,) array; every entry must be finite and > 0.
    """
    if isinstance(alpha, numbers.Real) and not isinstance(alpha, bool):
        scalar = float(alpha)  # the common case, without array round trips
        if not math.isfinite(scalar):
            raise ValueError(f"{name} must be finite, got {alpha!r}")
        if scalar <= 0:
            raise ValueError(f"{name} must be > 0 everywhere, got min {scalar}")
        return np.full(d, scalar)
    arr = None
    if not isinstance(alpha, bool):
        try:
            arr = np.asarray(alpha, dtype=np.float64)
        except (TypeError, ValueError):
            arr = None
    if arr is None or np.iscomplexobj(alpha) or arr.ndim not in (0, 1):
        raise ValueError(f"{name} must be a positive scalar or a ({d},) array")
    if arr.ndim == 1 and arr.shape != (d,):
        raise ValueError(f"{name} must be a scalar or have shape ({d},), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {alpha!r}")
    if np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0 everywhere, got min {float(arr.min())}")
    return np.ascontiguousarray(np.broadcast_to(arr, (d,)), dtype=np.float64)


def schedule(
    value: Any, steps: int, name: str, *, allow_zero: bool = False
) -> float | NDArray[np.float64]:
    """Return a per-step value γ_t as a float (constant) or a (steps,) float array.

    ``value`` is a real number, an array_like of length ``steps``, or a
    callable ``t -> value`` called at t = 0, ..., steps − 1. Every value must
    be finite and > 0 (>= 0 with ``allow_zero``).
    """
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return positive_float(value, name, allow_zero=allow_zero)
    if callable(value):
        values = []
        for t in range(steps):
            try:
                values.append(value(t))
            except Exception as exc:  # a user's function: name it and the step
                raise ValueError(f"{name}({t}) raised {type(exc).__name__}: {exc}") from exc
        where = f"the values of {name}(t)"
        arr = as_float_array(np.asarray(values, dtype=object), where, 1) if steps else np.zeros(0)
    else:
        shape = np.shape(value) if isinstance(value, (np.ndarray, list, tuple)) else None
        if shape != (steps,):
            got = f"shape {shape}" if shape is not None else type(value).__name__
            raise ValueError(
                f"{name} must be a number, a callable t -> value, or an array of one "
                f"value per step, shape ({steps},); got {got}"
            )
        where = name
        arr = as_float_array(value, name, 1, copy=True) if steps else np.zeros(0)
    low = arr.min(initial=np.inf)
    if low < 0 or (low == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        t = int(np.argmin(arr))
        raise ValueError(f"{where} must be {bound} at every step, got {arr[t]:g} at step {t}")
    return arr
