"""paper_finetune*: fine-tuning ERM with 1-SAM (and 1-SAM with ERM) in the paper's setting.

As in the paper: ERM (GD) for 10⁴ steps at γ = 1/d from α = 0.05, then 1-SAM
at a large radius for 10⁴ more; and 1-SAM (ρ = 0.1 in the paper's units)
first, then ERM. Radii are in the paper's units (:func:`dlnsam.paper_rho`).

- ``paper_finetune``: train and test loss across the switch, over seeds 0–7,
  each fine-tuned at the largest radius of the grid at which its fine-tuning
  does not diverge (ρ = 10 on the paper's data, seed 0).
- ``paper_finetune_radius``: over seeds 0–7 and a grid of fine-tuning radii,
  the test loss before and after, the measured α̂ of the fine-tuned solution
  against Theorem 1's prediction α e^(−Δ) for the flow started at the same
  switch point (gradient flow for the time 10⁴ γ, then the 1-SAM flow), and
  the loss integrals after the switch of the discrete run and of the flow.
- ``paper_interpolation``: train and test loss along the segment θ(t) =
  (1 − t) θ_ERM + t θ_ERM→1-SAM, t from −1 to 2 (the same runs).
- ``paper_finetune_table.md``: the numbers of seed 0, and a summary over the seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import dlnsam
from dlnsam import GD, PAPER, SAM, hypentropy, paper_problem, paper_rho, plots

LR = 1 / PAPER.d
PHASE = 10_000
FINETUNE_RHO, FIRST_RHO = 10.0, 0.1  # paper's units: the large fine-tuning radius, 1-SAM first
RADII = (0.3, 1.0, 2.0, 5.0, 10.0, 20.0)


def _one_sam(rho_ref: float) -> SAM:
    return SAM(paper_rho(rho_ref, 1), m=1)


TUNED = "ERM → 1-SAM (the seed's largest stable ρ)"


def _curves(p: dlnsam.Problem, rho: float) -> tuple[dict, dlnsam.RunResult, dlnsam.RunResult]:
    """The four schedules on one problem, fine-tuning at ``rho``: curves, ERM and ERM → 1-SAM."""
    erm, sam = GD(), _one_sam(rho)
    schedules = {
        "ERM": [(erm, 2 * PHASE)],
        TUNED: [(erm, PHASE), (sam, PHASE)],
        f"1-SAM (ρ={FIRST_RHO:g}) → ERM": [(_one_sam(FIRST_RHO), PHASE), (erm, PHASE)],
        f"1-SAM (ρ={FIRST_RHO:g})": [(_one_sam(FIRST_RHO), 2 * PHASE)],
    }
    runs = {k: dlnsam.run_schedule(p, s, lr=LR, alpha=PAPER.alpha)
            for k, s in schedules.items()}  # fmt: skip
    curves = {k: (r.history.steps, r.history.train_loss, r.history.test_loss)
              for k, r in runs.items()}  # fmt: skip
    return curves, runs["ERM"], runs[TUNED]


def _geometric_mean(a: np.ndarray) -> float:
    return float(np.exp(np.log(a).mean()))


def radius_rows(seeds: range, radii: tuple[float, ...]) -> list[dict]:
    """Per seed and radius: the discrete fine-tuning run and the flow from the same switch."""
    rows = []
    for seed in seeds:
        p = paper_problem(seed)
        erm = dlnsam.run(p, GD(), lr=LR, steps=PHASE, alpha=PAPER.alpha)
        # The flow of the same schedule: gradient flow for the time PHASE·γ, then the 1-SAM flow.
        gf = dlnsam.flow(p, GD(), alpha=PAPER.alpha, t_max=PHASE * LR, loss_tol=1e-30)
        for rho in radii:
            tuned = dlnsam.run(p, _one_sam(rho), lr=LR, steps=PHASE, u0=erm.u, v0=erm.v)
            fl = dlnsam.flow(p, _one_sam(rho), u0=gf.u, v0=gf.v, method="BDF", t_max=1e7)
            alpha_eff = PAPER.alpha * np.exp(-fl.delta)  # Theorem 1's identity from the switch
            exact = hypentropy.solve(p.X, p.y, alpha_eff).beta
            ok = tuned.status.value != "diverged"
            rows.append({
                "seed": seed, "rho": rho, "status": tuned.status.value,
                "base_test_loss": erm.test_loss, "base_train_loss": erm.train_loss,
                "test_loss": tuned.test_loss if ok else None,
                "train_loss": tuned.train_loss if ok else None,
                "integral_after": tuned.integral_loss if ok else None,
                "alpha_fit": hypentropy.fit_alpha(p.X, tuned.beta).alpha if ok else None,
                "flow_status": fl.status.value, "flow_test_loss": fl.test_loss,
                "flow_alpha_eff": _geometric_mean(alpha_eff),
                "flow_integral_after": fl.integral_loss,
                "flow_identity_error": float(np.abs(exact - fl.beta).max()
                                             / np.abs(fl.beta).max()),
            })  # fmt: skip
    return rows


def _table(all_rows: list[dict]) -> str:
    """The seed-0 rows as a markdown table, then a summary over every seed per radius."""
    def g(x: float | None) -> str:
        return "—" if x is None else f"{x:.3g}"

    rows = [r for r in all_rows if r["seed"] == 0]
    base = rows[0]
    lines = [
        "Fine-tuning ERM with 1-SAM on the paper's data (`paper_problem(0)`): ERM for "
        f"{PHASE} steps at γ = 1/d from α = {PAPER.alpha} (train loss "
        f"{base['base_train_loss']:.3g}, test loss {base['base_test_loss']:.3g}), then 1-SAM for "
        f"{PHASE} steps. The flow runs the same schedule with γ → 0: gradient flow for the time "
        f"{PHASE} γ, then the 1-SAM flow to convergence; Theorem 1's identity from the switch "
        "predicts its limit, β*(α e^(−Δ)), to the given relative error. Made by "
        "`dlnsam figures --only paper_finetune`.",
        "",
        "| ρ (paper) | ρ (dlnsam) | run | test loss | train loss | Σ γ L after | α̂ | "
        "flow α e^(−Δ) | flow ∫ L after | flow test loss | identity error |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['rho']:g} | {paper_rho(r['rho'], 1):g} | {r['status']} | {g(r['test_loss'])} | "
            f"{g(r['train_loss'])} | {g(r['integral_after'])} | {g(r['alpha_fit'])} | "
            f"{g(r['flow_alpha_eff'])} | {g(r['flow_integral_after'])} | "
            f"{g(r['flow_test_loss'])} | {r['flow_identity_error']:.1e} |"
        )
    seeds = sorted({r["seed"] for r in all_rows})
    lines += [
        "",
        f"Over seeds {seeds[0]}–{seeds[-1]}, per radius: the runs that diverged, those whose test "
        "loss fell at least 10-fold, and the median ratio of the test loss after to before "
        "fine-tuning (over the runs that did not diverge).",
        "",
        "| ρ (paper) | diverged | fell ≥ 10× | median after / before |",
        "|---|---|---|---|",
    ]
    for rho in dict.fromkeys(r["rho"] for r in all_rows):
        group = [r for r in all_rows if r["rho"] == rho]
        ratios = [r["test_loss"] / r["base_test_loss"] for r in group if r["test_loss"] is not None]
        median = f"{np.median(ratios):.3g}" if ratios else "—"
        lines.append(f"| {rho:g} | {len(group) - len(ratios)} of {len(group)} | "
                     f"{sum(x <= 0.1 for x in ratios)} | {median} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def run(quick: bool, results: Path) -> dict[str, Figure | str]:
    seeds = range(2 if quick else 8)
    rows = radius_rows(seeds, (1.0, FINETUNE_RHO) if quick else RADII)
    ts = np.linspace(-1.0, 2.0, 61)
    per_seed, train_seg, test_seg = [], [], []
    for seed in seeds:
        p = paper_problem(seed)
        # The largest radius of the grid at which this seed's fine-tuning stays finite.
        rho = max(r["rho"] for r in rows if r["seed"] == seed and r["status"] != "diverged")
        curves, erm, tuned = _curves(p, rho)
        per_seed.append(curves)
        segment = [((1 - t) * erm.u + t * tuned.u) * ((1 - t) * erm.v + t * tuned.v) for t in ts]
        train_seg.append([p.train_loss(b) for b in segment])
        test_seg.append([p.test_loss(b) for b in segment])
    stacked = {
        label: (curves[0], *(np.array([c[label][j] for c in per_seed]) for j in (1, 2)))
        for label, curves in per_seed[0].items()
    }
    return {
        "paper_finetune": plots.switch_curves(
            stacked, PHASE, xscale="linear",
            title=f"Seeds {seeds[0]}–{seeds[-1]}; fine-tuned at each seed's largest stable ρ",
        ),
        "paper_finetune_radius": plots.finetune_radius(
            rows, xlabel="fine-tuning ρ (paper's units)"
        ),
        "paper_interpolation": plots.interpolation_losses(ts, train_seg, test_seg),
        "paper_finetune_table": _table(rows),
    }
