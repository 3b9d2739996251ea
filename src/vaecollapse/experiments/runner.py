"""Run the paper's experiments: train every variant through the sweep runner, read the
diagnostics, draw the figures with the closed-form prediction overlaid, and check the claim.

Each experiment writes DIR/NAME/: the figure(s) (PNG), ``results.csv`` (the numbers behind the
figure), ``meta.json`` (title, profile, settings, versions, run time, notes) and, last,
``claims.json`` — a list of ``{"experiment", "claim", "holds": true|false|null, "evidence"}``
(null: the run was too small to decide). A finished experiment (claims.json present) is skipped
unless ``force``; its runs resume from their checkpoints after an interruption.
"""

from __future__ import annotations

import csv
import io
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from vaecollapse.errors import UserError
from vaecollapse.experiments.registry import PROFILES, REGISTRY, Experiment, Series
from vaecollapse.io import atomic_write_json, atomic_write_text

RUNNER_KEYS = ("grid", "instances")
BETAS = ("beta", "beta1", "beta2")


# ------------------------------------------------------------------------------ variants


def _value_name(v) -> str:
    return "learnable" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))


def variant_options(exp: Experiment, profile: str, options: dict[str, Any],
                    data_root: str | None = None) -> dict[str, Any]:
    """Full `train` options of one run: the experiment's base and profile, the series' options,
    the swept values (``options``), evaluation settings, and — for non-linear experiments — the
    paper's nominal β halved into the true β-ELBO weight."""
    opts = {k: v for k, v in exp.options(profile).items() if k not in RUNNER_KEYS}
    opts.update(options)
    template = exp.extra.get("data_template")
    for key in ("digit", "corr"):
        if key in opts:
            opts["data"] = template.format(**{key: opts.pop(key)})
    if "eta" in opts:
        opts["eta_enc"] = opts["eta_dec"] = opts.pop("eta")
    if data_root and opts.get("data", "").startswith("mnist"):
        spec = opts["data"]
        opts["data"] = spec.replace("mnist", f"mnist:root={data_root}", 1) if ":" not in spec else \
            spec.replace("mnist:", f"mnist:root={data_root},", 1)
    if exp.nominal_beta and opts.get("backbone") != "linear":
        names = ("beta1", "beta2") if opts.get("model") == "mhvae" else ("beta",)
        for b in names:
            opts[b] = float(opts.get(b, 1.0)) / 2
    opts["epsilon"], opts["delta"] = exp.epsilon, exp.delta
    return opts


def variants(exp: Experiment, profile: str, data_root: str | None = None
             ) -> list[tuple[str, Series | None, dict[str, Any], dict[str, Any]]]:
    """(run name, series, swept values, full options) for every run of the experiment."""
    out = []
    if exp.kind == "grid":
        grid = exp.options(profile)["grid"]
        for b1 in grid:
            for b2 in grid:
                vals = {"beta1": b1, "beta2": b2}
                out.append((f"beta1={b1:g}_beta2={b2:g}", None, vals,
                            variant_options(exp, profile, vals, data_root)))
        return out
    if exp.kind == "verify":
        return [("trained", None, {}, variant_options(exp, profile, {}, data_root))]
    for i, s in enumerate(exp.series):
        for v in s.values:
            vals = {s.param: v}
            out.append((f"s{i}-{s.param}={_value_name(v)}", s, vals,
                        variant_options(exp, profile, {**s.options_for(profile), **vals}, data_root)))
    return out


# ------------------------------------------------------------------------------ theory


def predicted_collapse(options: dict[str, Any], cache: dict) -> tuple[int | None, str]:
    """Closed-form number of collapsed modes for a run's data and hyperparameters: exact for a
    linear model, "linear theory" (the linear model's prediction on the same data) otherwise."""
    from vaecollapse.sweep import closed_form_collapse

    kind = "closed form" if options.get("backbone") == "linear" else "linear theory"
    n = closed_form_collapse(options, cache)
    return n, kind if n is not None else ""


# ------------------------------------------------------------------------------ running


def run_experiment(name: str, profile: str, out: str | Path, *, jobs: int | None = None,
                   force: bool = False, data_root: str | None = None,
                   executor: str = "local", on_update=None) -> list[dict[str, Any]]:
    """Run one experiment into ``out/name`` (skipped when finished, unless ``force``); returns
    its claims. ``on_update(done, total, failed)``: progress of its training runs."""
    if name not in REGISTRY:
        raise UserError(f"unknown experiment {name!r}: see `vaecollapse reproduce --list`")
    if profile not in PROFILES:
        raise UserError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
    exp = REGISTRY[name]
    d = Path(out) / name
    if (d / "claims.json").exists() and not force:
        return json.loads((d / "claims.json").read_text())
    t0 = time.perf_counter()
    runs = variants(exp, profile, data_root)
    from vaecollapse.sweep import run_variants

    rows = run_variants({r[0]: r[3] for r in runs}, d / "runs", jobs=jobs, force=force,
                        executor=executor, on_update=on_update)
    failed = [r for r in rows if r["status"] != "done"]
    if failed:
        raise UserError(f"{name}: {len(failed)} run(s) failed, e.g. {failed[0]['run']}: "
                        f"{failed[0]['error']}")
    records = [_record(d / "runs" / "runs" / rname, rname, s, vals, opts)
               for rname, s, vals, opts in runs]
    if exp.kind in ("linear_sweep", "grid") and any(r["active_modes"] is None for r in records):
        raise UserError(f"{name}: diagnostics without active modes (written by an older "
                        "version): rerun with --force")
    cache: dict = {}
    for rec in records:
        rec["predicted"], rec["predicted_kind"] = predicted_collapse(rec["options"], cache)
    analyse = {"curves": _curves, "linear_sweep": _linear_sweep, "grid": _grid,
               "verify": _verify}[exp.kind]
    figures, claims = analyse(exp, profile, records, d, cache)
    epochs = exp.options(profile).get("epochs", 0)
    if epochs < exp.decide_epochs:
        claims = [{**c, "holds": None, "evidence": c["evidence"] + f" — {epochs} epochs are too "
                   f"few to decide (at least {exp.decide_epochs} needed)"} for c in claims]
    _write_csv(d / "results.csv", records)
    notes = []
    if exp.nominal_beta:
        notes.append("β, β1, β2 are the paper's nominal values; non-linear models are trained "
                     "with half of them as β-ELBO weights (the paper's non-linear scripts "
                     "minimised ‖y − μ‖²/η_dec² + β·KL); linear models use β as given.")
    if "note" in exp.extra:
        notes.append(exp.extra["note"])
    meta = {"name": name, "title": exp.title, "profile": profile,
            "settings": {"base": exp.options(profile),
                         "series": [{"label": s.label, "param": s.param, "values": list(s.values),
                                     "options": s.options_for(profile)}
                                    for s in exp.series],
                         "epsilon": exp.epsilon, "delta": exp.delta},
            "seconds": time.perf_counter() - t0,
            "training_seconds": sum(json.loads(line)["seconds"] for r in records
                                    for line in (Path(r["run_dir"]) / "metrics.jsonl")
                                    .read_text().splitlines()),
            "versions": versions(),
            "figures": figures, "tables": ["results.csv"], "notes": notes}
    atomic_write_json(d / "meta.json", meta)
    claims = [{"experiment": name, **c} for c in claims]
    atomic_write_json(d / "claims.json", claims)
    return claims


def versions() -> dict[str, str]:
    import torch

    from vaecollapse import __version__

    return {"vaecollapse": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def _record(run_dir: Path, name: str, series: Series | None, vals: dict, opts: dict) -> dict:
    diag = json.loads((run_dir / "diagnostics.json").read_text())
    last = diag["levels"][-1]
    ll = diag.get("log_likelihood") or {}
    return {"run": name, "series": series.label if series else "", "values": vals,
            "options": opts, "run_dir": str(run_dir), "level": last["name"],
            "latent_dim": len(last["kl_per_dim"]), "n_collapsed": diag["n_collapsed"],
            "kl_total": last["kl_total"], "active_units": last["active_units"],
            "active_modes": last.get("active_modes"),
            "active_units_kl_fraction": last["active_units_kl_fraction"],
            "nll": None if ll.get("estimate") is None else -ll["estimate"],
            "eps": diag["eps_delta"]["eps"], "collapsed_fraction": diag["eps_delta"]["collapsed_fraction"],
            "theory": diag.get("theory")}


def _write_csv(path: Path, records: list[dict]) -> None:
    cols = ["run", "series", "values", "level", "latent_dim", "n_collapsed", "predicted",
            "predicted_kind", "kl_total", "nll", "active_units", "active_modes",
            "active_units_kl_fraction"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in records:
        w.writerow([json.dumps(r[c]) if c == "values" else
                    (f"{r[c]:.6g}" if isinstance(r[c], float) else r[c]) for c in cols])
    atomic_write_text(path, buf.getvalue())


# ------------------------------------------------------------------------------ claims


def _verdict(parts: list[bool | None]) -> bool | None:
    if any(p is False for p in parts):
        return False
    if any(p is None for p in parts):
        return None
    return True


def _tied_ranks(values: np.ndarray, tol: float) -> np.ndarray:
    """Average ranks, with values closer than ``tol`` to their sorted neighbour tied."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    start = 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[order[i]] - values[order[i - 1]] >= tol:
            ranks[order[start:i]] = (start + i - 1) / 2
            start = i
    return ranks


def _monotone(seq: list[float], direction: int, tol: float = 0.0) -> bool | None:
    """Does ``seq`` trend in ``direction`` along its order?

    Undecided (None) when the whole range is within ``tol``. Otherwise the trend holds when
    either (a) no step goes against it by more than ``tol`` and the last value is beyond the
    first by more than ``tol`` (monotone up to noise), or (b) the Spearman rank correlation with
    the order is ≥ 0.8 (one adjacent swap in four points), values closer than ``tol`` tied.
    """
    v = np.asarray(seq, dtype=float) * direction
    if v.max() - v.min() <= tol:
        return None
    if np.all(np.diff(v) >= -tol) and v[-1] - v[0] > tol:
        return True
    r = _tied_ranks(v, tol)
    x = np.arange(len(v), dtype=float)
    if np.ptp(r) == 0:
        return False
    rho = np.corrcoef(x, r)[0, 1]
    return bool(rho >= 0.8 - 1e-9)


def _by_series(exp: Experiment, records: list[dict]) -> list[tuple[Series, list[dict]]]:
    return [(s, [r for r in records if r["series"] == s.label]) for s in exp.series]


def _fmt_values(s: Series) -> str:
    return ", ".join(_value_name(v) for v in s.values)


def _check(exp: Experiment, records: list[dict]) -> tuple[bool | None, str]:
    c = exp.check
    if c in ("first_more", "second_more_au"):
        a, b = records[0], records[1]

        def which(r):
            s = r["values"].get("sigma")
            return "learnable Σ" if s is None else f"fixed σ = {s:g}"

        if c == "second_more_au":
            va, vb = a["active_units_kl_fraction"], b["active_units_kl_fraction"]
            evidence = f"active_units_kl_fraction: {which(a)} → {va:.3g}, {which(b)} → {vb:.3g}"
            return (None, evidence + " (equal: undecided)") if va == vb else (vb > va, evidence)
        # more collapse over the whole (ε,δ) curve: its mean over the log-ε grid, ties within 0.03
        va, vb = (float(np.mean(r["collapsed_fraction"])) for r in (a, b))
        modes = "" if a.get("active_modes") is None or b.get("active_modes") is None else \
            f"; modes collapsed (latent dim − active modes) {_inactive(a)} vs {_inactive(b)}"
        evidence = (f"mean collapsed fraction over the ε grid: {which(a)} → {va:.2f}, {which(b)} → "
                    f"{vb:.2f} (collapsed at ε={exp.epsilon:g}: {a['n_collapsed']} vs "
                    f"{b['n_collapsed']} of {a['latent_dim']}{modes})")
        if abs(va - vb) <= 0.03:
            return None, evidence + " — within 0.03: undecided"
        return va > vb, evidence
    parts, evidence = [], []
    for s, rs in _by_series(exp, records):
        if not s.checked:
            continue
        direction = exp.extra.get("directions", {}).get(s.label, 1)
        if c in ("increasing", "decreasing"):
            # the whole (ε,δ) curve, not one ε: its mean over the log-ε grid (curve area)
            seq = [float(np.mean(r["collapsed_fraction"])) for r in rs]
            direction *= -1 if c == "decreasing" else 1
            counts = ", ".join(str(r["n_collapsed"]) for r in rs)
            modes = "" if any(r.get("active_modes") is None for r in rs) else \
                "; modes collapsed (latent dim − active modes): " + \
                ", ".join(str(_inactive(r)) for r in rs)
            evidence.append(f"{s.label} {_fmt_values(s)}: mean collapsed fraction over the ε grid "
                            f"{', '.join(f'{v:.2f}' for v in seq)} (collapsed at ε={exp.epsilon:g}: "
                            f"{counts} of {rs[0]['latent_dim']}{modes})")
        else:  # kl_decreasing / kl_increasing
            seq = [r["kl_total"] for r in rs]
            direction *= -1 if c == "kl_decreasing" else 1
            evidence.append(f"{s.label} {_fmt_values(s)}: KL {', '.join(f'{v:.3g}' for v in seq)}")
        tol = 0.03 if c in ("increasing", "decreasing") else 0.03 * max(abs(v) for v in seq)
        parts.append(_monotone(seq, direction, tol))
    return _verdict(parts), "; ".join(evidence)


# ------------------------------------------------------------------------------ analyses


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _suptitle(fig, text: str, fontsize: float = 9) -> None:
    """A figure title wrapped to the figure's width (each line of ``text`` wrapped alone)."""
    import textwrap

    chars = max(20, int(fig.get_figwidth() * 72 / (0.55 * fontsize)))
    lines = [w for line in text.split("\n") for w in textwrap.wrap(line, chars) or [""]]
    fig.suptitle("\n".join(lines), fontsize=fontsize)


def _save(fig, path: Path) -> str:
    from vaecollapse.io import atomic_savefig

    atomic_savefig(fig, path, dpi=110)
    _plt().close(fig)
    return path.name


def _curves(exp, profile, records, d, cache):
    plt = _plt()
    groups = _by_series(exp, records)
    fig, axes = plt.subplots(1, len(groups), figsize=(4.8 * len(groups), 3.9), squeeze=False,
                             constrained_layout=True)
    for ax, (s, rs) in zip(axes[0], groups, strict=True):
        for j, r in enumerate(rs):
            label = f"{s.param}={_value_name(r['values'][s.param])}"
            ax.semilogx(r["eps"], r["collapsed_fraction"], "o-", ms=3, color=f"C{j}", label=label)
            if r["predicted"] is not None:
                ax.axhline(r["predicted"] / r["latent_dim"], color=f"C{j}", ls="--", lw=1)
            if r.get("active_modes") is not None:  # basis-free count, drawn at the right edge
                ax.plot([r["eps"][-1] * 2.5], [_inactive(r) / r["latent_dim"]], "D", ms=5,
                        color=f"C{j}", mec="k", mew=0.5, clip_on=False)
        ax.axvline(exp.epsilon, color="k", ls=":", lw=1)
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel(r"$\varepsilon$")
        ax.set_ylabel(f"fraction of collapsed dims ({rs[0]['level']})")
        kind = rs[0]["predicted_kind"]
        ax.set_title(s.label + (f"\n(dashed: {kind}; ◆ 1 − active modes / d)" if kind else
                                "\n(◆ 1 − active modes / d)"), fontsize=9)
        ax.legend(fontsize=7)
    beta_note = " — β nominal (2× β-ELBO weight)" if exp.nominal_beta else ""
    _suptitle(fig, f"{exp.title} [{profile}]{beta_note}; δ = {exp.delta:g}")
    figures = [_save(fig, d / "eps_delta.png")]
    if exp.check in ("kl_decreasing", "kl_increasing", "second_more_au"):
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), constrained_layout=True)
        labels = [r["run"] for r in records]
        for ax, key, title in zip(axes, ("kl_total", "nll", "active_units"),
                                  ("KL (nats)", "NLL (IS, nats)", "active units (Burda)"), strict=True):
            vals = [np.nan if r[key] is None else r[key] for r in records]
            colors = [f"C{[s.label for s in exp.series].index(r['series'])}" for r in records]
            ax.bar(range(len(vals)), vals, color=colors)
            ax.set_xticks(range(len(vals)), labels, rotation=70, fontsize=6)
            ax.set_title(title, fontsize=9)
        figures.append(_save(fig, d / "table.png"))
    holds, evidence = _check(exp, records)
    preds = [r["predicted"] for r in records]
    if any(p is not None for p in preds):
        evidence += f" (theory: {', '.join('—' if p is None else str(p) for p in preds)})"
    return figures, [{"claim": exp.claim, "holds": holds, "evidence": evidence}]


def _linear_sweep(exp, profile, records, d, cache):
    from vaecollapse.sweep import theory_hyperparameters
    from vaecollapse.theory import solve
    from vaecollapse.train import config_from_options

    plt = _plt()
    s = exp.series[0]
    xs = np.array([r["values"][s.param] for r in records], dtype=float)
    measured = np.array([r["active_modes"] for r in records])
    per_dim = np.array([r["latent_dim"] - r["n_collapsed"] for r in records])
    predicted = np.array([r["latent_dim"] - r["predicted"] for r in records])
    cfg = config_from_options(**records[0]["options"])
    stats = cache[(cfg.data, cfg.model.family)]
    fine = np.geomspace(xs.min(), xs.max(), 200)
    m = cfg.model
    hp = theory_hyperparameters(m)
    curve = [m.latent_dim - solve(stats, m.latent_dim, **{**hp, s.param: v}).n_collapsed for v in fine]
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    ax.step(fine, curve, where="post", color="k", lw=1.5, label="closed form")
    ax.plot(xs, measured, "o", color="C3", label="trained: active modes (eigenvalues of "
            r"Cov$_x\,\mu(x)$ > 0.01)")
    ax.plot(xs, per_dim, "x", color="C0", ms=5,
            label=f"trained: dims not (ε={exp.epsilon:g}, δ={exp.delta:g})-collapsed")
    ax.set_xscale("log")
    ax.set_xlabel(s.param)
    ax.set_ylabel("active modes")
    ax.legend(fontsize=7)
    ax.set_title(f"{exp.title} [{profile}]", fontsize=9)
    fig_name = _save(fig, d / "active_modes.png")
    diff = int(np.max(np.abs(measured - predicted)))
    tol = max(1, int(round(0.1 * m.latent_dim)))
    evidence = (f"{s.param} {', '.join(f'{v:g}' for v in xs)}: active modes trained "
                f"{', '.join(map(str, measured))} vs closed form {', '.join(map(str, predicted))} "
                f"(max difference {diff}, tolerance {tol}; per-dimension (ε,δ) count, which a "
                f"rotation among near-collapsed modes inflates: {', '.join(map(str, per_dim))})")
    return [fig_name], [{"claim": exp.claim, "holds": diff <= tol, "evidence": evidence}]


def _inactive(r: dict) -> int:
    """Collapsed directions, counted without a basis: latent_dim − active modes."""
    return r["latent_dim"] - r["active_modes"]


def _grid_trend(n: np.ndarray) -> bool | None:
    """The β1 × β2 claim on a grid of collapse counts (rows β1, columns β2, both ascending):
    at least 75% of the steps along β2 do not lower collapse, at least 75% of the steps along
    β1 do not raise it, and the largest β2 collapses more in total than the smallest. None when
    the grid is flat."""
    k = n.shape[0]
    up_b2 = [np.sign(n[i, j + 1] - n[i, j]) for i in range(k) for j in range(k - 1)]
    up_b1 = [np.sign(n[i + 1, j] - n[i, j]) for i in range(k - 1) for j in range(k)]
    if not any(up_b2) and not any(up_b1):
        return None
    return bool(sum(s >= 0 for s in up_b2) >= 0.75 * len(up_b2)
                and sum(s <= 0 for s in up_b1) >= 0.75 * len(up_b1)
                and n[:, -1].sum() > n[:, 0].sum())


def _grid(exp, profile, records, d, cache):
    import torch

    from vaecollapse.train import load_model, load_run_data

    plt = _plt()
    grid = list(exp.options(profile)["grid"])
    k = len(grid)
    latent = records[0]["latent_dim"]
    # rows β1, columns β2: inactive z2 modes, (ε,δ)-collapsed z2 dims, linear-theory collapse
    n = np.zeros((k, k), dtype=int)
    n_eps = np.zeros((k, k), dtype=int)
    theory = np.full((k, k), np.nan)
    fig, axes = plt.subplots(k, k, figsize=(1.9 * k, 2.0 * k), constrained_layout=True)
    x_show = None
    for r in records:
        i, j = grid.index(r["values"]["beta1"]), grid.index(r["values"]["beta2"])
        n[i, j], n_eps[i, j] = _inactive(r), r["n_collapsed"]
        if r["predicted"] is not None:
            theory[i, j] = r["predicted"]
        cfg, model, _ = load_model(Path(r["run_dir"]))
        if x_show is None:
            _, x, _ = load_run_data(cfg.data, "mhvae")
            x_show = x[:4]
        with torch.no_grad():
            m1, _ = model.enc1(x_show)
            rec = model.dec1(m1).clamp(0, 1).reshape(-1, 28, 28).numpy()
        mosaic = np.block([[rec[0], rec[1]], [rec[2], rec[3]]])
        ax = axes[i, j]
        ax.imshow(mosaic, cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        th = "" if np.isnan(theory[i, j]) else f" (theory {int(theory[i, j])})"
        ax.set_title(f"β1={grid[i]:g}, β2={grid[j]:g}\nz2 collapsed {n[i, j]}{th}", fontsize=7)
    _suptitle(fig, f"{exp.title} [{profile}]\nβ nominal (2× β-ELBO weight); collapsed = "
              f"{latent} − active modes;\ntheory = the linear model's closed form on the same "
              "data", fontsize=7)
    figures = [_save(fig, d / "reconstructions.png")]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), constrained_layout=True)
    panels = ((n, "trained: z2 modes collapsed\n(latent dim − active modes)"),
              (n_eps, f"trained: z2 dims (ε={exp.epsilon:g}, δ={exp.delta:g})-collapsed"),
              (theory, "linear theory on the same data\n(closed form, Theorem 3)"))
    for ax, (mat, title) in zip(axes, panels, strict=True):
        ax.imshow(mat, cmap="viridis", vmin=0, vmax=latent, origin="lower")
        for i in range(k):
            for j in range(k):
                v = mat[i, j]
                ax.text(j, i, "—" if np.isnan(v) else f"{int(v)}", ha="center", va="center",
                        color="w" if np.isnan(v) or v < latent / 2 else "k", fontsize=9)
        ax.set_xticks(range(k), [f"{g:g}" for g in grid])
        ax.set_yticks(range(k), [f"{g:g}" for g in grid])
        ax.set_xlabel("β2 (nominal)")
        ax.set_ylabel("β1 (nominal)")
        ax.set_title(title, fontsize=9)
    _suptitle(fig, f"{exp.title} [{profile}] — collapsed z2 modes of {latent}")
    figures.append(_save(fig, d / "collapse_grid.png"))
    holds = _grid_trend(n)

    def rows(mat):
        return "; ".join(f"β1={grid[i]:g}: " + ", ".join("—" if np.isnan(v) else str(int(v))
                                                         for v in mat[i]) for i in range(k))

    evidence = (f"z2 modes collapsed (latent dim − active modes) of {latent} along β2 = "
                f"{', '.join(f'{g:g}' for g in grid)} — {rows(n)} (linear theory: {rows(theory)}; "
                f"(ε={exp.epsilon:g}, δ={exp.delta:g})-collapsed dims: {rows(n_eps.astype(float))})")
    return figures, [{"claim": exp.claim, "holds": holds, "evidence": evidence}]


def _verify(exp, profile, records, d, cache):
    from vaecollapse.experiments.verify import numerical_agreement

    plt = _plt()
    opts = records[0]["options"]
    agreement = numerical_agreement(opts, exp.options(profile)["instances"])
    th = records[0]["theory"]
    rel = {}
    for key in ("lambda", "omega", "sigma"):
        scale = max(max(th[f"{key}_theory"]), 1e-12)
        rel[key] = th[f"{key}_mae"] / scale
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 4), constrained_layout=True)
    cf, num = agreement["closed_form"], agreement["numerical"]
    a1.plot(cf, num, "o", ms=3)
    lim = [0, max(max(cf), max(num)) * 1.05 + 1e-9]
    a1.plot(lim, lim, "k--", lw=1)
    a1.set_xlabel("closed form (λ, ω)")
    a1.set_ylabel("numerical minimiser")
    a1.set_title(f"{agreement['instances']} random instances", fontsize=9)
    for key, mk in (("lambda", "o"), ("omega", "s"), ("sigma", "^")):
        a2.plot(th[f"{key}_theory"], th[key], mk, mfc="none", label=key)
    top = max(max(th["lambda_theory"]), max(th["omega_theory"]), max(th["sigma_theory"])) * 1.05
    a2.plot([0, top], [0, top], "k--", lw=1)
    a2.set_xlabel("closed form")
    a2.set_ylabel("trained by SGD on MNIST")
    a2.legend(fontsize=8)
    _suptitle(fig, f"{exp.title} [{profile}]")
    fig_name = _save(fig, d / "agreement.png")
    numeric_ok = agreement["max_rel_error"] < 1e-4
    trained_ok = max(rel.values()) < 0.1
    holds = False if not numeric_ok else (True if trained_ok else None)
    evidence = (f"numerical: max relative error {agreement['max_rel_error']:.1e} over "
                f"{agreement['instances']} instances (loss and singular values); trained: "
                f"relative MAE λ {rel['lambda']:.3f}, ω {rel['omega']:.3f}, σ {rel['sigma']:.3f}"
                + ("" if trained_ok else " (not converged at this profile: undecided)"))
    return [fig_name], [{"claim": exp.claim, "holds": holds, "evidence": evidence}]


def reproduce(names: list[str], profile: str, out: str | Path, *, jobs: int | None = None,
              force: bool = False, data_root: str | None = None, executor: str = "local",
              on_start=None, on_update=None) -> dict[str, list[dict[str, Any]]]:
    """Run the named experiments (``["all"]`` for every one) in registry order; ``on_start(name)``
    before each, ``on_update(done, total, failed)`` as its training runs finish."""
    if names == ["all"]:
        names = list(REGISTRY)
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise UserError(f"unknown experiment(s) {', '.join(unknown)}: see `vaecollapse reproduce --list`")
    results = {}
    for name in names:
        if on_start:
            on_start(name)
        results[name] = run_experiment(name, profile, out, jobs=jobs, force=force,
                                       data_root=data_root, executor=executor,
                                       on_update=on_update)
    return results
