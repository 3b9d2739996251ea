"""Log-likelihood estimates of trained models.

- :func:`importance_log_likelihood`: log p(t) ≈ logmeanexp_s [log p(t, z_s) − log q(z_s|·)] with
  z_s ~ q (the encoder as proposal), t = x (VAE, MHVAE) or y given x (CVAE), vectorised over
  samples and chunked over points (the weights come from the model's ``log_weights``; the fast
  decoder terms are in :mod:`vaecollapse.models.decoder_likelihood`);
- :func:`exact_log_likelihood`: the exact Gaussian marginal of a linear model, e.g.
  x ~ N(0, η_enc² UUᵀ + η_dec² I) for the VAE.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from vaecollapse.diagnostics.posteriors import as_tensor, batches, evaluating, model_dtype
from vaecollapse.models.decoder_likelihood import BUDGET_ELEMENTS


def importance_log_likelihood(model, x, y=None, *, samples: int = 1000, chunk: int | None = None,
                              generator: torch.Generator | None = None,
                              on_progress: Callable[[int, int], None] | None = None
                              ) -> dict[str, Any]:
    """Importance-sampled log-likelihood with the encoder as proposal (docs/theory.md §6):

        log p(t_n) ≈ logmeanexp_s w_ns = logsumexp_s w_ns − log S,
        w_ns = log p(t_n, z_s) − log q(z_s | ·),   z_s ~ q,

    t = x (VAE, MHVAE) or y given x (CVAE); w comes from ``model.log_weights`` (n, S). Points are
    processed ``chunk`` at a time with all S samples at once, under ``torch.no_grad()``; by default
    ``chunk`` is set by a memory budget (``models.likelihood.BUDGET_ELEMENTS`` entries of the
    (chunk, S, d) latent samples, which stays in cache).

    Returns ``per_point`` (n,) tensor, ``estimate`` (its mean), ``stderr`` (sample std of the
    per-point values / √n; NaN for n = 1) and ``samples`` (S). ``on_progress(done, n)`` is
    called after each chunk of points.
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    x = as_tensor(x, model_dtype(model))
    y = as_tensor(y, x.dtype)
    if chunk is None:
        width = getattr(getattr(model, "cfg", None), "latent_dim", 16)
        chunk = max(1, BUDGET_ELEMENTS // (samples * width))
    parts = []
    with evaluating(model):
        for sl in batches(x.shape[0], chunk):
            w = model.log_weights(x[sl], None if y is None else y[sl], samples, generator=generator)
            parts.append(torch.logsumexp(w, dim=1) - math.log(samples))
            if on_progress:
                on_progress(sl.stop, x.shape[0])
    per_point = torch.cat(parts)
    n = per_point.shape[0]
    pp = per_point.to(torch.float64)
    stderr = float(pp.std(correction=1) / math.sqrt(n)) if n > 1 else float("nan")
    return {"per_point": per_point, "estimate": float(pp.mean()), "stderr": stderr,
            "samples": int(samples)}


def exact_log_likelihood(model, x, y=None) -> float | None:
    """Mean exact log-likelihood of a linear-Gaussian model (its marginal is Gaussian, e.g.
    x ~ N(0, η_enc² UUᵀ + η_dec² I) for the VAE), or None when the backbone is not linear."""
    cfg = getattr(model, "cfg", None)
    if cfg is None or getattr(cfg, "backbone", None) != "linear" or not hasattr(
            model, "exact_log_likelihood"):
        return None
    x = as_tensor(x, model_dtype(model))
    y = as_tensor(y, x.dtype)
    with evaluating(model):
        return float(model.exact_log_likelihood(x, y).to(torch.float64).mean())
