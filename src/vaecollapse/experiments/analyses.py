"""The analyses an experiment names (``Experiment.analysis``): each groups the runs by grid point
(over seeds), says which figures to draw (:class:`~vaecollapse.experiments.definition.FigureSpec`, drawn
by :mod:`vaecollapse.output.experiment_figures`) and has the experiment's ``check`` (from
:mod:`vaecollapse.experiments.claims`) judge the claim.

Every analysis is called as ``analysis(exp, profile, records, cache)`` (``cache``: the
:class:`~vaecollapse.runs.predicted.TheoryCache` of the experiment) and returns ``(figure specs,
claims)``; a claim is :func:`~vaecollapse.experiments.verdict.claim_record`'s object. What each
passes to its check is its protocol (:mod:`vaecollapse.experiments.checks`, declared with
:func:`~vaecollapse.experiments.checks.analysis`). The remedies' analysis is
:func:`vaecollapse.experiments.remedies.mitigation`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vaecollapse.data import evaluation_index
from vaecollapse.errors import UserError
from vaecollapse.experiments.checks import (
    ArmsCheck,
    CurvesCheck,
    GridCheck,
    InferenceCheck,
    TheoremCheck,
    TrackingCheck,
    analysis,
)
from vaecollapse.experiments.claims import COLLAPSED, inactive
from vaecollapse.experiments.convergence import converged, gate_text, worst_gap
from vaecollapse.experiments.definition import FigureSpec, value_name
from vaecollapse.experiments.significance import combine, mean_sd
from vaecollapse.experiments.verdict import Verdict, claim_record, undecided_unless
from vaecollapse.experiments.verify import numerical_agreement
from vaecollapse.family import Family
from vaecollapse.runs.predicted import TheoryCache, theory_solver
from vaecollapse.runs.rundir import RunDir, load_model
from vaecollapse.runs.train import load_run_data

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


def gated(verdict: Verdict, runs: list[dict], cache: TheoryCache) -> Verdict:
    """The convergence gate (:mod:`vaecollapse.experiments.convergence`) on a claim over
    ``runs``: undecided while a linear run is farther than the gate from its optimum; the worst
    gap is added to the evidence either way (nothing for non-linear runs)."""
    gap = worst_gap(runs, cache)
    return undecided_unless(verdict, converged(gap), gate_text(gap)) if gap is not None else verdict


def design_notes(groups, exp) -> list[str]:
    """What the design fixes, whatever the training: a fixed encoder std σ ≠ η_enc keeps every
    dimension's KL at least ½(σ²/η_enc² − 1 − log σ²/η_enc²) (mean 0, Theorem 1), so its
    (ε,δ)-collapsed fraction over the ε grid is at most the share of grid points above that
    floor, and its KL-fraction active units (KL ≥ 0.01) are 1 whenever the floor is ≥ 0.01."""
    notes = []
    for s, points in groups:
        for v, runs in points:
            if s.param != "sigma" or v is None:
                continue
            eta = float(runs[0]["options"].get("eta_enc", 1.0))
            r2 = (float(v) / eta) ** 2
            floor = 0.5 * (r2 - 1 - np.log(r2))
            eps = np.asarray(runs[0]["eps"], float)
            cap = float(np.mean(eps > floor))
            measured = float(np.mean([np.mean(r["collapsed_fraction"]) for r in runs]))
            note = (f"fixed by design: with σ = {float(v):g}, η_enc = {eta:g} every KL is ≥ "
                    f"{floor:.3g} nats, which caps the mean (ε,δ)-collapsed fraction on this ε grid "
                    f"at {cap:.3f} (measured {measured:.3f})")
            if floor >= 0.01:
                note += " and makes the KL-fraction active units 1.00"
            notes.append(note)
    return notes


def _theory(runs: list[dict]) -> str:
    preds = {r["predicted"] for r in runs}
    return "—" if preds == {None} else ", ".join(str(p) for p in sorted(p for p in preds if p is not None))


# ------------------------------------------------------------------------------ curves


@analysis(check=CurvesCheck, second=CurvesCheck)
def curves(exp, profile, records, cache: TheoryCache):
    """(ε,δ) curves per series (eps_delta.png) and, when the claim is about KL or active units,
    bars of KL, NLL and active units (table.png). ``exp.check(groups)`` judges the claim, with
    ``groups`` = :func:`grid_points`; the check's ``measure`` heads the table;
    ``exp.second_check(groups)`` judges ``exp.measured_claim``. Both are gated (:func:`gated`)
    on the linear runs of the checked series; what the design fixes is noted
    (:func:`design_notes`)."""
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
    figs = [FigureSpec("eps_delta.png", "curves_figure",
                       {"panels": panels, "epsilon": exp.epsilon, "delta": exp.delta,
                        "title": f"{exp.title} [{profile}]{beta_note}"})]
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
        figs.append(FigureSpec("table.png", "bars_figure", {
            "labels": labels, "colors": colors,
            "metrics": [("KL (nats)", kl), ("NLL (IS, nats)", nll), ("active units (Burda)", au)],
            "title": f"{exp.title} [{profile}]", "note": note}))
    checked = [r for s, points in groups if s.checked for _, runs in points for r in runs]
    header = ["series", "value", measure.name, f"collapsed at ε={exp.epsilon:g}", "collapsed modes",
              "KL (nats)", "active units (Burda)", "active units (KL fraction)", "NLL (nats)",
              "theory"]
    rows = [[s.label, value_name(v), mean_sd([measure.of(r) for r in runs]),
             mean_sd([r["n_collapsed"] for r in runs]),
             _mean_sd_or_dash(_seed_values(runs, inactive)),
             mean_sd([r["kl_total"] for r in runs]),
             mean_sd([r["active_units"] for r in runs]),
             mean_sd([r["active_units_kl_fraction"] for r in runs]),
             _mean_sd_or_dash(_seed_values(runs, lambda r: r["nll"])), _theory(runs)]
            for s, points in groups for v, runs in points]
    notes = ([NLL_NOTE] if any(s.param == "eta_dec" for s, _ in groups) else []) + \
        design_notes(groups, exp)
    verdict = gated(exp.check(groups), checked, cache)
    claims = [claim_record(exp.claim, verdict, header, rows, notes, role=exp.role)]
    if exp.second_check is not None:
        second = gated(exp.second_check(groups), checked, cache)
        claims.append(claim_record(exp.measured_claim, second, header, rows, notes,
                                   role=exp.second_role))
    return figs, claims


def _mean_sd_or_dash(values) -> str:
    return mean_sd(values) if values else "—"


# ------------------------------------------------------------------------------ linear sweeps


#: theory points of a linear sweep's curve: the closed form is cheap, the numerical theory
#: (~0.1 s a point for a 2-level MHVAE of latent 10 on MNIST) gets fewer
FINE_POINTS = {"closed form": 200, "numerical theory": 40}


@analysis(check=TrackingCheck, second=ArmsCheck)
def linear_sweep(exp, profile, records, cache: TheoryCache):
    """Swept hyperparameters of a linear model, one series each (several series: arms on the same
    values): trained active modes against the theory's — its curve over the swept range
    (:data:`FINE_POINTS`), closed form or numerical — in active_modes.png. ``exp.check(param,
    measured, predicted, latent_dim, theory=…)`` judges each series (measured: values × seeds active
    modes; predicted: the theory's per value), all must hold; with two series
    ``exp.second_check(param, values, arms)`` judges ``exp.measured_claim`` (arms: [(label,
    predicted collapsed modes per value, trained: values × seeds)])."""
    require_active_modes(exp, records)
    groups = grid_points(exp, records)
    panels, verdicts, arms, rows = [], [], [], []
    for s, points in groups:
        xs = np.array([v for v, _ in points], dtype=float)
        measured = np.array([[r["active_modes"] for r in runs] for _, runs in points])
        per_dim = np.array([[r["latent_dim"] - r["n_collapsed"] for r in runs] for _, runs in points])
        predicted = np.array([runs[0]["latent_dim"] - runs[0]["predicted"] for _, runs in points])
        solver, latent, kind = theory_solver(points[0][1][0]["options"], cache)
        fine = np.geomspace(xs.min(), xs.max(), FINE_POINTS[kind])
        curve = [latent - solver(**{s.param: v}).n_collapsed for v in fine]
        panels.append((s.label, kind, fine, curve, xs, measured, per_dim))
        if s.checked:
            verdicts.append((s.label, exp.check(s.param, measured, predicted, latent,
                                                 theory=f"the {kind}")))
        arms.append((s.label, latent - predicted, latent - measured))
        rows += [([s.label] if len(groups) > 1 else [])
                 + [value_name(v), mean_sd(measured[i]), str(predicted[i]),
                    mean_sd(per_dim[i])] for i, (v, _) in enumerate(points)]
    s = groups[0][0]
    fig = FigureSpec("active_modes.png", "linear_sweep_figure",
                     {"param": s.param, "panels": panels, "epsilon": exp.epsilon,
                      "delta": exp.delta, "title": f"{exp.title} [{profile}]"})
    if len(verdicts) == 1:
        verdict = verdicts[0][1]
    else:
        verdict = Verdict(combine([v.holds for _, v in verdicts]),
                          "; ".join(f"{label}: {v.evidence}" for label, v in verdicts),
                          [{"series": label, **t} for label, v in verdicts for t in v.statistic])
    verdict = gated(verdict, records, cache)
    theory = "closed form" if {p[1] for p in panels} == {"closed form"} else "theory"
    header = ([] if len(groups) == 1 else ["series"]) + [
        s.param, "active modes (trained)", theory,
        f"dims not (ε={exp.epsilon:g}, δ={exp.delta:g})-collapsed"]
    claims = [claim_record(exp.claim, verdict, header, rows, role=exp.role)]
    if exp.second_check is not None:
        second = gated(exp.second_check(s.param, s.values, arms), records, cache)
        claims.append(claim_record(exp.measured_claim, second, header, rows, role=exp.second_role))
    return [fig], claims


# ------------------------------------------------------------------------------ depth


def level_active_modes(run: dict) -> list[int]:
    """Every level's trained active modes, z1 first, from the run's diagnostics (the record keeps
    only the top level's)."""
    levels = RunDir(run["run_dir"]).read_diagnostics()["levels"]
    if any(lv.get("active_modes") is None for lv in levels):
        raise UserError(f"{run['run']}: diagnostics without active modes per level: rerun with "
                        "--force")
    return [int(lv["active_modes"]) for lv in levels]


@analysis(check=TrackingCheck, second=InferenceCheck)
def depth(exp, profile, records, cache: TheoryCache):
    """Linear hierarchies of depth L (one single-value series of ``levels`` per inference and
    depth): every level's trained collapsed modes (size − active modes, read from each run's
    diagnostics) against the numerical theory's (per level, one solve per setting), drawn
    against L with one panel per inference (depth.png). ``exp.check(param, measured,
    predicted, latent_dim, what=…, theory=…)`` judges every (setting, level) point (measured:
    points × seeds collapsed modes); ``exp.second_check(points)`` judges ``exp.measured_claim``
    on the (L, level, Markov, ladder) points."""
    require_active_modes(exp, records)
    table = {}  # (inference, L) → (theory per level, trained per level × seeds)
    for _, points in grid_points(exp, records):
        for _, runs in points:
            opts = runs[0]["options"]
            solver, latent, _ = theory_solver(opts, cache)
            pred = solver()
            L = int(opts["levels"])
            theory = [int(pred.modes[f"collapsed_z{k}"].sum()) for k in range(1, L + 1)]
            trained = np.array([[latent - a for a in level_active_modes(r)] for r in runs]).T
            table[(opts.get("inference", "markov"), L)] = (theory, trained)
    inferences = list(dict.fromkeys(i for i, _ in table))
    panels = [(inf, [(L, *table[(inf, L)]) for i, L in table if i == inf]) for inf in inferences]
    fig = FigureSpec("depth.png", "depth_figure",
                     {"panels": panels, "latent": latent, "title": f"{exp.title} [{profile}]"})
    keys = [(inf, L, k) for (inf, L), (th, _) in table.items() for k in range(L)]
    measured = np.array([table[(inf, L)][1][k] for inf, L, k in keys], dtype=float)
    predicted = np.array([table[(inf, L)][0][k] for inf, L, k in keys], dtype=float)
    verdict = gated(exp.check("(inference, depth, level)", measured, predicted, latent,
                              what="collapsed modes", theory="the numerical theory"),
                    records, cache)
    rows = [[inf, str(L), f"z{k + 1}", mean_sd(table[(inf, L)][1][k]),
             str(table[(inf, L)][0][k])] for inf, L, k in keys]
    header = ["inference", "depth L", "level", "collapsed modes (trained)", "numerical theory"]
    claims = [claim_record(exp.claim, verdict, header, rows, role=exp.role)]
    if exp.second_check is not None and {"markov", "ladder"} <= set(inferences):
        pairs = [(L, f"z{k + 1}", table[("markov", L)][0][k], table[("ladder", L)][0][k],
                  float(np.median(table[("markov", L)][1][k])),
                  float(np.median(table[("ladder", L)][1][k])))
                 for i, L in table if i == "markov" and ("ladder", L) in table for k in range(L)]
        claims.append(claim_record(exp.measured_claim, exp.second_check(pairs), header, rows,
                                   role=exp.second_role))
    return [fig], claims


# ------------------------------------------------------------------------------ β1 × β2 grids


#: evaluation points of the grid's reconstruction error (a seeded sample, never the first N)
RECON_POINTS = 500


@torch.no_grad()
def reconstruction_error(model, x) -> float:
    """Mean squared error per value of x against its reconstruction through the mean of
    q(z1 | x), d1(e1(x)) — the reconstructions the paper shows."""
    m1, _ = model.enc1(x)
    return float(((model.dec1(m1) - x) ** 2).mean())


@analysis(check=GridCheck, second=GridCheck)
def grid(exp, profile, records, cache: TheoryCache):
    """A β1 × β2 grid of MHVAEs (the profile's ``grid`` values): reconstructions
    (reconstructions.png) and heat maps of z2's collapsed modes beside the linear theory
    (collapse_grid.png). ``exp.check(points, k)`` judges the claim over the k × k grid, with
    ``points`` = [(β1 position, β2 position, z2 collapsed modes)] for every run;
    ``exp.second_check`` the same on each run's reconstruction error
    (:func:`reconstruction_error` on a seeded sample of :data:`RECON_POINTS` training points)."""
    require_active_modes(exp, records)
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
    x_show = x_eval = None
    recon: dict[str, float] = {}
    for (i, j), runs in cell.items():
        n = [inactive(r) for r in runs]
        mean[i, j], eps_mean[i, j] = np.mean(n), np.mean([r["n_collapsed"] for r in runs])
        spread[i][j] = f"{min(n)}–{max(n)}" if len(n) > 1 else ""
        if runs[0]["predicted"] is not None:
            theory[i, j] = runs[0]["predicted"]
        first = min(runs, key=lambda r: r["seed"])
        for r in runs:
            cfg, model, _ = load_model(Path(r["run_dir"]))
            if x_show is None:
                _, x, _ = load_run_data(cfg.data, Family.MHVAE, cache.datasets)
                x_show = x[torch.from_numpy(evaluation_index(x.shape[0], 4, seed=0))]
                x_eval = x[torch.from_numpy(evaluation_index(x.shape[0], RECON_POINTS, seed=0))]
            recon[r["run"]] = reconstruction_error(model, x_eval)
        cfg, model, _ = load_model(Path(first["run_dir"]))
        with torch.no_grad():
            m1, _ = model.enc1(x_show)
            rec = model.dec1(m1).clamp(0, 1).reshape(-1, 28, 28).numpy()
        mosaics[i][j] = np.block([[rec[0], rec[1]], [rec[2], rec[3]]])
        th = "" if np.isnan(theory[i, j]) else f" (theory {int(theory[i, j])})"
        titles[i][j] = f"β1={g[i]:g}, β2={g[j]:g}\nz2 collapsed {mean[i, j]:.3g}{th}"
    head = f"{exp.title} [{profile}]"
    figs = [FigureSpec("reconstructions.png", "reconstructions_figure", {
        "grid": g, "mosaics": mosaics, "titles": titles,
        "title": f"{head}\nβ nominal (2× β-ELBO weight); seed {records[0]['seed']}'s "
                 f"reconstructions; collapsed = {latent} − active modes, seed mean; theory = the "
                 "linear model's closed form on the same data"})]
    figs.append(FigureSpec("collapse_grid.png", "grid_heatmaps", {
        "grid": g, "latent": latent, "title": f"{head} — collapsed z2 modes of {latent}",
        "panels": [(mean, spread, "trained: z2 modes collapsed\n(seed mean, min–max)"),
                   (eps_mean, None,
                    f"trained: z2 dims (ε={exp.epsilon:g}, δ={exp.delta:g})-collapsed"),
                   (theory, None, "linear theory on the same data\n(closed form, Theorem 3)")]}))
    points = [(i, j, inactive(r)) for (i, j), runs in cell.items() for r in runs]
    verdict = exp.check(points, k)
    rows = [[f"{g[i]:g}", f"{g[j]:g}", mean_sd([inactive(r) for r in cell[(i, j)]]),
             mean_sd([r["n_collapsed"] for r in cell[(i, j)]]),
             mean_sd([recon[r["run"]] for r in cell[(i, j)]]),
             "—" if np.isnan(theory[i, j]) else str(int(theory[i, j]))]
            for i in range(k) for j in range(k) if (i, j) in cell]
    header = ["β1", "β2", "z2 collapsed modes", "(ε,δ)-collapsed",
              f"reconstruction MSE ({RECON_POINTS} points)", "linear theory"]
    claims = [claim_record(exp.claim, verdict, header, rows, role=exp.role)]
    if exp.second_check is not None:
        errors = [(i, j, recon[r["run"]]) for (i, j), runs in cell.items() for r in runs]
        claims.append(claim_record(exp.measured_claim, exp.second_check(errors, k), header, rows,
                                   role=exp.second_role))
    return figs, claims


# ------------------------------------------------------------------------------ theorems


@analysis(check=TheoremCheck)
def verify(exp, profile, records, cache: TheoryCache):
    """A theorem's closed form against the numerical minimiser on random instances (the
    profile's ``instances``) and against the SGD-trained run (agreement.png).
    ``exp.check(max_rel_error, instances, rel)`` judges both (rel: the trained run's relative
    MAE of λ, ω, σ): the first, a property of the theory (role ``theory``), and the second, the
    reproduction, which the convergence gate leaves undecided on a run not at its optimum — a
    converged run that misses the tolerance fails."""
    opts = records[0]["options"]
    agreement = numerical_agreement(opts, exp.options(profile)["instances"])
    th = records[0]["theory"]
    rel = {key: th[f"{key}_mae"] / max(max(th[f"{key}_theory"]), 1e-12)
           for key in ("lambda", "omega", "sigma")}
    fig = FigureSpec("agreement.png", "agreement_figure",
                     {"cf": agreement["closed_form"], "num": agreement["numerical"], "th": th,
                      "instances": agreement["instances"], "title": f"{exp.title} [{profile}]"})
    theory, trained = exp.check(agreement["max_rel_error"], agreement["instances"], rel)
    rows = [[key, f"{th[f'{key}_mae']:.3g}", f"{rel[key]:.3f}"] for key in ("lambda", "omega", "sigma")]
    header = ["quantity", "MAE trained vs closed form", "relative MAE"]
    return [fig], [claim_record(exp.measured_claim or exp.claim, theory, header, rows,
                                role="theory"),
                   claim_record(exp.claim, gated(trained, records, cache), header, rows,
                                role=exp.role)]
