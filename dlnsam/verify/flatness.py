"""Flatness at the limit (the mSAM claim), verified: measure, claims, figures.

At an interpolating point θ = (u, v) of the diagonal network the Hessian of
the training loss is (1/n)JᵀJ, J = [X diag(v), X diag(u)], so its trace is
Σ_j c_j (u_j² + v_j²), c = diag(XᵀX)/n, and its top eigenvalue is that of the
n × n matrix (1/n) X diag(u² + v²) Xᵀ (:mod:`dlnsam.flatness`). Along gradient
flow and every SAM(ρ, m) flow started at u₀ = 2α, v₀ = 0, u² − v² = 4α_t²
exactly, so at a flow's limit the trace is the closed form
Σ_j c_j √(4β_j² + 16α_eff,j⁴) ≥ 2 Σ_j c_j |β_j|. :func:`flatness_claims`
runs flows and discrete runs and checks:

1. **exact**: the direct trace of every converged flow equals the closed form;
2. **which flatness each SAM reduces** (Wen, Ma & Li 2023: full-batch SAM
   drives down λ_max, 1-SAM the trace): the trace falls monotonically as m
   goes from n to 1 at every ρ, and n-SAM's λ_max lies below gradient flow's
   (on flows, and on full-batch discrete runs at a small and a moderate step
   size, against GD at the same step). The trace of n-SAM and the λ_max of
   m < n are reported as measured: neither is claimed;
3. **SGD** (the mSAM paper: SAM reaches flatter minima than SGD, micro-batch
   SAM flatter still): over seeds of the batch stream, the fraction of seeds
   where SAM(ρ, m = b, batch b) has a smaller trace than SGD(b), and SAM(ρ,
   m < b, batch b) a smaller trace than SAM(ρ, m = b, batch b), with the
   geometric-mean ratios; λ_max of these pairs and the other pairs (SGD
   against GD, SAM(m < b) against SGD) are reported as measured;
4. **flatness and sparsity are one picture**: the gap between the trace at the
   limit and its floor 2 Σ_j c_j |β_j| falls as ‖Δ‖₁ grows (α_eff shrinks).

Everything about a claim lives in this module: what is measured per flow or
run (:class:`FlatnessRow`), how it prints (``COLUMNS``), its default tolerance
(``TOLERANCES``) and the function that judges it (``_CLAIMS``).

References
----------
M. Andriushchenko, N. Flammarion, "Towards understanding sharpness-aware
minimization", ICML 2022.
K. Behdin, Q. Song, A. Gupta, S. Keerthi, A. Acharya, B. Ocejo, G. Dexter,
R. Khanna, D. Durfee, R. Mazumder, "mSAM: micro-batch-averaged sharpness-aware
minimization", 2023.
K. Wen, T. Ma, Z. Li, "How sharpness-aware minimization minimizes sharpness",
ICLR 2023.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import scipy.stats

from dlnsam import flatness as measures
from dlnsam._pool import imap_unordered
from dlnsam._validation import nonnegative_int, positive_float
from dlnsam.algorithms import GD, SAM, SGD, Algorithm
from dlnsam.flows import check_alpha, flow
from dlnsam.problems import Problem, gaussian_problem
from dlnsam.training import run
from dlnsam.verify._running import check_workers, compile_notice
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
    resolve_tolerances,
)

__all__ = [
    "COLUMNS",
    "DEFAULT_LRS",
    "DEFAULT_MS",
    "DEFAULT_RHOS",
    "DEFAULT_SEEDS",
    "FULL_OTHERS",
    "FULL_SEEDS",
    "TOLERANCES",
    "VERIFICATION",
    "FlatnessReport",
    "FlatnessRow",
    "default_others",
    "default_problem",
    "flatness_claims",
]

#: Default SAM radii of the flows and of the full-batch runs.
DEFAULT_RHOS: tuple[float, ...] = (0.05, 0.1, 0.2)
#: Default micro-batch sizes (None is n); those that do not divide a problem's n are left out.
DEFAULT_MS: tuple[int | None, ...] = (1, 2, 5, 10, None)
#: Default step sizes of the full-batch runs: a small and a moderate one.
DEFAULT_LRS: tuple[float, ...] = (0.02, 0.2)
#: Default seeds of the batch stream of the stochastic runs.
DEFAULT_SEEDS: tuple[int, ...] = tuple(range(8))
#: Publication sizes (``full=True``, ``dlnsam verify flatness --full``): 100 seeds of the
#: stochastic runs, and the flows repeated on 9 further problems instead of 3.
FULL_SEEDS: tuple[int, ...] = tuple(range(100))
FULL_OTHERS = 9

#: Default tolerances of the claims (override with ``flatness_claims(tolerances=...)``
#: or ``dlnsam verify flatness --tol NAME=VALUE``):
#:
#: - ``exact``: relative error of the closed-form trace against the direct one;
#: - ``trace_monotone``: the largest ratio tr(m') / tr(m) of consecutive m' < m
#:   (at most 1: the trace falls as m falls);
#: - ``lambda_nsam``: λ_max(n-SAM) / λ_max(GF or GD at the same step), at most 1;
#: - ``seed_fraction``: the fraction of seeds where the flatter algorithm is flatter;
#: - ``gap_correlation``: Spearman correlation of the gap to the floor with ‖Δ‖₁.
TOLERANCES: Mapping[str, ToleranceValue] = MappingProxyType(
    {
        "exact": 1e-10,
        "trace_monotone": 1.0,
        "lambda_nsam": 1.0,
        "seed_fraction": (0.8, 1.0),
        "gap_correlation": (-1.0, -0.8),
    }
)

# The figure `dlnsam verify flatness` draws (by dlnsam.plots.flatness_measures).
_FIGURE = "flatness_measures.png"
# Printed relative errors below this are float64 rounding of the two formulas.
EXACT_PRINT_FLOOR = 1e-14


def default_problem() -> Problem:
    """The main problem: the Gaussian sparse regression of ``dlnsam verify`` (n=20, d=30, k=3).

    Examples
    --------
    >>> from dlnsam.verify.flatness import default_problem
    >>> p = default_problem()
    >>> p.n, p.d
    (20, 30)
    """
    return gaussian_problem(20, 30, 3, seed=0)


def default_others(count: int = 3) -> tuple[Problem, ...]:
    """``count`` further Gaussian problems (n=15, d=35, k=3, seeds 1, 2, ...) for claims 1, 2, 4.

    Examples
    --------
    >>> from dlnsam.verify.flatness import default_others
    >>> [(p.n, p.d) for p in default_others()]
    [(15, 35), (15, 35), (15, 35)]
    """
    count = nonnegative_int(count, "count")
    return tuple(gaussian_problem(15, 35, 3, seed=s) for s in range(1, count + 1))


@dataclass(frozen=True)
class FlatnessRow:
    """One flow or run and the flatness of where it ended.

    Attributes
    ----------
    problem : int
        0 for the main problem, i ≥ 1 for the i-th further problem.
    kind : str
        'flow', 'run' (full-batch discrete) or 'stochastic' (batch of ``batch``).
    algorithm : str
        'GF', 'GD', 'n-SAM', 'm-SAM' (full batch), 'SGD', 'SAM(m=b)', 'SAM(m<b)'.
    rho : float
        SAM radius (0 for GF, GD and SGD).
    m : int
        Micro-batch size (the batch size for GF, GD and SGD).
    batch : int
        Examples per step (n for full batch).
    lr : float
        Step size (NaN for flows).
    seed : int
        Seed of the batch stream (0 for deterministic runs).
    status : str
        How the flow or run ended; only ``converged`` ones enter the claims.
    loss_ratio : float
        L(θ_end) / L(θ_0).
    trace, lambda_max : float
        tr ∇²L and λ_max of the Gauss–Newton part at θ_end
        (:func:`dlnsam.flatness.hessian_trace`, :func:`dlnsam.flatness.hessian_lambda_max`).
    limit_trace : float
        Σ_j c_j √(4β_j² + 16α_eff,j⁴) (flows; NaN for runs).
    exact_error : float
        |trace − limit_trace| / trace (flows; NaN for runs).
    floor : float
        2 Σ_j c_j |β_j|, the least trace of any θ with this β.
    gap : float
        trace − floor.
    delta_l1 : float
        ‖Δ‖₁ = ‖log(α / α_eff)‖₁ (flows; NaN for runs).
    alpha_eff_geomean : float
        Geometric mean of α_eff (flows; NaN for runs).
    seconds : float
        Wall time of the flow or run.
    """

    problem: int
    kind: str
    algorithm: str
    rho: float
    m: int
    batch: int
    lr: float
    seed: int
    status: str
    loss_ratio: float
    trace: float
    lambda_max: float
    limit_trace: float
    exact_error: float
    floor: float
    gap: float
    delta_l1: float
    alpha_eff_geomean: float
    seconds: float

    @property
    def converged(self) -> bool:
        """Whether the flow or run reached its loss tolerance."""
        return self.status == "converged"

    @property
    def source(self) -> str:
        """'flow', or the step size of a discrete run ('γ=0.01')."""
        return "flow" if self.kind == "flow" else f"γ={self.lr:g}"


#: The per-row table: terminal (columns with a ``text`` header), Markdown and evidence.
COLUMNS: tuple[Column, ...] = (
    Column("source", "source", text="source", width=7, left=True),
    Column("algorithm", "algorithm", text="algo", width=8, left=True),
    Column("rho", "ρ", ".3g", text="rho", width=5),
    Column("status", "status", text="status", width=9, left=True, clip=True),
    Column("loss_ratio", "L / L₀", ".1e", text="L/L0"),
    Column("trace", "tr ∇²L", ".6f", text="trace", width=9),
    Column("trace_ratio", "tr / tr(GF or GD)", ".5f", text="tr/base", width=8),
    Column("lambda_max", "λ_max", ".6f", text="lam_max", width=9),
    Column("lambda_ratio", "λ_max / λ_max(GF or GD)", ".5f", text="lam/base", width=8),
    Column("exact_error", "closed form: rel. error", ".1e", EXACT_PRINT_FLOOR, text="exact"),
    Column("gap", "tr − 2Σc|β|", ".3e", text="gap"),
    Column("delta_l1", "‖Δ‖₁", ".4g", text="|D|_1", width=8),
)
_LEGEND = (
    "trace, lam_max: of the Hessian at the end point; tr/base, lam/base: against GF (flows) or "
    "GD at the same step; exact: |trace - closed form| / trace; gap: trace - 2 sum c|beta|"
)


def _columns(*keys: str) -> tuple[Column, ...]:
    by_key = {c.key: c for c in COLUMNS}
    extra = {
        "problem": Column("problem", "problem", "d"),
        "seed": Column("seed", "seed", "d"),
        "m": Column("m", "m", "d"),
        "batch": Column("batch", "batch", "d"),
        "floor": Column("floor", "2Σc|β|", ".6f"),
        "limit_trace": Column("limit_trace", "closed form", ".6f"),
    }
    return tuple(by_key.get(k) or extra[k] for k in keys)


def _record(row: FlatnessRow, base: FlatnessRow | None) -> dict[str, Any]:
    """A row as a mapping, with its trace and λ_max relative to the baseline ``base``."""
    out = asdict(row)
    out["source"] = row.source
    out["trace_ratio"] = out["lambda_ratio"] = math.nan
    if base is not None and base.converged:
        out["trace_ratio"] = row.trace / base.trace
        out["lambda_ratio"] = row.lambda_max / base.lambda_max
    return out


@dataclass(frozen=True)
class FlatnessReport(Renders):
    """The outcome of :func:`flatness_claims`: rows, comparisons and claims.

    Attributes
    ----------
    sizes : list of (int, int)
        (n, d) of the main problem (first) and of the further problems.
    alpha : float
        Initialization scale.
    rows : list of FlatnessRow
        Flows of every problem, then the full-batch runs and the stochastic
        runs of the main problem.
    pairs : list of dict
        Per pair of stochastic algorithms and measure: the fraction of seeds
        where the first is flatter, the geometric-mean and the worst ratio.
    claims : list of Claim
    settings : dict
        Tolerances and settings that produced the claims.
    wall_time : float
        Seconds for the whole verification.
    """

    sizes: list[tuple[int, int]]
    alpha: float
    rows: list[FlatnessRow]
    pairs: list[dict[str, Any]]
    claims: list[Claim]
    settings: dict[str, Any] = field(default_factory=dict)
    wall_time: float = 0.0

    @property
    def passed(self) -> bool:
        """True when every claim holds."""
        return bool(self.claims) and all(c.passed for c in self.claims)

    def select(self, kind: str, problem: int = 0, lr: float | None = None) -> list[FlatnessRow]:
        """The rows of one kind ('flow', 'run', 'stochastic') on one problem (and step size)."""
        return [
            r
            for r in self.rows
            if r.kind == kind and r.problem == problem and (lr is None or r.lr == lr)
        ]

    def baseline(self, row: FlatnessRow) -> FlatnessRow | None:
        """GF for a flow, GD at the same step for a run: what "flatter" is measured against."""
        name = "GF" if row.kind == "flow" else "GD"
        lr = None if row.kind == "flow" else row.lr
        kind = "flow" if row.kind == "flow" else "run"
        found = [r for r in self.select(kind, row.problem, lr) if r.algorithm == name]
        return found[0] if found else None

    def records(self, rows: Sequence[FlatnessRow]) -> list[dict[str, Any]]:
        """``rows`` as mappings with their ratios to the baseline (for tables)."""
        return [_record(r, self.baseline(r)) for r in rows]

    def to_report(self) -> Report:
        """The report in the form of :func:`dlnsam.verify.render`."""
        s = self.settings
        n, d = self.sizes[0]
        main = self.select("flow") + self.select("run")
        return Report(
            name="flatness",
            title="Flatness verification",
            headline=f"Flatness at the limit on n={n}, d={d}, alpha={self.alpha:g} "
            f"(+{len(self.sizes) - 1} further problems; flows rtol={s.get('rtol')})",
            intro=f"Main problem: n = {n}, d = {d}; further problems (n, d): "
            f"{self.sizes[1:]}; initialization α = {self.alpha:g}. Flatness is the trace "
            "and the top eigenvalue λ_max of the Hessian of the training loss at the end "
            f"point. Settings: {s}.",
            claims=tuple(self.claims),
            table=Table.of(COLUMNS, self.records(main)),
            legend=_LEGEND,
            sections=tuple(self._sections()),
            settings=s,
            wall_time=self.wall_time,
            data={
                "sizes": self.sizes,
                "alpha": self.alpha,
                "rows": [asdict(r) for r in self.rows],
                "pairs": self.pairs,
                "measured": _measured(self),
            },
        )

    def _sections(self) -> Iterator[Section]:
        undone = [
            f"problem {r.problem} {r.source} {r.algorithm} rho={r.rho:g} seed={r.seed}: "
            f"{r.status} (L/L0 = {r.loss_ratio:.1e})"
            for r in self.rows
            if not r.converged
        ]
        if undone:
            yield Section("not converged (left out of the claims)", tuple(undone))
        yield Section(
            "measured, not claimed: n-SAM's trace and m < n's lambda_max against GF / GD",
            tuple(_measured_lines(self)),
        )
        yield Section(
            "stochastic runs: fraction of seeds where A is flatter than B, "
            "geometric-mean and worst ratio A / B",
            tuple(
                f"{p['pair']:<22} {p['measure']:<10} {p['flatter']}/{p['seeds']} seeds, "
                f"geo-mean {p['geomean']:.5f}, worst {p['worst']:.5f}"
                for p in self.pairs
            ),
        )



def flatness_claims(
    problem: Problem | None = None,
    *,
    full: bool = False,
    others: Sequence[Problem] | None = None,
    alpha: float = 0.05,
    rhos: Sequence[float] = DEFAULT_RHOS,
    ms: Sequence[int | None] = DEFAULT_MS,
    lrs: Sequence[float] = DEFAULT_LRS,
    seeds: Sequence[int] | None = None,
    batch_size: int = 10,
    micro_batch: int = 2,
    sgd_lr: float = 0.05,
    sgd_rho: float = 0.1,
    rtol: float = 1e-12,
    t_max: float = 1e5,
    loss_tol: float = 1e-10,
    max_steps: int = 1_000_000,
    tolerances: Mapping[str, ToleranceValue] | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> FlatnessReport:
    """Verify the flatness claims: run flows and discrete runs, measure trace and λ_max.

    Parameters
    ----------
    problem : Problem, optional
        The main problem, X (n, d) with n < d (many interpolators); default
        :func:`default_problem` (n=20, d=30).
    full : bool, default False
        Publication sizes: the default ``seeds`` are :data:`FULL_SEEDS` (100)
        instead of :data:`DEFAULT_SEEDS` (8), and the default ``others``
        :data:`FULL_OTHERS` (9) problems instead of 3.
    others : sequence of Problem, optional
        Further problems on which the flows of claims 1, 2 and 4 are repeated
        (GF and SAM(ρ, m) for m in ``ms`` dividing their n); default
        :func:`default_others`; ``()`` for none.
    alpha : float, default 0.05
        Initialization scale (θ_0 = (2α, 0)).
    rhos : sequence of float
        SAM radii of the flows and full-batch runs, > 0.
    ms : sequence of int or None
        Micro-batch sizes, None for n; per problem, those dividing n are used,
        and 1 and n always are.
    lrs : sequence of float
        Step sizes of the full-batch discrete runs (GD and SAM(ρ, m)), > 0.
    seeds : sequence of int, optional
        Seeds of the batch stream of the stochastic runs, distinct, >= 0.
    batch_size, micro_batch : int
        Batch size b of SGD(b) and of the stochastic SAM runs (1 <= b <= n),
        and the micro-batch m < b of SAM(ρ, m, batch b) (m divides b).
    sgd_lr, sgd_rho : float
        Step size of the stochastic runs (and of their GD reference), and
        their SAM radius.
    rtol, t_max : float
        Flow settings, see :func:`dlnsam.flow`.
    loss_tol : float, default 1e-10
        A discrete run stops, converged, once L ≤ loss_tol · L(θ_0); in (0, 1).
    max_steps : int, default 1e6
        Step budget of a discrete run; a run that spends it is reported as
        not converged and left out of the claims.
    tolerances : mapping, optional
        Tolerances by name, replacing those of :data:`TOLERANCES`.
    workers : int, optional
        Processes for the flows and runs, >= 1 (default: all cores).
    progress : bool, default False
        Say so on stderr when the first kernel call takes long (compiling).

    Returns
    -------
    FlatnessReport
        Rows, pairwise seed statistics and claims; ``report.passed`` is True
        when every claim holds.

    Raises
    ------
    ValueError
        For a bad argument (the message names it), before any flow or run.

    Notes
    -----
    At an interpolating limit θ = (u, v) with c = diag(XᵀX)/n,

    .. math:: \\operatorname{tr} \\nabla^2 L = \\sum_j c_j (u_j^2 + v_j^2)
              = \\sum_j c_j \\sqrt{4\\beta_j^2 + 16\\alpha_{\\mathrm{eff},j}^4}
              \\ge 2 \\sum_j c_j |\\beta_j| ,

    the second form holding at a flow's limit. "Flatter" always names its
    measure here: trace or λ_max, which need not agree.

    Examples
    --------
    >>> from dlnsam import gaussian_problem
    >>> from dlnsam.verify.flatness import flatness_claims
    >>> rep = flatness_claims(gaussian_problem(4, 8, 2), others=(), rhos=[0.1], ms=[1, None],
    ...                       lrs=[0.1], seeds=[0, 1], batch_size=2, micro_batch=1, workers=1)
    >>> [c.name for c in rep.claims][:2]
    ['exact', 'trace_monotone[flow]']
    >>> rep.claims[0].passed
    True
    """
    start = time.perf_counter()
    tol = resolve_tolerances(TOLERANCES, tolerances)
    if not isinstance(full, bool):
        raise ValueError(f"full must be True or False, got {full!r}")
    if others is None:
        others = default_others(FULL_OTHERS if full else 3)
    if seeds is None:
        seeds = FULL_SEEDS if full else DEFAULT_SEEDS
    cfg = _Settings.check(
        problem, others, alpha, rhos, ms, lrs, seeds, batch_size, micro_batch,
        sgd_lr, sgd_rho, rtol, t_max, loss_tol, max_steps,
    )  # fmt: skip
    workers = check_workers(workers)
    jobs = _jobs(cfg)
    with compile_notice(progress):
        # Validates every setting and compiles (or loads) the kernels once for the workers.
        first_run = next(j for j in jobs if j.kind != "flow")
        for job in (jobs[0], first_run):
            _measure(dataclasses.replace(job, max_steps=1))
    # Slow ones (small m, small step) first, so that the pool's tail is short.
    order = sorted(range(len(jobs)), key=lambda i: jobs[i].cost())
    done: dict[int, FlatnessRow] = {}
    for position, row in imap_unordered(_measure, [jobs[i] for i in order], workers):
        done[order[position]] = row
    rows = [done[i] for i in range(len(jobs))]
    report = FlatnessReport(
        sizes=[(p.n, p.d) for p in cfg.problems],
        alpha=cfg.alpha,
        rows=rows,
        pairs=[],
        claims=[],
        settings={**cfg.settings(), "tolerances": tol},
    )
    report = dataclasses.replace(report, pairs=_pairs(report))
    claims = [claim for judge in _CLAIMS for claim in judge(report, tol)]
    return dataclasses.replace(report, claims=claims, wall_time=time.perf_counter() - start)


# --------------------------------------------------------------------------- settings, jobs


@dataclass(frozen=True)
class _Settings:
    """The checked arguments of :func:`flatness_claims`."""

    problems: tuple[Problem, ...]
    alpha: float
    rhos: tuple[float, ...]
    ms: tuple[tuple[int, ...], ...]  # per problem, descending from n to 1
    lrs: tuple[float, ...]
    seeds: tuple[int, ...]
    batch_size: int
    micro_batch: int
    sgd_lr: float
    sgd_rho: float
    rtol: float
    t_max: float
    loss_tol: float
    max_steps: int

    @classmethod
    def check(cls, problem: Any, others: Any, alpha: Any, rhos: Any, ms: Any, lrs: Any,
              seeds: Any, batch_size: Any, micro_batch: Any, sgd_lr: Any, sgd_rho: Any,
              rtol: Any, t_max: Any, loss_tol: Any, max_steps: Any) -> _Settings:  # fmt: skip
        main = default_problem() if problem is None else problem
        rest = others
        if not isinstance(main, Problem):
            raise ValueError(f"problem must be a dlnsam.Problem, got {type(main).__name__}")
        if isinstance(rest, Problem) or not all(isinstance(p, Problem) for p in rest):
            raise ValueError("others must be a sequence of dlnsam.Problem")
        problems = (main, *rest)
        for i, p in enumerate(problems):
            if p.n >= p.d:
                what = "problem" if i == 0 else f"others[{i - 1}]"
                raise ValueError(
                    f"{what}: n = {p.n} >= d = {p.d}; the flatness of an interpolating "
                    "limit is about problems with many interpolators: use n < d"
                )
        alpha = positive_float(alpha, "alpha")
        check_alpha(alpha)
        rho_list = tuple(sorted({positive_float(r, "rhos") for r in rhos}))
        lr_list = tuple(sorted({positive_float(g, "lrs") for g in lrs}))
        if not rho_list or not lr_list:
            raise ValueError(f"{'rhos' if not rho_list else 'lrs'} must hold at least one value")
        for m in ms:
            if m is not None:
                nonnegative_int(m, "ms", minimum=1)
        seed_list = tuple(nonnegative_int(s, "seeds") for s in seeds)
        if not seed_list or len(set(seed_list)) != len(seed_list):
            raise ValueError(f"seeds must be distinct and at least one, got {list(seeds)!r}")
        b = nonnegative_int(batch_size, "batch_size", minimum=2)
        mb = nonnegative_int(micro_batch, "micro_batch", minimum=1)
        if b > main.n:
            raise ValueError(f"batch_size must be at most n = {main.n}, got {b}")
        if mb >= b or b % mb:
            raise ValueError(f"micro_batch must divide batch_size = {b} and be below it, got {mb}")
        loss_tol = positive_float(loss_tol, "loss_tol")
        if loss_tol >= 1:
            raise ValueError(f"loss_tol must be < 1, got {loss_tol:g}")
        return cls(
            problems, alpha, rho_list, tuple(_micro_batches(ms, p.n) for p in problems),
            lr_list, seed_list, b, mb, positive_float(sgd_lr, "sgd_lr"),
            positive_float(sgd_rho, "sgd_rho"), positive_float(rtol, "rtol"),
            positive_float(t_max, "t_max"), loss_tol,
            nonnegative_int(max_steps, "max_steps", minimum=1),
        )  # fmt: skip

    def settings(self) -> dict[str, Any]:
        return {
            "rhos": list(self.rhos),
            "ms": [list(m) for m in self.ms],
            "lrs": list(self.lrs),
            "seeds": list(self.seeds),
            "batch_size": self.batch_size,
            "micro_batch": self.micro_batch,
            "sgd_lr": self.sgd_lr,
            "sgd_rho": self.sgd_rho,
            "rtol": self.rtol,
            "t_max": self.t_max,
            "loss_tol": self.loss_tol,
            "max_steps": self.max_steps,
        }


def _micro_batches(ms: Sequence[int | None], n: int) -> tuple[int, ...]:
    """The sizes of ``ms`` (None is n) that divide n, with 1 and n, from n down to 1."""
    sizes = {n if m is None else int(m) for m in ms} | {1, n}
    return tuple(sorted((m for m in sizes if n % m == 0), reverse=True))


@dataclass(frozen=True)
class _Job:
    """One flow or run to measure (module level fields only, so that it pickles)."""

    problem: Problem
    index: int
    kind: str
    label: str
    algorithm: Algorithm
    rho: float
    m: int
    batch: int
    alpha: float
    lr: float = math.nan
    seed: int = 0
    rtol: float = 1e-12
    t_max: float = 1e5
    loss_tol: float = 1e-12
    max_steps: int | None = None

    def cost(self) -> tuple[int, float]:
        """A sort key: small micro-batches and small steps are the slow ones."""
        return (self.m, self.lr if self.kind != "flow" else 0.0)


def _label(m: int, n: int) -> str:
    return "n-SAM" if m == n else f"{m}-SAM"


def _jobs(cfg: _Settings) -> list[_Job]:
    """Flows of every problem, then full-batch and stochastic runs of the main one."""
    jobs = []
    common = {"alpha": cfg.alpha, "rtol": cfg.rtol, "t_max": cfg.t_max,
              "loss_tol": cfg.loss_tol}  # fmt: skip
    for i, (p, ms) in enumerate(zip(cfg.problems, cfg.ms, strict=True)):
        jobs.append(_Job(p, i, "flow", "GF", GD(), 0.0, p.n, p.n, **common))
        for rho in cfg.rhos:
            for m in ms:
                jobs.append(_Job(p, i, "flow", _label(m, p.n), SAM(rho, m), rho, m, p.n, **common))
    main, n = cfg.problems[0], cfg.problems[0].n
    steps = {"max_steps": cfg.max_steps}
    for lr in cfg.lrs:
        jobs.append(_Job(main, 0, "run", "GD", GD(), 0.0, n, n, lr=lr, **common, **steps))
        for rho in cfg.rhos:
            for m in cfg.ms[0]:
                jobs.append(_Job(main, 0, "run", _label(m, n), SAM(rho, m), rho, m, n, lr=lr,
                                 **common, **steps))  # fmt: skip
    b, mb, rho, lr = cfg.batch_size, cfg.micro_batch, cfg.sgd_rho, cfg.sgd_lr
    jobs.append(_Job(main, 0, "stochastic", "GD", GD(), 0.0, n, n, lr=lr, **common, **steps))
    for seed in cfg.seeds:
        for label, algo, r, m in (
            ("SGD", SGD(b), 0.0, b),
            ("SAM(m=b)", SAM(rho, b, batch_size=b), rho, b),
            ("SAM(m<b)", SAM(rho, mb, batch_size=b), rho, mb),
        ):
            jobs.append(_Job(main, 0, "stochastic", label, algo, r, m, b, lr=lr, seed=seed,
                             **common, **steps))  # fmt: skip
    return jobs


def _measure(job: _Job) -> FlatnessRow:
    """Run one flow or run and measure the flatness where it ended (module level: it pickles)."""
    p = job.problem
    if job.kind == "flow":
        res: Any = flow(p, job.algorithm, alpha=job.alpha, rtol=job.rtol, atol=1e-16,
                        t_max=job.t_max, max_steps=job.max_steps)  # fmt: skip
    else:
        res = run(p, job.algorithm, lr=job.lr, steps=job.max_steps or 1, alpha=job.alpha,
                  seed=job.seed, loss_tol=job.loss_tol)  # fmt: skip
    trace = measures.hessian_trace(p, res.u, res.v)
    floor = measures.trace_floor(p, res.beta)
    limit = exact = delta_l1 = a_geo = math.nan
    if job.kind == "flow":
        limit = measures.limit_trace(p, res.beta, res.alpha_eff)
        exact = abs(trace - limit) / trace
        delta_l1 = float(np.abs(res.delta).sum())
        a_geo = float(res.alpha_eff_geomean)
    loss0 = p.train_loss(np.zeros(p.d))
    return FlatnessRow(
        problem=job.index,
        kind=job.kind,
        algorithm=job.label,
        rho=job.rho,
        m=job.m,
        batch=job.batch,
        lr=job.lr,
        seed=job.seed,
        status=res.status.value,
        loss_ratio=float(res.train_loss / loss0),
        trace=trace,
        lambda_max=measures.hessian_lambda_max(p, res.u, res.v),
        limit_trace=limit,
        exact_error=exact,
        floor=floor,
        gap=trace - floor,
        delta_l1=delta_l1,
        alpha_eff_geomean=a_geo,
        seconds=float(res.wall_time),
    )


# --------------------------------------------------------------------------- comparisons

#: The stochastic pairs (A flatter than B?). The first two are the mSAM paper's claims,
#: judged in the trace: stochastic and micro-batch SAM regularize the trace (Wen, Ma &
#: Li), while λ_max is the full-batch measure; λ_max of every pair is reported as measured.
_PAIRS = (
    ("SAM(m=b)", "SGD"),
    ("SAM(m<b)", "SAM(m=b)"),
    ("SGD", "GD"),
    ("SAM(m<b)", "SGD"),
)
_CLAIMED_PAIRS = _PAIRS[:2]


def _pairs(rep: FlatnessReport) -> list[dict[str, Any]]:
    """Per pair and measure: seeds where A < B (both converged), geo-mean and worst ratio."""
    rows = rep.select("stochastic")
    by = {(r.algorithm, r.seed): r for r in rows}
    out = []
    for a, b in _PAIRS:
        for measure in ("trace", "lambda_max"):
            ratios = []
            for seed in rep.settings["seeds"]:
                ra = by.get((a, seed))
                # GD has no batch stream: the same run serves every seed.
                rb = by.get((b, 0 if b == "GD" else seed))
                if ra is not None and rb is not None and ra.converged and rb.converged:
                    ratios.append(getattr(ra, measure) / getattr(rb, measure))
            arr = np.array(ratios)
            out.append(
                {
                    "pair": f"{a} < {b}",
                    "a": a,
                    "b": b,
                    "measure": measure,
                    "seeds": len(ratios),
                    "flatter": int(np.sum(arr < 1.0)),
                    "fraction": float(np.mean(arr < 1.0)) if arr.size else math.nan,
                    "geomean": float(np.exp(np.mean(np.log(arr)))) if arr.size else math.nan,
                    "worst": float(arr.max()) if arr.size else math.nan,
                    "claimed": (a, b) in _CLAIMED_PAIRS and measure == "trace",
                }
            )
    return out


def _groups(rep: FlatnessReport) -> Iterator[tuple[str, list[FlatnessRow]]]:
    """Flows per problem and full-batch runs per step size, each with its GF / GD rows."""
    for i in range(len(rep.sizes)):
        yield f"flow, problem {i}", rep.select("flow", i)
    for lr in rep.settings["lrs"]:
        yield f"run γ={lr:g}", rep.select("run", 0, lr)


def _by_rho(rows: list[FlatnessRow]) -> dict[float, list[FlatnessRow]]:
    """SAM rows per ρ, from m = n down to 1."""
    out: dict[float, list[FlatnessRow]] = {}
    for r in sorted((r for r in rows if r.rho > 0), key=lambda r: -r.m):
        out.setdefault(r.rho, []).append(r)
    return out


def _measured(rep: FlatnessReport) -> list[dict[str, Any]]:
    """n-SAM's trace and every m < n's λ_max relative to GF / GD: measured, never claimed."""
    out = []
    for group, rows in _groups(rep):
        base = [r for r in rows if r.rho == 0]
        if not base or not base[0].converged:
            continue
        for r in rows:
            if r.rho == 0 or not r.converged:
                continue
            full = r.m == max(x.m for x in rows)
            out.append(
                {
                    "group": group,
                    "algorithm": r.algorithm,
                    "rho": r.rho,
                    "measure": "trace" if full else "lambda_max",
                    "ratio": (r.trace / base[0].trace) if full
                    else (r.lambda_max / base[0].lambda_max),
                }
            )  # fmt: skip
    return out


def _measured_lines(rep: FlatnessReport) -> Iterator[str]:
    items = _measured(rep)
    for measure, who in (("trace", "n-SAM trace"), ("lambda_max", "m<n lambda_max")):
        chosen = [x for x in items if x["measure"] == measure]
        above = [x for x in chosen if x["ratio"] > 1.0]
        yield f"{who} above GF/GD's in {len(above)} of {len(chosen)} cases"
        for x in above:
            yield f"  {x['group']}: {x['algorithm']} rho={x['rho']:g} ratio {x['ratio']:.6f}"


# --------------------------------------------------------------------------- claims
# Each judge reads the measured report and the tolerances and returns its claims.

_Tolerances = Mapping[str, ToleranceValue]


def _left_out(rows: Sequence[FlatnessRow]) -> str:
    names = [f"problem {r.problem} {r.source} {r.algorithm} rho={r.rho:g}" for r in rows]
    return ("not converged, left out: " + ", ".join(names)) if names else ""


def _exact_claim(rep: FlatnessReport, tol: _Tolerances) -> list[Claim]:
    flows = [r for r in rep.rows if r.kind == "flow"]
    conv = [r for r in flows if r.converged]
    worst = max((r.exact_error for r in conv), default=math.nan)
    cell = Column("v", "v", ".1e", EXACT_PRINT_FLOOR).cell(worst)
    return [
        Claim(
            "exact",
            "exact: direct trace at a converged flow's limit = sum c_j sqrt(4 beta_j^2 + "
            "16 alpha_eff_j^4)",
            worst if conv else (),
            Bound.of(tol["exact"]),
            f"worst relative error {cell} over {len(conv)} converged flows "
            f"on {len(rep.sizes)} problems",
            _left_out([r for r in flows if not r.converged]),
            Table.of(
                _columns(
                    "problem", "algorithm", "rho", "status", "trace", "limit_trace", "exact_error"
                ),
                rep.records(conv),
            ),
        )
    ]


def _monotone_claims(rep: FlatnessReport, tol: _Tolerances) -> list[Claim]:
    claims = []
    groups = list(_groups(rep))
    for source in ["flow", *(f"γ={lr:g}" for lr in rep.settings["lrs"])]:
        values, evidence, skipped = [], [], []
        for group, rows in groups:
            if not (group.startswith("flow") if source == "flow" else group.endswith(source)):
                continue
            skipped += [r for r in rows if not r.converged]
            for rho, sam in _by_rho(rows).items():
                conv = [r for r in sam if r.converged]
                ratios = [b.trace / a.trace for a, b in itertools.pairwise(conv)]
                if ratios:
                    values.append(max(ratios))
                    traces = ", ".join(f"{r.trace:.5f}" for r in conv)
                    evidence.append(
                        {"group": group, "rho": rho, "worst": max(ratios), "traces": traces}
                    )
        claims.append(
            Claim(
                f"trace_monotone[{source}]",
                f"trace falls monotonically as m goes from n to 1, at every rho ({source})",
                tuple(values),
                Bound.of(tol["trace_monotone"]),
                f"largest tr(m')/tr(m) of consecutive m' < m: "
                f"{max(values, default=math.nan):.6f} over {len(values)} (problem, rho)",
                _left_out(skipped),
                Table.of(
                    (
                        Column("group", "where"),
                        Column("rho", "ρ", ".3g"),
                        Column("worst", "max tr(m')/tr(m)", ".6f"),
                        Column("traces", "trace, m = n … 1"),
                    ),
                    evidence,
                ),
                (_FIGURE,),
            )
        )
    return claims


def _lambda_claims(rep: FlatnessReport, tol: _Tolerances) -> list[Claim]:
    claims = []
    groups = list(_groups(rep))
    for source in ["flow", *(f"γ={lr:g}" for lr in rep.settings["lrs"])]:
        evidence = []
        for group, rows in groups:
            if not (group.startswith("flow") if source == "flow" else group.endswith(source)):
                continue
            n = max(r.m for r in rows)
            for r in rows:
                base = rep.baseline(r)
                if r.m == n and r.rho > 0 and r.converged and base is not None and base.converged:
                    evidence.append({"group": group, "rho": r.rho, "sam": r.lambda_max,
                                     "base": base.lambda_max,
                                     "ratio": r.lambda_max / base.lambda_max})  # fmt: skip
        ratios = tuple(e["ratio"] for e in evidence)
        base_name = "gradient flow" if source == "flow" else "GD at the same step"
        claims.append(
            Claim(
                f"lambda_nsam[{source}]",
                f"n-SAM's lambda_max lies below {base_name}'s from the same alpha ({source})",
                ratios,
                Bound.of(tol["lambda_nsam"]),
                f"largest lambda_max(n-SAM)/lambda_max(base): "
                f"{max(ratios, default=math.nan):.6f} over {len(ratios)} (problem, rho)",
                evidence=Table.of(
                    (
                        Column("group", "where"),
                        Column("rho", "ρ", ".3g"),
                        Column("sam", "λ_max n-SAM", ".6f"),
                        Column("base", "λ_max base", ".6f"),
                        Column("ratio", "ratio", ".6f"),
                    ),
                    evidence,
                ),
                figures=(_FIGURE,),
            )
        )
    return claims


def _sgd_claims(rep: FlatnessReport, tol: _Tolerances) -> list[Claim]:
    s = rep.settings
    evidence = Table.of(
        (Column("pair", "A < B"), Column("measure", "measure"), Column("flatter", "seeds A < B"),
         Column("seeds", "seeds"), Column("geomean", "geo-mean A/B", ".5f"),
         Column("worst", "worst A/B", ".5f"), Column("claimed", "claimed")),
        rep.pairs,
    )  # fmt: skip
    claims = []
    for p in (p for p in rep.pairs if p["claimed"]):
        claims.append(
            Claim(
                f"stochastic[{p['a']}<{p['b']},{p['measure']}]",
                f"{p['a']} flatter than {p['b']} in {p['measure']} (b={s['batch_size']}, "
                f"m<b = {s['micro_batch']}, rho={s['sgd_rho']:g}, gamma={s['sgd_lr']:g})",
                p["fraction"] if p["seeds"] else (),
                Bound.of(tol["seed_fraction"]),
                f"{p['flatter']}/{p['seeds']} seeds, geo-mean ratio {p['geomean']:.5f}, "
                f"worst {p['worst']:.5f}",
                "lambda_max of this pair is reported as measured, not claimed",
                evidence=evidence,
                figures=(_FIGURE,),
            )
        )
    return claims


def _gap_claim(rep: FlatnessReport, tol: _Tolerances) -> list[Claim]:
    values, evidence = [], []
    for i in range(len(rep.sizes)):
        conv = [r for r in rep.select("flow", i) if r.converged]
        if len(conv) >= 3:
            corr = float(scipy.stats.spearmanr([r.delta_l1 for r in conv],
                                               [r.gap for r in conv]).statistic)  # fmt: skip
            values.append(corr)
        evidence += [{**asdict(r), "source": r.source} for r in conv]
    return [
        Claim(
            "gap_shrinks",
            "trace at the limit approaches 2 sum c_j |beta_j| as ||Delta||_1 grows "
            "(Spearman correlation of the gap with ||Delta||_1, per problem)",
            tuple(values),
            Bound.of(tol["gap_correlation"]),
            "correlations " + ", ".join(f"{v:.3f}" for v in values),
            evidence=Table.of(
                _columns("problem", "algorithm", "rho", "delta_l1", "floor", "trace", "gap"),
                sorted(evidence, key=lambda e: (e["problem"], e["delta_l1"])),
            ),
            figures=(_FIGURE,),
        )
    ]


_CLAIMS = (_exact_claim, _monotone_claims, _lambda_claims, _sgd_claims, _gap_claim)

#: The flatness claims as ``dlnsam verify flatness`` runs them.
VERIFICATION = Verification(
    name="flatness",
    description="flatness at the limit: closed-form trace, which SAM reduces trace or "
    "lambda_max, SAM vs SGD, trace vs sparsity",
    run=flatness_claims,
    tolerances=TOLERANCES,
    figures=(_FIGURE,),
)
