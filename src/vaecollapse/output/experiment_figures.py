"""The reproduction figures: seed means with min–max bands over seeds, the theory overlaid.

The analyses (:mod:`vaecollapse.experiments.analyses`) say what to draw as
:class:`~vaecollapse.experiments.definition.FigureSpec` objects; :func:`draw` draws one, by its
``kind`` (a function of this module). Headless (matplotlib's Agg canvas is chosen per figure,
never by a global ``matplotlib.use``: :func:`vaecollapse.output.figures.new_figure`), fonts no
smaller than 8 pt, titles wrapped to the figure width.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from vaecollapse.experiments.definition import FigureSpec
from vaecollapse.files.atomic import atomic_savefig, atomic_write_text
from vaecollapse.output.figures import new_figure

FONT = 9
SMALL = 8


def suptitle(fig, text: str, fontsize: float = FONT) -> None:
    """A figure title wrapped to the figure's width (each line of ``text`` wrapped alone)."""
    chars = max(20, int(fig.get_figwidth() * 72 / (0.55 * fontsize)))
    lines = [w for line in text.split("\n") for w in textwrap.wrap(line, chars) or [""]]
    fig.suptitle("\n".join(lines), fontsize=fontsize)


def save(fig, path: Path) -> str:
    """Write ``fig`` atomically; its file name."""
    atomic_savefig(fig, path, dpi=110)
    return path.name


def band(ax, x, runs: np.ndarray, color: str, label: str, log: bool = True) -> None:
    """Seed mean of ``runs`` (seeds × points) as a line, min–max over seeds as a shaded band."""
    runs = np.atleast_2d(np.asarray(runs, dtype=float))
    line = ax.semilogx if log else ax.plot
    line(x, runs.mean(0), "o-", ms=3, color=color, label=label)
    if len(runs) > 1:
        ax.fill_between(x, runs.min(0), runs.max(0), color=color, alpha=0.2, lw=0)


def curves_figure(panels, epsilon: float, delta: float, title: str, path: Path) -> str:
    """(ε,δ) curves: one panel per series; ``panels`` = [(series label, level, latent_dim,
    theory kind, [(value label, eps grid, seeds × eps curves, predicted, inactive modes per seed)])]."""
    fig, axes = new_figure(1, len(panels), figsize=(4.8 * len(panels), 4.0), squeeze=False)
    for ax, (label, level, latent, kind, lines) in zip(axes[0], panels, strict=True):
        for j, (vlabel, eps, curves, predicted, inactive) in enumerate(lines):
            band(ax, eps, curves, f"C{j}", vlabel)
            if predicted is not None:
                ax.axhline(predicted / latent, color=f"C{j}", ls="--", lw=1)
            if inactive:
                ax.plot([eps[-1] * 2.5], [np.mean(inactive) / latent], "D", ms=5, color=f"C{j}",
                        mec="k", mew=0.5, clip_on=False)
        ax.axvline(epsilon, color="k", ls=":", lw=1)
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel(r"$\varepsilon$", fontsize=FONT)
        ax.set_ylabel(f"fraction of collapsed dims ({level})", fontsize=FONT)
        note = f"dashed: {kind}; " if kind else ""
        ax.set_title(f"{label}\n({note}◆ 1 − active modes / d; band: min–max over seeds)",
                     fontsize=SMALL)
        ax.tick_params(labelsize=SMALL)
        ax.legend(fontsize=SMALL)
    suptitle(fig, f"{title}; δ = {delta:g}")
    return save(fig, path)


def bars_figure(labels, colors, metrics, title: str, path: Path, note: str = "") -> str:
    """Bar charts of seed means with min–max error bars: ``metrics`` = [(title, [seed values per
    bar])]."""
    fig, axes = new_figure(1, len(metrics), figsize=(4.6 * len(metrics), 4.0))
    for ax, (name, groups) in zip(np.atleast_1d(axes), metrics, strict=True):
        means = np.array([np.nan if not g else np.mean(g) for g in groups])
        lo = np.array([np.nan if not g else np.min(g) for g in groups])
        hi = np.array([np.nan if not g else np.max(g) for g in groups])
        x = np.arange(len(groups))
        ax.bar(x, means, color=colors)
        # (clipped at 0: a mean of equal seeds can round a hair past their min or max)
        ax.errorbar(x, means, yerr=[np.maximum(means - lo, 0), np.maximum(hi - means, 0)],
                    fmt="none", ecolor="k", lw=1,
                    capsize=2)
        ax.set_xticks(x, labels, rotation=60, ha="right", fontsize=SMALL)
        ax.tick_params(labelsize=SMALL)
        ax.set_title(name, fontsize=FONT)
    suptitle(fig, title + (f"\n{note}" if note else "") + "\n(bars: seed mean; whiskers: min–max)")
    return save(fig, path)


def linear_sweep_figure(param, panels, epsilon, delta, title, path: Path) -> str:
    """The theory's active modes (step curve) against the trained ones, per series: every seed as
    a dot, the seed mean with min–max whiskers. ``panels`` = [(series label, theory kind, fine
    values, theory curve, swept values, values × seeds active modes, values × seeds dims not
    (ε,δ)-collapsed)]; one series is drawn black and red, several in a colour each."""
    fig, ax = new_figure(figsize=(6.4, 4.4))
    one = len(panels) == 1
    for j, (label, kind, fine, curve, xs, measured, per_dim) in enumerate(panels):
        line, dots = ("k", "C3") if one else (f"C{j}", f"C{j}")
        prefix = "" if one else f"{label}: "
        ax.step(fine, curve, where="post", color=line, lw=1.5, label=prefix + kind)
        m = np.asarray(measured, dtype=float)  # values × seeds
        for k in range(m.shape[1]):
            ax.plot(xs, m[:, k], ".", color=dots, alpha=0.5, ms=5)
        ax.errorbar(xs, m.mean(1), yerr=[m.mean(1) - m.min(1), m.max(1) - m.mean(1)], fmt="o",
                    color=dots, capsize=3,
                    label=prefix + r"trained: active modes (eigenvalues of Cov$_x\,\mu(x)$ > 0.01)")
        pd = np.asarray(per_dim, dtype=float)
        ax.plot(xs, pd.mean(1), "x", color="C0" if one else dots, ms=6,
                label=prefix + f"trained: dims not (ε={epsilon:g}, δ={delta:g})-collapsed "
                "(seed mean)")
    ax.set_xscale("log")
    ax.set_xlabel(param, fontsize=FONT)
    ax.set_ylabel("active modes", fontsize=FONT)
    ax.tick_params(labelsize=SMALL)
    ax.legend(fontsize=SMALL)
    suptitle(fig, title + "\n(dots: seeds; whiskers: min–max over seeds)")
    return save(fig, path)


def depth_figure(panels, latent: int, title: str, path: Path) -> str:
    """Collapsed modes per level against depth L, one panel per inference: the numerical theory
    as lines, the trained seed means as points with min–max whiskers. ``panels`` = [(inference,
    [(L, theory per level, levels × seeds trained)])]."""
    fig, axes = new_figure(1, len(panels), figsize=(4.8 * len(panels), 4.0), squeeze=False)
    for ax, (inference, depths) in zip(axes[0], panels, strict=True):
        top = max(L for L, _, _ in depths)
        for k in range(top):
            pts = [(L, th[k], np.asarray(tr[k], dtype=float)) for L, th, tr in depths if L > k]
            Ls = [L for L, _, _ in pts]
            ax.plot(Ls, [t for _, t, _ in pts], "-_", ms=16, mew=1.5, color=f"C{k}", lw=1.5,
                    label=f"z{k + 1}: numerical theory")
            mean = np.array([t.mean() for _, _, t in pts])
            lo = mean - np.array([t.min() for _, _, t in pts])
            hi = np.array([t.max() for _, _, t in pts]) - mean
            ax.errorbar(np.array(Ls) + 0.06 * (k - (top - 1) / 2), mean,
                        yerr=[np.maximum(lo, 0), np.maximum(hi, 0)], fmt="o", color=f"C{k}",
                        capsize=3, ms=4, label=f"z{k + 1}: trained")
        ax.set_xticks(sorted({L for L, _, _ in depths}))
        ax.set_ylim(-0.5, latent + 0.5)
        ax.set_xlabel("depth L (levels)", fontsize=FONT)
        ax.set_ylabel(f"collapsed modes of {latent}", fontsize=FONT)
        ax.set_title(f"{inference} inference", fontsize=FONT)
        ax.tick_params(labelsize=SMALL)
        ax.legend(fontsize=SMALL, ncol=2)
    suptitle(fig, title + "\n(points: seed mean, whiskers: min–max over seeds)")
    return save(fig, path)


def grid_heatmaps(grid, panels, latent: int, title: str, path: Path) -> str:
    """Heat maps over the β1 × β2 grid (rows β1, columns β2): ``panels`` = [(matrix of seed means,
    matrix of 'lo–hi' labels or None, title)]."""
    k = len(grid)
    fig, axes = new_figure(1, len(panels), figsize=(3.9 * len(panels), 3.9))
    for ax, (mat, spread, name) in zip(axes, panels, strict=True):
        ax.imshow(mat, cmap="viridis", vmin=0, vmax=latent, origin="lower")
        for i in range(k):
            for j in range(k):
                v = mat[i, j]
                text = "—" if np.isnan(v) else f"{v:.3g}"
                if spread is not None and spread[i][j]:
                    text += f"\n({spread[i][j]})"
                ax.text(j, i, text, ha="center", va="center", fontsize=SMALL,
                        color="w" if np.isnan(v) or v < latent / 2 else "k")
        ax.set_xticks(range(k), [f"{g:g}" for g in grid], fontsize=SMALL)
        ax.set_yticks(range(k), [f"{g:g}" for g in grid], fontsize=SMALL)
        ax.set_xlabel("β2 (nominal)", fontsize=FONT)
        ax.set_ylabel("β1 (nominal)", fontsize=FONT)
        ax.set_title(name, fontsize=FONT)
    suptitle(fig, title)
    return save(fig, path)


def reconstructions_figure(grid, mosaics, titles, title: str, path: Path) -> str:
    """A k × k grid of 2 × 2 reconstruction mosaics (rows β1, columns β2)."""
    k = len(grid)
    fig, axes = new_figure(k, k, figsize=(2.0 * k, 2.1 * k), squeeze=False)
    for i in range(k):
        for j in range(k):
            ax = axes[i, j]
            if mosaics[i][j] is not None:
                ax.imshow(mosaics[i][j], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(titles[i][j], fontsize=SMALL)
    suptitle(fig, title, fontsize=SMALL)
    return save(fig, path)


def agreement_figure(cf, num, th, instances: int, title: str, path: Path) -> str:
    """Closed form against the numerical minimiser (random instances) and against SGD training."""
    fig, (a1, a2) = new_figure(1, 2, figsize=(9, 4))
    a1.plot(cf, num, "o", ms=3)
    lim = [0, max(max(cf), max(num)) * 1.05 + 1e-9]
    a1.plot(lim, lim, "k--", lw=1)
    a1.set_xlabel("closed form (λ, ω)", fontsize=FONT)
    a1.set_ylabel("numerical minimiser", fontsize=FONT)
    a1.set_title(f"{instances} random instances", fontsize=FONT)
    for key, mk in (("lambda", "o"), ("omega", "s"), ("sigma", "^")):
        a2.plot(th[f"{key}_theory"], th[key], mk, mfc="none", label=key)
    top = max(max(th["lambda_theory"]), max(th["omega_theory"]), max(th["sigma_theory"])) * 1.05
    a2.plot([0, top], [0, top], "k--", lw=1)
    a2.set_xlabel("closed form", fontsize=FONT)
    a2.set_ylabel("trained by SGD on MNIST", fontsize=FONT)
    a2.legend(fontsize=SMALL)
    suptitle(fig, title)
    return save(fig, path)


#: the drawings an analysis may ask for (FigureSpec.kind)
def training_curves_figure(arms, title: str, path: Path) -> str:
    """KL, I(x; z) and active units on the evaluation data over training, one line per arm (the
    seed mean) with a min–max band: ``arms`` = [{label, epochs, kl, mi, au}], each metric
    seeds × epochs."""
    panels = (("kl", "KL (nats)"), ("mi", "I(x; z) (nats)"), ("au", "active units"))
    fig, axes = new_figure(1, len(panels), figsize=(4.6 * len(panels), 4.0))
    for ax, (key, name) in zip(np.atleast_1d(axes), panels, strict=True):
        for j, arm in enumerate(arms):
            v = np.asarray(arm[key], dtype=float)
            ax.plot(arm["epochs"], v.mean(0), color=f"C{j}", label=arm["label"])
            ax.fill_between(arm["epochs"], v.min(0), v.max(0), color=f"C{j}", alpha=0.15, lw=0)
        ax.set_xlabel("epoch", fontsize=SMALL)
        ax.set_title(name, fontsize=FONT)
        ax.tick_params(labelsize=SMALL)
    np.atleast_1d(axes)[0].legend(fontsize=SMALL)
    suptitle(fig, title + "\n(lines: seed mean; bands: min–max)")
    return save(fig, path)


def sentence_table(header, rows, title: str, path: Path) -> str:
    """A Markdown table of decoded sentences (written atomically); returns its file name."""
    def cell(v) -> str:
        return str(v).replace("|", "\\|")

    lines = [f"**{title}**", "", "| " + " | ".join(cell(h) for h in header) + " |",
             "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    atomic_write_text(Path(path), "\n".join(lines) + "\n")
    return Path(path).name


KINDS = {f.__name__: f for f in (curves_figure, bars_figure, linear_sweep_figure, depth_figure,
                                 grid_heatmaps, reconstructions_figure, agreement_figure,
                                 training_curves_figure, sentence_table)}


def draw(spec: FigureSpec, directory: Path) -> str:
    """Draw ``spec`` into ``directory`` (its file name ``spec.name``); returns the name."""
    if spec.kind not in KINDS:
        raise ValueError(f"unknown figure kind {spec.kind!r}: choose one of {', '.join(KINDS)}")
    return KINDS[spec.kind](**spec.data, path=Path(directory) / spec.name)
