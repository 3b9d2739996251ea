"""Batched saddle-free Newton for many small independent minimisations at once.

For f: (B, p) → (B,) (B problems of p parameters), each step solves (|H| + μ s I) Δ = −g per
problem, with |H| the exact Hessian with its eigenvalues replaced by their absolute values
(negative curvature is descended, not damped away), μ a Levenberg–Marquardt damping adapted per
problem and s = max |eig H| + 1; a step is accepted only when it lowers f (monotone descent).
"""

from __future__ import annotations

import torch
from torch import Tensor


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
