"""Deterministic numerical minimisation of the exact population losses (docs/theory.md §5).

The oracle for every closed form, and the "numerical theory" for cases without one (e.g. the
MHVAE with both encoder variances learnable). Method: damped Newton (Levenberg–Marquardt on the
exact Hessian, computed by autograd) in float64 on all weight matrices, σ parameterised as log σ,
from several seeded random starts; the best start wins. Starts — and any batch of independent
instances — are vectorised with ``torch.func.vmap``, so a hundred small problems cost about as
much as one. Newton steps converge quadratically, so the answer is accurate to ~1e-10, not just
"close". The cost per iteration is O(p³) in the number of parameters p, which suits problems up
to a few thousand parameters (reduce large problems to their top modes first).
Same seed, same answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.func import grad, hessian, vmap

from vaecollapse.theory.losses import cvae_loss, mhvae_loss, vae_loss

Tensor = torch.Tensor


@dataclass(frozen=True)
class NumericalSolution:
    """Minimiser found (weights as float64 numpy arrays; σ as standard deviations) and its loss.

    With batched inputs every array carries the batch shape in front and ``loss`` is an array."""

    weights: dict[str, np.ndarray]
    loss: float | np.ndarray


def minimise(loss_fn: Callable[..., Tensor], shapes: dict[str, tuple[int, ...]],
             data: tuple[Tensor, ...], init_scale: dict[str, tuple[float, float]], *,
             starts: int = 4, seed: int = 0, max_iter: int = 400) -> NumericalSolution:
    """Minimise ``loss_fn(params, *data_i)`` for every instance i of a batch.

    ``shapes`` names the parameters of one instance and their shapes; ``data`` holds tensors
    with the batch size B in front (one slice per instance); ``init_scale[name] = (mean, std)``
    of the Gaussian random start (a missing name means (0, 0.5)). Parameters named ``log_*`` come
    back exponentiated, under the name without the prefix. Returns arrays with B in front.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny dense problems: threads only add spinning and contention
    try:
        return _minimise(loss_fn, shapes, data, init_scale, starts=starts, seed=seed,
                         max_iter=max_iter)
    finally:
        torch.set_num_threads(threads)


def _minimise(loss_fn, shapes, data, init_scale, *, starts, seed, max_iter) -> NumericalSolution:
    names = list(shapes)
    sizes = [int(np.prod(shapes[k])) for k in names]
    p = sum(sizes)
    B = data[0].shape[0]

    def unflatten(vec: Tensor) -> dict[str, Tensor]:
        return {k: v.reshape(shapes[k]) for k, v in zip(names, torch.split(vec, sizes), strict=True)}

    def f(vec, *dat):
        return loss_fn(unflatten(vec), *dat)

    F, G, H = vmap(f), vmap(grad(f)), vmap(hessian(f))
    gen = torch.Generator().manual_seed(seed)
    blocks = []
    for k, size in zip(names, sizes, strict=True):
        mean, std = init_scale.get(k, (0.0, 0.5))
        blocks.append(mean + std * torch.randn(starts * B, size, generator=gen, dtype=torch.float64))
    x = torch.cat(blocks, dim=1)
    dat = tuple(d.repeat(starts, *([1] * (d.dim() - 1))) for d in data)  # start-major

    fx = F(x, *dat)
    mu = torch.full_like(fx, 1e-3)
    eye = torch.eye(p, dtype=torch.float64)
    for _ in range(max_iter):
        g = G(x, *dat)
        h = H(x, *dat)
        scale = torch.diagonal(h, dim1=-2, dim2=-1).abs().mean(-1) + 1.0
        chol, info = torch.linalg.cholesky_ex(h + (mu * scale)[:, None, None] * eye)
        ok = info == 0
        safe = torch.where(ok[:, None, None], chol, eye)
        step = -torch.cholesky_solve(g.unsqueeze(-1), safe).squeeze(-1)
        step = torch.where(ok[:, None], step, torch.zeros_like(step))
        fn = F(x + step, *dat)
        accept = ok & torch.isfinite(fn) & (fn < fx)
        x = torch.where(accept[:, None], x + step, x)
        fx = torch.where(accept, fn, fx)
        mu = torch.where(accept, torch.clamp(mu / 3, min=1e-15), torch.clamp(mu * 4, max=1e12))
        # Done: gradient at rounding level, or no descent step left even with heavy damping.
        if bool(((g.abs().amax(-1) < 1e-11 * (1 + fx.abs())) | (mu > 1e8)).all()):
            break

    losses = torch.where(torch.isfinite(fx), fx, torch.inf).reshape(starts, B)
    best = losses.argmin(0)
    xb = x.reshape(starts, B, p)[best, torch.arange(B)]
    weights = {}
    for k, v in unflatten_batch(xb, names, sizes, shapes).items():
        weights[k[4:] if k.startswith("log_") else k] = (
            torch.exp(v) if k.startswith("log_") else v).numpy()
    return NumericalSolution(weights=weights, loss=losses.min(0).values.numpy())


def unflatten_batch(x: Tensor, names, sizes, shapes) -> dict[str, Tensor]:
    """Split a (B, p) parameter matrix into named (B, *shape) tensors."""
    parts = torch.split(x, sizes, dim=1)
    return {k: v.reshape(x.shape[0], *shapes[k]) for k, v in zip(names, parts, strict=True)}


# ---------------------------------------------------------------- model wrappers


def _batched(matrices, scalars) -> tuple[tuple[Tensor, ...], tuple[int, ...]]:
    """Flatten a common batch shape (that of ``matrices[0]``, a (…, d, d) moment matrix) to one
    leading dimension B (B = 1 without batch). ``matrices`` carry the batch shape in front;
    ``scalars`` (hyperparameters) are numbers or arrays of the batch shape."""
    batch = np.shape(matrices[0])[:-2]
    out = []
    for m in matrices:
        m = np.asarray(m, dtype=np.float64)
        out.append(m.reshape((-1,) + m.shape[-2:]))
    for v in scalars:
        out.append(np.broadcast_to(np.asarray(v, dtype=np.float64), batch).reshape(-1))
    return tuple(torch.as_tensor(np.array(a, dtype=np.float64)) for a in out), batch


def _sigma_data(sigma, batch: tuple[int, ...], d: int) -> Tensor:
    s = np.broadcast_to(np.asarray(sigma, dtype=np.float64), batch + (d,)).reshape(-1, d)
    return torch.as_tensor(np.array(s, dtype=np.float64))


def _unbatch(sol: NumericalSolution, batch: tuple[int, ...],
             fixed: dict[str, Tensor]) -> NumericalSolution:
    weights = {k: v.reshape(batch + v.shape[1:]) for k, v in sol.weights.items()}
    for k, v in fixed.items():
        weights[k] = v.numpy().reshape(batch + tuple(v.shape[1:]))
    loss = sol.loss.reshape(batch)
    return NumericalSolution(weights=weights, loss=float(loss) if not batch else loss)


def numerical_vae(A, latent_dim: int, beta, eta_enc, eta_dec, sigma=None,
                  **kwargs) -> NumericalSolution:
    """Minimise the linear VAE loss over W, U (and Σ unless ``sigma`` fixes it).

    ``A`` may carry batch dimensions; hyperparameters and ``sigma`` broadcast against them."""
    (A_, b_, ee, ed), batch = _batched([A], [beta, eta_enc, eta_dec])
    d0, d = A_.shape[-1], latent_dim
    shapes = {"W": (d, d0), "U": (d0, d)}
    init = {}
    if sigma is None:
        shapes["log_sigma"] = (d,)
        init["log_sigma"] = (float(np.log(np.mean(np.asarray(eta_enc)))), 0.1)

        def loss(p, A, beta, ee, ed):
            return vae_loss(p["W"], p["U"], torch.exp(p["log_sigma"]), A, beta, ee, ed)
        sol = minimise(loss, shapes, (A_, b_, ee, ed), init, **kwargs)
        return _unbatch(sol, batch, {})
    s = _sigma_data(sigma, batch, d)

    def loss_fixed(p, A, beta, ee, ed, s):
        return vae_loss(p["W"], p["U"], s, A, beta, ee, ed)
    sol = minimise(loss_fixed, shapes, (A_, b_, ee, ed, s), init, **kwargs)
    return _unbatch(sol, batch, {"sigma": s})


def numerical_cvae(A, B, C, latent_dim: int, beta, eta_enc, eta_dec, sigma=None,
                   **kwargs) -> NumericalSolution:
    """Minimise the linear CVAE loss over W1, W2, U1, U2 (and Σ unless fixed)."""
    (A_, B_, C_, b_, ee, ed), batch = _batched([A, B, C], [beta, eta_enc, eta_dec])
    dx, dy, d = A_.shape[-1], B_.shape[-1], latent_dim
    shapes = {"W1": (d, dx), "W2": (d, dy), "U1": (dy, d), "U2": (dy, dx)}
    init = {}
    if sigma is None:
        shapes["log_sigma"] = (d,)
        init["log_sigma"] = (float(np.log(np.mean(np.asarray(eta_enc)))), 0.1)

        def loss(p, A, B, C, beta, ee, ed):
            return cvae_loss(p["W1"], p["W2"], p["U1"], p["U2"], torch.exp(p["log_sigma"]),
                             A, B, C, beta, ee, ed)
        return _unbatch(minimise(loss, shapes, (A_, B_, C_, b_, ee, ed), init, **kwargs),
                        batch, {})
    s = _sigma_data(sigma, batch, d)

    def loss_fixed(p, A, B, C, beta, ee, ed, s):
        return cvae_loss(p["W1"], p["W2"], p["U1"], p["U2"], s, A, B, C, beta, ee, ed)
    return _unbatch(minimise(loss_fixed, shapes, (A_, B_, C_, b_, ee, ed, s), init, **kwargs),
                    batch, {"sigma": s})


def numerical_mhvae(A, latent_dim: int, beta1, beta2, eta_enc, eta_dec, sigma1=None,
                    sigma2=None, **kwargs) -> NumericalSolution:
    """Minimise the two-latent MHVAE loss (d1 = d2 = ``latent_dim``) over W1, W2, U1, U2 and each
    of Σ1, Σ2 that is not fixed — including the case with no closed form (both learnable)."""
    (A_, b1, b2, ee, ed), batch = _batched([A], [beta1, beta2, eta_enc, eta_dec])
    d0, d = A_.shape[-1], latent_dim
    shapes = {"W1": (d, d0), "W2": (d, d), "U1": (d0, d), "U2": (d, d)}
    init: dict[str, tuple[float, float]] = {}
    fixed: dict[str, Tensor] = {}
    extra: list[Tensor] = []
    for name, value, eta in (("sigma1", sigma1, eta_dec), ("sigma2", sigma2, eta_enc)):
        if value is None:
            shapes[f"log_{name}"] = (d,)
            init[f"log_{name}"] = (float(np.log(np.mean(np.asarray(eta)))), 0.1)
        else:
            fixed[name] = _sigma_data(value, batch, d)
            extra.append(fixed[name])
    learn1, learn2 = sigma1 is None, sigma2 is None

    def loss(p, A, beta1, beta2, ee, ed, *fixed_s):
        it = iter(fixed_s)
        s1 = torch.exp(p["log_sigma1"]) if learn1 else next(it)
        s2 = torch.exp(p["log_sigma2"]) if learn2 else next(it)
        return mhvae_loss(p["W1"], p["W2"], p["U1"], p["U2"], s1, s2, A, beta1, beta2, ee, ed)

    sol = minimise(loss, shapes, (A_, b1, b2, ee, ed, *extra), init, **kwargs)
    return _unbatch(sol, batch, fixed)
