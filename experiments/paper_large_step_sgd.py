"""paper_large_step_sgd*: SGD with a large step learns sparse features, in the paper's setting.

SGD with one example per step for 10⁴ steps at a step γ, then γ/32 for 10⁴
more (five halvings at step 10⁴), for γ from 0.02 to 0.5, against GD at
γ = 5/d and small-step SGD (γ = 0.02 throughout), from α = 0.05, seeds 0–9.
A large step keeps the loss from converging during the first phase (it
stabilizes at a level set by γ); the decay then lets it converge.

- ``paper_large_step_sgd``: against γ, the final test loss, the measured α̂
  of the final solution (``hypentropy.fit_alpha``) and the share of ‖β‖₁ off
  the support of β*; diverged runs are left out.
- ``paper_large_step_sgd_curves``: train and test loss over training at
  γ = 0.02, 0.3 and 0.4 (the seeds that did not diverge): the
  loss-stabilization phase before the decay.
- ``paper_large_step_sgd_table.md``: the same numbers, with support recovery.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import dlnsam
from dlnsam import GD, PAPER, SGD, hypentropy, paper_problem, plots, support_recovery

PHASE, HALVINGS, SMALL, SHOWN = 10_000, 5, 0.02, (0.02, 0.3, 0.4)


def _measure(p: dlnsam.Problem, res: dlnsam.RunResult, label: str, lr: float | None,
             seed: int) -> dict:  # fmt: skip
    ok = res.status.value != "diverged"
    beta, star = res.beta, p.beta_star
    off = float(np.abs(beta[star == 0]).sum() / np.abs(beta).sum()) if ok else None
    return {
        "label": label, "lr": lr, "seed": seed, "status": res.status.value,
        "test_loss": res.test_loss if ok else None,
        "alpha_fit": hypentropy.fit_alpha(p.X, beta).alpha if ok else None,
        "off_support": off, "recovery": support_recovery(beta, star) if ok else None,
        "history_steps": res.history.steps, "history_train": res.history.train_loss,
        "history_test": res.history.test_loss,
    }  # fmt: skip


def rows(quick: bool) -> list[dict]:
    lrs = (0.02, 0.3) if quick else (0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5)
    out = []
    for seed in range(2 if quick else 10):
        p = paper_problem(seed)
        common = {"steps": 2 * PHASE, "alpha": PAPER.alpha}
        gd = dlnsam.run(p, GD(), lr=5 / PAPER.d, **common)
        small = dlnsam.run(p, SGD(1), lr=SMALL, seed=seed, **common)
        out += [_measure(p, gd, "GD (γ = 5/d)", None, seed),
                _measure(p, small, f"SGD (γ = {SMALL:g})", None, seed)]  # fmt: skip
        for lr in lrs:
            res = dlnsam.run(p, SGD(1), lr=lr, seed=seed, lr_decay=[PHASE] * HALVINGS,
                             **common)  # fmt: skip
            out.append(_measure(p, res, "SGD, large step then decay", lr, seed))
    return out


def table(rows: list[dict]) -> str:
    lines = [
        f"SGD (b = 1) for {PHASE} steps at γ, then γ/{2**HALVINGS} for {PHASE} more, in the "
        "paper's setting: geometric means over the seeds that did not diverge (their count) of "
        "the final test loss, α̂ and the share of ‖β‖₁ off the support, and the mean support "
        "recovery. Made by `dlnsam figures --only paper_large_step_sgd`.",
        "",
        "| run | γ | seeds | test loss | α̂ | off-support share | support recovery |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in dict.fromkeys((r["label"], r["lr"]) for r in rows):
        group = [r for r in rows if (r["label"], r["lr"]) == key and r["test_loss"] is not None]
        n_all = sum((r["label"], r["lr"]) == key for r in rows)
        if not group:
            lines.append(f"| {key[0]} | {key[1]:g} | 0 of {n_all} | — | — | — | — |")
            continue
        gm = [float(np.exp(np.mean(np.log([max(r[k], 1e-300) for r in group]))))
              for k in ("test_loss", "alpha_fit", "off_support")]  # fmt: skip
        rec = float(np.mean([r["recovery"] for r in group]))
        lr = "—" if key[1] is None else f"{key[1]:g}"
        lines.append(f"| {key[0]} | {lr} | {len(group)} of {n_all} | {gm[0]:.3g} | {gm[1]:.2g} "
                     f"| {gm[2]:.2g} | {rec:.2f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def run(quick: bool, results: Path) -> dict[str, Figure | str]:
    grid = rows(quick)
    metrics = {"test_loss": "test loss", "alpha_fit": "measured α̂",
               "off_support": "share of ‖β‖₁ off the support"}  # fmt: skip
    shown = [dict(r, label=f"SGD γ = {r['lr']:g}") for r in grid
             if r["lr"] in SHOWN and r["test_loss"] is not None]  # fmt: skip
    return {
        "paper_large_step_sgd": plots.metrics_against(
            grid, metrics, x_key="lr", xlabel="SGD step γ before the decay",
            title="Large-step SGD, then a step decay (diverged runs left out)",
        ),
        "paper_large_step_sgd_curves": plots.loss_curves(shown),
        "paper_large_step_sgd_table": table(grid),
    }  # fmt: skip
