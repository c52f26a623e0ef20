"""Properties of dlnsam's training on random shapes and values (Hypothesis).

- SAM with ρ = 0 is GD (SGD when stochastic), through different code paths;
- the u⊙v run with (γ, ρ) is the ± run with (γ/2, ρ/2), or (γ/2, ρ/√2) for
  the normalized ascent;
- results depend only on the inputs and the seed: not on the order of calls,
  other runs in between, or whether the JIT cache was warm or cold.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dlnsam
from dlnsam import reference as ref
from dlnsam.training import draw_batches

RTOL = 1e-10


def _problem(n: int, d: int, seed: int) -> dlnsam.Problem:
    """Gaussian rows of norm ≈ 1 and unit-variance targets."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) / np.sqrt(d)
    return dlnsam.Problem(X=X, y=rng.standard_normal(n))


def _start(d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed + 1)
    return 0.7 * rng.standard_normal(d), 0.7 * rng.standard_normal(d)


def _divisors(n: int) -> list[int]:
    return [m for m in range(1, n + 1) if n % m == 0]


@st.composite
def cases(draw, min_n: int = 2):
    """A random small problem, start, step size, radius and number of steps."""
    n = draw(st.integers(min_n, 10))
    d = draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**31 - 1))
    return {
        "n": n,
        "d": d,
        "seed": seed,
        "m": draw(st.sampled_from(_divisors(n))),
        "lr": draw(st.floats(1e-3, 0.05)),
        "rho": draw(st.floats(0.0, 0.5)),
        "steps": draw(st.integers(1, 8)),
    }


def assert_same_run(a: dlnsam.RunResult, b: dlnsam.RunResult) -> None:
    """Bit-identical results."""
    np.testing.assert_array_equal(a.u, b.u)
    np.testing.assert_array_equal(a.v, b.v)
    np.testing.assert_array_equal(a.history.train_loss, b.history.train_loss)
    assert a.integral_loss == b.integral_loss
    assert a.n_steps == b.n_steps


def assert_close_run(a: dlnsam.RunResult, b: dlnsam.RunResult, rtol: float = RTOL) -> None:
    np.testing.assert_allclose(a.u, b.u, rtol=rtol, atol=0)
    np.testing.assert_allclose(a.v, b.v, rtol=rtol, atol=0)
    np.testing.assert_allclose(a.history.train_loss, b.history.train_loss, rtol=rtol, atol=0)
    assert a.integral_loss == pytest.approx(b.integral_loss, rel=rtol, abs=0)


# ---------------------------------------------------------------------------
# SAM with ρ = 0 (or ρ → 0) is GD


@given(cases())
def test_sam_with_zero_radius_is_gd(case):
    p = _problem(case["n"], case["d"], case["seed"])
    u0, v0 = _start(case["d"], case["seed"])
    kw = {"lr": case["lr"], "steps": case["steps"], "u0": u0, "v0": v0}
    gd = dlnsam.run(p, dlnsam.GD(), **kw)
    for m in _divisors(case["n"]):
        assert_close_run(dlnsam.run(p, dlnsam.SAM(0.0, m=m), **kw), gd)
        # a radius far below rounding of the step: the SAM code paths proper, not
        # a ρ = 0 shortcut, must also give GD
        assert_close_run(dlnsam.run(p, dlnsam.SAM(1e-14, m=m), **kw), gd)


@given(cases(), st.data())
def test_stochastic_sam_with_zero_radius_is_sgd(case, data):
    n = case["n"]
    b = data.draw(st.sampled_from([b for b in range(1, n + 1) if b % case["m"] == 0]))
    p = _problem(n, case["d"], case["seed"])
    u0, v0 = _start(case["d"], case["seed"])
    kw = {"lr": case["lr"], "steps": case["steps"], "u0": u0, "v0": v0, "seed": case["seed"]}
    sgd = dlnsam.run(p, dlnsam.SGD(batch_size=b), **kw)
    for rho in (0.0, 1e-14):
        assert_close_run(dlnsam.run(p, dlnsam.SAM(rho, m=case["m"], batch_size=b), **kw), sgd)


# ---------------------------------------------------------------------------
# dlnsam against the reference on random shapes


@given(cases(), st.booleans(), st.booleans())
def test_run_matches_reference_on_random_shapes(case, normalize, stochastic):
    n, d, m = case["n"], case["d"], case["m"]
    p = _problem(n, d, case["seed"])
    u0, v0 = _start(d, case["seed"])
    b = n // 2 if stochastic and (n // 2) % m == 0 else n
    algorithm = dlnsam.SAM(
        case["rho"], m=m, normalize=normalize, batch_size=b if stochastic else None
    )
    res = dlnsam.run(
        p, algorithm, lr=case["lr"], steps=case["steps"], u0=u0, v0=v0, seed=case["seed"]
    )
    batches = (
        draw_batches(np.random.default_rng(case["seed"]), n, b, case["steps"])
        if stochastic
        else None
    )
    traj = ref.reference_run(
        p.X, p.y, lr=case["lr"], steps=case["steps"], u0=u0, v0=v0, rho=case["rho"], m=m,
        normalize=normalize, batches=batches,
    )  # fmt: skip
    np.testing.assert_allclose(res.u, traj.a[-1], rtol=RTOL, atol=0)
    np.testing.assert_allclose(res.v, traj.b[-1], rtol=RTOL, atol=0)
    assert res.integral_loss == pytest.approx(traj.integral_loss, rel=RTOL)


# ---------------------------------------------------------------------------
# u⊙v with (γ, ρ) is ± with (γ/2, ρ/2); normalized: (γ/2, ρ/√2, eps·√2)
#
# With w = A θ, A = ½[[I, I], [I, −I]], the ± gradient is ∇_w L = 2 A ∇_θ L and
# A Aᵀ = I/2. So a θ-step −γ∇_θL moves w by −(γ/2)∇_w L, and the θ-ascent +ρ∇_θL
# moves w by +(ρ/2)∇_w L. The norms differ: ‖∇_w L‖ = √2 ‖∇_θ L‖, so the
# normalized θ-ascent ρ∇_θL/(‖∇_θL‖ + ε) moves w by
# (ρ/2)∇_w L/(‖∇_w L‖/√2 + ε) = (ρ/√2)∇_w L/(‖∇_w L‖ + √2 ε).


def _pm_run(p, case, m, normalize, pm_rho, pm_eps):
    u0, v0 = _start(p.d, case["seed"])
    return ref.pm_reference_run(
        p.X, p.y, lr=case["lr"] / 2, steps=case["steps"], wp0=(u0 + v0) / 2,
        wm0=(u0 - v0) / 2, rho=pm_rho, m=m, normalize=normalize, eps=pm_eps,
    )  # fmt: skip


def _assert_beta_trajectory(p, case, algorithm, pm):
    """dlnsam's β after every step t equals the ± run's β_t."""
    u0, v0 = _start(p.d, case["seed"])
    # rounding floor of β = w₊² − w₋², which cancels when |w₊| ≈ |w₋|
    atol = 1e-13 * np.max(pm.a**2 + pm.b**2)
    for t in range(1, case["steps"] + 1):
        res = dlnsam.run(p, algorithm, lr=case["lr"], steps=t, u0=u0, v0=v0)
        np.testing.assert_allclose(res.beta, pm.beta[t], rtol=RTOL, atol=atol)
    np.testing.assert_allclose(
        dlnsam.run(
            p, algorithm, lr=case["lr"], steps=case["steps"], u0=u0, v0=v0
        ).history.train_loss,
        pm.train_loss,
        rtol=RTOL,
        atol=atol,
    )


@given(cases())
def test_uv_run_is_pm_run_at_half_step_and_half_radius(case):
    p = _problem(case["n"], case["d"], case["seed"])
    for m in sorted({1, case["m"], case["n"]}):
        pm = _pm_run(p, case, m, False, case["rho"] / 2, 0.0)
        _assert_beta_trajectory(p, case, dlnsam.SAM(case["rho"], m=m), pm)


@given(cases())
def test_normalized_uv_run_is_pm_run_at_radius_over_sqrt2(case):
    p = _problem(case["n"], case["d"], case["seed"])
    eps = 1e-12
    for m in sorted({1, case["m"], case["n"]}):
        pm = _pm_run(p, case, m, True, case["rho"] / np.sqrt(2), eps * np.sqrt(2))
        algorithm = dlnsam.SAM(case["rho"], m=m, normalize=True, eps=eps)
        _assert_beta_trajectory(p, case, algorithm, pm)


def test_normalized_radius_is_not_halved():
    """ρ/2 (the unnormalized rule) is measurably wrong for the normalized ascent."""
    case = {"n": 6, "d": 5, "seed": 3, "lr": 0.05, "rho": 0.4, "steps": 6}
    p = _problem(6, 5, 3)
    u0, v0 = _start(5, 3)
    res = dlnsam.run(p, dlnsam.SAM(0.4, m=2, normalize=True), lr=0.05, steps=6, u0=u0, v0=v0)
    right = _pm_run(p, case, 2, True, 0.4 / np.sqrt(2), 1e-12 * np.sqrt(2))
    wrong = _pm_run(p, case, 2, True, 0.4 / 2, 1e-12)
    np.testing.assert_allclose(res.beta, right.beta[-1], rtol=RTOL)
    assert np.max(np.abs(res.beta - wrong.beta[-1])) > 1e-4 * np.max(np.abs(res.beta))


# ---------------------------------------------------------------------------
# Reproducibility


@given(cases(min_n=3), st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1))
def test_sgd_seed_determines_the_run(case, seed_a, seed_b):
    n = case["n"]
    p = _problem(n, case["d"], case["seed"])
    u0, v0 = _start(case["d"], case["seed"])
    algorithm = dlnsam.SGD(batch_size=max(1, n // 3))
    kw = {"lr": case["lr"], "steps": 30, "u0": u0, "v0": v0}
    a = dlnsam.run(p, algorithm, seed=seed_a, **kw)
    assert_same_run(dlnsam.run(p, algorithm, seed=seed_a, **kw), a)
    if seed_a != seed_b:
        # 30 steps of batches of ⌊n/3⌋ out of n ≥ 3: the same batch sequence
        # from two seeds has probability ≤ 3^−30
        other = dlnsam.run(p, algorithm, seed=seed_b, **kw)
        assert not np.array_equal(other.u, a.u)


STOCHASTIC = [
    dlnsam.SGD(batch_size=3),
    dlnsam.SAM(0.2, m=1, batch_size=6),
    dlnsam.SAM(0.2, m=3, normalize=True, batch_size=6),
    dlnsam.SAM(0.2, m=2, normalize=True),
    dlnsam.SAM(0.1),
    dlnsam.GD(),
]


def _reproducibility_runs(algorithms) -> list[dlnsam.RunResult]:
    p = dlnsam.gaussian_problem(n=12, d=15, k=3, seed=2, n_test=20)
    return [dlnsam.run(p, a, lr=0.03, steps=300, alpha=0.2, seed=7) for a in algorithms]


def test_same_inputs_give_bit_identical_results_whatever_ran_before():
    first = _reproducibility_runs(STOCHASTIC)
    # other runs in between: other shapes, other algorithms, other seeds
    for n, d in [(3, 1), (10, 40)]:
        other = _problem(n, d, 0)
        for algorithm in [dlnsam.SAM(0.3, m=1, batch_size=2), dlnsam.SGD(batch_size=1)]:
            dlnsam.run(other, algorithm, lr=0.01, steps=50, alpha=0.1, seed=3)
    again = _reproducibility_runs(reversed(STOCHASTIC))[::-1]
    for a, b in zip(first, again, strict=True):
        assert_same_run(a, b)
        np.testing.assert_array_equal(a.history.test_loss, b.history.test_loss)


_COLD_SCRIPT = """
import sys
import numpy as np
sys.path.insert(0, {tests!r})
from test_properties import STOCHASTIC, _reproducibility_runs

runs = _reproducibility_runs(STOCHASTIC)
np.save({out!r}, np.array([np.concatenate([r.u, r.v, r.history.train_loss, [r.integral_loss]])
                           for r in runs]))
"""


@pytest.mark.slow  # compiles every run kernel in a fresh interpreter
def test_cold_jit_cache_gives_bit_identical_results(tmp_path):
    """A fresh interpreter compiling into an empty Numba cache gives the same bits."""
    cache = tmp_path / "numba-cache"
    out = tmp_path / "cold.npy"
    script = _COLD_SCRIPT.format(tests=str(Path(__file__).parent), out=str(out))
    env = dict(os.environ)
    env["NUMBA_CACHE_DIR"] = str(cache)
    # the same dlnsam source tree as this process, whatever is installed
    package_root = str(Path(dlnsam.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([package_root, env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert list(cache.rglob("*.nbi")), "the subprocess did not compile into the fresh cache"
    warm = np.array(
        [
            np.concatenate([r.u, r.v, r.history.train_loss, [r.integral_loss]])
            for r in _reproducibility_runs(STOCHASTIC)
        ]
    )
    np.testing.assert_array_equal(np.load(out), warm)
