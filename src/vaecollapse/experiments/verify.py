"""Theorem verification on random instances: the closed form against the numerical minimiser of
the exact population loss (both from vaecollapse.theory), in mixed regimes."""

from __future__ import annotations

from typing import Any

import numpy as np

from vaecollapse.config import HYPERPARAMETER_NAMES
from vaecollapse.family import Family
from vaecollapse.theory import numerical_cvae, numerical_mhvae, numerical_vae, solve
from vaecollapse.theory.stats import Moments, Statistics, cvae_statistics, vae_statistics


def _basis(rng, d):
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def numerical_agreement(options: dict[str, Any], instances: int, seed: int = 0) -> dict[str, Any]:
    """Random second moments (d0 = 5, latent 3) with the run's model and hyperparameters; θ are
    scaled so that the collapse thresholds fall among them. Returns the largest relative error of
    the optimal loss and of the sorted singular values λ, ω, and the paired values for a plot."""
    rng = np.random.default_rng(seed)
    model, d0, d = Family.parse(options["model"]), 5, 3
    hp = {k: options[k] for k in HYPERPARAMETER_NAMES if options.get(k) is not None}
    preds, mats = [], []
    for _ in range(instances):
        theta = np.cumprod(rng.uniform(1.3, 2.2, d0))[::-1] * rng.uniform(0.05, 0.4)
        if model.conditional:
            G = rng.normal(size=(2 * d0, 2 * d0)) * rng.uniform(0.2, 1.0, 2 * d0)
            S = G @ G.T / d0
            A, C, B = S[:d0, :d0], S[:d0, d0:], S[d0:, d0:]
            st = cvae_statistics(A, B, C)
            stats = Statistics(Family.CVAE, Moments(A, B, C, 1, False), st.theta, st.Q, st.rank,
                               K=st.K, rank_x=st.rank_x)
            mats.append((A, B, C))
        else:
            P = _basis(rng, d0)
            A = (P * theta**2) @ P.T
            v = vae_statistics(A)
            stats = Statistics(model, Moments(A, None, None, 1, False), v.theta, v.P, v.rank)
            mats.append((A,))
        preds.append(solve(stats, d, **hp))
    stacked = [np.stack(m) for m in zip(*mats, strict=True)]
    if model is Family.VAE:
        num = numerical_vae(stacked[0], d, hp["beta"], hp["eta_enc"], hp["eta_dec"],
                            sigma=hp.get("sigma"), starts=4)
        W, U, S = num.weights["W"], num.weights["U"], stacked[0]
    elif model is Family.CVAE:
        num = numerical_cvae(*stacked, d, hp["beta"], hp["eta_enc"], hp["eta_dec"],
                             sigma=hp.get("sigma"), starts=4)
        A, B, C = stacked
        S = np.concatenate([np.concatenate([A, C], -1),
                            np.concatenate([np.swapaxes(C, -1, -2), B], -1)], -2)
        W = np.concatenate([num.weights["W1"], num.weights["W2"]], -1)
        U = num.weights["U1"]
    else:
        num = numerical_mhvae(stacked[0], d, hp["beta1"], hp["beta2"], hp["eta_enc"],
                              hp["eta_dec"], sigma1=hp["sigma1"], sigma2=hp.get("sigma2"), starts=4)
        W, U, S = num.weights["W1"], num.weights["U2"], stacked[0]
    lam = np.sqrt(np.clip(np.linalg.eigvalsh(W @ S @ np.swapaxes(W, -1, -2)), 0, None))[:, ::-1]
    om = np.linalg.svd(U, compute_uv=False)
    om = np.concatenate([om, np.zeros((om.shape[0], d - om.shape[1]))], 1)[:, :d]
    cf_lam = -np.sort(-np.array([p.modes["lambda"] for p in preds]), 1)
    cf_om = -np.sort(-np.array([p.modes["omega"] for p in preds]), 1)
    loss_cf = np.array([p.optimal_loss for p in preds])
    scale = np.maximum(np.maximum(cf_lam.max(1), cf_om.max(1)), 1.0)[:, None]
    errors = [np.abs(num.loss - loss_cf) / np.maximum(np.abs(loss_cf), 1.0),
              (np.abs(lam - cf_lam) / scale).max(1), (np.abs(om - cf_om) / scale).max(1)]
    return {"instances": instances, "max_rel_error": float(max(e.max() for e in errors)),
            "closed_form": np.concatenate([cf_lam.ravel(), cf_om.ravel()]).tolist(),
            "numerical": np.concatenate([lam.ravel(), om.ravel()]).tolist(),
            "collapsed_counts": [p.n_collapsed for p in preds]}
