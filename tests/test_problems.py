"""Problems: validation, the Gaussian generator, loading user data."""

from __future__ import annotations

import numpy as np
import pytest

from dlnsam import Problem, gaussian_problem, load_problem
from dlnsam.cli import main


def test_losses_follow_the_half_mean_convention() -> None:
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((5, 3)), rng.standard_normal(5)
    Xt, yt = rng.standard_normal((7, 3)), rng.standard_normal(7)
    beta = rng.standard_normal(3)
    p = Problem(X=X, y=y, X_test=Xt, y_test=yt)
    assert p.train_loss(beta) == pytest.approx(np.sum((X @ beta - y) ** 2) / 10, rel=1e-14)
    assert p.test_loss(beta) == pytest.approx(np.sum((Xt @ beta - yt) ** 2) / 14, rel=1e-14)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"X": np.ones(3), "y": np.ones(3)}, "X must be 2-D"),
        ({"X": np.ones((3, 2)), "y": np.ones((3, 1))}, "y must be 1-D"),
        ({"X": np.ones((3, 2)), "y": np.ones(4)}, "y has 4 entries but X has 3 rows"),
        ({"X": np.array([[1.0, np.nan]]), "y": np.ones(1)}, "X contains 1 non-finite"),
        ({"X": np.ones((2, 2)), "y": np.array([1.0, np.inf])}, "y contains 1 non-finite"),
        ({"X": np.ones((2, 2)), "y": np.ones(2), "X_test": np.ones((2, 2))}, "X_test and y_test"),
        (
            {
                "X": np.ones((2, 2)),
                "y": np.ones(2),
                "X_test": np.ones((2, 3)),
                "y_test": np.ones(2),
            },
            "X_test has 3 columns",
        ),
        ({"X": np.ones((2, 2)), "y": np.ones(2), "beta_star": np.ones(3)}, "beta_star must have"),
        ({"X": [["a", "b"]], "y": [1.0]}, "X must be a numeric array"),
        ({"X": np.zeros((0, 2)), "y": np.zeros(0)}, "X must not be empty"),
    ],
)
def test_problem_rejects_bad_fields(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Problem(**kwargs)


def test_problem_arrays_are_read_only() -> None:
    p = gaussian_problem(4, 5, 2, n_test=3)
    with pytest.raises(ValueError, match="read-only"):
        p.X[0, 0] = 1.0


def test_gaussian_problem_shapes_sparsity_and_labels() -> None:
    p = gaussian_problem(20, 30, 3, n_test=50, seed=3)
    assert p.X.shape == (20, 30) and p.X_test is not None and p.X_test.shape == (50, 30)
    assert p.beta_star is not None
    nz = p.beta_star[p.beta_star != 0]
    assert nz.size == 3 and np.all(np.abs(nz) == 1.0)
    np.testing.assert_allclose(p.y, p.X @ p.beta_star, rtol=1e-14)
    assert p.train_loss(p.beta_star) < 1e-28 and p.test_loss(p.beta_star) < 1e-28


def test_gaussian_problem_is_seeded_and_n_test_leaves_training_data_alone() -> None:
    a = gaussian_problem(10, 12, 2, seed=5, noise=0.1)
    b = gaussian_problem(10, 12, 2, seed=5, noise=0.1, n_test=3)
    c = gaussian_problem(10, 12, 2, seed=6, noise=0.1)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)


def test_gaussian_problem_noise_has_the_requested_scale() -> None:
    p = gaussian_problem(4000, 5, 2, noise=0.3, seed=0, n_test=0)
    assert p.beta_star is not None and not p.has_test
    resid = p.y - p.X @ p.beta_star
    assert resid.std() == pytest.approx(0.3, rel=0.05)


def test_isotropic_design_has_unit_variance_entries() -> None:
    p = gaussian_problem(5000, 4, 1, seed=0, n_test=0)
    np.testing.assert_allclose(np.cov(p.X.T), np.eye(4), atol=0.06)


def test_correlated_design_has_toeplitz_covariance() -> None:
    p = gaussian_problem(20000, 5, 1, seed=0, n_test=0, correlation=0.6)
    idx = np.arange(5)
    target = 0.6 ** np.abs(idx[:, None] - idx[None, :])
    np.testing.assert_allclose(np.cov(p.X.T), target, atol=0.04)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 31}, "k must be <= d"),
        ({"n": 0}, "n must be >= 1"),
        ({"noise": -1.0}, "noise must be >= 0"),
        ({"correlation": 1.0}, "correlation must be in"),
        ({"d": 2.5}, "d must be an integer"),
    ],
)
def test_gaussian_problem_rejects_bad_arguments(kwargs: dict, match: str) -> None:
    args = {"n": 20, "d": 30, "k": 3} | kwargs
    with pytest.raises(ValueError, match=match):
        gaussian_problem(**args)


def test_load_npz_round_trip(tmp_path) -> None:
    p = gaussian_problem(6, 4, 2, n_test=5)
    path = tmp_path / "data.npz"
    np.savez(path, X=p.X, y=p.y, X_test=p.X_test, y_test=p.y_test, beta_star=p.beta_star)
    q = load_problem(path)
    for name in ("X", "y", "X_test", "y_test", "beta_star"):
        np.testing.assert_array_equal(getattr(q, name), getattr(p, name))


def test_load_csv_with_and_without_header(tmp_path) -> None:
    X = np.arange(12, dtype=float).reshape(4, 3)
    y = np.array([1.0, -2.0, 0.5, 3.0])
    plain = tmp_path / "plain.csv"
    np.savetxt(plain, np.column_stack([X, y]), delimiter=",")
    header = tmp_path / "header.csv"
    header.write_text("a,b,c,target\n" + plain.read_text())
    for path in (plain, header):
        q = load_problem(path)
        np.testing.assert_array_equal(q.X, X)
        np.testing.assert_array_equal(q.y, y)
    first = load_problem(plain, target=0)
    np.testing.assert_array_equal(first.y, X[:, 0])


def test_load_rejects_bad_files(tmp_path) -> None:
    with pytest.raises(ValueError, match="no such file"):
        load_problem(tmp_path / "missing.npz")
    txt = tmp_path / "data.txt"
    txt.write_text("1,2\n")
    with pytest.raises(ValueError, match=r"must end in \.npz or \.csv"):
        load_problem(txt)
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3\n4,x,6\n")
    with pytest.raises(ValueError, match="line 2 has a non-numeric"):
        load_problem(bad)
    nan = tmp_path / "nan.csv"
    nan.write_text("1,2,3\n4,nan,6\n")
    with pytest.raises(ValueError, match="X contains 1 non-finite"):
        load_problem(nan)
    npz = tmp_path / "noy.npz"
    np.savez(npz, X=np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"lacks array\(s\) \['y'\]"):
        load_problem(npz)
    extra = tmp_path / "extra.npz"
    np.savez(extra, X=np.ones((2, 2)), y=np.ones(2), w=np.ones(2))
    with pytest.raises(ValueError, match="unknown array"):
        load_problem(extra)


FIELDS = ("X", "y", "X_test", "y_test", "beta_star")


def _fields() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "X": rng.standard_normal((4, 3)),
        "y": rng.standard_normal(4),
        "X_test": rng.standard_normal((5, 3)),
        "y_test": rng.standard_normal(5),
        "beta_star": rng.standard_normal(3),
    }


@pytest.mark.parametrize("name", FIELDS)
def test_problem_copies_the_callers_arrays(name: str) -> None:
    fields = _fields()
    mine = fields[name]
    assert mine.dtype == np.float64 and mine.flags.c_contiguous  # the case that was shared
    before = mine.copy()
    p = Problem(**fields)
    assert mine.flags.writeable, f"Problem froze the caller's {name}"
    mine[...] = 7.0
    np.testing.assert_array_equal(getattr(p, name), before)
    assert not getattr(p, name).flags.writeable


def test_problem_copies_views_of_the_callers_arrays() -> None:
    base = np.arange(24.0).reshape(6, 4)
    p = Problem(X=base[:3], y=base[3, :3])
    base[...] = -1.0
    assert base.flags.writeable and p.X[0, 0] == 0.0 and p.y[0] == 12.0


@pytest.mark.parametrize("name", FIELDS)
def test_problem_rejects_complex_fields(name: str) -> None:
    fields = _fields()
    fields[name] = fields[name] + 1e-3j
    with pytest.raises(ValueError, match=rf"^{name} must be real, got a complex array"):
        Problem(**fields)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (np.array([[1.0, 2.0 + 0j], [3.0, 4.0]], dtype=complex), "X must be real"),
        (np.array([[1.0, 2.0j], [3.0, 4.0]], dtype=object), r"X must hold real numbers.*2j"),
        (np.array([[1.0, None], [3.0, 4.0]], dtype=object), r"X must hold real numbers.*None"),
        (np.array([["1", "2"], ["3", "4"]]), r"X must be a numeric array.*dtype <U1"),
        (np.array([[b"1", b"2"], [b"3", b"4"]]), r"X must be a numeric array.*dtype \|S1"),
        (np.zeros((2, 2), dtype="datetime64[s]"), r"X must be a numeric array.*datetime64"),
    ],
    ids=["complex-zero-imag", "object-complex", "object-None", "str", "bytes", "datetime"],
)
def test_problem_rejects_non_real_designs(value: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Problem(X=value, y=np.ones(2))


def test_problem_reads_booleans_and_object_numbers_as_reals() -> None:
    p = Problem(X=np.array([[True, False], [False, True]]), y=np.array([1, 2], dtype=object))
    np.testing.assert_array_equal(p.X, np.eye(2))
    assert p.X.dtype == np.float64 and p.y.dtype == np.float64


@pytest.mark.parametrize(
    ("seed", "match"),
    [
        (None, "seed must be an integer, got None"),
        (-1, "seed must be >= 0, got -1"),
        ("abc", "seed must be an integer, got 'abc'"),
        (1.5, "seed must be an integer, got 1.5"),
        (True, "seed must be an integer, got True"),
        (np.int64(-3), "seed must be >= 0, got -3"),
    ],
    ids=["None", "negative", "str", "float", "bool", "numpy-negative"],
)
def test_gaussian_problem_requires_a_nonnegative_integer_seed(seed: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        gaussian_problem(20, 30, 3, seed=seed, n_test=0)  # type: ignore[arg-type]


def test_gaussian_problem_takes_numpy_integer_seeds() -> None:
    a = gaussian_problem(5, 6, 2, seed=7, n_test=0)
    for seed in (np.int64(7), np.uint8(7)):
        np.testing.assert_array_equal(gaussian_problem(5, 6, 2, seed=seed, n_test=0).X, a.X)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": True}, "n must be an integer, got True"),
        ({"d": 30.0}, "d must be an integer, got 30.0"),
        ({"k": 2.5}, "k must be an integer, got 2.5"),
        ({"n_test": False}, "n_test must be an integer, got False"),
        ({"n_test": -1}, "n_test must be >= 0"),
        ({"noise": float("nan")}, "noise must be finite"),
        ({"noise": True}, "noise must be a real number"),
        ({"correlation": float("nan")}, "correlation must be finite"),
        ({"correlation": -0.5}, "correlation must be >= 0"),
        ({"beta_scale": 0.0}, "beta_scale must be > 0"),
    ],
)
def test_gaussian_problem_names_every_loose_argument(kwargs: dict, match: str) -> None:
    args = {"n": 20, "d": 30, "k": 3} | kwargs
    with pytest.raises(ValueError, match=match):
        gaussian_problem(**args)


@pytest.mark.parametrize("command", ["run", "verify"])
def test_cli_refuses_a_negative_seed_in_one_line(command: str, capsys) -> None:
    assert main([command, "--seed", "-1"]) == 2
    err = capsys.readouterr().err
    assert err == f"dlnsam {command}: error: seed must be >= 0, got -1\n"


def test_an_unpickled_problem_keeps_read_only_arrays() -> None:
    """Worker processes receive problems pickled: same array types, same compiled kernels."""
    import pickle

    p = gaussian_problem(5, 8, 2, seed=0, n_test=3)
    q = pickle.loads(pickle.dumps(p))
    for name in ("X", "y", "X_test", "y_test", "beta_star"):
        assert not getattr(q, name).flags.writeable, name
        np.testing.assert_array_equal(getattr(q, name), getattr(p, name))
