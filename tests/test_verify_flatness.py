"""`dlnsam verify flatness`: the flatness claims, their verdicts, the report and the CLI."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
from matplotlib.figure import Figure

from dlnsam import gaussian_problem, plots
from dlnsam.cli import main
from dlnsam.verify import VERIFICATIONS, FlatnessReport, flatness_claims, render
from dlnsam.verify.flatness import TOLERANCES, VERIFICATION

# A tiny setting: every flow and run converges and every claim holds on it.
TINY = {
    "others": (gaussian_problem(4, 8, 2, seed=1),),
    "rhos": [0.05, 0.1],
    "ms": [1, 2, None],
    "lrs": [0.05, 0.2],
    "seeds": [0, 1, 2],
    "batch_size": 2,
    "micro_batch": 1,
    "sgd_lr": 0.1,
    "workers": 1,
}


@pytest.fixture(scope="module")
def problem():
    return gaussian_problem(4, 8, 2, seed=0)


@pytest.fixture(scope="module")
def report(problem) -> FlatnessReport:
    return flatness_claims(problem, **TINY)


def _claim(rep: FlatnessReport, name: str):
    return next(c for c in rep.claims if c.name == name)


def test_every_claim_holds_on_the_tiny_problem(report) -> None:
    names = [c.name for c in report.claims]
    assert names == [
        "exact",
        "trace_monotone[flow]",
        "trace_monotone[γ=0.05]",
        "trace_monotone[γ=0.2]",
        "lambda_nsam[flow]",
        "lambda_nsam[γ=0.05]",
        "lambda_nsam[γ=0.2]",
        "stochastic[SAM(m=b)<SGD,trace]",
        "stochastic[SAM(m<b)<SAM(m=b),trace]",
        "gap_shrinks",
    ]
    assert all(r.converged for r in report.rows)
    assert report.passed, [c.name for c in report.claims if not c.passed]


def test_rows_cover_flows_runs_and_seeds(report) -> None:
    flows = [r for r in report.rows if r.kind == "flow"]
    # Per problem: GF + 2 radii x m in (4, 2, 1).
    assert len(flows) == 2 * (1 + 2 * 3)
    runs = report.select("run")
    assert len(runs) == 2 * (1 + 2 * 3) and {r.lr for r in runs} == {0.05, 0.2}
    stochastic = report.select("stochastic")
    assert len(stochastic) == 1 + 3 * 3
    assert {r.seed for r in stochastic if r.algorithm == "SGD"} == {0, 1, 2}
    for r in flows:
        assert r.exact_error <= 1e-10 and r.gap >= 0 and math.isfinite(r.delta_l1)
    for r in runs:
        assert math.isnan(r.limit_trace) and r.trace > 0 and r.lambda_max > 0


def test_pairs_report_fraction_and_geomean_for_both_measures(report) -> None:
    measures = {(p["a"], p["b"], p["measure"]) for p in report.pairs}
    assert len(measures) == 8
    for p in report.pairs:
        assert p["seeds"] == 3 and 0 <= p["fraction"] <= 1 and p["geomean"] > 0
        paper = (p["a"], p["b"]) in {("SAM(m=b)", "SGD"), ("SAM(m<b)", "SAM(m=b)")}
        assert p["claimed"] == (paper and p["measure"] == "trace")


@pytest.mark.parametrize(
    ("name", "impossible", "claims"),
    [
        ("exact", 1e-300, ["exact"]),
        ("trace_monotone", 1e-3, ["trace_monotone[flow]", "trace_monotone[γ=0.2]"]),
        ("lambda_nsam", 1e-3, ["lambda_nsam[flow]", "lambda_nsam[γ=0.05]"]),
        ("seed_fraction", (1.5, 2.0), ["stochastic[SAM(m=b)<SGD,trace]"]),
        ("gap_correlation", (0.5, 1.0), ["gap_shrinks"]),
    ],
)
def test_a_claim_fails_when_its_tolerance_is_impossible(problem, name, impossible, claims):
    rep = flatness_claims(problem, **TINY, tolerances={name: impossible})
    for claim in claims:
        assert not _claim(rep, claim).passed, claim
    assert not rep.passed
    others = [c for c in rep.claims if not any(c.name == x for x in claims)]
    assert any(c.passed for c in others)


def test_the_report_renders_in_all_three_formats(report) -> None:
    rep = report.to_report()
    text = render(rep)
    assert text.startswith("Flatness at the limit on n=4, d=8") and "overall: PASS" in text
    assert "measured, not claimed" in text and "geo-mean" in text
    md = render(rep, "markdown", wall_time=False)
    assert md.startswith("# Flatness verification") and "### gap_shrinks" in md
    assert "Wall time" not in md
    data = render(rep, "json")
    json.dumps(data)  # plain values only
    assert data["verification"] == "flatness" and data["passed"] is True
    assert len(data["rows"]) == len(report.rows) and data["measured"]
    assert {c["name"] for c in data["claims"]} == {c.name for c in report.claims}


def test_the_figure_is_drawn(report) -> None:
    fig = plots.flatness_measures(report)
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    assert fig.axes[0].get_xscale() == "log"


def test_registered_for_dlnsam_verify() -> None:
    assert VERIFICATIONS["flatness"] is VERIFICATION
    assert set(VERIFICATION.tolerances) == set(TOLERANCES)
    for name in VERIFICATION.figures:
        assert callable(getattr(plots, name.removesuffix(".png")))


def test_the_cli_writes_the_report(tmp_path, capsys, monkeypatch) -> None:
    seen = {}

    def run(problem, **options):
        seen.update(options)
        # The tiny settings, keeping what the command line passed.
        extra = {k: v for k, v in TINY.items() if k not in options}
        return flatness_claims(problem, **options, **extra)

    monkeypatch.setitem(VERIFICATIONS, "flatness", dataclasses.replace(VERIFICATION, run=run))
    args = ["verify", "flatness", "--out", str(tmp_path), "--n", "4", "--d", "8", "--k", "2"]
    args += ["--no-progress", "--workers", "1", "--rhos", "0.05,0.1", "--ms", "1,2,n"]
    assert main([*args, "--tol", "gap_correlation=-1,-0.5"]) == 0
    out = capsys.readouterr().out
    assert "overall: PASS" in out
    assert seen["rhos"] == [0.05, 0.1] and seen["ms"] == [1, 2, None]
    assert seen["tolerances"]["gap_correlation"] == (-1.0, -0.5)
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["verification"] == "flatness" and data["passed"] is True
    assert (tmp_path / "report.md").read_text().startswith("# Flatness verification")
    assert (tmp_path / "flatness_measures.png").stat().st_size > 0
    # An earlier report is kept unless --force.
    assert main(args) == 2
    assert "--force" in capsys.readouterr().err


def test_the_cli_leaves_the_grid_to_the_verification(tmp_path, monkeypatch) -> None:
    seen = {}

    def run(problem, **options):
        seen.update(options)
        raise ValueError("stop here")

    monkeypatch.setitem(VERIFICATIONS, "flatness", dataclasses.replace(VERIFICATION, run=run))
    assert main(["verify", "flatness", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "rhos" not in seen and "ms" not in seen
    main(["verify", "flatness", "--out", str(tmp_path / "b"), "--rho-max", "0.2", "--n-rho", "2"])
    assert seen["rhos"] == [0.01, 0.2]


def test_full_takes_the_publication_seeds_and_problems(tmp_path, monkeypatch) -> None:
    import dlnsam.verify.flatness as module

    seen = {}

    def check(problem, others, alpha, rhos, ms, lrs, seeds, *rest):
        seen.update(others=others, seeds=seeds)
        raise ValueError("stop here")

    monkeypatch.setattr(module._Settings, "check", check)
    for full in (False, True):
        with pytest.raises(ValueError, match="stop here"):
            flatness_claims(full=full)
        assert len(seen["others"]) == (module.FULL_OTHERS if full else 3)
        assert tuple(seen["seeds"]) == (module.FULL_SEEDS if full else module.DEFAULT_SEEDS)
    assert [p.n for p in module.default_others(9)] == [15] * 9
    assert main(["verify", "flatness", "--full", "--out", str(tmp_path), "--no-progress"]) == 2
    assert seen["seeds"] == module.FULL_SEEDS  # the CLI's --full reaches flatness


def test_the_cli_refuses_an_unknown_tolerance(tmp_path, capsys) -> None:
    out = tmp_path / "never"
    assert main(["verify", "flatness", "--tol", "slope=1.8,2.2", "--out", str(out)]) == 2
    assert "unknown tolerance 'slope'" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"problem": "X"}, "problem must be a dlnsam.Problem"),
        ({"problem": gaussian_problem(8, 4, 2)}, "problem: n = 8 >= d = 4"),
        ({"others": [gaussian_problem(8, 4, 2)]}, r"others\[0\]"),
        ({"others": ["X"]}, "others must be"),
        ({"alpha": -1.0}, "alpha"),
        ({"rhos": [0.1, -0.2]}, "rhos"),
        ({"rhos": []}, "rhos must hold"),
        ({"ms": [0]}, "ms"),
        ({"lrs": [0.0]}, "lrs"),
        ({"seeds": [1, 1]}, "seeds must be distinct"),
        ({"seeds": [-1]}, "seeds"),
        ({"batch_size": 9}, "batch_size must be at most n = 4"),
        ({"batch_size": 1}, "batch_size"),
        ({"micro_batch": 2}, "micro_batch must divide batch_size = 2"),
        ({"sgd_lr": math.nan}, "sgd_lr"),
        ({"sgd_rho": 0}, "sgd_rho"),
        ({"loss_tol": 1.0}, "loss_tol must be < 1"),
        ({"max_steps": 0}, "max_steps"),
        ({"workers": 0}, "workers"),
        ({"tolerances": {"bogus": 1.0}}, "unknown tolerance 'bogus'"),
        ({"tolerances": {"seed_fraction": 0.5}}, "seed_fraction is a range"),
        ({"full": 1}, "full must be True or False"),
    ],
)
def test_bad_input_names_the_argument(problem, monkeypatch, kwargs, match) -> None:
    import dlnsam.verify.flatness as module

    def never(*args, **kw):
        raise AssertionError("a flow or run started before the arguments were checked")

    monkeypatch.setattr(module, "flow", never)
    monkeypatch.setattr(module, "run", never)
    settings = {**TINY, "problem": problem, **kwargs}
    with pytest.raises(ValueError, match=match):
        flatness_claims(**settings)
