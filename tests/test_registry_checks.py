"""Typed experiment checks: a check that does not follow its analysis's protocol fails when the
registry is built (before any training), naming the experiment; every real entry passes."""

from __future__ import annotations

import dataclasses

import pytest

from vaecollapse.experiments import analyses, checks, claims, remedies
from vaecollapse.experiments.definition import Experiment, Series
from vaecollapse.experiments.registry import EXPERIMENTS, REGISTRY, build_registry


def _exp(analysis, check, second=None, **extra):
    return Experiment(name="probe", title="probe", claim="c", analysis=analysis, check=check,
                      second_check=second, base={"model": "vae"},
                      series=(Series(label="s", param="beta", values=(1.0, 2.0)),), **extra)


def test_every_registered_experiment_follows_its_protocols():
    assert len(REGISTRY) == len(EXPERIMENTS) > 20
    for exp in EXPERIMENTS:
        checks.check_experiment(exp)  # raises on a wrong pairing


@pytest.mark.parametrize("analysis, check, second, why", [
    (analyses.curves, claims.tracks, None, "does not follow CurvesCheck"),
    (analyses.linear_sweep, claims.increasing, None, "does not follow TrackingCheck"),
    (analyses.grid, claims.agrees_with_closed_form, None, "does not follow GridCheck"),
    (analyses.verify, claims.z2_rises_with_beta2_falls_with_beta1, None, "TheoremCheck"),
    (analyses.linear_sweep, claims.tracks, claims.inference_agrees, "does not follow ArmsCheck"),
    (analyses.depth, claims.tracks, claims.first_collapses_more, "InferenceCheck"),
    (analyses.curves, claims.increasing, claims.inference_agrees, "does not follow CurvesCheck"),
    (analyses.verify, claims.agrees_with_closed_form, claims.tracks, "judges no second claim"),
    (remedies.mitigation, claims.tracks, None, "RemedyCheck"),
    (analyses.curves, lambda groups, extra: None, None, "also requires extra"),
])
def test_a_wrong_pairing_fails_when_the_registry_is_built(analysis, check, second, why):
    bad = _exp(analysis, check, second)
    with pytest.raises(TypeError, match=why):
        build_registry([*EXPERIMENTS, bad])


def test_a_curves_check_needs_its_measure():
    """CurvesCheck's attribute: a callable of the right shape without ``measure`` is refused."""

    def no_measure(groups):
        return None

    with pytest.raises(TypeError, match="has no measure"):
        build_registry([_exp(analyses.curves, no_measure)])
    no_measure.measure = claims.COLLAPSED
    build_registry([_exp(analyses.curves, no_measure)])


def test_duplicate_names_are_refused():
    with pytest.raises(TypeError, match="two experiments are named fig2a"):
        build_registry([*EXPERIMENTS, dataclasses.replace(REGISTRY["fig2a"])])


def test_conformance_reads_signatures_not_names():
    """A check may name its parameters as the protocol does and add optional ones."""

    def fine(param, measured, predicted, latent_dim, *, what="x", theory="y", extra=1):
        return None

    def renamed(p, m, pr, d, *, what="x", theory="y"):
        return None

    assert checks.conformance(fine, checks.TrackingCheck) is None
    assert "takes (p, m, pr, d)" in checks.conformance(renamed, checks.TrackingCheck)
