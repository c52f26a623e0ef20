"""The least-squares model β = w: the same algorithms, against its plain-NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest

import dlnsam
from dlnsam import GD, SAM, SGD, run, run_many
from dlnsam import reference as ref
from dlnsam.training import draw_batches

RTOL = 1e-10
# n > d with label noise: the least-squares minimum L* is positive.
P = dlnsam.gaussian_problem(n=24, d=7, k=3, noise=0.5, seed=2, n_test=15)
N, D = P.X.shape
LR, RHO, T, SEED = 0.05, 0.3, 30, 4
W0 = np.random.default_rng(1).standard_normal(D)

CONFIGS = {
    "GD": (GD(), {}),
    "SGD": (SGD(4), {}),
    "SGD-weight-decay": (SGD(6, weight_decay=1e-2), {}),
    "n-SAM": (SAM(RHO), {}),
    "1-SAM": (SAM(RHO, m=1), {}),
    "3-SAM": (SAM(RHO, m=3), {}),
    "2-SAM-b6": (SAM(RHO, m=2, batch_size=6), {}),
    "1-SAM-b4-normalized": (SAM(RHO, m=1, batch_size=4, normalize=True), {}),
    "SAM-schedules": (
        SAM(RHO, m=2, batch_size=6),
        {"lr": LR / np.sqrt(1.0 + np.arange(T)), "rho": RHO * np.linspace(1.0, 0.0, T)},
    ),
}


def _reference(algorithm, kwargs, steps=T):
    params = algorithm.kernel_params(N)
    batches = (
        None
        if params.full_batch
        else draw_batches(np.random.default_rng(SEED), N, params.batch_size, steps)
    )
    return ref.linear_reference_run(
        P.X, P.y, lr=kwargs.get("lr", LR), steps=steps, w0=W0,
        rho=kwargs.get("rho", params.rho), m=params.m, normalize=params.normalize,
        eps=params.eps, batches=batches, weight_decay=params.weight_decay,
    )  # fmt: skip


@pytest.mark.parametrize(("algorithm", "kwargs"), CONFIGS.values(), ids=CONFIGS)
def test_every_step_matches_reference(algorithm, kwargs) -> None:
    traj = _reference(algorithm, kwargs)
    assert traj.train_loss[-1] < traj.train_loss[0]
    kw = {"lr": LR, **kwargs}
    for t in (1, 2, 7, T):
        step_kw = {k: (v[:t] if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
        res = run(P, algorithm, steps=t, seed=SEED, u0=W0, model="linear", **step_kw)
        np.testing.assert_allclose(res.beta, traj.beta[t], rtol=RTOL, atol=1e-15)
        assert res.train_loss == pytest.approx(traj.train_loss[t], rel=RTOL)
    np.testing.assert_array_equal(res.beta, res.u)
    np.testing.assert_array_equal(res.v, np.ones(D))  # v is not trained
    assert res.integral_loss == pytest.approx(traj.integral_loss, rel=RTOL)


def test_gd_converges_to_the_least_squares_solution() -> None:
    res = run(P, GD(), lr=0.2, steps=20_000, model="linear", loss_tol=None)
    w_star = np.linalg.lstsq(P.X, P.y, rcond=None)[0]
    np.testing.assert_allclose(res.beta, w_star, rtol=1e-9)
    assert res.train_loss > 0.01  # noisy labels, n > d: L* > 0


def test_default_start_is_zero() -> None:
    res = run(P, GD(), lr=LR, steps=0, model="linear")
    np.testing.assert_array_equal(res.u, np.zeros(D))
    assert res.train_loss == pytest.approx(float(P.y @ P.y) / (2 * N), rel=1e-15)


def test_run_many_equals_run_to_the_bit() -> None:
    algorithm = SAM(RHO, m=2, batch_size=6)
    many = run_many(P, algorithm, seeds=[0, 9], lr=LR, steps=200, model="linear", workers=2)
    for r, seed in enumerate([0, 9]):
        one = run(P, algorithm, lr=LR, steps=200, model="linear", seed=seed)
        np.testing.assert_array_equal(many.beta[r], one.beta)
        assert many.integral_loss[r] == one.integral_loss


@pytest.mark.parametrize(
    ("algorithm", "kwargs", "match"),
    [
        (GD(), {"model": "lineer"}, r"\bmodel\b"),
        (GD(), {"model": "linear", "alpha": 0.1}, r"\balpha\b"),
        (GD(), {"model": "linear", "v0": np.ones(D)}, r"\bv0\b"),
        (GD(), {"model": "linear", "u0": np.ones(D + 1)}, r"\bu0\b"),
        (GD(normalized_descent=True), {"model": "linear"}, r"\bnormalized_descent\b"),
        (SAM(0.1, loss_derivative_only=True), {"model": "linear"}, r"\bloss_derivative_only\b"),
    ],
)
def test_bad_input_names_the_argument(algorithm, kwargs, match, monkeypatch) -> None:
    monkeypatch.setattr(dlnsam.kernels, "run_chunk", None)  # no kernel may run
    with pytest.raises(ValueError, match=match):
        run(P, algorithm, lr=LR, steps=5, **kwargs)
