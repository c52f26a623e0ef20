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
from typing import NamedTuple, Union

from dlnsam._validation import nonnegative_int, positive_float

__all__ = [
    "ALGORITHMS",
    "FLOW_OPTIONS",
    "GD",
    "OPTIONS",
    "SAM",
    "SGD",
    "Algorithm",
    "KernelParams",
    "Option",
    "algorithm_from_name",
    "option_names",
]


class KernelParams(NamedTuple):
    """The parameters of the one kernel family, resolved for n examples.

    This record crosses the JIT boundary as it is (the step kernels read its
    fields by name), so a new option is a field here, its use in
    :mod:`dlnsam.kernels.steps` and its meaning in :mod:`dlnsam.reference`.
    Every field has a fixed scalar type: a float is always a float.

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
    weight_decay : float, default 0.0
        λ of the update θ ← θ − γ D − λ θ (not scaled by γ).
    normalized_descent : bool, default False
        Step along D_u/‖D_u‖₂, D_v/‖D_v‖₂ (when both norms are > 0).
    loss_derivative_only : bool, default False
        SAM takes only the residual at the perturbed point, the factors at θ.
    """

    rho: float
    m: int
    batch_size: int
    full_batch: bool
    normalize: bool
    eps: float
    weight_decay: float = 0.0
    normalized_descent: bool = False
    loss_derivative_only: bool = False


def _check_step_options(weight_decay: float, normalized_descent: bool) -> None:
    positive_float(weight_decay, "weight_decay", allow_zero=True)
    if not isinstance(normalized_descent, bool):
        raise ValueError(f"normalized_descent must be a bool, got {normalized_descent!r}")


def _step_labels(weight_decay: float, normalized_descent: bool) -> list[str]:
    """The non-default step options, as they appear in an algorithm's name."""
    labels = [f"wd={weight_decay:g}"] if weight_decay else []
    return [*labels, "normalized-descent"] if normalized_descent else labels


def _check_batch(batch_size: int | None, n: int, name: str = "batch_size") -> int:
    if batch_size is None:
        return n
    if batch_size > n:
        raise ValueError(f"{name} = {batch_size} is larger than the number of examples n = {n}")
    return batch_size


@dataclass(frozen=True)
class GD:
    """Full-batch gradient descent, θ ← θ − γ ∇L(θ) − λ θ.

    Parameters
    ----------
    weight_decay : float, default 0.0
        λ ≥ 0 of the update θ ← θ − γ D − λ θ. As in the public code of
        Andriushchenko & Flammarion (2022), λ is *not* multiplied by γ.
    normalized_descent : bool, default False
        Step along the direction normalized per parameter block,
        D_u/‖D_u‖₂ and D_v/‖D_v‖₂, when both norms are > 0 (unchanged
        otherwise).

    Examples
    --------
    >>> from dlnsam import GD
    >>> GD().name
    'GD'
    >>> GD(weight_decay=1e-3, normalized_descent=True).name
    'GD(wd=0.001, normalized-descent)'
    """

    weight_decay: float = 0.0
    normalized_descent: bool = False

    def __post_init__(self) -> None:
        _check_step_options(self.weight_decay, self.normalized_descent)

    @property
    def name(self) -> str:
        """Short label for tables and plots."""
        labels = _step_labels(self.weight_decay, self.normalized_descent)
        return f"GD({', '.join(labels)})" if labels else "GD"

    def kernel_params(self, n: int) -> KernelParams:
        """Resolve the algorithm for a problem with ``n`` examples."""
        return KernelParams(
            rho=0.0, m=n, batch_size=n, full_batch=True, normalize=False, eps=0.0,
            weight_decay=float(self.weight_decay), normalized_descent=self.normalized_descent,
        )  # fmt: skip


@dataclass(frozen=True)
class SGD:
    """Mini-batch SGD, θ ← θ − γ ∇L_B(θ) − λ θ with a fresh uniform batch B each step.

    Parameters
    ----------
    batch_size : int
        b ≥ 1, drawn without replacement inside a batch; b ≤ n is checked at
        :func:`dlnsam.run`.
    weight_decay : float, default 0.0
        λ ≥ 0 of the update θ ← θ − γ D − λ θ. As in the public code of
        Andriushchenko & Flammarion (2022), λ is *not* multiplied by γ.
    normalized_descent : bool, default False
        Step along the direction normalized per parameter block,
        D_u/‖D_u‖₂ and D_v/‖D_v‖₂, when both norms are > 0 (unchanged
        otherwise).

    Examples
    --------
    >>> from dlnsam import SGD
    >>> SGD(batch_size=4).name
    'SGD(b=4)'
    """

    batch_size: int
    weight_decay: float = 0.0
    normalized_descent: bool = False

    def __post_init__(self) -> None:
        nonnegative_int(self.batch_size, "batch_size", minimum=1)
        _check_step_options(self.weight_decay, self.normalized_descent)

    @property
    def name(self) -> str:
        """Short label for tables and plots."""
        labels = [f"b={self.batch_size}"]
        labels += _step_labels(self.weight_decay, self.normalized_descent)
        return f"SGD({', '.join(labels)})"

    def kernel_params(self, n: int) -> KernelParams:
        """Resolve the algorithm for a problem with ``n`` examples."""
        b = _check_batch(self.batch_size, n)
        return KernelParams(
            rho=0.0, m=b, batch_size=b, full_batch=False, normalize=False, eps=0.0,
            weight_decay=float(self.weight_decay), normalized_descent=self.normalized_descent,
        )  # fmt: skip


@dataclass(frozen=True)
class SAM:
    """Micro-batch Sharpness-Aware Minimization SAM(ρ, m).

    The batch (all n examples, or a random batch of ``batch_size``) is split
    into k = b/m contiguous micro-batches S_1..S_k, and the step is along

    .. math:: D(\\theta) = \\frac{1}{k} \\sum_{j=1}^{k}
              \\nabla L_{S_j}\\big(\\theta + \\rho\\, \\nabla L_{S_j}(\\theta)\\big),
              \\qquad \\theta \\leftarrow \\theta - \\gamma D(\\theta) - \\lambda \\theta.

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
    weight_decay : float, default 0.0
        λ ≥ 0 of the update θ ← θ − γ D − λ θ. As in the public code of
        Andriushchenko & Flammarion (2022), λ is *not* multiplied by γ.
    normalized_descent : bool, default False
        Step along the direction normalized per parameter block,
        D_u/‖D_u‖₂ and D_v/‖D_v‖₂, when both norms are > 0 (unchanged
        otherwise).
    loss_derivative_only : bool, default False
        The ablation of Andriushchenko & Flammarion (2022): only the residual
        is taken at the perturbed point θ̃_j = (ũ, ṽ), the gradient factor at
        θ, i.e. ∇_u = g_{S_j}(ũ ⊙ ṽ) ⊙ v and ∇_v = g_{S_j}(ũ ⊙ ṽ) ⊙ u with
        g_S(β) = X_Sᵀ(X_S β − y_S)/|S|.

    Examples
    --------
    >>> from dlnsam import SAM
    >>> SAM(0.1, m=1).name
    '1-SAM(rho=0.1)'
    >>> SAM(0.1).name
    'n-SAM(rho=0.1)'
    >>> SAM(0.1, m=1, loss_derivative_only=True).name
    '1-SAM(rho=0.1, loss-derivative-only)'
    """

    rho: float
    m: int | None = None
    normalize: bool = False
    eps: float = 1e-12
    batch_size: int | None = None
    weight_decay: float = 0.0
    normalized_descent: bool = False
    loss_derivative_only: bool = False

    def __post_init__(self) -> None:
        positive_float(self.rho, "rho", allow_zero=True)
        positive_float(self.eps, "eps")
        if self.m is not None:
            nonnegative_int(self.m, "m", minimum=1)
        if self.batch_size is not None:
            nonnegative_int(self.batch_size, "batch_size", minimum=1)
            if self.m is not None and self.batch_size % self.m:
                raise ValueError(f"m = {self.m} does not divide batch_size = {self.batch_size}")
        for flag in ("normalize", "loss_derivative_only"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{flag} must be a bool, got {getattr(self, flag)!r}")
        _check_step_options(self.weight_decay, self.normalized_descent)

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
        extras += _step_labels(self.weight_decay, self.normalized_descent)
        if self.loss_derivative_only:
            extras.append("loss-derivative-only")
        return f"{kind}({', '.join(extras)})"

    def kernel_params(self, n: int) -> KernelParams:
        """Resolve the algorithm for a problem with ``n`` examples."""
        b = _check_batch(self.batch_size, n)
        m = b if self.m is None else self.m
        if m > b or b % m:
            what = "n" if self.batch_size is None else "batch_size"
            raise ValueError(f"m = {m} does not divide the batch: {what} = {b}")
        return KernelParams(
            rho=float(self.rho), m=m, batch_size=b, full_batch=self.batch_size is None,
            normalize=self.normalize, eps=float(self.eps),
            weight_decay=float(self.weight_decay), normalized_descent=self.normalized_descent,
            loss_derivative_only=self.loss_derivative_only,
        )  # fmt: skip


Algorithm = Union[GD, SGD, SAM]  # noqa: UP007 - a runtime alias, valid on Python 3.10


def _sam_constructor(m: int | None) -> Callable[..., SAM]:
    """SAM with its micro-batch size fixed to ``m`` (None: n-SAM; 0: m is required).

    The constructor's signature is SAM's without ``m`` (or with ``m`` required),
    so that :func:`algorithm_from_name` and :func:`option_names` read from it
    which options the algorithm takes, and a new option of SAM is taken here too.
    ``eps``, a numerical guard of the normalized ascent rather than a
    hyperparameter of the method, keeps SAM's default.
    """
    params = [p for p in inspect.signature(SAM).parameters.values() if p.name != "eps"]
    if m == 0:
        params = [p.replace(default=inspect.Parameter.empty) if p.name == "m" else p
                  for p in params]  # fmt: skip
        params.insert(1, params.pop([p.name for p in params].index("m")))
    else:
        params = [p for p in params if p.name != "m"]

    def build(**options: object) -> SAM:
        return SAM(**options) if m == 0 else SAM(m=m, **options)  # type: ignore[arg-type]

    build.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return build


#: Constructors by name, for the CLI and for tests that must cover every
#: algorithm: a new entry here is tested by every test that iterates over it.
#: Each constructor's signature says which options the algorithm takes.
ALGORITHMS: dict[str, Callable[..., Algorithm]] = {
    "gd": GD,
    "sgd": SGD,
    "n-sam": _sam_constructor(None),
    "1-sam": _sam_constructor(1),
    "m-sam": _sam_constructor(0),
}


#: The options that a flow (:func:`dlnsam.flow`) takes too; every other
#: option of :data:`ALGORITHMS` shapes discrete steps only.
FLOW_OPTIONS: tuple[str, ...] = ("rho", "m", "normalize")


@dataclass(frozen=True)
class Option:
    """An algorithm option as a command line shows it: its type and a one-line help.

    A ``bool`` option is a switch (absent: the algorithm's default).
    """

    type: type
    help: str


#: Every option of :data:`ALGORITHMS`, for the command line: a new option is
#: a new entry here and a keyword of the constructors that take it.
OPTIONS: dict[str, Option] = {
    "rho": Option(float, "SAM radius rho (SAM variants only)"),
    "m": Option(int, "micro-batch size (m-sam only)"),
    "batch_size": Option(int, "random batch size (sgd; stochastic SAM variants)"),
    "normalize": Option(bool, "normalized SAM ascent rho*g/(||g||+eps)"),
    "weight_decay": Option(float, "weight decay lambda: theta -= lr*D + lambda*theta"),
    "normalized_descent": Option(bool, "step along D_u/||D_u||, D_v/||D_v||"),
    "loss_derivative_only": Option(
        bool, "SAM ablation: residual at the perturbed point, factors (v, u) at theta"
    ),
}


def option_names() -> tuple[str, ...]:
    """Every option that some algorithm of :data:`ALGORITHMS` takes, in table order.

    Read from the constructors' signatures, so a new option is known to the
    CLI and to sweep configurations as soon as a constructor takes it.

    Examples
    --------
    >>> from dlnsam.algorithms import option_names
    >>> option_names()[:4]
    ('weight_decay', 'normalized_descent', 'batch_size', 'rho')
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
        Hyperparameters (the keys of :data:`OPTIONS`: ``rho``, ``m``,
        ``batch_size``, ``normalize``, ``weight_decay``, ...).
        Options whose value is None are dropped; an option the algorithm does
        not take, or a missing required one, is a ``ValueError`` rather than
        silently ignored.

    Examples
    --------
    >>> from dlnsam import algorithm_from_name
    >>> algorithm_from_name("1-sam", rho=0.1, weight_decay=1e-4).name
    '1-SAM(rho=0.1, wd=0.0001)'
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
