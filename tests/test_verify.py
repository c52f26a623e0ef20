"""The Theorem 1 verification layer, its report, figures and CLI."""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
from pathlib import Path

import matplotlib
import numpy as np
import pytest

import dlnsam
from dlnsam import hypentropy, plots
from dlnsam.cli import main
from dlnsam.verify import (
    DEFAULT_RHOS,
    VERIFICATIONS,
    Bound,
    Claim,
    Column,
    Report,
    Section,
    Table,
    identity_residual,
    render,
    theorem1,
)

# The module of Theorem 1 (the package attribute of that name is the function).
T1 = importlib.import_module("dlnsam.verify.implicit_bias")
RUNNING = importlib.import_module("dlnsam.verify._running")

matplotlib.use("Agg")

RHOS = [0.01, 0.02, 0.04, 0.08]


@pytest.fixture(scope="module")
def problem():
    return dlnsam.gaussian_problem(10, 14, 2, seed=1, n_test=50)


@pytest.fixture(scope="module")
def report(problem):
    return theorem1(problem, alpha=0.1, rhos=RHOS, workers=1)


def test_default_grid_spans_the_issue_range() -> None:
    assert DEFAULT_RHOS[0] == 0.01 and DEFAULT_RHOS[-1] == 0.3 and len(DEFAULT_RHOS) == 8


def test_small_problem_passes_every_claim(report) -> None:
    assert report.passed, report.summary()
    assert [r.algorithm for r in report.rows] == ["GF"] + ["1-SAM"] * 4 + ["n-SAM"] * 4
    for row in report.rows:
        assert row.converged and row.err_exact <= 1e-8 and row.identity_residual <= 1e-8
    for row in report.rows[1:]:
        # The first-order and typical predictions are approximations: they miss.
        assert row.err_exact < row.err_first_order < row.err_typical
        assert row.delta_min > 0
    assert set(report.slopes) == {"1-SAM", "n-SAM"}
    assert all(1.8 <= s <= 2.2 for s in report.slopes.values())
    assert [s["rho"] for s in report.shrinkage] == RHOS
    assert all(s["n"] == 10 for s in report.shrinkage)


def test_gradient_flow_row_is_beta_star_at_alpha(report, problem) -> None:
    gf = report.rows[0]
    assert gf.rho == 0 and gf.delta_l1 == 0 and math.isnan(gf.typical_ratio)
    assert gf.alpha_hat == pytest.approx(0.1, rel=1e-5)


def test_a_too_strict_tolerance_makes_the_exact_claim_fail(problem) -> None:
    rep = theorem1(problem, alpha=0.1, rhos=[0.02, 0.04], exact_tol=1e-15, workers=1)
    verdicts = {c.name: c.passed for c in rep.claims}
    assert verdicts["exact_prediction"] is False and not rep.passed
    assert "[FAIL] exact prediction" in rep.summary()


def test_unconverged_flows_are_reported_not_compared(problem) -> None:
    rep = theorem1(problem, alpha=0.1, rhos=[0.02, 0.04], t_max=5.0, workers=1)
    assert all(r.status == "max_steps" for r in rep.rows)
    assert all(math.isnan(r.err_exact) and "no limit to compare" in r.note for r in rep.rows)
    # The identity needs no convergence, so it is still checked and holds.
    assert all(r.identity_residual <= 1e-8 for r in rep.rows)
    exact = next(c for c in rep.claims if c.name == "exact_prediction")
    assert exact.passed is False and "not converged" in exact.detail
    assert not rep.passed


def test_parallel_workers_give_identical_rows(problem, report) -> None:
    rep = theorem1(problem, alpha=0.1, rhos=RHOS, workers=2)
    for a, b in zip(rep.rows, report.rows, strict=True):
        assert a.integral_loss == b.integral_loss and a.delta_l1 == b.delta_l1


def test_report_serializes(report, tmp_path) -> None:
    data = json.loads(json.dumps(report.to_dict()))
    assert data["passed"] is True and len(data["rows"]) == 9
    assert data["rows"][0]["typical_ratio"] is None  # NaN becomes null
    assert {c["name"] for c in data["claims"]} == {c.name for c in report.claims}
    slope = next(c for c in data["claims"] if c["name"] == "first_order_slope[1-SAM]")
    assert slope["tolerance"] == "[1.8, 2.2]" and slope["figures"] == ["theorem1_delta_gap.png"]
    assert slope["evidence"]["columns"] == ["rho", "status", "delta_gap_l1", "fitted"]
    assert [row[0] for row in slope["evidence"]["rows"]] == RHOS
    md = report.to_markdown()
    assert md.startswith("# Theorem 1 verification")
    main_table = md.split("## Claims")[0]
    assert main_table.count("\n| ") == 10  # header and 9 flows
    assert "### first_order_slope[n-SAM]" in md and "Wall time" in md
    assert "Wall time" not in report.to_markdown(wall_time=False)
    text = report.summary()
    assert text.count("[PASS]") == len(report.claims) and "overall: PASS" in text


def test_identity_residual_is_zero_exactly_on_the_hypentropy_form() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4, 9))
    log_alpha = np.log(rng.uniform(0.05, 2.0, 9))
    beta = 2 * np.exp(2 * log_alpha) * np.sinh(X.T @ rng.standard_normal(4))
    assert identity_residual(X, beta, log_alpha) < 1e-14
    assert identity_residual(X, beta, log_alpha + 0.3 * rng.standard_normal(9)) > 1e-3
    # Log-space: a huge shrinkage exponent (α e^{-400} underflows) still works.
    tiny = log_alpha - 400.0
    beta = 2 * np.exp(2 * tiny + 850.0) * np.sign(X.T @ np.ones(4))
    assert identity_residual(X, beta, tiny) > 0  # finite, no overflow warning
    sol = hypentropy.solve(X, X @ rng.standard_normal(9), 0.3)
    assert identity_residual(X, sol.beta, np.log(0.3)) < 1e-10


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": 0.0}, "alpha must be > 0"),
        ({"rhos": [-0.1]}, "rhos must be > 0"),
        ({"rhos": [0.0]}, "rhos must be > 0"),
        ({"rhos": []}, "rhos must hold at least one"),
        ({"ms": [3]}, "m = 3 does not divide"),
        ({"rtol": -1.0}, "rtol must be > 0"),
        ({"exact_tol": 0.0}, "exact_tol must be > 0"),
        ({"workers": 0}, "workers must be a positive integer"),
        ({"workers": -2}, "workers must be a positive integer"),
        ({"workers": 1.5}, "workers must be a positive integer"),
        ({"alpha": 1e-200}, r"alpha = 1e-200 is below 1e-100.*\[1e-100, 1000\]"),
        ({"alpha": 1e-320}, "alpha = .* is too small to integrate"),
        ({"alpha": 1e5}, "alpha = 100000 is too large to integrate"),
    ],
)
def test_bad_input(problem, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        theorem1(problem, **({"rhos": [0.02], "workers": 1} | kwargs))


def test_figures_show_what_they_claim(report) -> None:
    fig = plots.theorem1_delta_gap(report)
    ax = fig.axes[0]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert ax.get_xlabel() == "SAM radius ρ" and ax.get_ylabel() == "‖Δ − Δ⁽¹⁾‖₁"
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[-1] == "slope 2 (O(ρ²))" and len(labels) == 3
    assert labels[0].startswith("1-SAM (slope ")

    ax = plots.theorem1_predictions(report).axes[0]
    assert len(ax.get_lines()) == 2 * 3 + 1  # 2 m-values x 3 predictions + tolerance
    exact = ax.get_lines()[0]
    np.testing.assert_allclose(exact.get_ydata(), [r.err_exact for r in report.rows[1:5]])

    ax = plots.theorem1_typical(report).axes[0]
    assert ax.get_ylabel() == "‖Δ‖₁ (exact)" and len(ax.get_lines()) == 3
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), [r.typical for r in report.rows[1:5]])


def test_cli_verify_writes_the_report(tmp_path, capsys) -> None:
    out = tmp_path / "rep"
    args = ["verify", "theorem1", "--n", "10", "--d", "14", "--k", "2", "--seed", "1"]
    args += ["--alpha", "0.1"]
    code = main([*args, "--rhos", "0.01,0.02,0.04", "--workers", "1", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "overall: PASS" in text and "[PASS] exact prediction" in text
    data = json.loads((out / "report.json").read_text())
    assert data["passed"] and data["n"] == 10 and len(data["rows"]) == 7
    for name in ("report.md", "theorem1_delta_gap.png", "theorem1_predictions.png"):
        assert (out / name).stat().st_size > 0
    code = main([*args, "--rhos", "0.02,0.04", "--workers", "1", "--out", str(out), "--exact-tol",
                 "1e-15", "--force"])  # fmt: skip
    assert code == 1 and "overall: FAIL" in capsys.readouterr().out


def test_cli_verify_rejects_bad_lists(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["verify", "--ms", "1,x"])
    assert "m values are integers or 'n'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("noise", "match"),
    [
        # With label noise and n > d no beta fits the labels: no interpolator at all.
        (0.1, r"no interpolator: y is not in the range of X \(n = 30, d = 20"),
        # Without noise the interpolator exists but is unique: alpha plays no role.
        (0.0, r"X has full column rank \(n = 30, d = 20, rank 20\): the interpolator is unique"),
    ],
)
def test_refuses_problems_without_many_interpolators(noise, match) -> None:
    p = dlnsam.gaussian_problem(30, 20, 3, noise=noise, seed=0)
    with pytest.raises(ValueError, match=match):
        theorem1(p, rhos=[0.02], workers=1, t_max=10.0)


def test_cli_names_the_missing_interpolator_in_one_line(tmp_path, capsys) -> None:
    args = ["verify", "theorem1", "--n", "30", "--d", "20", "--noise", "0.1", "--rhos", "0.02"]
    assert main([*args, "--workers", "1", "--t-max", "10", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dlnsam verify: error: no interpolator") and err.count("\n") == 1
    assert "full column rank" not in err


def test_progress_bar_goes_to_stderr_only_when_asked(problem, capsys) -> None:
    theorem1(problem, alpha=0.1, rhos=[0.02], workers=1, progress=True)
    out, err = capsys.readouterr()
    assert "verify" in err and "3/3" in err and "flow" in err and out == ""
    theorem1(problem, alpha=0.1, rhos=[0.02], workers=1)
    assert capsys.readouterr().err == ""


def test_a_slow_first_kernel_call_is_announced_with_its_time(monkeypatch, capsys) -> None:
    import time

    monkeypatch.setattr(RUNNING, "_COMPILE_NOTICE_AFTER", 0.05)
    compiled = iter([3, 5])  # Numba cache misses before and after
    monkeypatch.setattr(RUNNING, "_compilations", lambda: next(compiled))
    with RUNNING.compile_notice(True):
        time.sleep(0.5)
    err = capsys.readouterr().err
    assert err.startswith("compiling Numba kernels on first use (about ")
    assert "once; cached afterwards)" in err and "\ncompiled in " in err
    monkeypatch.setattr(RUNNING, "_compilations", lambda: 5)  # nothing compiled: say so
    with RUNNING.compile_notice(True):
        time.sleep(0.5)
    assert "\nloaded the cached kernels in " in capsys.readouterr().err
    with RUNNING.compile_notice(True):  # a fast call (kernels cached) says nothing
        pass
    with RUNNING.compile_notice(False):
        time.sleep(0.5)
    assert capsys.readouterr().err == ""


def test_printed_report_hides_rounding_noise(report) -> None:
    """Residuals at the float64 rounding floor print the same whatever their last digits.

    The same flow gives different last bits from freshly compiled kernels and
    from Numba's cache; those are the values of the two cases.
    """
    import dataclasses

    def with_noise(identity: float, exact: float):
        rows = [dataclasses.replace(r, identity_residual=identity, err_exact=exact)
                for r in report.rows]  # fmt: skip
        return dataclasses.replace(report, rows=rows)

    a, b = (
        with_noise(1.6398573041380314e-14, 4.036634833020899e-11),
        with_noise(2.0597719813807693e-14, 3.9992874167306294e-11),
    )
    assert a.summary() == b.summary() and a.to_markdown() == b.to_markdown()
    assert "<1e-12" in a.summary() and "4.0e-11" in a.summary()
    # Values above the floors are printed as before.
    c = with_noise(3.0e-9, 2.0e-9)
    assert "3.0e-09" in c.table() and "2.0e-09" in c.table()


def test_no_alpha_is_fitted_to_an_underflowed_state(problem) -> None:
    """Once alpha_t underflows, beta is rounding noise: no identity, no alpha^."""
    import dataclasses

    import scipy.linalg

    res = dlnsam.flow(problem, dlnsam.SAM(0.05, m=1), alpha=0.1, t_max=50.0)
    sunk = dataclasses.replace(res, delta=res.delta + 300.0)  # alpha e^-300 < 1e-100
    null = scipy.linalg.null_space(problem.X)
    alpha = np.full(problem.d, 0.1)
    row = T1._row(problem, sunk, alpha, null, "1-SAM", 0.05, 1)
    assert math.isnan(row.identity_residual) and math.isnan(row.alpha_hat)
    assert "identity and alpha^ not checkable" in row.note
    assert "fit_alpha" not in row.note
    assert math.isfinite(T1._row(problem, res, alpha, null, "1-SAM", 0.05, 1).alpha_hat)


def test_workers_run_the_kernels_the_caller_compiled(problem, monkeypatch) -> None:
    """The first flow call, which compiles, sees the arrays exactly as the workers do.

    Workers receive the problem pickled. Were its arrays of another Numba type
    there (writable rather than read-only), every worker would compile its own
    kernel on a cold cache and run freshly compiled code, whose last bits differ
    from the cached code of a warm run.
    """
    import pickle

    import numba

    seen = []

    def spy(p, *args, **kwargs):
        seen.append(p)
        return dlnsam.flow(p, *args, **kwargs)

    monkeypatch.setattr(T1, "flow", spy)  # workers do not see the spy
    theorem1(problem, alpha=0.1, rhos=[0.02], workers=2)
    received = pickle.loads(pickle.dumps(problem))
    assert len(seen) == 1
    for name in ("X", "y", "X_test", "y_test"):
        assert numba.typeof(getattr(seen[0], name)) == numba.typeof(getattr(received, name))


def test_cli_refuses_an_alpha_out_of_reach_in_one_line(tmp_path, capsys) -> None:
    from dlnsam.cli import main

    code = main(["verify", "--alpha", "1e-200", "--out", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "alpha = 1e-200" in err


# --------------------------------------------------------------------------- the framework


def _demo_report(slope: float) -> Report:
    """A report of two claims, one of which depends on ``slope``."""
    evidence = Table.of(
        [Column("rho", "ρ", ".4g", text="rho"), Column("gap", "gap", ".2e", 1e-12, text="gap")],
        [{"rho": 0.01, "gap": 1e-13}, {"rho": 0.02, "gap": 4e-4}],
    )
    claims = (
        Claim("exact", "the residual is tiny", 1e-13, Bound.at_most(1e-8), "worst <1e-12"),
        Claim("slope", "the slope is 2", slope, Bound.within(1.8, 2.2), f"{slope:.3f}",
              "one radius left out", evidence, ("demo.png",)),
    )  # fmt: skip
    return Report(
        name="demo",
        title="Demo verification",
        headline="Demo on a toy problem",
        intro="A toy problem.",
        claims=claims,
        table=evidence,
        legend="gap: the first-order gap",
        sections=(Section("fitted", ("slope: 2.000",)),),
        settings={"tol": 1e-8},
        wall_time=1.25,
        data={"extra": [1.0, math.nan]},
    )


@pytest.mark.parametrize(
    ("bound", "value", "passed"),
    [
        (Bound.at_most(1e-8), 1e-9, True),
        (Bound.at_most(1e-8), 1e-8, True),
        (Bound.at_most(1e-8), 2e-8, False),
        (Bound.at_most(1e-8), math.nan, False),
        (Bound.within(1.8, 2.2), (1.9, 2.1), True),
        (Bound.within(1.8, 2.2), (1.9, 2.3), False),
        (Bound.within(1.8, 2.2), (), False),  # nothing measured: no verdict to give
        (Bound.above(0.0), 0.0, False),
        (Bound.below(1.0), (0.5, 0.99), True),
    ],
)
def test_a_claims_verdict_is_its_value_against_its_tolerance(bound, value, passed) -> None:
    claim = Claim("c", "a claim", value, bound, "measured")
    assert claim.passed is passed and claim.verdict == ("PASS" if passed else "FAIL")


def test_one_claim_list_renders_to_text_markdown_and_json() -> None:
    rep = _demo_report(2.0)
    text = render(rep)
    assert text.splitlines()[:4] == ["Demo on a toy problem", "", "      rho       gap", "-" * 19]
    assert "\n     0.01    <1e-12\n     0.02  4.00e-04\n" in text
    assert "  [PASS] the slope is 2: 2.000 (tolerance [1.8, 2.2])" in text
    assert "\n         one radius left out" in text and "fitted:\n  slope: 2.000" in text
    assert text.endswith("overall: PASS in 1.2 s")
    md = render(rep, "markdown")
    assert md.startswith("# Demo verification\n\nA toy problem.\n\n| ρ | gap |\n|---|---|")
    assert "- **PASS** the residual is tiny: worst <1e-12 (tolerance <= 1e-08)." in md
    assert "### slope\n\n| ρ | gap |" in md and "Figures: `demo.png`" in md
    assert md.endswith("Wall time: 1.2 s\n")
    assert "Wall time" not in render(rep, "markdown", wall_time=False)
    data = json.loads(json.dumps(render(rep, "json")))
    assert data["verification"] == "demo" and data["passed"] is True
    assert data["extra"] == [1.0, None] and data["settings"] == {"tol": 1e-8}
    slope = data["claims"][1]
    assert slope["name"] == "slope" and slope["value"] == 2.0
    assert slope["bound"] == [1.8, 2.2, False]
    assert slope["evidence"] == {"columns": ["rho", "gap"], "rows": [[0.01, 1e-13], [0.02, 4e-4]]}
    failing = _demo_report(2.5)
    assert not failing.passed and "[FAIL] the slope is 2" in render(failing)
    assert render(failing, "json")["passed"] is False
    with pytest.raises(ValueError, match="fmt must be"):
        render(rep, "html")  # type: ignore[arg-type]


def test_tolerances_override_by_name(problem) -> None:
    rep = theorem1(problem, alpha=0.1, rhos=[0.02, 0.04], workers=1,
                   tolerances={"slope": (2.5, 3.0)})  # fmt: skip
    verdicts = {c.name: c.passed for c in rep.claims}
    assert verdicts == {
        "identity": True,
        "exact_prediction": True,
        "first_order_slope[1-SAM]": False,
        "first_order_slope[n-SAM]": False,
        "typical": True,
        "shrinkage": True,
        "alpha_shrinks": True,
        "path_alpha": True,
    }
    assert rep.settings["tolerances"]["slope"] == (2.5, 3.0)
    assert rep.settings["tolerances"]["exact"] == 1e-8


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tolerances": {"bogus": 1.0}}, "unknown tolerance 'bogus'; known: exact, shrinkage"),
        ({"tolerances": {"slope": 2.0}}, r"slope is a range \(low, high\)"),
        ({"tolerances": {"slope": (2.2, 1.8)}}, "slope must have low <= high"),
        ({"tolerances": {"exact": -1.0}}, "exact must be > 0"),
        ({"tolerances": {"exact": 1e-9}, "exact_tol": 1e-9}, r"\['exact'\] given twice"),
    ],
)
def test_bad_tolerances(problem, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        theorem1(problem, rhos=[0.02], workers=1, **kwargs)


class _Failing:
    """A verification result whose only claim fails."""

    def to_report(self) -> Report:
        return _demo_report(3.0)


def test_a_failing_claim_makes_verify_exit_1(tmp_path, capsys, monkeypatch) -> None:
    seen = {}

    def run(problem, **options):
        seen.update(options)
        return _Failing()

    fake = dataclasses.replace(VERIFICATIONS["theorem1"], run=run, figures=())
    monkeypatch.setitem(VERIFICATIONS, "theorem1", fake)
    args = ["verify", "theorem1", "--out", str(tmp_path), "--n", "6", "--d", "8", "--no-progress"]
    assert main([*args, "--tol", "slope=1.7,2.3", "--exact-tol", "1e-9"]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] the slope is 2" in out and "overall: FAIL" in out
    assert seen["tolerances"]["slope"] == (1.7, 2.3) and seen["tolerances"]["exact"] == 1e-9
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["passed"] is False and data["verification"] == "demo"
    assert (tmp_path / "report.md").read_text().startswith("# Demo verification")


@pytest.mark.parametrize(
    ("tol", "message"),
    [
        ("bogus=1", "unknown tolerance 'bogus'"),
        ("slope=2", "slope is a range"),
        ("exact=0", "exact must be > 0"),
    ],
)
def test_cli_refuses_a_bad_tolerance_before_any_work(tmp_path, capsys, tol, message) -> None:
    out = tmp_path / "never"
    assert main(["verify", "--tol", tol, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dlnsam verify: error: ") and message in err
    assert not out.exists()


def test_cli_tolerance_syntax_is_checked_by_the_parser(capsys) -> None:
    for text in ("exact", "exact=", "=1", "slope=1,2,3", "exact=x"):
        with pytest.raises(SystemExit):
            main(["verify", "--tol", text])
        assert "NAME=VALUE or NAME=LOW,HIGH" in capsys.readouterr().err


def test_every_verification_names_figures_that_plots_draws() -> None:
    for check in VERIFICATIONS.values():
        assert check.figures and set(check.tolerances)
        for name in check.figures:
            assert name.endswith(".png") and callable(getattr(plots, Path(name).stem))
    assert main.__module__ == "dlnsam.cli"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["theorem1", "flatness", "theorem2"])
def test_the_docs_show_the_default_report(name: str) -> None:
    """Each docs page holds the Markdown report of ``dlnsam verify NAME`` with its defaults."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "tools" / "render_docs.py"
    spec = importlib.util.spec_from_file_location("render_docs", path)
    docs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(docs)
    expected = render(docs.default_report(name), "markdown", wall_time=False)
    assert docs.shown(docs.PAGES[name]) == expected, "run python tools/render_docs.py"
