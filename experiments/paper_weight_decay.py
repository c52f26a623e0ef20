"""paper_weight_decay: weight decay against 1-SAM at matched training loss, in the paper's setting.

Weight decay on (u, v) penalizes ‖u‖² + ‖v‖² ≥ 2‖β‖₁ (equality at balanced
u, v), an explicit ℓ1-type penalty on β; 1-SAM's is implicit (Theorem 1). GD
with weight decay λ (θ ← θ − γ∇L − λθ) over a grid of λ, and 1-SAM over a
grid of ρ (paper's units), both at γ = 5/d for 10⁴ + 1 iterations from
α = 0.05, seeds 0–9. Each knob trades training loss for sparsity, so the
figure sets the test loss and the share of ‖β‖₁ off the support of β*
against the final training loss: at equal training loss, which is better.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import dlnsam
from dlnsam import GD, PAPER, SAM, paper_problem, paper_rho, plots

LR = 5 / PAPER.d


def rows(quick: bool) -> list[dict]:
    decays = (1e-5, 3e-4) if quick else tuple(np.geomspace(1e-6, 1e-3, 7).round(8))
    rhos = (0.03, 0.2) if quick else (0.01, 0.03, 0.05, 0.1, 0.15, 0.2, 0.3)
    out = []
    for seed in range(2 if quick else 10):
        p = paper_problem(seed)
        runs = [("GD + weight decay", float(lam), GD(weight_decay=float(lam))) for lam in decays]
        runs += [("1-SAM", rho, SAM(paper_rho(rho, 1), m=1)) for rho in rhos]
        for label, knob, algorithm in runs:
            res = dlnsam.run(p, algorithm, lr=LR, steps=PAPER.steps, alpha=PAPER.alpha)
            mass = float(np.abs(res.beta).sum())
            off = float(np.abs(res.beta[p.beta_star == 0]).sum()) / mass if mass > 0 else None
            out.append({"label": label, "knob": knob, "seed": seed,
                        "train_loss": res.train_loss, "test_loss": res.test_loss,
                        "off_support": off})  # fmt: skip
    return out


def run(quick: bool, results: Path) -> dict[str, Figure]:
    fig = plots.trade_off(
        rows(quick), {"test_loss": "test loss", "off_support": "share of ‖β‖₁ off the support"},
        x_key="train_loss", xlabel="final training loss", param_key="knob",
        title="Weight decay (λ) against 1-SAM (ρ) at matched training loss",
    )  # fmt: skip
    return {"paper_weight_decay": fig}
