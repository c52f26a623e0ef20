"""The ``dlnsam`` command line."""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

import dlnsam
from dlnsam.algorithms import ALGORITHMS, OPTIONS, algorithm_from_name, option_names
from dlnsam.metrics import support_recovery
from dlnsam.problems import Problem, gaussian_problem, load_problem
from dlnsam.sweep import CONFIRM_ABOVE
from dlnsam.training import run
from dlnsam.verify import (
    VERIFICATIONS,
    Report,
    Verification,
    parse_tolerance,
    render,
    resolve_tolerances,
)

DEFAULT_RHO = 0.1
# theorem1's radii, which --rho-min/--rho-max/--n-rho adjust.
_RHO_MIN, _RHO_MAX, _N_RHO = 0.01, 0.3, 8
# Default folders of `dlnsam figures`: the quick figures never replace the full ones.
FIGURES = "figures"
QUICK_FIGURES = "figures-quick"


def _add_problem_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("problem (a Gaussian sparse regression, or --data)")
    group.add_argument("--n", type=int, default=20, help="training examples (default 20)")
    group.add_argument("--d", type=int, default=30, help="dimension (default 30)")
    group.add_argument("--k", type=int, default=3, help="non-zeros of beta* (default 3)")
    group.add_argument("--noise", type=float, default=0.0, help="label noise std (default 0)")
    group.add_argument(
        "--correlation",
        type=float,
        default=0.0,
        help="Toeplitz design correlation rho_X in [0, 1) (default 0: isotropic)",
    )
    group.add_argument("--n-test", type=int, default=1000, help="test examples (default 1000)")
    group.add_argument("--seed", type=int, default=0, help="seed of data and batches (default 0)")
    group.add_argument(
        "--data",
        metavar="PATH",
        help="a .npz (arrays X, y, optional X_test, y_test, beta_star) or .csv "
        "(last column is y) file; replaces the Gaussian problem",
    )


def _problem(args: argparse.Namespace) -> Problem:
    if args.data:
        return load_problem(args.data)
    return gaussian_problem(
        args.n,
        args.d,
        args.k,
        n_test=args.n_test,
        noise=args.noise,
        seed=args.seed,
        correlation=args.correlation,
    )


def _cmd_run(args: argparse.Namespace) -> int:
    problem = _problem(args)
    # A switch that is off is not passed: algorithms that lack it then accept it.
    options = {name: getattr(args, name) for name in option_names()}
    options = {k: None if value is False else value for k, value in options.items()}
    if options["rho"] is None and args.algorithm.endswith("sam"):
        options["rho"] = DEFAULT_RHO
    algorithm = algorithm_from_name(args.algorithm, **options)
    res = run(
        problem,
        algorithm,
        lr=args.lr,
        steps=args.steps,
        alpha=args.alpha,
        seed=args.seed,
        loss_tol=args.loss_tol,
    )
    summary = {
        "algorithm": algorithm.name,
        "n": problem.n,
        "d": problem.d,
        "status": res.status.value,
        "message": res.message,
        "steps": res.n_steps,
        "train_loss": res.train_loss,
        "test_loss": res.test_loss,
        "l1_norm": float(np.abs(res.beta).sum()),
        "integral_loss": res.integral_loss,
        "support_recovery": (
            None if problem.beta_star is None else support_recovery(res.beta, problem.beta_star)
        ),
        "time_s": res.wall_time,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        test = "n/a" if res.test_loss is None else f"{res.test_loss:.4e}"
        rec = summary["support_recovery"]
        if rec is None:
            rec_text = "n/a (no beta_star)"
        else:
            k = int(np.count_nonzero(problem.beta_star))
            exact = " (exact)" if rec == 1.0 else ""
            rec_text = f"{rec:.0%} of supp(beta*) among the top-{k} |beta_i|{exact}"
        print(f"{algorithm.name} on n={problem.n}, d={problem.d}: {res.status.value}")
        print(f"  {res.message}")
        print(f"  train loss   {res.train_loss:.4e}")
        print(f"  test loss    {test}")
        print(f"  ||beta||_1   {summary['l1_norm']:.6f}")
        print(f"  int L ds     {res.integral_loss:.6f}")
        print(f"  support      {rec_text}")
        print(f"  time         {res.wall_time:.3f} s ({res.n_steps} steps)")
    return 0 if res.status.ok else 1


def _float_list(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from exc


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _m_list(text: str) -> list[int | None]:
    out: list[int | None] = []
    for item in (x.strip() for x in text.split(",") if x.strip()):
        if item == "n":
            out.append(None)
        elif item.isdigit():
            out.append(int(item))
        else:
            raise argparse.ArgumentTypeError(f"m values are integers or 'n', got {item!r}")
    return out


def _prepare_out(option: str, path: str, force: bool, ours: Sequence[str]) -> Path:
    """Create the output folder and check it can be written, before any work.

    Raises ValueError naming ``option`` if the folder cannot be made or written,
    or if it holds files of an earlier run (``ours``) and ``force`` is False.
    """
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise ValueError(f"{option}: {str(out)!r} exists and is not a folder") from exc
    except OSError as exc:  # a parent is a file, no permission, read-only file system
        raise ValueError(f"{option}: cannot create {str(out)!r}: {exc.strerror}") from exc
    # A real write: os.access says yes to root on a read-only file system.
    try:
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise ValueError(f"{option}: cannot write in {str(out)!r}: {exc.strerror}") from exc
    earlier = [name for name in ours if (out / name).exists()]
    if earlier and not force:
        raise ValueError(
            f"{option}: {str(out)!r} holds an earlier report ({', '.join(earlier[:2])}); "
            "pass --force to replace it, or choose another folder"
        )
    return out


def _tolerance(text: str) -> tuple[str, float | tuple[float, float]]:
    try:
        return parse_tolerance(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _verify_options(args: argparse.Namespace, check: Verification, alone: bool) -> dict[str, Any]:
    """The keyword arguments of ``check.run`` from the command line, checked before any work.

    Options a verification does not take are errors when it runs alone; with
    every verification at once (``alone`` False), the grid options are refused
    and the others reach those that take them.
    """
    takes = inspect.signature(check.run).parameters
    overrides = {k: v for k, v in args.tol if alone or k in check.tolerances}
    if args.exact_tol is not None and "exact" in check.tolerances:
        overrides.setdefault("exact", args.exact_tol)
    options: dict[str, Any] = {"tolerances": resolve_tolerances(check.tolerances, overrides)}
    if args.full:
        if "full" in takes:
            options["full"] = True
        elif alone:
            raise ValueError(f"--full: {check.name} has no publication sizes")
    if "seed" in takes:
        options["seed"] = args.seed
    # The radii and micro-batch sizes the user did not give are the verification's own.
    grid = args.rhos is not None or args.ms is not None
    grid = grid or (args.rho_min, args.rho_max, args.n_rho) != (None, None, None)
    if grid and not alone:
        raise ValueError("--rhos, --rho-min/max, --n-rho and --ms: name one verification")
    if args.rhos is not None:
        options["rhos"] = args.rhos
    elif (args.rho_min, args.rho_max, args.n_rho) != (None, None, None):
        lo, hi = args.rho_min or _RHO_MIN, args.rho_max or _RHO_MAX
        options["rhos"] = [float(r) for r in np.geomspace(lo, hi, args.n_rho or _N_RHO).round(4)]
    if args.ms is not None:
        options["ms"] = args.ms
    return options


def _cmd_verify(args: argparse.Namespace) -> int:
    from dlnsam import plots

    alone = args.verification is not None
    checks = [VERIFICATIONS[args.verification]] if alone else list(VERIFICATIONS.values())
    known = {k for check in checks for k in check.tolerances}
    unknown = sorted({k for k, _ in args.tol} - known)
    if unknown and not alone:
        names = ", ".join(sorted(known))
        raise ValueError(f"--tol: unknown tolerance {unknown[0]!r}; known: {names}")
    # The problem, every option and every output folder are checked before the first
    # verification runs, in that order.
    problem = _problem(args)
    plans = []
    for check in checks:
        options = _verify_options(args, check, alone)
        files = ("report.json", "report.md", *check.figures)
        out = Path(args.out) if alone else Path(args.out) / check.name
        plans.append((check, options, _prepare_out("--out", str(out), args.force, files)))
    verdicts = []
    for check, options, out in plans:
        result = check.run(
            problem, alpha=args.alpha, rtol=args.rtol, t_max=args.t_max, workers=args.workers,
            progress=not args.no_progress, **options,
        )  # fmt: skip
        report = result.to_report()
        print(render(report))
        (out / "report.json").write_text(json.dumps(render(report, "json"), indent=2) + "\n")
        (out / "report.md").write_text(render(report, "markdown"))
        # A verification names its figures; dlnsam.plots draws each by the same name.
        for name in check.figures:
            getattr(plots, Path(name).stem)(result).savefig(out / name, dpi=150)
        figures = len(check.figures)
        print(f"\nwrote {out / 'report.json'}, {out / 'report.md'} and {figures} figures")
        verdicts.append((check.name, report))
    if not alone:
        print("\n" + _verdicts(verdicts))
    return 0 if all(report.passed for _, report in verdicts) else 1


def _verdicts(verdicts: list[tuple[str, Report]]) -> str:
    """One line per verification and the overall verdict."""
    lines = []
    for name, report in verdicts:
        passed = sum(c.passed for c in report.claims)
        verdict = "PASS" if report.passed else "FAIL"
        lines.append(f"{name:<10} {passed}/{len(report.claims)} claims pass  {verdict}")
    overall = "PASS" if all(r.passed for _, r in verdicts) else "FAIL"
    return "\n".join([*lines, f"overall: {overall}"])


def _load_experiment(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"dlnsam_experiment_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot load experiment {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "run", None)):
        raise ValueError(f"experiment {path} defines no run(quick, results) function")
    return module


def _cmd_figures(args: argparse.Namespace) -> int:
    from dlnsam.plots import save_figure

    folder = Path(args.experiments)
    if not folder.is_dir():
        raise ValueError(
            f"--experiments: no folder {str(folder)!r}; run from the repository root "
            "or pass the folder holding the experiment scripts"
        )
    scripts = sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))
    if args.only:
        unknown = sorted(set(args.only) - {p.stem for p in scripts})
        if unknown:
            raise ValueError(f"--only: no experiment {unknown} in {folder}")
        scripts = [p for p in scripts if p.stem in args.only]
    mode = "quick" if args.quick else "full"
    if args.out is None:
        args.out = QUICK_FIGURES if args.quick else FIGURES
    # Regenerating figures replaces them by design: only check the folder is usable.
    _prepare_out("--out", args.out, True, ())
    total = time.perf_counter()
    for script in scripts:
        start = time.perf_counter()
        figures = _load_experiment(script).run(args.quick, Path(args.results))
        names = []
        for name, fig in figures.items():
            if isinstance(fig, str):  # a table of the experiment's numbers
                Path(args.out, f"{name}.md").write_text(fig, encoding="utf-8")
            else:
                save_figure(fig, args.out, name)
            names.append(name)
        print(f"{script.stem:<16} {time.perf_counter() - start:7.1f} s  {', '.join(names)}")
    print(
        f"{len(scripts)} experiments ({mode} mode) in {time.perf_counter() - total:.1f} s; "
        f"figures (PNG and PDF) in {args.out}/"
    )
    return 0


def _ask_to_run(n_cells: int) -> bool:
    print(f"dlnsam sweep: run all {n_cells:,} cells? [y/N] ", end="", file=sys.stderr, flush=True)
    try:
        answer = sys.stdin.readline()
    except KeyboardInterrupt:  # Ctrl-C at the prompt is a no
        print(file=sys.stderr)
        return False
    return answer.strip().lower() in ("y", "yes")


def _cmd_sweep(args: argparse.Namespace) -> int:
    import warnings

    from dlnsam.sweep import run_sweep

    def one_line_warning(message: Warning | str, *args: object, **kwargs: object) -> None:
        print(f"dlnsam sweep: warning: {message}", file=sys.stderr)

    # A large grid runs with --yes, or when the user at the terminal says so.
    interactive = sys.stdin is not None and sys.stdin.isatty()
    confirm = True if args.yes else (_ask_to_run if interactive else False)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = one_line_warning
            result = run_sweep(
                args.config,
                output=args.output,
                backend=args.backend,
                workers=args.workers,
                scheduler=args.scheduler,
                progress=not args.no_progress,
                force=args.force,
                confirm=confirm,
            )
    except ImportError as exc:  # the dask backend without dask installed
        print(f"dlnsam sweep: error: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    return 130 if result.interrupted else 0


def _add_algorithm_options(parser: argparse.ArgumentParser) -> None:
    """One flag per option of the algorithms (``dlnsam.algorithms.OPTIONS``)."""
    taken = set(option_names())
    for name, option in OPTIONS.items():
        if name not in taken:
            continue
        flag = "--" + name.replace("_", "-")
        if option.type is bool:
            parser.add_argument(flag, action="store_true", help=option.help)
            continue
        text = option.help + (f"; default {DEFAULT_RHO}" if name == "rho" else "")
        parser.add_argument(flag, type=option.type, help=text)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``dlnsam`` command (exposed for tests)."""
    parser = argparse.ArgumentParser(
        prog="dlnsam",
        description="Sharpness-Aware Minimization on diagonal linear networks beta = u * v, "
        "verified numerically. Loss ||X beta - y||^2 / (2n); init at scale alpha means "
        "u0 = 2 alpha, v0 = 0.",
    )
    parser.add_argument("--version", action="version", version=f"dlnsam {dlnsam.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add in (_add_run, _add_verify, _add_sweep, _add_figures):
        add(sub)
    return parser


def _add_run(sub: Any) -> None:
    p_run = sub.add_parser(
        "run",
        help="train one algorithm and print a summary",
        description="Train one algorithm (GD, SGD, n-SAM, 1-SAM, m-SAM) on a Gaussian sparse "
        "regression problem or on your data, and print the final train/test loss, ||beta||_1, "
        "support recovery and time. Exit code 1 if the run diverged.",
    )
    p_run.add_argument(
        "--algorithm",
        choices=sorted(ALGORITHMS),
        default="1-sam",
        help="update rule (default 1-sam)",
    )
    _add_algorithm_options(p_run)
    p_run.add_argument("--lr", type=float, default=0.05, help="step size gamma (default 0.05)")
    p_run.add_argument("--steps", type=int, default=10_000, help="number of steps (default 1e4)")
    p_run.add_argument(
        "--alpha",
        type=float,
        default=0.05,
        help="initialization scale: u0 = 2*alpha, v0 = 0 (default 0.05)",
    )
    p_run.add_argument(
        "--loss-tol", type=float, help="stop once L <= loss_tol * L(0) (default: run all steps)"
    )
    p_run.add_argument("--json", action="store_true", help="print the summary as JSON")
    _add_problem_args(p_run)
    p_run.set_defaults(func=_cmd_run)


def _add_verify(sub: Any) -> None:
    p_ver = sub.add_parser(
        "verify",
        help="verify Theorem 1 numerically (the main job)",
        description="Check the theory of SAM, with one PASS/FAIL line per claim. Without a "
        "name, run every verification (theorem1, flatness, theorem2), each writing report.json, "
        "report.md and PNG figures to its own folder --out/NAME, then print one overall "
        "verdict; with a name, run that one into --out. An earlier report is not replaced "
        "without --force, and every option and folder is checked before any work. theorem1: "
        "the SAM(rho, m) flows to convergence, the exact identity beta(t) = 2 alpha_t^2 "
        "sinh(X^T lambda_t), the exact effective-alpha prediction of the limit, the O(rho^2) "
        "first-order gap, the typical ||Delta||_1 ~ 2 rho (d/m) int L and the 1-SAM / n-SAM "
        "shrinkage ratio. flatness: trace and lambda_max of the Hessian at the limits (radii "
        "and micro-batch sizes not given are its own). theorem2: the convergence rates of "
        "stochastic SAM on its own isotropic least-squares instance, and its non-convex bound "
        "on a diagonal network on the same data with constants measured along the path (the "
        "problem options, --alpha, --rtol and --t-max do not apply to it; --seed does). The "
        "grid options (--rhos, --rho-min/max, --n-rho, --ms) need a name. The first run also "
        "compiles the "
        "Numba kernels (once; cached afterwards). Exit code 1 if a claim fails, 2 for a usage "
        "error.",
    )
    p_ver.add_argument(
        "verification",
        nargs="?",
        default=None,
        choices=list(VERIFICATIONS),
        help="what to verify (default: all of them, each into its own folder under --out): "
        + "; ".join(f"{v.name}: {v.description}" for v in VERIFICATIONS.values()),
    )
    p_ver.add_argument(
        "--alpha", type=float, default=0.05, help="initialization scale (default 0.05)"
    )
    p_ver.add_argument(
        "--rhos", type=_float_list, help="comma-separated radii (overrides --rho-min/max)"
    )
    p_ver.add_argument(
        "--rho-min", type=float, help=f"smallest rho (theorem1's default {_RHO_MIN})"
    )
    p_ver.add_argument("--rho-max", type=float, help=f"largest rho (theorem1's default {_RHO_MAX})")
    p_ver.add_argument("--n-rho", type=int, help=f"log-spaced radii (theorem1's default {_N_RHO})")
    p_ver.add_argument(
        "--ms",
        type=_m_list,
        default=None,
        help="comma-separated micro-batch sizes, 'n' for n-SAM (theorem1's default '1,n'; "
        "flatness's '1,2,5,10,n'; theorem2's micro-batches m < b '1,2,5')",
    )
    p_ver.add_argument(
        "--rtol", type=float, default=1e-12, help="flow relative tolerance (default 1e-12)"
    )
    p_ver.add_argument(
        "--t-max", type=float, default=1e5, help="give up on a flow at this time (default 1e5)"
    )
    p_ver.add_argument(
        "--exact-tol",
        type=float,
        help="tolerance of the exact identity and prediction (default 1e-8; the same as "
        "--tol exact=VALUE)",
    )
    p_ver.add_argument(
        "--tol",
        type=_tolerance,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a claim's tolerance: NAME=BOUND or NAME=LOW,HIGH, repeatable; the tolerances "
        "and their defaults: "
        + "; ".join(
            f"{check.name}: "
            + ", ".join(
                f"{k}={v if isinstance(v, float) else ','.join(f'{x:.4g}' for x in v)}"
                for k, v in check.tolerances.items()
            )
            for check in VERIFICATIONS.values()
        ),
    )
    p_ver.add_argument(
        "--workers", type=_positive_int, help="processes for the flows, >= 1 (default: all cores)"
    )
    p_ver.add_argument(
        "--full",
        action="store_true",
        help="publication sizes, for the verifications that have them (theorem2: R = 1000 runs, "
        "T up to 1e5, minutes instead of seconds; flatness: 100 batch seeds, 10 problems)",
    )
    p_ver.add_argument("--out", default="report", help="output directory (default ./report)")
    p_ver.add_argument("--force", action="store_true", help="replace an earlier report in --out")
    p_ver.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar or compilation notice on stderr",
    )
    _add_problem_args(p_ver)
    p_ver.set_defaults(func=_cmd_verify)


def _add_sweep(sub: Any) -> None:
    p_swp = sub.add_parser(
        "sweep",
        help="run a grid of experiments from a TOML config, resumable",
        description="Run every cell of a sweep (problems x algorithms x hyperparameters, see "
        "experiments/example_sweep.toml) that is not yet in the results file, in parallel, "
        "appending one JSON line per cell. Running it again resumes an interrupted sweep; "
        "a results file holding rows that are not cells of the config (the grid changed) is "
        "refused unless --force. The results file is locked while the sweep runs, so a second "
        "sweep on it refuses to start (on NFS only if the server supports locks; where the "
        "file system has no locks, a warning). Outputs are checked before any cell runs. "
        "Options override the config's [sweep] table. Exit code 0 when every cell is done "
        "(failed cells are recorded with their status and message), 130 when interrupted "
        "(Ctrl-C or SIGTERM), 2 for a config or output error.",
    )
    p_swp.add_argument("config", metavar="CONFIG.toml", help="the sweep configuration")
    p_swp.add_argument(
        "--output", metavar="PATH", help="results file, JSON lines (default: [sweep] output)"
    )
    p_swp.add_argument(
        "--backend",
        choices=["inprocess", "processes", "dask"],
        help="where cells run (default: [sweep] backend, else processes)",
    )
    p_swp.add_argument(
        "--workers", type=int, help="worker processes (default: [sweep] workers, else all cores)"
    )
    p_swp.add_argument(
        "--scheduler",
        metavar="tcp://host:port",
        help="address of a running Dask scheduler (implies --backend dask)",
    )
    p_swp.add_argument(
        "--no-progress", action="store_true", help="no cell count and no progress bar on stderr"
    )
    p_swp.add_argument(
        "--force",
        action="store_true",
        help="resume into a results file that holds rows of another grid, keeping them",
    )
    p_swp.add_argument(
        "--yes",
        action="store_true",
        help=f"run a grid of more than {CONFIRM_ABOVE:,} cells without asking (without a "
        "terminal, such a grid is refused unless --yes)",
    )
    p_swp.set_defaults(func=_cmd_sweep)


def _add_figures(sub: Any) -> None:
    p_fig = sub.add_parser(
        "figures",
        help="regenerate every figure from the experiment scripts",
        description="Run every experiment script of --experiments (each defines "
        "run(quick, results) returning named figures and tables), resuming from the results "
        "saved in --results, and save each figure as PNG and PDF, and each table as NAME.md, "
        "in --out. Timings: see the README.",
    )
    p_fig.add_argument(
        "--quick",
        action="store_true",
        help=f"smaller grids, figures in ./{QUICK_FIGURES} unless --out is given",
    )
    p_fig.add_argument(
        "--experiments", default="experiments", help="folder of scripts (default ./experiments)"
    )
    p_fig.add_argument(
        "--results", default="results", help="folder of sweep results (default ./results)"
    )
    p_fig.add_argument(
        "--out",
        help=f"output folder (default ./{FIGURES}, or ./{QUICK_FIGURES} with --quick)",
    )
    p_fig.add_argument(
        "--only", nargs="+", metavar="NAME", help="run only these experiments (script names)"
    )
    p_fig.set_defaults(func=_cmd_figures)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dlnsam`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ValueError as exc:
        print(f"dlnsam {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # Only an error about a named file (a user path) is a usage error; an
        # OSError without a file name is not the user's doing, so it propagates.
        if exc.filename is None:
            raise
        print(f"dlnsam {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
