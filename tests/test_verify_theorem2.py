"""`dlnsam verify theorem2`: the instance, its constants, the claims, the report and the CLI."""

from __future__ import annotations

import dataclasses
import importlib
import json
import math

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from dlnsam import SAM, Problem, gaussian_problem, initial_point, plots, run
from dlnsam.cli import main
from dlnsam.flatness import hessian
from dlnsam.reference import grad_uv, reference_run
from dlnsam.training import draw_batches
from dlnsam.verify import VERIFICATIONS, Theorem2Report, render, theorem2
from dlnsam.verify.theorem2 import (
    DEFAULT_SIZES,
    FULL_SIZES,
    TOLERANCES,
    VERIFICATION,
    gradient_variance,
    least_squares_constants,
    least_squares_instance,
    nonconvex_schedule,
    pl_schedule,
)

# The module (the package attribute of that name is the function).
T2 = importlib.import_module("dlnsam.verify.theorem2")
NET = importlib.import_module("dlnsam.verify.theorem2_network")

matplotlib.use("Agg")

# A small instance and sizes on which every claim holds: T reaches far enough
# past the transient (√T/β >= 1.5 on the fitted decade) for the rates to show.
TINY = {
    "runs": 64,
    "pl_steps": [30, 300, 3000],
    "nonconvex_steps": [30, 300, 3000],
    "batch_sizes": [1, 2, 4],
    "network_steps": [30, 300],
    "workers": 2,
}
# Impossible tolerances, one per claim.
IMPOSSIBLE = {
    "bound": 1e-12,
    "rate_pl": (-math.inf, -5.0),
    "rate_nonconvex": (-math.inf, -5.0),
    "rate_b": (5.0, 6.0),
}


@pytest.fixture(scope="module")
def problem() -> Problem:
    return least_squares_instance(20, 4, seed=0)


@pytest.fixture(scope="module")
def report(problem) -> Theorem2Report:
    return theorem2(problem, **TINY)


def test_the_instance_is_isotropic_with_exact_constants() -> None:
    p = least_squares_instance(50, 10, seed=3)
    np.testing.assert_allclose(p.X.T @ p.X / p.n, np.eye(10), rtol=0, atol=1e-12)
    c = least_squares_constants(p)
    assert c.isotropic and c.mu == pytest.approx(1.0, abs=1e-12)
    assert c.smoothness == pytest.approx(max(float(x @ x) for x in p.X), rel=1e-14)
    # w* solves the normal equations; L* is below the loss anywhere else.
    np.testing.assert_allclose(p.X.T @ (p.X @ c.w_star - p.y) / p.n, 0.0, atol=1e-12)
    assert c.loss_star == pytest.approx(p.train_loss(c.w_star), rel=1e-14)
    rng = np.random.default_rng(0)
    assert all(p.train_loss(c.w_star + 1e-3 * rng.standard_normal(10)) > c.loss_star
               for _ in range(5))  # fmt: skip
    assert 0 < c.loss_star < c.loss_init == pytest.approx(float(p.y @ p.y) / (2 * p.n))


def test_the_same_seed_gives_the_same_instance() -> None:
    a, b = least_squares_instance(seed=7), least_squares_instance(seed=7)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.y, least_squares_instance(seed=8).y)


def test_gradient_norm_is_twice_the_excess_loss(problem) -> None:
    c = least_squares_constants(problem)
    rng = np.random.default_rng(1)
    for _ in range(20):
        w = 3.0 * rng.standard_normal(problem.d)
        grad = problem.X.T @ (problem.X @ w - problem.y) / problem.n
        excess = problem.train_loss(w) - c.loss_star
        assert grad @ grad == pytest.approx(2.0 * c.mu * excess, rel=1e-10)


def test_gradient_variance_matches_the_per_example_definition(problem) -> None:
    rng = np.random.default_rng(2)
    W = rng.standard_normal((6, problem.d))
    got = gradient_variance(problem, W)
    for w, value in zip(W, got, strict=True):
        per_example = np.array([x * (x @ w - y) for x, y in zip(problem.X, problem.y,
                                                                strict=True)])  # fmt: skip
        full = per_example.mean(axis=0)
        direct = np.mean(np.sum((per_example - full) ** 2, axis=1))
        assert value == pytest.approx(direct, rel=1e-12)
    assert gradient_variance(problem, W[0]).shape == (1,)


def test_schedules_follow_the_theorem() -> None:
    gamma, rho = pl_schedule(200, smoothness=4.0, mu=0.5)
    t = np.arange(200)
    np.testing.assert_allclose(gamma, np.minimum((8 * t + 4) / (1.5 * (t + 1) ** 2), 1 / 8))
    np.testing.assert_allclose(rho, np.sqrt(gamma / 4.0))
    assert nonconvex_schedule(10_000, smoothness=4.0) == (1 / 400, 1 / 40)


def test_the_left_side_sums_the_loss_at_every_step(problem) -> None:
    # Σ_{t<T} L(w_t) = integral_loss / γ, against the loss recorded at every step.
    c = least_squares_constants(problem)
    T = 50
    gamma, rho = nonconvex_schedule(T, c.smoothness)
    res = run(problem, SAM(rho, m=2, batch_size=2), lr=gamma, rho=rho, steps=T,
              model="linear", record=range(T), seed=4)  # fmt: skip
    assert res.history.steps[:T].tolist() == list(range(T))
    assert res.history.train_loss[0] == pytest.approx(c.loss_init, rel=1e-14)
    total = float(np.sum(res.history.train_loss[:T]))
    assert res.integral_loss / gamma == pytest.approx(total, rel=1e-12)


def test_every_claim_holds_on_the_small_instance(report, problem) -> None:
    assert [c.name for c in report.claims] == [
        "bound[pl]",
        "bound[nonconvex]",
        "rate_T[pl]",
        "rate_T[nonconvex]",
        "rate_b",
        "micro_rate_T[pl]",
        "micro_rate_T[nonconvex]",
        "network_bound",
    ]
    assert report.passed, report.summary()
    # PL: one row per (b, m, T); non-convex likewise; m < b only at the largest b.
    assert {(r.b, r.m) for r in report.rows} == {(1, 1), (2, 2), (4, 4), (4, 1), (4, 2)}
    assert len(report.rows) == 2 * 5 * 3
    c = least_squares_constants(problem)
    assert report.smoothness == c.smoothness and report.loss_star == c.loss_star
    assert report.sigma2 >= gradient_variance(problem, np.zeros(problem.d))[0]
    assert report.sigma2_at == "w_0"
    for r in report.rows:
        assert r.runs == 64 and r.left_upper == pytest.approx(r.left_mean + r.left_half)
        assert r.right == pytest.approx(r.right_init + r.right_noise)


@pytest.mark.parametrize("name", sorted(IMPOSSIBLE))
def test_each_claim_fails_when_its_tolerance_is_impossible(report, name) -> None:
    judged = report.judged({name: IMPOSSIBLE[name]})
    failed = {c.name for c in judged.claims if not c.passed}
    expected = {
        "bound": {"bound[pl]", "bound[nonconvex]", "network_bound"},
        "rate_pl": {"rate_T[pl]", "micro_rate_T[pl]"},
        "rate_nonconvex": {"rate_T[nonconvex]", "micro_rate_T[nonconvex]"},
        "rate_b": {"rate_b"},
    }[name]
    assert failed == expected and not judged.passed
    assert judged.rows == report.rows  # judged again, not run again


def test_the_report_renders_in_all_three_formats(report) -> None:
    rep = report.to_report()
    text = render(rep)
    assert text.startswith("Theorem 2 on least squares n=20, d=4")
    assert "overall: PASS" in text and "constants measured along the visited path" in text
    md = render(rep, "markdown", wall_time=False)
    assert md.startswith("# Theorem 2 verification") and "Wall time" not in md
    assert "points the runs end at" in md and "‖∇L(w)‖² = 2μ(L(w) − L*)" in md
    data = render(rep, "json")
    json.dumps(data)  # plain values only
    assert data["verification"] == "theorem2" and data["passed"] is True
    assert data["constants"]["sigma2"] == report.sigma2
    assert len(data["rows"]) == len(report.rows) and len(data["claims"]) == 8
    assert data["network"]["smoothness"] == report.network.smoothness
    assert len(data["network"]["rows"]) == 3 * 2


def test_the_figure_draws_the_rates(report) -> None:
    fig = plots.theorem2_rates(report)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert all(ax.get_yscale() == "log" for ax in fig.axes)
    assert VERIFICATION.figures == ("theorem2_rates.png",)


def test_registered_with_its_tolerances_and_sizes() -> None:
    assert VERIFICATIONS["theorem2"] is VERIFICATION
    assert VERIFICATION.tolerances is TOLERANCES
    assert DEFAULT_SIZES.pl_steps[-1] / DEFAULT_SIZES.pl_steps[0] >= 100
    assert DEFAULT_SIZES.nonconvex_steps[-1] / DEFAULT_SIZES.nonconvex_steps[0] >= 100
    assert FULL_SIZES.runs == 1000 and FULL_SIZES.pl_steps[-1] >= 10_000


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"problem": "X"}, "problem must be a dlnsam.Problem"),
        ({"problem": gaussian_problem(50, 10, 3, seed=0)}, "problem: the design must be isotropic"),
        ({"rhos": [0.1]}, "rhos"),
        ({"full": "yes"}, "full"),
        ({"runs": 1}, "runs"),
        ({"seed": -1}, "seed"),
        ({"pl_steps": [10]}, "pl_steps"),
        ({"nonconvex_steps": [0, 10]}, "nonconvex_steps"),
        ({"network_steps": [10]}, "network_steps"),
        ({"network_steps": 10}, "network_steps"),
        ({"batch_sizes": [1, 40]}, "batch_sizes must be <= n = 20"),
        ({"batch_sizes": "12"}, "batch_sizes"),
        ({"ms": [3]}, "ms: each m must be < b = 4"),
        ({"ms": [4]}, "ms"),
        ({"ms": [None]}, "ms"),
        ({"tolerances": {"bound": -1.0}}, "bound must be > 0"),
        ({"tolerances": {"slope": 1.0}}, "unknown tolerance 'slope'"),
        ({"workers": 0}, "workers"),
    ],
)
def test_bad_input_names_the_argument(problem, monkeypatch, kwargs, match) -> None:
    def never(*args, **kw):
        raise AssertionError("a run started before the arguments were checked")

    monkeypatch.setattr(T2, "run_many", never)
    monkeypatch.setattr(T2, "measure_network", never)
    settings = {**TINY, "problem": problem, **kwargs}
    with pytest.raises(ValueError, match=match):
        theorem2(**settings)


def test_the_instance_refuses_bad_sizes() -> None:
    with pytest.raises(ValueError, match="n must exceed d"):
        least_squares_instance(10, 10)
    with pytest.raises(ValueError, match="noise"):
        least_squares_instance(noise=-0.1)


def test_the_cli_writes_the_report(tmp_path, capsys, monkeypatch) -> None:
    seen = {}

    def run_small(problem, **options):
        seen.update(options)
        # The command line's own path, with small sizes on the default instance.
        small = {"runs": 32, "pl_steps": [100, 1000], "nonconvex_steps": [100, 1000]}
        return T2._from_command_line(problem, **options, **small)

    monkeypatch.setitem(VERIFICATIONS, "theorem2", dataclasses.replace(VERIFICATION, run=run_small))
    args = ["verify", "theorem2", "--out", str(tmp_path), "--no-progress", "--workers", "2"]
    code = main([*args, "--ms", "1,5", "--tol", "rate_b=-1.3,-0.7"])
    out = capsys.readouterr().out
    assert code in (0, 1) and ("overall: PASS" in out) == (code == 0)
    assert seen["ms"] == [1, 5] and seen["tolerances"]["rate_b"] == (-1.3, -0.7)
    assert "rhos" not in seen and "full" not in seen
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["verification"] == "theorem2" and data["n"] == 50 and data["d"] == 10
    assert data["settings"]["ms"] == [1, 5]
    assert (tmp_path / "report.md").read_text().startswith("# Theorem 2 verification")
    assert (tmp_path / "theorem2_rates.png").stat().st_size > 0


def test_the_cli_passes_full_only_where_it_applies(tmp_path, capsys, monkeypatch) -> None:
    seen = {}

    def stop(problem, *, full=False, **options):
        seen["full"] = full
        raise ValueError("stop here")

    monkeypatch.setitem(VERIFICATIONS, "theorem2", dataclasses.replace(VERIFICATION, run=stop))
    assert main(["verify", "theorem2", "--full", "--out", str(tmp_path / "a")]) == 2
    assert seen["full"] is True
    assert main(["verify", "theorem1", "--full", "--out", str(tmp_path / "b")]) == 2
    assert "--full: theorem1 has no publication sizes" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_the_cli_refuses_radii_for_theorem2(tmp_path, capsys) -> None:
    assert main(["verify", "theorem2", "--rhos", "0.1", "--out", str(tmp_path / "a")]) == 2
    assert "rhos: Theorem 2 prescribes the radii" in capsys.readouterr().err
    assert main(["verify", "theorem2", "--ms", "1,n", "--out", str(tmp_path / "b")]) == 2
    assert "ms: micro-batches m < b" in capsys.readouterr().err


# --------------------------------------------------------------------------- claim 5


def test_the_network_constants_are_measured_on_the_paths(report, problem) -> None:
    net = report.network
    assert net.converged and net.rounds >= 1
    assert net.smoothness >= net.measured_smoothness > 0 and net.evaluated > 0
    assert net.loss_star == least_squares_constants(problem).loss_star
    assert net.loss_init == pytest.approx(0.5 * np.mean(problem.y**2))  # u_0 ⊙ v_0 = 0
    assert sorted(net.left) == [(b, T) for b in (1, 2, 4) for T in (30, 300)]
    assert all(left.shape == (64,) for left in net.left.values())
    claim = next(c for c in report.claims if c.name == "network_bound")
    assert claim.passed and "MEASURED" in claim.detail


def test_the_norm_bracket_closes_on_the_eigenvalues() -> None:
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((8, 3)), rng.standard_normal(8)
    u, v = 2.0 * rng.standard_normal((40, 3)), rng.standard_normal((40, 3))
    rows = rng.integers(0, 8, 40)
    exact = NET.per_example_hessian_norms(X, y, u, v, rows)
    lo, hi = NET.hessian_norm_bracket(X, y, u, v, rows, 64)
    np.testing.assert_allclose(hi, exact, rtol=1e-12)
    lo, hi = NET.hessian_norm_bracket(X, y, u, v, rows, 4)
    assert np.all(lo <= exact * (1 + 1e-12)) and np.all(hi >= exact * (1 - 1e-12))
    assert np.all(NET.hessian_norm_bound(X, y, u, v)[np.arange(40), rows] >= exact * (1 - 1e-12))


def test_the_exact_norm_is_that_of_the_hessian_of_one_example() -> None:
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((5, 3)), rng.standard_normal(5)
    u, v = rng.standard_normal(3), rng.standard_normal(3)
    for i in range(5):
        full = hessian(Problem(X=X[i : i + 1], y=y[i : i + 1]), u, v)
        norm = NET.per_example_hessian_norms(X, y, u[None], v[None], np.array([i]))[0]
        assert norm == pytest.approx(np.abs(np.linalg.eigvalsh(full)).max(), rel=1e-12)


def test_the_simulated_runs_follow_the_reference_step_by_step(problem) -> None:
    T, b, beta, seeds = 40, 2, 30.0, [3, 4]
    path = NET.simulate_network(problem, steps=T, smoothness=beta, b=b, seeds=seeds, alpha=0.5,
                                loss_star=0.0)  # fmt: skip
    gamma, rho = nonconvex_schedule(T, beta)
    u0, v0 = initial_point(problem.d, 0.5)
    everything = np.arange(problem.n)
    for k, s in enumerate(seeds):
        batches = draw_batches(np.random.default_rng(s), problem.n, b, T)
        traj = reference_run(problem.X, problem.y, lr=gamma, steps=T, u0=u0, v0=v0, rho=rho,
                             m=b, batches=batches)  # fmt: skip
        grads = [grad_uv(problem.X, problem.y, traj.a[t], traj.b[t], everything) for t in range(T)]
        left = np.mean([gu @ gu + gv @ gv for gu, gv in grads])
        assert path.left[k] == pytest.approx(left, rel=1e-12)
        np.testing.assert_allclose(path.u[k], traj.a[-1], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(path.v[k], traj.b[-1], rtol=1e-12, atol=1e-14)
        kernel = run(problem, SAM(rho, m=b, batch_size=b), lr=gamma, steps=T, alpha=0.5, seed=s)
        np.testing.assert_allclose(path.u[k], kernel.u, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(path.v[k], kernel.v, rtol=1e-12, atol=1e-14)
