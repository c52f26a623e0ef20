"""Bad-input probe of dlnsam: API cases, CLI cases, sweep faults, determinism, fuzzed runs.

Usage: ``python tools/probe_inputs.py SCRATCH_DIR`` (``PROBE_FUZZ=N`` sets the
number of fuzzed runs, 300 by default). It imports the installed dlnsam,
writes its scratch files under SCRATCH_DIR, and prints the number of cases per
category and every failure: a bad input that is accepted, or refused without
naming the argument; an exception other than ValueError/TypeError; a CLI
mistake that gives a traceback or an exit code other than 2; NaN under a
status other than ``diverged``; a seeded run that does not repeat to the bit.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

import dlnsam
from dlnsam import GD, SAM, SGD, flow, gaussian_problem, load_problem, run
from dlnsam.cli import main as cli_main

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())
OUT.mkdir(parents=True, exist_ok=True)
failures: list[str] = []
counts: dict[str, int] = {}


def count(cat):
    counts[cat] = counts.get(cat, 0) + 1


P = gaussian_problem(20, 30, 3, seed=0)
PN = gaussian_problem(40, 10, 3, seed=0, noise=0.5)


def api_case(name, fn, must_name=None):
    """A bad input: must raise ValueError/TypeError naming the argument."""
    count("api")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fn()
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        if must_name and must_name not in msg:
            failures.append(f"api {name}: message does not name {must_name!r}: {msg}")
        return
    except Exception as exc:
        failures.append(f"api {name}: {type(exc).__name__}: {exc}")
        return
    failures.append(f"api {name}: accepted")


def status_case(name, fn):
    """A legal but extreme input: must not return NaN under a non-diverged status,
    nor blame a wrong argument; ValueError refusals are fine."""
    count("api-extreme")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            res = fn()
    except ValueError:
        return
    except Exception as exc:
        failures.append(f"extreme {name}: {type(exc).__name__}: {exc}")
        return
    finite = np.all(np.isfinite(res.beta)) and np.isfinite(res.train_loss)
    if not finite and res.status.value != "diverged":
        failures.append(f"extreme {name}: non-finite under {res.status.value}")
    return res


if __name__ == "__main__":
    # ---- API: problems
    for seed in [None, -1, "abc", 1.5, True, np.nan]:
        api_case(
            f"gaussian seed={seed!r}", lambda s=seed: gaussian_problem(20, 30, 3, seed=s), "seed"
        )
    for kw, bad in [
        ("n", 0),
        ("n", -3),
        ("n", 2.5),
        ("n", "a"),
        ("d", 0),
        ("d", 1.5),
        ("k", -1),
        ("k", 31),
        ("k", 2.5),
        ("n_test", -1),
        ("n_test", 1.5),
        ("noise", -1.0),
        ("noise", np.nan),
        ("noise", np.inf),
        ("correlation", 1.0),
        ("correlation", -0.1),
        ("correlation", np.nan),
        ("beta_scale", np.nan),
        ("beta_scale", -1.0),
    ]:
        def f(kw=kw, bad=bad):
            a = {"n": 20, "d": 30, "k": 3}
            if kw in a:
                a[kw] = bad
                return gaussian_problem(a["n"], a["d"], a["k"])
            return gaussian_problem(20, 30, 3, **{kw: bad})

        api_case(f"gaussian {kw}={bad!r}", f, kw)

    X = np.random.default_rng(0).standard_normal((5, 4))
    y = np.ones(5)
    for name, kwargs, arg in [
        ("complex X", {"X": X + 1j, "y": y}, "X"),
        ("complex y", {"X": X, "y": y + 1j}, "y"),
        ("nan X", {"X": np.where(X > 1, np.nan, X), "y": y}, "X"),
        ("inf y", {"X": X, "y": np.r_[np.inf, y[1:]]}, "y"),
        ("1d X", {"X": y, "y": y}, "X"),
        ("bad y len", {"X": X, "y": y[:3]}, "y"),
        ("str X", {"X": np.array([["a"] * 4] * 5), "y": y}, "X"),
        ("object X", {"X": np.array([[object()] * 4] * 5), "y": y}, "X"),
        ("empty X", {"X": np.zeros((0, 4)), "y": np.zeros(0)}, "X"),
    ]:
        api_case(f"Problem {name}", lambda kw=kwargs: dlnsam.Problem(**kw), arg)

    count("api")
    Xc = np.ascontiguousarray(X)
    dlnsam.Problem(X=Xc, y=y.copy())
    if not Xc.flags.writeable:
        failures.append("api Problem made caller's X read-only")

    # ---- API: loaders
    files = {
        "nonnum_first.csv": "1,2,abc\n4,5,6\n7,8,9\n",
        "bom.csv": "\ufeff1,2,3\n4,5,6\n7,8,9\n",
        "header_only.csv": "a,b,c\n",
        "ragged.csv": "1,2,3\n4,5\n",
        "empty.csv": "",
        "midtext.csv": "1,2,3\n4,x,6\n",
        "text.npz": "hello, not a zip\n",
        "nan.csv": "1,2,3\nnan,5,6\n",
    }
    for fname, text in files.items():
        (OUT / fname).write_text(text, encoding="utf-8")
    (OUT / "garbage.csv").write_bytes(os.urandom(200))
    np.savez(OUT / "noX.npz", y=y)
    np.savez(OUT / "bad_shape.npz", X=X, y=y[:2])
    for fname in [
        "nonnum_first.csv",
        "header_only.csv",
        "ragged.csv",
        "empty.csv",
        "midtext.csv",
        "text.npz",
        "garbage.csv",
        "noX.npz",
        "bad_shape.npz",
        "missing.csv",
        "nan.csv",
        "missing.npz",
        ".",
    ]:
        api_case(f"load {fname}", lambda f=fname: load_problem(OUT / f), None)
    count("api")
    p_bom = load_problem(OUT / "bom.csv")
    if p_bom.n != 3:
        failures.append(f"api load bom.csv: n={p_bom.n}, expected 3")
    (OUT / "ok.csv").write_text("a,b,c\n1,2,3\n4,5,6\n")
    for t in [5, -4, "a", 1.5, True]:
        api_case(f"load target={t!r}", lambda t=t: load_problem(OUT / "ok.csv", target=t), "target")

    # ---- API: run / flow arguments
    bad_run = [
        ("lr", 0),
        ("lr", -1),
        ("lr", np.nan),
        ("lr", "a"),
        ("steps", -1),
        ("steps", 1.5),
        ("alpha", -1.0),
        ("alpha", np.nan),
        ("alpha", 0.0),
        ("seed", -1),
        ("seed", 1.5),
        ("loss_tol", -1.0),
        ("loss_tol", np.nan),
        ("record", [5, 3000]),
        ("lr_decay", [0]),
        ("alpha", np.ones(5)),
    ]
    for kw, bad in bad_run:

        def f(kw=kw, bad=bad):
            a = {"lr": 0.05, "steps": 100, "alpha": 0.05}
            a[kw] = bad
            return run(P, GD(), **a)

        api_case(f"run {kw}={bad!r}", f, kw)
    for kw, bad in [
        ("rtol", 0.0),
        ("rtol", -1.0),
        ("rtol", np.nan),
        ("rtol", 2.0),
        ("t_max", 0.0),
        ("t_max", np.nan),
        ("alpha", -1.0),
        ("method", "RK45"),
        ("max_steps", 0),
        ("loss_tol", -1.0),
    ]:

        def f(kw=kw, bad=bad):
            a = {"alpha": 0.05}
            a[kw] = bad
            return flow(P, GD(), **a)

        api_case(f"flow {kw}={bad!r}", f, kw)
    for kw, bad in [
        ("rho", -0.1),
        ("rho", np.nan),
        ("m", 0),
        ("m", 7),
        ("batch_size", 0),
        ("batch_size", 21),
        ("m", 1.5),
    ]:

        def f(kw=kw, bad=bad):
            a = {"rho": 0.1}
            a[kw] = bad
            alg = SAM(**a)
            return run(P, alg, lr=0.05, steps=10, alpha=0.05)

        api_case(f"SAM {kw}={bad!r}", f, kw)
    api_case("SGD batch 0", lambda: SGD(0), "batch_size")
    api_case("run problem=None", lambda: run(None, GD(), lr=0.05, steps=1, alpha=0.05), "problem")
    api_case("run algorithm=str", lambda: run(P, "gd", lr=0.05, steps=1, alpha=0.05), "algorithm")
    api_case("flow SGD", lambda: flow(P, SGD(5), alpha=0.05), None)

    # extremes
    for a in [1e-300, 1e-200, 1e-100, 1e-60, 1e-45, 1e-20, 1e3, 1e10, 1e100, 1e200]:
        for alg in [GD(), SAM(0.02), SAM(0.02, m=1)]:
            status_case(f"flow {alg.name} alpha={a:g}", lambda a=a, alg=alg: flow(P, alg, alpha=a))
            status_case(
                f"run {alg.name} alpha={a:g}",
                lambda a=a, alg=alg: run(P, alg, lr=0.05, steps=500, alpha=a),
            )
    for rtol in [0.5, 0.1, 0.03, 1e-2, 1e-3]:
        r = status_case(f"flow rtol={rtol}", lambda rtol=rtol: flow(P, GD(), alpha=0.05, rtol=rtol))
        count("api-extreme")
        if r is not None and r.status.value == "converged":
            l0 = P.train_loss(np.zeros(30) + 0)  # β0 = 0 for v0 = 0
            if r.train_loss > 1e-3 * l0:
                failures.append(
                    f"extreme flow rtol={rtol}: converged at L/L0 = {r.train_loss / l0:.3g}"
                )
    for lr in [1e300, 1e10]:
        count("api-extreme")
        r = run(P, GD(), lr=lr, steps=10, alpha=0.05)
        if r.status.value == "diverged" and "lr" not in r.message:
            failures.append(f"extreme run lr={lr}: message {r.message}")
    count("api-extreme")
    r = run(P, GD(), lr=0.05, steps=10, alpha=1e200)
    if r.status.value == "diverged" and "alpha" not in r.message:
        failures.append(f"extreme run alpha=1e200: message {r.message!r}")
    count("api-extreme")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            dlnsam.hypentropy.solve(P.X, P.y * 1e150, 0.05)
        except Exception as exc:
            failures.append(f"hypentropy y*1e150: {type(exc).__name__}: {exc}")

    # ---- CLI cases
    def cli(args, expect=(2,), cwd=None):
        count("cli")
        err = io.StringIO()
        outb = io.StringIO()
        old = os.getcwd()
        try:
            if cwd:
                os.chdir(cwd)
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(outb):
                try:
                    rc = cli_main(args)
                except SystemExit as e:
                    rc = e.code
                except BaseException as exc:
                    failures.append(f"cli {args}: traceback {type(exc).__name__}: {exc}")
                    return
        finally:
            os.chdir(old)
        text = err.getvalue()
        if rc not in expect:
            failures.append(f"cli {args}: rc={rc} expected {expect}; stderr={text[-300:]!r}")
        if "Traceback" in text:
            failures.append(f"cli {args}: traceback in stderr")

    file_ = OUT / "a_file"
    file_.write_text("x")
    qv = ["--n-rho", "2", "--ms", "1", "--t-max", "100"]
    cli(["run", "--seed", "-1"])
    cli(["run", "--n", "0"])
    cli(["run", "--lr", "-1"])
    cli(["run", "--lr", "nan"])
    cli(["run", "--steps", "-5"])
    cli(["run", "--alpha", "-1"])
    cli(["run", "--rho", "-1"])
    cli(["run", "--m", "7", "--algorithm", "m-sam"])
    cli(["run", "--batch-size", "0", "--algorithm", "sgd"])
    cli(["run", "--data", str(OUT / "missing.csv")])
    cli(["run", "--data", str(OUT / "text.npz")])
    cli(["run", "--data", str(OUT / "nonnum_first.csv")])
    cli(["run", "--data", str(OUT)])
    cli(["run", "--correlation", "1.5"])
    cli(["run", "--k", "100"])
    cli(["run", "--noise", "-1"])
    cli(["run", "--loss-tol", "-1"])
    cli(["run", "--bogus"])
    cli(["verify", "--workers", "0", *qv])
    cli(["verify", "--workers", "-1", *qv])
    cli(["verify", "--out", str(file_), *qv])
    cli(["verify", "--out", str(file_ / "sub"), *qv])
    cli(["verify", "--alpha", "1e-200", "--out", str(OUT / "v1"), *qv], expect=(0, 1, 2))
    cli(["verify", "--alpha", "-1", *qv])
    cli(["verify", "--rtol", "0", *qv])
    cli(["verify", "--rtol", "0.5", "--out", str(OUT / "v2"), *qv], expect=(0, 1, 2))
    cli(["verify", "--n", "40", "--d", "10", "--noise", "0.5", "--out", str(OUT / "v3"), *qv])
    cli(["verify", "--rhos", "a,b"])
    cli(["verify", "--ms", "x"])
    cli(["verify", "--out", str(OUT / "v4"), *qv[:2], "--t-max", "100", "--ms", "7"])
    cli(["verify", "--n-rho", "0"])
    cli(["verify", "--rho-min", "-1"])
    cli(["verify", "--t-max", "-1"])
    cli(["verify", "--data", str(OUT / "header_only.csv")])
    cli(["figures", "--experiments", str(OUT / "nope")])
    cli(
        ["figures", "--only", "nonexistent_experiment"],
        cwd=str(Path(__file__).resolve().parents[1]),
    )
    cli(["sweep", str(OUT / "missing.toml")])
    cli(["sweep", str(OUT)])

    # ---- sweep faults
    cfg_ok = """
    [sweep]
    output = "{out}"
    backend = "inprocess"
    [problem]
    n = 20
    d = 30
    k = 3
    alpha = 0.05
    seed = [0, 1]
    [[algorithm]]
    name = "gd"
    mode = "discrete"
    lr = 0.05
    steps = 50
    """
    sw = OUT / "sweep"
    sw.mkdir(exist_ok=True)
    bad_cfgs = {
        "not_toml": "this is [not toml",
        "no_problem": "[[algorithm]]\nname='gd'\nmode='discrete'\nlr=0.05\nsteps=5\n",
        "bad_name": cfg_ok.replace('name = "gd"', 'name = "adam"'),
        "bad_lr": cfg_ok.replace("lr = 0.05", "lr = -1"),
        "bad_steps": cfg_ok.replace("steps = 50", "steps = 'x'"),
        "unknown_key": cfg_ok.replace("lr = 0.05", "lr = 0.05\nfoo = 1"),
        "bad_backend": cfg_ok.replace('backend = "inprocess"', 'backend = "gpu"'),
        "bad_seed": cfg_ok.replace("seed = [0, 1]", "seed = [-1]"),
        "flow_with_lr": cfg_ok.replace('mode = "discrete"', 'mode = "flow"'),
        "empty_axis": cfg_ok.replace("seed = [0, 1]", "seed = []"),
    }
    for name, text in bad_cfgs.items():
        path = sw / f"{name}.toml"
        path.write_text(text.replace("{out}", str(sw / f"{name}.jsonl")))
        cli(["sweep", str(path), "--no-progress"])
    good = sw / "good.toml"
    good.write_text(cfg_ok.replace("{out}", str(sw / "good.jsonl")))
    cli(["sweep", str(good), "--no-progress", "--output", str(sw)])
    cli(["sweep", str(good), "--no-progress", "--output", str(file_ / "x.jsonl")])
    cli(["sweep", str(good), "--no-progress"], expect=(0,))
    lines = (sw / "good.jsonl").read_text().splitlines()
    # corrupt results: NUL, forged ids, non-object lines
    for name, extra in [
        ("nul", "\x00\x00\n"),
        ("noid", json.dumps({"a": 1}) + "\n"),
        ("forged", json.dumps({**json.loads(lines[-1]), "cell_id": "deadbeef"}) + "\n"),
        ("array", "[1,2]\n"),
        ("badjson", "{not json\n"),
    ]:
        target = sw / f"corrupt_{name}.jsonl"
        target.write_text("\n".join(lines) + "\n" + extra)
        cli(["sweep", str(good), "--no-progress", "--output", str(target)], expect=(2,))
    # changed config on resume
    changed = sw / "changed.toml"
    changed.write_text(
        cfg_ok.replace("{out}", str(sw / "good.jsonl")).replace("lr = 0.05", "lr = 0.02")
    )
    cli(["sweep", str(changed), "--no-progress"], expect=(2,))
    # huge grid without --yes
    huge = sw / "huge.toml"
    huge.write_text(
        cfg_ok.replace("{out}", str(sw / "huge.jsonl"))
        .replace("seed = [0, 1]", "seed = " + str(list(range(1000))))
        .replace("lr = 0.05", "lr = " + str([0.01 + i * 1e-5 for i in range(1000)]))
    )
    cli(["sweep", str(huge), "--no-progress"], expect=(2,))

    # ---- determinism
    for alg in [SGD(5), SAM(0.1, m=2, batch_size=10), SAM(0.1, batch_size=5)]:
        for seed in [0, 7, 123]:
            count("determinism")
            a = run(P, alg, lr=0.05, steps=300, alpha=0.05, seed=seed)
            b = run(P, alg, lr=0.05, steps=300, alpha=0.05, seed=seed)
            if not (np.array_equal(a.u, b.u) and np.array_equal(a.v, b.v)):
                failures.append(f"determinism {alg.name} seed={seed}")

    # ---- fuzzed runs
    rng = np.random.default_rng(2026)
    for i in range(int(os.environ.get("PROBE_FUZZ", "300"))):
        count("fuzz")
        n = int(rng.integers(2, 30))
        d = int(rng.integers(1, 40))
        k = int(rng.integers(0, d + 1))
        prob = gaussian_problem(
            n,
            d,
            k,
            seed=int(rng.integers(0, 1000)),
            n_test=10,
            noise=float(rng.choice([0, 0.1, 2.0])),
        )
        kind = rng.integers(0, 4)
        rho = float(10 ** rng.uniform(-4, 1))
        divs = [m for m in range(1, n + 1) if n % m == 0]
        alg = [
            GD(),
            SGD(int(rng.integers(1, n + 1))),
            SAM(rho, m=int(rng.choice(divs))),
            SAM(rho, normalize=True),
        ][kind]
        lr = float(10 ** rng.uniform(-4, 0.5))
        alpha = float(10 ** rng.uniform(-8, 2))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                res = run(prob, alg, lr=lr, steps=int(rng.integers(1, 300)), alpha=alpha, seed=i)
        except Exception as exc:
            failures.append(
                f"fuzz {i} {alg.name} lr={lr:g} alpha={alpha:g}: {type(exc).__name__}: {exc}"
            )
            continue
        finite = np.all(np.isfinite(res.beta)) and np.isfinite(res.train_loss)
        if not finite and res.status.value != "diverged":
            failures.append(f"fuzz {i}: NaN under {res.status.value}")
        if finite and res.status.value == "diverged" and "nan" in res.message.lower():
            pass

    print(json.dumps(counts))
    print(f"{len(failures)} failures")
    for f in failures:
        print(" -", f)
