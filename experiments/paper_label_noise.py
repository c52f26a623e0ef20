"""paper_label_noise*: mislabelled data. SAM still interpolates, and so fits the noise.

The paper's setting with Gaussian noise of standard deviation σ ∈ {0, 0.1,
0.5, 1} added to the training labels (``paper_problem(seed, noise=σ)``; the
test labels stay clean): ERM, n-SAM (ρ = 0.1) and 1-SAM (ρ = 0.1, paper's
units) at γ = 5/d for 10⁴ + 1 iterations, seeds 0–9.

- ``paper_label_noise``: the final test loss against σ (solid) and the lowest
  test loss reached during training (dashed), what early stopping at the best
  iteration would have given.
- ``paper_label_noise_curves``: train and test loss over training at σ = 0.5.
- ``paper_label_noise_table.md``: final train loss, final and best test loss.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import dlnsam
from dlnsam import GD, PAPER, SAM, paper_problem, paper_rho, plots

LR, RHO, NOISES, SHOWN = 5 / PAPER.d, 0.1, (0.0, 0.1, 0.5, 1.0), 0.5
ALGORITHMS = {"ERM": GD(), "n-SAM": SAM(paper_rho(RHO, None)), "1-SAM": SAM(paper_rho(RHO, 1), m=1)}


def rows(quick: bool) -> list[dict]:
    out = []
    for seed in range(2 if quick else 10):
        for noise in NOISES:
            p = paper_problem(seed, noise=noise)
            for label, algorithm in ALGORITHMS.items():
                res = dlnsam.run(p, algorithm, lr=LR, steps=PAPER.steps, alpha=PAPER.alpha)
                h = res.history
                out.append({
                    "label": label, "noise": noise, "seed": seed, "status": res.status.value,
                    "train_loss": res.train_loss, "test_loss": res.test_loss,
                    "best_test_loss": float(h.test_loss.min()),
                    "history_steps": h.steps, "history_train": h.train_loss,
                    "history_test": h.test_loss,
                })  # fmt: skip
    return out


def table(rows: list[dict]) -> str:
    seeds = len({r["seed"] for r in rows})
    lines = [
        f"Label noise in the paper's setting, γ = 5/d, ρ = {RHO:g} (paper's units): geometric "
        f"means over {seeds} seeds of the final train loss, the final test loss and the lowest "
        "test loss on the recorded iterations (early stopping). Made by "
        "`dlnsam figures --only paper_label_noise`.",
        "",
        "| σ | algorithm | train loss | test loss | best test loss |",
        "|---|---|---|---|---|",
    ]
    for noise in NOISES:
        for label in ALGORITHMS:
            group = [r for r in rows if r["noise"] == noise and r["label"] == label]
            gm = [np.exp(np.mean(np.log([r[k] for r in group])))
                  for k in ("train_loss", "test_loss", "best_test_loss")]  # fmt: skip
            lines.append(f"| {noise:g} | {label} | {gm[0]:.2g} | {gm[1]:.3g} | {gm[2]:.3g} |")
    return "\n".join(lines) + "\n"


def run(quick: bool, results: Path) -> dict[str, Figure | str]:
    grid = rows(quick)
    return {
        "paper_label_noise": plots.final_and_best(
            grid, x_key="noise", xlabel="label noise σ",
            title="Label noise: final and best test loss",
        ),
        "paper_label_noise_curves": plots.loss_curves([r for r in grid if r["noise"] == SHOWN]),
        "paper_label_noise_table": table(grid),
    }  # fmt: skip
