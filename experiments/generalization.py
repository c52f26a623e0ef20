"""a, d: test loss, support recovery and distance to β* against ρ (sparse regression).

GD (ERM) against n-SAM, m-SAM and 1-SAM on a Gaussian design with a 3-sparse
β*, n = 30 < d = 100, initialized at α = 0.1, where gradient descent alone
does not find the sparse solution.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from dlnsam import plots
from dlnsam.sweep import SweepConfig, run_sweep


def config(quick: bool, results: Path) -> SweepConfig:
    rhos = np.geomspace(0.01, 0.3, 5 if quick else 10).round(4).tolist()
    train = {"lr": 0.05, "steps": 5_000 if quick else 30_000}
    return SweepConfig.from_dict(
        {
            "sweep": {"output": f"generalization{'-quick' if quick else ''}.jsonl"},
            "problem": {"n": 30, "d": 100, "k": 3, "alpha": 0.1,
                        "seed": list(range(2 if quick else 8))},
            "algorithm": [
                {"name": "gd", **train},
                {"name": "n-sam", "rho": rhos, **train},
                {"name": "m-sam", "m": [5] if quick else [2, 5, 10], "rho": rhos, **train},
                {"name": "1-sam", "rho": rhos, **train},
            ],
        },
        base_dir=results,
    )  # fmt: skip


def run(quick: bool, results: Path) -> dict[str, Figure]:
    rows = run_sweep(config(quick, results), label="generalization").rows
    return {
        "a_generalization_vs_rho": plots.generalization_vs_rho(rows),
        "d_recovery_vs_rho": plots.recovery_vs_rho(rows),
    }
