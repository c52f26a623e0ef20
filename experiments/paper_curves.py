"""paper_loss_curves: train and test loss over training in the paper's setting.

GD (ERM), SGD with one example per step (the reference code's SGD), n-SAM and
1-SAM at two radii each, all at γ = 5/d, the step of the paper's printed
results, for 10⁴ + 1 iterations from α = 0.05. Radii are in the paper's units
(:func:`dlnsam.paper_rho` maps them). Geometric mean over seeds 0–9 with a
min–max band; seed 0 is the paper's data set.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

import dlnsam
from dlnsam import GD, PAPER, SAM, SGD, paper_problem, paper_rho, plots

LR = 5 / PAPER.d
ALGORITHMS = {
    "GD": GD(),
    "SGD(b=1)": SGD(1),
    **{f"n-SAM ρ={r:g}": SAM(paper_rho(r, None)) for r in (0.1, 1.0)},
    **{f"1-SAM ρ={r:g}": SAM(paper_rho(r, 1), m=1) for r in (0.03, 0.1)},
}


def run(quick: bool, results: Path) -> dict[str, Figure]:
    rows = []
    for seed in range(2 if quick else 10):
        p = paper_problem(seed)
        for label, algorithm in ALGORITHMS.items():
            res = dlnsam.run(p, algorithm, lr=LR, steps=PAPER.steps, alpha=PAPER.alpha, seed=seed)
            h = res.history
            rows.append({"label": label, "seed": seed, "history_steps": h.steps,
                         "history_train": h.train_loss, "history_test": h.test_loss})  # fmt: skip
    return {"paper_loss_curves": plots.loss_curves(rows)}
