"""Claims as data: a verification is a list of checked claims, rendered one way.

A :class:`Claim` records what is claimed, the value measured, the accepted
range (:class:`Bound`), the verdict, a small table of evidence and the figures
that show it. A :class:`Report` holds the claims of one verification with its
settings, a main table and a few text sections, and :func:`render` turns it
into the terminal text, Markdown (``report.md``) or a JSON-ready dictionary
(``report.json``): the three formats come from the same records, so a column
or a claim added to a verification appears in all of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, overload

from dlnsam.results import json_safe

__all__ = [
    "Bound",
    "Claim",
    "Column",
    "Renders",
    "Report",
    "Section",
    "Table",
    "Verification",
    "parse_tolerance",
    "pick",
    "render",
    "resolve_tolerances",
]

#: A tolerance as given by the user: an upper bound or a (low, high) range.
ToleranceValue = float | tuple[float, float]


@dataclass(frozen=True)
class Bound:
    """The values a claim accepts: lo <= v <= hi, or lo < v < hi when ``strict``.

    Examples
    --------
    >>> from dlnsam.verify.claims import Bound
    >>> str(Bound.at_most(1e-8)), str(Bound.within(1.8, 2.2)), str(Bound.above(0.0))
    ('<= 1e-08', '[1.8, 2.2]', '> 0')
    >>> Bound.within(1.8, 2.2).holds(2.0), Bound.above(0.0).holds(0.0)
    (True, False)
    >>> Bound.of((0.5, 2.0)) == Bound.within(0.5, 2.0), Bound.of(1e-8) == Bound.at_most(1e-8)
    (True, True)
    """

    lo: float = -math.inf
    hi: float = math.inf
    strict: bool = False

    @classmethod
    def of(cls, tolerance: ToleranceValue) -> Bound:
        """A tolerance as given by the user: an upper bound, or a (low, high) range."""
        if isinstance(tolerance, tuple):
            return cls.within(*tolerance)
        return cls.at_most(tolerance)

    @classmethod
    def at_most(cls, hi: float) -> Bound:
        return cls(hi=hi)

    @classmethod
    def within(cls, lo: float, hi: float) -> Bound:
        return cls(lo, hi)

    @classmethod
    def above(cls, lo: float) -> Bound:
        return cls(lo=lo, strict=True)

    @classmethod
    def below(cls, hi: float) -> Bound:
        return cls(hi=hi, strict=True)

    def holds(self, value: float) -> bool:
        """Whether ``value`` lies in the bound (NaN never does)."""
        if not math.isfinite(value):
            return False
        if self.strict:
            return self.lo < value < self.hi
        return self.lo <= value <= self.hi

    def __str__(self) -> str:
        lo, hi = f"{self.lo:.3g}", f"{self.hi:.3g}"
        if self.lo == -math.inf:
            return f"{'<' if self.strict else '<='} {hi}"
        if self.hi == math.inf:
            return f"{'>' if self.strict else '>='} {lo}"
        return f"({lo}, {hi})" if self.strict else f"[{lo}, {hi}]"


@dataclass(frozen=True)
class Column:
    """One column of a table: where its values come from and how they print.

    Attributes
    ----------
    key : str
        Attribute (or mapping key) of a record that holds the value; the
        column's name in JSON.
    header : str
        Header in Markdown.
    spec : str
        Format spec of a number (``format(value, spec)``).
    floor : float
        Values below it print as ``<floor``: digits under it are rounding.
    text : str or None
        Header in the terminal table; None leaves the column out of it.
    width : int
        Width in the terminal table.
    left : bool
        Left-align in the terminal table (text columns).
    clip : bool
        Cut a longer cell to ``width`` in the terminal table.
    """

    key: str
    header: str
    spec: str = ""
    floor: float = 0.0
    text: str | None = None
    width: int = 9
    left: bool = False
    clip: bool = False

    def cell(self, value: Any) -> str:
        """The value as printed: '-' for a missing or non-finite number."""
        if value is None:
            return "-"
        if isinstance(value, str):
            return value
        if isinstance(value, float) and not math.isfinite(value):
            return "-"
        if value < self.floor:
            return f"<{self.floor:.0e}"
        return format(value, self.spec)

    def text_cell(self, value: Any) -> str:
        """The cell padded (and clipped) for the terminal table."""
        cell = self.cell(value)
        if self.clip:
            cell = cell[: self.width]
        return f"{cell:<{self.width}}" if self.left else f"{cell:>{self.width}}"


def _cell(text: str) -> str:
    """A Markdown table cell: a bare | would end it (as in ‖β‖ written with bars)."""
    return text.replace("|", "\\|")


def pick(columns: Sequence[Column], *keys: str) -> tuple[Column, ...]:
    """The columns of ``columns`` named by ``keys``, in that order.

    Examples
    --------
    >>> cols = (Column("a", "A"), Column("b", "B"))
    >>> [c.key for c in pick(cols, "b", "a")]
    ['b', 'a']
    """
    by_key = {c.key: c for c in columns}
    return tuple(by_key[k] for k in keys)


@dataclass(frozen=True)
class Table:
    """Columns and rows of raw values (one value per column), e.g. a claim's evidence.

    Examples
    --------
    >>> from dlnsam.verify.claims import Column, Table
    >>> t = Table.of([Column("rho", "ρ", "g"), Column("err", "error", ".1e")],
    ...              [{"rho": 0.1, "err": 3e-12}])
    >>> t.rows
    ((0.1, 3e-12),)
    """

    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]

    @classmethod
    def of(cls, columns: Sequence[Column], records: Iterable[Any]) -> Table:
        """A table of ``records`` (objects or mappings) read through the columns' keys."""

        def get(record: Any, key: str) -> Any:
            return record[key] if isinstance(record, Mapping) else getattr(record, key)

        cols = tuple(columns)
        return cls(cols, tuple(tuple(get(r, c.key) for c in cols) for r in records))

    def to_dict(self) -> dict[str, Any]:
        return {"columns": [c.key for c in self.columns], "rows": [list(r) for r in self.rows]}

    def to_text(self) -> str:
        """Fixed-width text of the columns that have a terminal header."""
        shown = [i for i, c in enumerate(self.columns) if c.text is not None]
        cols = [self.columns[i] for i in shown]
        head = " ".join(f"{c.text:<{c.width}}" if c.left else f"{c.text:>{c.width}}" for c in cols)
        lines = [head, "-" * len(head)]
        for row in self.rows:
            lines.append(" ".join(c.text_cell(row[i]) for c, i in zip(cols, shown, strict=True)))
        return "\n".join(lines)

    def to_markdown(self) -> str:
        """A Markdown table of all the columns."""
        cols = self.columns
        out = ["| " + " | ".join(_cell(c.header) for c in cols) + " |", "|" + "---|" * len(cols)]
        for row in self.rows:
            cells = (_cell(c.cell(v)) for c, v in zip(cols, row, strict=True))
            out.append("| " + " | ".join(cells) + " |")
        return "\n".join(out)


@dataclass(frozen=True)
class Claim:
    """One checked claim: statement, measured value, tolerance, verdict, evidence.

    Attributes
    ----------
    name : str
        Short identifier, e.g. ``exact_prediction``.
    statement : str
        The claim in words.
    value : float or tuple of float
        What was measured; a tuple when the claim is about every one of
        several values (e.g. one per flow).
    tolerance : Bound
        The accepted values.
    measured : str
        The measurement in words (the value with its context).
    detail : str
        What was left out of the check and why, if anything.
    evidence : Table or None
        The rows the value was measured on.
    figures : tuple of str
        File names of the figures that show the claim.

    Notes
    -----
    The verdict is derived, never stored: the claim passes when it has a value
    and every value lies in the tolerance.

    Examples
    --------
    >>> from dlnsam.verify.claims import Bound, Claim
    >>> Claim("slope", "slope near 2", 1.97, Bound.within(1.8, 2.2), "1.970").passed
    True
    >>> Claim("typical", "ratios near 1", (0.9, 1.7), Bound.within(0.5, 1.5), "").passed
    False
    >>> Claim("exact", "no flow to check", (), Bound.at_most(1e-8), "").passed
    False
    """

    name: str
    statement: str
    value: float | tuple[float, ...]
    tolerance: Bound
    measured: str
    detail: str = ""
    evidence: Table | None = None
    figures: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """True when there is a value and every value lies in the tolerance."""
        values = self.value if isinstance(self.value, tuple) else (self.value,)
        return bool(values) and all(self.tolerance.holds(v) for v in values)

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "statement": self.statement,
            "passed": self.passed,
            "value": self.value,
            "measured": self.measured,
            "tolerance": str(self.tolerance),
            "bound": [self.tolerance.lo, self.tolerance.hi, self.tolerance.strict],
            "detail": self.detail,
            "evidence": None if self.evidence is None else self.evidence.to_dict(),
            "figures": list(self.figures),
        }


@dataclass(frozen=True)
class Section:
    """A titled list of text lines (e.g. fitted slopes, skipped comparisons)."""

    title: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Report:
    """A verification's outcome in the form :func:`render` prints.

    Attributes
    ----------
    name : str
        The verification's name (its key in ``dlnsam.verify.VERIFICATIONS``).
    title : str
        Heading of the Markdown report.
    headline, intro : str
        The problem and settings in one line (terminal) and one paragraph (Markdown).
    claims : tuple of Claim
    table : Table or None
        The main table (one row per measured case).
    legend : str
        What the terminal table's short headers mean.
    sections : tuple of Section
        Further results, printed after the table.
    settings : dict
        Tolerances and settings that produced the claims.
    wall_time : float
        Seconds of the whole verification.
    data : dict
        Further JSON fields (the raw rows and fitted numbers).
    """

    name: str
    title: str
    headline: str
    intro: str
    claims: tuple[Claim, ...]
    table: Table | None = None
    legend: str = ""
    sections: tuple[Section, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    wall_time: float = 0.0
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when every claim passed (and there is at least one)."""
        return bool(self.claims) and all(c.passed for c in self.claims)


def _text(report: Report) -> str:
    lines = [report.headline]
    if report.table is not None:
        lines += ["", report.table.to_text()]
    if report.legend:
        lines += ["", report.legend]
    for s in report.sections:
        lines += ["", f"{s.title}:", *(f"  {line}" for line in s.lines)]
    lines += ["", "claims:"]
    for c in report.claims:
        lines.append(f"  [{c.verdict}] {c.statement}: {c.measured} (tolerance {c.tolerance})")
        if c.detail:
            lines.append(f"         {c.detail}")
    overall = "PASS" if report.passed else "FAIL"
    lines += ["", f"overall: {overall} in {report.wall_time:.1f} s"]
    return "\n".join(lines)


def _markdown(report: Report, wall_time: bool) -> str:
    out = [f"# {report.title}", "", report.intro]
    if report.table is not None:
        out += ["", report.table.to_markdown()]
    out += ["", "## Claims", ""]
    for c in report.claims:
        line = f"- **{c.verdict}** {c.statement}: {c.measured} (tolerance {c.tolerance})."
        out.append(f"{line} {c.detail}".rstrip())
    for s in report.sections:
        out += ["", f"{s.title}:", "", *(f"- {line}" for line in s.lines)]
    evidence = [c for c in report.claims if c.evidence is not None or c.figures]
    if evidence:
        out += ["", "## Evidence"]
    for c in evidence:
        out += ["", f"### {c.name}", ""]
        if c.evidence is not None:
            out += [c.evidence.to_markdown(), ""]
        if c.figures:
            out += ["Figures: " + ", ".join(f"`{f}`" for f in c.figures), ""]
        out.pop()
    if wall_time:
        out += ["", f"Wall time: {report.wall_time:.1f} s"]
    return "\n".join(out) + "\n"


def _json(report: Report) -> dict[str, Any]:
    out = {
        "verification": report.name,
        "title": report.title,
        "passed": report.passed,
        **report.data,
        "claims": [c.to_dict() for c in report.claims],
        "settings": dict(report.settings),
        "wall_time": report.wall_time,
    }
    safe: dict[str, Any] = json_safe(out)
    return safe


@overload
def render(
    report: Report, fmt: Literal["text", "markdown"] = "text", *, wall_time: bool = True
) -> str: ...


@overload
def render(report: Report, fmt: Literal["json"], *, wall_time: bool = True) -> dict[str, Any]: ...


def render(
    report: Report, fmt: Literal["text", "markdown", "json"] = "text", *, wall_time: bool = True
) -> str | dict[str, Any]:
    """Render a report as terminal text, Markdown, or a JSON-ready dictionary.

    Parameters
    ----------
    report : Report
    fmt : {'text', 'markdown', 'json'}
        'text': the table, sections and one PASS/FAIL line per claim; 'markdown':
        the same with the evidence of every claim (``report.md``); 'json': a
        dictionary of plain values, NaN as None (``report.json``).
    wall_time : bool, default True
        Whether Markdown ends with the wall time; leave it out for a page that
        must not change from run to run.

    Returns
    -------
    str or dict

    Examples
    --------
    >>> from dlnsam.verify.claims import Bound, Claim, Report, render
    >>> rep = Report("demo", "Demo", "demo on a toy", "A toy.",
    ...              (Claim("slope", "slope near 2", 1.97, Bound.within(1.8, 2.2), "1.970"),))
    >>> print(render(rep).splitlines()[-3])
      [PASS] slope near 2: 1.970 (tolerance [1.8, 2.2])
    >>> render(rep, "json")["claims"][0]["passed"]
    True
    """
    if fmt == "text":
        return _text(report)
    if fmt == "markdown":
        return _markdown(report, wall_time)
    if fmt == "json":
        return _json(report)
    raise ValueError(f"fmt must be 'text', 'markdown' or 'json', got {fmt!r}")


def resolve_tolerances(
    defaults: Mapping[str, ToleranceValue], overrides: Mapping[str, Any] | None
) -> dict[str, ToleranceValue]:
    """The defaults with ``overrides`` applied, each checked against its default's kind.

    An upper bound (a float default) takes a positive float; a range (a pair)
    takes a pair lo <= hi.

    Examples
    --------
    >>> from dlnsam.verify.claims import resolve_tolerances
    >>> resolve_tolerances({"exact": 1e-8, "slope": (1.8, 2.2)}, {"slope": (1.7, 2.3)})
    {'exact': 1e-08, 'slope': (1.7, 2.3)}
    """
    out = dict(defaults)
    for name, value in (overrides or {}).items():
        if name not in defaults:
            raise ValueError(
                f"tolerances: unknown tolerance {name!r}; known: {', '.join(sorted(defaults))}"
            )
        if isinstance(defaults[name], tuple):
            try:
                lo, hi = (float(v) for v in value)
            except (TypeError, ValueError):
                raise ValueError(
                    f"tolerances: {name} is a range (low, high), got {value!r}"
                ) from None
            if not lo <= hi:
                raise ValueError(f"tolerances: {name} must have low <= high, got ({lo}, {hi})")
            out[name] = (lo, hi)
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"tolerances: {name} is a number, got {value!r}")
            if not float(value) > 0:
                raise ValueError(f"tolerances: {name} must be > 0, got {value!r}")
            out[name] = float(value)
    return out


def parse_tolerance(text: str) -> tuple[str, ToleranceValue]:
    """``name=value`` or ``name=low,high`` (as on the command line) to a name and value.

    Examples
    --------
    >>> from dlnsam.verify.claims import parse_tolerance
    >>> parse_tolerance("exact=1e-10"), parse_tolerance("slope=1.7,2.3")
    (('exact', 1e-10), ('slope', (1.7, 2.3)))
    """
    name, sep, value = text.partition("=")
    parts = [p.strip() for p in value.split(",")]
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        numbers = []
    if not sep or not name.strip() or len(numbers) not in (1, 2):
        raise ValueError(f"a tolerance is NAME=VALUE or NAME=LOW,HIGH, got {text!r}")
    return name.strip(), numbers[0] if len(numbers) == 1 else (numbers[0], numbers[1])


class Renders:
    """What a verification's result gives from its ``to_report()``: JSON, text and Markdown."""

    def to_report(self) -> Report:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dictionary of ``report.json`` (NaN becomes None)."""
        return render(self.to_report(), "json")

    def summary(self) -> str:
        """The terminal report: table, sections and one PASS/FAIL line per claim."""
        return render(self.to_report(), "text")

    def to_markdown(self, *, wall_time: bool = True) -> str:
        """The Markdown report; ``wall_time=False`` leaves out what changes from run to run."""
        return render(self.to_report(), "markdown", wall_time=wall_time)


@dataclass(frozen=True)
class Verification:
    """A registered verification: what ``dlnsam verify`` can run.

    Attributes
    ----------
    name : str
        Its name on the command line.
    description : str
        One line for ``--help``.
    run : callable
        ``run(problem, **options)`` returning a result with ``to_report()``.
    tolerances : Mapping
        The tolerances' defaults (name -> upper bound or (low, high)).
    figures : tuple of str
        File names of the figures it writes; ``name.png`` is drawn by the
        function ``dlnsam.plots.name`` from the result.
    """

    name: str
    description: str
    run: Callable[..., Any]
    tolerances: Mapping[str, ToleranceValue]
    figures: tuple[str, ...] = ()
