"""The non-linear theory (docs/nonlinear-theory.md): exact on linear networks (the closed forms'
collapsed sets and critical values to 1e-6, on random instances and on MNIST), its pieces against
independent computations, the pilot equal to the run's own first epochs, and the commands."""

from __future__ import annotations

import json
import math

import jsonschema
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from vaecollapse.cli import app
from vaecollapse.config import config_from_options
from vaecollapse.data import load
from vaecollapse.output.documents import json_schema
from vaecollapse.runs import pilot as pilot_module
from vaecollapse.runs.pilot import pilot, pilot_epochs, predict_modules, predict_run
from vaecollapse.runs.rundir import load_model
from vaecollapse.runs.train import train
from vaecollapse.theory import nonlinear as nl
from vaecollapse.theory import solve, statistics

runner = CliRunner()


def _closed_form(spec: str, model: str, latent: int, hp: dict):
    ds = load(spec)
    return solve(statistics(ds.x, ds.y if model == "cvae" else None, model=model), latent, **hp)


def _agree(pred, closed, key):
    assert np.array_equal(pred.modes["collapsed"], closed.modes["collapsed"])
    a, b = pred.modes[key], closed.modes[key]
    finite = np.isfinite(b)
    assert np.array_equal(finite, np.isfinite(a))
    assert np.allclose(a[finite], b[finite], rtol=1e-6, atol=0)


def _npz(tmp_path, seed: int, cvae: bool) -> str:
    """A random instance: anisotropic Gaussian x (and a y partly predictable from it)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(600, 9)) * np.geomspace(3, 0.2, 9)
    data = {"x": x.astype(np.float32)}
    if cvae:
        y = x[:, :5] @ rng.normal(size=(5, 7)) * 0.3 + rng.normal(size=(600, 7)) * np.geomspace(2, 0.1, 7)
        data["y"] = y.astype(np.float32)
    path = tmp_path / f"inst{seed}.npz"
    np.savez(path, **data)
    return f"npz:{path}"


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("model, hp, key", [
    ("cvae", {"beta": 0.7, "eta_enc": 1.0, "eta_dec": 1.3}, "critical_beta"),
    ("vae", {"beta": 0.8, "eta_enc": 0.5, "eta_dec": 1.1}, "critical_beta"),
    ("mhvae", {"beta1": 1.0, "beta2": 1.5, "eta_enc": 0.5, "eta_dec": 0.5, "sigma1": 0.5},
     "critical_beta2"),
])
def test_linear_backbone_is_the_closed_form_on_random_instances(tmp_path, seed, model, hp, key):
    spec = _npz(tmp_path, seed, model == "cvae")
    cfg = config_from_options(model=model, backbone="linear", data=spec, latent_dim=5, epochs=1,
                              **hp)
    pred = predict_run(cfg)
    _agree(pred, _closed_form(spec, model, 5, hp), key)
    assert pred.solver == nl.SOLVER and pilot_epochs(cfg) == 0


@pytest.mark.parametrize("model, spec, hp, key", [
    ("cvae", "mnist:split=quarter", {"beta": 1.0, "eta_enc": 1.0, "eta_dec": 1.0}, "critical_beta"),
    ("vae", "mnist", {"beta": 1.0, "eta_enc": 1.0, "eta_dec": 2.0}, "critical_beta"),
    ("mhvae", "mnist", {"beta1": 1.0, "beta2": 2.0, "eta_enc": 0.5, "eta_dec": 0.5,
                        "sigma1": 0.5}, "critical_beta2"),
])
def test_linear_backbone_is_the_closed_form_on_mnist(model, spec, hp, key):
    cfg = config_from_options(model=model, backbone="linear", data=spec, latent_dim=16, epochs=1,
                              **hp)
    _agree(predict_run(cfg), _closed_form(spec, model, 16, hp), key)


def test_fixed_sigma_never_collapses_unless_it_is_the_prior_std(tmp_path):
    spec = _npz(tmp_path, 9, False)
    for sigma, eta_enc in ((0.3, 1.0), (1.0, 1.0)):
        hp = {"beta": 2.0, "eta_enc": eta_enc, "eta_dec": 1.5, "sigma": sigma}
        cfg = config_from_options(model="vae", backbone="linear", data=spec, latent_dim=5,
                                  epochs=1, **hp)
        pred = predict_run(cfg)
        closed = _closed_form(spec, "vae", 5, hp)
        assert np.array_equal(pred.modes["collapsed"], closed.modes["collapsed"])
        assert np.array_equal(pred.modes["inactive"], closed.modes["lambda"] == 0)


# ------------------------------------------------------------------------------ the pieces


def test_readability_of_a_relu_is_its_squared_correlation():
    """γ of ψ = ReLU(z), z ~ N(0, 1): corr(z, ReLU z)² = (1/2)² / (1/2 − 1/(2π)) ≈ 0.733;
    of a linear (or any invertible affine) map: 1."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200_000, 1))
    want = 0.25 / (0.5 - 1 / (2 * math.pi))
    assert nl.canonical_correlations(z, np.maximum(z, 0))[0] == pytest.approx(want, abs=3e-3)
    z3 = rng.normal(size=(5000, 3))
    assert np.allclose(nl.canonical_correlations(z3, z3 @ rng.normal(size=(3, 8)) + 2), 1.0)


def test_projected_spectrum_is_the_least_squares_projection():
    rng = np.random.default_rng(1)
    phi = rng.normal(size=(500, 6))
    r = phi[:, :2] @ rng.normal(size=(2, 4)) + 0.5 * rng.normal(size=(500, 4))
    coef, *_ = np.linalg.lstsq(phi, r, rcond=None)  # raw moments: no centring
    fit = phi @ coef
    want = np.sort(np.linalg.eigvalsh(fit.T @ fit / 500))[::-1]
    got = nl.projected_spectrum(r, phi, centre=False)
    assert np.allclose(got[:4], want, rtol=1e-9)


def test_only_beta_times_eta_dec_squared_enters_the_threshold():
    theta = np.array([2.0, 0.9, 0.3, 0.05])
    ones = np.ones(4)
    a = nl.prediction("cvae", theta, theta, ones, {"beta": 0.5, "eta_enc": 1, "eta_dec": 1.0},
                      rank=4)
    b = nl.prediction("cvae", theta, theta, ones, {"beta": 2.0, "eta_enc": 1, "eta_dec": 0.5},
                      rank=4)
    assert np.array_equal(a.modes["collapsed"], b.modes["collapsed"])
    assert a.modes["collapsed"].tolist() == [False, False, True, True]


# ------------------------------------------------------------------------------ the pilot


def test_the_pilot_is_the_runs_own_first_epochs(tmp_path):
    """The pilot's weights equal the full run's after p epochs, bit for bit (same seed, step,
    optimiser and schedule over the run's total)."""
    cfg = config_from_options(model="cvae", backbone="mlp", hidden="8", data="mnist:n=400,split=quarter",
                              latent_dim=4, epochs=25, clip=0.01, seed=3, device="cpu",
                              schedule="cosine", eval_points=50, diagnostics_is_samples=0)
    p = pilot_epochs(cfg)
    assert p == 2
    train(cfg, tmp_path / "run", progress=False, stop_after=p)
    _, trained, _ = load_model(tmp_path / "run")
    ds = load(cfg.data)
    piloted = pilot(cfg, torch.from_numpy(ds.x), torch.from_numpy(ds.y))
    for a, b in zip(trained.state_dict().values(), piloted.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_a_nonlinear_prediction_is_deterministic_and_cheap_in_epochs():
    cfg = config_from_options(model="vae", backbone="mlp", hidden="16", data="mnist:n=500",
                              latent_dim=6, epochs=12, device="cpu")
    a, b = predict_run(cfg), predict_run(cfg)
    assert np.array_equal(a.theta, b.theta) and pilot_epochs(cfg) == 1
    assert 0 <= nl.n_inactive(a) <= 6


def test_user_modules_with_identity_features_are_the_closed_form(tmp_path):
    """predict_modules on a user's networks: with identity features (a linear VAE's) the
    closed form, raw moments."""
    spec = _npz(tmp_path, 5, False)
    x = load(spec).x
    hp = {"beta": 0.8, "eta_enc": 1.0, "eta_dec": 1.1}
    pred = predict_modules(lambda u: u, lambda z: z, x, latent_dim=5, centre=False, **hp)
    assert np.array_equal(pred.modes["collapsed"], _closed_form(spec, "vae", 5, hp).modes["collapsed"])


def test_hierarchies_other_than_the_two_level_fixed_sigma1_are_refused():
    cfg = config_from_options(model="mhvae", backbone="mlp", hidden="8", data="mnist:n=300",
                              latent_dim=3, epochs=2)
    with pytest.raises(pilot_module.HyperparameterError, match="fixed σ1"):
        predict_run(cfg)


# ------------------------------------------------------------------------------ the commands


def test_predict_and_advise_with_a_nonlinear_backbone(tmp_path):
    res = runner.invoke(app, ["predict", "--model", "cvae", "--backbone", "mlp", "--hidden", "8",
                              "--data", "mnist:n=600,split=quarter", "--latent-dim", "6",
                              "--epochs", "12", "--beta", "0.3", "--json", str(tmp_path / "p.json")])
    assert res.exit_code == 0, res.output
    assert "predicted inactive" in res.output and "pilot: 1 of 12 epochs" in res.output
    doc = json.loads((tmp_path / "p.json").read_text())
    jsonschema.validate(doc, json_schema("predict"))
    assert doc["solver"] == "pilot-linearisation" and doc["theta_scale"] == "variance"
    res = runner.invoke(app, ["predict", "--backbone", "mlp", "--sweep", "beta=0.1,1"])
    assert res.exit_code == 2 and "one setting at a time" in res.output
    res = runner.invoke(app, ["advise", "--keep", "2", "--model", "cvae", "--backbone", "mlp",
                              "--hidden", "8", "--data", "mnist:n=600,split=quarter",
                              "--latent-dim", "6", "--epochs", "12", "--json",
                              str(tmp_path / "a.json")])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "a.json").read_text())
    jsonschema.validate(doc, json_schema("advise"))
    rec = doc["recommendation"]
    assert rec["active_modes"] >= 2 and "--backbone mlp" in rec["train"] and "--hidden 8" in rec["train"]
