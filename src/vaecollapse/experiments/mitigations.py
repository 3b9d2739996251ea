"""Analyses of the remedy experiments (:func:`mitigation`): KL annealing, free bits and the
advice of `vaecollapse advise`, each judged against what the theory says about it.

Series labels read ``MODEL · SETTING`` (e.g. ``linear VAE · warm-up``); one value per series.
:func:`mitigation` (the analysis) groups the runs by model and draws the bars; the experiment's
``check`` — ``check(exp, groups, cache) -> (claims, extra bar metrics)`` — judges them:

- :func:`annealing`: the linear models' global optimum does not depend on the path, so every seed of
  every schedule must end at exactly the closed form's collapsed modes (latent_dim − active
  modes), as plain training does; non-linear series (``checked=False``) are measured against
  plain training with the exact permutation test of :mod:`claims` (fewer collapsed modes).
- :func:`free_bits`: every latent dimension of every run keeps at least ``FLOOR_TOLERANCE`` × λ nats
  (its mean KL on the evaluation points); the NLL cost against plain training is measured with
  the same permutation test (higher NLL with free bits).
- :func:`advise_check`: the series' β must equal `advise`'s recommendation on the run's data (so a stale
  registry fails loudly); at the advised β every seed keeps ≥ K active modes and at 1.2 × that β
  has lost at least one (linear: each seed equal to the closed form's count).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaecollapse.experiments import figures, stats
from vaecollapse.experiments.analyses import grid_points
from vaecollapse.experiments.claims import claim_record, inactive
from vaecollapse.runs.rundir import RunDir

FLOOR_TOLERANCE = 0.9


def _split(label: str) -> tuple[str, str]:
    model, _, setting = label.partition(" · ")
    return model, setting


def _by_model(exp, records) -> dict[str, list[tuple[object, str, list[dict]]]]:
    """model label -> [(series, setting label, runs over seeds)] in registry order."""
    out: dict[str, list] = {}
    for s, points in grid_points(exp, records):
        (_, runs), = points
        model, setting = _split(s.label)
        out.setdefault(model, []).append((s, setting, runs))
    return out


def _inactive(runs) -> list[int]:
    return [inactive(r) for r in runs]


def _nll(runs) -> list[float]:
    return [r["nll"] for r in runs if r["nll"] is not None]


def _bars(exp, profile, groups, d: Path, extra=()) -> str:
    labels, colors, cm, kl, nll = [], [], [], [], []
    for i, (model, series) in enumerate(groups.items()):
        for _, setting, runs in series:
            labels.append(f"{model} · {setting}")
            colors.append(f"C{i}")
            cm.append([float(v) for v in _inactive(runs)])
            kl.append([r["kl_total"] for r in runs])
            nll.append(_nll(runs))
    metrics = [("collapsed modes (latent − active)", cm), ("KL (nats)", kl),
               ("NLL (IS, nats)", nll), *extra]
    return figures.bars_figure(labels, colors, metrics, f"{exp.title} [{profile}]",
                               d / "remedies.png")


def _row(model, setting, runs, theory="—"):
    return [model, setting, stats.mean_sd(_inactive(runs)), stats.mean_sd([r["kl_total"] for r in runs]),
            stats.mean_sd(_nll(runs)) if _nll(runs) else "—", theory]


HEADER = ["model", "setting", "collapsed modes", "KL (nats)", "NLL (nats)", "theory"]


# ------------------------------------------------------------------------------ annealing


def annealing(exp, groups, cache):
    """KL warm-up and cyclical annealing: see the module docstring."""
    linear_parts, linear_text, measured_parts, measured_text, tests = [], [], [], [], []
    rows = []
    for model, series in groups.items():
        plain = next(runs for _, setting, runs in series if setting == "plain")
        for s, setting, runs in series:
            pred = runs[0]["predicted"]
            rows.append(_row(model, setting, runs, "—" if pred is None else
                             f"{pred} ({runs[0]['predicted_kind']})"))
            if s.checked:
                ok = all(v == pred for v in _inactive(runs))
                linear_parts.append(ok)
                linear_text.append(f"{model} {setting} {_inactive(runs)} vs closed form {pred}")
            elif setting != "plain":
                c = stats.compare(_inactive(plain), _inactive(runs))
                measured_parts.append(c.holds)
                tests.append({"series": f"{model} · {setting}", **c.as_dict()})
                measured_text.append(f"{model} {setting}: collapsed modes {stats.mean_sd(_inactive(runs))}"
                                     f" vs plain {stats.mean_sd(_inactive(plain))} — {c.describe()}")
    out = [claim_record(exp.claim, all(linear_parts) if linear_parts else None,
                  "collapsed modes per seed — " + "; ".join(linear_text),
                  [{"test": "every-seed-equals-closed-form", "parts": len(linear_parts)}],
                  HEADER, rows)]
    if measured_parts:
        out.append(claim_record(exp.measured_claim, stats.combine(measured_parts),
                                "; ".join(measured_text), tests, HEADER, rows))
    return out, ()


# ------------------------------------------------------------------------------ free bits


def _min_kl(run) -> float:
    diag = RunDir(run["run_dir"]).read_diagnostics()
    return float(min(diag["levels"][-1]["kl_per_dim"]))


def free_bits(exp, groups, cache):
    """Free bits: see the module docstring."""
    floor_parts, floor_text, cost_parts, cost_text, tests, rows = [], [], [], [], [], []
    ratios = []
    for model, series in groups.items():
        plain = next(runs for _, setting, runs in series if setting == "plain")
        for _, setting, runs in series:
            lam = runs[0]["options"].get("free_bits")
            mins = [_min_kl(r) for r in runs]
            ratios.append([m / lam for m in mins] if lam else [])
            rows.append([*_row(model, setting, runs)[:5], stats.mean_sd(mins)])
            if not lam:
                continue
            floor_parts.append(all(m >= FLOOR_TOLERANCE * lam for m in mins))
            floor_text.append(f"{model} λ={lam:g}: smallest dimension {min(mins):.3g} nats "
                              f"({min(mins) / lam:.2f} λ)")
            c = stats.compare(_nll(runs), _nll(plain))
            cost_parts.append(c.holds)
            tests.append({"series": f"{model} · {setting}", **c.as_dict()})
            cost_text.append(f"{model} λ={lam:g}: NLL {np.mean(_nll(runs)):.4g} vs plain "
                             f"{np.mean(_nll(plain)):.4g} — {c.describe()}")
    header = HEADER[:5] + ["smallest per-dimension KL (nats)"]
    return [
        claim_record(exp.claim, all(floor_parts), "; ".join(floor_text),
                     [{"test": "every-dimension-above-floor", "tolerance": FLOOR_TOLERANCE}],
                     header, rows),
        claim_record(exp.measured_claim, stats.combine(cost_parts), "; ".join(cost_text), tests,
                     header, rows)], [("smallest per-dimension KL / λ", ratios)]


# ------------------------------------------------------------------------------ advise


def advice_for(options: dict, keep: int, cache: dict):
    """`advise`'s recommendation for a run's data and hyperparameters (β left out)."""
    from vaecollapse.theory.advise import advise
    from vaecollapse.theory.bridge import run_statistics, theory_hyperparameters

    cfg, stats = run_statistics(options, cache)
    m = cfg.model
    return advise(stats, m.latent_dim, keep, **theory_hyperparameters(m))


def advise_check(exp, groups, cache):
    """Training at `advise`'s β and at 1.2 × it: see the module docstring."""
    verdicts: dict[bool, list] = {True: [], False: []}  # linear (checked) / non-linear series
    rows = []
    for model, series in groups.items():
        keep = exp.keep[model]
        (s_at, _, at), (_, _, up) = series
        rec = advice_for(at[0]["options"], keep, cache).recommendation
        beta_at = float(at[0]["options"]["beta"])
        fresh = abs(beta_at / rec["value"] - 1) < 1e-4
        act_at = [r["latent_dim"] - v for r, v in zip(at, _inactive(at), strict=True)]
        act_up = [r["latent_dim"] - v for r, v in zip(up, _inactive(up), strict=True)]
        th_up = None if up[0]["predicted"] is None else up[0]["latent_dim"] - up[0]["predicted"]
        ok = fresh and all(a >= keep for a in act_at) and all(a < keep for a in act_up)
        if s_at.checked:  # linear: every seed equals the closed form's count
            ok = ok and all(a == rec["active_modes"] for a in act_at) and all(a == th_up for a in act_up)
        verdicts[s_at.checked].append(
            (ok, f"{model} (K = {keep}): advised β = {rec['value']:.4g}"
                 + ("" if fresh else f" but the registry trains β = {beta_at:.4g} (stale)")
                 + f", active modes {act_at} (theory {rec['active_modes']}); at 1.2 × β "
                 f"{act_up} (theory {th_up})"))
        for _, setting, runs in series:
            pred = runs[0]["predicted"]
            act = [r["latent_dim"] - v for r, v in zip(runs, _inactive(runs), strict=True)]
            rows.append([model, setting, f"{float(runs[0]['options']['beta']):.4g}", str(keep),
                         stats.mean_sd(act), "—" if pred is None else str(runs[0]["latent_dim"] - pred)])
    header = ["model", "setting", "β", "K", "active modes (trained)", "uncollapsed (theory)"]
    statistic = [{"test": "every-seed-count", "keep": exp.keep}]
    out = []
    for linear, text in ((True, exp.claim), (False, exp.measured_claim)):
        if verdicts[linear]:
            out.append(claim_record(text, all(ok for ok, _ in verdicts[linear]),
                                    "; ".join(t for _, t in verdicts[linear]), statistic, header,
                                    rows))
    return out, ()


# ------------------------------------------------------------------------------ the analysis


def mitigation(exp, profile, records, d: Path, cache):
    """The remedies' analysis: the runs grouped by model (:func:`_by_model`), judged by
    ``exp.check`` (:func:`annealing`, :func:`free_bits` or :func:`advise_check`), drawn as bars
    (remedies.png, with the check's extra metrics)."""
    groups = _by_model(exp, records)
    claims, extra = exp.check(exp, groups, cache)
    return [_bars(exp, profile, groups, d, extra)], claims
