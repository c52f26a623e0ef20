"""Continuous-time flows: accuracy against SciPy, O(γ) limit of the discrete runs,
the exact effective-α identity along the flow, and statuses."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from scipy.integrate import solve_ivp

import dlnsam
from dlnsam import GD, SAM, SGD
from dlnsam.flows import default_loss_tol, flow
from dlnsam.reference import subset_gradient_beta


def reference_rhs(X, y, rho, m, normalize=False, eps=1e-12):
    """ż for z = [u, v, ∫L, Δ, Δ⁽¹⁾], with perturbed copies of θ formed explicitly."""
    n, d = X.shape
    k = n // m

    def rhs(_t, z):
        u, v = z[:d], z[d : 2 * d]
        beta = u * v
        du, dv = np.zeros(d), np.zeros(d)
        delta, delta1 = np.zeros(d), np.zeros(d)
        for j in range(k):
            S = np.arange(j * m, (j + 1) * m)
            g = subset_gradient_beta(X, y, beta, S)
            radius = rho
            if normalize:
                radius = rho / (np.sqrt(np.sum(g**2 * (u**2 + v**2))) + eps)
            ut, vt = u + radius * g * v, v + radius * g * u
            gt = subset_gradient_beta(X, y, ut * vt, S)
            du += gt * vt
            dv += gt * ut
            delta += radius * g * gt
            delta1 += radius * g * g
        r = X @ beta - y
        return np.concatenate([-du / k, -dv / k, [r @ r / (2 * n)], delta / k, delta1 / k])

    return rhs


def flow_state(res):
    return np.concatenate([res.u, res.v, [res.integral_loss], res.delta, res.delta_first_order])


@pytest.fixture(scope="module")
def small():
    return dlnsam.gaussian_problem(6, 9, 2, seed=4, n_test=20)


@pytest.mark.parametrize(
    ("algorithm", "T"),
    [
        (GD(), 8.0),
        (SAM(0.2), 8.0),
        (SAM(0.2, m=1), 8.0),
        (SAM(0.2, m=2), 8.0),
        # The normalized flow is discontinuous where a micro-batch gradient
        # vanishes, so it is compared before it gets near an interpolator.
        (SAM(0.2, m=3, normalize=True), 1.0),
    ],
    ids=lambda a: getattr(a, "name", ""),
)
def test_flow_matches_solve_ivp_dop853(small, algorithm, T) -> None:
    res = flow(small, algorithm, alpha=0.3, t_max=T, rtol=1e-12, atol=1e-14, loss_tol=0.0)
    assert res.status == "max_steps" and res.t_end == T
    p = algorithm.kernel_params(small.n)
    z0 = np.concatenate([np.full(small.d, 0.6), np.zeros(3 * small.d + 1)])
    ref = solve_ivp(
        reference_rhs(small.X, small.y, p.rho, p.m, p.normalize),
        (0.0, T),
        z0,
        method="DOP853",
        rtol=1e-12,
        atol=1e-14,
    )
    z_ref = ref.y[:, -1]
    err = np.linalg.norm(flow_state(res) - z_ref) / np.linalg.norm(z_ref)
    assert err <= 1e-8
    np.testing.assert_allclose(res.beta, z_ref[: small.d] * z_ref[small.d : 2 * small.d], atol=1e-9)


def _discrete_error(problem, algorithm, T, gammas, alpha):
    target = flow(problem, algorithm, alpha=alpha, t_max=T, rtol=1e-12, loss_tol=0.0)
    errors, int_errors = [], []
    for gamma in gammas:
        steps = round(T / gamma)
        res = dlnsam.run(problem, algorithm, lr=gamma, steps=steps, alpha=alpha)
        errors.append(np.linalg.norm(res.beta - target.beta) / np.linalg.norm(target.beta))
        int_errors.append(abs(res.integral_loss - target.integral_loss) / target.integral_loss)
    return np.array(errors), np.array(int_errors)


@pytest.mark.parametrize("m", [None, 1, "n"], ids=["GD", "1-SAM", "n-SAM"])
def test_discrete_runs_approach_the_flow_at_order_one(m) -> None:
    problem = dlnsam.gaussian_problem(10, 15, 2, seed=1, n_test=0)
    algorithm = GD() if m is None else SAM(0.1, m=1 if m == 1 else None)
    gammas = 0.02 * 2.0 ** -np.arange(5)
    errors, int_errors = _discrete_error(problem, algorithm, 6.0, gammas, alpha=0.5)
    slope = np.polyfit(np.log(gammas), np.log(errors), 1)[0]
    slope_int = np.polyfit(np.log(gammas), np.log(int_errors), 1)[0]
    assert 0.9 <= slope <= 1.1, (slope, errors)
    assert 0.9 <= slope_int <= 1.1, (slope_int, int_errors)


def _null_space_residual(X, beta, alpha_t):
    z = np.arcsinh(beta / (2 * alpha_t**2))
    null = scipy.linalg.null_space(X)
    return np.linalg.norm(null.T @ z) / np.linalg.norm(z)


@pytest.mark.parametrize(
    "algorithm", [GD(), SAM(0.1), SAM(0.1, m=1), SAM(0.1, m=4)], ids=lambda a: a.name
)
def test_exact_identity_holds_along_the_flow(algorithm) -> None:
    """β(t) = 2 α_t² sinh(Xᵀλ_t) with α_t = α exp(−Δ(t)), at any t, converged or not."""
    problem = dlnsam.gaussian_problem(8, 14, 2, seed=2, n_test=0)
    for T in (3.0, 40.0):
        res = flow(problem, algorithm, alpha=0.1, t_max=T, rtol=1e-12, loss_tol=0.0)
        assert res.alpha_eff is not None
        assert _null_space_residual(problem.X, res.beta, res.alpha_eff) < 1e-9
        if algorithm.rho > 0 if isinstance(algorithm, SAM) else False:
            # With the initial α instead, the identity fails: Δ matters.
            assert _null_space_residual(problem.X, res.beta, res.alpha) > 1e-6


def test_gradient_flow_has_no_alpha_shrinkage() -> None:
    problem = dlnsam.gaussian_problem(8, 14, 2, seed=2, n_test=0)
    res = flow(problem, GD(), alpha=0.1)
    assert res.status == "converged"
    assert np.all(res.delta == 0.0) and np.all(res.delta_first_order == 0.0)
    np.testing.assert_array_equal(res.alpha_eff, np.full(14, 0.1))


def test_converges_and_reports_counters(small) -> None:
    res = flow(small, SAM(0.1, m=1), alpha=0.1)
    assert res.status == "converged" and res.status.ok
    assert res.train_loss <= default_loss_tol(1e-10) * small.train_loss(np.zeros(small.d))
    assert res.nfev >= 12 * res.n_steps and res.n_steps > 10
    assert res.alpha_eff is not None and np.all(res.alpha_eff < 0.1)
    assert res.alpha_eff_first_order is not None
    assert res.test_loss is not None and res.integral_loss > 0


def test_recorded_times_match_flows_stopped_there(small) -> None:
    times = [0.5, 2.0, 5.0]
    res = flow(small, SAM(0.2, m=2), alpha=0.2, times=times, rtol=1e-12)
    np.testing.assert_array_equal(res.history.steps, [0.0, *times])
    assert res.history.test_loss is not None and res.beta_at_times.shape == (4, small.d)
    np.testing.assert_array_equal(res.beta_at_times[0], np.zeros(small.d))
    for i, T in enumerate(times, start=1):
        stop = flow(small, SAM(0.2, m=2), alpha=0.2, t_max=T, rtol=1e-12, loss_tol=0.0)
        np.testing.assert_allclose(res.beta_at_times[i], stop.beta, rtol=1e-9, atol=1e-12)
        assert res.history.train_loss[i] == pytest.approx(stop.train_loss, rel=1e-7)


def test_general_initialization_has_no_alpha_eff(small) -> None:
    rng = np.random.default_rng(0)
    res = flow(small, GD(), u0=rng.standard_normal(small.d), v0=rng.standard_normal(small.d))
    assert res.status == "converged" and res.alpha is None and res.alpha_eff is None
    res = flow(small, GD(), u0=np.full(small.d, 0.4), v0=np.zeros(small.d))
    np.testing.assert_array_equal(res.alpha, np.full(small.d, 0.2))


def test_not_converged_by_t_max_says_so(small) -> None:
    res = flow(small, SAM(0.1), alpha=0.05, t_max=1.0)
    assert res.status == "max_steps"
    assert "not converged by t_max = 1" in res.message


@pytest.mark.parametrize("algorithm", [GD(), SAM(0.1, m=1)], ids=lambda a: a.name)
def test_blow_up_is_reported_with_its_cause(small, algorithm, monkeypatch) -> None:
    """A gradient flow cannot blow up: its divergence is the integrator's, never ρ's."""
    from dlnsam.flows import driver as flows_module

    real = flows_module.kernel_inputs

    def low_threshold(problem, u, v):  # any accepted step now counts as a blow-up
        return real(problem, u, v)._replace(max_loss=1e-30)

    monkeypatch.setattr(flows_module, "kernel_inputs", low_threshold)
    res = flow(small, algorithm, alpha=0.3)
    assert res.status == "diverged" and "blew up" in res.message
    assert np.all(np.isfinite(res.u)) and np.isfinite(res.train_loss)
    if isinstance(algorithm, GD):
        assert "rho" not in res.message and "gradient flow cannot increase" in res.message
    else:
        assert "rho = 0.1 is too large" in res.message and "atol" in res.message


@pytest.mark.parametrize("method", ["DOP853", "BDF"])
def test_direction_that_overflows_at_the_start_is_reported(small, method) -> None:
    res = flow(small, SAM(1e300), alpha=0.05, method=method)
    assert res.status == "diverged" and res.n_steps == 0 and res.t_end == 0.0
    assert "rho = 1e+300" in res.message and "theta_0" in res.message
    assert np.all(np.isfinite(res.beta)) and np.isfinite(res.train_loss)


@pytest.mark.parametrize("method", ["DOP853", "BDF"])
@pytest.mark.parametrize(
    ("algorithm", "alpha"),
    [(GD(), 1e-60), (GD(), 1e-200), (SAM(0.02), 1e-100), (SAM(0.02, m=1), 1e-300)],
    ids=["GD-1e-60", "GD-1e-200", "n-SAM-1e-100", "1-SAM-1e-300"],
)
def test_flow_from_a_tiny_alpha_converges(algorithm, alpha, method) -> None:
    """The state starts far below atol: its error is still controlled, relative to it."""
    p = dlnsam.gaussian_problem(20, 30, 3, seed=0)
    res = flow(p, algorithm, alpha=alpha, method=method)
    assert res.status == "converged", res.message
    assert np.all(np.isfinite(res.beta)) and np.all(np.isfinite(res.delta))
    # The limit is that of the same flow at tighter tolerances.
    tight = flow(p, algorithm, alpha=alpha, rtol=1e-12, atol=1e-16)
    assert np.abs(res.beta - tight.beta).max() <= 1e-7 * np.abs(tight.beta).max()


def test_state_atol_is_relative_on_small_coordinates() -> None:
    from dlnsam.flows import state_atol

    tol = state_atol(np.array([2e-60, 1.0, 0.0]), np.array([0.0, 0.0, 0.0]), 1e-10, 1e-14)
    np.testing.assert_array_equal(tol[[0, 3]], [2e-70, 2e-70])
    np.testing.assert_array_equal(tol[[1, 2, 4, 5, 6]], 1e-14)
    assert tol.size == 13 and np.all(tol[6:] == 1e-14)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": 1e-320}, r"alpha = .* too small to integrate: flows accept alpha in \[1e-300"),
        ({"alpha": 1e200}, r"alpha = 1e\+200 is too large to integrate"),
        ({"alpha": [0.1] * 8 + [1e4]}, r"alpha = 10000 is too large"),
        ({"alpha": None, "u0": np.full(9, 1e200), "v0": np.zeros(9)}, r"max\(\|u0\|, \|v0\|\)"),
    ],
)
def test_alpha_outside_the_integrable_range_is_refused(small, kwargs, match, monkeypatch) -> None:
    from dlnsam.flows import dop853

    def forbidden(*args):
        raise AssertionError("the kernel ran")

    monkeypatch.setattr(dop853, "integrate", forbidden)
    with pytest.raises(ValueError, match=match):
        flow(small, GD(), **kwargs)


def test_loose_tolerances_cannot_stop_an_untrained_flow(small) -> None:
    assert default_loss_tol(1e-2) == 1e-6 and default_loss_tol(1e-10) == 1e-18
    res = flow(small, SAM(0.1, m=1), alpha=0.1, rtol=1e-2)
    assert res.status == "converged"
    assert res.train_loss <= 1e-6 * small.train_loss(np.zeros(small.d))
    for kwargs, match in (
        ({"rtol": 0.1}, r"rtol must be <= 0.01"),
        ({"loss_tol": 1.0}, r"loss_tol must be < 1"),
    ):
        with pytest.raises(ValueError, match=match):
            flow(small, GD(), alpha=0.1, **kwargs)


def test_normalized_flow_has_a_smaller_default_budget() -> None:
    from dlnsam.flows import DEFAULT_MAX_STEPS, NORMALIZED_MAX_STEPS

    assert NORMALIZED_MAX_STEPS == 100_000 and DEFAULT_MAX_STEPS == 10_000_000
    p = dlnsam.gaussian_problem(20, 30, 3, seed=0)
    res = flow(p, SAM(0.1, m=1, normalize=True), alpha=0.05)
    assert res.status == "max_steps" and res.n_steps == NORMALIZED_MAX_STEPS
    assert "chatters" in res.message


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"algorithm": SGD(2)}, "algorithm must be GD"),
        ({"algorithm": SAM(0.1, batch_size=2)}, "full-batch SAM"),
        ({"algorithm": SAM(0.1, m=4)}, "m = 4 does not divide"),
        ({"rtol": 0.0}, "rtol must be > 0"),
        ({"rtol": 1e-17}, "rtol must be >= 1e-15"),
        ({"atol": -1.0}, "atol must be > 0"),
        ({"t_max": float("inf")}, "t_max must be finite"),
        ({"times": [0.0, 1.0]}, "times must lie in"),
        ({"times": [1.0, np.nan]}, "times contains 1 non-finite"),
        ({"alpha": -1.0}, "alpha must be > 0"),
        ({"alpha": None}, "give alpha"),
        ({"max_steps": 0}, "max_steps must be a positive integer"),
        ({"method": "RK45"}, "method must be one of DOP853, BDF"),
        ({"method": "BDF", "problem_d": 2001}, "d = 2001 > 2000"),
    ],
)
def test_bad_input(small, kwargs, match) -> None:
    args = {"algorithm": GD(), "alpha": 0.1} | kwargs
    algorithm = args.pop("algorithm")
    d = args.pop("problem_d", None)
    problem = small if d is None else dlnsam.gaussian_problem(2, d, 1, seed=0, n_test=0)
    with pytest.raises(ValueError, match=match):
        flow(problem, algorithm, **args)


def test_interrupted_flow_returns_what_it_computed(small, monkeypatch) -> None:
    from dlnsam.flows import dop853
    from dlnsam.flows import driver as flows_module

    monkeypatch.setattr(flows_module, "_STEPS_PER_CALL", 5)
    calls = {"n": 0}
    integrate = dop853.integrate

    def interrupt_on_third_call(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return integrate(*args)

    monkeypatch.setattr(dop853, "integrate", interrupt_on_third_call)
    res = flow(small, SAM(0.1, m=1), alpha=0.2)
    assert res.status == "interrupted" and res.n_steps == 10
    monkeypatch.setattr(dop853, "integrate", integrate)
    full = flow(small, SAM(0.1, m=1), alpha=0.2, t_max=res.t_end, loss_tol=0.0)
    np.testing.assert_allclose(res.beta, full.beta, rtol=1e-9)
    assert res.integral_loss == pytest.approx(full.integral_loss, rel=1e-9)


@pytest.mark.parametrize("algorithm", [GD(), SAM(0.2), SAM(0.2, m=1)], ids=lambda a: a.name)
def test_bdf_and_dop853_flows_agree(small, algorithm) -> None:
    """The two integrators of flow() on the same interval: the whole state, and the records."""
    kwargs = {"alpha": 0.3, "t_max": 400.0, "loss_tol": 0.0, "rtol": 1e-11, "times": [1.0, 50.0]}
    dop = flow(small, algorithm, **kwargs)
    bdf = flow(small, algorithm, method="BDF", **kwargs)
    assert dop.method == "DOP853" and bdf.method == "BDF"
    assert bdf.status == dop.status == "max_steps" and bdf.t_end == dop.t_end == 400.0
    scale = np.abs(flow_state(dop)).max()
    np.testing.assert_allclose(flow_state(bdf), flow_state(dop), rtol=0, atol=1e-8 * scale)
    np.testing.assert_allclose(bdf.beta_at_times, dop.beta_at_times, rtol=0, atol=1e-8 * scale)
    np.testing.assert_allclose(bdf.history.train_loss, dop.history.train_loss, rtol=1e-7)


def test_bdf_needs_fewer_evaluations_to_convergence(small) -> None:
    dop = flow(small, SAM(0.1, m=1), alpha=0.1)
    bdf = flow(small, SAM(0.1, m=1), alpha=0.1, method="BDF")
    assert dop.status == bdf.status == "converged"
    assert bdf.n_steps < dop.n_steps and bdf.nfev < dop.nfev / 3
    np.testing.assert_allclose(bdf.alpha_eff, dop.alpha_eff, rtol=1e-7)


@pytest.mark.parametrize(
    "algorithm",
    [GD(), SAM(0.2), SAM(0.2, m=1), SAM(0.2, m=3, normalize=True)],
    ids=lambda a: a.name,
)
def test_term_rhs_matches_the_numpy_reference(small, algorithm) -> None:
    """The compiled right-hand side of the flow term against its plain-NumPy twin."""
    from numba import njit

    from dlnsam.flows.terms import initial_state, rhs, sam_flow_term

    evaluate = njit(lambda term, z, out: rhs(term, z, out))  # rhs compiles only inside a kernel
    rng = np.random.default_rng(3)
    params = algorithm.kernel_params(small.n)
    term = sam_flow_term(small.X, small.y, params, None)
    z = initial_state(rng.standard_normal(small.d), rng.standard_normal(small.d))
    out = np.empty_like(z)
    loss = evaluate(term, z, out)
    expected = reference_rhs(small.X, small.y, params.rho, params.m, params.normalize)(0.0, z)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-14)
    assert loss == pytest.approx(expected[2 * small.d], rel=1e-13)


@pytest.mark.parametrize(
    ("algorithm", "option"),
    [
        (GD(weight_decay=0.1), "weight_decay"),
        (GD(normalized_descent=True), "normalized_descent"),
        (SAM(0.1, m=1, loss_derivative_only=True), "loss_derivative_only"),
        (SAM(0.1, weight_decay=0.01), "weight_decay"),
    ],
)
def test_discrete_only_options_are_refused(small, algorithm, option, monkeypatch) -> None:
    from dlnsam.flows import dop853

    def forbidden(*args):
        raise AssertionError("the kernel ran")

    monkeypatch.setattr(dop853, "integrate", forbidden)
    with pytest.raises(ValueError, match=rf"algorithm: {option} = .* discrete steps only"):
        flow(small, algorithm, alpha=0.1)


def test_eps_of_the_normalized_flow_is_a_flow_option(small) -> None:
    res = flow(small, SAM(0.1, m=1, normalize=True, eps=1e-8), alpha=0.1, t_max=1.0)
    assert res.status == "max_steps"


def test_every_kernel_code_has_a_message() -> None:
    from dlnsam import status
    from dlnsam.results import MESSAGES, outcome

    context = {
        "n_steps": 3, "next_step": 4, "steps": 10, "train_loss": 1e-3, "max_loss": 1e9,
        "cause": "lr too large", "t_end": 2.0, "loss": 1e-3, "what": "x", "why": "y",
        "remedy": "", "blowing": "", "hint": "", "t_max": 5.0, "max_steps": 7, "target": 1e-9,
    }  # fmt: skip
    for kind, case in MESSAGES:
        assert outcome(kind, status.RUNNING, case=case, **context)[1]
    codes = {"run": [status.RUNNING, status.CONVERGED, status.DIVERGED],
             "flow": [status.RUNNING, status.CONVERGED, status.DIVERGED,
                      status.STEP_UNDERFLOW, status.T_END]}  # fmt: skip
    for kind, kind_codes in codes.items():
        for code in kind_codes:
            assert outcome(kind, code, **context)[0] in set(dlnsam.Status)
        assert outcome(kind, status.CONVERGED, True, **context)[0] == "interrupted"
