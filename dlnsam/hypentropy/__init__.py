"""Hypentropy: the implicit-bias potential of diagonal linear networks.

A diagonal linear network β = u ⊙ v trained by gradient flow from the scale α
(u₀ = 2α, v₀ = 0) converges to the interpolator that minimizes the hypentropy
potential

.. math::

    \\phi_\\alpha(\\beta) = \\sum_i \\alpha_i^2\\, q(\\beta_i / \\alpha_i^2), \\qquad
    q(z) = 2 - \\sqrt{4 + z^2} + z \\operatorname{arcsinh}(z/2),

among all β with Xβ = y (Woodworth et al., COLT 2020). SAM flows converge to the
same kind of minimizer with a smaller, per-coordinate effective scale
(Andriushchenko & Flammarion, ICML 2022). This package solves that problem
(:func:`solve`, :func:`path`) and its inverse, the scale α̂ that explains a given
interpolator (:func:`fit_alpha`, :func:`closest_alpha`).

α → 0 gives the minimum-ℓ1 interpolator (basis pursuit, the "rich" regime),
α → ∞ the minimum-ℓ2 one (the pseudo-inverse, the "kernel" regime).

Modules: ``potential`` (q, φ_α, ∇φ_α and :func:`identity_residual`), ``records``
(the result records), ``design`` (validation and the whitened system),
``newton`` (the method, and its robust NumPy implementation), ``kernel`` (its
fast Numba implementation), ``solver`` (:func:`solve`), ``paths`` (:func:`path`)
and ``fit`` (:func:`fit_alpha`, :func:`closest_alpha`).
"""

from __future__ import annotations

from dlnsam.hypentropy.fit import closest_alpha, fit_alpha
from dlnsam.hypentropy.paths import path
from dlnsam.hypentropy.potential import identity_residual, phi, q, q_prime
from dlnsam.hypentropy.records import AlphaFit, ClosestAlpha, HypentropyResult
from dlnsam.hypentropy.solver import solve
from dlnsam.status import SolveStatus

__all__ = [
    "AlphaFit",
    "ClosestAlpha",
    "HypentropyResult",
    "SolveStatus",
    "closest_alpha",
    "fit_alpha",
    "identity_residual",
    "path",
    "phi",
    "q",
    "q_prime",
    "solve",
]
