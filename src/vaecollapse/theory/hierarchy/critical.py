"""Critical values: per mode, the value of one hyperparameter (β_l or η_dec, the others held) at
and beyond which the mode's top-level posterior collapses.

For the top level's β_L, by continuation: along the collapsed branch the Hessian in the top
level's symmetric coordinates is affine in β_L, H0 + β_L H1 with H1 ≻ 0, so the branch is a local
minimum exactly for β_L ≥ β* = max(0, λ_max(−H1^{-1/2} H0 H1^{-1/2})); β* is then confirmed as
the global switch by two solves at β*(1 ± 1e-3). Elsewhere (and as the fallback), log-scale
bisection with batched solves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vaecollapse.errors import HyperparameterError
from vaecollapse.theory.hierarchy.chain import (
    ModeSolution,
    chain_loss,
    layout,
    mode_table,
    solve_chain,
)
from vaecollapse.theory.hierarchy.optimum import HierarchySolution
from vaecollapse.theory.hierarchy.setting import Hierarchy, bounded_mask

#: half-width (a factor) of the scanned bracket around the current value
BRACKET = {"beta": 1e4, "eta_dec": 1e2}
#: the scan's log grid: points per decade of the bracket (8 decades: 33 points)
SCAN_PER_DECADE = 4
#: points per refinement step: each step shrinks a mode's bracket (K + 1)-fold
REFINE_POINTS = 15
#: a collapsed top level counts only where its curvature ≥ −CURVATURE_TOL × its β_L part
CURVATURE_TOL = 1e-9
#: the refinement stops when every bracket is narrower than this (relative)
REFINE_RTOL = 1e-9
#: below this relative bracket width extra switches count as solver noise, not non-monotonicity
NOISE_RTOL = 1e-6


@dataclass(frozen=True)
class Critical:
    """Per mode (arrays of shape (d1,)): ``value`` of ``parameter`` (others held) at which the
    mode's top-level posterior switches to collapsed and ``direction`` which side of it is
    collapsed: +1 at and above ``value``, −1 at and below, 0 none (``value`` NaN). ``notes``
    say why modes have no value."""

    parameter: str
    value: np.ndarray
    direction: np.ndarray
    notes: tuple[str, ...] = ()


def parameter_names(h: Hierarchy) -> tuple[str, ...]:
    """The parameters a critical value can be asked for: beta1 … beta<L>, eta_dec."""
    return tuple(f"beta{lv + 1}" for lv in range(h.levels)) + ("eta_dec",)


def current_value(h: Hierarchy, parameter: str) -> float:
    return h.eta_dec if parameter == "eta_dec" else h.betas[int(parameter[4:]) - 1]


def bounded_range(h: Hierarchy, parameter: str) -> tuple[float, float]:
    """The closed interval of values of ``parameter`` (others held) where the loss is bounded
    below (docs §2): for the β of a learnable level, [largest β of the learnable levels below,
    smallest β of the learnable levels above]; otherwise (0, ∞). Contains the current value
    when the setting is bounded."""
    if parameter == "eta_dec":
        return 0.0, np.inf
    lv = int(parameter[4:]) - 1
    if h.sigmas[lv] is not None:
        return 0.0, np.inf
    below = [h.betas[a] for a in h.learnable if a < lv]
    above = [h.betas[b] for b in h.learnable if b > lv]
    return max(below, default=0.0), min(above, default=np.inf)


def mode_list(ix) -> str:
    """'modes 0–3, 7' for mode indices [0, 1, 2, 3, 7]."""
    ix = [int(i) for i in ix]
    parts, start = [], 0
    for k in range(1, len(ix) + 1):
        if k == len(ix) or ix[k] != ix[k - 1] + 1:
            a, b = ix[start], ix[k - 1]
            parts.append(str(a) if a == b else f"{a}–{b}")
            start = k
    return ("mode " if len(ix) == 1 else "modes ") + ", ".join(parts)


def top_modes(sol: HierarchySolution) -> tuple[np.ndarray | None, list[str]]:
    """Indices of the modes that reach the top level and can collapse there, and notes on the
    others: modes beyond the top level's latent size have no z_L; a fixed top std ≠ η_enc
    never equals the prior's, so no z_L posterior collapses."""
    h, L = sol.h, sol.h.levels
    notes = []
    full = [idx for idx, ms in sol.chains if ms.w.shape[1] == L]
    idx = full[0] if full else None
    if h.dims[-1] < h.dims[0]:
        notes.append(f"{mode_list(range(h.dims[-1], h.dims[0]))}: no z{L} coordinate "
                     f"(d{L} = {h.dims[-1]}), no critical value")
    top_s = h.sigmas[-1]
    if idx is not None and top_s is not None and not np.isclose(top_s, h.eta_enc, rtol=1e-12,
                                                                atol=0):
        notes.append(f"a fixed z{L} std σ{L} = {top_s:g} ≠ η_enc = {h.eta_enc:g}: no z{L} "
                     "posterior ever equals its prior, no critical value")
        idx = None
    return idx, notes


def top_collapsed(h: Hierarchy, theta: np.ndarray, parameter: str, values: np.ndarray, *,
                  seed: int = 0) -> np.ndarray:
    """Whether mode i's top-level posterior collapses at the global optimum with ``parameter``
    set to ``values[i, j]`` (others held): one batched solve of every (i, j). Points outside
    the bounded range count as not collapsed."""
    n, G = values.shape
    th = np.repeat(theta, G)
    v = values.ravel()
    betas = np.tile(np.array(h.betas), (n * G, 1))
    eta_dec = np.full(n * G, h.eta_dec)
    if parameter == "eta_dec":
        eta_dec = v
    else:
        betas[:, int(parameter[4:]) - 1] = v
    ok = bounded_mask(betas, h.learnable)
    out = np.zeros(n * G, dtype=bool)
    if ok.any():
        ms = solve_chain(th[ok], betas[ok], h.sigmas, ladder=h.inference == "ladder",
                         prior=h.eta_enc, eta_dec=eta_dec[ok], n_random=1, seed=seed)
        coll = mode_table(th[ok], ms, h.eta_enc, eta_dec[ok])["collapsed"][:, -1]
        c = np.flatnonzero(coll)
        if c.size:  # the collapsed branch must be a local minimum, not a saddle
            sub = ModeSolution(ms.w[c], ms.v[c], ms.sigma[c], ms.loss[c])
            b, ed, x = betas[ok][c], eta_dec[ok][c], pack(sub, h)
            H = top_hessian(h, th[ok][c], b, ed, x)
            b2 = b.copy()
            b2[:, -1] *= 2
            scale = np.abs(top_hessian(h, th[ok][c], b2, ed, x) - H).max((1, 2))
            coll[c] = np.linalg.eigvalsh(H)[:, 0] >= -CURVATURE_TOL * scale
        out[ok] = coll
    return out.reshape(n, G)


def critical_values(sol: HierarchySolution, parameter: str, *, factor: float | None = None,
                    seed: int = 0) -> Critical:
    """Per mode, the critical value of ``parameter`` ("beta<l>" or "eta_dec"), others held, by
    a scan and refinement of the global optimum (docs §5):

    1. the bracket is [current/factor, current·factor] (default :data:`BRACKET`: 1e4 for a β,
       1e2 for η_dec, which enters the loss squared) cut to the bounded range
       (:func:`bounded_range`); on a log grid of it (:data:`SCAN_PER_DECADE`) one batched solve
       says where each mode's top level is collapsed;
    2. a mode whose collapse switches once along the grid has a critical value: its bracket is
       refined by batched multisection (:data:`REFINE_POINTS` per step) to :data:`REFINE_RTOL`
       and the collapsed end reported, with direction +1 (collapsed at and above it) or −1 (at
       and below);
    3. a mode collapsed over the whole bracket whose one finite end is an edge of the bounded
       range gets that edge (e.g. β2 = β1 with Σ1, Σ2 learnable: collapsed wherever bounded);
    4. otherwise NaN with a note: never collapsed, collapsed throughout, or non-monotone (more
       than one switch on the grid or within a refinement step). A switch on an interval
       narrower than the grid's spacing can be missed."""
    h = sol.h
    d1 = h.dims[0]
    value = np.full(d1, np.nan)
    direction = np.zeros(d1, dtype=np.int8)
    idx, notes = top_modes(sol)
    if idx is None:
        return Critical(parameter, value, direction, tuple(notes))
    theta = sol.theta[idx]
    n = idx.size
    current = current_value(h, parameter)
    factor = factor or BRACKET["eta_dec" if parameter == "eta_dec" else "beta"]
    a, b = bounded_range(h, parameter)
    lo, hi = max(current / factor, a), min(current * factor, b)
    lo_edge, hi_edge = a > current / factor, b < current * factor
    span = f"[{lo:.4g}, {hi:.4g}]"
    if not lo < hi:
        notes.append(f"{parameter} cannot move: the loss is bounded only at {parameter} = "
                     f"{current:g}; no critical value")
        return Critical(parameter, value, direction, tuple(notes))
    G = max(3, int(np.ceil(SCAN_PER_DECADE * np.log10(hi / lo))) + 1)
    grid = np.geomspace(lo, hi, G)
    grid[0], grid[-1] = lo, hi
    c = top_collapsed(h, theta, parameter, np.tile(grid, (n, 1)), seed=seed)
    flips = c[:, 1:] != c[:, :-1]
    switches = flips.sum(1)
    res, dirn = np.full(n, np.nan), np.zeros(n, dtype=np.int8)
    bad = switches > 1
    # 2. one switch: refine [grid[j], grid[j + 1]] (in log space)
    one = np.flatnonzero(switches == 1)
    if one.size:
        j = np.argmax(flips[one], 1)
        up = c[one, j + 1]  # collapsed on the upper side
        lg, ug = np.log(grid[j]), np.log(grid[j + 1])
        K = REFINE_POINTS
        frac = np.arange(1, K + 1) / (K + 1)
        live = np.ones(one.size, dtype=bool)
        done = np.zeros(one.size, dtype=bool)
        while live.any() and (ug - lg)[live].max() > np.log1p(REFINE_RTOL):
            r = np.flatnonzero(live)
            pts = lg[r, None] + (ug - lg)[r, None] * frac
            cc = top_collapsed(h, theta[one[r]], parameter, np.exp(pts), seed=seed)
            e = np.concatenate([~up[r, None], cc, up[r, None]], 1)
            f = e[:, 1:] != e[:, :-1]
            mono = f.sum(1) == 1
            # several switches inside a bracket this narrow are solver noise at the switch:
            # stop there with the bracket as it is; in a wider one collapse is not monotone
            noise = ~mono & ((ug - lg)[r] <= np.log1p(NOISE_RTOL))
            bad[one[r[~mono & ~noise]]] = True
            done[r[noise]] = True
            live[r[~mono]] = False
            m = np.argmax(f, 1)
            nodes = np.concatenate([lg[r, None], pts, ug[r, None]], 1)
            keep = r[mono]
            lg[keep], ug[keep] = nodes[mono, m[mono]], nodes[mono, m[mono] + 1]
        good = live | done
        res[one[good]] = np.where(up[good], np.exp(ug[good]), np.exp(lg[good]))
        dirn[one[good]] = np.where(up[good], 1, -1)
    # 3. collapsed over the whole bracket with one bounded-range edge
    always = (switches == 0) & c[:, 0]
    never = (switches == 0) & ~c[:, 0]
    if lo_edge != hi_edge and always.any():
        res[always] = lo if lo_edge else hi
        dirn[always] = 1 if lo_edge else -1
        edge = lo if lo_edge else hi
        notes.append(f"{mode_list(idx[always])}: collapsed for every {parameter} "
                     f"{'≥' if lo_edge else '≤'} {edge:.4g} scanned; beyond {edge:.4g} the "
                     "loss is unbounded below (docs §2)")
    elif always.any():
        notes.append(f"{mode_list(idx[always])}: collapsed for every {parameter} in {span}; "
                     "no critical value")
    if never.any():
        notes.append(f"{mode_list(idx[never])}: not collapsed for any {parameter} in {span}; "
                     "no critical value")
    if bad.any():
        notes.append(f"{mode_list(idx[bad])}: collapse is not monotone in {parameter} over "
                     f"{span} (it switches more than once); no critical value")
    res[bad], dirn[bad] = np.nan, 0
    value[idx], direction[idx] = res, dirn
    return Critical(parameter, value, direction, tuple(notes))


def pack(ms: ModeSolution, h: Hierarchy) -> np.ndarray:
    """The chain's parameter vectors (B, p) (:func:`~.chain.layout`: w, v, log σ of the
    learnable levels) of a solution."""
    L, ladder = ms.w.shape[1], h.inference == "ladder"
    learn = tuple(s is None for s in h.sigmas[:L])
    sw, sv, ss, p = layout(L, ladder, learn)
    x = np.zeros((ms.w.shape[0], p))
    x[:, sw] = ms.w
    if ladder:
        x[:, sv] = ms.v[:, 1:]
    x[:, ss] = np.log(ms.sigma[:, list(np.flatnonzero(learn))])
    return x


def top_hessian(h: Hierarchy, theta, betas, eta_dec, x) -> np.ndarray:
    """(n, c, c): the Hessian of the chain loss (:func:`~.chain.chain_loss`, full L-level chain,
    top prior η_enc) at the points ``x`` (n, p) in the top level's symmetric coordinates —
    w_L, and v_L for a ladder — with per-row ``betas`` (n, L) and ``eta_dec`` (n,). At a
    collapsed top level (w_L = v_L = 0, σ_L = η_enc) it decides whether the collapsed branch is
    a local minimum (positive semidefinite) or a saddle (a slightly active top level is
    lower)."""
    L, n = h.levels, x.shape[0]
    ladder = h.inference == "ladder"
    learn = tuple(s is None for s in h.sigmas)
    sw, sv, ss, p = layout(L, ladder, learn)
    coords = [L - 1] + ([sv.stop - 1] if ladder and L > 1 else [])
    fixed = np.ones((n, L))
    for lv, s in enumerate(h.sigmas):
        if s is not None:
            fixed[:, lv] = s
    T = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64)  # noqa: E731
    f = chain_loss(T(np.asarray(theta, dtype=np.float64) ** 2), T(betas), T(fixed), learn,
                   ladder, T(np.full(n, h.eta_enc)), T(eta_dec))
    xt = T(x).requires_grad_(True)
    (g,) = torch.autograd.grad(f(xt).sum(), xt, create_graph=True)
    rows = [torch.autograd.grad(g[:, j].sum(), xt, retain_graph=True)[0][:, coords]
            for j in coords]
    return torch.stack(rows, 1).detach().numpy()


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
    if L > 1:  # the lower levels under a collapsed top: the (L−1)-chain with prior η_dec
        low = solve_chain(theta, np.array(h.betas[:-1]), h.sigmas[:-1], ladder=ladder,
                          prior=h.eta_dec, eta_dec=h.eta_dec, seed=0)
        x = pack(ModeSolution(np.c_[low.w, np.zeros(n)], np.c_[low.v, np.zeros(n)],
                              np.c_[low.sigma, np.full(n, h.eta_enc)], low.loss), h)
    else:
        x = pack(ModeSolution(np.zeros((n, 1)), np.zeros((n, 1)), np.full((n, 1), h.eta_enc),
                              np.zeros(n)), h)

    def hess(beta_top: float) -> np.ndarray:
        b = np.tile(np.array(h.betas), (n, 1))
        b[:, -1] = beta_top
        return top_hessian(h, theta, b, np.full(n, h.eta_dec), x)

    H0 = hess(0.0)
    H1 = hess(1.0) - H0
    if H0.shape[-1] == 2:
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
            scan = critical_values(sol, f"beta{L}")
            crit[bad] = np.where(scan.direction == 1, scan.value, np.nan)[idx][bad]
    out[idx] = crit
    return out


def critical_for(sol: HierarchySolution, parameter: str | None = None) -> Critical:
    """The critical values of ``parameter`` (default: the top level's β) for every mode: the
    top level's β by continuation (:func:`critical_top_beta`, direction +1), any other by the
    scan (:func:`critical_values`)."""
    h = sol.h
    parameter = parameter or f"beta{h.levels}"
    if parameter not in parameter_names(h):
        raise HyperparameterError(f"no critical value for {parameter!r}: choose one of "
                                  f"{', '.join(parameter_names(h))}")
    if parameter != f"beta{h.levels}":
        return critical_values(sol, parameter)
    value = critical_top_beta(sol)
    idx, notes = top_modes(sol)
    if idx is not None:
        miss = idx[~np.isfinite(value[idx])]
        if miss.size:
            notes.append(f"{mode_list(miss)}: no switch to collapsed found for {parameter}; "
                         "no critical value")
    return Critical(parameter, value, np.where(np.isfinite(value), 1, 0).astype(np.int8),
                    tuple(notes))
