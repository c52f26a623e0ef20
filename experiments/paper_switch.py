"""paper_switch: when does SAM act? Switching between ERM and 1-SAM along training.

In the paper's setting (γ = 5/d, 10⁴ + 1 iterations, α = 0.05), ERM → 1-SAM and
1-SAM → ERM switched at iterations from 3 to 10⁴, with 1-SAM at ρ = 0.1 in the
paper's units (the best radius of its grid). The final test loss against the
switch iteration, geometric mean over seeds 0–9 with a min–max band; ERM and
1-SAM throughout are the horizontal bands. The talk's claim for deep nets is
that SAM matters most late in training; on diagonal networks Theorem 1 says
it acts through ∫L, that is while the loss falls.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from dlnsam import GD, PAPER, SAM, paper_problem, paper_rho, plots, run_schedule

LR, RHO = 5 / PAPER.d, 0.1


def rows(quick: bool) -> list[dict]:
    """Final test loss per seed, schedule and switch iteration (None: one algorithm throughout)."""
    erm, sam, total = GD(), SAM(paper_rho(RHO, 1), m=1), PAPER.steps
    switches = [10, 100, 1000] if quick else np.unique(np.geomspace(3, 10_000, 15).astype(int))
    out = []
    for seed in range(2 if quick else 10):
        p = paper_problem(seed)
        schedules = {("ERM", None): [(erm, total)], ("1-SAM", None): [(sam, total)]}
        for s in switches:
            schedules[("ERM → 1-SAM", int(s))] = [(erm, int(s)), (sam, total - int(s))]
            schedules[("1-SAM → ERM", int(s))] = [(sam, int(s)), (erm, total - int(s))]
        for (label, switch), schedule in schedules.items():
            res = run_schedule(p, schedule, lr=LR, alpha=PAPER.alpha)
            out.append({"label": label, "switch": switch, "seed": seed, "lr": LR,
                        "test_loss": res.test_loss})  # fmt: skip
    return out


def run(quick: bool, results: Path) -> dict[str, Figure]:
    fig = plots.generalization_panels(
        rows(quick), x_key="switch", xlabel="switch iteration",
        panel_title=f"γ = {{:.3g}}, 1-SAM ρ = {RHO:g} (paper's units)",
    )  # fmt: skip
    return {"paper_switch": fig}
