"""paper_test_loss_vs_rho: the paper's grid search, test loss against ρ on diagonal networks.

The paper's setting (:data:`dlnsam.PAPER`): n = 20, d = 30, 3-sparse β*, α =
0.05, 10⁴ + 1 iterations at γ = k/d, k in {1, 5, 10, 15}; GD (ERM) against
n-SAM and 1-SAM over the paper's radius grid, drawn in the paper's units (its
1-SAM ρ is half of dlnsam's, :func:`dlnsam.paper_rho`). Seed 0 is the paper's
own data set; the figure averages seeds 0–9. Diverged runs are left out.
``paper_test_loss_table.md`` gives the numbers: per step size, algorithm and
radius, the geometric mean of the test loss over the seeds that did not
diverge, their count, and seed 0's value.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import dlnsam
from dlnsam import GD, PAPER, SAM, paper_problem, paper_rho, plots


def rows(quick: bool) -> list[dict]:
    """One row per seed, step size, algorithm and radius."""
    out = []
    for seed in range(2 if quick else 10):
        p = paper_problem(seed)
        for lr in PAPER.lrs:
            runs = [("gd", None, GD())]
            for rho in PAPER.reference_rhos:
                runs += [("n-sam", rho, SAM(paper_rho(rho, None))),
                         ("1-sam", rho, SAM(paper_rho(rho, 1), m=1))]  # fmt: skip
            for name, rho, algorithm in runs:
                res = dlnsam.run(p, algorithm, lr=lr, steps=PAPER.steps, alpha=PAPER.alpha)
                ok = res.status.value != "diverged"
                out.append({"algorithm": name, "seed": seed, "lr": lr, "rho": rho,
                            "status": res.status.value,
                            "test_loss": res.test_loss if ok else None})  # fmt: skip
    return out


def table(rows: list[dict]) -> str:
    """Geometric mean of the test loss over the converged seeds, per (γ, algorithm, ρ)."""
    seeds = len({r["seed"] for r in rows})
    lines = [
        f"Test loss in the paper's setting after {PAPER.steps} iterations from α = {PAPER.alpha}: "
        f"geometric mean over the {seeds} seeds whose run did not diverge (their count), and "
        "seed 0, the paper's data. ρ in the paper's units. Made by "
        "`dlnsam figures --only paper_grid`.",
        "",
        "| γ | algorithm | ρ | test loss (mean) | seeds | seed 0 |",
        "|---|---|---|---|---|---|",
    ]
    keys = dict.fromkeys((r["lr"], r["algorithm"], r["rho"]) for r in rows)
    for lr, name, rho in keys:
        group = [r for r in rows if (r["lr"], r["algorithm"], r["rho"]) == (lr, name, rho)]
        vals = np.array([r["test_loss"] for r in group if r["test_loss"] is not None])
        mean = f"{np.exp(np.log(vals).mean()):.3g}" if vals.size else "—"
        first = next(r["test_loss"] for r in group if r["seed"] == 0)
        label = plots.algorithm_label({"algorithm": name})
        lines.append(f"| {lr * PAPER.d:g}/d | {label} | {'—' if rho is None else f'{rho:g}'} | "
                     f"{mean} | {vals.size} | {'diverged' if first is None else f'{first:.3g}'} |")
    return "\n".join(lines) + "\n"


def run(quick: bool, results: Path) -> dict[str, Figure | str]:
    grid = rows(quick)
    fig = plots.generalization_panels(
        grid, xlabel="ρ (paper's units)", panel_title="γ = {:.3g}",
        title="The paper's setting: test loss against ρ (geometric mean over seeds, min–max band)",
    )  # fmt: skip
    return {"paper_test_loss_vs_rho": fig, "paper_test_loss_table": table(grid)}
