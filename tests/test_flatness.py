"""Flatness at a point and at a flow's limit: the Hessian against finite
differences, the trace and λ_max against the dense matrix, and the closed form
of the trace from (β, α_eff) against the trace at the end of converged flows."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dlnsam
from dlnsam import GD, SAM, flatness
from dlnsam import reference as ref

RHO = 0.1
ALPHA = 0.05


def _problem(seed: int = 0) -> dlnsam.Problem:
    return dlnsam.gaussian_problem(n=20, d=30, k=3, seed=seed, n_test=0)


def _point(d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal(d), rng.standard_normal(d)


def _interpolating(seed: int = 3) -> tuple[dlnsam.Problem, np.ndarray, np.ndarray]:
    """A problem whose targets are y := X(u ⊙ v), so that r = 0 at (u, v)."""
    X = _problem().X
    u, v = _point(X.shape[1], seed)
    return dlnsam.Problem(X=X, y=X @ (u * v)), u, v


def _gauss_newton(problem: dlnsam.Problem, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    J = np.hstack([problem.X * v, problem.X * u])
    return J.T @ J / problem.n


def _grad(problem: dlnsam.Problem, theta: np.ndarray) -> np.ndarray:
    d = problem.d
    gu, gv = ref.grad_uv(problem.X, problem.y, theta[:d], theta[d:], np.arange(problem.n))
    return np.concatenate([gu, gv])


def test_hessian_matches_central_differences_of_the_gradient() -> None:
    problem = _problem()
    u, v = _point(problem.d, seed=1)
    residual = problem.X @ (u * v) - problem.y
    assert np.linalg.norm(residual) > 1.0  # far from interpolating: the residual term matters
    H = flatness.hessian(problem, u, v)
    theta = np.concatenate([u, v])
    # Along a coordinate axis the gradient is a polynomial of degree <= 2 in the
    # step (it is linear in u_k and in v_k separately, and quadratic only through
    # the v_k factor times g(β)), so the central difference has no truncation
    # error: what is left is rounding, about eps · |∇L| / h.
    h = 1e-2
    fd = np.empty_like(H)
    for k in range(theta.size):
        e = np.zeros_like(theta)
        e[k] = h
        fd[:, k] = (_grad(problem, theta + e) - _grad(problem, theta - e)) / (2 * h)
    scale = np.abs(H).max()
    np.testing.assert_allclose(H, fd, rtol=0, atol=1e-11 * scale)
    # The residual term is what separates H from its Gauss–Newton part here.
    assert np.abs(H - _gauss_newton(problem, u, v)).max() > 1e-3 * scale


def test_hessian_is_symmetric_and_gauss_newton_at_an_interpolating_point() -> None:
    problem, u, v = _interpolating()
    H = flatness.hessian(problem, u, v)
    np.testing.assert_array_equal(H, H.T)
    GN = _gauss_newton(problem, u, v)
    np.testing.assert_allclose(H, GN, rtol=0, atol=1e-13 * np.abs(GN).max())


@pytest.mark.parametrize("interpolating", [True, False], ids=["interpolating", "not"])
def test_trace_is_the_trace_of_the_full_hessian(interpolating: bool) -> None:
    if interpolating:
        problem, u, v = _interpolating()
    else:
        problem = _problem()
        u, v = _point(problem.d, seed=2)
    expected = float(np.trace(flatness.hessian(problem, u, v)))
    assert flatness.hessian_trace(problem, u, v) == pytest.approx(expected, rel=1e-13)


def test_lambda_max_is_the_full_hessians_at_an_interpolating_point() -> None:
    problem, u, v = _interpolating()
    top = np.linalg.eigvalsh(flatness.hessian(problem, u, v))[-1]
    assert flatness.hessian_lambda_max(problem, u, v) == pytest.approx(top, rel=1e-12)


def test_lambda_max_is_the_gauss_newton_parts_elsewhere() -> None:
    problem = _problem()
    u, v = _point(problem.d, seed=4)
    lam = flatness.hessian_lambda_max(problem, u, v)
    assert lam == pytest.approx(np.linalg.eigvalsh(_gauss_newton(problem, u, v))[-1], rel=1e-12)
    # The residual term has eigenvalues ±g_j, so by Weyl's inequality the full
    # Hessian's top eigenvalue is within ‖g‖_∞ of it (and is not equal to it here).
    g = problem.X.T @ (problem.X @ (u * v) - problem.y) / problem.n
    full = np.linalg.eigvalsh(flatness.hessian(problem, u, v))[-1]
    assert abs(full - lam) <= np.abs(g).max() * (1 + 1e-12)
    assert abs(full - lam) > 1e-6 * lam


@given(
    n=st.integers(1, 7),
    d=st.integers(1, 7),
    seed=st.integers(0, 2**32 - 1),
    scale=st.floats(1e-3, 1e3),
)
def test_trace_and_lambda_max_on_random_shapes(n: int, d: int, seed: int, scale: float) -> None:
    # Covers n > 2d too, where the n × n form has more (zero) eigenvalues than JᵀJ has non-zero.
    rng = np.random.default_rng(seed)
    problem = dlnsam.Problem(X=rng.standard_normal((n, d)), y=rng.standard_normal(n))
    u, v = scale * rng.standard_normal(d), scale * rng.standard_normal(d)
    H = flatness.hessian(problem, u, v)
    trace = flatness.hessian_trace(problem, u, v)
    assert trace == pytest.approx(np.trace(H), rel=1e-12)
    top = np.linalg.eigvalsh(_gauss_newton(problem, u, v))[-1]
    lam = flatness.hessian_lambda_max(problem, u, v)
    assert lam == pytest.approx(top, rel=1e-12, abs=1e-14 * trace)
    assert 0 <= lam <= trace * (1 + 1e-12)


FLOWS = {"GF": GD(), "n-SAM": SAM(RHO), "5-SAM": SAM(RHO, m=5), "1-SAM": SAM(RHO, m=1)}


@pytest.fixture(scope="module")
def limits() -> dict[str, dlnsam.FlowResult]:
    problem = _problem()
    return {name: dlnsam.flow(problem, alg, alpha=ALPHA) for name, alg in FLOWS.items()}


@pytest.mark.parametrize("name", list(FLOWS))
def test_limit_trace_is_the_trace_at_a_flows_limit(
    name: str, limits: dict[str, dlnsam.FlowResult]
) -> None:
    problem, res = _problem(), limits[name]
    assert res.status.value == "converged", res.message
    # The invariant the closed form rests on: u² − v² = 4 α_t² along the flow, to
    # the integrator's accuracy on u and v (u² − v² cancels where |β| ≫ α_t²).
    s = res.u**2 + res.v**2
    assert np.all(np.abs(res.u**2 - res.v**2 - 4 * res.alpha_eff**2) <= 1e-10 * s)
    direct = flatness.hessian_trace(problem, res.u, res.v)
    closed = flatness.limit_trace(problem, res.beta, res.alpha_eff)
    assert closed == pytest.approx(direct, rel=1e-10)
    assert closed >= flatness.trace_floor(problem, res.beta)


def test_the_trace_falls_to_the_weighted_l1_floor_as_alpha_eff_vanishes() -> None:
    problem = _problem()
    beta, _ = _point(problem.d, seed=5)
    floor = flatness.trace_floor(problem, beta)
    c_sum = float(np.sum(problem.X**2)) / problem.n
    gaps = []
    for alpha in [1.0, 1e-1, 1e-2, 1e-3, 1e-4]:
        gap = flatness.limit_trace(problem, beta, alpha) - floor
        # √(4β² + 16α⁴) − 2|β| ≤ 4α², so the gap is O(α²).
        assert 0 <= gap <= 4 * alpha**2 * c_sum * (1 + 1e-12)
        gaps.append(gap)
    assert all(a > b for a, b in itertools.pairwise(gaps))
    assert flatness.limit_trace(problem, beta, 0.0) == pytest.approx(floor, rel=1e-15)
    # α_eff⁴ underflows long before α_eff does; the floor is still reached, not lost.
    assert flatness.limit_trace(problem, beta, 1e-200) == pytest.approx(floor, rel=1e-15)


def test_the_floor_is_the_least_trace_over_factorizations_of_beta() -> None:
    problem = _problem()
    beta, other = _point(problem.d, seed=6)
    floor = flatness.trace_floor(problem, beta)
    balanced = np.sqrt(np.abs(beta))  # |u| = |v|
    assert flatness.hessian_trace(problem, np.sign(beta) * balanced, balanced) == pytest.approx(
        floor, rel=1e-13
    )
    scaled = np.exp(other)  # any other factorization u = s ⊙ √|β|, v = √|β| / s
    u, v = np.sign(beta) * balanced * scaled, balanced / scaled
    np.testing.assert_allclose(u * v, beta, rtol=1e-14)
    assert flatness.hessian_trace(problem, u, v) > floor


def test_alpha_eff_per_coordinate_matches_the_scalar() -> None:
    problem = _problem()
    beta, _ = _point(problem.d, seed=7)
    vector = flatness.limit_trace(problem, beta, np.full(problem.d, ALPHA))
    assert vector == flatness.limit_trace(problem, beta, ALPHA)
    assert flatness.limit_trace(problem, beta, np.array(ALPHA)) == vector


D = 30
GOOD = np.ones(D)
BAD_INPUTS = [
    ("hessian", (GOOD[:-1], GOOD), "u must have shape"),
    ("hessian", (GOOD, np.full(D, np.nan)), "v contains 30 non-finite"),
    ("hessian_trace", (GOOD, np.ones((D, 1))), "v must be 1-D"),
    ("hessian_trace", (np.full(D, np.inf), GOOD), "u contains"),
    ("hessian_lambda_max", (GOOD, "abc"), "v must be a numeric array"),
    ("hessian_lambda_max", (np.ones(D + 1), GOOD), "u must have shape"),
    ("limit_trace", (GOOD, -0.1), "alpha_eff must be >= 0"),
    ("limit_trace", (GOOD, np.r_[np.ones(D - 1), -1.0]), "alpha_eff must be >= 0"),
    ("limit_trace", (GOOD, np.ones(D - 1)), "alpha_eff must be a scalar or have shape"),
    ("limit_trace", (GOOD, np.nan), "alpha_eff contains"),
    ("limit_trace", (GOOD, np.ones((D, D))), "alpha_eff must be 1-D"),
    ("limit_trace", (np.ones(3), 0.1), "beta must have shape"),
    ("trace_floor", (np.full(D, np.nan),), "beta contains"),
    ("trace_floor", ([[1.0 + 1j] * D],), "beta must be real"),
]


@pytest.mark.parametrize(("func", "args", "message"), BAD_INPUTS)
def test_bad_input_raises_a_value_error_naming_the_argument(
    func: str, args: tuple, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        getattr(flatness, func)(_problem(), *args)


@pytest.mark.parametrize(
    "func", ["hessian", "hessian_trace", "hessian_lambda_max", "limit_trace", "trace_floor"]
)
def test_the_problem_must_be_a_problem(func: str) -> None:
    args = (GOOD,) if func == "trace_floor" else (GOOD, GOOD)
    with pytest.raises(ValueError, match=r"problem must be a dlnsam\.Problem"):
        getattr(flatness, func)((np.ones((20, D)), np.ones(20)), *args)
