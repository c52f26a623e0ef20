"""Step-by-step equivalence of :func:`dlnsam.run` with the plain-NumPy reference.

Every algorithm registered in :data:`dlnsam.ALGORITHMS` is run, for every option
it takes (ρ, micro-batch size m, batch size b, normalization, and each step
option of :data:`STEP_OPTIONS` on its own and all together), against
:mod:`dlnsam.reference`, which forms the perturbed networks explicitly. In
float64 the two must agree to a relative 1e-10 at every step.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest

import dlnsam
from dlnsam import reference as ref
from dlnsam.training import draw_batches

RTOL = 1e-10
N, D = 12, 14
LR = 0.02
RHO = 0.3
T = 25
SEED = 11

PROBLEM = dlnsam.gaussian_problem(n=N, d=D, k=3, seed=3, n_test=40)


def _divisors_of_interest(batch: int) -> list[int]:
    return sorted({m for m in (1, 2, N // 2, N) if m <= batch and batch % m == 0})


#: A non-default value of every option beyond (ρ, m, b, normalize): a new
#: option of the algorithms gets a value here and is then run against the
#: reference by every test below (a missing entry fails test_every_option_is_covered).
STEP_OPTIONS: dict[str, Any] = {
    "weight_decay": 2e-3,
    "normalized_descent": True,
    "loss_derivative_only": True,
}
BASE_OPTIONS = ("rho", "m", "batch_size", "normalize")


def _step_option_configs(name: str, params: Any) -> list[dict[str, Any]]:
    """Base options of the algorithm, plus each step option alone and all of them together."""
    base: dict[str, Any] = {}
    if "rho" in params:
        base["rho"] = RHO
    if "m" in params:
        base["m"] = 2
    if "batch_size" in params and params["batch_size"].default is inspect.Parameter.empty:
        base["batch_size"] = N // 2
    taken = [k for k in STEP_OPTIONS if k in params]
    configs = [{**base, k: STEP_OPTIONS[k]} for k in taken]
    if len(taken) > 1:
        configs.append({**base, **{k: STEP_OPTIONS[k] for k in taken}})
    if "loss_derivative_only" in params:  # with normalization and several batch sizes too
        configs.append({**base, "loss_derivative_only": True, "normalize": True})
        if "batch_size" in params:
            configs.append({**base, "loss_derivative_only": True, "batch_size": N // 2})
    return configs


def _configs() -> list[tuple[str, dict[str, Any]]]:
    """(name, options) for every registered algorithm and every option it takes."""
    configs = []
    for name, build in dlnsam.ALGORITHMS.items():
        params = inspect.signature(build).parameters
        if "batch_size" not in params:
            batch_choices: list[int | None] = [None]
        elif params["batch_size"].default is inspect.Parameter.empty:
            batch_choices = [1, N // 2, N]
        else:
            batch_choices = [None, N // 2, N]
        for b in batch_choices:
            ms: list[int | None] = (
                _divisors_of_interest(N if b is None else b) if "m" in params else [None]
            )
            for m in ms:
                for normalize in [False, True] if "normalize" in params else [None]:
                    options = {
                        "rho": RHO if "rho" in params else None,
                        "m": m,
                        "batch_size": b,
                        "normalize": normalize,
                    }
                    configs.append((name, {k: v for k, v in options.items() if v is not None}))
        configs += [(name, options) for options in _step_option_configs(name, params)]
    return configs


CONFIGS = _configs()
CONFIG_IDS = [name + "".join(f"-{k}={v}" for k, v in opts.items()) for name, opts in CONFIGS]


def _initial_point(kind: str) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Keyword arguments for dlnsam.run and the (u0, v0) they mean."""
    rng = np.random.default_rng(5)
    if kind == "alpha":
        return {"alpha": 0.3}, np.full(D, 0.6), np.zeros(D)
    if kind == "alpha-vector":
        alpha = rng.uniform(0.1, 0.5, D)
        return {"alpha": alpha}, 2.0 * alpha, np.zeros(D)
    u0, v0 = 0.5 * rng.standard_normal(D), 0.5 * rng.standard_normal(D)
    return {"u0": u0, "v0": v0}, u0, v0


def _reference_batches(params: dlnsam.KernelParams, seed: int, steps: int) -> np.ndarray | None:
    if params.full_batch:
        return None
    return draw_batches(np.random.default_rng(seed), N, params.batch_size, steps)


def _reference(params, u0, v0, steps, seed=SEED, lr=LR):
    return ref.reference_run(
        PROBLEM.X,
        PROBLEM.y,
        lr=lr,
        steps=steps,
        u0=u0,
        v0=v0,
        rho=params.rho,
        m=params.m,
        normalize=params.normalize,
        eps=params.eps,
        batches=_reference_batches(params, seed, steps),
        weight_decay=params.weight_decay,
        normalized_descent=params.normalized_descent,
        loss_derivative_only=params.loss_derivative_only,
    )


def assert_close(actual, desired, rtol=RTOL):
    """Relative agreement, with a rounding floor at the scale of the whole vector.

    An entry that an update cancels to near zero (|u_c| ≪ max |u|) carries the
    rounding error of the operands, ~1e-16 max |u|, not of its own size.
    """
    desired = np.asarray(desired)
    atol = 1e-15 * float(np.max(np.abs(desired))) if desired.size else 0.0
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol)


# ---------------------------------------------------------------------------
# The reference itself, against independent derivations


def test_reference_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    u, v = rng.standard_normal(D), rng.standard_normal(D)
    rows = np.array([3, 7, 1])

    def loss_s(uu, vv):
        return float(np.mean(ref.per_example_losses(PROBLEM.X[rows], PROBLEM.y[rows], uu * vv)))

    gu, gv = ref.grad_uv(PROBLEM.X, PROBLEM.y, u, v, rows)
    h = 1e-6
    for c in range(D):
        e = np.zeros(D)
        e[c] = h
        assert gu[c] == pytest.approx((loss_s(u + e, v) - loss_s(u - e, v)) / (2 * h), rel=1e-6)
        assert gv[c] == pytest.approx((loss_s(u, v + e) - loss_s(u, v - e)) / (2 * h), rel=1e-6)
    assert ref.loss(PROBLEM.X, PROBLEM.y, u * v) == pytest.approx(
        ref.per_example_losses(PROBLEM.X, PROBLEM.y, u * v).mean()
    )


def test_reference_one_sam_matches_closed_form():
    """The 1-SAM direction from the perturbed residuals r̃, no loop."""
    rng = np.random.default_rng(1)
    u, v = rng.standard_normal(D), rng.standard_normal(D)
    X, y, rho = PROBLEM.X, PROBLEM.y, 0.2
    beta, s = u * v, u * u + v * v
    r = X @ beta - y
    r_tilde = r + rho * r * (X**2 @ s) + rho**2 * r**2 * (X**3 @ beta)
    du = ((X.T @ r_tilde) * v + rho * ((X**2).T @ (r_tilde * r)) * u) / N
    dv = ((X.T @ r_tilde) * u + rho * ((X**2).T @ (r_tilde * r)) * v) / N
    ref_du, ref_dv = ref.sam_direction(ref.grad_uv, X, y, u, v, np.arange(N), rho, 1)
    assert_close(ref_du, du)
    assert_close(ref_dv, dv)


# ---------------------------------------------------------------------------
# The registry


KNOWN = {
    # name -> (rho, m, batch_size, full_batch) as the README defines them
    "gd": lambda o: (0.0, N, N, True),
    "sgd": lambda o: (0.0, o["batch_size"], o["batch_size"], False),
    "n-sam": lambda o: (
        o["rho"],
        o.get("batch_size", N),
        o.get("batch_size", N),
        "batch_size" not in o,
    ),
    "1-sam": lambda o: (o["rho"], 1, o.get("batch_size", N), "batch_size" not in o),
    "m-sam": lambda o: (o["rho"], o["m"], o.get("batch_size", N), "batch_size" not in o),
}


def test_every_option_is_covered():
    """Each option of the algorithms is in the tables above, so it is run against the reference."""
    assert set(dlnsam.algorithms.option_names()) == set(BASE_OPTIONS) | set(STEP_OPTIONS)
    for option in STEP_OPTIONS:
        assert any(option in opts for _, opts in CONFIGS)


def test_registry_holds_the_algorithms_of_the_theory():
    assert set(KNOWN) <= set(dlnsam.ALGORITHMS)
    assert {name for name, _ in CONFIGS} == set(dlnsam.ALGORITHMS)


@pytest.mark.parametrize(("name", "options"), CONFIGS, ids=CONFIG_IDS)
def test_registered_algorithm_resolves_to_its_definition(name, options):
    params = dlnsam.algorithm_from_name(name, **options).kernel_params(N)
    if name in KNOWN:
        assert (params.rho, params.m, params.batch_size, params.full_batch) == KNOWN[name](options)
        assert params.normalize == options.get("normalize", False)
    assert N % params.batch_size == 0 or not params.full_batch
    assert params.batch_size % params.m == 0


# ---------------------------------------------------------------------------
# dlnsam.run against the reference


@pytest.mark.parametrize("init", ["alpha", "alpha-vector", "random"])
@pytest.mark.parametrize(("name", "options"), CONFIGS, ids=CONFIG_IDS)
def test_every_step_matches_reference(name, options, init):
    """run(steps=t) ends at the reference's θ_t for every t = 1..T (same batch stream)."""
    algorithm = dlnsam.algorithm_from_name(name, **options)
    params = algorithm.kernel_params(N)
    init_kwargs, u0, v0 = _initial_point(init)
    traj = _reference(params, u0, v0, T)
    assert np.all(np.isfinite(traj.a)) and traj.train_loss[-1] < traj.train_loss[0]

    for t in range(1, T + 1):
        res = dlnsam.run(PROBLEM, algorithm, lr=LR, steps=t, seed=SEED, **init_kwargs)
        assert res.n_steps == t
        assert_close(res.u, traj.a[t])
        assert_close(res.v, traj.b[t])
        assert_close(res.beta, traj.beta[t])
        assert res.train_loss == pytest.approx(traj.train_loss[t], rel=RTOL)

    res = dlnsam.run(
        PROBLEM, algorithm, lr=LR, steps=T, seed=SEED, record=np.arange(T + 1), **init_kwargs
    )
    assert res.history.steps.tolist() == list(range(T + 1))
    assert_close(res.history.train_loss, traj.train_loss)
    assert res.integral_loss == pytest.approx(traj.integral_loss, rel=RTOL)
    test_losses = [ref.loss(PROBLEM.X_test, PROBLEM.y_test, b) for b in traj.beta]
    assert_close(res.history.test_loss, test_losses)
    assert res.test_loss == pytest.approx(test_losses[-1], rel=RTOL)


@pytest.mark.parametrize(("name", "options"), CONFIGS, ids=CONFIG_IDS)
def test_single_steps_match_reference(name, options):
    """One dlnsam step from dlnsam's own previous state equals one reference step."""
    algorithm = dlnsam.algorithm_from_name(name, **options)
    params = algorithm.kernel_params(N)
    _, u, v = _initial_point("random")
    for t in range(T):
        seed = SEED + t  # a different batch each step
        res = dlnsam.run(PROBLEM, algorithm, lr=LR, steps=1, seed=seed, u0=u, v0=v)
        step = _reference(params, u, v, 1, seed=seed)
        assert_close(res.u, step.a[1])
        assert_close(res.v, step.b[1])
        assert res.integral_loss == pytest.approx(step.integral_loss, rel=RTOL)
        u, v = res.u, res.v


@pytest.mark.parametrize(("name", "options"), CONFIGS, ids=CONFIG_IDS)
def test_long_run_in_many_chunks_matches_reference(name, options, monkeypatch):
    """A 150-step run split into kernel calls of 16 steps ends where the reference does."""
    monkeypatch.setattr(dlnsam.training, "_CHUNK_STEPS", 16)
    steps = 150
    algorithm = dlnsam.algorithm_from_name(name, **options)
    params = algorithm.kernel_params(N)
    # Steps of fixed length γ per block do not settle: near a minimum they
    # bounce around it chaotically. A smaller γ keeps these 150 steps away
    # from that regime, where no two roundings agree.
    lr = LR / 10 if params.normalized_descent else LR
    init_kwargs, u0, v0 = _initial_point("random")
    traj = _reference(params, u0, v0, steps, lr=lr)
    # The normalized ascent ρ g/‖g‖ is discontinuous at g = 0: when a micro-batch
    # gradient passes near zero, rounding errors are amplified by the dynamics
    # themselves (seen: normalized 2-SAM, 1e-15 at step 75, 1e-8 at step 100, in
    # dlnsam and equally between two reference runs whose starts differ by 1 ulp).
    # So the tolerance is the reference's own sensitivity to a perturbation of the
    # start at rounding level, times 10, and never below RTOL.
    nudged = _reference(params, u0 * (1 + 2.0**-50), v0, steps, lr=lr)
    sensitivity = np.max(np.abs(nudged.a[-1] - traj.a[-1]) / np.abs(traj.a[-1]))
    rtol = max(RTOL, 10 * sensitivity)
    assert rtol < 1e-6  # the comparison still means something

    res = dlnsam.run(PROBLEM, algorithm, lr=lr, steps=steps, seed=SEED, **init_kwargs)
    assert res.status == "max_steps"
    assert res.n_steps == steps
    assert_close(res.u, traj.a[-1], rtol)
    assert_close(res.v, traj.b[-1], rtol)
    assert res.integral_loss == pytest.approx(traj.integral_loss, rel=rtol)
    # default record grid: every step to 100, then log-spaced, and the last step
    np.testing.assert_array_equal(res.history.steps, dlnsam.default_record_steps(steps))
    assert_close(res.history.train_loss, traj.train_loss[res.history.steps], rtol)


# ---------------------------------------------------------------------------
# Per-step γ_t and ρ_t

SCHEDULED = {
    "GD": (dlnsam.GD(), False),
    "SGD": (dlnsam.SGD(4), False),
    "n-SAM": (dlnsam.SAM(RHO), True),
    "1-SAM": (dlnsam.SAM(RHO, m=1), True),
    "2-SAM-b6": (dlnsam.SAM(RHO, m=2, batch_size=6), True),
    "n-SAM-normalized": (dlnsam.SAM(RHO, normalize=True), True),
}


@pytest.mark.parametrize(("algorithm", "with_rho"), SCHEDULED.values(), ids=SCHEDULED)
def test_per_step_lr_and_rho_match_reference(algorithm, with_rho, monkeypatch):
    """γ_t (a function of t, with lr_decay on top) and ρ_t (an array) in kernel calls of 7 steps."""
    monkeypatch.setattr(dlnsam.training, "_CHUNK_STEPS", 7)
    steps = 40
    params = algorithm.kernel_params(N)
    init_kwargs, u0, v0 = _initial_point("random")
    rhos = RHO * (1.0 + np.cos(np.arange(steps))) if with_rho else params.rho
    lrs = LR / np.sqrt(1.0 + np.arange(steps))
    decay = [10, 25]
    traj = ref.reference_run(
        PROBLEM.X, PROBLEM.y, lr=lrs, steps=steps, u0=u0, v0=v0, rho=rhos, m=params.m,
        normalize=params.normalize, eps=params.eps, lr_decay=decay,
        batches=_reference_batches(params, SEED, steps),
    )  # fmt: skip
    res = dlnsam.run(
        PROBLEM, algorithm, lr=lambda t: LR / np.sqrt(1.0 + t), steps=steps, seed=SEED,
        lr_decay=decay, record=np.arange(steps + 1), rho=rhos if with_rho else None,
        **init_kwargs,
    )  # fmt: skip
    assert_close(res.u, traj.a[-1])
    assert_close(res.v, traj.b[-1])
    assert_close(res.history.train_loss, traj.train_loss)
    assert res.integral_loss == pytest.approx(traj.integral_loss, rel=RTOL)


def test_constant_schedules_give_the_same_bits():
    """lr and rho given as constant arrays are the constants: equal to the bit."""
    algorithm = dlnsam.SAM(RHO, m=2, batch_size=6)
    kwargs = {"steps": 30, "alpha": 0.3, "seed": SEED}
    plain = dlnsam.run(PROBLEM, algorithm, lr=LR, **kwargs)
    arrays = dlnsam.run(PROBLEM, algorithm, lr=np.full(30, LR), rho=np.full(30, RHO), **kwargs)
    called = dlnsam.run(PROBLEM, algorithm, lr=lambda t: LR, rho=lambda t: RHO, **kwargs)
    for res in (arrays, called):
        np.testing.assert_array_equal(res.u, plain.u)
        np.testing.assert_array_equal(res.v, plain.v)
        assert res.integral_loss == plain.integral_loss
