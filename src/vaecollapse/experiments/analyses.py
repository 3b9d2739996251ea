"""The analyses an experiment names (``Experiment.analysis``): each groups the runs by grid point
(over seeds), draws the figures and has the experiment's ``check`` (from
:mod:`vaecollapse.experiments.claims`) judge the claim.

Every analysis is called as ``analysis(exp, profile, records, d, cache)`` and returns ``(figure
names, claims)``; a claim is :func:`~vaecollapse.experiments.claims.claim_record`'s object. What
each passes to its check is in its docstring. The remedies' analysis is
:func:`vaecollapse.experiments.mitigations.mitigation`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaecollapse.errors import UserError
from vaecollapse.experiments import figures, stats
from vaecollapse.experiments.claims import COLLAPSED, claim_record, inactive
from vaecollapse.experiments.spec import value_name

NLL_NOTE = ("NLLs at different η_dec are not comparable: the Gaussian decoder's likelihood changes "
            "scale with η_dec")


def grid_points(exp, records: list[dict]) -> list[tuple[object, list[tuple[object, list[dict]]]]]:
    """[(series, [(value, runs over seeds)])] in the registry's order."""
    out = []
    for s in exp.series:
        rs = [r for r in records if r["series"] == s.label]
        out.append((s, [(v, [r for r in rs if r["values"][s.param] == v]) for v in s.values]))
    return out


def require_active_modes(exp, records: list[dict]) -> None:
    """Analyses that count active modes refuse runs whose diagnostics lack them."""
    if any(r["active_modes"] is None for r in records):
        raise UserError(f"{exp.name}: diagnostics without active modes (written by an older "
                        "version): rerun with --force")


def _seed_values(runs: list[dict], key) -> list[float]:
    return [float(key(r)) for r in runs if key(r) is not None]


def _theory(runs: list[dict]) -> str:
    preds = {r["predicted"] for r in runs}
    return "—" if preds == {None} else ", ".join(str(p) for p in sorted(p for p in preds if p is not None))


# ------------------------------------------------------------------------------ curves


def curves(exp, profile, records, d: Path, cache):
    """(ε,δ) curves per series (eps_delta.png) and, when the claim is about KL or active units,
    bars of KL, NLL and active units (table.png). ``exp.check(groups)`` judges the claim, with
    ``groups`` = :func:`grid_points`; the check's ``measure`` heads the table."""
    groups = grid_points(exp, records)
    measure = exp.check.measure
    beta_note = " — β nominal (2× β-ELBO weight)" if exp.nominal_beta else ""
    panels = []
    for s, points in groups:
        lines = []
        for v, runs in points:
            lines.append((f"{s.param}={value_name(v)}", runs[0]["eps"],
                          np.array([r["collapsed_fraction"] for r in runs]), runs[0]["predicted"],
                          _seed_values(runs, inactive)))
        first = points[0][1][0]
        panels.append((s.label, first["level"], first["latent_dim"], first["predicted_kind"], lines))
    figs = [figures.curves_figure(panels, exp.epsilon, exp.delta,
                                  f"{exp.title} [{profile}]{beta_note}", d / "eps_delta.png")]
    if measure is not COLLAPSED:
        labels, colors, kl, nll, au = [], [], [], [], []
        for i, (s, points) in enumerate(groups):
            for v, runs in points:
                labels.append(f"{s.param}={value_name(v)}")
                colors.append(f"C{i}")
                kl.append(_seed_values(runs, lambda r: r["kl_total"]))
                nll.append(_seed_values(runs, lambda r: r["nll"]))
                au.append(_seed_values(runs, lambda r: r["active_units"]))
        note = NLL_NOTE if any(s.param == "eta_dec" for s, _ in groups) else ""
        figs.append(figures.bars_figure(labels, colors, [("KL (nats)", kl), ("NLL (IS, nats)", nll),
                                                         ("active units (Burda)", au)],
                                        f"{exp.title} [{profile}]", d / "table.png", note))
    verdict = exp.check(groups)
    header = ["series", "value", measure.name, f"collapsed at ε={exp.epsilon:g}", "collapsed modes",
              "KL (nats)", "NLL (nats)", "theory"]
    rows = [[s.label, value_name(v), stats.mean_sd([measure.of(r) for r in runs]),
             stats.mean_sd([r["n_collapsed"] for r in runs]),
             _mean_sd_or_dash(_seed_values(runs, inactive)),
             stats.mean_sd([r["kl_total"] for r in runs]),
             _mean_sd_or_dash(_seed_values(runs, lambda r: r["nll"])), _theory(runs)]
            for s, points in groups for v, runs in points]
    notes = [NLL_NOTE] if any(s.param == "eta_dec" for s, _ in groups) else []
    return figs, [claim_record(exp.claim, *verdict, header, rows, notes)]


def _mean_sd_or_dash(values) -> str:
    return stats.mean_sd(values) if values else "—"


# ------------------------------------------------------------------------------ linear sweeps


def linear_sweep(exp, profile, records, d: Path, cache):
    """One swept hyperparameter of a linear model: trained active modes against the closed form's
    (active_modes.png). ``exp.check(param, measured, predicted, latent_dim)`` judges the claim
    (measured: values × seeds active modes; predicted: the closed form's per value)."""
    require_active_modes(exp, records)
    from vaecollapse.theory import solve
    from vaecollapse.theory.bridge import run_statistics, theory_hyperparameters

    (s, points), = grid_points(exp, records)
    xs = np.array([v for v, _ in points], dtype=float)
    measured = np.array([[r["active_modes"] for r in runs] for _, runs in points])
    per_dim = np.array([[r["latent_dim"] - r["n_collapsed"] for r in runs] for _, runs in points])
    predicted = np.array([runs[0]["latent_dim"] - runs[0]["predicted"] for _, runs in points])
    cfg, st = run_statistics(records[0]["options"], cache)
    m = cfg.model
    hp = theory_hyperparameters(m)
    fine = np.geomspace(xs.min(), xs.max(), 200)
    curve = [m.latent_dim - solve(st, m.latent_dim, **{**hp, s.param: v}).n_collapsed for v in fine]
    fig = figures.linear_sweep_figure(s.param, fine, curve, xs, measured, per_dim, exp.epsilon,
                                      exp.delta, f"{exp.title} [{profile}]", d / "active_modes.png")
    verdict = exp.check(s.param, measured, predicted, m.latent_dim)
    rows = [[value_name(v), stats.mean_sd(measured[i]), str(predicted[i]), stats.mean_sd(per_dim[i])]
            for i, (v, _) in enumerate(points)]
    header = [s.param, "active modes (trained)", "closed form",
              f"dims not (ε={exp.epsilon:g}, δ={exp.delta:g})-collapsed"]
    return [fig], [claim_record(exp.claim, *verdict, header, rows)]


# ------------------------------------------------------------------------------ β1 × β2 grids


def grid(exp, profile, records, d: Path, cache):
    """A β1 × β2 grid of MHVAEs (the profile's ``grid`` values): reconstructions
    (reconstructions.png) and heat maps of z2's collapsed modes beside the linear theory
    (collapse_grid.png). ``exp.check(points, k)`` judges the claim over the k × k grid, with
    ``points`` = [(β1 position, β2 position, z2 collapsed modes)] for every run."""
    require_active_modes(exp, records)
    import torch

    from vaecollapse.runs.rundir import load_model
    from vaecollapse.runs.train import load_run_data

    g = list(exp.options(profile)["grid"])
    k, latent = len(g), records[0]["latent_dim"]
    cell = {}
    for r in records:
        cell.setdefault((g.index(r["values"]["beta1"]), g.index(r["values"]["beta2"])), []).append(r)
    mean = np.full((k, k), np.nan)
    eps_mean, theory = np.full((k, k), np.nan), np.full((k, k), np.nan)
    spread = [["" for _ in range(k)] for _ in range(k)]
    mosaics = [[None] * k for _ in range(k)]
    titles = [[""] * k for _ in range(k)]
    x_show = None
    for (i, j), runs in cell.items():
        n = [inactive(r) for r in runs]
        mean[i, j], eps_mean[i, j] = np.mean(n), np.mean([r["n_collapsed"] for r in runs])
        spread[i][j] = f"{min(n)}–{max(n)}" if len(n) > 1 else ""
        if runs[0]["predicted"] is not None:
            theory[i, j] = runs[0]["predicted"]
        first = min(runs, key=lambda r: r["seed"])
        cfg, model, _ = load_model(Path(first["run_dir"]))
        if x_show is None:
            _, x, _ = load_run_data(cfg.data, "mhvae")
            from vaecollapse.data import evaluation_index

            x_show = x[torch.from_numpy(evaluation_index(x.shape[0], 4, seed=0))]
        with torch.no_grad():
            m1, _ = model.enc1(x_show)
            rec = model.dec1(m1).clamp(0, 1).reshape(-1, 28, 28).numpy()
        mosaics[i][j] = np.block([[rec[0], rec[1]], [rec[2], rec[3]]])
        th = "" if np.isnan(theory[i, j]) else f" (theory {int(theory[i, j])})"
        titles[i][j] = f"β1={g[i]:g}, β2={g[j]:g}\nz2 collapsed {mean[i, j]:.3g}{th}"
    head = f"{exp.title} [{profile}]"
    figs = [figures.reconstructions_figure(
        g, mosaics, titles, f"{head}\nβ nominal (2× β-ELBO weight); seed {records[0]['seed']}'s "
        f"reconstructions; collapsed = {latent} − active modes, seed mean; theory = the linear "
        "model's closed form on the same data", d / "reconstructions.png")]
    figs.append(figures.grid_heatmaps(
        g, [(mean, spread, "trained: z2 modes collapsed\n(seed mean, min–max)"),
            (eps_mean, None, f"trained: z2 dims (ε={exp.epsilon:g}, δ={exp.delta:g})-collapsed"),
            (theory, None, "linear theory on the same data\n(closed form, Theorem 3)")],
        latent, f"{head} — collapsed z2 modes of {latent}", d / "collapse_grid.png"))
    points = [(i, j, inactive(r)) for (i, j), runs in cell.items() for r in runs]
    verdict = exp.check(points, k)
    rows = [[f"{g[i]:g}", f"{g[j]:g}", stats.mean_sd([inactive(r) for r in cell[(i, j)]]),
             stats.mean_sd([r["n_collapsed"] for r in cell[(i, j)]]),
             "—" if np.isnan(theory[i, j]) else str(int(theory[i, j]))]
            for i in range(k) for j in range(k) if (i, j) in cell]
    header = ["β1", "β2", "z2 collapsed modes", "(ε,δ)-collapsed", "linear theory"]
    return figs, [claim_record(exp.claim, *verdict, header, rows)]


# ------------------------------------------------------------------------------ theorems


def verify(exp, profile, records, d: Path, cache):
    """A theorem's closed form against the numerical minimiser on random instances (the
    profile's ``instances``) and against the SGD-trained run (agreement.png).
    ``exp.check(max_rel_error, instances, rel)`` judges the claim (rel: the trained run's relative
    MAE of λ, ω, σ)."""
    from vaecollapse.experiments.verify import numerical_agreement

    opts = records[0]["options"]
    agreement = numerical_agreement(opts, exp.options(profile)["instances"])
    th = records[0]["theory"]
    rel = {key: th[f"{key}_mae"] / max(max(th[f"{key}_theory"]), 1e-12)
           for key in ("lambda", "omega", "sigma")}
    fig = figures.agreement_figure(agreement["closed_form"], agreement["numerical"], th,
                                   agreement["instances"], f"{exp.title} [{profile}]",
                                   d / "agreement.png")
    verdict = exp.check(agreement["max_rel_error"], agreement["instances"], rel)
    rows = [[key, f"{th[f'{key}_mae']:.3g}", f"{rel[key]:.3f}"] for key in ("lambda", "omega", "sigma")]
    header = ["quantity", "MAE trained vs closed form", "relative MAE"]
    return [fig], [claim_record(exp.claim, *verdict, header, rows)]
