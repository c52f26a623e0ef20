"""Section 2: the 1-SAM and n-SAM flows, dlnsam.flow against scipy's solve_ivp."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import dlnsam
from benchmarks import baselines
from benchmarks.report import (
    Check,
    Section,
    Table,
    Target,
    fmt_ratio,
    fmt_rel,
    fmt_seconds,
    fmt_timing,
    relative_error,
    speedup_target,
)
from benchmarks.settings import Settings
from benchmarks.timing import Timing, measure

__all__ = ["FLOWS", "section"]

ALPHA, RHO = 0.05, 0.1
RTOL, ATOL = 1e-10, 1e-14
REFERENCE_RTOL, REFERENCE_ATOL = 1e-13, 1e-16
TARGET = 50.0
#: A flow at rtol 1e-10 must match the tight reference to within this (global
#: errors accumulate over ~10^4 steps, so they exceed rtol itself).
FLOW_AGREEMENT = 100 * RTOL
#: The two tight references (dlnsam and solve_ivp at rtol 1e-13) must agree to this.
REFERENCE_AGREEMENT = 1e-10
#: dlnsam is also timed at this tighter rtol, to compare at an accuracy at
#: least that of solve_ivp at rtol 1e-10.
MATCHED_RTOL = 1e-11
MATCHED = f"DOP853 rtol {MATCHED_RTOL:g}"
FLOWS = {"1-SAM": 1, "n-SAM": None}
#: solve_ivp's methods: the target is against DOP853, the stiff ones are for information.
IVP_METHODS = ("DOP853", "BDF", "LSODA")


@dataclass(frozen=True)
class FlowTimes:
    """One flow: dlnsam's runs by label, solve_ivp's by method, and the tight references."""

    name: str
    ours: dict[str, Timing[dlnsam.FlowResult]]
    ivp: dict[str, Timing[baselines.IvpResult]]
    reference: dlnsam.FlowResult
    ivp_reference: baselines.IvpResult

    @property
    def ivp_seconds(self) -> float:
        """solve_ivp DOP853's time, extrapolated to dlnsam's evaluations if its budget ran out."""
        ivp = self.ivp["DOP853"].result
        if ivp.finished:
            return self.ivp["DOP853"].seconds
        return ivp.seconds / ivp.nfev * self.ours["DOP853"].result.nfev

    def errors(self, res: dlnsam.FlowResult | baselines.IvpResult) -> tuple[float, float]:
        """Relative errors of β and of ∫L against the tight reference."""
        ref = self.reference
        return relative_error(res.beta, ref.beta), relative_error(
            res.integral_loss, ref.integral_loss
        )


def _measure(problem: dlnsam.Problem, name: str, settings: Settings) -> FlowTimes:
    """Time one SAM flow with dlnsam.flow and solve_ivp, and compute the tight references.

    dlnsam's DOP853 runs first (to convergence, or to ``settings.flow_t_end``);
    every other integration covers the interval it ended on.
    """
    algorithm = dlnsam.SAM(RHO, m=FLOWS[name])

    def ours(rtol: float, atol: float, **kwargs: object) -> dlnsam.FlowResult:
        return dlnsam.flow(problem, algorithm, alpha=ALPHA, rtol=rtol, atol=atol, **kwargs)

    interval = (
        {} if settings.flow_t_end is None else {"loss_tol": 0.0, "t_max": settings.flow_t_end}
    )
    first = measure(lambda: ours(RTOL, ATOL, **interval), repeats=settings.repeats)
    same = {"loss_tol": 0.0, "t_max": first.result.t_end}
    runs = {
        "DOP853": first,
        MATCHED: measure(lambda: ours(MATCHED_RTOL, ATOL, **same), repeats=settings.repeats),
        "BDF": measure(lambda: ours(RTOL, ATOL, method="BDF", **same), repeats=settings.repeats),
    }
    reference = ours(REFERENCE_RTOL, REFERENCE_ATOL, **same)
    ivp_args = {"rho": RHO, "m": FLOWS[name], "alpha": ALPHA, "t_end": first.result.t_end}
    ivp_reference = baselines.solve_ivp(
        problem.X, problem.y, **ivp_args, rtol=REFERENCE_RTOL, atol=REFERENCE_ATOL
    )
    ivp = {
        method: measure(
            lambda method=method: baselines.solve_ivp(
                problem.X, problem.y, **ivp_args, rtol=RTOL, atol=ATOL, method=method,
                budget=settings.ivp_budget,
            ),
            repeats=settings.repeats,
            budget=settings.slow_budget,  # a first call that runs out of it is the only call
        )
        for method in IVP_METHODS
    }  # fmt: skip
    return FlowTimes(name, runs, ivp, reference, ivp_reference)


def _table(times: FlowTimes) -> tuple[Table, Target]:
    """One flow's table, a row per integrator run, and the target (dlnsam BDF's row)."""
    target = speedup_target(
        f"{times.name} flow: dlnsam BDF vs solve_ivp DOP853 (rtol {RTOL:g})",
        TARGET, times.ours["BDF"].seconds, times.ivp_seconds,
    )  # fmt: skip
    runs = [(f"dlnsam {label}", timing) for label, timing in times.ours.items()]
    runs += [(f"solve_ivp {method}", timing) for method, timing in times.ivp.items()]
    rows = []
    for label, timing in runs:
        res = timing.result
        if getattr(res, "finished", True):
            cells = (str(res.n_steps), str(res.nfev), fmt_timing(timing),
                     *map(fmt_rel, times.errors(res)),
                     fmt_ratio(times.ivp_seconds / timing.seconds))  # fmt: skip
        elif label == "solve_ivp DOP853":
            cells = ("-", f"> {res.nfev}", f"{fmt_seconds(times.ivp_seconds)} EXTRAPOLATED",
                     "n/a", "n/a", "1x")  # fmt: skip
        else:
            cells = ("-", f"> {res.nfev}", f"> {fmt_seconds(res.seconds)} (budget)",
                     "n/a", "n/a", "-")  # fmt: skip
        verdict = f">= {TARGET:g}x: {target.verdict}" if label == "dlnsam BDF" else ""
        rows.append((label, *cells, verdict))
    dop853 = times.ours["DOP853"].result
    table = Table(
        ("integrator", "steps", "RHS evals", "time", "err beta", "err int L",
         "vs solve_ivp DOP853", "target"),
        tuple(rows),
        f"{times.name} flow on [0, {dop853.t_end:.4g}] (dlnsam DOP853: {dop853.status.value})",
    )  # fmt: skip
    return table, target


def _checks(times: FlowTimes) -> list[Check]:
    name, ours, ivp = times.name, times.ours, times.ivp["DOP853"].result
    compared = [
        ("tight references (dlnsam vs solve_ivp, rtol 1e-13)", times.ivp_reference,
         REFERENCE_AGREEMENT),
        ("dlnsam.flow (rtol 1e-10) vs reference", ours["DOP853"].result, FLOW_AGREEMENT),
        ("dlnsam.flow BDF (rtol 1e-10) vs reference", ours["BDF"].result, FLOW_AGREEMENT),
    ]  # fmt: skip
    if ivp.finished:
        compared.append(("solve_ivp (rtol 1e-10) vs reference", ivp, FLOW_AGREEMENT))
    checks = [Check(f"{name} flow: {what}, beta", times.errors(res)[0], tol)
              for what, res, tol in compared]  # fmt: skip
    t_end = ours["DOP853"].result.t_end
    for label in ("BDF", MATCHED):
        shortfall = abs(t_end - ours[label].result.t_end) / t_end
        checks.append(
            Check(f"{name} flow: dlnsam {label} reached t_end (relative shortfall)", shortfall, 0.0)
        )
    return checks


def _accuracy_notes(times: FlowTimes) -> list[str]:
    """Where dlnsam at rtol 1e-10 is less accurate than solve_ivp DOP853 at the same rtol."""
    ivp = times.ivp["DOP853"].result
    if not ivp.finished:
        return []
    theirs, notes = times.errors(ivp), []
    for label in ("DOP853", "BDF"):
        mine = times.errors(times.ours[label].result)
        worse = [q for q, a, b in zip(("beta", "int L"), mine, theirs, strict=True) if a > b]
        if worse:
            notes.append(
                f"{times.name}: at the same rtol {RTOL:g}, dlnsam {label} is LESS ACCURATE than "
                f"solve_ivp DOP853 in {' and '.join(worse)} (the {MATCHED} row compares at "
                "matched accuracy)."
            )
    return notes


def section(settings: Settings, jax: ModuleType | None = None) -> Section:
    """Time the 1-SAM and n-SAM flows with dlnsam.flow and solve_ivp (``jax`` is unused)."""
    n, d, k = settings.problem
    problem = dlnsam.gaussian_problem(n=n, d=d, k=k, seed=0)
    tables, targets, checks, notes = [], [], [], []
    for name in FLOWS:
        times = _measure(problem, name, settings)
        table, target = _table(times)
        tables.append(table)
        targets.append(target)
        checks += _checks(times)
        notes += _accuracy_notes(times)
    if settings.flow_t_end is None:
        interval = "dlnsam DOP853 (the default) runs to convergence, the others to its t_end"
        title = f"2. Flows to convergence (n={n}, d={d})"
    else:
        interval = f"all integrate [0, {settings.flow_t_end:g}]"
        title = f"2. Flows on [0, {settings.flow_t_end:g}] (n={n}, d={d})"
    setup = (
        f"gaussian_problem(n={n}, d={d}, k={k}, seed=0), alpha = {ALPHA}, rho = {RHO}; "
        f"rtol = {RTOL:g} (unless the row says otherwise), atol = {ATOL:g}; {interval}. "
        "solve_ivp integrates a NumPy right-hand side for z = [u, v, int L]: n-SAM from "
        "dlnsam.reference's gradients, 1-SAM in a vectorized closed form (so that integrators "
        "are compared, not a loop with a formula), its stiff methods with finite-difference "
        "Jacobians. dlnsam.flow integrates z = [u, v, int L, Delta, Delta^(1)], every component "
        "error-controlled. err beta, err int L: relative errors against dlnsam.flow at rtol "
        f"{REFERENCE_RTOL:g}, atol {REFERENCE_ATOL:g} over the same interval, itself checked "
        "against solve_ivp at those tolerances. vs solve_ivp DOP853: its time over the row's. "
        f"A solve_ivp run is stopped after {settings.ivp_budget:g} s; DOP853's time is then "
        "EXTRAPOLATED, its time per right-hand-side evaluation times dlnsam DOP853's evaluations."
    )
    notes.append(
        "Where DOP853 needs many times the evaluations of an implicit method, its step size is "
        "bounded by stability (the flow is stiff): a faster DOP853 step cannot close that gap, "
        "which is why dlnsam.flow has method='BDF'."
    )
    return Section(title, setup, tuple(tables), tuple(notes), tuple(targets), tuple(checks))
