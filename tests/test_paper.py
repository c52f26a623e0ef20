"""The paper's setting: its data bit for bit, its printed numbers, its radius convention."""

from __future__ import annotations

import numpy as np
import pytest

from dlnsam import GD, PAPER, SAM, paper_problem, paper_rho, run

# Test losses printed by the reference notebook (diag_nets_sam.ipynb) for
# np.random.seed(0), u0 = 0.1, v0 = 0, gamma = 5/d and 10**4 + 1 iterations.
PRINTED = {
    None: 0.015056044189449159,  # GD
    0.01: 0.015143589149560101,
    0.03: 0.01532189739609112,
    0.1: 0.01598195225147282,
    0.3: 0.018241642036376265,
    1.0: 0.03606494489010675,
}


@pytest.mark.parametrize("rho_ref", list(PRINTED))
def test_seed_zero_reproduces_the_papers_printed_test_losses(rho_ref):
    p = paper_problem(0)
    algorithm = GD() if rho_ref is None else SAM(paper_rho(rho_ref, None))
    res = run(p, algorithm, lr=5 / PAPER.d, steps=PAPER.steps, alpha=PAPER.alpha)
    assert res.test_loss == pytest.approx(PRINTED[rho_ref], rel=1e-12)


def test_the_data_follow_the_reference_draws():
    p = paper_problem(3)
    rs = np.random.RandomState(3)
    X = rs.multivariate_normal(np.zeros(30), np.eye(30), 20)
    X_test = rs.multivariate_normal(np.zeros(30), np.eye(30), 1000)
    g = rs.randn(30)
    g[3:] = 0
    beta = np.abs(g) / np.linalg.norm(g)
    assert np.array_equal(p.X, X) and np.array_equal(p.X_test, X_test)
    assert np.array_equal(p.beta_star, beta)
    assert np.array_equal(p.y, X @ beta) and np.array_equal(p.y_test, X_test @ beta)


def test_noise_changes_only_the_training_labels():
    clean, noisy = paper_problem(1), paper_problem(1, noise=0.5)
    for name in ("X", "X_test", "y_test", "beta_star"):
        assert np.array_equal(getattr(clean, name), getattr(noisy, name))
    residual = noisy.y - clean.y
    assert 0.2 < residual.std() < 0.8
    assert np.array_equal(paper_problem(1, noise=0.5).y, noisy.y)


def test_other_sizes():
    p = paper_problem(0, n=40, d=100, k=5, n_test=10)
    assert p.X.shape == (40, 100) and p.X_test.shape == (10, 100)
    assert np.count_nonzero(p.beta_star) == 5 and np.all(p.beta_star[:5] > 0)
    assert np.linalg.norm(p.beta_star) == pytest.approx(1.0)


def _reference_one_sam_step(X, y, u, v, lr, rho_ref):
    """One step of the reference code's 1-SAM, written out per example."""
    n = X.shape[0]
    r = X @ (u * v) - y
    gu, gv = np.zeros_like(u), np.zeros_like(v)
    for k in range(n):
        uk = u + 2 * rho_ref * r[k] * X[k] * v
        vk = v + 2 * rho_ref * r[k] * X[k] * u
        rk = X[k] @ (uk * vk) - y[k]
        gu += rk * vk * X[k] / n
        gv += rk * uk * X[k] / n
    return u - lr * gu, v - lr * gv


def test_one_sam_radius_is_twice_the_reference_radius():
    p = paper_problem(2)
    u, v = np.full(30, 0.1), np.zeros(30)
    rng = np.random.default_rng(0)
    u, v = u + 0.1 * rng.standard_normal(30), 0.1 * rng.standard_normal(30)
    ru, rv = u, v
    for _ in range(5):
        ru, rv = _reference_one_sam_step(p.X, p.y, ru, rv, 0.05, 0.3)
    res = run(p, SAM(paper_rho(0.3, 1), m=1), lr=0.05, steps=5, u0=u, v0=v)
    np.testing.assert_allclose(res.u, ru, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(res.v, rv, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"), ({"noise": -0.1}, "noise"),
     ({"k": 31}, "k"), ({"n_test": 0}, "n_test"), ({"d": 0}, "d")],
)  # fmt: skip
def test_bad_arguments_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        paper_problem(**kwargs)


def test_paper_rho():
    assert paper_rho(0.3, None) == 0.3 and paper_rho(0.3, 1) == 0.6
    with pytest.raises(ValueError, match="m must be"):
        paper_rho(0.1, 2)
    with pytest.raises(ValueError, match="reference_rho"):
        paper_rho(-1.0, 1)
    assert PAPER.lrs == (1 / 30, 5 / 30, 10 / 30, 15 / 30)
