"""The benchmark baselines compute what dlnsam computes, and the quick suite runs.

Only correctness is tested here; timings are measured by ``python -m benchmarks``
and never asserted (timed tests are flaky).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import dlnsam

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ sits next to tests/ and is not installed
    sys.path.insert(0, str(ROOT))

from benchmarks import (  # noqa: E402
    bench_discrete,
    machine,
    numpy_baseline,
    profile,
    report,
    scipy_flow,
    scipy_hypentropy,
    settings,
    timing,
)

ALGORITHMS = {"GD": dlnsam.GD(), "n-SAM": dlnsam.SAM(0.2), "1-SAM": dlnsam.SAM(0.2, m=1)}
KWARGS = {"lr": 0.05, "steps": 60, "alpha": 0.1}


@pytest.fixture(scope="module")
def problem() -> dlnsam.Problem:
    return dlnsam.gaussian_problem(n=6, d=9, k=2, seed=3)


def _dlnsam_beta(problem: dlnsam.Problem, name: str) -> np.ndarray:
    return dlnsam.run(problem, ALGORITHMS[name], **KWARGS, record=[]).beta


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_numpy_baseline_matches_dlnsam(problem: dlnsam.Problem, name: str) -> None:
    beta = numpy_baseline.train(problem.X, problem.y, name, **KWARGS, rho=0.2)
    assert report.relative_error(beta, _dlnsam_beta(problem, name)) <= 1e-12


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_jax_baseline_matches_dlnsam(problem: dlnsam.Problem, name: str) -> None:
    pytest.importorskip("jax")
    from benchmarks import jax_baseline

    beta = jax_baseline.train(problem.X, problem.y, name, **KWARGS, rho=0.2)
    assert beta.dtype == np.float64
    assert report.relative_error(beta, _dlnsam_beta(problem, name)) <= 1e-12


@pytest.mark.parametrize(("rho", "m"), [(0.0, None), (0.2, None), (0.2, 1)])
def test_solve_ivp_flow_matches_dlnsam(problem: dlnsam.Problem, rho: float, m: int | None) -> None:
    algorithm = dlnsam.GD() if rho == 0.0 else dlnsam.SAM(rho, m=m)
    tol = {"rtol": 1e-12, "atol": 1e-16}
    ours = dlnsam.flow(problem, algorithm, alpha=0.1, loss_tol=0.0, t_max=30.0, **tol)
    theirs = scipy_flow.solve(
        problem.X, problem.y, rho=rho, m=m, alpha=0.1, t_end=ours.t_end, **tol
    )
    assert theirs.finished and theirs.t_reached == ours.t_end == 30.0
    assert report.relative_error(theirs.beta, ours.beta) <= 1e-9
    assert report.relative_error(theirs.integral_loss, ours.integral_loss) <= 1e-9


def test_solve_ivp_stops_on_its_budget(problem: dlnsam.Problem) -> None:
    res = scipy_flow.solve(
        problem.X, problem.y, rho=0.2, m=1, alpha=0.1, t_end=1e4, rtol=1e-10, atol=1e-14,
        budget=0.0,
    )  # fmt: skip
    assert not res.finished and res.n_steps is None
    assert np.isnan(res.integral_loss)


def test_slsqp_and_dlnsam_find_the_same_interpolator() -> None:
    problem = dlnsam.gaussian_problem(n=5, d=12, k=2, seed=1, n_test=0)
    X, y, alpha = problem.X, problem.y, 0.3
    ours = dlnsam.hypentropy.solve(X, y, alpha)
    theirs = scipy_hypentropy.solve(X, y, alpha, ftol=1e-16, maxiter=500)
    assert scipy_hypentropy.kkt_residuals(X, y, ours.beta, alpha).worst <= 1e-10
    assert scipy_hypentropy.kkt_residuals(X, y, theirs.x, alpha).worst <= 1e-7
    assert report.relative_error(theirs.x, ours.beta) <= 1e-6
    assert np.isclose(
        scipy_hypentropy.hypentropy(ours.beta, alpha), dlnsam.hypentropy.phi(ours.beta, alpha)
    )


def test_kkt_residuals_see_a_wrong_interpolator() -> None:
    problem = dlnsam.gaussian_problem(n=5, d=12, k=2, seed=1, n_test=0)
    X, y = problem.X, problem.y
    min_norm = np.linalg.pinv(X) @ y  # feasible, but the minimizer of another potential
    kkt = scipy_hypentropy.kkt_residuals(X, y, min_norm, 0.01)
    assert kkt.primal <= 1e-12 and kkt.dual > 1e-3


def test_discrete_section_without_jax_skips_its_rows() -> None:
    tiny = dataclasses.replace(
        settings.QUICK, repeats=1, steps=20, numpy_steps=5, numpy_one_sam_steps=2
    )
    section = bench_discrete.section(tiny, None, "skipped (jax not installed)")
    table, profile = section.tables
    assert [row[0] for row in table.rows] == ["GD", "n-SAM", "1-SAM"]
    assert all("skipped (jax not installed)" in row for row in table.rows)
    # The profile table: one row per algorithm, no JAX bound without JAX.
    assert [row[0] for row in profile.rows] == ["GD", "n-SAM", "1-SAM"]
    assert all(row[-1] == "-" and row[-2].endswith("x") for row in profile.rows)
    jax_targets = [t for t in section.targets if "JAX" in t.label]
    assert len(jax_targets) == 3 and all(t.met is None for t in jax_targets)
    assert section.checks and all(c.passed for c in section.checks)


def test_report_renders_text_and_markdown() -> None:
    section = report.Section(
        "Title",
        "setup",
        (report.Table(("a", "b"), (("x", "1"),), "caption"),),
        ("a note",),
        (report.Target("t", ">= 2x", "3x", True),),
        (report.Check("c", float("nan"), 1e-10),),
    )
    assert not section.checks[0].passed  # NaN never agrees
    text = report.section_text(section) + report.summary_text([section])
    assert "caption" in text and "a note" in text and "DISAGREE" in text
    md = report.markdown([section], "T", ["pre"])
    assert "| a | b |" in md and "| t | >= 2x | 3x | met |" in md


@pytest.mark.parametrize("chunks", [2, 3, 8])
def test_memory_floor_reads_every_entry_once(chunks: int) -> None:
    """The reads timed as the memory floor sum all of X, serially and over row chunks."""
    X = np.random.default_rng(chunks).standard_normal((37, 29))
    assert profile._read_serial(X, 2) == pytest.approx(2 * X.sum(), rel=1e-12)
    assert profile._read_parallel(X, chunks, 2) == pytest.approx(2 * X.sum(), rel=1e-12)
    assert profile.read_time(X, repeats=1, calls=1) > 0.0


def test_measure_keeps_the_last_result_and_respects_the_budget() -> None:
    calls = []
    measured = timing.measure(lambda: calls.append(1) or len(calls), repeats=3)
    assert measured.runs == 3 and measured.result == 4 and measured.warm
    slow = timing.measure(lambda: sum(range(10_000)), repeats=5, budget=0.0)
    assert slow.runs == 1 and not slow.warm


def test_measure_interleaved_alternates_the_calls() -> None:
    order: list[str] = []
    timed = timing.measure_interleaved(
        {"a": lambda: order.append("a") or len(order), "b": lambda: order.append("b") or -1},
        repeats=2,
    )
    assert order == ["a", "b", "a", "b", "b", "a"]  # warm-up, then rounds in alternating order
    assert timed["a"].runs == 2 and timed["a"].result == 6 and timed["b"].result == -1


def test_measure_spread_takes_turns_block_by_block() -> None:
    order: list[str] = []
    fns = {g: {f: (lambda k=g + f: order.append(k) or k) for f in "xy"} for g in "AB"}
    timed = timing.measure_spread(fns, rounds=3, blocks=2)
    warm, rounds = order[:4], order[4:]
    assert warm == ["Ax", "Ay", "Bx", "By"]
    # blocks of rounds [0] and [1, 2]; each group alternates its order round by round
    assert rounds == ["Ax", "Ay", "Bx", "By", "Ay", "Ax", "Ax", "Ay", "By", "Bx", "Bx", "By"]
    assert timed["A"]["y"].runs == 3 and timed["B"]["x"].result == "Bx"
    with pytest.raises(ValueError, match="blocks"):
        timing.measure_spread(fns, rounds=2, blocks=3)
    with pytest.raises(ValueError, match="rounds"):
        timing.measure_spread(fns, rounds=0, blocks=1)


BUSY = (
    "import os, sys, time\n"
    "open(sys.argv[1], 'w').write(str(os.getpid()))\n"
    "end = time.perf_counter() + 60\n"
    "while time.perf_counter() < end: pass"
)


def _stop(pid: int) -> None:
    """Kill a busy loop and wait until it is gone (an orphan is reaped by init)."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.perf_counter() + 10
    while time.perf_counter() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[-1][:1]
        except OSError:  # reaped
            return
        if state == "Z":  # a zombie uses no CPU
            return
        time.sleep(0.01)


def _started(pid_file: Path) -> int:
    deadline = time.perf_counter() + 30
    while not (pid_file.exists() and pid_file.read_text()):
        assert time.perf_counter() < deadline, "the busy loop did not start"
        time.sleep(0.01)
    return int(pid_file.read_text())


#: CPU seconds of clock-tick rounding allowed when counters of different
#: processes are compared (each is read in ticks of 10 ms or less).
TICKS = 0.05
#: CPU seconds a busy loop must use while it is watched, for the comparison to mean something.
WATCHED = 0.3


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, running or a zombie, from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _self_cpu() -> float:
    times = os.times()
    return times.user + times.system


def _bracket(pid: int) -> tuple[float, machine.CpuSample, float, float]:
    """A CPU sample, with the CPU time of ``pid`` read just before and just after it.

    Also returns this process's own CPU time (not its children's) after it.
    """
    before = _cpu_seconds(pid)
    sample = machine.cpu_sample()
    return before, sample, _cpu_seconds(pid), _self_cpu()


def _watch(pid: int) -> tuple[tuple, tuple]:
    """Brackets (see :func:`_bracket`) around a span in which ``pid`` uses WATCHED CPU seconds.

    The span lasts as long as that takes, so that a loaded machine, which gives
    the busy loop less than a core, only makes it longer.
    """
    first = _bracket(pid)
    deadline = time.perf_counter() + 25
    while _cpu_seconds(pid) - first[2] < WATCHED and time.perf_counter() < deadline:
        time.sleep(0.05)
    last = _bracket(pid)
    assert last[0] - first[2] >= WATCHED, "the busy loop got no CPU time"
    return first, last


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="needs /proc/stat")
def test_other_load_counts_other_processes_and_not_our_own_children(tmp_path) -> None:
    # Each check compares counters of named processes, never the machine's total
    # against a threshold: other work on the machine must not change the outcome.
    busy = tmp_path / "busy.py"
    busy.write_text(BUSY)

    # An orphan (its shell parent exits at once) is another process's work: all
    # of its CPU time is in `other`, none in `own`.
    pid_file = tmp_path / "orphan.pid"
    subprocess.run(["sh", "-c", f"'{sys.executable}' '{busy}' '{pid_file}' &"], check=True)
    orphan = _started(pid_file)
    self_before = _self_cpu()
    try:
        (_, start, orphan_start, _), (orphan_end, end, _, self_after) = _watch(orphan)
    finally:
        _stop(orphan)
    load = machine.other_load(start, end)
    assert load.other is not None and load.other * load.seconds >= orphan_end - orphan_start - TICKS
    assert end.own - start.own <= self_after - self_before + TICKS, (start, end)
    assert "other processes" in load.describe()

    # A child of ours, running or finished, is our own: its CPU time is in `own`
    # (once, not twice), hence not in `other`.
    pid_file = tmp_path / "child.pid"
    child = subprocess.Popen([sys.executable, str(busy), str(pid_file)])
    try:
        pid = _started(pid_file)
        self_before = _self_cpu()
        (low0, start, high0, _), (low1, running, high1, self_after) = _watch(pid)
    finally:
        child.kill()
    _stop(child.pid)  # wait for the zombie, whose stat holds the child's final CPU time
    total = _cpu_seconds(child.pid)
    child.wait()
    finished = machine.cpu_sample()
    self_finished = _self_cpu()
    own_running = running.own - start.own
    assert low1 - high0 - TICKS <= own_running <= high1 - low0 + self_after - self_before + TICKS
    own_finished = finished.own - start.own
    assert (
        total - high0 - TICKS <= own_finished <= total - low0 + self_finished - self_before + TICKS
    )
    load = machine.other_load(start, running)
    assert load.other is not None
    assert load.other * load.seconds <= running.busy - start.busy - (low1 - high0) + TICKS


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs sched_setaffinity")
def test_one_core_pins_every_thread_and_restores_them() -> None:
    before = os.sched_getaffinity(0)
    go, seen = threading.Event(), {}

    def earlier() -> None:  # a thread started before the block, as JAX's pool
        go.wait(10)
        seen["earlier"] = os.sched_getaffinity(0)

    def later() -> None:  # one started inside it
        seen["later"] = os.sched_getaffinity(0)

    waiting = threading.Thread(target=earlier)
    waiting.start()
    with machine.one_core() as core:
        assert core in before and os.sched_getaffinity(0) == {core}
        go.set()
        waiting.join()
        started = threading.Thread(target=later)
        started.start()
        started.join()
    assert seen == {"earlier": {core}, "later": {core}}
    assert os.sched_getaffinity(0) == before


def test_other_load_is_unknown_without_proc_stat() -> None:
    a = machine.CpuSample(wall=0.0, busy=None, steal=None, own=1.0)
    b = machine.CpuSample(wall=2.0, busy=None, steal=None, own=2.0)
    load = machine.other_load(a, b)
    assert load.other is None and load.idle is None and "unknown" in load.describe()


@pytest.mark.slow  # a whole quick benchmark run in a subprocess
def test_quick_benchmarks_run_and_agree() -> None:
    before = (ROOT / "BENCHMARKS.md").read_bytes() if (ROOT / "BENCHMARKS.md").exists() else None
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        # A guard against a hang, not a check of speed: with a cold Numba cache this
        # run compiles every kernel, and on a loaded machine that takes many minutes.
        timeout=3600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "agreement checks pass" in proc.stdout
    assert "DISAGREE" not in proc.stdout
    assert "(discrete: " in proc.stdout and "other processes" in proc.stdout
    after = (ROOT / "BENCHMARKS.md").read_bytes() if (ROOT / "BENCHMARKS.md").exists() else None
    assert after == before  # quick mode leaves the tree alone without --write
