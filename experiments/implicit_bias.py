"""d: the implicit-bias picture — the hypentropy path β*(α), from the dense ℓ2
solution (large α) to the sparse ℓ1 solution (small α), with the solutions of
GD, n-SAM and 1-SAM placed on it by the α̂ of the nearest point of the path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from dlnsam import gaussian_problem, hypentropy, plots
from dlnsam.sweep import SweepConfig, run_sweep

PROBLEM = {"n": 30, "d": 100, "k": 3, "alpha": 0.1, "seed": 0}


def config(quick: bool, results: Path) -> SweepConfig:
    train = {"lr": 0.05, "steps": 5_000 if quick else 30_000}
    return SweepConfig.from_dict(
        {
            "sweep": {"output": f"implicit_bias{'-quick' if quick else ''}.jsonl"},
            "problem": PROBLEM,
            "algorithm": [
                {"name": "gd", **train},
                {"name": "n-sam", "rho": 0.2, **train},
                {"name": "1-sam", "rho": [0.05, 0.1, 0.2], **train},
            ],
            "outputs": {"path_alpha": True},
        },
        base_dir=results,
    )


def run(quick: bool, results: Path) -> dict[str, Figure]:
    rows = run_sweep(config(quick, results), label="implicit_bias").rows
    problem = gaussian_problem(PROBLEM["n"], PROBLEM["d"], PROBLEM["k"], seed=PROBLEM["seed"])
    alphas = np.geomspace(1e-4, 10.0, 40 if quick else 120)
    path = hypentropy.path(problem.X, problem.y, alphas)
    placements = {
        plots.algorithm_label(r) + (f" ρ={r['rho']:g}" if r.get("rho") else ""): r["alpha_path"]
        for r in rows
    }
    return {"d_implicit_bias_path": plots.implicit_bias_path(alphas, path, placements,
                                                             problem.beta_star)}  # fmt: skip
