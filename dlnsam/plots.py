"""Figures. Every function takes results and returns a matplotlib Figure.

Nothing here touches the global pyplot state: figures are built with
:class:`matplotlib.figure.Figure` directly, so they are safe in scripts,
notebooks and worker processes alike. Save with ``fig.savefig(path)``.

Functions over sweep results take ``rows``: a list of dicts as written by
:func:`dlnsam.sweep.run_sweep` (one per cell, with the cell's parameters such
as ``algorithm``, ``m``, ``rho``, ``seed`` and metrics such as
``test_loss``). Where seeds repeat a setting, curves show the geometric mean
over seeds and a band from the smallest to the largest value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike, NDArray

from dlnsam.algorithms import option_names
from dlnsam.verify import Theorem1Report, Theorem1Row
from dlnsam.verify.flatness import FlatnessReport
from dlnsam.verify.theorem2 import Theorem2Report, Theorem2Row

__all__ = [
    "algorithm_label",
    "finetune_curves",
    "flatness_measures",
    "generalization_vs_rho",
    "implicit_bias_path",
    "interpolation_losses",
    "loss_curves",
    "m_sharpness",
    "recovery_vs_rho",
    "save_figure",
    "theorem1_alpha",
    "theorem1_delta_gap",
    "theorem1_predictions",
    "theorem1_typical",
    "theorem2_rates",
]

_COLORS = {"1-SAM": "tab:red", "n-SAM": "tab:blue", "GF": "black", "GD": "black"}


def _groups(report: Theorem1Report) -> dict[str, list[Theorem1Row]]:
    groups: dict[str, list[Theorem1Row]] = {}
    for row in report.rows:
        if row.rho > 0:
            groups.setdefault(row.algorithm, []).append(row)
    return groups


def save_figure(fig: Figure, directory: str | Path, name: str, *, dpi: int = 150) -> list[Path]:
    """Save ``fig`` as ``name.png`` and ``name.pdf`` in ``directory`` (created if needed).

    Examples
    --------
    >>> import tempfile
    >>> from matplotlib.figure import Figure
    >>> from dlnsam.plots import save_figure
    >>> [p.suffix for p in save_figure(Figure(), tempfile.mkdtemp(), "empty")]
    ['.png', '.pdf']
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    fig.savefig(paths[0], dpi=dpi)
    # No creation date: the same figure gives the same bytes on every run.
    fig.savefig(paths[1], dpi=dpi, metadata={"CreationDate": None})
    return paths


def _finish_log_axes(
    ax: Axes, xlabel: str, ylabel: str, title: str, *, fontsize: int, ncol: int = 1
) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=fontsize, ncol=ncol)


# Colours for labels other than GD/GF, n-SAM and 1-SAM (never red, blue or black).
_EXTRA = ("tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive",
          "tab:cyan", "tab:gray")  # fmt: skip


_STYLES = ("-", "--", "-.", ":")
# Placement markers on the hypentropy path: no green (the support's colour).
_PLACEMENT = ("tab:blue", "tab:orange", "tab:red", "tab:purple", "tab:brown", "tab:pink",
              "tab:olive", "tab:cyan")  # fmt: skip


def _color(label: str, i: int) -> str:
    """A colour per algorithm label: fixed for GD, n-SAM and 1-SAM, distinct for the rest."""
    base = label.replace(" flow", "")
    return _COLORS.get(base, _EXTRA[i % len(_EXTRA)])


def theorem1_delta_gap(report: Theorem1Report) -> Figure:
    """‖Δ − Δ⁽¹⁾‖₁ against ρ (log–log) per micro-batch size, with a slope-2 guide.

    Only converged flows are drawn; the legend gives each slope fitted on the
    smaller half of the radii.

    Examples
    --------
    >>> from dlnsam import gaussian_problem
    >>> from dlnsam.verify import theorem1
    >>> from dlnsam.plots import theorem1_delta_gap
    >>> rep = theorem1(gaussian_problem(10, 14, 2), rhos=[0.02, 0.04], workers=1)
    >>> theorem1_delta_gap(rep).axes[0].get_xscale()
    'log'
    """
    fig = Figure(figsize=(4.8, 3.8), layout="constrained")
    ax = fig.add_subplot()
    anchor = None
    for i, (label, rows) in enumerate(_groups(report).items()):
        pts = [(r.rho, r.delta_gap_l1) for r in rows if r.converged and r.delta_gap_l1 > 0]
        if not pts:
            continue
        rho, gap = np.array(pts).T
        slope = report.slopes.get(label, math.nan)
        ax.plot(
            rho, gap, "o-", color=_color(label, i), label=f"{label} (slope {slope:.2f} at small ρ)"
        )
        anchor = (rho[0], gap[0]) if anchor is None else anchor
    if anchor is not None:
        rho_all = np.array([r.rho for r in report.rows if r.rho > 0])
        grid = np.geomspace(rho_all.min(), rho_all.max(), 2)
        ax.plot(grid, anchor[1] * (grid / anchor[0]) ** 2, "k--", lw=1, label="slope 2 (O(ρ²))")
    _finish_log_axes(
        ax, "SAM radius ρ", "‖Δ − Δ⁽¹⁾‖₁", "First-order exponent is off by O(ρ²)", fontsize=8
    )
    return fig


def theorem1_predictions(report: Theorem1Report) -> Figure:
    """Relative error ‖β_flow − β*(α_pred)‖/‖β_flow‖ of the three predictions against ρ.

    Solid: exact α e^{−Δ}; dashed: first order α e^{−Δ⁽¹⁾}; dotted: typical
    α e^{−2ρ∫L/m}. Colours distinguish the micro-batch sizes.

    Examples
    --------
    >>> from dlnsam import gaussian_problem
    >>> from dlnsam.verify import theorem1
    >>> from dlnsam.plots import theorem1_predictions
    >>> rep = theorem1(gaussian_problem(10, 14, 2), rhos=[0.02, 0.04], workers=1)
    >>> len(theorem1_predictions(rep).axes[0].get_lines())  # 2 m-values x 3 + tolerance
    7
    """
    fig = Figure(figsize=(5.2, 3.8), layout="constrained")
    ax = fig.add_subplot()
    styles = (("err_exact", "-", "exact"), ("err_first_order", "--", "first order"),
              ("err_typical", ":", "typical 2ρ∫L/m"))  # fmt: skip
    for i, (label, rows) in enumerate(_groups(report).items()):
        conv = [r for r in rows if r.converged]
        if not conv:
            continue
        rho = np.array([r.rho for r in conv])
        for attr, ls, name in styles:
            err = np.array([getattr(r, attr) for r in conv])
            ax.plot(
                rho, err, ls, marker="o", ms=3, color=_color(label, i), label=f"{label}, {name}"
            )
    tol = report.settings.get("exact_tol")
    if isinstance(tol, float):
        ax.axhline(tol, color="grey", lw=0.8, ls="-.", label=f"tolerance {tol:g}")
    _finish_log_axes(
        ax,
        "SAM radius ρ",
        "‖β_flow − β*(α_pred)‖ / ‖β_flow‖",
        "Which effective α explains the SAM flow's limit",
        fontsize=7,
        ncol=2,
    )
    return fig


def theorem1_typical(report: Theorem1Report) -> Figure:
    """‖Δ‖₁ against the typical prediction 2ρ(d/m)∫L ds, per m, with the identity line.

    Points on the diagonal mean ‖Δ‖₁ = 2ρ(d/m)∫L: the 1/m law that makes
    1-SAM shrink log α about n times more than n-SAM.

    Examples
    --------
    >>> from dlnsam import gaussian_problem
    >>> from dlnsam.verify import theorem1
    >>> from dlnsam.plots import theorem1_typical
    >>> rep = theorem1(gaussian_problem(10, 14, 2), rhos=[0.02, 0.04], workers=1)
    >>> theorem1_typical(rep).axes[0].get_xlabel()
    '2ρ (d/m) ∫L ds'
    """
    fig = Figure(figsize=(4.8, 3.8), layout="constrained")
    ax = fig.add_subplot()
    lo, hi = math.inf, 0.0
    for i, (label, rows) in enumerate(_groups(report).items()):
        conv = [r for r in rows if r.converged]
        if not conv:
            continue
        typ = np.array([r.typical for r in conv])
        delta = np.array([r.delta_l1 for r in conv])
        ax.plot(typ, delta, "o", color=_color(label, i), label=label)
        lo, hi = min(lo, typ.min(), delta.min()), max(hi, typ.max(), delta.max())
    if hi > 0:
        grid = np.geomspace(lo, hi, 2)
        ax.plot(grid, grid, "k--", lw=1, label="‖Δ‖₁ = 2ρ(d/m)∫L")
    _finish_log_axes(
        ax, "2ρ (d/m) ∫L ds", "‖Δ‖₁ (exact)", "Shrinkage of log α follows ρ∫L / m", fontsize=8
    )
    return fig


# ------------------------------------------------------------------ sweep results


# The options that the base label already shows, or that label every curve alike.
_LABELLED = ("rho", "m", "batch_size", "normalize")


def algorithm_label(row: dict) -> str:
    """A short legend label for a sweep row: 'GD', 'SGD(b=5)', 'n-SAM', '1-SAM', '5-SAM'.

    Examples
    --------
    >>> from dlnsam.plots import algorithm_label
    >>> algorithm_label({"algorithm": "m-sam", "m": 5})
    '5-SAM'
    >>> algorithm_label({"algorithm": "gd", "weight_decay": 0.001})
    'GD (weight_decay=0.001)'
    """
    name = row["algorithm"]
    label = {"gd": "GD", "n-sam": "n-SAM", "1-sam": "1-SAM"}.get(name)
    if label is None:
        label = f"SGD(b={row.get('batch_size')})" if name == "sgd" else f"{row.get('m')}-SAM"
    # Any other option set away from its default (weight decay, ...) is named too,
    # so that two curves never share a label.
    extras = [
        key if value is True else f"{key}={value:g}"
        for key in option_names()
        if key not in _LABELLED and (value := row.get(key)) not in (None, False, 0, 0.0)
    ]
    if extras:
        label += f" ({', '.join(extras)})"
    if row.get("mode") == "flow":
        label += " flow"
    return label


def _ok(row: dict, key: str) -> bool:
    value = row.get(key)
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


def _seed_stats(
    rows: list[dict], key: str, x_key: str
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """x, geometric mean, min and max of ``key`` over seeds, per distinct ``x_key``."""
    by_x: dict[float, list[float]] = {}
    for row in rows:
        if _ok(row, key) and row[key] > 0:
            by_x.setdefault(float(row[x_key]), []).append(float(row[key]))
    xs = np.array(sorted(by_x))
    vals = [np.array(by_x[x]) for x in xs]
    gmean = np.array([np.exp(np.log(v).mean()) for v in vals])
    return xs, gmean, np.array([v.min() for v in vals]), np.array([v.max() for v in vals])


def _by_label(rows: list[dict]) -> dict[str, list[dict]]:
    """Rows grouped by their ``label`` key if they have one, else by :func:`algorithm_label`."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row.get("label") or algorithm_label(row), []).append(row)
    return groups


def _horizontal_band(ax: Axes, rows: list[dict], key: str, label: str, color: str) -> None:
    vals = np.array([r[key] for r in rows if _ok(r, key) and r[key] > 0])
    if vals.size:
        ax.axhline(np.exp(np.log(vals).mean()), color=color, lw=1.5, label=label)
        ax.axhspan(vals.min(), vals.max(), color=color, alpha=0.12, lw=0)


def generalization_vs_rho(rows: list[dict], *, key: str = "test_loss") -> Figure:
    """Test loss against the SAM radius ρ for GD, n-SAM, 1-SAM and m-SAM.

    GD (or any ρ-free row) is a horizontal line; each SAM variant is a curve
    over ρ. Log–log axes; geometric mean over seeds with a min–max band.

    Parameters
    ----------
    rows : list of dict
        Sweep rows with ``algorithm``, ``m``, ``rho``, ``seed`` and ``key``.
    key : str, default 'test_loss'
        The metric on the vertical axis.

    Examples
    --------
    >>> from dlnsam.plots import generalization_vs_rho
    >>> rows = [{"algorithm": "gd", "rho": None, "seed": 0, "test_loss": 0.3},
    ...         {"algorithm": "1-sam", "rho": 0.1, "seed": 0, "test_loss": 0.1},
    ...         {"algorithm": "1-sam", "rho": 0.2, "seed": 0, "test_loss": 0.01}]
    >>> len(generalization_vs_rho(rows).axes[0].get_lines())
    2
    """
    fig = Figure(figsize=(5.2, 3.9), layout="constrained")
    ax = fig.add_subplot()
    _draw_against_rho(ax, rows, key, "rho")
    _finish_log_axes(
        ax, "SAM radius ρ", key.replace("_", " "), "Generalization against ρ", fontsize=8
    )
    return fig


def _draw_against_rho(ax: Axes, rows: list[dict], key: str, x_key: str) -> None:
    """Rows without a radius as horizontal bands, the others as curves over ``x_key``."""
    for i, (label, group) in enumerate(_by_label(rows).items()):
        color = _color(label, i)
        if all(not r.get(x_key) for r in group):
            _horizontal_band(ax, group, key, label, color)
            continue
        x, mean, lo, hi = _seed_stats([r for r in group if r.get(x_key)], key, x_key)
        ax.plot(x, mean, "o-", ms=3, color=color, label=label)
        ax.fill_between(x, lo, hi, color=color, alpha=0.15, lw=0)


def metrics_against(
    rows: list[dict], metrics: dict[str, str], *, x_key: str, xlabel: str, title: str = ""
) -> Figure:
    """One log–log panel per metric against ``x_key``; rows without ``x_key`` are bands.

    Parameters
    ----------
    rows : list of dict
        Rows with ``x_key`` (None for a baseline drawn as a horizontal band),
        ``seed``, each metric key, and ``algorithm`` (or ``label``).
    metrics : dict
        Row key → axis label, one panel each.
    x_key, xlabel, title : str
        The row key of the horizontal axis, its label, the figure's title.

    Examples
    --------
    >>> from dlnsam.plots import metrics_against
    >>> rows = [{"label": "GD", "lr": None, "seed": 0, "a": 1.0, "b": 2.0},
    ...         {"label": "SGD", "lr": 0.1, "seed": 0, "a": 0.5, "b": 1.0}]
    >>> len(metrics_against(rows, {"a": "A", "b": "B"}, x_key="lr", xlabel="γ").axes)
    2
    """
    def draw(ax: Axes, key: str) -> None:
        _draw_against_rho(ax, rows, key, x_key)

    return _metric_panels(metrics, draw, xlabel=xlabel, title=title, width=3.6)


def _metric_panels(
    metrics: dict[str, str], draw: Callable[[Axes, str], None], *, xlabel: str, title: str,
    width: float,
) -> Figure:
    """One log–log panel per metric (row key → axis label), drawn by ``draw(ax, key)``."""
    fig = Figure(figsize=(width * len(metrics) + 0.4, 3.6), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, (key, ylabel) in zip(axes, metrics.items(), strict=True):
        draw(ax, key)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    axes[0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def trade_off(
    rows: list[dict], metrics: dict[str, str], *, x_key: str, xlabel: str, param_key: str,
    title: str = "",
) -> Figure:
    """Metrics against a quantity both sides of a comparison reach, e.g. the final train loss.

    One log–log panel per metric: every row as a small marker, and per label a
    line through the geometric means over seeds of each value of ``param_key``
    (the knob that moves along the trade-off, such as ρ or a weight decay).

    Parameters
    ----------
    rows : list of dict
        Rows with ``x_key``, ``param_key``, ``seed``, each metric key, and
        ``algorithm`` (or ``label``); rows with a missing or non-positive
        value are left out.
    metrics : dict
        Row key → axis label, one panel each.
    x_key, xlabel, param_key, title : str
        The horizontal axis's row key and label, the knob's row key, the
        figure's title.

    Examples
    --------
    >>> from dlnsam.plots import trade_off
    >>> rows = [{"label": "1-SAM", "rho": r, "seed": 0, "train_loss": r, "test_loss": 1 - r}
    ...         for r in (0.1, 0.2)]
    >>> fig = trade_off(rows, {"test_loss": "test loss"}, x_key="train_loss",
    ...                 xlabel="train loss", param_key="rho")
    >>> len(fig.axes[0].get_lines())
    2
    """
    def draw(ax: Axes, key: str) -> None:
        for i, (label, group) in enumerate(_by_label(rows).items()):
            color = _color(label, i)
            pts = [r for r in group if _ok(r, key) and _ok(r, x_key) and r[key] > 0 < r[x_key]]
            ax.plot([r[x_key] for r in pts], [r[key] for r in pts], ".", ms=3, color=color,
                    alpha=0.4)  # fmt: skip
            by: dict[object, list[dict]] = {}
            for r in pts:
                by.setdefault(r[param_key], []).append(r)
            means = sorted(
                tuple(float(np.exp(np.mean(np.log([r[k] for r in g])))) for k in (x_key, key))
                for g in by.values()
            )
            ax.plot(*zip(*means, strict=True), "o-", ms=4, color=color, label=label)

    return _metric_panels(metrics, draw, xlabel=xlabel, title=title, width=4.2)


def generalization_panels(
    rows: list[dict], *, panel_key: str = "lr", x_key: str = "rho", key: str = "test_loss",
    xlabel: str = "SAM radius ρ", panel_title: str = "γ = {:.3g}", title: str = "",
) -> Figure:
    """:func:`generalization_vs_rho` in one panel per value of ``panel_key``, sharing the y axis.

    Parameters
    ----------
    rows : list of dict
        Rows with ``panel_key``, ``x_key`` (0 or None for the ρ-free
        baseline), ``seed``, ``key``, and ``algorithm`` (or ``label``).
    panel_key, x_key, key : str
        The row keys of the panels, the horizontal axis and the vertical axis.
    xlabel, panel_title, title : str
        Axis label, per-panel title (formatted with the panel's value) and the
        figure's title.

    Examples
    --------
    >>> from dlnsam.plots import generalization_panels
    >>> rows = [{"algorithm": "gd", "lr": lr, "rho": None, "seed": 0, "test_loss": 0.3}
    ...         for lr in (0.1, 0.2)]
    >>> rows += [{"algorithm": "1-sam", "lr": 0.1, "rho": r, "seed": 0, "test_loss": r}
    ...          for r in (0.01, 0.1)]
    >>> len(generalization_panels(rows).axes)
    2
    """
    values = sorted({float(r[panel_key]) for r in rows})
    fig = Figure(figsize=(2.9 * len(values) + 0.6, 3.4), layout="constrained")
    axes = fig.subplots(1, len(values), sharey=True, squeeze=False)[0]
    for ax, value in zip(axes, values, strict=True):
        _draw_against_rho(ax, [r for r in rows if float(r[panel_key]) == value], key, x_key)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_title(panel_title.format(value), fontsize=9)
    axes[0].set_ylabel(key.replace("_", " "))
    axes[0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _history_stats(
    group: list[dict], key: str
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    curves = [
        (np.asarray(r["history_steps"], float), np.asarray(r[key], float))
        for r in group
        if r.get(key) is not None and r.get("history_steps") is not None
    ]
    if not curves:
        return (np.zeros(0),) * 4  # type: ignore[return-value]
    steps = min((c[0] for c in curves), key=len)  # common grid: the shortest history
    stack = np.array([np.interp(steps, s, np.maximum(v, 1e-300)) for s, v in curves])
    log = np.log(stack)
    return steps, np.exp(log.mean(axis=0)), stack.min(axis=0), stack.max(axis=0)


def loss_curves(rows: list[dict]) -> Figure:
    """Train (solid) and test (dashed) loss against the iteration, log–log, per algorithm.

    Rows need ``history_steps``, ``history_train`` and ``history_test`` (sweep
    ``[outputs] history = true``). Step 0 is drawn at 1 on the log axis.

    Examples
    --------
    >>> from dlnsam.plots import loss_curves
    >>> rows = [{"algorithm": "gd", "seed": 0, "history_steps": [0, 1, 10],
    ...          "history_train": [1.0, 0.5, 0.1], "history_test": [1.0, 0.6, 0.3]}]
    >>> len(loss_curves(rows).axes[0].get_lines())
    2
    """
    fig = Figure(figsize=(5.2, 3.9), layout="constrained")
    ax = fig.add_subplot()
    for i, (label, group) in enumerate(_by_label(rows).items()):
        color = _color(label, i)
        for key, ls, suffix in (("history_train", "-", "train"), ("history_test", "--", "test")):
            steps, mean, lo, hi = _history_stats(group, key)
            if steps.size == 0:
                continue
            x = np.maximum(steps, 1)
            ax.plot(x, mean, ls, color=color, label=f"{label} {suffix}")
            ax.fill_between(x, lo, hi, color=color, alpha=0.12, lw=0)
    _finish_log_axes(ax, "iteration", "loss", "Training and test loss", fontsize=7, ncol=2)
    return fig


def recovery_vs_rho(rows: list[dict]) -> Figure:
    """Support recovery and ‖β − β*‖/‖β*‖ against ρ, per algorithm (two panels).

    Examples
    --------
    >>> from dlnsam.plots import recovery_vs_rho
    >>> rows = [{"algorithm": "1-sam", "rho": r, "seed": 0, "support": 1.0,
    ...          "dist_beta_star": 0.1 / (1 + r)} for r in (0.1, 0.2)]
    >>> [ax.get_ylabel() for ax in recovery_vs_rho(rows).axes]
    ['support recovered (fraction)', '‖β − β*‖ / ‖β*‖']
    """
    fig = Figure(figsize=(9.0, 3.6), layout="constrained")
    ax_sup, ax_dist = fig.subplots(1, 2)
    for i, (label, group) in enumerate(_by_label(rows).items()):
        color = _color(label, i)
        sam = [r for r in group if r.get("rho")]
        if not sam:
            _horizontal_band(ax_dist, group, "dist_beta_star", label, color)
            sup = [r["support"] for r in group if _ok(r, "support")]
            if sup:
                ax_sup.axhline(float(np.mean(sup)), color=color, label=label)
            continue
        x, mean, lo, hi = _seed_stats(sam, "dist_beta_star", "rho")
        ax_dist.plot(x, mean, "o-", ms=3, color=color, label=label)
        ax_dist.fill_between(x, lo, hi, color=color, alpha=0.15, lw=0)
        rhos = sorted({float(r["rho"]) for r in sam})
        sup = [np.mean([r["support"] for r in sam if r["rho"] == rho and _ok(r, "support")])
               for rho in rhos]  # fmt: skip
        ax_sup.plot(rhos, sup, "o-", ms=3, color=color, label=label)
    ax_sup.set_xscale("log")
    ax_sup.set_ylim(-0.05, 1.05)
    ax_sup.set_xlabel("SAM radius ρ")
    ax_sup.set_ylabel("support recovered (fraction)")
    ax_sup.set_title("Top-k coordinates = supp β*")
    ax_sup.legend(fontsize=7)
    _finish_log_axes(ax_dist, "SAM radius ρ", "‖β − β*‖ / ‖β*‖", "Distance to β*", fontsize=7)
    return fig


def m_sharpness(rows: list[dict], *, alpha_key: str = "alpha_path") -> Figure:
    """m-sharpness: test loss and effective α against the micro-batch size m (two panels).

    Rows are SAM runs at one ρ with different ``m`` (the full batch counts as
    m = n); ``alpha_key`` is the effective-α metric (``alpha_path`` for
    discrete runs placed on the hypentropy path, ``alpha_eff_geomean`` for
    flows, whatever ``alpha_key`` says). Rows of ``mode = 'flow'`` and discrete
    rows are drawn separately.

    Examples
    --------
    >>> from dlnsam.plots import m_sharpness
    >>> rows = [{"algorithm": "m-sam", "m": m, "n": 4, "rho": 0.1, "seed": 0,
    ...          "test_loss": 0.1 * m, "alpha_path": 0.01 * m} for m in (1, 2, 4)]
    >>> m_sharpness(rows).axes[0].get_xlabel()
    'micro-batch size m'
    """
    fig = Figure(figsize=(9.0, 3.6), layout="constrained")
    ax_loss, ax_alpha = fig.subplots(1, 2)
    modes: dict[str, list[dict]] = {}
    for row in rows:
        with_m = dict(row, m=row.get("m") or row.get("n"))
        modes.setdefault(row.get("mode") or "discrete", []).append(with_m)
    for i, (mode, group) in enumerate(sorted(modes.items())):
        color = f"C{i}"
        a_key = "alpha_eff_geomean" if mode == "flow" else alpha_key
        a_label = "flow: α e^(−Δ)" if mode == "flow" else f"{mode}: α̂ on the path"
        for ax, key, label in ((ax_loss, "test_loss", mode), (ax_alpha, a_key, a_label)):
            x, mean, lo, hi = _seed_stats(group, key, "m")
            if x.size:
                ax.plot(x, mean, "o-", ms=4, color=color, label=label)
                ax.fill_between(x, lo, hi, color=color, alpha=0.15, lw=0)
    rho = sorted({r.get("rho") for r in rows if r.get("rho")})
    title = f"ρ = {rho[0]:g}" if len(rho) == 1 else "SAM"
    _finish_log_axes(
        ax_loss, "micro-batch size m", "test loss", f"m-sharpness, {title}", fontsize=8
    )
    _finish_log_axes(ax_alpha, "micro-batch size m", "effective α", "Effective scale", fontsize=8)
    return fig


# ------------------------------------------------------------------ other results


def implicit_bias_path(
    alphas: ArrayLike,
    path_betas: ArrayLike,
    placements: dict[str, float],
    beta_star: ArrayLike | None = None,
) -> Figure:
    """The hypentropy path β*(α) with solutions placed on it by their measured α̂.

    Parameters
    ----------
    alphas : (A,) array_like
        Scales, any order.
    path_betas : (A, d) array_like
        β*(α) for each scale (:func:`dlnsam.hypentropy.path`).
    placements : dict
        Label → measured α̂ of a solution (e.g. ``closest_alpha``): a vertical
        marker on the path.
    beta_star : (d,) array_like, optional
        The planted predictor: its support coordinates are drawn in colour,
        the others in grey.

    Examples
    --------
    >>> import numpy as np
    >>> from dlnsam.plots import implicit_bias_path
    >>> a = np.geomspace(1e-3, 1e2, 5)
    >>> fig = implicit_bias_path(a, np.outer(np.log(a), [1.0, -0.5]), {"GD": 0.1})
    >>> fig.axes[0].get_xscale()
    'log'
    """
    a = np.asarray(alphas, dtype=float)
    order = np.argsort(a)
    a, B = a[order], np.asarray(path_betas, dtype=float)[order]
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    support = np.ones(B.shape[1], bool) if beta_star is None else np.asarray(beta_star) != 0
    for j in range(B.shape[1]):
        kw = {"color": "tab:green", "lw": 1.6} if support[j] else {"color": "0.6", "lw": 0.7}
        ax.plot(a, B[:, j], **kw)
    for i, (label, alpha_hat) in enumerate(placements.items()):
        if alpha_hat is not None and math.isfinite(alpha_hat):
            ax.axvline(alpha_hat, color=_PLACEMENT[i % len(_PLACEMENT)], ls="--", lw=1.2,
                       label=f"{label}: α̂={alpha_hat:.3g}")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("hypentropy scale α   (← ℓ1, sparse     ℓ2, dense →)")
    ax.set_ylabel("β*(α)_i")
    ax.set_title("Where each algorithm lands on the hypentropy path")
    ax.legend(fontsize=7, loc="best")
    return fig


def _geometric_band(
    ax: Axes, x: ArrayLike, values: ArrayLike, *, color: str, label: str, ls: str = "-",
    lw: float | None = None, alpha: float = 0.15,
) -> None:
    """Values (T,) or (seeds, T): their geometric mean, with a min–max band over seeds."""
    V = np.maximum(np.atleast_2d(np.asarray(values, float)), 1e-300)
    ax.plot(x, np.exp(np.log(V).mean(axis=0)), ls=ls, lw=lw, color=color, label=label)
    if V.shape[0] > 1:
        ax.fill_between(x, V.min(axis=0), V.max(axis=0), color=color, alpha=alpha, lw=0)


def finetune_curves(curves: dict[str, tuple[ArrayLike, ArrayLike]], switch: int) -> Figure:
    """Test loss against the iteration for training schedules that switch algorithm.

    Parameters
    ----------
    curves : dict
        Label → (steps, test losses) (each may be a (seeds, T) array of
        losses on common steps: drawn as geometric mean with a min–max band).
    switch : int
        The iteration of the switch, marked with a vertical line.

    Examples
    --------
    >>> from dlnsam.plots import finetune_curves
    >>> fig = finetune_curves({"GD": ([1, 10, 100], [1.0, 0.5, 0.4])}, switch=10)
    >>> fig.axes[0].get_ylabel()
    'test loss'
    """
    fig = Figure(figsize=(5.2, 3.9), layout="constrained")
    ax = fig.add_subplot()
    for i, (label, (steps, losses)) in enumerate(curves.items()):
        x = np.maximum(np.asarray(steps, float), 1)
        # Schedules share their first phase with a baseline: distinct styles keep both visible.
        _geometric_band(ax, x, losses, color=f"C{i}", label=label, ls=_STYLES[i % len(_STYLES)],
                        lw=2.2 - 0.4 * (i % 3))  # fmt: skip
    ax.axvline(switch, color="k", ls=":", lw=1, label=f"switch at {switch}")
    _finish_log_axes(ax, "iteration", "test loss", "Switching between ERM and 1-SAM", fontsize=8)
    return fig


def switch_curves(
    curves: dict[str, tuple[ArrayLike, ArrayLike, ArrayLike]],
    switch: int,
    *,
    title: str = "",
    xscale: str = "log",
) -> Figure:
    """Train (solid) and test (dashed) loss against the iteration, for schedules that switch.

    Parameters
    ----------
    curves : dict
        Label → (steps (T,), train losses, test losses), the losses (T,) or
        (seeds, T): drawn as the geometric mean with a min–max band.
    switch : int
        The iteration of the switch, marked with a vertical line.
    title : str, optional
        The axes' title.
    xscale : {"log", "linear"}, default "log"
        Scale of the iteration axis (the loss axis is logarithmic).

    Examples
    --------
    >>> from dlnsam.plots import switch_curves
    >>> fig = switch_curves({"GD": ([0, 10, 100], [1.0, 0.1, 0.01], [1.0, 0.5, 0.4])}, 10)
    >>> len(fig.axes[0].get_lines())
    3
    """
    fig = Figure(figsize=(5.6, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for i, (label, (steps, train, test)) in enumerate(curves.items()):
        x = np.asarray(steps, float)
        x = np.maximum(x, 1) if xscale == "log" else x
        for vals, ls, suffix in ((train, "-", "train"), (test, "--", "test")):
            _geometric_band(ax, x, vals, color=f"C{i}", label=f"{label} {suffix}", ls=ls,
                            lw=2.0 - 0.4 * (i % 3), alpha=0.12)  # fmt: skip
    ax.axvline(switch, color="k", ls=":", lw=1, label=f"switch at {switch}")
    _finish_log_axes(ax, "iteration", "loss", title, fontsize=7, ncol=2)
    ax.set_xscale(xscale)
    return fig


def finetune_radius(
    rows: list[dict], *, x_key: str = "rho", xlabel: str = "fine-tuning radius ρ"
) -> Figure:
    """Fine-tuning outcome against the radius: test loss, effective α and ∫L after the switch.

    Parameters
    ----------
    rows : list of dict
        One row per seed and radius, with ``seed``, ``x_key``, ``status`` and,
        for the discrete run, ``test_loss``, ``base_test_loss`` (before
        fine-tuning), ``alpha_fit`` and ``integral_after``; for the flow from
        the same switch point, ``flow_alpha_eff`` and ``flow_integral_after``.
        Rows with status ``diverged`` are counted in the legend and left out.
    x_key, xlabel : str
        The row key of the radius and its axis label.

    Examples
    --------
    >>> from dlnsam.plots import finetune_radius
    >>> rows = [{"seed": 0, "rho": r, "status": "max_steps", "test_loss": 0.01 / r,
    ...          "base_test_loss": 0.02, "alpha_fit": 0.05 / r, "integral_after": 1e-3 * r,
    ...          "flow_alpha_eff": 0.05, "flow_integral_after": 1e-5} for r in (1.0, 2.0)]
    >>> len(finetune_radius(rows).axes)
    3
    """
    fig = Figure(figsize=(11.5, 3.5), layout="constrained")
    axes = fig.subplots(1, 3)
    ok = [r for r in rows if r.get("status") != "diverged"]
    diverged = len(rows) - len(ok)
    panels = (
        (("test_loss", "after fine-tuning"), ("base_test_loss", "before (ERM)"), "test loss"),
        (("alpha_fit", "discrete run: measured α̂"),
         ("flow_alpha_eff", "flow: α e^(−Δ) (Theorem 1 from the switch)"), "effective α"),
        (("integral_after", "discrete run: Σ γ L"), ("flow_integral_after", "flow: ∫ L dt"),
         "loss integral after the switch"),
    )  # fmt: skip
    for ax, (first, second, ylabel) in zip(axes, panels, strict=True):
        for j, (key, label) in enumerate((first, second)):
            x, mean, lo, hi = _seed_stats(ok, key, x_key)
            if x.size:
                ax.plot(x, mean, "o-" if j == 0 else "s--", ms=3, color=f"C{j}", label=label)
                ax.fill_between(x, lo, hi, color=f"C{j}", alpha=0.15, lw=0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
    if diverged:
        axes[0].set_title(f"{diverged} of {len(rows)} fine-tuning runs diverged (left out)",
                          fontsize=8)  # fmt: skip
    return fig


def final_and_best(rows: list[dict], *, x_key: str, xlabel: str, title: str = "") -> Figure:
    """Final test loss (solid) and its minimum over training (dashed) against ``x_key``.

    The dashed curve is what early stopping at the best recorded iteration
    would have reached; where it lies below the solid one, stopping early
    would have helped. Linear x axis, log y axis, geometric mean over seeds
    with a min–max band.

    Parameters
    ----------
    rows : list of dict
        Rows with ``x_key``, ``seed``, ``test_loss``, ``best_test_loss`` and
        ``algorithm`` (or ``label``).
    x_key, xlabel, title : str
        The row key of the horizontal axis, its label, the axes' title.

    Examples
    --------
    >>> from dlnsam.plots import final_and_best
    >>> rows = [{"label": "GD", "noise": s, "seed": 0, "test_loss": 0.1 + s,
    ...          "best_test_loss": 0.1 + s / 2} for s in (0.0, 0.5)]
    >>> len(final_and_best(rows, x_key="noise", xlabel="σ").axes[0].get_lines())
    2
    """
    fig = Figure(figsize=(5.2, 3.9), layout="constrained")
    ax = fig.add_subplot()
    for i, (label, group) in enumerate(_by_label(rows).items()):
        color = _color(label, i)
        for key, ls, suffix in (("test_loss", "o-", "final"), ("best_test_loss", "s--", "best")):
            x, mean, lo, hi = _seed_stats(group, key, x_key)
            ax.plot(x, mean, ls, ms=3, color=color, label=f"{label} ({suffix})")
            ax.fill_between(x, lo, hi, color=color, alpha=0.12, lw=0)
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test loss")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    return fig


def interpolation_losses(ts: ArrayLike, train: ArrayLike, test: ArrayLike) -> Figure:
    """Train and test loss along a segment between two solutions, log scale.

    Typically the segment θ(t) = (1 − t) θ_ERM + t θ_ERM→SAM in parameter
    space, β(t) = u(t) ⊙ v(t) (a segment in β between two interpolators would
    interpolate all along). ``train`` and ``test`` may be (seeds, T) arrays
    (geometric mean with a min–max band).

    Examples
    --------
    >>> from dlnsam.plots import interpolation_losses
    >>> fig = interpolation_losses([0, 0.5, 1], [1e-20, 1e-3, 1e-20], [0.3, 0.2, 0.1])
    >>> fig.axes[0].get_xlabel(), fig.axes[0].get_yscale()
    ('t (0: ERM solution, 1: ERM → 1-SAM solution)', 'log')
    """
    fig = Figure(figsize=(5.2, 3.9), layout="constrained")
    ax = fig.add_subplot()
    t = np.asarray(ts, float)
    for i, (name, vals) in enumerate((("train", train), ("test", test))):
        _geometric_band(ax, t, vals, color=f"C{i}", label=f"{name} loss")
    ax.set_yscale("log")
    ax.set_xlabel("t (0: ERM solution, 1: ERM → 1-SAM solution)")
    ax.set_ylabel("loss")
    ax.set_title("Along the segment between the two solutions")
    ax.legend(fontsize=8)
    return fig


# ------------------------------------------------------------------ Theorem 1, α


def theorem1_alpha(report: Theorem1Report) -> Figure:
    """Predicted against measured effective α across ρ, per micro-batch size.

    Lines: the geometric mean of the exact prediction α e^{−Δ} (solid), of
    the first-order α e^{−Δ⁽¹⁾} (dashed) and the typical α e^{−2ρ∫L/m}
    (dotted). Markers: α̂ measured from the flow's solution alone, the α of
    the nearest point of the hypentropy path. Converged flows only.

    Examples
    --------
    >>> from dlnsam import gaussian_problem
    >>> from dlnsam.verify import theorem1
    >>> from dlnsam.plots import theorem1_alpha
    >>> rep = theorem1(gaussian_problem(10, 14, 2), rhos=[0.02, 0.04], workers=1)
    >>> len(theorem1_alpha(rep).axes[0].get_lines())  # 2 m-values x 4 + initial α
    9
    """
    fig = Figure(figsize=(5.2, 3.9), layout="constrained")
    ax = fig.add_subplot()
    for i, (label, rows) in enumerate(_groups(report).items()):
        conv = [r for r in rows if r.converged]
        if not conv:
            continue
        color = _color(label, i)
        rho = np.array([r.rho for r in conv])
        exact = np.array([r.alpha_eff_geomean for r in conv])
        first = np.array([r.alpha_eff_first_order_geomean for r in conv])
        typical = np.array([report.alpha * math.exp(-r.typical / report.d) for r in conv])
        ax.plot(rho, exact, "-", color=color, label=f"{label} exact α e^(−Δ)")
        ax.plot(rho, first, "--", color=color, label=f"{label} first order")
        ax.plot(rho, typical, ":", color=color, label=f"{label} typical")
        ax.plot(rho, [r.alpha_closest for r in conv], "o", color=color, ms=4,
                label=f"{label} measured α̂")  # fmt: skip
    ax.axhline(report.alpha, color="k", lw=0.8, label=f"initial α = {report.alpha:g}")
    _finish_log_axes(ax, "SAM radius ρ", "effective α (geometric mean)",
                     "Predicted and measured effective α", fontsize=6, ncol=2)  # fmt: skip
    return fig


def flatness_measures(report: FlatnessReport) -> Figure:
    """Trace and λ_max of the Hessian at the limit, against m and against ρ (main problem).

    Top row: against the micro-batch size m (from n down to 1), one colour per
    ρ; solid lines are flows, dashed and dotted lines full-batch runs at the
    small and the moderate step size. Bottom row: against ρ for n-SAM and
    1-SAM. Horizontal lines mark gradient flow (GF) and GD at each step size;
    crosses, squares and triangles mark SGD(b), SAM(ρ, m = b) and
    SAM(ρ, m < b) with batch b (geometric mean over seeds, drawn at x = b or m).
    Only converged flows and runs are drawn.

    Examples
    --------
    >>> from dlnsam import gaussian_problem
    >>> from dlnsam.verify.flatness import flatness_claims
    >>> from dlnsam.plots import flatness_measures
    >>> rep = flatness_claims(gaussian_problem(4, 8, 2), others=(), rhos=[0.1], ms=[1, None],
    ...                       lrs=[0.1], seeds=[0], batch_size=2, micro_batch=1, workers=1)
    >>> len(flatness_measures(rep).axes)
    4
    """
    fig = Figure(figsize=(11.0, 6.6), layout="constrained")
    axes = fig.subplots(2, 2)
    sources = [("flow", None, "-")] + [
        ("run", lr, ls) for lr, ls in zip(report.settings["lrs"], ("--", ":", "-."), strict=False)
    ]
    rhos = report.settings["rhos"]
    for col, key in enumerate(("trace", "lambda_max")):
        top, bottom = axes[0, col], axes[1, col]
        for kind, lr, ls in sources:
            rows = [r for r in report.select(kind, 0, lr) if r.converged]
            tag = "flow" if kind == "flow" else f"γ={lr:g}"
            for base in (r for r in rows if r.rho == 0):
                for ax in (top, bottom):
                    ax.axhline(getattr(base, key), color="black", ls=ls, lw=0.8,
                               label=f"{base.algorithm} ({tag})")  # fmt: skip
            for i, rho in enumerate(rhos):
                pts = sorted((r.m, getattr(r, key)) for r in rows if r.rho == rho)
                if pts:
                    m, val = np.array(pts).T
                    top.plot(m, val, ls, marker="o", ms=3, color=_EXTRA[i % len(_EXTRA)],
                             label=f"ρ={rho:g} ({tag})")  # fmt: skip
            n = max((r.m for r in rows), default=0)
            for m_sel, name in ((n, "n-SAM"), (1, "1-SAM")):
                pts = sorted((r.rho, getattr(r, key)) for r in rows if r.rho > 0 and r.m == m_sel)
                if pts:
                    rho_v, val = np.array(pts).T
                    bottom.plot(rho_v, val, ls, marker="o", ms=3, color=_color(name, 0),
                                label=f"{name} ({tag})")  # fmt: skip
        _mark_stochastic(top, report, key)
        top.set_xscale("log")
        top.invert_xaxis()
        top.set_xlabel("micro-batch size m (n → 1)")
        bottom.set_xlabel("SAM radius ρ")
        label = "tr ∇²L" if key == "trace" else "λ_max ∇²L"
        for ax in (top, bottom):
            ax.set_ylabel(label)
            ax.grid(True, which="both", alpha=0.3)
        top.set_title(f"{label} at the limit against m", fontsize=9)
        bottom.set_title(f"{label} at the limit against ρ", fontsize=9)
    # One legend per row, outside the panels: both columns draw the same series.
    for row, where in zip(axes, ("outside right upper", "outside right lower"), strict=True):
        handles, labels = row[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc=where, fontsize=6.5, frameon=False)
    return fig


def _mark_stochastic(ax: Axes, report: FlatnessReport, key: str) -> None:
    """SGD(b), SAM(m=b) and SAM(m<b) with batch b: geometric means over the seeds."""
    s = report.settings
    marks = (("SGD", s["batch_size"], "x"), ("SAM(m=b)", s["batch_size"], "s"),
             ("SAM(m<b)", s["micro_batch"], "^"))  # fmt: skip
    for name, x, marker in marks:
        vals = [getattr(r, key) for r in report.select("stochastic")
                if r.algorithm == name and r.converged]  # fmt: skip
        if vals:
            ax.plot([x], [float(np.exp(np.mean(np.log(vals))))], marker, color="tab:cyan",
                    label=f"{name}, b={s['batch_size']}, γ={s['sgd_lr']:g}")  # fmt: skip


def theorem2_rates(report: Theorem2Report) -> Figure:
    """Theorem 2's rates, log–log: measured means with 99 % bands and the bound lines.

    Left: E L(w_T) − L* against T under the PL schedules; middle: the
    non-convex left side (1/T) Σ_{t<T} E‖∇L(w_t)‖² against T; one colour per
    batch size b (solid: the theorem's m = b, dotted: micro-batches m < b at
    the largest b), each bound of the theorem dashed in its colour. Right:
    E L(w_T) − L* at the largest T against b, with the PL bound and a 1/b
    guide. Bands are mean ± 2.576·sd/√R over the runs.

    Examples
    --------
    >>> from dlnsam.verify.theorem2 import theorem2
    >>> from dlnsam.plots import theorem2_rates
    >>> rep = theorem2(runs=4, pl_steps=[10, 100], nonconvex_steps=[10, 100],
    ...                batch_sizes=[1, 2], ms=[1], workers=1)
    >>> [ax.get_xscale() for ax in theorem2_rates(rep).axes]
    ['log', 'log', 'log']
    """
    fig = Figure(figsize=(11.0, 3.8), layout="constrained")
    axes = fig.subplots(1, 3)
    titles = {"pl": "PL schedules", "nonconvex": "non-convex schedules"}
    ylabels = {"pl": "E L(w_T) − L*", "nonconvex": "(1/T) Σ E‖∇L(w_t)‖² over t < T"}
    b_max = max(report.settings["batch_sizes"])
    for ax, form in zip(axes[:2], ("pl", "nonconvex"), strict=True):
        for i, b in enumerate(report.settings["batch_sizes"]):
            rows = report.select(form, b, b)
            color = _EXTRA[i % len(_EXTRA)]
            _band(ax, rows, color, "-", f"b={b}")
            ax.plot([r.steps for r in rows], [r.right for r in rows], "--", color=color, lw=1)
        first = len(report.settings["batch_sizes"])  # colours after those of the b's
        for j, m in enumerate(report.settings["ms"]):
            rows = report.select(form, b_max, m)
            _band(ax, rows, _EXTRA[(first + j) % len(_EXTRA)], ":", f"m={m}, b={b_max}")
        ax.plot([], [], "k--", lw=1, label="bound (Theorem 2)")
        _finish_log_axes(ax, "horizon T", ylabels[form], titles[form], fontsize=6, ncol=2)
    ax = axes[2]
    t_max = max(report.settings["pl_steps"])
    rows = sorted((r for r in report.select("pl") if r.theorem and r.steps == t_max),
                  key=lambda r: r.b)  # fmt: skip
    _band(ax, rows, "tab:red", "-", f"measured (slope {report.slope_b:.2f})", key="b")
    b = np.array([r.b for r in rows], dtype=float)
    ax.plot(b, [r.right for r in rows], "--", color="tab:red", lw=1, label="bound (Theorem 2)")
    if rows and rows[0].left_mean > 0:
        ax.plot(b, rows[0].left_mean * b[0] / b, "k:", lw=1, label="1/b")
    _finish_log_axes(ax, "batch size b", "E L(w_T) − L*", f"PL, T = {t_max}", fontsize=6)
    return fig


def _band(
    ax: Axes, rows: list[Theorem2Row], color: str, ls: str, label: str, key: str = "steps"
) -> None:
    """Means with their 99 % confidence band (clipped above zero for the log axis)."""
    if not rows:
        return
    x = np.array([getattr(r, key) for r in rows], dtype=float)
    mean = np.array([r.left_mean for r in rows])
    half = np.array([r.left_half for r in rows])
    ax.plot(x, mean, ls, marker="o", ms=3, color=color, label=label)
    ax.fill_between(x, np.maximum(mean - half, mean * 1e-3), mean + half, color=color, alpha=0.2)
