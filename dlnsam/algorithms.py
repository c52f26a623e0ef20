"""Training algorithms as values.

Each algorithm is a small frozen record of hyperparameters. They all resolve to
the same :class:`KernelParams` (radius ρ, micro-batch size m, batch size b,
normalization), which parameterizes one kernel family: GD is SAM with ρ = 0
and one full batch, SGD is GD on random batches, and SAM(ρ, m) averages the
SAM directions of the micro-batches. There is no separate loop per algorithm.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

from dlnsam._validation import nonnegative_int, positive_float

__all__ = [
    "ALGORITHMS",
    "FLOW_OPTIONS",
    "GD",
    "SAM",
    "SGD",
    "Algorithm",
    "KernelParams",
    "algorithm_from_name",
    "option_names",
]


@dataclass(frozen=True)
class KernelParams:
    """The parameters of the one kernel family, resolved for n examples.

    Attributes
    ----------
    rho : float
        SAM radius ρ (0 for GD and SGD).
    m : int
        Micro-batch size; divides ``batch_size``.
    batch_size : int
        Examples per step.
    full_batch : bool
        True: every step uses all n examples in their fixed order. False: each
        step draws ``batch_size`` examples uniformly without replacement.
    normalize : bool
        Normalized ascent ρ ∇L_S / (‖∇L_S‖₂ + eps).
    eps : float
        Regularizer of the normalized ascent.
    """

    rho: float
    m: int
    batch_size: int
    full_batch: bool
    normalize: bool
    eps: float


def _check_batch(batch_size: int | None, n: int, name: str = "batch_size") -> int:
    if batch_size is None:
        return n
    if batch_size > n:
        raise ValueError(f"{name} = {batch_size} is larger than the number of examples n = {n}")
    return batch_size


@dataclass(frozen=True)
class GD:
    """Full-batch gradient descent, θ ← θ − γ ∇L(θ).

    Examples
    --------
    >>> from dlnsam import GD
    >>> GD().name
    'GD'
    """

    @property
    def name(self) -> str:
        """Short label for tables and plots."""
        return "GD"

    def kernel_params(self, n: int) -> KernelParams:
        """Resolve the algorithm for a problem with ``n`` examples."""
        return KernelParams(0.0, n, n, True, False, 0.0)


@dataclass(frozen=True)
class SGD:
    """Mini-batch SGD, θ ← θ − γ ∇L_B(θ) with a fresh uniform batch B each step.

    Parameters
    ----------
    batch_size : int
        b ≥ 1, drawn without replacement inside a batch; b ≤ n is checked at
        :func:`dlnsam.run`.

    Examples
    --------
    >>> from dlnsam import SGD
    >>> SGD(batch_size=4).name
    'SGD(b=4)'
    """

    batch_size: int

    def __post_init__(self) -> None:
        nonnegative_int(self.batch_size, "batch_size", minimum=1)

    @property
    def name(self) -> str:
        """Short label for tables and plots."""
        return f"SGD(b={self.batch_size})"

    def kernel_params(self, n: int) -> KernelParams:
        """Resolve the algorithm for a problem with ``n`` examples."""
        b = _check_batch(self.batch_size, n)
        return KernelParams(0.0, b, b, False, False, 0.0)


@dataclass(frozen=True)
class SAM:
    """Micro-batch Sharpness-Aware Minimization SAM(ρ, m).

    The batch (all n examples, or a random batch of ``batch_size``) is split
    into k = b/m contiguous micro-batches S_1..S_k, and the step is along

    .. math:: D(\\theta) = \\frac{1}{k} \\sum_{j=1}^{k}
              \\nabla L_{S_j}\\big(\\theta + \\rho\\, \\nabla L_{S_j}(\\theta)\\big).

    Parameters
    ----------
    rho : float
        Radius ρ ≥ 0 of the ascent step (ρ = 0 is GD / SGD).
    m : int or None, default None
        Micro-batch size; None means one micro-batch holding the whole batch
        (n-SAM when full-batch). ``m=1`` is 1-SAM. m must divide the batch.
    normalize : bool, default False
        If True, the ascent is ρ ∇L_S / (‖∇L_S‖₂ + eps), the original SAM; the
        norm is that of the gradient in θ = (u, v).
    eps : float, default 1e-12
        Regularizer of the normalized ascent, > 0.
    batch_size : int or None, default None
        None is full-batch SAM (all examples in a fixed order every step);
        an int b draws a uniform batch of b examples each step, used for both
        the ascent and the descent.

    Examples
    --------
    >>> from dlnsam import SAM
    >>> SAM(0.1, m=1).name
    '1-SAM(rho=0.1)'
    >>> SAM(0.1).name
    'n-SAM(rho=0.1)'
    """

    rho: float
    m: int | None = None
    normalize: bool = False
    eps: float = 1e-12
    batch_size: int | None = None

    def __post_init__(self) -> None:
        positive_float(self.rho, "rho", allow_zero=True)
        positive_float(self.eps, "eps")
        if self.m is not None:
            nonnegative_int(self.m, "m", minimum=1)
        if self.batch_size is not None:
            nonnegative_int(self.batch_size, "batch_size", minimum=1)
            if self.m is not None and self.batch_size % self.m:
                raise ValueError(f"m = {self.m} does not divide batch_size = {self.batch_size}")
        if not isinstance(self.normalize, bool):
            raise ValueError(f"normalize must be a bool, got {self.normalize!r}")

    @property
    def name(self) -> str:
        """Short label for tables and plots."""
        if self.m is None:
            kind = "n-SAM" if self.batch_size is None else "b-SAM"
        else:
            kind = f"{self.m}-SAM"
        extras = [f"rho={self.rho:g}"]
        if self.batch_size is not None:
            extras.append(f"b={self.batch_size}")
        if self.normalize:
            extras.append("normalized")
        return f"{kind}({', '.join(extras)})"

    def kernel_params(self, n: int) -> KernelParams:
        """Resolve the algorithm for a problem with ``n`` examples."""
        b = _check_batch(self.batch_size, n)
        m = b if self.m is None else self.m
        if m > b or b % m:
            what = "n" if self.batch_size is None else "batch_size"
            raise ValueError(f"m = {m} does not divide the batch: {what} = {b}")
        return KernelParams(
            float(self.rho), m, b, self.batch_size is None, self.normalize, float(self.eps)
        )


Algorithm = Union[GD, SGD, SAM]  # noqa: UP007 - a runtime alias, valid on Python 3.10


def _n_sam(rho: float, normalize: bool = False, batch_size: int | None = None) -> SAM:
    return SAM(rho, None, normalize=normalize, batch_size=batch_size)


def _one_sam(rho: float, normalize: bool = False, batch_size: int | None = None) -> SAM:
    return SAM(rho, 1, normalize=normalize, batch_size=batch_size)


def _m_sam(rho: float, m: int, normalize: bool = False, batch_size: int | None = None) -> SAM:
    return SAM(rho, m, normalize=normalize, batch_size=batch_size)


#: Constructors by name, for the CLI and for tests that must cover every
#: algorithm: a new entry here is tested by every test that iterates over it.
#: Each constructor's signature says which options the algorithm takes.
ALGORITHMS: dict[str, Callable[..., Algorithm]] = {
    "gd": GD,
    "sgd": SGD,
    "n-sam": _n_sam,
    "1-sam": _one_sam,
    "m-sam": _m_sam,
}


#: The options that a flow (:func:`dlnsam.flow`) takes too; every other
#: option of :data:`ALGORITHMS` shapes discrete steps only.
FLOW_OPTIONS: tuple[str, ...] = ("rho", "m", "normalize")


def option_names() -> tuple[str, ...]:
    """Every option that some algorithm of :data:`ALGORITHMS` takes, in table order.

    Read from the constructors' signatures, so a new option is known to the
    CLI and to sweep configurations as soon as a constructor takes it.

    Examples
    --------
    >>> from dlnsam.algorithms import option_names
    >>> option_names()
    ('batch_size', 'rho', 'normalize', 'm')
    """
    names: dict[str, None] = {}
    for build in ALGORITHMS.values():
        names.update(dict.fromkeys(inspect.signature(build).parameters))
    return tuple(names)


def algorithm_from_name(name: str, **options: object) -> Algorithm:
    """Build an algorithm from its name in :data:`ALGORITHMS`.

    Parameters
    ----------
    name : {'gd', 'sgd', 'n-sam', '1-sam', 'm-sam'}
        Which algorithm (case-insensitive).
    **options
        Hyperparameters (``rho``, ``m``, ``batch_size``, ``normalize``).
        Options whose value is None are dropped; an option the algorithm does
        not take, or a missing required one, is a ``ValueError`` rather than
        silently ignored.

    Examples
    --------
    >>> from dlnsam import algorithm_from_name
    >>> algorithm_from_name("1-sam", rho=0.1)
    SAM(rho=0.1, m=1, normalize=False, eps=1e-12, batch_size=None)
    """
    key = name.lower()
    if key not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {sorted(ALGORITHMS)}, got {name!r}")
    build = ALGORITHMS[key]
    params = inspect.signature(build).parameters
    given = {k: v for k, v in options.items() if v is not None}
    extra = sorted(set(given) - set(params))
    if extra:
        raise ValueError(f"algorithm {name!r} does not take option(s) {extra}")
    missing = [
        k for k, p in params.items() if p.default is inspect.Parameter.empty and k not in given
    ]
    if missing:
        raise ValueError(f"algorithm {name!r} needs option(s) {missing}")
    return build(**given)
