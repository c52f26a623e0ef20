"""The dlnsam command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dlnsam
from dlnsam.cli import main


def test_version_and_help(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"dlnsam {dlnsam.__version__}"
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    for option in ("--algorithm", "--rho", "--m", "--batch-size", "--alpha", "--data", "--seed"):
        assert option in out


def test_run_prints_a_summary_that_matches_the_api(capsys) -> None:
    code = main(["run", "--algorithm", "n-sam", "--rho", "0.05", "--steps", "300", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    p = dlnsam.gaussian_problem(20, 30, 3)
    res = dlnsam.run(p, dlnsam.SAM(0.05), lr=0.05, steps=300, alpha=0.05)
    assert summary["algorithm"] == "n-SAM(rho=0.05)"
    assert summary["train_loss"] == res.train_loss
    assert summary["test_loss"] == res.test_loss
    assert summary["l1_norm"] == pytest.approx(np.abs(res.beta).sum(), rel=1e-15)
    assert 0.0 <= summary["support_recovery"] <= 1.0


def test_run_text_summary(capsys) -> None:
    assert main(["run", "--steps", "200"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1-SAM(rho=0.1) on n=20, d=30: max_steps")
    for label in ("train loss", "test loss", "||beta||_1", "support", "time"):
        assert label in out


def test_run_on_user_data_without_test_set(tmp_path, capsys) -> None:
    p = dlnsam.gaussian_problem(10, 15, 2, n_test=0)
    path = tmp_path / "data.csv"
    np.savetxt(path, np.column_stack([p.X, p.y]), delimiter=",")
    assert main(["run", "--data", str(path), "--algorithm", "gd", "--steps", "50"]) == 0
    out = capsys.readouterr().out
    assert "n=10, d=15" in out and "test loss    n/a" in out and "n/a (no beta_star)" in out


def test_errors_name_the_problem_and_exit_2(capsys) -> None:
    assert main(["run", "--algorithm", "gd", "--rho", "0.1"]) == 2
    assert "does not take option(s) ['rho']" in capsys.readouterr().err
    assert main(["run", "--algorithm", "m-sam", "--m", "3"]) == 2
    assert "m = 3 does not divide the batch: n = 20" in capsys.readouterr().err
    assert main(["run", "--alpha", "0"]) == 2
    assert "alpha must be > 0" in capsys.readouterr().err


def test_divergence_exits_1(capsys) -> None:
    assert main(["run", "--algorithm", "gd", "--lr", "5", "--steps", "100"]) == 1
    assert "diverged at step" in capsys.readouterr().out


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("dlnsam")
    assert script.is_file(), "the dlnsam console script is not installed next to python"
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"dlnsam {dlnsam.__version__}"


@pytest.fixture
def no_theorem(monkeypatch):
    """Make any computation of the theorem an error: usage is checked before work."""
    from dlnsam import verify

    def fail(*args, **kwargs):
        raise AssertionError("theorem1 ran before the usage error was found")

    monkeypatch.setattr(verify, "theorem1", fail)


def _verify_error(args: list[str], capsys) -> str:
    assert main(["verify", "theorem1", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dlnsam verify: error: ") and err.count("\n") == 1, err
    return err


def test_verify_checks_its_output_folder_before_any_work(tmp_path, capsys, no_theorem) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    err = _verify_error(["--out", str(a_file)], capsys)
    assert "--out" in err and "exists and is not a folder" in err
    err = _verify_error(["--out", str(a_file / "sub")], capsys)
    assert "--out" in err and "cannot create" in err
    assert a_file.read_text() == "not a folder"


def test_verify_refuses_an_unwritable_output_folder(tmp_path, capsys, monkeypatch, no_theorem):
    import tempfile

    def read_only(*args, **kwargs):  # as root, chmod does not stop writes
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    err = _verify_error(["--out", str(tmp_path / "out")], capsys)
    assert "--out" in err and "cannot write in" in err and "Permission denied" in err


def test_verify_refuses_to_replace_an_earlier_report(tmp_path, capsys, no_theorem) -> None:
    (tmp_path / "report.json").write_text("{}")
    err = _verify_error(["--out", str(tmp_path)], capsys)
    assert "holds an earlier report (report.json)" in err and "--force" in err
    assert (tmp_path / "report.json").read_text() == "{}"


def test_verify_force_replaces_an_earlier_report(tmp_path, capsys) -> None:
    (tmp_path / "report.md").write_text("old")
    args = ["verify", "theorem1", "--n", "10", "--d", "14", "--k", "2", "--seed", "1",
            "--alpha", "0.1", "--rhos", "0.01,0.02,0.04", "--workers", "1", "--out", str(tmp_path),
            "--force"]  # fmt: skip
    assert main(args) == 0
    assert (tmp_path / "report.md").read_text().startswith("# Theorem 1")
    assert "verify" in capsys.readouterr().err  # the progress bar


def test_verify_refuses_workers_below_one(capsys, no_theorem) -> None:
    for value in ("0", "-1"):
        with pytest.raises(SystemExit) as exc:
            main(["verify", "--workers", value])
        assert exc.value.code == 2
        assert "argument --workers: expected a positive integer" in capsys.readouterr().err


def test_oserror_on_a_user_path_is_one_line_not_a_traceback(monkeypatch, capsys) -> None:
    import dlnsam.cli

    def missing(args):
        raise FileNotFoundError(2, "No such file or directory", "data.csv")

    monkeypatch.setattr(dlnsam.cli, "_problem", missing)
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert err == "dlnsam run: error: [Errno 2] No such file or directory: 'data.csv'\n"

    def internal(args):  # no file name: not a usage error, so not hidden
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(dlnsam.cli, "_problem", internal)
    with pytest.raises(OSError, match="Cannot allocate memory"):
        main(["run"])


def test_verify_without_a_name_runs_every_verification(tmp_path, capsys, monkeypatch) -> None:
    """Each verification writes into its own folder; one overall verdict; exit 1 if one fails."""
    import dlnsam.cli
    from dlnsam.verify import Bound, Claim, Report, Verification

    def fake(name: str, passed: bool) -> Verification:
        value = 1.0 if passed else 3.0
        claim = Claim(f"{name}_claim", "a claim", value, Bound.at_most(2.0), f"{value}")

        class Result:
            def to_report(self) -> Report:
                return Report(name=name, title=name, headline=name, intro="", claims=(claim,))

        return Verification(name=name, description=name, run=lambda problem, **kw: Result(),
                            tolerances={}, figures=())  # fmt: skip

    checks = {"one": fake("one", True), "two": fake("two", False)}
    monkeypatch.setattr(dlnsam.cli, "VERIFICATIONS", checks)
    assert main(["verify", "--out", str(tmp_path), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "one        1/1 claims pass  PASS" in out and "two        0/1 claims pass  FAIL" in out
    assert out.rstrip().endswith("overall: FAIL")
    assert (tmp_path / "one" / "report.md").exists() and (tmp_path / "two" / "report.json").exists()


def test_verify_without_a_name_refuses_the_grid_options(tmp_path, capsys) -> None:
    assert main(["verify", "--rhos", "0.1", "--out", str(tmp_path)]) == 2
    assert "name one verification" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # refused before any folder was made
