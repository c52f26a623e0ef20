"""g: Theorem 2 — the convergence rates of stochastic SAM in T and in b, with the bounds.

Runs :func:`dlnsam.verify.theorem2.theorem2` (the same check as ``dlnsam verify
theorem2``), at its publication sizes unless quick.
"""

from __future__ import annotations

import json
from pathlib import Path

from matplotlib.figure import Figure

from dlnsam import plots
from dlnsam.verify import render
from dlnsam.verify.theorem2 import theorem2


def run(quick: bool, results: Path) -> dict[str, Figure]:
    report = theorem2(full=not quick)
    results.mkdir(parents=True, exist_ok=True)
    name = f"theorem2{'-quick' if quick else ''}.json"
    (results / name).write_text(json.dumps(render(report.to_report(), "json"), indent=1) + "\n")
    return {"g_theorem2_rates": plots.theorem2_rates(report)}
