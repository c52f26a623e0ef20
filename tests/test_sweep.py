"""The sweep engine: config validation, grid expansion, cells, backends, resume, interruption."""

from __future__ import annotations

import copy
import inspect
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import dlnsam
from dlnsam import _pool, sweep
from dlnsam.algorithms import FLOW_OPTIONS, option_names
from dlnsam.cli import main
from dlnsam.results import json_safe
from dlnsam.sweep import (
    SweepConfig,
    cell_id,
    expand,
    load_config,
    read_rows,
    results_file,
    resume,
    run_cell,
    run_sweep,
    runner,
)
from dlnsam.sweep import cells as sweep_cells
from dlnsam.sweep import config as sweep_config

REPO = Path(__file__).resolve().parents[1]
ADDED = sweep.ADDED_OPTIONS
PROBLEM = {"n": 10, "d": 12, "k": 2, "alpha": 0.1, "n_test": 50}

# A small grid touching every code path: GD, SGD (seeded batches), n-SAM with
# an lr decay, 1-SAM with a loss tolerance and an n-SAM flow, with every optional output.
SMALL = {
    "problem": {**PROBLEM, "seed": [0, 1]},
    "algorithm": [
        {"name": "gd", "lr": 0.1, "steps": 300},
        {"name": "sgd", "batch_size": 5, "lr": 0.1, "steps": 300},
        {"name": "n-sam", "rho": 0.1, "lr": 0.1, "steps": 300, "lr_decay": [100, 200]},
        {"name": "1-sam", "rho": [0.05, 0.1], "lr": 0.1, "steps": 300, "loss_tol": 1e-3},
        {"name": "n-sam", "mode": "flow", "rho": 0.2, "rtol": 1e-8, "t_max": 1e5},
    ],
    "outputs": {"history": True, "beta": True, "path_alpha": True},
}

# Slow-ish cells for the interruption tests: 12 cells of about 0.3 s each.
SLOW_TOML = """\
[problem]
n = 20
d = 30
k = 3
alpha = 0.05
seed = [0, 1, 2, 3, 4, 5]

[[algorithm]]
name = "1-sam"
rho = [0.05, 0.1]
lr = 0.05
steps = 250000
"""


def config(**changes) -> dict:
    """A deep copy of SMALL with top-level sections replaced."""
    data = copy.deepcopy(SMALL)
    data.update(changes)
    return data


def without_seconds(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def by_cell_id(rows: list[dict]) -> list[dict]:
    return sorted(without_seconds(rows), key=lambda row: row["cell_id"])


def strict_json_lines(path: Path) -> list[dict]:
    """Parse a results file, rejecting the non-standard tokens NaN and Infinity."""

    def reject(token: str) -> None:
        raise AssertionError(f"invalid JSON token {token} in {path}")

    text = path.read_text()
    assert text.endswith("\n")
    return [json.loads(line, parse_constant=reject) for line in text.splitlines()]


# ---------------------------------------------------------------------------
# Config validation


def _algo(i: int, **changes) -> dict:
    """SMALL with [[algorithm]] #i+1 changed; a value None removes the key."""
    data = config()
    data["algorithm"][i].update(changes)
    for key, value in changes.items():
        if value is None:
            del data["algorithm"][i][key]
    return data


INVALID = [
    (config(problm={"n": 3}), r"unknown section or top-level key 'problm'; allowed: \[sweep\]"),
    (config(sweep={"ouput": "x"}), r"unknown key 'ouput' in \[sweep\]; allowed: output, backend"),
    (config(problem={**PROBLEM, "nn": 3}), r"unknown key 'nn' in \[problem\]; allowed: n, d"),
    (
        _algo(3, lrr=0.1),
        r"unknown key 'lrr' in \[\[algorithm\]\] #4 \(name = '1-sam'\); allowed: name, mode, rho",
    ),
    (config(outputs={"histroy": True}), r"unknown key 'histroy' in \[outputs\]"),
    (config(problem={**PROBLEM, "n": 2.5}), r"\[problem\] n must be an integer, got 2.5"),
    (config(problem={**PROBLEM, "k": [1, "2"]}), r"\[problem\] k must be an integer, got '2'"),
    (config(problem={**PROBLEM, "alpha": 0}), r"\[problem\] alpha must be > 0"),
    (config(problem={**PROBLEM, "correlation": 1.0}), r"\[problem\] correlation must be < 1"),
    (_algo(3, rho="0.1"), r"#4 \(name = '1-sam'\) rho must be a real number, got '0.1'"),
    (_algo(3, normalize=1), r"#4 \(name = '1-sam'\) normalize must be true or false"),
    (_algo(2, lr_decay=100), r"#3 \(name = 'n-sam'\) lr_decay must be a list of step indices"),
    (_algo(0, steps=[100, 100]), r"#1 \(name = 'gd'\) steps lists a value twice"),
    (config(outputs={"history": "yes"}), r"\[outputs\] history must be true or false"),
    (config(sweep={"backend": "threads"}), r"\[sweep\] backend must be one of"),
    (config(sweep={"workers": 0}), r"\[sweep\] workers must be >= 1"),
    (config(sweep={"scheduler": "tcp://h:1"}), r'\[sweep\] scheduler needs backend = "dask"'),
    (config(sweep={"output": 3}), r"\[sweep\] output must be a path string"),
    (_algo(0, name="adam"), r"#1: name must be one of \['1-sam', 'gd', 'm-sam', 'n-sam', 'sgd'\]"),
    (_algo(0, rho=0.1), r"#1 \(name = 'gd'\): algorithm 'gd' does not take option\(s\) \['rho'\]"),
    (_algo(3, m=2), r"#4 \(name = '1-sam'\): algorithm '1-sam' does not take option\(s\) \['m'\]"),
    (_algo(3, name="m-sam"), r"#4 \(name = 'm-sam'\): algorithm 'm-sam' needs option\(s\) \['m'\]"),
    (_algo(3, rho=-0.1), r"#4 \(name = '1-sam'\) rho must be >= 0, got -0.1"),
    (_algo(4, lr=0.1), r"key 'lr' is not allowed with mode = 'flow' in \[\[algorithm\]\] #5"),
    (_algo(0, rtol=1e-8), r"key 'rtol' is not allowed with mode = 'discrete'"),
    (_algo(4, name="sgd", rho=None), r"#5 \(name = 'sgd'\): a flow is deterministic"),
    (_algo(4, rtol=1e-16), r"#5 \(name = 'n-sam'\) rtol must be >= 1e-15"),
    (_algo(4, mode="continuous"), r"#5 \(name = 'n-sam'\): mode must be one of"),
    (_algo(0, steps=None), r"#1 \(name = 'gd'\) needs key\(s\) \['steps'\]"),
    (config(problem={k: v for k, v in PROBLEM.items() if k != "alpha"}), r"needs key\(s\)"),
    (config(problem={**PROBLEM, "seed": []}), r"\[problem\] seed is an empty list"),
    (_algo(3, rho=[]), r"#4 \(name = '1-sam'\) rho is an empty list"),
    (config(algorithm=[]), r"empty grid: no \[\[algorithm\]\] table"),
    (config(algorithm={"name": "gd"}), r"written \[\[algorithm\]\]"),
    (
        config(algorithm=[SMALL["algorithm"][0], SMALL["algorithm"][0]]),
        r"\[\[algorithm\]\] #1 and #2 give the same cell",
    ),
]


@pytest.mark.parametrize(("data", "match"), INVALID)
def test_invalid_configs_name_the_section_and_key(data: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SweepConfig.from_dict(data)


def test_load_config_reads_toml_and_resolves_the_output(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "sweep.toml"
    path.parent.mkdir()
    path.write_text(
        '[sweep]\noutput = "out/r.jsonl"\nworkers = 2\n'
        "[problem]\nn = 10\nd = 12\nk = 2\nalpha = 0.1\nseed = [0, 1]\nnoise = 0\n"
        '[[algorithm]]\nname = "1-sam"\nrho = [0.05, 0.1]\nlr = 0.1\nsteps = 10\n'
        '[[algorithm]]\nname = "gd"\nmode = "flow"\n'
    )
    cfg = load_config(path)
    assert cfg.output == path.parent / "out" / "r.jsonl"
    assert (cfg.workers, cfg.backend, cfg.size) == (2, None, 2 * (2 + 1))
    problem = dict(cfg.problem)
    assert problem["noise"] == (0.0,) and isinstance(problem["noise"][0], float)
    assert problem["n_test"] == (1000,)  # gaussian_problem's default
    flow_axes = dict(cfg.algorithms[1].axes)
    assert flow_axes == {"rtol": (1e-10,), "t_max": (1e6,)}  # dlnsam.flow's defaults

    path.write_text("[problem\nn = 1")
    with pytest.raises(ValueError, match=r"sweep.toml: invalid TOML"):
        load_config(path)
    path.write_text('[problem]\nn = 10\nd = 12\nk = 2\nalpha = 0.1\n[[algorithm]]\nname = "gd"\n')
    with pytest.raises(ValueError, match=r"sweep.toml: \[\[algorithm\]\] #1 \(name = 'gd'\) needs"):
        load_config(path)
    with pytest.raises(ValueError, match="no such file"):
        load_config(tmp_path / "missing.toml")


def test_the_example_config_is_valid() -> None:
    cfg = load_config(REPO / "experiments" / "example_sweep.toml")
    assert cfg.size == len(expand(cfg)) == 14
    assert cfg.output == REPO / "experiments" / "results" / "example_sweep.jsonl"


# ---------------------------------------------------------------------------
# Grid expansion and cell identifiers


def test_expand_is_the_ordered_product_of_the_axes() -> None:
    data = config()
    data["problem"]["noise"] = [0.0, 0.1]
    cfg = SweepConfig.from_dict(data)
    cells = expand(cfg)
    per_problem = 1 + 1 + 1 + 2 + 1
    assert len(cells) == cfg.size == 2 * 2 * per_problem
    assert expand(cfg) == cells
    assert [(c["seed"], c["noise"]) for c in cells[::per_problem]] == [
        (0, 0.0),
        (0, 0.1),
        (1, 0.0),
        (1, 0.1),
    ]
    assert [c["algorithm"] for c in cells[:per_problem]] == [
        "gd",
        "sgd",
        "n-sam",
        "1-sam",
        "1-sam",
        "n-sam",
    ]
    for cell in cells:
        assert tuple(cell) == sweep.CELL_KEYS
        json.dumps(cell, allow_nan=False)
    gd, sgd, nsam, one_sam, _, nsam_flow = cells[:per_problem]
    assert gd["rho"] is None and gd["lr"] == 0.1 and gd["rtol"] is None
    assert sgd["batch_size"] == 5 and nsam["lr_decay"] == [100, 200]
    assert (one_sam["rho"], one_sam["loss_tol"]) == (0.05, 1e-3)
    assert nsam_flow["mode"] == "flow" and nsam_flow["lr"] is None and nsam_flow["t_max"] == 1e5


def test_cell_id_is_stable_and_changes_with_every_parameter() -> None:
    cells = expand(SweepConfig.from_dict(config()))
    ids = [cell_id(cell) for cell in cells]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in ids)
    assert [cell_id(cell) for cell in expand(SweepConfig.from_dict(config()))] == ids
    # ... and in another process (no dependence on hash seeds or object ids)
    code = (
        "import json, sys\nfrom dlnsam.sweep import cell_id\n"
        "print(json.dumps([cell_id(c) for c in json.load(sys.stdin)]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(cells),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(out.stdout) == ids
    # Any changed parameter changes the identifier.
    cell = cells[3]
    for key in sweep.CELL_KEYS:
        value = cell[key]
        if isinstance(value, bool):
            changed = not value
        elif isinstance(value, (int, float)):
            changed = value + 1
        elif isinstance(value, list):
            changed = [*value, 299]
        elif isinstance(value, str):
            changed = value + "x"
        else:
            changed = 1
        assert cell_id({**cell, key: changed}) != ids[3], key
    # An integer written for a float parameter is the same cell.
    data = config()
    data["problem"]["noise"] = 0
    assert [cell_id(c) for c in expand(SweepConfig.from_dict(data))] == ids


# ---------------------------------------------------------------------------
# Algorithm options: read from dlnsam.algorithms, and files written before an
# option existed stay readable

#: The parameters of the first results files: a new option must not change
#: the identifier of a cell that does not set it.
FIRST_LAYOUT = (
    "n", "d", "k", "seed", "noise", "alpha", "correlation", "n_test", "algorithm", "mode",
    "rho", "m", "batch_size", "normalize", "lr", "steps", "lr_decay", "loss_tol", "rtol",
    "t_max", "store_history", "store_beta", "store_path_alpha",
)  # fmt: skip


def test_every_algorithm_option_is_a_sweep_key() -> None:
    names = option_names()
    assert set(sweep.OPTION_KEYS) == set(names)
    assert sweep.OPTION_KEYS[:4] == ("rho", "m", "batch_size", "normalize")  # the first order
    assert set(sweep.ADDED_OPTIONS) == set(names) - set(FIRST_LAYOUT)
    assert tuple(k for k in sweep.CELL_KEYS if k not in sweep.ADDED_OPTIONS) == FIRST_LAYOUT


@pytest.mark.parametrize("option", [o for o in option_names() if o not in FLOW_OPTIONS])
def test_a_flow_refuses_the_options_of_discrete_steps(option: str) -> None:
    data = _algo(4, **{option: 1})
    with pytest.raises(ValueError, match=f"key '{option}' is not allowed with mode = 'flow'"):
        SweepConfig.from_dict(data)


def test_cell_ids_of_the_first_layout_never_change() -> None:
    cfg = SweepConfig.from_dict({
        "problem": {"n": 10, "d": 12, "k": 2, "alpha": 0.1},
        "algorithm": [{"name": "1-sam", "rho": 0.1, "lr": 0.05, "steps": 100},
                      {"name": "gd", "mode": "flow"}],
    })  # fmt: skip
    cells = expand(cfg)
    assert [cell_id(c) for c in cells] == ["9c1c04d2ff027366", "d818a364d666db23"]
    assert [cell_id({k: c[k] for k in FIRST_LAYOUT}) for c in cells] == [cell_id(c) for c in cells]


@pytest.mark.skipif(not ADDED, reason="no algorithm option beyond the first four")
def test_added_options_are_axes_and_columns(tmp_path: Path) -> None:
    option = ADDED[0]
    value = _added_value(option)
    data = {
        "problem": dict(PROBLEM),
        "algorithm": [{"name": "1-sam", "rho": 0.1, "lr": 0.1, "steps": 50,
                       option: [value, _added_default(option)]}],
    }  # fmt: skip
    cfg = SweepConfig.from_dict(data)
    rows = run_sweep(cfg, output=tmp_path / "r.jsonl", backend="inprocess", progress=False).rows
    assert [row[option] for row in rows] == [value, _added_default(option)]
    assert all(row["status"] != "error" for row in rows), rows[0]["message"]
    # The row is the run of the algorithm with that option.
    problem = dlnsam.gaussian_problem(
        PROBLEM["n"], PROBLEM["d"], PROBLEM["k"], n_test=PROBLEM["n_test"], seed=0
    )
    algorithm = dlnsam.algorithm_from_name("1-sam", rho=0.1, **{option: value})
    res = dlnsam.run(problem, algorithm, lr=0.1, steps=50, alpha=PROBLEM["alpha"], seed=0)
    assert rows[0]["train_loss"] == res.train_loss
    # An explicit default is a cell of its own, apart from leaving the option out.
    assert cell_id(rows[1]) != cell_id({**rows[1], option: None})


@pytest.mark.skipif(not ADDED, reason="no algorithm option beyond the first four")
def test_a_file_from_before_the_added_options_resumes(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    cfg = SweepConfig.from_dict(config())
    first = run_sweep(cfg, output=out, backend="inprocess", progress=False)
    assert all(row[option] is None for row in first.rows for option in ADDED)
    # The same rows as the first layout wrote them: no column for an added option.
    old = [{k: v for k, v in row.items() if k not in ADDED} for row in first.rows]
    out.write_text("".join(json.dumps(row) + "\n" for row in old))
    assert read_rows(out) == old  # their cell_id is still that of their parameters
    again = run_sweep(cfg, output=out, backend="inprocess", progress=False)
    assert (again.n_skipped, again.n_run) == (cfg.size, 0)
    assert again.rows == old
    # A grid that sets an added option adds cells beside them, no --force needed.
    grown = config()
    grown["algorithm"].append(
        {"name": "gd", "lr": 0.1, "steps": 300, ADDED[0]: _added_value(ADDED[0])}
    )
    more = run_sweep(SweepConfig.from_dict(grown), output=out, backend="inprocess", progress=False)
    assert (more.n_skipped, more.n_run) == (cfg.size, 2)


def _added_default(option: str):
    for build in dlnsam.ALGORITHMS.values():
        parameter = inspect.signature(build).parameters.get(option)
        if parameter is not None and parameter.default is not inspect.Parameter.empty:
            return parameter.default
    raise AssertionError(f"{option} has no default")


def _added_value(option: str):
    """A value of the option other than its default."""
    default = _added_default(option)
    if isinstance(default, bool):
        return not default
    return 0.01 if isinstance(default, float) else default + 1


# ---------------------------------------------------------------------------
# run_cell


def _cell(**changes) -> dict:
    cells = expand(SweepConfig.from_dict(config()))
    return {**cells[0], **changes}


def test_run_cell_matches_a_direct_run_exactly() -> None:
    cell = _cell(
        seed=1,
        algorithm="1-sam",
        rho=0.1,
        steps=400,
        lr_decay=[200],
        loss_tol=1e-12,
    )
    row = run_cell(cell)
    p = dlnsam.gaussian_problem(10, 12, 2, n_test=50, seed=1)
    res = dlnsam.run(
        p, dlnsam.SAM(0.1, m=1), lr=0.1, steps=400, alpha=0.1, seed=1, lr_decay=[200],
        loss_tol=1e-12,
    )  # fmt: skip
    assert row["cell_id"] == cell_id(cell)
    assert {k: row[k] for k in sweep.CELL_KEYS} == cell
    assert row["status"] == res.status.value and row["message"] == res.message
    assert row["train_loss"] == res.train_loss and row["test_loss"] == res.test_loss
    assert row["integral_loss"] == res.integral_loss and row["n_steps"] == res.n_steps
    assert row["l1_norm"] == float(np.abs(res.beta).sum())
    assert row["support"] == dlnsam.support_recovery(res.beta, p.beta_star)
    star = np.linalg.norm(p.beta_star)
    assert row["dist_beta_star"] == float(np.linalg.norm(res.beta - p.beta_star)) / star
    assert row["beta"] == res.beta.tolist()
    assert row["history_steps"] == res.history.steps.tolist()
    assert row["history_train"] == res.history.train_loss.tolist()
    assert row["history_test"] == res.history.test_loss.tolist()
    fit = dlnsam.hypentropy.closest_alpha(p.X, p.y, res.beta)
    assert (row["alpha_path"], row["alpha_path_distance"]) == (fit.alpha, fit.distance)
    assert row["t_end"] is row["delta_l1"] is row["alpha_eff_geomean"] is None
    assert row["seconds"] > 0
    assert list(row) == [
        *sweep.CELL_KEYS,
        "cell_id",
        *sweep.METRIC_KEYS,
        "alpha_path",
        "alpha_path_distance",
        "history_steps",
        "history_train",
        "history_test",
        "beta",
        "seconds",
    ]

    # SGD draws its batches from the cell's seed.
    sgd = run_cell(
        _cell(seed=1, algorithm="sgd", batch_size=4, store_history=False, store_path_alpha=False)
    )
    res = dlnsam.run(p, dlnsam.SGD(4), lr=0.1, steps=300, alpha=0.1, seed=1)
    assert sgd["train_loss"] == res.train_loss and sgd["beta"] == res.beta.tolist()
    assert "history_steps" not in sgd and "alpha_path" not in sgd


def test_run_cell_matches_a_direct_flow_exactly() -> None:
    cell = _cell(
        algorithm="n-sam", mode="flow", rho=0.2, lr=None, steps=None, rtol=1e-8, t_max=1e5,
        store_history=False,
    )  # fmt: skip
    row = run_cell(cell)
    p = dlnsam.gaussian_problem(10, 12, 2, n_test=50, seed=0)
    res = dlnsam.flow(p, dlnsam.SAM(0.2), alpha=0.1, rtol=1e-8, t_max=1e5)
    assert row["status"] == res.status.value == "converged"
    assert row["t_end"] == res.t_end and row["n_steps"] is None
    assert row["train_loss"] == res.train_loss and row["integral_loss"] == res.integral_loss
    assert row["beta"] == res.beta.tolist()
    assert row["delta_l1"] == float(np.abs(res.delta).sum())
    assert row["alpha_eff_geomean"] == pytest.approx(
        float(np.exp(np.mean(np.log(res.alpha_eff)))), rel=1e-13
    )
    assert row["alpha_eff_geomean"] < 0.1  # SAM shrinks alpha

    # With history, the flow lands on log-spaced times and ends at t_end.
    row = run_cell({**cell, "store_history": True})
    res = dlnsam.flow(
        p, dlnsam.SAM(0.2), alpha=0.1, rtol=1e-8, t_max=1e5, times=sweep_cells._flow_times(1e5)
    )
    assert row["t_end"] == res.t_end and row["history_steps"][-1] == res.t_end
    assert row["history_train"][:-1] == res.history.train_loss.tolist()
    assert row["history_train"][-1] == res.train_loss
    assert len(row["history_steps"]) == len(row["history_test"]) > 50


def test_impossible_cells_are_rows_not_exceptions() -> None:
    row = run_cell(_cell(algorithm="m-sam", m=3, rho=0.1))
    assert row["status"] == "error"
    assert row["message"] == "ValueError: m = 3 does not divide the batch: n = 10"
    assert row["train_loss"] is None and row["beta"] is None and row["history_steps"] is None
    assert row["cell_id"] == cell_id(_cell(algorithm="m-sam", m=3, rho=0.1))
    row = run_cell(_cell(lr=5.0))
    assert row["status"] == "diverged" and row["message"].startswith("diverged at step")
    row = run_cell({"n": "twenty"})
    assert row["status"] == "error" and row["message"].startswith("KeyError")
    assert run_cell(None)["status"] == "error"  # type: ignore[arg-type]


def test_non_finite_values_are_written_as_null(tmp_path: Path) -> None:
    assert json_safe([np.nan, np.inf, -np.inf, np.float64(2.0), np.int64(3)]) == [
        None,
        None,
        None,
        2.0,
        3,
    ]
    # steps = 0 leaves beta = 0, which has no point on the hypentropy path (NaN).
    data = config(algorithm=[{"name": "gd", "lr": [0.1, 5.0], "steps": [0, 100]}])
    data["problem"]["n_test"] = 0
    data["algorithm"].append({"name": "m-sam", "m": 3, "rho": 0.1, "lr": 0.1, "steps": 10})
    out = tmp_path / "r.jsonl"
    res = run_sweep(SweepConfig.from_dict(data), output=out, backend="inprocess", progress=False)
    rows = strict_json_lines(out)
    assert len(rows) == res.n_cells == 2 * 5 and res.n_run == 10 and not res.interrupted
    assert res.n_failed == 2 * 2  # per seed: lr = 5 diverges, m = 3 does not divide n = 10
    statuses = [row["status"] for row in res.rows[:5]]
    assert statuses == ["max_steps", "max_steps", "max_steps", "diverged", "error"]
    zero = res.rows[0]
    assert zero["steps"] == 0 and zero["alpha_path"] is None and zero["test_loss"] is None
    assert zero["l1_norm"] == 0.0 and zero["dist_beta_star"] == 1.0
    assert by_cell_id(rows) == by_cell_id(res.rows) == by_cell_id(read_rows(out))


# ---------------------------------------------------------------------------
# Backends


@pytest.fixture(scope="module")
def small_reference(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("ref") / "inprocess.jsonl"
    res = run_sweep(
        SweepConfig.from_dict(config()), output=out, backend="inprocess", progress=False
    )
    assert res.n_run == res.n_cells == 12 and res.n_failed == 0
    assert {row["status"] for row in res.rows} == {"max_steps", "converged"}
    return res.rows


def test_processes_backend_gives_identical_rows(tmp_path: Path, small_reference) -> None:
    out = tmp_path / "processes.jsonl"
    cfg = SweepConfig.from_dict(config())
    res = run_sweep(cfg, output=out, backend="processes", workers=2, progress=False)
    assert without_seconds(res.rows) == without_seconds(small_reference)
    assert by_cell_id(strict_json_lines(out)) == by_cell_id(small_reference)


def test_dask_backend_gives_identical_rows(tmp_path: Path, small_reference) -> None:
    pytest.importorskip("distributed")
    out = tmp_path / "dask.jsonl"
    cfg = SweepConfig.from_dict(config())
    res = run_sweep(cfg, output=out, backend="dask", workers=2, progress=False)
    assert without_seconds(res.rows) == without_seconds(small_reference)
    assert by_cell_id(strict_json_lines(out)) == by_cell_id(small_reference)


def test_a_dead_worker_keeps_the_rows_and_says_how_to_resume(tmp_path, monkeypatch) -> None:
    def one_row_then_death(fn, items, workers, **kwargs):
        yield 0, fn(next(iter(items)))
        raise _pool.WorkerDiedError("a worker process died")

    monkeypatch.setattr(_pool, "imap_unordered", one_row_then_death)
    out = tmp_path / "r.jsonl"
    cfg = SweepConfig.from_dict(config())
    with pytest.raises(RuntimeError, match="rows written so far are kept: run the sweep again"):
        run_sweep(cfg, output=out, backend="processes", workers=2, progress=False)
    assert len(read_rows(out)) == 1


def test_dask_backend_without_dask_says_what_to_install(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    out = tmp_path / "r.jsonl"
    with pytest.raises(ImportError, match=r"pip install 'dlnsam\[dask\]'"):
        run_sweep(SweepConfig.from_dict(config()), output=out, backend="dask", progress=False)
    assert not out.exists()


def test_run_settings_override_the_config(tmp_path: Path) -> None:
    cfg = SweepConfig.from_dict(config(sweep={"backend": "dask", "scheduler": "tcp://h:1"}))
    resolve = runner._settings
    assert resolve(cfg, tmp_path, None, None, None)[1:] == ("dask", os.cpu_count(), "tcp://h:1")
    assert resolve(cfg, tmp_path, "processes", 3, None)[1:] == ("processes", 3, None)
    assert resolve(cfg, tmp_path, None, 2, None)[1:] == ("dask", 2, None)  # a LocalCluster
    assert resolve(cfg, tmp_path, None, None, "tcp://x:2")[1:] == (
        "dask",
        os.cpu_count(),
        "tcp://x:2",
    )
    with pytest.raises(ValueError, match="scheduler needs backend"):
        resolve(cfg, tmp_path, "processes", None, "tcp://x:2")
    with pytest.raises(ValueError, match="inprocess backend runs one cell at a time"):
        resolve(cfg, tmp_path, "inprocess", 2, None)
    with pytest.raises(ValueError, match="output: give"):
        resolve(cfg, None, None, None, None)


# ---------------------------------------------------------------------------
# Resume


def test_resume_skips_finished_cells_and_recomputes_a_torn_line(tmp_path, monkeypatch) -> None:
    out = tmp_path / "sub" / "r.jsonl"
    one_seed = config()
    one_seed["problem"]["seed"] = 0
    first = run_sweep(
        SweepConfig.from_dict(one_seed), output=out, backend="inprocess", progress=False
    )
    assert (first.n_cells, first.n_run, first.n_skipped) == (6, 6, 0)
    lines = out.read_bytes().splitlines(keepends=True)

    calls = []
    monkeypatch.setattr(sweep_cells, "run_cell", lambda cell: calls.append(cell) or run_cell(cell))
    cfg = SweepConfig.from_dict(config())  # seeds [0, 1]
    second = run_sweep(cfg, output=out, backend="inprocess", progress=False)
    assert (second.n_cells, second.n_run, second.n_skipped, second.n_torn) == (12, 6, 6, 0)
    assert [cell["seed"] for cell in calls] == [1] * 6
    assert out.read_bytes().splitlines(keepends=True)[:6] == lines  # untouched
    assert second.rows[:6] == first.rows  # the same rows, `seconds` included
    assert [row["seed"] for row in second.rows] == [0] * 6 + [1] * 6

    # A torn last line (the writer was killed mid-write) is truncated and rerun.
    data = out.read_bytes()
    out.write_bytes(data[: data.rfind(b"\n", 0, -1) + 40])
    assert len(read_rows(out)) == 11
    calls.clear()
    third = run_sweep(cfg, output=out, backend="inprocess", progress=False)
    assert (third.n_run, third.n_skipped, third.n_torn) == (1, 11, 1)
    assert len(calls) == 1 and cell_id(calls[0]) == second.rows[-1]["cell_id"]
    assert out.read_bytes()[: data.rfind(b"\n", 0, -1) + 1] == data[: data.rfind(b"\n", 0, -1) + 1]
    assert by_cell_id(strict_json_lines(out)) == by_cell_id(second.rows)
    assert "torn last line" in third.summary()

    # Finished: nothing to do, no worker started.
    calls.clear()
    again = run_sweep(cfg, output=out, backend="processes", progress=False)
    assert (again.n_run, again.n_skipped, calls) == (0, 12, [])


def test_rows_of_another_config_are_kept_and_not_skipped_when_forced(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    other = config(algorithm=[{"name": "gd", "lr": 0.2, "steps": 50}])
    run_sweep(SweepConfig.from_dict(other), output=out, backend="inprocess", progress=False)
    res = run_sweep(
        SweepConfig.from_dict(config()), output=out, backend="inprocess", progress=False, force=True
    )
    assert (res.n_cells, res.n_run, res.n_skipped) == (12, 12, 0)
    assert len(res.rows) == 14 and [row["lr"] for row in res.rows[12:]] == [0.2, 0.2]


def test_a_corrupt_line_is_an_error_not_data_loss(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    row = json.dumps({"n": 1, "cell_id": cell_id({"n": 1})})
    out.write_text(f"{row}\nnot json\n{row}\n")
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        run_sweep(SweepConfig.from_dict(config()), output=out, backend="inprocess", progress=False)
    assert out.read_text().count("\n") == 3


# ---------------------------------------------------------------------------
# Interruption

# The in-process tests signal the test process itself, which is only safe when
# run_sweep can install its handlers (in the main thread).
main_thread_only = pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signal handlers can only be installed in the main thread",
)


@main_thread_only
def test_sigterm_in_process_stops_after_the_current_cell(tmp_path, monkeypatch) -> None:
    previous = signal.getsignal(signal.SIGTERM)
    calls, slept = [], []

    def second_cell_is_killed(cell):
        calls.append(cell)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(60)  # the handler interrupts this
            slept.append(cell)
        return run_cell(cell)

    monkeypatch.setattr(sweep_cells, "run_cell", second_cell_is_killed)
    out = tmp_path / "r.jsonl"
    cfg = SweepConfig.from_dict(config())
    res = run_sweep(cfg, output=out, backend="inprocess", progress=False)
    assert not slept, "SIGTERM did not interrupt the running cell"
    assert res.interrupted and (res.n_run, len(calls), len(read_rows(out))) == (1, 2, 1)
    assert signal.getsignal(signal.SIGTERM) is previous
    assert "Interrupted with 11 cells to go" in res.summary()


@main_thread_only
def test_a_signal_during_a_write_waits_for_the_row(tmp_path, monkeypatch) -> None:
    write = results_file.write_row

    def signalled_write(fh, row):
        os.kill(os.getpid(), signal.SIGTERM)
        write(fh, row)

    monkeypatch.setattr(results_file, "write_row", signalled_write)
    out = tmp_path / "r.jsonl"
    res = run_sweep(
        SweepConfig.from_dict(config()), output=out, backend="inprocess", progress=False
    )
    assert res.interrupted and res.n_run == 1 and len(strict_json_lines(out)) == 1


def test_an_interrupted_run_is_not_a_row(tmp_path, monkeypatch) -> None:
    # The inprocess backend's run() catches Ctrl-C itself and returns "interrupted".
    monkeypatch.setattr(
        sweep_cells, "run_cell", lambda cell: {**run_cell(cell), "status": "interrupted"}
    )
    out = tmp_path / "r.jsonl"
    res = run_sweep(
        SweepConfig.from_dict(config()), output=out, backend="inprocess", progress=False
    )
    assert res.interrupted and res.n_run == 0 and out.read_bytes() == b""


@pytest.fixture(scope="module")
def slow_sweep(tmp_path_factory) -> tuple[Path, list[dict]]:
    """The slow config and its rows from an uninterrupted sweep."""
    folder = tmp_path_factory.mktemp("slow")
    path = folder / "slow.toml"
    path.write_text(SLOW_TOML)
    res = run_sweep(path, output=folder / "reference.jsonl", workers=2, progress=False)
    assert res.n_run == 12 and not res.interrupted
    return path, res.rows


def signal_cli_sweep(
    config_path: Path, out: Path, signum: signal.Signals, sigint: str
) -> tuple[subprocess.CompletedProcess, float]:
    """Run the sweep CLI on 2 workers and send `signum` once 2 rows are written.

    The CLI starts with SIGINT's disposition `sigint` ("SIG_DFL" or "SIG_IGN"),
    whatever the test runner's own: a shell without job control starts a
    background job with SIGINT ignored, and an ignored signal stays ignored
    across exec. SIGINT goes to the whole process group, as Ctrl-C in a
    terminal; SIGTERM to the coordinator alone, as `kill`. Returns the finished
    process and the seconds from the signal to its exit.
    """
    launcher = (
        f"import os, signal, sys; signal.signal(signal.SIGINT, signal.{sigint}); "
        "os.execv(sys.executable, [sys.executable, '-m', 'dlnsam.cli', *sys.argv[1:]])"
    )
    command = [
        sys.executable, "-c", launcher, "sweep", str(config_path), "--output", str(out),
        "--backend", "processes", "--workers", "2", "--no-progress",
    ]  # fmt: skip
    # A session of its own, so that the group is the CLI and its workers only.
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        started = time.perf_counter()
        while not (out.exists() and out.read_bytes().count(b"\n") >= 2):
            assert proc.poll() is None, proc.communicate()
            assert time.perf_counter() - started < 60, "no rows after 60 s"
            time.sleep(0.02)
        signalled = time.perf_counter()
        if signum == signal.SIGINT:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=30)
        stopped = time.perf_counter()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    print(
        f"{signum.name} ({sigint}): 2 rows after {signalled - started:.2f} s, "
        f"exit {stopped - signalled:.2f} s after the signal"
    )
    done = subprocess.CompletedProcess(command, proc.returncode, stdout, stderr)
    return done, stopped - signalled


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_an_interrupted_cli_sweep_resumes_to_the_same_table(tmp_path, slow_sweep, signum) -> None:
    config_path, reference = slow_sweep
    out = tmp_path / "interrupted.jsonl"
    proc, seconds = signal_cli_sweep(config_path, out, signum, sigint="SIG_DFL")
    assert proc.returncode == 130, proc.stderr
    assert "Interrupted with" in proc.stdout and "Traceback" not in proc.stderr
    assert seconds < 10
    written = out.read_bytes()
    assert 2 <= written.count(b"\n") < 12
    complete = written[: written.rfind(b"\n") + 1]

    res = run_sweep(config_path, output=out, workers=2, progress=False)
    assert not res.interrupted and res.n_skipped == written.count(b"\n")
    assert res.n_run == 12 - res.n_skipped
    assert out.read_bytes().startswith(complete)
    assert by_cell_id(strict_json_lines(out)) == by_cell_id(reference)


def test_an_ignored_sigint_stays_ignored(tmp_path, slow_sweep) -> None:
    # As in a background job of a shell script (`cmd &`): the sweep runs on.
    config_path, reference = slow_sweep
    out = tmp_path / "ignored.jsonl"
    proc, _ = signal_cli_sweep(config_path, out, signal.SIGINT, sigint="SIG_IGN")
    assert proc.returncode == 0, proc.stderr
    assert "Interrupted" not in proc.stdout and proc.stderr == ""
    assert by_cell_id(strict_json_lines(out)) == by_cell_id(reference)


# ---------------------------------------------------------------------------
# Command line


def test_cli_help_lists_the_options(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["sweep", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in (
        "CONFIG.toml",
        "--output",
        "--backend",
        "--workers",
        "--scheduler",
        "--no-progress",
    ):
        assert option in out


def test_cli_runs_a_sweep_and_prints_a_summary(tmp_path: Path, capsys) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        '[sweep]\noutput = "r.jsonl"\nbackend = "processes"\n'
        "[problem]\nn = 10\nd = 12\nk = 2\nalpha = 0.1\nseed = [0, 1]\n"
        '[[algorithm]]\nname = "1-sam"\nrho = [0.05, 0.1]\nlr = 0.1\nsteps = 100\n'
        '[[algorithm]]\nname = "m-sam"\nm = 3\nrho = 0.1\nlr = 0.1\nsteps = 100\n'
    )
    assert main(["sweep", str(path), "--backend", "inprocess"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"Sweep of 6 cells into {tmp_path / 'r.jsonl'}: 6 run in ")
    assert "0 skipped (already in the file), 2 failed (status error, diverged" in captured.out
    assert "6/6" in captured.err  # the progress bar
    other = tmp_path / "other.jsonl"
    assert (
        main(["sweep", str(path), "--output", str(other), "--no-progress", "--workers", "2"]) == 0
    )
    captured = capsys.readouterr()
    assert f"into {other}: 6 run" in captured.out and captured.err == ""
    assert by_cell_id(read_rows(other)) == by_cell_id(read_rows(tmp_path / "r.jsonl"))

    assert main(["sweep", str(path), "--no-progress"]) == 0  # all done
    assert ": 0 run in" in capsys.readouterr().out

    assert main(["sweep", str(path), "--backend", "inprocess", "--workers", "2"]) == 2
    assert "inprocess backend runs one cell at a time" in capsys.readouterr().err
    path.write_text(path.read_text().replace("lr = 0.1\nsteps = 100\n", "lrr = 0.1\n", 1))
    assert main(["sweep", str(path)]) == 2
    assert "unknown key 'lrr' in [[algorithm]] #1 (name = '1-sam')" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# The results file: one sweep at a time, checked before any cell runs

TINY = {
    "problem": {**PROBLEM, "seed": [0, 1]},
    "algorithm": [{"name": "n-sam", "rho": 0.1, "lr": 0.1, "steps": 20}],
}
TINY_TOML = """\
[problem]
n = 10
d = 12
k = 2
alpha = 0.1
n_test = 50
seed = [0, 1]

[[algorithm]]
name = "n-sam"
rho = 0.1
lr = 0.1
steps = 20
"""


def no_cell_may_run(monkeypatch) -> None:
    def refuse(cell):
        raise AssertionError("a cell ran")

    monkeypatch.setattr(sweep_cells, "run_cell", refuse)


def cli_error(capsys, argv: list[str]) -> str:
    """Run the CLI, expecting exit 2 with one line on stderr; return that line."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("dlnsam sweep: error: ") and err.count("\n") == 1, err
    return err


def test_a_second_sweep_on_a_file_in_use_refuses_before_running(
    tmp_path, monkeypatch, capsys
) -> None:
    import fcntl

    out = tmp_path / "r.jsonl"
    toml = tmp_path / "tiny.toml"
    toml.write_text(TINY_TOML)
    cfg = SweepConfig.from_dict(TINY)
    with out.open("ab") as held:  # another sweep holds the file
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        no_cell_may_run(monkeypatch)
        with pytest.raises(ValueError, match=f"output '{out}' is in use by another sweep"):
            run_sweep(cfg, output=out, backend="inprocess", progress=False)
        err = cli_error(
            capsys, ["sweep", str(toml), "--output", str(out), "--backend", "inprocess"]
        )
        assert f"'{out}' is in use by another sweep" in err
        assert out.read_bytes() == b""
    monkeypatch.undo()
    # Released by the refused calls, and by a finished one.
    assert run_sweep(cfg, output=out, backend="inprocess", progress=False).n_run == 2
    assert run_sweep(cfg, output=out, backend="inprocess", progress=False).n_skipped == 2


def test_a_file_system_without_locks_gives_a_warning(tmp_path, monkeypatch) -> None:
    import errno
    import fcntl

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    out = tmp_path / "r.jsonl"
    with pytest.warns(RuntimeWarning, match="does not support locks"):
        res = run_sweep(
            SweepConfig.from_dict(TINY), output=out, backend="inprocess", progress=False
        )
    assert res.n_run == 2


@pytest.mark.parametrize("case", ["directory", "under a file", "under /proc", "read-only"])
def test_cli_checks_the_output_before_running(tmp_path, monkeypatch, capsys, case) -> None:
    toml = tmp_path / "tiny.toml"
    toml.write_text(TINY_TOML)
    if case == "directory":
        out, expected = tmp_path, "is a directory"
    elif case == "under a file":
        out, expected = toml / "sub" / "r.jsonl", f"'{toml}' is a file, not a directory"
    elif case == "under /proc":
        if not os.path.isdir("/proc/self"):
            pytest.skip("no /proc file system")
        out, expected = Path("/proc/dlnsam-sweep-test/r.jsonl"), "cannot be written"
    else:
        if os.geteuid() == 0:
            pytest.skip("root may write into a read-only folder; see the /proc case")
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o500)
        out, expected = folder / "r.jsonl", "is not writable"
    no_cell_may_run(monkeypatch)
    err = cli_error(capsys, ["sweep", str(toml), "--output", str(out), "--backend", "inprocess"])
    assert expected in err


def test_cli_refuses_a_config_that_is_a_directory(tmp_path, capsys) -> None:
    err = cli_error(capsys, ["sweep", str(tmp_path), "--output", str(tmp_path / "r.jsonl")])
    assert f"'{tmp_path}' is a directory, not a TOML file" in err


def written_tiny(tmp_path: Path) -> tuple[Path, list[str]]:
    out = tmp_path / "r.jsonl"
    run_sweep(SweepConfig.from_dict(TINY), output=out, backend="inprocess", progress=False)
    return out, out.read_text().splitlines(keepends=True)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda row: row.pop("cell_id"), r"line 2 has no cell_id \(got None\)"),
        (lambda row: row.update(cell_id=12), r"line 2 has no cell_id \(got 12\)"),
        (lambda row: row.update(rho=0.3), r"line 2 has cell_id '\w+', which is not the identif"),
        (lambda row: row.update(cell_id="0123456789abcdef"), r"line 2 has cell_id '0123456789"),
    ],
    ids=["missing", "not a string", "edited parameters", "forged"],
)
def test_rows_without_their_own_cell_id_are_refused(tmp_path, monkeypatch, change, match) -> None:
    out, lines = written_tiny(tmp_path)
    row = json.loads(lines[1])
    change(row)
    lines[1] = json.dumps(row) + "\n"
    out.write_text("".join(lines))
    no_cell_may_run(monkeypatch)
    with pytest.raises(ValueError, match=match):
        run_sweep(SweepConfig.from_dict(TINY), output=out, backend="inprocess", progress=False)
    with pytest.raises(ValueError, match=match):
        read_rows(out)
    assert out.read_text() == "".join(lines)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b'{"cell_id": "a\x00"}\n', "line 2 contains a NUL byte"),
        (b'{"cell_id": "\xff\xfe"}\n', "line 2 is not valid UTF-8 text"),
    ],
    ids=["NUL", "not UTF-8"],
)
def test_binary_lines_name_the_cause(tmp_path, data, match) -> None:
    out, lines = written_tiny(tmp_path)
    out.write_bytes(lines[0].encode() + data)
    with pytest.raises(ValueError, match=match) as exc:
        run_sweep(SweepConfig.from_dict(TINY), output=out, backend="inprocess", progress=False)
    assert "codec" not in str(exc.value)


def test_a_changed_grid_refuses_the_file_unless_forced(tmp_path, monkeypatch, capsys) -> None:
    toml = tmp_path / "tiny.toml"
    toml.write_text(TINY_TOML)
    out = tmp_path / "r.jsonl"
    assert main(["sweep", str(toml), "--output", str(out), "--no-progress"]) == 0
    before = out.read_bytes()
    capsys.readouterr()
    # The same grid with other run settings is the same sweep.
    assert main(["sweep", str(toml), "--output", str(out), "--backend", "inprocess"]) == 0
    assert ": 0 run in" in capsys.readouterr().out

    toml.write_text(TINY_TOML.replace("rho = 0.1", "rho = 0.2"))
    calls = []
    monkeypatch.setattr(sweep_cells, "run_cell", lambda cell: calls.append(cell) or run_cell(cell))
    argv = ["sweep", str(toml), "--output", str(out), "--backend", "inprocess", "--no-progress"]
    err = cli_error(capsys, argv)
    assert "holds 2 row(s) that are not cells of this configuration" in err
    assert "rho = 0.1" in err and "--force" in err
    assert out.read_bytes() == before and calls == []

    assert main([*argv, "--force"]) == 0
    rows = read_rows(out)
    assert [row["rho"] for row in rows] == [0.1, 0.1, 0.2, 0.2] and len(calls) == 2


# ---------------------------------------------------------------------------
# Large grids


def big_grid(n_seeds: int, n_rhos: int) -> dict:
    return {
        "problem": {**PROBLEM, "seed": list(range(n_seeds))},
        "algorithm": [
            {"name": "n-sam", "rho": [0.01 * (i + 1) for i in range(n_rhos)], "lr": 0.1,
             "steps": 20},
            {"name": "n-sam", "rho": 0.2, "lr": 0.1, "steps": 30},
        ],
    }  # fmt: skip


def count_cells_made(monkeypatch) -> list[int]:
    made = [0]
    make = sweep_config._make_cell

    def counted(*args, **kwargs):
        made[0] += 1
        return make(*args, **kwargs)

    monkeypatch.setattr(sweep_config, "_make_cell", counted)
    return made


def test_a_large_grid_is_built_lazily(monkeypatch) -> None:
    made = count_cells_made(monkeypatch)
    cfg = SweepConfig.from_dict(big_grid(10_000, 99))
    first = next(sweep.iter_cells(cfg))
    assert made[0] < 10  # not one per cell of the grid
    assert cfg.size == 1_000_000 and (first["seed"], first["rho"]) == (0, 0.01)
    # Duplicates across tables are still found without expanding the grid.
    dup = big_grid(10_000, 99)
    dup["algorithm"][1]["steps"] = 20
    with pytest.raises(ValueError, match=r"#1 and #2 give the same cell .*'rho': 0.2"):
        SweepConfig.from_dict(dup)


def test_cells_are_placed_in_the_grid_without_expanding_it() -> None:
    for data in (config(), big_grid(3, 4)):
        cfg = SweepConfig.from_dict(data)
        position = resume.CellPositions(cfg)
        cells = expand(cfg)
        assert [position(cell) for cell in cells] == list(range(cfg.size))
        assert position({**cells[-1], "cell_id": "x", "status": "ok"}) == cfg.size - 1
        for key, value in [("rho", 0.123), ("seed", 7), ("lr_decay", [5]), ("store_beta", 1)]:
            assert position({**cells[-1], key: value}) is None
        assert position({k: v for k, v in cells[0].items() if k != "t_max"}) is None


def test_a_large_grid_needs_confirmation(tmp_path, monkeypatch, capsys) -> None:
    toml = tmp_path / "big.toml"
    toml.write_text(TINY_TOML.replace("seed = [0, 1]", f"seed = {list(range(1001))}").replace(
        "rho = 0.1", f"rho = {[0.01 * (i + 1) for i in range(100)]}"
    ))  # fmt: skip
    out = tmp_path / "r.jsonl"
    no_cell_may_run(monkeypatch)
    made = count_cells_made(monkeypatch)
    err = cli_error(capsys, ["sweep", str(toml), "--output", str(out), "--backend", "inprocess"])
    assert made[0] < 10  # refused before the grid is built
    assert "the grid has 100,100 cells, more than 100,000: pass --yes" in err
    asked = []
    with pytest.raises(ValueError, match="100,100 cells"):
        run_sweep(
            toml,
            output=out,
            backend="inprocess",
            progress=False,
            confirm=lambda n: asked.append(n) or False,
        )
    assert asked == [100_100] and not out.exists()


def test_a_large_grid_asks_at_a_terminal(tmp_path, monkeypatch, capsys) -> None:
    toml = tmp_path / "big.toml"
    toml.write_text(TINY_TOML.replace("seed = [0, 1]", f"seed = {list(range(100_001))}"))

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    no_cell_may_run(monkeypatch)
    argv = ["sweep", str(toml), "--output", str(tmp_path / "r.jsonl"), "--backend", "inprocess"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("dlnsam sweep: run all 100,001 cells? [y/N] dlnsam sweep: error: ")

    class Interrupted(Terminal):
        def readline(self, *args: object) -> str:
            raise KeyboardInterrupt

    monkeypatch.setattr(sys, "stdin", Interrupted())
    assert main(argv) == 2  # Ctrl-C at the prompt is a no, not a traceback
    assert "Traceback" not in capsys.readouterr().err


def test_a_sweep_prints_its_cell_count_and_name(tmp_path, capsys) -> None:
    toml = tmp_path / "tiny.toml"
    toml.write_text(TINY_TOML)
    run_sweep(toml, output=tmp_path / "r.jsonl", backend="inprocess")
    err = capsys.readouterr().err
    assert err.startswith(f"tiny: 2 cells, results in {tmp_path / 'r.jsonl'}\n")
    assert "tiny: 100%" in err and "sweep:" not in err
    run_sweep(SweepConfig.from_dict(TINY), output=tmp_path / "r.jsonl", label="my experiment")
    assert "my experiment: 2 cells" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["generalization", "loss_curves", "implicit_bias", "m_sharpness"])
def test_experiments_name_their_progress_bars(name: str, tmp_path, monkeypatch) -> None:
    from dlnsam.cli import _load_experiment

    # The scripts of this checkout (the package itself may be installed elsewhere).
    folder = Path(__file__).resolve().parents[1] / "experiments"
    module = _load_experiment(folder / f"{name}.py")
    labels = []

    def record(config, **options):
        labels.append(options.get("label"))
        raise StopIteration  # the label is all this test needs

    monkeypatch.setattr(module, "run_sweep", record)
    with pytest.raises(StopIteration):
        module.run(True, tmp_path)
    assert labels == [name]


# ---------------------------------------------------------------------------
# A killed coordinator


def _children(pid: int) -> dict[int, str]:
    """The live (non-zombie) child processes of `pid` and their command lines."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        state, ppid = text[text.rindex(")") + 2 :].split()[:2]
        if int(ppid) == pid and state != "Z":
            out[int(stat.parent.name)] = command
    return out


def _alive(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text[text.rindex(")") + 2] != "Z"


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs the /proc file system")
def test_workers_and_resource_tracker_exit_when_the_coordinator_is_killed(tmp_path) -> None:
    toml = tmp_path / "slow.toml"
    toml.write_text(SLOW_TOML.replace("steps = 250000", "steps = 100000000"))
    command = [
        sys.executable, "-m", "dlnsam.cli", "sweep", str(toml), "--output",
        str(tmp_path / "r.jsonl"), "--backend", "processes", "--workers", "2", "--no-progress",
    ]  # fmt: skip
    proc = subprocess.Popen(command, stderr=subprocess.DEVNULL, start_new_session=True)
    children: dict[int, str] = {}
    try:
        started = time.perf_counter()
        while sum("spawn_main" in c for c in children.values()) < 2:
            assert proc.poll() is None and time.perf_counter() - started < 30
            time.sleep(0.05)
            children = _children(proc.pid)
        assert any("resource_tracker" in c for c in children.values()), children
        time.sleep(0.5)  # the workers are past their start
        proc.kill()
        proc.wait()
        killed = time.perf_counter()
        while any(_alive(pid) for pid in children) and time.perf_counter() - killed < 5:
            time.sleep(0.05)
        left = {pid: children[pid] for pid in children if _alive(pid)}
        assert not left, f"still running 5 s after the coordinator was killed: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in children:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
