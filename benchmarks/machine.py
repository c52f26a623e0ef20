"""What the benchmarks ran on: CPU, cores, library versions, the dlnsam revision,
and how much of the machine other work took while they ran."""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import os
import platform
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import scipy

import dlnsam

__all__ = [
    "BUSY_WARNING",
    "CpuSample",
    "OtherLoad",
    "cpu_model",
    "cpu_sample",
    "describe",
    "load_average",
    "one_core",
    "other_load",
    "revision",
]

#: Cores' worth of other work (other processes, or time the hypervisor gave to
#: other virtual machines) from which a run is reported as not idle.
BUSY_WARNING = 0.1


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, or what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def revision() -> str:
    """``git describe --always --dirty`` of the repository, or ``'unknown'``."""
    root = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def _jax_version() -> str:
    try:
        jax, jaxlib = importlib.metadata.version("jax"), importlib.metadata.version("jaxlib")
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
    return f"{jax} (jaxlib {jaxlib})"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (other work running on the machine)."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


@dataclass(frozen=True)
class CpuSample:
    """CPU time at one moment: the machine's (from /proc/stat) and this process's.

    Attributes
    ----------
    wall : float
        ``time.perf_counter()``.
    busy, steal : float or None
        Seconds of CPU time, summed over all cores since boot, that the
        machine spent running anything (user, nice, system, irq, softirq) and
        that the hypervisor gave to other virtual machines (steal). None where
        /proc/stat is not available.
    own : float
        CPU seconds of this process and all its descendants: those it has
        waited for (``os.times``) and those still running, with what they have
        waited for in turn (from /proc/<pid>/stat; a sweep's pool workers are
        children of a forkserver that lives to the end).
    """

    wall: float
    busy: float | None
    steal: float | None
    own: float


def _live_descendants_cpu() -> float:
    """CPU seconds of the running (or unreaped) descendants, with their reaped children."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    hz = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # the process ended meanwhile
            continue
        # pid (comm) state ppid ... utime stime cutime cstime are fields 14-17
        fields = text[text.rindex(")") + 2 :].split()
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        cpu[pid] = sum(int(x) for x in fields[11:15]) / hz
    me, total = os.getpid(), 0.0
    for pid, seconds in cpu.items():
        ancestor, hops = parents.get(pid), 0
        while ancestor not in (None, 0, me) and hops < 64:
            ancestor, hops = parents.get(ancestor), hops + 1
        if ancestor == me:
            total += seconds
    return total


def cpu_sample() -> CpuSample:
    """The CPU times of now (see :class:`CpuSample`)."""
    times = os.times()
    own = times.user + times.system + times.children_user + times.children_system
    busy = steal = None
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        if fields[0] == "cpu":
            ticks = [int(x) for x in fields[1:9]]
            hz = os.sysconf("SC_CLK_TCK")
            user, nice, system, _idle, _iowait, irq, softirq, stolen = ticks
            busy = (user + nice + system + irq + softirq) / hz
            steal = stolen / hz
            own += _live_descendants_cpu()
    except (OSError, ValueError, IndexError):
        busy = steal = None
    return CpuSample(time.perf_counter(), busy, steal, own)


@dataclass(frozen=True)
class OtherLoad:
    """What other work took of the machine between two :class:`CpuSample`.

    Attributes
    ----------
    seconds : float
        Wall time between the samples.
    other : float or None
        Cores used on average by other processes: the machine's busy time less
        this process's (and its children's), over the wall time.
    steal : float or None
        Cores on average that the hypervisor gave to other virtual machines.
    """

    seconds: float
    other: float | None
    steal: float | None

    @property
    def idle(self) -> bool | None:
        """Whether other work stayed below ``BUSY_WARNING`` cores (None: unknown)."""
        if self.other is None or self.steal is None:
            return None
        return self.other < BUSY_WARNING and self.steal < BUSY_WARNING

    def describe(self) -> str:
        """E.g. ``'other processes 0.02 cores, steal 0.00 cores'``."""
        if self.other is None or self.steal is None:
            return "other processes: unknown (no /proc/stat)"
        return f"other processes {self.other:.2f} cores, steal {self.steal:.2f} cores"


def other_load(start: CpuSample, end: CpuSample) -> OtherLoad:
    """The other work between two samples (see :class:`OtherLoad`).

    Examples
    --------
    >>> a = CpuSample(wall=0.0, busy=100.0, steal=1.0, own=5.0)
    >>> b = CpuSample(wall=10.0, busy=115.0, steal=1.5, own=15.0)
    >>> other_load(a, b)
    OtherLoad(seconds=10.0, other=0.5, steal=0.05)
    """
    seconds = end.wall - start.wall
    if start.busy is None or end.busy is None or start.steal is None or end.steal is None:
        return OtherLoad(seconds, None, None)
    span = max(seconds, 1e-9)
    own = end.own - start.own
    other = max(0.0, (end.busy - start.busy - own) / span)
    return OtherLoad(seconds, other, max(0.0, (end.steal - start.steal) / span))


def _set_affinity(cpus: set[int]) -> None:
    """Restrict every thread of this process (and the threads they start) to ``cpus``."""
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except OSError:  # the thread has ended
            pass


@contextlib.contextmanager
def one_core() -> Iterator[int | None]:
    """Run the block with every thread of this process on one core; yields it (None: not pinned).

    For the single-core comparisons (a serial dlnsam kernel against a
    baseline): on a virtual machine one core can run a third slower than the
    other for seconds at a time, and a baseline whose work runs on a thread
    of its own (JAX's runtime) may sit on the other core meanwhile. Pinned,
    both sides run on the same core, and their ratio stays fair through such
    a spell. Linux only; elsewhere the block runs unpinned. The previous
    affinity is restored on exit.

    Not for multithreaded baselines: OpenBLAS threads pinned to one core
    spin-wait on each other (SLSQP ran 300 times slower so).
    """
    if not hasattr(os, "sched_setaffinity") or not Path("/proc/self/task").is_dir():
        yield None
        return
    allowed = os.sched_getaffinity(0)
    core = min(allowed)
    _set_affinity({core})
    try:
        yield core
    finally:
        _set_affinity(allowed)


def describe() -> list[tuple[str, str]]:
    """The machine and software, as (field, value) pairs."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    cores = f"{os.cpu_count()} logical" + (f", {usable} usable" if usable is not None else "")
    return [
        ("CPU", cpu_model()),
        ("cores", cores),
        ("Numba threads", str(numba.get_num_threads())),
        ("OS", platform.platform()),
        ("Python", platform.python_version()),
        ("numpy", np.__version__),
        ("scipy", scipy.__version__),
        ("numba", numba.__version__),
        ("jax", _jax_version()),
        ("dlnsam", f"{dlnsam.__version__} ({revision()})"),
        ("load average at start (1, 5, 15 min)", load_average()),
        ("date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
    ]
