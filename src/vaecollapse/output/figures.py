"""Figures of the commands: the predicted θ spectrum with its collapse threshold, phase diagrams
(``predict --sweep`` and ``advise``), diagnostics and sweep summaries; and the canvas every
figure is drawn on (:func:`new_figure`), the reproduction figures'
(:mod:`~vaecollapse.output.experiment_figures`) included.

Headless: each figure is drawn on its own Agg canvas (:func:`new_figure`), so no global
``matplotlib.use`` is needed and importing this module changes no matplotlib state; every figure
is written atomically.
"""

from __future__ import annotations

import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vaecollapse.files.atomic import atomic_savefig
from vaecollapse.theory import Prediction, Statistics
from vaecollapse.theory.advice import Advice, active_grid

ACTIVE, COLLAPSED = "#1f77b4", "#d62728"
SYMBOL = {"beta": r"$\beta$", "beta1": r"$\beta_1$", "beta2": r"$\beta_2$",
          "eta_dec": r"$\eta_{dec}$", "eta_enc": r"$\eta_{enc}$"}


def symbol(parameter: str) -> str:
    return SYMBOL.get(parameter, parameter)


def new_figure(*args, figsize=None, **kwargs):
    """A figure with constrained layout on the Agg canvas and its axes (``Figure.subplots``
    arguments); no display and no pyplot state are involved."""
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(*args, **kwargs)


def plot_prediction(pred: Prediction, path: str | os.PathLike, title: str = "") -> None:
    """Two panels: θ per mode (bars; collapsed modes red and marked ×) with the collapse
    threshold, and the expected KL to the prior per mode at the optimum."""
    d = pred.latent_dim
    idx = np.arange(d)
    collapsed = pred.modes["collapsed"].astype(bool)
    colors = np.where(collapsed, COLLAPSED, ACTIVE)
    fig, (ax1, ax2) = new_figure(1, 2, figsize=(11, 4.2))
    theta = pred.theta
    ax1.bar(idx, np.where(theta > 0, theta, np.nan), color=colors)
    ax1.scatter(idx[collapsed], np.where(theta[collapsed] > 0, theta[collapsed], np.nan),
                marker="x", color="k", zorder=3, label="collapsed")
    if pred.threshold is not None:
        thr = pred.threshold
        value = f" = {thr[0]:.3g}" if np.allclose(thr, thr[0]) else ""
        ax1.step(np.r_[idx - 0.5, d - 0.5], np.r_[thr, thr[-1]], where="post", color="k",
                 ls="--", lw=1.2, label=f"threshold {pred.threshold_label}{value}")
    positive = theta[theta > 0]
    if positive.size and positive.max() / positive.min() > 50:
        ax1.set_yscale("log")
    scale = "eigenvalue of E (variance)" if pred.model.conditional else "θ (std)"
    ax1.set_xlabel("latent mode (θ descending)")
    ax1.set_ylabel(scale)
    ax1.set_title("θ spectrum")
    ax1.legend(loc="upper right", fontsize=8)
    kl = pred.modes["kl"]
    ax2.bar(idx, kl, color=colors)
    ax2.set_xlabel("latent mode")
    ax2.set_ylabel("expected KL to prior (nats)" + (" — z2" if pred.model.hierarchical else ""))
    ax2.set_title(f"{pred.n_collapsed} of {d} modes collapse")
    fig.suptitle(title or pred.theorem, fontsize=10)
    atomic_savefig(fig, path, dpi=120)


def plot_sweep(preds: list[Prediction], parameter: str, values, path: str | os.PathLike,
               title: str = "", current: float | None = None) -> None:
    """Phase diagram: number of collapsed modes against the swept value (top) and which modes
    are collapsed at each value (bottom; rows = modes by descending θ)."""
    values = np.asarray(values, dtype=float)
    n = np.array([p.n_collapsed for p in preds])
    grid = np.array([p.modes["collapsed"] for p in preds], dtype=float).T  # (modes, values)
    d = grid.shape[0]
    fig, (ax1, ax2) = new_figure(2, 1, figsize=(7.5, 6.5), sharex=True,
                                 gridspec_kw={"height_ratios": [1.2, 1]})
    ax1.step(values, n, where="post", color=COLLAPSED, lw=2)
    ax1.plot(values, n, "o", ms=3, color=COLLAPSED)
    ax1.set_ylabel("collapsed modes")
    ax1.set_ylim(-0.3, d + 0.3)
    if current is not None:
        for ax in (ax1, ax2):
            ax.axvline(current, color="k", ls=":", lw=1)
    edges = _edges(values)
    ax2.pcolormesh(edges, np.arange(d + 1) - 0.5, grid, cmap="Reds", vmin=0, vmax=1.4,
                   shading="flat")
    ax2.set_ylabel("mode (θ descending)")
    ax2.set_xlabel(symbol(parameter))
    ax2.invert_yaxis()
    if values.min() > 0 and values.max() / values.min() > 30:
        ax1.set_xscale("log")
        ax2.set_xscale("log")
    ax1.set_title(title or f"phase diagram over {parameter}", fontsize=10)
    atomic_savefig(fig, path, dpi=120)


def _edges(v: np.ndarray) -> np.ndarray:
    """Cell edges around sorted centres (geometric means when all positive)."""
    if v.size == 1:
        return np.array([v[0] * 0.9, v[0] * 1.1]) if v[0] else np.array([-0.5, 0.5])
    if (v > 0).all():
        mid = np.sqrt(v[1:] * v[:-1])
        return np.r_[v[0] ** 2 / mid[0], mid, v[-1] ** 2 / mid[-1]]
    mid = (v[1:] + v[:-1]) / 2
    return np.r_[2 * v[0] - mid[0], mid, 2 * v[-1] - mid[-1]]


def plot_diagnostics(result: dict, path: str | os.PathLike, title: str = "") -> None:
    """Diagnostics of a trained model: per-dimension mean KL per level (bars; (ε,δ)-collapsed
    dimensions red), the (ε,δ)-collapse curve, and — for linear models — the trained λ, ω, σ
    against the closed-form optimum."""
    levels = result["levels"]
    theory = result.get("theory")
    ncols = len(levels) + 1 + (theory is not None)
    fig, axes = new_figure(1, ncols, figsize=(4.2 * ncols, 3.8))
    for ax, lev in zip(axes, levels, strict=False):
        kl = np.asarray(lev["kl_per_dim"], dtype=float)
        collapsed = np.zeros(kl.size, dtype=bool)
        collapsed[lev["collapsed_dims"]] = True
        ax.bar(np.arange(kl.size), kl, color=np.where(collapsed, COLLAPSED, ACTIVE))
        ax.set_xlabel(f"latent dimension ({lev['name']})")
        ax.set_ylabel("mean KL to prior (nats)")
        ax.set_title(f"{lev['name']}: {int(collapsed.sum())} of {kl.size} collapsed", fontsize=10)
    ed = result["eps_delta"]
    ax = axes[len(levels)]
    ax.semilogx(ed["eps"], ed["collapsed_fraction"], "o-", color=COLLAPSED, ms=3)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel(r"$\varepsilon$")
    ax.set_ylabel("fraction of collapsed dimensions")
    ax.set_title(rf"($\varepsilon$, $\delta$={ed['delta']:g})-collapse, {levels[-1]['name']}", fontsize=10)
    if theory is not None:
        ax = axes[-1]
        for key, marker, color in (("lambda", "o", "#1f77b4"), ("omega", "s", "#2ca02c"),
                                   ("sigma", "^", "#9467bd")):
            emp = np.asarray(theory[key], dtype=float)
            ax.plot(np.arange(emp.size), emp, marker, color=color, mfc="none", label=f"{key} trained")
            ax.plot(np.arange(emp.size), theory[f"{key}_theory"], "-", color=color, lw=1,
                    label=f"{key} closed form")
        ax.set_xlabel("mode (sorted)")
        ax.set_title(f"theory: {theory['n_collapsed_predicted']} collapse predicted", fontsize=10)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    atomic_savefig(fig, path, dpi=120)


def plot_sweep_summary(groups: list[dict], x: str, metrics: list[str], labels: dict[str, str],
                       path: str | os.PathLike, theory: list | None = None, title: str = "") -> None:
    """Chosen metrics (mean ± sd over seeds) against the swept parameter ``x``; one line per
    combination of the other grid values. ``theory``: the closed-form number of collapsed modes per
    group, drawn over the ``n_collapsed`` panel (linear models)."""
    others = sorted({tuple((k, v) for k, v in g["values"].items() if k != x) for g in groups})
    fig, axes = new_figure(1, len(metrics), figsize=(4.4 * len(metrics), 3.8), squeeze=False)
    for ax, m in zip(axes[0], metrics, strict=True):
        for j, other in enumerate(others):
            sel = sorted((g for g in groups if tuple((k, v) for k, v in g["values"].items()
                                                     if k != x) == other and g[f"{m}_mean"] is not None),
                         key=lambda g: g["values"][x])
            if not sel:
                continue
            xs = [g["values"][x] for g in sel]
            label = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in other)
            ax.errorbar(xs, [g[f"{m}_mean"] for g in sel], yerr=[g[f"{m}_sd"] for g in sel],
                        marker="o", ms=4, capsize=3, color=f"C{j}", label=label or "measured")
            if theory is not None and m == "n_collapsed":
                th = [theory[groups.index(g)] for g in sel]
                ax.plot(xs, th, ls="--", marker="s", mfc="none", color=f"C{j}",
                        label=("closed form" + (f" ({label})" if label else "")))
        ax.set_xlabel(symbol(x))
        ax.set_ylabel(labels.get(m, m))
        xs_all = [g["values"][x] for g in groups if isinstance(g["values"][x], int | float)]
        if xs_all and min(xs_all) > 0 and max(xs_all) / min(xs_all) > 30:
            ax.set_xscale("log")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    atomic_savefig(fig, path, dpi=120)


# ------------------------------------------------------------------------------ advise


def _span(values: list[float], points: int) -> np.ndarray:
    v = [x for x in values if x is not None and np.isfinite(x) and x > 0]
    return np.geomspace(min(v) / 8, max(v) * 8, points)


def plot_phase_diagram(advice: Advice, stats: Statistics, path, title: str = "",
                       points: int = 120) -> tuple[str, str]:
    """Uncollapsed modes over β × η_dec (VAE, CVAE) or β1 × β2 (MHVAE), with the K contour, the
    current point and the recommendation. Returns the axes' (x, y) hyperparameter names."""
    hp, rec = advice.hyperparameters, advice.recommendation
    x_name, y_name = ("beta2", "beta1") if advice.model.hierarchical else ("beta", "eta_dec")
    xs = _span([hp[x_name], (rec.hyperparameters or {}).get(x_name),
                advice.levers["max_beta2" if x_name == "beta2" else "max_beta"].value], points)
    ys = _span([hp[y_name], (rec.hyperparameters or {}).get(y_name),
                advice.levers["min_beta1" if y_name == "beta1" else "max_eta_dec"].value], points)
    grid = active_grid(stats, advice.latent_dim, hp, x_name, xs, y_name, ys)
    fig, ax = new_figure(figsize=(6.8, 5.2))
    mesh = ax.pcolormesh(xs, ys, grid, cmap="viridis", shading="nearest",
                         vmin=0, vmax=advice.latent_dim)
    fig.colorbar(mesh, ax=ax, label="uncollapsed modes" + (" (z2)" if advice.model.hierarchical else ""))
    if grid.min() < advice.keep <= grid.max():
        cs = ax.contour(xs, ys, grid, levels=[advice.keep - 0.5], colors="w", linewidths=2)
        ax.clabel(cs, fmt={advice.keep - 0.5: f"K = {advice.keep}"}, fontsize=9)
    ax.plot(hp[x_name], hp[y_name], "o", ms=9, mfc="none", mec="r", mew=2,
            label=f"current ({advice.active_now} uncollapsed)")
    if rec.hyperparameters:
        r = rec.hyperparameters
        ax.plot(r[x_name], r[y_name], "*", ms=13, color="orange",
                label=f"recommended {symbol(rec.parameter)} = {rec.value:.3g} "
                      f"({rec.active_modes} uncollapsed)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(symbol(x_name))
    ax.set_ylabel(symbol(y_name))
    ax.legend(loc="best", fontsize=8, framealpha=0.85)
    ax.set_title(title or f"keep K = {advice.keep} of {advice.latent_dim} modes", fontsize=10)
    atomic_savefig(fig, path, dpi=120)
    return x_name, y_name
