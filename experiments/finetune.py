"""e: fine-tuning — switching between ERM (GD) and 1-SAM during training.

Two switch times: halfway through training (in this setting both have
interpolated by then, every per-example gradient is zero and the switch
changes nothing; not so in the paper's setting, see ``paper_finetune.py``) and early
(iteration 30, as the loss starts to fall, where 1-SAM can still steer the
solution). The interpolation figure walks the straight segment in parameter
space θ = (u, v) from the ERM solution to that of ERM → 1-SAM switched early.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from dlnsam import GD, SAM, gaussian_problem, plots, run_schedule

ALPHA, LR, RHO, EARLY = 0.1, 0.05, 0.2, 30


def _curves(problems, total, switch):
    erm, sam = GD(), SAM(RHO, m=1)
    schedules = {
        "ERM": [(erm, total)],
        "1-SAM": [(sam, total)],
        "ERM → 1-SAM": [(erm, switch), (sam, total - switch)],
        "1-SAM → ERM": [(sam, switch), (erm, total - switch)],
    }
    runs = {label: [run_schedule(p, sched, lr=LR, alpha=ALPHA) for p in problems]
            for label, sched in schedules.items()}  # fmt: skip
    curves = {}
    for label, rs in runs.items():
        steps = np.unique(np.concatenate([r.history.steps for r in rs]))
        losses = [np.interp(steps, r.history.steps, r.history.test_loss) for r in rs]
        curves[label] = (steps, np.array(losses))
    return curves, runs


def run(quick: bool, results: Path) -> dict[str, Figure]:
    total = 10_000 if quick else 60_000
    problems = [gaussian_problem(30, 100, 3, seed=s) for s in range(2 if quick else 8)]
    halfway, _ = _curves(problems, total, total // 2)
    early, runs = _curves(problems, total, EARLY)
    ts = np.linspace(0.0, 1.0, 41)
    train_seg, test_seg = [], []
    for p, a, b in zip(problems, runs["ERM"], runs["ERM → 1-SAM"], strict=True):
        segment = [((1 - t) * a.u + t * b.u) * ((1 - t) * a.v + t * b.v) for t in ts]
        train_seg.append([p.train_loss(beta) for beta in segment])
        test_seg.append([p.test_loss(beta) for beta in segment])
    return {
        "e_finetune_halfway": plots.finetune_curves(halfway, switch=total // 2),
        "e_finetune_early": plots.finetune_curves(early, switch=EARLY),
        "e_interpolation": plots.interpolation_losses(ts, train_seg, test_seg),
    }
