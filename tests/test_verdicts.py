"""Verdicts that can fail (issue 25): tie-aware testability, the shape rule, Holm's view, the
convergence gate and the claims added for the paper's unchecked statements — each against
synthetic results that must fail it (and ones that must pass)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from vaecollapse.experiments import analyses
from vaecollapse.experiments.analyses import grid_points
from vaecollapse.experiments.claims import (
    BURDA_UNITS,
    agrees_with_closed_form,
    collapsed_counts_match,
    increasing,
    kl_and_units_decreasing,
    recon_rises_with_beta2_falls_with_beta1,
    second_more_burda,
    theory_agreement,
    tracks,
)
from vaecollapse.experiments.convergence import CONVERGED_GAP, gate_text
from vaecollapse.experiments.definition import Experiment, Series
from vaecollapse.experiments.significance import ALPHA, holm, min_p, significant_step_backs, trend
from vaecollapse.experiments.verdict import Verdict, undecided_unless

# ------------------------------------------------------------------------------ testability


def _brute_min_p(x, y) -> float:
    """The smallest p of the one-sided Spearman permutation test, by enumerating every pairing."""
    from vaecollapse.experiments.significance import ranks

    rx, ry = ranks(x), ranks(y)
    stats = [float(rx @ ry[list(perm)]) for perm in itertools.permutations(range(len(y)))]
    top = max(stats)
    return sum(s >= top - 1e-9 for s in stats) / len(stats)


@pytest.mark.parametrize("seed", range(12))
def test_min_p_equals_brute_force_enumeration_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 8))
    x = rng.integers(0, int(rng.integers(1, 4)) + 1, n).astype(float)  # heavy ties
    y = rng.integers(0, int(rng.integers(2, 6)), n).astype(float)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        assert min_p(x, y) == 1.0
        return
    assert min_p(x, y) == pytest.approx(_brute_min_p(x, y), rel=1e-9)


def test_table_mhvae_pattern_fourteen_equal_and_one():
    """Fourteen equal predictions and one other (table-mhvae's linear theory): only 1/15 of the
    pairings put the distinct prediction beside the largest measurement — enumerated over the 15
    distinct places of the odd one — so no ordering test can reach 0.05."""
    x = np.array([0.0] * 14 + [3.0])
    y = np.arange(15, dtype=float)
    places = [sum(1 for j in range(15) if j == k) for k in range(15)]  # one place each
    brute = sum(1 for k in range(15) if y[k] == y.max()) / len(places)
    assert min_p(x, y) == pytest.approx(brute) == pytest.approx(1 / 15)
    assert min_p(x, y) > ALPHA
    assert not trend(x, y, +1).testable
    # without ties 5 points reach 1/120 < 0.05; 3 points cannot (1/6)
    assert trend([1, 2, 3, 4, 5], [1, 3, 2, 5, 4], +1).testable
    assert not trend([1, 2, 3], [1, 2, 3], +1).testable


def _agreement_records(predicted, measured, latent=16):
    return [{"run": f"p{i}_seed={s}", "predicted_kind": "linear theory", "predicted": p,
             "latent_dim": latent, "active_modes": latent - m[s]}
            for i, (p, m) in enumerate(zip(predicted, measured, strict=True)) for s in range(3)]


def test_theory_agreement_is_tie_aware():
    """table-mhvae's pattern: the level is within tolerance and the ordering untestable, so the
    claim holds (the tie-blind 1/n! ≤ α guard judged it as testable and failed it)."""
    predicted = [0] * 14 + [1]
    measured = [[0, 1, 0]] * 7 + [[1, 1, 0]] * 7 + [[1, 1, 1]]  # seed means 1/3, 2/3, 1
    c = theory_agreement(None, _agreement_records(predicted, measured))
    assert c["holds"] is True and "not testable" in c["evidence"] and "0.067" in c["evidence"]
    assert c["role"] == "agreement" and c["p"] is None
    # the same level error with an ordering that can be tested and goes the wrong way fails
    predicted = [0, 1, 2, 3, 4, 5]
    measured = [[5, 5, 5], [4, 4, 4], [3, 3, 3], [2, 2, 2], [1, 1, 1], [0, 0, 0]]
    c = theory_agreement(None, _agreement_records(predicted, measured, latent=60))
    assert c["holds"] is False and "rank correlation" in c["evidence"]


# ------------------------------------------------------------------------------ shape


def _exp(check, *series, **kw):
    return Experiment(name="x", title="t", claim="claim", analysis=analyses.curves, check=check,
                      base={}, series=series, **kw)


def _run(label, param, value, seed, **measures):
    frac = measures.pop("frac", 0.0)
    return {"series": label, "values": {param: value}, "seed": seed,
            "collapsed_fraction": [frac, frac], "kl_total": 1.0, "active_units": 8,
            "active_units_kl_fraction": 0.5, "n_collapsed": 0, "predicted": None, **measures}


def test_a_significant_step_back_fails_a_rising_trend():
    """Seed means 0.1, 0.5, 0.2, 0.9 with tight seeds: ρ is large and significant, but the step
    0.5 → 0.2 is itself significant: not monotone, does not hold."""
    s = Series(label="β", param="beta", values=(1.0, 2.0, 3.0, 4.0))
    e = _exp(increasing, s)
    runs = [_run("β", "beta", v, k, frac=m + 0.01 * k)
            for v, m in zip(s.values, (0.1, 0.5, 0.2, 0.9), strict=True) for k in range(3)]
    xs = [i for i in range(4) for _ in range(3)]
    assert trend(xs, [r["collapsed_fraction"][0] for r in runs], +1).holds is True
    verdict = e.check(grid_points(e, runs))
    assert verdict.holds is False and "significant step back" in verdict.evidence
    monotone = [_run("β", "beta", v, k, frac=m + 0.01 * k)
                for v, m in zip(s.values, (0.1, 0.2, 0.5, 0.9), strict=True) for k in range(3)]
    assert e.check(grid_points(e, monotone)).holds is True


def _rule(values, seeds_per_value, direction=+1) -> bool:
    """The trend rule as the checks apply it: significant ρ and no significant step back."""
    xs = [i for i in range(len(values)) for _ in range(seeds_per_value)]
    ys = np.concatenate(values)
    labels = [str(i) for i in range(len(values))]
    return bool(trend(xs, ys, direction).holds and not significant_step_backs(labels, values,
                                                                              direction))


def test_trend_rule_false_positive_rate_and_power_by_simulation():
    """With no trend the rule holds at most α of the time; at the effect sizes of the suite (4
    values × 3 seeds, steps of one to two seed standard deviations: e.g. fig2b's collapsed
    fractions rise by 0.05–0.2 per value with seed sd ≈ 0.05) it holds most of the time."""
    rng = np.random.default_rng(0)
    sims = 400
    null = np.mean([_rule([rng.normal(0, 1, 3) for _ in range(4)], 3) for _ in range(sims)])
    assert null <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / sims)
    power = {step: np.mean([_rule([rng.normal(step * i, 1, 3) for i in range(4)], 3)
                            for _ in range(sims)]) for step in (1.0, 2.0)}
    assert power[2.0] >= 0.9 and power[1.0] >= 0.6, power


# ------------------------------------------------------------------------------ multiple testing


def test_holm_matches_the_step_down_definition():
    ps = [0.01, 0.04, 0.03, 0.2, 0.005]
    # sorted 0.005, 0.01, 0.03, 0.04, 0.2 × 5, 4, 3, 2, 1 → 0.025, 0.04, 0.09, 0.08→0.09, 0.2
    assert holm(ps) == pytest.approx([0.04, 0.09, 0.09, 0.2, 0.025])
    assert holm([]) == []
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_run_claims_add_holm_over_the_paper_family(tmp_path, monkeypatch):
    from vaecollapse.experiments import runner

    docs = {"a": [{"claim": "a1", "role": "paper", "holds": True, "p": 0.01, "evidence": ""},
                  {"claim": "a2", "role": "theory", "holds": True, "p": None, "evidence": ""}],
            "b": [{"claim": "b1", "role": "paper", "holds": True, "p": 0.04, "evidence": ""},
                  {"claim": "b2", "role": "agreement", "holds": False, "p": 0.3, "evidence": ""}]}
    for name, claims in docs.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "claims.json").write_text(__import__("json").dumps(claims))
    monkeypatch.setattr(runner, "REGISTRY", {"a": None, "b": None})
    out = {c["claim"]: c for c in runner.run_claims(tmp_path)}
    assert out["a1"]["holm_p"] == pytest.approx(0.02) and out["a1"]["holds_holm"] is True
    assert out["b1"]["holm_p"] == pytest.approx(0.04) and out["b1"]["holds_holm"] is True
    assert out["a2"]["holm_p"] is None and out["b2"]["holm_p"] is None  # not in the family
    docs["b"][0]["p"] = 0.03
    docs["a"][0]["p"] = 0.04
    (tmp_path / "a" / "claims.json").write_text(__import__("json").dumps(docs["a"]))
    (tmp_path / "b" / "claims.json").write_text(__import__("json").dumps(docs["b"]))
    out = {c["claim"]: c for c in runner.run_claims(tmp_path)}
    assert out["b1"]["holm_p"] == pytest.approx(0.06) and out["b1"]["holds_holm"] is False


# ------------------------------------------------------------------------------ the gate


def test_the_convergence_gate_leaves_unconverged_claims_undecided():
    v = Verdict(True, "matches", [])
    assert undecided_unless(v, False, gate_text(2 * CONVERGED_GAP)).holds is None
    failing = Verdict(False, "misses", [])
    assert undecided_unless(failing, False, "not converged").holds is None
    kept = undecided_unless(v, True, gate_text(CONVERGED_GAP / 2))
    assert kept.holds is True and "converged" in kept.evidence


def test_theorem_sgd_half_can_fail():
    """A converged run that misses the tolerance fails (the analysis gates only unconverged
    runs); the numerical half is a property of the theory, judged apart."""
    theory, trained = agrees_with_closed_form(1e-6, 20, {"lambda": 0.3, "omega": 0.01, "sigma": 0})
    assert theory.holds is True and trained.holds is False
    theory, trained = agrees_with_closed_form(1e-2, 20, {"lambda": 0.01, "omega": 0.01, "sigma": 0})
    assert theory.holds is False and trained.holds is True


# ------------------------------------------------------------------------------ new claims


def test_tracking_tolerance_fails_a_fully_collapsed_model():
    """linear-cvae-beta's counts: latent 64 and predicted active modes 6, 4, 2, 1, 0 — a model
    with every mode collapsed (0 active) must fail wherever two or more modes live."""
    predicted = np.array([6, 4, 2, 1, 0])
    collapsed = np.zeros((5, 3))
    assert tracks("beta", collapsed, predicted, 64).holds is False
    near = np.array([[6, 6, 5], [4, 4, 4], [2, 3, 2], [1, 1, 1], [0, 0, 0]])
    assert tracks("beta", near, predicted, 64).holds is True
    assert tracks("beta", collapsed[3:], predicted[3:], 64).holds is True  # nothing to tell apart


def test_fig2a_counts_claim_can_fail():
    s = Series(label="encoder variance", param="sigma", values=(None, 1.0))
    e = _exp(collapsed_counts_match, s)

    def runs(learnable_count):
        return [{**_run("encoder variance", "sigma", v, k), "n_collapsed": n, "predicted": p}
                for v, n, p in ((None, learnable_count, 4), (1.0, 0, 0)) for k in range(3)]

    assert e.check(grid_points(e, runs(4))).holds is True
    assert e.check(grid_points(e, runs(3))).holds is False  # the paper's 3 of 5 is not the theory's


def test_table_vae_judges_burda_units_not_the_saturated_fraction():
    s = Series(label="encoder variance", param="sigma", values=(None, 0.5))
    e = _exp(second_more_burda, s)

    def runs(learnable, fixed):
        return [{**_run("encoder variance", "sigma", v, k), "active_units": u + k % 2,
                 "active_units_kl_fraction": 1.0}
                for v, u in ((None, learnable), (0.5, fixed)) for k in range(3)]

    assert second_more_burda.measure is BURDA_UNITS
    assert e.check(grid_points(e, runs(4, 9))).holds is True
    assert e.check(grid_points(e, runs(9, 4))).holds is False


def test_table_cvae_needs_active_units_to_fall_too():
    s = Series(label="β", param="beta", values=(0.5, 1.0, 2.0))
    e = _exp(kl_and_units_decreasing, s)

    def runs(units):
        return [{**_run("β", "beta", v, k), "kl_total": 10 - 3 * i + 0.1 * k,
                 "active_units": u + 0.1 * k}
                for i, (v, u) in enumerate(zip(s.values, units, strict=True)) for k in range(3)]

    assert e.check(grid_points(e, runs((12, 8, 4)))).holds is True
    assert e.check(grid_points(e, runs((4, 8, 12)))).holds is False


def test_reconstruction_trend_over_the_grid_can_fail():
    k = 3
    good = [(i, j, 0.01 * (1 + j - i) + 0.001 * s) for i in range(k) for j in range(k)
            for s in range(3)]
    assert recon_rises_with_beta2_falls_with_beta1(good, k).holds is True
    bad = [(i, j, 0.01 * (1 + i - j) + 0.001 * s) for i in range(k) for j in range(k)
           for s in range(3)]
    assert recon_rises_with_beta2_falls_with_beta1(bad, k).holds is False


def test_design_notes_say_what_the_fixed_arm_cannot_escape():
    """fig2a's fixed arm (σ = 1, η_enc = 0.5): KL ≥ 0.807 nats, so on the 25-point ε grid from
    1e-5 to 10 its collapsed fraction is at most 0.2 whatever the training."""
    from vaecollapse.diagnostics.collapse import default_eps_grid

    s = Series(label="encoder variance", param="sigma", values=(None, 1.0))
    e = _exp(increasing, s)
    eps = default_eps_grid().tolist()
    runs = [{**_run("encoder variance", "sigma", v, k, frac=0.2), "eps": eps,
             "options": {"eta_enc": 0.5}} for v in s.values for k in range(2)]
    (note,) = analyses.design_notes(grid_points(e, runs), e)
    assert "0.807" in note and "at 0.200" in note and "fixed by design" in note
