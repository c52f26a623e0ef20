"""The fast path of hypentropy.solve (the Numba kernel) against the robust NumPy path.

solve() runs Newton in λ-space with Cholesky solves while that is numerically
safe and continues on the robust path (SVD whitening, QR Newton systems) when it
is not. These tests check that both paths give the same answer, that each case
takes the path it should, and the kernel's building blocks (its exp, asinh,
Cholesky, condition estimate and projection) one by one.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import assume, event, given
from hypothesis import strategies as st
from test_hypentropy import gaussian

import dlnsam
from dlnsam import hypentropy, status
from dlnsam.hypentropy import SolveStatus, design, kernel, newton, potential, solve, solver


def robust(X: np.ndarray, y: np.ndarray, alpha) -> hypentropy.HypentropyResult:
    """The robust path alone, from λ = 0 (the reference implementation)."""
    n, d = X.shape
    a = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (d,)).copy()
    return solver._solve_robust(X, y, a, np.zeros(n), 1e-12, 200, [])


def fast_path(X: np.ndarray, y: np.ndarray, alpha, tol: float = 1e-12) -> tuple[int, int]:
    """(status code, Newton steps) of the kernel alone, from λ = 0.

    With read-only views of the inputs, like solve, so that the kernel is not
    compiled a second time.
    """
    n, d = X.shape
    vector = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (d,)).copy()
    X, y, vector = (solver._readonly(a) for a in (X, y, vector))
    code, n_iter, *_ = kernel.newton(X, y, 0.0, vector, tol, 200, np.zeros(n), np.empty(d))
    return code, n_iter


@contextlib.contextmanager
def robust_path_calls() -> Iterator[list[int]]:
    """Count the calls of the robust path (the SVD of X) made inside the block."""
    calls = [0]
    reduce = solver._reduce

    def spy(X: np.ndarray, y: np.ndarray) -> design._Design:
        calls[0] += 1
        return reduce(X, y)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(solver, "_reduce", spy)
        yield calls


def kkt(X: np.ndarray, y: np.ndarray, alpha, res: hypentropy.HypentropyResult) -> float:
    """The larger of the relative primal and dual residuals, recomputed with a QR of Xᵀ."""
    basis = np.linalg.qr(X.T)[0]
    grad = np.arcsinh(res.beta / (2.0 * np.asarray(alpha) ** 2))
    dual = np.linalg.norm(grad - basis @ (basis.T @ grad)) / np.linalg.norm(grad)
    return max(float(np.linalg.norm(X @ res.beta - y) / np.linalg.norm(y)), float(dual))


def assert_same_solution(X: np.ndarray, fast, slow, *, same_steps: bool = True) -> None:
    """Both converged to the same β; with ``same_steps``, also by the same Newton steps."""
    assert fast.status is slow.status is SolveStatus.CONVERGED, (fast.message, slow.message)
    scale = np.abs(slow.beta).max()
    np.testing.assert_allclose(fast.beta, slow.beta, rtol=0, atol=1e-10 * scale)
    assert fast.primal_residual <= 1e-11 and fast.dual_residual <= 1e-13
    if same_steps:
        # Then z = Xᵀλ agrees too. (Off the support of a small-α solution, z_i is
        # pinned down by tol only through the tiny weights 2α² cosh z_i.)
        assert fast.n_iter == slow.n_iter
        z, z_slow = X.T @ fast.lam, X.T @ slow.lam
        np.testing.assert_allclose(z, z_slow, rtol=0, atol=1e-9 * np.abs(z_slow).max())


# --------------------------------------------------------------------------- which path


@pytest.mark.parametrize("alpha", [1e-3, 0.05, 1.0, 1e2, 1e4])
@pytest.mark.parametrize("shape", [(20, 100), (10, 40), (21, 60)])
@pytest.mark.parametrize("sparse", [0, 3], ids=["gaussian-y", "sparse-y"])
def test_fast_path_alone_matches_the_robust_path(
    shape: tuple[int, int], alpha: float, sparse: int
) -> None:
    X, y = gaussian(*shape, seed=sum(shape), sparse=sparse)
    with robust_path_calls() as calls:
        fast = solve(X, y, alpha)
    assert calls[0] == 0, "the robust path was used"
    assert_same_solution(X, fast, robust(X, y, alpha))
    assert kkt(X, y, alpha, fast) <= 1e-12


def test_the_benchmark_problem_takes_the_fast_path() -> None:
    p = dlnsam.gaussian_problem(n=20, d=100, k=3, seed=0, n_test=0)
    with robust_path_calls() as calls:
        res = solve(p.X, p.y, 0.05)
        res_vector = solve(p.X, p.y, np.full(100, 0.05))
    assert calls[0] == 0
    assert_same_solution(p.X, res, robust(p.X, p.y, 0.05))
    np.testing.assert_array_equal(res.beta, res_vector.beta)
    assert kkt(p.X, p.y, 0.05, res) <= 1e-12


def test_warm_start_and_vector_alpha_on_the_fast_path() -> None:
    X, y = gaussian(12, 50, seed=3)
    alpha = np.exp(np.random.default_rng(3).uniform(np.log(0.1), np.log(1.0), 50))
    with robust_path_calls() as calls:
        res = solve(X, y, alpha)
        again = solve(X, y, alpha, lam0=res.lam)
        nearby = solve(X, y, 1.1 * alpha, lam0=res.lam)
    assert calls[0] == 0
    assert_same_solution(X, res, robust(X, y, alpha))
    assert again.n_iter == 0 and again.success
    assert nearby.success and nearby.n_iter < res.n_iter
    assert kkt(X, y, alpha, res) <= 1e-12


@pytest.mark.parametrize(
    "case",
    ["rank-deficient", "more-rows-than-columns", "ill-conditioned", "alpha-spanning-decades"],
)
def test_unsafe_designs_take_the_robust_path_from_the_start(case: str) -> None:
    X, y = gaussian(10, 30, seed=4)
    alpha: float | np.ndarray = 0.3
    rng = np.random.default_rng(4)
    if case == "rank-deficient":
        X = np.vstack([X, rng.standard_normal((2, 10)) @ X])
        y = X @ rng.standard_normal(30)
    elif case == "more-rows-than-columns":
        X = rng.standard_normal((8, 5))
        y = X @ rng.standard_normal(5)
    elif case == "ill-conditioned":
        U, _, Vt = np.linalg.svd(X, full_matrices=False)
        X = U @ np.diag(np.logspace(0, -3, 10)) @ Vt  # κ(XXᵀ) = 1e6
    else:
        alpha = np.exp(rng.uniform(np.log(1e-6), np.log(1.0), 30))
    code, n_iter = fast_path(X, y, alpha)
    assert code == status.NEWTON_UNSAFE and n_iter == 0
    with robust_path_calls() as calls:
        res = solve(X, y, alpha)
    assert calls[0] == 1
    reference = robust(X, y, alpha)
    # Nothing was done on the fast path: the robust path alone, bit for bit.
    np.testing.assert_array_equal(res.beta, reference.beta)
    np.testing.assert_array_equal(res.lam, reference.lam)
    assert (res.n_iter, res.status, res.message) == (
        reference.n_iter, reference.status, reference.message)  # fmt: skip


@pytest.mark.parametrize("alpha", [1e-6, 1e-10, 1e-30])
def test_tiny_alpha_continues_on_the_robust_path(alpha: float) -> None:
    """The weights 2α² cosh z spread with the iterations; the fast path hands over midway."""
    X, y = gaussian(20, 60, seed=5, sparse=3)
    code, n_fast = fast_path(X, y, alpha)
    assert code == status.NEWTON_UNSAFE and n_fast >= 1
    with robust_path_calls() as calls:
        res = solve(X, y, alpha)
    assert calls[0] == 1
    reference = robust(X, y, alpha)
    assert res.success and res.n_iter > n_fast
    assert abs(res.n_iter - reference.n_iter) <= 2
    assert kkt(X, y, alpha, res) <= 1e-12
    np.testing.assert_allclose(res.beta, reference.beta, rtol=0, atol=1e-9)


def test_statuses_and_zero_targets_on_the_fast_path() -> None:
    X, y = gaussian(10, 40, seed=6)
    with robust_path_calls() as calls:
        short = solve(X, y, 0.5, max_iter=1)
        none = solve(X, y, 0.5, max_iter=0)
        zero = solve(X, np.zeros(10), 0.5)
    assert calls[0] == 0
    assert short.status is SolveStatus.MAX_ITER and short.n_iter == 1
    assert none.status is SolveStatus.MAX_ITER and none.n_iter == 0
    np.testing.assert_array_equal(none.beta, 0.0)
    assert zero.success and zero.n_iter == 0 and zero.primal_residual == zero.dual_residual == 0
    np.testing.assert_array_equal(zero.beta, 0.0)
    # Asked for a tolerance below the rounding floor, the fast path hands the end
    # game over to the robust path, which detects the stall.
    code, n_fast = fast_path(X, y, 0.5, tol=1e-19)
    assert code == status.NEWTON_ROUNDING and n_fast >= 1
    with robust_path_calls() as calls:
        greedy = solve(X, y, 0.5, tol=1e-19)
    assert calls[0] == 1
    assert greedy.status is SolveStatus.STALLED and greedy.primal_residual < 1e-14
    assert greedy.n_iter > n_fast


def test_one_compiled_signature_for_every_kind_of_input() -> None:
    """Read-only views keep the kernel to one compilation (each one takes seconds)."""
    X, y = gaussian(6, 20, seed=7)
    ro_X, ro_y = X.copy(), y.copy()
    ro_X.setflags(write=False)
    ro_y.setflags(write=False)
    first = solve(X, y, 0.4)
    for args in [(ro_X, ro_y, 0.4), (X, y, np.full(20, 0.4)), (ro_X, y, np.float64(0.4))]:
        np.testing.assert_array_equal(solve(*args).beta, first.beta)
    solve(X, y, 0.4, lam0=first.lam)  # a read-only warm start
    assert len(kernel.newton.signatures) == 1


# --------------------------------------------------------------------------- equivalence


@st.composite
def problems(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, float | np.ndarray]:
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(1, 12))
    d = draw(st.integers(n + 1, 50))
    X, y = gaussian(n, d, seed, sparse=draw(st.sampled_from([0, min(3, n)])))
    alpha: float | np.ndarray = 10.0 ** draw(st.floats(-7, 3))
    if draw(st.booleans()):
        spread = draw(st.floats(0.0, 2.0))
        alpha = alpha * 10.0 ** np.random.default_rng(seed).uniform(-spread, spread, d)
    return X, y, alpha


@given(problems())
def test_solve_agrees_with_the_robust_path(problem) -> None:
    """Whichever path solve takes, it finds the robust path's answer.

    The number of Newton steps is the same in exact arithmetic, but may differ
    where the rounding floor of the residual is close to tol (then the steps at
    the floor succeed or not by chance); so is, below, whether tol is reached.
    """
    X, y, alpha = problem
    reference = robust(X, y, alpha)
    assume(reference.success)
    with robust_path_calls() as calls:
        res = solve(X, y, alpha)
    event("fast path only" if calls[0] == 0 else "robust path")
    assert_same_solution(X, res, reference, same_steps=False)
    assert kkt(X, y, alpha, res) <= 1e-10


# --------------------------------------------------------------------------- building blocks


def ulps(value: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """|value − exact| in units of the spacing at exact (exact in extended precision)."""
    spacing = np.spacing(np.abs(exact.astype(np.float64))).astype(np.longdouble)
    return np.abs((value.astype(np.longdouble) - exact) / spacing).astype(np.float64)


@pytest.mark.skipif(np.finfo(np.longdouble).eps >= 1e-18, reason="needs 80-bit long double")
def test_terms_in_their_vectorized_loop_are_accurate() -> None:
    """The compiled loop of the dual's terms, as the kernel runs it, against long double."""
    rng = np.random.default_rng(9)
    z = np.concatenate([rng.uniform(-650, 650, 4000), rng.uniform(-2, 2, 4000),
                        10.0 ** rng.uniform(-300, 0, 2000)])  # fmt: skip
    alpha_sq = np.full(z.size, 0.25)
    log_two_alpha_sq = np.full(z.size, math.log(0.5))
    beta, w, excess = np.empty(z.size), np.empty(z.size), np.empty(z.size)
    assert kernel._terms(z, alpha_sq, log_two_alpha_sq, beta, w, excess)
    zl = z.astype(np.longdouble)
    assert ulps(beta, 0.5 * np.sinh(zl)).max() <= 4.0
    assert ulps(w, 0.5 * np.cosh(zl)).max() <= 4.0
    small = np.abs(z) < 1.0  # cosh z − 1 without cancellation
    assert ulps(excess[small], np.sinh(zl[small] / 2) ** 2).max() <= 8.0  # 2α²(cosh z − 1)


@pytest.mark.skipif(np.finfo(np.longdouble).eps >= 1e-18, reason="needs 80-bit long double")
def test_exp_neg_and_asinh_are_accurate_to_about_one_ulp() -> None:
    rng = np.random.default_rng(8)
    a = np.concatenate([
        rng.uniform(0, 700, 20000), rng.uniform(0, 2, 20000), 10.0 ** rng.uniform(-300, 0, 10000),
        [0.0, 5e-324, math.log(2) / 2, math.log(2), 1.0, 700.0],
    ])  # fmt: skip
    pairs = np.array([kernel._exp_neg(float(v)) for v in a])
    exact = a.astype(np.longdouble)
    assert ulps(pairs[:, 0], np.exp(-exact)).max() <= 1.5
    assert ulps(pairs[:, 1], np.expm1(-exact)).max() <= 1.5
    u = np.concatenate([
        10.0 ** rng.uniform(-300, 300, 20000), rng.uniform(-5, 5, 20000),
        [0.0, 1e-300, 3.6e-9, 3.8e-9, 1.0, 2.0**28, 2.0**28 * (1 + 2**-52), 1e300],
    ])  # fmt: skip
    u = np.concatenate([u, -u])
    got = np.array([kernel._asinh(float(v)) for v in u])
    assert ulps(got, np.arcsinh(u.astype(np.longdouble))).max() <= 2.0
    assert math.copysign(1.0, kernel._asinh(-0.0)) == -1.0


@pytest.mark.parametrize(("n", "d"), [(1, 3), (7, 30), (20, 100), (256, 300)])
def test_gram_cholesky_and_condition_estimate(n: int, d: int) -> None:
    rng = np.random.default_rng(n)
    X = rng.standard_normal((n, d))
    v = rng.uniform(0.5, 2.0, d)
    G = np.full((n, n), np.nan)
    kernel._weighted_gram(X, v, G)  # (256, 300): the BLAS branch
    exact = (X * v) @ X.T
    np.testing.assert_allclose(np.tril(G), np.tril(exact), rtol=0, atol=1e-12 * np.abs(exact).max())
    assert kernel._norm1_symmetric(G) == pytest.approx(np.abs(exact).sum(axis=0).max(), rel=1e-12)
    assert kernel._cholesky(G)
    L = np.tril(G, -1) + np.diag(1.0 / np.diag(G))  # the factor keeps 1/L_jj on its diagonal
    np.testing.assert_allclose(L @ L.T, exact, rtol=0, atol=1e-12 * np.abs(exact).max())
    b = rng.standard_normal(n)
    out = np.empty(n)
    kernel._cholesky_solve(G, b, out)
    np.testing.assert_allclose(exact @ out, b, rtol=0, atol=1e-10 * np.abs(b).max())
    estimate = kernel._inverse_norm1(G, np.empty(n), np.empty(n), np.empty(n))
    true = np.abs(np.linalg.inv(exact)).sum(axis=0).max()
    assert true / 3 <= estimate <= true * (1 + 1e-10)


def test_cholesky_rejects_singular_and_nan_matrices() -> None:
    X = np.random.default_rng(9).standard_normal((4, 3))  # rank 3 < 4
    G = X @ X.T
    G[-1, -1] -= 1e-3  # negative definite direction, not only rounding
    assert not kernel._cholesky(G.copy())
    assert not kernel._cholesky(np.full((2, 2), np.nan))


def test_projection_of_the_dual_residual_matches_the_svd_basis() -> None:
    """Away from the optimum (an O(1) residual) the Cholesky projection equals the SVD one."""
    rng = np.random.default_rng(10)
    X = rng.standard_normal((8, 30))
    alpha_sq = rng.uniform(0.1, 2.0, 30) ** 2
    beta = rng.standard_normal(30)
    lam = rng.standard_normal(8)
    z = X.T @ lam
    G = np.empty((8, 8))
    kernel._weighted_gram(X, np.ones(30), G)
    assert kernel._cholesky(G)
    got = kernel._dual_residual(X, G, alpha_sq, beta, z, np.empty(8), np.empty(8), np.empty(30))
    basis = np.linalg.svd(X, full_matrices=False)[2].T
    grad = potential._grad_phi(beta, np.log(2.0 * alpha_sq))
    expected = potential._null_space_residual(grad, basis)
    assert 0.1 < expected < 1.0
    assert got == pytest.approx(expected, rel=1e-12)


def test_the_kernel_repeats_the_constants_of_the_robust_path() -> None:
    """The kernel keeps its own copies (Numba caches it per file): they must agree."""
    for name in ("_MAX_EXPONENT", "_TRUST_RADIUS", "_ARMIJO", "_MAX_BACKTRACKS", "_ROUNDING"):
        assert getattr(kernel, name) == getattr(newton, name), name
