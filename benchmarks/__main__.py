"""Measure dlnsam against the tools researchers use today, side by side in one run.

Usage: ``python -m benchmarks [--quick] [--write] [--output PATH] [--only SECTION ...]``.

Five sections: (1) discrete GD, n-SAM and 1-SAM steps against a NumPy loop and
JAX; (2) the 1-SAM and n-SAM flows against ``scipy.integrate.solve_ivp``;
(3) the hypentropy interpolator against SLSQP, and its scaling; (4) the cost
per step against n·d; (5) cells per second of the ``dlnsam verify`` grid.
Every figure is the median of several calls after a warm-up call. Results
must agree (to about 1e-10) before the timings count: the command exits with
status 1 if any agreement check fails. Performance targets are reported as
met or missed; they do not change the exit status.

Timings are only as good as the machine is quiet. For each section the run
reports how many cores other processes used meanwhile (the machine's busy
CPU time from /proc/stat, less this process's and its descendants'), and the
hypervisor's steal time, and it warns when either reaches
``machine.BUSY_WARNING`` cores. The discrete steps of dlnsam and JAX are
timed with every thread pinned to one core, which both then share
(``machine.one_core``).

The full run writes ``BENCHMARKS.md`` at the repository root; ``--quick``
(small sizes, a few seconds per section) and ``--only`` write it only with
``--write``.
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


def load_jax() -> tuple[ModuleType | None, str]:
    """The JAX baseline module, or None and why it is unavailable."""
    try:
        from benchmarks import jax_baseline
    except ImportError:
        return None, "skipped (jax not installed)"
    return jax_baseline, ""


def _sections(
    jax_module: ModuleType | None, reason: str
) -> dict[str, Callable[[Settings], Section]]:
    return {
        "discrete": lambda s: bench_discrete.section(s, jax_module, reason),
        "flows": bench_flows.section,
        "hypentropy": bench_hypentropy.section,
        "scaling": bench_scaling.section,
        "sweeps": bench_sweeps.section,
    }


#: Section names, in the order they run.
SECTIONS = ("discrete", "flows", "hypentropy", "scaling", "sweeps")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes and few repeats (what CI runs)"
    )
    parser.add_argument(
        "--write", action="store_true", help="write the Markdown report in quick mode too"
    )
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help="Markdown report path (BENCHMARKS.md)"
    )
    parser.add_argument(
        "--only", nargs="+", choices=SECTIONS, metavar="SECTION",
        help=f"run only these sections ({', '.join(SECTIONS)})",
    )  # fmt: skip
    parser.add_argument("--no-jax", action="store_true", help="skip the JAX rows")
    return parser


def _conditions(
    loads: Sequence[tuple[str, machine.OtherLoad]], overall: machine.OtherLoad
) -> list[str]:
    """Markdown lines: how much of the machine other work took, per section."""

    def cores(value: float | None) -> str:
        return "unknown" if value is None else f"{value:.2f}"

    if overall.idle is None:
        verdict = "Other work on the machine during the run: unknown (no /proc/stat)."
    elif overall.idle and all(load.idle for _, load in loads):
        verdict = (
            f"The machine was idle otherwise: other work stayed below {machine.BUSY_WARNING} "
            "cores in every section."
        )
    else:
        verdict = (
            f"**Not an idle machine**: other work took {machine.BUSY_WARNING} cores or more "
            "on average in a section below, so its timings may be off."
        )
    rows = [
        f"| {name} | {load.seconds:.1f} | {cores(load.other)} | {cores(load.steal)} |"
        for name, load in [*loads, ("whole run", overall)]
    ]
    return [
        f"{verdict} Other processes: the machine's busy CPU time (/proc/stat) less this "
        "process's, in cores on average; steal: time the hypervisor gave to other virtual "
        "machines.",
        "",
        "| section | seconds | other processes (cores) | steal (cores) |",
        "|:---|---:|---:|---:|",
        *rows,
    ]


def _command(argv: Sequence[str]) -> str:
    return " ".join(["python -m benchmarks", *argv])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite, print the tables, write the report; 1 if results disagree."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.no_jax:
        jax_module, reason = None, "skipped (--no-jax)"
    else:
        jax_module, reason = load_jax()
    runners = _sections(jax_module, reason)
    names = [name for name in SECTIONS if args.only is None or name in args.only]

    start = time.perf_counter()
    info = machine.describe()
    print(f"dlnsam benchmarks ({'quick' if settings.quick else 'full'} mode): {_command(argv)}")
    print("; ".join(f"{key}: {value}" for key, value in info), end="\n\n", flush=True)
    sections = []
    loads: list[tuple[str, machine.OtherLoad]] = []
    first = machine.cpu_sample()
    for name in names:
        before = machine.cpu_sample()
        section = runners[name](settings)
        sections.append(section)
        loads.append((name, machine.other_load(before, machine.cpu_sample())))
        print(section_text(section), flush=True)
        print(f"({name}: {loads[-1][1].seconds:.1f} s; {loads[-1][1].describe()})", end="\n\n")
    overall = machine.other_load(first, machine.cpu_sample())
    elapsed = time.perf_counter() - start
    print(summary_text(sections), end="")
    busy = [name for name, load in loads if load.idle is False]
    if busy:
        print(
            f"WARNING: other work took the machine during {', '.join(busy)} "
            f"(at least {machine.BUSY_WARNING} cores on average): those timings may be off."
        )

    checks = [c for s in sections for c in s.checks]
    failed = [c for c in checks if not c.passed]
    targets = [t for s in sections for t in s.targets]
    met = sum(t.met is True for t in targets)
    print(
        f"{len(checks) - len(failed)}/{len(checks)} agreement checks pass; "
        f"{met}/{len(targets)} targets met; {elapsed:.0f} s in all."
    )

    if args.write or (not settings.quick and args.only is None):
        preamble = [
            "Written by `python -m benchmarks` from one run; do not edit by hand.",
            "",
            f"Command: `{_command(argv)}` ({'quick' if settings.quick else 'full'} mode, "
            f"{elapsed / 60:.1f} min; load average at the end {machine.load_average()}). "
            'The JAX rows need `pip install "jax[cpu]"`.',
            "",
            *_conditions(loads, overall),
            "",
            "| machine | |",
            "|:---|:---|",
            *[f"| {key} | {value} |" for key, value in info],
            "",
            "Every figure is the median of several calls after a warm-up call (Numba cache "
            "warm, JAX compiled) unless its row says otherwise. Agreement checks must pass "
            "before the timings count; a target that is missed is marked MISSED with the "
            "measured value.",
        ]
        args.output.write_text(markdown(sections, "dlnsam benchmarks", preamble))
        print(f"wrote {args.output.name}")
    if failed:
        for check in failed:
            print(f"DISAGREE: {check.label}: {check.error:.3g} > {check.tolerance:g}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
