"""f: m-sharpness — test loss and effective α against the micro-batch size m of
SAM at a fixed radius: the link between 1-SAM and micro-batch SAM (mSAM).
Discrete runs are placed on the hypentropy path (α̂); the flows give the exact
α e^{−Δ} (geometric mean over coordinates)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from dlnsam import plots
from dlnsam.sweep import SweepConfig, run_sweep


def config(quick: bool, results: Path) -> SweepConfig:
    ms = [1, 3, 10] if quick else [1, 2, 3, 5, 6, 10, 15]
    steps = 5_000 if quick else 30_000
    return SweepConfig.from_dict(
        {
            "sweep": {"output": f"m_sharpness{'-quick' if quick else ''}.jsonl"},
            "problem": {"n": 30, "d": 100, "k": 3, "alpha": 0.1,
                        "seed": list(range(2 if quick else 6))},
            "algorithm": [
                {"name": "m-sam", "m": ms, "rho": 0.15, "lr": 0.05, "steps": steps},
                {"name": "n-sam", "rho": 0.15, "lr": 0.05, "steps": steps},
                {"name": "m-sam", "m": ms, "rho": 0.15, "mode": "flow", "t_max": 1e5},
                {"name": "n-sam", "rho": 0.15, "mode": "flow", "t_max": 1e5},
            ],
            "outputs": {"path_alpha": True},
        },
        base_dir=results,
    )  # fmt: skip


def run(quick: bool, results: Path) -> dict[str, Figure]:
    rows = run_sweep(config(quick, results), label="m_sharpness").rows
    return {"f_m_sharpness": plots.m_sharpness(rows)}
