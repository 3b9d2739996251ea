"""Numerical theory of linear hierarchical VAEs where no closed form exists
(docs/numerical-theory.md): L = 1…5 levels, Markov or ladder inference, per-level β, latent
sizes and fixed or learnable encoder variances — the MHVAE with Σ1 learnable among them.

Pipeline:
1. :func:`boundedness` — the exact condition (docs §2): the loss is bounded below iff the β's of
   the levels with a *learnable* encoder variance are non-decreasing in level order. Unbounded
   settings have no optimum and are reported as such, never solved.
2. :func:`solve_modes` — the global optimum, reduced by the loss's symmetry: with every map
   diagonal in the eigenbasis of A = E[xxᵀ] the loss is a sum of independent one-dimensional
   problems, one per mode θ_i (docs §4). Each is solved by damped Newton (exact autograd
   Hessian, float64) from a fixed set of starts, batched over modes; the decoders are profiled
   out (each is the regression of the level below on its level). The reduction is checked
   against :func:`solve_full` — the same loss over full matrices — on random small instances.
3. :func:`critical_values` — per mode, the β of a chosen level (or η_dec) at which the top level
   collapses, by log-scale bisection with batched solves.

Everything here imports torch; :mod:`vaecollapse.theory.predict` imports this module only for
settings that need it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from vaecollapse.errors import HyperparameterError, UnboundedError  # noqa: F401 (re-exported)
from vaecollapse.theory.losses import hierarchy_loss

Tensor = torch.Tensor
INFERENCE = ("markov", "ladder")
MAX_LEVELS = 5
COLLAPSE_TOL = 1e-5  # relative tolerance for "λ = 0", "ω = 0" and "σ = prior std"


@dataclass(frozen=True)
class Hierarchy:
    """One linear hierarchical VAE setting. ``sigmas[l]`` is level l+1's fixed encoder std, or
    None for a learnable Σ_{l+1}; ``dims[l]`` its latent size."""

    betas: tuple[float, ...]
    dims: tuple[int, ...]
    sigmas: tuple[float | None, ...]
    inference: str = "markov"
    eta_enc: float = 1.0
    eta_dec: float = 1.0

    @property
    def levels(self) -> int:
        return len(self.betas)

    @property
    def learnable(self) -> tuple[int, ...]:
        """Levels (0-based) whose encoder variance is learnable."""
        return tuple(k for k, s in enumerate(self.sigmas) if s is None)

    @property
    def monotone_dims(self) -> bool:
        return all(a >= b for a, b in zip(self.dims, self.dims[1:], strict=False))


def make_hierarchy(levels: int, betas, dims, sigmas, inference: str, eta_enc: float,
                   eta_dec: float) -> Hierarchy:
    """Validated :class:`Hierarchy`; one β / dim / σ broadcasts to every level."""
    if not isinstance(levels, int | np.integer) or not 1 <= levels <= MAX_LEVELS:
        raise HyperparameterError(f"levels must be a whole number from 1 to {MAX_LEVELS}, "
                                  f"got {levels!r}")
    if inference not in INFERENCE:
        raise HyperparameterError(f"unknown inference {inference!r}: choose markov or ladder")

    def per_level(name, v):
        v = list(v) if isinstance(v, list | tuple | np.ndarray) else [v]
        if len(v) == 1:
            v = v * levels
        if len(v) != levels:
            raise HyperparameterError(f"{name} takes one value or one per level ({levels}), "
                                      f"got {len(v)}")
        return v

    b = []
    for k, v in enumerate(per_level("betas", betas)):
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise HyperparameterError(f"beta{k + 1} must be a number, got {v!r}") from None
        if not np.isfinite(v) or v <= 0:
            raise HyperparameterError(f"beta{k + 1} must be a finite number > 0, got {v!r}")
        b.append(v)
    d = []
    for v in per_level("latent_dims", dims):
        if (isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating)
                or not np.isfinite(v) or not float(v).is_integer() or v < 1):
            raise HyperparameterError(f"latent sizes must be whole numbers >= 1, got {v!r}")
        d.append(int(v))
    s = []
    for k, v in enumerate(per_level("sigmas", sigmas)):
        if v is not None:
            try:
                v = float(v)
            except (TypeError, ValueError):
                raise HyperparameterError(f"sigma{k + 1} (a fixed encoder std) must be a "
                                          f"number, got {v!r}") from None
            if not np.isfinite(v) or v <= 0:
                raise HyperparameterError(f"sigma{k + 1} (a fixed encoder std) must be > 0 "
                                          f"and finite, got {v!r}")
        s.append(v)
    for name, v in (("eta_enc", eta_enc), ("eta_dec", eta_dec)):
        if not isinstance(v, int | float | np.integer | np.floating) or not np.isfinite(v) or v <= 0:
            raise HyperparameterError(f"{name} must be a finite number > 0, got {v!r}")
    return Hierarchy(tuple(b), tuple(d), tuple(s), inference, float(eta_enc), float(eta_dec))


# ---------------------------------------------------------------- boundedness


def boundedness(h: Hierarchy) -> tuple[bool, str]:
    """(bounded, reason). Bounded below iff β restricted to the learnable levels is
    non-decreasing in level order (docs/numerical-theory.md §2, for Markov and ladder
    inference alike); the reason names the first offending pair. Equal β's are bounded but
    leave a flat family of optima (see :func:`flat_pairs`)."""
    lv = h.learnable
    for a in lv:
        for b in lv:
            if a < b and h.betas[a] > h.betas[b]:
                return False, (
                    f"the loss is unbounded below: beta{a + 1} = {h.betas[a]:g} > beta{b + 1} = "
                    f"{h.betas[b]:g} with both Σ{a + 1} and Σ{b + 1} learnable (σ{a + 1} → ∞ "
                    f"while z{b + 1} tracks z{a + 1} lowers it without limit, by "
                    f"2(beta{a + 1} − beta{b + 1})η_dec² log(1/ε) per mode); it is bounded iff "
                    "the betas of the learnable levels do not decrease upwards")
    return True, ""


def flat_pairs(h: Hierarchy) -> list[tuple[int, int]]:
    """Consecutive learnable levels with equal β: the optimum is then not unique (docs §2)."""
    lv = h.learnable
    return [(a, b) for a, b in zip(lv, lv[1:], strict=False) if h.betas[a] == h.betas[b]]


def bounded_mask(betas: np.ndarray, learnable: tuple[int, ...]) -> np.ndarray:
    """Vectorised :func:`boundedness` over rows of a (B, L) array of betas."""
    ok = np.ones(betas.shape[0], dtype=bool)
    for i, a in enumerate(learnable):
        for b in learnable[i + 1:]:
            ok &= betas[:, a] <= betas[:, b]
    return ok


# ---------------------------------------------------------------- batched damped Newton


def newton(f, x0: Tensor, *, max_iter: int = 200, gtol: float = 1e-11) -> tuple[Tensor, Tensor]:
    """Minimise f: (B, p) → (B,) (independent problems) by saddle-free Newton (the exact
    Hessian with its eigenvalues replaced by their absolute values) with Levenberg–Marquardt
    damping and monotone acceptance; per-problem Hessians come from p double-backward passes
    (cheaper than vmap for tiny problems). Returns (x, f(x))."""
    x = x0.clone()
    B, p = x.shape
    with torch.no_grad():
        fx = f(x)
    mu = torch.full_like(fx, 1e-3)
    active = torch.ones(B, dtype=torch.bool)
    history = [fx.clone()]
    for it in range(max_iter):
        idx = active.nonzero().squeeze(-1)
        xa = x[idx].detach().requires_grad_(True)
        y = f(xa, idx)
        (g,) = torch.autograd.grad(y.sum(), xa, create_graph=True)
        h = torch.stack([torch.autograd.grad(g[:, j].sum(), xa, retain_graph=j < p - 1)[0]
                         for j in range(p)], 1)
        g, h = g.detach(), h.detach()
        xa = xa.detach()
        fa, ma = fx[idx], mu[idx]
        # saddle-free Newton: |eigenvalues| (negative curvature is descended, not damped away),
        # plus Levenberg–Marquardt damping
        evals, Q = torch.linalg.eigh(0.5 * (h + h.mT))
        scale = evals.abs().amax(-1) + 1.0
        denom = evals.abs() + (ma * scale)[:, None]
        step = -(Q @ ((Q.mT @ g.unsqueeze(-1)).squeeze(-1) / denom).unsqueeze(-1)).squeeze(-1)
        ok = torch.isfinite(step).all(-1)
        step = torch.where(ok[:, None], step, torch.zeros_like(step))
        with torch.no_grad():
            fn = f(xa + step, idx)
        accept = ok & torch.isfinite(fn) & (fn < fa)
        x[idx] = torch.where(accept[:, None], xa + step, xa)
        fx[idx] = torch.where(accept, fn, fa)
        mu[idx] = torch.where(accept, torch.clamp(ma / 3, min=1e-15), torch.clamp(ma * 4, max=1e12))
        done = (g.abs().amax(-1) < gtol * (1 + fa.abs())) | (mu[idx] > 1e8)
        active[idx[done]] = False
        # stalled: less than 1e-13 relative progress over the last 10 iterations (a flat valley
        # creeping towards a point of the same loss)
        history.append(fx.clone())
        if it >= 10:
            old = history[-11]
            active &= ~((old - fx) <= 1e-13 * (1 + fx.abs()))
        if not bool(active.any()):
            break
    return x, fx


# ---------------------------------------------------------------- per-mode (reduced) problem


@dataclass(frozen=True)
class ModeSolution:
    """Per-mode optimum of a chain of k levels: arrays of shape (B, k) — encoder weight on the
    level below (w; level 1: on x), ladder weight on x (v; 0 for Markov and level 1), encoder
    std σ — and the loss (B,) of each one-dimensional problem."""

    w: np.ndarray
    v: np.ndarray
    sigma: np.ndarray
    loss: np.ndarray


def _layout(k: int, ladder: bool, learn: tuple[bool, ...]):
    """Column slices of the parameter vector of a k-level chain: w (k), v (k − 1), log σ."""
    nv = k - 1 if ladder else 0
    nl = sum(learn)
    return slice(0, k), slice(k, k + nv), slice(k + nv, k + nv + nl), k + nv + nl


def _chain_loss(theta2: Tensor, betas: Tensor, fixed_s: Tensor, learn: tuple[bool, ...],
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
    sw, sv, ss, _ = _layout(k, ladder, learn)

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
    sw, sv, ss, p = _layout(k, ladder, learn)
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
    f = _chain_loss(T(tile(theta**2)), T(tile(betas)), T(tile(fixed)), learn, ladder,
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
    sw, sv, ss, _ = _layout(k, ladder, learn)
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


# ---------------------------------------------------------------- whole problem


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
    from vaecollapse.theory.numerical import minimise

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


# ---------------------------------------------------------------- critical values


def critical_values(sol: HierarchySolution, parameter: str, *, lo_factor: float = 1e-4,
                    hi_factor: float = 1e4, iterations: int = 26, seed: int = 0) -> np.ndarray:
    """Per mode, the smallest value of ``parameter`` ("beta<l>" or "eta_dec"), others held, at
    and beyond which the mode's top-level posterior collapses — log-scale bisection on
    [current/1e4, current·1e4], each step one batched solve of all modes. NaN where the mode is
    not collapsed even at the upper end, or does not reach the top level; unbounded settings
    count as not collapsed. Assumes collapse is monotone in the parameter."""
    h, L = sol.h, sol.h.levels
    out = np.full(h.dims[0], np.nan)
    full = [(idx, ms) for idx, ms in sol.chains if ms.w.shape[1] == L]
    if not full:
        return out
    idx = full[0][0]
    theta = sol.theta[idx]
    n = idx.size
    if parameter == "eta_dec":
        current = h.eta_dec
    else:
        current = h.betas[int(parameter[4:]) - 1]

    def collapsed_at(vals: np.ndarray) -> np.ndarray:
        betas = np.tile(np.array(h.betas), (n, 1))
        eta_dec = np.full(n, h.eta_dec)
        if parameter == "eta_dec":
            eta_dec = vals
        else:
            betas[:, int(parameter[4:]) - 1] = vals
        ok = bounded_mask(betas, h.learnable)
        res = np.zeros(n, dtype=bool)
        if ok.any():
            ms = solve_chain(theta[ok], betas[ok], h.sigmas, ladder=h.inference == "ladder",
                             prior=h.eta_enc, eta_dec=eta_dec[ok], n_random=1, seed=seed)
            t = mode_table(theta[ok], ms, h.eta_enc, eta_dec[ok])
            res[ok] = t["collapsed"][:, -1]
        return res

    lo = np.full(n, current * lo_factor)
    hi = np.full(n, current * hi_factor)
    at_hi = collapsed_at(hi)
    at_lo = collapsed_at(lo)
    for _ in range(iterations):
        mid = np.sqrt(lo * hi)
        c = collapsed_at(mid)
        hi = np.where(c, mid, hi)
        lo = np.where(c, lo, mid)
    res = np.where(at_lo, lo, hi)
    out[idx] = np.where(at_hi, res, np.nan)
    return out


def with_level_value(h: Hierarchy, parameter: str, value: float) -> Hierarchy:
    """``h`` with one β (``beta<l>``) or η_dec replaced."""
    if parameter == "eta_dec":
        return replace(h, eta_dec=float(value))
    k = int(parameter[4:]) - 1
    return replace(h, betas=h.betas[:k] + (float(value),) + h.betas[k + 1:])


def critical_top_beta(sol: HierarchySolution, *, check: bool = True) -> np.ndarray:
    """Per mode, the critical β_L of the top level (others held) — by continuation from the
    collapsed branch instead of bisection. With the top level collapsed (w_L = v_L = 0,
    σ_L = prior) the lower levels solve the (L−1)-chain whose own top prior is N(0, η_dec²), a
    point that does not depend on β_L; there the Hessian in the top level's symmetric
    coordinates (w_L, v_L) is affine in β_L, H0 + β_L H1 (H1 ≻ 0), so the collapsed branch is a
    local minimum exactly for β_L ≥ β* = max(0, λ_max(−H1^{-1/2} H0 H1^{-1/2})). ``check``
    confirms β* as the *global* switch with two full solves at β*(1 ± 1e-3) and falls back to
    :func:`critical_values` (bisection) for the modes where it is not. NaN where collapse is
    impossible (a fixed top σ ≠ η_enc, or the mode does not reach the top level)."""
    h, L = sol.h, sol.h.levels
    out = np.full(h.dims[0], np.nan)
    full = [(idx, ms) for idx, ms in sol.chains if ms.w.shape[1] == L]
    top_s = h.sigmas[-1]
    if not full or (top_s is not None and not np.isclose(top_s, h.eta_enc, rtol=1e-12, atol=0)):
        return out
    idx = full[0][0]
    theta = sol.theta[idx]
    n = idx.size
    ladder = h.inference == "ladder"
    learn = tuple(s is None for s in h.sigmas)
    if L > 1:
        low = solve_chain(theta, np.array(h.betas[:-1]), h.sigmas[:-1], ladder=ladder,
                          prior=h.eta_dec, eta_dec=h.eta_dec, seed=0)
    sw, sv, ss, p = _layout(L, ladder, learn)
    x = np.zeros((n, p))
    if L > 1:
        x[:, : L - 1] = low.w
        if ladder and L > 2:
            x[:, sv.start: sv.start + L - 2] = low.v[:, 1:]
        j = 0
        for lv in range(L - 1):
            if learn[lv]:
                x[:, ss.start + j] = np.log(low.sigma[:, lv])
                j += 1
    if learn[-1]:
        x[:, ss.stop - 1] = np.log(h.eta_enc)
    coords = [L - 1] + ([sv.stop - 1] if ladder and L > 1 else [])

    def hess(beta_top: float) -> np.ndarray:
        b = np.tile(np.array(h.betas), (n, 1))
        b[:, -1] = beta_top
        fixed = np.ones((n, L))
        for lv, s in enumerate(h.sigmas):
            if s is not None:
                fixed[:, lv] = s
        T = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64)  # noqa: E731
        f = _chain_loss(T(theta**2), T(b), T(fixed), learn, ladder, T(np.full(n, h.eta_enc)),
                        T(np.full(n, h.eta_dec)))
        xt = T(x).requires_grad_(True)
        (g,) = torch.autograd.grad(f(xt).sum(), xt, create_graph=True)
        rows = [torch.autograd.grad(g[:, j].sum(), xt, retain_graph=True)[0][:, coords]
                for j in coords]
        return torch.stack(rows, 1).detach().numpy()

    H0 = hess(0.0)
    H1 = hess(1.0) - H0
    if len(coords) == 2:
        flat = theta == 0  # no x-mode: the ladder weight does not act
        H0[flat, 1, :] = H0[flat, :, 1] = 0.0
        H1[flat, 1, :] = H1[flat, :, 1] = 0.0
        H1[flat, 1, 1] = 1.0
    crit = np.full(n, np.nan)
    for i in range(n):
        ev1, Q = np.linalg.eigh(H1[i])
        if ev1.min() <= 1e-14 * max(ev1.max(), 1e-300):
            continue
        R = Q / np.sqrt(ev1)
        crit[i] = max(0.0, float(np.linalg.eigvalsh(-R.T @ H0[i] @ R).max()))
    if check:
        bad = ~np.isfinite(crit)
        good = np.flatnonzero(~bad)
        if good.size:
            for factor, want in ((1 + 1e-3, True), (1 - 1e-3, False)):
                b = np.tile(np.array(h.betas), (good.size, 1))
                b[:, -1] = crit[good] * factor
                ok = bounded_mask(b, h.learnable)
                got = np.zeros(good.size, dtype=bool)
                if ok.any():
                    ms = solve_chain(theta[good][ok], b[ok], h.sigmas, ladder=ladder,
                                     prior=h.eta_enc, eta_dec=h.eta_dec, n_random=1)
                    got[ok] = mode_table(theta[good][ok], ms, h.eta_enc, h.eta_dec)[
                        "collapsed"][:, -1]
                zero = crit[good] == 0.0
                wrong = (got != want) & ~(zero & (not want))  # β* = 0: nothing to undercut
                bad[good[wrong]] = True
        if bad.any():
            crit[bad] = critical_values(sol, f"beta{L}")[idx][bad]
    out[idx] = crit
    return out


# ---------------------------------------------------------------- predict integration




def setting_name(h: Hierarchy) -> str:
    learn = ", ".join(f"Σ{lv + 1} {'learnable' if s is None else 'fixed'}"
                      for lv, s in enumerate(h.sigmas))
    kind = "MHVAE" if h.levels == 2 and h.inference == "markov" else (
        f"{h.levels}-level {'ladder' if h.inference == 'ladder' else 'Markov'} HVAE")
    return f"linear {kind}, {learn} (numerical theory, docs/numerical-theory.md)"


def hyperparameter_record(h: Hierarchy) -> dict:
    rec = {"latent_dim": h.dims[0], "levels": h.levels, "inference": h.inference,
           "latent_dims": list(h.dims), "betas": list(h.betas), "sigmas": list(h.sigmas),
           "eta_enc": h.eta_enc, "eta_dec": h.eta_dec}
    for lv in range(h.levels):
        rec[f"beta{lv + 1}"] = h.betas[lv]
        rec[f"sigma{lv + 1}"] = h.sigmas[lv]
    return rec


def predict_hierarchy(stats, h: Hierarchy, *, critical: bool = True):
    """The numerical-theory :class:`~vaecollapse.theory.predict.Prediction` of setting ``h``
    on ``stats`` (VAE/MHVAE statistics: θ = √eig A, basis P). Raises :class:`UnboundedError`
    where the loss is unbounded below. Per-mode keys follow the MHVAE contract (lambda = λ_1,
    omega = ω_2, sigma = σ_1, sigma<l>, kl = top-level KL, kl_z<l>, collapsed = top level,
    collapsed_z<l>, critical_beta<L>) plus lambda_z<l>, omega_z<l> for every level."""
    from vaecollapse.theory.predict import Prediction

    ok, why = boundedness(h)
    if not ok:
        raise UnboundedError(why, hyperparameter_record(h))
    if not h.monotone_dims:
        raise HyperparameterError("the numerical theory needs non-increasing latent sizes "
                                  f"upwards (d1 ≥ d2 ≥ …), got {', '.join(map(str, h.dims))}")
    sol = solve_modes(stats.theta, h)
    t = sol.table
    L, d1 = h.levels, h.dims[0]
    modes: dict[str, np.ndarray] = {}
    for lv in range(L):
        modes[f"lambda_z{lv + 1}"] = t["lambda"][:, lv]
        modes[f"omega_z{lv + 1}"] = t["omega"][:, lv]
        modes[f"sigma{lv + 1}"] = t["sigma"][:, lv]
        modes[f"kl_z{lv + 1}"] = t["kl"][:, lv]
        modes[f"collapsed_z{lv + 1}"] = t["collapsed"][:, lv]
    modes["lambda"] = t["lambda"][:, 0]
    modes["omega"] = t["omega"][:, 1] if L > 1 else t["omega"][:, 0]
    modes["sigma"] = t["sigma"][:, 0]
    modes.setdefault("sigma2", np.full(d1, np.nan))
    modes["kl"] = t["kl"][:, L - 1]
    modes.setdefault("kl_z1", np.full(d1, np.nan))
    modes["collapsed"] = t["collapsed"][:, L - 1]
    modes.setdefault("collapsed_z2", np.zeros(d1, dtype=bool))
    nan = np.full(d1, np.nan)
    for lv in range(1, MAX_LEVELS + 1):
        modes[f"critical_beta{lv}"] = nan.copy()
    modes["critical_beta"] = nan.copy()
    if critical:
        modes[f"critical_beta{L}"] = critical_top_beta(sol)
    modes["critical_eta_dec"] = nan.copy()
    modes["latent_index"] = np.arange(d1)
    weights = weights_from_modes(sol, stats.basis)
    loss = full_loss(weights, stats.moments.A, h)
    notes = [f"solved per mode in the eigenbasis of A (reduced; total loss {sol.loss:.10g}, "
             f"full-matrix loss at the assembled weights {loss:.10g})"]
    for a, b in flat_pairs(h):
        notes.append(f"beta{a + 1} = beta{b + 1} with both variances learnable: the optimum is "
                     f"not unique (a flat family); z{b + 1}'s use is not determined — shown is "
                     "the most collapsed member")
    if not critical:
        notes.append("critical values not computed")
    named = {f"W{lv + 1}": w for lv, w in enumerate(weights["W"])}
    named.update({f"U{lv + 1}": u for lv, u in enumerate(weights["U"])})
    named.update({f"sigma{lv + 1}": s for lv, s in enumerate(weights["sigma"])})
    if weights["V"] is not None:
        named.update({f"V{lv + 1}": v for lv, v in enumerate(weights["V"]) if v is not None})
    pred = Prediction("mhvae", setting_name(h), hyperparameter_record(h), sol.theta, modes,
                      named, loss, stats.rank, None, "", notes)
    pred.solver = "numerical"
    pred.bounded = True
    pred.critical = f"beta{L}"
    pred.levels = L
    return pred


def unbounded_point(stats, e: UnboundedError):
    """A sweep point where the loss is unbounded: a Prediction with ``bounded = False``, loss
    −∞, no collapsed mode and the reason as its note."""
    from vaecollapse.theory.predict import Prediction

    hp = e.hyperparameters
    d = hp["latent_dim"]
    theta = np.zeros(d)
    k = min(d, stats.theta.size)
    theta[:k] = stats.theta[:k]
    nan = np.full(d, np.nan)
    modes = {key: nan.copy() for key in ("lambda", "omega", "sigma", "sigma2", "kl", "kl_z1",
                                         "critical_beta", "critical_beta2", "critical_eta_dec")}
    for key in ("collapsed", "collapsed_z1", "collapsed_z2"):
        modes[key] = np.zeros(d, dtype=bool)
    modes["latent_index"] = np.arange(d)
    pred = Prediction("mhvae", "unbounded below", hp, theta, modes, {}, -np.inf, stats.rank,
                      notes=[str(e)])
    pred.solver, pred.bounded = "numerical", False
    pred.critical, pred.levels = f"beta{hp['levels']}", hp["levels"]
    return pred
