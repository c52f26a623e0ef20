"""Write the generated parts of docs/: the default report of each verification.

Run from the repository root after a change that moves a report's numbers:

    python tools/render_docs.py [NAME ...]

Each page of :data:`PAGES` holds, between its markers, the Markdown report
that ``dlnsam verify NAME`` writes with its defaults; the ``slow`` tests of
``tests/test_verify*.py`` recompute each report and fail while its page differs.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dlnsam.cli import _problem, _verify_options, build_parser
from dlnsam.verify import VERIFICATIONS, Report, render

DOCS = Path(__file__).resolve().parents[1] / "docs"
BEGIN, END = "<!-- verify:begin -->\n", "<!-- verify:end -->"
#: The page of each verification whose default report the docs show.
PAGES = {
    "theorem1": DOCS / "theorem1.md",
    "flatness": DOCS / "flatness.md",
    "theorem2": DOCS / "theorem2.md",
}


def default_report(name: str) -> Report:
    """The report of ``dlnsam verify NAME`` without options (run in this process)."""
    args = build_parser().parse_args(["verify", name])
    check = VERIFICATIONS[name]
    options = _verify_options(args, check, alone=True)
    settings = {"alpha": args.alpha, "rtol": args.rtol, "t_max": args.t_max, **options}
    result = check.run(_problem(args), **settings)
    return result.to_report()


def shown(page: Path) -> str:
    """The report a page holds between its markers."""
    text = page.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{page}: the markers {BEGIN.strip()} and {END} are missing")
    return text.split(BEGIN, 1)[1].split(END, 1)[0]


def write(page: Path, report: Report) -> None:
    """Replace the report between the page's markers."""
    text = page.read_text(encoding="utf-8")
    shown(page)  # the markers are there
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    block = render(report, "markdown", wall_time=False)
    page.write_text(head + BEGIN + block + END + tail, encoding="utf-8")
    print(f"wrote the report into {page.name}")


def main(names: list[str]) -> None:
    for name in names or list(PAGES):
        if name not in PAGES:
            raise SystemExit(f"no docs page for {name!r}; pages: {', '.join(PAGES)}")
        write(PAGES[name], default_report(name))


if __name__ == "__main__":
    main(sys.argv[1:])
