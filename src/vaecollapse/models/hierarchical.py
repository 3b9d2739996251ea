"""The hierarchical VAE: L = 1…5 latent levels z1 … zL over any backbone, Markov or ladder
inference (docs/numerical-theory.md §1; L = 2 Markov is the paper's MHVAE, docs/theory.md §4).

Inference, from z_0 = x upwards: q(z_l | ·) = N(e_l(·), diag s_l²) with e_l(z_{l−1}) (Markov) or
e_l(z_{l−1}) + a_l(x) (ladder, l ≥ 2: every level is also encoded from x — the "separate maps"
of the paper's advice). Generation: p(z_L) = N(0, η_enc² I), p(z_l | z_{l+1}) =
N(d_{l+1}(z_{l+1}), η_dec² I), p(x | z_1) = N(d_1(z_1), η_dec² I). The loss per sample is

    −log p(x|z1) + Σ_{l<L} β_l E[log q(z_l|·) − log p(z_l|z_{l+1})] + β_L KL(q(z_L|·) ‖ p(z_L))

with each entropy of q(z_l|·) in closed form. Linear backbone: e_l = W_l, a_l = V_l, d_l = U_l
(bias-free) and a learnable Σ_l is a free vector — exactly the model of the numerical theory
(:func:`vaecollapse.theory.losses.hierarchy_loss` is its population loss × 2η_dec²). Above z1 a
non-linear backbone uses MLPs (the levels are not images).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from vaecollapse.config import ModelConfig
from vaecollapse.family import Family
from vaecollapse.models.backbones import TwoBranch, decoder_net, encoder_net
from vaecollapse.models.base import (
    LOG_2PI,
    GaussianEncoder,
    LatentModel,
    Output,
    Posterior,
    as_shape,
    eye64,
    gaussian_log_prob,
    gaussian_nll,
    noise,
)
from vaecollapse.models.base import gaussian_log_density as log_density


class MHVAE(LatentModel):
    """Hierarchical VAE with ``hyperparameters.levels`` levels (module names enc<l>, dec<l>; a
    ladder encoder's x-branch is enc<l>.net.g). Level sizes: ``cfg.level_dims``."""

    family = Family.MHVAE

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        hp, b, h, xs = self.hp, cfg.backbone, cfg.hidden, as_shape(cfg.x_shape)
        self.L, self.dims, self.ladder = hp.levels, cfg.level_dims, hp.inference == "ladder"
        nonlinear = b != "linear"
        inner = "mlp" if nonlinear else "linear"
        parts: dict[str, str] = {}
        sizes = [cfg.dim_x, *self.dims]  # sizes[k − 1]: the level below z_k
        for k, (d, sigma) in enumerate(zip(self.dims, hp.sigmas, strict=True), start=1):
            out = GaussianEncoder.out_dim(d, sigma, nonlinear)
            net = encoder_net(b if k == 1 else inner, sizes[k - 1], xs if k == 1 else None, out, h)
            if self.ladder and k > 1:
                net = TwoBranch(net, encoder_net(b, cfg.dim_x, xs, out, h))
                parts[f"V{k}"] = f"enc{k}.net.g"
            self.add_module(f"enc{k}", GaussianEncoder(
                net, d, sigma, nonlinear, init_sigma=hp.eta_enc if k == self.L else hp.eta_dec))
            parts[f"W{k}"] = f"enc{k}.net.f" if self.ladder and k > 1 else f"enc{k}.net"
            parts[f"U{k}"], parts[f"sigma{k}"] = f"dec{k}", f"enc{k}"
        # decoders top down (the two-level model's initialisation order: enc1, enc2, dec2, dec1)
        for k in range(self.L, 0, -1):
            self.add_module(f"dec{k}", decoder_net(b if k == 1 else inner, self.dims[k - 1],
                                                   sizes[k - 1], xs if k == 1 else None, h))
        self.LINEAR_PARTS = parts
        self.z_logvar = 2 * math.log(hp.eta_dec)  # of p(z_l | z_{l+1}), l < L

    @property
    def levels(self) -> list[str]:
        return [f"z{k}" for k in range(1, self.L + 1)]

    def _encoders(self):
        return [getattr(self, f"enc{k}") for k in range(1, self.L + 1)]

    def _decoders(self):
        return [getattr(self, f"dec{k}") for k in range(1, self.L + 1)]

    def _encode(self, x: Tensor, generator) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        """Posterior means, log-variances and one sample of every level, bottom up."""
        means, logvars, zs = [], [], []
        below = x
        for k, enc in enumerate(self._encoders()):
            m, lv = enc(below, x) if self.ladder and k else enc(below)
            below = m + (0.5 * lv).exp() * noise(m, generator)
            means.append(m)
            logvars.append(lv)
            zs.append(below)
        return means, logvars, zs

    def _posteriors(self, means, logvars, zs) -> tuple[list[Posterior], list[Tensor]]:
        """Level l < L against p(z_l | z_{l+1}) at the sampled z_{l+1}; the top against p(z_L)."""
        decs = self._decoders()
        prior_means = [decs[k + 1](zs[k + 1]) for k in range(self.L - 1)]
        posts = [Posterior(f"z{k + 1}", means[k], logvars[k], prior_means[k], self.z_logvar)
                 for k in range(self.L - 1)]
        posts.append(Posterior(f"z{self.L}", means[-1], logvars[-1], 0.0, self.prior_logvar))
        return posts, prior_means

    def forward(self, x: Tensor, y: Tensor | None = None,
                generator: torch.Generator | None = None) -> Output:
        means, logvars, zs = self._encode(x, generator)
        posts, prior_means = self._posteriors(means, logvars, zs)
        hp, eta = self.hp, self.hp.eta_dec
        recon = gaussian_nll(x, self.dec1(zs[0]), eta)
        loss, kl, kl_dims = recon, {}, {}
        for k in range(self.L - 1):
            # E[log q(z_l|·) − log p(z_l|z_{l+1})], the entropy of q(z_l|·) in closed form; per
            # dimension ½[(z_l − μ(z_{l+1}))²/η_dec² + log η_dec² − log s_l² − 1]
            lv = logvars[k]
            term = (gaussian_nll(zs[k], prior_means[k], eta)
                    - 0.5 * (lv + 1 + LOG_2PI).sum(-1))
            term_d = 0.5 * ((zs[k] - prior_means[k]) ** 2 / eta**2 + 2 * math.log(eta) - lv - 1)
            name = f"z{k + 1}"
            loss = loss + hp.level_weight(name) * term
            kl[name], kl_dims[name] = term.mean(), term_d.mean(0)
        top_d = posts[-1].kl()
        top = top_d.sum(-1)
        loss = loss + hp.level_weight(f"z{self.L}") * top
        kl[f"z{self.L}"], kl_dims[f"z{self.L}"] = top.mean(), top_d.mean(0)
        return Output(loss.mean(), recon.mean(), kl, posts, kl_dims=kl_dims)

    def posteriors(self, x: Tensor, y: Tensor | None = None,
                   generator: torch.Generator | None = None) -> list[Posterior]:
        """Level l < L: q(z_l|·) against p(z_l|z_{l+1}) at z_{l+1} ~ q; the top: q(z_L|·)
        against p(z_L) (docs/theory.md §6)."""
        return self._posteriors(*self._encode(x, generator))[0]

    def log_weights(self, x: Tensor, y: Tensor | None, samples: int,
                    generator: torch.Generator | None = None) -> Tensor:
        """log p(x, z_1…z_L) − log q(z_1…z_L | x) with the proposal q itself, S samples per
        point: (n, S)."""
        n = x.shape[0]
        xs = x[:, None].expand(n, samples, x.shape[1]).reshape(n * samples, -1) \
            if self.ladder else None
        total = torch.zeros(n * samples, dtype=x.dtype, device=x.device)
        below, zs = x, []
        for k, enc in enumerate(self._encoders()):
            if k == 0:
                m, lv = enc(x)
                z = m[:, None] + (0.5 * lv).exp()[:, None] * noise(m, generator, samples)
                total = total - log_density(z, m[:, None], lv[:, None]).reshape(-1)
                z = z.reshape(n * samples, -1)
            else:
                m, lv = enc(below, xs) if self.ladder else enc(below)
                z = m + (0.5 * lv).exp() * noise(m, generator)
                total = total - log_density(z, m, lv)
            zs.append(z)
            below = z
        decs = self._decoders()
        total = total - gaussian_nll(x[:, None], decs[0](zs[0]).reshape(n, samples, -1),
                                     self.hp.eta_dec).reshape(-1)
        for k in range(self.L - 1):
            total = total + log_density(zs[k], decs[k + 1](zs[k + 1]), self.z_logvar)
        total = total + log_density(zs[-1], torch.zeros_like(zs[-1]), self.prior_logvar)
        return total.reshape(n, samples)

    def exact_log_likelihood(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Linear marginal: x ~ N(0, C_0) with C_L = η_enc² I, C_{l−1} = U_l C_l U_lᵀ + η_dec² I."""
        self._need_linear()
        cov = self.hp.eta_enc**2 * eye64(self.dims[-1])
        for dec in reversed(self._decoders()):
            U = dec.weight.detach().double()
            cov = U @ cov @ U.T + self.hp.eta_dec**2 * eye64(U.shape[0])
        return gaussian_log_prob(x, torch.zeros(cov.shape[0], dtype=torch.float64), cov)
