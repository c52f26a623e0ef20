"""What the benchmarks ran on: CPU, cores, library versions and the dlnsam revision."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

import numba
import numpy as np
import scipy

import dlnsam

__all__ = ["describe", "load_average"]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _revision() -> str:
    """``git describe --always --dirty`` of the repository, or ``'unknown'``."""
    root = Path(__file__).resolve().parents[1]
    command = ["git", "describe", "--always", "--dirty"]
    try:
        out = subprocess.run(
            command, cwd=root, capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: other work running on the machine."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def describe() -> list[tuple[str, str]]:
    """The machine and software, as (field, value) pairs."""
    try:
        jax = importlib.metadata.version("jax")
    except importlib.metadata.PackageNotFoundError:
        jax = "not installed"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    cores = f"{os.cpu_count()} logical" + (f", {usable} usable" if usable is not None else "")
    return [
        ("CPU", _cpu_model()),
        ("cores", cores),
        ("Numba threads", str(numba.get_num_threads())),
        ("OS", platform.platform()),
        ("Python", platform.python_version()),
        ("numpy", np.__version__),
        ("scipy", scipy.__version__),
        ("numba", numba.__version__),
        ("jax", jax),
        ("dlnsam", f"{dlnsam.__version__} ({_revision()})"),
        ("load average at start (1, 5, 15 min)", load_average()),
        ("date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
    ]
