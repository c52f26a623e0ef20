"""The serial training kernel on X padded with zero columns (training.kernel_design)."""

from __future__ import annotations

import numpy as np
import pytest

import dlnsam
from dlnsam import kernels, training


def test_kernel_design_pads_small_x_with_zero_columns() -> None:
    X = np.random.default_rng(0).standard_normal((5, 13))
    padded = training.kernel_design(X, None)
    assert padded.shape == (5, 16)
    assert padded.shape[1] % kernels.COLUMN_BLOCK == 0
    assert padded.flags.c_contiguous and padded.ctypes.data % training.ALIGNMENT == 0
    np.testing.assert_array_equal(padded[:, :13], X)
    np.testing.assert_array_equal(padded[:, 13:], 0.0)


@pytest.mark.parametrize("offset", range(0, training.ALIGNMENT, 8))
def test_aligned_zeros_start_on_the_boundary_whatever_the_heap_gives(offset) -> None:
    # Allocations of other sizes first, so that the buffers land at several offsets.
    spacer = np.empty(offset // 8 + 1)
    a = training.aligned_zeros((3, 5))
    assert a.shape == (3, 5) and a.flags.c_contiguous and a.flags.writeable
    assert a.ctypes.data % training.ALIGNMENT == 0
    np.testing.assert_array_equal(a, 0.0)
    v = training.kernel_vector(np.arange(1.0, 4.0), 8)
    np.testing.assert_array_equal(v, [1, 2, 3, 0, 0, 0, 0, 0])
    assert v.ctypes.data % training.ALIGNMENT == 0
    del spacer


def misaligned(A: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of A at 8 bytes past an ALIGNMENT boundary."""
    buffer = training.aligned_zeros(A.size + 1)
    out = buffer[1:].reshape(A.shape)
    out[...] = A
    return out


def test_kernel_design_keeps_x_when_padding_is_not_used(monkeypatch) -> None:
    X = np.ones((5, 13))
    # already whole blocks, and aligned
    whole = training.aligned_zeros((5, 2 * kernels.COLUMN_BLOCK))
    assert training.kernel_design(whole, None) is whole
    # the parallel kernel
    assert training.kernel_design(X, np.zeros((2, kernels.PART_ROWS, 13))) is X
    # a copy larger than PAD_MAX_ENTRIES
    monkeypatch.setattr(training, "PAD_MAX_ENTRIES", 5 * 16 - 1)
    assert training.kernel_design(X, None) is X


def test_kernel_design_aligns_whole_blocks_that_are_not() -> None:
    X = misaligned(np.random.default_rng(1).standard_normal((5, 16)))
    assert X.ctypes.data % training.ALIGNMENT != 0
    out = training.kernel_design(X, None)
    assert out is not X and out.ctypes.data % training.ALIGNMENT == 0
    np.testing.assert_array_equal(out, X)
    # non-contiguous (every other column) is copied too
    wide = np.random.default_rng(2).standard_normal((5, 32))
    np.testing.assert_array_equal(training.kernel_design(wide[:, ::2], None), wide[:, ::2])


CASES = [
    (dlnsam.GD(), 0.05),
    (dlnsam.SGD(4), 0.05),
    (dlnsam.SAM(0.1), 0.05),
    (dlnsam.SAM(0.1, m=1), 0.05),
    (dlnsam.SAM(0.1, m=1, normalize=True), 0.05),
    (dlnsam.SAM(0.1, m=2, batch_size=8), 0.05),
    (dlnsam.SAM(0.1, m=1), 5.0),  # diverges
]


@pytest.mark.parametrize(("algorithm", "lr"), CASES, ids=lambda c: getattr(c, "name", str(c)))
def test_padded_and_unpadded_kernels_agree(algorithm, lr, monkeypatch) -> None:
    p = dlnsam.gaussian_problem(16, 13, 3, seed=4, n_test=30)
    kwargs = {"lr": lr, "steps": 400, "alpha": 0.3, "seed": 2, "record": range(0, 400, 7)}
    assert training.kernel_design(p.X, None).shape == (16, 16)
    padded = dlnsam.run(p, algorithm, **kwargs)
    monkeypatch.setattr(training, "kernel_design", lambda X, part: X)
    plain = dlnsam.run(p, algorithm, **kwargs)
    assert padded.status == plain.status
    assert padded.n_steps == plain.n_steps
    np.testing.assert_array_equal(padded.history.steps, plain.history.steps)
    assert padded.u.shape == padded.v.shape == (13,)
    np.testing.assert_allclose(padded.u, plain.u, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(padded.v, plain.v, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(padded.beta, plain.beta, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(padded.history.train_loss, plain.history.train_loss, rtol=1e-12)
    np.testing.assert_allclose(padded.history.test_loss, plain.history.test_loss, rtol=1e-12)
    assert padded.integral_loss == pytest.approx(plain.integral_loss, rel=1e-12)
    if lr == 5.0:
        assert padded.status is dlnsam.Status.DIVERGED
