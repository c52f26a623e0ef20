"""The setting of the ICML 2022 paper's diagonal-network experiments, as a preset.

Andriushchenko & Flammarion (*Towards Understanding Sharpness-Aware
Minimization*, ICML 2022) train β = u ⊙ v on sparse regression in their public
code (``tml-epfl/understanding-sam``, ``diagonal_linear_nets``): n = 20
examples in d = 30 dimensions, a 3-sparse β* with positive entries of unit
norm, 1000 test examples, no label noise, u₀ = 0.1, v₀ = 0, steps γ = k/d for
k in {1, 5, 10, 15}, and 10⁴ + 1 iterations. :func:`paper_problem` draws that
data with the same generator calls in the same order, so that ``seed=0`` is
the paper's own data set, bit for bit; :data:`PAPER` holds the rest.

Radii: the reference code's n-SAM ascends along ∇L, as dlnsam does, but its
1-SAM ascends along the gradient of r_k² = 2ℓ_k, twice dlnsam's ∇ℓ_k. Its ρ
is dlnsam's ρ for n-SAM and half of it for 1-SAM (:func:`paper_rho`). Its
initialization u₀ = 0.1, v₀ = 0 is α = 0.05 (u₀ = 2α).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlnsam._validation import nonnegative_int, positive_float
from dlnsam.problems import Problem

__all__ = ["PAPER", "PaperSetting", "paper_problem", "paper_rho"]


@dataclass(frozen=True)
class PaperSetting:
    """The paper's training setting for the diagonal network.

    Attributes
    ----------
    n, d, k, n_test : int
        Training examples, dimension, sparsity of β*, test examples.
    alpha : float
        Initialization scale α = 0.05: u₀ = 2α = 0.1, v₀ = 0.
    steps : int
        Iterations, 10⁴ + 1 (one update each).
    lr_multiples : tuple of int
        The step sizes as multiples of 1/d: γ = k/d for k in (1, 5, 10, 15).
    reference_rhos : tuple of float
        The radius grid in the reference code's units, (0.01, 0.03, 0.1, 0.3,
        1.0), the n-SAM grid its notebook reports at γ = 5/d; map to dlnsam's
        radius with :func:`paper_rho`.

    Examples
    --------
    >>> from dlnsam import PAPER
    >>> PAPER.alpha, PAPER.steps, [round(g, 4) for g in PAPER.lrs]
    (0.05, 10001, [0.0333, 0.1667, 0.3333, 0.5])
    """

    n: int = 20
    d: int = 30
    k: int = 3
    n_test: int = 1000
    alpha: float = 0.05
    steps: int = 10_001
    lr_multiples: tuple[int, ...] = (1, 5, 10, 15)
    reference_rhos: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0)

    @property
    def lrs(self) -> tuple[float, ...]:
        """The step sizes γ = k/d, for k in ``lr_multiples``."""
        return tuple(k / self.d for k in self.lr_multiples)


#: The setting of the paper's diagonal-network experiments.
PAPER = PaperSetting()


def paper_rho(reference_rho: float, m: int | None) -> float:
    """dlnsam's SAM radius for a radius of the paper's reference code.

    Parameters
    ----------
    reference_rho : float
        ρ_ref >= 0 as passed to the reference code's ``n_SAM_GD`` or
        ``one_SAM_GD``.
    m : int or None
        1 for 1-SAM, None for n-SAM (the reference code has no other m).

    Returns
    -------
    float
        ρ_ref for n-SAM; 2 ρ_ref for 1-SAM, whose reference perturbation
        u + 2ρ_ref r_k x_k ⊙ v is dlnsam's u + ρ ∇_u ℓ_k with ℓ_k = ½ r_k².

    Raises
    ------
    ValueError
        If ``reference_rho`` is negative or not a number, or ``m`` is neither 1
        nor None.

    Examples
    --------
    >>> from dlnsam import paper_rho
    >>> paper_rho(0.1, None), paper_rho(0.1, 1)
    (0.1, 0.2)
    """
    rho = positive_float(reference_rho, "reference_rho", allow_zero=True)
    if m is None:
        return rho
    if isinstance(m, bool) or m != 1:
        raise ValueError(f"m must be 1 (1-SAM) or None (n-SAM), got {m!r}")
    return 2.0 * rho


def paper_problem(
    seed: int = 0,
    *,
    noise: float = 0.0,
    n: int = PAPER.n,
    d: int = PAPER.d,
    k: int = PAPER.k,
    n_test: int = PAPER.n_test,
) -> Problem:
    """The sparse-regression data of the paper's diagonal-network experiments.

    Parameters
    ----------
    seed : int, default 0
        Seed of ``numpy.random.RandomState``, the generator of the reference
        code; 0 gives the paper's data set. A non-negative integer.
    noise : float, default 0.0
        Standard deviation σ of Gaussian noise added to the training labels
        (drawn last, so that X, X_test and β* do not depend on it).
    n, d, k, n_test : int
        Training examples, dimension, sparsity (1 <= k <= d) and test examples
        (>= 1); the paper's 20, 30, 3 and 1000 by default.

    Returns
    -------
    Problem
        ``X`` (n, d) and ``X_test`` (n_test, d) with i.i.d. N(0, 1) entries,
        ``beta_star`` (d,) with its first k entries positive and unit norm
        (the others 0), ``y = X β* + σ ξ`` and noiseless ``y_test = X_test β*``.

    Raises
    ------
    ValueError
        If an argument has the wrong type or is out of range; the message
        names it.

    Notes
    -----
    The draws, in the reference code's order: X, X_test, then g ~ N(0, I_d);
    β*_j = |g_j| / ‖g_{1..k}‖ for j <= k and 0 beyond; then the noise ξ.
    The reference code draws X with ``multivariate_normal(0, I_d)``, which for
    the identity covariance returns the standard normal draws unchanged.

    Examples
    --------
    >>> from dlnsam import GD, PAPER, paper_problem, run
    >>> p = paper_problem()
    >>> p.X.shape, p.X_test.shape, p.beta_star[:4].round(3)
    ((20, 30), (1000, 30), array([0.866, 0.158, 0.475, 0.   ]))
    >>> res = run(p, GD(), lr=5 / 30, steps=PAPER.steps, alpha=PAPER.alpha)
    >>> round(res.test_loss, 6)  # the reference notebook prints 0.015056044189449159
    0.015056
    """
    seed = nonnegative_int(seed, "seed")
    noise = positive_float(noise, "noise", allow_zero=True)
    n = nonnegative_int(n, "n", minimum=1)
    d = nonnegative_int(d, "d", minimum=1)
    k = nonnegative_int(k, "k", minimum=1)
    n_test = nonnegative_int(n_test, "n_test", minimum=1)
    if k > d:
        raise ValueError(f"k must be <= d = {d}, got {k}")
    rs = np.random.RandomState(seed)
    X = rs.standard_normal((n, d))
    X_test = rs.standard_normal((n_test, d))
    g = rs.standard_normal(d)
    g[k:] = 0.0  # the norm over all d entries, as in the reference: the same bits
    beta_star = np.abs(g) / np.linalg.norm(g)
    y = X @ beta_star
    if noise > 0:
        y = y + noise * rs.standard_normal(n)
    return Problem(X=X, y=y, X_test=X_test, y_test=X_test @ beta_star, beta_star=beta_star)
