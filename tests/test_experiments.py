"""The experiment registry, the claim checks and the reproduce pipeline on tiny configurations."""

from __future__ import annotations

import json
from dataclasses import replace
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from vaecollapse.cli import app
from vaecollapse.experiments import REGISTRY, run_experiment
from vaecollapse.experiments.registry import Experiment, Series
from vaecollapse.experiments.runner import (
    _check,
    _grid_trend,
    _monotone,
    _suptitle,
    variant_options,
    variants,
)
from vaecollapse.report import write_report
from vaecollapse.train import config_from_options

ISSUE_NAMES = {"fig2a", "fig2b", "fig2c", "fig3a", "fig4", "fig5", "table-vae", "table-cvae",
               "table-mhvae", "synthetic-correlation", "linear-cvae-beta", "linear-mhvae-beta2",
               "cnn-mhvae-grid", "verify-thm1", "verify-thm2", "verify-thm3", "verify-thm5"}


def test_registry_holds_every_result_of_the_paper():
    assert set(REGISTRY) == ISSUE_NAMES
    for e in REGISTRY.values():
        assert e.claim and e.title and set(e.minutes) == {"quick", "paper"}
        assert e.kind in ("curves", "linear_sweep", "grid", "verify")
    assert sum(e.minutes["quick"] for e in REGISTRY.values()) < 45


@pytest.mark.parametrize("name", sorted(ISSUE_NAMES))
@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_every_variant_is_a_valid_training_configuration(name, profile):
    runs = variants(REGISTRY[name], profile)
    assert runs and len({r[0] for r in runs}) == len(runs)
    for _, _, _, opts in runs[:3]:
        cfg = config_from_options(**opts)
        assert cfg.epochs >= 1


def test_nominal_beta_is_halved_for_nonlinear_experiments_only():
    e = REGISTRY["fig2b"]
    opts = variant_options(e, "quick", {"beta": 1.0, "eta_dec": 1.0})
    assert opts["beta"] == 0.5
    mh = variant_options(REGISTRY["fig2c"], "quick", {"beta1": 2.0, "beta2": 1.0})
    assert (mh["beta1"], mh["beta2"]) == (1.0, 0.5)
    lin = variant_options(REGISTRY["linear-cvae-beta"], "quick", {"beta": 2.0})
    assert lin["beta"] == 2.0
    assert variant_options(REGISTRY["fig3a"], "quick", {"digit": 7})["data"] == "mnist:digit=7,split=quarter"
    assert variant_options(REGISTRY["fig2c"], "quick", {"eta": 2.0})["eta_dec"] == 2.0
    root = variant_options(REGISTRY["fig2b"], "paper", {}, data_root="/d")
    assert root["data"] == "mnist:root=/d,split=quarter"


def test_series_quick_options_apply_to_the_quick_profile_only():
    runs = {p: {name: opts for name, _, _, opts in variants(REGISTRY["fig3a"], p)}
            for p in ("quick", "paper")}
    assert runs["quick"]["s0-digit=9"]["epochs"] == 300  # linear series: its own quick epochs
    assert runs["quick"]["s1-digit=9"]["epochs"] == REGISTRY["fig3a"].quick["epochs"]
    assert runs["paper"]["s0-digit=9"]["epochs"] == REGISTRY["fig3a"].paper["epochs"]


def test_monotone_and_claim_checks():
    assert _monotone([1, 2, 2, 5], 1) is True
    assert _monotone([3, 3, 3], 1) is None
    assert _monotone([1, 3, 2], 1) is False
    assert _monotone([5, 2, 0], -1) is True
    # a trend with one adjacent swap in four points still holds (Spearman ρ = 0.8) ...
    assert _monotone([0.41, 0.58, 0.51, 0.69], 1) is True
    # ... two swaps do not; values within the tolerance count as ties
    assert _monotone([0.58, 0.41, 0.69, 0.51], 1) is False
    assert _monotone([0.26, 0.18, 0.19], -1, tol=0.03) is True
    assert _monotone([0.26, 0.18, 0.19], -1, tol=0.0) is False
    assert _monotone([0.20, 0.21, 0.19], 1, tol=0.03) is None
    # monotone up to ties: tying 0.13, 0.12, 0.10 must not cost the trend (fig2c's β1 series)
    assert _monotone([0.28, 0.13, 0.12, 0.10], -1, tol=0.03) is True
    # small steps within the tolerance that add up against the direction are not a trend
    assert _monotone([0.10, 0.08, 0.06, 0.04], 1, tol=0.03) is False
    assert _monotone([0.10, 0.08, 0.06, 0.04], -1, tol=0.03) is True
    e = Experiment("x", "t", "claim", "curves", "increasing", {},
                   (Series("β", "beta", (1.0, 2.0, 4.0)), Series("β1", "beta1", (1.0, 2.0))),
                   extra={"directions": {"β1": -1}})
    def rec(series, n, curve):
        return {"series": series, "n_collapsed": n, "latent_dim": 8, "values": {},
                "collapsed_fraction": curve}

    recs = [rec("β", n, [0.0, f]) for n, f in ((1, 0.2), (3, 0.4), (6, 0.8))]
    recs += [rec("β1", n, [0.0, f]) for n, f in ((4, 0.6), (2, 0.2))]
    holds, evidence = _check(e, recs)
    assert holds is True and "1, 3, 6 of 8" in evidence and "0.10, 0.20, 0.40" in evidence
    recs[-1]["collapsed_fraction"] = [0.0, 0.9]  # β1 now increases collapse: the claim fails
    assert _check(e, recs)[0] is False


def test_first_more_is_judged_on_the_whole_curve():
    e = Experiment("x", "t", "learnable collapses more", "curves", "first_more", {},
                   (Series("encoder variance", "sigma", (None, 1.0)),))

    def rec(sigma, curve, n, modes=None):
        return {"values": {"sigma": sigma}, "collapsed_fraction": curve, "n_collapsed": n,
                "latent_dim": 4, "active_modes": modes}

    # equal at the chosen ε (0 vs 0) but more collapse along the rest of the curve: holds
    holds, evidence = _check(e, [rec(None, [0.0, 0.5, 1.0], 0, 1), rec(1.0, [0.0, 0.25, 0.75], 0, 3)])
    assert holds is True and "learnable Σ → 0.50" in evidence and "fixed σ = 1 → 0.33" in evidence
    assert "3 vs 1" in evidence  # modes collapsed: 4 − 1 vs 4 − 3
    assert _check(e, [rec(None, [0.0, 0.25, 0.75], 1), rec(1.0, [0.0, 0.5, 1.0], 0)])[0] is False
    assert _check(e, [rec(None, [0.0, 0.52, 1.0], 1), rec(1.0, [0.0, 0.5, 1.0], 0)])[0] is None


@pytest.mark.parametrize("width", [4.8, 6.0, 13.0])
def test_figure_titles_fit_the_figure(width):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, 3.9), constrained_layout=True)
    title = max((e.title for e in REGISTRY.values()), key=len)
    _suptitle(fig, f"{title} [paper] — β nominal (2× β-ELBO weight); δ = 0.05\nsecond line")
    fig.canvas.draw()
    box = fig._suptitle.get_window_extent()
    plt.close(fig)
    assert 0 <= box.x0 and box.x1 <= width * fig.dpi


def test_grid_trend_rule():
    # fig4 quick (rows β1 = 0.1, 1, 4; columns β2 = 0.1, 1, 4): collapse grows along β2, shrinks along β1
    assert _grid_trend(np.array([[0, 8, 16], [0, 0, 10], [0, 0, 3]])) is True
    assert _grid_trend(np.zeros((3, 3), dtype=int)) is None
    # the transpose has both directions reversed
    assert _grid_trend(np.array([[0, 8, 16], [0, 0, 10], [0, 0, 3]]).T) is False
    # collapse along β2 but also growing along β1 in most columns: β1 does not mitigate
    assert _grid_trend(np.array([[0, 1, 2], [1, 2, 3], [2, 3, 4]])) is False
    # one step against the trend of 6 is tolerated (75%), two of 6 are not
    assert _grid_trend(np.array([[0, 2, 1], [0, 1, 1], [0, 0, 1]])) is True
    assert _grid_trend(np.array([[0, 2, 1], [0, 3, 1], [0, 0, 1]])) is False


TINY = {"model": "vae", "backbone": "linear", "data": "mnist:n=300", "latent_dim": 4,
        "lr": 0.01, "schedule": "cosine", "batch_size": 100, "eta_enc": 0.5, "eta_dec": 3.5,
        "beta": 1.0}
TINY_QUICK = {"epochs": 3, "eval_points": 300, "diagnostics_is_samples": 5}


@pytest.fixture
def tiny_registry(monkeypatch):
    """Small stand-ins for each kind of experiment (same code paths, seconds to run)."""
    tiny = {
        "tiny-curves": Experiment(
            "tiny-curves", "tiny curves", "learnable Σ collapses more", "curves", "first_more",
            TINY, (Series("encoder variance", "sigma", (None, 1.0)),), quick=TINY_QUICK,
            minutes={"quick": 0.1, "paper": 1}),
        "tiny-sweep": Experiment(
            "tiny-sweep", "tiny linear sweep", "tracks the closed form", "linear_sweep", "tracks",
            {**TINY, "eta_enc": 1.0, "eta_dec": 1.0},
            (Series("β", "beta", (0.5, 8.0, 60.0)),), quick={**TINY_QUICK, "epochs": 30},
            minutes={"quick": 0.1, "paper": 1}),
        "tiny-grid": Experiment(
            "tiny-grid", "tiny grid", "β2 collapses z2", "grid", "grid",
            {"model": "mhvae", "backbone": "mlp", "hidden": "8", "latent_dim": 3,
             "data": "mnist:n=200", "sigma1": 0.5, "eta_enc": 0.5, "eta_dec": 0.5},
            quick={**TINY_QUICK, "epochs": 1, "grid": (1.0, 8.0)}, minutes={"quick": 0.1, "paper": 1},
            nominal_beta=True),
        "tiny-verify": Experiment(
            "tiny-verify", "tiny verify", "agrees", "verify", "verify",
            {**TINY, "sigma": 0.5, "eta_enc": 1.0, "eta_dec": 3.2},
            quick={**TINY_QUICK, "instances": 4}, minutes={"quick": 0.1, "paper": 1}),
    }
    monkeypatch.setattr("vaecollapse.experiments.runner.REGISTRY", {**REGISTRY, **tiny})
    return tiny


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.srcs.append(dict(attrs).get("src", ""))


def test_pipeline_writes_figures_numbers_claims_and_report(tiny_registry, tmp_path):
    for name in tiny_registry:
        claims = run_experiment(name, "quick", tmp_path, jobs=2)
        d = tmp_path / name
        assert json.loads((d / "claims.json").read_text()) == claims
        assert [set(c) for c in claims] == [{"experiment", "claim", "holds", "evidence"}]
        assert claims[0]["holds"] in (True, False, None)
        meta = json.loads((d / "meta.json").read_text())
        assert meta["profile"] == "quick" and meta["figures"] and meta["seconds"] > 0
        for fig in meta["figures"]:
            with Image.open(d / fig) as im:
                im.verify()
        assert (d / "results.csv").read_text().startswith("run,series,values")
    # the linear sweep spans collapse: β = 60 collapses every mode (θ of MNIST < √60)
    sweep_claim = json.loads((tmp_path / "tiny-sweep" / "claims.json").read_text())[0]
    assert "vs closed form" in sweep_claim["evidence"]
    assert sweep_claim["holds"] is True, sweep_claim["evidence"]
    verify = json.loads((tmp_path / "tiny-verify" / "claims.json").read_text())[0]
    assert "max relative error" in verify["evidence"] and verify["holds"] is not False
    # rerun skips a finished experiment; --force redoes it
    stamp = (tmp_path / "tiny-curves" / "claims.json").stat().st_mtime_ns
    run_experiment("tiny-curves", "quick", tmp_path, jobs=2)
    assert (tmp_path / "tiny-curves" / "claims.json").stat().st_mtime_ns == stamp
    md, html = write_report(tmp_path, order=list(tiny_registry))
    parser = _Images()
    parser.feed(html.read_text())
    assert len(parser.srcs) == sum(len(json.loads((tmp_path / n / "meta.json").read_text())["figures"])
                                   for n in tiny_registry)
    assert all(s.startswith("data:image/png;base64,") for s in parser.srcs)
    text = md.read_text()
    assert all(c in text for c in ("learnable Σ collapses more", "tracks the closed form"))


def test_reproduce_cli_list_and_errors(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["reproduce", "--list"])
    assert res.exit_code == 0 and "verify-thm5" in res.output and "quick" in res.output
    for args, needle in ((["nope"], "unknown experiment"), (["fig2a", "--profile", "slow"], "profile"),
                         ([], "name the experiments")):
        res = runner.invoke(app, ["reproduce", *args, "--out", str(tmp_path)])
        assert res.exit_code == 2 and needle in res.output


def test_theory_prediction_in_records_matches_predict(tiny_registry, tmp_path):
    from vaecollapse.data import load
    from vaecollapse.theory import predict

    run_experiment("tiny-curves", "quick", tmp_path, jobs=1)
    rows = (tmp_path / "tiny-curves" / "results.csv").read_text().splitlines()[1:]
    predicted = [int(r.split(",")[6]) if r.split(",")[6] else None for r in
                 [r.replace('"{""sigma"": null}"', "x").replace('"{""sigma"": 1.0}"', "x") for r in rows]]
    x = load("mnist:n=300").x
    expect = [predict(x, model="vae", latent_dim=4, beta=1.0, eta_enc=0.5, eta_dec=3.5, sigma=s).n_collapsed
              for s in (None, 1.0)]
    assert predicted == expect
    assert np.isfinite(expect).all()


def test_registry_entries_are_frozen_dataclasses():
    e = REGISTRY["fig2a"]
    assert replace(e, name="copy").name == "copy" and e.name == "fig2a"
