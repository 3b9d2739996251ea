"""Mutual information I(x; z) between the data and one latent level under q (He et al. 2019).

I = E_x[−H(q(z|x))] − E_j[log q_agg(z_j)], with q_agg(z) = (1/N) Σ_k q(z|x_k) the aggregate
posterior and one z_j ~ q(z|x_j) per point; an O(N²) pairwise estimator, computed in blocks.
"""

from __future__ import annotations

import math

import torch

from vaecollapse.data import evaluation_index
from vaecollapse.diagnostics.posteriors import batches
from vaecollapse.models.base import LOG_2PI, Posterior

MI_CHUNK_ELEMENTS = 1 << 21  # entries of one (rows × N) block of log q(z_j|x_k) in the MI estimator


def mutual_information(post: Posterior, *, generator: torch.Generator | None = None,
                       max_points: int = 2000) -> float:
    """I(x; z) under q, the estimator of He et al. 2019 (their ``calc_mi``), in float64.

    On N ≤ ``max_points`` points (all of them, or a fixed random sample of ``max_points``:
    :func:`vaecollapse.data.evaluation_index` with seed 0, never the first N), draw one
    z_j ~ q(z|x_j) per point; then

        I = E_x[−H(q(z|x))] − E_j[log q_agg(z_j)],
        −H(q(z|x)) = −½ Σ_i (log 2π + 1 + log s_i²(x)),
        log q_agg(z_j) = logsumexp_k log q(z_j|x_k) − log N.

    The N × N × d block of log q(z_j|x_k) terms is never materialised: with both z and μ shifted
    by the mean of μ (translation invariance, less cancellation), the quadratic form is expanded as
    Σ_i (z_ji − μ_ki)²/s_ki² = (z_j²)·(1/s_k²) − 2 z_j·(μ_k/s_k²) + Σ_i μ_ki²/s_ki², i.e. two matrix
    products per chunk of rows j (at most ``MI_CHUNK_ELEMENTS / N`` rows at a time).
    """
    keep = torch.from_numpy(evaluation_index(post.mean.shape[0], max_points)).to(post.mean.device)
    mu = post.mean.detach()[keep].to(torch.float64).flatten(1)  # z's whole event, (N, d)
    logvar = (torch.as_tensor(post.logvar).detach().expand_as(post.mean)[keep]
              .to(torch.float64).flatten(1))
    n, d = mu.shape
    if n == 0:
        raise ValueError("mutual_information needs at least one point")
    noise = torch.randn(mu.shape, generator=generator, dtype=post.mean.dtype, device=mu.device)
    z = mu + (0.5 * logvar).exp() * noise.to(torch.float64)
    neg_entropy = (-0.5 * (LOG_2PI + 1.0 + logvar).sum(-1)).mean()
    shift = mu.mean(0)
    z, mu = z - shift, mu - shift
    inv_var = (-logvar).exp()  # (N, d)
    mu_iv = mu * inv_var
    # log q(z_j|x_k) = −½ quad_jk − ½ (d log 2π + Σ_i log s_ki²); the k-only terms first:
    const_k = -0.5 * ((mu * mu_iv).sum(-1) + d * LOG_2PI + logvar.sum(-1))  # (N,)
    rows = max(1, MI_CHUNK_ELEMENTS // n)
    log_qagg = []
    for sl in batches(n, rows):
        zc = z[sl]
        log_density = -0.5 * (zc.square() @ inv_var.T) + zc @ mu_iv.T + const_k  # (rows, N)
        log_qagg.append(torch.logsumexp(log_density, dim=1) - math.log(n))
    return float(neg_entropy - torch.cat(log_qagg).mean())
