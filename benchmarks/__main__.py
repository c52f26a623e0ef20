"""Measure dlnsam against the tools researchers use today, side by side in one run.

Usage: ``python -m benchmarks [--quick] [--write] [--output PATH] [--only SECTION ...]``.

Five sections: (1) discrete GD, n-SAM and 1-SAM steps against a NumPy loop and
JAX; (2) the 1-SAM and n-SAM flows against ``scipy.integrate.solve_ivp``;
(3) the hypentropy interpolator against SLSQP, and its scaling; (4) the cost
per step against n·d; (5) cells per second of the ``dlnsam verify`` grid.
Results must agree (to about 1e-10) before the timings count: the command
exits with status 1 if any agreement check fails. Performance targets are
reported as met or MISSED; they do not change the exit status.

Every figure is a median after a warm-up call, with the range of its calls;
calls compared with each other take turns, so that a slow spell of the
machine slows both sides of a ratio. Run it on a quiet machine.

The full run writes ``BENCHMARKS.md`` at the repository root; ``--quick``
(small sizes) and ``--only`` write a report only with ``--write`` or ``--output``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

from benchmarks import (
    bench_discrete,
    bench_flows,
    bench_hypentropy,
    bench_scaling,
    bench_sweeps,
    machine,
)
from benchmarks.report import Section, markdown, section_text, summary_text
from benchmarks.settings import FULL, QUICK, Settings

__all__ = ["SECTIONS", "load_jax", "main"]

DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"

#: The sections by name, in the order they run: each takes the settings and the
#: JAX baseline module (None when skipped) with the reason it is skipped.
SECTIONS: dict[str, Callable[[Settings, ModuleType | None, str], Section]] = {
    "discrete": bench_discrete.section,
    "flows": lambda s, jax, reason: bench_flows.section(s),
    "hypentropy": lambda s, jax, reason: bench_hypentropy.section(s),
    "scaling": lambda s, jax, reason: bench_scaling.section(s),
    "sweeps": lambda s, jax, reason: bench_sweeps.section(s),
}


def load_jax() -> tuple[ModuleType | None, str]:
    """The JAX baseline module, or None and why it is unavailable."""
    try:
        from benchmarks import jax_baseline
    except ImportError:
        return None, "skipped (jax not installed)"
    return jax_baseline, ""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats")
    parser.add_argument(
        "--write", action="store_true", help="write the Markdown report in quick mode too"
    )
    parser.add_argument(
        "--output", type=Path, default=None,
        help="Markdown report path (default BENCHMARKS.md; given, the report is always written)",
    )  # fmt: skip
    parser.add_argument(
        "--only", nargs="+", choices=list(SECTIONS), metavar="SECTION",
        help=f"run only these sections ({', '.join(SECTIONS)})",
    )  # fmt: skip
    parser.add_argument("--no-jax", action="store_true", help="skip the JAX rows")
    return parser


def _preamble(command: str, settings: Settings, minutes: float,
              info: list[tuple[str, str]]) -> list[str]:  # fmt: skip
    """The report's opening lines: how to reproduce it, and what it ran on."""
    mode = "quick" if settings.quick else "full"
    return [
        "Written by `python -m benchmarks` from one run; do not edit by hand.",
        "",
        f"Command: `{command}` ({mode} mode, {minutes:.1f} min; load average at the end "
        f"{machine.load_average()}). To reproduce: from a clone of the repository, "
        '`pip install ".[bench]"` (the JAX rows; without JAX they are skipped), then the '
        "command from the repository root on an otherwise idle machine (`--quick` for "
        "small sizes, `--only SECTION` for one section, `--output FILE` to write elsewhere).",
        "",
        "| machine | |",
        "|:---|:---|",
        *[f"| {key} | {value} |" for key, value in info],
        "",
        "Every figure is the median of several calls after a warm-up call (Numba cache "
        "warm, JAX compiled) unless its row says otherwise, with the range of the calls in "
        "brackets; calls compared with each other take turns round by round. Agreement "
        "checks must pass before the timings count; a target that is missed is marked "
        "MISSED with the measured value.",
    ]


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    """Run the suite, print the tables, write the report; 1 if results disagree.

    ``settings`` overrides those chosen by ``--quick`` (the tests run tiny sizes).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if settings is None:
        settings = QUICK if args.quick else FULL
    jax, reason = (None, "skipped (--no-jax)") if args.no_jax else load_jax()
    names = [name for name in SECTIONS if args.only is None or name in args.only]
    command = " ".join(["python -m benchmarks", *argv])

    start = time.perf_counter()
    info = machine.describe()
    print(f"dlnsam benchmarks ({'quick' if settings.quick else 'full'} mode): {command}")
    print("; ".join(f"{key}: {value}" for key, value in info), end="\n\n", flush=True)
    sections = []
    for name in names:
        began = time.perf_counter()
        sections.append(SECTIONS[name](settings, jax, reason))
        print(section_text(sections[-1]), flush=True)
        print(f"({name}: {time.perf_counter() - began:.1f} s)", end="\n\n")
    elapsed = time.perf_counter() - start
    print(summary_text(sections), end="")
    checks = [c for s in sections for c in s.checks]
    failed = [c for c in checks if not c.passed]
    targets = [t for s in sections for t in s.targets]
    print(
        f"{len(checks) - len(failed)}/{len(checks)} agreement checks pass; "
        f"{sum(t.met is True for t in targets)}/{len(targets)} targets met; "
        f"{elapsed:.0f} s in all."
    )
    full_run = not settings.quick and args.only is None
    if args.output is not None or args.write or full_run:
        output = args.output or DEFAULT_OUTPUT
        preamble = _preamble(command, settings, elapsed / 60, info)
        output.write_text(markdown(sections, "dlnsam benchmarks", preamble))
        print(f"wrote {output}")
    for check in failed:
        print(f"DISAGREE: {check.label}: {check.error:.3g} > {check.tolerance:g}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
