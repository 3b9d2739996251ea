"""The exact population losses of docs/theory.md at the closed-form optima, in the mode basis (numpy).

At the closed forms every weight matrix is diagonal in the data's eigenbasis (P of A for the
VAE / MHVAE, Q of E for the CVAE), so the losses of ``theory.losses`` reduce to sums over modes.
Per mode i: θ_i (std scale), encoder and decoder singular values λ_i, ω_i, encoder std σ_i, and
p_i = ‖P_i‖² ∈ {0, 1} (0 for the zero-padded columns when d exceeds the data dimension).
c² = (η_dec/η_enc)². These are the same numbers as ``theory.losses`` at the same weights
(tests: tests/test_mode_loss.py), without forming any D × D product and without torch.
"""

from __future__ import annotations

import numpy as np


def vae_mode_loss(trace: float, theta, lam, omega, sigma, present, beta: float, eta_enc: float,
                  eta_dec: float) -> float:
    """VAE at W = diag(λ/θ) Pᵀ, U = P diag(ω), Σ = diag σ² (docs/theory.md §2), trace = tr A:

        L = tr A + Σ_i [p_i ω_i²(λ_i² + σ_i²) − 2 λ_i θ_i ω_i + βc²(λ_i² + σ_i²) − βη_dec² log σ_i²].

    The CVAE's loss at its optimum (W1 = −W2 K, U2 = K) is this with tr E and θ = √eig E: the
    reconstruction error is that of the residual y − Kx, whose second moment is E."""
    c2 = (eta_dec / eta_enc) ** 2
    lam2, s2 = np.square(lam), np.square(sigma)
    per_mode = (present * np.square(omega) * (lam2 + s2) - 2 * lam * theta * omega
                + beta * c2 * (lam2 + s2) - beta * eta_dec**2 * np.log(s2))
    return float(trace + per_mode.sum())


def mhvae_mode_loss(trace: float, theta, lam, omega, sigma1: float, sigma2, present,
                    beta1: float, beta2: float, eta_enc: float, eta_dec: float) -> float:
    """MHVAE (docs/theory.md §4) at W1 = diag(λ/θ) Pᵀ, U2 = diag ω, Σ1 = σ1² I, Σ2 = diag σ2², with
    the conditional optima U1 = P diag(u), u = θλ/m, and W2 = diag(w), w = β1ω/(β1ω² + β2c²),
    where m = λ² + σ1² is E[z1 z1ᵀ] = diag m; trace = tr A:

        L = tr A + Σ_i [p_i u²(λ² + σ1²) − 2λθu + β1((1 − ωw)² m + ω²σ2²)
                        + β2c²(w² m + σ2²) − β1η_dec² log σ1² − β2η_dec² log σ2²]_i."""
    c2 = (eta_dec / eta_enc) ** 2
    s1, s2 = sigma1**2, np.square(sigma2)
    m = np.square(lam) + s1
    u = theta * lam / m
    w = beta1 * omega / (beta1 * np.square(omega) + beta2 * c2)
    per_mode = (present * np.square(u) * m - 2 * lam * theta * u
                + beta1 * (np.square(1 - omega * w) * m + np.square(omega) * s2)
                + beta2 * c2 * (np.square(w) * m + s2)
                - beta1 * eta_dec**2 * np.log(s1) - beta2 * eta_dec**2 * np.log(s2))
    return float(trace + per_mode.sum())
