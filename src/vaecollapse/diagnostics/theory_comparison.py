"""A trained linear model against the closed-form optimum for its data and hyperparameters.

Empirical singular values, with A = E[xxᵀ] and S the joint second moment of [x, y]: the encoder's
λ = √eig(W S Wᵀ), the decoder's ω = svd(U) and the encoder std σ; compared, sorted descending,
with the modes of :func:`vaecollapse.theory.solve` on the same (float64, uncentred) data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import Tensor

from vaecollapse.errors import UserError
from vaecollapse.family import Family
from vaecollapse.theory import solve, statistics
from vaecollapse.theory.from_config import theory_hyperparameters


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
    cfg = getattr(model, "cfg", None)
    if cfg is None or cfg.backbone != "linear":
        return None
    family = cfg.family
    xn = _np64(x)
    yn = None if y is None else _np64(y)
    d = cfg.latent_dim
    stats = statistics(xn, yn if family.conditional else None, model=family)
    hp = theory_hyperparameters(cfg)
    try:  # a learnable σ1 is answered by the numerical theory (docs/numerical-theory.md) …
        pred = solve(stats, d, **hp)
    except UserError:  # … unless the loss is unbounded below there: no optimum to compare
        return None
    w = {k: _np64(v) for k, v in model.linear_weights().items()}
    m = stats.moments
    if family is Family.VAE:
        lam = _encoder_singular_values(w["W"], m.A)
        omega = np.linalg.svd(w["U"], compute_uv=False)
        sigma = w["sigma"]
        sigma_th = pred.modes["sigma"]
    elif family is Family.CVAE:
        S = np.block([[m.A, m.C], [m.C.T, m.B]])
        lam = _encoder_singular_values(np.hstack([w["W1"], w["W2"]]), S)
        omega = np.linalg.svd(w["U1"], compute_uv=False)
        sigma = w["sigma"]
        sigma_th = pred.modes["sigma"]
    elif "lambda_z1" in pred.modes:  # the numerical theory: every level (any L, ladder)
        return _hierarchy_comparison(w, m.A, pred, cfg.level_dims)
    else:
        lam = _encoder_singular_values(w["W1"], m.A)
        omega = np.linalg.svd(w["U2"], compute_uv=False)
        sigma = w["sigma2"]
        sigma_th = pred.modes["sigma2"]
    return _compare(lam, omega, sigma, pred.modes["lambda"], pred.modes["omega"], sigma_th, d,
                    pred.n_collapsed)


def _compare(lam, omega, sigma, lam_th, omega_th, sigma_th, d: int, n_collapsed: int) -> dict:
    """MAEs and the sorted, padded values of (λ, ω, σ), trained against theory."""
    emp = {"lambda": _desc(lam, d), "omega": _desc(omega, d), "sigma": _desc(sigma, d)}
    th = {"lambda": _desc(lam_th, d), "omega": _desc(omega_th, d), "sigma": _desc(sigma_th, d)}
    out: dict[str, Any] = {f"{k}_mae": float(np.mean(np.abs(emp[k] - th[k]))) for k in emp}
    out["n_collapsed_predicted"] = int(n_collapsed)
    out.update({k: emp[k].tolist() for k in emp})
    out.update({f"{k}_theory": th[k].tolist() for k in th})
    return out


def _hierarchy_comparison(w: dict, A: np.ndarray, pred, dims: list[int]) -> dict[str, Any]:
    """An L-level linear hierarchy (Markov or ladder) against the numerical theory, per level:
    λ_l = √eig E[μ_l μ_lᵀ] with μ_l the level's encoder mean, from the exact second moments
    (X_1 = W_1 A, M_1 = W_1 A W_1ᵀ + Σ_1; X_l = W_l X_{l−1} + V_l A, M_l = W_l M_{l−1} W_lᵀ +
    W_l X_{l−1} V_lᵀ + V_l X_{l−1}ᵀ W_lᵀ + V_l A V_lᵀ + Σ_l, so E μ_l μ_lᵀ = M_l − Σ_l);
    ω_l = svd(U_l), the decoder from level l to the one below; σ_l. The top-level keys keep
    the two-level contract (λ of z1, ω of U2, σ of the top level; collapse of the top level),
    ``levels`` holds every level's values and MAEs and the predicted collapsed modes."""
    L = len(dims)
    X, M, levels = None, None, {}
    for k in range(1, L + 1):
        W, s2 = w[f"W{k}"], w[f"sigma{k}"] ** 2
        V = w.get(f"V{k}")
        if k == 1:
            X, M = W @ A, W @ A @ W.T
        else:
            Xn, Mn = W @ X, W @ M @ W.T
            if V is not None:
                cross = W @ X @ V.T
                Xn, Mn = Xn + V @ A, Mn + cross + cross.T + V @ A @ V.T
            X, M = Xn, Mn
        lam = np.sqrt(np.clip(np.linalg.eigvalsh(0.5 * (M + M.T)), 0.0, None))  # M − Σ here
        M = M + np.diag(s2)
        omega = np.linalg.svd(w[f"U{k}"], compute_uv=False)
        z = f"z{k}"
        levels[z] = _compare(lam, omega, w[f"sigma{k}"], pred.modes[f"lambda_{z}"],
                             pred.modes[f"omega_{z}"], pred.modes[f"sigma{k}"], dims[0],
                             int(np.sum(pred.modes[f"collapsed_{z}"])))
    top = f"z{L}"
    out = {k: levels[top][k] for k in ("sigma_mae", "sigma", "sigma_theory")}
    out.update({k: levels["z1"][k] for k in ("lambda_mae", "lambda", "lambda_theory")})
    second = levels["z2" if L > 1 else "z1"]
    out.update({k: second[k] for k in ("omega_mae", "omega", "omega_theory")})
    out["n_collapsed_predicted"] = int(pred.n_collapsed)
    out["levels"] = levels
    return out
