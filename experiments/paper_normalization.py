"""paper_normalization: normalized against unnormalized SAM, at matched radii.

The paper's setting (γ = 5/d, 10⁴ + 1 iterations, α = 0.05, seeds 0–9), without
label noise and with σ = 0.5 on the training labels. n-SAM and 1-SAM ascend
along ρ ∇L_S (unnormalized) or ρ' ∇L_S / ‖∇L_S‖ (normalized, the original SAM).
Matching: ρ' = ρ · G, with G the mean over the micro-batches S of ‖∇L_S(θ_0)‖
at the initialization θ_0 = (2α, 0), i.e. 2α ‖Xᵀy‖ / n for n-SAM and
2α · mean_k |y_k| ‖x_k‖ for 1-SAM: both ascents have the same length at the
first step. The horizontal axis is the unnormalized radius in the paper's units.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import dlnsam
from dlnsam import GD, PAPER, SAM, paper_problem, paper_rho, plots

LR, NOISES = 5 / PAPER.d, (0.0, 0.5)


def initial_gradient_norm(p: dlnsam.Problem, m: int | None) -> float:
    """Mean over micro-batches of ‖∇L_S(θ_0)‖ at θ_0 = (2α, 0), for m = 1 or n (None)."""
    scale = 2 * PAPER.alpha  # at v = 0, ∇_u L_S = 0 and ∇_v L_S = 2α g_S with g_S = −X_Sᵀy_S/|S|
    if m is None:
        return scale * float(np.linalg.norm(p.X.T @ p.y)) / p.n
    return scale * float(np.mean(np.abs(p.y) * np.linalg.norm(p.X, axis=1)))


def rows(quick: bool) -> list[dict]:
    rhos = (0.03, 0.3) if quick else (0.01, 0.03, 0.1, 0.3, 1.0)
    out = []
    for seed in range(2 if quick else 10):
        for noise in NOISES:
            p = paper_problem(seed, noise=noise)
            runs = [("GD", None, GD())]
            for m, name in ((None, "n-SAM"), (1, "1-SAM")):
                g = initial_gradient_norm(p, m)
                for rho in rhos:
                    plain = paper_rho(rho, m)
                    matched = SAM(plain * g, m=m, normalize=True)
                    runs += [(name, rho, SAM(plain, m=m)), (f"{name} (normalized)", rho, matched)]
            for label, rho, algorithm in runs:
                res = dlnsam.run(p, algorithm, lr=LR, steps=PAPER.steps, alpha=PAPER.alpha)
                ok = res.status.value != "diverged"
                out.append({"label": label, "rho": rho, "noise": noise, "seed": seed,
                            "test_loss": res.test_loss if ok else None})  # fmt: skip
    return out


def run(quick: bool, results: Path) -> dict[str, Figure]:
    fig = plots.generalization_panels(
        rows(quick), panel_key="noise", xlabel="ρ, unnormalized (paper's units)",
        panel_title="label noise σ = {:g}",
        title="Normalized against unnormalized SAM at matched radii",
    )  # fmt: skip
    return {"paper_normalization": fig}
