"""Results of the benchmark sections: checks, targets, tables, and their rendering.

The report is Markdown with aligned columns, so that the same text reads well
in a terminal and renders in ``BENCHMARKS.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from benchmarks.timing import Timing

__all__ = ["Check", "Section", "Table", "Target", "markdown", "relative_error", "speedup_target"]


@dataclass(frozen=True)
class Check:
    """An agreement check that must pass for the timings to count."""

    label: str  # what is compared with what
    error: float  # the measured discrepancy (relative unless the label says otherwise)
    tolerance: float  # the largest accepted discrepancy

    @property
    def passed(self) -> bool:
        """Whether ``error`` is finite and at most ``tolerance``."""
        return math.isfinite(self.error) and self.error <= self.tolerance


@dataclass(frozen=True)
class Target:
    """A performance target of the project, with the measured value."""

    label: str  # the comparison, e.g. '1-SAM step vs NumPy'
    goal: str  # e.g. '>= 1000x'
    measured: str  # the measured value, formatted
    met: bool | None  # None: it could not be measured

    @property
    def verdict(self) -> str:
        """``'met'``, ``'MISSED'`` or ``'not measured'``."""
        return {True: "met", False: "MISSED", None: "not measured"}[self.met]


def speedup_target(label: str, goal: float, ours: float, theirs: float | None) -> Target:
    """The target "dlnsam is at least ``goal`` times faster than a baseline".

    ``ours`` and ``theirs`` are seconds; ``theirs`` None means the baseline was
    not measured.

    Examples
    --------
    >>> t = speedup_target("GD step vs JAX", 2.0, ours=1e-6, theirs=3e-6)
    >>> t.goal, t.measured, t.verdict
    ('>= 2x', '3x', 'met')
    """
    if theirs is None:
        return Target(label, f">= {goal:g}x", "skipped", None)
    return Target(label, f">= {goal:g}x", fmt_ratio(theirs / ours), theirs / ours >= goal)


@dataclass(frozen=True)
class Table:
    """A table of formatted cells, with an optional caption."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""


@dataclass(frozen=True)
class Section:
    """One part of the suite: what was run, its tables, notes, targets and checks."""

    title: str
    setup: str
    tables: tuple[Table, ...]
    notes: tuple[str, ...] = ()
    targets: tuple[Target, ...] = ()
    checks: tuple[Check, ...] = ()


def relative_error(value: object, reference: object) -> float:
    """‖value − reference‖ / ‖reference‖ for arrays or scalars (∞ if not comparable).

    Examples
    --------
    >>> relative_error([1.0, 2.0], [1.0, 2.0]), relative_error([1.0], [1.0, 2.0])
    (0.0, inf)
    """
    a = np.asarray(value, dtype=float)
    b = np.asarray(reference, dtype=float)
    if a.shape != b.shape:
        return math.inf
    scale = float(np.linalg.norm(b))
    diff = float(np.linalg.norm(a - b))
    return diff / scale if scale > 0 else diff


def _unit(seconds: float) -> tuple[str, float]:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return unit, scale
    return "ns", 1e-9


def fmt_seconds(seconds: float) -> str:
    """A duration with a unit that keeps three significant digits.

    Examples
    --------
    >>> fmt_seconds(2.5e-7), fmt_seconds(0.0123), fmt_seconds(float("nan"))
    ('250 ns', '12.3 ms', '-')
    """
    if not math.isfinite(seconds):
        return "-"
    unit, scale = _unit(seconds)
    return f"{seconds / scale:.3g} {unit}"


def fmt_timing(timing: Timing[object], per: int = 1) -> str:
    """A median with the range of its calls, divided by ``per`` (e.g. steps per call).

    Examples
    --------
    >>> fmt_timing(Timing.of([2e-3, 3e-3, 4e-3], None), per=1000)
    '3 us (2-4)'
    >>> fmt_timing(Timing.of([2e-4, 3e-4, 8.3e-3], None))
    '300 us (200-8300)'
    >>> fmt_timing(Timing.of([2.5], None, warm=False))
    '2.5 s (1 run, no warm-up)'
    """
    median = fmt_seconds(timing.seconds / per)
    if timing.runs == 1:
        return f"{median} (1 run{'' if timing.warm else ', no warm-up'})"
    _, scale = _unit(timing.seconds / per)
    low, high = (x / per / scale for x in (timing.low, timing.high))
    return f"{median} ({low:.3g}-{high:.3g})" if high < 1000 else f"{median} ({low:.3g}-{high:.0f})"


def fmt_ratio(ratio: float) -> str:
    """A speed ratio such as ``'187x'`` or ``'0.93x'``."""
    if not math.isfinite(ratio):
        return "-"
    return f"{ratio:.3g}x" if ratio < 100 else f"{ratio:.0f}x"


def fmt_rel(error: float) -> str:
    """A relative error in scientific notation."""
    return "-" if not math.isfinite(error) else f"{error:.1e}"


def _table_lines(table: Table) -> list[str]:
    """A Markdown table, its columns padded to a common width (first left, others right)."""
    cells = [table.columns, *table.rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(table.columns))]

    def line(row: Sequence[str]) -> str:
        padded = [row[0].ljust(widths[0])]
        padded += [cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)]
        return "| " + " | ".join(padded) + " |"

    rule = [":" + "-" * (widths[0] + 1)] + ["-" * (w + 1) + ":" for w in widths[1:]]
    out = [f"*{table.caption}*", ""] if table.caption else []
    return [*out, line(table.columns), "|" + "|".join(rule) + "|", *map(line, table.rows)]


def section_text(section: Section) -> str:
    """One section: title, setup, tables and notes."""
    out = [f"## {section.title}", "", section.setup]
    for table in section.tables:
        out += ["", *_table_lines(table)]
    if section.notes:
        out += ["", *(f"- {note}" for note in section.notes)]
    return "\n".join(out) + "\n"


def summary_text(sections: Sequence[Section]) -> str:
    """The targets and agreement checks of all sections, as two tables."""
    targets = Table(
        ("target", "goal", "measured", "verdict"),
        tuple((t.label, t.goal, t.measured, t.verdict) for s in sections for t in s.targets),
        "Targets",
    )
    checks = Table(
        ("agreement check", "discrepancy", "tolerance", "verdict"),
        tuple(
            (c.label, fmt_rel(c.error), f"{c.tolerance:.0e}", "agree" if c.passed else "DISAGREE")
            for s in sections
            for c in s.checks
        ),
        "Agreement (checked before any timing counts)",
    )
    return "\n".join([*_table_lines(targets), "", *_table_lines(checks)]) + "\n"


def markdown(sections: Sequence[Section], title: str, preamble: Sequence[str]) -> str:
    """The report for ``BENCHMARKS.md``: the summary first, then every section."""
    head = "\n".join([f"# {title}", "", *preamble, "", "## Summary", "", summary_text(sections)])
    return "\n".join([head, *map(section_text, sections)])
