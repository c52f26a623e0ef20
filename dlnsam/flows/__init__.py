"""Continuous-time flows: gradient flow and the SAM(ρ, m) flows, to convergence.

The flows are the limits of GD and SAM as the step size γ → 0, θ̇ = −∇L(θ)
and θ̇ = −D(θ) with D the SAM(ρ, m) direction. Along them dlnsam also
integrates ∫L ds and the exponents Δ(t), Δ⁽¹⁾(t) that give the effective
hypentropy scale of the solution the flow selects (Theorem 1 of Andriushchenko
& Flammarion, ICML 2022, in its exact form).

A flow is a right-hand side and an integrator:

- :mod:`dlnsam.flows.terms`: the right-hand sides, which own their state layout;
- :mod:`dlnsam.flows.dop853`, :mod:`dlnsam.flows.bdf`: integrators that step any term;
- :mod:`dlnsam.flows.records`: the records both take (progress, controls, outputs);
- :mod:`dlnsam.flows.inlining`: the integrators' compiler pipeline, which passes
  records to inlined helpers without copying them;
- :mod:`dlnsam.flows.driver`: :func:`flow`, which joins them and owns the status.
"""

from dlnsam.flows.driver import (
    ALPHA_RANGE,
    BDF_MAX_D,
    DEFAULT_MAX_STEPS,
    INTEGRATORS,
    MAX_RTOL,
    METHODS,
    NORMALIZED_MAX_STEPS,
    FlowResult,
    check_alpha,
    default_loss_tol,
    flow,
)
from dlnsam.flows.terms import state_atol

__all__ = [
    "ALPHA_RANGE",
    "BDF_MAX_D",
    "DEFAULT_MAX_STEPS",
    "INTEGRATORS",
    "MAX_RTOL",
    "METHODS",
    "NORMALIZED_MAX_STEPS",
    "FlowResult",
    "check_alpha",
    "default_loss_tol",
    "flow",
    "state_atol",
]
