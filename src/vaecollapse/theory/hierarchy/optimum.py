"""The global optimum of a whole hierarchy: every mode's chain, the full weight matrices
assembled from them, and the same loss minimised over full matrices (the reduction's check).

Mode i lives on the levels with d_l > i (non-increasing latent sizes), so the modes fall into
groups by chain length; the total loss adds Σ_{i ≥ d1} θ_i² for the unencoded directions. In the
eigenbasis P of A the optimal maps are W_1 = diag(w_1) Pᵀ, W_l = diag(w_l), V_l = diag(v_l) Pᵀ,
U_1 = P diag(u_1), U_l = diag(u_l), with u_l the regression of the level below on z_l.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vaecollapse.errors import HyperparameterError
from vaecollapse.theory.hierarchy.chain import ModeSolution, chain_moments, mode_table, solve_chain
from vaecollapse.theory.hierarchy.setting import Hierarchy, boundedness
from vaecollapse.theory.losses import hierarchy_loss
from vaecollapse.theory.numerical import minimise


@dataclass
class HierarchySolution:
    """The reduced global optimum for d1 = dims[0] modes: per-level tables (d1, L) with NaN /
    False where a level has fewer latent dimensions, the total loss and the per-mode chains."""

    h: Hierarchy
    theta: np.ndarray
    table: dict[str, np.ndarray]
    loss: float
    chains: list[tuple[np.ndarray, ModeSolution]]


def chain_groups(h: Hierarchy) -> list[tuple[np.ndarray, int]]:
    """(mode indices, chain length k) for non-increasing latent sizes: mode i lives on the
    levels with d_l > i, i.e. on a chain of the first k_i levels."""
    d1 = h.dims[0]
    k_of = np.array([sum(d > i for d in h.dims) for i in range(d1)])
    return [(np.flatnonzero(k_of == k), k) for k in sorted(set(k_of.tolist()), reverse=True)]


def solve_modes(theta_all, h: Hierarchy, *, seed: int = 0, n_random: int = 3) -> HierarchySolution:
    """Reduced global optimum: one chain per mode (``theta_all`` = √eig A, descending). The total
    loss adds Σ_{i ≥ d1} θ_i² (unencoded directions). Needs non-increasing latent sizes."""
    if not h.monotone_dims:
        raise HyperparameterError("the reduced solve needs non-increasing latent sizes per level")
    ok, why = boundedness(h)
    if not ok:
        raise HyperparameterError(why)
    theta_all = np.asarray(theta_all, dtype=np.float64)
    d1, L = h.dims[0], h.levels
    theta = np.zeros(d1)
    theta[: min(d1, theta_all.size)] = theta_all[:d1]
    table = {"lambda": np.full((d1, L), np.nan), "omega": np.full((d1, L), np.nan),
             "sigma": np.full((d1, L), np.nan), "kl": np.full((d1, L), np.nan),
             "collapsed": np.zeros((d1, L), dtype=bool)}
    total = float(np.sum(theta_all[d1:] ** 2))
    chains = []
    for idx, k in chain_groups(h):
        prior = h.eta_enc if k == L else h.eta_dec
        sol = solve_chain(theta[idx], np.array(h.betas[:k]), h.sigmas[:k],
                          ladder=h.inference == "ladder", prior=prior, eta_dec=h.eta_dec,
                          n_random=n_random, seed=seed)
        t = mode_table(theta[idx], sol, prior, h.eta_dec)
        for key in table:
            table[key][idx, :k] = t[key]
        total += float(sol.loss.sum())
        chains.append((idx, sol))
    return HierarchySolution(h, theta, table, total, chains)


def weights_from_modes(sol: HierarchySolution, basis: np.ndarray) -> dict[str, list]:
    """Full weight matrices of the reduced optimum (P = eigenvectors of A, columns by θ):
    W_1 = diag(w_1) Pᵀ, W_l = diag(w_l), V_l = diag(v_l) Pᵀ, U_1 = P diag(u_1), U_l = diag(u_l)
    with u_l the regression of the level below on z_l (cut to each level's size)."""
    h = sol.h
    d0 = basis.shape[0]
    P = np.zeros((d0, h.dims[0]))
    k0 = min(h.dims[0], basis.shape[1])
    P[:, :k0] = basis[:, :k0]
    L, d = h.levels, h.dims
    w = np.zeros((d[0], L))
    v = np.zeros((d[0], L))
    u = np.zeros((d[0], L))
    sig = np.ones((d[0], L))
    for idx, ms in sol.chains:
        k = ms.w.shape[1]
        m, c, _ = chain_moments(sol.theta[idx], ms)
        w[np.ix_(idx, range(k))] = ms.w
        v[np.ix_(idx, range(k))] = ms.v
        u[np.ix_(idx, range(k))] = c / m
        sig[np.ix_(idx, range(k))] = ms.sigma
    def rect(vals, rows, cols):  # diag(vals) padded to rows × cols
        out = np.zeros((rows, cols))
        n = len(vals)
        out[np.arange(n), np.arange(n)] = vals
        return out

    W = [w[:, 0, None] * P.T] + [rect(w[: d[lv], lv], d[lv], d[lv - 1]) for lv in range(1, L)]
    V = [None] + [v[: d[lv], lv, None] * P[:, : d[lv]].T for lv in range(1, L)]
    U = [P * u[:, 0]] + [rect(u[: d[lv], lv], d[lv - 1], d[lv]) for lv in range(1, L)]
    S = [sig[: d[lv], lv] for lv in range(L)]
    if h.inference == "markov":
        V = None
    return {"W": W, "V": V, "U": U, "sigma": S}


def full_loss(weights: dict[str, list], A, h: Hierarchy) -> float:
    """:func:`hierarchy_loss` of full weight matrices (explicit decoders) on the real A."""
    return float(hierarchy_loss(weights["W"], weights["V"], weights["U"], weights["sigma"], A,
                                list(h.betas), h.eta_enc, h.eta_dec))


def solve_full(A, h: Hierarchy, *, starts: int = 6, seed: int = 0, max_iter: int = 400):
    """The same loss minimised over full matrices W_l, V_l (ladder), U_l and learnable log σ_l
    (damped Newton, :func:`vaecollapse.theory.numerical.minimise`) — the check of the
    reduction, and the solver for small problems the reduction does not cover. Returns
    (loss, weights dict of numpy arrays named W1…, V2…, U1…, sigma1…); with a batch of
    moment matrices A (B, d0, d0), all solved at once, arrays with B in front."""
    ok, why = boundedness(h)
    if not ok:
        raise HyperparameterError(why)
    A = np.asarray(A, dtype=np.float64)
    d0, L, d = A.shape[-1], h.levels, h.dims
    shapes: dict[str, tuple[int, ...]] = {}
    init: dict[str, tuple[float, float]] = {}
    for lv in range(L):
        shapes[f"W{lv + 1}"] = (d[lv], d0 if lv == 0 else d[lv - 1])
        if lv and h.inference == "ladder":
            shapes[f"V{lv + 1}"] = (d[lv], d0)
        shapes[f"U{lv + 1}"] = (d0 if lv == 0 else d[lv - 1], d[lv])
        if h.sigmas[lv] is None:
            shapes[f"log_sigma{lv + 1}"] = (d[lv],)
            prior = h.eta_enc if lv == L - 1 else h.eta_dec
            init[f"log_sigma{lv + 1}"] = (float(np.log(prior)), 0.1)
    ladder = h.inference == "ladder"

    def loss(p, A):
        sig = [torch.exp(p[f"log_sigma{lv + 1}"]) if h.sigmas[lv] is None
               else torch.full((d[lv],), h.sigmas[lv], dtype=torch.float64) for lv in range(L)]
        return hierarchy_loss([p[f"W{lv + 1}"] for lv in range(L)],
                              [None] + [p[f"V{lv + 1}"] for lv in range(1, L)] if ladder else None,
                              [p[f"U{lv + 1}"] for lv in range(L)], sig, A, list(h.betas),
                              h.eta_enc, h.eta_dec)

    batched = A.ndim == 3
    At = torch.as_tensor(A.reshape((-1,) + A.shape[-2:]))
    sol = minimise(loss, shapes, (At,), init, starts=starts, seed=seed, max_iter=max_iter)
    weights = dict(sol.weights)
    for lv in range(L):
        if h.sigmas[lv] is not None:
            weights[f"sigma{lv + 1}"] = np.full((At.shape[0], d[lv]), h.sigmas[lv])
    if batched:
        return np.asarray(sol.loss), weights
    return float(sol.loss[0]), {k: v[0] for k, v in weights.items()}
