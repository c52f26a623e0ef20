"""Hypentropy: the potential, the solver, its two limits, and the inverse problem."""

from __future__ import annotations

import dataclasses
import doctest
import importlib
import pkgutil
import warnings

import numpy as np
import pytest
import scipy.linalg
import scipy.optimize
from hypothesis import given
from hypothesis import strategies as st

from dlnsam import hypentropy
from dlnsam.hypentropy import (
    AlphaFit,
    HypentropyResult,
    SolveStatus,
    fit_alpha,
    identity_residual,
    path,
    phi,
    q,
    q_prime,
    solve,
)

ALPHAS = [1e-8, 1e-4, 1e-2, 0.05, 1.0, 1e2, 1e4]
SHAPES = [(20, 30), (20, 100), (50, 200)]


def gaussian(n: int, d: int, seed: int, *, sparse: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A Gaussian design with Gaussian targets, or targets of a planted ±1 sparse vector."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if sparse:
        beta = np.zeros(d)
        beta[:sparse] = rng.choice([-1.0, 1.0], size=sparse)
        return X, X @ beta
    return X, rng.standard_normal(n)


def kkt_residuals(
    X: np.ndarray, y: np.ndarray, alpha, res: HypentropyResult
) -> tuple[float, float]:
    """Relative primal residual and stationarity residual, recomputed from scratch."""
    primal = np.linalg.norm(X @ res.beta - y) / np.linalg.norm(y)
    grad = np.arcsinh(res.beta / (2.0 * np.asarray(alpha) ** 2))
    z = X.T @ res.lam
    return float(primal), float(np.linalg.norm(grad - z) / np.linalg.norm(z))


def basis_pursuit(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """min ‖β‖₁ s.t. Xβ = y by linear programming (β = p − m, p, m ≥ 0).

    Returns the solution, its support and the dual certificate ν with X_Sᵀν = sign(β_S).
    For a nondegenerate instance (|S| = n) both are recomputed from the support by a
    linear solve, to full precision rather than the LP tolerance.
    """
    d = X.shape[1]
    lp = scipy.optimize.linprog(
        np.ones(2 * d), A_eq=np.hstack([X, -X]), b_eq=y, bounds=(0, None), method="highs"
    )
    assert lp.status == 0
    support = np.abs(lp.x[:d] - lp.x[d:]) > 1e-9
    assert support.sum() == X.shape[0], "the test needs a nondegenerate instance"
    beta = np.zeros(d)
    beta[support] = np.linalg.solve(X[:, support], y)
    nu = np.linalg.solve(X[:, support].T, np.sign(beta[support]))
    return beta, support, nu


# --------------------------------------------------------------------------- q and phi


@given(st.floats(-1e100, 1e100))
def test_q_is_nonnegative_even_and_zero_only_at_zero(z: float) -> None:
    value = q(z)
    assert value >= 0.0
    assert q(-z) == value
    assert (value == 0.0) == (z == 0.0) or abs(z) < 1e-150  # z²/4 underflows below ~1e-154


def test_q_prime_is_the_derivative_of_q() -> None:
    z = np.concatenate([-np.logspace(-3, 2, 30), [0.0], np.logspace(-3, 2, 30)])
    h = 1e-5 * np.maximum(1.0, np.abs(z))
    central = (q(z + h) - q(z - h)) / (2 * h)
    np.testing.assert_allclose(central, q_prime(z), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(q_prime(z), np.arcsinh(z / 2), rtol=0, atol=0)


def test_q_is_quadratic_near_zero_without_cancellation() -> None:
    # q(z) = z²/4 − z⁴/192 + O(z⁶): the naive formula returns 0 or garbage here.
    z = np.array([1e-12, 1e-9, 1e-6, 1e-3, -1e-3])
    np.testing.assert_allclose(q(z) / (z**2 / 4), 1 - z**2 / 48, rtol=1e-14)


def test_q_grows_like_z_log_z() -> None:
    # q(z) = |z| log|z| − |z| + 2 − 1/|z| + O(log|z| / z²) for large |z|.
    z = np.array([1e2, 1e3, 1e4, -1e4])
    a = np.abs(z)
    np.testing.assert_allclose(q(z) - (a * np.log(a) - a + 2), -1 / a, rtol=0.05)
    assert q(1e200) == pytest.approx(1e200 * (np.log(1e200) - 1), rel=1e-14)  # no overflow


def test_phi_sums_scaled_q_with_scalar_and_vector_alpha() -> None:
    rng = np.random.default_rng(0)
    beta = rng.standard_normal(6)
    alpha = np.exp(rng.uniform(-2, 2, 6))
    expected = np.sum(alpha**2 * q(beta / alpha**2))
    assert phi(beta, alpha) == pytest.approx(expected, rel=1e-13)
    assert phi(beta, 0.3) == pytest.approx(np.sum(0.09 * q(beta / 0.09)), rel=1e-13)
    stack = np.stack([beta, 2 * beta, np.zeros(6)])
    np.testing.assert_allclose(phi(stack, alpha), [phi(b, alpha) for b in stack], rtol=1e-15)


def test_phi_gradient_is_arcsinh() -> None:
    rng = np.random.default_rng(1)
    beta, alpha = rng.standard_normal(5), np.exp(rng.uniform(-1, 1, 5))
    h = 1e-6
    fd = [(phi(beta + h * e, alpha) - phi(beta - h * e, alpha)) / (2 * h) for e in np.eye(5)]
    np.testing.assert_allclose(fd, np.arcsinh(beta / (2 * alpha**2)), rtol=1e-7)


def test_phi_is_finite_and_asymptotic_for_extreme_alpha() -> None:
    # α² underflows for α = 1e-200, yet φ is finite: Σ|β_i| (log(|β_i|/α²) − 1) + O(α²)
    beta = np.array([0.5, -2.0, 0.0])
    log_alpha_sq = 2 * np.log(1e-200)
    a = np.abs(beta[:2])
    assert phi(beta, 1e-200) == pytest.approx(np.sum(a * (np.log(a) - log_alpha_sq - 1)), rel=1e-14)
    # and ‖β‖²/(4α²) for huge α
    assert phi(beta, 1e100) == pytest.approx(np.sum(beta**2) / 4e200, rel=1e-14)


# --------------------------------------------------------------------------- solve: KKT


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("sparse", [0, 3], ids=["gaussian-y", "sparse-y"])
def test_kkt_residuals_across_alpha(shape: tuple[int, int], alpha: float, sparse: int) -> None:
    X, y = gaussian(*shape, seed=sum(shape), sparse=sparse)
    res = solve(X, y, alpha)
    assert res.success and res.status == "converged", res.message
    assert res.primal_residual <= 1e-10 and res.dual_residual <= 1e-10
    primal, stationarity = kkt_residuals(X, y, alpha, res)
    assert primal <= 1e-10 and stationarity <= 1e-10
    assert res.n_iter <= 40


def test_extreme_alpha_within_the_accepted_range() -> None:
    X, y = gaussian(10, 25, seed=2)
    for alpha in (1e-30, 1e-12, 1e30):
        res = solve(X, y, alpha)
        assert res.success, res.message
        assert res.dual_residual <= 1e-12


def test_ill_conditioned_design() -> None:
    # The whitening keeps cond(X)² out of the Newton systems.
    rng = np.random.default_rng(3)
    U = np.linalg.qr(rng.standard_normal((10, 10)))[0]
    V = np.linalg.qr(rng.standard_normal((40, 10)))[0]
    X = U @ np.diag(np.logspace(0, -10, 10)) @ V.T
    y = X @ rng.standard_normal(40)
    for alpha in (1e-6, 1.0):
        res = solve(X, y, alpha)
        assert res.success and res.primal_residual <= 1e-12, res.message


def test_optimal_against_null_space_perturbations() -> None:
    X, y = gaussian(8, 20, seed=4)
    null = scipy.linalg.null_space(X)
    rng = np.random.default_rng(4)
    for alpha in (1e-3, 0.1, 1.0, 10.0):
        res = solve(X, y, alpha)
        best = phi(res.beta, alpha)
        grad = np.arcsinh(res.beta / (2 * alpha**2))
        for _ in range(20):
            w = null @ rng.standard_normal(null.shape[1])
            w /= np.linalg.norm(w)
            # first order: ∇φ(β*) ⟂ null(X); second order: φ grows in every direction
            assert abs(grad @ w) <= 1e-10 * np.linalg.norm(grad)
            for t in (1e-1, 1e-2, 1e-3):
                step = t * np.linalg.norm(res.beta) * w
                assert phi(res.beta + step, alpha) > best
                assert phi(res.beta - step, alpha) > best


# --------------------------------------------------------------------------- the two limits


def test_small_alpha_tends_to_basis_pursuit_at_the_predicted_rate() -> None:
    """α → 0: β*(α) → the minimum-ℓ1 interpolator, at a rate the LP dual predicts.

    With λ ≈ log(1/α²) ν + O(1), an off-support coordinate is
    β_i = 2α² sinh(x_iᵀλ) ∝ α^{2(1 − |x_iᵀν|)}: the gap is polynomial in α with a
    problem-dependent exponent (not O(α²)); close to 1 when the certificate has
    no margin. This instance has a margin, max_{i∉S} |x_iᵀν| ≈ 0.77.
    """
    X, y = gaussian(20, 30, seed=0)
    bp, support, nu = basis_pursuit(X, y)
    certificate = np.abs(X.T @ nu)
    np.testing.assert_allclose(certificate[support], 1.0, rtol=1e-12)
    margin = certificate[~support].max()
    assert margin < 0.8
    alphas = 10.0 ** -np.arange(1, 13)
    betas = path(X, y, alphas)
    error = np.abs(betas - bp).max(axis=1)
    assert np.all(np.diff(error) < 0), error
    assert error[-1] < 1e-7
    # per off-support coordinate, the log-log slope between α = 1e-11 and 1e-12
    off = np.flatnonzero(~support)
    top = off[np.argsort(-certificate[off])[:4]]
    slope = np.log(np.abs(betas[-2, top] / betas[-1, top])) / np.log(10.0)
    np.testing.assert_allclose(slope, 2 * (1 - certificate[top]), atol=0.02)
    assert np.all(np.abs(betas).sum(axis=1) >= np.abs(bp).sum() - 1e-12)


def test_small_alpha_l1_gap_obeys_the_log_bound() -> None:
    """0 ≤ ‖β*‖₁ − ‖β_BP‖₁ ≤ (φ_α(β_BP) − H(β*))/L − ‖β_BP‖₁, L = log(1/α²).

    q(w) ≥ w log w − w gives φ_α(β) ≥ L‖β‖₁ + H(β) with H(β) = Σ|β_i|(log|β_i| − 1);
    with φ_α(β*) ≤ φ_α(β_BP) this bounds the ℓ1 gap, by O(1/log(1/α)) in general.
    """
    X, y = gaussian(20, 40, seed=1)
    bp = basis_pursuit(X, y)[0]
    bp_l1 = np.abs(bp).sum()
    for alpha in (1e-2, 1e-4, 1e-8, 1e-12):
        beta = solve(X, y, alpha).beta
        L = -2 * np.log(alpha)
        a = np.abs(beta[beta != 0])
        entropy = np.sum(a * (np.log(a) - 1))
        bound = (phi(bp, alpha) - entropy) / L - bp_l1
        gap = np.abs(beta).sum() - bp_l1
        assert -1e-10 <= gap <= bound
        assert bound <= 2.0 / L


def test_large_alpha_tends_to_min_l2_like_one_over_alpha_to_the_fourth() -> None:
    """α → ∞: β*(α) → pinv(X) y with relative error O(1/α⁴).

    q(w) = w²/4 − w⁴/192 + …, so φ_α(β) = ‖β‖²/(4α²) − Σβ_i⁴/(192 α⁶) + …: the
    quartic correction, relatively O(β²/α⁴), moves the minimizer by O(1/α⁴).
    """
    X, y = gaussian(20, 30, seed=5)
    l2 = np.linalg.pinv(X) @ y
    alphas = np.array([3.0, 10.0, 30.0, 100.0])
    error = np.linalg.norm(path(X, y, alphas) - l2, axis=1) / np.linalg.norm(l2)
    slope = np.diff(np.log(error)) / np.diff(np.log(alphas))
    np.testing.assert_allclose(slope, -4.0, atol=0.05)
    assert error[-1] < 1e-9


# --------------------------------------------------------------------------- per-coordinate alpha


def test_constant_vector_alpha_equals_scalar_alpha() -> None:
    X, y = gaussian(10, 30, seed=6)
    for alpha in (1e-6, 0.3, 50.0):
        scalar = solve(X, y, alpha)
        vector = solve(X, y, np.full(30, alpha))
        np.testing.assert_array_equal(scalar.beta, vector.beta)


def test_vector_alpha_against_a_generic_constrained_optimizer() -> None:
    X, y = gaussian(2, 5, seed=7)
    alpha = np.array([0.3, 1.0, 0.5, 2.0, 0.8])
    res = solve(X, y, alpha)
    assert res.success
    reference = scipy.optimize.minimize(
        lambda b: phi(b, alpha),
        np.linalg.pinv(X) @ y,
        jac=lambda b: np.arcsinh(b / (2 * alpha**2)),
        constraints=[{"type": "eq", "fun": lambda b: X @ b - y, "jac": lambda b: X}],
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 500},
    )
    assert reference.success
    np.testing.assert_allclose(res.beta, reference.x, rtol=1e-5, atol=1e-7)
    assert phi(res.beta, alpha) <= phi(reference.x, alpha) + 1e-12


def test_vector_alpha_spanning_decades() -> None:
    X, y = gaussian(20, 60, seed=8)
    alpha = np.exp(np.random.default_rng(8).uniform(np.log(1e-6), np.log(1.0), 60))
    res = solve(X, y, alpha)
    assert res.success, res.message
    primal, stationarity = kkt_residuals(X, y, alpha, res)
    assert primal <= 1e-10 and stationarity <= 1e-10


# --------------------------------------------------------------------------- path, warm starts


def test_path_matches_solve_in_the_callers_order() -> None:
    X, y = gaussian(10, 25, seed=9)
    alphas = np.array([1.0, 1e-6, 30.0, 1e-3, 1.0, 0.05])
    betas = path(X, y, alphas)
    assert betas.shape == (6, 25)
    for alpha, beta in zip(alphas, betas, strict=True):
        np.testing.assert_allclose(beta, solve(X, y, alpha).beta, rtol=1e-9, atol=1e-12)


def test_warm_start_from_the_solution_takes_no_step() -> None:
    X, y = gaussian(10, 25, seed=10)
    res = solve(X, y, 1e-4)
    again = solve(X, y, 1e-4, lam0=res.lam)
    assert again.n_iter == 0 and again.success
    nearby = solve(X, y, 2e-4, lam0=res.lam)
    assert nearby.success and nearby.n_iter < res.n_iter


def test_statuses_max_iter_and_stalled() -> None:
    X, y = gaussian(10, 25, seed=11)
    short = solve(X, y, 1e-6, max_iter=2)
    assert short.status is SolveStatus.MAX_ITER and not short.success
    assert "max_iter" in short.message and short.n_iter == 2
    # a tolerance below the rounding floor ends in a stall, not in max_iter steps
    greedy = solve(X, y, 0.1, tol=1e-18)
    assert greedy.status == "stalled" and not greedy.success
    assert greedy.n_iter < 50 and greedy.primal_residual < 1e-14
    with pytest.raises(RuntimeError, match="did not converge"):
        path(X, y, [0.1, 1.0], tol=1e-18)


def test_result_records_are_frozen_and_read_only() -> None:
    X, y = gaussian(5, 9, seed=12)
    res = solve(X, y, 0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.beta = np.zeros(9)  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        res.beta[0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        res.lam[0] = 1.0
    fit = fit_alpha(X, res.beta)
    assert isinstance(fit, AlphaFit)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.alpha = 1.0  # type: ignore[misc]


def test_zero_targets_give_zero() -> None:
    res = solve(np.ones((2, 3)), np.zeros(2), 0.1)
    assert res.success and res.n_iter == 0
    np.testing.assert_array_equal(res.beta, 0.0)


@pytest.mark.parametrize(
    ("c", "alpha"),
    [(1e150, 0.1), (1e-150, 0.1), (1e300, 1e100), (1e-300, 1e-100), (1e200, 1e50), (1e-200, 1e-50)],
)  # fmt: skip
def test_extreme_targets_are_solved_without_warnings(c: float, alpha: float) -> None:
    # β*(α; X, c y) = c β*(α/√c; X, y): compare with the moderate problem.
    X, y = gaussian(20, 30, 1)
    reference = solve(X, y, alpha / np.sqrt(c))
    assert reference.success, reference.message
    with warnings.catch_warnings(), np.errstate(all="raise", under="ignore"):
        warnings.simplefilter("error")
        res = solve(X, c * y, alpha)
    assert res.success, res.message
    assert res.primal_residual <= 1e-10 and res.dual_residual <= 1e-10
    assert np.all(np.isfinite(res.beta)) and not res.beta.flags.writeable
    np.testing.assert_allclose(res.beta / c, reference.beta, rtol=0,
                               atol=1e-10 * np.abs(reference.beta).max())  # fmt: skip
    np.testing.assert_allclose(res.lam, reference.lam, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize(("c", "alpha"), [(1e300, 0.1), (1e-300, 0.1), (1e150, 1e-100)])
def test_extreme_targets_outside_the_scale_range_are_refused(c: float, alpha: float) -> None:
    # α/√c is outside [1e-100, 1e100]: an error naming alpha, never a wrong "converged".
    X, y = gaussian(20, 30, 0, sparse=3)
    with pytest.raises(ValueError, match=r"alpha must lie in \[.*for this y"):
        solve(X, c * y, alpha)


# --------------------------------------------------------------------------- rank deficiency


def test_rank_deficient_consistent_system_is_reduced() -> None:
    X, y = gaussian(6, 15, seed=13)
    A = np.random.default_rng(13).standard_normal((3, 6))
    X_big, y_big = np.vstack([X, A @ X]), np.concatenate([y, A @ y])  # 9 rows, rank 6
    for alpha in (1e-5, 0.2):
        reduced, full = solve(X_big, y_big, alpha), solve(X, y, alpha)
        assert reduced.success, reduced.message
        np.testing.assert_allclose(reduced.beta, full.beta, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(X_big.T @ reduced.lam, X.T @ full.lam, rtol=1e-9, atol=1e-9)
    # more rows than columns, full column rank: the unique solution
    X_tall = np.random.default_rng(14).standard_normal((8, 4))
    beta = np.array([1.0, -2.0, 0.5, 0.0])
    np.testing.assert_allclose(solve(X_tall, X_tall @ beta, 0.1).beta, beta, atol=1e-12)


# --------------------------------------------------------------------------- fit_alpha


@pytest.mark.parametrize("alpha", np.logspace(-3, 1, 7) * 1.37)
@pytest.mark.parametrize("sparse", [0, 3], ids=["gaussian-y", "sparse-y"])
def test_fit_alpha_recovers_alpha(alpha: float, sparse: int) -> None:
    X, y = gaussian(20, 50, seed=15, sparse=sparse)
    fit = fit_alpha(X, solve(X, y, alpha).beta)
    assert fit.success, fit.message
    assert fit.alpha == pytest.approx(alpha, rel=1e-6)
    assert fit.residual < 1e-10


def test_fit_alpha_of_constant_vector_alpha_and_of_non_hypentropy_interpolators() -> None:
    X, y = gaussian(20, 30, seed=0)
    fit = fit_alpha(X, solve(X, y, np.full(30, 0.07)).beta)
    assert fit.alpha == pytest.approx(0.07, rel=1e-6) and fit.residual < 1e-10
    # basis pursuit plus a null-space perturbation interpolates but is not β*(α)
    bp = basis_pursuit(X, y)[0]
    w = scipy.linalg.null_space(X) @ np.random.default_rng(0).standard_normal(10)
    noisy = fit_alpha(X, bp + 0.1 * w / np.linalg.norm(w) * np.linalg.norm(bp))
    assert noisy.residual > 1e-2


def test_fit_alpha_flags_the_min_l2_limit_and_the_bounds() -> None:
    # the minimum-ℓ2 interpolator is β*(∞): any large enough α explains it
    X, y = gaussian(5, 12, seed=16)
    fit = fit_alpha(X, np.linalg.pinv(X) @ y)
    assert not fit.success and "alpha -> infinity" in fit.message
    beta = solve(X, y, 1e-3).beta
    fit = fit_alpha(X, beta, bounds=(1.0, 1e3))
    assert not fit.success and "lower end of bounds" in fit.message


def test_fit_alpha_reports_non_identifiable_scales() -> None:
    # With a one-dimensional null space the curve α ↦ β*(α) can come back to the
    # same point: β*(0.0012368…) = β*(0.29585…) for this design.
    X = np.array(
        [
            [0.22726904839809406, -1.366146071666905, 1.5446202862919884],
            [0.5100025942042296, 0.1808154754015594, -0.49061386446465505],
        ]
    )
    y = np.array([0.2169711344034712, -1.4307951315069474])
    alpha = 0.0012368449993728078
    beta = solve(X, y, alpha).beta
    fit = fit_alpha(X, beta)
    assert fit.success and "not identifiable" in fit.message
    # both exact minimizers are reported, in either order (their residuals tie at rounding)
    low, high = sorted([fit.alpha, float(fit.message.rsplit("alpha = ", 1)[1])])
    assert low == pytest.approx(alpha, rel=1e-9)
    assert high == pytest.approx(0.29585, rel=1e-4)
    np.testing.assert_allclose(solve(X, y, high).beta, beta, rtol=1e-8, atol=1e-10)


# --------------------------------------------------------------------------- properties


@st.composite
def designs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(2, 8))
    d = draw(st.integers(n + 1, 20))
    return gaussian(n, d, seed)


@given(designs(), st.floats(-8, 4))
def test_kkt_on_random_designs(design: tuple[np.ndarray, np.ndarray], log10_alpha: float) -> None:
    X, y = design
    alpha = 10.0**log10_alpha
    res = solve(X, y, alpha)
    assert res.success, res.message
    primal, stationarity = kkt_residuals(X, y, alpha, res)
    assert primal <= 1e-10 and stationarity <= 1e-10 and res.dual_residual <= 1e-10


@given(designs(), st.floats(-6, 2), st.floats(-3, 3))
def test_scale_equivariance(
    design: tuple[np.ndarray, np.ndarray], log10_alpha: float, log10_c: float
) -> None:
    # c² α² q(cβ / (c² α²))·… : φ_{√c α}(cβ) = c φ_α(β), so β*(√c α; X, c y) = c β*(α; X, y)
    X, y = design
    alpha, c = 10.0**log10_alpha, 10.0**log10_c
    beta = solve(X, y, alpha).beta
    scaled = solve(X, c * y, np.sqrt(c) * alpha).beta
    np.testing.assert_allclose(scaled, c * beta, rtol=1e-8, atol=1e-10 * c * np.abs(beta).max())


@given(designs(), st.floats(-6, 2), st.integers(0, 2**32 - 1))
def test_row_mixing_invariance(
    design: tuple[np.ndarray, np.ndarray], log10_alpha: float, seed: int
) -> None:
    # Xβ = y and (AX)β = Ay have the same interpolators for invertible A.
    X, y = design
    n = X.shape[0]
    A = np.eye(n) + 0.3 * np.random.default_rng(seed).standard_normal((n, n)) / np.sqrt(n)
    alpha = 10.0**log10_alpha
    beta = solve(X, y, alpha).beta
    mixed = solve(A @ X, A @ y, alpha).beta
    np.testing.assert_allclose(mixed, beta, rtol=1e-7, atol=1e-9 * np.abs(beta).max())


@given(designs(), st.floats(-3, 1))
def test_fit_alpha_explains_the_solution(
    design: tuple[np.ndarray, np.ndarray], log10_alpha: float
) -> None:
    X, y = design
    alpha = 10.0**log10_alpha
    beta = solve(X, y, alpha).beta
    fit = fit_alpha(X, beta)
    assert fit.success, fit.message
    assert fit.residual < 1e-9
    # α̂ reproduces β. It is α itself unless the curve β*(·) visits β at several
    # scales (flagged when the grid resolves it) or hardly moves with α.
    np.testing.assert_allclose(solve(X, y, fit.alpha).beta, beta, rtol=1e-7, atol=1e-10)
    if abs(fit.alpha / alpha - 1) > 1e-6:
        moved = solve(X, y, np.sqrt(alpha * fit.alpha)).beta - beta
        assert "not identifiable" in fit.message or np.abs(moved).max() < 1e-3


# --------------------------------------------------------------------------- validation

X_OK, Y_OK = gaussian(3, 5, seed=0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"X": np.ones(3)}, "X must be 2-D"),
        ({"y": np.ones((3, 1))}, "y must be 1-D"),
        ({"y": np.ones(4)}, "y has 4 entries but X has 3 rows"),
        ({"X": np.where(np.eye(3, 5) > 0, np.nan, X_OK)}, "X contains 3 non-finite"),
        ({"y": np.array([1.0, np.inf, 0.0])}, "y contains 1 non-finite"),
        ({"X": np.where(np.eye(3, 5) > 0, np.inf, X_OK)}, "X contains 3 non-finite"),
        (
            {"X": np.where(np.eye(3, 5) > 0, [[np.inf], [-np.inf], [0.0]], X_OK)},
            "X contains 2 non-finite",
        ),
        ({"alpha": 0.0}, "alpha must be > 0"),
        ({"alpha": -1.0}, "alpha must be > 0"),
        ({"alpha": np.nan}, "alpha must be finite"),
        ({"alpha": np.inf}, "alpha must be finite"),
        ({"alpha": np.ones(4)}, r"alpha must be a scalar or have shape \(5,\)"),
        ({"alpha": np.ones((5, 1))}, "alpha must be a positive scalar"),
        ({"alpha": np.r_[np.ones(4), 0.0]}, "alpha must be > 0"),
        ({"alpha": 1e-120}, r"alpha must lie in \[1e-100, 1e\+100\]"),
        ({"tol": 0.0}, "tol must be > 0"),
        ({"tol": 2.0}, "tol must be < 1"),
        ({"max_iter": -1}, "max_iter must be >= 0"),
        ({"max_iter": 2.5}, "max_iter must be an integer"),
        ({"lam0": np.ones(4)}, r"lam0 must have shape \(3,\)"),
        ({"lam0": np.array([0.0, np.nan, 0.0])}, "lam0 contains 1 non-finite"),
    ],
)
def test_solve_rejects_bad_input(kwargs: dict, match: str) -> None:
    args = {"X": X_OK, "y": Y_OK, "alpha": 0.1} | kwargs
    alpha = args.pop("alpha")
    with pytest.raises(ValueError, match=match):
        solve(args.pop("X"), args.pop("y"), alpha, **args)


def test_inconsistent_rank_deficient_system_is_rejected() -> None:
    X = np.vstack([X_OK, X_OK[:1]])  # the 4th row repeats the 1st
    y = np.concatenate([Y_OK, [Y_OK[0] + 1.0]])
    with pytest.raises(ValueError, match=r"y is not in the range of X.*inconsistent"):
        solve(X, y, 0.1)
    with pytest.raises(ValueError, match="y is not in the range of X"):
        path(X, y, [0.1])


@pytest.mark.parametrize(
    ("alphas", "match"),
    [
        (np.ones((2, 2)), "alphas must be 1-D"),
        ([0.1, 0.0], "alphas must be > 0"),
        ([0.1, np.nan], "alphas contains 1 non-finite"),
        ([], "alphas must not be empty"),
    ],
)
def test_path_rejects_bad_alphas(alphas, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        path(X_OK, Y_OK, alphas)


@pytest.mark.parametrize(
    ("X", "beta", "kwargs", "match"),
    [
        (X_OK, np.ones(4), {}, r"beta must have shape \(5,\)"),
        (X_OK, np.ones((5, 1)), {}, "beta must be 1-D"),
        (X_OK, np.r_[np.ones(4), np.nan], {}, "beta contains 1 non-finite"),
        (X_OK, np.zeros(5), {}, "beta must not be identically zero"),
        (X_OK, np.ones(5), {"bounds": (1.0, 0.1)}, "bounds must satisfy"),
        (X_OK, np.ones(5), {"bounds": (0.0, 1.0)}, "bounds must satisfy"),
        (X_OK, np.ones(5), {"bounds": 3.0}, "bounds must be a pair"),
        (X_OK, np.ones(5), {"points_per_decade": 0}, "points_per_decade must be >= 1"),
        (np.eye(5), np.ones(5), {}, "X has full column rank"),
        (np.ones(5), np.ones(5), {}, "X must be 2-D"),
    ],
)
def test_fit_alpha_rejects_bad_input(X, beta, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fit_alpha(X, beta, **kwargs)


@pytest.mark.parametrize(
    ("beta", "alpha", "match"),
    [
        (np.array([1.0, np.nan]), 1.0, "beta contains non-finite"),
        (np.float64(1.0), 1.0, "beta must be an array of at least 1 dimension"),
        (np.ones(2), np.ones(3), r"alpha must be a scalar or have shape \(2,\)"),
        (np.ones(2), 0.0, "alpha must be > 0"),
    ],
)
def test_phi_rejects_bad_input(beta, alpha, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        phi(beta, alpha)


def test_docstring_examples_run() -> None:
    modules = [hypentropy] + [
        importlib.import_module(f"dlnsam.hypentropy.{info.name}")
        for info in pkgutil.iter_modules(hypentropy.__path__)
    ]
    results = [doctest.testmod(m, raise_on_error=False) for m in modules]
    assert sum(r.attempted for r in results) > 10 and sum(r.failed for r in results) == 0


# ---------------------------------------------------------------- closest_alpha


def test_closest_alpha_recovers_the_scale_of_a_path_point() -> None:
    rng = np.random.default_rng(7)
    X, y = rng.standard_normal((6, 15)), rng.standard_normal(6)
    for a in (1e-3, 0.05, 0.7, 20.0):
        fit = hypentropy.closest_alpha(X, y, hypentropy.solve(X, y, a).beta)
        assert fit.success
        assert fit.alpha == pytest.approx(a, rel=1e-5)
        assert fit.distance < 1e-8


def test_closest_alpha_of_an_off_path_interpolator_has_positive_distance() -> None:
    rng = np.random.default_rng(8)
    X, y = rng.standard_normal((6, 15)), rng.standard_normal(6)
    on_path = hypentropy.solve(X, y, 0.1).beta
    kick = scipy.linalg.null_space(X) @ rng.standard_normal(9)
    off = on_path + 0.2 * np.linalg.norm(on_path) * kick / np.linalg.norm(kick)
    fit = hypentropy.closest_alpha(X, y, off)
    # No path point is nearer than the one found, on a dense grid either.
    grid = np.geomspace(1e-4, 1e2, 400)
    dense = np.linalg.norm(hypentropy.path(X, y, grid) - off, axis=1) / np.linalg.norm(off)
    assert fit.distance > 1e-3
    assert fit.distance <= dense.min() + 1e-9


def test_closest_alpha_flags_the_edge_and_bad_input() -> None:
    rng = np.random.default_rng(9)
    X, y = rng.standard_normal((4, 10)), rng.standard_normal(4)
    fit = hypentropy.closest_alpha(X, y, hypentropy.solve(X, y, 1e3).beta, bounds=(1e-3, 1.0))
    assert not fit.success and "end of bounds" in fit.message
    with pytest.raises(ValueError, match="beta must not be zero"):
        hypentropy.closest_alpha(X, y, np.zeros(10))
    with pytest.raises(ValueError, match="beta must have shape"):
        hypentropy.closest_alpha(X, y, np.ones(9))
    with pytest.raises(ValueError, match="bounds must be an increasing pair"):
        hypentropy.closest_alpha(X, y, np.ones(10), bounds=(1.0, 0.1))


# ---------------------------------------------------------------- identity_residual


def test_identity_residual_is_the_dual_residual_and_zero_on_the_hypentropy_form() -> None:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((4, 9))
    log_alpha = np.log(rng.uniform(0.05, 2.0, 9))
    beta = 2 * np.exp(2 * log_alpha) * np.sinh(X.T @ rng.standard_normal(4))
    null = scipy.linalg.null_space(X)
    assert identity_residual(X, beta, log_alpha) < 1e-14
    assert identity_residual(X, beta, log_alpha, null) < 1e-14
    off = log_alpha + 0.3 * rng.standard_normal(9)
    assert identity_residual(X, beta, off) == pytest.approx(
        identity_residual(X, beta, off, null), rel=1e-12
    )
    assert identity_residual(X, beta, off) > 1e-3
    sol = solve(X, X @ rng.standard_normal(9), 0.3)
    assert identity_residual(X, sol.beta, np.log(0.3)) == pytest.approx(
        sol.dual_residual, rel=1e-6, abs=1e-15
    )
    assert np.isnan(identity_residual(X, np.zeros(9), 0.0))


def test_identity_residual_in_log_space_and_across_the_asymptotic_cut_off() -> None:
    """A shrunk scale α e^{−400} (which underflows) works, and the switch from
    arcsinh(w) to log 2w leaves no jump: both sides agree to rounding."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((4, 9))
    tiny = np.log(0.1) - 400.0
    beta = 2 * np.exp(2 * tiny + 850.0) * np.sign(X.T @ np.ones(4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert 0 < identity_residual(X, beta, tiny) < 1
    t = np.linspace(15.0, 45.0, 61)  # log |β| / (2α²) on both sides of the cut-off
    grad = hypentropy.potential._grad_phi(np.exp(t), np.zeros_like(t))
    np.testing.assert_allclose(grad, np.arcsinh(np.exp(t)), rtol=2e-16, atol=0)


@pytest.mark.parametrize(
    ("X", "beta", "log_alpha", "null", "match"),
    [
        (np.ones(3), np.ones(3), 0.0, None, "X must be 2-D"),
        (np.ones((2, 3)), np.ones(4), 0.0, None, "beta must have shape"),
        (np.ones((2, 3)), [1.0, np.nan, 1.0], 0.0, None, "beta contains"),
        (np.ones((2, 3)), np.ones(3), np.zeros(2), None, "log_alpha must be a scalar"),
        (np.ones((2, 3)), np.ones(3), -np.inf, None, "log_alpha contains"),
        (np.ones((2, 3)), np.ones(3), 0.0, np.ones((2, 1)), "null_basis must be"),
    ],
)
def test_identity_residual_rejects_bad_input(X, beta, log_alpha, null, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        identity_residual(X, beta, log_alpha, null)
