"""dlnsam: Sharpness-Aware Minimization on diagonal linear networks, verified numerically.

The network is β = u ⊙ v with parameters θ = (u, v); the loss is
L(β) = ‖Xβ − y‖² / (2n). Initializing "at scale α" means u₀ = 2α, v₀ = 0, so
that α is the scale of the hypentropy potential that characterizes the
implicit bias. See the README for the conventions.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from dlnsam import flatness, hypentropy
from dlnsam.algorithms import ALGORITHMS, GD, SAM, SGD, Algorithm, KernelParams, algorithm_from_name
from dlnsam.flows import FlowResult, flow
from dlnsam.many import RunManyResult, run_many
from dlnsam.metrics import support_recovery
from dlnsam.paper import PAPER, PaperSetting, paper_problem, paper_rho
from dlnsam.problems import Problem, gaussian_problem, load_problem
from dlnsam.results import History, Status
from dlnsam.sweep import SweepConfig, SweepResult, load_config, run_sweep
from dlnsam.training import RunResult, default_record_steps, initial_point, run, run_schedule

try:
    __version__ = version("dlnsam")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "ALGORITHMS",
    "GD",
    "PAPER",
    "SAM",
    "SGD",
    "Algorithm",
    "FlowResult",
    "History",
    "KernelParams",
    "PaperSetting",
    "Problem",
    "RunManyResult",
    "RunResult",
    "Status",
    "SweepConfig",
    "SweepResult",
    "__version__",
    "algorithm_from_name",
    "default_record_steps",
    "flatness",
    "flow",
    "gaussian_problem",
    "hypentropy",
    "initial_point",
    "load_config",
    "load_problem",
    "paper_problem",
    "paper_rho",
    "run",
    "run_many",
    "run_schedule",
    "run_sweep",
    "support_recovery",
]
