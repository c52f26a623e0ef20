"""The Numba BDF/NDF flow integrator (dlnsam.flows.bdf) against the DOP853 kernel."""

from __future__ import annotations

import numpy as np
import pytest

import dlnsam
from dlnsam import GD, SAM
from dlnsam import kernels as _kernels
from dlnsam.flows import bdf, dop853, state_atol
from dlnsam.flows.records import Controls, new_outputs, new_progress
from dlnsam.flows.terms import initial_state, sam_flow_term, split_state
from dlnsam.status import CONVERGED, DIVERGED, RUNNING, T_END
from dlnsam.training import initial_point, kernel_inputs, parallel_chunks

RTOL, ATOL = 1e-10, 1e-14
BLOCKS = ("u", "v", "integral_loss", "delta", "delta_first_order")
MEMORY = ("header", "D", "J", "LU", "piv", "jac_factor")


def _setup(problem, algorithm, *, alpha=0.05, rtol=RTOL, atol=ATOL, t_max=50.0, stop_rel=0.0,
           max_loss=None, times=None, budget=20_000):  # fmt: skip
    """The arguments of an integrator kernel, as dlnsam.flows.flow builds them."""
    params = algorithm.kernel_params(problem.n)
    u, v = initial_point(problem.d, alpha)
    data = kernel_inputs(problem, u, v)
    z = initial_state(u, v)
    term = sam_flow_term(data.X, data.y, params, parallel_chunks(problem.n, problem.d))
    max_loss = data.max_loss if max_loss is None else max_loss
    controls = Controls(rtol, state_atol(u, v, rtol, atol), t_max, stop_rel * data.loss0,
                        max_loss, budget)  # fmt: skip
    out_times = np.zeros(0) if times is None else np.asarray(times, dtype=float)
    outputs = new_outputs(out_times, problem.d, data.X_test, data.y_test)
    return term, z, new_progress(data.loss0), controls, outputs, data.loss0


def _run(problem, algorithm, kernel="bdf", **kwargs):
    """Drive a kernel the way dlnsam.flows.flow does (resumable calls with a step budget)."""
    term, z, progress, controls, outputs, loss0 = _setup(problem, algorithm, **kwargs)
    integrator = bdf if kernel == "bdf" else dop853
    memory = integrator.new_memory(z.size, 2 * problem.d)
    code, calls = RUNNING, 0
    while code == RUNNING:
        calls += 1
        code = integrator.integrate(term, z, progress, controls, outputs, memory)
        assert calls < 100_000
    return {
        "code": code,
        "z": z,
        "progress": progress[0],
        "outputs": outputs,
        "memory": memory,
        "calls": calls,
        "loss0": loss0,
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
        assert b["code"] == r["code"] == T_END
        assert b["progress"]["t"] == r["progress"]["t"] == t_max
        assert np.all(np.isfinite(b["z"]))
        assert np.max(np.abs(b["z"] - r["z"])) <= 1e-8 * np.max(np.abs(r["z"]))
        zbs, zrs = split_state(b["z"], d), split_state(r["z"], d)
        for name, zb, zr in zip(BLOCKS, zbs, zrs, strict=True):
            err = np.max(np.abs(zb - zr))
            assert err <= 3e-8 * np.max(np.abs(zr)), (name, t_max, err)
        # Losses near zero only agree to the accuracy of the residual.
        loss_err = abs(b["progress"]["loss"] - r["progress"]["loss"])
        assert loss_err <= 1e-6 * r["progress"]["loss"] + 1e-14 * b["loss0"]
        # Fewer right-hand sides than DOP853 once the flow is stiff.
        if t_max == 2000.0 and which == "medium":
            assert b["progress"]["nfev"] < r["progress"]["nfev"]


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
        assert b["progress"]["next_output"] == r["progress"]["next_output"] == times.size
        bo, ro = b["outputs"], r["outputs"]
        cols = 2 if problem.has_test else 1
        np.testing.assert_allclose(
            bo.loss[:, :cols], ro.loss[:, :cols], rtol=1e-6, atol=1e-12 * b["loss0"]
        )
        if not problem.has_test:
            assert np.all(np.isnan(bo.loss[:, 1]))
        err = np.max(np.abs(bo.beta - ro.beta), axis=1)
        assert np.all(err <= 1e-7 * np.max(np.abs(ro.beta), axis=1))
        # The last output time is t_max itself: exactly the final state.
        end = split_state(b["z"], problem.d)
        np.testing.assert_array_equal(bo.beta[-1], end.u * end.v)
        assert bo.loss[-1, 0] == b["progress"]["loss"]


def test_output_times_are_interpolated_not_stepped_to(medium) -> None:
    alg = SAM(0.1, m=1)
    times = np.linspace(1.0, 2000.0, 400)
    b = _run(medium, alg, "bdf", t_max=2000.0, times=times)
    plain = _run(medium, alg, "bdf", t_max=2000.0)
    # The outputs do not change the integration at all.
    np.testing.assert_array_equal(b["z"], plain["z"])
    for field in ("t", "h", "loss", "nfev", "n_steps", "n_rejected"):
        assert b["progress"][field] == plain["progress"][field]


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=IDS)
def test_resumption_matches_one_call(medium, algorithm) -> None:
    times = np.array([0.5, 10.0, 500.0, 2000.0])
    one = _run(medium, algorithm, "bdf", t_max=2000.0, times=times)
    many = _run(medium, algorithm, "bdf", t_max=2000.0, times=times, budget=7)
    assert one["calls"] <= 2 and many["calls"] > 100
    assert one["code"] == many["code"] == T_END
    np.testing.assert_array_equal(many["z"], one["z"])
    assert many["progress"] == one["progress"]
    np.testing.assert_array_equal(many["outputs"].beta, one["outputs"].beta)
    np.testing.assert_array_equal(many["outputs"].loss, one["outputs"].loss)
    for field in MEMORY:
        np.testing.assert_array_equal(getattr(many["memory"], field), getattr(one["memory"], field))


def test_status_codes(medium) -> None:
    alg = SAM(0.1, m=1)
    # CONVERGED: L <= stop_loss after an accepted step.
    res = _run(medium, alg, "bdf", t_max=1e6, stop_rel=1e-10)
    assert res["code"] == CONVERGED
    pr = res["progress"]
    assert pr["loss"] <= 1e-10 * res["loss0"]
    assert pr["t"] < 1e6
    # The loss in progress is L(z) of the returned state.
    end = split_state(res["z"], medium.d)
    beta = end.u * end.v
    assert pr["loss"] == pytest.approx(_kernels.half_mse(medium.X, medium.y, beta), rel=1e-12)
    # ... and before that the loss was above the threshold: one step earlier would not stop.
    res_dop = _run(medium, alg, "dop", t_max=1e6, stop_rel=1e-10)
    assert pr["t"] == pytest.approx(res_dop["progress"]["t"], rel=0.05)

    # T_END: lands exactly on t_max.
    res = _run(medium, alg, "bdf", t_max=1.2345)
    assert res["code"] == T_END and res["progress"]["t"] == 1.2345

    # DIVERGED: L > max_loss, and a non-finite loss.
    res = _run(medium, alg, "bdf", t_max=100.0, max_loss=1e-3)
    assert res["code"] == DIVERGED
    assert res["progress"]["n_steps"] >= 1 and res["progress"]["loss"] > 1e-3
    res = _run(medium, alg, "bdf", t_max=100.0, max_loss=np.nan)
    assert res["code"] == DIVERGED and res["progress"]["n_steps"] == 1


def test_entry_at_t_max_and_budget_semantics(medium) -> None:
    term, z, progress, controls, outputs, _ = _setup(medium, SAM(0.1), t_max=10.0, budget=5)
    memory = bdf.new_memory(z.size, 2 * medium.d)
    pr, header = progress[0], memory.header[0]
    code = bdf.integrate(term, z, progress, controls, outputs, memory)
    assert code == RUNNING and pr["n_steps"] == 5 and 0.0 < pr["t"] < 10.0
    assert pr["h"] > 0.0 and header["started"] and 1 <= header["order"] <= 5
    while code == RUNNING:
        code = bdf.integrate(term, z, progress, controls, outputs, memory)
    assert code == T_END and pr["t"] == 10.0
    before = progress.copy()
    code = bdf.integrate(term, z, progress, controls, outputs, memory)
    assert code == T_END
    np.testing.assert_array_equal(progress, before)


def test_stiff_flow_is_cheap(medium) -> None:
    # DOP853 needs ~231000 right-hand sides here; SciPy's BDF ~3600 (+ Jacobians).
    res = _run(medium, SAM(0.1, m=1), "bdf", t_max=2.85e4)
    assert res["code"] == T_END
    assert res["progress"]["nfev"] < 10_000
    assert res["progress"]["n_steps"] < 3_000
    header = res["memory"].header[0]
    assert header["njev"] < 50 and header["nlu"] < 1_000


@pytest.mark.parametrize("k", [3, 40, 400])
def test_output_is_scipys_bdf_interpolant(medium, k) -> None:
    from scipy.integrate._ivp.bdf import BdfDenseOutput

    alg = SAM(0.1, m=1)
    d = medium.d

    def once(budget, times):
        """One call from t = 0 with a step budget: stops right after step ``budget``."""
        term, z, progress, controls, outputs, _ = _setup(
            medium, alg, t_max=2000.0, times=times, budget=budget
        )
        memory = bdf.new_memory(z.size, 2 * d)
        code = bdf.integrate(term, z, progress, controls, outputs, memory)
        assert code == RUNNING and progress[0]["n_steps"] == budget
        return z, progress[0], memory, outputs

    t_k = once(k, [])[1]["t"]
    t_k1 = once(k + 1, [])[1]["t"]
    ts = t_k + 0.3 * (t_k1 - t_k)
    z, pr, memory, outputs = once(k + 1, [ts])
    assert pr["t"] == t_k1 and pr["next_output"] == 1
    # The memory now holds the interpolant of step k + 1 (SciPy's dense output).
    order = int(memory.header[0]["order"])
    h = memory.header[0]["h_abs"]
    zi = BdfDenseOutput(t_k, t_k1, h, order, memory.D[: order + 1].copy())(ts)
    beta = zi[:d] * zi[d : 2 * d]
    np.testing.assert_allclose(outputs.beta[0], beta, rtol=1e-13, atol=1e-15 * np.abs(beta).max())
    loss = _kernels.half_mse(medium.X, medium.y, beta)
    assert outputs.loss[0, 0] == pytest.approx(loss, rel=1e-12)
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
