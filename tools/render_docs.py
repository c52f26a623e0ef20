"""Write the generated parts of docs/: the report of ``dlnsam verify`` in docs/theorem1.md.

Run from the repository root after a change that moves the report's numbers:

    python tools/render_docs.py

``tests/test_verify.py::test_the_docs_show_the_report_of_the_default_run``
recomputes the same report and fails while the page differs from it.
"""

from __future__ import annotations

from pathlib import Path

from dlnsam.cli import _problem, build_parser
from dlnsam.verify import DEFAULT_RHOS, theorem1

PAGE = Path(__file__).resolve().parents[1] / "docs" / "theorem1.md"
BEGIN, END = "<!-- verify:begin -->\n", "<!-- verify:end -->"


def main() -> None:
    text = PAGE.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{PAGE}: the markers {BEGIN.strip()} and {END} are missing")
    args = build_parser().parse_args(["verify"])
    report = theorem1(_problem(args), alpha=args.alpha, rhos=DEFAULT_RHOS, ms=args.ms)
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    PAGE.write_text(head + BEGIN + report.to_markdown(wall_time=False) + END + tail, "utf-8")
    print(f"wrote the report into {PAGE.name}")


if __name__ == "__main__":
    main()
