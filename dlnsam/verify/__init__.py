"""Numerical verification of the paper's claims, as data.

A verification measures (runs flows, solves hypentropy problems), turns its
measurements into :class:`Claim` records (statement, measured value,
tolerance, verdict, evidence, figures) and returns a result whose
``to_report()`` is a :class:`Report`; :func:`render` prints a report as the
terminal table, Markdown (``report.md``) or JSON (``report.json``).
``VERIFICATIONS`` lists what ``dlnsam verify`` can run: Theorem 1
(:mod:`dlnsam.verify.implicit_bias`), the flatness claims
(:mod:`dlnsam.verify.flatness`) and Theorem 2 (:mod:`dlnsam.verify.theorem2`).
A new verification is a new module next to them, registered here.

Examples
--------
>>> from dlnsam import gaussian_problem
>>> from dlnsam.verify import render, theorem1
>>> rep = theorem1(gaussian_problem(10, 14, 2), rhos=[0.02, 0.04], workers=1)
>>> [c.name for c in rep.claims][:2]
['identity', 'exact_prediction']
>>> render(rep.to_report(), "markdown").startswith("# Theorem 1 verification")
True
"""

from __future__ import annotations

from dlnsam.hypentropy import identity_residual
from dlnsam.verify.claims import (
    Bound,
    Claim,
    Column,
    Report,
    Section,
    Table,
    Verification,
    parse_tolerance,
    render,
    resolve_tolerances,
)
from dlnsam.verify.flatness import VERIFICATION as _FLATNESS
from dlnsam.verify.flatness import FlatnessReport, FlatnessRow, flatness_claims
from dlnsam.verify.implicit_bias import (
    DEFAULT_RHOS,
    TOLERANCES,
    Theorem1Report,
    Theorem1Row,
    theorem1,
)
from dlnsam.verify.implicit_bias import (
    VERIFICATION as _THEOREM1,
)
from dlnsam.verify.theorem2 import VERIFICATION as _THEOREM2
from dlnsam.verify.theorem2 import Theorem2Report, Theorem2Row, theorem2

__all__ = [
    "DEFAULT_RHOS",
    "TOLERANCES",
    "VERIFICATIONS",
    "Bound",
    "Claim",
    "Column",
    "FlatnessReport",
    "FlatnessRow",
    "Report",
    "Section",
    "Table",
    "Theorem1Report",
    "Theorem1Row",
    "Theorem2Report",
    "Theorem2Row",
    "Verification",
    "flatness_claims",
    "identity_residual",
    "parse_tolerance",
    "render",
    "resolve_tolerances",
    "theorem1",
    "theorem2",
]

#: The verifications ``dlnsam verify`` can run, by name.
VERIFICATIONS: dict[str, Verification] = {v.name: v for v in (_THEOREM1, _FLATNESS, _THEOREM2)}
