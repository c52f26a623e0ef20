"""flow(): one entry point that joins a flow's term and an integrator.

The flows are the limits of GD and SAM as the step size γ → 0, θ̇ = −∇L(θ)
and θ̇ = −D(θ) with D the SAM(ρ, m) direction. Along them dlnsam also
integrates ∫L ds and the exponents Δ(t), Δ⁽¹⁾(t) that give the effective
hypentropy scale of the solution the flow selects (Theorem 1 of Andriushchenko
& Flammarion, ICML 2022, in its exact form).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from types import ModuleType

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dlnsam._validation import as_float_array, positive_float
from dlnsam.algorithms import FLOW_OPTIONS, GD, SAM, Algorithm
from dlnsam.flows import bdf, dop853
from dlnsam.flows.records import Controls, new_outputs, new_progress
from dlnsam.flows.terms import (
    dynamic_size,
    initial_state,
    sam_flow_term,
    split_state,
    state_atol,
    train_loss,
)
from dlnsam.problems import Problem
from dlnsam.results import History, Status, outcome
from dlnsam.status import DIVERGED, RUNNING, STEP_UNDERFLOW
from dlnsam.training import initial_point, kernel_inputs, parallel_chunks

__all__ = [
    "ALPHA_RANGE",
    "BDF_MAX_D",
    "DEFAULT_MAX_STEPS",
    "INTEGRATORS",
    "MAX_RTOL",
    "METHODS",
    "NORMALIZED_MAX_STEPS",
    "FlowResult",
    "check_alpha",
    "default_loss_tol",
    "flow",
]

#: The integrators of :func:`flow`, by name: modules with the same
#: ``integrate(term, z, progress, controls, outputs, memory)`` kernel,
#: ``new_memory(size, p)`` and ``step_flops(p)``.
INTEGRATORS: dict[str, ModuleType] = {"DOP853": dop853, "BDF": bdf}

#: The integrators of :func:`flow`.
METHODS = tuple(INTEGRATORS)

# Accepted steps per kernel call; between calls the flow can be interrupted.
_STEPS_PER_CALL = 20_000
# An integrator whose steps cost O(p³) (BDF's dense LU) gets a step budget of
# about this many flops' worth, so that an interrupt is still acted on within seconds.
_FLOPS_PER_CALL = 2e9
#: Largest d for method='BDF' (its dense Jacobian and LU take about 100 d² bytes).
BDF_MAX_D = 2000

#: Initialization scales α that :func:`flow` accepts, per coordinate. The lower
#: end keeps 2α and the error scales derived from it (rtol · 2α) clear of the
#: subnormal range, where relative error cannot be controlled; above
#: the upper end, the flow's time scale (about 1/α²) is so short and stiff that
#: DOP853 no longer reaches the default loss tolerance.
ALPHA_RANGE = (1e-300, 1e3)

#: Largest rtol of :func:`flow`: looser error control lets DOP853 accept unstable steps.
MAX_RTOL = 1e-2

#: Default ``max_steps`` of :func:`flow`, and that of the normalized SAM flows,
#: which chatter near an interpolator (see :func:`flow`, Notes).
DEFAULT_MAX_STEPS = 10_000_000
NORMALIZED_MAX_STEPS = 100_000

# The default loss tolerance never exceeds this fraction of L(θ_0): a flow
# stopped above it has not been trained.
_MAX_DEFAULT_LOSS_TOL = 1e-6


@dataclass(frozen=True, eq=False)
class FlowResult:
    """The outcome of :func:`flow`.

    Attributes
    ----------
    u, v, beta : (d,) ndarray
        State at ``t_end``; β = u ⊙ v.
    t_end : float
        Final time (in the time of the u ⊙ v parametrization).
    train_loss, test_loss : float, float or None
        Losses at ``t_end``.
    integral_loss : float
        ∫₀^{t_end} L(θ(s)) ds.
    delta : (d,) ndarray
        Exact exponent Δ(t_end) = (1/k) ∫ Σ_j ρ_j g_j ⊙ g̃_j ds, with g_j and
        g̃_j the micro-batch gradients at θ and at the perturbed point.
    delta_first_order : (d,) ndarray
        Δ⁽¹⁾(t_end) = (1/k) ∫ Σ_j ρ_j g_j ⊙ g_j ds (g̃_j replaced by g_j).
    alpha : (d,) ndarray or None
        Initialization scale, when θ_0 = (2α, 0); otherwise None.
    alpha_eff, alpha_eff_first_order : (d,) ndarray or None
        α ⊙ exp(−Δ) and α ⊙ exp(−Δ⁽¹⁾).
    status : Status
        ``converged`` (L ≤ loss_tol · L(0)), ``max_steps`` (``t_max`` or
        ``max_steps`` reached first), ``diverged`` (the loss grew past 1e10 ×
        its initial scale: a SAM flow that blows up, or an integration made
        unstable by loose tolerances) or ``step_size_underflow`` (the flow
        blows up or is too stiff), ``interrupted``.
    message : str
        A readable account of the status.
    nfev, n_steps, n_rejected : int
        Right-hand-side evaluations, accepted and rejected steps.
    history : History
        Loss (train, test) at t = 0 and at the requested ``times`` reached.
    beta_at_times : (R, d) ndarray
        β at the times of ``history``.
    algorithm : Algorithm
        GD() or the full-batch SAM that defines the flow.
    rtol, atol : float
        Tolerances of the integrator.
    wall_time : float
        Seconds spent in :func:`flow`.
    method : str
        The integrator, 'DOP853' or 'BDF'.
    """

    u: NDArray[np.float64]
    v: NDArray[np.float64]
    beta: NDArray[np.float64]
    t_end: float
    train_loss: float
    test_loss: float | None
    integral_loss: float
    delta: NDArray[np.float64]
    delta_first_order: NDArray[np.float64]
    alpha: NDArray[np.float64] | None
    alpha_eff: NDArray[np.float64] | None
    alpha_eff_first_order: NDArray[np.float64] | None
    status: Status
    message: str
    nfev: int
    n_steps: int
    n_rejected: int
    history: History
    beta_at_times: NDArray[np.float64]
    algorithm: Algorithm
    rtol: float
    atol: float
    wall_time: float
    method: str = "DOP853"

    @property
    def alpha_eff_geomean(self) -> float:
        """Geometric mean of α_eff over the coordinates (NaN without α).

        Computed as exp(mean(log α − Δ)), which stays finite where α e^{−Δ}
        itself underflows.
        """
        if self.alpha is None:
            return float("nan")
        return float(np.exp(np.mean(np.log(self.alpha) - self.delta)))


def default_loss_tol(rtol: float) -> float:
    """The loss tolerance that matches ``rtol``: 100 · rtol², clipped to [1e-26, 1e-6].

    Examples
    --------
    >>> from dlnsam.flows import default_loss_tol
    >>> default_loss_tol(1e-10)
    1e-18
    >>> default_loss_tol(1e-2)
    1e-06
    """
    return float(min(_MAX_DEFAULT_LOSS_TOL, max(1e-26, 100.0 * rtol * rtol)))


def check_alpha(alpha: ArrayLike, name: str = "alpha") -> None:
    """Raise ``ValueError`` naming ``name`` if an entry of α lies outside ``ALPHA_RANGE``.

    Examples
    --------
    >>> from dlnsam.flows import check_alpha
    >>> check_alpha(0.05)
    >>> check_alpha(1e-305)
    Traceback (most recent call last):
    ...
    ValueError: alpha = 1e-305 is too small to integrate: flows accept alpha in [1e-300, 1000]
    """
    a = np.asarray(alpha, dtype=np.float64)
    low, high = ALPHA_RANGE
    if a.size == 0:
        return
    if a.min() < low:
        raise ValueError(
            f"{name} = {float(a.min()):g} is too small to integrate: "
            f"flows accept {name} in [{low:g}, {high:g}]"
        )
    if a.max() > high:
        raise ValueError(
            f"{name} = {float(a.max()):g} is too large to integrate (the flow's time scale "
            f"is about 1/{name}^2): flows accept {name} in [{low:g}, {high:g}]"
        )


# The fields of a flow's algorithm that the flow uses: FLOW_OPTIONS and eps,
# the regularizer of the normalized ascent (itself a flow option).
_FLOW_FIELDS = (*FLOW_OPTIONS, "eps")


def _check_flow_algorithm(algorithm: object) -> Algorithm:
    """GD() or a full-batch SAM whose discrete-only options keep their defaults."""
    if not isinstance(algorithm, (GD, SAM)):
        raise ValueError(
            f"algorithm must be GD() (gradient flow) or full-batch SAM(rho, m), got {algorithm!r}"
        )
    if isinstance(algorithm, SAM) and algorithm.batch_size is not None:
        raise ValueError("algorithm: a flow is deterministic; use full-batch SAM (batch_size=None)")
    for field in dataclasses.fields(algorithm):
        if field.name in _FLOW_FIELDS:
            continue
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            default = dataclasses.MISSING
        value = getattr(algorithm, field.name)
        if default is dataclasses.MISSING or value != default:
            raise ValueError(
                f"algorithm: {field.name} = {value!r} is an option of discrete steps only; "
                f"a flow takes {', '.join(FLOW_OPTIONS)} (and {field.name} at its default)"
            )
    return algorithm


def _check_tolerances(
    rtol: float, atol: float, loss_tol: float | None, t_max: float
) -> tuple[float, float, float, float]:
    rtol = positive_float(rtol, "rtol")
    if rtol > MAX_RTOL:
        raise ValueError(
            f"rtol must be <= {MAX_RTOL:g}, got {rtol:g}: looser error control accepts "
            "unstable steps, and the flow's limit would not be resolved"
        )
    atol = positive_float(atol, "atol")
    if loss_tol is None:
        loss_tol = default_loss_tol(rtol)
    loss_tol = positive_float(loss_tol, "loss_tol", allow_zero=True)
    if loss_tol >= 1.0:
        raise ValueError(
            f"loss_tol must be < 1, got {loss_tol:g}: the flow stops once "
            "L <= loss_tol x L(0), so it would stop at its start"
        )
    return rtol, atol, loss_tol, positive_float(t_max, "t_max")


def _check_method(method: str, d: int, rtol: float) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "BDF" and d > BDF_MAX_D:
        raise ValueError(
            f"method='BDF' keeps a dense (2d)x(2d) Jacobian and LU: d = {d} > "
            f"{BDF_MAX_D} would take {100 * d**2 / 1e9:.1f} GB and O(d^3) work per "
            "factorization; use method='DOP853'"
        )
    if rtol < 1e-15:
        raise ValueError(f"rtol must be >= 1e-15 (below float64 resolution), got {rtol}")


def _check_start(
    u: NDArray[np.float64], v: NDArray[np.float64], alpha: ArrayLike | None
) -> NDArray[np.float64] | None:
    """Check the scale of θ_0; return α when θ_0 = (2α, 0) with α > 0, else None."""
    if alpha is not None:
        check_alpha(u / 2.0)
    else:
        scale = np.maximum(np.abs(u), np.abs(v)) / 2.0
        check_alpha(scale[scale > 0.0], "max(|u0|, |v0|) / 2")
    return u / 2.0 if np.all(v == 0.0) and np.all(u > 0.0) else None


def _output_times(times: ArrayLike | None, t_max: float) -> NDArray[np.float64]:
    if times is None:
        return np.zeros(0)
    out = np.unique(as_float_array(times, "times", 1))
    if out[0] <= 0 or out[-1] > t_max:
        raise ValueError(f"times must lie in (0, t_max = {t_max:g}]")
    return out


def _flow_outcome(
    code: int, interrupted: bool, progress: np.ndarray, z: NDArray[np.float64], **ctx: object
) -> tuple[Status, str]:
    """Status and message of a flow: the causes a flow's stop can have, in words."""
    t_end, loss = float(progress["t"][0]), float(progress["loss"][0])
    rho, rtol, atol = ctx["rho"], ctx["rtol"], ctx["atol"]
    ctx = {"t_end": t_end, "loss": loss, **ctx}
    case = None
    if code == DIVERGED and progress["n_steps"][0] == 0 and np.isfinite(loss):
        case = "diverged_at_start"
        ctx["what"] = "the gradient" if rho == 0.0 else f"the SAM direction (rho = {rho:g})"
        ctx["remedy"] = "" if rho == 0.0 else ", or lower rho"
    elif code == DIVERGED:
        ctx["what"] = (
            f"L = {loss:.3e} exceeds 1e10 x the initial loss scale"
            if np.isfinite(loss) and np.all(np.isfinite(z))
            else f"the state overflowed (L = {loss:.3e})"
        )
        ctx["why"] = (
            "the loss of a gradient flow cannot increase, so the integration failed: "
            f"its tolerances (rtol = {rtol:g}, atol = {atol:g}) are too loose"
            if rho == 0.0
            else f"rho = {rho:g} is too large for this problem, or the tolerances "
            f"(rtol = {rtol:g}, atol = {atol:g}) are too loose to integrate it"
        )
    ctx["blowing"] = "" if rho == 0.0 else "blowing up or "
    ctx["hint"] = ""
    if code == RUNNING and ctx["normalize"]:
        ctx["hint"] = (
            "; the normalized flow chatters near an interpolator, in steps far shorter "
            "than its time scale (a larger max_steps goes further, slowly)"
        )
    elif code == STEP_UNDERFLOW and ctx["method"] == "BDF":
        ctx["hint"] = (
            "; BDF can also stall once the loss is far below its accuracy "
            "(loss_tol well under the default): method='DOP853' may get further"
        )
    return outcome("flow", code, interrupted, case, **ctx)


def _integrate(method, term, z, progress, controls, outputs, max_steps):
    """Call the integrator's kernel in budgets of steps; return (code, interrupted)."""
    integrator = INTEGRATORS[method]
    p = int(dynamic_size(term))
    memory = integrator.new_memory(z.size, p)
    flops = integrator.step_flops(p)
    per_call = _STEPS_PER_CALL
    if flops > 0.0:
        per_call = int(min(per_call, max(1.0, _FLOPS_PER_CALL / flops)))
    code = RUNNING
    try:
        while code == RUNNING and progress["n_steps"][0] < max_steps:
            budget = int(min(per_call, max_steps - progress["n_steps"][0]))
            code = integrator.integrate(
                term, z, progress, controls._replace(max_steps=budget), outputs, memory
            )
    except KeyboardInterrupt:
        return code, True
    return code, False


def flow(
    problem: Problem,
    algorithm: Algorithm,
    *,
    alpha: ArrayLike | None = None,
    u0: ArrayLike | None = None,
    v0: ArrayLike | None = None,
    rtol: float = 1e-10,
    atol: float = 1e-14,
    loss_tol: float | None = None,
    t_max: float = 1e6,
    times: ArrayLike | None = None,
    max_steps: int | None = None,
    method: str = "DOP853",
) -> FlowResult:
    """Integrate the gradient flow or a SAM(ρ, m) flow to convergence.

    Parameters
    ----------
    problem : Problem
        Data X (n, d), y (n,).
    algorithm : GD or SAM
        ``GD()`` for the gradient flow θ̇ = −∇L(θ); a full-batch
        ``SAM(rho, m, normalize=...)`` for the SAM flow θ̇ = −D(θ).
    alpha : float or (d,) array_like, optional
        Initialization scale: θ_0 = (2α, 0), with every entry in
        ``ALPHA_RANGE`` = [1e-300, 1e3].
    u0, v0 : (d,) array_like, optional
        Explicit initialization instead of ``alpha``. ``alpha_eff`` is then
        reported only if v0 = 0 and u0 > 0 (then α = u0 / 2). Each nonzero
        max(|u0_c|, |v0_c|) / 2 must lie in ``ALPHA_RANGE``.
    rtol, atol : float
        Relative and absolute tolerances of the error control (on every state
        component, including the integrals); 1e-15 ≤ rtol ≤ ``MAX_RTOL`` =
        1e-2. On u_c and v_c the absolute tolerance is min(atol, rtol ·
        max(|u0_c|, |v0_c|)) (see :func:`state_atol`), so that a flow from a
        tiny α is still integrated to relative accuracy.
    loss_tol : float, optional
        Stop once L(θ(t)) ≤ loss_tol · L(θ_0); must be < 1. Default:
        100 · rtol², within [1e-26, 1e-6]. The integrated solution is
        accurate to about rtol, so its loss cannot fall much below
        rtol² · L(θ_0); the default sits just above that floor, where the
        remaining tails of ∫L and Δ are negligible at the integrator's
        accuracy, and never above 1e-6, so that a loose rtol does not stop
        a flow that has barely started.
    t_max : float, default 1e6
        Give up (status ``max_steps``) at this time.
    times : (T,) array_like, optional
        Times in (0, t_max] at which to record the losses and β: DOP853
        lands on each exactly, BDF evaluates its interpolating polynomial
        there (to the accuracy of the integration).
    max_steps : int, optional
        Bound on the number of accepted steps. Default ``DEFAULT_MAX_STEPS``
        = 1e7, and ``NORMALIZED_MAX_STEPS`` = 1e5 for ``normalize=True``,
        whose flows chatter near an interpolator (see Notes).
    method : {'DOP853', 'BDF'}, default 'DOP853'
        The integrator. 'DOP853' (explicit, order 8) is accurate and cheap
        per step, but late in a flow to convergence its step size is bounded
        by stability (the flow is stiff there). 'BDF' (implicit, variable
        order 1–5, Jacobian by finite differences) takes far fewer steps on
        such long runs, with β as accurate but ∫L ds less accurate (BENCHMARKS.md
        compares the two). Its Jacobian and LU are dense, (2d)×(2d): memory grows
        as d² and each factorization as d³, so it is meant for d up to a few
        hundred (d ≤ 2000 is accepted). The verification layer uses DOP853.

    Returns
    -------
    FlowResult
        Final state, ∫L ds, Δ, Δ⁽¹⁾, α_eff, status and counters.

    Notes
    -----
    With a = u + v and b = u − v the SAM(ρ, m) flow is multiplicative:
    ȧ = −(1/k) Σ_j g̃_j (1 + ρ g_j) ⊙ a and ḃ = (1/k) Σ_j g̃_j (1 − ρ g_j) ⊙ b.
    Started at θ_0 = (2α, 0) it follows

    .. math:: \\beta(t) = 2\\alpha_t^2 \\odot \\sinh(X^\\top \\lambda_t), \\qquad
              \\alpha_t = \\alpha \\odot e^{-\\Delta(t)},

    so its limit, if it interpolates, is exactly the minimum-hypentropy
    interpolator at scale α_eff = α ⊙ exp(−Δ(∞)). With ``normalize=True``, ρ
    is the per-micro-batch radius ρ_j = ρ / (‖∇L_{S_j}‖ + ε); that flow is
    discontinuous where a micro-batch gradient vanishes and chatters near an
    interpolator, in steps far shorter than its time scale, so expect it to
    stop on ``max_steps`` rather than converge: hence its smaller default
    ``max_steps``.

    Integration uses Dormand–Prince 8(5,3) (Hairer's DOP853) or SciPy's
    variable-order BDF/NDF method, both compiled with Numba, with the 1-SAM
    right-hand side in one pass over the rows of X (no perturbed copies of θ).
    Both control the error of every state component, including ∫L ds, Δ and
    Δ⁽¹⁾.

    Examples
    --------
    >>> from dlnsam import SAM, flow, gaussian_problem
    >>> p = gaussian_problem(n=20, d=30, k=3, seed=0)
    >>> res = flow(p, SAM(0.1, m=1), alpha=0.05)
    >>> res.status.value, bool(res.alpha_eff.max() < 0.05)
    ('converged', True)
    """
    start = time.perf_counter()
    if not isinstance(problem, Problem):
        raise ValueError(f"problem must be a dlnsam.Problem, got {type(problem).__name__}")
    algorithm = _check_flow_algorithm(algorithm)
    params = algorithm.kernel_params(problem.n)
    rtol, atol, loss_tol, t_max = _check_tolerances(rtol, atol, loss_tol, t_max)
    if max_steps is None:
        max_steps = NORMALIZED_MAX_STEPS if params.normalize else DEFAULT_MAX_STEPS
    if not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
    _check_method(method, problem.d, rtol)
    u, v = initial_point(problem.d, alpha, u0, v0)
    base_alpha = _check_start(u, v, alpha)
    out_times = _output_times(times, t_max)

    data = kernel_inputs(problem, u, v)
    d, beta0 = problem.d, u * v
    z = initial_state(u, v)
    term = sam_flow_term(data.X, data.y, params, parallel_chunks(problem.n, d))
    progress = new_progress(data.loss0)
    controls = Controls(
        rtol, state_atol(u, v, rtol, atol), t_max, loss_tol * data.loss0, data.max_loss, 0
    )
    outputs = new_outputs(out_times, d, data.X_test, data.y_test)
    code, interrupted = _integrate(method, term, z, progress, controls, outputs, max_steps)

    status, message = _flow_outcome(
        code, interrupted, progress, z, rho=params.rho, normalize=params.normalize,
        rtol=rtol, atol=atol, method=method, t_max=t_max, max_steps=max_steps,
        target=loss_tol * data.loss0,
    )  # fmt: skip
    end = split_state(z.copy(), d)
    beta = end.u * end.v
    reached = int(progress["next_output"][0])
    hist_test = None
    if problem.has_test:
        hist_test = np.concatenate([[problem.test_loss(beta0)], outputs.loss[:reached, 1]])
    return FlowResult(
        u=end.u,
        v=end.v,
        beta=beta,
        t_end=float(progress["t"][0]),
        train_loss=float(train_loss(term, z, np.empty(d))),
        test_loss=problem.test_loss(beta) if problem.has_test else None,
        integral_loss=float(end.integral_loss[0]),
        delta=end.delta,
        delta_first_order=end.delta_first_order,
        alpha=base_alpha,
        alpha_eff=None if base_alpha is None else base_alpha * np.exp(-end.delta),
        alpha_eff_first_order=(
            None if base_alpha is None else base_alpha * np.exp(-end.delta_first_order)
        ),
        status=status,
        message=message,
        nfev=int(progress["nfev"][0]),
        n_steps=int(progress["n_steps"][0]),
        n_rejected=int(progress["n_rejected"][0]),
        history=History(
            steps=np.concatenate([[0.0], out_times[:reached]]),
            train_loss=np.concatenate([[data.loss0], outputs.loss[:reached, 0]]),
            test_loss=hist_test,
        ),
        beta_at_times=np.vstack([beta0[None, :], outputs.beta[:reached]]),
        algorithm=algorithm,
        rtol=rtol,
        atol=atol,
        wall_time=time.perf_counter() - start,
        method=method,
    )
