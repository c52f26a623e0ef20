"""Algorithms as values: validation, resolution to kernel parameters, the registry."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import dlnsam
from dlnsam import ALGORITHMS, GD, SAM, SGD, KernelParams, algorithm_from_name
from dlnsam.algorithms import OPTIONS, option_names
from dlnsam.cli import build_parser


def _params(rho, m, b, full, normalize=False, eps=0.0, **options) -> KernelParams:
    return KernelParams(
        rho=rho, m=m, batch_size=b, full_batch=full, normalize=normalize, eps=eps, **options
    )


def test_kernel_params_resolve_the_family() -> None:
    assert GD().kernel_params(20) == _params(0.0, 20, 20, True)
    assert SGD(5).kernel_params(20) == _params(0.0, 5, 5, False)
    assert SAM(0.1).kernel_params(20) == _params(0.1, 20, 20, True, eps=1e-12)
    assert SAM(0.1, m=1).kernel_params(20).m == 1
    p = SAM(0.2, m=2, normalize=True, eps=1e-9, batch_size=10).kernel_params(20)
    assert p == _params(0.2, 2, 10, False, True, 1e-9)
    p = SAM(0.2, m=1, weight_decay=0.01, normalized_descent=True, loss_derivative_only=True)
    assert p.kernel_params(4) == _params(
        0.2, 1, 4, True, eps=1e-12, weight_decay=0.01, normalized_descent=True,
        loss_derivative_only=True,
    )  # fmt: skip
    assert GD(weight_decay=0.5).kernel_params(3).weight_decay == 0.5
    assert SGD(2, normalized_descent=True).kernel_params(3).normalized_descent


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: SAM(-0.1), "rho must be >= 0"),
        (lambda: SAM(float("nan")), "rho must be finite"),
        (lambda: SAM(0.1, m=0), "m must be >= 1"),
        (lambda: SAM(0.1, m=3, batch_size=10), "m = 3 does not divide batch_size = 10"),
        (lambda: SAM(0.1, eps=0.0), "eps must be > 0"),
        (lambda: SAM(0.1, normalize=1), "normalize must be a bool"),  # type: ignore[arg-type]
        (lambda: SGD(0), "batch_size must be >= 1"),
        (lambda: SGD(2.5), "batch_size must be an integer"),  # type: ignore[arg-type]
        (lambda: GD(weight_decay=-0.1), "weight_decay must be >= 0"),
        (lambda: SGD(2, weight_decay=float("inf")), "weight_decay must be finite"),
        (lambda: SAM(0.1, weight_decay="x"), "weight_decay"),  # type: ignore[arg-type]
        (lambda: GD(normalized_descent=1), "normalized_descent must be a bool"),  # type: ignore[arg-type]
        (lambda: SAM(0.1, loss_derivative_only=1), "loss_derivative_only must be a bool"),  # type: ignore[arg-type]
    ],
)
def test_invalid_hyperparameters_fail_at_construction(build, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize(
    ("algorithm", "match"),
    [
        (SAM(0.1, m=3), "m = 3 does not divide the batch: n = 20"),
        (SAM(0.1, m=40), "m = 40 does not divide the batch"),
        (SAM(0.1, batch_size=30), "batch_size = 30 is larger than the number of examples"),
        (SGD(21), "batch_size = 21 is larger"),
    ],
)
def test_invalid_against_the_problem_fail_at_resolution(algorithm, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        algorithm.kernel_params(20)


def test_names() -> None:
    assert SAM(0.1, m=1).name == "1-SAM(rho=0.1)"
    assert SAM(0.1).name == "n-SAM(rho=0.1)"
    assert SAM(0.1, m=4, batch_size=8, normalize=True).name == "4-SAM(rho=0.1, b=8, normalized)"
    assert SGD(3).name == "SGD(b=3)"
    assert GD(weight_decay=0.01).name == "GD(wd=0.01)"
    assert SGD(3, normalized_descent=True).name == "SGD(b=3, normalized-descent)"
    assert (
        SAM(0.1, m=1, weight_decay=1e-3, loss_derivative_only=True).name
        == "1-SAM(rho=0.1, wd=0.001, loss-derivative-only)"
    )


def test_every_option_has_a_command_line_flag() -> None:
    """The run subcommand's flags come from OPTIONS: a new option needs no CLI edit."""
    assert set(option_names()) == set(OPTIONS)
    run_parser = build_parser()._subparsers._group_actions[0].choices["run"]
    flags = {opt for action in run_parser._actions for opt in action.option_strings}
    for name, option in OPTIONS.items():
        assert "--" + name.replace("_", "-") in flags
        assert option.type in (bool, int, float)


def test_loss_derivative_only_is_sam_only() -> None:
    with pytest.raises(ValueError, match=r"does not take option\(s\) \['loss_derivative_only'\]"):
        algorithm_from_name("gd", loss_derivative_only=True)
    sam = algorithm_from_name("m-sam", rho=0.1, m=2, loss_derivative_only=True)
    assert sam.loss_derivative_only


STEP_OPTIONS = [
    (GD(), {"weight_decay": 0.01}),
    (GD(), {"normalized_descent": True}),
    (SGD(5), {"weight_decay": 0.01}),
    (SGD(5), {"normalized_descent": True}),
    (SAM(0.3, m=1), {"weight_decay": 0.01}),
    (SAM(0.3, m=1), {"normalized_descent": True}),
    (SAM(0.3, m=1), {"loss_derivative_only": True}),
    (SAM(0.3), {"loss_derivative_only": True}),
    (SAM(0.3, m=2, batch_size=10), {"loss_derivative_only": True}),
]


@pytest.mark.parametrize(("algorithm", "options"), STEP_OPTIONS, ids=str)
def test_every_step_option_changes_the_trajectory(algorithm, options) -> None:
    p = dlnsam.gaussian_problem(n=20, d=30, k=3, seed=0, n_test=0)
    kw = {"lr": 0.05, "steps": 20, "alpha": 0.3, "seed": 1}
    plain = dlnsam.run(p, algorithm, **kw)
    changed = dlnsam.run(p, type(algorithm)(**{**algorithm.__dict__, **options}), **kw)
    assert np.all(np.isfinite(changed.u))
    assert np.max(np.abs(changed.u - plain.u)) > 1e-6 * np.max(np.abs(plain.u))


def test_weight_decay_shrinks_a_zero_gradient_point_geometrically() -> None:
    """At β = 0 with y = 0 the gradient vanishes, so θ_t = (1 − λ)^t θ_0 exactly as written."""
    p = dlnsam.Problem(X=np.eye(4), y=np.zeros(4))
    res = dlnsam.run(p, GD(weight_decay=0.1), lr=0.5, steps=5, u0=np.ones(4), v0=np.zeros(4))
    np.testing.assert_allclose(res.u, 0.9**5, rtol=1e-14)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_every_registered_algorithm_builds_from_its_name(name: str) -> None:
    required = {
        k
        for k, p in inspect.signature(ALGORITHMS[name]).parameters.items()
        if p.default is inspect.Parameter.empty
    }
    values = {"rho": 0.1, "m": 2, "batch_size": 4}
    algo = algorithm_from_name(name, **{k: values[k] for k in required})
    assert algo.kernel_params(8).batch_size in (4, 8)
    if required:
        with pytest.raises(ValueError, match="needs option"):
            algorithm_from_name(name)


def test_algorithm_from_name_rejects_unknown_and_ignored_options() -> None:
    with pytest.raises(ValueError, match="algorithm must be one of"):
        algorithm_from_name("adam")
    with pytest.raises(ValueError, match=r"does not take option\(s\) \['rho'\]"):
        algorithm_from_name("gd", rho=0.1)
    with pytest.raises(ValueError, match=r"does not take option\(s\) \['m'\]"):
        algorithm_from_name("1-sam", rho=0.1, m=2)
    assert algorithm_from_name("1-SAM", rho=0.2, m=None) == SAM(0.2, m=1)
