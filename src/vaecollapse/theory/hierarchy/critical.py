"""Critical values: per mode, the value of one hyperparameter (β_l or η_dec, the others held) at
and beyond which the mode's top-level posterior collapses.

For the top level's β_L, by continuation: along the collapsed branch the Hessian in the top
level's symmetric coordinates is affine in β_L, H0 + β_L H1 with H1 ≻ 0, so the branch is a local
minimum exactly for β_L ≥ β* = max(0, λ_max(−H1^{-1/2} H0 H1^{-1/2})); β* is then confirmed as
the global switch by two solves at β*(1 ± 1e-3). Elsewhere (and as the fallback), log-scale
bisection with batched solves.
"""

from __future__ import annotations

import numpy as np
import torch

from vaecollapse.theory.hierarchy.chain import chain_loss, layout, mode_table, solve_chain
from vaecollapse.theory.hierarchy.optimum import HierarchySolution
from vaecollapse.theory.hierarchy.setting import bounded_mask


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
    sw, sv, ss, p = layout(L, ladder, learn)
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
        f = chain_loss(T(theta**2), T(b), T(fixed), learn, ladder, T(np.full(n, h.eta_enc)),
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
