"""Reference implementations: the algorithms of the paper's public scripts, re-written here.

These are the baselines of ``bench_reference.py``. They follow what the public scripts do (run
on a CPU), not what would be fast, and are never tuned to lose:

- :func:`reference_log_likelihood` — importance sampling one point at a time: the encoder gives
  q(z|·) as a ``torch.distributions.MultivariateNormal`` (diagonal covariance matrix), S samples
  are drawn from it, the decoder runs on S copies of the condition x (CVAE) and the samples,
  log p(t|z) is the Gaussian density summed over pixels, the prior is a ``MultivariateNormal``
  too, and the estimate is logsumexp(w) − log S.
- :class:`ReferenceCVAE` + :func:`reference_train_epoch` — the two-branch ReLU CVAE (encoder
  f(x) + g(y) → (μ, log s²), decoder h(x) + k(z)) trained with a ``DataLoader`` over a
  ``TensorDataset`` (per-sample indexing and collation, ``shuffle=True``, batch 128), the loss
  ‖y − ŷ‖²/(2η_dec²) + β KL per sample averaged over the batch, ``torch.optim.Adam`` with its
  defaults, gradient-norm clipping, and ``loss.item()`` bookkeeping every batch.

The networks are deep copies of a ``vaecollapse`` model's submodules, so both sides compute with
the same weights and the same layer shapes; only the algorithm around them differs.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn
from torch.distributions import MultivariateNormal
from torch.utils.data import DataLoader, TensorDataset


def _encode(model, x, y):
    return model.encode(x, y)


@torch.no_grad()
def reference_log_likelihood(model, x, y=None, samples: int = 1000) -> torch.Tensor:
    """Per-point importance-sampled log p(t | ·) (t = y for the CVAE, x for the VAE), the public
    scripts' loop; noise from torch's global generator. Returns (n,) float64."""
    model.eval()
    cvae = model.cfg.family == "cvae"
    eta_dec, eta_enc = model.hp.eta_dec, model.hp.eta_enc
    d = model.cfg.latent_dim
    prior = MultivariateNormal(torch.zeros(d), covariance_matrix=eta_enc**2 * torch.eye(d))
    out = []
    for i in range(x.shape[0]):
        xi = x[i:i + 1]
        yi = None if y is None else y[i:i + 1]
        mu, logvar = _encode(model, xi, yi)
        q = MultivariateNormal(mu[0], covariance_matrix=torch.diag(logvar[0].exp()))
        z = q.sample((samples,))
        if cvae:
            t = yi
            t_hat = model.dec_x(xi.repeat(samples, 1)) + model.dec(z)
        else:
            t = xi
            t_hat = model.dec(z)
        D = t.shape[1]
        log_pt = (-((t - t_hat) ** 2).sum(1) / (2 * eta_dec**2)
                  - 0.5 * D * math.log(2 * math.pi * eta_dec**2))
        w = log_pt + prior.log_prob(z) - q.log_prob(z)
        out.append(float(torch.logsumexp(w, 0)) - math.log(samples))
    return torch.tensor(out, dtype=torch.float64)


class ReferenceCVAE(nn.Module):
    """The two-branch ReLU CVAE of the public scripts, on copies of a ``vaecollapse`` CVAE's
    networks (same weights): q(z|x,y) = N(μ, diag s²) with [μ, log s²] = f(x) + g(y);
    ŷ = h(x) + k(z); loss per sample ‖y − ŷ‖²/(2η_dec²) + β KL(q ‖ N(0, η_enc² I))."""

    def __init__(self, model):
        super().__init__()
        self.f = copy.deepcopy(model.enc.net.f)
        self.g = copy.deepcopy(model.enc.net.g)
        self.h = copy.deepcopy(model.dec_x)
        self.k = copy.deepcopy(model.dec)
        self.d = model.cfg.latent_dim
        self.eta_dec, self.eta_enc, self.beta = model.hp.eta_dec, model.hp.eta_enc, model.hp.beta

    def forward(self, x, y):
        e = self.f(x) + self.g(y)
        mu, logvar = e[:, :self.d], e[:, self.d:]
        std = torch.exp(0.5 * logvar)
        z = mu + std * torch.randn_like(std)
        y_hat = self.h(x) + self.k(z)
        recon = ((y - y_hat) ** 2).sum(1) / (2 * self.eta_dec**2)
        v = self.eta_enc**2
        kl = 0.5 * (logvar.exp() / v + mu**2 / v - 1 - logvar + math.log(v)).sum(1)
        return (recon + self.beta * kl).mean()


def reference_loader(x, y, batch_size: int = 128, seed: int = 0) -> DataLoader:
    """The public scripts' data pipeline: a shuffled DataLoader over a TensorDataset."""
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(seed))


def reference_train_epoch(ref: ReferenceCVAE, loader: DataLoader, opt: torch.optim.Optimizer,
                          clip: float) -> float:
    """One epoch of the public scripts' loop; returns the mean batch loss."""
    ref.train()
    total, batches = 0.0, 0
    for xb, yb in loader:
        loss = ref(xb, yb)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ref.parameters(), clip)
        opt.step()
        total += loss.item()
        batches += 1
    return total / max(batches, 1)
