"""Results of the benchmark sections and their rendering as text and Markdown."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Check",
    "Section",
    "Table",
    "Target",
    "fmt_ratio",
    "fmt_rel",
    "fmt_seconds",
    "markdown",
    "relative_error",
    "section_text",
    "summary_text",
]


@dataclass(frozen=True)
class Check:
    """An agreement check that must pass for the timings to count.

    Attributes
    ----------
    label : str
        What is compared with what.
    error : float
        The measured discrepancy (relative unless the label says otherwise).
    tolerance : float
        The largest accepted discrepancy.
    """

    label: str
    error: float
    tolerance: float

    @property
    def passed(self) -> bool:
        """Whether ``error`` is finite and at most ``tolerance``."""
        return math.isfinite(self.error) and self.error <= self.tolerance


@dataclass(frozen=True)
class Target:
    """A performance target of the project, with the measured value.

    Attributes
    ----------
    label : str
        The comparison, e.g. ``'1-SAM step vs NumPy loop'``.
    goal : str
        The target, e.g. ``'>= 1000x'``.
    measured : str
        The measured value, formatted.
    met : bool or None
        Whether the target is met; None when it could not be measured.
    needed : str
        What dlnsam would need to meet it, e.g. ``'dlnsam <= 158 ns/step'``.
    """

    label: str
    goal: str
    measured: str
    met: bool | None
    needed: str = "-"

    @property
    def verdict(self) -> str:
        """``'met'``, ``'MISSED'`` or ``'not measured'``."""
        return {True: "met", False: "MISSED", None: "not measured"}[self.met]


@dataclass(frozen=True)
class Table:
    """A table of formatted cells, with an optional caption."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""


@dataclass(frozen=True)
class Section:
    """One part of the suite: what was run, its tables, targets and checks."""

    title: str
    setup: str
    tables: tuple[Table, ...]
    notes: tuple[str, ...] = ()
    targets: tuple[Target, ...] = ()
    checks: tuple[Check, ...] = field(default_factory=tuple)


def relative_error(value: object, reference: object) -> float:
    """‖value − reference‖ / ‖reference‖ for arrays or scalars (∞ if not comparable)."""
    a = np.asarray(value, dtype=float)
    b = np.asarray(reference, dtype=float)
    if a.shape != b.shape:
        return math.inf
    scale = float(np.linalg.norm(b))
    diff = float(np.linalg.norm(a - b))
    return diff / scale if scale > 0 else diff


def fmt_seconds(seconds: float) -> str:
    """A duration with a unit that keeps three significant digits."""
    if not math.isfinite(seconds):
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def fmt_ratio(ratio: float) -> str:
    """A speed ratio such as ``'187x'`` or ``'0.93x'``."""
    if not math.isfinite(ratio):
        return "-"
    return f"{ratio:.3g}x" if ratio < 100 else f"{ratio:.0f}x"


def fmt_rel(error: float) -> str:
    """A relative error in scientific notation."""
    return "-" if not math.isfinite(error) else f"{error:.1e}"


def _widths(table: Table) -> list[int]:
    cells = [table.columns, *table.rows]
    return [max(len(row[i]) for row in cells) for i in range(len(table.columns))]


def _text_table(table: Table) -> list[str]:
    widths = _widths(table)

    def line(row: Sequence[str]) -> str:
        first = row[0].ljust(widths[0])
        rest = [cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    out = [table.caption] if table.caption else []
    out += [line(table.columns), "-" * len(line(table.columns))]
    out += [line(row) for row in table.rows]
    return out


def _markdown_table(table: Table) -> list[str]:
    out = [f"*{table.caption}*", ""] if table.caption else []
    out.append("| " + " | ".join(table.columns) + " |")
    out.append("|" + "|".join([":---"] + ["---:"] * (len(table.columns) - 1)) + "|")
    out += ["| " + " | ".join(row) + " |" for row in table.rows]
    return out


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
    """The report as Markdown, for ``BENCHMARKS.md``."""
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
