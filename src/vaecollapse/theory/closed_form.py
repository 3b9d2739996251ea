"""Closed-form global optima of the linear models, per latent mode (docs/theory.md §2–§4).

Pure, vectorised numpy functions of the mode statistics θ and the hyperparameters. Every argument
broadcasts, so a hyperparameter may be an array (one value per mode, or a grid) — that is how
critical values are bisected and phase diagrams are swept without loops over modes.

Symbols: θ (VAE/MHVAE: std scale; the CVAE reuses the VAE forms with θ_vae = √θ_cvae),
λ (encoder singular values), ω (decoder singular values), σ (encoder std), c = η_dec / η_enc.
"""

from __future__ import annotations

import numpy as np

Array = np.ndarray


def _sqrt_pos(v) -> Array:
    """√max(0, v), elementwise."""
    return np.sqrt(np.maximum(v, 0.0))


def vae_learnable(theta, beta, eta_enc, eta_dec) -> dict[str, Array]:
    """Linear VAE with learnable Σ (docs/theory.md §2a; Lucas et al. 2019).

    ω_i = √max(0, θ_i² − βη_dec²)/η_enc,  λ_i = η_enc √max(0, θ_i² − βη_dec²)/θ_i,
    σ_i = √β η_enc η_dec / θ_i if θ_i ≥ √β η_dec else η_enc. Mode i collapses iff θ_i < √β η_dec.
    """
    theta, beta, eta_enc, eta_dec = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (theta, beta, eta_enc, eta_dec)))
    g = _sqrt_pos(theta**2 - beta * eta_dec**2)
    active = g > 0
    safe = np.where(active, theta, 1.0)
    return {
        "lambda": np.where(active, eta_enc * g / safe, 0.0),
        "omega": g / eta_enc,
        "sigma": np.where(active, np.sqrt(beta) * eta_enc * eta_dec / safe, eta_enc),
    }


def vae_fixed(theta, sigma, beta, eta_enc, eta_dec) -> dict[str, Array]:
    """Linear VAE with unlearnable Σ (Theorem 1), σ already paired with θ (smallest σ with the
    largest θ — see :func:`pair_fixed_sigma`).

    λ_i = √max(0, σ_i (θ_i − √β c σ_i) / (√β c)),  ω_i = √max(0, √β c (θ_i − √β c σ_i) / σ_i).
    """
    theta, sigma, beta, eta_enc, eta_dec = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (theta, sigma, beta, eta_enc, eta_dec)))
    k = np.sqrt(beta) * eta_dec / eta_enc  # √β c
    gap = theta - k * sigma
    return {
        "lambda": _sqrt_pos(sigma * gap / k),
        "omega": _sqrt_pos(k * gap / sigma),
        "sigma": sigma.copy(),
    }


def pair_fixed_sigma(sigma: Array) -> Array:
    """Latent indices ordered by ascending fixed σ: mode i (i-th largest θ) uses latent
    ``order[i]``, so the smallest σ pairs with the largest θ (Theorem 1)."""
    return np.argsort(np.asarray(sigma, dtype=np.float64), kind="stable")


def mhvae_sigma1_fixed(theta, beta1, beta2, eta_enc, eta_dec, sigma1) -> dict[str, Array]:
    """Two-latent MHVAE with Σ1 = σ1² I fixed and Σ2 learnable (Theorem 3).

    Case (a) σ1² ≥ (β2/β1)η_dec²:
        λ = σ1 √max(0, θ² − β2η_dec²) / (√β2 η_dec),
        ω = √max((σ1² − (β2/β1)η_dec²)/η_enc², σ1²θ²/(β2η_enc²η_dec²) − (β2/β1)c²).
    Case (b) σ1² < (β2/β1)η_dec²: if θ ≥ β2η_dec²/(√β1 σ1) the same λ, ω as (a)'s second branch,
        else λ = √max(0, (σ1/√β1)(θ − √β1 σ1)), ω = 0.
    Optimal Σ2: σ2² = β2η_dec² / (β1ω² + β2c²).
    """
    theta, beta1, beta2, eta_enc, eta_dec, sigma1 = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (theta, beta1, beta2, eta_enc, eta_dec, sigma1)))
    c2 = (eta_dec / eta_enc) ** 2
    lam_big = sigma1 * _sqrt_pos(theta**2 - beta2 * eta_dec**2) / (np.sqrt(beta2) * eta_dec)
    om_big2 = sigma1**2 * theta**2 / (beta2 * eta_enc**2 * eta_dec**2) - (beta2 / beta1) * c2
    case_a = sigma1**2 >= (beta2 / beta1) * eta_dec**2
    om_a = np.sqrt(np.maximum((sigma1**2 - (beta2 / beta1) * eta_dec**2) / eta_enc**2,
                              np.maximum(om_big2, 0.0)))
    big = theta >= beta2 * eta_dec**2 / (np.sqrt(beta1) * sigma1)
    lam_small = _sqrt_pos((sigma1 / np.sqrt(beta1)) * (theta - np.sqrt(beta1) * sigma1))
    lam = np.where(case_a | big, lam_big, lam_small)
    om = np.where(case_a, om_a, np.where(big, _sqrt_pos(om_big2), 0.0))
    sigma2 = np.sqrt(beta2 * eta_dec**2 / (beta1 * om**2 + beta2 * c2))
    return {"lambda": lam, "omega": om, "sigma2": sigma2}


def mhvae_both_fixed(theta, beta1, beta2, eta_enc, eta_dec, sigma1, sigma2) -> dict[str, Array]:
    """Two-latent MHVAE with Σ1 = σ1² I and Σ2 = σ2² I both fixed (Theorem 5, corrected).

    With a := √(β1β2) c σ1 σ2, in order:
    1. θ ≥ √a and θ ≥ β2c²σ2²/(√β1 σ1):
       λ = (σ1²/(√(β1β2) c σ2))^{1/3} √(θ^{4/3} − a^{2/3}),
       ω = (√β2 c σ1/(β1 σ2²))^{1/3} √(θ^{2/3} − (β2²c⁴σ2⁴/(β1σ1²))^{1/3});
    2. else if √β1 σ1 ≥ √β2 c σ2: λ = 0, ω = √(√β2 c σ1/(√β1 σ2) − (β2/β1)c²);
    3. else if θ < √β1 σ1: λ = ω = 0;
    4. else λ = √(σ1(θ/√β1 − σ1)), ω = 0.
    (The reference script's second threshold √β1 β2 c²σ2²/σ1 is wrong unless β1 = 1.)
    """
    theta, beta1, beta2, eta_enc, eta_dec, sigma1, sigma2 = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64)
          for v in (theta, beta1, beta2, eta_enc, eta_dec, sigma1, sigma2)))
    c = eta_dec / eta_enc
    a = np.sqrt(beta1 * beta2) * c * sigma1 * sigma2
    case1 = (theta >= np.sqrt(a)) & (theta >= beta2 * c**2 * sigma2**2 / (np.sqrt(beta1) * sigma1))
    lam1 = np.cbrt(sigma1**2 / (np.sqrt(beta1 * beta2) * c * sigma2)) * _sqrt_pos(
        theta ** (4 / 3) - np.cbrt(a**2))
    om1 = np.cbrt(np.sqrt(beta2) * c * sigma1 / (beta1 * sigma2**2)) * _sqrt_pos(
        theta ** (2 / 3) - np.cbrt(beta2**2 * c**4 * sigma2**4 / (beta1 * sigma1**2)))
    case2 = ~case1 & (np.sqrt(beta1) * sigma1 >= np.sqrt(beta2) * c * sigma2)
    om2 = _sqrt_pos(np.sqrt(beta2) * c * sigma1 / (np.sqrt(beta1) * sigma2) - (beta2 / beta1) * c**2)
    case3 = ~case1 & ~case2 & (theta < np.sqrt(beta1) * sigma1)
    lam4 = _sqrt_pos(sigma1 * (theta / np.sqrt(beta1) - sigma1))
    lam = np.where(case1, lam1, np.where(case2 | case3, 0.0, lam4))
    om = np.where(case1, om1, np.where(case2, om2, 0.0))
    return {"lambda": lam, "omega": om, "sigma2": sigma2.copy()}


def bisect_critical(collapsed_at, lo: float = 1e-8, hi: float = 1e8, shape=(),
                    iterations: int = 80) -> Array:
    """Smallest value v (log-scale bisection on [lo, hi]) at which ``collapsed_at(v)`` turns True,
    elementwise over ``shape``; NaN where it is not collapsed even at ``hi`` (no finite critical
    value) and ``lo`` where it is already collapsed there. Assumes collapse is monotone in v.
    ``collapsed_at`` takes an array of shape ``shape`` and returns a bool array of that shape."""
    lo_a = np.full(shape, lo)
    hi_a = np.full(shape, hi)
    at_hi = np.asarray(collapsed_at(hi_a), dtype=bool)
    at_lo = np.asarray(collapsed_at(lo_a), dtype=bool)
    for _ in range(iterations):
        mid = np.sqrt(lo_a * hi_a)
        c = np.asarray(collapsed_at(mid), dtype=bool)
        hi_a = np.where(c, mid, hi_a)
        lo_a = np.where(c, lo_a, mid)
    out = np.where(at_lo, lo, hi_a)
    return np.where(at_hi, out, np.nan)
