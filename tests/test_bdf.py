"""The Numba BDF/NDF flow integrator (dlnsam._bdf) against the DOP853 kernel."""

from __future__ import annotations

import numpy as np
import pytest

import dlnsam
from dlnsam import GD, SAM, _bdf, _dop853, _flow_kernel, _kernels
from dlnsam.flows import state_atol
from dlnsam.training import initial_point, kernel_inputs, parallel_chunks

RTOL, ATOL = 1e-10, 1e-14
BLOCKS = {"u": 0, "v": 1, "I": 2, "delta": 3, "delta1": 4}


def _blocks(z, d):
    return [z[:d], z[d : 2 * d], z[2 * d : 2 * d + 1], z[2 * d + 1 : 3 * d + 1], z[3 * d + 1 :]]


def _run(
    problem,
    algorithm,
    kernel="bdf",
    *,
    alpha=0.05,
    rtol=RTOL,
    atol=ATOL,
    t_max=50.0,
    stop_rel=0.0,
    max_loss=None,
    times=None,
    budget=20_000,
):
    """Drive a kernel the way dlnsam.flows.flow does (resumable calls with a step budget)."""
    params = algorithm.kernel_params(problem.n)
    u, v = initial_point(problem.d, alpha)
    data = kernel_inputs(problem, u, v)
    d = problem.d
    z = np.zeros(4 * d + 1)
    z[:d], z[d : 2 * d] = u, v
    part = parallel_chunks(problem.n, d)
    clock = np.array([0.0, 0.0, data.loss0])
    counters = np.zeros(4, dtype=np.int64)
    out_times = np.zeros(0) if times is None else np.asarray(times, dtype=float)
    out_loss = np.full((out_times.size, 2), np.nan)
    out_beta = np.full((out_times.size, d), np.nan)
    state = _bdf.bdf_state(z.size)
    max_loss = data.max_loss if max_loss is None else max_loss
    code, calls = _kernels.RUNNING, 0
    while code == _kernels.RUNNING:
        calls += 1
        common = (data.X, data.y, data.X_test, data.y_test, z, clock,
                  params.rho, params.m, params.normalize, params.eps)  # fmt: skip
        tail = (rtol, state_atol(u, v, rtol, atol), t_max, stop_rel * data.loss0, max_loss,
                out_times, out_loss, out_beta, counters, budget, part)  # fmt: skip
        if kernel == "bdf":
            code = _bdf.integrate_bdf(*common, *tail, state)
        else:
            dop = (_dop853.A, _dop853.B, _dop853.C, _dop853.E3, _dop853.E5)
            code = _flow_kernel.integrate(*common, *dop, *tail)
        assert calls < 100_000
    return {
        "code": code,
        "z": z,
        "clock": clock,
        "counters": counters,
        "out_loss": out_loss,
        "out_beta": out_beta,
        "state": state,
        "calls": calls,
        "loss0": data.loss0,
    }


@pytest.fixture(scope="module")
def medium():
    return dlnsam.gaussian_problem(n=20, d=30, k=3, seed=0)


@pytest.fixture(scope="module")
def small():
    return dlnsam.gaussian_problem(6, 9, 2, seed=4, n_test=20)


ALGORITHMS = [GD(), SAM(0.1), SAM(0.1, m=1)]
IDS = ["gd", "nsam", "1sam"]


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=IDS)
@pytest.mark.parametrize("which", ["small", "medium"])
def test_agrees_with_dop853(algorithm, which, request) -> None:
    problem = request.getfixturevalue(which)
    d = problem.d
    for t_max in (50.0, 2000.0):
        b = _run(problem, algorithm, "bdf", t_max=t_max)
        r = _run(problem, algorithm, "dop", t_max=t_max)
        assert b["code"] == r["code"] == _flow_kernel.MAX_STEPS
        assert b["clock"][0] == r["clock"][0] == t_max
        assert np.all(np.isfinite(b["z"]))
        assert np.max(np.abs(b["z"] - r["z"])) <= 1e-8 * np.max(np.abs(r["z"]))
        for name, zb, zr in zip(BLOCKS, _blocks(b["z"], d), _blocks(r["z"], d), strict=True):
            err = np.max(np.abs(zb - zr))
            assert err <= 3e-8 * np.max(np.abs(zr)), (name, t_max, err)
        # Losses near zero only agree to the accuracy of the residual.
        loss_err = abs(b["clock"][2] - r["clock"][2])
        assert loss_err <= 1e-6 * r["clock"][2] + 1e-14 * b["loss0"]
        # Fewer right-hand sides than DOP853 once the flow is stiff.
        if t_max == 2000.0 and which == "medium":
            assert b["counters"][0] < r["counters"][0]


def test_error_against_tight_reference(medium) -> None:
    alg = SAM(0.1, m=1)
    b = _run(medium, alg, "bdf", t_max=2000.0)
    ref = _run(medium, alg, "dop", t_max=2000.0, rtol=1e-13, atol=1e-16)
    scale = np.max(np.abs(ref["z"]))
    err = np.max(np.abs(b["z"] - ref["z"])) / scale
    assert err < 100 * RTOL  # measured ~1e-9
    d = medium.d
    beta_b = b["z"][:d] * b["z"][d : 2 * d]
    beta_r = ref["z"][:d] * ref["z"][d : 2 * d]
    assert np.linalg.norm(beta_b - beta_r) < 10 * RTOL * np.linalg.norm(beta_r)


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=IDS)
def test_output_times_agree_with_dop853(small, medium, algorithm) -> None:
    times = np.array([0.5, 3.0, 10.0, 77.7, 500.0, 1999.0, 2000.0])
    for problem in (small, medium):
        b = _run(problem, algorithm, "bdf", t_max=2000.0, times=times)
        r = _run(problem, algorithm, "dop", t_max=2000.0, times=times)
        assert b["counters"][3] == r["counters"][3] == times.size
        cols = 2 if problem.has_test else 1
        np.testing.assert_allclose(
            b["out_loss"][:, :cols], r["out_loss"][:, :cols], rtol=1e-6, atol=1e-12 * b["loss0"]
        )
        if not problem.has_test:
            assert np.all(np.isnan(b["out_loss"][:, 1]))
        err = np.max(np.abs(b["out_beta"] - r["out_beta"]), axis=1)
        assert np.all(err <= 1e-7 * np.max(np.abs(r["out_beta"]), axis=1))
        # The last output time is t_max itself: exactly the final state.
        d = problem.d
        np.testing.assert_array_equal(b["out_beta"][-1], b["z"][:d] * b["z"][d : 2 * d])
        assert b["out_loss"][-1, 0] == b["clock"][2]


def test_output_times_are_interpolated_not_stepped_to(medium) -> None:
    alg = SAM(0.1, m=1)
    times = np.linspace(1.0, 2000.0, 400)
    b = _run(medium, alg, "bdf", t_max=2000.0, times=times)
    plain = _run(medium, alg, "bdf", t_max=2000.0)
    # The outputs do not change the integration at all.
    np.testing.assert_array_equal(b["z"], plain["z"])
    np.testing.assert_array_equal(b["counters"][:3], plain["counters"][:3])


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=IDS)
def test_resumption_matches_one_call(medium, algorithm) -> None:
    times = np.array([0.5, 10.0, 500.0, 2000.0])
    one = _run(medium, algorithm, "bdf", t_max=2000.0, times=times)
    many = _run(medium, algorithm, "bdf", t_max=2000.0, times=times, budget=7)
    assert one["calls"] <= 2 and many["calls"] > 100
    assert one["code"] == many["code"] == _flow_kernel.MAX_STEPS
    np.testing.assert_array_equal(many["z"], one["z"])
    np.testing.assert_array_equal(many["clock"], one["clock"])
    np.testing.assert_array_equal(many["counters"], one["counters"])
    np.testing.assert_array_equal(many["out_beta"], one["out_beta"])
    np.testing.assert_array_equal(many["out_loss"], one["out_loss"])
    np.testing.assert_array_equal(many["state"], one["state"])


def test_status_codes(medium) -> None:
    alg = SAM(0.1, m=1)
    # CONVERGED: L <= stop_loss after an accepted step.
    res = _run(medium, alg, "bdf", t_max=1e6, stop_rel=1e-10)
    assert res["code"] == _kernels.CONVERGED
    assert res["clock"][2] <= 1e-10 * res["loss0"]
    assert res["clock"][0] < 1e6
    # The loss in clock is L(z) of the returned state.
    d = medium.d
    beta = res["z"][:d] * res["z"][d : 2 * d]
    assert res["clock"][2] == pytest.approx(_kernels.half_mse(medium.X, medium.y, beta), rel=1e-12)
    # ... and before that the loss was above the threshold: one step earlier would not stop.
    res_dop = _run(medium, alg, "dop", t_max=1e6, stop_rel=1e-10)
    assert res["clock"][0] == pytest.approx(res_dop["clock"][0], rel=0.05)

    # MAX_STEPS: lands exactly on t_max.
    res = _run(medium, alg, "bdf", t_max=1.2345)
    assert res["code"] == _flow_kernel.MAX_STEPS and res["clock"][0] == 1.2345

    # DIVERGED: L > max_loss, and a non-finite loss.
    res = _run(medium, alg, "bdf", t_max=100.0, max_loss=1e-3)
    assert res["code"] == _kernels.DIVERGED
    assert res["counters"][1] >= 1 and res["clock"][2] > 1e-3
    res = _run(medium, alg, "bdf", t_max=100.0, max_loss=np.nan)
    assert res["code"] == _kernels.DIVERGED and res["counters"][1] == 1


def test_entry_at_t_max_and_budget_semantics(medium) -> None:
    alg = SAM(0.1)
    params = alg.kernel_params(medium.n)
    u, v = initial_point(medium.d, 0.05)
    data = kernel_inputs(medium, u, v)
    d = medium.d
    z = np.zeros(4 * d + 1)
    z[:d] = u
    clock = np.array([0.0, 0.0, data.loss0])
    counters = np.zeros(4, dtype=np.int64)
    state = _bdf.bdf_state(z.size)
    assert state.size == _bdf.bdf_state_size(z.size)
    empty_t, empty_l, empty_b = np.zeros(0), np.zeros((0, 2)), np.zeros((0, d))
    tolerances = state_atol(u, v, RTOL, ATOL)
    args = (data.X, data.y, data.X_test, data.y_test, z, clock,
            params.rho, params.m, params.normalize, params.eps, RTOL, tolerances)  # fmt: skip
    code = _bdf.integrate_bdf(*args, 10.0, 0.0, data.max_loss, empty_t, empty_l, empty_b,
                              counters, 5, None, state)  # fmt: skip
    assert code == _kernels.RUNNING and counters[1] == 5 and 0.0 < clock[0] < 10.0
    assert clock[1] > 0.0 and state[_bdf.INIT] == 1.0 and 1 <= state[_bdf.ORDER] <= 5
    while code == _kernels.RUNNING:
        code = _bdf.integrate_bdf(*args, 10.0, 0.0, data.max_loss, empty_t, empty_l, empty_b,
                                  counters, 5, None, state)  # fmt: skip
    assert code == _flow_kernel.MAX_STEPS and clock[0] == 10.0
    before = counters.copy()
    code = _bdf.integrate_bdf(*args, 10.0, 0.0, data.max_loss, empty_t, empty_l, empty_b,
                              counters, 5, None, state)  # fmt: skip
    assert code == _flow_kernel.MAX_STEPS
    np.testing.assert_array_equal(counters, before)


def test_stiff_flow_is_cheap(medium) -> None:
    # DOP853 needs ~231000 right-hand sides here; SciPy's BDF ~3600 (+ Jacobians).
    res = _run(medium, SAM(0.1, m=1), "bdf", t_max=2.85e4)
    assert res["code"] == _flow_kernel.MAX_STEPS
    assert res["counters"][0] < 10_000
    assert res["counters"][1] < 3_000
    assert res["state"][_bdf.NJEV] < 50 and res["state"][_bdf.NLU] < 1_000


@pytest.mark.parametrize("k", [3, 40, 400])
def test_output_is_scipys_bdf_interpolant(medium, k) -> None:
    from scipy.integrate._ivp.bdf import BdfDenseOutput

    alg = SAM(0.1, m=1)
    params = alg.kernel_params(medium.n)
    u, v = initial_point(medium.d, 0.05)
    data = kernel_inputs(medium, u, v)
    d = medium.d
    N = 4 * d + 1

    def once(budget, times):
        """One call from t = 0 with a step budget: stops right after step ``budget``."""
        z = np.zeros(N)
        z[:d] = u
        clock = np.array([0.0, 0.0, data.loss0])
        counters = np.zeros(4, dtype=np.int64)
        state = _bdf.bdf_state(N)
        out_loss = np.full((len(times), 2), np.nan)
        out_beta = np.full((len(times), d), np.nan)
        code = _bdf.integrate_bdf(
            data.X, data.y, data.X_test, data.y_test, z, clock,
            params.rho, params.m, params.normalize, params.eps, RTOL, state_atol(u, v, RTOL, ATOL),
            2000.0, 0.0,
            data.max_loss, np.asarray(times, dtype=float), out_loss, out_beta, counters,
            budget, None, state,
        )  # fmt: skip
        assert code == _kernels.RUNNING and counters[1] == budget
        return z, clock, counters, state, out_loss, out_beta

    t_k = once(k, [])[1][0]
    t_k1 = once(k + 1, [])[1][0]
    ts = t_k + 0.3 * (t_k1 - t_k)
    z, clock, counters, state, out_loss, out_beta = once(k + 1, [ts])
    assert clock[0] == t_k1 and counters[3] == 1
    # The state now holds the interpolant of step k + 1 (SciPy's dense output).
    order = int(state[_bdf.ORDER])
    h = state[_bdf.H_ABS]
    D = state[_bdf.HEADER : _bdf.HEADER + (_bdf.MAX_ORDER + 3) * N].reshape(-1, N)
    zi = BdfDenseOutput(t_k, t_k1, h, order, D[: order + 1].copy())(ts)
    beta = zi[:d] * zi[d : 2 * d]
    np.testing.assert_allclose(out_beta[0], beta, rtol=1e-13, atol=1e-15 * np.abs(beta).max())
    assert out_loss[0, 0] == pytest.approx(_kernels.half_mse(medium.X, medium.y, beta), rel=1e-12)
    # Not the state at either end of the step.
    assert np.abs(beta - z[:d] * z[d : 2 * d]).max() > 1e-12 * np.abs(beta).max()


def test_at_most_one_jacobian_per_step() -> None:
    """After Newton failures a retried step reuses its new Jacobian, as in SciPy.

    The normalized 1-SAM flow is discontinuous and fails Newton often; recomputing the
    Jacobian on every retry of a step made 190k evaluations here instead of 70k.
    """
    p = dlnsam.gaussian_problem(20, 30, 3, seed=0)
    res = dlnsam.flow(
        p, dlnsam.SAM(0.1, m=1, normalize=True), alpha=0.05, method="BDF", max_steps=3000
    )
    assert res.n_steps == 3000 and res.nfev < 100_000
