"""The claim checks: each judges one kind of claim of the registry (``Experiment.check``) with
the tests of :mod:`vaecollapse.experiments.significance` and returns a
:class:`~vaecollapse.experiments.verdict.Verdict`; a claim as claims.json holds it is
:func:`~vaecollapse.experiments.verdict.claim_record`. Each follows its analysis's protocol
(:mod:`vaecollapse.experiments.checks`), checked when the registry is built.

The checks, by the analysis that calls them: ``curves`` — :class:`SeriesTrend` (``increasing``,
``decreasing``, ``kl_increasing``, ``kl_decreasing`` and their versions that also judge active
units), :class:`ArmComparison` (``first_more``, ``second_more_burda``, ``first_lower_kl``) and
:class:`CountsMatchTheory`; ``linear_sweep`` — :func:`tracks` (and :func:`first_collapses_more`
for two arms); ``depth`` — :func:`tracks` per level and :func:`inference_agrees`; ``grid`` —
:class:`GridTrend` (collapsed z2 modes, reconstruction error); ``verify`` —
:func:`agrees_with_closed_form`.
:func:`theory_agreement` is the claim the runner adds to every experiment with linear-theory
predictions; the remedies' checks live beside their analysis in
:mod:`vaecollapse.experiments.remedies`.

Measurements: a run's *collapsed fraction* is the mean of its (ε,δ) curve over the log-ε grid
(the area under the curve, not one ε); its *collapsed modes* are latent_dim − active modes (a
count that does not depend on the latent basis, comparable with the closed form's).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vaecollapse.experiments.definition import value_name
from vaecollapse.experiments.significance import (
    combine,
    compare,
    mean_sd,
    significant_step_backs,
    step_backs,
    trend,
)
from vaecollapse.experiments.verdict import Measure, Verdict, claim_record

# ------------------------------------------------------------------------------ measurements


def collapsed_fraction(r: dict) -> float:
    """A run's mean (ε,δ)-collapsed fraction over the ε grid."""
    return float(np.mean(r["collapsed_fraction"]))


def inactive(r: dict) -> int | None:
    """Collapsed directions, counted without a basis: latent_dim − active modes."""
    return None if r.get("active_modes") is None else r["latent_dim"] - r["active_modes"]


COLLAPSED = Measure("mean collapsed fraction", collapsed_fraction)
KL = Measure("KL (nats)", lambda r: r["kl_total"])
ACTIVE_UNITS = Measure("active units (KL fraction)", lambda r: r["active_units_kl_fraction"])
BURDA_UNITS = Measure("active units (Burda)", lambda r: r["active_units"])
COLLAPSED_DIMS = Measure("(ε,δ)-collapsed dimensions", lambda r: r["n_collapsed"])


def _max_p(ps: list[float | None]) -> float | None:
    """The p of an intersection–union claim: the largest part's (None if a part has none)."""
    return None if not ps or any(p is None for p in ps) else max(ps)


# ------------------------------------------------------------------------------ claim checks


@dataclass(frozen=True)
class SeriesTrend:
    """The claim: along every checked series, ``measure`` (and each of ``also``) rises
    (``direction`` +1) or falls (−1) with the position of the swept value (times the series' own
    ``direction``). One-sided Spearman permutation test per series and measure over all
    (value, seed) points; all must hold (:func:`combine`), and a series whose adjacent values
    step back *significantly* (:func:`significant_step_backs`) does not hold whatever ρ — a
    trend with a significant reversal is not monotone (module docstring of
    :mod:`~vaecollapse.experiments.significance`). Smaller step backs (beyond the seed spread)
    are named in the evidence."""

    name: str
    measure: Measure
    direction: int
    also: tuple[Measure, ...] = field(default=())

    def __call__(self, groups) -> Verdict:
        """``groups`` = [(series, [(value, runs over seeds)])] in the registry's order."""
        parts, ps, texts, tests = [], [], [], []
        for measure in (self.measure, *self.also):
            key = measure.of
            mtexts, backs, reversals = [], [], []
            for s, points in groups:
                if not s.checked:
                    continue
                direction = self.direction * s.direction
                xs = [i for i, (_, runs) in enumerate(points) for _ in runs]
                ys = [key(r) for _, runs in points for r in runs]
                t = trend(xs, ys, direction)
                labels = [f"{s.param} {value_name(v)}" for v, _ in points]
                seeds = [[key(r) for r in runs] for _, runs in points]
                back = significant_step_backs(labels, seeds, direction)
                holds = False if back and t.holds is not None else t.holds
                parts.append(holds)
                ps.append(t.p)
                tests.append({"series": s.label, "measure": measure.name, **t.as_dict(),
                              "significant_step_backs": back})
                mtexts.append(f"{s.label}: {t.describe()}")
                reversals += [f"{s.label} {b}" for b in back]
                backs += [b for b in step_backs(labels, seeds, direction)
                          if not any(b.split(" (")[0] in r for r in back)]
            text = f"{measure.name} against the swept value — " + "; ".join(mtexts)
            if reversals:
                text += "; significant step back (not monotone): " + ", ".join(reversals)
            if backs:
                text += "; step back beyond the seed spread: " + ", ".join(backs)
            texts.append(text)
        return Verdict(combine(parts), " | ".join(texts), tests, _max_p(ps))


@dataclass(frozen=True)
class ArmComparison:
    """The claim: of a series of two values (a learnable encoder variance, None, against a fixed
    σ; or two data sets), arm ``larger`` (0: the first, 1: the second) has the larger seed mean
    of ``measure`` — the exact permutation test of :func:`compare`. ``series``: the label of the
    series compared (default: the only one)."""

    name: str
    measure: Measure
    larger: int
    series: str | None = None

    def __call__(self, groups) -> Verdict:
        points = next(pts for s, pts in groups if self.series in (None, s.label))
        (va, ra), (vb, rb) = points if self.larger == 0 else points[::-1]
        a, b = [self.measure.of(r) for r in ra], [self.measure.of(r) for r in rb]
        c = compare(a, b)

        def which(v):
            return "learnable Σ" if v is None else (f"fixed σ = {v:g}" if isinstance(v, float)
                                                    else str(v))

        evidence = (f"{self.measure.name}: {which(va)} {np.mean(a):.3g} vs {which(vb)} "
                    f"{np.mean(b):.3g} — {c.describe()}")
        return Verdict(c.holds, evidence, [c.as_dict()], c.p)


@dataclass(frozen=True)
class CountsMatchTheory:
    """The claim: at every grid point the seed median of ``measure`` (a count: the
    (ε,δ)-collapsed dimensions at the experiment's ε) equals the closed form's collapsed modes
    (``predicted``) exactly — the count the theorem gives for the linear model trained."""

    name: str
    measure: Measure

    def __call__(self, groups) -> Verdict:
        texts, diffs = [], []
        for s, points in groups:
            for v, runs in points:
                got, want = float(np.median([self.measure.of(r) for r in runs])), runs[0]["predicted"]
                diffs.append(None if want is None else abs(got - want))
                texts.append(f"{s.param} {value_name(v)}: {got:g} (theory {want})")
        ok = None if None in diffs else all(d == 0 for d in diffs)
        evidence = f"seed-median {self.measure.name} against the closed form — " + "; ".join(texts)
        return Verdict(ok, evidence, [{"test": "exact-count", "differences": diffs}])


increasing = SeriesTrend("increasing", COLLAPSED, +1)  # larger value ⇒ more collapse
decreasing = SeriesTrend("decreasing", COLLAPSED, -1)  # later value ⇒ less collapse
kl_increasing = SeriesTrend("kl_increasing", KL, +1)  # larger value ⇒ higher KL
kl_decreasing = SeriesTrend("kl_decreasing", KL, -1)  # larger value ⇒ lower KL (more collapse)
# ... and fewer (more) active units (Burda's), judged too
kl_and_units_increasing = SeriesTrend("kl_and_units_increasing", KL, +1, also=(BURDA_UNITS,))
kl_and_units_decreasing = SeriesTrend("kl_and_units_decreasing", KL, -1, also=(BURDA_UNITS,))
first_more = ArmComparison("first_more", COLLAPSED, 0)  # the first arm collapses more
second_more_burda = ArmComparison("second_more_burda", BURDA_UNITS, 1)  # the second keeps more
second_more_au = ArmComparison("second_more_au", ACTIVE_UNITS, 1)  # … by the paper's KL fraction
collapsed_counts_match = CountsMatchTheory("collapsed_counts_match", COLLAPSED_DIMS)


def _tolerance(predicted_active: np.ndarray) -> np.ndarray:
    """Per point: max(1, round(10% of the predicted *active* modes)) — so that a model with
    every mode collapsed fails wherever the theory keeps two or more modes alive."""
    return np.maximum(1, np.round(0.1 * np.asarray(predicted_active, float)))


def tracks(param: str, measured: np.ndarray, predicted: np.ndarray, latent_dim: int, *,
           what: str = "active modes", theory: str = "the closed form") -> Verdict:
    """The claim: trained ``what`` (active or collapsed modes) track ``theory`` — at every point
    (a swept value of ``param``, or a level of one setting) the seed median of ``measured``
    (points × seeds) is within the tolerance of ``predicted``: max(1, round(10% of the predicted
    active modes)) (:func:`_tolerance`; a fully collapsed model fails where two or more modes
    live)."""
    median = np.median(measured, axis=1)
    diff = np.abs(median - predicted)
    active = predicted if what.startswith("active") else latent_dim - np.asarray(predicted)
    tol = _tolerance(active)
    worst_seed = int(np.max(np.abs(measured - predicted[:, None])))
    evidence = (f"seed-median {what} vs {theory} over {len(predicted)} values of "
                f"{param}: max |Δ| {diff.max():g}, mean |Δ| {diff.mean():.2g} (tolerance "
                f"{int(tol.min())}–{int(tol.max())}: 10% of the predicted active modes, at "
                f"least 1; worst single seed {worst_seed}; {measured.shape[1]} seeds)")
    statistic = [{"test": "abs-difference-of-seed-medians", "max": float(diff.max()),
                  "mean": float(diff.mean()), "tolerance": tol.tolist(),
                  "worst_seed": worst_seed, "seeds": int(measured.shape[1])}]
    return Verdict(bool(np.all(diff <= tol)), evidence, statistic)


def first_collapses_more(param: str, values, arms) -> Verdict:
    """The claim of two arms of a linear sweep (``arms`` = [(label, predicted collapsed modes per
    value, trained collapsed modes: values × seeds)], the claimed larger first): the first arm has
    at least as many collapsed modes as the second at every value of ``param`` and more over
    all values — predicted (exact: every value, and the sums) and trained (the seed medians at
    every value, and the exact one-sided permutation test of :func:`compare` on each seed's total
    over the values, n vs n seeds). All four must hold (:func:`combine`; too few seeds to reach
    ALPHA: undecided)."""
    (la, pa, ma), (lb, pb, mb) = arms
    pa, pb = np.asarray(pa, float), np.asarray(pb, float)
    ma, mb = np.asarray(ma, float), np.asarray(mb, float)
    pred_every, pred_more = bool(np.all(pa >= pb)), bool(pa.sum() > pb.sum())
    med_a, med_b = np.median(ma, axis=1), np.median(mb, axis=1)
    trained_every = bool(np.all(med_a >= med_b))
    c = compare(ma.sum(axis=0), mb.sum(axis=0))
    behind = [value_name(v) for v, a, b in zip(values, med_a, med_b, strict=True) if a < b]
    evidence = (f"collapsed modes, {la} vs {lb}: predicted {pa.sum():g} vs {pb.sum():g} over "
                f"{len(pa)} values of {param} (≥ at every value: {pred_every}); trained seed "
                f"medians ≥ at every value: {trained_every}"
                + (f" (behind at {param} = {', '.join(behind)})" if behind else "")
                + f"; per-seed totals {ma.sum(axis=0).mean():.3g} vs {mb.sum(axis=0).mean():.3g} "
                f"— {c.describe()}")
    statistic = [{"test": "predicted-at-every-value-and-sum", "every": pred_every,
                  "more": pred_more, "sum_a": float(pa.sum()), "sum_b": float(pb.sum())},
                 {"test": "trained-seed-medians-at-every-value", "every": trained_every},
                 {"on": "per-seed totals over the values", **c.as_dict()}]
    return Verdict(combine([pred_every and pred_more, trained_every, c.holds]), evidence,
                   statistic, c.p)


def inference_agrees(points) -> Verdict:
    """The claim (a property of the theory): Markov and ladder inference leave the same collapsed
    modes at every level and depth in the numerical theory (exact equality); the trained seed
    medians are compared alongside, reported. ``points`` = [(depth L, level, Markov predicted,
    ladder predicted, Markov trained median, ladder trained median)]."""
    differ = [f"L={L} {z}: {a:g} vs {b:g}" for L, z, a, b, _, _ in points if a != b]
    trained = [f"L={L} {z}: {a:g} vs {b:g}" for L, z, _, _, a, b in points if a != b]
    evidence = (f"numerical theory, Markov vs ladder over {len(points)} (depth, level) points: "
                + (f"differ at {'; '.join(differ)}" if differ else "equal at every one")
                + "; trained seed medians: "
                + (f"differ at {'; '.join(trained)}" if trained else "equal at every one"))
    statistic = [{"test": "exact-equality-of-predictions", "points": len(points),
                  "differ": len(differ), "trained_differ": len(trained)}]
    return Verdict(not differ, evidence, statistic)


@dataclass(frozen=True)
class GridTrend:
    """The claim over a k × k β1 × β2 grid: ``what`` rises with β2 and falls with β1 — two
    one-sided Spearman tests over every (i, j, value) point (i: the β1 position, j: the β2
    position), both must hold."""

    name: str
    what: str

    def __call__(self, points: list[tuple[int, int, float]], k: int) -> Verdict:
        b1_position, b2_position, values = zip(*points, strict=True)
        along_b2 = trend(b2_position, values, +1)
        along_b1 = trend(b1_position, values, -1)
        evidence = (f"{self.what} over the {k}×{k} grid — rising with β2: {along_b2.describe()}; "
                    f"falling with β1: {along_b1.describe()}")
        statistic = [{"along": "beta2", **along_b2.as_dict()},
                     {"along": "beta1", **along_b1.as_dict()}]
        return Verdict(combine([along_b2.holds, along_b1.holds]), evidence, statistic,
                       _max_p([along_b2.p, along_b1.p]))


z2_rises_with_beta2_falls_with_beta1 = GridTrend("z2_rises_with_beta2_falls_with_beta1",
                                                 "z2 collapsed modes")
recon_rises_with_beta2_falls_with_beta1 = GridTrend("recon_rises_with_beta2_falls_with_beta1",
                                                    "reconstruction error")

#: a trained linear model approaches its closed form when the relative MAE of λ, ω, σ is below
#: this (on a converged run: otherwise the claim is undecided)
TRAINED_TOLERANCE = 0.1


def agrees_with_closed_form(max_rel_error: float, instances: int, rel: dict[str, float]
                            ) -> tuple[Verdict, Verdict]:
    """A theorem's two checks: (1) a property of the theory — the numerical minimiser of the
    exact loss matches the closed form (largest relative error ``max_rel_error`` < 1e-4 over the
    random ``instances``); (2) the reproduction — a linear model trained by SGD approaches the
    closed form (relative MAE of λ, ω, σ, ``rel``, < :data:`TRAINED_TOLERANCE`; False when it
    does not: the analysis leaves it undecided unless the run passed the convergence gate)."""
    numeric_ok = max_rel_error < 1e-4
    theory = Verdict(numeric_ok, f"numerical minimiser vs closed form: max relative error "
                     f"{max_rel_error:.1e} over {instances} instances (tolerance 1e-4)",
                     [{"test": "max-relative-error", "numerical": max_rel_error,
                       "tolerance": 1e-4}])
    trained_ok = max(rel.values()) < TRAINED_TOLERANCE
    trained = Verdict(trained_ok, f"trained: relative MAE λ {rel['lambda']:.3f}, ω "
                      f"{rel['omega']:.3f}, σ {rel['sigma']:.3f} (tolerance "
                      f"{TRAINED_TOLERANCE:g})",
                      [{"test": "relative-mae-trained", **rel, "tolerance": TRAINED_TOLERANCE}])
    return theory, trained


# ------------------------------------------------------------------------------ theory agreement


#: the experiments on which the non-linear theory was developed (docs/nonlinear-theory.md): its
#: agreement elsewhere is held out
DEVELOPMENT = ("fig2b", "fig3a")
#: a theory's name → the run record's key holding its predicted collapsed (inactive) modes
PREDICTIONS = {"linear theory": "predicted", "non-linear theory": "predicted_nonlinear"}


def theory_agreement(exp, records: list[dict], kind: str = "linear theory") -> dict | None:
    """The claim that a theory (``kind``: the linear theory — the linear model's prediction on
    the same data and hyperparameters; the non-linear theory — a pilot of the run itself,
    linearised, :mod:`vaecollapse.runs.pilot`) predicts the non-linear model's collapse, on this
    experiment: over its grid points, the predicted collapsed modes (seed mean) against the
    trained non-linear model's (seed mean of latent_dim − active modes). Holds when the mean
    absolute error is within max(1, 10% of latent_dim) and, where the ordering can be tested —
    the ties of the actual values let the one-sided Spearman test reach ALPHA
    (:func:`~vaecollapse.experiments.significance.min_p`) — the rank correlation across the grid
    is positive and significant. An untestable ordering is said, with its smallest reachable p."""
    key = PREDICTIONS[kind]
    runs = [r for r in records if r.get(key) is not None and inactive(r) is not None
            and (key != "predicted" or r["predicted_kind"] == "linear theory")]
    if not runs:
        return None
    points: dict[str, list[dict]] = {}
    for r in runs:
        points.setdefault(r["run"].rsplit("_seed=", 1)[0], []).append(r)
    names = list(points)
    predicted = np.array([np.mean([r[key] for r in points[n]]) for n in names], dtype=float)
    measured = np.array([np.mean([inactive(r) for r in points[n]]) for n in names])
    latent = runs[0]["latent_dim"]
    mae = float(np.mean(np.abs(measured - predicted)))
    tol = max(1.0, 0.1 * latent)
    t = trend(predicted, measured, +1)
    level_ok = mae <= tol
    holds = level_ok and (not t.testable or bool(t.holds))
    if t.testable:
        order = f"rank correlation across the grid {t.describe('grid points')}"
    elif t.rho is None:
        order = "ordering not testable (constant)"
    else:
        order = (f"ordering not testable: with these ties the smallest reachable p is "
                 f"{t.min_p:.2g} > 0.05")
    evidence = (f"{kind} vs trained collapsed modes: mean |error| {mae:.3g} of {latent} "
                f"(tolerance {tol:g}); {order}")
    if kind == "non-linear theory":
        evidence += (" — the method's development subset" if getattr(exp, "name", "") in DEVELOPMENT
                     else " — held out (the method was fixed on fig2b and fig3a)")
    rows = [[n, mean_sd([inactive(r) for r in points[n]]), f"{predicted[i]:.3g}"]
            for i, n in enumerate(names)]
    verdict = Verdict(holds, evidence, [{"test": "mae-and-spearman", "mae": mae, "tolerance": tol,
                                          **t.as_dict(), "testable": t.testable}],
                      t.p if t.testable else None)
    return claim_record(f"the {kind} predicts the non-linear model's collapse (collapsed "
                        "modes across the grid)", verdict,
                        ["grid point", "trained collapsed modes", kind], rows, role="agreement")
