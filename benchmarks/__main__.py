"""Measure dlnsam against the tools researchers use today, side by side in one run.

Usage: ``python -m benchmarks [--quick] [--write] [--output PATH] [--only SECTION ...]``.

Six sections: discrete steps against NumPy and JAX, flows against
``scipy.integrate.solve_ivp``, the hypentropy interpolator against SLSQP, the
step cost against n·d, the ``dlnsam verify`` grid on several processes, and
many seeds at once (``dlnsam.run_many``) against batched NumPy and JAX.
The command exits with status 1 if any agreement check fails; performance
targets are reported as met or MISSED and do not change the exit status. The
full run writes ``BENCHMARKS.md`` at the repository root; ``--quick`` (small
sizes) and ``--only`` write a report only with ``--write`` or ``--output``.
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
    bench_many,
    bench_scaling,
    bench_sweeps,
    machine,
)
from benchmarks.report import Section, markdown, section_text, summary_text
from benchmarks.settings import FULL, QUICK, Settings

__all__ = ["SECTIONS", "load_jax", "main"]

DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"

#: The sections by name, in the order they run: each takes the settings and the
#: JAX baseline module (None when skipped).
SECTIONS: dict[str, Callable[[Settings, ModuleType | None], Section]] = {
    "discrete": bench_discrete.section,
    "flows": bench_flows.section,
    "hypentropy": bench_hypentropy.section,
    "scaling": bench_scaling.section,
    "sweeps": bench_sweeps.section,
    "many": bench_many.section,
}


def load_jax() -> ModuleType | None:
    """The JAX baseline module, or None when JAX is not installed."""
    try:
        from benchmarks import jax_baseline
    except ImportError:
        return None
    return jax_baseline


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


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    """Run the suite, print the tables, write the report; 1 if results disagree.

    ``settings`` overrides those chosen by ``--quick`` (the tests run tiny sizes).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if settings is None:
        settings = QUICK if args.quick else FULL
    jax = None if args.no_jax else load_jax()
    names = [name for name in SECTIONS if args.only is None or name in args.only]
    command = " ".join(["python -m benchmarks", *argv])
    mode = "quick" if settings.quick else "full"

    start = time.perf_counter()
    info = machine.describe()
    print(f"dlnsam benchmarks ({mode} mode): {command}")
    print("; ".join(f"{key}: {value}" for key, value in info), end="\n\n", flush=True)
    sections = []
    for name in names:
        began = time.perf_counter()
        sections.append(SECTIONS[name](settings, jax))
        print(section_text(sections[-1]), flush=True)
        print(f"({name}: {time.perf_counter() - began:.1f} s)", end="\n\n")
    minutes = (time.perf_counter() - start) / 60
    print(summary_text(sections))
    checks = [c for s in sections for c in s.checks]
    failed = [c for c in checks if not c.passed]
    targets = [t for s in sections for t in s.targets]
    print(
        f"{len(checks) - len(failed)}/{len(checks)} agreement checks pass; "
        f"{sum(t.met is True for t in targets)}/{len(targets)} targets met; "
        f"{minutes:.1f} min in all."
    )
    if args.output is not None or args.write or (not settings.quick and args.only is None):
        preamble = [
            f"Written by `{command}` ({mode} mode, {minutes:.1f} min, load average at the end "
            f"{machine.load_average()}); do not edit by hand. To reproduce it, run the same "
            'command from the repository root on an idle machine, after `pip install ".[bench]"` '
            "for the JAX rows (without JAX they are skipped).",
            "",
            "| machine | |",
            "|:---|:---|",
            *(f"| {key} | {value} |" for key, value in info),
            "",
            "Every figure is the median of its calls after a warm-up call (Numba cache warm, JAX "
            "compiled), with the range of the calls in brackets; calls compared with each other "
            "take turns round by round. Agreement checks must pass before the timings count.",
        ]
        output = args.output or DEFAULT_OUTPUT
        output.write_text(markdown(sections, "dlnsam benchmarks", preamble))
        print(f"wrote {output}")
    for check in failed:
        print(f"DISAGREE: {check.label}: {check.error:.3g} > {check.tolerance:g}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
