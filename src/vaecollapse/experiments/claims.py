"""The claim checks: each judges one kind of claim of the registry (``Experiment.check``) with
the tests of :mod:`vaecollapse.experiments.significance` and returns a
:class:`~vaecollapse.experiments.verdict.Verdict`; a claim as claims.json holds it is
:func:`~vaecollapse.experiments.verdict.claim_record`. Each follows its analysis's protocol
(:mod:`vaecollapse.experiments.checks`), checked when the registry is built.

The checks, by the analysis that calls them: ``curves`` — :class:`SeriesTrend` (``increasing``,
``decreasing``, ``kl_increasing``, ``kl_decreasing``) and :class:`ArmComparison`
(``first_more``, ``second_more_au``); ``linear_sweep`` — :func:`tracks` (and
:func:`first_collapses_more` for two arms); ``depth`` — :func:`tracks` per level and
:func:`inference_agrees`; ``grid`` — :func:`z2_rises_with_beta2_falls_with_beta1`; ``verify`` —
:func:`agrees_with_closed_form`.
:func:`theory_agreement` is the claim the runner adds to every experiment with linear-theory
predictions; the remedies' checks live beside their analysis in
:mod:`vaecollapse.experiments.remedies`.

Measurements: a run's *collapsed fraction* is the mean of its (ε,δ) curve over the log-ε grid
(the area under the curve, not one ε); its *collapsed modes* are latent_dim − active modes (a
count that does not depend on the latent basis, comparable with the closed form's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vaecollapse.experiments.definition import value_name
from vaecollapse.experiments.significance import ALPHA, combine, compare, mean_sd, step_backs, trend
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


# ------------------------------------------------------------------------------ claim checks


@dataclass(frozen=True)
class SeriesTrend:
    """The claim: along every checked series, ``measure`` rises (``direction`` +1) or falls (−1)
    with the position of the swept value (times the series' own ``direction``). One-sided
    Spearman permutation test per series over all (value, seed) points; all must hold
    (:func:`combine`). Step backs beyond the seed spread are named in the evidence."""

    name: str
    measure: Measure
    direction: int

    def __call__(self, groups) -> Verdict:
        """``groups`` = [(series, [(value, runs over seeds)])] in the registry's order."""
        key = self.measure.of
        parts, texts, tests, backs = [], [], [], []
        for s, points in groups:
            if not s.checked:
                continue
            direction = self.direction * s.direction
            xs = [i for i, (_, runs) in enumerate(points) for _ in runs]
            ys = [key(r) for _, runs in points for r in runs]
            t = trend(xs, ys, direction)
            parts.append(t.holds)
            tests.append({"series": s.label, **t.as_dict()})
            texts.append(f"{s.label}: {t.describe()}")
            labels = [f"{s.param} {value_name(v)}" for v, _ in points]
            backs += step_backs(labels, [[key(r) for r in runs] for _, runs in points], direction)
        evidence = f"{self.measure.name} against the swept value — " + "; ".join(texts)
        if backs:
            evidence += "; step back beyond the seed spread: " + ", ".join(backs)
        return Verdict(combine(parts), evidence, tests)


@dataclass(frozen=True)
class ArmComparison:
    """The claim: of a series of two values (a learnable encoder variance, None, against a fixed
    σ), arm ``larger`` (0: the first, 1: the second) has the larger seed mean of ``measure`` —
    the exact permutation test of :func:`compare`."""

    name: str
    measure: Measure
    larger: int

    def __call__(self, groups) -> Verdict:
        (_, points), = groups
        (va, ra), (vb, rb) = points if self.larger == 0 else points[::-1]
        a, b = [self.measure.of(r) for r in ra], [self.measure.of(r) for r in rb]
        c = compare(a, b)

        def which(v):
            return "learnable Σ" if v is None else f"fixed σ = {v:g}"

        evidence = (f"{self.measure.name}: {which(va)} {np.mean(a):.3g} vs {which(vb)} "
                    f"{np.mean(b):.3g} — {c.describe()}")
        return Verdict(c.holds, evidence, [c.as_dict()])


increasing = SeriesTrend("increasing", COLLAPSED, +1)  # larger value ⇒ more collapse
decreasing = SeriesTrend("decreasing", COLLAPSED, -1)  # later value ⇒ less collapse
kl_increasing = SeriesTrend("kl_increasing", KL, +1)  # larger value ⇒ higher KL
kl_decreasing = SeriesTrend("kl_decreasing", KL, -1)  # larger value ⇒ lower KL (more collapse)
first_more = ArmComparison("first_more", COLLAPSED, 0)  # the first arm collapses more
second_more_au = ArmComparison("second_more_au", ACTIVE_UNITS, 1)  # the second keeps more units


def tracks(param: str, measured: np.ndarray, predicted: np.ndarray, latent_dim: int, *,
           what: str = "active modes", theory: str = "the closed form") -> Verdict:
    """The claim: trained ``what`` (active or collapsed modes) track ``theory`` — at every point
    (a swept value of ``param``, or a level of one setting) the seed median of ``measured``
    (points × seeds) is within max(1, round(10% of latent_dim)) of ``predicted``."""
    median = np.median(measured, axis=1)
    diff = np.abs(median - predicted)
    worst_seed = int(np.max(np.abs(measured - predicted[:, None])))
    tol = max(1, int(round(0.1 * latent_dim)))
    evidence = (f"seed-median {what} vs {theory} over {len(predicted)} values of "
                f"{param}: max |Δ| {diff.max():g}, mean |Δ| {diff.mean():.2g} (tolerance {tol}; "
                f"worst single seed {worst_seed}; {measured.shape[1]} seeds)")
    statistic = [{"test": "max-abs-difference-of-seed-medians", "max": float(diff.max()),
                  "mean": float(diff.mean()), "tolerance": tol, "worst_seed": worst_seed,
                  "seeds": int(measured.shape[1])}]
    return Verdict(bool(diff.max() <= tol), evidence, statistic)


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
    return Verdict(combine([pred_every and pred_more, trained_every, c.holds]), evidence, statistic)


def inference_agrees(points) -> Verdict:
    """The claim: Markov and ladder inference leave the same collapsed modes at every level and
    depth in the numerical theory (exact equality); the trained seed medians are compared
    alongside, reported. ``points`` = [(depth L, level, Markov predicted, ladder predicted, Markov
    trained median, ladder trained median)]."""
    differ = [f"L={L} {z}: {a:g} vs {b:g}" for L, z, a, b, _, _ in points if a != b]
    trained = [f"L={L} {z}: {a:g} vs {b:g}" for L, z, _, _, a, b in points if a != b]
    evidence = (f"numerical theory, Markov vs ladder over {len(points)} (depth, level) points: "
                + (f"differ at {'; '.join(differ)}" if differ else "equal at every one")
                + "; trained seed medians: "
                + (f"differ at {'; '.join(trained)}" if trained else "equal at every one"))
    statistic = [{"test": "exact-equality-of-predictions", "points": len(points),
                  "differ": len(differ), "trained_differ": len(trained)}]
    return Verdict(not differ, evidence, statistic)


def z2_rises_with_beta2_falls_with_beta1(points: list[tuple[int, int, int]], k: int) -> Verdict:
    """The claim over a k × k β1 × β2 grid: z2's collapsed modes rise with β2 and fall with β1 —
    two one-sided Spearman tests over every (i, j, collapsed modes) point (i: the β1 position,
    j: the β2 position), both must hold."""
    b1_position, b2_position, collapsed = zip(*points, strict=True)
    along_b2 = trend(b2_position, collapsed, +1)
    along_b1 = trend(b1_position, collapsed, -1)
    evidence = (f"z2 collapsed modes over the {k}×{k} grid — rising with β2: {along_b2.describe()}; "
                f"falling with β1: {along_b1.describe()}")
    statistic = [{"along": "beta2", **along_b2.as_dict()}, {"along": "beta1", **along_b1.as_dict()}]
    return Verdict(combine([along_b2.holds, along_b1.holds]), evidence, statistic)


def agrees_with_closed_form(max_rel_error: float, instances: int, rel: dict[str, float]
                            ) -> Verdict:
    """The claim of a theorem: the numerical minimiser of the exact loss matches the closed form
    (largest relative error ``max_rel_error`` < 1e-4 over the random ``instances``: else False),
    and SGD training approaches it (relative MAE of λ, ω, σ, ``rel``, < 0.1: else undecided —
    not converged at this profile)."""
    numeric_ok = max_rel_error < 1e-4
    trained_ok = max(rel.values()) < 0.1
    holds = False if not numeric_ok else (True if trained_ok else None)
    evidence = (f"numerical: max relative error {max_rel_error:.1e} over {instances} instances; "
                f"trained: relative MAE λ {rel['lambda']:.3f}, ω {rel['omega']:.3f}, "
                f"σ {rel['sigma']:.3f}"
                + ("" if trained_ok else " (not converged at this profile: undecided)"))
    statistic = [{"test": "max-relative-error", "numerical": max_rel_error, "tolerance": 1e-4},
                 {"test": "relative-mae-trained", **rel, "tolerance": 0.1}]
    return Verdict(holds, evidence, statistic)


# ------------------------------------------------------------------------------ linear theory


def theory_agreement(exp, records: list[dict]) -> dict | None:
    """The paper's claim that the linear theory is predictive for non-linear models, checked on
    this experiment: over its grid points, the closed form's collapsed modes (the linear model
    on the same data and hyperparameters) against the trained non-linear model's collapsed modes
    (seed mean of latent_dim − active modes). Holds when the mean absolute error is within
    max(1, 10% of latent_dim) and, where the ordering can be tested (both vary, enough points
    to reach p ≤ 0.05), the rank correlation across the grid is positive and significant."""
    runs = [r for r in records if r["predicted_kind"] == "linear theory" and r["predicted"] is not None
            and inactive(r) is not None]
    if not runs:
        return None
    points: dict[str, list[dict]] = {}
    for r in runs:
        points.setdefault(r["run"].rsplit("_seed=", 1)[0], []).append(r)
    names = list(points)
    predicted = np.array([points[n][0]["predicted"] for n in names], dtype=float)
    measured = np.array([np.mean([inactive(r) for r in points[n]]) for n in names])
    latent = runs[0]["latent_dim"]
    mae = float(np.mean(np.abs(measured - predicted)))
    tol = max(1.0, 0.1 * latent)
    t = trend(predicted, measured, +1)
    testable = t.rho is not None and 1 / math.factorial(len(names)) <= ALPHA
    level_ok = mae <= tol
    holds = level_ok and (not testable or bool(t.holds))
    order = (f"rank correlation across the grid {t.describe('grid points')}" if testable
             else f"ordering not testable ({'constant' if t.rho is None else 'too few points'})")
    evidence = (f"linear theory vs trained collapsed modes: mean |error| {mae:.3g} of {latent} "
                f"(tolerance {tol:g}); {order}")
    rows = [[n, mean_sd([inactive(r) for r in points[n]]), f"{predicted[i]:g}"]
            for i, n in enumerate(names)]
    return claim_record("the linear theory predicts the non-linear model's collapse (collapsed "
                        "modes across the grid)", holds, evidence,
                        [{"test": "mae-and-spearman", "mae": mae, "tolerance": tol, **t.as_dict()}],
                        ["grid point", "trained collapsed modes", "linear theory"], rows)

