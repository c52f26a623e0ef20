"""h: flatness at the limit — trace and λ_max against m and against ρ, flows and runs.

Runs :func:`dlnsam.verify.flatness.flatness_claims` (the same check as
``dlnsam verify flatness``) on its default problems.
"""

from __future__ import annotations

import json
from pathlib import Path

from matplotlib.figure import Figure

from dlnsam import plots
from dlnsam.verify import flatness_claims


def run(quick: bool, results: Path) -> dict[str, Figure]:
    report = flatness_claims(seeds=range(4) if quick else range(8))
    results.mkdir(parents=True, exist_ok=True)
    name = f"flatness{'-quick' if quick else ''}.json"
    (results / name).write_text(json.dumps(report.to_dict(), indent=1) + "\n")
    return {"h_flatness": plots.flatness_measures(report)}
