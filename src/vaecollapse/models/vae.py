"""The VAE and CVAE families over any backbone (the hierarchical VAE: :mod:`.hierarchical`).

Each model returns, for a batch: the loss terms (:class:`Output`), its per-level posteriors
(:meth:`posteriors`), importance log-weights for likelihood estimation (:meth:`log_weights`), and
for the linear backbone the exact log-likelihood and the weight matrices the theory talks about.
Noise comes only from an explicit ``torch.Generator``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from vaecollapse.config import ModelConfig
from vaecollapse.family import Family
from vaecollapse.models.backbones import TwoBranch, decoder_net, encoder_net
from vaecollapse.models.base import (
    GaussianEncoder,
    LatentModel,
    Output,
    Posterior,
    as_shape,
    eye64,
    gaussian_log_prob,
    gaussian_recon,
    noise,
)
from vaecollapse.models.decoder_likelihood import gaussian_log_lik
from vaecollapse.models.kl import kl_per_dimension


class VAE(LatentModel):
    """q(z|x) = N(enc(x), diag s²(x)), p(x|z) = N(dec(z), η_dec² I), p(z) = N(0, η_enc² I)."""

    family = Family.VAE
    LINEAR_PARTS = {"W": "enc.net", "U": "dec", "sigma": "enc"}

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        b, d, h, xs = cfg.backbone, cfg.latent_dim, cfg.hidden, as_shape(cfg.x_shape)
        nonlinear = b != "linear"
        k = GaussianEncoder.out_dim(d, self.hp.sigma, nonlinear)
        self.enc = GaussianEncoder(encoder_net(b, cfg.dim_x, xs, k, h), d, self.hp.sigma, nonlinear,
                                   init_sigma=self.hp.eta_enc)
        self.dec = decoder_net(b, d, cfg.dim_x, xs, h)

    def encode(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self.enc(x)

    def decode(self, z: Tensor, x: Tensor | None = None) -> Tensor:
        return self.dec(z)

    def forward(self, x: Tensor, y: Tensor | None = None,
                generator: torch.Generator | None = None) -> Output:
        """The batch means of −log p(target|z) and of KL(q ‖ N(0, η_enc² I)), as sums over the
        whole batch (few, fused operations: training speed; :func:`~.base.gaussian_recon`,
        :func:`~.kl.kl_per_dimension`):

            recon = Σ_n ‖t_n − μ_n‖² / (2η_dec² n) + (D/2) log(2πη_dec²),
            KL = Σ_n,i (s_ni² + μ_ni²) / (2 v n) − Σ_n,i log s_ni² / (2n) + (d/2)(log v − 1)."""
        mean, logvar = self.encode(x, y)
        z = mean + (0.5 * logvar).exp() * noise(mean, generator)
        t = self.target(x, y)
        recon = gaussian_recon(F.mse_loss(self.decode(z, x), t, reduction="sum"), t.shape[0],
                               t.shape[1], self.hp.eta_dec)
        kl_d = kl_per_dimension(mean, logvar, self.prior_logvar)  # per dimension (free bits)
        kl = kl_d.sum()
        post = Posterior("z", mean, logvar, 0.0, self.prior_logvar)
        return Output(recon + self.hp.beta * kl, recon, {"z": kl}, [post], kl_dims={"z": kl_d})

    def posteriors(self, x: Tensor, y: Tensor | None = None,
                   generator: torch.Generator | None = None) -> list[Posterior]:
        mean, logvar = self.encode(x, y)
        return [Posterior("z", mean, logvar, 0.0, self.prior_logvar)]

    def decoder_offset(self, x: Tensor | None) -> Tensor | None:
        """The part of the decoder mean that does not depend on z (none for the VAE)."""
        return None

    def log_weights(self, x: Tensor, y: Tensor | None, samples: int,
                    generator: torch.Generator | None = None) -> Tensor:
        """log p(target, z_s) − log q(z_s | ·) for S samples z_s = μ + s ε_s ~ q: (n, S), float64.

        What does not depend on z is computed once per point: the encoder, the decoder offset
        (the CVAE's h(x)), and in log p(z_s) − log q(z_s) = −½Σ z_s²/η_enc² + ½Σ ε_s²
        + ½Σ log s² − (d/2) log η_enc² the last two sums. log p(target | z_s) comes from
        :func:`~vaecollapse.models.decoder_likelihood.gaussian_log_lik` (the linear-last-layer expansion
        where it is exact, the direct formula otherwise), in blocks of samples."""
        mean, logvar = self.encode(x, y)
        d = mean.shape[1]
        eps = noise(mean, generator, samples)
        z = mean[:, None] + (0.5 * logvar).exp()[:, None] * eps
        t = self.target(x, y)
        offset = self.decoder_offset(x)
        log_px = gaussian_log_lik(self.dec, z, t if offset is None else t - offset,
                                  self.hp.eta_dec)
        per_point = 0.5 * (logvar.double().sum(-1) - d * self.prior_logvar)
        per_sample = 0.5 * (eps.square().sum(-1) - z.square().sum(-1) / math.exp(self.prior_logvar))
        return log_px + per_sample.double() + per_point[:, None]

    def exact_log_likelihood(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Linear VAE marginal: x ~ N(0, η_enc² UUᵀ + η_dec² I)."""
        self._need_linear()
        U = self.dec.weight.detach().double()
        cov = self.hp.eta_enc**2 * U @ U.T + self.hp.eta_dec**2 * eye64(U.shape[0])
        return gaussian_log_prob(x, torch.zeros(U.shape[0], dtype=torch.float64), cov)



class CVAE(VAE):
    """q(z|x,y) = N(f(x) + g(y), diag s²), p(y|x,z) = N(h(x) + k(z), η_dec² I),
    p(z|x) = N(0, η_enc² I) (the prior ignores x, as in the paper)."""

    family = Family.CVAE
    LINEAR_PARTS = {"W1": "enc.net.f", "W2": "enc.net.g", "U1": "dec", "U2": "dec_x", "sigma": "enc"}

    def __init__(self, cfg: ModelConfig):
        LatentModel.__init__(self, cfg)
        b, d, h = cfg.backbone, cfg.latent_dim, cfg.hidden
        xs, ys = as_shape(cfg.x_shape), as_shape(cfg.y_shape)
        nonlinear = b != "linear"
        k = GaussianEncoder.out_dim(d, self.hp.sigma, nonlinear)
        # encoder f(x) + g(y) (its second half is the log-variance head when input-dependent)
        branches = TwoBranch(encoder_net(b, cfg.dim_x, xs, k, h), encoder_net(b, cfg.dim_y, ys, k, h))
        self.enc = GaussianEncoder(branches, d, self.hp.sigma, nonlinear, init_sigma=self.hp.eta_enc)
        # decoder mean h(x) + k(z): for the linear backbone U2 x + U1 z
        self.dec_x = encoder_net(b, cfg.dim_x, xs, cfg.dim_y, h)
        self.dec = decoder_net(b, d, cfg.dim_y, ys, h)

    def target(self, x: Tensor, y: Tensor | None) -> Tensor:
        return y

    def encode(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self.enc(x, y)

    def decode(self, z: Tensor, x: Tensor | None = None) -> Tensor:
        return self.dec_x(x) + self.dec(z)

    def decoder_offset(self, x: Tensor | None) -> Tensor | None:
        """h(x): the z-independent branch of the decoder mean, once per point."""
        return self.dec_x(x)


    def exact_log_likelihood(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Linear CVAE conditional: y | x ~ N(U2 x, η_enc² U1U1ᵀ + η_dec² I)."""
        self._need_linear()
        U1, U2 = self.dec.weight.detach().double(), self.dec_x.weight.detach().double()
        cov = self.hp.eta_enc**2 * U1 @ U1.T + self.hp.eta_dec**2 * eye64(U1.shape[0])
        return gaussian_log_prob(y, x.double() @ U2.T, cov)
