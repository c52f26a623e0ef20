"""The benchmark harness and baselines, on tiny sizes.

Only correctness is tested: the baselines compute what dlnsam computes, the
timing functions call what they should in the order they should, every section
runs end to end and its agreement checks pass, and the report renders.
Timings are measured by ``python -m benchmarks`` and never asserted.
"""

from __future__ import annotations

import dataclasses
import doctest
import sys
from pathlib import Path

import numpy as np
import pytest

import dlnsam

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ sits next to tests/ and is not installed
    sys.path.insert(0, str(ROOT))

from benchmarks import (  # noqa: E402
    __main__ as cli,
)
from benchmarks import (  # noqa: E402
    baselines,
    bench_discrete,
    bench_flows,
    bench_hypentropy,
    bench_many,
    bench_scaling,
    bench_sweeps,
    report,
    settings,
    timing,
)

#: Sizes at which every section runs in seconds (Numba cache warm).
TINY = dataclasses.replace(
    settings.QUICK,
    repeats=1,
    step_repeats=2,
    problem=(6, 9, 2),
    steps=20,
    numpy_steps=5,
    numpy_one_sam_steps=3,
    flow_t_end=5.0,
    ivp_budget=30.0,
    slow_budget=1.0,
    hypentropy_problem=(5, 12),
    hypentropy_batch=2,
    hypentropy_n=(4,),
    hypentropy_d=(3, 10),
    scaling_shapes=((8, 4), (8, 16)),
    ratio_shape=(8, 16),
    scaling_seconds=1e-3,
    slope_min_size=32,
    sweep_problem=(6, 9, 2),
    sweep_rhos=(0.02,),
    sweep_workers=(1,),
    many_problem=(12, 4),
    many_runs=3,
    many_steps=25,
    many_batch=2,
)
ALGORITHMS = {"GD": (0.0, None), "n-SAM": (0.2, None), "1-SAM": (0.2, 1)}
KWARGS = {"lr": 0.05, "steps": 30, "alpha": 0.1}


@pytest.fixture(scope="module")
def problem() -> dlnsam.Problem:
    return dlnsam.gaussian_problem(n=6, d=9, k=2, seed=3)


def _dlnsam_beta(problem: dlnsam.Problem, rho: float, m: int | None) -> np.ndarray:
    algorithm = dlnsam.GD() if rho == 0.0 else dlnsam.SAM(rho, m=m)
    return dlnsam.run(problem, algorithm, **KWARGS, record=[]).beta


@pytest.mark.parametrize("module", [timing, report, baselines, bench_scaling])
def test_examples_in_docstrings(module) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_numpy_baseline_is_the_reference_and_matches_dlnsam(problem, name: str) -> None:
    rho, m = ALGORITHMS[name]
    X, y, rng = problem.X, problem.y, np.random.default_rng(0)
    u, v = rng.standard_normal(problem.d), rng.standard_normal(problem.d)
    ours = baselines.direction(X, y, u, v, rho, m)
    rows = np.arange(problem.n)
    theirs = dlnsam.reference.sam_direction(
        dlnsam.reference.grad_uv, X, y, u, v, rows, rho, m or problem.n
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-15)
    beta = baselines.train(X, y, **KWARGS, rho=rho, m=m)
    assert report.relative_error(beta, _dlnsam_beta(problem, rho, m)) <= 1e-12


def test_closed_form_one_sam_flow_direction_is_the_reference(problem) -> None:
    rng = np.random.default_rng(1)
    u, v = rng.standard_normal(problem.d), rng.standard_normal(problem.d)
    closed = baselines.one_sam_flow_direction(problem.X, problem.y, 0.3)(u, v)
    loop = baselines.direction(problem.X, problem.y, u, v, 0.3, 1)
    np.testing.assert_allclose(closed, loop, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_jax_baseline_matches_dlnsam(problem, name: str) -> None:
    pytest.importorskip("jax")
    from benchmarks import jax_baseline

    rho, m = ALGORITHMS[name]
    beta = jax_baseline.train(problem.X, problem.y, name, **KWARGS, rho=rho)
    assert beta.dtype == np.float64
    assert report.relative_error(beta, _dlnsam_beta(problem, rho, m)) <= 1e-12


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_solve_ivp_flow_matches_dlnsam(problem, name: str) -> None:
    rho, m = ALGORITHMS[name]
    algorithm = dlnsam.GD() if rho == 0.0 else dlnsam.SAM(rho, m=m)
    tol = {"rtol": 1e-12, "atol": 1e-16}
    ours = dlnsam.flow(problem, algorithm, alpha=0.1, loss_tol=0.0, t_max=10.0, **tol)
    theirs = baselines.solve_ivp(
        problem.X, problem.y, rho=rho, m=m, alpha=0.1, t_end=ours.t_end, **tol
    )
    assert theirs.finished and theirs.t_reached == ours.t_end == 10.0
    assert report.relative_error(theirs.beta, ours.beta) <= 1e-9
    assert report.relative_error(theirs.integral_loss, ours.integral_loss) <= 1e-9


def test_solve_ivp_stops_on_its_budget(problem) -> None:
    res = baselines.solve_ivp(
        problem.X, problem.y, rho=0.2, m=1, alpha=0.1, t_end=1e4, rtol=1e-10, atol=1e-14,
        budget=0.0,
    )  # fmt: skip
    assert not res.finished and res.n_steps is None and np.isnan(res.integral_loss)


def test_slsqp_and_dlnsam_find_the_same_interpolator() -> None:
    problem = dlnsam.gaussian_problem(n=5, d=12, k=2, seed=1, n_test=0)
    X, y, alpha = problem.X, problem.y, 0.3
    ours = dlnsam.hypentropy.solve(X, y, alpha)
    theirs = baselines.slsqp(X, y, alpha, ftol=1e-16, maxiter=500)
    assert baselines.kkt_residuals(X, y, ours.beta, alpha).worst <= 1e-10
    assert baselines.kkt_residuals(X, y, theirs.x, alpha).worst <= 1e-7
    assert report.relative_error(theirs.x, ours.beta) <= 1e-6
    phi = dlnsam.hypentropy.phi(ours.beta, alpha)
    assert np.isclose(baselines.hypentropy(ours.beta, alpha), phi)
    iterations = bench_hypentropy.slsqp_iterations_to(X, y, alpha, 1e-8, 500)
    assert iterations is not None and 1 <= iterations <= theirs.nit


def test_kkt_residuals_see_a_wrong_interpolator() -> None:
    problem = dlnsam.gaussian_problem(n=5, d=12, k=2, seed=1, n_test=0)
    min_norm = np.linalg.pinv(problem.X) @ problem.y  # feasible, the minimizer of another potential
    kkt = baselines.kkt_residuals(problem.X, problem.y, min_norm, 0.01)
    assert kkt.primal <= 1e-12 and kkt.dual > 1e-3


def test_measure_keeps_the_last_result_its_range_and_respects_the_budget() -> None:
    calls: list[int] = []
    measured = timing.measure(lambda: calls.append(1) or len(calls), repeats=3)
    assert measured.runs == 3 and measured.result == 4 and measured.warm
    assert measured.low <= measured.seconds <= measured.high
    slow = timing.measure(lambda: sum(range(10_000)), repeats=5, budget=0.0)
    assert slow.runs == 1 and not slow.warm and slow.spread == 0.0
    with pytest.raises(ValueError, match="repeats"):
        timing.measure(lambda: None, repeats=0)


def test_measure_rounds_take_turns_and_alternate_their_order() -> None:
    order: list[str] = []
    fns = {key: (lambda k=key: order.append(k) or k) for key in ("x", "y", "z")}
    timed = timing.measure_rounds(fns, rounds=3)
    assert order[:3] == ["x", "y", "z"]  # the warm-up calls
    assert order[3:] == ["x", "y", "z", "z", "y", "x", "x", "y", "z"]
    assert timed["y"].runs == 3 and timed["x"].result == "x"
    with pytest.raises(ValueError, match="rounds"):
        timing.measure_rounds(fns, rounds=0)


def test_targets_and_checks_give_their_verdicts() -> None:
    assert not report.Check("c", float("nan"), 1e-10).passed  # NaN never agrees
    assert report.Check("c", 1e-11, 1e-10).passed and not report.Check("c", 1e-9, 1e-10).passed
    missed = report.speedup_target("t", 1000.0, ours=1e-6, theirs=4e-4)
    assert (missed.verdict, missed.measured, missed.goal) == ("MISSED", "400x", ">= 1000x")
    assert report.speedup_target("t", 2.0, ours=1e-6, theirs=None).verdict == "not measured"


def test_report_renders_text_and_markdown() -> None:
    section = report.Section(
        "Title",
        "setup",
        (report.Table(("a", "b"), (("x", "1"),), "caption"),),
        ("a note",),
        (report.Target("t", ">= 2x", "3x", True),),
        (report.Check("c", float("nan"), 1e-10),),
    )
    text = report.section_text(section) + report.summary_text([section])
    assert "caption" in text and "a note" in text and "DISAGREE" in text
    md = report.markdown([section], "T", ["pre"])
    assert "| a | b |" in md and "| t      | >= 2x |       3x |     met |" in md
    assert md.index("## Summary") < md.index("## Title")


def test_memory_floor_reads_every_entry() -> None:
    X = np.random.default_rng(0).standard_normal((37, 29))
    assert bench_scaling._read_serial(X, 2) == pytest.approx(2 * X.sum(), rel=1e-12)
    for chunks in (1, 3, 8):
        assert bench_scaling._read_parallel(X, chunks, 2) == pytest.approx(2 * X.sum(), rel=1e-12)
    assert bench_scaling.read_time(X, repeats=1, calls=1) > 0.0


def _all_agree(section: report.Section) -> None:
    assert section.checks and all(c.passed for c in section.checks), section.checks


def test_discrete_section_without_jax() -> None:
    section = bench_discrete.section(TINY, None)
    (table,) = section.tables
    assert [row[0] for row in table.rows] == ["GD", "n-SAM", "1-SAM"]
    assert all("skipped" in row for row in table.rows)
    jax_targets = [t for t in section.targets if "JAX" in t.label]
    assert len(jax_targets) == 3 and all(t.met is None for t in jax_targets)
    assert [t.label for t in section.targets if "NumPy" in t.label] == ["1-SAM step vs NumPy"]
    _all_agree(section)


def test_flows_section() -> None:
    section = bench_flows.section(TINY)
    labels = ["dlnsam DOP853", "dlnsam DOP853 rtol 1e-11", "dlnsam BDF"]
    labels += ["solve_ivp DOP853", "solve_ivp BDF", "solve_ivp LSODA"]
    assert [[row[0] for row in table.rows] for table in section.tables] == [labels, labels]
    assert [table.caption.split()[0] for table in section.tables] == ["1-SAM", "n-SAM"]
    assert [t.label.split(":")[0] for t in section.targets] == ["1-SAM flow", "n-SAM flow"]
    assert len(section.checks) == 2 * 6
    _all_agree(section)


def test_hypentropy_section() -> None:
    section = bench_hypentropy.section(TINY)
    comparison, scaling = section.tables
    assert comparison.rows[0][0] == "dlnsam.hypentropy.solve"
    assert [row[:2] for row in scaling.rows] == [("4", "10")]
    assert len(section.targets) == 1
    _all_agree(section)


@pytest.mark.slow  # compiles the parallel read of X, a Numba parallel kernel
def test_scaling_section() -> None:
    section = bench_scaling.section(TINY)
    per_step, sgd = section.tables
    assert [row[:2] for row in per_step.rows] == [("8", "4"), ("8", "16")]
    assert len(sgd.rows) == 3
    labels = [t.label for t in section.targets]
    assert labels[-1] == "1-SAM step / n-SAM step at n=8, d=16" and len(labels) == 4
    assert all(t.met is not None for t in section.targets)  # every slope was fitted


def test_sweeps_section_compares_worker_counts(monkeypatch) -> None:
    # Two workers would start a process pool; the comparison logic is the same
    # with the in-process run twice, and must then find no difference.
    section = bench_sweeps.section(dataclasses.replace(TINY, sweep_workers=(1, 1)))
    (table,) = section.tables
    assert [row[0] for row in table.rows] == ["1", "1"]
    _all_agree(section)


def test_many_seeds_section_agrees_with_its_baselines() -> None:
    section = bench_many.section(TINY)
    (table,) = section.tables
    assert [row[0] for row in table.rows][:3] == [
        "dlnsam.run_many", "dlnsam.run, one seed after another", "NumPy, the runs batched",
    ]  # fmt: skip
    assert section.targets[0].met is None  # the target is judged at its full size only
    _all_agree(section)


def test_numpy_many_is_stochastic_sam_on_least_squares() -> None:
    """The batched baseline's runs are the reference's, run by run."""
    from dlnsam import reference as ref
    from dlnsam.training import draw_batches

    p = dlnsam.gaussian_problem(10, 3, k=3, noise=0.5, seed=1, n_test=0)
    batches = np.stack([draw_batches(np.random.default_rng(s), 10, 2, 15) for s in range(3)])
    w = bench_many.numpy_many(p.X, p.y, batches, lr=0.05, rho=0.1)
    for r in range(3):
        traj = ref.linear_reference_run(p.X, p.y, lr=0.05, steps=15, w0=np.zeros(3), rho=0.1,
                                        m=2, batches=batches[r])  # fmt: skip
        np.testing.assert_allclose(w[r], traj.beta[-1], rtol=1e-12)


def test_jax_many_matches_numpy() -> None:
    pytest.importorskip("jax")
    from benchmarks import jax_baseline

    p = dlnsam.gaussian_problem(10, 3, k=3, noise=0.5, seed=1, n_test=0)
    batches = np.stack([np.random.default_rng(s).integers(0, 10, (15, 2)) for s in range(3)])
    w = jax_baseline.sam_many(*jax_baseline.device(p.X, p.y, batches), lr=0.05, rho=0.1)
    np.testing.assert_allclose(w, bench_many.numpy_many(p.X, p.y, batches, lr=0.05, rho=0.1),
                               rtol=1e-12)  # fmt: skip


def test_main_writes_the_report_and_fails_on_a_disagreement(tmp_path, monkeypatch, capsys) -> None:
    def fake(label: str, error: float):
        table = report.Table(("a",), (("1",),))
        check = report.Check(label, error, 1e-10)
        return lambda s, jax: report.Section(label, "setup", (table,), (), (), (check,))

    sections = {"discrete": fake("one", 0.0), "flows": fake("two", 0.0)}
    monkeypatch.setattr(cli, "SECTIONS", sections)
    out = tmp_path / "bench.md"
    assert cli.main(["--quick", "--no-jax", "--output", str(out)]) == 0
    md = out.read_text()
    assert "## one" in md and "## two" in md and "To reproduce" in md and "| CPU |" in md
    assert "2/2 agreement checks pass" in capsys.readouterr().out

    monkeypatch.setitem(sections, "flows", fake("two", 1.0))
    assert cli.main(["--quick", "--only", "flows", "--no-jax"]) == 1  # quick: nothing written
    printed = capsys.readouterr().out
    assert "DISAGREE: two" in printed and "wrote" not in printed
