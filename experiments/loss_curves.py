"""b: training and test loss against the iteration for GD, SGD, n-SAM and 1-SAM."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from dlnsam import plots
from dlnsam.sweep import SweepConfig, run_sweep


def config(quick: bool, results: Path) -> SweepConfig:
    train = {"lr": 0.05, "steps": 5_000 if quick else 50_000}
    return SweepConfig.from_dict(
        {
            "sweep": {"output": f"loss_curves{'-quick' if quick else ''}.jsonl"},
            "problem": {"n": 30, "d": 100, "k": 3, "alpha": 0.1,
                        "seed": list(range(2 if quick else 8))},
            "algorithm": [
                {"name": "gd", **train},
                {"name": "sgd", "batch_size": 5, **train},
                {"name": "n-sam", "rho": 0.1, **train},
                {"name": "1-sam", "rho": 0.1, **train},
            ],
            "outputs": {"history": True},
        },
        base_dir=results,
    )  # fmt: skip


def run(quick: bool, results: Path) -> dict[str, Figure]:
    rows = run_sweep(config(quick, results), label="loss_curves").rows
    return {"b_loss_curves": plots.loss_curves(rows)}
