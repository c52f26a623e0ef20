"""The experiment scripts behind `dlnsam figures` stay runnable."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlnsam.cli import _load_experiment, main
from dlnsam.sweep import expand

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
SCRIPTS = sorted(p for p in EXPERIMENTS.glob("*.py") if not p.name.startswith("_"))


def test_every_figure_family_has_a_script() -> None:
    names = {p.stem for p in SCRIPTS}
    assert {"generalization", "loss_curves", "theorem1", "implicit_bias", "finetune",
            "m_sharpness"} <= names  # fmt: skip


@pytest.mark.parametrize("name", ["generalization", "loss_curves", "implicit_bias", "m_sharpness"])
def test_sweep_grids_are_valid_and_quick_is_smaller(name: str, tmp_path) -> None:
    module = _load_experiment(EXPERIMENTS / f"{name}.py")
    quick, full = module.config(True, tmp_path), module.config(False, tmp_path)
    cells_quick, cells_full = expand(quick), expand(full)
    assert 0 < len(cells_quick) <= len(cells_full)
    work = [sum(c["steps"] or 0 for c in cells) for cells in (cells_quick, cells_full)]
    assert work[0] < work[1]
    assert quick.output != full.output  # quick results never mix with full ones


def test_figures_command_runs_experiments(tmp_path, capsys) -> None:
    out, results = tmp_path / "figures", tmp_path / "results"
    args = ["figures", "--quick", "--experiments", str(EXPERIMENTS), "--out", str(out),
            "--results", str(results), "--only", "loss_curves", "implicit_bias"]  # fmt: skip
    assert main(args) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["b_loss_curves.pdf", "b_loss_curves.png", "d_implicit_bias_path.pdf",
                     "d_implicit_bias_path.png"]  # fmt: skip
    assert "2 experiments (quick mode)" in capsys.readouterr().out
    assert main(args) == 0  # a rerun resumes from the saved results


def test_figures_command_errors(tmp_path, capsys) -> None:
    assert main(["figures", "--experiments", str(tmp_path / "none")]) == 2
    assert "no folder" in capsys.readouterr().err
    assert main(["figures", "--experiments", str(EXPERIMENTS), "--only", "nope"]) == 2
    assert "no experiment ['nope']" in capsys.readouterr().err


def test_quick_figures_leave_the_committed_folder_alone(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "figures").mkdir()
    args = ["figures", "--quick", "--experiments", str(EXPERIMENTS), "--results",
            str(tmp_path / "results"), "--only", "loss_curves"]  # fmt: skip
    assert main(args) == 0
    assert list((tmp_path / "figures").iterdir()) == []
    assert sorted(p.name for p in (tmp_path / "figures-quick").iterdir()) == [
        "b_loss_curves.pdf",
        "b_loss_curves.png",
    ]
    assert "figures (PNG and PDF) in figures-quick/" in capsys.readouterr().out


def test_figures_help_makes_no_time_claim_of_its_own(capsys) -> None:
    """Measured timings live in the README only, so they cannot disagree."""
    with pytest.raises(SystemExit):
        main(["figures", "--help"])
    out = capsys.readouterr().out
    assert "minute" not in out and " s " not in out and "figures-quick" in out
    readme = " ".join((EXPERIMENTS / "README.md").read_text().split())
    assert "minute" not in readme and "the README gives the measured times" in readme


def test_figures_checks_its_output_folder_first(tmp_path, capsys) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    assert main(["figures", "--experiments", str(EXPERIMENTS), "--out", str(a_file)]) == 2
    assert "--out" in capsys.readouterr().err


def test_paper_experiments_write_figures_and_tables(tmp_path, capsys) -> None:
    out = tmp_path / "figures"
    args = ["figures", "--quick", "--experiments", str(EXPERIMENTS), "--out", str(out),
            "--results", str(tmp_path / "results"),
            "--only", "paper_grid", "paper_finetune"]  # fmt: skip
    assert main(args) == 0
    names = {p.name for p in out.iterdir()}
    for figure in ("paper_test_loss_vs_rho", "paper_finetune", "paper_finetune_radius",
                   "paper_interpolation"):  # fmt: skip
        assert {f"{figure}.png", f"{figure}.pdf"} <= names
    grid = (out / "paper_test_loss_table.md").read_text()
    # Seed 0 is the paper's data: GD at 5/d ends at the test loss its notebook prints, 0.015056.
    assert "| 5/d | GD | — |" in grid and "| 0.0151 |" in grid.split("| 5/d | GD | — |")[1]
    seed0, summary = (out / "paper_finetune_table.md").read_text().split("Over seeds")
    rows = [line for line in seed0.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [row.split(" | ")[0] for row in rows] == ["| 1", "| 10"]  # the quick radii
    errors = [float(row.rstrip(" |").split(" | ")[-1]) for row in rows]
    assert max(errors) < 1e-9  # Theorem 1's identity from the switch point holds for the flows
    assert "| 10 | " in summary and " of 2 |" in summary


def test_paper_seed_experiments_write_their_figures(tmp_path) -> None:
    out = tmp_path / "figures"
    args = ["figures", "--quick", "--experiments", str(EXPERIMENTS), "--out", str(out),
            "--results", str(tmp_path / "results"),
            "--only", "paper_switch", "paper_label_noise", "paper_normalization",
            "paper_weight_decay", "paper_large_step_sgd"]  # fmt: skip
    assert main(args) == 0
    names = {p.name for p in out.iterdir()}
    for figure in ("paper_switch", "paper_label_noise", "paper_label_noise_curves",
                   "paper_normalization", "paper_weight_decay", "paper_large_step_sgd",
                   "paper_large_step_sgd_curves"):  # fmt: skip
        assert {f"{figure}.png", f"{figure}.pdf"} <= names
    table = (out / "paper_label_noise_table.md").read_text()
    rows = [line.split(" | ") for line in table.splitlines() if line.startswith("| 0.5 |")]
    assert [r[1] for r in rows] == ["ERM", "n-SAM", "1-SAM"]
    for r in rows:  # with noisy labels every algorithm still interpolates and overfits
        train, final, best = (float(x.strip(" |")) for x in r[2:5])
        assert train < 1e-6 and best < final
    sgd = (out / "paper_large_step_sgd_table.md").read_text()
    assert "| SGD, large step then decay | 0.3 |" in sgd and "| GD (γ = 5/d) | — |" in sgd
