"""Theorem 1 (Andriushchenko & Flammarion, ICML 2022), verified: measure, claims, figures.

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

Everything about a claim lives in this module: what is measured per flow
(:class:`Theorem1Row` and ``_row``), how it prints (``COLUMNS``), its default
tolerance (``TOLERANCES``) and the function that judges it (``_CLAIMS``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from types import MappingProxyType

import numpy as np
import scipy.linalg
from numpy.typing import NDArray

from dlnsam import hypentropy
from dlnsam._validation import alpha_vector, positive_float
from dlnsam.algorithms import GD, SAM
from dlnsam.flows import ALPHA_RANGE, FlowResult, check_alpha, flow
from dlnsam.hypentropy import identity_residual
from dlnsam.metrics import support_recovery
from dlnsam.problems import Problem
from dlnsam.verify._running import FlowJob, check_workers, compile_notice, run_flows
from dlnsam.verify.claims import (
    Bound,
    Claim,
    Column,
    Renders,
    Report,
    Section,
    Table,
    ToleranceValue,
    Verification,
    pick,
    resolve_tolerances,
)

__all__ = [
    "COLUMNS",
    "DEFAULT_RHOS",
    "TOLERANCES",
    "VERIFICATION",
    "Theorem1Report",
    "Theorem1Row",
    "theorem1",
]

#: Default ρ grid: 8 log-spaced radii from 0.01 to 0.3.
DEFAULT_RHOS: tuple[float, ...] = tuple(float(r) for r in np.geomspace(0.01, 0.3, 8).round(4))

#: Default tolerances of the claims (override with ``theorem1(tolerances=...)`` or
#: ``dlnsam verify --tol NAME=VALUE``): an upper bound or a (low, high) range.
#:
#: - ``exact``: the identity residual and the exact prediction's relative error;
#: - ``slope``: the log–log slope of ‖Δ − Δ⁽¹⁾‖₁ against ρ;
#: - ``typical``: ‖Δ‖₁ / (2ρ(d/m)∫L). The typical law assumes XXᵀ ≈ d·I, a
#:   Gaussian design with d well above n; at d/n near 1 the ratio of n-SAM
#:   drifts above 1.5 and this claim fails, as it should;
#: - ``shrinkage``: (‖Δ_1-SAM‖₁ / ‖Δ_n-SAM‖₁) / n at the smallest ρ.
TOLERANCES: Mapping[str, ToleranceValue] = MappingProxyType(
    {"exact": 1e-8, "slope": (1.8, 2.2), "typical": (2.0 / 3.0, 1.5), "shrinkage": (0.5, 2.0)}
)

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

# The figures `dlnsam verify` draws (by the functions of dlnsam.plots of the same name).
_DELTA_GAP, _PREDICTIONS, _TYPICAL = (
    "theorem1_delta_gap.png",
    "theorem1_predictions.png",
    "theorem1_typical.png",
)


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
        :func:`dlnsam.hypentropy.identity_residual` of β(t_end) with α_t = α e^{−Δ(t_end)}.
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


#: The per-flow table: terminal (columns with a ``text`` header), Markdown and evidence.
COLUMNS: tuple[Column, ...] = (
    Column("algorithm", "flow", text="flow", width=6, left=True),
    Column("rho", "ρ", ".4g", text="rho", width=7),
    Column("status", "status", text="status", width=10, left=True, clip=True),
    Column("integral_loss", "∫L ds", ".4f", text="int L"),
    Column("delta_l1", "‖Δ‖₁", ".4g", text="|D|_1", width=10),
    Column("typical_ratio", "‖Δ‖₁ / 2ρ(d/m)∫L", ".3f", text="|D|/typ", width=8),
    Column("delta_support_mean", "mean Δ on supp β*", ".3g"),
    Column("delta_off_support_mean", "mean Δ off supp β*", ".3g"),
    Column("delta_gap_l1", "‖Δ−Δ⁽¹⁾‖₁", ".2e", text="|D-D1|_1"),
    Column("identity_residual", "identity", ".1e", IDENTITY_PRINT_FLOOR, text="identity"),
    Column("err_exact", "exact", ".1e", EXACT_PRINT_FLOOR, text="exact"),
    Column("err_first_order", "first order", ".1e", text="1st ord"),
    Column("err_typical", "typical", ".1e", text="typical"),
    Column("alpha_hat", "α̂ (fit_alpha)", ".3e", text="alpha^"),
    Column("alpha_closest", "α̂ (closest on path)", ".3e", text="a_path"),
    Column("test_loss", "test loss", ".2e", text="test"),
    Column("l1_norm", "‖β‖₁", ".4f"),
    Column("support", "support", ".2f"),
)
_LEGEND = (
    "identity: ||P_null arcsinh(beta/(2 alpha_t^2))|| / ||.|| at t_end; exact / 1st ord /"
    " typical: ||beta_flow - beta*(alpha_pred)|| / ||beta_flow||; alpha^: fit_alpha"
    " (null-space fit); a_path: alpha of the nearest point of the hypentropy path"
)


def _columns(*keys: str) -> tuple[Column, ...]:
    return pick(COLUMNS, *keys)


@dataclass(frozen=True)
class Theorem1Report(Renders):
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
        The checked claims with their tolerances, verdicts and evidence.
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
        """True when every claim holds."""
        return bool(self.claims) and all(c.passed for c in self.claims)

    def to_report(self) -> Report:
        """The report in the form of :func:`dlnsam.verify.render`."""
        s = self.settings
        return Report(
            name="theorem1",
            title="Theorem 1 verification",
            headline=f"Theorem 1 on n={self.n}, d={self.d}, alpha={self.alpha:g} "
            f"(flows: rtol={s.get('rtol')}, t_max={s.get('t_max'):g})",
            intro=f"Problem: n = {self.n}, d = {self.d}; initialization α = {self.alpha:g}. "
            f"Flow settings: {s}.",
            claims=tuple(self.claims),
            table=Table.of(COLUMNS, self.rows),
            legend=_LEGEND,
            sections=tuple(self._sections()),
            settings=s,
            wall_time=self.wall_time,
            data={
                "n": self.n,
                "d": self.d,
                "alpha": self.alpha,
                "rows": [asdict(r) for r in self.rows],
                "slopes": self.slopes,
                "slopes_all": self.slopes_all,
                "shrinkage": self.shrinkage,
            },
        )

    def _sections(self) -> Iterator[Section]:
        notes = [f"{r.algorithm} rho={r.rho:g}: {r.note}" for r in self.rows if r.note]
        if notes:
            yield Section("skipped comparisons", tuple(notes))
        yield Section(
            "slope of log ||D - D1||_1 against log rho (smaller half of rho / all rho)",
            tuple(f"{k}: {v:.3f} / {self.slopes_all[k]:.3f}" for k, v in self.slopes.items()),
        )
        if self.shrinkage:
            yield Section(
                f"shrinkage ||D_1-SAM||_1 / ||D_n-SAM||_1 (n = {self.n})",
                tuple(
                    f"rho={s['rho']:<7g} ratio={s['ratio']:.3f}  ratio/n={s['ratio_over_n']:.3f}"
                    for s in self.shrinkage
                ),
            )

    def table(self) -> str:
        """The per-flow table as fixed-width text."""
        return Table.of(COLUMNS, self.rows).to_text()


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
    tolerances: Mapping[str, ToleranceValue] | None = None,
    exact_tol: float | None = None,
    slope_range: tuple[float, float] | None = None,
    typical_range: tuple[float, float] | None = None,
    shrinkage_range: tuple[float, float] | None = None,
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
    tolerances : mapping, optional
        Tolerances by name, replacing those of :data:`TOLERANCES` (``exact``,
        ``slope``, ``typical``, ``shrinkage``): a float upper bound for
        ``exact``, a (low, high) range for the others.
    exact_tol, slope_range, typical_range, shrinkage_range : optional
        The same as ``tolerances={'exact': ..., 'slope': ..., ...}``.
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
    alpha, rho_list, m_list = _check_settings(problem, alpha, rhos, ms)
    legacy = {"exact": exact_tol, "slope": slope_range, "typical": typical_range,
              "shrinkage": shrinkage_range}  # fmt: skip
    if exact_tol is not None:
        positive_float(exact_tol, "exact_tol")
    given = {k: v for k, v in legacy.items() if v is not None}
    if tolerances and given.keys() & tolerances.keys():
        both = sorted(given.keys() & tolerances.keys())
        raise ValueError(f"tolerances: {both} given twice (also as keyword arguments)")
    tol = resolve_tolerances(TOLERANCES, {**given, **(tolerances or {})})
    workers = check_workers(workers)
    null_basis = _check_interpolating(problem)
    n = problem.n
    flow_kwargs = {"rtol": rtol, "atol": atol, "loss_tol": loss_tol, "t_max": t_max}
    cases = [("GF", 0.0, n, GD())]
    cases += [(_label(m, n), rho, m, SAM(rho, m)) for m in m_list for rho in rho_list]
    # Validate every setting in-process before fanning out. This first call also
    # compiles the kernels (or loads them from Numba's cache) once for the
    # workers, which receive the problem with the same (read-only) array types.
    with compile_notice(progress):
        flow(problem, GD(), alpha=alpha, **flow_kwargs, max_steps=1)
        _warm_hypentropy(problem)

    jobs: list[FlowJob] = [(problem, algo, alpha, flow_kwargs) for *_, algo in cases]
    # Small-m, large-ρ flows are the slowest: start them first.
    order = sorted(range(len(cases)), key=lambda i: (cases[i][2], -cases[i][1]))
    results = run_flows(jobs, order, workers, progress)

    a_vec = alpha_vector(alpha, problem.d)
    rows = [
        _row(problem, res, a_vec, null_basis, label, rho, m)
        for (label, rho, m, _), res in zip(cases, results, strict=True)
    ]
    by_m = {m: [r for r in rows[1:] if r.m == m] for m in m_list}
    report = Theorem1Report(
        n=n,
        d=problem.d,
        alpha=alpha,
        rows=rows,
        slopes={_label(m, n): _slope(rs, small_half=True) for m, rs in by_m.items()},
        slopes_all={_label(m, n): _slope(rs, small_half=False) for m, rs in by_m.items()},
        shrinkage=_shrinkage(by_m, n),
        claims=[],
        settings={
            **flow_kwargs,
            "rhos": rho_list,
            "ms": m_list,
            "exact_tol": tol["exact"],
            "tolerances": tol,
        },
    )
    claims = [claim for judge in _CLAIMS for claim in judge(report, tol)]
    return dataclasses.replace(report, claims=claims, wall_time=time.perf_counter() - start)


def _check_settings(
    problem: Problem, alpha: float, rhos: Sequence[float], ms: Sequence[int | None]
) -> tuple[float, list[float], list[int]]:
    """α, the sorted distinct radii and the distinct micro-batch sizes, checked."""
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
    # SAM validates m against n; kernel_params resolves None to n.
    m_list = [SAM(rho_list[0], m).kernel_params(problem.n).m for m in ms]
    return alpha, rho_list, list(dict.fromkeys(m_list))


def _shrinkage(by_m: dict[int, list[Theorem1Row]], n: int) -> list[dict[str, float]]:
    """Per ρ with both flows converged: ‖Δ_1-SAM‖₁ / ‖Δ_n-SAM‖₁ and its ratio to n."""
    if 1 not in by_m or n not in by_m or n == 1:
        return []
    out = []
    for one, full in zip(by_m[1], by_m[n], strict=True):
        if one.converged and full.converged:
            ratio = one.delta_l1 / full.delta_l1
            out.append(
                {
                    "rho": one.rho,
                    "ratio": ratio,
                    "n": n,
                    "ratio_over_n": ratio / n,
                    "integral_ratio": one.integral_loss / full.integral_loss,
                }
            )
    return out


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
        # A state that is not finite (a flow that failed) has no identity to check.
        if np.all(np.isfinite(beta)):
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


def _label(m: int, n: int) -> str:
    return "1-SAM" if m == 1 else ("n-SAM" if m == n else f"{m}-SAM")


def _slope(rows: list[Theorem1Row], small_half: bool) -> float:
    """Log–log slope of ‖Δ − Δ⁽¹⁾‖₁ against ρ over converged rows.

    With ``small_half``, over the smaller half of the radii (at least 3): the
    claim is about the leading O(ρ²) term, and at larger ρ the O(ρ³) term
    bends the curve (for 1-SAM sooner, its per-example gradients being about n
    times larger than the full gradient).
    """
    pts = _slope_points(rows, small_half)
    if len(pts) < 2:
        return math.nan
    x, yv = np.log(np.array(pts)).T
    return float(np.polyfit(x, yv, 1)[0])


def _slope_points(rows: list[Theorem1Row], small_half: bool) -> list[tuple[float, float]]:
    """The (ρ, ‖Δ − Δ⁽¹⁾‖₁) points the slope is fitted on."""
    pts = sorted((r.rho, r.delta_gap_l1) for r in rows if r.converged and r.delta_gap_l1 > 0)
    return pts[: max(3, math.ceil(len(pts) / 2))] if small_half else pts


def _fmt(value: float, spec: str, floor: float = 0.0) -> str:
    return Column("value", "value", spec, floor).cell(value)


# --------------------------------------------------------------------------- claims
# Each judge reads the measured report and the tolerances and returns its
# claims (none when nothing is eligible). A new claim is a new judge in _CLAIMS.

_Tolerances = Mapping[str, ToleranceValue]


def _identity_claim(rep: Theorem1Report, tol: _Tolerances) -> list[Claim]:
    checked = [r for r in rep.rows if math.isfinite(r.identity_residual)]
    worst = max((r.identity_residual for r in checked), default=math.nan)
    skipped = len(rep.rows) - len(checked)
    cell = _fmt(worst, ".2e", IDENTITY_PRINT_FLOOR)
    return [
        Claim(
            "identity",
            "exact identity beta(t) = 2 alpha_t^2 sinh(X^T lambda_t) at t_end, every flow",
            worst if checked else (),
            Bound.of(tol["exact"]),
            f"worst residual {cell} over {len(checked)} flows",
            f"{skipped} flow(s) not checkable (alpha_t below {_ALPHA_FLOOR:g})" if skipped else "",
            Table.of(_columns("algorithm", "rho", "status", "identity_residual"), rep.rows),
        )
    ]


def _exact_claim(rep: Theorem1Report, tol: _Tolerances) -> list[Claim]:
    conv = [r for r in rep.rows if r.converged and math.isfinite(r.err_exact)]
    worst = max((r.err_exact for r in conv), default=math.nan)
    missing = [f"{r.algorithm} rho={r.rho:g}" for r in rep.rows if r not in conv]
    cell = _fmt(worst, ".1e", EXACT_PRINT_FLOOR)
    return [
        Claim(
            "exact_prediction",
            "exact prediction: converged flow limit = beta*(alpha exp(-Delta))",
            worst if conv else (),
            Bound.of(tol["exact"]),
            f"worst relative error {cell} over {len(conv)} converged flows",
            ("not converged, no limit: " + ", ".join(missing)) if missing else "",
            Table.of(_columns("algorithm", "rho", "status", "err_exact"), rep.rows),
            (_PREDICTIONS,),
        )
    ]


def _first_order_claims(rep: Theorem1Report, tol: _Tolerances) -> list[Claim]:
    claims = []
    for label, slope in rep.slopes.items():
        rows = [r for r in rep.rows[1:] if r.algorithm == label]
        fitted = {rho for rho, _ in _slope_points(rows, small_half=True)}
        evidence = [
            {"rho": r.rho, "status": r.status, "delta_gap_l1": r.delta_gap_l1,
             "fitted": "yes" if r.rho in fitted else "no"}
            for r in rows
        ]  # fmt: skip
        claims.append(
            Claim(
                f"first_order_slope[{label}]",
                f"first order: slope of ||Delta - Delta1||_1 against small rho for {label}",
                slope,
                Bound.of(tol["slope"]),
                f"{slope:.3f}",
                evidence=Table.of(
                    (*_columns("rho", "status", "delta_gap_l1"), Column("fitted", "in the fit")),
                    evidence,
                ),
                figures=(_DELTA_GAP,),
            )
        )
    return claims


def _typical_claim(rep: Theorem1Report, tol: _Tolerances) -> list[Claim]:
    conv = [r for r in rep.rows[1:] if r.converged]
    ratios = tuple(r.typical_ratio for r in conv)
    return [
        Claim(
            "typical",
            "typical: ||Delta||_1 / (2 rho (d/m) int L) near 1",
            ratios,
            Bound.of(tol["typical"]),
            f"range [{min(ratios, default=math.nan):.3f}, {max(ratios, default=math.nan):.3f}]",
            evidence=Table.of(_columns("algorithm", "rho", "delta_l1", "typical_ratio"), conv),
            figures=(_TYPICAL,),
        )
    ]


def _shrinkage_claim(rep: Theorem1Report, tol: _Tolerances) -> list[Claim]:
    if not rep.shrinkage:
        return []
    first = rep.shrinkage[0]
    columns = (
        Column("rho", "ρ", ".4g"),
        Column("ratio", "‖Δ_1-SAM‖₁ / ‖Δ_n-SAM‖₁", ".3f"),
        Column("ratio_over_n", "ratio / n", ".3f"),
    )
    return [
        Claim(
            "shrinkage",
            f"1-SAM shrinks log alpha about n = {rep.n} times more than n-SAM (smallest rho)",
            first["ratio_over_n"],
            Bound.of(tol["shrinkage"]),
            f"ratio {first['ratio']:.2f} at rho={first['rho']:g}, ratio/n = "
            f"{first['ratio_over_n']:.3f}",
            evidence=Table.of(columns, rep.shrinkage),
            figures=(_TYPICAL,),
        )
    ]


def _alpha_shrinks_claim(rep: Theorem1Report, tol: _Tolerances) -> list[Claim]:
    shrunk = [r for r in rep.rows[1:] if math.isfinite(r.delta_min)]
    if not shrunk:
        return []
    return [
        Claim(
            "alpha_shrinks",
            "SAM shrinks every coordinate of alpha: alpha_eff = alpha exp(-Delta) < alpha",
            tuple(r.delta_min for r in shrunk),
            Bound.above(0.0),
            f"min_i Delta_i over flows = {min(r.delta_min for r in shrunk):.3e}",
            evidence=Table.of(
                (*_columns("algorithm", "rho"), Column("delta_min", "min_i Δ_i", ".3e")), shrunk
            ),
        )
    ]


def _path_claim(rep: Theorem1Report, tol: _Tolerances) -> list[Claim]:
    sam = rep.rows[1:]
    pairs = [
        (a, b)
        for a in sam
        for b in sam
        if a.m == 1 and b.m == rep.n and a.rho == b.rho and a.converged and b.converged
    ]
    if not pairs or rep.n == 1:
        return []
    smaller = sum(a.alpha_closest < b.alpha_closest for a, b in pairs)
    ratios = tuple(a.alpha_closest / b.alpha_closest for a, b in pairs)
    evidence = [{"rho": a.rho, "one": a.alpha_closest, "full": b.alpha_closest} for a, b in pairs]
    columns = (
        Column("rho", "ρ", ".4g"),
        Column("one", "α (path) of 1-SAM", ".3e"),
        Column("full", "α (path) of n-SAM", ".3e"),
    )
    return [
        Claim(
            "path_alpha",
            "1-SAM's solution sits at a smaller alpha on the hypentropy path than n-SAM's",
            ratios,
            Bound.below(1.0),
            f"{smaller}/{len(pairs)} radii; alpha_1-SAM / alpha_n-SAM at most {max(ratios):.3g}",
            evidence=Table.of(columns, evidence),
        )
    ]


_CLAIMS = (
    _identity_claim,
    _exact_claim,
    _first_order_claims,
    _typical_claim,
    _shrinkage_claim,
    _alpha_shrinks_claim,
    _path_claim,
)

#: Theorem 1 as ``dlnsam verify`` runs it.
VERIFICATION = Verification(
    name="theorem1",
    description="Theorem 1: SAM flows select the minimum-hypentropy solution at a smaller alpha",
    run=theorem1,
    tolerances=TOLERANCES,
    figures=(_DELTA_GAP, _PREDICTIONS, _TYPICAL),
)
