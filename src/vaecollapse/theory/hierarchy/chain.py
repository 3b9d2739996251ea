"""The reduced problem: one chain of levels per mode of A = E[xxᵀ].

At the optimum every map is diagonal in the eigenbasis of A (docs/numerical-theory.md §4), so
mode i (input std θ_i) is a one-dimensional k-level chain z_0 = x, z_1, …, z_k: encoder weights
w_l on the level below (ladder: also v_l on x), encoder stds σ_l, decoders profiled out as the
regressions of each level on the one above. Its loss, with m_l = E z_l² and c_l = E[z_l z_{l−1}],

    f = Σ_l β_{l−1} (m_{l−1} − c_l²/m_l) + β_k (η_dec/prior)² m_k − Σ_l β_l η_dec² log σ_l²

(β_0 := 1, the reconstruction term), is minimised for all modes at once by batched Newton from
structured ('collapsed from level j up') and seeded random starts. The per-mode table gives λ, ω,
σ, the KL-type term and collapse of every level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from vaecollapse.theory.hierarchy.newton import newton

COLLAPSE_TOL = 1e-5  # relative tolerance for "λ = 0", "ω = 0" and "σ = prior std"


@dataclass(frozen=True)
class ModeSolution:
    """Per-mode optimum of a chain of k levels: arrays of shape (B, k) — encoder weight on the
    level below (w; level 1: on x), ladder weight on x (v; 0 for Markov and level 1), encoder
    std σ — and the loss (B,) of each one-dimensional problem."""

    w: np.ndarray
    v: np.ndarray
    sigma: np.ndarray
    loss: np.ndarray


def layout(k: int, ladder: bool, learn: tuple[bool, ...]):
    """Column slices of the parameter vector of a k-level chain: w (k), v (k − 1), log σ."""
    nv = k - 1 if ladder else 0
    nl = sum(learn)
    return slice(0, k), slice(k, k + nv), slice(k + nv, k + nv + nl), k + nv + nl


def chain_loss(theta2: Tensor, betas: Tensor, fixed_s: Tensor, learn: tuple[bool, ...],
                ladder: bool, prior: Tensor, eta_dec: Tensor):
    """f(x, idx): the one-dimensional hierarchy loss of each problem (rows of x), decoders
    profiled out — :func:`hierarchy_loss` on 1×1 matrices, written with scalars (a few dozen
    elementwise ops, so Newton's p double-backward passes stay cheap):
    with m_l = E z_l², c_l = E[z_l z_{l−1}] (z_0 = x, E x² = θ²),
        f = Σ_l β_{l−1} (m_{l−1} − c_l²/m_l) + β_k (η_dec/prior)² m_k − Σ_l β_l η_dec² log σ_l²
    (β_0 := 1: the reconstruction term). The residual m_{l−1} − c_l²/m_l is evaluated without
    cancellation as (v_l² D_{l−1} + m_{l−1} σ_l²)/m_l, D_l := θ² m_l − E[z_l x]² =
    w_l² D_{l−1} + θ² σ_l² (D_0 = 0) — the difference form loses all digits when σ grows large,
    and Newton then "finds" a spurious descent to −∞."""
    k = len(learn)
    sw, sv, ss, _ = layout(k, ladder, learn)

    def f(x, idx=None):
        sel = (lambda t: t) if idx is None else (lambda t: t[idx])
        t2, b, sf, ed = sel(theta2), sel(betas), sel(fixed_s), sel(eta_dec)
        ed2 = ed**2
        m_prev, x_prev, D_prev = t2, t2, torch.zeros_like(t2)
        total = torch.zeros_like(t2)
        j = 0
        for lv in range(k):
            w = x[:, sw.start + lv]
            if learn[lv]:
                log_s = x[:, ss.start + j]
                j += 1
                s2 = torch.exp(2 * log_s)
            else:
                s2 = sf[:, lv] ** 2
                log_s = None
            if ladder and lv:
                vv = x[:, sv.start + lv - 1]
                xz = w * x_prev + vv * t2
                m = w**2 * m_prev + 2 * w * vv * x_prev + vv**2 * t2 + s2
                resid = (vv**2 * D_prev + m_prev * s2) / m
            else:
                xz, m = w * x_prev, w**2 * m_prev + s2
                resid = m_prev * s2 / m
            weight = 1.0 if lv == 0 else b[:, lv - 1]
            total = total + weight * resid
            D_prev = w**2 * D_prev + t2 * s2
            if log_s is not None:
                total = total - b[:, lv] * ed2 * 2 * log_s
            else:
                total = total - b[:, lv] * ed2 * torch.log(s2)
            m_prev, x_prev = m, xz
        return total + b[:, k - 1] * (ed / sel(prior)) ** 2 * m_prev
    return f


def _starts(k: int, ladder: bool, learn, log_prior: np.ndarray, n_random: int,
            rng: np.random.Generator) -> list[np.ndarray]:
    """Starting points (each (B, p)): 'collapsed from level j up' patterns for j = 1…k+1 (exact
    zeros there stay exact: a symmetric point of z_j → −z_j), then seeded random ones."""
    sw, sv, ss, p = layout(k, ladder, learn)
    B = log_prior.shape[0]
    out = []
    for j in range(k + 1):
        x = np.zeros((B, p))
        x[:, sw.start:sw.start + j] = 1.0
        x[:, ss] = log_prior[:, : ss.stop - ss.start]
        out.append(x)
    for _ in range(n_random):
        x = rng.normal(0.0, 1.0, size=(B, p))
        x[:, ss] = log_prior[:, : ss.stop - ss.start] + rng.normal(0, 0.5, size=(B, ss.stop - ss.start))
        out.append(x)
    return out


def solve_chain(theta, betas, sigmas, *, ladder: bool, prior, eta_dec, n_random: int = 3,
                seed: int = 0, max_iter: int = 200) -> ModeSolution:
    """Global optimum of B independent one-dimensional k-level chains (k = betas.shape[1]).

    ``theta`` (B,) std of the input mode; ``betas`` (B, k); ``sigmas`` a length-k tuple of
    fixed stds (numbers or (B,) arrays) or None (learnable); ``prior`` (B,) the std of the top
    level's prior (η_enc, or η_dec for a chain cut short by a smaller latent size above);
    ``eta_dec`` (B,). Best of the structured and random starts; ties (to 1e-10 relative) go to
    the earlier, more collapsed start, so an exactly collapsed optimum is reported as such."""
    theta = np.asarray(theta, dtype=np.float64)
    B = theta.shape[0]
    betas = np.broadcast_to(np.asarray(betas, dtype=np.float64), (B, len(sigmas)))
    k = betas.shape[1]
    learn = tuple(s is None for s in sigmas)
    prior = np.broadcast_to(np.asarray(prior, dtype=np.float64), (B,))
    eta_dec = np.broadcast_to(np.asarray(eta_dec, dtype=np.float64), (B,))
    fixed = np.ones((B, k))
    for lv, s in enumerate(sigmas):
        if s is not None:
            fixed[:, lv] = np.broadcast_to(np.asarray(s, dtype=np.float64), (B,))
    # learnable levels start at their prior's std: η_dec below the top, the prior at the top
    log_prior = np.stack([np.log(prior if lv == k - 1 else eta_dec) for lv in range(k)
                          if learn[lv]] or [np.zeros(B)], 1)
    rng = np.random.default_rng(seed)
    starts = _starts(k, ladder, learn, log_prior, n_random, rng)
    S = len(starts)
    T = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64)  # noqa: E731
    tile = lambda a: np.concatenate([a] * S, 0)  # noqa: E731
    f = chain_loss(T(tile(theta**2)), T(tile(betas)), T(tile(fixed)), learn, ladder,
                    T(tile(prior)), T(tile(eta_dec)))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        x, fx = newton(f, T(np.concatenate(starts, 0)), max_iter=max_iter)
    finally:
        torch.set_num_threads(threads)
    losses = fx.numpy().reshape(S, B)
    losses = np.where(np.isfinite(losses), losses, np.inf)
    best_val = losses.min(0)
    tied = losses <= best_val + 1e-10 * (1 + np.abs(best_val))
    best = np.argmax(tied, 0)  # first (most collapsed) start among the ties
    xb = x.numpy().reshape(S, B, -1)[best, np.arange(B)]
    sw, sv, ss, _ = layout(k, ladder, learn)
    sig = fixed.copy()
    sig[:, list(np.flatnonzero(learn))] = np.exp(xb[:, ss])
    v = np.zeros((B, k))
    if ladder:
        v[:, 1:] = xb[:, sv]
    return ModeSolution(w=xb[:, sw], v=v, sigma=sig, loss=best_val)


def chain_moments(theta, sol: ModeSolution):
    """Per-mode second moments of the solved chain: m_l = E z_l², c_l = E[z_l z_{l−1}]
    (z_0 = x), x_l = E[z_l x], each (B, k)."""
    w, v, s = sol.w, sol.v, sol.sigma
    B, k = w.shape
    t2 = np.asarray(theta, dtype=np.float64) ** 2
    m = np.zeros((B, k))
    c = np.zeros((B, k))
    xz = np.zeros((B, k))
    m_prev, x_prev = t2, t2
    for lv in range(k):
        vv = v[:, lv] if lv else 0.0
        c[:, lv] = w[:, lv] * m_prev + vv * x_prev
        xz[:, lv] = w[:, lv] * x_prev + vv * t2
        m[:, lv] = (w[:, lv] ** 2 * m_prev + 2 * w[:, lv] * vv * x_prev + vv**2 * t2
                    + s[:, lv] ** 2)
        m_prev, x_prev = m[:, lv], xz[:, lv]
    return m, c, xz


def mode_table(theta, sol: ModeSolution, prior, eta_dec) -> dict[str, np.ndarray]:
    """Per-mode, per-level quantities (each (B, k)): λ (rms of the encoder mean), ω (|decoder|
    from that level to the one below), σ, the level's expected KL-type term
    E[log q(z_l|·) − log p(z_l|z_{l+1})] (top: KL to the prior) and collapse: q(z_l|·) equals
    its prior for every input — λ = 0, σ = the prior's std and (below the top) ω_{l+1} = 0."""
    m, c, _ = chain_moments(theta, sol)
    s = sol.sigma
    B, k = m.shape
    eta_dec = np.broadcast_to(np.asarray(eta_dec, dtype=np.float64), (B,))[:, None]
    prior = np.broadcast_to(np.asarray(prior, dtype=np.float64), (B,))
    lam = np.sqrt(np.clip(m - s**2, 0, None))
    omega = np.abs(c / m)
    kl = np.zeros((B, k))
    coll = np.zeros((B, k), dtype=bool)
    for lv in range(k):
        if lv < k - 1:
            u = c[:, lv + 1] / m[:, lv + 1]
            resid = m[:, lv] - u * c[:, lv + 1]  # E(z_l − u z_{l+1})² at the optimal u
            pv = eta_dec[:, 0]
        else:
            resid, pv = m[:, lv], prior
        kl[:, lv] = 0.5 * (resid / pv**2 - 1 - np.log(s[:, lv] ** 2 / pv**2))
        scale = np.sqrt(m[:, lv])
        ok = (lam[:, lv] <= COLLAPSE_TOL * scale) & (np.abs(s[:, lv] / pv - 1) <= COLLAPSE_TOL)
        if lv < k - 1:
            ok &= omega[:, lv + 1] * np.sqrt(m[:, lv + 1]) <= COLLAPSE_TOL * scale
        coll[:, lv] = ok
    return {"lambda": lam, "omega": omega, "sigma": s, "kl": kl, "collapsed": coll}
