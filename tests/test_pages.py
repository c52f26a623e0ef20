"""The README and the pages of docs/ stay true to the code.

- every ``python`` block runs as written;
- every ``dlnsam ...`` command line of a ``bash`` block parses with the real
  command-line parser (so a renamed or removed flag fails here);
- every repository path written in backticks exists, and so does every
  relative link;
- the report of ``dlnsam verify`` in docs/theorem1.md is what the code
  produces today (checked in tests/test_verify.py, where the report is built).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import matplotlib
import pytest

from dlnsam.cli import build_parser

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
IDS = [str(p.relative_to(ROOT)) for p in PAGES]

#: Top-level folders and files whose paths the pages may name.
_REPO_PATH = re.compile(
    r"`((?:dlnsam|tests|docs|benchmarks|experiments|tools|figures|\.ci)/[\w./-]*"
    r"|[\w-]+\.(?:md|toml))`"
)


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def test_there_are_pages() -> None:
    assert len(PAGES) >= 5 and (ROOT / "docs" / "theorem1.md") in PAGES


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_python_blocks_run(page: Path) -> None:
    for block in _blocks(page.read_text(encoding="utf-8"), "python"):
        exec(compile(block, str(page), "exec"), {"__name__": "__page__"})


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_command_lines_parse(page: Path) -> None:
    parser = build_parser()
    for block in _blocks(page.read_text(encoding="utf-8"), "bash"):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if not words or words[0] != "dlnsam":
                continue
            try:
                parser.parse_args(words[1:])
            except SystemExit as exc:  # argparse exits 2 on an unknown flag
                pytest.fail(f"{page.name}: {line!r} does not parse (exit {exc.code})")


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_named_paths_exist(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    missing = [
        name
        for name in _REPO_PATH.findall(text)
        if not any((base / name).exists() for base in (ROOT, page.parent))
        and not name.startswith(("figures-quick", "results/", "report"))  # outputs of a run
    ]
    links = re.findall(r"\]\(((?!https?:)[^)#]+)\)", text)
    missing += [link for link in links if not (page.parent / link).exists()]
    assert not missing, f"{page.name} names what does not exist: {missing}"
