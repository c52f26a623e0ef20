"""Behaviour of :func:`dlnsam.run`: convergence, input checks, statuses, history,
learning-rate decay, interruption and chunking."""

from __future__ import annotations

import numpy as np
import pytest

import dlnsam
from dlnsam import GD, SAM, SGD, Problem, gaussian_problem, run
from dlnsam import reference as ref
from dlnsam.training import draw_batches

SMALL = gaussian_problem(n=12, d=14, k=3, seed=4, n_test=30)
SMALL_NO_TEST = gaussian_problem(n=12, d=14, k=3, seed=4, n_test=0)


def assert_same_run(a: dlnsam.RunResult, b: dlnsam.RunResult) -> None:
    """Bit-identical final state, losses and history."""
    np.testing.assert_array_equal(a.u, b.u)
    np.testing.assert_array_equal(a.v, b.v)
    np.testing.assert_array_equal(a.beta, b.beta)
    assert a.train_loss == b.train_loss
    assert a.integral_loss == b.integral_loss
    assert a.n_steps == b.n_steps
    np.testing.assert_array_equal(a.history.steps, b.history.steps)
    np.testing.assert_array_equal(a.history.train_loss, b.history.train_loss)
    if a.history.test_loss is None or b.history.test_loss is None:
        assert a.history.test_loss is None and b.history.test_loss is None
    else:
        np.testing.assert_array_equal(a.history.test_loss, b.history.test_loss)


# ---------------------------------------------------------------------------
# Convergence


def test_gd_interpolates_an_overparametrized_problem():
    p = gaussian_problem(n=20, d=30, k=3, seed=0, n_test=0)
    res = run(p, GD(), lr=0.15, steps=20_000, alpha=0.1)
    assert res.status == "max_steps"
    assert res.train_loss < 1e-12
    assert res.train_loss == pytest.approx(ref.loss(p.X, p.y, res.u * res.v), rel=1e-6, abs=1e-30)
    np.testing.assert_array_equal(res.beta, res.u * res.v)


# ---------------------------------------------------------------------------
# Bad input: ValueError naming the argument, before any training kernel runs


def _with_nan(a, where=(0,)):
    a = np.array(a, dtype=float)
    a[where] = np.nan
    return a


def _with_inf(a, where=(0,)):
    a = np.array(a, dtype=float)
    a[where] = -np.inf
    return a


X, Y = SMALL.X, SMALL.y
N, D = X.shape

PROBLEM_ERRORS = {
    "X-nan": ({"X": _with_nan(X, (2, 3)), "y": Y}, r"\bX\b"),
    "X-inf": ({"X": _with_inf(X, (0, 0)), "y": Y}, r"\bX\b"),
    "y-nan": ({"X": X, "y": _with_nan(Y)}, r"\by\b"),
    "y-inf": ({"X": X, "y": _with_inf(Y)}, r"\by\b"),
    "X-1d": ({"X": X[0], "y": Y}, r"\bX\b"),
    "X-3d": ({"X": X[None], "y": Y}, r"\bX\b"),
    "X-empty": ({"X": np.zeros((0, D)), "y": np.zeros(0)}, r"\bX\b"),
    "y-2d": ({"X": X, "y": Y[:, None]}, r"\by\b"),
    "y-length": ({"X": X, "y": Y[:-1]}, r"\by\b"),
    "X_test-nan": (
        {"X": X, "y": Y, "X_test": _with_nan(SMALL.X_test), "y_test": SMALL.y_test},
        r"\bX_test\b",
    ),
    "y_test-inf": (
        {"X": X, "y": Y, "X_test": SMALL.X_test, "y_test": _with_inf(SMALL.y_test)},
        r"\by_test\b",
    ),
    "X_test-columns": (
        {"X": X, "y": Y, "X_test": SMALL.X_test[:, :-1], "y_test": SMALL.y_test},
        r"\bX_test\b",
    ),
    "y_test-alone": ({"X": X, "y": Y, "y_test": SMALL.y_test}, r"\by_test\b"),
    "beta_star-shape": ({"X": X, "y": Y, "beta_star": np.ones(D + 1)}, r"\bbeta_star\b"),
    "X-not-numeric": ({"X": [["a", "b"]], "y": [1.0]}, r"\bX\b"),
}


@pytest.mark.parametrize(("fields", "match"), PROBLEM_ERRORS.values(), ids=PROBLEM_ERRORS)
def test_problem_rejects_bad_data(fields, match):
    with pytest.raises(ValueError, match=match):
        Problem(**fields)


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"X": _with_nan(X, (5, 1)), "y": Y}, r"\bX\b"),
        ({"X": X, "y": _with_inf(Y, (3,))}, r"\by\b"),
        ({"X": X, "y": Y[:5]}, r"\by\b"),
        ({"X": X, "y": Y, "X_test": _with_inf(SMALL.X_test), "y_test": SMALL.y_test}, "X_test"),
    ],
    ids=["X-nan", "y-inf", "y-length", "X_test-inf"],
)
def test_load_rejects_bad_npz(tmp_path, arrays, match):
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=match):
        dlnsam.load_problem(path)


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        (["x1,x2,y", "1.0,nan,2.0", "0.5,1.0,1.0"], r"\bX\b"),  # float('nan') parses
        (["1.0,2.0,inf", "0.5,1.0,1.0"], r"\by\b"),
        (["1.0,-inf,3.0", "0.5,1.0,1.0"], r"\bX\b"),
    ],
    ids=["X-nan", "y-inf", "X-minus-inf"],
)
def test_load_rejects_non_finite_csv(tmp_path, lines, match):
    path = tmp_path / "data.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=match):
        dlnsam.load_problem(path)


def test_load_reads_valid_files(tmp_path):
    """The loaders that reject bad files accept good ones (the error tests mean something)."""
    np.savez(tmp_path / "ok.npz", X=X, y=Y)
    np.testing.assert_array_equal(dlnsam.load_problem(tmp_path / "ok.npz").X, X)
    (tmp_path / "ok.csv").write_text("x1,x2,y\n1.0,2.0,3.0\n0.5,1.0,1.0\n")
    loaded = dlnsam.load_problem(tmp_path / "ok.csv")
    np.testing.assert_array_equal(loaded.y, [3.0, 1.0])


GOOD = {"lr": 0.01, "steps": 10, "alpha": 0.1}

RUN_ERRORS = {
    # initialization
    "alpha-zero": (GD(), {"alpha": 0.0}, r"\balpha\b"),
    "alpha-negative": (GD(), {"alpha": -0.1}, r"\balpha\b"),
    "alpha-vector-with-zero": (GD(), {"alpha": np.r_[np.ones(D - 1), 0.0]}, r"\balpha\b"),
    "alpha-vector-negative": (GD(), {"alpha": -np.ones(D)}, r"\balpha\b"),
    "alpha-nan": (GD(), {"alpha": np.nan}, r"\balpha\b"),
    "alpha-inf": (GD(), {"alpha": np.inf}, r"\balpha\b"),
    "alpha-short": (GD(), {"alpha": np.ones(D - 1)}, r"\balpha\b"),
    "alpha-long": (GD(), {"alpha": np.ones(D + 1)}, r"\balpha\b"),
    "alpha-2d": (GD(), {"alpha": np.ones((D, 1))}, r"\balpha\b"),
    "alpha-and-u0-v0": (GD(), {"u0": np.ones(D), "v0": np.zeros(D)}, r"\balpha\b"),
    "alpha-and-u0": (GD(), {"u0": np.ones(D)}, r"\balpha\b"),
    "neither": (GD(), {"alpha": None}, r"\balpha\b"),
    "u0-only": (GD(), {"alpha": None, "u0": np.ones(D)}, r"\bv0\b"),
    "u0-shape": (GD(), {"alpha": None, "u0": np.ones(D + 1), "v0": np.ones(D)}, r"\bu0\b"),
    "v0-shape": (GD(), {"alpha": None, "u0": np.ones(D), "v0": np.ones((D, 1))}, r"\bv0\b"),
    "u0-nan": (GD(), {"alpha": None, "u0": _with_nan(np.ones(D)), "v0": np.ones(D)}, r"\bu0\b"),
    "v0-inf": (GD(), {"alpha": None, "u0": np.ones(D), "v0": _with_inf(np.ones(D))}, r"\bv0\b"),
    # micro-batch and batch sizes
    "m-not-dividing-n": (SAM(0.1, m=5), {}, r"\bm\b"),
    "m-larger-than-n": (SAM(0.1, m=2 * N), {}, r"\bm\b"),
    "sgd-batch-too-large": (SGD(batch_size=N + 1), {}, r"\bbatch_size\b"),
    "sam-batch-too-large": (SAM(0.1, batch_size=N + 1), {}, r"\bbatch_size\b"),
    "1-sam-batch-too-large": (SAM(0.1, m=1, batch_size=N + 1), {}, r"\bbatch_size\b"),
    # step size, steps, seed, tolerance
    "lr-zero": (GD(), {"lr": 0.0}, r"\blr\b"),
    "lr-negative": (GD(), {"lr": -0.01}, r"\blr\b"),
    "lr-nan": (GD(), {"lr": np.nan}, r"\blr\b"),
    "lr-inf": (GD(), {"lr": np.inf}, r"\blr\b"),
    "lr-string": (GD(), {"lr": "0.1"}, r"\blr\b"),
    "steps-negative": (GD(), {"steps": -1}, r"\bsteps\b"),
    "steps-float": (GD(), {"steps": 2.5}, r"\bsteps\b"),
    "seed-negative": (SGD(batch_size=2), {"seed": -1}, r"\bseed\b"),
    "loss_tol-negative": (GD(), {"loss_tol": -1e-3}, r"\bloss_tol\b"),
    "loss_tol-one": (GD(), {"loss_tol": 1.0}, r"\bloss_tol must be < 1"),
    # per-step γ_t and ρ_t
    "lr-array-length": (GD(), {"lr": np.full(9, 0.1)}, r"\blr\b.*one value per step"),
    "lr-array-negative": (GD(), {"lr": np.r_[np.full(9, 0.1), -0.1]}, r"\blr\b.*step 9"),
    "lr-array-nan": (GD(), {"lr": np.r_[np.full(9, 0.1), np.nan]}, r"\blr\b"),
    "lr-array-2d": (GD(), {"lr": np.full((10, 1), 0.1)}, r"\blr\b"),
    "lr-callable-zero": (GD(), {"lr": lambda t: 0.1 if t < 5 else 0.0}, r"lr\(t\).*step 5"),
    "lr-callable-raises": (GD(), {"lr": lambda t: 1 / (t - 3)}, r"lr\(3\) raised"),
    "lr-callable-text": (GD(), {"lr": lambda t: "fast"}, r"lr\(t\)"),
    "rho-with-gd": (GD(), {"rho": 0.1}, r"\brho\b.*SAM"),
    "rho-with-sgd": (SGD(2), {"rho": np.full(10, 0.1)}, r"\brho\b.*SAM"),
    "rho-negative": (SAM(0.1), {"rho": -0.1}, r"\brho\b"),
    "rho-array-length": (SAM(0.1), {"rho": np.full(11, 0.1)}, r"\brho\b"),
    "rho-callable-inf": (SAM(0.1), {"rho": lambda t: np.inf}, r"rho\(t\)"),
    # record and lr_decay
    "record-negative": (GD(), {"record": [-1, 2]}, r"\brecord\b"),
    "record-beyond-steps": (GD(), {"record": [0, 11]}, r"\brecord\b"),
    "record-float": (GD(), {"record": [0.5, 2.0]}, r"\brecord\b"),
    "record-2d": (GD(), {"record": [[0, 1]]}, r"\brecord\b"),
    "lr_decay-zero": (GD(), {"lr_decay": [0, 5]}, r"\blr_decay\b"),
    "lr_decay-beyond-steps": (GD(), {"lr_decay": [11]}, r"\blr_decay\b"),
    "lr_decay-float": (GD(), {"lr_decay": [2.5]}, r"\blr_decay\b"),
    # not an algorithm or not a problem
    "algorithm-string": ("gd", {}, r"\balgorithm\b"),
    "algorithm-class": (GD, {}, r"\balgorithm\b"),
    "algorithm-none": (None, {}, r"\balgorithm\b"),
}


@pytest.fixture
def no_kernel(monkeypatch):
    """Fail if the training kernel is reached: validation must come first."""

    def forbidden(*args):
        raise AssertionError("run_chunk was called with invalid arguments")

    monkeypatch.setattr(dlnsam.kernels, "run_chunk", forbidden)


@pytest.mark.parametrize(("algorithm", "kwargs", "match"), RUN_ERRORS.values(), ids=RUN_ERRORS)
def test_run_rejects_bad_arguments(algorithm, kwargs, match, no_kernel):
    with pytest.raises(ValueError, match=match):
        run(SMALL, algorithm, **{**GOOD, **kwargs})


def test_run_rejects_a_non_problem(no_kernel):
    with pytest.raises(ValueError, match=r"\bproblem\b"):
        run((X, Y), GD(), **GOOD)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: SAM(-0.1), r"\brho\b"),
        (lambda: SAM(np.nan), r"\brho\b"),
        (lambda: SAM(0.1, m=0), r"\bm\b"),
        (lambda: SAM(0.1, m=4, batch_size=6), r"\bm\b"),
        (lambda: SAM(0.1, eps=0.0), r"\beps\b"),
        (lambda: SAM(0.1, normalize="yes"), r"\bnormalize\b"),
        (lambda: SAM(0.1, batch_size=0), r"\bbatch_size\b"),
        (lambda: SGD(batch_size=0), r"\bbatch_size\b"),
        (lambda: SGD(batch_size=1.5), r"\bbatch_size\b"),
        (lambda: dlnsam.algorithm_from_name("1-sam", rho=-1.0), r"\brho\b"),
        (lambda: dlnsam.algorithm_from_name("n-sam"), r"\brho\b"),
        (lambda: dlnsam.algorithm_from_name("gd", rho=0.1), r"\brho\b"),
        (lambda: dlnsam.algorithm_from_name("sam-2000"), r"\balgorithm\b"),
    ],
    ids=[
        "rho-negative",
        "rho-nan",
        "m-zero",
        "m-not-dividing-batch",
        "eps-zero",
        "normalize-not-bool",
        "sam-batch-zero",
        "sgd-batch-zero",
        "sgd-batch-float",
        "from-name-rho-negative",
        "from-name-missing-rho",
        "from-name-extra-rho",
        "from-name-unknown",
    ],
)
def test_algorithms_reject_bad_hyperparameters(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize("alpha", ["abc", 1 + 2j, [0.1, "x"]], ids=["string", "complex", "mixed"])
def test_run_rejects_non_numeric_alpha_naming_it(alpha, no_kernel):
    """Like u0, v0, X and y, a non-numeric alpha must give a ValueError naming it.

    Fails at the time of writing: ``alpha_vector`` calls ``np.asarray(alpha,
    dtype=float64)`` outside a try, so "abc" gives numpy's "could not convert
    string to float" (no argument name) and a complex alpha a TypeError.
    """
    with pytest.raises(ValueError, match=r"\balpha\b"):
        run(SMALL, GD(), lr=0.01, steps=10, alpha=alpha)


@pytest.mark.parametrize("argument", ["lr_decay", "record"])
def test_run_accepts_empty_sequences(argument):
    """``lr_decay=[]`` (no milestones) and ``record=[]`` are sequences of int.

    Fails at the time of writing: ``np.asarray([])`` is float64, so the
    integer-dtype check rejects the empty list.
    """
    res = run(SMALL, GD(), lr=0.01, steps=10, alpha=0.1, **{argument: []})
    plain = run(SMALL, GD(), lr=0.01, steps=10, alpha=0.1)
    np.testing.assert_array_equal(res.u, plain.u)
    assert res.history.steps[-1] == 10


# ---------------------------------------------------------------------------
# Statuses: diverged, converged, max_steps


# (algorithm, a step size at which it diverges after a few steps)
DIVERGING = [
    (GD(), 0.7),
    (SGD(batch_size=4), 0.5),
    (SAM(0.02, m=1), 0.5),
    (SAM(0.5, m=3, batch_size=6, normalize=True), 0.6),  # 0.3 is marginal (chaotic)
]
DIVERGING_IDS = [a.name for a, _ in DIVERGING]


@pytest.mark.parametrize(("algorithm", "lr"), DIVERGING, ids=DIVERGING_IDS)
def test_divergent_step_size_is_reported(algorithm, lr):
    steps = 500
    res = run(SMALL, algorithm, lr=lr, steps=steps, alpha=0.5, seed=3)
    assert res.status == "diverged"
    assert not res.status.ok
    assert 1 < res.n_steps < steps
    assert f"step {res.n_steps + 1}" in res.message
    assert "lr" in res.message
    for value in (res.u, res.v, res.beta, res.train_loss, res.integral_loss):
        assert np.all(np.isfinite(value))
    assert res.history.steps[-1] == res.n_steps
    assert np.all(np.isfinite(res.history.train_loss))
    assert np.all(np.isfinite(res.history.test_loss))
    # the returned iterate is the one of step n_steps
    clean = run(SMALL, algorithm, lr=lr, steps=res.n_steps, alpha=0.5, seed=3)
    assert clean.status == "max_steps"
    np.testing.assert_array_equal(res.u, clean.u)
    np.testing.assert_array_equal(res.v, clean.v)
    assert res.train_loss == clean.train_loss
    # a budget ending exactly one step after the last finite iterate is caught
    # after the kernel returns, with the same outcome
    edge = run(SMALL, algorithm, lr=lr, steps=res.n_steps + 1, alpha=0.5, seed=3)
    assert edge.status == "diverged"
    assert edge.n_steps == res.n_steps
    np.testing.assert_array_equal(edge.u, res.u)
    assert f"step {res.n_steps + 1}" in edge.message


@pytest.mark.parametrize(("algorithm", "lr"), DIVERGING, ids=DIVERGING_IDS)
def test_diverged_integral_loss_covers_the_returned_iterate_only(algorithm, lr):
    """integral_loss is Σ_{t < n_steps} γ L(θ_t), as for a clean run of n_steps steps.

    Fails at the time of writing: the kernel adds γ L(θ_{n_steps}) for the update
    that blew up and was discarded (GD, lr 0.7: 6.0e7 against 3.2e2),
    so integral_loss does not belong to the returned (u, v, n_steps).
    """
    res = run(SMALL, algorithm, lr=lr, steps=500, alpha=0.5, seed=3)
    assert res.status == "diverged"
    clean = run(SMALL, algorithm, lr=lr, steps=res.n_steps, alpha=0.5, seed=3)
    assert res.integral_loss == pytest.approx(clean.integral_loss, rel=1e-12)


P_CONVERGE = gaussian_problem(n=20, d=30, k=3, seed=0, n_test=0)


def test_loss_tol_stops_early_with_converged():
    kw = {"lr": 0.15, "alpha": 0.1}
    loss0 = P_CONVERGE.train_loss(np.zeros(30))  # β_0 = u_0 ⊙ 0 = 0
    res = run(P_CONVERGE, GD(), steps=20_000, loss_tol=1e-6, **kw)
    assert res.status == "converged"
    assert res.status.ok
    assert 0 < res.n_steps < 20_000
    assert res.train_loss <= 1e-6 * loss0
    # the first step below the tolerance, not a later one
    before = run(P_CONVERGE, GD(), steps=res.n_steps - 1, **kw)
    assert before.train_loss > 1e-6 * loss0
    # and the result is the plain run of that many steps
    plain = run(P_CONVERGE, GD(), steps=res.n_steps, **kw)
    assert_same_run(res, run(P_CONVERGE, GD(), steps=res.n_steps, record=res.history.steps, **kw))
    np.testing.assert_array_equal(res.u, plain.u)


def test_default_runs_all_steps():
    res = run(P_CONVERGE, GD(), lr=0.15, steps=3000, alpha=0.1)
    assert res.status == "max_steps"
    assert res.n_steps == 3000
    assert res.train_loss < 1e-6 * P_CONVERGE.train_loss(np.zeros(30))  # it could have stopped


# ---------------------------------------------------------------------------
# Learning-rate decay


@pytest.mark.parametrize(
    "algorithm",
    [SGD(batch_size=4), SAM(0.3, m=1), SAM(0.3, m=3), SAM(0.3, m=2, batch_size=6, normalize=True)],
    ids=lambda a: a.name,
)
def test_lr_decay_halves_at_milestones_like_the_reference(algorithm):
    """The update from θ_t uses γ · 2^(−#{milestones ≤ t})."""
    params = algorithm.kernel_params(N)
    rng = np.random.default_rng(5)
    u0, v0 = 0.5 * rng.standard_normal(D), 0.5 * rng.standard_normal(D)
    milestones, steps, lr, seed = [5, 12, 12, 30], 40, 0.02, 11
    batches = (
        None
        if params.full_batch
        else draw_batches(np.random.default_rng(seed), N, params.batch_size, steps)
    )
    traj = ref.reference_run(
        X, Y, lr=lr, steps=steps, u0=u0, v0=v0, rho=params.rho, m=params.m,
        normalize=params.normalize, eps=params.eps, batches=batches, lr_decay=milestones,
    )  # fmt: skip
    res = run(SMALL, algorithm, lr=lr, steps=steps, u0=u0, v0=v0, seed=seed, lr_decay=milestones)
    np.testing.assert_allclose(res.u, traj.a[-1], rtol=1e-10, atol=0)
    np.testing.assert_allclose(res.v, traj.b[-1], rtol=1e-10, atol=0)
    assert res.integral_loss == pytest.approx(traj.integral_loss, rel=1e-10)
    # the decay changes the run
    plain = run(SMALL, algorithm, lr=lr, steps=steps, u0=u0, v0=v0, seed=seed)
    assert not np.allclose(plain.u, res.u, rtol=1e-6)


def test_lr_decay_is_a_restart_at_half_the_step():
    """GD with a milestone at k = k steps at γ, then steps − k from there at γ/2."""
    kw = {"u0": np.linspace(-1, 1, D), "v0": np.linspace(0.5, -0.5, D)}
    decayed = run(SMALL, GD(), lr=0.04, steps=30, lr_decay=[10], **kw)
    head = run(SMALL, GD(), lr=0.04, steps=10, **kw)
    tail = run(SMALL, GD(), lr=0.02, steps=20, u0=head.u, v0=head.v)
    np.testing.assert_array_equal(decayed.u, tail.u)
    np.testing.assert_array_equal(decayed.v, tail.v)
    assert decayed.integral_loss == pytest.approx(head.integral_loss + tail.integral_loss)


# ---------------------------------------------------------------------------
# History


def test_default_history_grid():
    steps = 1000
    res = run(SMALL, SAM(0.1, m=1), lr=0.02, steps=steps, alpha=0.3)
    grid = res.history.steps
    np.testing.assert_array_equal(grid, dlnsam.default_record_steps(steps))
    assert grid[:101].tolist() == list(range(101))  # every step up to 100
    assert grid[-1] == steps
    assert np.all(np.diff(grid) > 0)
    tail = grid[101:]
    assert 100 <= tail.size <= 200  # about 200 log-spaced points
    nominal_gap = np.log(steps / 100) / 199
    assert np.max(np.diff(np.log(np.r_[100, tail]))) < 2 * nominal_gap
    # the losses are those of θ_t
    dense = run(SMALL, SAM(0.1, m=1), lr=0.02, steps=steps, alpha=0.3, record=np.arange(steps + 1))
    np.testing.assert_allclose(res.history.train_loss, dense.history.train_loss[grid], rtol=1e-12)
    np.testing.assert_allclose(res.history.test_loss, dense.history.test_loss[grid], rtol=1e-12)
    for t in (0, 37, 100, 517, steps):
        beta_t = run(SMALL, SAM(0.1, m=1), lr=0.02, steps=t, alpha=0.3).beta
        i = int(np.searchsorted(grid, t))
        if grid[i] == t:
            assert res.history.train_loss[i] == pytest.approx(SMALL.train_loss(beta_t), rel=1e-12)
            assert res.history.test_loss[i] == pytest.approx(SMALL.test_loss(beta_t), rel=1e-12)


def test_short_run_records_every_step():
    res = run(SMALL, GD(), lr=0.02, steps=40, alpha=0.3)
    assert res.history.steps.tolist() == list(range(41))


def test_custom_record():
    steps = 60
    res = run(SMALL, SGD(batch_size=5), lr=0.02, steps=steps, alpha=0.3, record=[50, 7, 0, 3, 3])
    dense = run(SMALL, SGD(batch_size=5), lr=0.02, steps=steps, alpha=0.3, record=range(61))
    # sorted, without duplicates; the final step is always there
    assert res.history.steps.tolist() == [0, 3, 7, 50, steps]
    np.testing.assert_array_equal(
        res.history.train_loss[:4], dense.history.train_loss[[0, 3, 7, 50]]
    )
    assert res.history.train_loss[-1] == pytest.approx(res.train_loss, rel=1e-12)
    assert res.history.test_loss[-1] == pytest.approx(res.test_loss, rel=1e-12)
    assert res.train_loss == pytest.approx(dense.history.train_loss[-1], rel=1e-12)


def test_test_losses_present_iff_the_problem_has_a_test_set():
    with_test = run(SMALL, GD(), lr=0.02, steps=20, alpha=0.3)
    without = run(SMALL_NO_TEST, GD(), lr=0.02, steps=20, alpha=0.3)
    assert without.test_loss is None
    assert without.history.test_loss is None
    assert with_test.history.test_loss.shape == with_test.history.steps.shape
    assert np.all(np.isfinite(with_test.history.test_loss))
    assert with_test.test_loss == pytest.approx(SMALL.test_loss(with_test.beta), rel=1e-12)
    assert with_test.history.test_loss[0] == pytest.approx(SMALL.test_loss(np.zeros(D)), rel=1e-12)
    # the test set changes nothing else
    np.testing.assert_array_equal(with_test.u, without.u)
    np.testing.assert_array_equal(with_test.history.train_loss, without.history.train_loss)


def test_zero_steps_returns_the_start():
    u0, v0 = np.linspace(-1, 1, D), np.linspace(1, 2, D)
    res = run(SMALL, SAM(0.1, m=1), lr=0.02, steps=0, u0=u0, v0=v0)
    assert res.status == "max_steps"
    assert res.n_steps == 0
    np.testing.assert_array_equal(res.u, u0)
    np.testing.assert_array_equal(res.v, v0)
    assert res.integral_loss == 0.0
    assert res.history.steps.tolist() == [0]
    assert res.history.train_loss[0] == pytest.approx(SMALL.train_loss(u0 * v0), rel=1e-12)


def test_run_does_not_modify_its_inputs():
    u0, v0 = np.linspace(-1, 1, D), np.linspace(1, 2, D)
    u_copy, v_copy = u0.copy(), v0.copy()
    run(SMALL, SAM(0.1, m=2), lr=0.02, steps=5, u0=u0, v0=v0)
    np.testing.assert_array_equal(u0, u_copy)
    np.testing.assert_array_equal(v0, v_copy)


# ---------------------------------------------------------------------------
# Interruption and chunking

CHUNKED = [
    GD(),
    SGD(batch_size=5),
    SAM(0.2, m=1, batch_size=6),
    SAM(0.2, m=2, batch_size=6, normalize=True),
    SAM(0.2, m=3),
]


@pytest.mark.parametrize("algorithm", CHUNKED, ids=lambda a: a.name)
def test_keyboard_interrupt_keeps_the_completed_steps(algorithm, monkeypatch):
    chunk = 6
    monkeypatch.setattr(dlnsam.training, "_CHUNK_STEPS", chunk)
    real_run_chunk = dlnsam.kernels.run_chunk
    calls = []

    def interrupt_third_call(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_run_chunk(*args)

    monkeypatch.setattr(dlnsam.kernels, "run_chunk", interrupt_third_call)
    record = np.arange(0, 61, 4)
    kw = {"lr": 0.02, "alpha": 0.3, "seed": 9}
    res = run(SMALL, algorithm, steps=60, record=record, **kw)
    assert len(calls) == 3
    assert res.status == "interrupted"
    assert not res.status.ok
    assert res.n_steps == 2 * chunk
    assert f"after {2 * chunk} of 60 steps" in res.message

    monkeypatch.setattr(dlnsam.kernels, "run_chunk", real_run_chunk)
    clean = run(SMALL, algorithm, steps=2 * chunk, record=record[record <= 2 * chunk], **kw)
    assert_same_run(res, clean)


@pytest.mark.parametrize("algorithm", CHUNKED, ids=lambda a: a.name)
def test_chunk_size_does_not_change_results(algorithm, monkeypatch):
    kw = {"lr": 0.02, "steps": 100, "alpha": 0.3, "seed": 4}
    whole = run(SMALL, algorithm, **kw)
    monkeypatch.setattr(dlnsam.training, "_CHUNK_STEPS", 7)
    chunked = run(SMALL, algorithm, **kw)
    assert_same_run(chunked, whole)


@pytest.mark.parametrize(
    ("algorithm", "kwargs", "cause", "not_cause"),
    [
        (GD(), {"alpha": 1e200, "lr": 0.05}, "alpha = 1e+200", "lr = 0.05 is too large"),
        (GD(), {"alpha": 1e3, "lr": 0.05}, "largest stable lr is about", "lr = 0.05 is too"),
        (GD(), {"alpha": 0.05, "lr": 1e300}, "lr = 1e+300 is too large", "alpha"),
        (SAM(1e300), {"alpha": 0.05, "lr": 0.05}, "rho = 1e+300", "alpha"),
    ],
    ids=["huge-alpha", "large-alpha", "huge-lr", "huge-rho"],
)
def test_divergence_message_names_the_cause(algorithm, kwargs, cause, not_cause):
    res = run(SMALL, algorithm, steps=50, **kwargs)
    assert res.status == "diverged" and res.n_steps == 0
    assert cause in res.message and not_cause not in res.message
    assert np.all(np.isfinite(res.u)) and np.isfinite(res.train_loss)
