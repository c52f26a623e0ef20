"""run_many: R runs at once, each equal to run(..., seed=s) to the bit."""

from __future__ import annotations

import numpy as np
import pytest

import dlnsam
from dlnsam import GD, SAM, SGD, run, run_many

P = dlnsam.gaussian_problem(n=12, d=16, k=2, seed=4, n_test=10)
SEEDS = [0, 5, 6, 1000]
KW = {"lr": 0.05, "steps": 400, "alpha": 0.2}

ALGORITHMS = {
    "SGD": (SGD(3), {}),
    "SAM-m2-b4": (SAM(0.2, m=2, batch_size=4), {}),
    "SAM-m1-b6-normalized": (SAM(0.2, m=1, batch_size=6, normalize=True), {}),
    "SGD-weight-decay": (SGD(4, weight_decay=1e-3), {}),
    "GD": (GD(), {}),
    "1-SAM": (SAM(0.2, m=1), {}),
    "SAM-schedules": (
        SAM(0.2, m=2, batch_size=4),
        {
            "lr": lambda t: 0.05 / np.sqrt(1 + t),
            "rho": np.linspace(0.2, 0.0, 400),
            "lr_decay": [100, 300],
        },
    ),
    "SGD-converges": (SGD(6), {"loss_tol": 0.2}),
}


def _same(a: dlnsam.RunResult, b: dlnsam.RunResult) -> None:
    np.testing.assert_array_equal(a.u, b.u)
    np.testing.assert_array_equal(a.v, b.v)
    assert a.train_loss == b.train_loss and a.test_loss == b.test_loss
    assert a.integral_loss == b.integral_loss and a.n_steps == b.n_steps
    assert a.status == b.status and a.message == b.message
    np.testing.assert_array_equal(a.history.steps, b.history.steps)
    np.testing.assert_array_equal(a.history.train_loss, b.history.train_loss)
    np.testing.assert_array_equal(a.history.test_loss, b.history.test_loss)


@pytest.mark.parametrize(("algorithm", "kwargs"), ALGORITHMS.values(), ids=ALGORITHMS)
def test_every_run_equals_run_with_its_seed_to_the_bit(algorithm, kwargs) -> None:
    kw = {**KW, **kwargs}
    many = run_many(P, algorithm, seeds=SEEDS, workers=2, **kw)
    assert len(many) == len(SEEDS) and many.seeds.tolist() == SEEDS
    for r, seed in enumerate(SEEDS):
        one = run(P, algorithm, seed=seed, **kw)
        _same(many[r], one)
        np.testing.assert_array_equal(many.beta[r], one.beta)
        assert many.train_loss[r] == one.train_loss
        assert many.integral_loss[r] == one.integral_loss
        assert many.status[r] == one.status


def test_stacked_arrays_and_the_shared_history_grid() -> None:
    many = run_many(P, SGD(6), seeds=range(5), loss_tol=0.2, record=[0, 10, 100, 399], **KW)
    assert many.u.shape == (5, P.d) and many.history_train.shape == (5, 4)
    assert many.history_test is not None and many.test_loss is not None
    np.testing.assert_array_equal(many.record_steps, [0, 10, 100, 399])
    for r in range(5):
        one = many[r]
        for k, t in enumerate(many.record_steps):
            if t <= one.n_steps:
                i = int(np.flatnonzero(one.history.steps == t)[0])
                assert many.history_train[r, k] == one.history.train_loss[i]
            else:  # after the run stopped
                assert np.isnan(many.history_train[r, k])
    assert any(s == "converged" for s in many.status)  # the NaN branch is exercised


def test_stochastic_runs_differ_between_seeds() -> None:
    many = run_many(P, SGD(3), seeds=[1, 2], **KW)
    assert not np.array_equal(many.beta[0], many.beta[1])


def test_one_worker_and_many_give_the_same_bits() -> None:
    a = run_many(P, SAM(0.2, m=2, batch_size=4), seeds=range(6), workers=1, **KW)
    b = run_many(P, SAM(0.2, m=2, batch_size=4), seeds=range(6), workers=3, **KW)
    np.testing.assert_array_equal(a.u, b.u)
    np.testing.assert_array_equal(a.integral_loss, b.integral_loss)


def test_an_interrupt_keeps_the_finished_runs(monkeypatch) -> None:
    """Ctrl-C during the third run: the first two finish, the rest report interrupted."""
    real = dlnsam.kernels.run_chunk
    calls = []

    def interrupted_on_third(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(dlnsam.kernels, "run_chunk", interrupted_on_third)
    many = run_many(P, SGD(3), seeds=range(5), workers=1, **KW)
    assert [s.value for s in many.status] == ["max_steps"] * 2 + ["interrupted"] * 3
    assert many.n_steps.tolist() == [400, 400, 0, 0, 0]
    _same(many[1], run(P, SGD(3), seed=1, **KW))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"seeds": []}, r"\bseeds\b"),
        ({"seeds": [1, -2]}, r"\bseeds\b"),
        ({"seeds": "012"}, r"\bseeds\b"),
        ({"seeds": 10}, r"\bseeds\b"),
        ({"seeds": [1.5]}, r"\bseeds\b"),
        ({"seeds": [1], "workers": 0}, r"\bworkers\b"),
        ({"seeds": [1], "lr": -1.0}, r"\blr\b"),
        ({"seeds": [1], "rho": 0.1}, r"\brho\b"),
    ],
)
def test_bad_input_names_the_argument(kwargs, match, monkeypatch) -> None:
    monkeypatch.setattr(dlnsam.kernels, "run_chunk", None)  # no kernel may run
    with pytest.raises(ValueError, match=match):
        run_many(P, SGD(3), **{**KW, **kwargs})
