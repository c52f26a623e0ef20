"""The parallel kernel computes what the serial one does (up to summation order)."""

from __future__ import annotations

import numba
import numpy as np
import pytest

import dlnsam
from dlnsam import flows, kernels, reference, training

CASES = [  # (rho, m, normalize): 1-SAM; many small micro-batches; few large ones; GD
    (0.3, 1, False),
    (0.3, 1, True),
    (0.3, 2, False),
    (0.3, 3, True),
    (0.3, 12, False),
    (0.3, 24, True),
    (0.0, 24, False),
    (0.0, 4, False),
]


@pytest.mark.slow  # compiles the parallel kernel, as the next two do
@pytest.mark.parametrize(("rho", "m", "normalize"), CASES)
@pytest.mark.parametrize("chunks", [2, 3, 8])
@pytest.mark.parametrize("first_order", [False, True])
def test_parallel_direction_matches_serial(rho, m, normalize, chunks, first_order) -> None:
    rng = np.random.default_rng(chunks * 31 + m)
    n, d = 24, 17
    X = rng.standard_normal((n, d))
    y = rng.standard_normal(n)
    u, v = rng.standard_normal(d), rng.standard_normal(d)
    rows = rng.permutation(n)
    out = []
    for part in (None, np.zeros((chunks, kernels.PART_ROWS, d))):
        work, r, du, dv = np.zeros((kernels.WORK_ROWS, d)), np.zeros(n), np.zeros(d), np.zeros(d)
        sum_r2 = kernels.direction(X, y, rows, u, v, rho, m, normalize, 1e-12, first_order,
                                    work, r, du, dv, part, False)  # fmt: skip
        out.append((sum_r2, du, dv, work[3].copy(), work[6].copy(), r.copy()))
    for a, b in zip(*out, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


@pytest.mark.slow
@pytest.mark.parametrize("m", [1, 3, 24])
def test_loss_derivative_only_direction_serial_parallel_and_reference(m) -> None:
    """Serial and parallel kernels drop the perturbed factor alike, as the reference does."""
    rng = np.random.default_rng(m)
    n, d, rho = 24, 17, 0.3
    X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    u, v = rng.standard_normal(d), rng.standard_normal(d)
    rows = rng.permutation(n)
    want = reference.sam_direction(
        reference.grad_uv, X, y, u, v, rows, rho, m, loss_derivative_only=True
    )
    for part in (None, np.zeros((3, kernels.PART_ROWS, d))):
        work, r, du, dv = np.zeros((kernels.WORK_ROWS, d)), np.zeros(n), np.zeros(d), np.zeros(d)
        kernels.direction(X, y, rows, u, v, rho, m, False, 1e-12, False, work, r, du, dv, part,
                          True)  # fmt: skip
        np.testing.assert_allclose(du, want[0], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(dv, want[1], rtol=1e-12, atol=1e-14)


@pytest.mark.slow
@pytest.mark.parametrize(("rho", "m"), [(0.3, 1), (0.3, 3), (0.3, 4003), (0.0, 4003)])
def test_parallel_results_do_not_depend_on_the_thread_count(rho, m) -> None:
    """Every output, the loss included, is the same to the bit on 1 thread and on all."""
    rng = np.random.default_rng(5)
    n, d = 4003, 9
    X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    u, v = rng.standard_normal(d), rng.standard_normal(d)
    rows = np.arange(n)
    out = []
    before = numba.get_num_threads()
    try:
        for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(threads)
            part = np.zeros((kernels.PARALLEL_CHUNKS, kernels.PART_ROWS, d))
            work, r, du, dv = (
                np.zeros((kernels.WORK_ROWS, d)),
                np.zeros(n),
                np.zeros(d),
                np.zeros(d),
            )
            sum_r2 = kernels.direction(X, y, rows, u, v, rho, m, False, 1e-12, True,
                                        work, r, du, dv, part, False)  # fmt: skip
            out.append((np.array([sum_r2]), du, dv, work[3].copy(), work[6].copy()))
    finally:
        numba.set_num_threads(before)
    for a, b in zip(out[0], out[-1], strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "algorithm",
    [dlnsam.GD(), dlnsam.SAM(0.1), dlnsam.SAM(0.1, m=1), dlnsam.SAM(0.1, m=2, batch_size=8),
     dlnsam.SGD(4)],
    ids=lambda a: a.name,
)  # fmt: skip
# Slow: compiles the chunked run kernels; the direction tests above keep
# a serial-vs-parallel check of the kernel in the default suite.
@pytest.mark.slow
def test_runs_agree_serial_and_parallel(algorithm, monkeypatch) -> None:
    p = dlnsam.gaussian_problem(16, 40, 3, seed=2, n_test=30)
    serial = dlnsam.run(p, algorithm, lr=0.05, steps=300, alpha=0.2, seed=1)
    monkeypatch.setattr(training, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(training, "PARALLEL_MIN_ROWS", 1)
    monkeypatch.setattr(training.numba, "get_num_threads", lambda: 2)
    assert training.parallel_chunks(16, 40).shape == (
        kernels.PARALLEL_CHUNKS,
        kernels.PART_ROWS,
        40,
    )
    par = dlnsam.run(p, algorithm, lr=0.05, steps=300, alpha=0.2, seed=1)
    np.testing.assert_allclose(par.beta, serial.beta, rtol=1e-10, atol=1e-14)
    assert par.integral_loss == pytest.approx(serial.integral_loss, rel=1e-10)


@pytest.mark.slow  # compiles the chunked flow kernels
@pytest.mark.parametrize("method", flows.METHODS)
def test_flows_agree_serial_and_parallel(method, monkeypatch) -> None:
    p = dlnsam.gaussian_problem(16, 40, 3, seed=2, n_test=0)
    kwargs = {"alpha": 0.1, "t_max": 50.0, "loss_tol": 0.0, "method": method}
    serial = dlnsam.flow(p, dlnsam.SAM(0.1, m=1), **kwargs)
    monkeypatch.setattr(training, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(training, "PARALLEL_MIN_ROWS", 1)
    monkeypatch.setattr(training.numba, "get_num_threads", lambda: 2)
    par = flows.flow(p, dlnsam.SAM(0.1, m=1), **kwargs)
    np.testing.assert_allclose(par.beta, serial.beta, rtol=1e-8)
    np.testing.assert_allclose(par.delta, serial.delta, rtol=1e-8)


def test_small_problems_stay_serial() -> None:
    assert training.parallel_chunks(20, 30) is None


@pytest.mark.parametrize(
    ("n", "d", "chunks"),
    [(20, 30, None), (10, 10**5, None), (99, 10**4, None), (100, 10**4, 2), (250, 2000, 5),
     (1000, 1000, 8), (10**5, 10, 8), (10**5, 2, None)],
)  # fmt: skip
def test_chunk_count_follows_the_batch_not_the_threads(n, d, chunks, monkeypatch) -> None:
    """Wide batches get fewer chunks (or the serial kernel); the count ignores the threads."""
    for threads in (2, 64):
        monkeypatch.setattr(training.numba, "get_num_threads", lambda threads=threads: threads)
        part = training.parallel_chunks(n, d)
        assert (None if part is None else part.shape) == (
            None if chunks is None else (chunks, kernels.PART_ROWS, d)
        )
    monkeypatch.setattr(training.numba, "get_num_threads", lambda: 1)
    part = training.parallel_chunks(n, d)
    assert (None if part is None else part.shape[0]) == chunks


def test_one_thread_takes_the_chunked_kernel_too() -> None:
    """The kernel is chosen by the shape alone, so one thread sums in the same order as many."""
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        part = training.parallel_chunks(1000, 1000)
    finally:
        numba.set_num_threads(before)
    assert part is not None
    assert part.shape == (kernels.PARALLEL_CHUNKS, kernels.PART_ROWS, 1000)


@pytest.mark.slow  # the chunked run and flow kernels again
@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two numba threads")
def test_runs_and_flows_are_the_same_to_the_bit_on_one_and_two_threads(monkeypatch) -> None:
    # Lowered thresholds send a small problem through the chunked kernel (5 chunks of 12 rows).
    monkeypatch.setattr(training, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(training, "PARALLEL_MIN_ROWS", 12)
    p = dlnsam.gaussian_problem(60, 40, 3, seed=4, n_test=20)
    assert training.parallel_chunks(p.n, p.d) is not None
    algorithms = [dlnsam.GD(), dlnsam.SAM(0.1), dlnsam.SAM(0.1, m=1), dlnsam.SAM(0.1, m=4)]
    out = {}
    before = numba.get_num_threads()
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            results = [dlnsam.run(p, a, lr=0.05, steps=200, alpha=0.2, seed=1) for a in algorithms]
            for method in flows.METHODS:
                results.append(
                    dlnsam.flow(p, dlnsam.SAM(0.1, m=1), alpha=0.1, t_max=20.0, method=method)
                )
            out[threads] = results
    finally:
        numba.set_num_threads(before)
    for one, two in zip(out[1], out[2], strict=True):
        np.testing.assert_array_equal(one.u, two.u)
        np.testing.assert_array_equal(one.v, two.v)
        np.testing.assert_array_equal(one.history.steps, two.history.steps)
        np.testing.assert_array_equal(one.history.train_loss, two.history.train_loss)
        np.testing.assert_array_equal(one.history.test_loss, two.history.test_loss)
        assert one.integral_loss == two.integral_loss
    for one, two in zip(out[1][len(algorithms) :], out[2][len(algorithms) :], strict=True):
        np.testing.assert_array_equal(one.delta, two.delta)
