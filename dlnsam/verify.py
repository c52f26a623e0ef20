"""Numerical verification of Theorem 1 (Andriushchenko & Flammarion, ICML 2022).

Theorem 1, informally: the full-batch 1-SAM and n-SAM flows started at scale α
select the minimum-hypentropy interpolator β*(α_eff) with a smaller effective
scale α_eff = α ⊙ exp(−ρΔ + O(ρ²)), and 1-SAM shrinks it about n times more
than n-SAM. :func:`theorem1` runs the flows and checks, from most to least
exact:

1. the exact identity β(t) = 2 α_t² ⊙ sinh(Xᵀλ_t), α_t = α ⊙ exp(−Δ(t)), at
   the end of every flow (it needs no convergence);
2. the exact prediction: a converged flow's limit equals β*(α ⊙ exp(−Δ(∞)));
3. the first-order exponent Δ⁽¹⁾ (g̃_j replaced by g_j) is off by O(ρ²):
   the log–log slope of ‖Δ − Δ⁽¹⁾‖₁ against ρ, fitted on the smaller half
   of the radii, is ≈ 2;
4. the typical size ‖Δ‖₁ ≈ 2ρ(d/m)∫L ds on Gaussian designs, hence the
   1-SAM / n-SAM shrinkage ratio ≈ n;
5. SAM shrinks every coordinate of α (Δ > 0), and 1-SAM's solution sits
   nearer a smaller α of the hypentropy path than n-SAM's.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import numpy as np
import scipy.linalg
from numba.core.dispatcher import Dispatcher
from numpy.typing import ArrayLike, NDArray
from tqdm import tqdm

from dlnsam import hypentropy
from dlnsam._validation import alpha_vector, positive_float
from dlnsam.algorithms import GD, SAM
from dlnsam.flows import ALPHA_RANGE, FlowResult, check_alpha, flow
from dlnsam.metrics import support_recovery
from dlnsam.problems import Problem
from dlnsam.results import json_safe

__all__ = [
    "DEFAULT_RHOS",
    "Claim",
    "Theorem1Report",
    "Theorem1Row",
    "identity_residual",
    "theorem1",
]

#: Default ρ grid: 8 log-spaced radii from 0.01 to 0.3.
DEFAULT_RHOS: tuple[float, ...] = tuple(float(r) for r in np.geomspace(0.01, 0.3, 8).round(4))

# α below this cannot be represented by the hypentropy solver (exp(−2Δ) underflows).
_ALPHA_FLOOR = 1e-100

# Printed residuals below these floors are shown as "<floor": they are float64
# rounding accumulated over the flow, and their digits change with the machine
# code of the kernels (freshly compiled or loaded from Numba's cache) and the CPU.
# Above the floor, the exact errors (the integrator's error) move in their last
# digits with that machine code, so they are printed to two significant digits.
IDENTITY_PRINT_FLOOR = 1e-12
EXACT_PRINT_FLOOR = 1e-12

# Relative residual ‖y − P_range(X) y‖ / ‖y‖ above which y counts as not
# interpolable (far above the rounding of a projection, far below label noise).
_RANGE_TOL = 1e-8

# Seconds the first kernel call may take before the user is told it compiles
# (loading the cached kernels takes a few seconds at most, even on a busy machine).
_COMPILE_NOTICE_AFTER = 5.0
# What a cold compilation of the kernels of theorem1 takes (2 cores), for the notice.
_COMPILE_SECONDS = "about 25 s on 2 cores"


def identity_residual(
    X: ArrayLike, beta: ArrayLike, log_alpha: ArrayLike, null_basis: NDArray | None = None
) -> float:
    """How far β is from the form 2 α² ⊙ sinh(Xᵀλ): ‖P_null z‖ / ‖z‖, z = arcsinh(β / (2α²)).

    Parameters
    ----------
    X : (n, d) array_like
        Design.
    beta : (d,) array_like
        A predictor, e.g. the state of a flow at some time t.
    log_alpha : float or (d,) array_like
        log α (log-space, so that α = α₀ e^{−Δ} with a large Δ does not underflow).
    null_basis : (d, d − rank) ndarray, optional
        Orthonormal basis of the null space of X, if already computed.

    Returns
    -------
    float
        0 exactly when arcsinh(β / (2α²)) lies in the row space of X. NaN if
        β = 0.

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam.verify import identity_residual
    >>> X = np.array([[1.0, 2.0, 0.0]])
    >>> beta = 2 * 0.3**2 * np.sinh(X.T @ np.array([0.7]))
    >>> bool(identity_residual(X, beta, np.log(0.3)) < 1e-15)
    True
    """
    X = np.asarray(X, dtype=np.float64)
    b = np.asarray(beta, dtype=np.float64)
    la = np.broadcast_to(np.asarray(log_alpha, dtype=np.float64), b.shape)
    with np.errstate(divide="ignore"):
        log_ratio = np.log(np.abs(b)) - math.log(2.0) - 2.0 * la  # log |β| / (2α²)
    # arcsinh(x) = log(x + sqrt(x² + 1)) ~ log(2x) for large x; exact either way.
    z = np.zeros_like(b)
    nz = b != 0
    lr, sgn = log_ratio[nz], np.sign(b[nz])
    z[nz] = np.where(
        lr > 30.0,
        sgn * (lr + math.log(2.0)),
        np.arcsinh(sgn * np.exp(np.minimum(lr, 30.0))),
    )
    norm = np.linalg.norm(z)
    if norm == 0.0:
        return math.nan
    basis = scipy.linalg.null_space(X) if null_basis is None else null_basis
    return float(np.linalg.norm(basis.T @ z) / norm)


@dataclass(frozen=True)
class Theorem1Row:
    """One flow of the verification: gradient flow (ρ = 0) or SAM(ρ, m).

    Attributes
    ----------
    algorithm : str
        'GF', '1-SAM', 'n-SAM' or 'm-SAM'.
    rho : float
        SAM radius (0 for gradient flow).
    m : int
        Micro-batch size (n for gradient flow).
    status : str
        The flow's status; only ``converged`` flows have a limit to compare.
    t_end : float
        Time at which the flow stopped.
    loss_ratio : float
        L(θ(t_end)) / L(θ_0).
    integral_loss : float
        ∫₀^{t_end} L ds.
    delta_l1, delta_first_order_l1, delta_gap_l1 : float
        ‖Δ‖₁, ‖Δ⁽¹⁾‖₁ and ‖Δ − Δ⁽¹⁾‖₁.
    delta_min : float
        min_i Δ_i (NaN for gradient flow); > 0 means every α_i shrinks.
    delta_support_mean, delta_off_support_mean : float
        Mean of Δ_i over supp(β*) and over its complement (NaN without β*):
        where the shrinkage of α goes.
    typical : float
        2ρ(d/m)∫L, the typical prediction of ‖Δ‖₁.
    typical_ratio : float
        ‖Δ‖₁ / typical (NaN for gradient flow).
    identity_residual : float
        :func:`identity_residual` of β(t_end) with α_t = α e^{−Δ(t_end)}.
    err_exact, err_first_order, err_typical : float
        ‖β_flow − β*(α_pred)‖ / ‖β_flow‖ for α_pred = α e^{−Δ}, α e^{−Δ⁽¹⁾}
        and α e^{−2ρ∫L/m}; NaN when not computed (flow not converged, or α_pred
        below 1e-100).
    alpha_eff_geomean, alpha_eff_first_order_geomean : float
        Geometric means of α e^{−Δ} and of α e^{−Δ⁽¹⁾}.
    alpha_hat, alpha_hat_residual : float
        Scalar α̂ fitted to β_flow alone (:func:`dlnsam.hypentropy.fit_alpha`,
        the classical inverse problem) and its normalized null-space residual. A
        large residual means no single α explains β (the per-coordinate Δ is
        uneven); ``note`` says when the fit is ill-determined. NaN when α_t
        underflows (the state is then rounding noise).
    alpha_closest, alpha_closest_distance : float
        The α of the point of the hypentropy path nearest to β_flow
        (:func:`dlnsam.hypentropy.closest_alpha`) and the relative distance.
    test_loss, l1_norm, support : float
        Test loss, ‖β‖₁ and support recovery of β_flow (NaN if unavailable).
    nfev : int
        Right-hand-side evaluations of the flow.
    seconds : float
        Wall time of the flow and its predictions.
    note : str
        Why a comparison was skipped, if one was.
    """

    algorithm: str
    rho: float
    m: int
    status: str
    t_end: float
    loss_ratio: float
    integral_loss: float
    delta_l1: float
    delta_min: float
    delta_support_mean: float
    delta_off_support_mean: float
    delta_first_order_l1: float
    delta_gap_l1: float
    typical: float
    typical_ratio: float
    identity_residual: float
    err_exact: float
    err_first_order: float
    err_typical: float
    alpha_eff_geomean: float
    alpha_eff_first_order_geomean: float
    alpha_hat: float
    alpha_hat_residual: float
    alpha_closest: float
    alpha_closest_distance: float
    test_loss: float
    l1_norm: float
    support: float
    nfev: int
    seconds: float
    note: str = ""

    @property
    def converged(self) -> bool:
        """Whether the flow reached its loss tolerance (it has a limit)."""
        return self.status == "converged"


@dataclass(frozen=True)
class Claim:
    """One checked claim: what, the measured value, the tolerance, the verdict.

    ``passed`` is None when the claim could not be evaluated (no eligible row).
    """

    name: str
    passed: bool | None
    measured: str
    tolerance: str
    detail: str = ""


@dataclass(frozen=True)
class Theorem1Report:
    """The outcome of :func:`theorem1`: a tidy table, fitted slopes, ratios, claims.

    Attributes
    ----------
    n, d : int
        Problem size.
    alpha : float
        Initialization scale.
    rows : list of Theorem1Row
        Gradient flow first, then every (m, ρ).
    slopes : dict
        m-label → log–log slope of ‖Δ − Δ⁽¹⁾‖₁ against ρ, fitted on the
        smaller half of the converged radii (the claim: ≈ 2 as ρ → 0).
    slopes_all : dict
        The same slope fitted on all converged radii (bent by O(ρ³) terms).
    shrinkage : list of dict
        Per ρ: ‖Δ_1-SAM‖₁ / ‖Δ_n-SAM‖₁ next to n.
    claims : list of Claim
        Pass/fail per claim with the tolerance used.
    settings : dict
        Tolerances and flow settings used.
    wall_time : float
        Seconds for the whole verification.
    """

    n: int
    d: int
    alpha: float
    rows: list[Theorem1Row]
    slopes: dict[str, float]
    slopes_all: dict[str, float]
    shrinkage: list[dict[str, float]]
    claims: list[Claim]
    settings: dict[str, object] = field(default_factory=dict)
    wall_time: float = 0.0

    @property
    def passed(self) -> bool:
        """True when no claim failed (claims that could not be evaluated count as failed)."""
        return all(c.passed is True for c in self.claims)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dictionary (NaN becomes None)."""
        out = {
            "n": self.n,
            "d": self.d,
            "alpha": self.alpha,
            "passed": self.passed,
            "rows": [asdict(r) for r in self.rows],
            "slopes": self.slopes,
            "slopes_all": self.slopes_all,
            "shrinkage": self.shrinkage,
            "claims": [asdict(c) for c in self.claims],
            "settings": self.settings,
            "wall_time": self.wall_time,
        }
        return json_safe(out)  # type: ignore[no-any-return]

    def table(self) -> str:
        """The per-flow table as fixed-width text."""
        head = (
            f"{'flow':<6} {'rho':>7} {'status':<10} {'int L':>9} {'|D|_1':>10} "
            f"{'|D|/typ':>8} {'|D-D1|_1':>9} {'identity':>9} {'exact':>9} "
            f"{'1st ord':>9} {'typical':>9} {'alpha^':>9} {'a_path':>9} {'test':>9}"
        )
        lines = [head, "-" * len(head)]
        for r in self.rows:
            lines.append(
                f"{r.algorithm:<6} {r.rho:>7.4g} {r.status[:10]:<10} {r.integral_loss:>9.4f} "
                f"{r.delta_l1:>10.4g} {_fmt(r.typical_ratio, '.3f'):>8} "
                f"{_fmt(r.delta_gap_l1, '.2e'):>9} "
                f"{_fmt(r.identity_residual, '.1e', IDENTITY_PRINT_FLOOR):>9} "
                f"{_fmt(r.err_exact, '.1e', EXACT_PRINT_FLOOR):>9} "
                f"{_fmt(r.err_first_order, '.1e'):>9} "
                f"{_fmt(r.err_typical, '.1e'):>9} {_fmt(r.alpha_hat, '.3e'):>9} "
                f"{_fmt(r.alpha_closest, '.3e'):>9} "
                f"{_fmt(r.test_loss, '.2e'):>9}"
            )
        return "\n".join(lines)

    def summary(self) -> str:
        """Table, slopes, shrinkage ratios and one PASS/FAIL line per claim."""
        lines = [
            f"Theorem 1 on n={self.n}, d={self.d}, alpha={self.alpha:g} "
            f"(flows: rtol={self.settings.get('rtol')}, t_max={self.settings.get('t_max'):g})",
            "",
            self.table(),
            "",
            "identity: ||P_null arcsinh(beta/(2 alpha_t^2))|| / ||.|| at t_end; exact / 1st ord /"
            " typical: ||beta_flow - beta*(alpha_pred)|| / ||beta_flow||; alpha^: fit_alpha"
            " (null-space fit); a_path: alpha of the nearest point of the hypentropy path",
        ]
        notes = [f"  {r.algorithm} rho={r.rho:g}: {r.note}" for r in self.rows if r.note]
        if notes:
            lines += ["", "skipped comparisons:", *notes]
        lines += ["", "slope of log ||D - D1||_1 against log rho (smaller half of rho / all rho):"]
        lines += [f"  {k}: {v:.3f} / {self.slopes_all[k]:.3f}" for k, v in self.slopes.items()]
        if self.shrinkage:
            lines += ["", f"shrinkage ||D_1-SAM||_1 / ||D_n-SAM||_1 (n = {self.n}):"]
            lines += [
                f"  rho={s['rho']:<7g} ratio={s['ratio']:.3f}  ratio/n={s['ratio_over_n']:.3f}"
                for s in self.shrinkage
            ]
        lines += ["", "claims:"]
        for c in self.claims:
            verdict = {True: "PASS", False: "FAIL", None: "N/A "}[c.passed]
            lines.append(f"  [{verdict}] {c.name}: {c.measured} (tolerance {c.tolerance})")
            if c.detail:
                lines.append(f"         {c.detail}")
        lines += ["", f"overall: {'PASS' if self.passed else 'FAIL'} in {self.wall_time:.1f} s"]
        return "\n".join(lines)

    def to_markdown(self) -> str:
        """A Markdown report: settings, the table, slopes, ratios and claims."""
        cols = [
            ("flow", lambda r: r.algorithm),
            ("ρ", lambda r: f"{r.rho:g}"),
            ("status", lambda r: r.status),
            ("∫L ds", lambda r: f"{r.integral_loss:.4f}"),
            ("‖Δ‖₁", lambda r: f"{r.delta_l1:.4g}"),
            ("‖Δ‖₁ / 2ρ(d/m)∫L", lambda r: _fmt(r.typical_ratio, ".3f")),
            (
                "mean Δ on / off supp β*",
                lambda r: (
                    f"{_fmt(r.delta_support_mean, '.3g')} / {_fmt(r.delta_off_support_mean, '.3g')}"
                ),
            ),
            ("‖Δ−Δ⁽¹⁾‖₁", lambda r: _fmt(r.delta_gap_l1, ".2e")),
            ("identity", lambda r: _fmt(r.identity_residual, ".1e", IDENTITY_PRINT_FLOOR)),
            ("exact", lambda r: _fmt(r.err_exact, ".1e", EXACT_PRINT_FLOOR)),
            ("first order", lambda r: _fmt(r.err_first_order, ".1e")),
            ("typical", lambda r: _fmt(r.err_typical, ".1e")),
            ("α̂ (fit_alpha)", lambda r: _fmt(r.alpha_hat, ".3e")),
            ("α̂ (closest on path)", lambda r: _fmt(r.alpha_closest, ".3e")),
            ("test loss", lambda r: _fmt(r.test_loss, ".2e")),
            ("‖β‖₁", lambda r: _fmt(r.l1_norm, ".4f")),
            ("support", lambda r: _fmt(r.support, ".2f")),
        ]
        out = [
            "# Theorem 1 verification",
            "",
            f"Problem: n = {self.n}, d = {self.d}; initialization α = {self.alpha:g}. "
            f"Flow settings: {self.settings}.",
            "",
            "| " + " | ".join(c for c, _ in cols) + " |",
            "|" + "---|" * len(cols),
        ]
        out += ["| " + " | ".join(f(r) for _, f in cols) + " |" for r in self.rows]
        out += ["", "## Claims", ""]
        for c in self.claims:
            verdict = {True: "PASS", False: "FAIL", None: "N/A"}[c.passed]
            out.append(
                f"- **{verdict}** {c.name}: {c.measured} (tolerance {c.tolerance}). {c.detail}"
            )
        out += [
            "",
            f"Slopes of log ‖Δ−Δ⁽¹⁾‖₁ against log ρ, smaller half of the radii: {self.slopes}; "
            f"all radii: {self.slopes_all}",
            "",
            f"Wall time: {self.wall_time:.1f} s",
            "",
        ]
        return "\n".join(out)


def _fmt(value: float, spec: str, floor: float = 0.0) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    if value < floor:
        return f"<{floor:.0e}"
    return format(value, spec)


def _relative_error(beta: NDArray, target: NDArray) -> float:
    return float(np.linalg.norm(beta - target) / np.linalg.norm(beta))


def _prediction_error(problem: Problem, beta: NDArray, log_alpha: NDArray) -> tuple[float, str]:
    if np.min(log_alpha) < math.log(_ALPHA_FLOOR):
        return math.nan, f"predicted alpha below {_ALPHA_FLOOR:g} (exp(-Delta) underflows)"
    sol = hypentropy.solve(problem.X, problem.y, np.exp(log_alpha))
    if not sol.success:
        return math.nan, f"hypentropy solve failed: {sol.message}"
    return _relative_error(beta, sol.beta), ""


def _mean_over(values: NDArray, mask: NDArray | None, inside: bool) -> float:
    if mask is None:
        return math.nan
    part = values[mask] if inside else values[~mask]
    return float(part.mean()) if part.size else math.nan


def _run_flow(args: tuple) -> FlowResult:
    problem, algorithm, alpha, kwargs = args
    return flow(problem, algorithm, alpha=alpha, **kwargs)


def _row(
    problem: Problem,
    res: FlowResult,
    alpha: NDArray,
    null_basis: NDArray,
    label: str,
    rho: float,
    m: int,
) -> Theorem1Row:
    start = time.perf_counter()
    beta = res.beta
    loss0 = problem.train_loss(np.zeros(problem.d))
    log_alpha = np.log(alpha)
    typical = 2.0 * rho * (problem.d / m) * res.integral_loss
    delta_l1 = float(np.abs(res.delta).sum())
    notes = []
    support = None if problem.beta_star is None else problem.beta_star != 0
    err_exact = err_first = err_typical = math.nan
    if res.status == "converged":
        err_exact, why = _prediction_error(problem, beta, log_alpha - res.delta)
        notes.append(why)
        err_first, why = _prediction_error(problem, beta, log_alpha - res.delta_first_order)
        notes.append(why)
        err_typical, why = _prediction_error(
            problem, beta, log_alpha - 2.0 * rho * res.integral_loss / m
        )
        notes.append(why)
    else:
        notes.append(f"flow {res.status} at t={res.t_end:.3g} ({res.message}); no limit to compare")
    # Once α_t underflows double precision, so do u and v: nothing left to check.
    ident = math.nan
    underflow = np.min(log_alpha - res.delta) < math.log(_ALPHA_FLOOR)
    if not underflow:
        ident = identity_residual(problem.X, beta, log_alpha - res.delta, null_basis)
    else:
        # Such a state is rounding noise: its digits, and any alpha fitted to it,
        # change with the machine code of the kernels.
        notes.append(
            f"alpha_t below {_ALPHA_FLOOR:g}: the state underflows, identity and alpha^ "
            "not checkable"
        )
    alpha_hat = alpha_hat_res = alpha_closest = alpha_closest_dist = math.nan
    if np.any(beta != 0):
        if not underflow:
            fit = hypentropy.fit_alpha(problem.X, beta)
            alpha_hat, alpha_hat_res = fit.alpha, fit.residual
            if not fit.success:
                notes.append(f"alpha^ (fit_alpha) ill-determined: {fit.message}")
        near = hypentropy.closest_alpha(problem.X, problem.y, beta)
        alpha_closest, alpha_closest_dist = near.alpha, near.distance
        if not near.success:
            notes.append(f"closest alpha: {near.message}")
    return Theorem1Row(
        algorithm=label,
        rho=rho,
        m=m,
        status=res.status.value,
        t_end=res.t_end,
        loss_ratio=res.train_loss / loss0,
        integral_loss=res.integral_loss,
        delta_l1=delta_l1,
        delta_min=float(res.delta.min()) if rho > 0 else math.nan,
        delta_support_mean=_mean_over(res.delta, support, True),
        delta_off_support_mean=_mean_over(res.delta, support, False),
        delta_first_order_l1=float(np.abs(res.delta_first_order).sum()),
        delta_gap_l1=float(np.abs(res.delta - res.delta_first_order).sum()),
        typical=typical,
        typical_ratio=delta_l1 / typical if typical > 0 else math.nan,
        identity_residual=ident,
        err_exact=err_exact,
        err_first_order=err_first,
        err_typical=err_typical,
        alpha_eff_geomean=res.alpha_eff_geomean,
        alpha_eff_first_order_geomean=float(np.exp(np.mean(log_alpha - res.delta_first_order))),
        alpha_hat=alpha_hat,
        alpha_hat_residual=alpha_hat_res,
        alpha_closest=alpha_closest,
        alpha_closest_distance=alpha_closest_dist,
        test_loss=math.nan if res.test_loss is None else res.test_loss,
        l1_norm=float(np.abs(beta).sum()),
        support=(
            math.nan if problem.beta_star is None else support_recovery(beta, problem.beta_star)
        ),
        nfev=res.nfev,
        seconds=res.wall_time + time.perf_counter() - start,
        note="; ".join(dict.fromkeys(n for n in notes if n)),
    )


def _check_interpolating(problem: Problem) -> NDArray:
    """The null-space basis of X; ValueError unless the problem has many interpolators."""
    X, y = problem.X, problem.y
    n, d = X.shape
    U, s, _ = np.linalg.svd(X, full_matrices=False)
    rank = int(np.sum(s > max(n, d) * np.finfo(float).eps * (s[0] if s.size else 0.0)))
    y_norm = float(np.linalg.norm(y))
    off_range = y - U[:, :rank] @ (U[:, :rank].T @ y)
    residual = float(np.linalg.norm(off_range)) / y_norm if y_norm > 0 else 0.0
    if residual > _RANGE_TOL:
        raise ValueError(
            f"no interpolator: y is not in the range of X (n = {n}, d = {d}, rank {rank}; "
            f"||y - P y|| / ||y|| = {residual:.2e}), so no beta fits the labels exactly "
            "and the flows have no interpolating limit. Theorem 1 is about interpolation: "
            "use n < d (with label noise, n >= d leaves no interpolator)"
        )
    if rank == d:
        raise ValueError(
            f"X has full column rank (n = {n}, d = {d}, rank {rank}): the interpolator "
            "is unique, so every alpha and rho lead to the same limit and Theorem 1 "
            "has nothing to check. Use n < d"
        )
    return scipy.linalg.null_space(X)


def _warm_hypentropy(problem: Problem) -> None:
    """Call the hypentropy kernels once on a tiny problem of the same dtypes."""
    X = problem.X[:1, :2].copy() if problem.d >= 2 else problem.X[:1]
    y = X @ np.ones(X.shape[1])
    if not np.any(y):
        return
    beta = hypentropy.solve(X, y, 0.1).beta
    hypentropy.fit_alpha(X, beta)
    hypentropy.closest_alpha(X, y, beta)


@contextmanager
def _compile_notice(enabled: bool) -> Iterator[None]:
    """Tell stderr about a long first kernel call (Numba compiling), and its time."""
    if not enabled:
        yield
        return
    start = time.perf_counter()
    told = threading.Event()

    def tell() -> None:
        told.set()
        print(
            "compiling Numba kernels on first use "
            f"({_COMPILE_SECONDS}, once; cached afterwards)...",
            file=sys.stderr,
            flush=True,
        )

    misses = _compilations()
    timer = threading.Timer(_COMPILE_NOTICE_AFTER, tell)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        if told.is_set():
            seconds = time.perf_counter() - start
            what = "compiled" if _compilations() > misses else "loaded the cached kernels"
            print(f"{what} in {seconds:.0f} s", file=sys.stderr, flush=True)


def _compilations() -> int:
    """How many signatures the kernels of dlnsam compiled (Numba cache misses) so far."""
    count = 0
    for name, module in list(sys.modules.items()):
        if name.startswith("dlnsam._") and module is not None:
            for obj in vars(module).values():
                stats = getattr(obj, "stats", None)
                if isinstance(obj, Dispatcher) and stats is not None:
                    count += sum(stats.cache_misses.values())
    return count


def _run_flows(
    args: list[tuple], order: list[int], workers: int, progress: bool
) -> list[FlowResult]:
    """Run the flows of ``args`` (started in ``order``), in-process or in ``workers`` processes."""
    bar = tqdm(total=len(args), disable=not progress, file=sys.stderr, unit="flow", desc="verify")
    with bar:
        if workers == 1:
            results = []
            for a in args:
                results.append(_run_flow(a))
                bar.update()
            return results
        # forkserver (where available) avoids forking a process that may hold threads.
        methods = multiprocessing.get_all_start_methods()
        method = "forkserver" if "forkserver" in methods else "spawn"
        context = multiprocessing.get_context(method)
        done: dict[int, FlowResult] = {}
        with ProcessPoolExecutor(int(workers), mp_context=context) as pool:
            futures = {pool.submit(_run_flow, args[i]): i for i in order}
            for future in as_completed(futures):
                done[futures[future]] = future.result()
                bar.update()
    return [done[i] for i in range(len(args))]


def _label(m: int, n: int) -> str:
    return "1-SAM" if m == 1 else ("n-SAM" if m == n else f"{m}-SAM")


def _slope(rows: list[Theorem1Row], small_half: bool) -> float:
    """Log–log slope of ‖Δ − Δ⁽¹⁾‖₁ against ρ over converged rows.

    With ``small_half``, over the smaller half of the radii (at least 3): the
    claim is about the leading O(ρ²) term, and at larger ρ the O(ρ³) term
    bends the curve (for 1-SAM sooner, its per-example gradients being about n
    times larger than the full gradient).
    """
    pts = sorted((r.rho, r.delta_gap_l1) for r in rows if r.converged and r.delta_gap_l1 > 0)
    if small_half:
        pts = pts[: max(3, math.ceil(len(pts) / 2))]
    if len(pts) < 2:
        return math.nan
    x, yv = np.log(np.array(pts)).T
    return float(np.polyfit(x, yv, 1)[0])


def theorem1(
    problem: Problem,
    *,
    alpha: float = 0.05,
    rhos: Sequence[float] = DEFAULT_RHOS,
    ms: Sequence[int | None] = (1, None),
    rtol: float = 1e-12,
    atol: float = 1e-16,
    loss_tol: float | None = None,
    t_max: float = 1e5,
    exact_tol: float = 1e-8,
    slope_range: tuple[float, float] = (1.8, 2.2),
    typical_range: tuple[float, float] = (2.0 / 3.0, 1.5),
    shrinkage_range: tuple[float, float] = (0.5, 2.0),
    workers: int | None = None,
    progress: bool = False,
) -> Theorem1Report:
    """Verify Theorem 1 on a problem: run GF and SAM(ρ, m) flows, compare to predictions.

    Parameters
    ----------
    problem : Problem
        X (n, d), y (n,); a test set and β* are used when present.
    alpha : float, default 0.05
        Initialization scale (θ_0 = (2α, 0)).
    rhos : sequence of float
        SAM radii, > 0 (default: 8 log-spaced from 0.01 to 0.3).
    ms : sequence of int or None
        Micro-batch sizes; None means n (n-SAM). Default (1, None).
    rtol, atol, loss_tol, t_max : float
        Flow settings, see :func:`dlnsam.flow`.
    exact_tol : float, default 1e-8
        Tolerance of the identity and of the exact prediction.
    slope_range : (float, float)
        Accepted log–log slope of ‖Δ − Δ⁽¹⁾‖₁ against ρ.
    typical_range : (float, float)
        Accepted ‖Δ‖₁ / (2ρ(d/m)∫L). The typical law assumes XXᵀ ≈ d·I, a
        Gaussian design with d well above n; at d/n near 1 the ratio of
        n-SAM drifts above 1.5 and this claim fails, as it should.
    shrinkage_range : (float, float)
        Accepted (‖Δ_1-SAM‖₁ / ‖Δ_n-SAM‖₁) / n at the smallest ρ.
    workers : int, optional
        Processes for the flows, >= 1 (default: all cores; 1 runs in-process).
    progress : bool, default False
        Show a progress bar of the flows on stderr, and say so on stderr when
        the first call of the kernels takes long (Numba compiling them on
        first use).

    Returns
    -------
    Theorem1Report
        Rows, slopes, shrinkage ratios and claims; ``report.passed`` is True
        when every claim holds.

    Raises
    ------
    ValueError
        For a bad argument, and for a problem the theorem is not about: X of
        full column rank (n >= d; the interpolator, if any, is unique and α
        plays no role) or y outside the range of X (no interpolator at all,
        e.g. label noise with n >= d).

    Notes
    -----
    With k = n/m micro-batches, g_j and g̃_j the micro-batch gradients at θ and
    at θ + ρ∇L_{S_j}(θ), the flow satisfies β(t) = 2α_t² sinh(Xᵀλ_t) with

    .. math:: \\alpha_t = \\alpha \\odot e^{-\\Delta(t)}, \\qquad
              \\Delta(t) = \\frac{\\rho}{k} \\int_0^t \\sum_j g_j \\odot \\tilde g_j \\, ds,

    so a converged flow's limit is β*(α e^{−Δ(∞)}). Replacing g̃_j by g_j gives
    Δ⁽¹⁾, off by O(ρ²); on Gaussian designs ‖Δ‖₁ ≈ 2ρ(d/m)∫L ds.

    Flows that do not converge by ``t_max`` (for 1-SAM at large ρ the
    effective α becomes so small that the last coordinates are learned
    extremely slowly, or the flow stalls at a non-interpolating point) are
    reported with their status; the identity is still checked on them, the
    limit comparisons are not made.

    Examples
    --------
    >>> from dlnsam import gaussian_problem
    >>> from dlnsam.verify import theorem1
    >>> rep = theorem1(gaussian_problem(10, 14, 2), rhos=[0.02, 0.04], workers=1)
    >>> [r.algorithm for r in rep.rows]
    ['GF', '1-SAM', '1-SAM', 'n-SAM', 'n-SAM']
    >>> max(r.err_exact for r in rep.rows) < 1e-8
    True
    """
    start = time.perf_counter()
    if not isinstance(problem, Problem):
        raise ValueError(f"problem must be a dlnsam.Problem, got {type(problem).__name__}")
    alpha = positive_float(alpha, "alpha")
    check_alpha(alpha)
    if alpha < _ALPHA_FLOOR:
        raise ValueError(
            f"alpha = {alpha:g} is below {_ALPHA_FLOOR:g}, where the hypentropy solver that "
            f"checks the predictions cannot represent it: theorem1 takes alpha in "
            f"[{_ALPHA_FLOOR:g}, {ALPHA_RANGE[1]:g}]"
        )
    rho_list = sorted({positive_float(r, "rhos") for r in rhos})
    if not rho_list:
        raise ValueError("rhos must hold at least one radius")
    n = problem.n
    m_list = []
    for m in ms:
        algo = SAM(rho_list[0], m)  # validates m
        m_list.append(algo.kernel_params(n).m)
    m_list = list(dict.fromkeys(m_list))
    exact_tol = positive_float(exact_tol, "exact_tol")
    if workers is None:
        workers = os.cpu_count() or 1
    elif isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(
            f"workers must be a positive integer (or None for all cores), got {workers!r}"
        )
    null_basis = _check_interpolating(problem)
    flow_kwargs = {"rtol": rtol, "atol": atol, "loss_tol": loss_tol, "t_max": t_max}

    jobs = [("GF", 0.0, n, GD())]
    jobs += [(_label(m, n), rho, m, SAM(rho, m)) for m in m_list for rho in rho_list]
    # Validate every setting in-process before fanning out. This first call also
    # compiles the kernels (or loads them from Numba's cache) once for the
    # workers, which receive the problem with the same (read-only) array types.
    with _compile_notice(progress):
        flow(problem, GD(), alpha=alpha, **flow_kwargs, max_steps=1)
        _warm_hypentropy(problem)

    args = [(problem, algo, alpha, flow_kwargs) for *_, algo in jobs]
    # Small-m, large-ρ flows are the slowest: start them first.
    order = sorted(range(len(jobs)), key=lambda i: (jobs[i][2], -jobs[i][1]))
    results = _run_flows(args, order, workers, progress)

    a_vec = alpha_vector(alpha, problem.d)
    rows = [
        _row(problem, res, a_vec, null_basis, label, rho, m)
        for (label, rho, m, _), res in zip(jobs, results, strict=True)
    ]
    report_rows = {m: [r for r in rows[1:] if r.m == m] for m in m_list}
    slopes = {_label(m, n): _slope(rs, small_half=True) for m, rs in report_rows.items()}
    slopes_all = {_label(m, n): _slope(rs, small_half=False) for m, rs in report_rows.items()}

    shrinkage = []
    if 1 in report_rows and n in report_rows and n != 1:
        for one, full in zip(report_rows[1], report_rows[n], strict=True):
            if one.converged and full.converged:
                ratio = one.delta_l1 / full.delta_l1
                shrinkage.append(
                    {
                        "rho": one.rho,
                        "ratio": ratio,
                        "n": n,
                        "ratio_over_n": ratio / n,
                        "integral_ratio": one.integral_loss / full.integral_loss,
                    }
                )

    claims = _claims(
        rows, slopes, shrinkage, n, exact_tol, slope_range, typical_range, shrinkage_range
    )
    return Theorem1Report(
        n=n,
        d=problem.d,
        alpha=alpha,
        rows=rows,
        slopes=slopes,
        slopes_all=slopes_all,
        shrinkage=shrinkage,
        claims=claims,
        settings={
            "rtol": rtol,
            "atol": atol,
            "loss_tol": loss_tol,
            "t_max": t_max,
            "rhos": rho_list,
            "ms": m_list,
            "exact_tol": exact_tol,
        },
        wall_time=time.perf_counter() - start,
    )


def _claims(
    rows: list[Theorem1Row],
    slopes: dict[str, float],
    shrinkage: list[dict[str, float]],
    n: int,
    exact_tol: float,
    slope_range: tuple[float, float],
    typical_range: tuple[float, float],
    shrinkage_range: tuple[float, float],
) -> list[Claim]:
    claims = []
    sam_rows = rows[1:]

    ident = [r for r in rows if math.isfinite(r.identity_residual)]
    worst = max((r.identity_residual for r in ident), default=math.nan)
    skipped = len(rows) - len(ident)
    claims.append(
        Claim(
            "exact identity beta(t) = 2 alpha_t^2 sinh(X^T lambda_t) at t_end, every flow",
            bool(ident) and worst <= exact_tol,
            f"worst residual {_fmt(worst, '.2e', IDENTITY_PRINT_FLOOR)} over {len(ident)} flows",
            f"<= {exact_tol:g}",
            f"{skipped} flow(s) not checkable (alpha_t below {_ALPHA_FLOOR:g})" if skipped else "",
        )
    )

    conv = [r for r in rows if r.converged and math.isfinite(r.err_exact)]
    worst = max((r.err_exact for r in conv), default=math.nan)
    missing = [f"{r.algorithm} rho={r.rho:g}" for r in rows if r not in conv]
    claims.append(
        Claim(
            "exact prediction: converged flow limit = beta*(alpha exp(-Delta))",
            bool(conv) and worst <= exact_tol,
            f"worst relative error {_fmt(worst, '.1e', EXACT_PRINT_FLOOR)} over {len(conv)} "
            "converged flows",
            f"<= {exact_tol:g}",
            ("not converged, no limit: " + ", ".join(missing)) if missing else "",
        )
    )

    for label, slope in slopes.items():
        lo, hi = slope_range
        claims.append(
            Claim(
                f"first order: slope of ||Delta - Delta1||_1 against small rho for {label}",
                math.isfinite(slope) and lo <= slope <= hi,
                f"{slope:.3f}",
                f"[{lo:g}, {hi:g}]",
            )
        )

    typ = [r for r in sam_rows if r.converged]
    lo, hi = typical_range
    ratios = [r.typical_ratio for r in typ]
    claims.append(
        Claim(
            "typical: ||Delta||_1 / (2 rho (d/m) int L) near 1",
            bool(typ) and all(lo <= q <= hi for q in ratios),
            f"range [{min(ratios, default=math.nan):.3f}, {max(ratios, default=math.nan):.3f}]",
            f"[{lo:.3g}, {hi:.3g}]",
        )
    )

    if shrinkage:
        first = shrinkage[0]
        lo, hi = shrinkage_range
        claims.append(
            Claim(
                f"1-SAM shrinks log alpha about n = {n} times more than n-SAM (smallest rho)",
                lo <= first["ratio_over_n"] <= hi,
                f"ratio {first['ratio']:.2f} at rho={first['rho']:g}, ratio/n = "
                f"{first['ratio_over_n']:.3f}",
                f"ratio/n in [{lo:g}, {hi:g}]",
            )
        )

    shrunk = [r for r in sam_rows if math.isfinite(r.delta_min)]
    if shrunk:
        claims.append(
            Claim(
                "SAM shrinks every coordinate of alpha: alpha_eff = alpha exp(-Delta) < alpha",
                all(r.delta_min > 0 for r in shrunk),
                f"min_i Delta_i over flows = {min(r.delta_min for r in shrunk):.3e}",
                "> 0",
            )
        )
    pairs = [
        (a, b)
        for a in sam_rows
        for b in sam_rows
        if a.m == 1 and b.m == n and a.rho == b.rho and a.converged and b.converged and n > 1
    ]
    if pairs:
        claims.append(
            Claim(
                "1-SAM's solution sits at a smaller alpha on the hypentropy path than n-SAM's",
                all(a.alpha_closest < b.alpha_closest for a, b in pairs),
                f"{sum(a.alpha_closest < b.alpha_closest for a, b in pairs)}/{len(pairs)} radii",
                "all",
            )
        )
    return claims
