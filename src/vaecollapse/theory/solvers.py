"""Closed-form global optima of the linear VAE, CVAE and MHVAE: the per-mode table (λ, ω, σ, KL,
collapse, critical values), the full optimal weights and the exact optimal loss.

- VAE, learnable Σ (theory §2a, Lucas et al. 2019): mode i collapses iff θ_i < √β η_dec.
- VAE, fixed Σ (Theorem 1): λ_i = 0 iff θ_i < √β (η_dec/η_enc) σ_i, with small σ paired to large θ.
- CVAE (Theorem 2): a VAE on the residual y − Kx, K = CᵀA⁺, so θ_vae = √θ_cvae.
- MHVAE, Σ1 fixed (Theorem 3: Σ2 learnable; Theorem 5: Σ2 fixed).

The per-mode formulas are in :mod:`vaecollapse.theory.closed_form`; the losses at the optimum in
:mod:`vaecollapse.theory.mode_loss`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vaecollapse.errors import HyperparameterError
from vaecollapse.family import Family
from vaecollapse.theory import closed_form as cf
from vaecollapse.theory.mode_loss import mhvae_mode_loss, vae_mode_loss
from vaecollapse.theory.prediction import Prediction
from vaecollapse.theory.stats import Statistics
from vaecollapse.theory.validation import check_latent_dim, check_positive, check_sigma


def _top(values: np.ndarray, d: int) -> np.ndarray:
    """First d entries, zero-padded when d exceeds the data dimension."""
    out = np.zeros(d)
    k = min(d, values.shape[0])
    out[:k] = values[:k]
    return out


def _top_columns(basis: np.ndarray, d: int) -> np.ndarray:
    out = np.zeros((basis.shape[0], d))
    k = min(d, basis.shape[1])
    out[:, :k] = basis[:, :k]
    return out


def _present(basis: np.ndarray) -> np.ndarray:
    """‖column‖² of a ``_top_columns`` basis: 1 for an eigenvector, 0 for zero padding."""
    return np.square(basis).sum(0)


def _kl_gauss(mean_sq, var, prior_var) -> np.ndarray:
    """E KL(N(m, s²) ‖ N(0, v)) = ½[(E m² + s²)/v − 1 − log(s²/v)], per dimension."""
    return 0.5 * ((mean_sq + var) / prior_var - 1.0 - np.log(var / prior_var))


def _check_vae_hp(latent_dim, beta, eta_enc, eta_dec, sigma):
    """Validated (d, β, η_enc, η_dec, σ vector or None) of the VAE and CVAE."""
    d = check_latent_dim(latent_dim)
    beta, eta_enc, eta_dec = (check_positive(n, v) for n, v in
                              (("beta", beta), ("eta_enc", eta_enc), ("eta_dec", eta_dec)))
    return d, beta, eta_enc, eta_dec, None if sigma is None else check_sigma("sigma", sigma, d)


def _vae_hp_record(d, beta, eta_enc, eta_dec, sig) -> dict[str, Any]:
    return {"latent_dim": d, "beta": beta, "eta_enc": eta_enc, "eta_dec": eta_dec,
            "sigma": None if sig is None else sig.tolist()}


def _to_latent_order(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Per-mode values placed at the latent coordinates that carry the modes."""
    out = np.empty_like(values)
    out[order] = values
    return out


def _vae_modes(theta_v: np.ndarray, beta: float, eta_enc: float, eta_dec: float,
               sigma: np.ndarray | None):
    """Per-mode VAE table on std-scale θ, shared by the VAE and the CVAE (a VAE on y − Kx).
    Returns (modes, latent order, theorem-independent threshold on θ_v)."""
    d = theta_v.shape[0]
    if sigma is None:
        modes = cf.vae_learnable(theta_v, beta, eta_enc, eta_dec)
        order = np.arange(d)
        collapse_possible = np.ones(d, dtype=bool)
        threshold = np.full(d, np.sqrt(beta) * eta_dec)
    else:
        order = cf.pair_fixed_sigma(sigma)
        s = sigma[order]
        modes = cf.vae_fixed(theta_v, s, beta, eta_enc, eta_dec)
        collapse_possible = np.isclose(s, eta_enc, rtol=1e-12, atol=0.0)
        threshold = np.sqrt(beta) * (eta_dec / eta_enc) * s
    modes["collapsed"] = (modes["lambda"] == 0) & (
        np.isclose(modes["sigma"], eta_enc, rtol=1e-12, atol=0.0))
    modes["kl"] = _kl_gauss(modes["lambda"] ** 2, modes["sigma"] ** 2, eta_enc**2)
    # Collapse iff θ_v ≤ √β η_dec (learnable, or fixed σ = η_enc); never otherwise.
    modes["critical_beta"] = np.where(collapse_possible, theta_v**2 / eta_dec**2, np.nan)
    modes["critical_eta_dec"] = np.where(collapse_possible, theta_v / np.sqrt(beta), np.nan)
    return modes, order, threshold


def solve_vae(stats: Statistics, latent_dim: int, *, beta: float = 1.0, eta_enc: float = 1.0,
              eta_dec: float = 1.0, sigma=None) -> Prediction:
    """Linear VAE: learnable Σ (theory §2a) or fixed Σ (Theorem 1)."""
    d, beta, eta_enc, eta_dec, sig = _check_vae_hp(latent_dim, beta, eta_enc, eta_dec, sigma)
    theta = _top(stats.theta, d)
    modes, order, threshold = _vae_modes(theta, beta, eta_enc, eta_dec, sig)
    P = _top_columns(stats.basis, d)
    W = np.zeros((d, P.shape[0]))
    U = np.zeros((P.shape[0], d))
    safe = np.where(theta > 0, theta, 1.0)
    W[order] = (modes["lambda"] / safe)[:, None] * P.T
    U[:, order] = P * modes["omega"]
    sigma_latent = _to_latent_order(modes["sigma"], order)
    loss = vae_mode_loss(np.trace(stats.moments.A), theta, modes["lambda"], modes["omega"],
                         modes["sigma"], _present(P), beta, eta_enc, eta_dec)
    modes["latent_index"] = order
    hp = _vae_hp_record(d, beta, eta_enc, eta_dec, sig)
    theorem = ("linear VAE, learnable encoder variance (theory §2a)" if sig is None
               else "linear VAE, fixed encoder variance (Theorem 1)")
    label = "√β·η_dec" if sig is None else "√β·c·σ_i (λ_i = 0 below)"
    return Prediction(Family.VAE, theorem, hp, theta, modes, {"W": W, "U": U, "sigma": sigma_latent},
                      loss, stats.rank, threshold, label)


def solve_cvae(stats: Statistics, latent_dim: int, *, beta: float = 1.0, eta_enc: float = 1.0,
               eta_dec: float = 1.0, sigma=None) -> Prediction:
    """Linear CVAE (Theorem 2, corrected σ switch θ ≥ βη_dec²): a linear VAE on the residual
    y − Kx with K = CᵀA⁺, so θ_vae = √θ_cvae; U2 = K, W1 = −W2 K. A fixed ``sigma`` applies
    Theorem 1 to that residual VAE."""
    d, beta, eta_enc, eta_dec, sig = _check_vae_hp(latent_dim, beta, eta_enc, eta_dec, sigma)
    theta = _top(stats.theta, d)
    theta_v = np.sqrt(theta)
    modes, order, threshold = _vae_modes(theta_v, beta, eta_enc, eta_dec, sig)
    Q = _top_columns(stats.basis, d)
    K = stats.K
    W2 = np.zeros((d, Q.shape[0]))
    U1 = np.zeros((Q.shape[0], d))
    safe = np.where(theta_v > 0, theta_v, 1.0)
    W2[order] = (modes["lambda"] / safe)[:, None] * Q.T
    U1[:, order] = Q * modes["omega"]
    W1 = -W2 @ K
    sigma_latent = _to_latent_order(modes["sigma"], order)
    m = stats.moments
    trace_e = np.trace(m.B) - np.sum(K * m.C.T)  # tr E = tr(B − K C)
    loss = vae_mode_loss(trace_e, theta_v, modes["lambda"], modes["omega"], modes["sigma"],
                         _present(Q), beta, eta_enc, eta_dec)
    modes["latent_index"] = order
    hp = _vae_hp_record(d, beta, eta_enc, eta_dec, sig)
    theorem = ("linear CVAE, learnable encoder variance (Theorem 2)" if sig is None
               else "linear CVAE, fixed encoder variance (Theorem 1 on the residual y − Kx)")
    label = "β·η_dec²" if sig is None else "β·c²·σ_i² (λ_i = 0 below)"
    return Prediction(Family.CVAE, theorem, hp, theta, modes,
                      {"W1": W1, "W2": W2, "U1": U1, "U2": K.copy(), "sigma": sigma_latent},
                      loss, stats.rank, threshold**2, label)


def solve_mhvae(stats: Statistics, latent_dim: int, *, beta1: float = 1.0, beta2: float = 1.0,
                eta_enc: float = 1.0, eta_dec: float = 1.0, sigma1=None,
                sigma2=None) -> Prediction:
    """Two-latent MHVAE, d1 = d2: Σ1 = σ1²I fixed with Σ2 learnable (Theorem 3) or both fixed
    (Theorem 5, corrected). U1 and W2 are the conditional optima given the other blocks:
    U1 = A W1ᵀ (W1AW1ᵀ + Σ1)⁻¹ and W2 = β1 (β1 U2ᵀU2 + β2c² I)⁻¹ U2ᵀ."""
    d = check_latent_dim(latent_dim)
    beta1, beta2, eta_enc, eta_dec = (
        check_positive(n, v) for n, v in (("beta1", beta1), ("beta2", beta2), ("eta_enc", eta_enc),
                                     ("eta_dec", eta_dec)))
    if sigma1 is None:
        raise HyperparameterError(
            "the MHVAE closed forms need a fixed z1 encoder std: pass sigma1 (e.g. 0.5); a "
            "learnable Σ1 has no closed form (see docs/theory.md §5)")
    s1 = check_sigma("sigma1", sigma1, d)
    if not np.allclose(s1, s1[0], rtol=1e-12, atol=0):
        raise HyperparameterError("the MHVAE closed forms take one sigma1 for all dimensions")
    s1 = float(s1[0])
    s2 = None
    if sigma2 is not None:
        s2v = check_sigma("sigma2", sigma2, d)
        if not np.allclose(s2v, s2v[0], rtol=1e-12, atol=0):
            raise HyperparameterError("the MHVAE closed forms take one sigma2 for all dimensions")
        s2 = float(s2v[0])
    theta = _top(stats.theta, d)
    c2 = (eta_dec / eta_enc) ** 2

    def modes_at(b2, ed):
        if s2 is None:
            return cf.mhvae_sigma1_fixed(theta, beta1, b2, eta_enc, ed, s1)
        return cf.mhvae_both_fixed(theta, beta1, b2, eta_enc, ed, s1, s2)

    def collapsed_z2(m):
        return (m["omega"] == 0) & np.isclose(m["sigma2"], eta_enc, rtol=1e-12, atol=0.0)

    modes = modes_at(beta2, eta_dec)
    modes["sigma"] = np.full(d, s1)
    modes["collapsed_z2"] = collapsed_z2(modes)
    modes["collapsed_z1"] = ((modes["lambda"] == 0) & (modes["omega"] == 0)
                             & bool(np.isclose(s1, eta_dec, rtol=1e-12, atol=0.0)))
    modes["collapsed"] = modes["collapsed_z2"]
    if s2 is None:
        # Theorem 3: z2 collapses iff σ1² < (β2/β1)η_dec² and θ < β2η_dec²/(√β1 σ1).
        modes["critical_beta2"] = np.maximum(beta1 * s1**2, theta * np.sqrt(beta1) * s1) / eta_dec**2
        modes["critical_eta_dec"] = np.sqrt(
            np.maximum(beta1 * s1**2, theta * np.sqrt(beta1) * s1) / beta2)
        case_b = s1**2 < (beta2 / beta1) * eta_dec**2
        threshold = np.full(d, beta2 * eta_dec**2 / (np.sqrt(beta1) * s1)) if case_b else None
        theorem = "linear MHVAE, Σ1 fixed, Σ2 learnable (Theorem 3)"
    else:
        modes["critical_beta2"] = cf.bisect_critical(
            lambda v: collapsed_z2(modes_at(v, eta_dec)), shape=(d,))
        modes["critical_eta_dec"] = cf.bisect_critical(
            lambda v: collapsed_z2(modes_at(beta2, v)), shape=(d,))
        threshold = None
        theorem = "linear MHVAE, Σ1 and Σ2 fixed (Theorem 5, corrected threshold)"
    modes["critical_beta"] = np.full(d, np.nan)

    P = _top_columns(stats.basis, d)
    A = stats.moments.A
    safe = np.where(theta > 0, theta, 1.0)
    W1 = (modes["lambda"] / safe)[:, None] * P.T
    U2 = np.diag(modes["omega"])
    Sigma1 = np.full(d, s1)
    Sigma2 = modes["sigma2"]
    M = W1 @ A @ W1.T + np.diag(Sigma1**2)  # E[z1 z1ᵀ]
    U1 = np.linalg.solve(M, W1 @ A).T  # A W1ᵀ M⁻¹ (M symmetric)
    W2 = beta1 * np.linalg.solve(beta1 * U2.T @ U2 + beta2 * c2 * np.eye(d), U2.T)
    R = np.eye(d) - U2 @ W2
    mean_sq_z2 = np.diag(W2 @ M @ W2.T)
    modes["kl"] = _kl_gauss(mean_sq_z2, Sigma2**2, eta_enc**2)
    # β1 term per mode: E[log q(z1|x) − log p(z1|z2)] = ½[E(z1 − U2 z2)²/η_dec² − 1 − log(σ1²/η_dec²)]
    resid = np.diag(R @ M @ R.T) + np.diag(U2 @ np.diag(Sigma2**2) @ U2.T)
    modes["kl_z1"] = _kl_gauss(resid - Sigma1**2, Sigma1**2, eta_dec**2)
    loss = mhvae_mode_loss(np.trace(A), theta, modes["lambda"], modes["omega"], s1, Sigma2,
                           _present(P), beta1, beta2, eta_enc, eta_dec)
    modes["latent_index"] = np.arange(d)
    hp = {"latent_dim": d, "beta1": beta1, "beta2": beta2, "eta_enc": eta_enc,
          "eta_dec": eta_dec, "sigma1": s1, "sigma2": s2}
    weights = {"W1": W1, "W2": W2, "U1": U1, "U2": U2, "sigma1": Sigma1, "sigma2": Sigma2}
    return Prediction(Family.MHVAE, theorem, hp, theta, modes, weights, loss, stats.rank, threshold,
                      "β2·η_dec²/(√β1·σ1)" if threshold is not None else "")
