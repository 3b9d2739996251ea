"""Analyses of the remedy experiments (:func:`mitigation`): KL annealing, free bits, the
advice of `vaecollapse advise` and separate maps (ladder inference), each judged against what
the theory says about it.

Series labels read ``MODEL · SETTING`` (e.g. ``linear VAE · warm-up``); one value per series.
:func:`mitigation` (the analysis) groups the runs by model and draws the bars; the experiment's
``check`` — ``check(exp, groups, cache) -> (claims, extra bar metrics)`` — judges them:

- :func:`annealing`: the linear models' global optimum does not depend on the path, so every seed of
  every schedule must end at exactly the closed form's collapsed modes (latent_dim − active
  modes), as plain training does; non-linear series (``checked=False``) are measured against
  plain training with the exact permutation test of :mod:`claims` (fewer collapsed modes).
- Both linear claims (annealing, advise) are about where training *ends*: every linear run must be
  within ``CONVERGED_GAP`` nats per point of the closed-form optimum's exact loss
  (:func:`loss_gap`), else the claim is undecided (null) — a run still on its way says nothing
  for or against the optimum.
- :func:`free_bits`: every latent dimension of every run keeps at least ``FLOOR_TOLERANCE`` × λ nats
  (its mean KL on the evaluation points); the NLL cost against plain training is measured with
  the same permutation test (higher NLL with free bits).
- :func:`advise_check`: the series' β is `advise`'s recommendation on the run's data, computed
  when the experiment runs (:func:`advised_beta`, a :class:`~vaecollapse.experiments.definition.Computed`
  series value; the check confirms it); at the advised β every seed keeps ≥ K active modes and at
  1.2 × that β has lost at least one (linear: each seed equal to the closed form's count).
- :func:`separate_maps`: ladder against Markov MHVAE — linear: every seed at the theory's
  collapsed z2 modes (converged, as above; the theory predicts the same for both, stated in the
  evidence); non-linear: the ladder collapses fewer z2 modes than Markov, measured.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vaecollapse.experiments.analyses import grid_points
from vaecollapse.experiments.checks import RemedyCheck, analysis
from vaecollapse.experiments.claims import inactive
from vaecollapse.experiments.convergence import CONVERGED_GAP, loss_gap
from vaecollapse.experiments.definition import FigureSpec
from vaecollapse.experiments.significance import combine, compare, mean_sd
from vaecollapse.experiments.verdict import Verdict, claim_record
from vaecollapse.runs.predicted import TheoryCache, run_statistics
from vaecollapse.runs.rundir import RunDir
from vaecollapse.theory.advice import Advice, advise
from vaecollapse.theory.from_config import theory_hyperparameters

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


def _bars(exp, profile, groups, extra=()) -> FigureSpec:
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
    return FigureSpec("remedies.png", "bars_figure", {"labels": labels, "colors": colors,
                                                      "metrics": metrics,
                                                      "title": f"{exp.title} [{profile}]"})


def _row(model, setting, runs, theory="—"):
    return [model, setting, mean_sd(_inactive(runs)), mean_sd([r["kl_total"] for r in runs]),
            mean_sd(_nll(runs)) if _nll(runs) else "—", theory]


HEADER = ["model", "setting", "collapsed modes", "KL (nats)", "NLL (nats)", "theory"]
GAP_COLUMN = "loss gap to the optimum (nats/point, worst seed)"


def _max_p(tests: list[dict]) -> float | None:
    """The p of an intersection–union claim over these tests (None without any)."""
    ps = [t.get("p") for t in tests]
    return None if not ps or None in ps else max(ps)


def _gaps(runs, cache) -> list[float]:
    return [loss_gap(r, cache) for r in runs]


# ------------------------------------------------------------------------------ annealing


def _converged(gaps: list[float]) -> bool:
    return max(gaps) <= CONVERGED_GAP


def _gap_text(gaps: list[float]) -> str:
    return f"loss gap to the optimum ≤ {max(gaps):.2g} nats/point"


def _linear_verdict(parts: list[bool], gaps: list[float]) -> bool | None:
    """A linear claim: undecided (None) when some run is farther than CONVERGED_GAP from the
    optimum (it has not ended yet), else every part must hold."""
    if not parts:
        return None
    return all(parts) if _converged(gaps) else None


def _linear_rows(model, series, cache, rows, linear) -> None:
    """Table rows of one model's series (the theory and the worst loss gap beside them); for each
    checked (linear) series, ``linear`` collects whether every seed ends at the theory's count
    ("parts"), the runs' loss gaps ("gaps") and the evidence ("text")."""
    for s, setting, runs in series:
        pred, kind = runs[0]["predicted"], runs[0]["predicted_kind"]
        gaps = _gaps(runs, cache) if s.checked else []
        rows.append([*_row(model, setting, runs, "—" if pred is None else f"{pred} ({kind})"),
                     f"{max(gaps):.2g}" if gaps else "—"])
        if s.checked:
            linear["parts"].append(all(v == pred for v in _inactive(runs)))
            linear["gaps"] += gaps
            linear["text"].append(f"{model} {setting} {_inactive(runs)} vs {kind} {pred} "
                                  f"({_gap_text(gaps)})")


def _linear_evidence(what: str, linear) -> str:
    evidence = f"{what} — " + "; ".join(linear["text"])
    if linear["gaps"] and not _converged(linear["gaps"]):
        evidence += f" — not converged (gap above {CONVERGED_GAP:g} nats/point): undecided"
    return evidence


def _more_collapsed(more, fewer, series: str, text: str, parts, tests, texts) -> None:
    """A measured (non-linear) comparison: the runs ``more`` have more collapsed modes than the
    runs ``fewer`` — the exact one-sided permutation test of :func:`compare` over seeds;
    appends its verdict, test record and evidence sentence (``text`` + the test) to the lists."""
    c = compare(_inactive(more), _inactive(fewer))
    parts.append(c.holds)
    tests.append({"series": series, **c.as_dict()})
    texts.append(f"{text} — {c.describe()}")


def annealing(exp, groups, cache):
    """KL warm-up and cyclical annealing: see the module docstring."""
    linear = {"parts": [], "gaps": [], "text": []}
    measured_parts, measured_text, tests, rows = [], [], [], []
    for model, series in groups.items():
        plain = next(runs for _, setting, runs in series if setting == "plain")
        _linear_rows(model, series, cache, rows, linear)
        for s, setting, runs in series:
            if not s.checked and setting != "plain":
                _more_collapsed(plain, runs, f"{model} · {setting}",
                                f"{model} {setting}: collapsed modes {mean_sd(_inactive(runs))}"
                                f" vs plain {mean_sd(_inactive(plain))}",
                                measured_parts, tests, measured_text)
    header = [*HEADER, GAP_COLUMN]
    evidence = _linear_evidence("collapsed modes per seed", linear)
    out = [claim_record(exp.claim, Verdict(
        _linear_verdict(linear["parts"], linear["gaps"]), evidence,
        [{"test": "every-seed-equals-closed-form", "parts": len(linear["parts"]),
          "converged_gap": CONVERGED_GAP}]), header, rows, role=exp.role)]
    if measured_parts:
        out.append(claim_record(exp.measured_claim, Verdict(
            combine(measured_parts), "; ".join(measured_text), tests, _max_p(tests)),
            header, rows, role=exp.second_role))
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
            rows.append([*_row(model, setting, runs)[:5], mean_sd(mins)])
            if not lam:
                continue
            floor_parts.append(all(m >= FLOOR_TOLERANCE * lam for m in mins))
            floor_text.append(f"{model} λ={lam:g}: smallest dimension {min(mins):.3g} nats "
                              f"({min(mins) / lam:.2f} λ)")
            c = compare(_nll(runs), _nll(plain))
            cost_parts.append(c.holds)
            tests.append({"series": f"{model} · {setting}", **c.as_dict()})
            cost_text.append(f"{model} λ={lam:g}: NLL {np.mean(_nll(runs)):.4g} vs plain "
                             f"{np.mean(_nll(plain)):.4g} — {c.describe()}")
    header = HEADER[:5] + ["smallest per-dimension KL (nats)"]
    return [
        claim_record(exp.claim, Verdict(
            all(floor_parts), "; ".join(floor_text),
            [{"test": "every-dimension-above-floor", "tolerance": FLOOR_TOLERANCE}]),
            header, rows, role=exp.role),
        claim_record(exp.measured_claim, Verdict(combine(cost_parts), "; ".join(cost_text), tests,
                                                 _max_p(tests)),
                     header, rows, role=exp.second_role)], [("smallest per-dimension KL / λ",
                                                             ratios)]


# ------------------------------------------------------------------------------ advise


def advice_for(options: dict, keep: int, cache: TheoryCache) -> Advice:
    """`advise`'s recommendation for a run's data and hyperparameters (β left out)."""
    cfg, st = run_statistics(options, cache)
    m = cfg.model
    return advise(st, m.latent_dim, keep, **theory_hyperparameters(m))


def advised_beta(options: dict[str, Any], cache: TheoryCache, *, keep: int,
                 factor: float = 1.0) -> float:
    """``factor`` × the β that `vaecollapse advise --keep K` recommends for a run's data and
    hyperparameters (rounded to 6 digits, as run names write it): the series value of
    advise-check, computed when the experiment runs."""
    return round(factor * advice_for(options, keep, cache).recommendation.value, 6)


def advise_check(exp, groups, cache):
    """Training at `advise`'s β and at 1.2 × it: see the module docstring."""
    verdicts: dict[bool, list] = {True: [], False: []}  # linear (checked) / non-linear series
    rows, gaps = [], {}
    for model, series in groups.items():
        keep = exp.keep[model]
        (s_at, _, at), (_, _, up) = series
        rec = advice_for(at[0]["options"], keep, cache).recommendation
        beta_at = float(at[0]["options"]["beta"])
        fresh = abs(beta_at / rec.value - 1) < 1e-4
        act_at = [r["latent_dim"] - v for r, v in zip(at, _inactive(at), strict=True)]
        act_up = [r["latent_dim"] - v for r, v in zip(up, _inactive(up), strict=True)]
        th_up = None if up[0]["predicted"] is None else up[0]["latent_dim"] - up[0]["predicted"]
        ok = fresh and all(a >= keep for a in act_at) and all(a < keep for a in act_up)
        text = ""
        if s_at.checked:  # linear: every seed equals the closed form's count, once converged
            ok = ok and all(a == rec.active_modes for a in act_at) and all(a == th_up for a in act_up)
            for _, setting, runs in series:
                gaps[model, setting] = _gaps(runs, cache)
            worst = max(max(gaps[model, setting]) for _, setting, _ in series)
            text = f" ({_gap_text([worst])})"
            if worst > CONVERGED_GAP and fresh:  # a stale registry fails whatever the runs
                ok, text = None, text + f" — not converged (above {CONVERGED_GAP:g}): undecided"
        verdicts[s_at.checked].append(
            (ok, f"{model} (K = {keep}): advised β = {rec.value:.4g}"
                 + ("" if fresh else f" but the runs train β = {beta_at:.4g} (stale)")
                 + f", active modes {act_at} (theory {rec.active_modes}); at 1.2 × β "
                 f"{act_up} (theory {th_up}){text}"))
        for _, setting, runs in series:
            pred = runs[0]["predicted"]
            act = [r["latent_dim"] - v for r, v in zip(runs, _inactive(runs), strict=True)]
            g = gaps.get((model, setting))
            rows.append([model, setting, f"{float(runs[0]['options']['beta']):.4g}", str(keep),
                         mean_sd(act), "—" if pred is None else str(runs[0]["latent_dim"] - pred),
                         f"{max(g):.2g}" if g else "—"])
    header = ["model", "setting", "β", "K", "active modes (trained)", "uncollapsed (theory)",
              GAP_COLUMN]
    statistic = [{"test": "every-seed-count", "keep": exp.keep, "converged_gap": CONVERGED_GAP}]
    out = []
    for linear, text, role in ((True, exp.claim, exp.role),
                               (False, exp.measured_claim, exp.second_role)):
        if verdicts[linear]:
            oks = [ok for ok, _ in verdicts[linear]]
            holds = False if False in oks else (None if None in oks else True)
            out.append(claim_record(text, Verdict(holds, "; ".join(t for _, t in verdicts[linear]),
                                                  statistic), header, rows, role=role))
    return out, ()


# ------------------------------------------------------------------------------ separate maps

#: Why the theory predicts the same z2 collapse for ladder and Markov inference (the evidence).
SAME_OPTIMUM = ("in the generative chain z2 → z1 → x, z2 is independent of x given z1, so for any "
                "decoders the best q(z2 | z1, x) ignores x: the ladder's extra map is zero at the "
                "optimum and both inferences share it")


def _theory_comparison(model, series) -> tuple[str, bool]:
    """The theory's ladder-vs-Markov prediction of one model as (text, equal)."""
    pred = {setting: runs[0]["predicted"] for _, setting, runs in series}
    text = ", ".join(f"{setting} {runs[0]['predicted']} ({runs[0]['predicted_kind']})"
                     for _, setting, runs in series)
    same = len(set(pred.values())) == 1
    return f"{model}: theory collapses {'the same' if same else 'different'} z2 modes ({text})", same


def separate_maps(exp, groups, cache):
    """Ladder (separate maps from x to each level) against Markov inference: the linear
    series (``checked``) must end, every seed, at the theory's collapsed z2 modes (the
    numerical theory for the ladder, the closed form for Markov; undecided unless every run is
    within CONVERGED_GAP of the optimum's exact loss, :func:`loss_gap`); the theory's own
    ladder-vs-Markov prediction is stated in the evidence. On the non-linear series the claim
    that the ladder collapses fewer z2 modes than Markov is measured with the exact
    permutation test of :func:`compare` (Markov's collapsed modes > the ladder's)."""
    linear = {"parts": [], "gaps": [], "text": []}
    measured_parts, measured_text, tests, rows, theory_text, equal = [], [], [], [], [], []
    for model, series in groups.items():
        text, same = _theory_comparison(model, series)
        theory_text.append(text)
        equal.append(same)
        by_setting = {setting: runs for _, setting, runs in series}
        _linear_rows(model, series, cache, rows, linear)
        if not series[0][0].checked:
            markov, ladder = by_setting["Markov"], by_setting["ladder"]
            _more_collapsed(markov, ladder, f"{model} · Markov vs ladder",
                            f"{model}: collapsed z2 modes ladder {mean_sd(_inactive(ladder))}"
                            f" vs Markov {mean_sd(_inactive(markov))}",
                            measured_parts, tests, measured_text)
    header = [*HEADER, GAP_COLUMN]
    theory = "; ".join(theory_text)
    if all(equal):  # why: the module's SAME_OPTIMUM
        theory += f" — {SAME_OPTIMUM}"
    evidence = _linear_evidence("collapsed z2 modes per seed", linear)
    statistic = {"test": "every-seed-equals-theory", "parts": len(linear["parts"]),
                 "converged_gap": CONVERGED_GAP}
    out = [claim_record(exp.claim, Verdict(_linear_verdict(linear["parts"], linear["gaps"]),
                                           f"{evidence}. {theory}", [statistic]),
                        header, rows, role=exp.role)]
    if measured_parts:
        out.append(claim_record(exp.measured_claim, Verdict(
            combine(measured_parts), "; ".join(measured_text) + f". {theory}", tests,
            _max_p(tests)), header, rows, role=exp.second_role))
    return out, ()


# ------------------------------------------------------------------------------ the analysis


@analysis(check=RemedyCheck)
def mitigation(exp, profile, records, cache: TheoryCache):
    """The remedies' analysis: the runs grouped by model (:func:`_by_model`), judged by
    ``exp.check`` (:func:`annealing`, :func:`free_bits`, :func:`advise_check` or
    :func:`separate_maps`), drawn as bars
    (remedies.png, with the check's extra metrics)."""
    groups = _by_model(exp, records)
    claims, extra = exp.check(exp, groups, cache)
    return [_bars(exp, profile, groups, extra)], claims
