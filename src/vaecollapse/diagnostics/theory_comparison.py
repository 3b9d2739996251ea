"""A trained linear model against the closed-form optimum for its data and hyperparameters.

Empirical singular values, with A = E[xxᵀ] and S the joint second moment of [x, y]: the encoder's
λ = √eig(W S Wᵀ), the decoder's ω = svd(U) and the encoder std σ; compared, sorted descending,
with the modes of :func:`vaecollapse.theory.solve` on the same (float64, uncentred) data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import Tensor


def _np64(t) -> np.ndarray:
    if isinstance(t, Tensor):
        t = t.detach().cpu().numpy()
    return np.asarray(t, dtype=np.float64)


def _desc(values, length: int) -> np.ndarray:
    """Sorted descending, zero-padded (or cut) to ``length``."""
    v = np.sort(np.asarray(values, dtype=np.float64).ravel())[::-1]
    out = np.zeros(length)
    out[:min(length, v.size)] = v[:length]
    return out


def _encoder_singular_values(W: np.ndarray, S: np.ndarray) -> np.ndarray:
    """λ_i = √eig(W S Wᵀ) (= singular values of W P Φ^{1/2} for S = P Φ Pᵀ)."""
    M = W @ S @ W.T
    return np.sqrt(np.clip(np.linalg.eigvalsh(0.5 * (M + M.T)), 0.0, None))


def theory_comparison(model, x, y=None) -> dict[str, Any] | None:
    """Trained linear model vs the closed-form optimum for its data and hyperparameters.

    Prediction: ``vaecollapse.theory`` on float64, uncentred copies of the data (the linear
    models have no bias). Empirical, with A = XᵀX/n and S the joint second moment of [x, y]:

    - VAE:   λ = √eig(W A Wᵀ), ω = svd(U), σ = encoder std;
    - CVAE:  λ = √eig(W_j S W_jᵀ) with W_j = [W1, W2], ω = svd(U1), σ = encoder std;
    - MHVAE: λ = √eig(W1 A W1ᵀ), ω = svd(U2), σ = σ2 (the z2 encoder std).

    All sorted descending (zero-padded to latent_dim) and compared with the prediction's modes
    by mean absolute difference. None for a non-linear backbone, or for an MHVAE whose loss is
    unbounded below (learnable σ1 and σ2 with β1 > β2: docs/numerical-theory.md §2); a learnable
    σ1 otherwise uses the numerical theory.
    """
    from vaecollapse.errors import UserError
    from vaecollapse.theory import solve, statistics

    cfg = getattr(model, "cfg", None)
    if cfg is None or cfg.backbone != "linear":
        return None
    family = cfg.family
    xn = _np64(x)
    yn = None if y is None else _np64(y)
    d = cfg.latent_dim
    stats = statistics(xn, yn if family == "cvae" else None, model=family)
    hp = cfg.hyperparameters.to_dict()
    try:  # a learnable σ1 is answered by the numerical theory (docs/numerical-theory.md) …
        pred = solve(stats, d, **hp)
    except UserError:  # … unless the loss is unbounded below there: no optimum to compare
        return None
    w = {k: _np64(v) for k, v in model.linear_weights().items()}
    m = stats.moments
    if family == "vae":
        lam = _encoder_singular_values(w["W"], m.A)
        omega = np.linalg.svd(w["U"], compute_uv=False)
        sigma = w["sigma"]
        sigma_th = pred.modes["sigma"]
    elif family == "cvae":
        S = np.block([[m.A, m.C], [m.C.T, m.B]])
        lam = _encoder_singular_values(np.hstack([w["W1"], w["W2"]]), S)
        omega = np.linalg.svd(w["U1"], compute_uv=False)
        sigma = w["sigma"]
        sigma_th = pred.modes["sigma"]
    else:
        lam = _encoder_singular_values(w["W1"], m.A)
        omega = np.linalg.svd(w["U2"], compute_uv=False)
        sigma = w["sigma2"]
        sigma_th = pred.modes["sigma2"]
    emp = {"lambda": _desc(lam, d), "omega": _desc(omega, d), "sigma": _desc(sigma, d)}
    th = {"lambda": _desc(pred.modes["lambda"], d), "omega": _desc(pred.modes["omega"], d),
          "sigma": _desc(sigma_th, d)}
    out: dict[str, Any] = {f"{k}_mae": float(np.mean(np.abs(emp[k] - th[k]))) for k in emp}
    out["n_collapsed_predicted"] = int(pred.n_collapsed)
    out.update({k: emp[k].tolist() for k in emp})
    out.update({f"{k}_theory": th[k].tolist() for k in th})
    return out
