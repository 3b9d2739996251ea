"""The optimal loss of the closed forms (mode basis, numpy) against the dense torch losses of
``theory.losses`` evaluated at the same closed-form weights (an independent formula: the
general E‖·‖² expressions from raw moments A, B, C)."""

from __future__ import annotations

import numpy as np
import pytest

from vaecollapse.theory import solve, statistics
from vaecollapse.theory.losses import cvae_loss, mhvae_loss, vae_loss


def _data(n, dx, dy, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dx)) @ rng.normal(size=(dx, dx)) * 0.5
    y = x[:, :dy] @ rng.normal(size=(dy, dy)) * 0.3 + rng.normal(size=(n, dy)) * rng.uniform(0.1, 2, dy)
    return x, y


CASES = [  # latent dims below and above the data dimension (zero-padded modes)
    {"latent_dim": 4, "beta": 1.0, "eta_enc": 1.0, "eta_dec": 0.5},
    {"latent_dim": 12, "beta": 0.3, "eta_enc": 0.7, "eta_dec": 1.3},
    {"latent_dim": 5, "beta": 2.0, "eta_enc": 1.0, "eta_dec": 0.8, "sigma": 0.6},
    {"latent_dim": 3, "beta": 0.5, "eta_enc": 0.9, "eta_dec": 0.4, "sigma": [0.2, 0.9, 1.5]},
]


@pytest.mark.parametrize("case", CASES)
def test_vae_mode_loss_equals_dense_loss(case):
    x, _ = _data(200, 8, 6, 1)
    p = solve(statistics(x, model="vae"), **case)
    w = p.weights
    dense = float(vae_loss(w["W"], w["U"], w["sigma"], statistics(x, model="vae").moments.A,
                           case["beta"], case["eta_enc"], case["eta_dec"]))
    assert p.optimal_loss == pytest.approx(dense, rel=1e-10, abs=1e-10)


@pytest.mark.parametrize("case", CASES)
def test_cvae_mode_loss_equals_dense_loss(case):
    x, y = _data(300, 7, 6, 2)
    stats = statistics(x, y, model="cvae")
    p = solve(stats, **case)
    w, m = p.weights, stats.moments
    dense = float(cvae_loss(w["W1"], w["W2"], w["U1"], w["U2"], w["sigma"], m.A, m.B, m.C,
                            case["beta"], case["eta_enc"], case["eta_dec"]))
    assert p.optimal_loss == pytest.approx(dense, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("hp", [
    {"latent_dim": 4, "beta1": 1.0, "beta2": 1.0, "eta_enc": 0.5, "eta_dec": 0.5, "sigma1": 0.5},
    {"latent_dim": 10, "beta1": 0.4, "beta2": 2.0, "eta_enc": 1.0, "eta_dec": 0.7, "sigma1": 0.3},
    {"latent_dim": 5, "beta1": 1.5, "beta2": 0.5, "eta_enc": 0.8, "eta_dec": 0.6, "sigma1": 0.4,
     "sigma2": 0.9},
])
def test_mhvae_mode_loss_equals_dense_loss(hp):
    x, _ = _data(200, 8, 6, 3)
    stats = statistics(x, model="mhvae")
    p = solve(stats, **hp)
    w = p.weights
    dense = float(mhvae_loss(w["W1"], w["W2"], w["U1"], w["U2"], w["sigma1"], w["sigma2"],
                             stats.moments.A, hp["beta1"], hp["beta2"], hp["eta_enc"],
                             hp["eta_dec"]))
    assert p.optimal_loss == pytest.approx(dense, rel=1e-10, abs=1e-10)
