"""Results of the benchmark sections: checks, targets, tables, and their rendering."""

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
    needed: str = "-"  # what dlnsam would need to meet it, as 'dlnsam <= <time>/step'

    @property
    def verdict(self) -> str:
        """``'met'``, ``'MISSED'`` or ``'not measured'``."""
        return {True: "met", False: "MISSED", None: "not measured"}[self.met]


def speedup_target(
    label: str, goal: float, ours: float, theirs: float | None, unit: str = ""
) -> Target:
    """The target "dlnsam is at least ``goal`` times faster than a baseline".

    ``ours`` and ``theirs`` are seconds (per ``unit``, e.g. ``'/step'``);
    ``theirs`` None means the baseline was not measured.

    Examples
    --------
    >>> t = speedup_target("GD step vs JAX", 2.0, ours=1e-6, theirs=3e-6, unit="/step")
    >>> t.measured, t.verdict, t.needed
    ('3x', 'met', 'dlnsam <= 1.5 us/step')
    """
    if theirs is None:
        return Target(label, f">= {goal:g}x", "skipped", None)
    ratio = theirs / ours
    needed = f"dlnsam <= {fmt_seconds(theirs / goal)}{unit}"
    return Target(label, f">= {goal:g}x", fmt_ratio(ratio), ratio >= goal, needed)


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
    """
    median = fmt_seconds(timing.seconds / per)
    if timing.runs == 1 or not math.isfinite(timing.seconds):
        return median
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


def _text_table(table: Table) -> list[str]:
    cells = [table.columns, *table.rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(table.columns))]

    def line(row: Sequence[str]) -> str:
        first = row[0].ljust(widths[0])
        rest = [cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    head = line(table.columns)
    out = [table.caption] if table.caption else []
    return [*out, head, "-" * len(head), *(line(row) for row in table.rows)]


def _markdown_table(table: Table) -> list[str]:
    out = [f"*{table.caption}*", ""] if table.caption else []
    out.append("| " + " | ".join(table.columns) + " |")
    out.append("|" + "|".join([":---"] + ["---:"] * (len(table.columns) - 1)) + "|")
    return out + ["| " + " | ".join(row) + " |" for row in table.rows]


def _summary_tables(sections: Sequence[Section]) -> tuple[Table, Table]:
    targets = [t for s in sections for t in s.targets]
    checks = [c for s in sections for c in s.checks]
    target_table = Table(
        ("target", "goal", "measured", "verdict", "to meet it"),
        tuple((t.label, t.goal, t.measured, t.verdict, t.needed) for t in targets),
        "Targets",
    )
    check_table = Table(
        ("agreement check", "discrepancy", "tolerance", "verdict"),
        tuple(
            (c.label, fmt_rel(c.error), f"{c.tolerance:.0e}", "agree" if c.passed else "DISAGREE")
            for c in checks
        ),
        "Agreement (checked before any timing counts)",
    )
    return target_table, check_table


def section_text(section: Section) -> str:
    """One section as plain text, as printed when it finishes."""
    out = [f"== {section.title} ==", section.setup]
    for table in section.tables:
        out += ["", *_text_table(table)]
    out += [f"  * {note}" for note in section.notes]
    return "\n".join(out) + "\n"


def summary_text(sections: Sequence[Section]) -> str:
    """The targets and agreement checks of all sections as plain text."""
    out: list[str] = []
    for table in _summary_tables(sections):
        out += [*_text_table(table), ""]
    return "\n".join(out)


def markdown(sections: Sequence[Section], title: str, preamble: Sequence[str]) -> str:
    """The report as Markdown, for ``BENCHMARKS.md``: summary first, then every section."""
    out = [f"# {title}", "", *preamble]
    targets, checks = _summary_tables(sections)
    out += ["", "## Summary", "", *_markdown_table(targets), "", *_markdown_table(checks)]
    for section in sections:
        out += ["", f"## {section.title}", "", section.setup]
        for table in section.tables:
            out += ["", *_markdown_table(table)]
        if section.notes:
            out += [""] + [f"- {note}" for note in section.notes]
    return "\n".join(out) + "\n"
